"""Overfitting: does dropout or weight decay help a wide net trained on 300 digits?

scikit-learn's digits (8x8 images, 10 classes) cut into 300 training rows and 300 validation
rows (30 of each class, drawn at random) and the other 1197 for testing, standardised on the
training rows. A wide net,
64-512-512-10 with ReLU (300k parameters, a thousand per training row), is trained with Adam
(learning rate 1e-3, batch 50, ``STEPS`` steps) in four settings, each over ``SEEDS`` seeds:
plain, dropout 0.5 on both hidden layers, decoupled weight decay ``WEIGHT_DECAY`` (AdamW's),
and both. Dropout rates and weight decays are data in jaxnet's compiled programs, so all
4 x 5 members are one population (``jaxnet.fit_population`` with per-member ``dropout=`` and
``weight_decay=``): one compile for the whole experiment.

Measured per member, every ``EVAL_EVERY`` steps, without dropout (as a model is used): the
loss on the validation rows and on the training rows (the latter by a second, identical run
of the same population whose validation set is the training set: its programs are cached and
its trajectory is the same, bit for bit); then the test accuracy of the final params.

Results go to ``docs/results/overfitting.json``; the figure ``docs/figures/overfitting.png``
is drawn from that file alone (``--plot`` redraws it without training). Both are written
atomically.

Run: ``python experiments/overfitting.py`` (``--quick``: 2 seeds, 600 steps).
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
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import jaxnet as jn
from jaxnet import data
from jaxnet.population import evaluate_population

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results" / "overfitting.json"
FIGURE = ROOT / "docs" / "figures" / "overfitting.png"

HIDDEN = (512, 512)
PER_CLASS = 30  # training rows of each class, and as many validation rows
SEEDS = 5
STEPS = 3000
EVAL_EVERY = 50
BATCH = 50
LEARNING_RATE = 1e-3
DROPOUT = 0.5
WEIGHT_DECAY = 1.0  # with Adam's lr 1e-3: each step shrinks the weights by 0.1 %
SETTINGS = {  # name -> (dropout, weight decay)
    "plain": (0.0, 0.0),
    f"dropout {DROPOUT:g}": (DROPOUT, 0.0),
    f"weight decay {WEIGHT_DECAY:g}": (0.0, WEIGHT_DECAY),
    "both": (DROPOUT, WEIGHT_DECAY),
}
LOSS = "cross_entropy"


def load_parts(seed: int = 0) -> dict:
    """``{"train", "validation", "test"}`` of digits: 30 + 30 rows of each class, then the
    rest; inputs standardised with the training rows' scaler, labels as ints."""
    digits = data.load("digits")
    rng = np.random.default_rng(seed)
    cuts = {"train": [], "validation": [], "test": []}
    for label in range(10):
        rows = rng.permutation(np.flatnonzero(digits.y == label))
        cuts["train"].append(rows[:PER_CLASS])
        cuts["validation"].append(rows[PER_CLASS : 2 * PER_CLASS])
        cuts["test"].append(rows[2 * PER_CLASS :])
    rows = {k: np.sort(np.concatenate(v)) for k, v in cuts.items()}
    parts = {k: (digits.x[r], digits.y[r]) for k, r in rows.items()}
    scaler = data.Scaler.fit(parts["train"][0], "standard")
    return {k: (scaler.transform(x).astype(np.float32), y) for k, (x, y) in parts.items()}


