"""The estimators' shared base: scikit-learn's MLP parameters, fitting and the forward pass.

:class:`BaseMLP` turns scikit-learn's arguments into a :class:`~.plan.Plan` (net, loss,
optimizer, row layout), calls :func:`jaxnet.fit`, and sets scikit-learn's fitted attributes
from the params and history. What a classifier or a regressor adds (targets, loss, outputs)
lives in :mod:`.classifier` and :mod:`.regressor`. Left out: any training loop of its own.
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import train
from .._validate import host_cast
from ..mlp import forward_batch, init
from .plan import Plan, bucket_rows, epoch_losses, fit_keys, seed_of


class BaseMLP(BaseEstimator):
    """Shared parameters, fitting and the forward pass of both estimators.

    Subclasses define ``_loss_for(n_outputs) -> (loss, output activation, loss scale)``,
    ``_validate_xy`` (checked ``X`` and targets as a float ``(n, outputs)`` matrix) and
    ``_validation_scores`` (scikit-learn's validation score per evaluation).
    """

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
        dropout=0.0,
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
        self.dropout = dropout  # a jaxnet extension: scikit-learn's MLP has no dropout

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
        plan = Plan(self, X.shape[1], Y.shape[1], X.shape[0])
        seed = seed_of(self.random_state) if seed is None else seed
        init_key, batch_key = fit_keys(seed)
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
                validation=(host_cast(Xv, "X", plan.dtype), host_cast(Yv, "y", plan.dtype)),
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

    def _set_fitted(self, plan: Plan, params, history, n_rows: int, y_val):
        epochs = -(-int(history.steps) // plan.per_epoch)
        curve = epoch_losses(history.loss, n_rows, plan, max(epochs, 1))
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
        seed = (seed_of(self.random_state) + self._partial_calls) % np.iinfo(np.int32).max
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
