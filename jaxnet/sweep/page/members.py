"""The members table of one sweep on the report page: its columns, cells and curve points.

A column per config field that varies (:data:`jaxnet.sweep.fields.FIELDS`; the fixed ones
are listed above the table), the status, then every metric a member has, the ranking metric
first; all but the main metrics (:func:`main_metrics`) are marked ``more``, shown on request, so
the table fits a 1400-pixel screen. Each cell carries the text the terminal table writes and
a value to sort by; each member carries its downsampled curves for the page's chart. Left out:
the sweep's header (:mod:`.facts`) and the HTML (:mod:`.markup`).
"""

from __future__ import annotations

from ..fields import BY_KEY, FIELDS
from ..rank import format_metric, higher_is_better
from ..spec import METRICS
from .facts import finite_or_none


def _rounded_finite(value) -> float | None:
    """:func:`finite_or_none` rounded to 4 significant digits, for the page's data (curves are
    float32; the table shows at most 4 digits)."""
    value = finite_or_none(value)
    return None if value is None else float(f"{value:.4g}")


def _metric_column(metric: str) -> dict:
    better = "high" if higher_is_better(metric) else "low"
    return {"key": metric, "label": metric, "kind": "metric", "numeric": True, "better": better}


def table_columns(rows: list[dict], ranked: str | None) -> tuple[list[dict], list[str]]:
    """Table columns and the fixed rest: the config fields that vary, the status, then the
    metrics that exist, the ranking metric first.

    Args:
      rows: a sweep's runs; ranked: the metric the table is sorted by (None: none).

    Returns:
      ``(columns, fixed)``: column dicts (``key``, ``label``, ``kind``, ``numeric`` and, for a
      metric, ``better`` and ``more``: hidden until the reader asks for every metric) and
      ``"lr 0.1"``-like texts of the fields every member shares.
    """
    columns, fixed = [], []
    for field in FIELDS:
        values = {repr(r[field.key]) for r in rows}
        if len(values) > 1:
            columns.append(
                {
                    "key": field.key,
                    "label": field.header,
                    "kind": "config",
                    "numeric": field.numeric,
                }
            )
        elif rows:
            fixed.append(f"{field.header} {field.text(rows[0][field.key])}")
    columns.append({"key": "status", "label": "status", "kind": "status", "numeric": False})
    present = [
        m for m in sorted(METRICS, key=lambda m: m != ranked) if any(r[m] is not None for r in rows)
    ]
    shown = main_metrics(ranked, present)
    for metric in present:
        columns.append({**_metric_column(metric), "more": metric not in shown})
    return columns, fixed


def main_metrics(ranked: str | None, present: list[str]) -> list[str]:
    """The metric columns a table shows before "more metrics" is clicked, so that it fits a
    laptop screen: the ranking metric and its test counterpart (accuracy or loss alike), or
    with no ranking metric (or no test set) the first metrics present.

    Args:
      ranked: the ranking metric; present: the metrics some member has, ``ranked`` first.
    """
    if ranked not in present:
        return present[:2]
    kind = ranked.rsplit("_", 1)[1]
    partner = f"test_{kind}" if not ranked.startswith("test_") else f"best_val_{kind}"
    return [ranked] + ([partner] if partner in present else [])


def _cell(row: dict, column: dict) -> tuple[str, object]:
    """``(text, sort value)`` of one cell: the text as the terminal table writes it."""
    key, value = column["key"], row[column["key"]]
    if column["kind"] == "metric":
        value = finite_or_none(value)
        return ("-", None) if value is None else (format_metric(value, key), _rounded_finite(value))
    if key == "status":
        stopped = value in ("diverged", "pruned")  # a search prunes at a rung
        text = f"{value} at step {row['steps_done']}" if stopped else str(value)
        return text, text
    if key == "hidden":  # sort by the sizes, not as text: 16-16 after 128 is wrong
        return str(value), [int(p) for p in str(value).split("-") if p.isdigit()]
    return BY_KEY[key].text(value), value


def curve_name_keys(columns: list[dict]) -> list[str]:
    """The columns that name a member's curve: the config fields that vary, less what follows
    from the hidden sizes (depth, width, parameter count)."""
    return [c["key"] for c in columns if c["key"] in BY_KEY and not BY_KEY[c["key"]].from_shape]


def member(row: dict, columns: list[dict], name_keys: list[str]) -> dict:
    """The page's data of one stored run.

    Args:
      row: a run of :func:`jaxnet.store.runs`; columns: :func:`table_columns`;
        name_keys: :func:`curve_name_keys`.

    Returns:
      ``id``, ``text`` and ``sort`` (one per column), ``fields`` (every config field and the
      status by key), ``label`` (the curve's name), ``diverged``, ``earlier``, ``curve``
      (``(T,)`` window means, 4 digits) with its ``stride``, and ``val`` with ``val_steps``
      (the step of each evaluation).
    """
    cells = [_cell(row, c) for c in columns]
    label = " ".join(BY_KEY[k].curve_tag(row[k]) for k in name_keys) or str(row["hidden"])
    n = len(row["val_curve"])
    return {
        "id": int(row["id"]),
        "text": [t for t, _ in cells],
        "sort": [v for _, v in cells],
        # every field by name, for filters on columns that are hidden because they are fixed
        "fields": {f.key: row[f.key] for f in FIELDS} | {"status": row["status"]},
        "label": label,
        "diverged": row["status"] == "diverged",
        "earlier": False,  # a row of the sweep file as it is (see earlier_member)
        "curve": [_rounded_finite(v) for v in row["curve"]],
        "stride": int(row["curve_stride"]),
        "val": [_rounded_finite(v) for v in row["val_curve"]],
        # evaluation k ran after min((k + 1) * eval_every, steps) steps
        "val_steps": [min((k + 1) * int(row["eval_every"]), int(row["steps"])) for k in range(n)],
    }


def earlier_member(row: dict, columns: list[dict], name_keys: list[str]) -> dict:
    """:func:`member` of a row whose config the sweep's file no longer defines: marked
    ``earlier``, its status saying so (the page lists it after the current rows)."""
    out = member(row, columns, name_keys)
    keys = [c["key"] for c in columns]
    if "status" in keys:
        i = keys.index("status")
        out["text"][i] = out["sort"][i] = f"{out['text'][i]}, earlier file"
    return {**out, "earlier": True}
