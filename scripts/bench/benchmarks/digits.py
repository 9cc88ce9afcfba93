"""``digits``: a ReLU MLP on the digits data: fit vs bare JAX, NumPy and PyTorch loops.

A 64-128-128-10 net, batch 128, 1000 SGD and Adam steps: fit vs a bare ``jax.jit`` +
``lax.scan`` loop doing the same job, vs NumPy with hand-written backprop, and vs PyTorch (CPU)
when it is installed; NumPy and PyTorch also at one thread.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxnet as jn

from ..baselines import bare_loop, numpy_train, torch_setup, with_blas_threads, with_threads
from ..config import Config
from ..fits import fit_call
from ..machine import torch_info
from ..problems import DIGITS_LR, digits_setup
from ..timing import case, interleaved, ratio, target


def baseline_targets(timings: dict, label: str, names: tuple, bound: float) -> list:
    """The target against the baseline as configured by default, and at its faster setting.

    A thread pool that spins (OpenBLAS, OpenMP) slows down badly when other processes share
    the cores, so the default-threads ratio alone can flatter fit on a busy machine.
    """
    out = [target(f"fit vs {label}, default threads (x faster)", ratio(timings, names[0]), bound)]
    present = [n for n in names if n in timings]
    best = min(present, key=lambda n: timings[n]["median_s"])
    if len(present) > 1:
        out.append(
            target(
                f"fit vs {label} at its faster setting, {best!r} (x faster)",
                ratio(timings, best),
                bound,
            )
        )
    return out


def digits_case(cfg: Config, name: str, setup) -> dict:
    """One optimizer's case (``name``: "sgd" or "adam") on :func:`digits_setup`'s ``setup``.

    Also checks that fit and the bare loop did the same job: the largest difference of their
    per-step losses goes into the case (0 when both saw the same rows and made the same updates).
    """
    net, params, x, labels, onehot, source = setup
    steps, batch, lr = cfg.digits_steps, cfg.digits_batch, DIGITS_LR[name]
    tx = {"sgd": optax.sgd, "adam": optax.adam}[name](lr)
    xj, yj = jnp.asarray(x), jnp.asarray(onehot)
    bare = bare_loop(tx, "cross_entropy", batch, steps)
    key = jax.random.key(0)
    opt_state = tx.init(params)
    common = dict(loss="cross_entropy", optimizer=tx, batch_size=batch)
    np_args = (params, x, onehot, steps, batch, name, lr)
    variants = {
        "fit": lambda: fit_call(net, params, xj, yj, steps, **common),
        "bare jit+scan": lambda: bare(params, opt_state, key, xj, yj),
        "numpy (hand backprop)": lambda: numpy_train(*np_args),
    }
    np1 = with_blas_threads(numpy_train, 1)
    if np1 is not None:
        variants["numpy, 1 BLAS thread"] = lambda: np1(*np_args)
    torch_run = torch_setup(params, x, labels, batch, name, lr) if cfg.torch else None
    if torch_run is not None:
        torch1 = with_threads(torch_run, 1)
        variants["torch (CPU)"] = lambda: torch_run(steps)
        variants["torch (CPU), 1 thread"] = lambda: torch1(steps)
    timings = interleaved(variants, cfg.digits_repeats)
    ratios = {f"{v}/fit": ratio(timings, v) for v in variants if v != "fit"}
    targets = [target("fit vs bare jit+scan (x as fast)", ratios["bare jit+scan/fit"], 0.95)]
    targets += baseline_targets(
        timings, "NumPy", ("numpy (hand backprop)", "numpy, 1 BLAS thread"), 1.3
    )
    if torch_run is not None:
        targets += baseline_targets(
            timings, "PyTorch CPU", ("torch (CPU)", "torch (CPU), 1 thread"), 2.5
        )
    desc = (
        f"{'-'.join(map(str, net.sizes))} ReLU, softmax cross-entropy, {name} lr {lr:g}, "
        f"batch {batch} of {x.shape[0]} rows ({source})"
    )
    fit_losses = jn.fit(
        net, params, xj, yj, steps=steps, eval_every=steps, progress=False, **common
    )[1].loss
    bare_losses = np.asarray(bare(params, opt_state, key, xj, yj)[1])
    same_job = float(np.max(np.abs(fit_losses - bare_losses)))  # 0: same rows, same updates
    return case(
        desc,
        steps,
        timings,
        ratios,
        targets,
        torch=torch_info(),
        bare_vs_fit_max_loss_difference=same_job,
    )


def bench_digits(cfg: Config) -> dict:
    """The SGD and the Adam case, on one net and one set of initial params."""
    setup = digits_setup(cfg)
    return {"cases": {name: digits_case(cfg, name, setup) for name in ("sgd", "adam")}}
