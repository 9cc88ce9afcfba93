"""``sweep_sklearn``: a cold jaxnet sweep vs scikit-learn's GridSearchCV on the same configs.

Opt-in (minutes); needs scikit-learn. 4,000 rows of ``make_classification`` (20 features, 4
classes) in an NPZ file; 72 small nets: hidden [16], [32], [64], [16, 16], [32, 32], [64, 64] x
Adam learning rates 1e-3, 3e-3, 1e-2 x 4 seeds; batch 64, 20 epochs, 20 % held out. jaxnet
sweeps them in a fresh process with a cold compile cache; ``GridSearchCV`` over its own
``MLPClassifier`` fits the same grid on the sweep's own training and validation rows (its split
and scaling, through ``PredefinedSplit``), the same epochs and batch, ``n_jobs=2``,
``refit=False``. Both run one after the other in this one script.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from ..config import Config
from ..timing import case, target
from .tiers import sweep_run

HIDDEN = [[16], [32], [64], [16, 16], [32, 32], [64, 64]]
RATES = [1e-3, 3e-3, 1e-2]
SEEDS = [0, 1, 2, 3]
BATCH = 64


def _sweep_text(npz: Path, steps: int) -> str:
    return (
        f'name = "sklearn_grid"\ndataset = "npz"\nnpz = "{npz}"\nval_fraction = 0.2\n'
        'test_fraction = 0\nmetric = "final_val_accuracy"\nevals = 4\n\n[grid]\n'
        f"hidden = {HIDDEN}\nlearning_rate = {RATES}\nseed = {SEEDS}\n"
        f'optimizer = ["adam"]\nbatch_size = [{BATCH}]\nsteps = [{steps}]\n'
    )


def _grid_search(parts: dict, epochs: int) -> tuple[float, object]:
    """``(seconds, fitted GridSearchCV)`` over the same grid on the sweep's split."""
    from sklearn.model_selection import GridSearchCV, PredefinedSplit
    from sklearn.neural_network import MLPClassifier

    (xt, yt), (xv, yv) = parts["train"], parts["validation"]
    x, y = np.concatenate([xt, xv]), np.concatenate([yt, yv])
    fold = PredefinedSplit(np.r_[np.full(len(yt), -1), np.zeros(len(yv), int)])
    grid = {
        "hidden_layer_sizes": [tuple(h) for h in HIDDEN],
        "learning_rate_init": RATES,
        "random_state": SEEDS,
    }
    est = MLPClassifier(
        solver="adam",
        batch_size=BATCH,
        max_iter=epochs,
        n_iter_no_change=epochs,
        tol=0.0,
        alpha=0.0,
        shuffle=True,
    )  # fmt: skip: every epoch runs, as the sweep's steps do; no L2, as jaxnet's Adam
    search = GridSearchCV(est, grid, cv=fold, n_jobs=2, refit=False)
    start = time.perf_counter()
    search.fit(x, y)
    return time.perf_counter() - start, search


def bench_sweep_sklearn(cfg: Config) -> dict:
    """The sweep, cold, then GridSearchCV; the ratio of their wall times."""
    import warnings

    from sklearn.datasets import make_classification
    from sklearn.exceptions import ConvergenceWarning

    from jaxnet import sweep

    rows = cfg.sklearn_sweep_rows
    x, y = make_classification(rows, 20, n_informative=10, n_classes=4, random_state=0)
    with tempfile.TemporaryDirectory(prefix="jaxnet-bench-sklearn-") as tmp:
        tmp = Path(tmp)
        np.savez(tmp / "rows.npz", x=x.astype(np.float32), y=y)
        n_train = len(
            sweep.prepare(sweep.parse(_sweep_text(tmp / "rows.npz", 1))).parts["train"][1]
        )
        steps = cfg.sklearn_sweep_epochs * (n_train // BATCH)  # jaxnet's epoch: n // batch steps
        toml = tmp / "grid.toml"
        toml.write_text(_sweep_text(tmp / "rows.npz", steps))
        jaxnet_run = sweep_run(toml, tmp / "grid.db", tmp / "cache", "on")
        parts = sweep.prepare(sweep.load(toml)).parts
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            seconds, search = _grid_search(parts, cfg.sklearn_sweep_epochs)
    best = float(np.max(search.cv_results_["mean_test_score"]))
    v = {
        "jaxnet sweep, cold cache (fresh process)": jaxnet_run,
        "GridSearchCV(MLPClassifier), n_jobs=2, refit=False": {
            "first_s": seconds,
            "compile_s": 0.0,
            "median_s": seconds,
            "min_s": seconds,
            "times_s": [seconds],
            "best_val_accuracy": best,
        },  # fmt: skip
    }
    ratio = seconds / jaxnet_run["wall_s"]
    return {
        "cases": {
            "72 configs": case(
                f"{len(HIDDEN) * len(RATES) * len(SEEDS)} MLPs on {rows} rows "
                f"({n_train} training), {cfg.sklearn_sweep_epochs} epochs of batch {BATCH}",
                steps,
                v,
                {"GridSearchCV / jaxnet cold": ratio},
                [target("GridSearchCV wall / jaxnet cold sweep wall (x faster)", ratio, 1.0)],
            )
        }
    }
