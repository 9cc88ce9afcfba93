"""scikit-learn estimators over :func:`jaxnet.fit` and :func:`jaxnet.fit_population`.

``MLPClassifier`` and ``MLPRegressor`` take scikit-learn's MLP parameter names and set its
fitted attributes, so a script written for ``sklearn.neural_network`` switches with one import.
``PopulationSearchCV`` is ``GridSearchCV`` whose candidates of one architecture and all their
folds train as one population: a fold is a per-member row mask over the shared data.

This module is an adapter: it turns scikit-learn's arguments into a net, a loss, an optax
optimizer and row weights, calls ``fit``/``fit_population``, and turns the results into
scikit-learn's attributes. It holds no training loop.

Compiling once per architecture: training rows are padded with rows of weight 0 up to a
bucket (``m * 2**e`` with ``16 <= m < 32``, so at most 1/16 extra), and everything that varies
between folds or candidates (rows, learning rate, ``alpha``, seed) is data, so the folds of a
``cross_val_score`` reuse one compiled program. Predictions run in float64 on padded rows too.

What differs from scikit-learn, and why:

* ``tol`` and ``n_iter_no_change`` act only with ``early_stopping=True``, where training stops
  after ``n_iter_no_change`` epochs without a lower validation *loss* (scikit-learn watches
  the validation score with ``tol``) and keeps the best params. Without early stopping every
  fit runs ``max_iter`` epochs inside one compiled program: stopping on the training loss
  would need the host every epoch. No ``ConvergenceWarning`` is raised.
* ``loss_curve_`` is the data term per epoch; the L2 term (``alpha``) is applied to the
  gradient exactly as scikit-learn does, but not added to the recorded loss.
* ``partial_fit`` runs one epoch with a fresh optimizer state on each call (``fit`` does not
  hand back its optimizer state), so Adam's moments restart per call.
* ``solver="lbfgs"``, ``learning_rate`` schedules, ``warm_start`` and ``sample_weight`` are
  not offered; ``shuffle=False`` is refused. Weights start as Glorot uniform, biases at zero.
* Training runs in float32 by default (``dtype``); predictions in float64.
* The L2 term of the last, partial batch of an epoch is scaled by the full batch size.

Left out: sparse input (scikit-learn's MLP takes it), and the ``"poisson"`` regression loss.
"""

from __future__ import annotations

import contextlib
import numbers
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import ParameterGrid, check_cv, train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import _safe_indexing, check_random_state, column_or_1d
from sklearn.utils.multiclass import _check_partial_fit_first_call, check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from . import population, train
from .activations import ACTIVATIONS
from .mlp import MLP, forward_batch, init

_ACTIVATIONS = {"logistic": "sigmoid"}  # scikit-learn's names that jaxnet spells otherwise
_SOLVERS = ("adam", "sgd") + tuple(k for k in train.OPTIMIZERS if k not in ("adam", "sgd"))
_CHUNK_ROWS = 4_000_000  # rows of precomputed epoch orders per compiled chunk (memory bound)


