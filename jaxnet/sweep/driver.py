"""The driver loop: claim groups in the store, hand them to an engine, commit rows as they come.

Only the driver writes the store. Before a group is trained it is claimed: a row in the
store's ``claims`` table naming this process and a lease that a background thread renews
while the process lives (:class:`Leases`). Several ``jaxnet sweep`` processes on one store
therefore split the groups between them; a group whose holder was killed is taken over once
its lease expires. A process that has nothing left to claim waits for the groups that others
hold, so every process ends when the whole sweep is stored. A finished group's rows are
committed in one transaction as soon as the engine reports it; a group reported twice (a task
Ray reran) is stored once, and a failed task is submitted again up to ``retries`` times.

:func:`open_sweep` is the store's side of a sweep's start: the identity of its data (a
sweep's name is bound to one dataset: another one under the same name is refused), its row,
and the groups that still have configs to train. The identity is checked again before each
claim and in the transaction that commits each group, so a process that read a data file
another process on the store has since replaced stops instead of mixing the two.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import socket
import sqlite3
import threading
import time

from .. import store
from . import regimen
from .plan import config_id, shape_key
from .preparation import Preflight
from .spec import SweepError, spec_hash


def _gone(holder: str) -> bool:
    """True when ``holder`` names a process of this host that no longer runs.

    A rerun after ``kill -9`` then resumes at once instead of waiting out the dead process's
    lease; a holder on another host is trusted until its lease expires.
    """
    parts = holder.rsplit(":", 2)  # host:pid:nonce, as Leases names its holder
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = parts[1]
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class Leases:
    """This process's claims on groups, renewed every ``lease / 3`` seconds by a thread.

    Args:
      conn: the driver's open store (used from the driver's thread only).
      store_path: the store's file; the renewing thread opens its own connection to it.
      lease: seconds a claim lasts without renewal; the time others wait for a dead holder.
    """

    def __init__(self, conn, store_path, lease: float):
        if not isinstance(lease, (int, float)) or isinstance(lease, bool) or not lease > 0:
            raise ValueError(f"lease must be a positive number of seconds; got {lease!r}")
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
        self.lease = float(lease)
        self._conn, self._path = conn, store_path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="jaxnet-leases", daemon=True)

    def _renew(self) -> None:
        conn = store.connect(self._path)
        try:
            while not self._stop.wait(self.lease / 3):
                try:
                    store.renew_claims(conn, self.holder, time.time() + self.lease)
                except sqlite3.Error:  # the store was busy: the next renewal comes in time
                    pass
        finally:
            conn.close()

    def claim(self, sweep: str, shape: str) -> bool:
        """Claim a group: free, expired, or held by a process of this host that is gone."""
        now = time.time()
        if store.claim(self._conn, sweep, shape, self.holder, self.lease, now):
            return True
        holder = store.claim_holder(self._conn, sweep, shape)
        if holder is None or not _gone(holder):
            return False
        return store.take_over_claim(
            self._conn, sweep, shape, holder, self.holder, now + self.lease
        )

    def release(self, sweep: str, shape: str) -> None:
        store.release_claim(self._conn, sweep, shape, self.holder)

    def __enter__(self) -> Leases:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        store.release_claims(self._conn, self.holder)  # others need not wait for the leases


@dataclasses.dataclass
class Tally:
    """What the driver did: configs and groups trained here, and by other processes."""

    trained: int = 0
    groups: int = 0
    compiles: int = 0
    group_seconds: float = 0.0
    compile_seconds: float = 0.0
    elsewhere: int = 0
    retried: int = 0


def tier_note(result) -> str:
    """``programs at tier 1: 2, tier 2: 1 (1 switched)``: what a group's programs ran as."""
    n1, n2 = result.tiers.get(1, 0), result.tiers.get(2, 0)
    switched = f" ({result.switches} switched)" if result.switches else ""
    return f"programs at tier 1: {n1}, tier 2: {n2}{switched}"


def group_label(configs: list[dict]) -> str:
    c = configs[0]
    mark = "+res" if c.get("residual") else ""
    widths = dict.fromkeys(("-".join(map(str, k["hidden"])) or "linear") + mark for k in configs)
    hidden = "|".join(widths)  # a width bucket lists each of its members' widths
    return (
        f"{hidden} {c['activation']} {c['optimizer']} batch {c['batch_size']} "
        f"{c['steps']} steps{regimen.label(c)} x{len(configs)}"
    )


