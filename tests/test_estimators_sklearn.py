"""jaxnet.estimators against scikit-learn's own MLP: the same fit, number for number.

With the same ``random_state`` both draw the same weights and biases, shuffle the same rows
into the same batches and stop at the same epoch, so in float64 (the dtype of float64 data)
every weight, the loss curve, ``n_iter_``, ``t_`` and the stopping counters agree to 1e-10.
The fast tests share one data shape and net; the rest are slow tests.
"""

import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn import neural_network as sk  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    load_breast_cancer,
    load_iris,
    load_wine,
    make_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from jaxnet.estimators import MLPClassifier, MLPRegressor  # noqa: E402

SMALL = dict(hidden_layer_sizes=(8,), max_iter=15, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def data():
    x, y = make_classification(150, 6, n_informative=4, n_classes=3, random_state=0)
    return StandardScaler().fit_transform(x), y


def fitted_pair(ours, theirs, x, y, **fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return theirs.fit(x, y, **fit), ours.fit(x, y, **fit)


def assert_same_fit(a, b, tol=1e-10):
    """Every fitted number of scikit-learn's estimator ``a`` in jaxnet's ``b``."""
    for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(v, u, rtol=tol, atol=tol)
    assert (a.n_iter_, a.t_, a.n_layers_, a.n_outputs_) == (
        b.n_iter_,
        b.t_,
        b.n_layers_,
        b.n_outputs_,
    )
    assert a.out_activation_ == b.out_activation_
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=tol)
    assert b.loss_ == pytest.approx(a.loss_, rel=tol)
    if a.best_loss_ is None:
        assert b.best_loss_ is None
        np.testing.assert_allclose(b.validation_scores_, a.validation_scores_, rtol=tol)
        assert b.best_validation_score_ == pytest.approx(a.best_validation_score_, rel=tol)
    else:
        assert b.best_loss_ == pytest.approx(a.best_loss_, rel=tol)
        assert b.validation_scores_ is None and a.validation_scores_ is None
    assert b._fitted_state["counters"]["bad_epochs"] == a._no_improvement_count


# Each case: scikit-learn's own parameters, not one of them set differently for jaxnet.
FAST_CASES = {
    "adam, minibatches, L2": dict(alpha=0.01, learning_rate_init=0.01),
    "sgd invscaling, Nesterov": dict(solver="sgd", learning_rate="invscaling", power_t=0.3,
                                     learning_rate_init=0.5),
    "sgd adaptive: the rate divided by 5 twice, then stops": dict(
        solver="sgd", learning_rate="adaptive", learning_rate_init=1e-5, n_iter_no_change=1,
        tol=1.0),
}  # fmt: skip
SLOW_CASES = {
    "early stopping keeps the best weights": dict(early_stopping=True, max_iter=60,
                                                  learning_rate_init=0.03, n_iter_no_change=4),
    "no shuffling, one batch of 150": dict(shuffle=False, batch_size=500),
    "logistic hidden layers (init bound sqrt(2/fan))": dict(activation="logistic",
                                                          hidden_layer_sizes=(8, 5)),
    "tanh, sgd constant, no momentum": dict(activation="tanh", solver="sgd", momentum=0.0,
                                            learning_rate_init=0.1),
    "identity, auto batch (min(200, n))": dict(activation="identity", batch_size="auto"),
    "adam betas and epsilon": dict(beta_1=0.5, beta_2=0.9, epsilon=1e-3),
    "tol stop without early stopping": dict(max_iter=400, tol=1e-2, learning_rate_init=0.02),
    "sgd adaptive, momentum, many epochs": dict(solver="sgd", learning_rate="adaptive",
                                                nesterovs_momentum=False, learning_rate_init=0.2,
                                                max_iter=120, n_iter_no_change=2, tol=1e-3),
}  # fmt: skip


@pytest.mark.parametrize("case", FAST_CASES, ids=list(FAST_CASES))
def test_classifier_equals_sklearn(data, case):
    x, y = data
    kw = {**SMALL, **FAST_CASES[case]}
    assert_same_fit(*fitted_pair(MLPClassifier(**kw), sk.MLPClassifier(**kw), x, y))


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW_CASES, ids=list(SLOW_CASES))
def test_classifier_equals_sklearn_more(data, case):
    x, y = data
    kw = {**SMALL, **SLOW_CASES[case]}
    assert_same_fit(*fitted_pair(MLPClassifier(**kw), sk.MLPClassifier(**kw), x, y))


