"""MNIST-1D (Greydanus, "Scaling Down Deep Learning", 2020): logistic regression and the MLP.

The paper reports test accuracy 32% for logistic regression and 68% for an MLP on MNIST-1D
with its default arguments (4000 training and 1000 test signals of length 40, seed 42), which
``jaxnet.data.load("mnist1d")`` generates in memory with the ``mnist1d`` package.

What we match from the paper's repository: its MLP exactly as a network -- 40-100-100-10 ReLU
with the residual connection around the middle layer, ``h = h + relu(W2 h + b2)``
(``jaxnet.MLP(..., residual=True)``: the one hidden layer as wide as its input) -- Adam with
learning rate 1e-2, batches of 100, 8000 steps, no weight decay, softmax cross-entropy, inputs
as generated; logistic regression as a 40-10 network with no hidden layer, trained the same
way. The same MLP without its skip (a plain stack of dense layers) is trained too, for
comparison. What we do not match: PyTorch's default init (uniform +-1/sqrt(fan_in), biases
too) where we use He normal weights and zero biases (logistic regression: the same He draw);
our minibatches are shuffled epochs.
The figure reported is the test accuracy after the last step (the best test accuracy seen at
the 1000-step evaluations is recorded too, for information only).

Each model is one population over seeds (init and minibatch order).

Run: ``python experiments/published/mnist1d_paper.py`` (``--quick``: 2 seeds instead of 6).
"""

from __future__ import annotations

import time

import jax
import numpy as np
from _report import arrays, parse_args, pm, reproducible, save, summary, table

import jaxnet as jn
from jaxnet.data import load, one_hot
from jaxnet.population import evaluate_population

STEPS = 8000
BATCH = 100
LEARNING_RATE = 1e-2
EVAL_EVERY = 1000
# name -> (layer sizes, residual, published test accuracy); the paper's MLP is the residual one
MODELS = {
    "logistic regression": ((40, 10), False, 0.32),
    "MLP 40-100-100-10": ((40, 100, 100, 10), False, 0.68),
    "residual MLP 40-100-100-10 (the paper's)": ((40, 100, 100, 10), True, 0.68),
}


def train_and_test(sizes, seeds: int, residual: bool = False) -> dict:
    """Train ``seeds`` members of one architecture as a population; accuracies per member."""
    data = load("mnist1d")
    x_test, y_test = data.test
    net = jn.MLP(sizes, activation="relu", output_activation="identity", residual=residual)
    keys = jax.random.split(jax.random.key(0), seeds)
    params, history = jn.fit_population(
        net,
        keys,
        data.x,
        data.y,
        loss="cross_entropy",
        optimizer="adam",
        learning_rates=np.full(seeds, LEARNING_RATE),
        steps=STEPS,
        batch_size=BATCH,
        validation=(x_test, y_test),
        eval_every=EVAL_EVERY,
    )
    _, train_acc = evaluate_population(
        net, params, *arrays(data.x, one_hot(data.y, 10)), "cross_entropy"
    )
    return {
        "test_accuracy": summary(history.val_accuracy[:, -1]),
        "best_test_accuracy_seen": summary(history.val_accuracy.max(axis=1)),
        "train_accuracy": summary(train_acc),
        "test_accuracy_curve": history.val_accuracy.tolist(),
        "eval_step": history.eval_step.tolist(),
        "seconds": round(history.seconds, 1),
    }


@reproducible
def main(quick: bool = False) -> dict:
    """Both models; print the table; write the results file."""
    started = time.perf_counter()
    seeds = 2 if quick else 6
    results = {
        "seeds": seeds,
        "steps": STEPS,
        "batch": BATCH,
        "learning_rate": LEARNING_RATE,
        "models": {},
    }
    for name, (sizes, residual, published) in MODELS.items():
        results["models"][name] = {
            "published": published,
            "residual": residual,
            **train_and_test(sizes, seeds, residual),
        }
    report(results)
    save("mnist1d_paper", results, started, quick)
    return results


def report(results: dict) -> None:
    """One row per model: published, ours (mean ± std over seeds, in percent), seconds."""
    rows = [
        [
            name,
            f"{100 * r['published']:.0f}",
            pm(r["test_accuracy"], 100),
            pm(r["best_test_accuracy_seen"], 100),
            pm(r["train_accuracy"], 100),
            f"{r['seconds']:.0f}",
        ]
        for name, r in results["models"].items()
    ]
    print(f"MNIST-1D test accuracy (%), {results['seeds']} seeds, {results['steps']} Adam steps:")
    table(["model", "published", "ours (final)", "best seen", "train", "seconds"], rows)


if __name__ == "__main__":
    main(parse_args(__doc__).quick)
