"""An Optuna sweep's parameter importances for the report page, from the store alone.

The study is rebuilt from the stored trials (their params) and rows (their value: the sweep's
metric), complete trials only, and Optuna's default evaluator (fANOVA, seeded, so the page is
the same each time it is written) says how much of the metric's variance each parameter
explains. Nothing else is computed: without Optuna, or with too few complete trials, the page
says why it shows none. Left out: any other sweep (a grid's or a halving search's configs are
not a sampler's trials).
"""

from __future__ import annotations

import importlib
import json
import math
import warnings

from ... import store
from ..search.space import distributions
from ..spec import SweepError, spec_from_source


def _complete(trials: list[dict], rows: list[dict], metric: str) -> list[tuple[dict, float]]:
    """``(params, value)`` of every trial whose config completed with a finite metric."""
    by_id = {r["config_id"]: r for r in rows}
    out = []
    for t in trials:
        row = by_id.get(t["config_id"])
        if row is None or row["status"] == "pruned" or row[metric] is None:
            continue
        if math.isfinite(row[metric]):
            out.append((json.loads(t["params"]), float(row[metric])))
    return out


def importances(conn, entry: dict, rows: list[dict], metric: str) -> tuple[list, str]:
    """``([(parameter, importance), ...] largest first, note)`` of an Optuna sweep; the list
    is empty and the note says why when there are none; ``([], "")`` for any other sweep.

    Args:
      conn: an open store; entry: one of :func:`jaxnet.store.sweeps`; rows: its runs;
      metric: what ranks them (the study's objective).
    """
    found = store.search_of(conn, entry["name"])
    if found is None or found[0] != "optuna":
        return [], ""
    try:
        optuna = importlib.import_module("optuna")
    except ImportError:
        return [], 'parameter importances need Optuna: pip install "jaxnet[optuna]"'
    try:
        space = distributions(spec_from_source(entry["spec"]), optuna)
    except (SweepError, ValueError, TypeError, KeyError) as e:
        return [], f"parameter importances: the stored sweep cannot be read ({e})"
    done = _complete(store.stored_trials(conn, entry["name"]), rows, metric)
    if len(done) < 2 or len(space) < 1:
        return [], "parameter importances need at least 2 complete trials"
    direction = "maximize" if metric.endswith("accuracy") else "minimize"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(direction=direction)
        study.add_trials(
            [optuna.trial.create_trial(params=p, distributions=space, value=v) for p, v in done]
        )
        try:
            evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
            found = optuna.importance.get_param_importances(study, evaluator=evaluator)
        except (ImportError, RuntimeError, ValueError) as e:
            return [], f"parameter importances could not be computed ({e})"
    return [(name, float(v)) for name, v in found.items()], ""
