"""Claims with leases and data identities: what lets several processes share one store.

A claim names the process training a group and when its lease ends; a data identity binds a
sweep's name to the data its rows were trained on (a file's SHA-256, or a built-in dataset's
name). Both tables are created on first use, so stores written before they existed keep
working unchanged. The identity is checked again in the transaction that stores a group's
rows (:func:`identity_held`), so two processes that read different data under one
name can never both store rows.
"""

from __future__ import annotations

import contextlib
import sqlite3

from .connection import writing
from .schema import now

_CLAIMS = """CREATE TABLE IF NOT EXISTS claims (
  sweep TEXT NOT NULL, shape TEXT NOT NULL, holder TEXT NOT NULL, expires REAL NOT NULL,
  PRIMARY KEY (sweep, shape))"""
_DATA_FILES = """CREATE TABLE IF NOT EXISTS data_files (
  sweep TEXT PRIMARY KEY, identity TEXT NOT NULL, created TEXT NOT NULL)"""


def claim(
    conn: sqlite3.Connection, sweep: str, shape: str, holder: str, lease: float, now: float
) -> bool:
    """Claim a group (``shape``) of ``sweep`` for ``holder`` until ``now + lease`` (Unix time).

    One statement, so two processes can never both win: the claim is taken when nobody holds
    it, when ``holder`` already does, or when its holder's lease expired (it was killed).

    Returns:
      True when ``holder`` now holds the claim.
    """
    with conn:
        conn.execute(_CLAIMS)
        before = conn.total_changes
        conn.execute(
            "INSERT INTO claims (sweep, shape, holder, expires) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (sweep, shape) DO UPDATE SET holder = excluded.holder, "
            "expires = excluded.expires WHERE claims.holder = excluded.holder "
            "OR claims.expires < ?",
            (sweep, shape, holder, now + lease, now),
        )
        return conn.total_changes > before


def claim_holder(conn: sqlite3.Connection, sweep: str, shape: str) -> str | None:
    """Who holds the claim on a group, or None."""
    conn.execute(_CLAIMS)
    row = conn.execute(
        "SELECT holder FROM claims WHERE sweep = ? AND shape = ?", (sweep, shape)
    ).fetchone()
    return None if row is None else row[0]


def take_over_claim(
    conn: sqlite3.Connection, sweep: str, shape: str, dead: str, holder: str, expires: float
) -> bool:
    """Move a claim from ``dead`` (known not to run any more) to ``holder``, unless it moved."""
    with conn:
        return (
            conn.execute(
                "UPDATE claims SET holder = ?, expires = ? "
                "WHERE sweep = ? AND shape = ? AND holder = ?",
                (holder, expires, sweep, shape, dead),
            ).rowcount
            == 1
        )


def renew_claims(conn: sqlite3.Connection, holder: str, expires: float) -> int:
    """Extend every claim ``holder`` still holds to ``expires``; returns how many it holds."""
    with conn:
        conn.execute(_CLAIMS)
        return conn.execute(
            "UPDATE claims SET expires = ? WHERE holder = ?", (expires, holder)
        ).rowcount


def release_claim(conn: sqlite3.Connection, sweep: str, shape: str, holder: str) -> None:
    """Drop ``holder``'s claim on a group (a claim someone else took over is left alone)."""
    with conn:
        conn.execute(_CLAIMS)
        conn.execute(
            "DELETE FROM claims WHERE sweep = ? AND shape = ? AND holder = ?",
            (sweep, shape, holder),
        )


def release_claims(conn: sqlite3.Connection, holder: str) -> None:
    """Drop every claim ``holder`` holds (a process that stops, normally or on an error)."""
    with conn:
        conn.execute(_CLAIMS)
        conn.execute("DELETE FROM claims WHERE holder = ?", (holder,))


def check_data_identity(conn: sqlite3.Connection, sweep: str, identity: str) -> str | None:
    """Record the identity of a sweep's data, or return the one recorded before.

    One write transaction (``BEGIN IMMEDIATE``): no group can be stored between the look at
    the sweep's rows and the record.

    Args:
      sweep: the sweep name; identity: text naming its data (a file's SHA-256 and how it is
        read, or a built-in dataset).

    Returns:
      None when ``identity`` is new, the same as the recorded one, or the sweep has no stored
      run yet (then it replaces the recorded one: a process that still trains on the old data
      is refused when it stores, see :func:`identity_held`); otherwise the recorded
      identity, which the caller reports: the data changed under a sweep with stored rows.
    """
    with writing(conn):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(_DATA_FILES)
        stored = conn.execute(
            "SELECT 1 FROM runs r JOIN sweeps s ON r.sweep_id = s.id WHERE s.name = ? LIMIT 1",
            (sweep,),
        ).fetchone()
        keep = "DO NOTHING" if stored else "DO UPDATE SET identity = excluded.identity"
        conn.execute(
            "INSERT INTO data_files (sweep, identity, created) VALUES (?, ?, ?) "
            f"ON CONFLICT (sweep) {keep}",
            (sweep, identity, now()),
        )
        row = conn.execute("SELECT identity FROM data_files WHERE sweep = ?", (sweep,)).fetchone()
    return None if row[0] == identity else row[0]


def data_identity(conn: sqlite3.Connection, sweep: str) -> str | None:
    """The identity recorded for a sweep's data, or None (none recorded, or an older store)."""
    tables = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'data_files'"
    ).fetchone()
    if tables is None:
        return None
    row = conn.execute("SELECT identity FROM data_files WHERE sweep = ?", (sweep,)).fetchone()
    return None if row is None else row[0]


def stored_datasets(conn: sqlite3.Connection, sweep: str) -> list[str]:
    """The distinct ``dataset`` values of a sweep's stored rows, sorted (for stores written
    before data identities were recorded for built-in datasets)."""
    rows = conn.execute(
        "SELECT DISTINCT r.dataset FROM runs r JOIN sweeps s ON r.sweep_id = s.id "
        "WHERE s.name = ? ORDER BY r.dataset",
        (sweep,),
    )
    return [r[0] for r in rows]


@contextlib.contextmanager
def identity_held(conn: sqlite3.Connection, sweep: str):
    """A write transaction (``BEGIN IMMEDIATE``) in which a sweep's recorded data identity
    cannot change; yields it (None when none is recorded). Rows stored inside it
    (:func:`~.runs.insert_runs` commits it) were stored under the identity the caller saw,
    and an exception inside rolls back what was not committed."""
    with writing(conn):
        conn.execute("BEGIN IMMEDIATE")
        yield data_identity(conn, sweep)
