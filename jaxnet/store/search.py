"""A search's state in the store: rung results, member states at rung boundaries, PBT lineage.

A search (:mod:`jaxnet.sweep.search`) trains its configs in segments and decides between them
which go on. Everything it decides from is here, so a process killed at any moment (or
several processes on one store) resumes mid-search:

* ``searches(sweep, method, settings)``: the method and its settings the sweep ran with; a
  rerun with other ones is refused rather than mixing two searches' decisions.
* ``rung_results``: one row per (config, rung): the segment that brought the config there --
  its start and end step, whether it lives, its learning rate, the train and test metrics at
  the end, the training loss of each step (float32 bytes) and its validation evaluations
  (steps, loss, accuracy as float64 bytes), and what ran it (``task``, ``info`` JSON).
* ``member_states``: the latest state (params and optimizer state, :mod:`.arrays`) of every
  config still running, replaced at each rung boundary, deleted when the config's row is
  written.
* ``lineage``: PBT's exploit copies: which config copied which, at which step, and the
  learning rates before and after.

Writes are one transaction each: a task's results, states and lineage
(:func:`save_segment`); a finished config's row, model, and the end of its state
(:func:`finish_configs`). Tables are created on first use (stores written before them keep
working) and read-only opens never write.
"""

from __future__ import annotations

import sqlite3

from .connection import writing
from .models import write_models
from .runs import add_runs
from .schema import now

TABLES = (
    """CREATE TABLE IF NOT EXISTS searches (
  sweep TEXT PRIMARY KEY, method TEXT NOT NULL, settings TEXT NOT NULL, created TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS rung_results (
  sweep TEXT NOT NULL, config_id TEXT NOT NULL, rung INTEGER NOT NULL, start INTEGER NOT NULL,
  step INTEGER NOT NULL, alive INTEGER NOT NULL, learning_rate REAL NOT NULL,
  train_loss REAL, train_accuracy REAL, test_loss REAL, test_accuracy REAL,
  loss BLOB NOT NULL, eval_step BLOB NOT NULL, val_loss BLOB NOT NULL, val_accuracy BLOB NOT NULL,
  task TEXT NOT NULL, info TEXT NOT NULL, created TEXT NOT NULL,
  PRIMARY KEY (sweep, config_id, rung))""",
    """CREATE TABLE IF NOT EXISTS member_states (
  sweep TEXT NOT NULL, config_id TEXT NOT NULL, step INTEGER NOT NULL, layout TEXT NOT NULL,
  state BLOB NOT NULL, PRIMARY KEY (sweep, config_id))""",
    """CREATE TABLE IF NOT EXISTS lineage (
  sweep TEXT NOT NULL, config_id TEXT NOT NULL, step INTEGER NOT NULL, source TEXT NOT NULL,
  source_learning_rate REAL NOT NULL, learning_rate REAL NOT NULL, created TEXT NOT NULL,
  PRIMARY KEY (sweep, config_id, step))""",
)
RESULT_COLUMNS = (
    "config_id", "rung", "start", "step", "alive", "learning_rate", "train_loss",
    "train_accuracy", "test_loss", "test_accuracy", "loss", "eval_step", "val_loss",
    "val_accuracy", "task", "info",
)  # fmt: skip
LINEAGE_COLUMNS = ("config_id", "step", "source", "source_learning_rate", "learning_rate")
# Read to decide: everything but the per-step loss, which only a finished row needs.
_LIGHT = ", ".join(c for c in RESULT_COLUMNS if c != "loss")


def _create(conn: sqlite3.Connection) -> None:
    for table in TABLES:
        conn.execute(table)


def _exists(conn: sqlite3.Connection, table: str) -> bool:
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return conn.execute(sql, (table,)).fetchone() is not None


def record_search(conn: sqlite3.Connection, sweep: str, method: str, settings: str):
    """Record the search a sweep runs with; ``(method, settings)`` stored before, when they
    differ from these and the sweep has rung results or rows (the caller refuses), else None.

    Args:
      settings: the search's checked settings as canonical JSON.
    """
    with writing(conn):
        _create(conn)
        row = conn.execute(
            "SELECT method, settings FROM searches WHERE sweep = ?", (sweep,)
        ).fetchone()
        if row is not None and (row[0], row[1]) != (method, settings):
            used = conn.execute(
                "SELECT 1 FROM rung_results WHERE sweep = ? LIMIT 1", (sweep,)
            ).fetchone()
            if used:
                return row[0], row[1]
        conn.execute(
            "INSERT INTO searches (sweep, method, settings, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (sweep) DO UPDATE SET method = excluded.method, "
            "settings = excluded.settings",
            (sweep, method, settings, now()),
        )
    return None


def search_of(conn: sqlite3.Connection, sweep: str) -> tuple[str, str] | None:
    """``(method, settings JSON)`` a sweep ran with, or None (a grid sweep, or an older store)."""
    if not _exists(conn, "searches"):
        return None
    row = conn.execute("SELECT method, settings FROM searches WHERE sweep = ?", (sweep,)).fetchone()
    return None if row is None else (row[0], row[1])