def shape_id(configs: list[dict], n_train: int) -> str:
    """The claim key of a group: a hash of its compiled shape (the same in every process)."""
    return hashlib.sha256(shape_key(configs[0], n_train).encode()).hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class Opened:
    """A sweep's place in the store: its row, and what is left to train.

    Attributes:
      sweep_id: the sweep row (one per distinct source text of the sweep's name).
      groups: the configs with no stored row, grouped as the preflight grouped all configs
        (groups with nothing left are dropped).
      claims: each group's claim key, :func:`shape_id` of the whole group it comes from, so
        every process on the store names a group alike whatever it finds stored.
      identity: the data identity this process trains on (checked at each claim and commit).
    """

    sweep_id: int
    groups: list
    claims: list
    identity: str | None = None

    @property
    def todo(self) -> int:
        """How many configs have no stored row."""
        return sum(len(g) for g in self.groups)


def open_sweep(conn, plan: Preflight) -> Opened:
    """Bind the sweep's name to its data in the store, record the sweep; find what is left.

    Nothing is written when the data is refused.

    Raises:
      SweepError: the store holds runs of this sweep's name trained on other data (another
        dataset, or its file has changed since).
    """
    sweep, identity = plan.sweep, plan.prepared.identity
    if identity is not None:
        _check_stored_dataset(conn, plan)
        recorded = store.check_data_identity(conn, sweep.name, identity)
        if recorded:
            raise SweepError(_other_data(sweep.name, recorded, identity, conn))
    sweep_id = store.add_sweep(conn, sweep.name, sweep.source, spec_hash(sweep))
    done = store.done_config_ids(conn, sweep.name)
    left = [[c for c in g if config_id(sweep.name, c) not in done] for g in plan.groups]
    kept = [i for i, g in enumerate(left) if g]
    claims = [shape_id(plan.groups[i], plan.n_train) for i in kept]
    return Opened(sweep_id, [left[i] for i in kept], claims, identity)


def _store_file(conn) -> str:
    return conn.execute("PRAGMA database_list").fetchone()[2]


def _other_data(name: str, recorded: str, identity: str, conn) -> str:
    """The one line that refuses a sweep name whose stored runs were trained on other data."""
    where = _store_file(conn)
    same_kind = recorded.split()[0] == identity.split()[0] != "builtin"
    if same_kind and _digest(recorded) != _digest(identity):
        what = f"its data file changed since its stored runs in {where} were trained"
    elif same_kind:
        what = f"its stored runs in {where} were trained on the same file with another target/task"
    else:
        what = f"its stored runs in {where} were trained on other data"
    return (
        f"sweep {name!r}: {what} (stored: {_short(recorded)}; now: {_short(identity)}); give "
        f'this sweep a new name (e.g. name = "{name}-2") or use another store'
    )


def _digest(identity: str) -> str | None:
    words = [w for w in identity.split() if w.startswith("sha256=")]
    return words[0] if words else None


def _short(identity: str) -> str:
    """An identity for a message: its SHA-256 to 12 digits, an unset task left out."""
    words = [w[:19] if w.startswith("sha256=") else w for w in identity.split()]
    return " ".join(w for w in words if w != "task=None")


def _check_stored_dataset(conn, plan: Preflight) -> None:
    """Rows stored before data identities covered built-in datasets name their dataset only."""
    sweep = plan.sweep
    if store.data_identity(conn, sweep.name) is not None:
        return
    others = [d for d in store.stored_datasets(conn, sweep.name) if d != sweep.dataset]
    if others:
        raise SweepError(
            _other_data(sweep.name, f"dataset {others[0]}", plan.prepared.identity, conn)
        )


def check_identity(conn, name: str, identity: str | None) -> None:
    """Refuse to go on when the store's data identity for ``name`` is no longer ``identity``:
    another process started the sweep on other data (a data file changed since this one read
    it) before any group was stored.

    Raises:
      SweepError: naming both identities; nothing of this process's groups is stored after.
    """
    recorded = None if identity is None else store.data_identity(conn, name)
    if recorded is not None and recorded != identity:
        raise SweepError(_changed_meanwhile(name, recorded, identity))


@contextlib.contextmanager
def same_data(conn, name: str, identity: str | None):
    """A write transaction in which the store's data identity for ``name`` is ``identity``:
    what is stored inside it was trained on the data the store records.

    Raises:
      SweepError: another process started the sweep on other data meanwhile; nothing of
        the block is stored.
    """
    if identity is None:
        yield
        return
    with store.identity_held(conn, name) as recorded:
        if recorded is not None and recorded != identity:
            raise SweepError(_changed_meanwhile(name, recorded, identity))
        yield


def _changed_meanwhile(name: str, recorded: str, identity: str) -> str:
    return (
        f"sweep {name!r}: another process started it on other data while this one trained "
        f"(the store now records {_short(recorded)}; this process read {_short(identity)}): "
        "this process "
        "stops without storing its groups, so the sweep's rows never mix two datasets; "
        "rerun it to train on the data the store records"
    )


