"""jaxnet.estimators: scikit-learn's contract, state between calls, bad input, divergence.

Fast tests share one data shape and net (SMALL) so they share compiled programs; the full
``check_estimator`` runs are slow tests. Equality with scikit-learn's own MLP is in
test_estimators_sklearn.py, the searches in test_estimators_search.py.
"""

import pickle
import warnings

import jax
import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils import estimator_checks as ec  # noqa: E402

import jaxnet as jn  # noqa: E402
from jaxnet import estimators, population  # noqa: E402
from jaxnet.backward import backprop_batch_weighted  # noqa: E402
from jaxnet.estimators import MLPClassifier, MLPRegressor  # noqa: E402
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
    clf = MLPClassifier(**SMALL, learning_rate_init=0.05, tol=0).fit(x, names)
    assert list(clf.classes_) == ["ant", "bee", "cat"] and clf.out_activation_ == "softmax"
    assert clf.score(x, names) > 0.8 and set(clf.predict(x)) <= set(clf.classes_)
    proba = clf.predict_proba(x)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(x)), proba, rtol=1e-12)
    assert [c.shape for c in clf.coefs_] == [(6, 8), (8, 3)]
    assert [b.shape for b in clf.intercepts_] == [(8,), (3,)]
    assert clf.n_iter_ == 15 and len(clf.loss_curve_) == 15 and clf.t_ == 15 * 150
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] and clf.loss_ == clf.loss_curve_[-1]
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.n_features_in_ == 6
    # float64 data trains in float64, as scikit-learn's MLP does
    assert clf.coefs_[0].dtype == np.float64
    # coefs_ are the params predictions use: zeroing them gives uniform probabilities
    for c, b in zip(clf.coefs_, clf.intercepts_):
        c[...] = 0.0
        b[...] = 0.0
    np.testing.assert_allclose(clf.predict_proba(x[:3]), 1 / 3)


def test_weights_and_biases_start_as_sklearn_draws_them(data):
    """Uniform in +-sqrt(6 / (fan_in + fan_out)) (2 for logistic), biases too, in that order."""
    rng = np.random.RandomState(3)
    params = estimators.draw_params(rng, (6, 8, 3), "relu", np.float64)
    again = np.random.RandomState(3)
    bound = np.sqrt(6 / 14)
    np.testing.assert_array_equal(params[0]["w"], again.uniform(-bound, bound, (6, 8)))
    np.testing.assert_array_equal(params[0]["b"], again.uniform(-bound, bound, 8))
    assert np.abs(params[0]["b"]).max() > 0.1  # biases are drawn, not zero
    logistic = estimators.draw_params(np.random.RandomState(3), (6, 8, 3), "logistic", float)
    np.testing.assert_allclose(logistic[1]["w"] / params[1]["w"], np.sqrt(2 / 6))


def test_sample_weight_two_equals_the_row_twice_and_zero_equals_no_row(data):
    x, y = data
    x, y = x[:12], y[:12]
    kw = {**SMALL, "batch_size": "auto", "alpha": 0.01}  # one full batch an epoch
    w = np.ones(12)
    w[:3], w[3:5] = 2.0, 0.0
    weighted = MLPClassifier(**kw).fit(x, y, sample_weight=w)
    rows = np.r_[np.arange(3), np.arange(3), np.arange(5, 12)]
    repeated = MLPClassifier(**kw).fit(x[rows], y[rows])
    for a, b in zip(weighted.coefs_ + weighted.intercepts_, repeated.coefs_ + repeated.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-9)


