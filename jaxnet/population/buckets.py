"""Width buckets: nets that differ only in hidden widths, trained padded to the widest.

Every member is padded to :func:`bucket_net` (each hidden layer as wide as the widest
member's). Its padded units start at zero (:func:`bucket_init`) and their gradients are
masked to zero (:func:`bucket_mask`), so they stay zero in the params and in every optimizer
state, and a padded unit's output never reaches the next layer. A member is thus exactly its
own net trained alone, up to the summation order of the padded matmuls. Left out: buckets of
nets that differ in depth or activation, and residual nets whose skips padding would change.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..mlp import MLP, init_scheme, layer_scale


def bucket_net(nets) -> MLP:
    """The padded net of a width bucket: every hidden layer as wide as the widest member's.

    Args:
      nets: MLPs equal but for their hidden widths (same depth, ends, activations, bias, init).

    Raises:
      ValueError/TypeError naming ``nets`` when they cannot share one padded program.
    """
    nets = list(nets) if isinstance(nets, (list, tuple)) else nets
    if not isinstance(nets, list) or not nets or not all(isinstance(n, MLP) for n in nets):
        raise TypeError(f"nets must be a non-empty list of jaxnet.MLP; got {nets!r}")
    first = nets[0]
    for net in nets[1:]:
        same = dataclasses.replace(net, sizes=first.sizes) == first
        if not same or net.depth != first.depth or net.sizes[::-1][:1] != first.sizes[-1:]:
            raise ValueError(
                f"nets must differ only in hidden widths (same depth, inputs, outputs, "
                f"activations, bias and init); got {first} and {net}"
            )
        if net.sizes[0] != first.sizes[0]:
            raise ValueError(f"nets must have the same inputs; got {first} and {net}")
    padded = dataclasses.replace(first, sizes=_widest(nets))
    if first.residual and len({n.skips for n in nets} | {padded.skips}) > 1:
        # A skip joins equal-width hidden layers: padding must not create or remove one.
        raise ValueError(
            f"residual nets must have equal hidden widths in the same places; got {nets}"
        )
    return padded


def _widest(nets) -> tuple[int, ...]:
    return tuple(int(w) for w in np.max([n.sizes for n in nets], axis=0))


def layer_scales(nets) -> np.ndarray:
    """``(P, depth)`` float64: each member's init scale of each layer, from its own fan-in/out."""
    scheme = init_scheme(nets[0])
    return np.array(
        [[layer_scale(scheme, i, o) for i, o in zip(n.sizes[:-1], n.sizes[1:])] for n in nets]
    )


def bucket_init(net: MLP, own, scales, key, dtype) -> list[dict]:
    """One member's ``init(own_net, key)``, zero-padded to ``net``'s sizes.

    ``jaxnet.mlp.init`` draws all weights as one vector and cuts it into layers; with JAX's
    default partitionable threefry the first ``k`` numbers of a draw do not depend on its
    length, so drawing the padded net's length and gathering the member's own cuts gives
    exactly the member's own weights.

    Args:
      net: the padded net; own: ``(depth + 1,)`` the member's own sizes; scales:
        ``(depth,)`` its :func:`layer_scales`; key: its init key; dtype: the params' dtype.
    """
    pairs = list(zip(net.sizes[:-1], net.sizes[1:]))
    total = sum(i * o for i, o in pairs)
    if init_scheme(net) == "glorot":
        unit = jax.random.uniform(key, (total,), dtype, -1.0, 1.0)
    else:
        unit = jax.random.normal(key, (total,), dtype)
    params, start = [], 0
    for layer, (fan_in, fan_out) in enumerate(pairs):
        rows, cols = jnp.arange(fan_in)[:, None], jnp.arange(fan_out)[None, :]
        mine = (rows < own[layer]) & (cols < own[layer + 1])
        index = jnp.where(mine, start + rows * own[layer + 1] + cols, 0)
        params.append({"w": scales[layer] * jnp.where(mine, unit[index], 0)})
        if net.bias:
            params[-1]["b"] = jnp.zeros((fan_out,), dtype)
        start = start + own[layer] * own[layer + 1]
    return params


def bucket_mask(net: MLP, own, dtype) -> list[dict]:
    """1 on a member's own weights and biases, 0 on the padding (params-shaped)."""
    mask = []
    for layer, (fan_in, fan_out) in enumerate(zip(net.sizes[:-1], net.sizes[1:])):
        rows, cols = jnp.arange(fan_in)[:, None], jnp.arange(fan_out)
        w = (rows < own[layer]) & (cols[None, :] < own[layer + 1])
        entry = {"w": w.astype(dtype)}
        if net.bias:
            entry["b"] = (cols < own[layer + 1]).astype(dtype)
        mask.append(entry)
    return mask


def member_params(net: MLP, stacked, i: int) -> list[dict]:
    """Member ``i`` of :func:`jaxnet.population.fit_bucket`'s padded params, cut to its own
    ``net`` (NumPy)."""
    cut = []
    for layer, (fan_in, fan_out) in zip(stacked, zip(net.sizes[:-1], net.sizes[1:])):
        cut.append({"w": np.asarray(layer["w"][i])[:fan_in, :fan_out]})
        if "b" in layer:
            cut[-1]["b"] = np.asarray(layer["b"][i])[:fan_out]
    return cut
