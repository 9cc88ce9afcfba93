"""jaxnet.estimators: scikit-learn's contract, compile reuse, and the population search.

Fast tests share one data shape and net (SHAPE) so they share compiled programs; the full
``check_estimator`` runs are slow tests.
"""

import pickle
import warnings

import jax
import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils import estimator_checks as ec  # noqa: E402

import jaxnet as jn  # noqa: E402
from jaxnet import estimators, population, train  # noqa: E402
from jaxnet.backward import backprop_batch_weighted  # noqa: E402
from jaxnet.estimators import MLPClassifier, MLPRegressor, PopulationSearchCV  # noqa: E402
from jaxnet.grads import autodiff_batch, autodiff_batch_weighted  # noqa: E402

SMALL = dict(hidden_layer_sizes=(8,), max_iter=15, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def data():
    x, y = make_classification(150, 6, n_informative=4, n_classes=3, random_state=0)
    return x, y


def weights_of_subset(n, rows):
    w = np.zeros(n)
    w[rows] = 1.0
    return w


# --- the training layer: row weights -------------------------------------------------------


def test_weighted_grads_manual_equal_autodiff_and_mean_of_rows(x64):
    net = jn.MLP((3, 4, 2), activation="tanh")
    params = jn.init(net, jax.random.key(0), dtype=np.float64)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 3)), np.eye(2)[[0, 1, 1, 0, 1]]
    w = np.array([2.0, 0.0, 1.0, 0.0, 1.0]) * 5 / 4  # rows 1 and 3 masked out
    for loss in ("cross_entropy", "mse", "sse"):
        va, ga = autodiff_batch_weighted(net, params, x, y, w, loss)
        vm, gm = backprop_batch_weighted(net, params, x, y, w, loss)
        # the weighted loss of the kept rows equals the plain loss of those rows, repeated
        keep = np.array([0, 0, 2, 4])
        vr, gr = autodiff_batch(net, params, x[keep], y[keep], loss)
        scale = 1.0 if loss != "sse" else 5 / 4
        assert np.isclose(va, vm, rtol=1e-12) and np.isclose(va, vr * scale, rtol=1e-12)
        for a, b, r in zip(ga, gm, gr):
            assert np.allclose(a["w"], b["w"], rtol=1e-12) and np.allclose(a["w"], r["w"] * scale)


def test_fit_with_row_mask_equals_fit_on_those_rows():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    net = jn.MLP((3, 5, 2))
    p0 = jn.init(net, jax.random.key(2))
    rows = np.sort(rng.choice(40, 25, replace=False))
    kw = dict(loss="cross_entropy", optimizer="adam", learning_rate=0.05, batch_size=8)
    # the same rows first, then 15 rows of padding (zeros, weight 0): 5 steps per epoch
    pa, ha = jn.fit(net, p0, x, y, steps=30, weights=weights_of_subset(40, rows), **kw)
    xs, ys = np.r_[x[rows], np.zeros((15, 3), np.float32)], np.r_[y[rows], np.zeros(15, int)]
    pb, hb = jn.fit(net, p0, xs, ys, steps=30, weights=np.r_[np.ones(25), np.zeros(15)], **kw)
    for a, b in zip(pa, pb):
        np.testing.assert_allclose(a["w"], b["w"], rtol=1e-5, atol=1e-6)
    # 4 real batches per epoch (8, 8, 8, 1 rows), the 5th empty: skipped (NaN), nothing applied
    assert np.isnan(ha.loss).sum() == 6 and np.array_equal(np.isnan(ha.loss), np.isnan(hb.loss))
    assert ha.loss[-2] < ha.loss[0]


