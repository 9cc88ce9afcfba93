"""The report page: ``index.html``, one offline web page with every sweep of a results store.

Per sweep the page shows what the store knows about the run (configs, groups, timings, device,
versions), a table of every trained member that sorts by a header click and narrows to a typed
filter (``tanh``, ``depth=2``, ``lr<0.01``), the PNG figures of :func:`.report.report` drawn
beside the page, and the training curves of the rows the reader selects, drawn in the page as
SVG from the stored downsampled curves. Everything is read from the store alone.

The page is one file: its script and style are inlined from ``page.js`` and ``page.css`` beside
this module, its data is inline JSON; only the PNGs are separate files in the same folder. No
network, no CDN, no vendored library: a sortable table and a line chart are a few hundred lines.

Nothing in the store is trusted: names, descriptions and config strings are HTML-escaped in
text and attributes, the inline JSON escapes ``<``, ``>`` and ``&`` so no ``</script>`` can
close it, and the script puts stored strings into the page only as text (``textContent``).

:func:`watch` rewrites the page whenever a running sweep commits a group; the page polls a tiny
``stamp.js`` beside it and reloads itself when the stamp changes, keeping its sort, filter and
selection in the address's ``#`` part.

Left out: a server (the folder is the page), comparing sweeps against each other, and curves of
members that are not selected (the PNGs show the pooled picture).
"""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import math
import numbers
import os
import re
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path

from .. import _atomic, store
from .plan import default_metric, expand
from .rank import _shown, higher_is_better
from .report import report
from .spec import METRICS, SweepError, spec_from_source

PAGE = "index.html"
STAMP = "stamp.js"

# Config columns of the members table: (row key, header, how the value is shown).
_CONFIG_COLUMNS = (
    ("hidden", "hidden", str),
    ("depth", "depth", str),
    ("width", "width", str),
    ("activation", "activation", str),
    ("bias", "bias", lambda v: "yes" if v else "no"),
    ("optimizer", "optimizer", str),
    ("learning_rate", "lr", lambda v: f"{v:.3g}"),  # as the terminal table shows it
    ("batch_size", "batch", str),
    ("steps", "steps", str),
    ("seed", "seed", str),
    ("init_scale", "init_scale", lambda v: f"{v:g}"),
    ("n_params", "params", str),
)
# What a later store may add (programs compiled, cache hits, a run's wall time): shown when
# a ``sweeps`` or ``runs`` column of one of these names exists, never required.
_OPTIONAL_FACTS = {
    "programs compiled": ("programs_compiled", "programs", "compiles"),
    "compile cache hits": ("cache_hits", "compile_cache_hits"),
    "sweep wall time": ("wall_seconds", "sweep_seconds"),
}


@dataclasses.dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote.

    Attributes:
      figures: every PNG path, all sweeps together.
      page: the ``index.html`` path.
      notes: one line per sweep whose figures could not be drawn yet, and why.
    """

    figures: list
    page: Path
    notes: list


# --- reading the store ------------------------------------------------------------------------


def _shown_or_dash(value, show) -> str:
    return "-" if value is None else show(value)


def _finite(value) -> float | None:
    """A finite float; None for NULL, NaN, infinities and anything that is not a number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # NumPy's included
        return None
    return float(value) if math.isfinite(value) else None


def _number(value) -> float | None:
    """:func:`_finite` rounded to 4 significant digits, for the page's data (curves are
    float32; the table shows at most 4 digits)."""
    value = _finite(value)
    return None if value is None else float(f"{value:.4g}")


def _spec_facts(entry: dict) -> dict:
    """Description, dataset, default metric and config count from the stored spec text.

    A spec this jaxnet cannot read (a newer or damaged store) gives what it can and a note.
    """
    try:
        spec = spec_from_source(entry["spec"])
    except (SweepError, ValueError, TypeError, KeyError) as e:
        return {"description": "", "dataset": None, "metric": None, "configs": None, "note": str(e)}
    try:  # the task only picks a loss, which every config shares: the count is task-free
        configs = len(expand(spec, "classification"))
    except (SweepError, ValueError, TypeError, KeyError):
        configs = None
    return {
        "description": spec.settings.get("description") or "",
        "dataset": spec.dataset,
        "metric": default_metric(spec.settings),
        "configs": configs,
        "note": None,
    }


def _groups(rows: list[dict]) -> list[dict]:
    """One row per group (population): its timings are repeated on each member's row."""
    return list({r["group_id"]: r for r in rows}.values())


def _distinct(rows: list[dict], key: str) -> str:
    values = sorted({str(r[key]) for r in rows if r.get(key) is not None})
    return ", ".join(values) if values else "-"


