"""``population``: fit_population's model-steps/s against fit and PyTorch in a loop.

Populations of growing size of a digits-size MLP, against the same models trained one after
another with fit and with PyTorch (one thread). ``member_keys`` is jaxnet's internal split of a
member's key into its init and batch keys: the one place the benchmarks reach into the
population module.
"""

from __future__ import annotations

import jax
import numpy as np

import jaxnet as jn
from jaxnet.population import member_keys

from ..baselines import torch_setup, with_threads
from ..config import Config
from ..peak import matmul_unit, train_flops
from ..problems import digits_data
from ..timing import case, interleaved, target


def _split(keys_lrs, x, y):
    """``(keys, x, y, lrs)`` in :func:`population_call`'s argument order."""
    keys, lrs = keys_lrs
    return keys, x, y, lrs


def population_call(net, keys, x, y, lrs, steps: int, batch: int):
    """One ``fit_population`` of ``len(keys)`` members, blocked on; returns the params."""
    params, _ = jn.fit_population(
        net,
        keys,
        x,
        y,
        loss="cross_entropy",
        optimizer="sgd",
        learning_rates=lrs,
        steps=steps,
        batch_size=batch,
        eval_every=steps,
    )
    return jax.block_until_ready(params)


def sequential_fit_call(net, keys, x, y, lrs, steps: int, batch: int):
    """The same models trained one after another with ``fit`` (one compiled program)."""
    out = None
    for key, lr in zip(keys, lrs, strict=True):
        init_key, batch_key = member_keys(key)
        out, _ = jn.fit(
            net,
            jn.init(net, init_key),
            x,
            y,
            loss="cross_entropy",
            optimizer="sgd",
            learning_rate=float(lr),
            steps=steps,
            batch_size=batch,
            key=batch_key,
            eval_every=steps,
        )
    return jax.block_until_ready(out)


def bench_population(cfg: Config) -> dict:
    """Model-steps/s of populations of digits-size MLPs against ``fit`` and PyTorch in a loop."""
    net = jn.MLP(cfg.population_net, activation="relu", output_activation="identity")
    x, labels, source = digits_data(net.sizes[0], net.sizes[-1])
    steps, batch = cfg.population_steps, cfg.digits_batch
    flops = train_flops(net.sizes, batch)
    mm_run, _, mm_flops, _ = matmul_unit(cfg.matmul_n, 0.5)
    peak = mm_flops / interleaved({"peak": mm_run}, 3)["peak"]["median_s"]

    def members(p):
        return jax.random.split(jax.random.key(p), p), np.full(p, 0.1)

    k = cfg.population_sequential
    seq_keys, seq_lrs = members(k)
    big = max(cfg.population_sizes)
    variants = {
        f"population P={p}": (
            lambda p=p: population_call(net, *_split(members(p), x, labels), steps, batch)
        )
        for p in cfg.population_sizes
    }
    variants[f"fit, {k} models in turn"] = lambda: sequential_fit_call(
        net, seq_keys, x, labels, seq_lrs, steps, batch
    )
    run_torch = None
    if cfg.torch:
        one = jn.init(net, jax.random.key(0))
        torch_run = torch_setup(one, x, labels, batch, "sgd", 0.1)
        if torch_run is not None:
            run_torch = with_threads(torch_run, 1)
            variants[f"torch (CPU, 1 thread), {k} models in turn"] = lambda: [
                run_torch(steps) for _ in range(k)
            ]
    timings = interleaved(variants, cfg.population_repeats)
    rates = {}
    for name, t in timings.items():
        models = int(name.split("P=")[1]) if "P=" in name else k
        rates[name] = models * steps / t["median_s"]
        t["model_steps_per_s"] = rates[name]
        t["fraction_of_peak"] = rates[name] * flops / peak
    pop_name = f"population P={256 if 256 in cfg.population_sizes else big}"
    seq = rates[f"fit, {k} models in turn"]
    ratios = {f"{pop_name} / fit in turn": rates[pop_name] / seq}
    targets = [
        target(
            f"{pop_name} vs fit one after another (model-steps/s)",
            ratios[f"{pop_name} / fit in turn"],
            1.8,
        )
    ]
    torch_name = f"torch (CPU, 1 thread), {k} models in turn"
    if torch_name in rates:
        ratios[f"{pop_name} / torch"] = rates[pop_name] / rates[torch_name]
        targets.append(
            target(
                f"{pop_name} vs PyTorch in a loop (model-steps/s)",
                ratios[f"{pop_name} / torch"],
                5.0,
            )
        )
    result = case(
        f"{'-'.join(map(str, net.sizes))} ReLU, softmax cross-entropy, SGD lr 0.1, batch {batch} "
        f"({source}); one timed call trains every member {steps} steps; "
        f"{flops / 1e6:.1f} MFLOP per model-step; matmul peak {peak / 1e9:.0f} GFLOP/s",
        steps,
        timings,
        ratios,
        targets,
        model_steps_per_s=rates,
        peak_gflops=peak / 1e9,
        devices=f"{len(jax.devices())} x {jax.devices()[0].device_kind}",
    )
    return {"cases": {"population": result}}
