"""Depth: past a few layers a plain MLP stops learning; does a skip connection fix it?

On scikit-learn's digits (64 pixels, 10 classes; 75 % train, 25 % test, standardised), nets of
``depth`` hidden layers, each ``WIDTH`` = 64 wide, are trained plain and residual
(``jaxnet.MLP(..., residual=True)``: every 64 -> 64 hidden layer computes
``a + f(a @ w + b)``; with 64 inputs that includes the first) for each depth in ``DEPTHS``
and each activation in ``ACTIVATIONS``, with the library's default init (He for ReLU,
Glorot otherwise) and ``SEEDS`` seeds. Each (depth, activation, plain/residual) is one
population over seeds (``jaxnet.fit_population``), trained with the hand-written backward
pass (``grads="manual"``): Adam, learning rate 1e-3, batch 64, ``STEPS`` steps.

Measured per member:

* the test accuracy after the last step, and whether the member diverged;
* the gradient norm ``||dL/dW||`` of every layer at initialisation (and after training), on
  the first ``GRAD_ROWS`` training rows, by the hand-written backprop: the first layer's is
  where a vanishing gradient shows.

Results go to ``docs/results/depth.json``; the figure ``docs/figures/depth.png`` is drawn
from that file alone (``--plot`` redraws it without training). Both are written atomically.

Run: ``python experiments/depth.py`` (36 populations of 3: measured 405 s of CPU, 43 minutes
wall on a 2-core machine shared at load average 15-22; about half of it compiling, most of it
for the depth-16 and depth-32 nets); ``--quick`` for depths 1 and 8, 2 seeds and 200 steps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import jaxnet as jn
from jaxnet import data
from jaxnet.backward import backprop_batch
from jaxnet.population import evaluate_population, init_population

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results" / "depth.json"
FIGURE = ROOT / "docs" / "figures" / "depth.png"

DEPTHS = (1, 2, 4, 8, 16, 32)  # hidden layers
WIDTH = 64
ACTIVATIONS = ("sigmoid", "tanh", "relu")
SEEDS = 3
STEPS = 1000
BATCH = 64
LEARNING_RATE = 1e-3
GRAD_ROWS = 256  # training rows the gradient norms are taken on
LOSS = "cross_entropy"


def load_digits(seed: int = 0) -> dict:
    """``{"train": (x, y_one_hot), "test": ...}`` as float32 arrays, standardised on train."""
    parts = data.partition(data.load("digits"), 0.0, 0.25, seed)
    scaler = data.Scaler.fit(parts["train"][0], "standard")
    return {
        k: (
            jnp.asarray(scaler.transform(x), jnp.float32),
            jnp.asarray(data.one_hot(y, 10), jnp.float32),
        )
        for k, (x, y) in parts.items()
    }


def make_net(depth: int, activation: str, residual: bool) -> jn.MLP:
    return jn.MLP((64, *(WIDTH,) * depth, 10), activation=activation, residual=residual)


def layer_grad_norms(net: jn.MLP, params, x, y) -> np.ndarray:
    """``(P, layers)``: ``||dL/dW_l||`` per member and weight layer, by hand-written backprop."""

    def norm(g):
        # Scaled by the largest entry first: the squares of float32 gradients below about
        # 1e-19 underflow, and a plain norm would report a tiny gradient as exactly 0.
        top = jnp.max(jnp.abs(g))
        return top * jnp.linalg.norm(g / jnp.where(top > 0, top, 1.0))

    def norms(p):
        grads = backprop_batch(net, p, x, y, LOSS)[1]
        return jnp.stack([norm(g["w"]) for g in grads])

    return np.asarray(jax.vmap(norms)(params), np.float64)


def run_one(depth: int, activation: str, residual: bool, seeds: int, steps: int, parts) -> dict:
    """One population over seeds: accuracies, statuses and gradient norms per member."""
    net = make_net(depth, activation, residual)
    keys = jax.random.split(jax.random.key(depth), seeds)
    xg, yg = (a[:GRAD_ROWS] for a in parts["train"])
    at_init = layer_grad_norms(net, init_population(net, keys), xg, yg)
    params, history = jn.fit_population(
        net,
        keys,
        *parts["train"],
        loss=LOSS,
        optimizer="adam",
        learning_rates=np.full(seeds, LEARNING_RATE),
        steps=steps,
        batch_size=BATCH,
        grads="manual",
        eval_every=steps,
    )
    test_loss, test_acc = evaluate_population(net, params, *parts["test"], LOSS)
    trained = layer_grad_norms(net, params, xg, yg)
    return {
        "depth": depth,
        "activation": activation,
        "residual": residual,
        "skips": sum(net.skips),
        "n_params": net.n_params,
        "test_accuracy": np.asarray(test_acc, np.float64).tolist(),
        "test_loss": np.asarray(test_loss, np.float64).tolist(),
        "final_train_loss": history.loss[:, -1].tolist(),
        "status": list(history.status),
        "grad_norms_init": at_init.tolist(),
        "grad_norms_trained": trained.tolist(),
        "seconds": round(history.seconds, 2),
        "compile_seconds": round(history.compile_seconds, 2),
    }


def run(depths, seeds: int, steps: int) -> dict:
    started, cpu = time.perf_counter(), time.process_time()
    parts = load_digits()
    rows = []
    for depth in depths:
        for activation in ACTIVATIONS:
            for residual in (False, True):
                row = run_one(depth, activation, residual, seeds, steps, parts)
                rows.append(row)
                print(
                    f"depth {depth:2} {activation:7} {'residual' if residual else 'plain':8} "
                    f"test acc {100 * np.mean(row['test_accuracy']):5.1f} %  first-layer "
                    f"|grad| at init {np.mean([g[0] for g in row['grad_norms_init']]):.2e}  "
                    f"({row['seconds']:.0f} s, {row['compile_seconds']:.0f} s compiling)",
                    flush=True,
                )
    return {
        "dataset": "digits",
        "width": WIDTH,
        "depths": list(depths),
        "activations": list(ACTIVATIONS),
        "seeds": seeds,
        "steps": steps,
        "batch": BATCH,
        "learning_rate": LEARNING_RATE,
        "optimizer": "adam",
        "grads": "manual",
        "grad_rows": GRAD_ROWS,
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
        "machine": platform.machine(),
        "command": "python experiments/depth.py",
    }


def _atomic(path: Path, write) -> Path:
    """Write ``path`` through ``write(tmp)`` and a rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _series(results: dict, activation: str, residual: bool, value) -> tuple:
    """``(depths, mean, low, high)`` of ``value(row)`` (per-member numbers) over seeds."""
    rows = [
        r for r in results["rows"] if r["activation"] == activation and r["residual"] == residual
    ]
    rows.sort(key=lambda r: r["depth"])
    per = [np.asarray(value(r), np.float64) for r in rows]
    return (
        [r["depth"] for r in rows],
        np.array([v.mean() for v in per]),
        np.array([v.min() for v in per]),
        np.array([v.max() for v in per]),
    )