def bucket_rows(n: int) -> int:
    """The padded row count for ``n`` rows: the least ``m * 2**e >= n`` with ``16 <= m < 32``."""
    if n <= 16:
        return 16
    e = max(0, (n - 1).bit_length() - 5)
    return -(-n // 2**e) * 2**e


def _weights_only(params):
    return [{k: k == "w" for k in layer} for layer in params]


_TX_CACHE: dict = {}


def make_optimizer(solver: str, loss_scale: float, beta_1, beta_2, epsilon, momentum, nesterov):
    """scikit-learn's update as an optax optimizer with ``learning_rate`` and ``l2`` injected.

    scikit-learn's gradient is ``loss_scale * grad(jaxnet loss) + alpha * w / batch`` on the
    weights (not the biases); ``l2`` is ``alpha / batch``. One object per setting, so the
    compiled program is shared by every learning rate and ``alpha``.
    """
    settings = (solver, loss_scale, beta_1, beta_2, epsilon, momentum, nesterov)
    if settings in _TX_CACHE:
        return _TX_CACHE[settings]

    def make(learning_rate, l2):
        if solver == "adam":
            base = optax.adam(learning_rate, b1=beta_1, b2=beta_2, eps=epsilon)
        elif solver == "sgd":
            base = optax.sgd(learning_rate, momentum=momentum or None, nesterov=nesterov)
        else:
            base = train.OPTIMIZERS[solver](learning_rate)
        decay = optax.add_decayed_weights(l2, mask=_weights_only)
        return optax.chain(optax.scale(loss_scale), decay, base)

    _TX_CACHE[settings] = optax.inject_hyperparams(make)(learning_rate=1.0, l2=0.0)
    return _TX_CACHE[settings]


def _check_number(value, name: str, low, high=None, *, integer=False, low_open=False):
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool)
    ok = ok and (value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        what = "an int" if integer else "a number"
        bound = f"{'>' if low_open else '>='} {low}" + ("" if high is None else f" and <= {high}")
        raise ValueError(f"{name} must be {what} {bound}; got {value!r}")


def _check_params(est) -> tuple[int, ...]:
    """Validate the hyperparameters at fit time (scikit-learn forbids it in ``__init__``)."""
    hidden = est.hidden_layer_sizes
    hidden = (hidden,) if isinstance(hidden, numbers.Integral) else hidden
    if (
        isinstance(hidden, (str, bytes))
        or not hasattr(hidden, "__iter__")
        or not all(isinstance(h, numbers.Integral) and not isinstance(h, bool) for h in hidden)
        or any(h < 1 for h in hidden)
    ):
        raise ValueError(
            f"hidden_layer_sizes must be positive ints; got {est.hidden_layer_sizes!r}"
        )
    act = _ACTIVATIONS.get(est.activation, est.activation)
    if not isinstance(act, str) or act not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of logistic, {', '.join(ACTIVATIONS)}; got {est.activation!r}"
        )
    if est.solver not in _SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(_SOLVERS)}; got {est.solver!r}")
    if est.grads not in ("auto", "manual"):
        raise ValueError(f"grads must be 'auto' or 'manual'; got {est.grads!r}")
    if est.dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {est.dtype!r}")
    if est.batch_size != "auto":
        _check_number(est.batch_size, "batch_size", 1, integer=True)
    if not est.shuffle:
        raise ValueError("shuffle=False is not supported: jaxnet always shuffles each epoch")
    _check_number(est.alpha, "alpha", 0.0)
    _check_number(est.learning_rate_init, "learning_rate_init", 0.0, low_open=True)
    _check_number(est.max_iter, "max_iter", 1, integer=True)
    _check_number(est.tol, "tol", 0.0)
    _check_number(est.n_iter_no_change, "n_iter_no_change", 1, integer=True)
    _check_number(est.momentum, "momentum", 0.0, 1.0)
    _check_number(est.validation_fraction, "validation_fraction", 0.0, 1.0, low_open=True)
    _check_number(est.beta_1, "beta_1", 0.0, 1.0)
    _check_number(est.beta_2, "beta_2", 0.0, 1.0)
    _check_number(est.epsilon, "epsilon", 0.0, low_open=True)
    return tuple(int(h) for h in hidden)


