"""The search loop: ask the method, claim its tasks, train them, commit, write finished rows.

Round after round the loop reads the search's state from the store, asks the method for a
plan (:mod:`.state`), writes the rows of every config the plan decided (with their kept models,
and their states dropped: one transaction), claims the plan's tasks in the store
(:class:`jaxnet.sweep.driver.Leases`, as a grid claims groups), hands them to the engine and
commits each finished task's rung results, states and lineage in one transaction. A task
stored meanwhile by another process is released, not trained; a process with nothing to
claim waits for the tasks others hold (a halving rung waits for all its configs). A method
that asks for its configs as it goes (an Optuna study) says so in its plan, and the loop has
it ask and store its next batch first. It ends when the plan is done and every decided config
has its row.

Because every decision is recomputed from the store, a process killed at any moment and
rerun (or several processes at once) ends with the rows an uninterrupted run writes.
"""

from __future__ import annotations

import time

from ... import store
from ..driver import Tally, check_identity, group_label, same_data
from ..plan import config_id
from .rows import finished_model, finished_row
from .segment import train_segment
from .state import load_results, load_state


class _Search:
    """State of one search loop run; see :func:`drive_search`."""

    def __init__(self, conn, preflight, method, sweep_id, engine, leases, keeper, log, bar):
        self.conn, self.plan, self.method = conn, preflight, method
        self.name = preflight.sweep.name
        self.metric = preflight.settings["metric"]
        self.sweep_id, self.engine, self.leases = sweep_id, engine, leases
        self.keeper, self.log, self.bar = keeper, log, bar
        self.identity = preflight.prepared.identity  # checked at each claim and commit
        self.running: dict[int, object] = {}  # index -> task
        self.attempts: dict[str, int] = {}
        self.next_index = 0
        self.tally = Tally()

    def step(self, retries: int, poll: float) -> bool:
        """One round: plan, write what is decided, claim and train; False once it is over."""
        state = load_state(self.conn, self.name, self.metric, self.plan.configs)
        plan = self.method.plan(state)
        self._write_finished(state, plan.finished)
        if plan.done and not self.running:
            return False
        if plan.ask and not self.running:  # an Optuna study's next batch: stored, then planned
            self.method.ask(self.conn, state, plan.finished)
            return True
        self._fill(plan.tasks)
        if self.running:
            self._collect(poll, retries)
        elif not plan.done:
            time.sleep(poll)  # every task left is held by another process, or waits on one
        return True

    def _write_finished(self, state, finished: dict) -> None:
        """Rows (and kept models) of decided configs without one, in one transaction."""
        todo = [cid for cid in state.ids if cid in finished and cid not in state.rows]
        if not todo:
            return
        by_id = dict(zip(state.ids, state.configs))
        results = load_results(self.conn, self.name, todo)
        settings = self.plan.settings
        rows = [
            finished_row(
                self.name, by_id[cid], results[cid], finished[cid], self.plan.prepared,
                settings["curve_points"],
            )
            for cid in todo
        ]  # fmt: skip
        models = []
        if self.keeper.keep != 0:
            states = store.member_states(self.conn, self.name, todo)
            for row, cid in zip(rows, todo):
                model = finished_model(row, by_id[cid], states.get(cid), self.plan.prepared)
                models += [model] if model is not None else []
        with same_data(self.conn, self.name, self.identity):
            inserted = store.finish_configs(
                self.conn, self.sweep_id, self.name, rows, models, self.keeper.keep,
                self.keeper.order,
            )  # fmt: skip
        self.tally.trained += inserted
        self.bar.update(inserted)

    def _stored(self, task) -> bool:
        counts = store.stored_rungs(self.conn, self.name, self._ids(task))
        return all(n > task.rung for n in counts.values())

    def _ids(self, task) -> list[str]:
        return [config_id(self.name, c) for c in task.configs]

    def _fill(self, tasks) -> None:
        """Claim and submit tasks while the engine has free slots."""
        held = {t.key for t in self.running.values()}
        for task in tasks:
            if len(self.running) >= self.engine.slots:
                return
            check_identity(self.conn, self.name, self.identity)  # the data is still ours
            if task.key in held or not self.leases.claim(self.name, task.key):
                continue
            if self._stored(task):  # its last holder committed it after we planned
                self.leases.release(self.name, task.key)
                continue
            self._submit(task)
            held.add(task.key)

    def _submit(self, task) -> None:
        states = {}
        if task.start > 0:
            states = store.member_states(self.conn, self.name, self._ids(task))
            for cid in self._ids(task):  # a missing or damaged state stops here, in one line
                if cid not in states:
                    raise store.StoreError(
                        f"{self.name}: config {cid} has no stored state at step {task.start}; "
                        "the store was changed by hand: rerun the sweep into a new store"
                    )
                record = states[cid]
                store.decode_arrays(record["layout"], record["state"], f"state of config {cid}")
        index, self.next_index = self.next_index, self.next_index + 1
        self.running[index] = task
        self.engine.submit_call(index, train_segment, (self.name, task, states))

    def _collect(self, timeout: float, retries: int) -> None:
        for i, outcome in self.engine.wait(timeout):
            task = self.running.pop(i, None)
            if task is None:  # a task reported twice is stored once
                continue
            if isinstance(outcome, BaseException):
                self._failed(task, outcome, retries)
            else:
                self._commit(task, outcome)

    def _failed(self, task, error: BaseException, retries: int) -> None:
        self.attempts[task.key] = self.attempts.get(task.key, 0) + 1
        label = group_label(list(task.configs))
        if self.attempts[task.key] > retries:
            self.leases.release(self.name, task.key)
            raise RuntimeError(
                f"search task {label} (rung {task.rung}) failed {self.attempts[task.key]} "
                f"times; last error: {error}"
            ) from error
        self.tally.retried += 1
        with self.bar.external_write_mode():
            self.log(f"task {label} failed ({type(error).__name__}); running it again")
        self._submit(task)

    def _commit(self, task, result) -> None:
        with same_data(self.conn, self.name, self.identity):
            inserted = store.save_segment(
                self.conn, self.name, result.results, result.states, list(task.lineage)
            )
        self.leases.release(self.name, task.key)
        t = self.tally
        t.groups += 1
        t.compiles += result.compiles
        t.group_seconds += result.seconds
        t.compile_seconds += result.compiling
        note = "" if inserted else " (another process stored it first; theirs is kept)"
        with self.bar.external_write_mode():
            self.log(
                f"[{self.method.name} rung {task.rung}] {group_label(list(task.configs))}: "
                f"steps {task.start}->{task.until}, {result.seconds:.1f} s, of which "
                f"compiling {result.compiling:.1f} s{note}"
            )


def drive_search(conn, preflight, method, sweep_id, engine, leases, keeper, *, retries, log, bar,
                 poll=0.5) -> Tally:  # fmt: skip
    """Run ``method``'s search of the sweep to its end on ``engine``; returns a
    :class:`~jaxnet.sweep.driver.Tally` (``trained``: rows this process wrote; ``groups``:
    segments it trained).

    Args:
      conn: the open store; preflight: the checked sweep; method: a search method (a
        :class:`~.halving.Halving` or :class:`~.pbt.PBT`: anything with ``name`` and
        ``plan(state) -> Plan``); sweep_id: its ``sweeps`` row.
      engine: see :mod:`jaxnet.sweep.engines`; leases: this process's claims.
      keeper: the :class:`~jaxnet.sweep.models.Keeper` of the kept models.
      retries: how often a failed task is submitted again; log: one line per task; bar: a
        tqdm bar over configs; poll: seconds between looks at tasks other processes hold.
    """
    loop = _Search(conn, preflight, method, sweep_id, engine, leases, keeper, log, bar)
    while loop.step(retries, poll):
        pass
    return loop.tally
