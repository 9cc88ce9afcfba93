"""The header of one sweep on the report page: what the store knows about how it ran.

Configs planned and stored, groups, programs compiled and cache hits, compile share, wall
time, device and versions, read from the stored spec, rows and calls (each run of the sweep
records what its summary printed); what a store lacks says so ("not stored", "-"). Rows of
configs the file no longer defines are counted apart (:func:`earlier_facts`). Left out: the
members table (:mod:`.members`) and the HTML (:mod:`.markup`).
"""

from __future__ import annotations

import math
import numbers

from ... import store
from ..agreement import agreement_line
from ..plan import default_metric, expand
from ..spec import SweepError, spec_from_source


def finite_or_none(value) -> float | None:
    """A finite float; None for NULL, NaN, infinities and anything that is not a number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # NumPy's included
        return None
    return float(value) if math.isfinite(value) else None


def utc_span(first: str, last: str) -> str:
    """``2026-12-01 21:38:44 to 21:40:02 UTC`` from two ISO times (the date once if shared)."""
    a, b = (t.replace("T", " ").replace("+00:00", "") for t in (first, last))
    if a == b:
        return f"{a} UTC"
    if a[:10] == b[:10]:
        b = b[11:]
    return f"{a} to {b} UTC"


def spec_facts(entry: dict) -> dict:
    """Description, dataset, default metric and config count from the stored spec text.

    A spec this jaxnet cannot read (a newer or damaged store) gives what it can and a note.

    Args:
      entry: one sweep of :func:`jaxnet.store.sweeps` (its ``spec`` text is read).

    Returns:
      ``description``, ``dataset``, ``metric``, ``configs`` (None when unknown) and ``note``
      (None, or why the spec could not be read).
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


def optional_facts(conn, name: str) -> dict:
    """Facts of the sweep's calls (:func:`jaxnet.store.call_totals`), which an older store
    lacks: programs compiled, compile cache hits and the sweep's wall time, added up.

    Args:
      conn: an open store; name: the sweep.

    Returns:
      Label -> number for each fact found; ``calls`` when there was more than one call.
    """
    totals = store.call_totals(conn, name) or {}
    found = {
        label: finite_or_none(totals.get(key))
        for label, key in (
            ("programs compiled", "programs_compiled"),
            ("compile cache hits", "cache_hits"),
            ("sweep wall time", "wall_seconds"),
        )
    }
    if totals.get("calls", 0) > 1:
        found["calls"] = totals["calls"]
    return {k: v for k, v in found.items() if v is not None}


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _configs(spec: dict, rows: list[dict]) -> str:
    """``12 (8 trained, 1 diverged, 4 to go)``; ``?`` first where the spec is unreadable."""
    diverged = sum(r["status"] == "diverged" for r in rows)
    pruned = sum(r["status"] == "pruned" for r in rows)
    trained = f"{len(rows)} trained" + (f", {diverged} diverged" if diverged else "")
    trained += f", {pruned} pruned by the search" if pruned else ""
    if spec["configs"] is None:
        return f"? ({trained})"
    left = spec["configs"] - len({r["config_id"] for r in rows})
    return f"{spec['configs']} ({trained}" + (f", {left} to go)" if left > 0 else ")")


def sweep_facts(spec: dict, rows: list[dict], optional: dict) -> list[tuple[str, str]]:
    """The header of one sweep as (label, text) pairs; what the store lacks says so.

    Args:
      spec: :func:`spec_facts` of the sweep; rows: its runs; optional: :func:`optional_facts`.
    """
    groups = _groups(rows)
    wall = sum(finite_or_none(g["group_seconds"]) or 0.0 for g in groups)
    compiling = sum(finite_or_none(g["compile_seconds"]) or 0.0 for g in groups)
    facts = [
        ("dataset", spec["dataset"] or (rows[0]["dataset"] if rows else "-")),
        ("configs", _configs(spec, rows)),
        ("groups", str(len(groups))),
    ]
    calls = f" (in {optional['calls']} runs of the sweep)" if "calls" in optional else ""
    for label in ("programs compiled", "compile cache hits"):
        value = optional.get(label)
        facts.append((label, "not stored" if value is None else f"{value:.0f}{calls}"))
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
        created = [r["created"] for r in rows]
        facts.append(("stored", utc_span(min(created), max(created))))
    agreement = agreement_line(rows)  # a sweep with grads = ["manual", "auto"]
    if agreement is not None:
        facts.append(("gradients", agreement.removeprefix("hand-written vs jax.grad: ")))
    return facts


def earlier_facts(earlier: list[dict]) -> list[tuple[str, str]]:
    """The header's line on rows of configs the file no longer defines; none without them."""
    if not earlier:
        return []
    n = len(earlier)
    text = f"{n} row{'' if n == 1 else 's'} of configs no longer in the file: listed last, "
    return [("earlier versions", text + "not ranked, not in the figures")]
