"""An Optuna study's trials in the store: what the sampler asked, batch by batch.

An Optuna search (:mod:`jaxnet.sweep.search.optuna_search`) asks its sampler for a batch of
trials, trains them as populations and tells the sampler how they did. The store, not
Optuna's storage, is the source of truth: every asked batch is one transaction here, before
any of it trains, and what each trial was told follows from its config's rung results
(:mod:`.search`) and row. A rerun (or another process) rebuilds the study by replaying these
trials into a fresh one, so nothing is asked or trained twice.

* ``trials``: one row per (sweep, trial number): its batch, the values the sampler chose
  (``params``, JSON by axis), the config they make (canonical JSON) and its config id. Two
  trials may share a config (a sampler may ask the same point twice); it is trained once.

The table is created on first use (stores written before it keep working); read-only opens
never write.
"""

from __future__ import annotations

import sqlite3

from .connection import writing
from .schema import now

TABLE = """CREATE TABLE IF NOT EXISTS trials (
  sweep TEXT NOT NULL, number INTEGER NOT NULL, batch INTEGER NOT NULL, config_id TEXT NOT NULL,
  params TEXT NOT NULL, config TEXT NOT NULL, created TEXT NOT NULL,
  PRIMARY KEY (sweep, number))"""
TRIAL_COLUMNS = ("number", "batch", "config_id", "params", "config")


def _exists(conn: sqlite3.Connection) -> bool:
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'trials'"
    return conn.execute(sql).fetchone() is not None


def save_trials(conn: sqlite3.Connection, sweep: str, rows: list[dict]) -> int:
    """One asked batch in ONE transaction; trial numbers already stored are kept as they are.

    Two processes that ask the same batch at once both try to store it: SQLite runs their
    transactions one after the other, and the second finds every number taken.

    Args:
      rows: dicts with every key of :data:`TRIAL_COLUMNS` (``params`` and ``config`` JSON).

    Returns:
      How many trials were new (0: another process stored this batch first).
    """
    cols = (*TRIAL_COLUMNS, "sweep", "created")
    with writing(conn):
        conn.execute(TABLE)
        before = conn.total_changes
        conn.executemany(
            f"INSERT INTO trials ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
            "ON CONFLICT (sweep, number) DO NOTHING",
            [(*(r[c] for c in TRIAL_COLUMNS), sweep, now()) for r in rows],
        )
        return conn.total_changes - before


def stored_trials(conn: sqlite3.Connection, sweep: str) -> list[dict]:
    """A sweep's stored trials by number (dicts of :data:`TRIAL_COLUMNS`); [] for none."""
    if not _exists(conn):
        return []
    sql = f"SELECT {', '.join(TRIAL_COLUMNS)} FROM trials WHERE sweep = ? ORDER BY number"
    return [dict(r) for r in conn.execute(sql, (sweep,))]


def finished_trials(conn: sqlite3.Connection, sweep: str) -> int:
    """How many of a sweep's trials have their config's row (their training is over)."""
    if not _exists(conn):
        return 0
    sql = (
        "SELECT count(*) FROM trials t WHERE t.sweep = ? AND EXISTS (SELECT 1 FROM runs r "
        "JOIN sweeps s ON r.sweep_id = s.id WHERE s.name = t.sweep AND r.config_id = t.config_id)"
    )
    return int(conn.execute(sql, (sweep,)).fetchone()[0])
