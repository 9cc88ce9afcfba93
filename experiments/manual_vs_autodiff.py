"""Hand-written backprop vs jax.grad across depths and widths: do they agree, which is faster?

For tanh nets of ``depth`` weight layers, every one ``width`` wide (``width`` inputs, 10
logits, softmax cross-entropy, a batch of 64 random examples), this measures

* **agreement**: the largest relative error, entry by entry and as
  :func:`jaxnet.gradcheck` defines it (:func:`jaxnet.verification.compare`), of the hand-written
  gradient against ``jax.grad``, both in float32 and both in float64; and, in float32, of
  each against the float64 ``jax.grad`` at the same (float32-representable) point: its error
  against the truth;
* **speed**: seconds per training step of the library's own fused training program
  (``jaxnet.train.run_chunk``: SGD steps in one jitted ``lax.scan``), float32, the same data,
  with ``grads="manual"`` and ``grads="auto"`` timed in back-to-back pairs of chunks: the
  median chunk of each gives the step time, the median of the pairs' ratios the ratio.

Results go to ``docs/results/manual_vs_autodiff.json``; the figure
``docs/figures/manual_vs_autodiff.png`` is drawn from that file alone, so ``--plot`` redraws
it without measuring again. The markdown table for the README is printed at the end.

Run: ``python experiments/manual_vs_autodiff.py`` (a few minutes on a 2-core CPU);
``--quick`` for a 2 x 2 grid; ``--plot`` to redraw the figure from the results file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import jaxnet as jn
from jaxnet import train
from jaxnet.backward import backprop_batch
from jaxnet.grads import autodiff_batch
from jaxnet.verification import compare, random_problem

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results" / "manual_vs_autodiff.json"
FIGURE = ROOT / "docs" / "figures" / "manual_vs_autodiff.png"

DEPTHS = (1, 2, 4, 8)
WIDTHS = (4, 32, 256, 1024)
OUTPUTS, BATCH, ACTIVATION, LOSS = 10, 64, "tanh", "cross_entropy"
MIN_SECONDS = 0.2  # each timed chunk runs at least this long
REPEATS = 9  # timed chunks per gradient method; the fastest counts
GRADS = ("manual", "auto")  # jaxnet.train's names for hand-written backprop and jax.grad
ZERO = 1e-17  # where an error of exactly 0 (bitwise-equal gradients) is drawn on a log axis


def make_net(depth: int, width: int) -> jn.MLP:
    """``depth`` weight layers: ``width`` inputs, ``depth - 1`` hidden layers of ``width``."""
    sizes = (width,) * depth + (OUTPUTS,)
    return jn.MLP(sizes, activation=ACTIVATION, output_activation="identity")


def gradients(net, params, x, y, dtype) -> dict:
    """Hand-written and autodiff gradients computed in ``dtype``, as float64 NumPy trees."""
    with jax.enable_x64(True):
        p, x, y = jax.tree.map(lambda a: jnp.asarray(a, dtype), (params, x, y))
        out = {"manual": backprop_batch(net, p, x, y, LOSS)[1]}
        out["auto"] = autodiff_batch(net, p, x, y, LOSS)[1]
        return jax.tree.map(lambda a: np.asarray(a, np.float64), out)


def max_rel_err(test, reference) -> float:
    """The largest relative error over every parameter array (gradcheck's definition)."""
    errs = jax.tree.map(lambda a, b: compare("test", "ref", a, b, 1.0).max_rel_err, test, reference)
    return max(jax.tree.leaves(errs))


def agreement(net, params, x, y) -> dict:
    """Relative errors between the gradients in float32, float64 and against float64 truth."""
    g32, g64 = (gradients(net, params, x, y, d) for d in (jnp.float32, jnp.float64))
    return {
        "float32": {
            "manual_vs_auto": max_rel_err(g32["manual"], g32["auto"]),
            "manual_vs_truth": max_rel_err(g32["manual"], g64["auto"]),
            "auto_vs_truth": max_rel_err(g32["auto"], g64["auto"]),
        },
        "float64": {"manual_vs_auto": max_rel_err(g64["manual"], g64["auto"])},
    }


def _chunk_seconds(state, x, y, length: int, static: dict) -> float:
    start = time.perf_counter()
    state, losses = train.run_chunk(state, x, y, jnp.int32(2**30), length=length, **static)
    losses.block_until_ready()
    return time.perf_counter() - start


def step_seconds(net, params, x, y) -> dict:
    """Seconds per SGD step of the fused training program, for each gradient method."""
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    tx = optax.sgd(1e-3)
    state = train.init_state(jax.tree.map(jnp.float32, params), tx, jax.random.key(0))
    statics = {g: dict(net=net, loss=LOSS, tx=tx, grads=g, batch_size=None) for g in GRADS}
    # Steps per chunk from a probe, so that each chunk runs about MIN_SECONDS.
    for static in statics.values():
        _chunk_seconds(state, x, y, 4, static)  # compile
    probe = min(_chunk_seconds(state, x, y, 4, statics["auto"]) for _ in range(3)) / 4
    length = int(np.clip(MIN_SECONDS / max(probe, 1e-7), 4, 5000))
    for static in statics.values():
        _chunk_seconds(state, x, y, length, static)  # compile this length
    times = {g: [] for g in GRADS}
    for r in range(REPEATS):  # in pairs, who goes first alternating, so load hits both alike
        for g in GRADS[:: 1 if r % 2 else -1]:
            times[g].append(_chunk_seconds(state, x, y, length, statics[g]) / length)
    ratios = np.array(times["manual"]) / np.array(times["auto"])
    return {
        **{g: float(np.median(t)) for g, t in times.items()},
        "fastest": {g: min(t) for g, t in times.items()},
        "steps_per_chunk": length,
        # The median of back-to-back pairs: robust to other jobs' load on a shared machine.
        "manual_over_auto": float(np.median(ratios)),
        "pair_ratios": [round(float(v), 4) for v in ratios],
    }


def measure(depth: int, width: int) -> dict:
    net = make_net(depth, width)
    # Rounded to float32 first, so that float32 and float64 see exactly the same point.
    problem = jax.tree.map(lambda a: np.float32(a), random_problem(net, LOSS, batch=BATCH))
    row = {"depth": depth, "width": width, "n_params": net.n_params, **agreement(net, *problem)}
    params, x, y = problem
    row["seconds_per_step"] = step_seconds(net, params, x, y)
    row["manual_over_auto"] = row["seconds_per_step"].pop("manual_over_auto")
    return row


def run(depths, widths) -> dict:
    started = time.perf_counter()
    rows = []
    for depth in depths:
        for width in widths:
            row = measure(depth, width)
            rows.append(row)
            f32, f64 = (row[d]["manual_vs_auto"] for d in ("float32", "float64"))
            t = row["seconds_per_step"]
            print(
                f"depth {depth} width {width:5d}: max rel err manual vs jax.grad f32 {f32:.1e} "
                f"f64 {f64:.1e}; step {_us(t['manual'])} vs {_us(t['auto'])} "
                f"(manual/auto {row['manual_over_auto']:.2f})",
                flush=True,
            )
    return {
        "question": "hand-written backprop vs jax.grad: agreement and training-step time",
        "setup": {
            "activation": ACTIVATION,
            "loss": LOSS,
            "outputs": OUTPUTS,
            "batch": BATCH,
            "optimizer": "sgd",
            "timing": f"{REPEATS} back-to-back pairs of chunks of the fused training loop, "
            "float32: step time = median chunk, ratio = median of pair ratios",
        },
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time(), 1),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
        "machine": platform.machine(),
    }


