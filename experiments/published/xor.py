"""XOR: how often plain backprop on a 2-2-1 or 2-3-1 sigmoid network solves it, by learning rate.

Setting: the four points of {0, 1}^2 -> a XOR b, full-batch SGD on the mean squared error over
the four points (jaxnet's ``"mse"``), sigmoid hidden and output units, biases on (without them
a 2-2-1 sigmoid net can hardly fit XOR; the tutorial's no-bias nets are measured too), weights
from the tutorial's standard normal (``init="normal"``), biases starting at 0. A run succeeds
when its training MSE drops below 0.01 within 5000 steps: the minimum over the losses before
each step and after the last one.

For each architecture the 200 seeds x 4 learning rates are ONE population of 800 members: the
learning rate is per-member data (optax ``inject_hyperparams``), and every learning rate gets
the same 200 initialisations, so the rates are compared on paired seeds. The literature
reports that plain backprop leaves roughly 1 run in 5 to 1 in 10 of a 2-2-1 net on a plateau;
a side population (2-2-1, learning rate 2) measures how that rate depends on the init's scale.

Run: ``python experiments/published/xor.py`` (``--quick``: 50 seeds). Writes the figure
``runs/published/xor_success.png`` (a full run copies it to ``docs/figures/``).
"""

from __future__ import annotations

import shutil
import time

import jax
import jax.numpy as jnp
import numpy as np
from _report import FIGURES, arrays, output, parse_args, reproducible, save, summary, table
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import jaxnet as jn
from jaxnet.data import xor
from jaxnet.population import evaluate_population

STEPS = 5000
THRESHOLD = 0.01
LEARNING_RATES = (0.5, 1.0, 2.0, 5.0)
HIDDEN = (2, 3)
INIT_SCALES = (0.25, 0.5, 1.0, 2.0)  # side study: multiples of the standard normal init
SCALE_STUDY_RATE = 2.0
PLATEAU = 0.1  # a failure still above this MSE after 5000 steps is stuck, not merely slow


def truth_table():
    """``(x, y)``: the four corners of the unit square and their XOR, ``y`` of shape (4, 1)."""
    points = xor(n=4, noise=0.0)
    return points.x, points.y.astype(np.float64)[:, None]


def xor_net(hidden: int, bias: bool) -> jn.MLP:
    """A 2-hidden-1 sigmoid network with the tutorial's standard normal initialisation."""
    return jn.MLP(
        (2, hidden, 1), activation="sigmoid", output_activation="sigmoid", bias=bias, init="normal"
    )


def best_loss(history, final) -> np.ndarray:
    """``(P,)`` lowest training loss per member: before any step, or ``final`` after the last."""
    return np.minimum(np.nanmin(history.loss, axis=1), np.asarray(final))


def steps_to_success(history) -> np.ndarray:
    """``(P,)`` first step with a loss below the threshold; -1 for members that never got there."""
    below = history.loss < THRESHOLD
    return np.where(below.any(axis=1), below.argmax(axis=1), -1)


def population(net, seeds: int, learning_rates, init_scales=None):
    """Train ``seeds`` initialisations at each learning rate (paired) as one population.

    Returns:
      ``(best, final, steps)``, each ``(len(learning_rates), seeds)``.
    """
    base = jax.random.split(jax.random.key(0), seeds)
    keys = jnp.concatenate([base] * len(learning_rates))  # the same seeds at every rate
    rates = np.repeat(np.asarray(learning_rates, np.float64), seeds)
    x, y = truth_table()
    params, history = jn.fit_population(
        net,
        keys,
        x,
        y,
        loss="mse",
        optimizer="sgd",
        learning_rates=rates,
        init_scales=init_scales,
        steps=STEPS,
        eval_every=STEPS,
    )
    final = np.asarray(evaluate_population(net, params, *arrays(x, y), "mse")[0])
    shape = (len(learning_rates), seeds)
    best = best_loss(history, final).reshape(shape)
    return best, final.reshape(shape), steps_to_success(history).reshape(shape)


