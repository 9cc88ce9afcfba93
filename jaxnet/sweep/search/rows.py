"""A searched config's store row, built from its stored rung results alone.

A config a search finished -- completed, pruned at a rung, or diverged -- gets the same row a
grid sweep writes (:func:`jaxnet.sweep.member_rows`): its config columns, its metrics at its
last step (train and test of its params there; the validation metrics over every evaluation
up to it), its curves and timings. Everything comes from the rung results in the store, so a
search killed and rerun writes exactly the rows an uninterrupted one writes. Its status is
``"completed"``, ``"pruned"`` (``steps_done`` the rung it stopped at) or ``"diverged"``. Its
timings are those of the task it ended in (``group_id`` names that task), and its kept model
is its params at its last step, read from its stored state.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from ...population import PopulationHistory
from ..models import model_record
from ..preparation import net_for
from ..task import member_rows
from .segment import decode_state


def _history(results: list, status: str) -> tuple[PopulationHistory, dict]:
    """One member's history over its segments, and its train/test metrics at the end."""
    last = results[-1]
    history = PopulationHistory(
        loss=np.concatenate([r["loss"] for r in results])[None],
        eval_step=np.concatenate([r["eval_step"] for r in results]),
        val_loss=np.concatenate([r["val_loss"] for r in results])[None],
        val_accuracy=np.concatenate([r["val_accuracy"] for r in results])[None],
        status=(status,),
        steps=np.array([last["step"]], np.int64),
        seconds=0.0,
        compile_seconds=0.0,
    )
    evaluated = {
        part: (np.array([_nan(last[f"{part}_loss"])]), np.array([_nan(last[f"{part}_accuracy"])]))
        for part in ("train", "test")
    }
    return history, evaluated


def _nan(value) -> float:
    return np.nan if value is None else float(value)


def finished_row(sweep: str, config: dict, results: list, status: str, prepared, curve_points):
    """The store row of one finished config (every column of :data:`jaxnet.store.RUN_COLUMNS`).

    Args:
      sweep: the sweep's name; config: the config; results: its rung results with their
        per-step losses, rung order, up to where it stopped; status: its fate.
      prepared: the sweep's data; curve_points: the most points kept of its training curve.
    """
    history, evaluated = _history(results, status)
    info = json.loads(results[-1]["info"])
    timing = {
        "group_seconds": info["seconds"],
        "train_seconds": info["seconds"] - info["compile_seconds"],
        "compile_seconds": info["compile_seconds"],
        **{k: info[k] for k in ("jaxnet_version", "jax_version", "device_kind")},
    }
    net = net_for(config, prepared)
    (row,) = member_rows(sweep, [config], net, history, evaluated, timing, curve_points)
    row["group_id"] = hashlib.sha256(results[-1]["task"].encode()).hexdigest()[:16]
    row["group_size"] = int(info["size"])
    return row


def finished_model(row: dict, config: dict, state: dict | None, prepared) -> dict | None:
    """The kept-model record of a finished config from its stored state (None without one)."""
    if state is None:
        return None
    net = net_for(config, prepared)
    where = f"stored state of config {row['config_id']}"
    params = decode_state(state, net, config["optimizer"], where).params
    return model_record(row["config_id"], state["step"], net, params, prepared)
