"""A results store as TensorBoard event files: each run's curves and its hparams.

:func:`export_tensorboard` writes, for every stored run, one TensorBoard run folder
``DIR/SWEEP/RUN`` holding its training loss (``loss/train``, the stored window means, at the
last step of each window) and its validation loss (``loss/validation``, at each evaluation's
step), and its config and metrics in TensorBoard's hparams view: the config fields as
hyperparameters (``hidden``, ``activation``, ``learning_rate``, ...; ``status`` too) and every
metric it has as ``hparams/METRIC``. ``DIR/SWEEP`` itself holds the experiment (which
hyperparameters and metrics exist, as TensorFlow's ``hp.hparams_config`` writes it), so
``tensorboard --logdir DIR`` shows the sweep with nothing else installed.

The files are written with tensorboardX (``pip install "jaxnet[tensorboard]"``), into a new
folder that replaces ``DIR`` only once it is whole. ``DIR`` must not exist or be empty:
TensorBoard reads every event file of a run, so writing into an old export would show its
curves twice.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .. import store
from .fields import FIELDS
from .outputs import check_arguments, check_sweep
from .spec import METRICS, SweepError

INSTALL = 'pip install "jaxnet[tensorboard]"'


def _tensorboardx():
    try:
        return importlib.import_module("tensorboardX")
    except ImportError:
        raise SweepError(
            f"exporting to TensorBoard needs tensorboardX, an optional extra: {INSTALL}"
        ) from None


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.") or "run"


def run_name(row: dict) -> str:
    """A run's folder: its config id's first 8 digits, hidden sizes, activation, learning
    rate and seed (``3f2a9c1e_64-32_relu_lr0.001_s0``)."""
    return _safe(
        f"{row['config_id'][:8]}_{row['hidden'] or 'linear'}_{row['activation']}_"
        f"lr{row['learning_rate']:.3g}_s{row['seed']}"
    )


def hparams_of(row: dict) -> dict:
    """A run's hyperparameters: its config fields (a missing one left out) and its status."""
    out = {f.key: row[f.key] for f in FIELDS if row.get(f.key) is not None}
    out["status"] = row["status"]
    return {k: (bool(v) if k == "bias" else v) for k, v in out.items()}


def metrics_of(row: dict) -> dict:
    """``hparams/METRIC`` -> value for every finite metric of the run."""
    return {
        f"hparams/{m}": float(row[m])
        for m in METRICS
        if row[m] is not None and math.isfinite(row[m])
    }


def _curves(writer, row: dict) -> None:
    stride, steps = int(row["curve_stride"]), int(row["steps"])
    for i, v in enumerate(np.asarray(row["curve"], np.float64)):
        if math.isfinite(v):
            writer.add_scalar("loss/train", v, min((i + 1) * stride, steps))
    every = int(row["eval_every"])
    for k, v in enumerate(np.asarray(row["val_curve"], np.float64)):
        if math.isfinite(v):
            writer.add_scalar("loss/validation", v, min((k + 1) * every, steps))


def _write_run(tbx, folder: Path, row: dict) -> None:
    with tbx.SummaryWriter(logdir=str(folder)) as writer:
        _curves(writer, row)
        metrics = metrics_of(row)
        _, start, end = tbx.summary.hparams(hparams_of(row), metrics)
        writer.file_writer.add_summary(start)
        writer.file_writer.add_summary(end)
        for tag, value in metrics.items():
            writer.add_scalar(tag, value, int(row["steps_done"]))


def _write_sweep(tbx, folder: Path, rows: list[dict]) -> list[Path]:
    """One sweep: the experiment at its folder, then a run folder per row."""
    names, runs = set(), []
    union, metrics = {}, {}
    for row in rows:
        union.update({k: v for k, v in hparams_of(row).items() if k not in union})
        metrics.update(dict.fromkeys(metrics_of(row), 0.0))
    with tbx.SummaryWriter(logdir=str(folder)) as writer:
        experiment, _, _ = tbx.summary.hparams(union, metrics)
        writer.file_writer.add_summary(experiment)
    for row in rows:
        name = run_name(row)
        while name in names:  # never two runs in one folder
            name += "_"
        names.add(name)
        _write_run(tbx, folder / name, row)
        runs.append(folder / name)
    return runs


def _target(out_dir) -> Path:
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        what = "is not a folder" if not out.is_dir() else "is not empty"
        raise SweepError(
            f"--tensorboard {out} {what}; give a new or empty folder (TensorBoard would show "
            "an old export's curves beside the new ones)"
        )
    return out


def export_tensorboard(store_path, out_dir, sweep: str | None = None) -> list[Path]:
    """Write a store's runs as TensorBoard event files (see the module docstring).

    Args:
      store_path: an existing results store (read only).
      out_dir: a new or empty folder: ``out_dir/SWEEP/RUN`` per run.
      sweep: only this sweep; None: every sweep in the store.

    Returns:
      The run folders written, as they are once the export is in place.

    Raises:
      SweepError: tensorboardX is missing, ``out_dir`` is not empty, or no such sweep;
      StoreError: not a results store; TypeError: an argument of the wrong kind.
    """
    check_arguments(store_path, sweep)
    if not isinstance(out_dir, (str, os.PathLike)) or str(out_dir) == "":
        raise TypeError(f"out_dir must be a folder's path; got {out_dir!r}")
    out = _target(out_dir)
    tbx = _tensorboardx()
    with store.opened(store_path, must_exist=True) as conn:
        check_sweep(conn, sweep)
        names = [e["name"] for e in store.sweeps(conn) if sweep in (None, e["name"])]
        rows = {name: store.runs(conn, name) for name in names}
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        written, folders = [], set()
        for name in names:
            folder = _safe(name)
            while folder in folders:  # names made safe may meet ("." and ".." are both "run")
                folder += "_"
            folders.add(folder)
            written += _write_sweep(tbx, scratch / folder, rows[name])
        if out.exists():
            out.rmdir()  # empty (checked above): the export takes its place
        os.replace(scratch, out)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return [out / p.relative_to(scratch) for p in written]
