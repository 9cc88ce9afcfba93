"""A search as the read side shows it: its rungs, its PBT lineage, its steps and kept models.

``jaxnet runs`` (:func:`jaxnet.sweep.store_summary`) prints :func:`search_lines` under a
sweep's ranking; the report page shows :func:`search_facts` in its header. Both read the store
alone and say nothing for a grid sweep without kept models. Left out: the decisions
themselves (:mod:`.halving`, :mod:`.pbt`).
"""

from __future__ import annotations

import json
from collections import Counter

from ... import store
from ..plan import default_metric, expand
from ..spec import SweepError, spec_from_source


def _metric(entry: dict) -> str:
    """The metric a stored sweep ranks by (a search's is always a validation metric)."""
    return default_metric(spec_from_source(entry["spec"]).settings)


def _settings(conn, name: str, spec_text: str) -> dict | None:
    """The search's settings as the sweep file gave them (without the config-set hash; an
    Optuna study's ``trials`` from the sweep's latest text)."""
    found = store.search_of(conn, name)
    if found is None:
        return None
    settings = json.loads(found[1])
    settings.pop("configs", None)
    if settings["method"] == "optuna":  # kept apart: a study may be given more trials
        try:
            spec = spec_from_source(spec_text)
            settings = {"method": "optuna", "trials": spec.search["trials"], **settings}
        except (SweepError, ValueError, TypeError, KeyError):
            pass
    return settings


def _value(v) -> str:
    if isinstance(v, list):
        return "/".join(_value(f) for f in v)
    # An int as itself: a seed such as 2**64 would read 1.84467e+19 through :g.
    return v if isinstance(v, str) else str(v) if isinstance(v, int) else f"{v:g}"


def _described(search: dict) -> str:
    shown = dict(search)
    if shown.get("pruner") == "none":  # an Optuna study's halving keys mean nothing then
        shown.pop("min_steps", None)
        shown.pop("factor", None)
    keys = ", ".join(f"{k} {_value(v)}" for k, v in shown.items() if k != "method")
    return f"{search['method']} ({keys})"


def _trial_configs(conn, name: str) -> list[dict]:
    """The distinct configs of an Optuna study's stored trials, first trial first."""
    found = {t["config_id"]: t["config"] for t in store.stored_trials(conn, name)}
    return [json.loads(c) for c in found.values()]


def study_lines(conn, name: str, rows: list[dict], metric: str) -> list[str]:
    """An Optuna study's trials: how many were asked in how many batches, what they were told,
    and the best trial's params (``metric`` ranks them)."""
    trials = store.stored_trials(conn, name)
    if not trials:
        return ["no trials asked yet"]
    by_id = {r["config_id"]: r for r in rows}
    told = Counter(_told(by_id.get(t["config_id"]), metric) for t in trials)
    batches = len({t["batch"] for t in trials})
    distinct = len({t["config_id"] for t in trials})
    states = ", ".join(f"{n} {state}" for state, n in sorted(told.items()))
    lines = [
        f"{len(trials)} trials asked in {batches} batch{'es' if batches != 1 else ''} "
        f"({distinct} distinct configs): {states}"
    ]
    done = [t for t in trials if _told(by_id.get(t["config_id"]), metric) == "complete"]
    if done:
        sign = -1.0 if metric.endswith("accuracy") else 1.0
        best = min(done, key=lambda t: (sign * by_id[t["config_id"]][metric], t["number"]))
        params = ", ".join(f"{k} {_param(v)}" for k, v in json.loads(best["params"]).items())
        lines.append(
            f"best trial #{best['number']} (config {best['config_id'][:8]}, {metric} "
            f"{by_id[best['config_id']][metric]:.4g}): {params}"
        )
    return lines