def _optional_facts(conn, name: str, rows: list[dict]) -> dict:
    """Facts a newer store may hold (see :data:`_OPTIONAL_FACTS`), read without assuming."""
    sweep_rows = [dict(r) for r in conn.execute("SELECT * FROM sweeps WHERE name = ?", (name,))]
    found = {}
    for label, names in _OPTIONAL_FACTS.items():
        for column in names:
            # one value per sweep row (a run of the file) or per group, added up
            source = sweep_rows if sweep_rows and column in sweep_rows[0] else _groups(rows)
            values = [_finite(r.get(column)) for r in source]
            if any(v is not None for v in values):
                found[label] = sum(v for v in values if v is not None)
                break
    return found


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _facts(entry: dict, spec: dict, rows: list[dict], optional: dict) -> list[tuple[str, str]]:
    """The header of one sweep as (label, text) pairs; what the store lacks says so."""
    groups = _groups(rows)
    diverged = sum(r["status"] == "diverged" for r in rows)
    trained = f"{len(rows)} trained" + (f", {diverged} diverged" if diverged else "")
    if spec["configs"] is None:
        configs = f"? ({trained})"
    else:
        left = spec["configs"] - len({r["config_id"] for r in rows})
        configs = f"{spec['configs']} ({trained}" + (f", {left} to go)" if left > 0 else ")")
    wall = sum(_finite(g["group_seconds"]) or 0.0 for g in groups)
    compiling = sum(_finite(g["compile_seconds"]) or 0.0 for g in groups)
    facts = [
        ("dataset", spec["dataset"] or (rows[0]["dataset"] if rows else "-")),
        ("configs", configs),
        ("groups", str(len(groups))),
    ]
    for label in ("programs compiled", "compile cache hits"):
        value = optional.get(label)
        facts.append((label, "not stored" if value is None else f"{value:.0f}"))
    share = f"{100 * compiling / wall:.0f}%" if wall > 0 else "-"
    facts.append(("compile share", f"{share} of group time"))
    facts.append(("training wall time", f"{_seconds(wall)} (groups added up)"))
    if "sweep wall time" in optional:
        facts.append(("sweep wall time", _seconds(optional["sweep wall time"])))
    facts += [
        ("device", _distinct(rows, "device_kind")),
        ("jaxnet", _distinct(rows, "jaxnet_version")),
        ("JAX", _distinct(rows, "jax_version")),
        ("ranked by", spec["metric"] or "-"),
    ]
    if rows:
        facts.append(
            ("stored", _span(min(r["created"] for r in rows), max(r["created"] for r in rows)))
        )
    return facts


def _span(first: str, last: str) -> str:
    """``2026-12-01 21:38:44 to 21:40:02 UTC`` from two ISO times (the date once if shared)."""
    a, b = (t.replace("T", " ").replace("+00:00", "") for t in (first, last))
    if a == b:
        return f"{a} UTC"
    if a[:10] == b[:10]:
        b = b[11:]
    return f"{a} to {b} UTC"


def _columns(rows: list[dict], ranked: str | None) -> tuple[list[dict], list[str]]:
    """Table columns and the fixed rest: the config fields that vary, the status, then the
    metrics that exist, the ranking metric first."""
    columns, fixed = [], []
    for key, label, show in _CONFIG_COLUMNS:
        values = {repr(r[key]) for r in rows}
        if len(values) > 1:
            numeric = key not in ("hidden", "activation", "optimizer", "bias")
            columns.append({"key": key, "label": label, "kind": "config", "numeric": numeric})
        elif rows:
            fixed.append(f"{label} {_shown_or_dash(rows[0][key], show)}")
    columns.append({"key": "status", "label": "status", "kind": "status", "numeric": False})
    for metric in sorted(METRICS, key=lambda m: m != ranked):
        if any(r[metric] is not None for r in rows):
            better = "high" if higher_is_better(metric) else "low"
            columns.append(
                {
                    "key": metric,
                    "label": metric,
                    "kind": "metric",
                    "numeric": True,
                    "better": better,
                }
            )
    return columns, fixed


_SHOWS = {key: show for key, _, show in _CONFIG_COLUMNS}


def _cell(row: dict, column: dict) -> tuple[str, object]:
    """``(text, sort value)`` of one cell: the text as the terminal table writes it."""
    key, value = column["key"], row[column["key"]]
    if column["kind"] == "metric":
        value = _finite(value)
        return ("-", None) if value is None else (_shown(value, key), _number(value))
    if key == "status":
        text = f"diverged at step {row['steps_done']}" if value == "diverged" else str(value)
        return text, text
    if key == "hidden":  # sort by the sizes, not as text: 16-16 after 128 is wrong
        return str(value), [int(p) for p in str(value).split("-") if p.isdigit()]
    return _shown_or_dash(value, _SHOWS[key]), value


