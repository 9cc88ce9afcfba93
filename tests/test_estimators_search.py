"""The population searches: scikit-learn's own searches over jaxnet's estimator, trained ahead.

Each search is compared with scikit-learn's search class over the same estimator (a jaxnet
estimator, so both sides train with jaxnet): the same candidates, splits, rungs and scores to
1e-10 in float64, every fit of a batch trained as a population (one program per group).
"""

import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from scipy.stats import loguniform  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning  # noqa: E402
from sklearn.experimental import enable_halving_search_cv  # noqa: E402, F401
from sklearn.model_selection import (  # noqa: E402
    GridSearchCV,
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    KFold,
    RandomizedSearchCV,
    StratifiedKFold,
)
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from jaxnet.estimators import (  # noqa: E402
    HalvingPopulationSearchCV,
    HalvingRandomPopulationSearchCV,
    MLPClassifier,
    MLPRegressor,
    PopulationSearchCV,
    RandomizedPopulationSearchCV,
    engine,
)

SMALL = dict(hidden_layer_sizes=(8,), max_iter=15, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def data():
    x, y = make_classification(150, 6, n_informative=4, n_classes=3, random_state=0)
    return x * 10 + 3, y  # unscaled: the pipeline's scaler matters


def fit_both(ours, theirs, x, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FitFailedWarning)
        theirs.fit(x, y, **params)
        ours.fit(x, y, **params)
    return ours, theirs


def assert_same_results(ours, theirs, tol=1e-10):
    ours, theirs = ours.cv_results_, theirs.cv_results_
    assert ours["params"] == theirs["params"]
    for key, column in theirs.items():
        if "score" in key and not key.startswith("rank") and "time" not in key:
            np.testing.assert_allclose(ours[key], column, rtol=tol, atol=tol, err_msg=key)
        elif key.startswith("rank") or key in ("iter", "n_resources"):
            np.testing.assert_array_equal(ours[key], column, err_msg=key)


def counting_trains(monkeypatch):
    """Record how many tasks each call of engine.train trained."""
    calls = []
    real = engine.train

    def train(tasks):
        calls.append(len(tasks))
        return real(tasks)

    monkeypatch.setattr(engine, "train", train)
    return calls


DIVERGING = {
    "mlpclassifier__learning_rate_init": [1e-2, 1e30],
    "mlpclassifier__alpha": [1e-4, 1],
}


def test_grid_trains_one_population_and_a_diverged_candidate_is_never_best(data, monkeypatch):
    """12 fits, one population; the learning rate 1e30 diverges in float32: scikit-learn's
    error score (NaN), the status column says so, and the best is the other rate."""
    x, y = data
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**SMALL, dtype="float32"))
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    calls = counting_trains(monkeypatch)
    search = PopulationSearchCV(pipe, DIVERGING, cv=cv, refit=False)
    with pytest.warns(FitFailedWarning, match="6 fits failed"):
        search.fit(x, y)
    assert calls == [12]  # every fit trained ahead as one population, none again
    results = search.cv_results_
    assert list(results["status"]) == ["max_iter", "diverged", "max_iter", "diverged"]
    assert np.isnan(results["mean_test_score"][1]) and results["rank_test_score"][1] == 3
    assert search.best_params_["mlpclassifier__learning_rate_init"] == 1e-2
    assert results["mean_fit_time"][0] > 0 and search.search_seconds_ > 0


@pytest.mark.slow
def test_grid_over_a_pipeline_equals_grid_search(data):
    """The scaler is fitted on each fold's training rows, as GridSearchCV fits it."""
    x, y = data
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**SMALL, dtype="float32"))
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    ours, theirs = fit_both(
        PopulationSearchCV(pipe, DIVERGING, cv=cv), GridSearchCV(pipe, DIVERGING, cv=cv), x, y
    )
    assert_same_results(ours, theirs, tol=1e-6)  # float32
    assert ours.best_params_ == theirs.best_params_ and ours.score(x, y) == theirs.score(x, y)


