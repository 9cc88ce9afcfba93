"""A sweep's results out of the store: a table for pandas, JSON and JSON lines with curves.

The store keeps curves as float32 bytes (no client reads those); here every run becomes a
plain row: its config columns, status, metrics and timings, and whether its config is one of
its sweep's file as it is now (``in_sweep_file``) -- the columns of ``jaxnet runs --format
csv``, in that order (:data:`jaxnet.store.CSV_COLUMNS`) -- and, where the format holds them,
its curves: ``curve`` (the training loss, window means of ``curve_stride`` steps) and
``val_curve`` (the validation loss after every ``eval_every`` steps, the last evaluation at
the run's last step). Left out: ranking and figures (:mod:`.rank`, :mod:`.figures`).
"""

from __future__ import annotations

import importlib
import json
import math
import os

import numpy as np

from .. import store
from .spec import SweepError
from .versions import in_file_marker

COLUMNS = (*store.CSV_COLUMNS, "curve", "val_curve")


def check_arguments(store_path, sweep) -> None:
    """Refuse a ``store_path`` that is not a path and a ``sweep`` that is not a name, naming
    the argument, before the store is opened.

    Raises:
      TypeError: one line naming the argument, what was expected and what came.
    """
    if not isinstance(store_path, (str, os.PathLike)) or str(store_path) == "":
        raise TypeError(f"store_path must be a results store's path; got {store_path!r}")
    if sweep is not None and not isinstance(sweep, str):
        raise TypeError(f"sweep must be a sweep's name (str) or None; got {sweep!r}")


def check_sweep(conn, sweep: str | None) -> None:
    """Refuse a sweep name the store does not hold (None: every sweep, always fine)."""
    names = [e["name"] for e in store.sweeps(conn)]
    if sweep is not None and sweep not in names:
        raise SweepError(f"the store has no sweep {sweep!r}; it has {', '.join(names) or 'none'}")


def _rows(conn, sweep: str | None) -> list[dict]:
    check_sweep(conn, sweep)
    marker = in_file_marker(conn)
    rows = []
    for r in store.runs(conn, sweep):
        current = marker(r["sweep"], r["config_id"])
        r = {**r, "in_sweep_file": None if current is None else int(current)}
        rows.append({c: r.get(c) for c in COLUMNS})
    return rows


def results(store_path, sweep: str | None = None):
    """Every run of a results store as a table: one row per config.

    Args:
      store_path: an existing results store (never created or changed).
      sweep: only this sweep's runs; None: every sweep's.

    Returns:
      A ``pandas.DataFrame`` when pandas is installed (``pip install "jaxnet[pandas]"``),
      else a list of dicts, one per run: the columns of ``jaxnet runs --format csv`` (the
      sweep's name, the config columns, status, metrics, timings; a metric the run lacks is
      NaN in the DataFrame, None in a dict) and ``curve`` and ``val_curve`` as float32
      arrays ``(points,)`` (NaN where a step was never taken).

    Raises:
      TypeError: ``store_path`` not a path or ``sweep`` not a name; StoreError: not a
      results store; SweepError: no such sweep in it.
    """
    check_arguments(store_path, sweep)
    with store.opened(store_path, must_exist=True) as conn:
        rows = _rows(conn, sweep)
    try:
        pandas = importlib.import_module("pandas")
    except ImportError:
        return rows
    return pandas.DataFrame(rows, columns=list(COLUMNS))


def _number(value):
    """A JSON value: a finite float as the shortest text that reads back to it, else None."""
    if value is None or not math.isfinite(value):
        return None
    return float(str(value))  # float32 curves: "0.3", not 0.30000001192092896


def json_row(row: dict) -> dict:
    """One run as JSON: ``config`` parsed, curves as lists of numbers (null: no value)."""
    out = dict(row)
    out["config"] = json.loads(row["config"])
    for key in ("curve", "val_curve"):
        out[key] = [_number(v) for v in np.asarray(row[key], np.float32)]
    for key, value in out.items():
        if isinstance(value, float):
            out[key] = _number(value)
    return out


def write_json(conn, file, sweep: str | None = None) -> int:
    """Write the runs (of ``sweep``, or all) to ``file`` as one JSON array; how many."""
    rows = [json_row(r) for r in _rows(conn, sweep)]
    json.dump(rows, file, indent=1, allow_nan=False)
    file.write("\n")
    return len(rows)


def write_jsonl(conn, file, sweep: str | None = None) -> int:
    """Write the runs (of ``sweep``, or all) to ``file``, one JSON object a line; how many."""
    rows = _rows(conn, sweep)
    for r in rows:
        file.write(json.dumps(json_row(r), allow_nan=False, separators=(",", ":")) + "\n")
    return len(rows)


def write_csv(conn, file, sweep: str | None = None) -> int:
    """Write the runs (of ``sweep``, or all) as CSV (:func:`jaxnet.store.write_csv`), after
    checking that the sweep exists; how many."""
    check_sweep(conn, sweep)
    return store.write_csv(conn, file, in_file_marker(conn), sweep)
