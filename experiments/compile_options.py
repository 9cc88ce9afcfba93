"""Which of JAX's per-compile options gives the best compile/run trade for a training chunk?

Issue 20 (tiered compilation) asks which of ``jax_optimization_level``,
``exec_time_optimization_effort`` and the XLA flags behind ``jax_disable_most_optimizations``
makes the cheap tier. This script lowers one population training chunk (the program a sweep
group runs, :func:`jaxnet.population.programs.fast_members`: Adam, batch 64, with validation)
for a few digits MLPs, compiles it under each set of options (``lowered.compile(options)``,
JAX's in-process caches cleared before each compile, the persistent cache off), and times the
compile and one chunk of 150 steps (median of 5 runs). Run it on a quiet machine:

    python experiments/compile_options.py            # about 2 minutes on 2 cores
    python experiments/compile_options.py --quick    # one net, one compile per option

It prints one line per net and option: compile seconds and chunk milliseconds (medians), each
as wall time and as CPU time of the process, with the CPU times' ratios to XLA's defaults
(CPU time counts the work even on a shared machine); and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from functools import partial

import jax
import numpy as np

import jaxnet as jn
from jaxnet import data, optimizers
from jaxnet.population.programs import fast_members, initial_states

OPTIONS = {
    "XLA defaults": {},
    "jax_disable_most_optimizations flags": {
        "xla_backend_optimization_level": 0,
        "xla_llvm_disable_expensive_passes": True,
    },
    "xla_backend_optimization_level=1": {"xla_backend_optimization_level": 1},
    "xla_backend_optimization_level=2": {"xla_backend_optimization_level": 2},
    "exec_time_optimization_effort=-1": {"exec_time_optimization_effort": -1.0},
    "optimization_level=O0": {"optimization_level": 9},  # jax.CompilerEffortLevel.O0
    "optimization_level=O1": {"optimization_level": 19},
}
NETS = {
    "64-32-10": (64, 32, 10),
    "64-64-64-10": (64, 64, 64, 10),
    "64-128-128-10": (64, 128, 128, 10),
}


def chunk_program(sizes, members: int, length: int):
    """``(lowered fast_members chunk, its arguments)`` for a population of digits MLPs."""
    ds = data.load("digits")
    x = np.asarray(ds.x, np.float32) / 16.0
    y = np.eye(10, dtype=np.float32)[np.asarray(ds.y)]
    net = jn.MLP(sizes, activation="relu")
    tx = optimizers.named_optimizer("adam")
    keys = jax.random.key_data(jax.random.split(jax.random.key(0), members))
    lrs = np.full(members, 1e-3, np.float32)
    init = jax.jit(partial(initial_states, net=net, tx=tx, dtype=np.float32))
    states, masks = init(keys, np.arange(members), lrs, None, None, None)
    val = (x[1200:1500], y[1200:1500])
    args = (states, masks, x[:1200], y[:1200], val)
    static = dict(net=net, loss="cross_entropy", tx=tx, grads="auto", batch_size=64, length=length)
    return jax.jit(partial(fast_members, **static)).lower(*args), args


def timed(fn):
    """``(result, wall seconds, CPU seconds of the whole process)`` of ``fn()``: CPU seconds
    count the work whatever else shares the machine (XLA compiles on its own threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def measure(lowered, args, options: dict, compiles: int, runs: int) -> dict:
    """Median compile and chunk seconds (wall and CPU) of ``lowered`` under ``options``, and
    the first member's last loss."""
    compile_times, program = [], None
    for _ in range(compiles):
        jax.clear_caches()  # no in-process reuse of an executable compiled with these options
        program, wall, cpu = timed(lambda: lowered.compile(dict(options)))
        compile_times.append((wall, cpu))
    out = jax.block_until_ready(program(*args))  # the first run allocates
    run_times = [timed(lambda: jax.block_until_ready(program(*args)))[1:] for _ in range(runs)]
    out = jax.block_until_ready(program(*args))
    return {
        "compile": statistics.median(w for w, _ in compile_times),
        "compile_cpu": statistics.median(c for _, c in compile_times),
        "chunk": statistics.median(w for w, _ in run_times),
        "chunk_cpu": statistics.median(c for _, c in run_times),
        "loss": float(np.asarray(out[1])[0, -1]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one net, one compile per option")
    args = p.parse_args()
    jax.config.update("jax_enable_compilation_cache", False)
    nets = dict(list(NETS.items())[:1]) if args.quick else NETS
    compiles, runs = (1, 3) if args.quick else (3, 5)
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, load {os.getloadavg()[0]:.2f}")
    for label, sizes in nets.items():
        lowered, chunk_args = chunk_program(sizes, members=8, length=150)
        base = None
        for name, options in OPTIONS.items():
            m = measure(lowered, chunk_args, options, compiles, runs)
            base = base or m
            c, r = m["compile_cpu"] / base["compile_cpu"], m["chunk_cpu"] / base["chunk_cpu"]
            print(
                f"{label:14s} {name:38s} compile {m['compile']:5.2f} s, "
                f"CPU {m['compile_cpu']:5.2f} s ({c:4.2f}x)  chunk {1e3 * m['chunk']:6.1f} ms, "
                f"CPU {1e3 * m['chunk_cpu']:6.1f} ms ({r:4.2f}x)  loss {m['loss']:.6f}",
                flush=True,
            )
    print(f"load after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