def test_a_diverged_candidate_is_never_best_even_with_a_numeric_error_score(data):
    x, y = data
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**SMALL, dtype="float32"))
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    search = PopulationSearchCV(pipe, DIVERGING, cv=cv, error_score=2.0, refit=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(x, y)
    assert search.cv_results_["mean_test_score"][1] == 2.0  # scikit-learn's error_score
    assert search.best_params_["mlpclassifier__learning_rate_init"] == 1e-2


def test_a_random_state_instance_is_copied_alike_and_still_served(data, monkeypatch):
    """A search clones the estimator, and with it its RandomState, for each pass: the fits
    find their results by the generator's state, not its address."""
    x, y = data
    est = MLPClassifier(**{**SMALL, "random_state": np.random.RandomState(0)}, dtype="float32")
    pipe = make_pipeline(StandardScaler(), est)
    calls = counting_trains(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        PopulationSearchCV(pipe, DIVERGING, cv=StratifiedKFold(3), refit=False).fit(x, y)
    assert calls == [12]


def test_refuses_what_is_not_a_jaxnet_estimator(data):
    x, y = data
    with pytest.raises(TypeError, match="estimator must be a jaxnet.estimators"):
        PopulationSearchCV(StandardScaler(), {}).fit(x, y)
    with pytest.raises(TypeError, match="ending in StandardScaler"):
        PopulationSearchCV(make_pipeline(StandardScaler(), StandardScaler()), {}).fit(x, y)
    for factor in (0, 1, 0.5):  # scikit-learn's own search fails later on 1 and 0.5
        with pytest.raises(ValueError, match=r"'factor' parameter .* range \(1.0, inf\)"):
            HalvingPopulationSearchCV(MLPClassifier(), {"alpha": [1.0]}, factor=factor).fit(x, y)
    with pytest.raises(ValueError, match="'factor' parameter"):
        HalvingRandomPopulationSearchCV(MLPClassifier(), {"alpha": [1.0]}, factor=1).fit(x, y)


@pytest.mark.slow
def test_grid_equals_grid_search_in_float64_with_early_stopping_and_weights(data):
    x, y = data
    est = MLPClassifier(**SMALL, early_stopping=True, n_iter_no_change=3)
    grid = {"learning_rate_init": [1e-3, 3e-2], "batch_size": [16, 32], "solver": ["adam", "sgd"]}
    cv = KFold(3, shuffle=True, random_state=1)
    w = np.random.default_rng(0).integers(1, 3, len(y)).astype(float)
    assert_same_results(*fit_both(
        PopulationSearchCV(est, grid, cv=cv), GridSearchCV(est, grid, cv=cv), x / 10, y,
        sample_weight=w,
    ))  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("resource", ["n_samples", "mlpclassifier__max_iter"])
def test_halving_equals_halving_grid_search(data, resource):
    x, y = data
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**SMALL))
    grid = {
        "mlpclassifier__learning_rate_init": [1e-3, 1e-2, 3e-2],
        "mlpclassifier__alpha": [1e-4, 0.1],
    }
    kw = dict(cv=StratifiedKFold(3, shuffle=True, random_state=0), factor=2, random_state=0)
    if resource != "n_samples":
        kw.update(resource=resource, max_resources=40, min_resources=5)
    ours, theirs = fit_both(
        HalvingPopulationSearchCV(pipe, grid, **kw), HalvingGridSearchCV(pipe, grid, **kw), x, y
    )
    assert_same_results(ours, theirs)
    assert ours.n_resources_ == theirs.n_resources_ and ours.n_candidates_ == theirs.n_candidates_
    assert ours.best_params_ == theirs.best_params_ and ours.best_score_ == theirs.best_score_
    assert len(ours.cv_results_["status"]) == len(ours.cv_results_["params"])


