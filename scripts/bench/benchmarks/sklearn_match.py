"""``sklearn_match``: jaxnet's estimators against scikit-learn's MLP, fit for fit (no timing).

Convergence: the mean final training loss of jaxnet's ``MLPClassifier`` over scikit-learn's,
same parameters and ``random_state``, on iris, wine, breast cancer and digits (standardised,
``alpha=0``) at several sizes and ``max_iter`` from 60 to 1000, over seeds; in float64 (the
dtype of the data, as scikit-learn trains) and with ``dtype="float32"``. Test accuracy over
4 stratified splits x 5 seeds, and ``solver="lbfgs"`` the same way. None of it depends on the
machine's load. Needs scikit-learn (imported only when this benchmark runs).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..config import Config
from ..timing import case, target

# (hidden layers, max_iter): sizes and epoch budgets, 60 to 1000
SIZES = (((16,), 60), ((32,), 120), ((64, 64), 300), ((100,), 1000))


def datasets() -> dict:
    """``{name: (x standardised, y)}``: scikit-learn's four small bundled sets."""
    from sklearn import datasets as ds
    from sklearn.preprocessing import StandardScaler

    sets = {
        "iris": ds.load_iris,
        "wine": ds.load_wine,
        "breast cancer": ds.load_breast_cancer,
        "digits": ds.load_digits,
    }
    out = {}
    for name, load in sets.items():
        x, y = load(return_X_y=True)
        out[name] = (StandardScaler().fit_transform(x), y)
    return out


def _pair(seed: int, dtype=None, **params):
    """``(scikit-learn's MLPClassifier, jaxnet's)`` with the same parameters; ``dtype`` is
    jaxnet's (None: the data's, as scikit-learn)."""
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from jaxnet.estimators import MLPClassifier

    theirs = SklearnMLP(random_state=seed, **params)
    return theirs, MLPClassifier(random_state=seed, dtype=dtype, **params)


def convergence(x, y, hidden, max_iter: int, seeds: int) -> dict:
    """Final training losses side by side over ``seeds`` seeds, float64 and float32."""
    losses = {"sklearn": [], "float64": [], "float32": []}
    iters = {"sklearn": [], "float64": [], "float32": []}
    for seed in range(seeds):
        params = dict(hidden_layer_sizes=hidden, max_iter=max_iter, alpha=0.0)
        theirs, ours = _pair(seed, **params)
        fast = _pair(seed, **params, dtype="float32")[1]
        for label, est in (("sklearn", theirs), ("float64", ours), ("float32", fast)):
            est.fit(x, y)
            losses[label].append(est.loss_)
            iters[label].append(est.n_iter_)
    sk = np.array(losses["sklearn"])
    row = {"sklearn_loss": float(sk.mean()), "sklearn_n_iter": float(np.mean(iters["sklearn"]))}
    for label in ("float64", "float32"):
        mine = np.array(losses[label])
        row[f"{label}_ratio"] = float(mine.mean() / sk.mean())
        row[f"{label}_max_seed_ratio_error"] = float(np.max(np.abs(mine / sk - 1)))
        row[f"{label}_same_n_iter"] = float(np.mean(np.array(iters[label]) == iters["sklearn"]))
    return row


def accuracy(x, y, seeds: int, splits: int = 4, **params) -> dict:
    """Test accuracy, jaxnet minus scikit-learn, over ``splits`` x ``seeds`` fits (points)."""
    from sklearn.model_selection import train_test_split

    diffs, theirs_acc = [], []
    for split in range(splits):
        xa, xb, ya, yb = train_test_split(x, y, test_size=0.3, stratify=y, random_state=split)
        for seed in range(seeds):
            theirs, ours = _pair(seed, **params)
            a, b = theirs.fit(xa, ya).score(xb, yb), ours.fit(xa, ya).score(xb, yb)
            diffs.append(100 * (b - a))
            theirs_acc.append(a)
    d = np.array(diffs)
    return {
        "sklearn_accuracy": float(np.mean(theirs_acc)),
        "difference_points": float(d.mean()),
        "difference_sd": float(d.std(ddof=1)) if len(d) > 1 else 0.0,
    }


def bench_sklearn_match(cfg: Config) -> dict:
    """Convergence and accuracy side by side; targets: loss within 5 %, accuracy within 1."""
    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    rows, targets = [], []
    for name, (x, y) in datasets().items():
        for hidden, max_iter in SIZES[: cfg.sklearn_match_sizes]:
            row = {"data": name, "hidden": hidden, "max_iter": max_iter}
            row.update(convergence(x, y, hidden, max_iter, cfg.sklearn_match_seeds))
            for label in ("float64", "float32"):
                targets.append(
                    target(
                        f"{name} {hidden}/{max_iter}: |final loss {label} / sklearn - 1|",
                        abs(row[f"{label}_ratio"] - 1),
                        0.05,
                        "<=",
                    )
                )
            rows.append(row)
            print(row, flush=True)
    accuracy_rows = []
    for name, (x, y) in datasets().items():
        for solver, extra in (("adam", dict(max_iter=120)), ("lbfgs", dict(max_iter=300))):
            params = dict(hidden_layer_sizes=(32,), solver=solver, **extra)
            acc = {"data": name, "solver": solver}
            acc.update(accuracy(x, y, cfg.sklearn_match_accuracy_seeds, **params))
            accuracy_rows.append(acc)
            targets.append(
                target(
                    f"{name} {solver}: test accuracy, jaxnet - sklearn (points)",
                    acc["difference_points"],
                    -1.0,
                )
            )
            print(acc, flush=True)
    result = case(
        f"jaxnet.estimators.MLPClassifier vs scikit-learn's, same parameters and random_state, "
        f"alpha=0, {cfg.sklearn_match_seeds} seeds; accuracy: 4 splits x "
        f"{cfg.sklearn_match_accuracy_seeds} seeds",
        1,
        {},
        {},
        targets,
        convergence=rows,
        accuracy=accuracy_rows,
    )
    return {"cases": {"sklearn_match": result}}