def save_segment(conn, sweep: str, results: list[dict], states: list[dict], lineage: list[dict]):
    """One task's rung results, its members' new states and its lineage in ONE transaction.

    Args:
      results: dicts with every key of :data:`RESULT_COLUMNS` (blobs as bytes, info JSON).
      states: dicts ``config_id``, ``step``, ``layout`` (JSON), ``state`` (bytes).
      lineage: dicts with every key of :data:`LINEAGE_COLUMNS`.

    Returns:
      How many rung results were new (0: another process stored this task first).
    """
    cols = (*RESULT_COLUMNS, "sweep", "created")
    with writing(conn):
        _create(conn)
        before = conn.total_changes
        conn.executemany(
            f"INSERT INTO rung_results ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
            "ON CONFLICT (sweep, config_id, rung) DO NOTHING",
            [(*(r[c] for c in RESULT_COLUMNS), sweep, now()) for r in results],
        )
        inserted = conn.total_changes - before
        if inserted:
            conn.executemany(
                "INSERT INTO member_states (sweep, config_id, step, layout, state) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (sweep, config_id) DO UPDATE SET "
                "step = excluded.step, layout = excluded.layout, state = excluded.state",
                [(sweep, s["config_id"], s["step"], s["layout"], s["state"]) for s in states],
            )
            lcols = (*LINEAGE_COLUMNS, "sweep", "created")
            conn.executemany(
                f"INSERT INTO lineage ({', '.join(lcols)}) VALUES "
                f"({', '.join('?' for _ in lcols)}) ON CONFLICT DO NOTHING",
                [(*(e[c] for c in LINEAGE_COLUMNS), sweep, now()) for e in lineage],
            )
    return inserted


def rung_results(conn: sqlite3.Connection, sweep: str, with_loss: bool = False) -> list[dict]:
    """Every rung result of a sweep, by config and rung (blobs as bytes); the per-step loss
    only ``with_loss`` (a finished row needs it, a decision does not)."""
    if not _exists(conn, "rung_results"):
        return []
    columns = "*" if with_loss else _LIGHT
    sql = f"SELECT {columns} FROM rung_results WHERE sweep = ? ORDER BY config_id, rung"
    return [dict(r) for r in conn.execute(sql, (sweep,))]


def config_results(conn: sqlite3.Connection, sweep: str, config_ids) -> dict[str, list[dict]]:
    """Every rung result (the loss included) of the given configs: config id -> by rung."""
    out: dict[str, list[dict]] = {c: [] for c in config_ids}
    if not out or not _exists(conn, "rung_results"):
        return out
    marks = ", ".join("?" for _ in out)
    sql = (
        f"SELECT * FROM rung_results WHERE sweep = ? AND config_id IN ({marks}) "
        "ORDER BY config_id, rung"
    )
    for row in conn.execute(sql, (sweep, *out)):
        out[row["config_id"]].append(dict(row))
    return out


def member_states(conn: sqlite3.Connection, sweep: str, config_ids) -> dict[str, dict]:
    """The stored state of each given config that has one: config id -> ``step``,
    ``layout``, ``state``."""
    ids = list(config_ids)
    if not ids or not _exists(conn, "member_states"):
        return {}
    marks = ", ".join("?" for _ in ids)
    sql = (
        "SELECT config_id, step, layout, state FROM member_states "
        f"WHERE sweep = ? AND config_id IN ({marks})"
    )
    return {
        r[0]: {"step": r[1], "layout": r[2], "state": r[3]}
        for r in conn.execute(sql, (sweep, *ids))
    }


def lineage(conn: sqlite3.Connection, sweep: str) -> list[dict]:
    """A sweep's PBT copies, by step then config id."""
    if not _exists(conn, "lineage"):
        return []
    sql = (
        f"SELECT {', '.join(LINEAGE_COLUMNS)} FROM lineage WHERE sweep = ? ORDER BY step, config_id"
    )
    return [dict(r) for r in conn.execute(sql, (sweep,))]


def finish_configs(conn, sweep_id: int, sweep: str, rows, models, keep, order: str) -> int:
    """Finished configs' rows and models in ONE transaction, and their states dropped.

    Args:
      rows: as for :func:`jaxnet.store.insert_runs`; models, keep, order: as for
        :func:`jaxnet.store.write_models`.

    Returns:
      How many rows were new (another process may have written some already).
    """
    with writing(conn):
        _create(conn)
        inserted = add_runs(conn, sweep_id, rows)
        write_models(conn, sweep, models, keep, order)
        conn.executemany(
            "DELETE FROM member_states WHERE sweep = ? AND config_id = ?",
            [(sweep, r["config_id"]) for r in rows],
        )
    return inserted


def stored_rungs(conn: sqlite3.Connection, sweep: str, config_ids) -> dict[str, int]:
    """How many rung results each given config has stored (0 for none)."""
    ids = list(config_ids)
    out = dict.fromkeys(ids, 0)
    if not ids or not _exists(conn, "rung_results"):
        return out
    marks = ", ".join("?" for _ in ids)
    sql = (
        "SELECT config_id, count(*) FROM rung_results "
        f"WHERE sweep = ? AND config_id IN ({marks}) GROUP BY config_id"
    )
    out.update({r[0]: r[1] for r in conn.execute(sql, (sweep, *ids))})
    return out


def steps_trained(conn: sqlite3.Connection, sweep: str) -> int:
    """Steps a sweep's search trained, added up over its stored segments and members."""
    if not _exists(conn, "rung_results"):
        return 0
    sql = "SELECT coalesce(sum(max(step - start, 0)), 0) FROM rung_results WHERE sweep = ?"
    return int(conn.execute(sql, (sweep,)).fetchone()[0])
