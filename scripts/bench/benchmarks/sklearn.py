"""``sklearn``: jaxnet's estimators vs scikit-learn's MLPClassifier and its searches, timed.

Accuracy and fit time over seeds on four data sets (jaxnet in the data's float64, the same fit
as scikit-learn's, and in float32), then a 12-candidate, 5-fold search: PopulationSearchCV vs
GridSearchCV and HalvingPopulationSearchCV vs HalvingGridSearchCV over scikit-learn's MLP with
``n_jobs=2`` (both cores, as the population uses them), with where jaxnet's time went. Needs
scikit-learn (imported only when this benchmark runs).
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


def sklearn_pair(hidden, epochs: int, seed: int, dtype=None, **extra):
    """``(scikit-learn's MLPClassifier, jaxnet's)``: same net, Adam, every epoch run.

    ``n_iter_no_change=epochs``, so neither stops early; ``dtype`` is jaxnet's (None: the
    data's, which makes jaxnet's fit scikit-learn's, number for number)."""
    from sklearn.neural_network import MLPClassifier as SkMLP

    from jaxnet.estimators import MLPClassifier

    common = dict(
        hidden_layer_sizes=hidden,
        max_iter=epochs,
        random_state=seed,
        n_iter_no_change=epochs,
        **extra,
    )
    return SkMLP(**common), MLPClassifier(dtype=dtype, **common)


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
    labels = ("scikit-learn", "jaxnet", "jaxnet float32")
    acc = {label: [] for label in labels}
    secs = {label: [] for label in labels}
    for seed in range(seeds):
        pair = sklearn_pair(hidden, epochs, seed)
        fast = sklearn_pair(hidden, epochs, seed, dtype="float32")[1]
        for label, est in zip(labels, (*pair, fast)):
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
        "jaxnet_float32_fit_median_s": statistics.median(
            secs["jaxnet float32"][1:] or secs["jaxnet float32"]
        ),
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


GRID = {"learning_rate_init": [1e-4, 3e-4, 1e-3, 3e-3], "alpha": [1e-4, 1e-3, 1e-2]}


def _timed_search(label: str, make, x, y) -> dict:
    load = load_average()
    start = time.perf_counter()
    s = _one_blas_thread(lambda: make().fit(x, y))
    out = {
        "seconds": time.perf_counter() - start,
        "best_score": float(s.best_score_),
        "best_params": s.best_params_,
        "load_before": load,
        "load_after": load_average(),
    }
    if hasattr(s, "search_timing_"):
        out["timing"] = s.search_timing_
    print(label, out, flush=True)
    return out


def search_side_by_side(cfg: Config, x, y) -> dict:
    """The same 12 candidates and folds: jaxnet's population searches (float32, and float64
    for the grid) against scikit-learn's grid and halving searches over its own MLP, n_jobs=2.

    Returns:
        ``{label: {"seconds", "best_score", "best_params", "load_before", "load_after"}}``,
        with jaxnet's ``search_timing_`` under ``"timing"``.
    """
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV, StratifiedKFold

    from jaxnet.estimators import HalvingPopulationSearchCV, PopulationSearchCV

    cv = StratifiedKFold(cfg.sklearn_search_folds, shuffle=True, random_state=0)
    epochs = cfg.sklearn_search_epochs
    sk_est, jx64 = sklearn_pair((100, 100), epochs, 0)
    jx32 = sklearn_pair((100, 100), epochs, 0, dtype="float32")[1]
    makers = {
        "PopulationSearchCV(jaxnet float32)": lambda: PopulationSearchCV(jx32, GRID, cv=cv),
        "PopulationSearchCV(jaxnet float64)": lambda: PopulationSearchCV(jx64, GRID, cv=cv),
        "GridSearchCV(sklearn, n_jobs=2)": lambda: GridSearchCV(sk_est, GRID, cv=cv, n_jobs=2),
        "HalvingPopulationSearchCV(jaxnet float32)": lambda: HalvingPopulationSearchCV(
            jx32, GRID, cv=cv, random_state=0
        ),
        "HalvingGridSearchCV(sklearn, n_jobs=2)": lambda: HalvingGridSearchCV(
            sk_est, GRID, cv=cv, random_state=0, n_jobs=2
        ),
    }
    return {label: _timed_search(label, make, x, y) for label, make in makers.items()}


def search_targets(search: dict) -> list:
    """The searches: at least 4x scikit-learn's with n_jobs=2; best scores within half a point."""
    pop, grid_cv = (
        search["PopulationSearchCV(jaxnet float32)"],
        search["GridSearchCV(sklearn, n_jobs=2)"],
    )
    half, sk_half = (
        search["HalvingPopulationSearchCV(jaxnet float32)"],
        search["HalvingGridSearchCV(sklearn, n_jobs=2)"],
    )
    return [
        target(
            "search: GridSearchCV / PopulationSearchCV time",
            grid_cv["seconds"] / pop["seconds"],
            4.0,
        ),
        target(
            "search: HalvingGridSearchCV / HalvingPopulationSearchCV time",
            sk_half["seconds"] / half["seconds"],
            4.0,
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
            "first_s": times[r["data"]][label][0],
            "compile_s": 0.0,
            "median_s": statistics.median(times[r["data"]][label][1:] or times[r["data"]][label]),
            "min_s": min(times[r["data"]][label]),
            "times_s": times[r["data"]][label],
        }
        for r in rows
        for label in ("scikit-learn", "jaxnet", "jaxnet float32")
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
        f"jaxnet.estimators.MLPClassifier (the data's float64, and float32) vs sklearn "
        f"MLPClassifier, Adam, {cfg.sklearn_seeds} seeds; 80/20 stratified split, standardised; "
        f"{cfg.sklearn_search_folds}-fold searches over 12 candidates, "
        f"{cfg.sklearn_search_epochs} epochs, scikit-learn with n_jobs=2",
        1,
        fit_timings(rows, times),
        {},
        targets,
        accuracy=rows,
        search=search,
    )
    return {"cases": {"sklearn": result}}


def bench_sklearn_search(cfg: Config) -> dict:
    """the searches alone: jaxnet's population searches vs scikit-learn's, n_jobs=2.

    Issue 22's figure: 12 candidates x 5 folds of a (100, 100) net at 100 epochs on
    ``cfg.sklearn_search_rows`` rows of ``make_classification``."""
    from sklearn import datasets
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import StandardScaler

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    rows = cfg.sklearn_search_rows
    x, y = datasets.make_classification(rows, 20, n_informative=10, random_state=0)
    search = search_side_by_side(cfg, StandardScaler().fit_transform(x), y)
    result = case(
        f"{cfg.sklearn_search_folds}-fold searches over 12 candidates of a (100, 100) net, "
        f"{cfg.sklearn_search_epochs} epochs, make_classification {rows} rows x 20 features; "
        "scikit-learn with n_jobs=2",
        1,
        {},
        {},
        search_targets(search),
        search=search,
    )
    return {"cases": {"sklearn_search": result}}
