"""Rank a sweep's rows: pool seeds into settings and format the terminal table.

Only rows of the same version of a sweep file are ranked together (:mod:`.versions`).

Left out: figures (:mod:`.figures`) and the report page (:mod:`.page`), which read the same
pooled settings.
"""

from __future__ import annotations

import numpy as np

from .. import store
from .agreement import agreement_line
from .fields import BY_KEY, REGIMEN_KEYS, SETTING_KEYS
from .plan import canonical, default_metric
from .search.summary import search_lines
from .versions import config_count, readable_spec, split_rows

# --- ranking ----------------------------------------------------------------------------------


def higher_is_better(metric: str) -> bool:
    """Accuracy metrics rank high first; losses low first."""
    return metric.endswith("accuracy")


def settings_of(rows: list[dict], metric: str) -> list[dict]:
    """Runs that differ only in seed, pooled: one dict per setting, best first.

    Args:
      rows: run rows from :func:`jaxnet.store.runs`.
      metric: a column of :data:`METRICS` to rank by.

    Returns:
      Dicts with the setting's columns (:data:`.fields.SETTING_KEYS`), ``key`` (its config
      less the seed, as JSON), ``rows`` (its runs), ``values`` (their metric, NULLs dropped),
      ``mean``, ``std``, ``diverged`` and ``pruned`` (runs a search stopped at a rung);
      settings without a value of the metric are left out. Settings pruned on every seed rank
      after the others.
    """
    pooled: dict[str, list[dict]] = {}
    for row in rows:
        config = {k: v for k, v in store.config_of(row).items() if k != "seed"}
        pooled.setdefault(canonical(config), []).append(row)
    out = []
    for key, members in pooled.items():
        values = np.array([r[metric] for r in members if r[metric] is not None], np.float64)
        if values.size:
            out.append(
                {
                    **{k: members[0][k] for k in SETTING_KEYS},
                    "key": key,
                    "rows": members,
                    "values": values,
                    "mean": float(values.mean()),
                    "std": float(values.std()),
                    "diverged": sum(r["status"] == "diverged" for r in members),
                    "pruned": sum(r["status"] == "pruned" for r in members),
                }
            )
    sign = -1.0 if higher_is_better(metric) else 1.0
    # A setting a search pruned on every seed stopped early: it ranks after those that ran on.
    return sorted(out, key=lambda s: (s["pruned"] == len(s["rows"]), sign * s["mean"]))


def best_run(rows: list[dict], metric: str) -> dict | None:
    """The best single run by ``metric`` (runs a search pruned after the others; None when
    no run has the metric)."""
    found = [r for r in rows if r[metric] is not None]
    sign = -1.0 if higher_is_better(metric) else 1.0
    return min(found, key=lambda r: (r["status"] == "pruned", sign * r[metric]), default=None)


def format_metric(value: float, metric: str) -> str:
    """A metric's value as the tables write it: accuracies in percent with 2 decimals
    (``93.75%``), losses to 4 significant digits."""
    return f"{100 * value:.2f}%" if metric.endswith("accuracy") else f"{value:.4g}"


def _test_metric(rows: list[dict]) -> str | None:
    """The test metric the rows have: accuracy for classes, else loss; None without a test set."""
    return next(
        (m for m in ("test_accuracy", "test_loss") if any(r[m] is not None for r in rows)), None
    )


def _mean_of(rows: list[dict], metric: str | None) -> str:
    values = [r[metric] for r in rows if metric and r[metric] is not None]
    return format_metric(float(np.mean(values)), metric) if values else "-"


def _regimen_texts(settings: list[dict], rows: list[dict]) -> list[str]:
    """Per setting, how it trains where that varies in ``rows``: ``dropout 0.2 wd 0.0001``,
    ``jax.grad``...; empty strings when nothing of :data:`.fields.REGIMEN_KEYS` varies."""
    varying = [k for k in REGIMEN_KEYS if len({repr(r[k]) for r in rows}) > 1]
    return [" ".join(BY_KEY[k].legend(s[k]) for k in varying if s[k] is not None) for s in settings]


