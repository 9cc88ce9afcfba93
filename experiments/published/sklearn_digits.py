"""scikit-learn's "Compare stochastic learning strategies for MLPClassifier", on digits.

The example (scikit-learn's ``examples/neural_networks/plot_mlp_training_curves.py``) scales
the bundled 8x8 digits with ``MinMaxScaler`` and fits ``MLPClassifier(random_state=0,
max_iter=15, **strategy)``: one hidden layer of 100 ReLU units, softmax output, log-loss,
minibatches of 200, L2 ``alpha=1e-4``. It prints the training-set accuracy of each strategy;
for the four constant-rate ones: SGD 0.2 -> 0.956, with momentum 0.9 -> 0.993, with Nesterov
momentum -> 0.994, Adam 1e-2 -> 0.992.

Ours, with the matching optax optimizers: a 64-100-10 ReLU MLP, Glorot-uniform weights (as
scikit-learn draws them for ReLU; its biases are drawn too, ours start at 0), softmax
cross-entropy, batches of 200 in shuffled epochs, and scikit-learn's L2 term as its gradient
``alpha * W / batch`` on the weights only (``optax.add_decayed_weights``). scikit-learn's 15
epochs are 15 x ceil(1797 / 200) = 135 updates (its last batch of each epoch has 197 rows);
our epochs drop the partial batch, so we run the same 135 updates (16.9 of our 8-batch
epochs). Each strategy is one population over seeds; scikit-learn itself runs beside it over
the same number of ``random_state`` values when it is installed.

Run: ``python experiments/published/sklearn_digits.py`` (``--quick``: 2 seeds, scikit-learn
only at ``random_state=0``).
"""

from __future__ import annotations

import math
import time
import warnings

import jax
import optax
from _report import arrays, parse_args, pm, reproducible, save, summary, table

import jaxnet as jn
from jaxnet.data import Scaler, load, one_hot
from jaxnet.population import evaluate_population

BATCH = 200
EPOCHS = 15
ALPHA = 1e-4  # scikit-learn's default L2 penalty
# (name, scikit-learn parameters, matching optax optimizer, published training-set accuracy)
STRATEGIES = (
    ("constant learning-rate",
     dict(solver="sgd", learning_rate="constant", momentum=0.0, learning_rate_init=0.2),
     optax.sgd(0.2), 0.956),
    ("constant with momentum",
     dict(solver="sgd", learning_rate="constant", momentum=0.9, nesterovs_momentum=False,
          learning_rate_init=0.2),
     optax.sgd(0.2, momentum=0.9), 0.993),
    ("constant with Nesterov's momentum",
     dict(solver="sgd", learning_rate="constant", momentum=0.9, nesterovs_momentum=True,
          learning_rate_init=0.2),
     optax.sgd(0.2, momentum=0.9, nesterov=True), 0.994),
    ("adam", dict(solver="adam", learning_rate_init=0.01), optax.adam(0.01), 0.992),
)  # fmt: skip


def scaled_digits():
    """``(x, labels)``: the 1797 digits with every pixel min-max scaled to [0, 1]."""
    digits = load("digits")
    return Scaler.fit(digits.x, kind="minmax").transform(digits.x), digits.y


def weights_only(params):
    """Mask for ``add_decayed_weights``: scikit-learn's L2 term leaves the biases alone."""
    return [{name: name == "w" for name in layer} for layer in params]


def with_l2(tx) -> optax.GradientTransformation:
    """``tx`` after scikit-learn's L2 gradient, ``alpha * W / batch_size``."""
    return optax.chain(optax.add_decayed_weights(ALPHA / BATCH, mask=weights_only), tx)


def updates(n_rows: int) -> int:
    """scikit-learn's number of updates in EPOCHS epochs (it keeps each epoch's last batch)."""
    return EPOCHS * math.ceil(n_rows / BATCH)


def ours(tx, seeds: int) -> dict:
    """Training-set accuracy of ``seeds`` jaxnet MLPs trained with ``tx`` as one population."""
    x, labels = scaled_digits()
    net = jn.MLP((64, 100, 10), activation="relu", init="glorot")
    keys = jax.random.split(jax.random.key(0), seeds)
    steps = updates(len(x))
    params, history = jn.fit_population(
        net,
        keys,
        x,
        labels,
        loss="cross_entropy",
        optimizer=with_l2(tx),
        steps=steps,
        batch_size=BATCH,
        eval_every=steps,
    )
    _, accuracy = evaluate_population(net, params, *arrays(x, one_hot(labels, 10)), "cross_entropy")
    return {**summary(accuracy), "seconds": round(history.seconds, 1)}


def theirs(params: dict, seeds: int) -> dict | None:
    """Training-set accuracy of scikit-learn's MLPClassifier over ``seeds`` random states."""
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    x, labels = scaled_digits()
    scores = []
    for seed in range(seeds):
        with warnings.catch_warnings():  # 15 epochs is the example's choice, not a mistake
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp = MLPClassifier(random_state=seed, max_iter=EPOCHS, **params).fit(x, labels)
        scores.append(mlp.score(x, labels))
    return summary(scores)


@reproducible
def main(quick: bool = False) -> dict:
    """Every strategy, ours and scikit-learn's; print the table; write the results file."""
    started = time.perf_counter()
    seeds = 2 if quick else 6
    results = {
        "seeds": seeds,
        "updates": updates(len(scaled_digits()[0])),
        "batch": BATCH,
        "strategies": {},
    }
    for name, sk_params, tx, published in STRATEGIES:
        results["strategies"][name] = {
            "published": published,
            "jaxnet": ours(tx, seeds),
            "sklearn": theirs(sk_params, 1 if quick else seeds),
        }
    report(results)
    save("sklearn_digits", results, started, quick)
    return results


def report(results: dict) -> None:
    """One row per strategy: published, scikit-learn here, ours (mean ± std, in percent)."""
    rows = []
    for name, r in results["strategies"].items():
        sk = r["sklearn"]
        sk_text = (
            "not installed"
            if sk is None
            else f"{pm(sk, 100, 2)} (seed 0: {100 * sk['values'][0]:.2f})"
        )
        gap = 100 * (r["jaxnet"]["mean"] - r["published"])
        rows.append(
            [name, f"{100 * r['published']:.1f}", sk_text, pm(r["jaxnet"], 100, 2), f"{gap:+.2f}"]
        )
    print(f"training-set accuracy (%), {results['updates']} updates of {results['batch']} rows:")
    table(["strategy", "published", "scikit-learn here", "jaxnet", "jaxnet - published"], rows)


if __name__ == "__main__":
    main(parse_args(__doc__).quick)