def run(seeds: int, steps: int) -> dict:
    """Train every setting and seed as one population; per member curves and accuracies."""
    started, cpu = time.perf_counter(), time.process_time()
    parts = load_parts()
    net = jn.MLP((64, *HIDDEN, 10), activation="relu")
    names = list(SETTINGS)
    rates = np.repeat([SETTINGS[n][0] for n in names], seeds)
    decays = np.repeat([SETTINGS[n][1] for n in names], seeds)
    # member (setting s, seed k) uses seed k's key in every setting: same init, same batches
    keys = jax.random.split(jax.random.key(0), seeds)[np.tile(np.arange(seeds), len(names))]
    kwargs = dict(
        loss=LOSS,
        optimizer="adam",
        learning_rates=np.full(len(rates), LEARNING_RATE),
        steps=steps,
        batch_size=BATCH,
        eval_every=EVAL_EVERY,
        dropout=rates,
        weight_decay=decays,
    )
    curves = {}
    for part in ("validation", "train"):
        params, history = jn.fit_population(
            net, keys, *parts["train"], validation=parts[part], **kwargs
        )
        curves[part] = history.val_loss
        print(
            f"{part} curves: {history.seconds:.0f} s ({history.compile_seconds:.0f} s compiling)",
            flush=True,
        )
    x_test, y_test = parts["test"]
    _, test_acc = evaluate_population(
        net, params, x_test, np.eye(10, dtype=np.float32)[y_test], LOSS
    )
    test_acc = np.asarray(test_acc, np.float64)
    rows = []
    for s, name in enumerate(names):
        members = slice(s * seeds, (s + 1) * seeds)
        rows.append(
            {
                "setting": name,
                "dropout": SETTINGS[name][0],
                "weight_decay": SETTINGS[name][1],
                "test_accuracy": test_acc[members].tolist(),
                "val_loss": curves["validation"][members].tolist(),
                "train_loss": curves["train"][members].tolist(),
            }
        )
    return {
        "dataset": "digits",
        "rows_train_val_test": [len(parts[k][1]) for k in ("train", "validation", "test")],
        "sizes": list(net.sizes),
        "n_params": net.n_params,
        "seeds": seeds,
        "steps": steps,
        "eval_steps": history.eval_step.tolist(),
        "batch": BATCH,
        "learning_rate": LEARNING_RATE,
        "optimizer": "adam",
        "settings": rows,
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
        "machine": platform.machine(),
        "command": "python experiments/overfitting.py",
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


COLORS = ("tab:red", "tab:blue", "tab:green", "tab:purple")


def plot(results: dict, path: Path = FIGURE) -> Path:
    """Training loss, validation loss and test accuracy per setting, from the results."""
    fig = Figure(figsize=(13.0, 4.2), layout="constrained")
    train_ax, val_ax, acc_ax = fig.subplots(1, 3, width_ratios=(1, 1, 0.8))
    steps = np.asarray(results["eval_steps"])
    for color, row in zip(COLORS, results["settings"]):
        for ax, part in ((train_ax, "train_loss"), (val_ax, "val_loss")):
            values = np.asarray(row[part], np.float64)
            ax.plot(steps, values.mean(axis=0), color=color, lw=1.4, label=row["setting"])
            ax.fill_between(steps, values.min(0), values.max(0), color=color, alpha=0.15)
    n_train, n_val, n_test = results["rows_train_val_test"]
    train_ax.set_yscale("log")
    train_ax.set_ylabel(f"training loss ({n_train} rows, nats)")
    val_ax.set_ylabel(f"validation loss ({n_val} rows, nats)")
    for ax in (train_ax, val_ax):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3, which="both")
    train_ax.set_title("on the training rows, without dropout", fontsize=9)
    val_ax.set_title("on the validation rows", fontsize=9)
    val_ax.legend(fontsize=8)
    names = [row["setting"] for row in results["settings"]]
    for i, (color, row) in enumerate(zip(COLORS, results["settings"])):
        acc = 100 * np.asarray(row["test_accuracy"])
        acc_ax.bar(i, acc.mean(), color=color, alpha=0.35)
        acc_ax.plot(np.full(len(acc), i), acc, "o", color=color, ms=4)
        acc_ax.text(i, acc.max() + 0.1, f"{acc.mean():.2f}", ha="center", fontsize=8)
    acc_ax.set_xticks(range(len(names)), names, fontsize=8, rotation=15)
    low = min(100 * min(r["test_accuracy"]) for r in results["settings"])
    high = max(100 * max(r["test_accuracy"]) for r in results["settings"])
    acc_ax.set_ylim(low - 1.0, high + 0.6)
    acc_ax.set_ylabel(f"test accuracy (%, {n_test} rows)")
    acc_ax.set_title("final params: dots are seeds, bars their mean", fontsize=9)
    acc_ax.grid(alpha=0.3, axis="y")
    sizes = "-".join(map(str, results["sizes"]))
    fig.suptitle(
        f"{results['dataset']}, {n_train} training rows, a {sizes} ReLU net "
        f"({results['n_params']:,} params): Adam {results['learning_rate']:g}, batch "
        f"{results['batch']}, {results['steps']} steps; mean and range over "
        f"{results['seeds']} seeds",
        fontsize=10,
    )
    FigureCanvasAgg(fig)
    return _atomic(path, lambda tmp: fig.savefig(tmp, dpi=110))


def summary(results: dict) -> str:
    """A markdown table: test accuracy, best and final validation loss per setting."""
    lines = [
        "| setting | test accuracy (%) | lowest validation loss (step) | final validation loss "
        "| final training loss |",
        "|---|---|---|---|---|",
    ]
    steps = results["eval_steps"]
    for row in results["settings"]:
        acc = 100 * np.asarray(row["test_accuracy"])
        val = np.asarray(row["val_loss"]).mean(axis=0)
        train = np.asarray(row["train_loss"]).mean(axis=0)
        best = int(np.argmin(val))
        lines.append(
            f"| {row['setting']} | {acc.mean():.2f} ± {acc.std():.2f} | {val[best]:.3f} "
            f"({steps[best]}) | {val[-1]:.3f} | {train[-1]:.2e} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 600 steps")
    parser.add_argument("--plot", action="store_true", help="only redraw the figure")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--figure", type=Path, default=FIGURE)
    args = parser.parse_args(argv)
    if args.plot:
        results = json.loads(args.results.read_text())
    else:
        seeds, steps = (2, 600) if args.quick else (SEEDS, STEPS)
        results = run(seeds, steps)
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
