"""Gradient verification: a hand-written backward pass against ``jax.grad`` and finite differences.

:func:`gradcheck` computes the gradient of one batch's loss three ways and compares them on every
parameter array (each layer's ``"w"`` and ``"b"``):

* the **candidate**: jaxnet's hand-written :func:`jaxnet.backprop.backprop_batch`, or any
  function with its signature passed as ``grad_fn`` -- a researcher's own backward pass;
* the **reference**: ``jax.grad`` of the same loss (:func:`jaxnet.grads.autodiff_batch`);
* **central finite differences** of the loss, ``(L(p + h v) - L(p - h v)) / 2h``, along every
  coordinate ``v`` of a small net, or along a few random unit directions per parameter array
  of a large one, held against the directional derivative ``grad . v``. They are always taken
  in float64: in float32 their rounding error (about ``eps / h``) would swamp the check.

Three comparisons per parameter array -- candidate vs jax.grad, candidate vs finite
differences, jax.grad vs finite differences -- make a :class:`GradcheckReport`. The third checks
the reference itself: a failure there alone points at a loss or activation function, not at
the backward pass.

Kinks: ReLU and leaky ReLU have a one-sided derivative at ``z == 0`` (see
``jaxnet.activations``), which a central difference cannot see: a step across the kink measures
the mean of the two slopes (ELU's second derivative jumps there, which costs central
differences their accuracy). Where a pre-activation of theirs lies within reach of the step
(:func:`kinks`), the finite differences of the parameters below it are shown but not held, and
the verdict there rests on candidate vs jax.grad alone. Exact zeros are common (zero inputs, a
dead layer under a zero bias), so :data:`EDGE_FAMILIES` checks such points on purpose.

A parameter whose reference gradient is identically zero is reported with a warning: there
the check cannot tell a correct backward pass from one that returns zeros.

Everything runs inside ``jax.enable_x64(True)``, which leaves the program's global 64-bit
setting alone; the report holds only Python and NumPy values, usable after that scope ends.

This module sits above ``backprop`` and ``grads``; the training path never imports it. Left
out: second derivatives (``jax.test_util.check_grads`` does those) and jit-versus-eager checks.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _validate, activations, losses
from .backprop import backprop_batch
from .grads import autodiff_batch, loss_batch
from .mlp import MLP, init


class Tolerance(NamedTuple):
    """Largest allowed relative error (see :class:`Comparison`) for one compute dtype."""

    exact: float  # candidate vs jax.grad: one derivative, rounded two ways
    fd: float  # anything vs finite differences: adds their truncation and rounding error


TOLERANCES = {
    "float64": Tolerance(exact=1e-8, fd=1e-5),
    "float32": Tolerance(exact=1e-2, fd=1e-2),
}
REL_FLOOR = 1e-3  # relative errors are taken against max(|ref_i|, REL_FLOOR * max|ref|)
FD_STEP = 1e-5  # h: about eps64 ** (1/3), which balances truncation against rounding
FD_ERROR = 10.0  # float64 central differences are good to FD_ERROR * eps64 * |L| / h
FULL_FD_MAX_PARAMS = 1000  # nets this small get a finite difference for every parameter
DIRECTIONS_PER_ARRAY = 8  # larger nets: this many random directions per parameter array
FD_BATCH = 32  # finite differences evaluated this many directions at a time
# Activations that are not twice differentiable at z == 0: the derivative of ReLU and leaky
# ReLU jumps there, ELU's second derivative does (central differences then err by O(h), not
# O(h**2): 5e-5 measured at zero inputs, above the 1e-5 tolerance).
KINKED = ("relu", "leaky_relu", "elu")
MAX_SLOPE = 1.13  # the steepest activation's largest |f'| (GELU's 1.129): bounds a step's reach
KINK_MARGIN = 2.0  # safety factor on that first-order reach

CANDIDATE, REFERENCE, FINITE = "backprop", "jax.grad", "finite differences"


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One gradient held against a reference on one parameter array (or on the loss value).

    Attributes:
      test, reference: names of the two gradients, e.g. ``"backprop"`` and ``"jax.grad"``.
      max_abs_err: ``max_i |test_i - ref_i|`` over the entries, or over the random directions'
        directional derivatives when finite differences ran in directional mode.
      max_rel_err: ``max_i |test_i - ref_i| / max(|ref_i|, floor)``. The floor,
        ``REL_FLOOR * max|ref|``, keeps entries that are tiny next to the rest of the array
        from exploding the ratio; against finite differences it is at least ``atol / rtol``,
        where ``atol`` is their own error (:func:`fd_atol`), so it never asks of them more
        than they can resolve.
      cosine: cosine similarity of the two vectors: near 1 with a large relative error means
        the right direction at the wrong scale (e.g. a missing ``1 / batch``). 1 if both are 0.
      rtol: the tolerance ``max_rel_err`` is held to.
    """

    test: str
    reference: str
    max_abs_err: float
    max_rel_err: float
    cosine: float
    rtol: float

    @property
    def name(self) -> str:
        return f"{self.test} vs {self.reference}"

    @property
    def ok(self) -> bool:
        return bool(self.max_rel_err <= self.rtol)  # False for NaN as well


