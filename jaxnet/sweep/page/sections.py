"""The report page's data: one section per sweep of a store, read from the store alone.

A section joins a sweep's header (:mod:`.facts`) and its members table (:mod:`.members`);
the page embeds the sections as inline JSON. Rows of configs the sweep's file no longer
defines (:mod:`..versions`) are counted apart and listed after the current ones, marked.
Left out: the figures, drawn apart (:func:`jaxnet.sweep.draw_figures`), and the HTML
(:mod:`.markup`).
"""

from __future__ import annotations

from ... import store
from ..rank import best_run
from ..search.summary import search_facts
from ..spec import METRICS
from ..versions import readable_spec, split_rows
from .facts import earlier_facts, optional_facts, spec_facts, sweep_facts
from .members import curve_name_keys, earlier_member, member, table_columns


def _section(conn, entry: dict, metric: str | None) -> dict:
    every = store.runs(conn, entry["name"])
    rows, earlier = split_rows(every, readable_spec(entry["spec"]))
    spec = spec_facts(entry)
    ranked = metric or spec["metric"]
    columns, fixed = table_columns(every, ranked)
    keys = [c["key"] for c in columns]
    name_keys = curve_name_keys(columns)
    facts = sweep_facts(spec, rows, optional_facts(conn, entry["name"]))
    return {
        "name": entry["name"],
        "description": spec["description"],
        "note": spec["note"],
        "facts": facts
        + search_facts(conn, entry, rows, _best_id(rows, ranked))
        + earlier_facts(earlier),
        "fixed": fixed,
        "columns": columns,
        "members": [member(r, columns, name_keys) for r in rows]
        + [earlier_member(r, columns, name_keys) for r in earlier],
        "sort": keys.index(ranked) if ranked in keys else None,
        "configs": spec["configs"],
        "stored": len({r["config_id"] for r in rows}),
    }


def _best_id(rows: list[dict], metric: str | None) -> str | None:
    best = best_run(rows, metric) if metric in METRICS else None
    return None if best is None else best["config_id"]


def sweep_sections(conn, metric: str | None = None) -> list[dict]:
    """The page's data of every sweep in an open store, store order.

    Args:
      conn: an open store; metric: rank by this instead of each sweep's own metric.

    Returns:
      One dict per sweep: ``name``, ``description``, ``note`` (why its spec could not be
      read, or None), ``facts`` (label, text) pairs, ``fixed`` (settings every member shares),
      ``columns``, ``members`` (one dict per stored run: cell texts, sort values, curve
      points; the current file's first, then those of earlier versions, marked ``earlier``),
      ``sort`` (the ranking column), ``configs`` (planned, None when unknown) and
      ``stored`` (configs with a row).
    """
    return [_section(conn, entry, metric) for entry in store.sweeps(conn)]