@pytest.mark.slow
def test_population_member_with_mask_equals_fit():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    net = jn.MLP((3, 5, 2))
    keys = jax.random.split(jax.random.key(3), 2)
    w = np.stack([weights_of_subset(40, np.arange(0, 40, 2)), np.ones(40)])
    kw = dict(loss="cross_entropy", optimizer="adam", batch_size=8, steps=30)
    pp, _ = jn.fit_population(net, keys, x, y, learning_rates=[0.05, 0.01], weights=w, **kw)
    for i, lr in enumerate([0.05, 0.01]):
        ik, bk = population.member_keys(keys[i])
        ps, _ = jn.fit(net, jn.init(net, ik), x, y, learning_rate=lr, key=bk, weights=w[i], **kw)
        for a, b in zip(pp, ps):
            np.testing.assert_allclose(a["w"][i], b["w"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "weights, match",
    [
        (np.ones(39), r"shape \(40,\)"),
        (np.zeros(40), "not all zero"),
        (np.r_[-1.0, np.ones(39)], "non-negative"),
        (np.r_[np.nan, np.ones(39)], "finite"),
        (np.array(["a"] * 40), "numeric"),
    ],
)
def test_fit_refuses_bad_weights(weights, match):
    net = jn.MLP((3, 2))
    p = jn.init(net, jax.random.key(0))
    with pytest.raises(ValueError, match=match):
        jn.fit(
            net,
            p,
            np.zeros((40, 3)),
            np.zeros((40, 2)),
            loss="mse",
            optimizer="sgd",
            learning_rate=0.1,
            steps=1,
            weights=weights,
        )


# --- the estimators ----------------------------------------------------------------------


def test_bucket_rows_pads_at_most_a_sixteenth():
    for n in [1, 15, 16, 17, 31, 33, 100, 1437, 1438, 16000, 16001, 10**6 + 1]:
        b = estimators.bucket_rows(n)
        assert b >= n and (n <= 16 or b - n <= n / 16)
    # the folds of a 5-fold split of 1797 rows (1437 and 1438 training rows) share a bucket
    assert estimators.bucket_rows(1437) == estimators.bucket_rows(1438)


def test_classifier_fits_any_label_type_and_reports_sklearn_attributes(data):
    x, y = data
    names = np.array(["ant", "bee", "cat"])[y]
    clf = MLPClassifier(**SMALL, learning_rate_init=0.05).fit(x, names)
    assert list(clf.classes_) == ["ant", "bee", "cat"] and clf.out_activation_ == "softmax"
    assert clf.score(x, names) > 0.8 and set(clf.predict(x)) <= set(clf.classes_)
    proba = clf.predict_proba(x)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(x)), proba, rtol=1e-12)
    assert [c.shape for c in clf.coefs_] == [(6, 8), (8, 3)]
    assert [b.shape for b in clf.intercepts_] == [(8,), (3,)]
    assert (
        clf.n_iter_ == 15
        and len(clf.loss_curve_) == 15
        and clf.loss_curve_[-1] < clf.loss_curve_[0]
    )
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.n_features_in_ == 6
    # coefs_ are the params predictions use: zeroing them gives uniform probabilities
    for c, b in zip(clf.coefs_, clf.intercepts_):
        c[...] = 0.0
        b[...] = 0.0
    np.testing.assert_allclose(clf.predict_proba(x[:3]), 1 / 3)


@pytest.mark.slow
def test_binary_bool_labels_use_one_logistic_output(data):
    x, y = data
    clf = MLPClassifier(**SMALL, learning_rate_init=0.05).fit(x, y == 0)
    assert clf.out_activation_ == "logistic" and clf.coefs_[-1].shape == (8, 1)
    assert list(clf.classes_) == [False, True] and clf.predict(x).dtype == bool
    assert clf.score(x, y == 0) > 0.8


@pytest.mark.slow
def test_multilabel_and_multioutput_targets(data):
    x, y = data
    labels = np.stack([y == 0, y == 1, x[:, 0] > 0], 1).astype(int)
    clf = MLPClassifier(**SMALL, learning_rate_init=0.05).fit(x, labels)
    assert clf.predict(x).shape == (150, 3) and clf.predict_proba(x).shape == (150, 3)
    assert clf.score(x, labels) > 0.5  # subset accuracy
    xr, yr = make_regression(150, 6, n_targets=2, random_state=0)
    reg = MLPRegressor(**SMALL, learning_rate_init=0.05).fit(xr, yr / yr.std())
    assert reg.predict(xr).shape == (150, 2) and reg.score(xr, yr / yr.std()) > 0.8
    one = MLPRegressor(**SMALL).fit(xr, yr[:, 0])
    assert one.predict(xr).shape == (150,)


