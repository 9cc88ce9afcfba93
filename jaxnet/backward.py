"""The backward pass written out by hand: the delta rule for any depth (:func:`backprop`).

It mirrors :func:`jaxnet.mlp.forward_one` line by line: the forward sweep keeps every
pre-activation ``zs[i]`` and activation ``activations[i]``; the backward sweep walks them in
reverse. For layer ``i`` (``a_prev = activations[i]``, ``delta = dL/dzs[i]``)::

    grads[i]["w"] = a_prev.T @ delta          # (fan_in, batch) @ (batch, fan_out)
    grads[i]["b"] = delta.sum(axis=0)
    delta_prev    = (delta @ w.T) * f'(zs[i-1])

which is the tutorial's ``W2 += h.T @ o_delta`` and ``h_delta = o_delta @ W2.T * f'(h)``
with the sign of the update left to the optimizer. It is written in batched matrix form
because that is what the tutorial teaches and what runs fast. The training path uses
:func:`backprop_batch` directly; :func:`backprop` checks its inputs first.

A residual layer (``net.skips[i]``: ``activations[i+1] = activations[i] + f(zs[i])``) gives
the gradient of its input two paths, through its weights and around them, and they add::

    grad_a        = delta @ w.T + grad_a      # dL/dactivations[i]: weights' path + skip's path
    delta_prev    = grad_a * f'(zs[i-1])

where the ``grad_a`` on the right is ``dL/dactivations[i+1]``, carried down from the layer
above. A layer without a skip drops that term: ``grad_a = delta @ w.T``, the rule above.

Dropout multiplies a hidden layer's output by its mask ``m`` (0 for a dropped unit,
``1 / (1 - p)`` for a kept one; see :func:`jaxnet.mlp.batch_masks`), so the chain rule
multiplies the gradient flowing back into that layer by the same mask, beside ``f'``::

    forward:   acts[i] = f(zs[i-1]) * masks[i-1]               (+ acts[i-1] with a skip)
    backward:  delta   = grad_a * masks[i-1] * f'(zs[i-1])

A dropped unit passes no gradient to its weights. Without dropout every mask is ``1.0``
(:func:`jaxnet.mlp.no_masks`), which changes no bit. :func:`backprop_batch_dropout` makes the
masks from a key exactly as the forward pass and ``jax.grad`` (:mod:`jaxnet.grads`) do.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from . import _validate, activations, losses
from .mlp import MLP, batch_masks, check_net, dense, no_masks, without_dropout


def _loss_and_output_delta(net: MLP, loss: str, z, a, y):
    """Loss and ``dL/dz`` of the output layer: the fused form if one exists, else the chain rule."""
    fused = losses.FUSED.get((net.output_activation, loss))
    if fused is not None:
        return fused.value(z, y), fused.delta(z, y)
    f_prime = activations.get(net.output_activation).prime(z)
    return losses.get(loss).value(a, y), losses.get(loss).output_delta(a, y) * f_prime


def _layer_grads(layer: dict, a_prev, delta) -> dict:
    grads = {"w": a_prev.T @ delta}
    if "b" in layer:
        grads["b"] = delta.sum(axis=0)
    return grads


def _forward_sweep(net: MLP, params: list[dict], x, masks):
    """Every layer's pre-activation ``zs`` and activation ``acts`` (``acts[0]`` is ``x``), each
    hidden layer's output times its mask (the output layer has none)."""
    zs, acts = [], [x]
    for layer, name, skip, mask in zip(params, net.activations, net.skips, (*masks, 1.0)):
        zs.append(dense(layer, acts[-1]))
        a = activations.get(name).f(zs[-1]) * mask  # dropout: a dropped unit's output is 0
        acts.append(acts[-1] + a if skip else a)
    return zs, acts


def _backward_sweep(net: MLP, params: list[dict], zs, acts, delta, masks) -> list[dict]:
    """Gradients of every layer from the output layer's ``delta = dL/dz``, walking back."""
    grads = [None] * net.depth
    grad_a = None  # dL/dacts[i+1]: what a skip around layer i carries straight down
    for i in reversed(range(net.depth)):
        grads[i] = _layer_grads(params[i], acts[i], delta)
        if i > 0:
            through_w = delta @ params[i]["w"].T
            grad_a = through_w + grad_a if net.skips[i] else through_w  # two paths: they add
            f_prime = activations.get(net.activations[i - 1]).prime(zs[i - 1])
            delta = grad_a * masks[i - 1] * f_prime  # the forward's mask, again: dropped -> 0
    return grads


def _backprop(net: MLP, params: list[dict], x, y, loss: str, masks):
    """Loss and gradients of a batch whose hidden outputs are multiplied by ``masks``."""
    zs, acts = _forward_sweep(net, params, x, masks)
    value, delta = _loss_and_output_delta(net, loss, zs[-1], acts[-1], y)
    return value, _backward_sweep(net, params, zs, acts, delta, masks)


