"""Opening a store: creating it, refusing files that are not one, reading one read-only.

Every write is one transaction (:func:`writing`); a failed write is a :class:`StoreError`
naming the file, and what earlier transactions committed is kept.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from pathlib import Path

from .._reading import kind
from .columns import add_missing_columns
from .schema import APPLICATION, SCHEMA, SCHEMA_VERSION, StoreError


def _check_meta(conn: sqlite3.Connection, path) -> None:
    """Refuse a database that jaxnet did not write, or one of a newer schema."""
    try:
        rows = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.OperationalError as e:
        if "no such table" not in str(e):
            raise StoreError(_access_message(path, e)) from None
        raise StoreError(f"{path} is not a jaxnet results store ({e})") from None
    except sqlite3.DatabaseError as e:  # not a database at all
        raise StoreError(f"{path} is not a jaxnet results store ({e})") from None
    if rows.get("application") != APPLICATION or "schema_version" not in rows:
        raise StoreError(f"{path} is not a jaxnet results store (its meta table is foreign)")
    version = int(rows["schema_version"])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} has store schema version {version}; this jaxnet reads version "
            f"{SCHEMA_VERSION}: upgrade jaxnet"
        )
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [t for t in ("sweeps", "runs") if t not in tables]
    if missing:
        raise StoreError(
            f"{path} is a damaged jaxnet results store: it has meta rows but no "
            f"{' or '.join(missing)} table"
        )


def _is_wal_file(path) -> bool:
    """An SQLite file whose header says WAL mode (bytes 18-19 are 2)."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return False
    return head[:16] == b"SQLite format 3\x00" and head[18:20] == b"\x02\x02"


def _access_message(path, error: Exception) -> str:
    """What to say when SQLite cannot open or write ``path`` (never "not a database")."""
    if not Path(path).exists():
        return (
            f"cannot create results store {path}: its directory {Path(path).parent} is not "
            f"writable ({error})"
        )
    if _is_wal_file(path):
        return (
            f"cannot open results store {path} ({error}): it is a valid SQLite file in WAL mode, "
            "which SQLite opens only with write access to the file and its directory (for its "
            "-wal and -shm files), and this place is read-only. Copy it somewhere writable, or "
            f"read it as the URI file:{Path(path).resolve()}?mode=ro&immutable=1"
        )
    return f"cannot open results store {path}: {error}"


def _file_of(conn: sqlite3.Connection) -> str:
    """The file behind a connection (for messages)."""
    return conn.execute("PRAGMA database_list").fetchone()[2]


@contextlib.contextmanager
def writing(conn: sqlite3.Connection):
    """One transaction (``with conn``); a failed write (full disk, read-only file, locked) is a
    StoreError naming the file, and what earlier transactions committed is kept."""
    try:
        with conn:
            yield
    except sqlite3.OperationalError as e:
        raise StoreError(
            f"cannot write to results store {_file_of(conn)}: {e}; what was committed before is "
            "kept (rerun to resume)"
        ) from None


def _create(conn: sqlite3.Connection) -> None:
    # One explicit transaction: a process killed while creating leaves an empty file, which
    # the next open creates afresh, never tables without their meta rows.
    conn.executescript(
        f"""BEGIN;
        {SCHEMA}
        INSERT INTO meta (key, value) VALUES ('application', '{APPLICATION}');
        INSERT INTO meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');
        COMMIT;"""
    )


def _is_empty(conn: sqlite3.Connection, path) -> bool:
    try:
        return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    except sqlite3.OperationalError as e:  # cannot open or read it: not the same as foreign
        raise StoreError(_access_message(path, e)) from None
    except sqlite3.DatabaseError:
        raise StoreError(f"{path} is not a jaxnet results store (not an SQLite database)") from None


def _check_not_special(path) -> None:
    """Refuse a path that is there but is no regular file: SQLite would wait forever on a FIFO
    and fail on a device with "disk I/O error"."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return  # nothing there (yet), or nothing to tell: SQLite says what it finds
    if not stat.S_ISREG(mode):
        raise StoreError(
            f"{path} is {kind(mode)}, not a results store: a store is an SQLite file "
            "(give --store a file path)"
        )


def connect(path) -> sqlite3.Connection:
    """Open the store at ``path``, creating it (and its directory) when it does not exist.

    Returns:
      A connection in WAL mode whose rows read as :class:`sqlite3.Row`.

    Raises:
      StoreError: the file is not a jaxnet store (a FIFO, a device or a directory included),
        or has a newer schema version.
    """
    _check_not_special(path)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, timeout=60.0)
    except sqlite3.OperationalError as e:
        raise StoreError(_access_message(path, e)) from None
    try:
        if _is_empty(conn, path):
            _create(conn)
        _check_meta(conn, path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        add_missing_columns(conn, path)  # a store of an older jaxnet, opened to write
    except sqlite3.OperationalError as e:  # e.g. creating tables in a read-only file
        conn.close()
        raise StoreError(_access_message(path, e)) from None
    except BaseException:
        conn.close()
        raise
    conn.row_factory = sqlite3.Row
    return conn


def _read_only(path, uri_query: str) -> sqlite3.Connection:
    """A connection to an existing ``path`` that cannot create it or write to it."""
    uri = f"{Path(path).resolve().as_uri()}?{uri_query}"
    conn = sqlite3.connect(uri, uri=True, timeout=60.0)
    try:
        _check_meta(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def open_existing(path) -> sqlite3.Connection:
    """Open an existing store to read it: never creates, converts or modifies a file.

    A store in a read-only place (WAL mode needs write access even to read) is opened as
    immutable (``?mode=ro&immutable=1``): nobody can write it there, so nothing changes under
    the reader.

    Raises:
      StoreError: no such file, an empty or foreign file, a newer schema, or unreadable.
    """
    _check_not_special(path)
    if not Path(path).is_file():
        raise StoreError(f"{path}: no such results store (run `jaxnet sweep FILE --store {path}`)")
    if Path(path).stat().st_size == 0:
        raise StoreError(f"{path} is an empty file, not a jaxnet results store (left as it is)")
    try:
        conn = _read_only(path, "mode=rw")  # rw, not ro: SQLite then removes its -wal, -shm
    except StoreError as e:
        if not _is_wal_file(path) or "cannot open" not in str(e):
            raise
        conn = _read_only(path, "mode=ro&immutable=1")
    conn.row_factory = sqlite3.Row
    return conn


@contextlib.contextmanager
def opened(path, must_exist: bool = False):
    """:func:`connect` (or :func:`open_existing`) as a context manager that closes it."""
    conn = open_existing(path) if must_exist else connect(path)
    try:
        yield conn
    finally:
        conn.close()
