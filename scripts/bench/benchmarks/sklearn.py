"""``sklearn``: jaxnet's estimators vs scikit-learn's MLPClassifier and GridSearchCV.

Accuracy and fit time over seeds on four data sets, then PopulationSearchCV vs GridSearchCV on
one 12-candidate search. Needs scikit-learn (imported only when this benchmark runs).
"""

from __future__ import annotations

import statistics
import time
import warnings

import numpy as np

from ..baselines import with_blas_threads
from ..config import Config
from ..machine import load_average
from ..timing import case, target


def sklearn_datasets(cfg: Config) -> dict:
    """``{name: (x_train, x_test, y_train, y_test)}``, standardised on the training rows."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    sets = {
        "digits": datasets.load_digits(return_X_y=True),
        "wine": datasets.load_wine(return_X_y=True),
        "breast cancer": datasets.load_breast_cancer(return_X_y=True),
        f"make_classification {cfg.sklearn_big_rows}": datasets.make_classification(
            cfg.sklearn_big_rows, 20, n_informative=10, random_state=0
        ),
    }
    out = {}
    for name, (x, y) in sets.items():
        xa, xb, ya, yb = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
        scaler = StandardScaler().fit(xa)
        out[name] = (scaler.transform(xa), scaler.transform(xb), ya, yb)
    return out


def sklearn_pair(hidden, epochs: int, seed: int, **extra):
    """``(scikit-learn's MLPClassifier, jaxnet's)``: same net, Adam, epochs (no early stop)."""
    from sklearn.neural_network import MLPClassifier as SkMLP

    from jaxnet.estimators import MLPClassifier

    # n_iter_no_change = epochs: scikit-learn runs every epoch, as jaxnet does
    common = dict(hidden_layer_sizes=hidden, max_iter=epochs, random_state=seed, **extra)
    return SkMLP(n_iter_no_change=epochs, **common), MLPClassifier(**common)


def _fit_seconds(est, x, y) -> float:
    start = time.perf_counter()
    est.fit(x, y)
    return time.perf_counter() - start


def _one_blas_thread(fn):
    """``fn()`` with NumPy's BLAS on one thread: scikit-learn's MLP, like one jaxnet model on
    one CPU device, then uses one core, and a loaded machine does not stall its thread pool."""
    limited = with_blas_threads(fn, 1)
    return fn() if limited is None else limited()


def side_by_side(name: str, split, hidden: tuple, epochs: int, seeds: int):
    """Both estimators fitted on one data set over ``seeds`` seeds, one BLAS thread each.

    Args:
        name: the data set's label.
        split: ``(x_train, x_test, y_train, y_test)`` as :func:`sklearn_datasets` gives them.
        hidden: the hidden layer sizes.
        epochs: the epochs of every fit.
        seeds: how many seeds (0, 1, ...) to fit each estimator with.

    Returns:
        ``(row, seconds)``: the data set's row of accuracies and median times, and every fit's
        seconds by side (``{"scikit-learn": [...], "jaxnet": [...]}``, one per seed).
    """
    xa, xb, ya, yb = split
    acc = {"scikit-learn": [], "jaxnet": []}
    secs = {"scikit-learn": [], "jaxnet": []}
    for seed in range(seeds):
        for label, est in zip(("scikit-learn", "jaxnet"), sklearn_pair(hidden, epochs, seed)):
            secs[label].append(_one_blas_thread(lambda e=est, a=xa, b=ya: _fit_seconds(e, a, b)))
            acc[label].append(est.score(xb, yb))
    sk, jx = np.array(acc["scikit-learn"]), np.array(acc["jaxnet"])
    tolerance = max(2 * sk.std(), 1.0 / len(yb))
    row = {
        "data": name,
        "rows": len(ya) + len(yb),
        "hidden": hidden,
        "epochs": epochs,
        "sklearn_accuracy": (float(sk.mean()), float(sk.std())),
        "jaxnet_accuracy": (float(jx.mean()), float(jx.std())),
        "sklearn_fit_median_s": statistics.median(secs["scikit-learn"]),
        "jaxnet_first_fit_s": secs["jaxnet"][0],  # compile included
        "jaxnet_fit_median_s": statistics.median(secs["jaxnet"][1:] or secs["jaxnet"]),
        "accuracy_within_spread": bool(abs(jx.mean() - sk.mean()) <= tolerance),
        "load": load_average(),
    }
    return row, secs


def accuracy_targets(rows: list, big: str) -> list:
    """Accuracy within the spread on every data set; fit time on the big set and on digits."""
    by = {r["data"]: r for r in rows}
    targets = [
        target(
            f"{r['data']}: |jaxnet - sklearn| mean accuracy within spread",
            float(r["accuracy_within_spread"]),
            1.0,
        )
        for r in rows
    ]
    targets.append(
        target(
            f"{big}: sklearn fit / jaxnet first fit (compile included)",
            by[big]["sklearn_fit_median_s"] / by[big]["jaxnet_first_fit_s"],
            3.0,
        )
    )
    targets.append(
        target(
            "digits: sklearn fit / jaxnet fit, warm compile cache",
            by["digits"]["sklearn_fit_median_s"] / by["digits"]["jaxnet_fit_median_s"],
            1.0,
        )
    )
    return targets


def search_side_by_side(cfg: Config, x, y) -> dict:
    """PopulationSearchCV, then GridSearchCV, over the same 12 candidates and folds.

    Returns:
        ``{label: {"seconds", "best_score", "best_params", "load_before", "load_after"}}``.
    """
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from jaxnet.estimators import PopulationSearchCV

    grid = {"learning_rate_init": [1e-4, 3e-4, 1e-3, 3e-3], "alpha": [1e-4, 1e-3, 1e-2]}
    cv = StratifiedKFold(cfg.sklearn_search_folds, shuffle=True, random_state=0)
    sk_est, jx_est = sklearn_pair((100, 100), cfg.sklearn_search_epochs, 0)
    search = {}
    for label, make in (
        ("PopulationSearchCV(jaxnet)", lambda: PopulationSearchCV(jx_est, grid, cv=cv)),
        ("GridSearchCV(sklearn)", lambda: GridSearchCV(sk_est, grid, cv=cv)),
    ):
        load = load_average()
        start = time.perf_counter()
        s = _one_blas_thread(lambda make=make: make().fit(x, y))
        search[label] = {
            "seconds": time.perf_counter() - start,
            "best_score": s.best_score_,
            "best_params": s.best_params_,
            "load_before": load,
            "load_after": load_average(),
        }
        print(label, search[label], flush=True)
    return search


def search_targets(search: dict) -> list:
    """The search: 10x less time than GridSearchCV, best scores within half a point."""
    pop, grid_cv = search["PopulationSearchCV(jaxnet)"], search["GridSearchCV(sklearn)"]
    return [
        target(
            "search: GridSearchCV / PopulationSearchCV time",
            grid_cv["seconds"] / pop["seconds"],
            10.0,
        ),
        target(
            "search: |best mean score difference| (points)",
            100 * abs(grid_cv["best_score"] - pop["best_score"]),
            0.5,
            "<=",
        ),
    ]


def fit_timings(rows: list, times: dict) -> dict:
    """The fits as variant rows, ``"<side> <data set>"``: medians as in the accuracy rows."""
    return {
        f"{label} {r['data']}": {
            "first_s": r["jaxnet_first_fit_s"] if label == "jaxnet" else times[r["data"]][label][0],
            "compile_s": 0.0,
            "median_s": r["jaxnet_fit_median_s"]
            if label == "jaxnet"
            else r["sklearn_fit_median_s"],
            "min_s": min(times[r["data"]][label]),
            "times_s": times[r["data"]][label],
        }
        for r in rows
        for label in ("scikit-learn", "jaxnet")
    }


def bench_sklearn(cfg: Config) -> dict:
    """Accuracy, fit time and a 5-fold search: jaxnet.estimators vs scikit-learn's MLP."""
    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    rows, times = [], {}
    big = f"make_classification {cfg.sklearn_big_rows}"
    for name, split in sklearn_datasets(cfg).items():
        hidden, epochs = ((100, 100), cfg.sklearn_big_epochs) if name == big else ((100,), 200)
        row, times[name] = side_by_side(name, split, hidden, epochs, cfg.sklearn_seeds)
        rows.append(row)
        print(rows[-1], flush=True)
    targets = accuracy_targets(rows, big)
    xa, _, ya, _ = sklearn_datasets(cfg)[big]
    search = search_side_by_side(cfg, xa, ya)
    targets += search_targets(search)
    result = case(
        f"jaxnet.estimators.MLPClassifier vs sklearn MLPClassifier, Adam, {cfg.sklearn_seeds} "
        f"seeds; 80/20 stratified split, standardised; {cfg.sklearn_search_folds}-fold search over "
        f"12 candidates, {cfg.sklearn_search_epochs} epochs",
        1,
        fit_timings(rows, times),
        {},
        targets,
        accuracy=rows,
        search=search,
    )
    return {"cases": {"sklearn": result}}