@dataclasses.dataclass(frozen=True)
class ParamCheck:
    """The comparisons of one parameter array, ``params[layer][param]``.

    ``comparisons`` are, in this order: candidate vs jax.grad, candidate vs finite
    differences, jax.grad vs finite differences.
    """

    layer: int
    param: str
    shape: tuple[int, ...]
    comparisons: tuple[Comparison, Comparison, Comparison]
    kinks: int = 0  # kinked pre-activations a step in this array may cross (see :func:`kinks`)
    zero_reference: bool = False  # jax.grad is exactly 0 on every entry

    @property
    def fd_held(self) -> bool:
        """Whether the finite differences count: not across a kink."""
        return self.kinks == 0

    @property
    def held(self) -> tuple[Comparison, ...]:
        """The comparisons the verdict rests on: all three, or only vs jax.grad at a kink."""
        return self.comparisons if self.fd_held else self.comparisons[:1]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.held)

    @property
    def failed(self) -> tuple[Comparison, ...]:
        return tuple(c for c in self.held if not c.ok)

    @property
    def candidate_wrong(self) -> bool:
        """The candidate misses finite differences that jax.grad meets, or misses jax.grad
        (unless it is jax.grad that misses the finite differences the candidate meets)."""
        to_ref, to_fd, ref_to_fd = (c.ok for c in self.comparisons)
        if not self.fd_held:
            return not to_ref
        return (not to_fd and ref_to_fd) or (not to_ref and not (to_fd and not ref_to_fd))

    @property
    def reference_suspect(self) -> bool:
        """jax.grad misses finite differences: the reference itself is in doubt here."""
        return self.fd_held and not self.comparisons[2].ok


