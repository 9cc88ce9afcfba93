"""Central finite differences of a loss: the reference that needs no derivative at all.

``(L(p + h v) - L(p - h v)) / 2h`` along unit directions ``v`` that each move one parameter
array alone: every coordinate axis of a small net, or a few random unit directions per array of
a large one (:func:`unit_directions`), held against the directional derivative ``grad . v``.
They are always taken in float64: in float32 their rounding error (about ``eps / h``) would
swamp the check; :func:`fd_atol` is what remains of it in float64. One compiled program
evaluates a block of directions of any array (:func:`finite_differences`), so a check's memory
and compile time grow with one forward pass, not with depth squared.

Left out: comparing them with anything (``check`` and ``report`` do that), second derivatives.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..grads import loss_batch, loss_batch_masked
from ..mlp import MLP

FD_STEP = 1e-5  # h: about eps64 ** (1/3), which balances truncation against rounding
FD_ERROR = 10.0  # float64 central differences are good to FD_ERROR * eps64 * |L| / h
FD_BATCH = 32  # coordinate directions are padded to a multiple of this many


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


FD_BLOCK_BYTES = 64 * 2**20  # shifted params held at once: bounds the memory of any net's check
FD_MAX_BLOCK = 256  # directions evaluated by one call of the compiled block


def _layout(params) -> list[tuple[int, str, tuple, int]]:
    """``(layer, name, shape, offset)`` of every parameter array in one flat vector."""
    out, offset = [], 0
    for i, layer in enumerate(params):
        for name in sorted(layer):
            shape = tuple(np.shape(layer[name]))
            out.append((i, name, shape, offset))
            offset += int(np.prod(shape, dtype=np.int64))
    return out


def _unflatten(layout: tuple, flat) -> list[dict]:
    params: list[dict] = []
    for i, name, shape, offset in layout:
        if i == len(params):
            params.append({})
        params[i][name] = flat[offset : offset + math.prod(shape)].reshape(shape)
    return params


@partial(jax.jit, static_argnums=(0, 4, 5))
def _block(net: MLP, flat, x, y, loss: str, layout: tuple, rows, offsets, h, masks):
    """Central differences along a block of directions, each within one parameter array.

    One program for the whole net, whichever array a row moves: a row is that array's
    direction (zero-padded to the largest array's size) and its offset in the flat params, so
    the program holds one forward pass, not one per array (which grew with depth squared).

    Args:
      net, loss, layout: static; flat: ``(n,)`` params; x, y: the batch; rows ``(B, width)``;
      offsets ``(B,)`` int; h: the step; masks: fixed dropout masks, or None.

    Returns:
      ``(B,)``: ``(L(p + h v) - L(p - h v)) / 2h`` per row.
    """
    n, width = flat.shape[0], rows.shape[1]
    padded = jnp.concatenate([flat, jnp.zeros(width, flat.dtype)])  # no slice is ever clipped

    def shifted(step, offset):
        moved = jax.lax.dynamic_update_slice(jnp.zeros_like(padded), step, (offset,))
        params = _unflatten(layout, (padded + moved)[:n])
        if masks is None:
            return loss_batch(net, params, x, y, loss)
        return loss_batch_masked(net, params, x, y, loss, masks)  # a fixed mask: one smooth net

    # +h and -h as rows of one mapped pass: one forward pass in the program, not two
    both = jax.vmap(shifted)(jnp.concatenate([h * rows, -h * rows]), jnp.tile(offsets, 2))
    return (both[: len(rows)] - both[len(rows) :]) / (2.0 * h)


def block_size(n_params: int, width: int) -> int:
    """Directions per call of the compiled block: at most :data:`FD_MAX_BLOCK`, and few enough
    that the shifted copies of the params (and the rows) stay within :data:`FD_BLOCK_BYTES`."""
    per_row = 8 * (2 * (n_params + width) + 2 * width)  # float64: two shifted copies, two steps
    return int(max(1, min(FD_MAX_BLOCK, FD_BLOCK_BYTES // per_row)))


def finite_differences(net: MLP, params, x, y, loss: str, directions, h, masks=None):
    """Central differences of the loss along directions within each parameter array.

    Evaluated a block of directions at a time by one compiled program whatever the net's depth
    (:func:`block_size`), so time and memory grow with the number of directions times one
    forward pass, never with depth squared: a 201-layer net is checked like a 2-layer one.

    Args:
      net: the spec; params: list of layer dicts; x ``(n, features)``;
      y ``(n, outputs)``; loss: a loss name.
      directions: shaped like params with leaves ``(k, *leaf.shape)``: ``k`` directions
        that move that array alone.
      h: the step.
      masks: None, or dropout masks (``(n, width)`` per hidden layer) held fixed while the
        params move, so the differences see the one thinned net the gradients are taken of.

    Returns:
      Shaped like params with NumPy leaves ``(k,)``: ``(L(p + h v) - L(p - h v)) / 2h``.
    """
    layout = tuple(_layout(params))
    flat = jnp.concatenate([jnp.ravel(params[i][name]) for i, name, _, _ in layout])
    width = max(math.prod(shape) for _, _, shape, _ in layout)
    rows, offsets, counts = [], [], []
    for i, name, shape, offset in layout:
        d = np.asarray(directions[i][name], np.float64).reshape(-1, math.prod(shape))
        rows.append(np.pad(d, ((0, 0), (0, width - d.shape[1]))))
        offsets.append(np.full(len(d), offset))
        counts.append(len(d))
    rows, offsets = np.concatenate(rows), np.concatenate(offsets).astype(np.int32)
    size = block_size(int(flat.shape[0]), width)
    total = -(-len(rows) // size) * size  # whole blocks: one program shape for the net
    rows = np.pad(rows, ((0, total - len(rows)), (0, 0)))
    offsets = np.pad(offsets, (0, total - len(offsets)))
    values = [
        np.asarray(
            _block(
                net, flat, x, y, loss, layout, rows[s : s + size], offsets[s : s + size], h, masks
            )
        )
        for s in range(0, total, size)
    ]
    values = np.concatenate(values)
    out = [{} for _ in params]
    for (i, name, _, _), start, k in zip(layout, np.cumsum([0, *counts]), counts, strict=False):
        out[i][name] = values[start : start + k]
    return out


def fd_atol(loss_value, h: float = FD_STEP) -> float:
    """Absolute error of float64 central differences of a loss of this size.

    The loss is a sum of non-negative terms, so its rounding error is a few ``eps * |L|``;
    the difference quotient divides that by ``h``. (The truncation error, ``h**2 / 6`` times
    a third derivative, is of the same order at this step.)
    """
    return FD_ERROR * float(np.finfo(np.float64).eps) * abs(float(loss_value)) / h
