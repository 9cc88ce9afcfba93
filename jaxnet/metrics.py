"""Loss and accuracy of a batch: what training reports at each evaluation."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .grads import loss_batch
from .mlp import MLP, forward_batch


def accuracy(y_hat, y, loss: str):
    """Fraction of correct predictions for classification losses; NaN for regression."""
    if loss == "cross_entropy":
        return jnp.mean(jnp.argmax(y_hat, -1) == jnp.argmax(y, -1))
    if loss == "binary_cross_entropy":
        return jnp.mean((y_hat > 0.5) == (y > 0.5))
    return jnp.nan


def evaluate_batch(net: MLP, params, x, y, loss: str):
    """``(loss, accuracy)`` of a checked batch, for one model."""
    return loss_batch(net, params, x, y, loss), accuracy(forward_batch(net, params, x), y, loss)


evaluate_jit = jax.jit(evaluate_batch, static_argnums=(0, 4))
