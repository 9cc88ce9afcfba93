"""The results store: one SQLite file (standard library ``sqlite3``) holding sweeps and runs.

A store is a real database that any SQLite client reads (``sqlite3 runs/demo.sqlite 'select
hidden, activation, best_val_accuracy from runs'``). It is opened in WAL mode, so readers see
committed rows while a sweep writes, and a process killed mid-write loses only its open
transaction. Tables:

* ``meta(key, value)``: ``application = 'jaxnet'`` and ``schema_version``. A file without
  them, or with a newer schema version than this module knows, is refused.
* ``sweeps``: one row per (sweep name, spec text): the TOML (or JSON) that defined it.
* ``runs``: one row per trained member, ``config_id UNIQUE``: the member's config as
  canonical JSON plus its key fields as columns, its metrics, timings, loss curves and the
  versions and device that produced it.

Metrics: ``train_*`` of the final params on the whole training split, ``final_val_*`` at the
last evaluation, ``best_val_loss`` the lowest validation loss (at ``best_step``),
``best_val_accuracy`` the highest validation accuracy, ``test_*`` of the final params; NULL
where there is no such split or (accuracy) no classes. Timings are per group and repeated on
each of its rows (``group_id`` names the population): ``group_seconds`` of wall time,
``compile_seconds`` of it spent lowering and compiling JAX programs, ``train_seconds`` the
rest (running the compiled training and evaluation).

Curves are stored compactly as raw little-endian float32 bytes (:func:`encode_floats`),
never pickled: the training loss averaged over windows of ``curve_stride`` steps, and the
validation loss at each evaluation. Writes go through :func:`insert_runs`, one transaction
per call, and a config id already stored is skipped (``ON CONFLICT DO NOTHING``), so a
config is never stored twice.

Left out: migrations between schema versions (there is one), deleting runs, and merging
stores written by several machines.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import json
import math
import sqlite3
from pathlib import Path

import numpy as np

APPLICATION = "jaxnet"
SCHEMA_VERSION = 1

# Columns of ``runs`` after ``id`` and ``sweep_id``, in order, with their SQL types.
RUN_COLUMNS = {
    "config_id": "TEXT NOT NULL UNIQUE",
    "group_id": "TEXT NOT NULL",
    "config": "TEXT NOT NULL",
    "dataset": "TEXT NOT NULL",
    "depth": "INTEGER NOT NULL",
    "width": "INTEGER",
    "hidden": "TEXT NOT NULL",
    "activation": "TEXT NOT NULL",
    "bias": "INTEGER NOT NULL",
    "optimizer": "TEXT NOT NULL",
    "learning_rate": "REAL NOT NULL",
    "batch_size": "INTEGER NOT NULL",
    "steps": "INTEGER NOT NULL",
    "seed": "INTEGER NOT NULL",
    "init_scale": "REAL NOT NULL",
    "n_params": "INTEGER NOT NULL",
    "status": "TEXT NOT NULL",
    "steps_done": "INTEGER NOT NULL",
    "train_loss": "REAL",
    "train_accuracy": "REAL",
    "final_val_loss": "REAL",
    "final_val_accuracy": "REAL",
    "best_val_loss": "REAL",
    "best_val_accuracy": "REAL",
    "best_step": "INTEGER",
    "test_loss": "REAL",
    "test_accuracy": "REAL",
    "group_size": "INTEGER NOT NULL",
    "group_seconds": "REAL NOT NULL",
    "train_seconds": "REAL NOT NULL",
    "compile_seconds": "REAL NOT NULL",
    "curve": "BLOB NOT NULL",
    "curve_stride": "INTEGER NOT NULL",
    "val_curve": "BLOB NOT NULL",
    "eval_every": "INTEGER NOT NULL",
    "jaxnet_version": "TEXT NOT NULL",
    "jax_version": "TEXT NOT NULL",
    "device_kind": "TEXT NOT NULL",
    "created": "TEXT NOT NULL",
}
BLOB_COLUMNS = ("curve", "val_curve")

_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sweeps (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  spec_hash TEXT NOT NULL,
  spec TEXT NOT NULL,
  created TEXT NOT NULL,
  UNIQUE (name, spec_hash)
);
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  sweep_id INTEGER NOT NULL REFERENCES sweeps(id),
  {", ".join(f"{name} {kind}" for name, kind in RUN_COLUMNS.items())}
);
CREATE INDEX runs_by_sweep ON runs (sweep_id);
"""


class StoreError(ValueError):
    """A file that is not a usable jaxnet store; the message names the file."""