def test_sample_weight_equals_sklearn_minibatches(data):
    """Weights scale rows inside each batch and divide the L2 term by the batch's weight."""
    x, y = data
    w = np.random.default_rng(0).integers(0, 4, len(y)).astype(float)
    kw = {**SMALL, "alpha": 0.05}
    a, b = fitted_pair(MLPClassifier(**kw), sk.MLPClassifier(**kw), x, y, sample_weight=w)
    assert_same_fit(a, b)


def test_warm_start_continues_as_sklearn(data):
    """A new optimizer per fit; weights, t_, the loss curve and the counters carry on."""
    x, y = data
    a = sk.MLPClassifier(**{**SMALL, "max_iter": 4}, warm_start=True)
    b = MLPClassifier(**{**SMALL, "max_iter": 4}, warm_start=True)
    for max_iter in (4, 6):
        fitted_pair(b.set_params(max_iter=max_iter), a.set_params(max_iter=max_iter), x, y)
    assert len(b.loss_curve_) == 10 and b.n_iter_ == 6 and b.t_ == 10 * len(y)
    assert_same_fit(a, b)


def test_a_generator_ends_where_sklearns_does(data):
    """A fit stopping inside a chunk of epochs puts back the shuffles it drew but never ran:
    a RandomState handed to both estimators is left in the same state."""
    x, y = data
    kw = {**SMALL, "max_iter": 60, "tol": 0.05, "n_iter_no_change": 2}
    theirs_rng, ours_rng = np.random.RandomState(7), np.random.RandomState(7)
    a, b = fitted_pair(
        MLPClassifier(**{**kw, "random_state": ours_rng}),
        sk.MLPClassifier(**{**kw, "random_state": theirs_rng}),
        x,
        y,
    )
    assert a.n_iter_ == b.n_iter_ < 60
    assert ours_rng.randint(2**31) == theirs_rng.randint(2**31)


@pytest.mark.slow
@pytest.mark.parametrize("labels", ["binary", "multilabel", "one class", "one row"])
def test_classifier_targets_equal_sklearn(data, labels):
    x, y = data
    target = {
        "binary": y == 1,
        "multilabel": np.stack([y == 0, y == 1, x[:, 0] > 0], 1).astype(int),
        "one class": np.zeros(len(y), int),
        "one row": y,
    }[labels]
    rows = slice(0, 1) if labels == "one row" else slice(None)
    kw = {**SMALL, "batch_size": "auto"}
    ours, theirs = MLPClassifier(**kw), sk.MLPClassifier(**kw)
    assert_same_fit(*fitted_pair(ours, theirs, x[rows], target[rows]))
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x))


@pytest.mark.slow
@pytest.mark.parametrize("outputs", [1, 3])
def test_regressor_equals_sklearn(outputs):
    """scikit-learn's squared error: half the mean in the loss, the outputs' sum in the
    gradient (a multi-output fit is not the gradient of its own loss curve)."""
    x, y = make_regression(120, 5, n_targets=outputs, random_state=0)
    y = y / y.std()
    for extra in ({}, {"early_stopping": True, "max_iter": 40}):
        kw = {**SMALL, "batch_size": 25, **extra}
        assert_same_fit(*fitted_pair(MLPRegressor(**kw), sk.MLPRegressor(**kw), x, y))


@pytest.mark.slow
def test_float32_data_trains_in_float32_close_to_sklearn(data):
    """float32 data: both train in float32 (scikit-learn follows X's dtype, and so do we)."""
    x, y = data
    x = x.astype(np.float32)
    a, b = fitted_pair(MLPClassifier(**SMALL), sk.MLPClassifier(**SMALL), x, y)
    assert b.coefs_[0].dtype == np.float32 and a.coefs_[0].dtype == np.float32
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-4)


def small_sets():
    for name, load in (("iris", load_iris), ("wine", load_wine), ("breast", load_breast_cancer)):
        x, y = load(return_X_y=True)
        yield name, x, y


@pytest.mark.slow
def test_lbfgs_reaches_sklearn_lbfgs_accuracy_on_small_sets():
    """optax's L-BFGS, not SciPy's: other iterates, the same accuracy (4 splits each)."""
    for name, x, y in small_sets():
        ours, theirs = [], []
        for seed in range(4):
            xa, xb, ya, yb = train_test_split(x, y, test_size=0.3, stratify=y, random_state=seed)
            scaler = StandardScaler().fit(xa)
            xa, xb = scaler.transform(xa), scaler.transform(xb)
            kw = dict(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=300, random_state=seed)
            a, b = fitted_pair(MLPClassifier(**kw), sk.MLPClassifier(**kw), xa, ya)
            theirs.append(a.score(xb, yb))
            ours.append(b.score(xb, yb))
            assert b.loss_ < 0.1 and not hasattr(b, "loss_curve_")
        assert np.mean(ours) >= np.mean(theirs) - 0.02, name