def _param(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _told(row: dict | None, metric: str) -> str:
    """What a trial was told, from its config's row: complete, pruned or fail; ``running``
    while it has no row."""
    if row is None:
        return "running"
    if row["status"] == "pruned":
        return "pruned"
    return "complete" if row[metric] is not None else "fail"


def steps_line(conn, name: str, spec_text: str) -> str | None:
    """``steps trained: 780 of 3,240 (24 %)``: a search's steps against a grid's, or None."""
    found = store.search_of(conn, name)
    if found is None:
        return None
    try:  # the task only picks a loss, which does not change a config's steps
        configs = expand(spec_from_source(spec_text), "classification")
    except (SweepError, ValueError, TypeError, KeyError):
        return None
    if found[0] == "optuna":  # its configs were asked as it went
        configs = _trial_configs(conn, name)
    grid = sum(c["steps"] for c in configs)
    done = store.steps_trained(conn, name)
    return f"steps trained: {done:,} of {grid:,} ({100 * done / max(grid, 1):.0f} %)"


def rung_lines(conn, name: str, rows: list[dict]) -> list[str]:
    """One line per halving rung: its step, the configs that reached it, what became of them."""
    results = store.rung_results(conn, name)
    status = {r["config_id"]: (r["status"], r["steps_done"]) for r in rows}
    reached: dict[int, list] = {}
    for r in results:
        reached.setdefault(r["rung"], []).append(r)
    lines = []
    for rung in sorted(reached):
        members = reached[rung]
        step = max(r["step"] for r in members)
        fates = Counter(
            status[r["config_id"]][0]
            for r in members
            if r["config_id"] in status and status[r["config_id"]][1] == r["step"]
        )
        ended = ", ".join(f"{n} {fate}" for fate, n in sorted(fates.items()))
        going = len(members) - sum(fates.values())
        gone = f", {going} went on" if going else ""
        reached_text = f"{len(members)} config{'s' if len(members) != 1 else ''}"
        lines.append(f"rung {rung} (step {step:,}): {reached_text}{gone}; {ended or '-'}")
    return lines


def lineage_lines(conn, name: str, best: str | None) -> list[str]:
    """PBT's copies: how many, and the lineage of the best member (``best``'s config id)."""
    copies = store.lineage(conn, name)
    lines = [f"{len(copies)} exploit copies"]
    mine = [c for c in copies if c["config_id"] == best]
    if best is not None:
        steps = "; ".join(
            f"step {c['step']:,} copied {c['source'][:8]} (lr {c['source_learning_rate']:.3g} -> "
            f"{c['learning_rate']:.3g})"
            for c in mine
        )
        lines.append(f"best member {best[:8]}: {steps or 'never copied another'}")
    return lines


def search_lines(conn, entry: dict, rows: list[dict], best: str | None) -> list[str]:
    """What ``jaxnet runs`` prints of a sweep's search and kept models (indented lines).

    Args:
      conn: an open store; entry: one of :func:`jaxnet.store.sweeps`; rows: its runs;
      best: the config id of its best run, or None.
    """
    name, lines = entry["name"], []
    search = _settings(conn, name, entry["spec"])
    if search is not None:
        steps = steps_line(conn, name, entry["spec"])
        lines.append(f"search: {_described(search)}" + (f"; {steps}" if steps else ""))
        halving = search["method"] == "halving" or search.get("pruner") == "halving"
        detail = rung_lines(conn, name, rows) if halving else []
        detail += lineage_lines(conn, name, best) if search["method"] == "pbt" else []
        if search["method"] == "optuna":
            detail = study_lines(conn, name, rows, _metric(entry)) + detail
        lines += [f"  {line}" for line in detail]
    kept = store.kept_model_ids(conn, name)
    if kept:
        top = f"; best: config {best[:12]} (jaxnet predict STORE --best)" if best in kept else ""
        lines.append(f"kept models: {len(kept)} of {len(rows)}{top}")
    return lines


def search_facts(conn, entry: dict, rows: list[dict], best: str | None) -> list[tuple[str, str]]:
    """The report page's header lines of a search: method, steps, rungs or lineage (of the
    best run, config id ``best``), and the kept models."""
    name = entry["name"]
    search = _settings(conn, name, entry["spec"])
    facts = []
    if search is not None:
        facts.append(("search", _described(search)))
        steps = steps_line(conn, name, entry["spec"])
        if steps:
            facts.append(("steps trained", steps.split(": ", 1)[1]))
        if search["method"] == "optuna":
            facts += [("trials", "; ".join(study_lines(conn, name, rows, _metric(entry))))]
        if search["method"] == "halving" or search.get("pruner") == "halving":
            facts += [("rungs", "; ".join(rung_lines(conn, name, rows)) or "-")]
        if search["method"] == "pbt":
            facts += [("lineage", "; ".join(lineage_lines(conn, name, best)))]
    kept = store.kept_model_ids(conn, name)
    if kept:
        facts.append(("kept models", f"{len(kept)} (jaxnet predict STORE --best)"))
    return facts
