"""``wide``: a wide MLP's training step in FLOP/s against the measured matmul peak.

A 1024-4096-4096-1024 ReLU net, batch 1024: fit and a bare jit + scan loop, against back-to-back
matmuls timed in the same run.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

import jaxnet as jn

from ..baselines import bare_loop
from ..config import Config
from ..fits import fit_call
from ..peak import matmul_unit, train_flops
from ..timing import case, interleaved, ratio, target


def bench_wide(cfg: Config) -> dict:
    """fit and the bare loop against the matmul peak; one timed call lasts about
    ``cfg.wide_seconds`` (its step count follows from a first estimate of the peak)."""
    sizes, batch = cfg.wide_sizes, cfg.wide_batch
    net = jn.MLP(sizes, activation="relu", output_activation="identity")
    params = jn.init(net, jax.random.key(0))
    kx, ky = jax.random.split(jax.random.key(3))
    x = jax.random.normal(kx, (batch, sizes[0]), jnp.float32)
    y = jax.random.normal(ky, (batch, sizes[-1]), jnp.float32)
    flops = train_flops(sizes, batch)
    mm_run, reps, mm_flops, mm_one = matmul_unit(cfg.matmul_n, cfg.wide_seconds / 3)
    est_step = flops / (2.0 * cfg.matmul_n**3 / mm_one)
    steps = int(min(1000, max(2, round(cfg.wide_seconds / est_step))))
    tx = optax.sgd(1e-3)
    kw = dict(loss="mse", optimizer=tx, batch_size=batch)
    bare = bare_loop(tx, "mse", batch, steps)
    opt_state = tx.init(params)
    key = jax.random.key(0)
    variants = {
        "matmul peak": mm_run,
        "fit": lambda: fit_call(net, params, x, y, steps, **kw),
        "bare jit+scan": lambda: bare(params, opt_state, key, x, y),
    }
    timings = interleaved(variants, cfg.wide_repeats)
    peak = mm_flops / timings["matmul peak"]["median_s"]
    achieved = flops * steps / timings["fit"]["median_s"]
    bare_achieved = flops * steps / timings["bare jit+scan"]["median_s"]
    result = case(
        f"{'-'.join(map(str, sizes))} ReLU, mse, SGD, batch {batch} (minibatch of all rows); "
        f"{flops / 1e9:.1f} GFLOP per step; peak from {reps} x {cfg.matmul_n}^2 matmul per call "
        "(its per-step column is one matmul)",
        steps,
        timings,
        {
            "fit/peak": achieved / peak,
            "bare/peak": bare_achieved / peak,
            "bare jit+scan/fit": ratio(timings, "bare jit+scan"),
        },
        [target("fit training step FLOP/s / measured matmul peak", achieved / peak, 0.70)],
        peak_gflops=peak / 1e9,
        fit_gflops=achieved / 1e9,
        bare_gflops=bare_achieved / 1e9,
        flops_per_step=flops,
        matmul_n=cfg.matmul_n,
        matmuls_per_call=reps,
    )
    per_matmul = timings["matmul peak"]["median_s"] / reps
    result["variants"]["matmul peak"]["per_step_us"] = 1e6 * per_matmul  # one matmul
    return {"cases": {"wide": result}}
