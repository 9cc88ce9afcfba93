"""The estimators' shared base: scikit-learn's MLP parameters, fitting and the forward pass.

:class:`BaseMLP` follows scikit-learn's ``BaseMultilayerPerceptron`` call by call: parameters
checked by scikit-learn's constraints, data by ``validate_data``, a first pass that draws new
weights unless ``warm_start`` (or ``partial_fit``) continues, the task prepared as scikit-learn
prepares its fit (:mod:`.tasks`, :mod:`.lbfgs`), trained by jaxnet (:mod:`.engine`), and
scikit-learn's fitted attributes set from the result; a diverged fit raises ``ValueError`` and
a fit that used every epoch warns with ``ConvergenceWarning``, as scikit-learn does. What a
classifier or a regressor adds lives in :mod:`.classifier` and :mod:`.regressor`.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ..mlp import forward_batch
from . import engine, lbfgs, prefit
from .checks import STOCHASTIC, check_params
from .tasks import stochastic_task

PREDICT_ROWS = 1024  # rows a compiled prediction takes at a time


def check_sample_weight(sample_weight, n: int) -> np.ndarray:
    """``sample_weight`` as ``(n,)`` float64: ones for None, a number broadcast, else checked."""
    if sample_weight is None:
        return np.ones(n)
    if isinstance(sample_weight, (str, bytes)):
        raise ValueError(f"sample_weight must be numbers; got a string {sample_weight!r}")
    try:
        w = np.asarray(sample_weight, np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"sample_weight must be numbers; got {type(sample_weight).__name__}"
        ) from None
    w = np.full(n, float(w)) if w.ndim == 0 else w
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), one per row; got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        raise ValueError("sample_weight must be finite, non-negative and not all zero")
    return w


class BaseMLP(BaseEstimator):
    """Shared parameters, fitting and the forward pass of both estimators.

    Subclasses define ``_loss_kind(n_outputs)`` (``"softmax"``, ``"logistic"`` or
    ``"squared"``) and ``_validate_xy(X, y, first, incremental)`` (checked ``X`` and targets as
    a float ``(n, outputs)`` matrix). Parameters are scikit-learn's, in its order, then
    ``grads`` (``"auto"``: ``jax.grad``; ``"manual"``: the hand-written backward pass) and
    ``dtype`` (None: ``X``'s, float32 or float64, as scikit-learn trains; or ``"float32"`` or
    ``"float64"``; scoped: JAX's global 64-bit setting is never changed).
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        grads="auto",
        dtype=None,
        dropout=0.0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.grads = grads
        self.dtype = dtype
        self.dropout = dropout  # a jaxnet extension: scikit-learn's MLP has no dropout

    # --- fitting -------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Train on ``X`` ``(n, features)``, ``y`` and optional ``sample_weight`` ``(n,)``.

        Returns self. Raises ``ValueError`` when training diverged (non-finite loss or
        weights); warns ``ConvergenceWarning`` when ``max_iter`` ran out first.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in STOCHASTIC:
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers; {self.solver} is not"
            )
        return True

    @available_if(_check_solver)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch on ``X``, ``y``, continuing the weights, the optimizer and the shuffling."""
        return self._fit(X, y, sample_weight, incremental=True)

    def _fit(self, X, y, sample_weight, incremental: bool):
        check_params(self)
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        first = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        dtype = getattr(X, "dtype", None)  # array-likes only: never convert X twice
        if isinstance(dtype, np.dtype) and dtype.kind == "c":
            raise ValueError(f"Complex data not supported: X must hold real numbers; got {dtype}")
        X, Y = self._validate_xy(X, y, first=first, incremental=incremental)
        weight = check_sample_weight(sample_weight, X.shape[0])
        if not first:
            self._check_continues(X, Y)
        k = prefit.key(self, (X, Y, weight)) if first and prefit.mode() else None
        served = prefit.take(k) if k is not None and prefit.mode() == "serve" else None
        if served is not None:
            return self._finish(*served, first=True, incremental=False)
        if self.solver in STOCHASTIC:
            task = stochastic_task(self, X, Y, weight, first=first, incremental=incremental)
            train = engine.train
        else:
            task = lbfgs.lbfgs_task(self, X, Y, weight, first=first)
            train = lbfgs.train
        if k is not None and prefit.mode() == "record":
            prefit.record(k, task)
            return self
        return self._finish(task, train([task])[0], first=first, incremental=incremental)

    def _check_continues(self, X, Y):
        sizes = (X.shape[1], *check_params(self), Y.shape[1])
        if self._net.sizes != sizes:
            raise ValueError(
                f"warm_start and partial_fit continue the fitted net {self._net.sizes}; "
                f"got layer sizes {sizes} (hidden_layer_sizes or the outputs changed)"
            )

    def _finish(self, task, outcome, *, first: bool, incremental: bool):
        """Set scikit-learn's fitted attributes from a trained task; raise or warn as it does."""
        if task.spec.solver == "lbfgs":
            lbfgs.install(self, task, outcome)
        else:
            self._install(task, outcome, first)
        if outcome.status == "diverged":
            wider = (
                ", or train in float64 (dtype='float64')" if task.spec.dtype != "float64" else ""
            )
            raise ValueError(
                f"{type(self).__name__}: training diverged in iteration {self.n_iter_} (the loss "
                f"or the weights are no longer finite); scale X and y or lower "
                f"learning_rate_init{wider}"
            )
        if outcome.status == "max_iter" and not incremental:
            message = getattr(outcome, "message", None) or (
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet."
            )
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        return self

    def _install(self, task, outcome, first: bool):
        member, spec = outcome.member, task.spec
        params = member.best_params if spec.early else member.params
        self.coefs_ = [np.array(layer["w"]) for layer in params]  # writable, as sklearn's
        self.intercepts_ = [np.array(layer["b"]) for layer in params]
        self._net = spec.net
        self.n_layers_ = spec.net.depth + 1
        self.n_outputs_ = spec.net.sizes[-1]
        rows = len(task.x)
        before = [] if first else list(getattr(self, "loss_curve_", []))
        self.n_iter_ = len(outcome.losses)
        self.t_ = (0 if first else int(getattr(self, "t_", 0))) + rows * self.n_iter_
        self.loss_curve_ = before + outcome.losses
        self.loss_ = float(self.loss_curve_[-1])
        p = member.progress
        if spec.early:
            scores = [] if first else list(getattr(self, "validation_scores_", None) or [])
            self.validation_scores_ = scores + outcome.scores
            self.best_validation_score_ = float(p.best_score)
            self.best_loss_ = None
        else:
            self.best_loss_ = float(p.best_loss)
            self.validation_scores_ = None
            self.best_validation_score_ = None
        self._fitted_state = {
            "solver": spec.solver,
            "opt_state": member.opt_state,
            "best_params": member.best_params,
            "counters": {
                "best_loss": float(p.best_loss),
                "bad_epochs": int(p.bad_epochs),
                "best_score": float(p.best_score),
                "samples": self.t_,
            },
            "rng": task.rng,
            "order": task.order,
            "key": member.key,
        }
        self.fit_seconds_ = outcome.seconds

    # --- predicting ----------------------------------------------------------------------

    def _forward(self, X) -> np.ndarray:
        """The net's output for ``X`` in float64: ``(n, outputs)`` (logits for softmax)."""
        check_is_fitted(self, "coefs_")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        n = X.shape[0]
        # Blocks of one size: every prediction of a net, whatever its row count (a search
        # scores many), runs one compiled program.
        x = np.zeros((-(-n // PREDICT_ROWS) * PREDICT_ROWS, X.shape[1]))
        x[:n] = X
        params = [
            {"w": np.asarray(w, np.float64), "b": np.asarray(b, np.float64)}
            for w, b in zip(self.coefs_, self.intercepts_)
        ]
        with jax.enable_x64(True):
            out = [
                np.asarray(forward_batch(self._net, params, x[i : i + PREDICT_ROWS]))
                for i in range(0, len(x), PREDICT_ROWS)
            ]
        return np.concatenate(out)[:n]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