def _label_part(row: dict, key: str) -> str:
    """``16-16``, ``relu``, ``no bias``, ``lr 0.1``, ``seed 2``: one field of a curve's name."""
    if key in ("hidden", "activation", "optimizer"):
        return str(row[key])
    if key == "bias":
        return "bias" if row[key] else "no bias"
    label = dict((k, lab) for k, lab, _ in _CONFIG_COLUMNS)[key]
    return f"{label} {_shown_or_dash(row[key], _SHOWS[key])}"


def _member(row: dict, columns: list[dict], label_keys: list[str]) -> dict:
    cells = [_cell(row, c) for c in columns]
    label = " ".join(_label_part(row, k) for k in label_keys) or str(row["hidden"])
    n = len(row["val_curve"])
    return {
        "id": int(row["id"]),
        "text": [t for t, _ in cells],
        "sort": [v for _, v in cells],
        # every field by name, for filters on columns that are hidden because they are fixed
        "fields": {k: row[k] for k, _, _ in _CONFIG_COLUMNS} | {"status": row["status"]},
        "label": label,
        "diverged": row["status"] == "diverged",
        "curve": [_number(v) for v in row["curve"]],
        "stride": int(row["curve_stride"]),
        "val": [_number(v) for v in row["val_curve"]],
        # evaluation k ran after min((k + 1) * eval_every, steps) steps
        "val_steps": [min((k + 1) * int(row["eval_every"]), int(row["steps"])) for k in range(n)],
    }


def _figure_dir(entries: list[dict], name: str, chosen: str | None) -> str:
    """Where a sweep's PNGs go, relative to the page: beside it for the chosen (or only)
    sweep, as ``jaxnet report`` always did; else a folder named after the sweep, made safe."""
    if name == chosen or (chosen is None and len(entries) == 1):
        return ""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "sweep"
    index = [e["name"] for e in entries].index(name)
    return f"sweep{index}-{slug}"


def sweep_sections(conn, metric: str | None = None) -> list[dict]:
    """The page's data of every sweep in an open store, store order.

    Args:
      conn: an open store; metric: rank by this instead of each sweep's own metric.

    Returns:
      One dict per sweep: ``name``, ``description``, ``facts`` (label, text) pairs,
      ``fixed`` (settings every member shares), ``columns``, ``members`` (one dict per
      stored run: cell texts, sort values, curve points) and ``sort`` (the ranking column).
    """
    sections = []
    for entry in store.sweeps(conn):
        rows = store.runs(conn, entry["name"])
        spec = _spec_facts(entry)
        ranked = metric or spec["metric"]
        columns, fixed = _columns(rows, ranked)
        keys = [c["key"] for c in columns]
        # a curve's name: what varies, less what follows from the hidden sizes
        label_keys = [k for k in keys if k in _SHOWS and k not in ("depth", "width", "n_params")]
        sections.append(
            {
                "name": entry["name"],
                "description": spec["description"],
                "note": spec["note"],
                "facts": _facts(entry, spec, rows, _optional_facts(conn, entry["name"], rows)),
                "fixed": fixed,
                "columns": columns,
                "members": [_member(r, columns, label_keys) for r in rows],
                "sort": keys.index(ranked) if ranked in keys else None,
                "configs": spec["configs"],
                "stored": len({r["config_id"] for r in rows}),
            }
        )
    return sections


# --- writing ----------------------------------------------------------------------------------


