"""What a search method reads and what it answers: the stored state, tasks and plans.

A method (:mod:`.halving`, :mod:`.pbt`) is asked, again and again, "given what the store
holds, what runs next?" It reads a :class:`SearchState` -- every config of the sweep, every
rung result stored so far (a config's segments, one per rung), which configs have their row --
and answers with a :class:`Plan`: the :class:`Task` segments to train next (configs of one
compiled program, from one step to another, which state each slot takes and with which
learning rate), the configs whose fate is decided (completed, pruned or diverged), and whether
the search is over. A method keeps nothing between calls, so any process, at any moment,
computes the same plan from the same store: that is what lets a killed search resume and
several processes share one.

Left out: training (:mod:`.segment`), the store's rows (:mod:`.rows`) and the loop that
claims, trains and commits (:mod:`.loop`).
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from ... import store
from ..plan import config_id


@dataclasses.dataclass(frozen=True)
class Task:
    """One segment of training: configs that share one compiled program, from ``start`` to
    ``until`` steps.

    Attributes:
      key: the claim key, the same in every process that plans this task.
      rung: which rung (halving) or round (PBT) the segment ends at.
      configs: the P configs (file order within the task).
      start, until: the segment's first and last step; ``start`` 0 starts fresh members.
      sources: ``(P,)`` which config's stored state each slot takes (``range(P)``: its own).
      learning_rates: ``(P,)`` each slot's learning rate in this segment.
      lineage: PBT copies to store with the results (see :func:`jaxnet.store.save_segment`).
    """

    key: str
    rung: int
    configs: tuple
    start: int
    until: int
    sources: tuple
    learning_rates: tuple
    lineage: tuple = ()


@dataclasses.dataclass(frozen=True)
class Plan:
    """A method's answer (see the module docstring).

    Attributes:
      tasks: segments ready to train (their inputs are stored), in order.
      finished: config id -> ``"completed"``, ``"pruned"`` or ``"diverged"``, for every config
        whose fate is decided, whether its row is written yet or not.
      done: every config's fate is decided: the search is over once their rows are written.
    """

    tasks: list
    finished: dict
    done: bool


def task_key(sweep: str, rung: int, configs) -> str:
    """The claim key of a segment: its rung and its configs, hashed (32 hex digits)."""
    ids = " ".join(config_id(sweep, c) for c in configs)
    return hashlib.sha256(f"{sweep}\nrung {rung}\n{ids}".encode()).hexdigest()[:32]


def _decoded(result: dict) -> dict:
    """A stored rung result with its evaluations as arrays."""
    out = dict(result)
    out["eval_step"] = np.frombuffer(result["eval_step"], "<i8")
    out["val_loss"] = np.frombuffer(result["val_loss"], "<f8")
    out["val_accuracy"] = np.frombuffer(result["val_accuracy"], "<f8")
    if "loss" in result:
        out["loss"] = np.frombuffer(result["loss"], "<f4").astype(np.float64)
    return out


@dataclasses.dataclass(frozen=True)
class SearchState:
    """A sweep's search as the store holds it.

    Attributes:
      sweep: the sweep's name; metric: what ranks configs (a validation metric).
      configs: every config, file order; ids: their config ids.
      results: config id -> its rung results, rung order (evaluations decoded).
      rows: config ids that have their row.
    """

    sweep: str
    metric: str
    configs: tuple
    ids: tuple
    results: dict
    rows: frozenset

    def result(self, cid: str, rung: int) -> dict | None:
        """Config ``cid``'s result at ``rung``, or None."""
        found = self.results.get(cid, ())
        return found[rung] if rung < len(found) and found[rung]["rung"] == rung else None


def load_state(conn, sweep: str, metric: str, configs) -> SearchState:
    """The :class:`SearchState` of ``sweep`` in an open store (no per-step losses read)."""
    ids = tuple(config_id(sweep, c) for c in configs)
    results: dict[str, list] = {cid: [] for cid in ids}
    for r in store.rung_results(conn, sweep):
        if r["config_id"] in results:
            results[r["config_id"]].append(_decoded(r))
    rows = frozenset(store.done_config_ids(conn, sweep))
    return SearchState(sweep, metric, tuple(configs), ids, results, rows)


def load_results(conn, sweep: str, ids) -> dict:
    """Every rung result of the given configs, per-step losses included (for their rows)."""
    found = store.config_results(conn, sweep, ids)
    return {cid: [_decoded(r) for r in rs] for cid, rs in found.items()}


def _higher_is_better(metric: str) -> bool:
    return metric.endswith("accuracy")  # as jaxnet.sweep.rank ranks (the read side)


def value_at(results: list, metric: str) -> float:
    """The metric of a config after the rung results given, NaN when it has none.

    ``best_*`` looks at every evaluation so far, ``final_*`` at the last; ``*_loss`` and
    ``*_accuracy`` read the validation loss or accuracy.
    """
    column = "val_accuracy" if metric.endswith("accuracy") else "val_loss"
    if metric.startswith("final_"):
        values = results[-1][column][-1:] if results and len(results[-1][column]) else []
    else:
        values = np.concatenate([r[column] for r in results]) if results else []
    finite = np.asarray(values, np.float64)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return float("nan")
    if metric.startswith("final_"):
        return float(finite[-1])
    return float(finite.max() if _higher_is_better(metric) else finite.min())


def ranked(ids, values, metric: str) -> list:
    """``ids`` best first by ``values`` (NaN last); ties keep the given order."""
    sign = -1.0 if _higher_is_better(metric) else 1.0
    keyed = [
        (not np.isfinite(v), sign * v if np.isfinite(v) else 0.0, i) for i, v in enumerate(values)
    ]
    return [ids[i] for *_, i in sorted(keyed)]