class _Loop:
    """State of one driver run; see :func:`drive`."""

    def __init__(self, conn, opened: Opened, name, engine, leases, retries, log, bar, keeper):
        self.conn, self.sweep_id, self.name = conn, opened.sweep_id, name
        self.keeper = keeper
        self.groups, self.engine, self.leases = opened.groups, engine, leases
        self.retries, self.log, self.bar = retries, log, bar
        self.shapes, self.identity = opened.claims, opened.identity
        self.waiting = list(range(len(self.groups)))  # neither claimed by us nor known to be stored
        self.running: dict[int, list[dict]] = {}  # claimed and submitted: index -> configs
        self.attempts: dict[int, int] = {}
        self.committed: set[int] = set()
        self.tally = Tally()

    def _missing(self, i: int) -> list[dict]:
        done = store.done_config_ids(self.conn, self.name)
        return [c for c in self.groups[i] if config_id(self.name, c) not in done]

    def _stored_elsewhere(self, i: int) -> None:
        self.waiting.remove(i)
        self.tally.elsewhere += len(self.groups[i])
        self.bar.update(len(self.groups[i]))

    def fill(self) -> None:
        """Claim and submit waiting groups while the engine has free slots."""
        for i in list(self.waiting):
            if len(self.running) >= self.engine.slots:
                return
            if not self._missing(i):
                self._stored_elsewhere(i)
                continue
            check_identity(self.conn, self.name, self.identity)
            if self.leases.claim(self.name, self.shapes[i]):
                missing = self._missing(i)  # again: its last holder may have just committed it
                if not missing:
                    self.leases.release(self.name, self.shapes[i])
                    self._stored_elsewhere(i)
                    continue
                self.waiting.remove(i)
                self.running[i] = missing
                self.engine.submit(i, missing)

    def collect(self, timeout: float) -> None:
        """Commit (or resubmit) what the engine finished within ``timeout`` seconds."""
        for i, outcome in self.engine.wait(timeout):
            if i in self.committed:  # a task reported twice is stored once
                continue
            if isinstance(outcome, BaseException):
                self._failed(i, outcome)
            else:
                self._commit(i, outcome)

    def _failed(self, i: int, error: BaseException) -> None:
        self.attempts[i] = self.attempts.get(i, 0) + 1
        label = group_label(self.running[i])
        if self.attempts[i] > self.retries:
            raise RuntimeError(
                f"group {label} failed {self.attempts[i]} times; last error: {error}"
            ) from error
        self.tally.retried += 1
        with self.bar.external_write_mode():
            self.log(f"group {label} failed ({type(error).__name__}); running it again")
        self.engine.submit(i, self.running[i])

    def _store(self, result) -> int:
        if self.keeper is None:
            return store.insert_runs(self.conn, self.sweep_id, result.rows)
        # the rows and the models kept of them: one transaction
        return self.keeper.insert(self.conn, self.sweep_id, result.rows, result.params)

    def _insert(self, result) -> int:
        """Store one group's rows (and kept models) if the sweep's data is still this
        process's data: the look and the write in one transaction."""
        with same_data(self.conn, self.name, self.identity):
            return self._store(result)

    def _commit(self, i: int, result) -> None:
        configs = self.running.pop(i)
        inserted = self._insert(result)
        self.leases.release(self.name, self.shapes[i])
        self.committed.add(i)
        t = self.tally
        t.trained, t.groups, t.compiles = (
            t.trained + inserted,
            t.groups + 1,
            t.compiles + result.compiles,
        )
        t.group_seconds += result.seconds
        t.compile_seconds += result.compiling
        t.elsewhere += len(self.groups[i]) - len(configs)
        self.bar.update(len(self.groups[i]))
        n = len(self.committed)
        self.bar.set_description(f"{n}/{len(self.groups)} groups")
        with self.bar.external_write_mode():
            self.log(
                f"[{n}/{len(self.groups)}] {group_label(configs)}: {result.seconds:.1f} s, "
                f"of which compiling {result.compiling:.1f} s; {tier_note(result)}"
            )


def drive(conn, opened: Opened, name, engine, leases, *, retries, log, bar, poll=0.5, keeper=None):
    """Train the groups left in ``opened`` on ``engine`` and commit their rows; returns a
    :class:`Tally`.

    Args:
      conn: the open store; opened: :func:`open_sweep`'s answer; name: the sweep's name.
      engine: see :mod:`.engines`; leases: this process's :class:`Leases`.
      retries: how often a failed task is submitted again before the sweep stops.
      log: called with one line per committed group; bar: a tqdm bar over members.
      poll: seconds between looks at groups other processes hold.
      keeper: a :class:`~.models.Keeper` that keeps the trained params of the best configs
        with their rows; None keeps none.
    """
    loop = _Loop(conn, opened, name, engine, leases, retries, log, bar, keeper)
    bar.set_description(f"0/{len(opened.groups)} groups")
    while loop.waiting or loop.running:
        loop.fill()
        if loop.running:
            loop.collect(poll)
        elif loop.waiting:
            time.sleep(poll)  # every group left is held by another process: wait or take over
    return loop.tally