@dataclasses.dataclass(frozen=True)
class GradcheckReport:
    """What :func:`gradcheck` found; ``ok`` is the overall verdict.

    Attributes:
      net, loss, dtype: what was checked (``dtype`` is ``"float32"`` or ``"float64"``).
      candidate: name of the gradient under test (``"backprop"`` or the ``grad_fn``'s name).
      checks: one :class:`ParamCheck` per parameter array, in params order.
      loss_value: the candidate's loss value held against jax.grad's (a :class:`Comparison`).
      fd_mode: ``"full"`` (every parameter) or ``"directional"`` (random unit directions).
      fd_directions: finite differences taken in all (each one is two loss evaluations).
      fd_step: the step ``h``.
      tolerance: the :class:`Tolerance` of ``dtype``.
      candidate_dtype: the dtype of the candidate's gradients (``"float32"`` in a float64
        check means the candidate computes in float32, whatever it was given).
      point: what kind of point this is: ``"random"`` or one of :data:`EDGE_FAMILIES`.
    """

    net: MLP
    loss: str
    dtype: str
    candidate: str
    checks: tuple[ParamCheck, ...]
    loss_value: Comparison
    fd_mode: str
    fd_directions: int
    fd_step: float
    tolerance: Tolerance
    candidate_dtype: str = ""
    point: str = "random"

    @property
    def ok(self) -> bool:
        return self.loss_value.ok and all(c.ok for c in self.checks)

    @property
    def kinks(self) -> int:
        """Kinked pre-activations within reach of a step, over the whole net (0: none)."""
        return max((c.kinks for c in self.checks), default=0)

    @property
    def zero_reference(self) -> tuple[str, ...]:
        """``"params[i]['w']"`` of every array whose jax.grad is identically zero."""
        return tuple(f"params[{c.layer}][{c.param!r}]" for c in self.checks if c.zero_reference)

    def warnings(self) -> tuple[str, ...]:
        """Lines about what this check cannot see: zero reference gradients, kinks."""
        out = []
        if self.zero_reference:
            out.append(
                f"warning: jax.grad is identically zero for {', '.join(self.zero_reference)}: "
                "this check cannot fail there for a backward pass that returns zeros"
            )
        if self.kinks:
            below = ", ".join(map(str, sorted({c.layer for c in self.checks if not c.fd_held})))
            out.append(
                f"note: {self.kinks} ReLU-like pre-activations lie within a step's reach of "
                f"their kink at 0: finite differences not held at layers {below} "
                "(a step across a kink measures the mean of the two slopes)"
            )
        return tuple(out)

    @property
    def failed_layers(self) -> tuple[int, ...]:
        """Layers where the candidate is wrong (:attr:`ParamCheck.candidate_wrong`), ascending."""
        return tuple(sorted({c.layer for c in self.checks if c.candidate_wrong}))

    @property
    def suspect_layers(self) -> tuple[int, ...]:
        """Layers where jax.grad itself misses the finite differences, ascending.

        A finite-difference step across the kink of a ReLU-like activation does this; so does
        a loss or activation whose derivative (e.g. a ``custom_jvp``) is wrong.
        """
        return tuple(sorted({c.layer for c in self.checks if c.reference_suspect}))

    @property
    def first_wrong_layer(self) -> int | None:
        """The failing layer nearest the output: where the backward pass first goes wrong.

        The backward pass runs from the output layer down, and a wrong delta spoils every layer
        below the one where it went wrong, so that layer is the highest failing index.
        """
        return max(self.failed_layers, default=None)

    def max_rel_err(self, name: str) -> float:
        """Largest relative error of the comparison ``name`` (e.g. ``"backprop vs jax.grad"``)
        where it is held (finite differences across a kink are not); 0.0 if nowhere."""
        errs = [c.max_rel_err for p in self.checks for c in p.held if c.name == name]
        return _max(np.asarray(errs, np.float64))

    def comparison_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.checks[0].comparisons)

    def table(self) -> str:
        """A text table: one row per layer, parameter and comparison, then warnings and the
        verdict. A row that misses finite differences taken across a kink reads ``kink``."""
        w = max(len(c.name) for p in self.checks for c in p.comparisons)
        head = (
            f"{'layer':>5}  {'param':5}  {'shape':10}  {'check':{w}}  {'max abs err':>11}  "
            f"{'max rel err':>11}  {'cosine':>12}  {'tol':>7}  verdict"
        )
        rows = [_describe(self), head]
        for p in self.checks:
            for k, c in enumerate(p.comparisons):
                mark = "ok" if c.ok else ("FAIL" if k < len(p.held) else "kink")
                rows.append(
                    f"{p.layer:>5}  {p.param:5}  {str(p.shape):10}  {c.name:{w}}  "
                    f"{c.max_abs_err:11.3e}  {c.max_rel_err:11.3e}  {c.cosine:12.9f}  "
                    f"{c.rtol:7.0e}  {mark}"
                )
        return "\n".join([*rows, *self.warnings(), self.verdict()])

    def verdict(self) -> str:
        """One line: ``"PASS"``, or ``"FAIL"`` with the first wrong layer and what failed."""
        if self.ok:
            if all(c.fd_held for c in self.checks):
                return f"PASS: {self.candidate} matches jax.grad and finite differences"
            return (
                f"PASS: {self.candidate} matches jax.grad (and finite differences away from "
                "the kinks)"
            )
        parts = []
        if self.failed_layers:
            first = self.first_wrong_layer
            bad = [p for p in self.checks if p.layer == first and p.candidate_wrong]
            what = "; ".join(f"{p.param} ({', '.join(c.name for c in p.failed)})" for p in bad)
            parts.append(f"backward pass first wrong at layer {first}: {what}")
            if len(self.failed_layers) > 1:
                parts.append(f"failing layers {', '.join(map(str, self.failed_layers))}")
        if self.suspect_layers:
            parts.append(
                f"jax.grad misses finite differences at layers "
                f"{', '.join(map(str, self.suspect_layers))} (a step across a ReLU-like kink, or "
                "jax.grad of a loss or activation that is not its true derivative, e.g. "
                "through a clip)"
            )
        if not self.loss_value.ok:
            parts.append(f"loss value differs from jax.grad's by {self.loss_value.max_rel_err:.2e}")
        if self.candidate_dtype and self.candidate_dtype != self.dtype:
            parts.append(
                f"{self.candidate} returned {self.candidate_dtype} gradients in a {self.dtype} "
                f"check, so its rounding alone can miss the {self.dtype} tolerance: compute in "
                f"{self.dtype} (it is called with {self.dtype} arrays), or check with "
                f"dtype={self.candidate_dtype}"
            )
        return "FAIL: " + "; ".join(parts)

    def summary(self) -> str:
        """One line for a matrix of checks: verdict, net, and the worst error of each check."""
        to_ref, to_fd, ref_to_fd = (self.max_rel_err(n) for n in self.comparison_names())
        worst = f"vs jax.grad {to_ref:.1e}, vs fd {to_fd:.1e} (jax.grad vs fd {ref_to_fd:.1e})"
        if not any(c.fd_held for c in self.checks):
            worst = f"vs jax.grad {to_ref:.1e}, vs fd n/a at kinks"
        status = "ok  " if self.ok else "FAIL"
        name = _net_name(self.net, self.loss, self.dtype)
        line = f"{status}  {name} {self.point:17} max rel err {worst}"
        return line if self.ok else f"{line}\n      {self.verdict()}"


