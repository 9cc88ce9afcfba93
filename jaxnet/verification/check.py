"""The check itself: a backward pass against ``jax.grad`` and central finite differences.

:func:`gradcheck` computes the gradient of one batch's loss three ways and compares them on every
parameter array (each layer's ``"w"`` and ``"b"``):

* the **candidate**: jaxnet's hand-written :func:`jaxnet.backprop.backprop_batch`, or any
  function with its signature passed as ``grad_fn`` -- a researcher's own backward pass, whose
  output is checked for the params layout before anything is compared;
* the **reference**: ``jax.grad`` of the same loss (:func:`jaxnet.grads.autodiff_batch`);
* **central finite differences** of the loss in float64
  (:mod:`jaxnet.verification.differences`).

The third comparison, jax.grad vs finite differences, checks the reference itself: a failure
there alone points at a loss or activation function, not at the backward pass.

Kinks: ReLU and leaky ReLU have a one-sided derivative at ``z == 0`` (see
``jaxnet.activations``), which a central difference cannot see: a step across the kink measures
the mean of the two slopes (ELU's second derivative jumps there, which costs central
differences their accuracy). Where a pre-activation of theirs lies within reach of the step
(:func:`kinks`), the finite differences of the parameters below it are shown but not held, and
the verdict there rests on candidate vs jax.grad alone. Exact zeros are common (zero inputs, a
dead layer under a zero bias), so the edge families of :mod:`jaxnet.verification.problems`
check such points on purpose.

A parameter whose reference gradient is identically zero is reported with a warning: there
the check cannot tell a correct backward pass from one that returns zeros.

Dropout: with ``key`` a dropout net is checked at the masks that key draws
(:func:`jaxnet.mlp.batch_masks`), held fixed in all three -- the hand-written pass, ``jax.grad``
and the finite differences, which then see one smooth thinned net. A ``grad_fn`` gets those
masks as a sixth argument. Without ``key`` the net is checked without dropout, as it evaluates.

Everything runs inside ``jax.enable_x64(True)``, which leaves the program's global 64-bit
setting alone. Left out: second derivatives (``jax.test_util.check_grads`` does those) and
jit-versus-eager checks.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate, activations
from ..backward import backprop_batch, backprop_batch_masked
from ..grads import autodiff_batch, autodiff_batch_masked, loss_batch, loss_batch_masked
from ..mlp import MLP, batch_masks, without_dropout
from .differences import FD_STEP, fd_atol, finite_differences, unit_directions
from .report import (
    CANDIDATE,
    FINITE,
    REFERENCE,
    TOLERANCES,
    GradcheckReport,
    ParamCheck,
    compare,
)

FULL_FD_MAX_PARAMS = 1000  # nets this small get a finite difference for every parameter
DIRECTIONS_PER_ARRAY = 8  # larger nets: this many random directions per parameter array
# Activations that are not twice differentiable at z == 0: the derivative of ReLU and leaky
# ReLU jumps there, ELU's second derivative does (central differences then err by O(h), not
# O(h**2): 5e-5 measured at zero inputs, above the 1e-5 tolerance).
KINKED = ("relu", "leaky_relu", "elu")
MAX_SLOPE = 1.13  # the steepest activation's largest |f'| (GELU's 1.129): bounds a step's reach
KINK_MARGIN = 2.0  # safety factor on that first-order reach


def gradcheck(
    net: MLP,
    params: list[dict],
    x,
    y,
    loss: str,
    *,
    grad_fn: Callable | None = None,
    dtype=jnp.float64,
    directions: int | None = None,
    seed: int = 0,
    key=None,
) -> GradcheckReport:
    """Check a backward pass against ``jax.grad`` and central finite differences.

    Tolerances (on the relative error defined in :class:`Comparison`, ``REL_FLOOR = 1e-3``):

    ========  ======================  =====================================
    dtype     candidate vs jax.grad   anything vs finite differences
    ========  ======================  =====================================
    float64   1e-8                    1e-5
    float32   1e-2                    1e-2
    ========  ======================  =====================================

    In float64 two correct gradients differ by rounding only (measured: at most 1e-12, on an
    8-layer 1024-wide net), and central differences with ``h = 1e-5`` are good to about 1e-10
    relative (measured: at most 1e-6, on the small entries of deep sigmoid nets), while a wrong
    backward pass misses by orders of magnitude (typically 0.1 to 1). In float32 the candidate
    and jax.grad each carry float32 rounding, eps 1.2e-7 amplified by width, depth and
    cancelling sums: measured up to 1e-3 against the float64 truth on an 8-layer 1024-wide
    net (``experiments/manual_vs_autodiff.py``); finite differences stay in float64, at the
    same (float32) point. Check in float64 to find bugs; float32 shows what training sees.

    Args:
      net: the spec.
      params: list of layer dicts (any float dtype; cast to ``dtype``).
      x: ``(features,)`` or ``(batch, features)``.
      y: targets as for :func:`jaxnet.backprop`.
      loss: a loss name.
      grad_fn: the backward pass to check, with :func:`jaxnet.backprop.backprop_batch`'s
        signature ``(net, params, x, y, loss) -> (loss_value, grads)``, called with
        ``x`` ``(batch, features)`` and ``y`` ``(batch, outputs)`` (one-hot rows for
        ``"cross_entropy"``) as JAX arrays of ``dtype``. None checks jaxnet's own backprop.
      dtype: float64 (default) or float32: the dtype the candidate and jax.grad compute in.
        float64 is switched on only inside this call.
      directions: None for finite differences on every parameter when the net has at most
        ``FULL_FD_MAX_PARAMS`` of them, else ``DIRECTIONS_PER_ARRAY`` random directions per
        parameter array; an int forces that many random directions per array.
      seed: seed of the random directions.
      key: None (a dropout net is checked without dropout), or a ``jax.random`` key (or int
        seed) whose dropout masks (:func:`jaxnet.mlp.batch_masks`, ``net.dropout``'s rates)
        are held fixed in every gradient; a ``grad_fn`` is then called with them as a sixth
        argument ``masks``: one ``(batch, width)`` array per hidden layer.

    Returns:
      A :class:`GradcheckReport`; ``report.ok`` is the verdict, ``report.table()`` the details.
    """
    name = _dtype_name(dtype)
    _check_args(net, params, loss, grad_fn, directions)
    key = None if key is None else _validate.prng_key(key, "key")
    if key is None or not any(net.dropout_rates):
        net, key = without_dropout(net), None  # what is checked: the net as it evaluates
    if directions is None and net.n_params > FULL_FD_MAX_PARAMS:
        directions = DIRECTIONS_PER_ARRAY
    candidate = CANDIDATE if grad_fn is None else getattr(grad_fn, "__name__", "grad_fn")
    with jax.enable_x64(True):
        p = _cast(params, name)
        x, y = _validate.batch(net, p, x, y, loss)
        masks = None if key is None else _masks(net, key, x)
        cand, cand_dtype = _candidate(grad_fn, net, p, x, y, loss, masks)
        ref = _to_numpy(*_reference(net, p, x, y, loss, masks))
        # float64 differences at exactly the point the candidate saw (float32 values upcast)
        p64, x64, y64, m64 = _cast((p, x, y, masks), "float64")
        dirs, counts = unit_directions(p64, directions, seed)
        plain = without_dropout(net)
        fd = finite_differences(plain, p64, x64, y64, loss, dirs, FD_STEP, m64)
        fd = jax.tree.map(lambda f, n: np.asarray(f)[:n], fd, counts)
        if m64 is None:
            atol = fd_atol(loss_batch(plain, p64, x64, y64, loss))
        else:
            atol = fd_atol(loss_batch_masked(plain, p64, x64, y64, loss, m64))
        near = kinks(net, p64, x64, FD_STEP, m64)
    tol = TOLERANCES[name]
    finite = (fd, dirs, counts, near)
    report = GradcheckReport(
        net=net,
        loss=loss,
        dtype=name,
        candidate=candidate,
        checks=_param_checks(candidate, p64, cand[1], ref[1], finite, tol, atol),
        loss_value=compare(candidate, REFERENCE, cand[0], ref[0], tol.exact),
        fd_mode="full" if directions is None else "directional",
        fd_directions=sum(jax.tree.leaves(counts)),
        fd_step=FD_STEP,
        tolerance=tol,
        candidate_dtype=cand_dtype,
    )
    if report.zero_reference:
        warnings.warn(report.warnings()[0].removeprefix("warning: "), stacklevel=2)
    return report


def _masks(net: MLP, key, x) -> list:
    """The dropout masks ``key`` draws for the rows of ``x``, in ``x``'s dtype."""
    rates = jnp.asarray(net.dropout_rates, x.dtype)
    return batch_masks(without_dropout(net), key, rates, x.shape[0], x.dtype)


def _reference(net: MLP, params, x, y, loss, masks):
    """``jax.grad``'s ``(loss_value, grads)``, at the fixed ``masks`` when there are any."""
    if masks is None:
        return autodiff_batch(net, params, x, y, loss)
    return autodiff_batch_masked(without_dropout(net), params, x, y, loss, masks)


def _candidate(grad_fn, net, params, x, y, loss, masks):
    """The candidate's ``(loss_value, grads)`` as float and NumPy after checking its layout,
    and the name of its gradients' least precise dtype: ``grad_fn``'s (given ``masks`` as a
    sixth argument when there are any), or jaxnet's hand-written pass."""
    if grad_fn is None and masks is None:
        out = backprop_batch(net, params, x, y, loss)
    elif grad_fn is None:
        out = backprop_batch_masked(without_dropout(net), params, x, y, loss, masks)
    else:
        args = (net, params, x, y, loss) + (() if masks is None else (masks,))
        try:
            out = grad_fn(*args)
        except Exception as e:  # the user's code: say what it was given, keep its traceback
            raise ValueError(_call_failure(grad_fn, x, y, loss, e)) from e
    if isinstance(out, (tuple, list)) and out and all(isinstance(g, dict) for g in out):
        raise ValueError(
            f"grad_fn must return a pair (loss_value, grads); got a {type(out).__name__} of "
            f"{len(out)} layer dicts, which looks like the grads alone: return (loss, grads)"
        )
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ValueError(
            f"grad_fn must return a pair (loss_value, grads); got {type(out).__name__}"
        )
    if np.ndim(out[0]) != 0:
        raise ValueError(
            f"grad_fn must return a scalar loss_value first; got shape {np.shape(out[0])}"
        )
    try:
        float(out[0])
    except (TypeError, ValueError):
        raise ValueError(
            f"grad_fn must return a number as loss_value; got a {type(out[0]).__name__}"
        ) from None
    _check_layout(params, out[1], f"grad_fn {getattr(grad_fn, '__name__', '')}".strip())
    dtypes = [np.dtype(getattr(g, "dtype", np.float64)) for g in jax.tree.leaves(out[1])]
    least = min(dtypes, key=lambda d: np.finfo(d).bits if d.kind == "f" else 64)
    return _to_numpy(*out), least.name


def _call_failure(grad_fn, x, y, loss: str, error: Exception) -> str:
    """One line on a ``grad_fn`` that raised: its error, and the arrays it was given."""
    name = getattr(grad_fn, "__name__", "grad_fn")
    first = (str(error).strip().splitlines() or [""])[0]
    given = f"x of shape {tuple(x.shape)} and y of shape {tuple(y.shape)} ({y.dtype}"
    if loss == "cross_entropy":
        given += ": one-hot rows already, so do not one-hot encode y again"
    return f"grad_fn {name} raised {type(error).__name__}: {first} -- it was called with {given})"


def kinks(net: MLP, params, x, h: float = FD_STEP, masks=None) -> list[int]:
    """For each layer ``l``, how many pre-activations of a kinked activation (:data:`KINKED`)
    a finite-difference step of size ``h`` in layer ``l``'s params may carry across 0.

    A unit step ``h v`` in layer ``l``'s ``w`` or ``b`` moves row ``r`` of ``z_l`` by at most
    ``h * max(|a_{l-1}[r]|, 1)`` (2-norms), and each layer above multiplies that by at most
    ``MAX_SLOPE * |w|_2``; a kinked pre-activation closer to 0 than ``KINK_MARGIN`` times
    that reach may be stepped across.

    Args:
      net: the spec; params: float64 layer dicts; x: ``(batch, features)``; h: the step;
      masks: None, or the fixed dropout masks of the hidden layers (``(batch, width)`` each).

    Returns:
      A list of ``net.depth`` counts (0 where every finite difference is trustworthy).
    """
    acts, zs = [np.asarray(x, np.float64)], []
    kept = [1.0] * (net.depth - 1) if masks is None else [np.asarray(m) for m in masks]
    for layer, name, mask in zip(params, net.activations, [*kept, 1.0]):
        zs.append(np.asarray(acts[-1] @ layer["w"] + layer.get("b", 0.0)))
        acts.append(np.asarray(activations.get(name).f(zs[-1])) * mask)
    norms = [float(np.linalg.norm(np.asarray(layer["w"]), 2)) for layer in params]
    counts = []
    for lo in range(net.depth):
        reach = h * np.maximum(np.linalg.norm(acts[lo], axis=1), 1.0)
        count = 0
        for m in range(lo, net.depth):
            if m > lo:
                reach = reach * MAX_SLOPE * norms[m]
            if net.activations[m] in KINKED:
                count += int(np.sum(np.abs(zs[m]) <= KINK_MARGIN * reach[:, None]))
        counts.append(count)
    return counts


def _param_checks(candidate, params, cand, ref, finite, tol, atol) -> tuple[ParamCheck, ...]:
    """The three comparisons of every parameter array, ``w`` before ``b``, layer by layer."""
    fd, dirs, counts, near = finite
    proj_cand, proj_ref = _project(cand, dirs, counts), _project(ref, dirs, counts)
    checks = []
    for i, layer in enumerate(params):
        for key in [name for name in ("w", "b") if name in layer]:
            comparisons = (
                compare(candidate, REFERENCE, cand[i][key], ref[i][key], tol.exact),
                compare(candidate, FINITE, proj_cand[i][key], fd[i][key], tol.fd, atol),
                compare(REFERENCE, FINITE, proj_ref[i][key], fd[i][key], tol.fd, atol),
            )
            zero = not np.any(ref[i][key])
            shape = tuple(layer[key].shape)
            checks.append(ParamCheck(i, key, shape, comparisons, near[i], zero))
    return tuple(checks)


def _project(grads, directions, k):
    """``grad . v`` for the real directions of each array: leaves ``(k,)``."""
    return jax.tree.map(lambda g, d, n: d[:n].reshape(n, -1) @ g.ravel(), grads, directions, k)


def _dtype_name(dtype) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in TOLERANCES:
        raise ValueError(f"dtype must be float32 or float64; got {dtype!r}")
    return name


def _check_args(net, params, loss, grad_fn, directions) -> None:
    _validate.loss_for(net, loss)
    with jax.enable_x64(True):  # float64 params are welcome here, whatever the global mode
        _validate.params(net, params)
    if grad_fn is not None and not callable(grad_fn):
        raise TypeError(
            f"grad_fn must be a function (net, params, x, y, loss) -> (loss, grads); "
            f"got {type(grad_fn).__name__}"
        )
    bad = isinstance(directions, bool) or not isinstance(directions, (int, type(None)))
    if bad or (directions is not None and directions <= 0):
        raise ValueError(f"directions must be None or a positive int; got {directions!r}")


def _cast(tree, dtype: str):
    return jax.tree.map(lambda leaf: jnp.asarray(np.asarray(leaf), dtype), tree)


def _to_numpy(value, grads):
    return float(value), jax.tree.map(lambda g: np.asarray(g, np.float64), grads)


def _check_layout(params, grads, who: str) -> None:
    """Raise if ``grads`` is not shaped like ``params``, naming the first array that is not."""
    if not isinstance(grads, (list, tuple)) or len(grads) != len(params):
        got = type(grads).__name__
        if isinstance(grads, (list, tuple)):
            got += f" of {len(grads)}"
        raise ValueError(
            f"{who} must return grads as a list of {len(params)} layer dicts; got a {got}"
        )
    for i, (layer, g) in enumerate(zip(params, grads, strict=True)):
        if not isinstance(g, dict):
            raise ValueError(
                f"{who} returned grads[{i}] as a {type(g).__name__}; expected a dict with keys "
                f"{sorted(layer)}"
            )
        if set(g) != set(layer):
            raise ValueError(
                f"{who} returned grads[{i}] with keys {sorted(g)}; expected {sorted(layer)}"
            )
        for name, leaf in layer.items():
            if np.shape(g[name]) != np.shape(leaf):
                raise ValueError(
                    f"{who} returned grads[{i}][{name!r}] of shape {np.shape(g[name])}; "
                    f"params[{i}][{name!r}] has shape {np.shape(leaf)}"
                )
