"""Input checks that run on the host before JAX traces anything.

Each check raises ``ValueError`` or ``TypeError`` with a message naming the argument, what
was expected and what was given, so a user never sees a broadcast error from inside XLA.
Values that are already JAX tracers (the caller is inside ``jit``) get only the shape checks.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np


def _is_tracer(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def layer_sizes(sizes) -> tuple[int, ...]:
    """``sizes`` as a tuple of positive ints, at least two of them."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(f"sizes must be a sequence of ints like (2, 3, 1); got {sizes!r}")
    sizes = tuple(sizes)
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"sizes must hold ints; got {s!r} in {sizes!r}")
        if s <= 0:
            raise ValueError(f"sizes must be positive; got {s} in {sizes!r}")
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least 2 entries (inputs, outputs); got {sizes!r}")
    return tuple(int(s) for s in sizes)


def params(net, params) -> None:
    """Check that ``params`` has the layout and shapes that ``net`` implies."""
    if not isinstance(params, (list, tuple)) or len(params) != net.depth:
        got = f"a {type(params).__name__}"
        if isinstance(params, (list, tuple)):
            got += f" of {len(params)} layers"
        raise TypeError(
            f"params must be a list of {net.depth} layer dicts for {net.sizes}; got {got}"
        )
    for i, (layer, fan_in, fan_out) in enumerate(zip(params, net.sizes[:-1], net.sizes[1:])):
        want = {"w": (fan_in, fan_out)} | ({"b": (fan_out,)} if net.bias else {})
        if not isinstance(layer, dict) or set(layer) != set(want):
            keys = sorted(layer) if isinstance(layer, dict) else type(layer).__name__
            raise ValueError(f"params[{i}] must have keys {sorted(want)}; got {keys}")
        for name, shape in want.items():
            if tuple(np.shape(layer[name])) != shape:
                raise ValueError(
                    f"params[{i}][{name!r}] must have shape {shape}; "
                    f"got {tuple(np.shape(layer[name]))}"
                )


def _numeric_array(value, argument: str):
    if _is_tracer(value) or isinstance(value, jax.Array):
        return value
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{argument} must be a numeric array; got a string {value!r}")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise TypeError(f"{argument} must be a rectangular numeric array; {e}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{argument} must be a numeric array; got dtype {arr.dtype}")
    return arr


@jax.jit
def _all_finite(arr):
    return jnp.all(jnp.isfinite(arr))


def _finite(arr, argument: str) -> None:
    if _is_tracer(arr):
        return
    # A JAX array is checked where it lives, by one reduction: no copy to the host unless bad.
    if isinstance(arr, jax.Array) and bool(_all_finite(arr)):
        return
    bad = ~np.isfinite(np.asarray(arr))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{argument} must be finite; got {np.asarray(arr)[where]} at index {where}"
        )


def to_device(arr, dtype):
    """``arr`` as a JAX array of ``dtype``: one host-to-device copy for NumPy input.

    ``jnp.asarray`` would also run a conversion op on the device; for a small net's ``fit``
    that costs as much as hundreds of training steps.
    """
    if _is_tracer(arr) or isinstance(arr, jax.Array):
        return arr if arr.dtype == dtype else arr.astype(dtype)
    return jax.device_put(np.asarray(arr, dtype=dtype))


def dtype_of(params):
    """The floating dtype of the params (that of the first weight)."""
    return params[0]["w"].dtype


def inputs(net, params, x):
    """``x`` as an array of the params' dtype, shape ``(features,)`` or ``(batch, features)``."""
    x = _numeric_array(x, "x")
    if x.ndim not in (1, 2):
        raise ValueError(
            f"x must have shape (features,) or (batch, features) with features={net.sizes[0]}; "
            f"got a {x.ndim}-D array of shape {tuple(x.shape)}"
        )
    if x.shape[-1] != net.sizes[0]:
        raise ValueError(
            f"x must have {net.sizes[0]} features (the net's input size) in its last axis; "
            f"got shape {tuple(x.shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"x must hold at least one example; got shape {tuple(x.shape)}")
    _finite(x, "x")
    return to_device(x, dtype_of(params))


def _class_targets(net, y, n: int, dtype):
    n_classes = net.sizes[-1]
    if y.dtype.kind in "biu" and y.shape in ((n,), ()):
        labels = np.asarray(y).reshape(n)
        if labels.min() < 0 or labels.max() >= n_classes:
            raise ValueError(
                f"y holds class labels that must lie in [0, {n_classes - 1}] for a net with "
                f"{n_classes} outputs; got values from {labels.min()} to {labels.max()}"
            )
        return to_device(np.eye(n_classes)[labels], dtype)
    return None


def targets(net, y, n: int, loss: str, dtype):
    """``y`` as a ``(n, outputs)`` array for ``n`` examples.

    Accepts ``(n, outputs)``; ``(n,)`` when the net has one output; integer labels ``(n,)``
    for ``"cross_entropy"`` (turned into one-hot rows); or the single-example forms when n == 1.
    """
    y = _numeric_array(y, "y")
    out = net.sizes[-1]
    if loss == "cross_entropy" and not _is_tracer(y):
        onehot = _class_targets(net, y, n, dtype)
        if onehot is not None:
            return onehot
    shape = tuple(y.shape)
    if shape == (n, out) or (n == 1 and shape == (out,)) or (out == 1 and shape in ((n,), ())):
        _finite(y, "y")
        if loss == "binary_cross_entropy" and not _is_tracer(y):
            yy = np.asarray(y)
            if yy.min() < 0 or yy.max() > 1:
                raise ValueError(
                    f"y must lie in [0, 1] for binary_cross_entropy; got {yy.min()} to {yy.max()}"
                )
        if not isinstance(y, jax.Array):
            y = np.reshape(y, (n, out))  # on the host: a reshape of a device array is an op
        return to_device(y, dtype).reshape(n, out)
    expect = f"({n}, {out})" + (f" or ({n},)" if out == 1 else "")
    if loss == "cross_entropy":
        expect += f" or integer labels of shape ({n},)"
    raise ValueError(
        f"y must have shape {expect} to match x's {n} rows and the net's {out} outputs; "
        f"got shape {shape}"
    )


def batch(net, params, x, y, loss: str):
    """Checked ``(x, y)`` as ``(n, features)`` and ``(n, outputs)`` arrays of the params' dtype."""
    x = inputs(net, params, x)
    x2 = x if x.ndim == 2 else x[None]
    return x2, targets(net, y, x2.shape[0], loss, dtype_of(params))