def _fields(net: MLP, loss: str, dtype: str) -> tuple[str, ...]:
    acts = f"{net.activation}/{net.output_activation}"
    terms = ("bias" if net.bias else "no bias") + (" res" if net.residual else "")
    return "-".join(map(str, net.sizes)), acts, loss, terms, dtype


def _net_name(net: MLP, loss: str, dtype: str) -> str:
    """The case as aligned columns, for one line per case of a matrix."""
    widths = (12, 20, 20, 11, 7)
    return " ".join(f"{f:{w}}" for f, w in zip(_fields(net, loss, dtype), widths, strict=True))


def _describe(report: GradcheckReport) -> str:
    fd = "every parameter" if report.fd_mode == "full" else "random directions"
    return (
        f"{', '.join(_fields(report.net, report.loss, report.dtype))}: {report.candidate} vs "
        f"jax.grad vs finite differences ({fd}: {report.fd_directions}, h = {report.fd_step:g})"
    )


def compare(test: str, reference: str, a, b, rtol: float, atol: float = 0.0) -> Comparison:
    """Hold the vector ``a`` against the reference ``b`` (any equal shapes, flattened).

    Args:
      test, reference: their names, for the report.
      a, b: arrays of the same shape.
      rtol: the tolerance on the relative error.
      atol: the absolute error of ``b`` itself, if any: differences below it always pass.

    Returns:
      A :class:`Comparison` (see there for the definitions).
    """
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    diff = np.abs(a - b)
    scale = np.max(np.abs(b), initial=0.0)
    floor = max(REL_FLOOR * scale, atol / rtol, np.finfo(np.float64).tiny)
    rel = diff / np.maximum(np.abs(b), floor)
    return Comparison(test, reference, _max(diff), _max(rel), _cosine(a, b), rtol)


def _max(v) -> float:
    # NaN must win, so that a NaN gradient fails instead of being skipped.
    return float(np.nan) if np.isnan(v).any() else float(np.max(v, initial=0.0))


def _cosine(a, b) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


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


def _directions(params, count: int | None, seed: int):
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


def _shifted_loss(net, params, x, y, loss, i, name, delta):
    layer = dict(params[i], **{name: params[i][name] + delta})
    return loss_batch(net, [*params[:i], layer, *params[i + 1 :]], x, y, loss)