def _atomic_write(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, so a reader never sees half a page."""
    _atomic.write(path, lambda f: f.write(text.encode("utf-8")))


def _draw_figures(store_path, out: Path, name: str, folder: str, metric) -> tuple[list, str]:
    """The sweep's PNGs drawn into a scratch folder, then moved into place one by one (a
    page reloading meanwhile sees the old or the new file, never half of one)."""
    target = out / folder
    target.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=out, prefix=".figures."))
    try:
        drawn = report(store_path, scratch, name, metric)
        moved = []
        for path in drawn:
            os.replace(path, target / path.name)
            moved.append(target / path.name)
        return moved, ""
    except SweepError as e:  # no runs with the metric yet, an unreadable spec
        return [], e.args[0]
    except (ValueError, KeyError, TypeError, IndexError) as e:
        # a damaged or foreign store: the page still shows what it can
        return [], f"the figures could not be drawn ({type(e).__name__}: {e})"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _json_for_script(value) -> str:
    """JSON that is safe inside ``<script>``: no ``<``, ``>`` or ``&`` survive unescaped, so
    ``</script>`` or ``<!--`` in stored text cannot end the block or start markup."""
    text = json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _figure_html(paths: list[str], note: str, version: str) -> str:
    if not paths:
        return f'<p class="note">No figures yet: {_e(note)}</p>'
    query = f"?v={version}" if version else ""
    items = "".join(
        f'<figure><a href="{_e(p)}"><img src="{_e(p + query)}" alt="{_e(Path(p).stem)}"></a>'
        f"<figcaption>{_e(Path(p).name)}</figcaption></figure>"
        for p in paths
    )
    return f'<div class="figures">{items}</div>'


def _section_html(i: int, section: dict, figures: list[str], note: str, version: str) -> str:
    facts = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in section["facts"])
    fixed = ", ".join(section["fixed"])
    parts = [
        f'<section class="sweep" id="sweep-{i}" data-index="{i}">',
        f'<h2 class="sweep-name">{_e(section["name"])}</h2>',
        f'<p class="description">{_e(section["description"])}</p>'
        if section["description"]
        else "",
        f'<p class="note">{_e(section["note"])}</p>' if section["note"] else "",
        f'<dl class="facts">{facts}</dl>',
        f'<p class="fixed">Every member: {_e(fixed)}</p>' if fixed else "",
        '<div class="explore"><div class="members">',
        '<div class="toolbar"><input type="search" class="filter" '
        'placeholder="filter: tanh, depth=2, lr&lt;0.01, diverged" aria-label="filter rows">',
        '<span class="count"></span></div>',
        '<div class="table-wrap"><table><thead></thead><tbody></tbody></table></div></div>',
        '<div class="curves"><div class="curves-head"><h3>Training curves of the selected rows'
        '</h3><button type="button" class="clear">clear</button></div>',
        '<svg class="chart" viewBox="0 0 560 340" role="img" aria-label="training curves"></svg>',
        '<p class="hint">Click rows to add their curves. Solid: training loss (window means);'
        " dashed: validation loss at each evaluation.</p>",
        '<ul class="legend"></ul></div></div>',
        _figure_html(figures, note, version),
        "</section>",
    ]
    return "".join(parts)


def render(
    sections: list[dict],
    figures: dict[str, list[str]],
    notes: dict[str, str],
    title: str,
    stamp: str = "",
    watching: bool = False,
) -> str:
    """The page's HTML.

    Args:
      sections: :func:`sweep_sections`; figures: per sweep name, PNG paths relative to the
        page; notes: per sweep name, why it has no figures.
      title: shown at the top (the store's file name); stamp: this version of the page.
      watching: poll ``stamp.js`` and reload when it changes.
    """
    nav = "".join(f'<a href="#sweep-{i}">{_e(s["name"])}</a>' for i, s in enumerate(sections))
    body = (
        "".join(
            _section_html(
                i,
                s,
                figures.get(s["name"], []),
                notes.get(s["name"], ""),
                stamp if watching else "",
            )
            for i, s in enumerate(sections)
        )
        or '<p class="note empty">The store holds no sweeps yet.</p>'
    )
    aliases = {label: key for key, label, _ in _CONFIG_COLUMNS if label != key}
    boot = {"stamp": stamp, "watching": watching, "aliases": aliases, "sweeps": sections}
    status = (
        '<p class="watching">Watching the store: this page reloads itself as groups finish.</p>'
        if watching
        else ""
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} - jaxnet sweep report</title>"
        f"<style>{_asset('page.css')}</style></head><body>"
        f'<header><h1>{_e(title)}</h1><p class="sub">jaxnet sweep report, written '
        f"{_e(_span(store.now(), store.now()))}</p>{status}<nav>{nav}</nav></header>"
        f"<main>{body}</main>"
        f'<script type="application/json" id="jaxnet-data">{_json_for_script(boot)}</script>'
        f"<script>{_asset('page.js')}</script></body></html>\n"
    )


def write_report(
    store_path,
    out_dir,
    sweep_name: str | None = None,
    metric: str | None = None,
    watching: bool = False,
) -> ReportFiles:
    """Draw every sweep's PNGs and write ``out_dir/index.html`` from the store alone.

    The chosen sweep's PNGs (``sweep_name``, or the only one) land in ``out_dir`` itself, as
    :func:`.report.report` writes them; any other sweep's go to ``out_dir/sweepI-NAME/``.

    Args:
      store_path: an existing results store; out_dir: created when missing.
      sweep_name: the sweep whose figures go in ``out_dir`` (must exist when given).
      metric: rank tables and figures by this metric instead of each sweep's own.
      watching: write a page that reloads itself when :func:`watch` rewrites it.

    Returns:
      A :class:`ReportFiles`. A sweep without runs to plot gets a note, not an error.
    """
    if metric is not None and metric not in METRICS:
        raise SweepError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    out = Path(out_dir)
    with store.opened(store_path, must_exist=True) as conn:
        entries = store.sweeps(conn)
        names = [e["name"] for e in entries]
        if sweep_name is not None and sweep_name not in names:
            raise SweepError(
                f"the store has no sweep {sweep_name!r}; it has {', '.join(names) or 'none'}"
            )
        sections = sweep_sections(conn, metric)
    out.mkdir(parents=True, exist_ok=True)  # only once the store has been read
    written, figures, notes = [], {}, {}
    for entry in entries:
        folder = _figure_dir(entries, entry["name"], sweep_name)
        paths, note = _draw_figures(store_path, out, entry["name"], folder, metric)
        written += paths
        figures[entry["name"]] = [p.relative_to(out).as_posix() for p in paths]
        if note:
            notes[entry["name"]] = note
    stamp = str(time.time_ns())
    page = out / PAGE
    _atomic_write(page, render(sections, figures, notes, Path(store_path).name, stamp, watching))
    _atomic_write(out / STAMP, f"window.jaxnetStamp && window.jaxnetStamp({json.dumps(stamp)});\n")
    return ReportFiles(written, page, [f"{name}: {note}" for name, note in notes.items()])


# --- watching a running sweep -----------------------------------------------------------------


def store_state(store_path) -> tuple | None:
    """What changes when a group is committed: ``(sweeps, runs, last run id)``; None while
    the store does not exist yet (or is the empty file SQLite makes before its first commit)."""
    path = Path(store_path)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    with store.opened(store_path, must_exist=True) as conn:
        sweeps = conn.execute("SELECT count(*) FROM sweeps").fetchone()[0]
        runs, last = conn.execute("SELECT count(*), max(id) FROM runs").fetchone()
    return sweeps, runs, last


def _complete(store_path) -> bool:
    """Every sweep in the store has a row for every config of its spec."""
    with store.opened(store_path, must_exist=True) as conn:
        sections = sweep_sections(conn)
    return bool(sections) and all(
        s["configs"] is not None and s["stored"] >= s["configs"] for s in sections
    )


def watch(
    store_path,
    out_dir,
    sweep_name=None,
    metric=None,
    interval: float = 3.0,
    log=None,
    stop=None,
) -> int:
    """Rewrite the report whenever the store changes, until its sweeps complete or Ctrl-C.

    It stops by itself once it has seen the store change and every sweep in it then holds all
    its configs; watching a store that is complete already waits for more (Ctrl-C ends it).
    The last page written does not reload itself.

    Args:
      store_path, out_dir, sweep_name, metric: as for :func:`write_report` (the store may
        appear after the watch begins).
      interval: seconds between looks at the store (> 0).
      log: called with one line per rewrite (default: print, flushed, so a log file or a
        pipe follows along).
      stop: a ``threading.Event`` that ends the watch when set (tests), or None.

    Returns:
      The number of times the page was written.
    """
    if not (isinstance(interval, (int, float)) and math.isfinite(interval) and interval > 0):
        raise ValueError(f"interval must be a positive number of seconds; got {interval!r}")
    log = log or functools.partial(print, flush=True)
    last, changed, writes = None, False, 0
    log(f"watching {store_path}: {Path(out_dir) / PAGE} follows it (Ctrl-C stops)")
    try:
        while stop is None or not stop.is_set():
            state = store_state(store_path)
            if state is not None and state != last:
                changed, last = last is not None, state
                files = write_report(store_path, out_dir, sweep_name, metric, watching=True)
                writes += 1
                log(f"{time.strftime('%H:%M:%S')} {state[1]} runs -> {files.page}")
                if changed and _complete(store_path):
                    log("every sweep in the store is complete")
                    break
            elif state is None and last is None and writes == 0:
                log(f"waiting for {store_path} to appear")
                last = ()
            if stop is None:
                time.sleep(interval)
            else:
                stop.wait(interval)
    except KeyboardInterrupt:
        log("stopped watching")
    if store_state(store_path) is not None:  # the final page: complete, no polling
        write_report(store_path, out_dir, sweep_name, metric, watching=False)
        writes += 1
    return writes