class _Plan:
    """Everything one fit compiles on, and the row layout it trains with (host-side values)."""

    def __init__(self, est, n_features: int, n_outputs: int, n_rows: int):
        hidden = _check_params(est)
        act = _ACTIVATIONS.get(est.activation, est.activation)
        self.loss, out_act, self.loss_scale = est._loss_for(n_outputs)
        self.net = MLP((n_features, *hidden, n_outputs), act, out_act, True, "glorot")
        nominal = n_rows if est.batch_size == "auto" else int(est.batch_size)
        if nominal > n_rows:
            warnings.warn(
                f"batch_size {nominal} is larger than the {n_rows} training rows; "
                "each epoch is one full batch",
                stacklevel=4,
            )
        nominal = min(200, nominal) if est.batch_size == "auto" else nominal
        self.batch_rows = min(nominal, n_rows)  # scikit-learn's batch, the L2 divisor
        bucket = bucket_rows(n_rows)
        self.batch = nominal if nominal < n_rows else bucket
        self.rows = -(-bucket // self.batch) * self.batch
        self.per_epoch = self.rows // self.batch
        self.tx = make_optimizer(
            est.solver,
            self.loss_scale,
            float(est.beta_1),
            float(est.beta_2),
            float(est.epsilon),
            float(est.momentum),
            bool(est.nesterovs_momentum),
        )
        self.grads = est.grads
        self.dtype = jnp.dtype(est.dtype)

    def pad(self, x, y):
        """``(x, y, weights)`` padded with rows of weight 0 to ``self.rows`` rows."""
        n = x.shape[0]
        extra = self.rows - n
        w = np.r_[np.ones(n), np.zeros(extra)]
        x = np.concatenate([x, np.zeros((extra, x.shape[1]), x.dtype)])
        y = np.concatenate([y, np.zeros((extra, y.shape[1]), y.dtype)])
        return x.astype(self.dtype), y.astype(self.dtype), w

    def hyperparams(self, est) -> dict:
        return {"l2": float(est.alpha) / self.batch_rows}

    def eval_every(self, epochs: int) -> int:
        return self.per_epoch * max(1, min(epochs, _CHUNK_ROWS // self.rows))


def _seed(random_state) -> int:
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _keys(seed: int):
    return population.member_keys(jax.random.key(seed))


def _epoch_losses(step_losses, n_rows: int, plan: _Plan, epochs: int) -> np.ndarray:
    """Per-epoch mean training loss in scikit-learn's scale, from the loss of every step."""
    losses = np.asarray(step_losses, np.float64)[: epochs * plan.per_epoch]
    losses = losses.reshape(-1, plan.per_epoch)
    counts = np.clip(n_rows - plan.batch * np.arange(plan.per_epoch), 0, plan.batch)
    taken = np.isfinite(losses)
    total = np.where(taken, losses, 0.0) @ counts
    return plan.loss_scale * total / np.maximum(taken.astype(float) @ counts, 1)


class _BaseMLP(BaseEstimator):
    """Shared parameters, fitting and the forward pass of both estimators."""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate_init=0.001,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        grads="auto",
        dtype="float32",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.grads = grads
        self.dtype = dtype

    # --- fitting -------------------------------------------------------------------------

    def fit(self, X, y):
        """Train on ``X`` ``(n, features)`` and ``y`` for ``max_iter`` epochs; returns self."""
        X, Y = self._validate_xy(X, y, reset=True)
        self._fit_rows(X, Y, params=None, epochs=self.max_iter, early=self.early_stopping)
        return self

    def _fit_rows(self, X, Y, params, epochs: int, early: bool, seed=None):
        split = self._split(X, Y) if early else None
        if split is not None:
            X, Xv, Y, Yv = split
        plan = _Plan(self, X.shape[1], Y.shape[1], X.shape[0])
        seed = _seed(self.random_state) if seed is None else seed
        init_key, batch_key = _keys(seed)
        if params is None:
            params = init(plan.net, init_key, plan.dtype)
        x, y, w = plan.pad(X, Y)
        kwargs = dict(
            loss=plan.loss,
            optimizer=plan.tx,
            steps=epochs * plan.per_epoch,
            learning_rate=float(self.learning_rate_init),
            batch_size=plan.batch,
            grads=plan.grads,
            key=batch_key,
            eval_every=plan.eval_every(epochs),
            progress=bool(self.verbose),
            weights=w,
            hyperparams=plan.hyperparams(self),
        )
        if split is not None:
            kwargs.update(
                validation=(Xv.astype(plan.dtype), Yv.astype(plan.dtype)),
                eval_every=plan.per_epoch,
                patience=int(self.n_iter_no_change),
            )
        with jax.enable_x64(True) if plan.dtype == jnp.float64 else contextlib.nullcontext():
            params, history = train.fit(plan.net, params, x, y, **kwargs)
        self._set_fitted(plan, params, history, X.shape[0], Yv if split else None)

    def _split(self, X, Y):
        stratify = Y if is_classifier(self) and Y.shape[1] == 1 else None
        if is_classifier(self) and Y.shape[1] > 1 and self.out_activation_ == "softmax":
            stratify = Y.argmax(1)
        return train_test_split(
            X,
            Y,
            random_state=self.random_state,
            test_size=self.validation_fraction,
            stratify=stratify,
        )

    def _set_fitted(self, plan: _Plan, params, history, n_rows: int, y_val):
        epochs = -(-int(history.steps) // plan.per_epoch)
        curve = _epoch_losses(history.loss, n_rows, plan, max(epochs, 1))
        self.coefs_ = [np.array(layer["w"]) for layer in params]
        self.intercepts_ = [np.array(layer["b"]) for layer in params]
        self._net = plan.net
        self.n_iter_ = max(epochs, 1)
        self.t_ = n_rows * self.n_iter_
        self.n_layers_ = plan.net.depth + 1
        self.n_outputs_ = plan.net.sizes[-1]
        self.loss_curve_ = list(curve)
        self.loss_ = float(curve[-1])
        self.fit_seconds_ = history.seconds
        if y_val is None:
            self.best_loss_ = float(np.min(curve))
            self.validation_scores_ = None
            self.best_validation_score_ = None
        else:
            scores = self._validation_scores(history, y_val)
            self.best_loss_ = None
            self.validation_scores_ = list(scores)
            self.best_validation_score_ = float(np.max(scores))

    def partial_fit(self, X, y):
        """One epoch on ``X``, ``y``, from the current weights (a fresh net on the first call)."""
        first = not hasattr(self, "coefs_")
        X, Y = self._validate_xy(X, y, reset=first)
        params = None
        if not first:
            params = [{"w": w, "b": b} for w, b in zip(self.coefs_, self.intercepts_)]
        self._partial_calls = getattr(self, "_partial_calls", 0) + 1
        seed = (_seed(self.random_state) + self._partial_calls) % np.iinfo(np.int32).max
        self._fit_rows(X, Y, params=params, epochs=1, early=False, seed=seed)
        return self

    # --- predicting ----------------------------------------------------------------------

    def _forward(self, X) -> np.ndarray:
        """The net's output for ``X`` in float64: ``(n, outputs)`` (logits for softmax)."""
        check_is_fitted(self, "coefs_")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        n = X.shape[0]
        rows = bucket_rows(n)
        x = np.concatenate([X, np.zeros((rows - n, X.shape[1]), X.dtype)]).astype(np.float64)
        with jax.enable_x64(True):
            params = [
                {"w": np.asarray(w, np.float64), "b": np.asarray(b, np.float64)}
                for w, b in zip(self.coefs_, self.intercepts_)
            ]
            return np.asarray(forward_batch(self._net, params, x))[:n]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """scikit-learn's ``MLPClassifier`` trained by jaxnet (softmax or logistic outputs).

    Multiclass targets get a softmax output and cross-entropy; two classes one logistic output
    and binary cross-entropy; a multi-label indicator matrix one logistic output per label.
    Parameters and fitted attributes are scikit-learn's (see the module docstring for what
    differs), plus ``grads`` (``"auto"`` or ``"manual"`` backprop) and ``dtype``.
    """

    def _loss_for(self, n_outputs: int):
        if self.out_activation_ == "softmax":
            return "cross_entropy", "identity", 1.0
        # scikit-learn sums the binary log loss over outputs; jaxnet's averages it.
        return "binary_cross_entropy", "sigmoid", float(n_outputs)

    def _validate_xy(self, X, y, reset: bool, classes=None):
        X, y = validate_data(
            self, X, y, reset=reset, multi_output=True, dtype=(np.float64, np.float32)
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if reset:
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if classes is None else classes)
            self.classes_ = self._label_binarizer.classes_
            multiclass = self._label_binarizer.y_type_ == "multiclass"
            self.out_activation_ = "softmax" if multiclass else "logistic"
        elif not set(np.unique(y)) <= set(self.classes_) and y.ndim == 1:
            extra = sorted(set(np.unique(y)) - set(self.classes_))
            raise ValueError(
                f"y holds labels not seen in the first call (classes_={self.classes_}): {extra}"
            )
        Y = self._label_binarizer.transform(y).astype(np.float64)
        return X, Y

    def partial_fit(self, X, y, classes=None):
        """One epoch on ``X``, ``y``; ``classes`` (every label) is required on the first call."""
        if _check_partial_fit_first_call(self, classes):
            X, Y = self._validate_xy(X, y, reset=True, classes=classes)
            self._partial_calls = 1
            seed = _seed(self.random_state) + 1
            self._fit_rows(X, Y, params=None, epochs=1, early=False, seed=seed)
            return self
        return super().partial_fit(X, y)

    def _validation_scores(self, history, y_val):
        return np.asarray(history.val_accuracy, np.float64)

    def predict_proba(self, X):
        """Class probabilities ``(n, classes)`` (``(n, labels)`` for multi-label targets)."""
        out = self._forward(X)
        if self.out_activation_ == "softmax":
            z = out - out.max(axis=1, keepdims=True)
            e = np.exp(z)
            return e / e.sum(axis=1, keepdims=True)
        if out.shape[1] == 1:
            return np.hstack([1.0 - out, out])
        return out

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`."""
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """Predicted labels ``(n,)`` (an indicator matrix for multi-label targets)."""
        proba = self.predict_proba(X)
        if self.out_activation_ == "logistic" and self._label_binarizer.y_type_ == "binary":
            proba = proba[:, 1:]
        return self._label_binarizer.inverse_transform(proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """scikit-learn's ``MLPRegressor`` trained by jaxnet (identity output, squared error).

    Parameters and fitted attributes are scikit-learn's (see the module docstring for what
    differs), plus ``grads`` and ``dtype``. Multi-output targets ``(n, outputs)`` are supported.
    """

    def _loss_for(self, n_outputs: int):
        # scikit-learn's squared error is half of jaxnet's "mse".
        return "mse", "identity", 0.5

    def _validate_xy(self, X, y, reset: bool):
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if reset:
            self._y_ndim = y.ndim
            self.out_activation_ = "identity"
        Y = y.reshape(len(y), -1).astype(np.float64)
        if not reset and Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y must have {self.n_outputs_} outputs as before; got {Y.shape[1]}")
        return X, Y

    def _validation_scores(self, history, y_val):
        spread = np.mean((y_val - y_val.mean(0)) ** 2)
        return 1.0 - np.asarray(history.val_loss, np.float64) / max(spread, 1e-300)

    def predict(self, X):
        """Predictions ``(n,)``, or ``(n, outputs)`` when fitted on 2-D targets."""
        out = self._forward(X)
        return out.ravel() if self._y_ndim == 1 and out.shape[1] == 1 else out


# --- the population search ---------------------------------------------------------------

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
        if not isinstance(self.estimator, _BaseMLP):
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
        plans = [_Plan(first, X.shape[1], Y.shape[1], n) for n in n_train]
        batch = max(p.batch for p in plans)
        pairs = [(i, f) for i in members for f in range(len(splits))]
        weights = np.zeros((len(pairs), X.shape[0]))
        for m, (_, f) in enumerate(pairs):
            weights[m, splits[f][0]] = 1.0
        seeds = [_seed(estimators[i].random_state) for i, _ in pairs]
        keys = jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.uint32))
        l2 = [float(estimators[i].alpha) / plans[f].batch_rows for i, f in pairs]
        rows = -(-X.shape[0] // batch) * batch
        per_epoch = rows // batch
        epochs = int(first.max_iter)
        chunk = max(1, min(epochs, _CHUNK_ROWS // (rows * len(pairs))))
        plan = plans[0]
        with jax.enable_x64(True) if plan.dtype == jnp.float64 else contextlib.nullcontext():
            params, history = population.fit_population(
                plan.net,
                keys,
                X.astype(plan.dtype),
                Y.astype(plan.dtype),
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