@partial(jax.jit, static_argnums=(0, 4))
def finite_differences(net: MLP, params, x, y, loss: str, directions, h):
    """Central differences of the loss along directions within each parameter array.

    Args:
      net: the spec (static); params: list of layer dicts; x ``(n, features)``;
      y ``(n, outputs)``; loss: a loss name (static).
      directions: shaped like params with leaves ``(k, *leaf.shape)``: ``k`` directions
        that move that array alone.
      h: the step.

    Returns:
      Shaped like params with leaves ``(k,)``: ``(L(p + h v) - L(p - h v)) / 2h``.
    """
    out = []
    for i, layer in enumerate(directions):
        out.append({})
        for name, dirs in layer.items():
            # L(p + h v) and L(p - h v) in one mapped pass: half the dispatches op by op.
            steps = jnp.concatenate([h * dirs, -h * dirs])
            shifted = partial(_shifted_loss, net, params, x, y, loss, i, name)
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


def _project(grads, directions, k):
    """``grad . v`` for the real directions of each array: leaves ``(k,)``."""
    return jax.tree.map(lambda g, d, n: d[:n].reshape(n, -1) @ g.ravel(), grads, directions, k)


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

    Returns:
      A :class:`GradcheckReport`; ``report.ok`` is the verdict, ``report.table()`` the details.
    """
    name = _dtype_name(dtype)
    _check_args(net, params, loss, grad_fn, directions)
    if directions is None and net.n_params > FULL_FD_MAX_PARAMS:
        directions = DIRECTIONS_PER_ARRAY
    candidate = CANDIDATE if grad_fn is None else getattr(grad_fn, "__name__", "grad_fn")
    with jax.enable_x64(True):
        p = _cast(params, name)
        x, y = _validate.batch(net, p, x, y, loss)
        cand, cand_dtype = _candidate(
            backprop_batch if grad_fn is None else grad_fn, net, p, x, y, loss
        )
        ref = _to_numpy(*autodiff_batch(net, p, x, y, loss))
        # float64 differences at exactly the point the candidate saw (float32 values upcast)
        p64, x64, y64 = _cast((p, x, y), "float64")
        dirs, counts = _directions(p64, directions, seed)
        fd = finite_differences(net, p64, x64, y64, loss, dirs, FD_STEP)
        fd = jax.tree.map(lambda f, n: np.asarray(f)[:n], fd, counts)
        atol = fd_atol(loss_batch(net, p64, x64, y64, loss))
        near = kinks(net, p64, x64, FD_STEP)
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


def _candidate(grad_fn, net, params, x, y, loss):
    """``grad_fn``'s ``(loss_value, grads)`` as float and NumPy after checking its layout, and
    the name of its gradients' least precise dtype."""
    out = grad_fn(net, params, x, y, loss)
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
    _check_layout(params, out[1], "grad_fn")
    dtypes = [np.dtype(getattr(g, "dtype", np.float64)) for g in jax.tree.leaves(out[1])]
    least = min(dtypes, key=lambda d: np.finfo(d).bits if d.kind == "f" else 64)
    return _to_numpy(*out), least.name


def kinks(net: MLP, params, x, h: float = FD_STEP) -> list[int]:
    """For each layer ``l``, how many pre-activations of a kinked activation (:data:`KINKED`)
    a finite-difference step of size ``h`` in layer ``l``'s params may carry across 0.

    A unit step ``h v`` in layer ``l``'s ``w`` or ``b`` moves row ``r`` of ``z_l`` by at most
    ``h * max(|a_{l-1}[r]|, 1)`` (2-norms), and each layer above multiplies that by at most
    ``MAX_SLOPE * |w|_2``; a kinked pre-activation closer to 0 than ``KINK_MARGIN`` times
    that reach may be stepped across.

    Args:
      net: the spec; params: float64 layer dicts; x: ``(batch, features)``; h: the step.

    Returns:
      A list of ``net.depth`` counts (0 where every finite difference is trustworthy).
    """
    acts, zs = [np.asarray(x, np.float64)], []
    for layer, name in zip(params, net.activations):
        zs.append(np.asarray(acts[-1] @ layer["w"] + layer.get("b", 0.0)))
        acts.append(np.asarray(activations.get(name).f(zs[-1])))
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


