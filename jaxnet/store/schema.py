"""The store's schema: its tables and columns, its error type, and how curves become bytes.

Curves are stored compactly as raw little-endian float32 bytes (:func:`encode_floats`), never
pickled: the training loss averaged over windows of ``curve_stride`` steps
(:func:`downsample`), and the validation loss at each evaluation.
"""

from __future__ import annotations

import datetime
import math

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
# Columns of ``runs`` added after its first version: name -> (SQL type and default, the value
# a row stored before them has), in the order they were added. A store written before them
# gains them when it is opened to write (jaxnet.store.columns).
ADDED_RUN_COLUMNS = {
    "dropout": ("REAL NOT NULL DEFAULT 0", 0.0),  # no dropout
    "weight_decay": ("REAL NOT NULL DEFAULT 0", 0.0),  # none beyond the optimizer's own
    "grads": ("TEXT NOT NULL DEFAULT 'auto'", "auto"),  # jax.grad
    "lr_schedule": ("TEXT NOT NULL DEFAULT 'constant'", "constant"),
    "lr_final": ("REAL", None),
    "warmup_steps": ("INTEGER", None),
    "patience": ("INTEGER", None),  # no early stopping
}
RUN_COLUMNS |= {name: kind for name, (kind, _) in ADDED_RUN_COLUMNS.items()}
BLOB_COLUMNS = ("curve", "val_curve")

SCHEMA = f"""
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