def rate_summary(best, final, steps) -> dict:
    """Success rates (min over the run; final loss), steps to success, how failures end."""
    ok = best < THRESHOLD
    return {
        "success_rate": ok.mean(axis=1).tolist(),
        "success_rate_final_loss": (final < THRESHOLD).mean(axis=1).tolist(),
        "failed_on_every_rate": int((~ok).all(axis=0).sum()),
        "median_steps_to_success": [
            float(np.median(s[s >= 0])) if (s >= 0).any() else None for s in steps
        ],
        "failed_final_loss": summary(final[~ok]) if (~ok).any() else None,
        "failures_on_plateau": float((final[~ok] >= PLATEAU).mean()) if (~ok).any() else None,
    }


def architecture_runs(seeds: int) -> dict:
    """Every (hidden width, bias) combination: one population of seeds x learning rates."""
    runs = {}
    for bias in (True, False):
        for hidden in HIDDEN:
            best, final, steps = population(xor_net(hidden, bias), seeds, LEARNING_RATES)
            runs[f"2-{hidden}-1 bias={bias}"] = rate_summary(best, final, steps)
    return runs


def init_scale_study(seeds: int) -> dict:
    """2-2-1 with biases at one learning rate, the init scaled by each of INIT_SCALES."""
    net = xor_net(2, bias=True)
    rates = [SCALE_STUDY_RATE] * len(INIT_SCALES)
    scales = np.repeat(INIT_SCALES, seeds)
    best, _, _ = population(net, seeds, rates, init_scales=scales)
    return {
        "learning_rate": SCALE_STUDY_RATE,
        "init_scales": list(INIT_SCALES),
        "success_rate": (best < THRESHOLD).mean(axis=1).tolist(),
    }


def plot(runs: dict, seeds: int, path) -> None:
    """Success rate against learning rate, one line per architecture, binomial standard errors."""
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for name, r in runs.items():
        p = np.asarray(r["success_rate"])
        err = np.sqrt(p * (1 - p) / seeds)
        color = "tab:blue" if name.startswith("2-2-1") else "tab:orange"
        style = "o-" if "bias=True" in name else "s--"
        label = name.replace("bias=True", "with biases").replace("bias=False", "no biases")
        ax.errorbar(LEARNING_RATES, p, yerr=err, fmt=style, color=color, capsize=3, label=label)
    ax.set(
        xscale="log",
        xlabel="learning rate (full-batch SGD on MSE)",
        ylim=(-0.03, 1.03),
        ylabel=f"fraction reaching MSE < {THRESHOLD} in {STEPS} steps",
        title=f"XOR, sigmoid nets, standard normal init, {seeds} seeds per point",
    )
    ax.set_xticks(LEARNING_RATES, [f"{lr:g}" for lr in LEARNING_RATES])
    ax.set_xticks([], minor=True)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 0.08))
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120)


@reproducible
def main(quick: bool = False) -> dict:
    """Run every population, print the table, draw the figure, write the results file."""
    started = time.perf_counter()
    seeds = 50 if quick else 200
    runs = architecture_runs(seeds)
    results = {
        "seeds": seeds,
        "steps": STEPS,
        "threshold": THRESHOLD,
        "learning_rates": list(LEARNING_RATES),
        "runs": runs,
        "init_scale_study": init_scale_study(seeds),
    }
    report(results)
    figure = output(f"xor_success{'_quick' if quick else ''}.png")
    plot(runs, seeds, figure)
    if not quick:
        FIGURES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(figure, FIGURES / "xor_success.png")
    save("xor", results, started, quick)
    return results


def report(results: dict) -> None:
    """Print success rates per architecture and learning rate, then the init-scale study."""
    header = ["network", *(f"lr {lr:g}" for lr in results["learning_rates"])]
    header += ["seeds failing at every rate", f"failures at MSE >= {PLATEAU}"]
    rows = []
    for name, r in results["runs"].items():
        plateau = r["failures_on_plateau"]
        rows.append([name, *(f"{p:.3f}" for p in r["success_rate"])])
        rows[-1] += [str(r["failed_on_every_rate"]), "-" if plateau is None else f"{plateau:.2f}"]
    print(f"success rate (MSE < {THRESHOLD} within {STEPS} steps), {results['seeds']} seeds:")
    table(header, rows)
    study = results["init_scale_study"]
    scaled = zip(study["init_scales"], study["success_rate"])
    print(
        f"\n2-2-1 with biases at lr {study['learning_rate']:g}, standard normal init scaled by: "
        + ", ".join(f"x{s:g}: {p:.3f}" for s, p in scaled)
    )


if __name__ == "__main__":
    main(parse_args(__doc__).quick)