def _backprop_weighted(net: MLP, params: list[dict], x, y, row_weights, loss: str, masks):
    """:func:`_backprop` with row ``i`` counted ``row_weights[i]`` times.

    Each row's output delta is that row's share of the loss gradient, so scaling the rows of
    ``delta`` weights the gradient exactly; the loss value is weighted row by row.
    """
    zs, acts = _forward_sweep(net, params, x, masks)
    _, delta = _loss_and_output_delta(net, loss, zs[-1], acts[-1], y)
    fused = losses.FUSED.get((net.output_activation, loss))
    if fused is not None:
        value = losses.weighted_value(fused.value, zs[-1], y, row_weights, loss)
    else:
        value = losses.weighted_value(losses.get(loss).value, acts[-1], y, row_weights, loss)
    delta = delta * row_weights[:, None]
    return value, _backward_sweep(net, params, zs, acts, delta, masks)


@partial(jax.jit, static_argnums=(0, 4))
def backprop_batch(net: MLP, params: list[dict], x, y, loss: str):
    """Loss and gradients of a batch by the hand-written backward pass, unchecked.

    Args:
      net: the spec (static).
      params: list of layer dicts.
      x: ``(batch, features)``.
      y: ``(batch, outputs)`` targets (one-hot rows for ``"cross_entropy"``).
      loss: a loss name (static).

    Returns:
      ``(loss_value, grads)`` with ``grads`` in exactly the params structure.
    """
    return _backprop(net, params, x, y, loss, no_masks(net))


@partial(jax.jit, static_argnums=(0, 4))
def backprop_batch_masked(net: MLP, params: list[dict], x, y, loss: str, masks):
    """:func:`backprop_batch` with every hidden layer's outputs multiplied by its mask
    (``(batch, width)`` arrays of 0 and ``1 / (1 - p)``, see :func:`jaxnet.mlp.batch_masks`)."""
    return _backprop(net, params, x, y, loss, masks)


@partial(jax.jit, static_argnums=(0, 4))
def backprop_batch_dropout(net: MLP, params: list[dict], x, y, loss: str, key, rates):
    """:func:`backprop_batch` with dropout: the masks of :func:`jaxnet.mlp.batch_masks` for
    ``key`` and ``rates`` (``(hidden layers,)``, data), the same ones ``jax.grad`` sees."""
    masks = batch_masks(net, key, rates, x.shape[0], x.dtype)
    return _backprop(net, params, x, y, loss, masks)


@partial(jax.jit, static_argnums=(0, 5))
def backprop_batch_weighted(net: MLP, params: list[dict], x, y, row_weights, loss: str):
    """:func:`backprop_batch` with row ``i`` counted ``row_weights[i]`` (``(batch,)``) times."""
    return _backprop_weighted(net, params, x, y, row_weights, loss, no_masks(net))


@partial(jax.jit, static_argnums=(0, 5))
def backprop_batch_weighted_dropout(
    net: MLP, params: list[dict], x, y, row_weights, loss: str, key, rates
):
    """:func:`backprop_batch_weighted` with the dropout masks of ``key`` and ``rates``."""
    masks = batch_masks(net, key, rates, x.shape[0], x.dtype)
    return _backprop_weighted(net, params, x, y, row_weights, loss, masks)


def backprop(net: MLP, params: list[dict], x, y, loss: str = "mse", key=None):
    """Loss and gradients by hand-written backpropagation.

    Args:
      net: the spec.
      params: list of layer dicts as made by :func:`jaxnet.init`.
      x: ``(features,)`` or ``(batch, features)``.
      y: ``(outputs,)`` or ``(batch, outputs)``; ``(batch,)`` for one output; integer labels
        ``(batch,)`` for ``"cross_entropy"``.
      loss: ``"mse"``, ``"sse"``, ``"cross_entropy"`` or ``"binary_cross_entropy"``.
      key: None (no dropout), or a ``jax.random`` key (or int seed) that draws ``net.dropout``'s
        masks: the same masks ``jaxnet.forward(..., key=key)`` and ``value_and_grad`` use.

    Returns:
      ``(loss_value, grads)``: a scalar and a list shaped like ``params``.
    """
    _validate.loss_for(check_net(net), loss)
    _validate.params(net, params)
    key = None if key is None else _validate.prng_key(key, "key")
    x, y = _validate.batch(net, params, x, y, loss)
    if key is None or not any(net.dropout_rates):
        return backprop_batch(net, params, x, y, loss)
    rates = jnp.asarray(net.dropout_rates, x.dtype)
    return backprop_batch_dropout(without_dropout(net), params, x, y, loss, key, rates)
