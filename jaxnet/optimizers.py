"""Optimizers by name, with the learning rate (and other hyperparameters) kept in the state.

jaxnet trains with optax. A named optimizer is built once with ``optax.inject_hyperparams``,
so its learning rate is data in the optimizer state, not a constant baked into the compiled
program: runs (and population members) that differ only in learning rate share one program.
A user's own optax ``GradientTransformation`` is accepted as it is.

Regularisation and schedules (:func:`configured_optimizer`) are the same idea: a named
optimizer rebuilt from optax's parts, with the weight decay, the L2 coefficient and the
schedule's values kept in the state beside the learning rate:

==================  ===============================================  ========================
argument            what it does to a weight ``w`` each step          where in the optax chain
==================  ===============================================  ========================
``weight_decay=λ``  decoupled decay: ``w -= lr * λ * w``, apart       after the optimizer's
                    from the optimizer's statistics (AdamW's)         direction, before ``lr``
``l2=λ``            the L2 term ``λ/2 ||w||²`` in the loss: its       before the optimizer, so
                    gradient ``λ w`` joins the data gradient          Adam normalises it
==================  ===============================================  ========================

Both act on the weights ``"w"`` only, never the biases (scikit-learn's ``alpha`` is this L2
on the mean loss). For SGD without momentum the two coincide; with Adam they differ
(Loshchilov and Hutter, "Decoupled weight decay regularization", 2019). ``adamw`` by name
is optax's AdamW with its own decoupled decay of 1e-4 on every parameter, so it takes no
``weight_decay`` of ours: use ``adam`` with ``weight_decay``.
"""

from __future__ import annotations

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import schedules


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


# What each named optimizer does to a gradient before its learning rate scales it: optax's
# alias is this chained with scale_by_learning_rate (tests hold the two equal, bit for bit).
# Decoupled weight decay goes between them, as in optax.adamw. The arguments are the alias's
# own numeric hyperparameters (:func:`own_hyperparams`), which inject_hyperparams keeps in the
# state as arrays: the rebuilt optimizer keeps them there too, so it rounds alike.
DIRECTIONS = {
    "sgd": optax.identity,
    "momentum": lambda: optax.trace(decay=0.9),
    "nesterov": lambda: optax.trace(decay=0.9, nesterov=True),
    "adam": lambda b1, b2, eps, eps_root: optax.scale_by_adam(b1, b2, eps, eps_root),
    "adamw": lambda b1, b2, eps, eps_root, weight_decay: optax.chain(
        optax.scale_by_adam(b1, b2, eps, eps_root), optax.add_decayed_weights(weight_decay)
    ),
    "rmsprop": lambda decay, eps, initial_scale: optax.scale_by_rms(decay, eps, initial_scale),
}
TERMS = ("l2", "weight_decay")  # regularisation terms a configured optimizer can keep


def weights_only(params):
    """A mask of ``params`` (a list of layer dicts): True on the weights ``"w"``, False on the
    biases, which decay and L2 leave alone."""
    return [{k: k == "w" for k in layer} for layer in params]


def own_hyperparams(name: str) -> dict:
    """The numeric hyperparameters of optimizer ``name`` besides its learning rate, with their
    defaults (Adam's ``b1``, ``b2``, ``eps``, ``eps_root``...), as ``inject_hyperparams`` finds
    them in the alias's signature."""
    signature = inspect.signature(OPTIMIZERS[name])
    return {
        k: p.default
        for k, p in signature.parameters.items()
        if k != "learning_rate"
        and isinstance(p.default, (int, float))
        and not isinstance(p.default, bool)
    }


def _check_name(name) -> None:
    if name not in OPTIMIZERS:
        raise ValueError(
            f"optimizer must be one of {', '.join(OPTIMIZERS)} or an optax "
            f"GradientTransformation; got {name!r}"
        )


@functools.cache
def configured_optimizer(
    name: str, terms: tuple[str, ...] = (), schedule: str = "constant"
) -> optax.GradientTransformation:
    """The optax optimizer ``name`` with regularisation ``terms`` and a learning-rate schedule,
    every value kept in its state (``opt_state.hyperparams``) like the learning rate.

    One object per ``(name, terms, schedule)``, so the compiled program is shared by every
    value: set them with :func:`set_hyperparams` (``learning_rate``, ``l2``, ``weight_decay``
    and the schedule's :data:`jaxnet.schedules.VALUES`).

    Args:
      name: a key of :data:`OPTIMIZERS`; terms: a subset of :data:`TERMS`, in that order;
        schedule: a kind of :data:`jaxnet.schedules.KINDS`.
    """
    _check_name(name)
    if name == "adamw" and "weight_decay" in terms:
        raise ValueError(
            "weight_decay does not go with optimizer 'adamw', which already decays every "
            "parameter by optax's 1e-4: use optimizer 'adam' with weight_decay"
        )
    if schedule not in schedules.KINDS or any(t not in TERMS for t in terms):
        raise ValueError(f"unknown schedule {schedule!r} or terms {terms!r}")

    own = own_hyperparams(name)  # adamw's own weight_decay is one of them

    def make(learning_rate, **values):
        direction = DIRECTIONS[name](**{k: values.pop(k) for k in own})
        l2, decay = values.pop("l2", None), values.pop("weight_decay", None)
        parts = [] if l2 is None else [optax.add_decayed_weights(l2, mask=weights_only)]
        parts.append(direction)
        if decay is not None:  # decoupled: outside the direction, inside the learning rate
            parts.append(optax.add_decayed_weights(decay, mask=weights_only))
        if schedule == "constant":
            parts.append(optax.scale_by_learning_rate(learning_rate))
        else:

            def rate(count):  # the schedule's own count: the updates applied so far
                return learning_rate * schedules.factor(schedule, count, **values)

            parts.append(optax.scale_by_learning_rate(rate))
        return optax.chain(*parts)

    defaults = {"learning_rate": 1.0, **own, **{t: 0.0 for t in terms}}
    defaults |= {v: 1.0 for v in schedules.VALUES[schedule]}  # placeholders: set per run
    return optax.inject_hyperparams(_with_signature(make, defaults))(**defaults)


