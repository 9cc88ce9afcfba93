"""Searches whose fits train as populations: scikit-learn's search code, jaxnet's training.

:class:`PopulationSearchCV` is ``GridSearchCV`` and :class:`RandomizedPopulationSearchCV` is
``RandomizedSearchCV`` (the halving searches are in :mod:`.halving`): scikit-learn's own
classes decide the candidates, the splits, the rungs, the scores, ``cv_results_`` and the
refit. What changes is how the fits of one batch of candidates run. Before scikit-learn fits
them one by one, every (candidate, split) is fitted in *recording* mode (:mod:`.prefit`): the
steps of a ``Pipeline`` before the jaxnet estimator are fitted on the split's training rows as
scikit-learn would, and the estimator prepares its task without training. The tasks are then
trained together, those that share an architecture, batch layout and solver as one population
(:mod:`.engine`, :mod:`.lbfgs`), and scikit-learn's own fits find their results ready. Every
member trains exactly as ``clone(estimator).set_params(**candidate).fit(X[train], y[train])``
would on its own (the same weights, batches and stopping epoch), so the results equal
scikit-learn's search over the same estimator; a fit that raises (a diverged one: ``ValueError``)
gets scikit-learn's ``error_score``.

Added to ``cv_results_``: ``status`` per candidate, the worst of its splits: ``"converged"``,
``"max_iter"`` (``max_iter`` ran out: scikit-learn's ``ConvergenceWarning``), ``"diverged"`` or
``"failed"`` (the fit raised before training). A diverged candidate is never ``best_``
(unless ``refit`` is a callable, which decides alone). ``mean_fit_time`` is each member's
share of its population's wall time, plus the time scikit-learn's own call took (the steps of
a pipeline). Added to the search: ``search_timing_``, where the wall time went (preparing
the fits, training them, of which compiling, scikit-learn's own pass with the scoring, the
refit) and how full the epochs' row slots were. ``n_jobs`` is not a parameter: the population is the
parallelism. Left out: anything but jaxnet's estimators (or a ``Pipeline`` ending in one).
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing, indexable

from . import engine, lbfgs, prefit
from .base import BaseMLP

# the worst status of a candidate's splits wins
STATUS_ORDER = ("converged", "max_iter", "diverged", "failed")


def final_estimator(estimator):
    """The jaxnet estimator a search trains: ``estimator`` itself or a Pipeline's last step."""
    last = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    if not isinstance(last, BaseMLP):
        raise TypeError(
            "estimator must be a jaxnet.estimators MLPClassifier or MLPRegressor, or a Pipeline "
            f"that ends in one; got {type(estimator).__name__}"
            + (f" ending in {type(last).__name__}" if last is not estimator else "")
        )
    return last


class FixedSplits:
    """A cross-validator that yields the splits it was given (scikit-learn's ``cv``)."""

    def __init__(self, splits):
        self.splits = list(splits)

    def split(self, X=None, y=None, groups=None, **params):
        """The given ``(train, test)`` index pairs."""
        return iter(self.splits)

    def get_n_splits(self, X=None, y=None, groups=None, **params):
        """How many splits were given."""
        return len(self.splits)


def _fit_params_for(params: dict, rows, n: int) -> dict:
    """Fit parameters for the rows ``rows``: per-row arrays are indexed, the rest passed on."""
    out = {}
    for name, value in params.items():
        per_row = value is not None and np.ndim(value) > 0 and len(value) == n
        out[name] = _safe_indexing(value, rows) if per_row else value
    return out


def _worst(statuses) -> str:
    return max(statuses, key=STATUS_ORDER.index)


