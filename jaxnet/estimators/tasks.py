"""One fit of one estimator, prepared on the host the way scikit-learn's MLP prepares it.

:func:`stochastic_task` turns an estimator, its checked rows and its fitted state (if any) into
an :class:`.engine.Task`, following scikit-learn's own order of events: a ``RandomState`` from
``random_state`` at every ``fit``; the weights *and biases* drawn from it, uniform in
``+-sqrt(6 / (fan_in + fan_out))`` (``sqrt(2 / ...)`` for the logistic activation), layer by
layer, on a first pass; then, with ``early_stopping``, the validation split drawn from the same
generator; then one shuffle per epoch. A ``fit`` starts a new optimizer (``warm_start`` keeps
the weights, the sample count ``t_``, the loss curve and the stopping counters); a
``partial_fit`` keeps the optimizer too, and, where scikit-learn reseeds its generator on every
call, keeps the generator and the row order, so ``N`` calls of ``partial_fit`` on the same rows
are one ``fit`` of ``N`` epochs. Left out: training (:mod:`.engine`) and L-BFGS (:mod:`.lbfgs`).
"""

from __future__ import annotations

import math
import warnings

import jax
import numpy as np
from sklearn.base import is_classifier
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from .._validate import host_cast
from ..mlp import MLP, without_dropout
from . import epochs
from .checks import activation_of, check_params, dtype_of
from .engine import Spec, Task, batch_layout, fresh_opt_state
from .optimizer import hyperparams_of

# the estimators' output layer: kind -> (jaxnet output activation, scikit-learn's name)
OUTPUTS = {"softmax": "identity", "logistic": "sigmoid", "squared": "identity"}


def draw_params(rng, sizes, activation: str, dtype) -> list[dict]:
    """scikit-learn's initial weights and biases for layer ``sizes``, drawn from ``rng``.

    Every layer's weights, then its biases, are uniform in ``+-sqrt(factor / (fan_in +
    fan_out))``, ``factor`` 2 for the logistic activation and 6 otherwise (Glorot's bound),
    cast to ``dtype``: the same numbers as scikit-learn's MLP for the same ``random_state``.
    """
    factor = 2.0 if activation == "logistic" else 6.0
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = math.sqrt(factor / (fan_in + fan_out))
        w = rng.uniform(-bound, bound, (fan_in, fan_out))
        b = rng.uniform(-bound, bound, fan_out)
        params.append({"w": w.astype(dtype), "b": b.astype(dtype)})
    return params


def net_of(est, features: int, outputs: int) -> MLP:
    """The estimator's network: its hidden layers, activation and dropout (checked by
    :class:`jaxnet.MLP`), and the output its kind needs."""
    hidden = check_params(est)
    out = OUTPUTS[est._loss_kind(outputs)]
    sizes = (features, *hidden, outputs)
    return MLP(sizes, activation_of(est), out, True, "glorot", dropout=est.dropout)


def batch_of(est, rows: int) -> int:
    """scikit-learn's batch size: ``min(200, rows)`` for ``"auto"``, else clipped to the rows."""
    if est.batch_size == "auto":
        return min(200, rows)
    if est.batch_size > rows:
        warnings.warn(
            f"batch_size {est.batch_size} is larger than the {rows} training rows; "
            "it is clipped: each epoch is one full batch",
            UserWarning,
            stacklevel=5,
        )
    return int(np.clip(est.batch_size, 1, rows))


def _split(est, rng, X, Y, weight):
    """scikit-learn's early-stopping split, drawn from the fit's generator after the weights."""
    stratify = Y if is_classifier(est) and Y.shape[1] == 1 else None
    X, Xv, Y, Yv, weight, wv = train_test_split(
        X, Y, weight, random_state=rng, test_size=est.validation_fraction, stratify=stratify
    )
    if Xv.shape[0] < 2:
        raise ValueError(
            "validation_fraction leaves fewer than 2 validation rows; increase "
            f"validation_fraction ({est.validation_fraction}) or give more rows ({len(X) + 1})"
        )
    return X, Y, weight, (Xv, Yv, wv)


def first_progress() -> dict:
    """The stopping counters of fresh weights (scikit-learn's ``_initialize``)."""
    return dict(best_loss=np.inf, bad_epochs=0, best_score=-np.inf, samples=0)


def _progress(counters: dict, epochs_left: int, dtype) -> epochs.Progress:
    return epochs.Progress(
        best_loss=np.asarray(counters["best_loss"], dtype),
        bad_epochs=np.asarray(counters["bad_epochs"], np.int32),
        best_score=np.asarray(counters["best_score"], dtype),
        samples=np.asarray(counters["samples"], dtype),
        epochs_left=np.asarray(min(epochs_left, np.iinfo(np.int32).max), np.int32),
        ran=np.asarray(0, np.int32),
        status=np.asarray(epochs.RUNNING, np.int32),
    )


