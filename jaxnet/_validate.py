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

from . import losses
from ._limits import INT32_MAX, LIMIT_TEXT, int_in_range, shown
from ._reading import excerpt


def _is_tracer(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def layer_sizes(sizes) -> tuple[int, ...]:
    """``sizes`` as a tuple of positive ints, at least two of them."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(f"sizes must be a sequence of ints like (2, 3, 1); got {excerpt(sizes)}")
    sizes = tuple(sizes)
    for i, s in enumerate(sizes):
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"sizes must hold ints; got {excerpt(s)} at sizes[{i}]")
        if not 0 < s <= INT32_MAX:
            raise ValueError(
                f"sizes must be positive ints of at most {LIMIT_TEXT}; got {shown(s)} at sizes[{i}]"
            )
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least 2 entries (inputs, outputs); got {sizes!r}")
    return tuple(int(s) for s in sizes)


def loss_for(net, loss) -> str:
    """``loss`` if it names a loss that makes sense for ``net``'s output layer (see
    :func:`jaxnet.losses.check_output`); otherwise a ValueError. ``net`` is an MLP already
    checked (:func:`jaxnet.mlp.check_net`): this module sits below ``mlp``."""
    losses.check_name(loss)
    losses.check_output(loss, net.output_activation, net.sizes[-1])
    return loss


def prng_key(key, argument: str = "key"):
    """``key`` as a ``jax.random`` key: a key (typed, or legacy ``uint32[2]``) or an int seed
    from 0 to 2**31 - 1 (the one rule for seeds, :mod:`jaxnet._limits`)."""
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        return jax.random.key(int_in_range(key, argument, 0))
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key) and np.ndim(key) == 0:
        return key
    if dtype == np.uint32 and np.shape(key) == (2,):  # jax.random.PRNGKey(seed)
        return key
    got = f"{type(key).__name__} of shape {np.shape(key)}" if dtype is not None else repr(key)
    raise TypeError(f"{argument} must be a jax.random.key(seed) or an int seed; got {got}")


def float_dtype(dtype, argument: str = "dtype"):
    """``dtype`` as a floating NumPy dtype that JAX can compute in here; None is JAX's default
    float (float32, or float64 under ``jax_enable_x64``)."""
    if dtype is None:
        return jnp.dtype(jnp.result_type(float))
    try:
        dt = jnp.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(f"{argument} must be a floating dtype like float32; got {dtype!r}")
    if dt == np.float64 and not x64_enabled():
        raise ValueError(
            f"{argument} float64 needs 64-bit mode: call inside jax.enable_x64(True) "
            "(or set jax.config.update('jax_enable_x64', True) first)"
        )
    return dt


def x64_enabled() -> bool:
    """Whether JAX computes in 64 bits here (``jax_enable_x64``, globally or in a scope)."""
    return jax.dtypes.canonicalize_dtype(np.float64) == np.float64


def _leaf(i: int, name: str, leaf, shape: tuple) -> None:
    where = f"params[{i}][{name!r}]"
    if not (hasattr(leaf, "shape") and hasattr(leaf, "dtype")):
        raise TypeError(
            f"{where} must be an array (NumPy or JAX) of floats; got a {type(leaf).__name__}: "
            "convert the params with jax.tree.map(np.asarray, params)"
        )
    if not jnp.issubdtype(leaf.dtype, jnp.floating):
        raise ValueError(f"{where} must be a float array; got {leaf.dtype}")
    if tuple(np.shape(leaf)) != shape:
        raise ValueError(f"{where} must have shape {shape}; got {tuple(np.shape(leaf))}")
    # A float64 JAX array made inside a jax.enable_x64 scope cannot be computed with after it:
    # jit would round it to float32 on the way in, and a training loop's state would not match.
    if isinstance(leaf, jax.Array) and leaf.dtype == np.float64 and not x64_enabled():
        raise TypeError(
            f"{where} is a float64 JAX array but 64-bit mode is off: compute inside "
            "jax.enable_x64(True) (or jax.config.update('jax_enable_x64', True)), or cast the "
            "params with jax.tree.map(lambda a: a.astype('float32'), params)"
        )


def params(net, params) -> None:
    """Check that ``params`` has the layout, shapes and one floating dtype that ``net`` implies."""
    if not isinstance(params, (list, tuple)) or len(params) != net.depth:
        got = f"a {type(params).__name__}"
        if isinstance(params, (list, tuple)):
            got += f" of {len(params)} layers"
        raise TypeError(
            f"params must be a list of {net.depth} layer dicts for {excerpt(net.sizes, 60)}; "
            f"got {got}"
        )
    for i, (layer, fan_in, fan_out) in enumerate(zip(params, net.sizes[:-1], net.sizes[1:])):
        want = {"w": (fan_in, fan_out)} | ({"b": (fan_out,)} if net.bias else {})
        if not isinstance(layer, dict):
            raise TypeError(
                f"params[{i}] must be a dict with keys {sorted(want)}; got a "
                f"{type(layer).__name__} (params are a list of layer dicts, as jaxnet.init makes)"
            )
        if set(layer) != set(want):
            raise ValueError(f"params[{i}] must have keys {sorted(want)}; got {sorted(layer)}")
        for name, shape in want.items():
            _leaf(i, name, layer[name], shape)
    first = jax.dtypes.canonicalize_dtype(params[0]["w"].dtype)
    for i, layer in enumerate(params):
        for name, leaf in layer.items():
            if jax.dtypes.canonicalize_dtype(leaf.dtype) != first:
                raise TypeError(
                    f"params must share one dtype; params[{i}][{name!r}] is {leaf.dtype} while "
                    f"params[0]['w'] is {params[0]['w'].dtype}"
                )


def _real_dtype(dtype) -> bool:
    return any(jnp.issubdtype(dtype, kind) for kind in (jnp.bool_, jnp.integer, jnp.floating))


def _numeric_array(value, argument: str):
    if _is_tracer(value) or isinstance(value, jax.Array):
        if not _real_dtype(value.dtype):
            raise TypeError(f"{argument} must be a real numeric array; got dtype {value.dtype}")
        return value
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{argument} must be a numeric array; got a string {value!r}")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise TypeError(f"{argument} must be a rectangular numeric array; {e}") from None
    if arr.dtype.kind == "c":
        raise TypeError(f"{argument} must be a real numeric array; got dtype {arr.dtype}")
    if arr.dtype == object and _big_ints(arr):
        raise ValueError(
            f"{argument} holds an int beyond 64 bits ({_big_ints(arr)[0]}); numbers must fit "
            "in float64 or int64"
        )
    # jnp.issubdtype, not the NumPy kind: ml_dtypes' bfloat16 (kind "V") is a float to JAX.
    if arr.dtype.kind not in "biuf" and not _real_dtype(arr.dtype):
        hint = ""
        if arr.dtype.kind in "USO" and argument == "y":  # class labels as text
            hint = "; text labels become class indices with jn.data.Dataset.from_arrays(x, y)"
        raise TypeError(f"{argument} must be a numeric array; got dtype {arr.dtype}{hint}")
    return arr


def _big_ints(arr: np.ndarray) -> list[int]:
    """Python ints too large for NumPy, where ``np.asarray`` made an object array of them."""
    return [v for v in arr.reshape(-1).tolist() if isinstance(v, int) and not isinstance(v, bool)]


@jax.jit
def _all_finite(arr):
    return jnp.all(jnp.isfinite(arr))


def cast_finite(arr, argument: str, dtype, shape=None):
    """``arr`` as a JAX array of ``dtype``, refused if a value is not finite *in that dtype*.

    The check runs after the cast, so a finite float64 value beyond the compute dtype's range
    (``1e39`` in float32) is refused by name instead of becoming ``inf`` on the device.
    Tracers (inside ``jit``) are only cast. A host array is reshaped to ``shape`` (when given)
    on the host, after the check, so a bad value is named by the index the caller gave it.
    """
    if _is_tracer(arr):
        return arr if arr.dtype == dtype else arr.astype(dtype)
    if isinstance(arr, jax.Array):
        # Checked where it lives, by one reduction: no copy to the host unless a value is bad.
        cast = arr if arr.dtype == dtype else arr.astype(dtype)
        if bool(_all_finite(cast)):
            return cast
    cast = host_cast(arr, argument, dtype)
    if isinstance(arr, jax.Array):
        return arr if arr.dtype == dtype else arr.astype(dtype)
    return jax.device_put(cast if shape is None else cast.reshape(shape))


def host_cast(arr, argument: str, dtype) -> np.ndarray:
    """``arr`` as a NumPy array of ``dtype``, refused (naming ``argument`` and the index) if a
    value is not finite, or is finite but beyond ``dtype``'s range (``1e39`` in float32) --
    said as what the caller gave, never as the ``inf`` the cast would make of it."""
    host = np.asarray(arr)
    with np.errstate(over="ignore", invalid="ignore"):
        cast = host.astype(dtype)
    bad = ~np.isfinite(cast)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        value = host[where]
        if np.isfinite(value):
            raise ValueError(
                f"{argument} holds {value:g} at index {where}, beyond the range of "
                f"{np.dtype(dtype).name} (largest {float(np.finfo(dtype).max):.4g}), the params' "
                "dtype: it would become inf; rescale it, or compute in float64"
            )
        raise ValueError(f"{argument} must be finite; got {value} at index {where}")
    return cast


def to_device(arr, dtype):
    """``arr`` as a JAX array of ``dtype``: one host-to-device copy for NumPy input.

    ``jnp.asarray`` would also run a conversion op on the device; for a small net's ``fit``
    that costs as much as hundreds of training steps.
    """
    if _is_tracer(arr) or isinstance(arr, jax.Array):
        return arr if arr.dtype == dtype else arr.astype(dtype)
    return jax.device_put(np.asarray(arr, dtype=dtype))


def dtype_of(params):
    """The floating dtype the params compute in: the first weight's, as JAX will hold it
    (float64 NumPy params compute in float32 when 64-bit mode is off)."""
    return jax.dtypes.canonicalize_dtype(params[0]["w"].dtype)


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
    return cast_finite(x, "x", dtype_of(params))


def _class_targets(net, y, n: int, dtype):
    n_classes = net.sizes[-1]
    if jnp.issubdtype(y.dtype, jnp.floating) or y.shape not in ((n,), ()):
        return None
    if _is_tracer(y):
        # Inside jit the labels cannot be range-checked: one_hot makes an out-of-range label
        # a row of zeros, which adds nothing to the loss.
        return jax.nn.one_hot(y.reshape(n), n_classes, dtype=dtype)
    raw = np.asarray(y).reshape(n)
    # Compared as they are (uint64 2**63 + 1 would wrap to a negative int64), then converted.
    low, high = raw.min().item(), raw.max().item()
    if low < 0 or high >= n_classes:
        raise ValueError(
            f"y holds class labels that must lie in [0, {n_classes - 1}] for a net with "
            f"{n_classes} outputs; got values from {low} to {high}"
        )
    return to_device(np.eye(n_classes)[raw.astype(np.int64)], dtype)


def targets(net, y, n: int, loss: str, dtype):
    """``y`` as a ``(n, outputs)`` array for ``n`` examples.

    Accepts ``(n, outputs)``; ``(n,)`` when the net has one output; integer labels ``(n,)``
    for ``"cross_entropy"`` (turned into one-hot rows); or the single-example forms when n == 1.
    """
    y = _numeric_array(y, "y")
    out = net.sizes[-1]
    if loss == "cross_entropy":
        onehot = _class_targets(net, y, n, dtype)
        if onehot is not None:
            return onehot
    shape = tuple(y.shape)
    if shape == (n, out) or (n == 1 and shape == (out,)) or (out == 1 and shape in ((n,), ())):
        # Reshaped on the host when it comes from there: a device reshape is one more program.
        given = y.dtype
        y = cast_finite(y, "y", dtype, (n, out))
        if loss in PROBABILITY_LOSSES and not _is_tracer(y):
            probabilities(np.asarray(y).reshape(n, out), loss, given)
        return y if y.shape == (n, out) else y.reshape(n, out)
    expect = f"({n}, {out})" + (f" or ({n},)" if out == 1 else "")
    if loss == "cross_entropy":
        expect += f" or integer labels of shape ({n},)"
    raise ValueError(
        f"y must have shape {expect} to match x's {n} rows and the net's {out} outputs; "
        f"got shape {shape}"
    )


PROBABILITY_LOSSES = ("cross_entropy", "binary_cross_entropy")  # their targets are probabilities


def probabilities(y: np.ndarray, loss: str, given=None) -> None:
    """Refuse targets that are not probabilities: every value in [0, 1] and, for
    ``cross_entropy``, every row a distribution over the classes (summing to 1).

    Outside [0, 1] the loss has no minimum (``-5 * one_hot`` targets drive it down forever),
    so a fit would report "completed" on nonsense. ``binary_cross_entropy`` targets are
    independent probabilities (one per output), so their rows need not sum to 1.

    Args:
      y: ``(n, outputs)`` host targets; loss: the loss name.
      given: the dtype the caller gave ``y`` in: rows sum to 1 within a few of its (or
        ``y``'s, if coarser) rounding errors per class.

    Raises:
      ValueError: naming the first row at fault and its values.
    """
    # A value a rounding error past 0 or 1 (a float32 softmax, a one-hot times 1 + eps) is
    # refused no more than a row summing to 1 within rounding is: one tolerance for both.
    eps = max(_eps(y.dtype), _eps(given))
    slack = 8 * eps
    if y.size and (y.min() < -slack or y.max() > 1 + slack):
        row = int(np.argwhere((y < -slack) | (y > 1 + slack))[0][0])
        raise ValueError(
            f"y must hold probabilities in [0, 1] for {loss}; got values from {y.min() + 0:.7g} "
            f"to {y.max() + 0:.7g} (row {row}: {_row_text(y[row] + 0, digits=7)})"
        )
    if loss != "cross_entropy":
        return
    tolerance = slack * y.shape[1]
    sums = y.sum(axis=1, dtype=np.float64)
    bad = np.flatnonzero(np.abs(sums - 1) > tolerance)
    if bad.size:
        raise ValueError(
            f"y rows must sum to 1 for cross_entropy (a distribution over the classes, within "
            f"{tolerance:.2g}); row {bad[0]} sums to {sums[bad[0]]:.6g}: {_row_text(y[bad[0]])}"
        )


def _eps(dtype) -> float:
    try:
        return float(jnp.finfo(dtype).eps)
    except (TypeError, ValueError):  # an integer dtype (or None): exact
        return 0.0


def _row_text(row: np.ndarray, limit: int = 6, digits: int = 4) -> str:
    shown = ", ".join(f"{v:.{digits}g}" for v in row[:limit])
    return f"[{shown}{', ...' if len(row) > limit else ''}]"


def batch(net, params, x, y, loss: str):
    """Checked ``(x, y)`` as ``(n, features)`` and ``(n, outputs)`` arrays of the params' dtype."""
    x = inputs(net, params, x)
    x2 = x if x.ndim == 2 else x[None]
    return x2, targets(net, y, x2.shape[0], loss, dtype_of(params))
