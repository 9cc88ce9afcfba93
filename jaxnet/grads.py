"""Gradients by automatic differentiation, the reference the hand-written pass is held to.

:func:`value_and_grad` has the same signature and result as :func:`jaxnet.backprop`;
:func:`per_example_grads` maps the gradient of one example over a batch with ``vmap``. With
dropout (``key=``) the loss is taken through :func:`jaxnet.mlp.logits_masked` with the masks
of :func:`jaxnet.mlp.batch_masks`: the masks do not depend on the params, so ``jax.grad``
differentiates the same fixed thinned net the hand-written pass does.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from . import _validate, activations, losses
from .mlp import (
    MLP,
    batch_masks,
    check_net,
    forward_batch,
    logits_batch_masked,
    logits_one,
    without_dropout,
)


def loss_batch(net: MLP, params: list[dict], x, y, loss: str):
    """Scalar loss of a checked batch: ``x`` ``(batch, features)``, ``y`` ``(batch, outputs)``.

    A fused output activation + loss (see ``jaxnet.losses.FUSED``) is computed from the logits.
    """
    fused = losses.FUSED.get((net.output_activation, loss))
    if fused is not None:
        return fused.value(jax.vmap(logits_one, in_axes=(None, None, 0))(net, params, x), y)
    return losses.get(loss).value(forward_batch(net, params, x), y)


def loss_batch_masked(net: MLP, params: list[dict], x, y, loss: str, masks):
    """:func:`loss_batch` with each hidden layer's outputs multiplied by its mask
    (``(batch, width)`` arrays, see :func:`jaxnet.mlp.batch_masks`)."""
    z = logits_batch_masked(net, params, x, masks)
    fused = losses.FUSED.get((net.output_activation, loss))
    if fused is not None:
        return fused.value(z, y)
    return losses.get(loss).value(activations.get(net.output_activation).f(z), y)


@partial(jax.jit, static_argnums=(0, 4))
def autodiff_batch(net: MLP, params: list[dict], x, y, loss: str):
    """``(loss_value, grads)`` of a checked batch through ``jax.value_and_grad``."""
    return jax.value_and_grad(loss_batch, argnums=1)(net, params, x, y, loss)


@partial(jax.jit, static_argnums=(0, 4))
def autodiff_batch_masked(net: MLP, params: list[dict], x, y, loss: str, masks):
    """``(loss_value, grads)`` of :func:`loss_batch_masked` through ``jax.value_and_grad``."""
    return jax.value_and_grad(loss_batch_masked, argnums=1)(net, params, x, y, loss, masks)


@partial(jax.jit, static_argnums=(0, 4))
def autodiff_batch_dropout(net: MLP, params: list[dict], x, y, loss: str, key, rates):
    """:func:`autodiff_batch` with dropout: the masks of ``key`` and ``rates``
    (``(hidden layers,)``, data), the same ones the hand-written pass uses."""
    masks = batch_masks(net, key, rates, x.shape[0], x.dtype)
    return jax.value_and_grad(loss_batch_masked, argnums=1)(net, params, x, y, loss, masks)


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


def weighted_loss_batch_masked(net: MLP, params: list[dict], x, y, row_weights, loss, masks):
    """:func:`weighted_loss_batch` with the hidden outputs multiplied by ``masks``."""
    z = logits_batch_masked(net, params, x, masks)
    fused = losses.FUSED.get((net.output_activation, loss))
    if fused is not None:
        return losses.weighted_value(fused.value, z, y, row_weights, loss)
    y_hat = activations.get(net.output_activation).f(z)
    return losses.weighted_value(losses.get(loss).value, y_hat, y, row_weights, loss)


@partial(jax.jit, static_argnums=(0, 5))
def autodiff_batch_weighted_dropout(
    net: MLP, params: list[dict], x, y, row_weights, loss: str, key, rates
):
    """:func:`autodiff_batch_weighted` with the dropout masks of ``key`` and ``rates``."""
    masks = batch_masks(net, key, rates, x.shape[0], x.dtype)
    value_and_grad = jax.value_and_grad(weighted_loss_batch_masked, argnums=1)
    return value_and_grad(net, params, x, y, row_weights, loss, masks)


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


def value_and_grad(net: MLP, params: list[dict], x, y, loss: str = "mse", key=None):
    """Loss and gradients by ``jax.value_and_grad``; same arguments and result as ``backprop``.

    Args:
      key: None (no dropout), or a ``jax.random`` key (or int seed) that draws ``net.dropout``'s
        masks, the same ones ``jaxnet.backprop(..., key=key)`` uses.

    Returns:
      ``(loss_value, grads)``: a scalar and a list shaped like ``params``.
    """
    x, y = _checked(net, params, x, y, loss)
    key = None if key is None else _validate.prng_key(key, "key")
    if key is None or not any(net.dropout_rates):
        return autodiff_batch(net, params, x, y, loss)
    rates = jnp.asarray(net.dropout_rates, x.dtype)
    return autodiff_batch_dropout(without_dropout(net), params, x, y, loss, key, rates)


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
