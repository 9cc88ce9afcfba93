"""Hand-written against automatic gradients, side by side in one store: do they agree?

A sweep with ``grads = ["manual", "auto"]`` trains every config twice, once with the
hand-written backward pass and once with ``jax.grad``, as separate programs. Each pair of rows
whose configs differ only in ``grads`` started from the same init and saw the same batches
and dropout masks, so the two runs differ only by float rounding, which training carries
forward step by step. :func:`compare` pairs them and measures how far apart they ended;
:func:`agreement_line` says it in one line for the terminal and the report page. Left out:
pairs that differ in anything else (they are not comparable), and gradients themselves
(``jaxnet gradcheck`` checks those to 1e-12).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from .. import store

# Two runs agree when their final training losses match to this (relative, or absolute for
# losses near 0) and they ended alike (status and steps). Measured: float32 runs of the
# example sweeps differ by 1e-7 to 1e-5 relative; a wrong gradient misses by far more.
RTOL = 1e-3
ATOL = 1e-5


@dataclasses.dataclass(frozen=True)
class Agreement:
    """How far the manual and automatic runs of a sweep's config pairs ended apart.

    Attributes:
      pairs: configs trained both ways; agree: pairs within :data:`RTOL` / :data:`ATOL`
        that ended alike; loss: the largest relative difference of the final training loss;
      curve: the largest absolute difference of the validation loss at any evaluation (NaN
        without validation); accuracy: the largest test-accuracy difference in points (NaN
        without test accuracy); worst: the config id of the manual run of the worst pair.
    """

    pairs: int
    agree: int
    loss: float
    curve: float
    accuracy: float
    worst: str | None


def _pairs(rows: list[dict]) -> list[tuple[dict, dict]]:
    """``(manual, auto)`` rows whose configs are equal but for ``grads``."""
    found: dict[str, dict] = {}
    for row in rows:
        config = store.config_of(row)
        grads = config.pop("grads", "auto")
        found.setdefault(json.dumps(config, sort_keys=True), {})[grads] = row
    return [(v["manual"], v["auto"]) for v in found.values() if len(v) == 2]


def _relative(a, b) -> float:
    if a is None or b is None:
        return np.nan if a is None and b is None else np.inf
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def _max(values) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return max(finite) if finite else np.nan


def compare(rows: list[dict]) -> Agreement | None:
    """The :class:`Agreement` of a sweep's rows; None without a pair to compare."""
    pairs = _pairs(rows)
    if not pairs:
        return None
    loss = [_relative(m["train_loss"], a["train_loss"]) for m, a in pairs]
    curve, accuracy, agree = [], [], 0
    for (m, a), rel in zip(pairs, loss):
        both = np.isfinite(m["val_curve"]) & np.isfinite(a["val_curve"])
        same_length = len(m["val_curve"]) == len(a["val_curve"])
        gap = np.abs(m["val_curve"] - a["val_curve"])[both] if same_length else [np.inf]
        curve.append(float(np.max(gap)) if len(gap) else np.nan)
        if m["test_accuracy"] is not None and a["test_accuracy"] is not None:
            accuracy.append(100 * abs(m["test_accuracy"] - a["test_accuracy"]))
        close = rel <= RTOL or abs((m["train_loss"] or 0) - (a["train_loss"] or 0)) <= ATOL
        alike = (m["status"], m["steps_done"]) == (a["status"], a["steps_done"])
        agree += bool(close and alike)
    worst = pairs[int(np.nanargmax(loss))][0]["config_id"] if not np.all(np.isnan(loss)) else None
    return Agreement(len(pairs), agree, _max(loss), _max(curve), _max(accuracy), worst)


def agreement_line(rows: list[dict]) -> str | None:
    """One line: ``hand-written vs jax.grad: 24 configs trained both ways agree ...``; None
    when no config was trained both ways."""
    found = compare(rows)
    if found is None:
        return None
    verdict = "agree" if found.agree == found.pairs else f"{found.pairs - found.agree} DIFFER"
    parts = [f"final training loss within {found.loss:.1e} (relative)"]
    if not np.isnan(found.curve):
        parts.append(f"validation loss within {found.curve:.1e}")
    if not np.isnan(found.accuracy):
        parts.append(f"test accuracy within {found.accuracy:.2f} points")
    line = (
        f"hand-written vs jax.grad: {found.pairs} configs trained both ways, {verdict}: "
        + ", ".join(parts)
    )
    if found.agree < found.pairs:
        line += f"; worst pair: config {found.worst}"
    return line