def output_activation_for(loss: str, activation: str) -> str:
    """The output activation a loss expects: logits for cross-entropy, sigmoid for binary
    cross-entropy, and the hidden activation for mse/sse (the tutorial's all-sigmoid net)."""
    return {"cross_entropy": "identity", "binary_cross_entropy": "sigmoid"}.get(loss, activation)


def random_problem(net: MLP, loss: str, *, batch: int = 4, seed: int = 0):
    """A generic point to check gradients at: params, inputs and targets as float64 NumPy.

    Biases get small random values, so the point is not the special all-zero-bias init;
    inputs are standard normal, so no pre-activation sits exactly on a ReLU kink.

    Args:
      net: the spec; loss: a loss name; batch: rows; seed: seed of everything drawn.

    Returns:
      ``(params, x, y)``: params in :func:`jaxnet.init`'s layout, x ``(batch, features)``,
      y ``(batch, outputs)`` (one-hot rows for cross-entropy, 0/1 for binary cross-entropy).
    """
    _validate.loss_for(net, loss)
    rng = np.random.default_rng(seed)
    params = [
        {k: np.asarray(v, np.float64) for k, v in layer.items()}
        for layer in init(net, jax.random.key(seed), jnp.float32)
    ]
    for layer in params:
        if "b" in layer:
            layer["b"] = 0.1 * rng.standard_normal(layer["b"].shape)
    x = rng.standard_normal((batch, net.sizes[0]))
    n_out = net.sizes[-1]
    if loss == "cross_entropy":
        y = np.eye(n_out)[rng.integers(0, n_out, batch)]
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, (batch, n_out)).astype(np.float64)
    else:
        y = rng.standard_normal((batch, n_out))
    return params, x, y


EDGE_FAMILIES = ("zero inputs", "zero weights", "dead layer", "zero output", "saturated output")
SATURATION = 40.0  # an output pre-activation this far out saturates sigmoid and tanh in float64


def edge_problem(net: MLP, loss: str, family: str, *, batch: int = 4, seed: int = 0):
    """:func:`random_problem` moved to a point where pre-activations sit exactly on kinks or
    activations saturate, the points a hand-written backward pass most often gets wrong.

    Families (:data:`EDGE_FAMILIES`), each with every bias but the named ones set to 0:

    * ``"zero inputs"``: x = 0, so every pre-activation of a ReLU net is exactly 0;
    * ``"zero weights"``: every ``w`` = 0, so every pre-activation is exactly 0;
    * ``"dead layer"``: x > 0, ``w_0 < 0`` and ``b_0 = -1``: the first hidden layer's
      pre-activations are all negative (a dead ReLU layer), so the next one's are exactly 0;
    * ``"zero output"``: the output layer's ``w`` = 0, so its pre-activation is exactly 0;
    * ``"saturated output"``: the output pre-activations are pushed to about +-40 (sigmoid and
      tanh round to their limits).

    Returns:
      ``(params, x, y)`` as :func:`random_problem` does.
    """
    if family not in EDGE_FAMILIES:
        raise ValueError(f"family must be one of {', '.join(EDGE_FAMILIES)}; got {family!r}")
    if family == "dead layer" and net.depth < 2:
        raise ValueError(f"a dead layer needs a hidden layer; got sizes {net.sizes}")
    params, x, y = random_problem(net, loss, batch=batch, seed=seed)
    for layer in params:
        if "b" in layer:
            layer["b"] = np.zeros_like(layer["b"])
    first, last = params[0], params[-1]
    if family == "zero inputs":
        x = np.zeros_like(x)
    elif family == "zero weights":
        for layer in params:
            layer["w"] = np.zeros_like(layer["w"])
    elif family == "dead layer":
        x, first["w"] = np.abs(x) + 0.1, -np.abs(first["w"])
        if "b" in first:
            first["b"] = -np.ones_like(first["b"])
    elif family == "zero output":
        last["w"] = np.zeros_like(last["w"])
    else:  # saturated output: scale the output layer so its smallest |z| is SATURATION
        a = x
        for layer, name in zip(params[:-1], net.activations[:-1]):
            a = np.asarray(activations.get(name).f(a @ layer["w"]), np.float64)
        z = a @ last["w"]
        last["w"] = last["w"] * (SATURATION / max(float(np.min(np.abs(z))), 1e-3))
    return params, x, y