def test_partial_fit_n_times_is_fit_of_n_epochs_compiled_once(data):
    """Adam's moments, the shuffling and the counters carry over from call to call."""
    x, y = data
    kw = {**SMALL, "tol": 0.0}
    whole = MLPClassifier(**{**kw, "max_iter": 6}).fit(x, y)
    parts = MLPClassifier(**kw)
    with pytest.raises(ValueError, match="classes"):
        parts.partial_fit(x, y)
    for call in range(6):
        parts.partial_fit(x, y, classes=[0, 1, 2] if call == 0 else None)
        if call == 1:
            compiled = population.compile_count()
    assert population.compile_count() == compiled  # calls 3 to 6 compiled nothing
    np.testing.assert_allclose(parts.loss_curve_, whole.loss_curve_, rtol=1e-6)
    for a, b in zip(parts.coefs_, whole.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    assert parts.t_ == whole.t_ == 6 * 150 and parts.n_iter_ == 1  # scikit-learn: 1 per call
    adam = parts._fitted_state["opt_state"].inner_state[0]
    assert int(adam.count) == 6 * 5  # 5 batches an epoch: the moments were never reset
    with pytest.raises(ValueError, match="features"):
        parts.partial_fit(x[:, :5], y)
    with pytest.raises(ValueError, match="labels not in classes_"):
        parts.partial_fit(x, y + 1)


def test_partial_fit_refused_where_sklearn_refuses_it(data):
    x, y = data
    with pytest.raises(AttributeError, match="no attribute 'partial_fit'"):
        MLPClassifier(solver="lbfgs").partial_fit(x, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(x, y)


def test_warm_start_refuses_another_net(data):
    x, y = data
    clf = MLPClassifier(**SMALL, warm_start=True).fit(x, y)
    with pytest.raises(ValueError, match=r"continue the fitted net \(6, 8, 3\); got layer sizes"):
        clf.set_params(hidden_layer_sizes=(9,)).fit(x, y)
    with pytest.raises(ValueError, match="classes of the previous fit"):
        clf.set_params(hidden_layer_sizes=(8,)).fit(x, np.where(y == 2, 1, y))


def test_pickle_and_clone_keep_what_a_next_call_needs(data):
    x, y = data
    clf = MLPClassifier(**SMALL).fit(x, y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(x), clf.predict_proba(x))
    # the optimizer state and the shuffling generator travel too: both continue alike
    clf.partial_fit(x, y)
    back.partial_fit(x, y)
    np.testing.assert_array_equal(back.coefs_[0], clf.coefs_[0])
    fresh = clone(clf)
    assert not hasattr(fresh, "coefs_") and fresh.get_params() == clf.get_params()
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**SMALL, learning_rate_init=0.05))
    assert pipe.fit(x, y).score(x, y) > 0.8


def test_same_random_state_same_model_and_different_seeds_differ(data):
    x, y = data
    a = MLPClassifier(**SMALL).fit(x, y).coefs_[0]
    b = MLPClassifier(**SMALL).fit(x, y).coefs_[0]
    c = MLPClassifier(**{**SMALL, "random_state": 1}).fit(x, y).coefs_[0]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_cross_val_score_compiles_training_once_across_folds_of_different_sizes(data, tiers_off):
    x, y = data
    x, y = x[:147], y[:147]  # 10 folds of 132 or 133 training rows: 5 batches of 32 each
    est = MLPClassifier(**{**SMALL, "hidden_layer_sizes": (9,)}, learning_rate_init=0.05)
    before = population.compile_count()
    scores = cross_val_score(est, x, y, cv=10)
    assert population.compile_count() - before == 1
    assert np.mean(scores) > 0.5
    # another row count in 5 batches, other learning rates, alpha and max_iter: no compile
    clone(est).set_params(learning_rate_init=0.01, alpha=0.1, max_iter=70).fit(x[:140], y[:140])
    assert population.compile_count() - before == 1


def test_max_iter_running_out_warns_and_a_tol_stop_does_not(data):
    x, y = data
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(15\) reached"):
        MLPClassifier(**SMALL, tol=0.0).fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = MLPClassifier(**SMALL, tol=10.0, n_iter_no_change=2).fit(x, y)
    assert clf.n_iter_ == 4  # the first epoch, then n_iter_no_change + 1 stalled ones


def test_divergence_raises_in_the_epoch_it_happens(data):
    """float32 overflows where float64 does not: a non-finite fit raises ValueError, as
    scikit-learn refuses non-finite weights, and says what to do."""
    x, y = data
    xr, yr = make_regression(150, 6, random_state=0)
    with pytest.raises(ValueError, match=r"diverged in iteration 1 .*dtype='float64'"):
        MLPRegressor(**SMALL, dtype="float32").fit(xr, yr * 1e30)
    with pytest.raises(ValueError, match="diverged"):
        MLPClassifier(**SMALL, dtype="float32", learning_rate_init=1e30).fit(x, y)


