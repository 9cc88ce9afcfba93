"""``grads``: fit(grads="manual") vs fit(grads="auto") on the tutorial and digits nets.

On the tutorial net also their compiled chunks alone, since fit's host work dominates there.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax

from ..config import Config
from ..fits import chunk_call, fit_variant
from ..problems import DIGITS_LR, digits_setup, tutorial_setup
from ..timing import case, interleaved, ratio, target


def bench_grads(cfg: Config) -> dict:
    """Manual vs autodiff gradients in fit; on the tutorial net also their compiled chunks.

    fit of the tutorial net is bound by its per-call host work (milliseconds against a compiled
    chunk of a fraction of one), so its manual/auto ratio mostly compares noise; the chunks
    compare the two compiled programs.
    """
    cases = {}
    net, params, x, y = tutorial_setup()
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    kw = dict(loss="sse", optimizer=optax.sgd(1.0))
    setups = {"tutorial": (net, params, xj, yj, cfg.tutorial_steps, kw, cfg.tutorial_repeats)}
    dnet, dparams, dx, _, donehot, _ = digits_setup(cfg)
    for name in ("sgd", "adam"):
        dtx = {"sgd": optax.sgd, "adam": optax.adam}[name](DIGITS_LR[name])
        kw = dict(loss="cross_entropy", optimizer=dtx, batch_size=cfg.digits_batch)
        setups[f"digits {name}"] = (
            dnet,
            dparams,
            jnp.asarray(dx),
            jnp.asarray(donehot),
            cfg.digits_steps,
            kw,
            cfg.grads_repeats,
        )
    for label, (net, params, x, y, steps, kw, repeats) in setups.items():
        variants = {
            g: fit_variant(net, params, x, y, steps, grads=g, **kw) for g in ("manual", "auto")
        }
        if label == "tutorial":
            for g in ("manual", "auto"):
                variants[f"{g}, compiled chunk only"] = chunk_call(
                    net, params, x, y, steps, grads=g, **kw
                )
        timings = interleaved(variants, repeats)
        ratios = {"manual/auto": ratio(timings, "manual", "auto")}
        targets = [
            target(
                f"{label}: fit, slower/faster of manual and auto",
                spread(ratios["manual/auto"]),
                1.10,
                "<=",
            )
        ]
        if label == "tutorial":
            r = ratio(timings, "manual, compiled chunk only", "auto, compiled chunk only")
            ratios["manual/auto, compiled chunks"] = r
            targets.append(
                target(
                    f"{label}: compiled chunks, slower/faster of manual and auto",
                    spread(r),
                    1.10,
                    "<=",
                )
            )
        cases[label] = case(
            f"fit(grads='manual') vs fit(grads='auto'), {label} net",
            steps,
            timings,
            ratios,
            targets,
        )
    return {"cases": cases}


def spread(r: float) -> float:
    """The slower of two over the faster, from their ratio."""
    return max(r, 1 / r)
