"""Columns added to ``runs`` after the store's first schema, and the migration that adds them.

A store written by an older jaxnet lacks them: :func:`add_missing_columns` adds them when the
store is opened to write (``ALTER TABLE ... ADD COLUMN``, in one transaction that rechecks
under the write lock, so two processes opening one store add each column once), and a store
opened only to read is never changed: its rows read with each column's default
(:func:`with_defaults`). Every added column has a default that says what older rows were
trained with (no dropout, no weight decay, ``jax.grad``, a constant learning rate, no early
stopping), so the schema version stays 1. The columns are listed in
:data:`jaxnet.store.schema.ADDED_RUN_COLUMNS`. Left out: removing or renaming columns.
"""

from __future__ import annotations

import sqlite3

from .schema import ADDED_RUN_COLUMNS, StoreError


def _missing(conn: sqlite3.Connection) -> list[str]:
    have = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    return [name for name in ADDED_RUN_COLUMNS if name not in have]


def add_missing_columns(conn: sqlite3.Connection, path) -> list[str]:
    """Add the :data:`ADDED_RUN_COLUMNS` an older store lacks; returns the names added.

    Raises:
      StoreError: naming ``path``, when the store cannot be changed (read-only, locked).
    """
    if not _missing(conn):
        return []
    try:
        conn.execute("BEGIN IMMEDIATE")  # the write lock first, then look again
        added = _missing(conn)
        for name in added:
            conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {ADDED_RUN_COLUMNS[name][0]}")
        conn.execute("COMMIT")
    except sqlite3.OperationalError as e:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise StoreError(
            f"cannot add the columns {', '.join(_missing(conn))} to results store {path}, "
            f"written by an older jaxnet: {e}"
        ) from None
    return added


def with_defaults(row: dict) -> dict:
    """``row`` (a ``runs`` row as a dict) with each added column it lacks at its default."""
    for name, (_, default) in ADDED_RUN_COLUMNS.items():
        row.setdefault(name, default)
    return row


def existing_or_default(conn: sqlite3.Connection, columns: list[str]) -> list[str]:
    """SQL select expressions for ``columns`` of ``runs r``: ``r.name``, or the default of an
    added column the store lacks (``NULL AS name`` / ``'auto' AS name``)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    out = []
    for name in columns:
        if name in have or name not in ADDED_RUN_COLUMNS:
            out.append(f"r.{name}")
        else:
            default = ADDED_RUN_COLUMNS[name][1]
            out.append(f"{'NULL' if default is None else repr(default)} AS {name}")
    return out
