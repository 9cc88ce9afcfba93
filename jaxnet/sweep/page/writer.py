"""Writing the report folder: every sweep's PNGs, then ``index.html`` and ``stamp.js``.

Every file lands whole (a temporary file renamed into place), so a reader, or the page
reloading itself during :func:`.watching.watch`, never sees half of one. Left out: what the
page holds (:mod:`.sections`) and how it looks (:mod:`.markup`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from ... import _atomic, store
from ..figures import draw_figures
from ..spec import METRICS, SweepError
from .markup import render
from .sections import sweep_sections

PAGE = "index.html"
STAMP = "stamp.js"


@dataclasses.dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_page` wrote.

    Attributes:
      figures: every PNG path, all sweeps together.
      page: the ``index.html`` path.
      notes: one line per sweep whose figures could not be drawn yet, and why.
    """

    figures: list
    page: Path
    notes: list


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
        drawn = draw_figures(store_path, scratch, name, metric)
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


def _figure_dir(entries: list[dict], name: str, chosen: str | None) -> str:
    """Where a sweep's PNGs go, relative to the page: beside it for the chosen (or only)
    sweep, as ``jaxnet report`` always did; else a folder named after the sweep, made safe."""
    if name == chosen or (chosen is None and len(entries) == 1):
        return ""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "sweep"
    index = [e["name"] for e in entries].index(name)
    return f"sweep{index}-{slug}"


def _read_store(store_path, sweep_name: str | None, metric: str | None):
    """``(entries, sections)`` of the store, the arguments checked against it first."""
    if metric is not None and metric not in METRICS:
        raise SweepError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    with store.opened(store_path, must_exist=True) as conn:
        entries = store.sweeps(conn)
        names = [e["name"] for e in entries]
        if sweep_name is not None and sweep_name not in names:
            raise SweepError(
                f"the store has no sweep {sweep_name!r}; it has {', '.join(names) or 'none'}"
            )
        return entries, sweep_sections(conn, metric)


def write_page(
    store_path,
    out_dir,
    sweep_name: str | None = None,
    metric: str | None = None,
    watching: bool = False,
) -> ReportFiles:
    """Draw every sweep's PNGs and write ``out_dir/index.html`` from the store alone.

    The chosen sweep's PNGs (``sweep_name``, or the only one) land in ``out_dir`` itself, as
    :func:`jaxnet.sweep.draw_figures` writes them; any other sweep's go to
    ``out_dir/sweepI-NAME/``.

    Args:
      store_path: an existing results store; out_dir: created when missing.
      sweep_name: the sweep whose figures go in ``out_dir`` (must exist when given).
      metric: rank tables and figures by this metric instead of each sweep's own.
      watching: write a page that reloads itself when :func:`.watching.watch` rewrites it.

    Returns:
      A :class:`ReportFiles`. A sweep without runs to plot gets a note, not an error.
    """
    entries, sections = _read_store(store_path, sweep_name, metric)
    out = Path(out_dir)
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


def write_report(
    store_path,
    out_dir,
    sweep_name: str | None = None,
    metric: str | None = None,
    watching: bool = False,
) -> ReportFiles:
    """Deprecated name of :func:`write_page` (it writes the page; the PNGs alone are
    :func:`jaxnet.sweep.draw_figures`'). Warns with ``DeprecationWarning``."""
    warnings.warn(
        "jaxnet.sweep.write_report is renamed jaxnet.sweep.write_page",
        DeprecationWarning,
        stacklevel=2,
    )
    return write_page(store_path, out_dir, sweep_name, metric, watching)
