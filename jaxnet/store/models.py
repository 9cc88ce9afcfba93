"""Kept models: the trained params of a sweep's configs, so the best one predicts without a
retrain (:func:`jaxnet.sweep.load_model`, ``jaxnet predict STORE --best``).

``models`` holds one row per kept config: its net (the :class:`~jaxnet.MLP` fields as JSON),
its params as raw little-endian bytes with their layout in JSON (:mod:`.arrays`, no pickle),
the scalers fitted on the sweep's training rows and a classifier's labels. Rows of ``runs``
and their models are written in one transaction (:func:`insert_runs_with_models`); with a
limit K only the sweep's K best configs keep theirs (:func:`write_models` drops the rest in
the same transaction), ranked as ``jaxnet runs`` ranks: configs a search pruned after the
others, then by the metric, missing values last. The table is created on first use, so stores
written before it existed keep working. A kept model costs its params' bytes (4 a weight in
float32) plus its JSON, about 50 bytes a feature of the data (13 KB for a 64-32-10 digits
net).
"""

from __future__ import annotations

import sqlite3

from .connection import writing
from .runs import add_runs
from .schema import RUN_COLUMNS, now

MODELS = """CREATE TABLE IF NOT EXISTS models (
  config_id TEXT PRIMARY KEY, sweep TEXT NOT NULL, step INTEGER NOT NULL, net TEXT NOT NULL,
  layout TEXT NOT NULL, params BLOB NOT NULL, x_scaler TEXT, y_scaler TEXT, labels TEXT,
  created TEXT NOT NULL)"""
MODEL_COLUMNS = ("config_id", "step", "net", "layout", "params", "x_scaler", "y_scaler", "labels")


def rank_order(metric: str, descending: bool) -> str:
    """The SQL ``ORDER BY`` terms that rank a sweep's ``runs`` rows (alias ``r``) best first.

    Raises:
      ValueError: ``metric`` is not a metric column of ``runs`` (it is spliced into SQL).
    """
    if RUN_COLUMNS.get(metric) != "REAL" or metric.endswith("seconds"):
        raise ValueError(f"metric must be a metric column of runs; got {metric!r}")
    direction = "DESC" if descending else "ASC"
    return f"(r.status = 'pruned'), (r.{metric} IS NULL), r.{metric} {direction}, r.id"


def _has_models(conn: sqlite3.Connection) -> bool:
    return bool(
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'models'"
        ).fetchone()
    )


def write_models(conn, sweep: str, models: list[dict], keep: int | None, order: str) -> None:
    """Insert ``models`` and keep the sweep's best ``keep`` (None: all; 0: none), inside a
    transaction the caller holds.

    Args:
      conn: an open store; sweep: the sweep's name.
      models: dicts with every key of :data:`MODEL_COLUMNS` (params as bytes, the rest JSON).
      keep: how many models the sweep keeps; order: :func:`rank_order`'s terms.
    """
    if keep == 0 or not models:
        return
    conn.execute(MODELS)
    names = (*MODEL_COLUMNS, "sweep", "created")
    conn.executemany(
        f"INSERT INTO models ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)}) "
        "ON CONFLICT (config_id) DO NOTHING",
        [(*(m[c] for c in MODEL_COLUMNS), sweep, now()) for m in models],
    )
    if keep is not None:
        conn.execute(
            f"""DELETE FROM models WHERE sweep = ? AND config_id NOT IN (
                  SELECT r.config_id FROM runs r JOIN sweeps s ON r.sweep_id = s.id
                  JOIN models m ON m.config_id = r.config_id
                  WHERE s.name = ? ORDER BY {order} LIMIT ?)""",
            (sweep, sweep, keep),
        )


def insert_runs_with_models(
    conn, sweep_id: int, sweep: str, rows: list[dict], models: list[dict], keep, order: str
) -> int:
    """One group's rows and its members' models in ONE transaction; returns rows inserted.

    Args:
      rows: as for :func:`jaxnet.store.insert_runs`; models, keep, order: as for
        :func:`write_models`.
    """
    with writing(conn):
        inserted = add_runs(conn, sweep_id, rows)
        write_models(conn, sweep, models, keep, order)
        return inserted


def kept_model(conn: sqlite3.Connection, config_id: str) -> dict | None:
    """The kept model of one config (every column of ``models``), or None."""
    if not _has_models(conn):
        return None
    row = conn.execute("SELECT * FROM models WHERE config_id = ?", (config_id,)).fetchone()
    return None if row is None else dict(row)


def kept_model_ids(conn: sqlite3.Connection, sweep: str) -> list[str]:
    """Config ids of the sweep's kept models, in insertion order."""
    if not _has_models(conn):
        return []
    return [r[0] for r in conn.execute("SELECT config_id FROM models WHERE sweep = ?", (sweep,))]


def ranked_config_ids(conn: sqlite3.Connection, sweep: str, order: str) -> list[str]:
    """Every config id of the sweep's ``runs`` rows, best first by :func:`rank_order`."""
    sql = (
        "SELECT r.config_id FROM runs r JOIN sweeps s ON r.sweep_id = s.id WHERE s.name = ? "
        f"ORDER BY {order}"
    )
    return [r[0] for r in conn.execute(sql, (sweep,))]


def config_ids_like(conn: sqlite3.Connection, prefix: str) -> list[tuple[str, str]]:
    """``(config_id, sweep name)`` of every run whose config id starts with ``prefix``."""
    if not prefix or any(c not in "0123456789abcdef" for c in prefix):
        return []
    sql = (
        "SELECT r.config_id, s.name FROM runs r JOIN sweeps s ON r.sweep_id = s.id "
        "WHERE r.config_id >= ? AND r.config_id < ? ORDER BY r.id"
    )
    return [(r[0], r[1]) for r in conn.execute(sql, (prefix, prefix + "g"))]