def train_ahead(estimator, candidates, splits, X, y, fit_params):
    """Every (candidate, split) fit of ``estimator``, recorded, then trained as populations.

    Returns:
      ``(results, status, seconds, timing)``: results for :func:`.prefit.serving`, each
      candidate's worst status, each fit's share of its population's wall time
      (``(candidates, splits)`` in scikit-learn's order), and where the time went:
      ``{"prepare_s", "train_s", "compile_s", "fits", "row_slot_fill"}``.
    """
    start = time.perf_counter()
    n = len(X)
    status = np.full((len(candidates), len(splits)), "failed", dtype=object)
    which = {}
    with prefit.recording() as recorded:
        for i, candidate in enumerate(candidates):
            for f, (train, _) in enumerate(splits):
                est = clone(estimator).set_params(**clone(candidate, safe=False))
                x_train = _safe_indexing(X, train)
                y_train = None if y is None else _safe_indexing(y, train)
                before = len(recorded)
                try:
                    est.fit(x_train, y_train, **_fit_params_for(fit_params, train, n))
                except Exception:  # noqa: BLE001 - scikit-learn's own call raises it again
                    continue
                for j in range(before, len(recorded)):
                    which[j] = (i, f)
    prepared = time.perf_counter()
    seconds = np.zeros(status.shape)
    results: dict = {}
    compile_s, fills = 0.0, []
    kinds = {"stochastic": engine.train, "lbfgs": lbfgs.train}
    for kind, train in kinds.items():
        picked = [j for j, (_, t) in enumerate(recorded) if _kind(t) == kind]
        for j in picked:
            recorded[j][1].data_key = prefit.key(None, _rows_of(recorded[j][1]))
        outcomes = train([recorded[j][1] for j in picked]) if picked else []
        for j, outcome in zip(picked, outcomes):
            k, task = recorded[j]
            results.setdefault(k, []).append((task, outcome))
            i, f = which[j]
            status[i, f] = outcome.status
            seconds[i, f] += outcome.seconds
            compile_s += outcome.compile_seconds
            fills.append(outcome.fill)
    timing = {
        "prepare_s": prepared - start,
        "train_s": time.perf_counter() - prepared,
        "compile_s": compile_s,
        "fits": len(recorded),
        "row_slot_fill": float(np.mean(fills)) if fills else 1.0,
    }
    return results, [_worst(row) for row in status], seconds, timing


def _summary(batches: list, total: float, search) -> dict:
    """Where a search's wall time went, summed over its batches of fits (rungs): preparing,
    training (``compile_s`` is the compiling part of it), scikit-learn's own pass with the
    scoring, the refit, and the rest."""
    out = {k: sum(b[k] for b in batches) for k in ("prepare_s", "train_s", "compile_s", "score_s")}
    fits = sum(b["fits"] for b in batches)
    fill = sum(b["row_slot_fill"] * b["fits"] for b in batches) / max(fits, 1)
    refit = getattr(search, "refit_time_", 0.0)
    other = total - out["prepare_s"] - out["train_s"] - out["score_s"] - refit
    return {**out, "refit_s": refit, "other_s": other, "total_s": total, "fits": fits,
            "row_slot_fill": fill}  # fmt: skip


def _kind(task) -> str:
    return "lbfgs" if task.spec.solver == "lbfgs" else "stochastic"


def _rows_of(task):
    val = getattr(task, "val", None) or ()
    return (task.x, task.y, task.weight, *val)


