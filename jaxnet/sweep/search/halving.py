"""Successive halving over training steps: at every rung only the best 1/factor go on.

Rungs are at ``min_steps * factor**k`` steps (rounded, distinct) below each config's
``steps``, and its last step is its last rung. At rung ``k`` the configs that reached it --
every config at rung 0, the promoted ones after -- are ranked sweep-wide (across groups) by the
sweep's metric measured on validation at that rung; the best ``floor(n / factor)`` (at least
one) go on to rung ``k + 1`` and the others stop there: their rows say ``"pruned"`` with the
metrics at the rung. A config whose last step is the rung completes; one that diverged stops.
Configs are ranked only once every config that reached a rung has its result there, so the
decision is the same whichever processes trained which groups, and in which order.

At rung 0 the configs train in the sweep's groups (one compiled program each, width buckets
included); from then on the survivors of a rung are grouped again
(:func:`jaxnet.sweep.plan.group`), their states padded into the new buckets, so a stopped
member costs nothing: it is not in any later program. :func:`promote` is the rung decision on
its own, for any method that prunes this way (an Optuna study's ``pruner = "halving"``).
"""

from __future__ import annotations

import math

from ..plan import config_id, group
from ..preparation import MAX_RUNGS, rung_count
from .state import Plan, SearchState, Task, ranked, task_key, value_at


def rung_steps(min_steps: int, factor: float, steps: int) -> list[int]:
    """A config's rungs: ``round(min_steps * factor**k)`` below ``steps``, then ``steps``.

    Raises:
      ValueError: more than :data:`MAX_RUNGS` rungs (the preflight refuses such a file first).
    """
    if rung_count(min_steps, factor, steps) > MAX_RUNGS:
        raise ValueError(
            f"min_steps {min_steps} and factor {factor!r} make more than {MAX_RUNGS} rungs "
            f"below {steps} steps"
        )
    rungs: list[int] = []
    value = float(min_steps)
    while value < steps:  # a float: a huge factor overflows to inf, which ends the loop
        r = int(round(value))
        if r < steps and (not rungs or r > rungs[-1]):
            rungs.append(r)
        value *= factor
    return rungs + [steps]


def promote(ids, values, factor: float, metric: str) -> list:
    """The rung decision: the best ``floor(len(ids) / factor)`` (at least one) of ``ids``.

    Args:
      ids: the configs that reached the rung and have steps left; values: their metric there
        (NaN: worst); factor: > 1; metric: its name (accuracies rank high first).

    Returns:
      The promoted ids, best first; ties go to the earlier id in ``ids``.
    """
    if not ids:
        return []
    keep = max(1, math.floor(len(ids) / factor))
    return ranked(list(ids), list(values), metric)[:keep]


class Halving:
    """The successive-halving method (see the module docstring).

    Args:
      min_steps, factor: the ``[search]`` table's keys; n_train, max_padding, ends: how the
        sweep groups configs into programs (:func:`jaxnet.sweep.plan.group`).
    """

    name = "halving"

    def __init__(self, min_steps: int, factor: float, n_train: int, max_padding: float, ends):
        self.min_steps, self.factor = min_steps, factor
        self._grouping = (n_train, max_padding, ends)

    def rungs(self, config: dict) -> list[int]:
        """The steps of ``config``'s rungs."""
        return rung_steps(self.min_steps, self.factor, config["steps"])

    def plan(self, state: SearchState) -> Plan:
        """What trains next, and which configs are decided (see :class:`~.state.Plan`)."""
        by_id = dict(zip(state.ids, state.configs))
        reached, finished, k = list(state.ids), {}, 0
        while reached:
            missing = [c for c in reached if state.result(c, k) is None]
            if missing:
                return Plan(self._tasks(state, reached, missing, k, by_id), finished, False)
            going = []
            for cid in reached:
                result, last = state.result(cid, k), self.rungs(by_id[cid])[k]
                if not result["alive"]:
                    finished[cid] = "diverged"
                elif last == by_id[cid]["steps"]:
                    finished[cid] = "completed"
                else:
                    going.append(cid)
            values = [value_at(state.results[c][: k + 1], state.metric) for c in going]
            promoted = promote(going, values, self.factor, state.metric)
            finished.update({c: "pruned" for c in going if c not in promoted})
            reached, k = [c for c in state.ids if c in set(promoted)], k + 1
        return Plan([], finished, True)

    def _tasks(self, state, reached, missing, k: int, by_id) -> list:
        """Tasks of rung ``k``: the configs that reached it, grouped into programs as a
        whole (so every process names the same groups), those with a stored result left out."""
        configs = [by_id[c] for c in reached]
        left = set(missing)
        tasks = []
        for members in group(configs, *self._grouping):
            todo = [c for c in members if config_id(state.sweep, c) in left]
            if not todo:
                continue
            start = 0 if k == 0 else self.rungs(todo[0])[k - 1]
            tasks.append(
                Task(
                    key=task_key(state.sweep, k, members),
                    rung=k,
                    configs=tuple(todo),
                    start=start,
                    until=self.rungs(todo[0])[k],
                    sources=tuple(range(len(todo))),
                    learning_rates=tuple(c["learning_rate"] for c in todo),
                )
            )
        return tasks
