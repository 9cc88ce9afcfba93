"""Model-based search with Optuna: batches of trials asked at once, trained as populations.

``[search] method = "optuna"`` searches the ``[random]`` table's space (:mod:`.space`) with
one of Optuna's samplers, ``trials`` trials in all, ``batch`` at a time. Each batch is asked
with Optuna's ask-and-tell interface (:mod:`.study`) and stored in one transaction; its
trials' configs are grouped into programs as a sweep's are (width buckets apply), trained as
populations on any engine, and told back once the whole batch is decided; then the next batch
is asked. A trial whose config an earlier trial already has (a sampler may ask the same point
twice) trains nothing: it is told what that config did.

With ``pruner = "halving"`` each batch is a successive-halving bracket (:class:`.halving.Halving`
on the batch's new configs): trained to the first rung, ranked, the best ``1/factor`` go on,
and so on; the stopped trials are told they were pruned, with their value at each rung as
Optuna's intermediate values. Without a pruner each trial trains to its last step in one
segment.

Like every method here it keeps nothing the store does not hold: its plan is computed from
the stored trials and rung results alone, and the sampler's state is rebuilt by replaying the
stored trials (the study object is kept between calls only as a cache of that replay). A
process killed at any moment and rerun asks no batch twice and trains no trial twice, ending
with the same trials as an uninterrupted run; several processes (or the Ray engine) share one
study on one store, a batch's groups split between them.
"""

from __future__ import annotations

import dataclasses
import json

from ... import store
from ..plan import canonical, config_id, trial_config
from ..spec import MAX_STEPS
from .halving import Halving
from .space import axes_of, distributions
from .state import Plan, SearchState, value_at
from .study import Replayed, make_sampler, require, told


def _batches(trials) -> list[list[dict]]:
    """Stored trials by batch, batch order."""
    out: dict[int, list[dict]] = {}
    for t in trials:
        out.setdefault(t["batch"], []).append(t)
    return [out[b] for b in sorted(out)]


class OptunaSearch:
    """The Optuna method (see the module docstring).

    Args:
      sweep: the spec (its ``[search]`` table and space); task: the dataset's task.
      batch: trials asked at once (:func:`jaxnet.sweep.preparation.study_batch`).
      n_train, max_padding, ends: how configs group into programs
        (:func:`jaxnet.sweep.plan.group`).
    """

    name = "optuna"

    def __init__(self, sweep, task: str, batch: int, n_train: int, max_padding: float, ends):
        s = sweep.search
        self.optuna = require(s["sampler"])
        self.sweep, self.task, self.batch = sweep, task, batch
        self.trials, self.sampler, self.seed = s["trials"], s["sampler"], s["seed"]
        # No pruner: one rung at each config's last step (every config trains to its end).
        first = s["min_steps"] if s["pruner"] == "halving" else MAX_STEPS
        self.bracket = Halving(first, s["factor"], n_train, max_padding, ends)
        self.space = distributions(sweep, self.optuna)
        self._replayed: Replayed | None = None

    def plan(self, state: SearchState) -> Plan:
        """What trains next: the first batch not yet decided (batches in order, each a
        bracket); once every stored batch is decided, ask the next or end."""
        finished, seen = {}, set()
        by_id = dict(zip(state.ids, state.configs))
        for trials in _batches(state.trials):
            new = list(dict.fromkeys(t["config_id"] for t in trials if t["config_id"] not in seen))
            seen.update(new)
            bracket = dataclasses.replace(
                state, ids=tuple(new), configs=tuple(by_id[c] for c in new)
            )
            plan = self.bracket.plan(bracket)
            finished.update(plan.finished)
            if not plan.done:
                return Plan(plan.tasks, finished, False)
        if len(state.trials) < self.trials:
            return Plan([], finished, False, ask=True)
        return Plan([], finished, True)

    def ask(self, conn, state: SearchState, finished: dict) -> int:
        """Ask the next batch and store it (one transaction); how many trials were new.

        Args:
          conn: the open store; state: the search's state, every stored batch decided;
          finished: config id -> fate, from :meth:`plan`.
        """
        stored = [{**t, "params": json.loads(t["params"])} for t in state.trials]
        n = min(self.batch, self.trials - len(stored))
        if n <= 0:
            return 0
        outcomes = {
            t["number"]: told(
                state.results[t["config_id"]], finished[t["config_id"]], state.metric, value_at
            )
            for t in stored
        }
        replayed = self._replayed or Replayed(
            self.optuna, self.space, self.direction(state.metric), self._sampler
        )
        replayed.sync(stored, outcomes)
        self._replayed = replayed
        index = stored[-1]["batch"] + 1 if stored else 0
        rows = []
        for i, params in enumerate(replayed.ask(index, n)):
            config = trial_config(self.sweep, self.task, axes_of(self.sweep, params))
            rows.append(
                {
                    "number": len(stored) + i,
                    "batch": index,
                    "config_id": config_id(self.sweep.name, config),
                    "params": json.dumps(params, sort_keys=True),
                    "config": canonical(config),
                }
            )
        return store.save_trials(conn, self.sweep.name, rows)

    def _sampler(self, batch: int):
        return make_sampler(self.optuna, self.sampler, self.seed, batch, self.batch)

    @staticmethod
    def direction(metric: str) -> str:
        """``"maximize"`` for an accuracy, else ``"minimize"``."""
        return "maximize" if metric.endswith("accuracy") else "minimize"

    def left(self, conn) -> int:
        """Trials of the study still to ask or train (0 once all ``trials`` are done)."""
        return max(0, self.trials - store.finished_trials(conn, self.sweep.name))