def _by_depth(rows, key):
    """``{depth: (widths, values)}`` with ``key(row)`` as values."""
    out = {}
    for depth in sorted({r["depth"] for r in rows}):
        mine = sorted((r for r in rows if r["depth"] == depth), key=lambda r: r["width"])
        out[depth] = ([r["width"] for r in mine], [key(r) for r in mine])
    return out


def plot(results: dict, path: Path) -> Path:
    """Three panels from the results: float32 and float64 agreement, and the time ratio."""
    rows = results["rows"]
    widths = sorted({r["width"] for r in rows})
    fig = Figure(figsize=(15, 4.8), layout="constrained")
    axes = fig.subplots(1, 3)
    colors = {d: f"C{i}" for i, d in enumerate(sorted({r["depth"] for r in rows}))}
    lines = {
        "float32": [("manual_vs_auto", "-o"), ("manual_vs_truth", ":s"), ("auto_vs_truth", "--^")],
        "float64": [("manual_vs_auto", "-o")],
    }
    for ax, (dtype, keys) in zip(axes[:2], lines.items()):
        for key, style in keys:
            for depth, (w, v) in _by_depth(rows, lambda r, k=key, d=dtype: r[d][k]).items():
                label = f"{depth}" if key == "manual_vs_auto" else None
                ax.plot(w, np.maximum(v, ZERO), style, color=colors[depth], label=label, ms=5)
    axes[0].set_title(
        "float32: manual vs jax.grad (solid);\nvs float64 truth: manual (dotted), jax.grad (dashed)"
    )
    zeros = any(r["float64"]["manual_vs_auto"] == 0 for r in rows)
    note = f"\n(exactly 0, bitwise equal, drawn at {ZERO:g})" if zeros else ""
    axes[1].set_title(f"float64: manual vs jax.grad{note}")
    for depth, (w, v) in _by_depth(rows, lambda r: r["manual_over_auto"]).items():
        axes[2].plot(w, v, "-o", color=colors[depth], label=f"{depth}", ms=5)
    axes[2].axhline(1.0, color="gray", lw=1)
    ratios = [r["manual_over_auto"] for r in rows]  # a fixed span, so noise does not look big
    axes[2].set_ylim(min(0.75, min(ratios) - 0.05), max(1.25, max(ratios) + 0.05))
    axes[2].set_title(
        "training-step time, float32, jitted:\nmanual / jax.grad (below 1: manual faster)"
    )
    for ax, ylabel in zip(axes, ["max relative error"] * 2 + ["manual / auto seconds per step"]):
        ax.set(xscale="log", xlabel="width", ylabel=ylabel)
        ax.set_xticks(widths, labels=[str(w) for w in widths])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    for ax in axes[:2]:
        ax.set_yscale("log")
    fig.legend(
        *axes[2].get_legend_handles_labels(), loc="outside right center", title="weight\nlayers"
    )
    fig.suptitle(
        f"Hand-written backprop vs jax.grad: {ACTIVATION} nets, {LOSS}, batch {BATCH} "
        f"({results['devices'][0]}, JAX {results['jax']})"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110)
    return path


