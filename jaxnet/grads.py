"""Gradients by automatic differentiation, the reference the hand-written pass is held to.

:func:`value_and_grad` has the same signature and result as :func:`jaxnet.backprop`;
:func:`per_example_grads` maps the gradient of one example over a batch with ``vmap``.
"""

from __future__ import annotations

from functools import partial

import jax

from . import _validate, losses
from .mlp import MLP, check_net, forward_batch, logits_one


def loss_batch(net: MLP, params: list[dict], x, y, loss: str):
    """Scalar loss of a checked batch: ``x`` ``(batch, features)``, ``y`` ``(batch, outputs)``.

    A fused output activation + loss (see ``jaxnet.losses.FUSED``) is computed from the logits.
    """
    fused = losses.FUSED.get((net.output_activation, loss))
    if fused is not None:
        return fused.value(jax.vmap(logits_one, in_axes=(None, None, 0))(net, params, x), y)
    return losses.get(loss).value(forward_batch(net, params, x), y)


@partial(jax.jit, static_argnums=(0, 4))
def autodiff_batch(net: MLP, params: list[dict], x, y, loss: str):
    """``(loss_value, grads)`` of a checked batch through ``jax.value_and_grad``."""
    return jax.value_and_grad(loss_batch, argnums=1)(net, params, x, y, loss)


def weighted_loss_batch(net: MLP, params: list[dict], x, y, row_weights, loss: str):
    """:func:`loss_batch` with row ``i`` counted ``row_weights[i]`` times (``(batch,)``)."""
    fused = losses.FUSED.get((net.output_activation, loss))
    if fused is not None:
        z = jax.vmap(logits_one, in_axes=(None, None, 0))(net, params, x)
        return losses.weighted_value(fused.value, z, y, row_weights, loss)
    y_hat = forward_batch(net, params, x)
    return losses.weighted_value(losses.get(loss).value, y_hat, y, row_weights, loss)


@partial(jax.jit, static_argnums=(0, 5))
def autodiff_batch_weighted(net: MLP, params: list[dict], x, y, row_weights, loss: str):
    """``(loss_value, grads)`` of :func:`weighted_loss_batch` through ``jax.value_and_grad``."""
    return jax.value_and_grad(weighted_loss_batch, argnums=1)(net, params, x, y, row_weights, loss)


def _example_grads(net, params, x, y, loss):
    return jax.grad(loss_batch, argnums=1)(net, params, x[None], y[None], loss)


@partial(jax.jit, static_argnums=(0, 4))
def per_example_batch(net: MLP, params: list[dict], x, y, loss: str):
    """Per-example gradients of a checked batch: each leaf gains a leading ``batch`` axis."""
    return jax.vmap(_example_grads, in_axes=(None, None, 0, 0, None))(net, params, x, y, loss)


def _checked(net, params, x, y, loss):
    _validate.loss_for(check_net(net), loss)
    _validate.params(net, params)
    return _validate.batch(net, params, x, y, loss)


def value_and_grad(net: MLP, params: list[dict], x, y, loss: str = "mse"):
    """Loss and gradients by ``jax.value_and_grad``; same arguments and result as ``backprop``.

    Returns:
      ``(loss_value, grads)``: a scalar and a list shaped like ``params``.
    """
    x, y = _checked(net, params, x, y, loss)
    return autodiff_batch(net, params, x, y, loss)


def per_example_grads(net: MLP, params: list[dict], x, y, loss: str = "mse"):
    """The gradient of each example's own loss, by ``vmap`` of ``jax.grad``.

    Args:
      x: ``(batch, features)``; y: targets as for :func:`value_and_grad`.

    Returns:
      A list shaped like ``params`` whose leaves have a leading ``batch`` axis:
      ``w`` ``(batch, fan_in, fan_out)``, ``b`` ``(batch, fan_out)``. For ``"sse"`` and
      ``"cross_entropy"`` scaled by batch size, ``sum``/``mean`` over that axis gives the
      batch gradient.
    """
    x, y = _checked(net, params, x, y, loss)
    return per_example_batch(net, params, x, y, loss)
