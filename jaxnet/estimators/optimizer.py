"""scikit-learn's two stochastic updates as optax optimizers, hyperparameters kept in the state.

scikit-learn's updates are not quite optax's. Its SGD keeps the learning rate inside the
velocity (``v = momentum * v - lr * g``; Nesterov's update is ``momentum * v - lr * g``), which
differs from ``optax.sgd`` (``lr * trace``) as soon as the learning rate changes between epochs
(``learning_rate="invscaling"`` or ``"adaptive"``); here it is ``optax.trace`` over
``-lr * g``, which is the same recurrence. Its Adam adds ``epsilon`` to the square root of the
*uncorrected* second moment and bias-corrects the learning rate instead
(``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)``), where
``optax.adam`` adds it after the correction; that one is written out below.

Every hyperparameter (learning rate, momentum, betas, epsilon) is injected with
``optax.inject_hyperparams``, so it is data in the state: members of a population with other
values share one compiled program, and the epoch-end rules (:mod:`.epochs`) change the learning
rate in the state. Left out: the L2 term (the step adds ``alpha * W / batch weight`` itself,
since its divisor changes from batch to batch) and L-BFGS (:mod:`.lbfgs`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

SOLVERS = ("sgd", "adam")


class AdamState(NamedTuple):
    """scikit-learn's Adam moments: the step count ``t`` and the uncorrected ``m`` and ``v``."""

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates


def _scale_by_sklearn_adam(beta_1, beta_2, epsilon) -> optax.GradientTransformation:
    """Adam's direction as scikit-learn computes it, before the learning rate (``lr = 1``)."""

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return AdamState(jnp.zeros([], jnp.int32), zeros, zeros)

    def update(grads, state, params=None):
        del params
        count = state.count + 1
        mu = jax.tree.map(lambda m, g: beta_1 * m + (1 - beta_1) * g, state.mu, grads)
        nu = jax.tree.map(lambda v, g: beta_2 * v + (1 - beta_2) * g**2, state.nu, grads)
        t = count.astype(jnp.result_type(beta_1))
        correction = jnp.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        updates = jax.tree.map(lambda m, v: correction * m / (jnp.sqrt(v) + epsilon), mu, nu)
        return updates, AdamState(count, mu, nu)

    return optax.GradientTransformation(init, update)


def _adam(learning_rate, beta_1, beta_2, epsilon):
    return optax.chain(
        _scale_by_sklearn_adam(beta_1, beta_2, epsilon), optax.scale(-1.0 * learning_rate)
    )


def _sgd(learning_rate, momentum, *, nesterov: bool):
    return optax.chain(optax.scale(-1.0 * learning_rate), optax.trace(momentum, nesterov))


@functools.cache
def sklearn_optimizer(solver: str, nesterov: bool = False) -> optax.GradientTransformation:
    """scikit-learn's ``solver`` update as one optax optimizer object (a static jit argument).

    Args:
      solver: ``"adam"`` or ``"sgd"``.
      nesterov: for ``"sgd"``, Nesterov's momentum (a program of its own); ignored for Adam.

    Returns:
      An ``inject_hyperparams`` optimizer; set its ``learning_rate`` (and ``momentum``, or
      ``beta_1``, ``beta_2``, ``epsilon``) with :func:`jaxnet.optimizers.set_hyperparams`.
    """
    if solver == "adam":
        return optax.inject_hyperparams(_adam)(
            learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8
        )
    if solver == "sgd":
        sgd = functools.partial(_sgd, nesterov=bool(nesterov))
        return optax.inject_hyperparams(sgd)(learning_rate=0.1, momentum=0.9)
    raise ValueError(f"solver must be one of {', '.join(SOLVERS)}; got {solver!r}")


def hyperparams_of(est, solver: str) -> dict:
    """The injected hyperparameters of an estimator's optimizer, as Python floats."""
    if solver == "adam":
        names = ("learning_rate_init", "beta_1", "beta_2", "epsilon")
        keys = ("learning_rate", "beta_1", "beta_2", "epsilon")
    else:
        names, keys = ("learning_rate_init", "momentum"), ("learning_rate", "momentum")
    return {k: float(getattr(est, n)) for k, n in zip(keys, names)}
