"""The verification report: what :func:`~jaxnet.verification.gradcheck` found, as data and text.

A :class:`Comparison` holds one gradient against a reference on one parameter array; a
:class:`ParamCheck` is the three comparisons of one array (candidate vs jax.grad, candidate vs
finite differences, jax.grad vs finite differences); a :class:`GradcheckReport` is all of them
for one net, with its verdict, a table and a one-line summary. :func:`compare` makes a
:class:`Comparison` from two arrays. The tolerances each dtype is held to live here too.

Everything here is Python and NumPy values, usable after the float64 scope of a check ends.
Left out: computing any gradient (``check`` and ``differences`` do that).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from ..mlp import MLP


class Tolerance(NamedTuple):
    """Largest allowed relative error (see :class:`Comparison`) for one compute dtype."""

    exact: float  # candidate vs jax.grad: one derivative, rounded two ways
    fd: float  # anything vs finite differences: adds their truncation and rounding error


TOLERANCES = {
    "float64": Tolerance(exact=1e-8, fd=1e-5),
    "float32": Tolerance(exact=1e-2, fd=1e-2),
}
REL_FLOOR = 1e-3  # relative errors are taken against max(|ref_i|, REL_FLOOR * max|ref|)

# Names of the three gradients, as the report shows them.
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
        where ``atol`` is their own error (:func:`~jaxnet.verification.differences.fd_atol`),
        so it never asks of them more than they can resolve.
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
    kinks: int = 0  # kinked pre-activations a step in this array may cross (see check.kinks)
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
    """What :func:`~jaxnet.verification.gradcheck` found; ``ok`` is the overall verdict.

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
      point: what kind of point this is: ``"random"`` or one of
        :data:`~jaxnet.verification.EDGE_FAMILIES`.
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

    def __repr__(self) -> str:
        verdict = "ok" if self.ok else f"FAIL at layer {self.first_wrong_layer}"
        if not self.ok and self.first_wrong_layer is None:
            verdict = "FAIL"
        fields = ", ".join(_fields(self.net, self.loss, self.dtype))
        return f"GradcheckReport({verdict}: {self.candidate} on {fields}; .table() has the rest)"

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
    terms += " drop" if net.dropout else ""  # checked at the fixed masks of a key
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
