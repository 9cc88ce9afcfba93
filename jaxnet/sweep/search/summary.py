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
from ..plan import expand
from ..spec import SweepError, spec_from_source


def _settings(conn, name: str) -> dict | None:
    """The search's settings as the sweep file gave them (without the config-set hash)."""
    found = store.search_of(conn, name)
    if found is None:
        return None
    settings = json.loads(found[1])
    settings.pop("configs", None)
    return settings


def _described(search: dict) -> str:
    keys = ", ".join(
        f"{k} {'/'.join(f'{f:g}' for f in v) if isinstance(v, list) else f'{v:g}'}"
        for k, v in search.items()
        if k != "method"
    )
    return f"{search['method']} ({keys})"


def steps_line(conn, name: str, spec_text: str) -> str | None:
    """``steps trained: 780 of 3,240 (24 %)``: a search's steps against a grid's, or None."""
    if store.search_of(conn, name) is None:
        return None
    try:  # the task only picks a loss, which does not change a config's steps
        configs = expand(spec_from_source(spec_text), "classification")
    except (SweepError, ValueError, TypeError, KeyError):
        return None
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
    search = _settings(conn, name)
    if search is not None:
        steps = steps_line(conn, name, entry["spec"])
        lines.append(f"search: {_described(search)}" + (f"; {steps}" if steps else ""))
        detail = rung_lines(conn, name, rows) if search["method"] == "halving" else []
        detail += lineage_lines(conn, name, best) if search["method"] == "pbt" else []
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
    search = _settings(conn, name)
    facts = []
    if search is not None:
        facts.append(("search", _described(search)))
        steps = steps_line(conn, name, entry["spec"])
        if steps:
            facts.append(("steps trained", steps.split(": ", 1)[1]))
        if search["method"] == "halving":
            facts += [("rungs", "; ".join(rung_lines(conn, name, rows)) or "-")]
        if search["method"] == "pbt":
            facts += [("lineage", "; ".join(lineage_lines(conn, name, best)))]
    kept = store.kept_model_ids(conn, name)
    if kept:
        facts.append(("kept models", f"{len(kept)} (jaxnet predict STORE --best)"))
    return facts