def test_pickle_clone_and_pipeline(data):
    x, y = data
    clf = MLPClassifier(**SMALL).fit(x, y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(x), clf.predict_proba(x))
    fresh = clone(clf)
    assert not hasattr(fresh, "coefs_") and fresh.get_params() == clf.get_params()
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**SMALL, learning_rate_init=0.05))
    assert pipe.fit(x, y).score(x, y) > 0.8


@pytest.mark.slow
def test_partial_fit_needs_classes_first_then_continues(data):
    x, y = data
    clf = MLPClassifier(**SMALL, learning_rate_init=0.05)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(x, y)
    clf.partial_fit(x[:60], y[:60], classes=[0, 1, 2])
    first = [c.copy() for c in clf.coefs_]
    losses = [clf.loss_]
    for _ in range(10):
        clf.partial_fit(x, y)
        losses.append(clf.loss_)
    assert not np.allclose(first[0], clf.coefs_[0]) and losses[-1] < losses[0]
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(x[:, :5], y)


def test_same_random_state_same_model_and_different_seeds_differ(data):
    x, y = data
    a = MLPClassifier(**SMALL).fit(x, y).coefs_[0]
    b = MLPClassifier(**SMALL).fit(x, y).coefs_[0]
    c = MLPClassifier(**{**SMALL, "random_state": 1}).fit(x, y).coefs_[0]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_cross_val_score_compiles_training_once_across_folds_of_different_sizes(data):
    x, y = data
    x, y = x[:143], y[:143]  # 5 folds of 114 or 115 training rows
    est = MLPClassifier(**SMALL, learning_rate_init=0.05)  # rows padded to 128, as below
    before = train.run_chunk_weighted._cache_size()
    scores = cross_val_score(est, x, y, cv=5)
    assert train.run_chunk_weighted._cache_size() - before == 1
    assert np.mean(scores) > 0.5
    # a different row count in the same bucket, and other learning rates: still no compile
    clone(est).set_params(learning_rate_init=0.01, alpha=0.1).fit(x[:113], y[:113])
    assert train.run_chunk_weighted._cache_size() - before == 1


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes"),
        (dict(hidden_layer_sizes="8"), "hidden_layer_sizes"),
        (dict(activation="softmax"), "activation"),
        (dict(solver="lbfgs"), "solver"),
        (dict(alpha=-1.0), "alpha"),
        (dict(learning_rate_init=0.0), "learning_rate_init"),
        (dict(max_iter=0), "max_iter"),
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=2.5), "batch_size"),
        (dict(grads="numeric"), "grads"),
        (dict(dtype="float16"), "dtype"),
        (dict(shuffle=False), "shuffle"),
        (dict(beta_2=1.5), "beta_2"),
        (dict(validation_fraction=1.5), "validation_fraction"),
    ],
)
def test_bad_parameters_are_named_at_fit(data, params, match):
    x, y = data
    est = MLPClassifier(**{**SMALL, **params})  # sklearn: no validation in __init__
    with pytest.raises(ValueError, match=match):
        est.fit(x, y)


def test_bad_data_is_refused_before_training(data):
    x, y = data
    with pytest.raises(ValueError, match="continuous"):
        MLPClassifier(**SMALL).fit(x, x[:, 0])
    with pytest.raises(ValueError, match="NaN"):
        MLPClassifier(**SMALL).fit(np.where(x > 2, np.nan, x), y)
    with pytest.raises(ValueError, match="2D"):
        MLPClassifier(**SMALL).fit(x[:, 0], y)
    clf = MLPClassifier(**SMALL).fit(x, y)
    with pytest.raises(ValueError, match="6 features"):
        clf.predict(x[:, :4])
    with pytest.raises(sklearn.exceptions.NotFittedError):
        MLPRegressor().predict(x)


def test_batch_larger_than_the_data_warns_and_trains_full_batch(data):
    x, y = data
    with pytest.warns(UserWarning, match="batch_size 500 is larger than the 150"):
        clf = MLPClassifier(**{**SMALL, "batch_size": 500}).fit(x, y)
    assert clf.n_iter_ == 15


