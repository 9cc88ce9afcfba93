"""A sweep's figures: their data pooled from the store's rows, and the PNGs drawn from it.

The data functions (:func:`heatmap_arrays`, :func:`curve_bands`, :func:`lr_series`,
:func:`scatter_series`) take settings pooled by :func:`.rank.settings_of` and return arrays;
:func:`draw_figures` reads one sweep from the store and draws them with :mod:`jaxnet.plots`
(imported only then: matplotlib is heavy). Left out: the report page (:mod:`.page`), which
shows these PNGs beside every stored member.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np

from .. import store
from .fields import LABEL_KEYS, legend_text
from .plan import canonical, default_metric
from .rank import higher_is_better, settings_of
from .spec import METRICS, SweepError, spec_from_source
from .versions import split_rows

_METRIC_PARTS = {
    "best_val": "best validation",
    "final_val": "final validation",
    "test": "test",
    "train": "training",
}
_LOSS_UNITS = {
    "cross_entropy": "cross-entropy, nats",
    "binary_cross_entropy": "nats",
    "mse": "MSE, scaled target units²",
    "sse": "½ SSE, scaled target units²",
}
# The heatmap's axes are the hidden sizes and the activation: a cell is the best over the rest.
_BEST_OVER = tuple(k for k in LABEL_KEYS if k not in ("hidden", "activation"))


def metric_label(metric: str, loss: str) -> str:
    """An axis label with units, e.g. ``"best validation accuracy (%)"``."""
    part, kind = metric.rsplit("_", 1)
    unit = "%" if kind == "accuracy" else _LOSS_UNITS.get(loss, loss)
    return f"{_METRIC_PARTS[part]} {kind} ({unit})"


def _in_units(values, metric: str):
    """Accuracies as percentages, losses as they are."""
    return np.asarray(values, np.float64) * (100.0 if metric.endswith("accuracy") else 1.0)


def _varying(settings: list[dict], fields=LABEL_KEYS) -> list[str]:
    return [f for f in fields if len({s[f] for s in settings}) > 1]


def _label(setting: dict, fields: list[str]) -> str:
    return " ".join(legend_text(f, setting[f]) for f in fields) or f"hidden {setting['hidden']}"


def heatmap_arrays(settings: list[dict], metric: str):
    """``(values, depths, widths, activations)``: per activation, depth and width, the best
    setting's mean over seeds (``values`` is ``(activations, depths, widths)``, NaN where none).
    Settings whose hidden layers differ in width are left out."""
    uniform = [s for s in settings if s["width"] is not None]
    depths = sorted({s["depth"] for s in uniform})
    widths = sorted({s["width"] for s in uniform})
    acts = sorted({s["activation"] for s in uniform})
    values = np.full((len(acts), len(depths), len(widths)), np.nan)
    for s in reversed(uniform):  # best last, so the best setting of a cell is what stays
        cell = (acts.index(s["activation"]), depths.index(s["depth"]), widths.index(s["width"]))
        values[cell] = s["mean"]
    return _in_units(values, metric), depths, widths, acts


def _nan_stats(stack: np.ndarray):
    """Mean, min and max over axis 0, ignoring NaN (all-NaN columns give NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(stack, 0), np.nanmin(stack, 0), np.nanmax(stack, 0)


def curve_bands(settings: list[dict], top: int = 8) -> list[tuple]:
    """Training-loss bands over seeds for the best setting of the ``top`` best architectures.

    Returns:
      ``(label, steps, mean, low, high)`` tuples for :func:`jaxnet.plots.seed_band_curves`;
      ``low``/``high`` are the min/max over seeds of the downsampled curves, ``(T,)`` each.
    """
    chosen, seen = [], set()
    for s in settings:
        if (s["hidden"], s["activation"]) not in seen:
            seen.add((s["hidden"], s["activation"]))
            chosen.append(s)
    chosen = chosen[:top]
    fields = _varying(chosen)
    bands = []
    for s in chosen:
        stack = np.stack([r["curve"] for r in s["rows"]]).astype(np.float64)
        stride = s["rows"][0]["curve_stride"]
        steps = (np.arange(stack.shape[1]) + 0.5) * stride
        label = f"{_label(s, fields)} (n={len(s['rows'])})"
        bands.append((label, steps, *_nan_stats(stack)))
    return bands


def _lr_lines(settings: list[dict]) -> list[list[dict]]:
    """Settings grouped by everything but the learning rate, best line first."""
    lines: dict[str, list[dict]] = {}
    for s in settings:  # best first, so lines come out in order of their best point
        rest = {k: v for k, v in json.loads(s["key"]).items() if k != "learning_rate"}
        lines.setdefault(canonical(rest), []).append(s)
    return list(lines.values())


def lr_series(settings: list[dict], metric: str, top: int = 8) -> list[tuple]:
    """Metric against learning rate for the ``top`` settings-less-lr with the best value, of
    those tried at several learning rates (see :func:`lr_points` for the others).

    Returns:
      ``(label, learning_rates, mean, sd)`` tuples for :func:`jaxnet.plots.lr_sensitivity`.
    """
    chosen = [line for line in _lr_lines(settings) if len(line) > 1][:top]
    fields = _varying([line[0] for line in chosen], [f for f in LABEL_KEYS if f != "learning_rate"])
    series = []
    for line in chosen:
        line = sorted(line, key=lambda s: s["learning_rate"])
        lrs = np.array([s["learning_rate"] for s in line])
        mean = _in_units([s["mean"] for s in line], metric)
        sd = _in_units([s["std"] for s in line], metric)
        series.append((_label(line[0], fields), lrs, mean, sd))
    return series


def _colour_fields(settings: list[dict], most: int = 10) -> list[str]:
    """The fields besides the learning rate that colour the scatter: all that vary when their
    combinations are at most ``most``, else the one with the fewest values."""
    fields = _varying(settings, [f for f in LABEL_KEYS if f != "learning_rate"])
    if len({_label(s, fields) for s in settings}) <= most:
        return fields
    return [min(fields, key=lambda f: len({s[f] for s in settings}))]


def _natural(value):
    """A sort key that puts hidden sizes ``8`` before ``16-16`` (numbers as numbers)."""
    if isinstance(value, str):
        return [(0, int(p)) if p.isdigit() else (1, p) for p in value.split("-")]
    return [(0, value)]


def lr_points(settings: list[dict], metric: str) -> tuple[list[str], list[tuple]]:
    """Every setting as one point, metric against learning rate, coloured by the other axes:
    the figure for learning rates drawn at random (one per setting), where lines would hide
    every setting that has a single rate.

    Returns:
      ``(colour_fields, groups)``: the fields the colours stand for (empty when nothing else
      varies), and ``(label, learning_rates, values)`` per colour, arrays ``(N,)``, for
      :func:`jaxnet.plots.lr_scatter`. Every setting is in exactly one group.
    """
    fields = _colour_fields(settings)
    groups: dict[str, list[dict]] = {}
    for s in sorted(settings, key=lambda s: [_natural(s[f]) for f in fields]):
        groups.setdefault(_label(s, fields) if fields else "every setting", []).append(s)
    return fields, [
        (
            label,
            np.array([s["learning_rate"] for s in members], np.float64),
            _in_units([s["mean"] for s in members], metric),
        )
        for label, members in groups.items()
    ]


def scatter_series(settings: list[dict], metric: str) -> list[tuple]:
    """``(label, n_params, values)`` per depth and activation: each setting's mean over seeds."""
    series: dict[str, list[dict]] = {}
    for s in sorted(settings, key=lambda s: (s["depth"], s["activation"])):
        series.setdefault(f"depth {s['depth']}, {s['activation']}", []).append(s)
    return [
        (
            label,
            np.array([s["n_params"] for s in group]),
            _in_units([s["mean"] for s in group], metric),
        )
        for label, group in series.items()
    ]


def _pick_sweep(conn, name: str | None) -> dict:
    entries = {e["name"]: e for e in store.sweeps(conn)}
    if name is not None and name not in entries:
        raise SweepError(f"the store has no sweep {name!r}; it has {', '.join(entries) or 'none'}")
    if name is None and len(entries) != 1:
        listed = ", ".join(entries) or "no sweeps"
        raise SweepError(f"the store holds {listed}; choose one with --sweep NAME")
    return entries[name] if name is not None else next(iter(entries.values()))


@dataclasses.dataclass(frozen=True)
class _Figures:
    """What every figure of one report shares: its pooled settings and its wording."""

    settings: list
    metric: str
    loss: str
    name: str  # the sweep, and its dataset when the names differ
    out: Path
    drawn: tuple = ()  # the axes the sweep draws at random ([random])

    @property
    def label(self) -> str:
        return metric_label(self.metric, self.loss)

    @property
    def yscale(self) -> str:
        return "linear" if self.metric.endswith("accuracy") else "log"

    @property
    def seeds(self) -> str:
        return f"mean over {max(len(s['rows']) for s in self.settings)} seeds"


def _heatmap_png(f: _Figures) -> list:
    from .. import plots

    values, depths, widths, acts = heatmap_arrays(f.settings, f.metric)
    if not depths:  # no net with equal hidden widths
        return []
    others = [name.replace("_", " ") for name in _varying(f.settings, _BEST_OVER)]
    best_over = f"best over {', '.join(others)}; " if others else ""
    title = f"{f.name}: {best_over}{f.seeds}"
    uneven = sum(s["width"] is None for s in f.settings)
    if uneven:  # said, not dropped silently: their hidden layers have no single width
        title += (
            f"; {uneven} setting{'' if uneven == 1 else 's'} with unequal hidden widths not shown"
        )
    higher = higher_is_better(f.metric)
    path = f.out / "heatmap.png"
    return [
        plots.sweep_heatmap(
            values, depths, widths, acts, path, label=f.label, title=title, higher_is_better=higher
        )
    ]


def _curves_png(f: _Figures) -> list:
    from .. import plots

    title = f"{f.name}: training loss of the best settings (band: min-max over seeds)"
    ylabel = metric_label("train_loss", f.loss) + ", log scale"
    return [
        plots.seed_band_curves(
            curve_bands(f.settings), f.out / "loss_curves.png", title=title, ylabel=ylabel
        )
    ]


def _lr_png(f: _Figures) -> list:
    from .. import plots

    if len({s["learning_rate"] for s in f.settings}) < 2:  # one rate: nothing to compare
        return []
    lines = _lr_lines(f.settings)
    # Lines join rates chosen on a grid; random draws (or a setting tried at a single rate,
    # which a line would hide) are points.
    if "learning_rate" not in f.drawn and all(len(line) > 1 for line in lines):
        series = lr_series(f.settings, f.metric)
        shown = "every setting" if len(series) == len(lines) else f"the {len(series)} best of "
        shown += "" if len(series) == len(lines) else f"{len(lines)} settings"
        title = f"{f.name}: learning-rate sensitivity of {shown} (band: ±1 sd over seeds)"
        path = f.out / "lr_sensitivity.png"
        return [plots.lr_sensitivity(series, path, label=f.label, title=title, yscale=f.yscale)]
    fields, groups = lr_points(f.settings, f.metric)
    colour = ", ".join(name.replace("_", " ") for name in fields) or "one colour"
    best = f.settings[0]
    words = " ".join(legend_text(k, best[k]) for k in ("learning_rate", *fields))
    title = f"{f.name}: {len(f.settings)} settings, a point each ({f.seeds}); colour: {colour}"
    return [
        plots.lr_scatter(
            groups,
            f.out / "lr_sensitivity.png",
            label=f.label,
            title=title,
            yscale=f.yscale,
            best=(
                best["learning_rate"],
                float(_in_units(best["mean"], f.metric)),
                f"best: {words}",
            ),
        )
    ]


def _params_png(f: _Figures) -> list:
    from .. import plots

    title = f"{f.name}: {f.label.split(' (')[0]} against size ({f.seeds})"
    return [
        plots.params_scatter(
            scatter_series(f.settings, f.metric),
            f.out / "params.png",
            label=f.label,
            title=title,
            yscale=f.yscale,
        )
    ]


def _report_data(store_path, sweep_name: str | None, metric: str | None):
    """``(entry, sweep, rows, metric)`` of the sweep to report on, checked."""
    with store.opened(store_path, must_exist=True) as conn:
        entry = _pick_sweep(conn, sweep_name)
        rows = store.runs(conn, entry["name"])
    sweep = spec_from_source(entry["spec"])
    rows, _ = split_rows(rows, sweep)  # the file as it is now: earlier versions are not drawn
    metric = metric or default_metric(sweep.settings)
    if metric not in METRICS:
        raise SweepError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    return entry, sweep, rows, metric


def draw_figures(store_path, out_dir, sweep_name: str | None = None, metric: str | None = None):
    """Draw a sweep's figures from the store alone.

    Args:
      store_path: a results store; out_dir: where the PNGs go (created).
      sweep_name: which sweep (needed only when the store holds several).
      metric: one of :data:`METRICS`; default the sweep's ranking metric.

    Returns:
      The written PNG paths: ``heatmap.png`` (depth x width, when nets have equal hidden
      widths), ``loss_curves.png``, ``lr_sensitivity.png`` (when the sweep has several
      learning rates: lines over a grid of rates, else a point per setting) and
      ``params.png``. Only rows of the configs the sweep's file defines now are drawn, not
      those of earlier versions of it.
    """
    entry, sweep, rows, metric = _report_data(store_path, sweep_name, metric)
    settings = settings_of(rows, metric)
    if not settings:
        raise SweepError(
            f"sweep {entry['name']!r} has no runs of its file's configs with a {metric} to plot yet"
        )
    name = entry["name"] + ("" if entry["name"] == sweep.dataset else f" ({sweep.dataset})")
    loss = store.config_of(rows[0])["loss"]
    figures = _Figures(settings, metric, loss, name, Path(out_dir), tuple(sweep.random))
    return [p for draw in (_heatmap_png, _curves_png, _lr_png, _params_png) for p in draw(figures)]


def report(store_path, out_dir, sweep_name: str | None = None, metric: str | None = None):
    """Deprecated name of :func:`draw_figures` (it draws the PNGs; the page is
    :func:`jaxnet.sweep.write_page`'s). Warns with ``DeprecationWarning``."""
    warnings.warn(
        "jaxnet.sweep.report is renamed jaxnet.sweep.draw_figures", DeprecationWarning, stacklevel=2
    )
    return draw_figures(store_path, out_dir, sweep_name, metric)