@pytest.mark.slow
def test_dropout_partial_fit_n_times_is_fit_of_n_epochs(data):
    """jaxnet's dropout extension: the masks' key is carried from call to call too."""
    x, y = data
    kw = {**SMALL, "tol": 0.0, "dropout": 0.3}
    whole = MLPClassifier(**{**kw, "max_iter": 4}).fit(x, y)
    parts = MLPClassifier(**kw)
    for call in range(4):
        parts.partial_fit(x, y, classes=[0, 1, 2] if call == 0 else None)
    np.testing.assert_allclose(parts.loss_curve_, whole.loss_curve_, rtol=1e-9)
    plain = MLPClassifier(**{**kw, "max_iter": 4, "dropout": 0.0}).fit(x, y)
    assert not np.allclose(plain.loss_curve_, whole.loss_curve_)
    # predictions never drop units: the same call twice gives the same answer
    np.testing.assert_array_equal(whole.predict_proba(x), whole.predict_proba(x))


@pytest.mark.slow
def test_float64_holds_what_float32_cannot():
    xr, yr = make_regression(150, 6, random_state=0)
    reg = MLPRegressor(**SMALL, tol=0.0)
    with pytest.warns(ConvergenceWarning):  # 1e60 is finite in float64: no divergence
        reg.fit(xr, yr * 1e30)
    assert np.isfinite(reg.loss_) and reg.loss_ > 1e50


def test_float64_is_scoped_and_float32_is_kept_under_global_x64(data, x64):
    x, y = data
    clf = MLPClassifier(**SMALL, dtype="float32").fit(x, y)
    assert clf.coefs_[0].dtype == np.float32
    assert jax.config.jax_enable_x64  # the fixture's setting, untouched


def test_float64_fit_leaves_jax_in_32_bit_mode(data):
    x, y = data
    assert not jax.config.jax_enable_x64
    clf = MLPClassifier(**SMALL, dtype="float64").fit(x.astype(np.float32), y)
    assert clf.coefs_[0].dtype == np.float64 and not jax.config.jax_enable_x64
    assert jax.numpy.zeros(1).dtype == np.float32


def test_huge_ints_and_infinite_patience_are_taken(data):
    x, y = data
    clf = MLPClassifier(**{**SMALL, "max_iter": 2**40}, tol=10.0).fit(x, y)
    assert clf.n_iter_ == 12
    with pytest.warns(ConvergenceWarning):
        MLPClassifier(**SMALL, n_iter_no_change=np.inf, tol=10.0).fit(x, y)


def test_verbose_prints_sklearns_lines(data, capsys):
    x, y = data
    clf = MLPClassifier(**{**SMALL, "max_iter": 2}, verbose=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Iteration {i + 1}, loss = {v:.8f}" for i, v in enumerate(clf.loss_curve_)]


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes"),
        (dict(hidden_layer_sizes="8"), "hidden_layer_sizes"),
        (dict(hidden_layer_sizes=(8.5,)), "hidden_layer_sizes"),
        (dict(activation="softmax"), "'activation' parameter"),
        (dict(solver="rmsprop"), "'solver' parameter"),
        (dict(alpha=-1.0), "'alpha' parameter"),
        (dict(learning_rate="cosine"), "'learning_rate' parameter"),
        (dict(learning_rate_init=0.0), "'learning_rate_init' parameter"),
        (dict(power_t=-0.5), "'power_t' parameter"),
        (dict(max_iter=0), "'max_iter' parameter"),
        (dict(batch_size=0), "'batch_size' parameter"),
        (dict(batch_size=2.5), "'batch_size' parameter"),
        (dict(shuffle="yes"), "'shuffle' parameter"),
        (dict(tol=-1e-4), "'tol' parameter"),
        (dict(warm_start=1), "'warm_start' parameter"),
        (dict(momentum=1.5), "'momentum' parameter"),
        (dict(nesterovs_momentum=None), "'nesterovs_momentum' parameter"),
        (dict(early_stopping="no"), "'early_stopping' parameter"),
        (dict(validation_fraction=1.0), "'validation_fraction' parameter"),
        (dict(beta_1=1.0), r"'beta_1' parameter .* range \[0.0, 1.0\)\. Got 1.0"),
        (dict(beta_2=-0.1), "'beta_2' parameter"),
        (dict(epsilon=0.0), "'epsilon' parameter"),
        (dict(n_iter_no_change=0), "'n_iter_no_change' parameter"),
        (dict(max_fun=0), "'max_fun' parameter"),
        (dict(grads="numeric"), "'grads' parameter"),
        (dict(dtype="float16"), "'dtype' parameter"),
        (dict(random_state="seed"), "'random_state' parameter"),
        (dict(batch_size=True), "batch_size must be an int, not a bool"),
        (dict(max_iter=True), "max_iter must be an int, not a bool"),
        (dict(early_stopping=True, validation_fraction=0.0), "validation_fraction must be above"),
        (dict(dropout=1.0), r"dropout must be in \[0, 1\)"),
        (dict(dropout=(0.1, 0.2)), "one rate per hidden layer"),
        (dict(solver="lbfgs", dropout=0.2), "dropout needs solver='adam' or 'sgd'"),
    ],
)
def test_bad_parameters_are_named_in_one_line_at_fit(data, params, match):
    x, y = data
    est = MLPClassifier(**{**SMALL, **params})  # sklearn: no validation in __init__
    with pytest.raises(ValueError, match=match) as caught:
        est.fit(x, y)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "weight, match",
    [
        (np.ones(149), r"shape \(150,\)"),
        (np.zeros(150), "not all zero"),
        (np.r_[-1.0, np.ones(149)], "non-negative"),
        (np.r_[np.nan, np.ones(149)], "finite"),
        (np.r_[np.inf, np.ones(149)], "finite"),
        ("heavy", "numbers"),
        ([object()] * 150, "numbers"),
    ],
)
def test_bad_sample_weight_is_refused_in_one_line(data, weight, match):
    x, y = data
    with pytest.raises(ValueError, match=match):
        MLPClassifier(**SMALL).fit(x, y, sample_weight=weight)


