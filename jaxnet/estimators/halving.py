"""Successive halving whose every rung trains as populations.

:class:`HalvingPopulationSearchCV` is scikit-learn's ``HalvingGridSearchCV`` and
:class:`HalvingRandomPopulationSearchCV` its ``HalvingRandomSearchCV``, with
:class:`.search.PopulationSearch` mixed in: scikit-learn's own code picks the rungs
(``factor``, ``min_resources``, ``max_resources``, ``aggressive_elimination``), subsamples the
rows (``resource="n_samples"``) or sets the resource parameter (``resource="max_iter"``, say),
keeps the best ``1/factor`` of each rung and fills ``cv_results_`` (``iter``,
``n_resources``, ...); every rung's candidates x splits train as populations. The candidates
that survive and their scores are scikit-learn's halving search's over the same estimator.
These are the estimators' own rungs, not the sweep engine's (the adaptive sweeps have their
own). Importing this module enables scikit-learn's experimental halving searches.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingGridSearchCV, HalvingRandomSearchCV
from sklearn.utils._param_validation import Interval

from .search import PopulationSearch

# scikit-learn takes any factor > 0 and then fails inside its rung arithmetic (factor 1
# divides by log(1), a factor below 1 indexes past its rungs): refuse it up front instead.
FACTOR = [Interval(Real, 1, None, closed="neither")]


class HalvingPopulationSearchCV(PopulationSearch, HalvingGridSearchCV):
    """``HalvingGridSearchCV`` whose rungs train as populations.

    Args: scikit-learn's ``HalvingGridSearchCV`` arguments but ``n_jobs``: estimator,
      param_grid, factor, resource (``"n_samples"`` or a parameter such as ``"max_iter"``),
      max_resources, min_resources, aggressive_elimination, cv, scoring, refit, error_score,
      return_train_score, random_state, verbose.

    Attributes: ``HalvingGridSearchCV``'s (``n_resources_``, ``n_candidates_``,
    ``n_iterations_``, ``cv_results_`` with ``iter``, ``n_resources`` and ``status``, ...).
    """

    _parameter_constraints = {**HalvingGridSearchCV._parameter_constraints, "factor": FACTOR}

    def __init__(
        self,
        estimator,
        param_grid,
        *,
        factor=3,
        resource="n_samples",
        max_resources="auto",
        min_resources="exhaust",
        aggressive_elimination=False,
        cv=5,
        scoring=None,
        refit=True,
        error_score=np.nan,
        return_train_score=True,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.param_grid = param_grid
        self.factor = factor
        self.resource = resource
        self.max_resources = max_resources
        self.min_resources = min_resources
        self.aggressive_elimination = aggressive_elimination
        self.cv = cv
        self.scoring = scoring
        self.refit = refit
        self.error_score = error_score
        self.return_train_score = return_train_score
        self.random_state = random_state
        self.verbose = verbose


class HalvingRandomPopulationSearchCV(PopulationSearch, HalvingRandomSearchCV):
    """``HalvingRandomSearchCV`` whose rungs train as populations.

    Args: scikit-learn's ``HalvingRandomSearchCV`` arguments but ``n_jobs``: estimator,
      param_distributions, n_candidates, factor, resource, max_resources, min_resources,
      aggressive_elimination, cv, scoring, refit, error_score, return_train_score,
      random_state, verbose.
    """

    _parameter_constraints = {**HalvingRandomSearchCV._parameter_constraints, "factor": FACTOR}

    def __init__(
        self,
        estimator,
        param_distributions,
        *,
        n_candidates="exhaust",
        factor=3,
        resource="n_samples",
        max_resources="auto",
        min_resources="smallest",
        aggressive_elimination=False,
        cv=5,
        scoring=None,
        refit=True,
        error_score=np.nan,
        return_train_score=True,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.param_distributions = param_distributions
        self.n_candidates = n_candidates
        self.factor = factor
        self.resource = resource
        self.max_resources = max_resources
        self.min_resources = min_resources
        self.aggressive_elimination = aggressive_elimination
        self.cv = cv
        self.scoring = scoring
        self.refit = refit
        self.error_score = error_score
        self.return_train_score = return_train_score
        self.random_state = random_state
        self.verbose = verbose
