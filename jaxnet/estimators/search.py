"""``PopulationSearchCV``: a grid search whose candidates and folds train as populations.

Candidates that differ only in what a compiled program takes as data (learning rate,
``alpha``, seed) share an architecture; every (candidate, fold) of one architecture is a
member of one :func:`jaxnet.fit_population` call, its training fold a row mask. Scoring,
``cv_results_`` and refitting follow ``GridSearchCV``. Left out: randomized search, several
scorers at once, and ``n_jobs`` (the population is the parallelism).
"""

from __future__ import annotations

import contextlib
import time

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import ParameterGrid, check_cv
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import check_is_fitted

from .. import population
from .._validate import host_cast
from .base import BaseMLP
from .plan import CHUNK_ROWS, Plan, seed_of

_DATA_PARAMS = ("learning_rate_init", "alpha", "random_state", "verbose")  # vary within a program


def _architecture(est) -> tuple:
    """What decides the compiled program: every parameter but the ones held as data."""
    params = est.get_params(deep=False)
    return tuple(sorted((k, repr(v)) for k, v in params.items() if k not in _DATA_PARAMS))


class PopulationSearchCV(BaseEstimator):
    """``GridSearchCV`` for jaxnet's estimators, every candidate and fold of one architecture
    trained as one population.

    Candidates that differ only in ``learning_rate_init``, ``alpha`` or ``random_state`` share
    an architecture; they and all ``cv`` folds become the members of one
    :func:`jaxnet.fit_population` call over the whole data, each member's training fold a row
    mask (weights 1 on its rows, 0 elsewhere). Member ``(candidate, fold)`` trains exactly as
    ``clone(estimator).set_params(**candidate).fit(X[train], y[train])`` does (same seed, same
    batches), so ``cv_results_`` agree with ``GridSearchCV`` over the same estimator.

    Args:
      estimator: a :class:`MLPClassifier` or :class:`MLPRegressor` (``early_stopping=False``).
      param_grid: a dict (or list of dicts) of parameter lists, as for ``GridSearchCV``.
      cv: folds, as for ``GridSearchCV`` (int, splitter or iterable of splits).
      scoring: None (the estimator's ``score``), a scorer name or a callable.
      refit: refit the best candidate on all of ``X`` as ``best_estimator_``.

    Attributes: ``cv_results_``, ``best_index_``, ``best_params_``, ``best_score_``,
    ``best_estimator_``, ``n_splits_``, ``scorer_``, ``refit_time_``, ``search_seconds_``.
    Classifier labels are read from the whole ``y`` (``GridSearchCV`` reads each training
    fold's), which differs only when a training fold lacks a class.
    """

    def __init__(self, estimator, param_grid, *, cv=5, scoring=None, refit=True):
        self.estimator = estimator
        self.param_grid = param_grid
        self.cv = cv
        self.scoring = scoring
        self.refit = refit

    def fit(self, X, y):
        """Run the search over ``X`` ``(n, features)``, ``y``; returns self."""
        start = time.perf_counter()
        if not isinstance(self.estimator, BaseMLP):
            raise TypeError(
                "estimator must be a jaxnet.estimators MLPClassifier or MLPRegressor; "
                f"got {type(self.estimator).__name__}"
            )
        if self.estimator.early_stopping:
            raise ValueError("PopulationSearchCV needs early_stopping=False (one step count)")
        if not isinstance(self.refit, bool):
            raise ValueError(f"refit must be True or False; got {self.refit!r}")
        candidates = list(ParameterGrid(self.param_grid))
        template = clone(self.estimator)
        X_given, y_given = X, y
        X, Y = template._validate_xy(X, y, reset=True)
        splits = list(check_cv(self.cv, y, classifier=is_classifier(template)).split(X, y))
        self.scorer_ = check_scoring(self.estimator, scoring=self.scoring)
        estimators = [clone(self.estimator).set_params(**c) for c in candidates]
        scores = np.full((len(candidates), len(splits)), np.nan)
        fit_times = np.zeros_like(scores)
        score_times = np.zeros_like(scores)
        groups: dict = {}
        for i, est in enumerate(estimators):
            groups.setdefault(_architecture(est), []).append(i)
        for members in groups.values():
            self._fit_group(
                (X, X_given),
                Y,
                y,
                template,
                estimators,
                members,
                splits,
                scores,
                fit_times,
                score_times,
            )
        self._set_results(candidates, scores, fit_times, score_times)
        self.n_splits_ = len(splits)
        if self.refit:
            t = time.perf_counter()
            self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_)
            self.best_estimator_.fit(X_given, y_given)
            self.refit_time_ = time.perf_counter() - t
        self.search_seconds_ = time.perf_counter() - start
        return self

    def _fit_group(
        self, Xs, Y, y, template, estimators, members, splits, scores, fit_times, score_times
    ):
        """Train every (candidate, fold) of one architecture as one population and score it.

        ``Xs`` is ``(X checked, X as given)``: training uses the first, scoring the second (a
        DataFrame keeps its column names, as in ``GridSearchCV``).
        """
        X, X_given = Xs
        first = clone(estimators[members[0]])
        first.out_activation_ = template.out_activation_  # decides the loss, as in a fit
        n_train = [len(tr) for tr, _ in splits]
        plans = [Plan(first, X.shape[1], Y.shape[1], n) for n in n_train]
        batch = max(p.batch for p in plans)
        pairs = [(i, f) for i in members for f in range(len(splits))]
        weights = np.zeros((len(pairs), X.shape[0]))
        for m, (_, f) in enumerate(pairs):
            weights[m, splits[f][0]] = 1.0
        seeds = [seed_of(estimators[i].random_state) for i, _ in pairs]
        keys = jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.uint32))
        l2 = [float(estimators[i].alpha) / plans[f].batch_rows for i, f in pairs]
        rows = -(-X.shape[0] // batch) * batch
        per_epoch = rows // batch
        epochs = int(first.max_iter)
        chunk = max(1, min(epochs, CHUNK_ROWS // (rows * len(pairs))))
        plan = plans[0]
        with jax.enable_x64(True) if plan.dtype == jnp.float64 else contextlib.nullcontext():
            params, history = population.fit_population(
                plan.net,
                keys,
                host_cast(X, "X", plan.dtype),
                host_cast(Y, "y", plan.dtype),
                loss=plan.loss,
                optimizer=plan.tx,
                steps=epochs * per_epoch,
                learning_rates=[float(estimators[i].learning_rate_init) for i, _ in pairs],
                batch_size=batch,
                grads=plan.grads,
                eval_every=chunk * per_epoch,
                dtype=plan.dtype,
                progress=bool(first.verbose),
                weights=weights,
                hyperparams={"l2": l2},
            )
        for m, (i, f) in enumerate(pairs):
            est = _fitted_copy(estimators[i], template, plan.net, params, m)
            test = splits[f][1]
            t = time.perf_counter()
            x_test, y_test = _safe_indexing(X_given, test), _safe_indexing(y, test)
            scores[i, f] = self.scorer_(est, x_test, y_test)
            score_times[i, f] = time.perf_counter() - t
            fit_times[i, f] = history.seconds / len(pairs)

    def _set_results(self, candidates, scores, fit_times, score_times):
        results: dict = {
            "mean_fit_time": fit_times.mean(1),
            "std_fit_time": fit_times.std(1),
            "mean_score_time": score_times.mean(1),
            "std_score_time": score_times.std(1),
        }
        for name in sorted({k for c in candidates for k in c}):
            column = np.ma.MaskedArray(np.empty(len(candidates), object), mask=True)
            for i, c in enumerate(candidates):
                if name in c:
                    column[i] = c[name]
            results[f"param_{name}"] = column
        results["params"] = candidates
        for f in range(scores.shape[1]):
            results[f"split{f}_test_score"] = scores[:, f]
        mean = scores.mean(1)
        results["mean_test_score"] = mean
        results["std_test_score"] = scores.std(1)
        order = np.where(np.isnan(mean), -np.inf, mean)
        results["rank_test_score"] = 1 + np.array(
            [np.sum(order > v) for v in order], dtype=np.int32
        )
        self.cv_results_ = results
        self.best_index_ = int(np.argmin(results["rank_test_score"]))
        self.best_params_ = candidates[self.best_index_]
        self.best_score_ = float(mean[self.best_index_])

    def predict(self, X):
        """``best_estimator_.predict(X)``."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)

    def predict_proba(self, X):
        """``best_estimator_.predict_proba(X)``."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_proba(X)

    def score(self, X, y):
        """The search's scorer on ``best_estimator_``."""
        check_is_fitted(self, "best_estimator_")
        return self.scorer_(self.best_estimator_, X, y)

    @property
    def classes_(self):
        return self.best_estimator_.classes_


def _fitted_copy(est, template, net, stacked_params, member: int):
    """``est`` made to look fitted with member ``member`` of stacked population params."""
    est = clone(est)
    for name in (
        "n_features_in_",
        "feature_names_in_",
        "classes_",
        "_label_binarizer",
        "out_activation_",
        "_y_ndim",
    ):
        if hasattr(template, name):
            setattr(est, name, getattr(template, name))
    est.coefs_ = [np.asarray(layer["w"][member]) for layer in stacked_params]
    est.intercepts_ = [np.asarray(layer["b"][member]) for layer in stacked_params]
    est._net = net
    est.n_outputs_ = net.sizes[-1]
    est.n_layers_ = net.depth + 1
    return est
