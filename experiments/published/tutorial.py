"""The tutorial itself: its 2-3-1 network from 100 random initialisations, next to one run.

The article (https://enlight.nyc/projects/neural-network/) trains a 2-3-1 sigmoid network
without biases on three students (hours studied and slept -> score / 100, inputs divided by
their column maxima), weights drawn with ``np.random.randn`` and no seed, for 1000 full-batch
steps of ``W += X.T @ delta`` -- SGD with learning rate 1 on jaxnet's ``"sse"`` loss (half the
sum of squared errors). It prints the mean squared error before each step and the prediction
for a new student, [4, 8], scaled by that student's own maximum. Because the article's draw is
unseeded, its printed figures are one sample; here the same network is trained from 100
initialisations as one population, and the spread is reported next to what ``jaxnet tutorial``
(seed 0) prints, then with biases and with Adam.

Run: ``python experiments/published/tutorial.py`` (``--quick``: 25 initialisations).
"""

from __future__ import annotations

import time

import jax
import numpy as np
import optax
from _report import arrays, parse_args, pm, reproducible, save, summary, table

import jaxnet as jn
from jaxnet.data import Scaler, load
from jaxnet.mlp import forward_batch
from jaxnet.population import evaluate_population

STEPS = 1000
NEW_STUDENT = np.array([4.0, 8.0])  # hours studied, hours slept
# (name, bias, optimizer): the article's setting first, then what a reader asks next.
CONFIGS = (
    ("article: no bias, SGD lr 1", False, optax.sgd(1.0)),
    ("bias, SGD lr 1", True, optax.sgd(1.0)),
    ("no bias, Adam lr 0.01", False, optax.adam(0.01)),
    ("no bias, Adam lr 0.1", False, optax.adam(0.1)),
    ("bias, Adam lr 0.01", True, optax.adam(0.01)),
    ("bias, Adam lr 0.1", True, optax.adam(0.1)),
)


def tutorial_net(bias: bool) -> jn.MLP:
    """The article's 2-3-1 sigmoid network with its standard normal initialisation."""
    return jn.MLP(
        (2, 3, 1), activation="sigmoid", output_activation="sigmoid", bias=bias, init="normal"
    )


def scaled_data():
    """``(scaler, x, y)``: inputs over the training column maxima, scores over 100."""
    students = load("tutorial")
    scaler = Scaler.fit(students.x, kind="max")
    return scaler, scaler.transform(students.x), students.y[:, None] / 100.0


def new_student_inputs(scaler) -> np.ndarray:
    """[4, 8] scaled two ways: by the training maxima (right) and by its own maximum (article)."""
    return np.stack([scaler.transform(NEW_STUDENT), NEW_STUDENT / NEW_STUDENT.max()])


def single_run() -> dict:
    """What ``jaxnet tutorial`` prints: seed 0, ``jn.init`` with ``key(0)``, manual gradients."""
    scaler, x, y = scaled_data()
    net = tutorial_net(bias=False)
    params = jn.init(net, jax.random.key(0))
    params, history = jn.fit(
        net,
        params,
        x,
        y,
        loss="sse",
        optimizer=optax.sgd(1.0),
        steps=STEPS,
        grads="manual",
        eval_every=STEPS // 10,
    )
    right, article = 100.0 * np.asarray(jn.forward(net, params, new_student_inputs(scaler)))[:, 0]
    return {
        "final_sse": float(history.loss[-1]),
        "predict_right": float(right),
        "predict_article": float(article),
    }


def population_run(bias: bool, tx, members: int) -> dict:
    """Train ``members`` initialisations as one population; summaries of loss and predictions.

    The final loss is the one ``jaxnet tutorial`` and the article print: the loss before the
    last step. The article's own number is the mean squared error, ``2 * sse / rows``.
    """
    scaler, x, y = scaled_data()
    net = tutorial_net(bias)
    keys = jax.random.split(jax.random.key(0), members)
    params, history = jn.fit_population(
        net, keys, x, y, loss="sse", optimizer=tx, steps=STEPS, eval_every=STEPS
    )
    final = history.loss[:, -1]
    outputs = jax.vmap(lambda p: forward_batch(net, p, arrays(new_student_inputs(scaler))))(params)
    right, article = 100.0 * np.asarray(outputs)[:, :, 0].T
    after, _ = evaluate_population(net, params, *arrays(x, y), "sse")
    return {
        "final_sse": summary(final),
        "final_sse_median": float(np.median(final)),
        "article_mse": summary(2.0 * final / len(x)),
        "sse_after_last_step": summary(after),
        "predict_right": summary(right),
        "predict_article": summary(article),
        "seconds": round(history.seconds, 1),
    }


@reproducible
def main(quick: bool = False) -> dict:
    """Run the single run and every configuration; print the table; write the results file."""
    started = time.perf_counter()
    members = 25 if quick else 100
    results = {"steps": STEPS, "members": members, "single_run_seed0": single_run()}
    results["populations"] = {name: population_run(bias, tx, members) for name, bias, tx in CONFIGS}
    report(results)
    save("tutorial", results, started, quick)
    return results


def report(results: dict) -> None:
    """Print the single run, then one row per configuration (mean ± std over initialisations)."""
    one = results["single_run_seed0"]
    print(
        f"single run (jaxnet tutorial, seed 0): final sse {one['final_sse']:.3g}, "
        f"[4, 8] -> {one['predict_right']:.2f} (training maxima), "
        f"{one['predict_article']:.2f} (own maximum, as the article)\n"
    )
    rows = []
    for name, r in results["populations"].items():
        rows.append(
            [
                name,
                f"{r['final_sse']['mean']:.2e} ± {r['final_sse']['std']:.1e}",
                f"{r['final_sse_median']:.1e}",
                f"{r['article_mse']['mean']:.1e}",
                pm(r["predict_right"], digits=2),
                pm(r["predict_article"], digits=2),
            ]
        )
    print(f"{results['members']} initialisations each, {results['steps']} full-batch steps:")
    table(
        ["configuration", "final sse", "median", "article MSE", "[4,8] train max", "[4,8] own max"],
        rows,
    )


if __name__ == "__main__":
    main(parse_args(__doc__).quick)