class PopulationSearch:
    """The population training of a scikit-learn search class (a mixin, listed first).

    It wraps ``evaluate_candidates`` of scikit-learn's ``BaseSearchCV.fit``: each batch of
    candidates is trained ahead (:func:`train_ahead`) and then scored by scikit-learn.
    """

    n_jobs = None  # the population is the parallelism; scikit-learn's fits run in turn
    pre_dispatch = "2*n_jobs"

    def fit(self, X, y=None, **params):
        """Run the search over ``X``, ``y`` (fit parameters such as ``sample_weight`` and
        ``groups`` as scikit-learn's search takes them); returns self."""
        start = time.perf_counter()
        final_estimator(self.estimator)
        X, y = indexable(X, y)
        self._inputs = (X, y, params)
        self._shares, self._timing = [], []
        try:
            super().fit(X, y, **params)
        finally:
            del self._inputs
        self.search_seconds_ = time.perf_counter() - start
        self.search_timing_ = _summary(self._timing, self.search_seconds_, self)
        return self

    def _run_search(self, evaluate_candidates, *, callback_ctx=None):
        X, y, params = self._inputs
        routed = self._get_routed_params_for_fit(params)

        def evaluate(candidate_params, cv=None, more_results=None, **kwargs):
            candidates = list(candidate_params)
            cv = cv or self._checked_cv_orig
            splits = list(cv.split(X, y, **routed.splitter.split))
            results, status, seconds, timing = train_ahead(
                self.estimator, candidates, splits, X, y, routed.estimator.fit
            )
            self._shares.extend(seconds.ravel().tolist())
            more = {**(more_results or {}), "status": status}
            start = time.perf_counter()
            with prefit.serving(results):
                out = evaluate_candidates(
                    candidates, FixedSplits(splits), more_results=more, **kwargs
                )
            self._timing.append({**timing, "score_s": time.perf_counter() - start})
            return out

        if callback_ctx is None:
            return super()._run_search(evaluate)
        return super()._run_search(evaluate, callback_ctx=callback_ctx)

    def _format_results(self, candidate_params, n_splits, out, more_results=None):
        shares = self._shares + [0.0] * (len(out) - len(self._shares))
        out = [{**o, "fit_time": o["fit_time"] + s} for o, s in zip(out, shares)]
        results = super()._format_results(candidate_params, n_splits, out, more_results)
        if "status" in results:
            results["status"] = np.asarray(results["status"], dtype=object)
        return results

    def _select_best_index(self, refit, refit_metric, results):
        """scikit-learn's choice, made among the candidates that did not diverge."""
        status = results.get("status")
        if callable(refit) or status is None or not np.any(status == "diverged"):
            return super()._select_best_index(refit, refit_metric, results)
        if np.all(status == "diverged"):
            raise ValueError("every candidate diverged in some split; there is no best_ to pick")
        masked = dict(results)
        bad = status == "diverged"
        for name, column in results.items():
            if name.startswith("mean_test_"):
                masked[name] = np.where(bad, np.nan, column)
            elif name.startswith("rank_test_"):
                masked[name] = np.where(bad, np.iinfo(np.int32).max, column)
        return super()._select_best_index(refit, refit_metric, masked)


class PopulationSearchCV(PopulationSearch, GridSearchCV):
    """``GridSearchCV`` whose candidates and splits train as populations (see the module).

    Args: scikit-learn's ``GridSearchCV`` arguments but ``n_jobs`` and ``pre_dispatch``:
      estimator (a jaxnet estimator, or a ``Pipeline`` ending in one: its other steps are
      fitted on each split's training rows), param_grid, scoring, refit, cv, verbose,
      error_score, return_train_score.

    Attributes: ``GridSearchCV``'s (``cv_results_`` with a ``status`` column, ``best_index_``,
    ``best_params_``, ``best_score_``, ``best_estimator_``, ...), and ``search_seconds_``.
    """

    def __init__(
        self,
        estimator,
        param_grid,
        *,
        scoring=None,
        refit=True,
        cv=None,
        verbose=0,
        error_score=np.nan,
        return_train_score=False,
    ):
        self.estimator = estimator
        self.param_grid = param_grid
        self.scoring = scoring
        self.refit = refit
        self.cv = cv
        self.verbose = verbose
        self.error_score = error_score
        self.return_train_score = return_train_score


class RandomizedPopulationSearchCV(PopulationSearch, RandomizedSearchCV):
    """``RandomizedSearchCV`` whose candidates and splits train as populations.

    Args: scikit-learn's ``RandomizedSearchCV`` arguments but ``n_jobs`` and ``pre_dispatch``:
      estimator, param_distributions (lists or scipy.stats distributions), n_iter, scoring,
      refit, cv, verbose, random_state, error_score, return_train_score.
    """

    def __init__(
        self,
        estimator,
        param_distributions,
        *,
        n_iter=10,
        scoring=None,
        refit=True,
        cv=None,
        verbose=0,
        random_state=None,
        error_score=np.nan,
        return_train_score=False,
    ):
        self.estimator = estimator
        self.param_distributions = param_distributions
        self.n_iter = n_iter
        self.scoring = scoring
        self.refit = refit
        self.cv = cv
        self.verbose = verbose
        self.random_state = random_state
        self.error_score = error_score
        self.return_train_score = return_train_score