def ranked_table(rows: list[dict], metric: str, top: int = 10) -> list[str]:
    """The ``top`` settings by ``metric`` (mean over seeds) as aligned text lines.

    The last column is the mean test accuracy (or loss) of the same runs, when there is a
    test set: shown, not ranked by, so the test set stays out of model selection. Where the
    rows differ in how they train (dropout, weight decay, gradients, schedule), a column
    before the metric says it. When configs were trained with both the hand-written and the
    automatic gradients, a last line says how far apart the pairs ended (:mod:`.agreement`).
    """
    settings = settings_of(rows, metric)[:top]
    regimen = _regimen_texts(settings, rows)
    trained = max((len(t) for t in regimen), default=0)
    trained = max(trained, len("trained with")) + 2 if trained else 0
    test, title = _test_metric(rows), f"{metric} (mean ± sd over seeds)"
    width = len(title) + 2
    head = (
        f"{'rank':>4}  {'hidden':<12} {'activation':<10} {'optimizer':<9} {'lr':>8} "
        f"{'batch':>5} {'steps':>6} {'params':>7}  {'trained with' if trained else '':<{trained}}"
        f"{title:<{width}}{test or ''}"
    )
    lines = [head.rstrip()]
    for i, s in enumerate(settings, 1):
        spread = f"{format_metric(s['mean'], metric)} ± {format_metric(s['std'], metric)}"
        extra = f", {s['diverged']} diverged" if s["diverged"] else ""
        extra += f", {_pruned(s['rows'])}" if s["pruned"] else ""
        described = f"{spread} (n={len(s['rows'])}{extra})"
        tested = _mean_of(s["rows"], test) if test else ""
        line = (
            f"{i:>4}  {s['hidden']:<12} {s['activation']:<10} {s['optimizer']:<9} "
            f"{s['learning_rate']:>8.3g} {s['batch_size']:>5} {s['steps']:>6} "
            f"{s['n_params']:>7}  {regimen[i - 1]:<{trained}}{described:<{width}}{tested}"
        )
        lines.append(line.rstrip())
    agreement = agreement_line(rows)
    return lines if agreement is None else [*lines, agreement]


def _pruned(rows: list[dict]) -> str:
    """``1 pruned at 30``, ``2 pruned at 30/90``: the steps where a search stopped runs."""
    steps = sorted({r["steps_done"] for r in rows if r["status"] == "pruned"})
    count = sum(r["status"] == "pruned" for r in rows)
    return f"{count} pruned at {'/'.join(map(str, steps))}"


def store_summary(conn, top: int = 5) -> list[str]:
    """Each stored sweep: one line about it, its best ``top`` settings, then its search (rungs
    or PBT lineage, steps trained) and kept models when it has them; rows of configs its file
    no longer defines (earlier versions of it) follow, ranked apart."""
    lines = []
    for entry in store.sweeps(conn):
        lines.extend(_sweep_summary(conn, entry, top))
        lines.append("")
    return lines or ["the store holds no sweeps yet"]


def _sweep_summary(conn, entry: dict, top: int) -> list[str]:
    sweep = readable_spec(entry["spec"])
    rows, earlier = split_rows(store.runs(conn, entry["name"]), sweep)
    if sweep is None:  # a spec this jaxnet cannot read: the rows as they are
        metric, dataset = "train_loss", rows[0]["dataset"] if rows else "?"
        of = f"{len(rows)} runs (its spec is unreadable here)"
    else:
        metric, dataset = default_metric(sweep.settings), sweep.dataset
        stored = len({r["config_id"] for r in rows})
        of = f"{stored} of its file's {config_count(sweep)} configs stored"
    diverged = sum(r["status"] == "diverged" for r in rows)
    pruned = sum(r["status"] == "pruned" for r in rows)
    counts = f"{diverged} diverged" + (f", {pruned} pruned" if pruned else "")
    lines = [f"{entry['name']}: {dataset}, {of} ({counts}), since {entry['created']}; "
             f"best by {metric}:"]  # fmt: skip
    lines.extend("  " + line for line in ranked_table(rows, metric, top))
    best = best_run(rows, metric)
    more = search_lines(conn, entry, rows, None if best is None else best["config_id"])
    lines.extend("  " + line for line in more)
    if earlier:
        lines.append(
            f"  and {len(earlier)} rows of configs no longer in the file (earlier versions of "
            "it), ranked apart:"
        )
        lines.extend("  " + line for line in ranked_table(earlier, metric, top))
    return lines