def _hyper(est, rows: int, net: MLP) -> dict:
    """The member's epoch-rule hyperparameters (:class:`.epochs.Hyper`) as host values."""
    schedule = epochs.SCHEDULES[est.learning_rate] if est.solver == "sgd" else epochs.CONSTANT
    return dict(
        alpha=float(est.alpha),
        tol=float(est.tol),
        patience=float(est.n_iter_no_change),
        schedule=schedule,
        learning_rate_init=float(est.learning_rate_init),
        power_t=float(est.power_t),
        rows=float(rows),
        dropout=np.asarray(net.dropout_rates, np.float64),
    )


def _dropout_key(net: MLP, rng, state) -> np.ndarray:
    """The raw key of the dropout masks: carried on from the last call, else drawn from the
    fit's generator last of all (never drawn without dropout, so scikit-learn's draws stay
    scikit-learn's)."""
    if state is not None and state.get("key") is not None:
        return state["key"]
    if not any(net.dropout_rates):
        return np.zeros(2, np.uint32)
    return rng.randint(0, 2**32, size=2, dtype=np.uint32)


def stochastic_task(est, X, Y, weight, *, first: bool, incremental: bool) -> Task:
    """The :class:`.engine.Task` of one ``fit`` (``incremental=False``) or ``partial_fit``.

    Args:
      est: the estimator, its parameters checked; its ``_fitted_state`` is used unless
        ``first``. X: ``(n, features)``; Y: ``(n, outputs)`` float targets (binarized labels);
        weight: ``(n,)`` sample weights (ones when none were given).
      first: draw new weights (scikit-learn's first pass); incremental: one epoch, keep the
        optimizer and the generator.

    Returns:
      The task; ``est`` is not changed.
    """
    dtype = dtype_of(est, X)
    net = net_of(est, X.shape[1], Y.shape[1])
    state = None if first else est._fitted_state
    keep_rng = incremental and state is not None and state.get("rng") is not None
    rng = state["rng"] if keep_rng else check_random_state(est.random_state)
    params = draw_params(rng, net.sizes, est.activation, dtype) if first else _fitted(est, dtype)
    early = bool(est.early_stopping) and not incremental
    val = None
    if early:
        X, Y, weight, val = _split(est, rng, X, Y, weight)
        xv, yv, wv = val  # the validation rows, their targets and weights
        val = (host_cast(xv, "X", dtype), host_cast(yv, "y", dtype), np.asarray(wv, dtype))
    rows = X.shape[0]
    spec = Spec(
        without_dropout(net), est._loss_kind(Y.shape[1]), est.solver,
        bool(est.nesterovs_momentum), est.grads, dtype.name,
        *batch_layout(rows, batch_of(est, rows)), early, any(net.dropout_rates),
    )  # fmt: skip
    same_solver = state is not None and state.get("solver") == est.solver
    if incremental and same_solver and state.get("opt_state") is not None:
        opt_state = _cast(state["opt_state"], dtype)
    else:
        values = hyperparams_of(est, est.solver)
        opt_state = fresh_opt_state(est.solver, spec.nesterov, params, values, dtype)
    counters = first_progress() if state is None else state["counters"]
    best = params if state is None or state.get("best_params") is None else state["best_params"]
    start = epochs.Member(
        params,
        opt_state,
        _cast(best, dtype) if early else None,
        _progress(counters, 1 if incremental else int(est.max_iter), dtype),
        _dropout_key(net, rng, state if incremental else None),
    )
    order = np.arange(rows)
    if keep_rng and len(state.get("order", ())) == rows:
        order = state["order"]
    return Task(
        spec=spec,
        x=host_cast(X, "X", dtype),  # a value past float32 is named, not made inf
        y=host_cast(Y, "y", dtype),
        weight=np.asarray(weight, dtype),
        val=val,
        hyper=_hyper(est, rows, net),
        start=start,
        rng=rng,
        shuffle=bool(est.shuffle),
        order=order,
        verbose=bool(est.verbose),
    )


def _fitted(est, dtype) -> list[dict]:
    """The estimator's fitted weights and biases as params in ``dtype`` (a continued fit)."""
    return [
        {"w": np.asarray(w, dtype), "b": np.asarray(b, dtype)}
        for w, b in zip(est.coefs_, est.intercepts_)
    ]


def _cast(tree, dtype):
    """Float leaves of a NumPy tree in ``dtype`` (integer leaves, e.g. counts, unchanged)."""
    return jax.tree.map(
        lambda a: np.asarray(a, dtype) if np.asarray(a).dtype.kind == "f" else np.asarray(a), tree
    )