def _with_signature(make, defaults: dict):
    """``make`` with exactly the keyword parameters in ``defaults`` (inject_hyperparams reads
    the signature to know which hyperparameters exist)."""

    def factory(**kwargs):
        return make(**kwargs)

    params = [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY) for k in defaults]
    factory.__signature__ = inspect.Signature(params)
    return factory


@functools.cache
def named_optimizer(name: str) -> optax.GradientTransformation:
    """The optax optimizer ``name`` with its learning rate kept in the state.

    One object per name, so the compiled training program is shared by every learning rate
    (set with :func:`set_learning_rate`, or ``fit(..., learning_rate=...)``).
    """
    _check_name(name)
    return optax.inject_hyperparams(OPTIMIZERS[name])(learning_rate=1.0)


def set_learning_rate(opt_state, learning_rate):
    """``opt_state`` of an ``inject_hyperparams`` optimizer with its learning rate replaced."""
    hp = opt_state.hyperparams
    lr = jnp.asarray(learning_rate, jnp.result_type(hp["learning_rate"]))
    return opt_state._replace(hyperparams={**hp, "learning_rate": lr})


def set_hyperparams(opt_state, values: dict):
    """``opt_state`` of an ``inject_hyperparams`` optimizer with the named hyperparams replaced."""
    hp = opt_state.hyperparams
    unknown = [k for k in values if k not in hp]
    if unknown:
        raise ValueError(
            f"hyperparams names {unknown[0]!r}, which this optimizer does not keep in its "
            f"state; it keeps {', '.join(hp)}"
        )
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


def _check_coefficient(value, argument: str) -> None:
    """A weight decay or L2 coefficient: finite and non-negative (a number, or one per member)."""
    if isinstance(value, (str, bytes, bool)):
        raise TypeError(f"{argument} must be a non-negative number; got {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{argument} must be a non-negative number; got {type(value).__name__}"
        ) from None
    bad = arr[~(np.isfinite(arr) & (arr >= 0))]
    if bad.size:
        raise ValueError(f"{argument} must be finite and at least 0; got {bad.flat[0]}")


def regularized_optimizer(
    optimizer, learning_rate, params, *, steps: int, l2=None, weight_decay=None, lr_schedule=None
):
    """``(tx, learning_rate, hyperparams)`` for a run with regularisation and a schedule.

    With none of ``l2``, ``weight_decay`` and ``lr_schedule``, this is
    :func:`resolve_optimizer` (no hyperparameters to set). Otherwise ``optimizer`` must be a
    name: the result is its :func:`configured_optimizer` and the values to set in its state.

    Args:
      optimizer, learning_rate, params: as for :func:`resolve_optimizer` (``learning_rate``
        a number or one per member); steps: the run's steps (a schedule spans them).
      l2, weight_decay: None, or a non-negative coefficient (a number or one per member).
      lr_schedule: None, a kind's name or a :class:`jaxnet.schedules.Schedule`.

    Returns:
      ``(tx, learning_rate, hyperparams)``: ``hyperparams`` is ``{name: value}`` for
      :func:`set_hyperparams` (empty without regularisation and schedule).
    """
    schedule = schedules.schedule_of(lr_schedule)
    given = {k: v for k, v in (("l2", l2), ("weight_decay", weight_decay)) if v is not None}
    if not given and schedule.kind == "constant":
        tx, learning_rate = resolve_optimizer(optimizer, learning_rate, params)
        return tx, learning_rate, {}
    asked = ", ".join([*given, *(["lr_schedule"] if schedule.kind != "constant" else [])])
    if not isinstance(optimizer, str):
        raise ValueError(
            f"{asked} needs an optimizer name (e.g. optimizer='adam'); with your own optax "
            "optimizer, chain optax.add_decayed_weights or pass it an optax schedule yourself"
        )
    for name, value in given.items():
        _check_coefficient(value, name)
    tx = configured_optimizer(optimizer, tuple(given), schedule.kind)
    _, learning_rate = resolve_optimizer(optimizer, learning_rate, params)
    return tx, learning_rate, {**given, **schedule.values(steps)}
