"""Calls of a sweep: one row per run of ``jaxnet sweep`` (or ``jaxnet.sweep.run``) on a store.

A call records what its summary line printed and the rows cannot tell: the XLA programs it
compiled and the ones it loaded from the persistent compilation cache, its wall time, its
engine and how it ended. The report page adds the calls of a sweep up. The table is created
on first write, so stores written before it existed keep working; a reader of such a store
finds no calls and says the facts were not stored.

Left out: per-group counts (a group's compile seconds are on its rows), and anything a reader
could recompute from the rows.
"""

from __future__ import annotations

import math
import sqlite3

from .connection import writing
from .schema import now

OUTCOMES = ("completed", "interrupted", "failed")

_CALLS = """CREATE TABLE IF NOT EXISTS sweep_calls (
  id INTEGER PRIMARY KEY,
  sweep_id INTEGER NOT NULL REFERENCES sweeps(id),
  ended TEXT NOT NULL,
  outcome TEXT NOT NULL,
  engine TEXT NOT NULL,
  programs_compiled INTEGER,
  cache_hits INTEGER,
  wall_seconds REAL NOT NULL)"""


def _count(value, argument: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{argument} must be a non-negative int or None; got {value!r}")
    return value


def record_call(
    conn: sqlite3.Connection,
    sweep_id: int,
    *,
    outcome: str,
    engine: str,
    programs: int | None,
    cache_hits: int | None,
    seconds: float,
) -> None:
    """Add one call of sweep row ``sweep_id``, in one transaction.

    Args:
      conn: an open store (not read-only); sweep_id: from :func:`~.runs.add_sweep`.
      outcome: one of :data:`OUTCOMES`; engine: what trained the groups.
      programs: XLA programs the call compiled (None: not known, e.g. on Ray workers);
      cache_hits: programs loaded from the persistent compilation cache (None: not known).
      seconds: the call's wall time.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}; got {outcome!r}")
    programs, cache_hits = _count(programs, "programs"), _count(cache_hits, "cache_hits")
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"seconds must be a finite number >= 0; got {seconds!r}")
    with writing(conn):
        conn.execute(_CALLS)
        conn.execute(
            "INSERT INTO sweep_calls (sweep_id, ended, outcome, engine, programs_compiled, "
            "cache_hits, wall_seconds) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (sweep_id, now(), outcome, engine, programs, cache_hits, float(seconds)),
        )


def _sum_of(column: str) -> str:
    """SQL for the sum of a numeric column, skipping values that are not numbers."""
    return f"sum(CASE WHEN typeof(c.{column}) IN ('integer', 'real') THEN c.{column} END)"


def call_totals(conn: sqlite3.Connection, sweep_name: str) -> dict | None:
    """The calls of every sweep row named ``sweep_name``, added up. Only reads.

    Returns:
      None when the store has no calls of it (or no calls table: an older store); else
      ``calls`` (their number), ``programs_compiled`` and ``cache_hits`` (sums over the calls
      that recorded them; None when none did) and ``wall_seconds`` (their sum).
    """
    try:
        row = conn.execute(
            f"SELECT count(*), {_sum_of('programs_compiled')}, {_sum_of('cache_hits')}, "
            f"{_sum_of('wall_seconds')} FROM sweep_calls c JOIN sweeps s ON c.sweep_id = s.id "
            "WHERE s.name = ?",
            (sweep_name,),
        ).fetchone()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return None
        raise
    calls, programs, hits, seconds = tuple(row)
    if not calls:
        return None
    return {
        "calls": calls,
        "programs_compiled": programs,
        "cache_hits": hits,
        "wall_seconds": seconds,
    }
