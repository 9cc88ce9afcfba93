"""Gradient verification: a hand-written backward pass against ``jax.grad`` and finite differences.

:func:`gradcheck` computes the gradient of one batch's loss three ways -- the candidate
(jaxnet's hand-written backprop, or your own ``grad_fn``), ``jax.grad``, and central finite
differences in float64 -- and compares them on every parameter array; the
:class:`GradcheckReport` says, layer by layer, whether the candidate is right and, if not, the
layer where it first goes wrong. ``jaxnet gradcheck --all`` runs :func:`check_matrix`.

One concept a module, imports flowing one way:

* ``report``: :class:`Tolerance`, :class:`Comparison`, :class:`ParamCheck`,
  :class:`GradcheckReport` (its table, verdict and summary) and :func:`compare`;
* ``differences``: :func:`unit_directions`, :func:`finite_differences`, :func:`fd_atol`;
* ``check``: :func:`gradcheck` itself, :func:`kinks`, the candidate's checks;
* ``problems``: :func:`random_problem`, :func:`edge_problem` (:data:`EDGE_FAMILIES`),
  :func:`output_activation_for`;
* ``matrix``: :func:`matrix_cases`, :func:`edge_cases`, :func:`check_matrix`.

The package sits above ``backward`` and ``grads``; the training path never imports it.
Left out: second derivatives (``jax.test_util.check_grads`` does those) and jit-versus-eager
checks.
"""

from .check import DIRECTIONS_PER_ARRAY, FULL_FD_MAX_PARAMS, KINKED, gradcheck, kinks
from .differences import FD_STEP, fd_atol, finite_differences, unit_directions
from .matrix import EDGE_DEPTH, check_matrix, edge_cases, matrix_cases
from .problems import EDGE_FAMILIES, edge_problem, output_activation_for, random_problem
from .report import (
    REL_FLOOR,
    TOLERANCES,
    Comparison,
    GradcheckReport,
    ParamCheck,
    Tolerance,
    compare,
)

__all__ = [
    "DIRECTIONS_PER_ARRAY",
    "EDGE_DEPTH",
    "EDGE_FAMILIES",
    "FD_STEP",
    "FULL_FD_MAX_PARAMS",
    "KINKED",
    "REL_FLOOR",
    "TOLERANCES",
    "Comparison",
    "GradcheckReport",
    "ParamCheck",
    "Tolerance",
    "check_matrix",
    "compare",
    "edge_cases",
    "edge_problem",
    "fd_atol",
    "finite_differences",
    "gradcheck",
    "kinks",
    "matrix_cases",
    "output_activation_for",
    "random_problem",
    "unit_directions",
]