@pytest.mark.slow
def test_early_stopping_keeps_validation_scores(data):
    x, y = data
    clf = MLPClassifier(**{**SMALL, "max_iter": 40}, early_stopping=True, n_iter_no_change=3)
    clf.fit(x, y)
    assert clf.best_loss_ is None and len(clf.validation_scores_) == clf.n_iter_ <= 40
    assert clf.best_validation_score_ == max(clf.validation_scores_)


# --- scikit-learn's own checks: a fast subset, and the whole suite as slow tests ----------

# Cheap ones: the fitting checks compile programs of their own (pickling is tested above).
FAST_CHECKS = [
    ec.check_estimators_unfitted,
    ec.check_estimators_dtypes,
    ec.check_no_attributes_set_in_init,
    ec.check_parameters_default_constructible,
]


@pytest.mark.parametrize("check", FAST_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_check_subset(check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check("MLPClassifier", MLPClassifier(hidden_layer_sizes=(8,), max_iter=20))


# scikit-learn's own expected-failure mechanism; empty: every check passes.
EXPECTED_FAILED_CHECKS: dict = {}


@pytest.mark.slow
@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor], ids=["classifier", "regressor"])
def test_check_estimator_passes(make):
    results = ec.check_estimator(
        make(), expected_failed_checks=EXPECTED_FAILED_CHECKS, on_fail=None
    )
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert failed == [] and len(results) > 50


# --- the population search ---------------------------------------------------------------


def test_population_search_matches_grid_search_per_candidate(data):
    x, y = data
    grid = {"learning_rate_init": [0.003, 0.03], "alpha": [1e-4, 0.3]}
    est = MLPClassifier(**SMALL)  # 100 training rows, padded to 128 as in the test above
    cv = KFold(3, shuffle=True, random_state=0)
    g = GridSearchCV(est, grid, cv=cv).fit(x, y)
    before = population.compile_count()
    p = PopulationSearchCV(est, grid, cv=cv).fit(x, y)
    # 4 candidates x 3 folds: one population, so one init and one training program
    assert population.compile_count() - before <= 2
    for key in ["mean_test_score", "split0_test_score", "split2_test_score", "rank_test_score"]:
        np.testing.assert_allclose(p.cv_results_[key], g.cv_results_[key], atol=1e-12)
    assert p.cv_results_["params"] == g.cv_results_["params"]
    assert p.best_params_ == g.best_params_ and p.best_score_ == pytest.approx(g.best_score_)
    np.testing.assert_allclose(
        p.best_estimator_.predict_proba(x), g.best_estimator_.predict_proba(x), atol=1e-5
    )
    assert p.score(x, y) == pytest.approx(g.score(x, y))


@pytest.mark.slow
def test_population_search_regressor_and_architectures_in_turn():
    x, y = make_regression(90, 4, random_state=1)
    y = y / y.std()
    grid = {"hidden_layer_sizes": [(4,), (6,)], "learning_rate_init": [0.01, 0.05]}
    est = MLPRegressor(max_iter=10, batch_size=16, random_state=0)
    g = GridSearchCV(est, grid, cv=3).fit(x, y)
    p = PopulationSearchCV(est, grid, cv=3).fit(x, y)
    np.testing.assert_allclose(
        p.cv_results_["mean_test_score"], g.cv_results_["mean_test_score"], rtol=1e-5
    )


def test_population_search_refuses_what_it_cannot_do(data):
    x, y = data
    with pytest.raises(TypeError, match="estimator"):
        PopulationSearchCV(StandardScaler(), {}).fit(x, y)
    with pytest.raises(ValueError, match="early_stopping"):
        PopulationSearchCV(MLPClassifier(early_stopping=True), {"alpha": [1.0]}).fit(x, y)


def test_an_x_beyond_float32_is_named_by_its_value_and_index_not_as_inf(data):
    x, y = data
    x = x.copy()
    x[3, 1] = 1e39
    for est in (MLPClassifier(**SMALL), MLPRegressor(**SMALL)):
        with pytest.raises(ValueError, match=r"X holds 1e\+39 at index \(3, 1\), beyond the range "
                           r"of float32"):  # fmt: skip
            est.fit(x, y)