def now() -> str:
    """The current UTC time as ISO 8601 text, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# --- curves as bytes --------------------------------------------------------------------------


def encode_floats(values) -> bytes:
    """``(n,)`` numbers -> ``4 n`` bytes of little-endian float32 (NaN kept)."""
    return np.asarray(values, dtype="<f4").reshape(-1).tobytes()


def decode_floats(blob: bytes) -> np.ndarray:
    """Inverse of :func:`encode_floats`: ``(len(blob) // 4,)`` float32."""
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def downsample(values, max_points: int) -> tuple[np.ndarray, int]:
    """Means of consecutive windows, so at most ``max_points`` remain.

    Args:
      values: ``(n,)`` per-step values; NaN (steps not taken) is skipped within a window.
      max_points: the most points to keep (>= 1).

    Returns:
      ``(means, stride)``: ``means`` is ``(ceil(n / stride),)``; point ``i`` covers steps
      ``[i * stride, (i + 1) * stride)``. A window of NaNs only gives NaN.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    stride = max(1, math.ceil(len(values) / max_points))
    padded = np.full(math.ceil(len(values) / stride) * stride, np.nan)
    padded[: len(values)] = values
    windows = padded.reshape(-1, stride)
    counts = np.sum(np.isfinite(windows), axis=1)
    sums = np.sum(np.where(np.isfinite(windows), windows, 0.0), axis=1)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan), stride


# --- opening ----------------------------------------------------------------------------------


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
def _writing(conn: sqlite3.Connection):
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
        {_SCHEMA}
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


def connect(path) -> sqlite3.Connection:
    """Open the store at ``path``, creating it (and its directory) when it does not exist.

    Returns:
      A connection in WAL mode whose rows read as :class:`sqlite3.Row`.

    Raises:
      StoreError: the file is not a jaxnet store, or has a newer schema version.
    """
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


# --- writing ----------------------------------------------------------------------------------


def add_sweep(conn: sqlite3.Connection, name: str, spec: str, spec_hash: str) -> int:
    """The id of the sweep row for ``(name, spec_hash)``, inserting it if it is new."""
    with _writing(conn):
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
      rows: dicts with every key of :data:`RUN_COLUMNS` (blobs already encoded).

    Returns:
      How many rows were inserted.
    """
    names = ["sweep_id", *RUN_COLUMNS]
    sql = (
        f"INSERT INTO runs ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)}) "
        "ON CONFLICT (config_id) DO NOTHING"
    )
    values = [(sweep_id, *(row[c] for c in RUN_COLUMNS)) for row in rows]
    with _writing(conn):  # commits on success, rolls back on error: all of the group or none
        before = conn.total_changes
        conn.executemany(sql, values)
        return conn.total_changes - before


# --- reading ----------------------------------------------------------------------------------


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
    out = dict(row)
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


CSV_COLUMNS = ["sweep"] + [c for c in RUN_COLUMNS if c not in BLOB_COLUMNS]


def write_csv(conn: sqlite3.Connection, file) -> int:
    """Write every run as CSV to ``file``: a header line, then one row per trained member.

    Columns: the sweep name, then every ``runs`` column except the curve blobs (config
    columns first, then metrics and timings). Missing metrics are empty cells.

    Returns:
      The number of rows written.
    """
    writer = csv.writer(file, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    sql = (
        f"SELECT s.name AS sweep, {', '.join('r.' + c for c in CSV_COLUMNS[1:])} "
        "FROM runs r JOIN sweeps s ON r.sweep_id = s.id ORDER BY r.id"
    )
    n = 0
    for row in conn.execute(sql):
        writer.writerow(["" if v is None else v for v in row])
        n += 1
    return n


def config_of(row: dict) -> dict:
    """The stored config of a run row, parsed from its canonical JSON."""
    return json.loads(row["config"])


# --- claims and data identity (several processes on one store) --------------------------------

# Created on first use, so stores written before claims existed keep working unchanged.
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
    """Record the identity of a sweep's data file, or return the one recorded before.

    Args:
      sweep: the sweep name; identity: text naming the file's content (its SHA-256) and how
        it is read.

    Returns:
      None when ``identity`` is new, the same as the recorded one, or the sweep has no stored
      run yet (then it replaces the recorded one); otherwise the recorded identity, which the
      caller reports: the data changed under a sweep with stored rows.
    """
    stored = conn.execute(
        "SELECT 1 FROM runs r JOIN sweeps s ON r.sweep_id = s.id WHERE s.name = ? LIMIT 1",
        (sweep,),
    ).fetchone()
    keep = "DO NOTHING" if stored else "DO UPDATE SET identity = excluded.identity"
    with conn:
        conn.execute(_DATA_FILES)
        conn.execute(
            "INSERT INTO data_files (sweep, identity, created) VALUES (?, ?, ?) "
            f"ON CONFLICT (sweep) {keep}",
            (sweep, identity, now()),
        )
    row = conn.execute("SELECT identity FROM data_files WHERE sweep = ?", (sweep,)).fetchone()
    return None if row[0] == identity else row[0]


# --- queries of the read side (ranking, report page)


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


# --- counts the CLI reports


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
