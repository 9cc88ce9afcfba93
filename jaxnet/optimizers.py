"""Optimizers by name, with the learning rate (and other hyperparameters) kept in the state.

jaxnet trains with optax. A named optimizer is built once with ``optax.inject_hyperparams``,
so its learning rate is data in the optimizer state, not a constant baked into the compiled
program: runs (and population members) that differ only in learning rate share one program.
A user's own optax ``GradientTransformation`` is accepted as it is. Left out: schedules.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax


def _momentum(learning_rate):
    return optax.sgd(learning_rate, momentum=0.9)


def _nesterov(learning_rate):
    return optax.sgd(learning_rate, momentum=0.9, nesterov=True)


OPTIMIZERS = {
    "sgd": optax.sgd,
    "momentum": _momentum,
    "nesterov": _nesterov,
    "adam": optax.adam,
    "adamw": optax.adamw,
    "rmsprop": optax.rmsprop,
}


@functools.cache
def named_optimizer(name: str) -> optax.GradientTransformation:
    """The optax optimizer ``name`` with its learning rate kept in the state.

    One object per name, so the compiled training program is shared by every learning rate
    (set with :func:`set_learning_rate`, or ``fit(..., learning_rate=...)``).
    """
    if name not in OPTIMIZERS:
        raise ValueError(
            f"optimizer must be one of {', '.join(OPTIMIZERS)} or an optax "
            f"GradientTransformation; got {name!r}"
        )
    return optax.inject_hyperparams(OPTIMIZERS[name])(learning_rate=1.0)


def set_learning_rate(opt_state, learning_rate):
    """``opt_state`` of an ``inject_hyperparams`` optimizer with its learning rate replaced."""
    hp = opt_state.hyperparams
    lr = jnp.asarray(learning_rate, jnp.result_type(hp["learning_rate"]))
    return opt_state._replace(hyperparams={**hp, "learning_rate": lr})


def set_hyperparams(opt_state, values: dict):
    """``opt_state`` of an ``inject_hyperparams`` optimizer with the named hyperparams replaced."""
    hp = opt_state.hyperparams
    new = {k: jnp.asarray(v, jnp.result_type(hp[k])) for k, v in values.items()}
    return opt_state._replace(hyperparams={**hp, **new})


def _check_learning_rate(learning_rate, argument: str) -> None:
    if isinstance(learning_rate, (str, bytes)):
        raise TypeError(f"{argument} must be a positive number; got a string {learning_rate!r}")
    try:
        lr = np.asarray(learning_rate, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{argument} must be a positive number; got {type(learning_rate).__name__}"
        ) from None
    if not np.all(np.isfinite(lr)) or np.any(lr <= 0):
        raise ValueError(f"{argument} must be positive and finite; got {learning_rate!r}")


def check_injected_learning_rate(tx, params, argument: str = "learning_rate") -> None:
    """Raise unless ``tx``'s state holds a learning rate to set (``optax.inject_hyperparams``).

    ``params`` may be arrays or shapes; only ``tx.init``'s output structure is looked at.
    """
    state = jax.eval_shape(tx.init, params)
    hyper = getattr(state, "hyperparams", None)
    if not isinstance(hyper, dict) or "learning_rate" not in hyper:
        raise ValueError(
            f"{argument} needs an optimizer name (e.g. optimizer='adam') or an optax optimizer "
            "made with optax.inject_hyperparams; this optax optimizer has its learning rate "
            f"built in: pass it without {argument}, or pass its name"
        )


def resolve_optimizer(optimizer, learning_rate, params=None, argument="learning_rate"):
    """``(tx, learning_rate)``: a named optimizer needs a learning rate; a given one may take it
    if it keeps it in its state (checked against ``params`` when they are given)."""
    if isinstance(optimizer, str):
        if learning_rate is None:
            raise ValueError(f"learning_rate is required with optimizer={optimizer!r}")
        tx = named_optimizer(optimizer)
    elif isinstance(optimizer, optax.GradientTransformation):
        tx = optimizer
    else:
        raise TypeError(
            f"optimizer must be an optimizer name or an optax GradientTransformation; "
            f"got {type(optimizer).__name__}"
        )
    if learning_rate is not None:
        _check_learning_rate(learning_rate, argument)
        if tx is optimizer and params is not None:
            check_injected_learning_rate(tx, params, argument)
    return tx, learning_rate