def test_bad_data_is_refused_before_training(data):
    x, y = data
    with pytest.raises(ValueError, match="continuous"):
        MLPClassifier(**SMALL).fit(x, x[:, 0])
    with pytest.raises(ValueError, match="NaN"):
        MLPClassifier(**SMALL).fit(np.where(x > 2, np.nan, x), y)
    with pytest.raises(ValueError, match="2D"):
        MLPClassifier(**SMALL).fit(x[:, 0], y)
    with pytest.raises(
        ValueError, match="Complex data not supported: X must hold real numbers; got complex128$"
    ):
        MLPClassifier(**SMALL).fit(x + 1j, y)
    with pytest.raises(ValueError, match="fewer than 2 validation rows"):
        MLPClassifier(**SMALL, early_stopping=True).fit(x[:8], y[:8])
    clf = MLPClassifier(**SMALL).fit(x, y)
    with pytest.raises(ValueError, match="6 features"):
        clf.predict(x[:, :4])
    with pytest.raises(sklearn.exceptions.NotFittedError):
        MLPRegressor().predict(x)


def test_batch_larger_than_the_data_warns_and_trains_full_batch(data):
    x, y = data
    with pytest.warns(UserWarning, match="batch_size 500 is larger than the 12"):
        clf = MLPClassifier(**{**SMALL, "batch_size": 500}).fit(x[:12], y[:12])
    assert clf.t_ == clf.n_iter_ * 12
    adam = clf._fitted_state["opt_state"].inner_state[0]
    assert int(adam.count) == clf.n_iter_  # one step an epoch


# --- scikit-learn's own checks: a fast subset, and the whole suite as slow tests ----------

# Cheap ones: the fitting checks compile programs of their own (pickling is tested above).
FAST_CHECKS = [
    ec.check_estimators_unfitted,
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
    names = {r["check_name"] for r in results if r["status"] == "passed"}
    assert failed == [] and len(results) > 50
    assert "check_sample_weight_equivalence_on_dense_data" in names


def test_an_x_beyond_float32_is_named_by_its_value_and_index_not_as_inf(data):
    x, y = data
    x = x.copy()
    x[3, 1] = 1e39
    # float64 X trains in float64 (as scikit-learn does) unless float32 is asked for
    for est in (MLPClassifier(**SMALL, dtype="float32"), MLPRegressor(**SMALL, dtype="float32")):
        with pytest.raises(ValueError, match=r"X holds 1e\+39 at index \(3, 1\), beyond the range "
                           r"of float32"):  # fmt: skip
            est.fit(x, y)


def test_early_stopping_scores_a_validation_split_every_epoch(data):
    """The held-out rows (with their weights) reach the epochs program: one score an epoch, the
    best of them kept, and the fit stops n_iter_no_change epochs after it."""
    x, y = data
    clf = MLPClassifier(**{**SMALL, "max_iter": 40}, early_stopping=True, n_iter_no_change=3)
    clf.fit(x, y, sample_weight=np.ones(len(y)))
    scores = clf.validation_scores_
    assert len(scores) == clf.n_iter_ and clf.best_validation_score_ == max(scores)
    assert all(0 <= s <= 1 for s in scores)