MATRIX_DEPTHS = (1, 2, 3, 4)
EDGE_DEPTH = 3  # the edge families run on nets of this depth, with biases
# Residual nets at depth 4 only: its skips (False, True, True, False) hold both patterns, a
# skip above a layer without one and a skip above a skip, and --all stays under a minute.
RESIDUAL_DEPTHS = (4,)
# Every layer but the input is MATRIX_WIDTH wide and every batch MATRIX_BATCH long: run op by
# op, the whole matrix then shares a handful of array shapes and so of compiled kernels.
MATRIX_WIDTH, MATRIX_INPUTS, MATRIX_BATCH = 4, 3, 5


def matrix_cases() -> list[tuple[MLP, str]]:
    """``(net, loss)`` for every activation x loss x depth in ``MATRIX_DEPTHS`` x bias on/off,
    then the same with ``residual=True`` at ``RESIDUAL_DEPTHS``.

    The output activation is the one the loss expects (:func:`output_activation_for`); for
    mse and sse it is the hidden activation, so each activation's derivative is also checked
    at the output.
    """
    cases = []
    for act, loss, depth, bias in itertools.product(
        sorted(activations.ACTIVATIONS), sorted(losses.LOSSES), MATRIX_DEPTHS, (True, False)
    ):
        sizes = (MATRIX_INPUTS,) + (MATRIX_WIDTH,) * depth
        out = output_activation_for(loss, act)
        cases.append((MLP(sizes, activation=act, output_activation=out, bias=bias), loss))
    # Residual nets: every activation x loss once, the bias alternating so that every
    # activation and every loss meets both (the full product is tests/test_residual.py's slow
    # matrix): --all stays under a minute.
    acts, names = sorted(activations.ACTIVATIONS), sorted(losses.LOSSES)
    residual = [
        (dataclasses.replace(net, residual=True), loss)
        for net, loss in cases
        if net.depth in RESIDUAL_DEPTHS
        and net.bias == ((acts.index(net.activation) + names.index(loss)) % 2 == 0)
    ]
    return cases + residual


def edge_cases() -> list[tuple[MLP, str, str]]:
    """``(net, loss, family)`` for every edge family x activation, the loss rotating, at depth
    ``EDGE_DEPTH`` with biases (output activations as in :func:`matrix_cases`).

    With 9 activations and 4 losses the rotation pairs every family with every loss and every
    activation with every loss: 45 cases instead of the 180 of the full product, which
    tests/test_backprop.py runs (slow) so that --all stays under a minute.
    """
    sizes = (MATRIX_INPUTS,) + (MATRIX_WIDTH,) * EDGE_DEPTH
    names = sorted(losses.LOSSES)
    pairs = itertools.product(EDGE_FAMILIES, sorted(activations.ACTIVATIONS))
    return [
        (MLP(sizes, activation=act, output_activation=output_activation_for(loss, act)), loss, f)
        for i, (f, act) in enumerate(pairs)
        for loss in [names[i % len(names)]]
    ]


def check_matrix(*, dtype=jnp.float64, seed: int = 0) -> Iterator[GradcheckReport]:
    """Run :func:`gradcheck` on every case of :func:`matrix_cases` at a random point, then on
    every case of :func:`edge_cases` at its edge point, yielding each report.

    Hundreds of tiny nets are checked faster op by op than compiled: each compiled program
    would be a new one, while the ops share a few shapes. So each check runs under
    ``jax.disable_jit()``. Zero reference gradients are expected at edge points (a dead
    layer's weights): their warnings are left to each report's :meth:`~GradcheckReport.table`.
    """
    for net, loss in matrix_cases():
        params, x, y = random_problem(net, loss, batch=MATRIX_BATCH, seed=seed)
        with jax.disable_jit():
            yield gradcheck(net, params, x, y, loss, dtype=dtype)
    for net, loss, family in edge_cases():
        params, x, y = edge_problem(net, loss, family, batch=MATRIX_BATCH, seed=seed)
        with jax.disable_jit(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = gradcheck(net, params, x, y, loss, dtype=dtype)
        yield dataclasses.replace(report, point=family)