@pytest.mark.slow
def test_randomized_searches_equal_sklearns(data):
    x, y = data
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**SMALL))
    dist = {
        "mlpclassifier__learning_rate_init": loguniform(1e-4, 1e-1),
        "mlpclassifier__alpha": loguniform(1e-5, 1),
    }
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    assert_same_results(
        *fit_both(
            RandomizedPopulationSearchCV(pipe, dist, n_iter=5, cv=cv, random_state=0),
            RandomizedSearchCV(pipe, dist, n_iter=5, cv=cv, random_state=0),
            x,
            y,
        )
    )
    kw = dict(cv=cv, factor=2, random_state=0, n_candidates=6)
    assert_same_results(
        *fit_both(
            HalvingRandomPopulationSearchCV(pipe, dist, **kw),
            HalvingRandomSearchCV(pipe, dist, **kw),
            x,
            y,
        )
    )


@pytest.mark.slow
def test_lbfgs_and_regressor_candidates_train_as_populations(data, monkeypatch):
    x, y = data
    reg = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(6,), solver="lbfgs",
                                                       max_iter=50, random_state=0))  # fmt: skip
    grid = {"mlpregressor__alpha": [1e-4, 1e-2, 1.0]}
    calls = counting_trains(monkeypatch)
    target = x[:, 0] / 10 + np.sin(x[:, 1] / 10)
    ours, theirs = fit_both(PopulationSearchCV(reg, grid, cv=3), GridSearchCV(reg, grid, cv=3),
                            x, target)  # fmt: skip
    assert_same_results(ours, theirs, tol=1e-8)
    assert calls == []  # lbfgs fits do not go through the stochastic engine


@pytest.mark.slow
def test_dropout_candidates_equal_their_fits(data):
    """Rates are data in one program: a member with rate 0 beside members that drop is the
    plain fit, and each dropping member is its own fit (the same masks)."""
    x, y = data
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**SMALL))
    grid = {"mlpclassifier__dropout": [0.0, 0.2, 0.5]}
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    ours, theirs = fit_both(
        PopulationSearchCV(pipe, grid, cv=cv), GridSearchCV(pipe, grid, cv=cv), x, y
    )
    assert_same_results(ours, theirs)


@pytest.mark.slow
def test_refused_candidates_and_several_scorers(data):
    """A candidate whose parameters are refused gets the status "failed" and the error score;
    with several scorers the best is picked by the refit scorer among those that trained."""
    x, y = data
    est = make_pipeline(StandardScaler(), MLPClassifier(**SMALL))
    grid = {
        "mlpclassifier__alpha": [-1.0, 1e-4],
        "mlpclassifier__learning_rate_init": [1e-2, 1e300],
    }
    search = PopulationSearchCV(est, grid, cv=3, scoring=["accuracy", "f1_macro"], refit="f1_macro")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(x, y)
    results = search.cv_results_
    assert list(results["status"]) == ["failed", "failed", "max_iter", "diverged"]
    assert np.isnan(results["mean_test_accuracy"][:2]).all()
    assert search.best_params_ == {
        "mlpclassifier__alpha": 1e-4,
        "mlpclassifier__learning_rate_init": 1e-2,
    }


def test_searches_pickle_and_clone(data):
    for search in (
        PopulationSearchCV(MLPClassifier(), {"alpha": [1.0]}),
        RandomizedPopulationSearchCV(MLPClassifier(), {"alpha": [1.0]}, n_iter=1),
        HalvingPopulationSearchCV(MLPClassifier(), {"alpha": [1.0]}),
        HalvingRandomPopulationSearchCV(MLPClassifier(), {"alpha": [1.0]}),
    ):
        twin = clone(search)
        assert twin.get_params(deep=False).keys() == search.get_params(deep=False).keys()
        assert "n_jobs" not in twin.get_params(deep=False)
        back = pickle.loads(pickle.dumps(search))
        assert back.get_params(deep=False).keys() == search.get_params(deep=False).keys()
