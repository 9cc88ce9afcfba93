"""Central finite differences of a loss: the reference that needs no derivative at all.

``(L(p + h v) - L(p - h v)) / 2h`` along unit directions ``v`` that each move one parameter
array alone: every coordinate axis of a small net, or a few random unit directions per array of
a large one (:func:`unit_directions`), held against the directional derivative ``grad . v``.
They are always taken in float64: in float32 their rounding error (about ``eps / h``) would
swamp the check; :func:`fd_atol` is what remains of it in float64.

Left out: comparing them with anything (``check`` and ``report`` do that), second derivatives.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..grads import loss_batch, loss_batch_masked
from ..mlp import MLP

FD_STEP = 1e-5  # h: about eps64 ** (1/3), which balances truncation against rounding
FD_ERROR = 10.0  # float64 central differences are good to FD_ERROR * eps64 * |L| / h
FD_BATCH = 32  # finite differences evaluated this many directions at a time


def unit_directions(params, count: int | None, seed: int):
    """Unit directions for each parameter array, each within that array alone.

    Args:
      params: list of layer dicts; count: None for every coordinate axis of every array,
        else that many random unit directions per array; seed: their seed.

    Returns:
      ``(v, k)``: ``v`` shaped like params with leaves ``(k_pad, *leaf.shape)``; ``k`` shaped
      like params, the number of real rows. Coordinate axes are padded with zero rows to a
      multiple of ``FD_BATCH``, so that nets of many shapes share one vmapped shape: a matrix
      of checks run op by op then reuses compiled kernels instead of compiling anew.
    """
    rng = np.random.default_rng(seed)

    def leaf_directions(leaf):
        size, shape = int(np.size(leaf)), np.shape(leaf)
        if count is None:
            block = np.eye(-(-size // FD_BATCH) * FD_BATCH, size)
        else:
            block = rng.standard_normal((count, size))
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        return (block / np.where(norms > 0, norms, 1.0)).reshape(len(block), *shape)

    v = jax.tree.map(leaf_directions, params)
    return v, jax.tree.map(lambda leaf: int(np.size(leaf)) if count is None else count, params)


def _shifted_loss(net, params, x, y, loss, masks, i, name, delta):
    layer = dict(params[i], **{name: params[i][name] + delta})
    shifted = [*params[:i], layer, *params[i + 1 :]]
    if masks is None:
        return loss_batch(net, shifted, x, y, loss)
    return loss_batch_masked(net, shifted, x, y, loss, masks)  # a fixed mask: one smooth net


@partial(jax.jit, static_argnums=(0, 4))
def finite_differences(net: MLP, params, x, y, loss: str, directions, h, masks=None):
    """Central differences of the loss along directions within each parameter array.

    Args:
      net: the spec (static); params: list of layer dicts; x ``(n, features)``;
      y ``(n, outputs)``; loss: a loss name (static).
      directions: shaped like params with leaves ``(k, *leaf.shape)``: ``k`` directions
        that move that array alone.
      h: the step.
      masks: None, or dropout masks (``(n, width)`` per hidden layer) held fixed while the
        params move, so the differences see the one thinned net the gradients are taken of.

    Returns:
      Shaped like params with leaves ``(k,)``: ``(L(p + h v) - L(p - h v)) / 2h``.
    """
    out = []
    for i, layer in enumerate(directions):
        out.append({})
        for name, dirs in layer.items():
            # L(p + h v) and L(p - h v) in one mapped pass: half the dispatches op by op.
            steps = jnp.concatenate([h * dirs, -h * dirs])
            shifted = partial(_shifted_loss, net, params, x, y, loss, masks, i, name)
            both = jax.lax.map(shifted, steps, batch_size=2 * FD_BATCH)
            out[i][name] = (both[: len(dirs)] - both[len(dirs) :]) / (2.0 * h)
    return out


def fd_atol(loss_value, h: float = FD_STEP) -> float:
    """Absolute error of float64 central differences of a loss of this size.

    The loss is a sum of non-negative terms, so its rounding error is a few ``eps * |L|``;
    the difference quotient divides that by ``h``. (The truncation error, ``h**2 / 6`` times
    a third derivative, is of the same order at this step.)
    """
    return FD_ERROR * float(np.finfo(np.float64).eps) * abs(float(loss_value)) / h
