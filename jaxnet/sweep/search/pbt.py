"""Population-based training: every ``interval`` steps the worst members copy the best.

Each group of the sweep -- configs of one shape that differ in seed, learning rate or init
scale -- is one population. It trains in rounds of ``interval`` steps; after each round its
members are ranked by the sweep's metric on validation at that step (the ``final_`` form:
how good each member is now), and each of the worst ``fraction`` (rounded, at most half)
copies the params and optimizer state of one of the best ``fraction``, drawn at random, and
takes that member's learning rate times one of ``perturb``, drawn at random (exploit and
explore). The copy is a gather over the member axis and the learning rates are data, both
inside the program that takes the states up (:func:`jaxnet.population.resume_segment`), so no
round recompiles anything. A member keeps its own config id, seed and minibatch order; what it
copied, at which step and with which learning rate is its lineage (stored with the round).

The draws come from ``seed``, the group and the round, so a rerun (or another process) makes
the same ones. Groups do not wait for each other: a population's next round depends on its
own last one only. :func:`exploit` is one round's decision on its own.
"""

from __future__ import annotations

import numpy as np

from ..plan import config_id
from .state import Plan, SearchState, Task, ranked, task_key, value_at

# A perturbed learning rate stays within these (float32 holds them; a long run of copies
# multiplied by 1.25 would otherwise overflow).
LR_BOUNDS = (1e-30, 1e30)


def exploit(ids, values, learning_rates, fraction: float, perturb, rng, metric: str):
    """One exploit-and-explore decision over a population.

    Args:
      ids: the members; values: their metric now (NaN: worst); learning_rates: theirs now.
      fraction: the share that copies and the share copied from (0 < fraction <= 0.5).
      perturb: the factors a copied learning rate is multiplied by, one drawn per copy.
      rng: a ``numpy.random.Generator``; metric: the metric's name.

    Returns:
      ``(sources, learning_rates, copies)``: per member, whose state it takes (its own index
      when it does not copy) and its learning rate from now on (within :data:`LR_BOUNDS`);
      ``copies`` lists
      ``(member index, source index)`` pairs.
    """
    n = len(ids)
    k = min(int(n * fraction + 0.5), n // 2)
    order = [list(ids).index(c) for c in ranked(list(ids), list(values), metric)]
    sources, lrs, copies = list(range(n)), [float(r) for r in learning_rates], []
    best, worst = order[:k], order[n - k :] if k else []
    for member in worst:
        source = best[int(rng.integers(len(best)))]
        factor = perturb[int(rng.integers(len(perturb)))]
        rate = min(max(float(learning_rates[source]) * factor, LR_BOUNDS[0]), LR_BOUNDS[1])
        sources[member], lrs[member] = source, rate
        copies.append((member, source))
    return sources, lrs, copies


class PBT:
    """The population-based training method (see the module docstring).

    Args:
      interval, fraction, perturb, seed: the ``[search]`` table's keys; groups: the sweep's
        groups (each one shape: one population).
    """

    name = "pbt"

    def __init__(self, interval: int, fraction: float, perturb, seed: int, groups):
        self.interval, self.fraction, self.perturb, self.seed = interval, fraction, perturb, seed
        self.groups = [list(g) for g in groups]

    def rounds(self, steps: int) -> list[int]:
        """The step at the end of each round of a config of ``steps`` steps."""
        return [*range(self.interval, steps, self.interval), steps]

    def plan(self, state: SearchState) -> Plan:
        """What trains next, and which configs are decided (see :class:`~.state.Plan`)."""
        tasks, finished = [], {}
        for members in self.groups:
            ids = [config_id(state.sweep, c) for c in members]
            done = min(len(state.results[c]) for c in ids)
            ends = self.rounds(members[0]["steps"])
            if done == len(ends):
                last = {c: state.result(c, done - 1) for c in ids}
                finished.update({c: "completed" if last[c]["alive"] else "diverged" for c in ids})
            else:
                tasks.append(self._task(state, members, ids, done, ends))
        return Plan(tasks, finished, not tasks)

    def _task(self, state: SearchState, members, ids, r: int, ends) -> Task:
        """Round ``r`` of one population: the exploit decision from round ``r - 1``'s results."""
        start = 0 if r == 0 else ends[r - 1]
        key = task_key(state.sweep, r, members)
        if r == 0:
            sources = list(range(len(ids)))
            lrs = [c["learning_rate"] for c in members]
            lineage: tuple = ()
        else:
            before = [state.result(c, r - 1) for c in ids]
            values = [value_at([b], state.metric) for b in before]
            now = [b["learning_rate"] for b in before]
            rng = np.random.default_rng([self.seed, r, int(key[:12], 16)])
            sources, lrs, copies = exploit(
                ids, values, now, self.fraction, self.perturb, rng, state.metric
            )
            lineage = tuple(
                {
                    "config_id": ids[m],
                    "step": start,
                    "source": ids[s],
                    "source_learning_rate": float(now[s]),
                    "learning_rate": float(lrs[m]),
                }
                for m, s in copies
            )
        return Task(key, r, tuple(members), start, ends[r], tuple(sources), tuple(lrs), lineage)
