"""Sweeps and runs: recording a sweep, inserting a group's rows in one transaction, reading
them back (as dicts, or as CSV), and the counts the CLI and the report page show."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

from .columns import existing_or_default, with_defaults
from .connection import opened, writing
from .schema import BLOB_COLUMNS, RUN_COLUMNS, decode_floats, now


def add_sweep(conn: sqlite3.Connection, name: str, spec: str, spec_hash: str) -> int:
    """The id of the sweep row for ``(name, spec_hash)``, inserting it if it is new."""
    with writing(conn):
        conn.execute(
            "INSERT INTO sweeps (name, spec_hash, spec, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name, spec_hash) DO NOTHING",
            (name, spec_hash, spec, now()),
        )
    row = conn.execute(
        "SELECT id FROM sweeps WHERE name = ? AND spec_hash = ?", (name, spec_hash)
    ).fetchone()
    return int(row[0])


def done_config_ids(conn: sqlite3.Connection, sweep_name: str) -> set[str]:
    """Config ids already stored for every sweep row called ``sweep_name``."""
    rows = conn.execute(
        "SELECT r.config_id FROM runs r JOIN sweeps s ON r.sweep_id = s.id WHERE s.name = ?",
        (sweep_name,),
    )
    return {r[0] for r in rows}


def insert_runs(conn: sqlite3.Connection, sweep_id: int, rows: list[dict]) -> int:
    """Insert one group's rows in ONE transaction; rows whose config_id exists are skipped.

    Any other failure (a missing value, a locked database) rolls the whole call back.

    Args:
      conn: an open store.
      sweep_id: from :func:`add_sweep`.
      rows: dicts with every key of :data:`RUN_COLUMNS` (blobs already encoded); a column
        added later (:data:`~jaxnet.store.schema.ADDED_RUN_COLUMNS`) may be left out, for
        its default.

    Returns:
      How many rows were inserted.
    """
    with writing(conn):  # commits on success, rolls back on error: all of the group or none
        return add_runs(conn, sweep_id, rows)


def add_runs(conn: sqlite3.Connection, sweep_id: int, rows: list[dict]) -> int:
    """:func:`insert_runs` inside a transaction the caller holds (with more writes in it);
    returns how many rows were inserted."""
    names = ["sweep_id", *RUN_COLUMNS]
    sql = (
        f"INSERT INTO runs ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)}) "
        "ON CONFLICT (config_id) DO NOTHING"
    )
    before = conn.total_changes
    values = [(sweep_id, *(with_defaults(dict(row))[c] for c in RUN_COLUMNS)) for row in rows]
    conn.executemany(sql, values)
    return conn.total_changes - before


def sweeps(conn: sqlite3.Connection) -> list[dict]:
    """One dict per sweep name: name, spec (the latest), created (the first), runs (count)."""
    rows = conn.execute(
        """SELECT s.name, min(s.created) AS created, max(s.id) AS latest,
                  (SELECT count(*) FROM runs r JOIN sweeps t ON r.sweep_id = t.id
                   WHERE t.name = s.name) AS runs
           FROM sweeps s GROUP BY s.name ORDER BY min(s.id)"""
    ).fetchall()
    out = []
    for row in rows:
        spec = conn.execute("SELECT spec FROM sweeps WHERE id = ?", (row["latest"],)).fetchone()
        out.append(
            {"name": row["name"], "created": row["created"], "runs": row["runs"], "spec": spec[0]}
        )
    return out


def _decoded(row: sqlite3.Row) -> dict:
    out = with_defaults(dict(row))  # a store of an older jaxnet, read as it is
    for column in BLOB_COLUMNS:
        out[column] = decode_floats(out[column])
    return out


def runs(conn: sqlite3.Connection, sweep_name: str | None = None) -> list[dict]:
    """Stored runs in insertion order, as dicts with ``sweep`` (the name) and decoded curves.

    Args:
      conn: an open store.
      sweep_name: only this sweep's runs; None for all.

    Returns:
      One dict per run: every column of ``runs``; ``curve`` and ``val_curve`` as float32 arrays.
    """
    sql = "SELECT s.name AS sweep, r.* FROM runs r JOIN sweeps s ON r.sweep_id = s.id"
    args: tuple = ()
    if sweep_name is not None:
        sql, args = sql + " WHERE s.name = ?", (sweep_name,)
    return [_decoded(row) for row in conn.execute(sql + " ORDER BY r.id", args)]


CSV_COLUMNS = ["sweep"] + [c for c in RUN_COLUMNS if c not in BLOB_COLUMNS] + ["in_sweep_file"]


def write_csv(conn: sqlite3.Connection, file, in_file=None) -> int:
    """Write every run as CSV to ``file``: a header line, then one row per trained member.

    Columns: the sweep name, then every ``runs`` column except the curve blobs (config
    columns first, then metrics and timings), then ``in_sweep_file``: 1 for a config of the
    sweep's file as it is now, 0 for one of an earlier version of it. Missing values are
    empty cells.

    Args:
      conn: an open store; file: a text file to write to.
      in_file: ``(sweep name, config id) -> True, False or None`` (None: unknown); None
        leaves the last column empty (see :func:`jaxnet.sweep.in_file_marker`).

    Returns:
      The number of rows written.
    """
    writer = csv.writer(file, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    stored = CSV_COLUMNS[1:-1]
    selected = existing_or_default(conn, stored)  # a store of an older jaxnet lacks some
    sql = (
        f"SELECT s.name AS sweep, {', '.join(selected)} "
        "FROM runs r JOIN sweeps s ON r.sweep_id = s.id ORDER BY r.id"
    )
    at = 1 + stored.index("config_id")
    n = 0
    for row in conn.execute(sql):
        current = None if in_file is None else in_file(row[0], row[at])
        mark = "" if current is None else int(current)
        writer.writerow(["" if v is None else v for v in row] + [mark])
        n += 1
    return n


def config_of(row: dict) -> dict:
    """The stored config of a run row, parsed from its canonical JSON."""
    return json.loads(row["config"])


def sweep_rows(conn: sqlite3.Connection, name: str) -> list[dict]:
    """Every ``sweeps`` row of one sweep name (one per spec text it ran with), oldest first.

    Every column is returned, those a newer store adds included, so a reader can show what it
    finds without assuming it exists.
    """
    sql = "SELECT * FROM sweeps WHERE name = ? ORDER BY id"
    return [dict(row) for row in conn.execute(sql, (name,))]


def stored_counts(conn: sqlite3.Connection) -> tuple[int, int, int | None]:
    """``(sweep rows, run rows, largest run id or None)``: what changes when a group commits."""
    sweeps_count = conn.execute("SELECT count(*) FROM sweeps").fetchone()[0]
    runs_count, last = conn.execute("SELECT count(*), max(id) FROM runs").fetchone()
    return sweeps_count, runs_count, last


def group_count(conn: sqlite3.Connection, sweep_name: str) -> int:
    """How many groups (populations trained as one program) of sweep ``sweep_name`` are stored."""
    row = conn.execute(
        "SELECT count(DISTINCT r.group_id) FROM runs r JOIN sweeps s ON r.sweep_id = s.id "
        "WHERE s.name = ?",
        (sweep_name,),
    ).fetchone()
    return int(row[0])


def stored_group_count(path, sweep_name: str) -> int:
    """:func:`group_count` of the store at ``path``, or 0 if there is no usable store yet.

    For the message of an interrupted sweep: one stopped while it created the file leaves no
    file, or one that is not yet a store, and both hold no group rather than being an error.
    """
    if not Path(path).is_file():
        return 0
    try:
        with opened(path, must_exist=True) as conn:
            return group_count(conn, sweep_name)
    except (ValueError, sqlite3.Error):
        return 0


def config_groups(conn: sqlite3.Connection, sweep_name: str) -> dict[str, str]:
    """Every stored config id of sweep ``sweep_name`` and the group (population) it came from."""
    rows = conn.execute(
        "SELECT r.config_id, r.group_id FROM runs r JOIN sweeps s ON r.sweep_id = s.id "
        "WHERE s.name = ?",
        (sweep_name,),
    )
    return {config: group for config, group in rows}


def stored_groups(path, sweep_name: str) -> dict[str, str]:
    """:func:`config_groups` of the store at ``path``; empty if there is no usable store yet
    (as for :func:`stored_group_count`). Only reads."""
    if not Path(path).is_file():
        return {}
    try:
        with opened(path, must_exist=True) as conn:
            return config_groups(conn, sweep_name)
    except (ValueError, sqlite3.Error):
        return {}