COLORS = {"sigmoid": "tab:blue", "tanh": "tab:orange", "relu": "tab:green"}


def plot(results: dict, path: Path = FIGURE) -> Path:
    """Test accuracy and first-layer gradient norm at init against depth, from the results."""
    fig = Figure(figsize=(11.0, 4.2), layout="constrained")
    acc_ax, grad_ax = fig.subplots(1, 2)
    panels = (
        (acc_ax, lambda r: 100 * np.asarray(r["test_accuracy"]), "test accuracy (%)"),
        (
            grad_ax,
            lambda r: [g[0] for g in r["grad_norms_init"]],
            "first-layer gradient norm at init, ||dL/dW1||",
        ),
    )
    for ax, value, label in panels:
        for activation in results["activations"]:
            for residual in (False, True):
                depths, mean, low, high = _series(results, activation, residual, value)
                ax.errorbar(
                    depths,
                    mean,
                    yerr=[mean - low, high - mean],
                    color=COLORS.get(activation),
                    ls="-" if residual else "--",
                    marker="o" if residual else "s",
                    ms=4,
                    capsize=2,
                    label=f"{activation}, {'residual' if residual else 'plain'}",
                )
        ax.set_xscale("log", base=2)
        ax.set_xticks(results["depths"], [str(d) for d in results["depths"]])
        ax.set_xlabel(f"hidden layers (each {results['width']} wide)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    grad_ax.set_yscale("log")
    acc_ax.axhline(10, color="grey", lw=0.8, ls=":")
    acc_ax.legend(fontsize=8, ncols=2)
    fig.suptitle(
        f"{results['dataset']}: plain vs residual MLPs, Adam {results['learning_rate']:g}, "
        f"batch {results['batch']}, {results['steps']} steps; mean and range over "
        f"{results['seeds']} seeds (dotted: chance)",
        fontsize=10,
    )
    FigureCanvasAgg(fig)
    return _atomic(path, lambda tmp: fig.savefig(tmp, dpi=110))


def summary(results: dict) -> str:
    """A markdown table: mean test accuracy (%) per depth, plain / residual per activation."""
    head = "| hidden layers | " + " | ".join(
        f"{a} plain | {a} residual" for a in results["activations"]
    )
    lines = [head + " |", "|---" * (1 + 2 * len(results["activations"])) + "|"]
    by = {(r["depth"], r["activation"], r["residual"]): r for r in results["rows"]}
    for d in results["depths"]:
        cells = []
        for a in results["activations"]:
            for res in (False, True):
                r = by[(d, a, res)]
                diverged = sum(s == "diverged" for s in r["status"])
                note = f" ({diverged} div.)" if diverged else ""
                cells.append(f"{100 * np.mean(r['test_accuracy']):.1f}{note}")
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="depths 1 and 8, 2 seeds, 200 steps")
    parser.add_argument("--plot", action="store_true", help="only redraw the figure")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--figure", type=Path, default=FIGURE)
    args = parser.parse_args(argv)
    if args.plot:
        results = json.loads(args.results.read_text())
    else:
        depths, seeds, steps = ((1, 8), 2, 200) if args.quick else (DEPTHS, SEEDS, STEPS)
        results = run(depths, seeds, steps)
        text = json.dumps(results, indent=1) + "\n"
        _atomic(args.results, lambda tmp: tmp.write_text(text))
        print(
            f"{results['seconds']:.0f} s wall, {results['cpu_seconds']:.0f} s CPU "
            f"(load average {results['load_average'][0]:.1f}); results in {args.results}"
        )
    print(summary(results))
    print(f"figure: {plot(results, args.figure)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