def table(results: dict) -> str:
    """The README's markdown table."""
    lines = [
        "| depth | width | params | manual vs auto, f32 | manual f32 vs truth "
        "| manual vs auto, f64 | manual step | auto step | manual / auto |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["rows"]:
        t = r["seconds_per_step"]
        lines.append(
            f"| {r['depth']} | {r['width']} | {r['n_params']:,} | "
            f"{r['float32']['manual_vs_auto']:.1e} | {r['float32']['manual_vs_truth']:.1e} | "
            f"{r['float64']['manual_vs_auto']:.1e} | "
            f"{_us(t['manual'])} | {_us(t['auto'])} | {r['manual_over_auto']:.2f} |"
        )
    return "\n".join(lines)


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="depths 1, 2 x widths 4, 32")
    parser.add_argument("--plot", action="store_true", help="only redraw the figure")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--figure", type=Path, default=FIGURE)
    args = parser.parse_args(argv)
    if not args.plot:
        grid = ((1, 2), (4, 32)) if args.quick else (DEPTHS, WIDTHS)
        results = run(*grid)
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results, indent=1) + "\n")
        print(
            f"{results['seconds']:.0f} s wall, {results['cpu_seconds']:.0f} s CPU; {args.results}"
        )
    results = json.loads(args.results.read_text())
    print(f"figure: {plot(results, args.figure)}\n\n{table(results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
