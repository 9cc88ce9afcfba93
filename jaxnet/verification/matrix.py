"""The case matrix of ``jaxnet gradcheck --all``: every activation x loss x depth x bias, then
residual nets, then every edge family, each checked and reported.

:func:`matrix_cases` and :func:`edge_cases` list the cases; :func:`check_matrix` runs
:func:`~jaxnet.verification.gradcheck` on each and yields the reports. Left out: printing them
(the CLI does), and nets of other shapes (one width and one batch, so the matrix shares compiled
kernels).
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from collections.abc import Iterator

import jax
import jax.numpy as jnp

from .. import activations, losses
from ..mlp import MLP
from .check import gradcheck
from .problems import EDGE_FAMILIES, edge_problem, output_activation_for, random_problem
from .report import GradcheckReport

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
