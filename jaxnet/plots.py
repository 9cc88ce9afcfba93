"""Figures, each rebuilt from results (a :class:`~jaxnet.train.History`, the results store).

Every function takes data and a path, draws one figure with matplotlib's object API on an Agg
canvas (no pyplot state, no display needed), writes a PNG and returns its path. Nothing here
trains or computes metrics: a figure can be redrawn at any time from what was saved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import _atomic


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average (minibatch losses are noisy); the first points average fewer."""
    sums = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return (sums[1:] - sums[np.maximum(np.arange(1, len(values) + 1) - window, 0)]) / counts


def _save(fig: Figure, path) -> Path:
    # Atomic, as checkpoints are: a kill mid-write leaves the old PNG (or none), never half.
    FigureCanvasAgg(fig)
    return _atomic.write(path, lambda f: fig.savefig(f, format="png", dpi=120))


def loss_curve(history, path, title: str = "training loss") -> Path:
    """Training loss per step (log scale), smoothed, with validation losses as points.

    Args:
      history: a :class:`~jaxnet.train.History` (``loss`` of shape ``(steps,)``; ``eval_step``
        and ``val_loss`` of shape ``(evals,)``, possibly empty).
      path: the PNG to write; parent directories are created.
      title: the figure's title.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    """
    loss = np.asarray(history.loss, dtype=np.float64)
    steps = np.arange(len(loss))
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    shown = np.isfinite(loss) & (loss > 0)  # a log axis cannot show 0, NaN or a divergence
    ax.plot(steps[shown], loss[shown], color="tab:blue", alpha=0.3, lw=0.8, label="train (step)")
    window = max(1, len(loss) // 50)
    if window > 1 and shown.all():
        ax.plot(
            steps,
            _smooth(loss, window),
            color="tab:blue",
            lw=1.6,
            label=f"train ({window}-step mean)",
        )
    val = np.asarray(history.val_loss, dtype=np.float64)
    if val.size:
        ax.plot(history.eval_step, val, "o-", color="tab:orange", ms=3.5, lw=1, label="validation")
    ax.set(yscale="log", xlabel="step", ylabel="loss (log scale)", title=title)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


# --- sweep figures (issue 5): drawn from arrays that jaxnet.sweep pools from the store ---------


def sweep_heatmap(
    values, depths, widths, panels, path, *, label: str, title: str, higher_is_better: bool
) -> Path:
    """One depth x width heatmap per panel (e.g. per activation), sharing one colour scale.

    Args:
      values: ``(panels, depths, widths)`` metric values; NaN where nothing was trained.
      depths, widths: the row and column labels; panels: one title per panel.
      path: the PNG to write.
      label: the colorbar's label, with units, e.g. ``"best validation accuracy (%)"``.
      title: the figure's title.
      higher_is_better: colour the best cells brightest either way.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    """
    values = np.asarray(values, dtype=np.float64)
    fig = Figure(figsize=(1.8 + 3.2 * len(panels), 3.8), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    finite = values[np.isfinite(values)]
    limits = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    cmap = "viridis" if higher_is_better else "viridis_r"
    for ax, panel, grid in zip(axes, panels, values):
        image = ax.imshow(
            grid, cmap=cmap, vmin=limits[0], vmax=limits[1], aspect="auto", origin="lower"
        )
        for (r, c), v in np.ndenumerate(grid):
            text = f"{v:.4g}" if np.isfinite(v) else "n/a"
            color = _text_color(v, limits, higher_is_better)
            ax.text(c, r, text, ha="center", va="center", fontsize="small", color=color)
        ax.set(
            xticks=range(len(widths)),
            xticklabels=[str(w) for w in widths],
            yticks=range(len(depths)),
            yticklabels=[str(d) for d in depths],
            xlabel="width (units per hidden layer)",
            ylabel="depth (hidden layers)",
            title=panel,
        )
    fig.colorbar(image, ax=list(axes), label=label, shrink=0.9)
    _suptitle(fig, title)
    return _save(fig, path)


def seed_band_curves(curves, path, *, title: str, ylabel: str) -> Path:
    """Mean curves with a shaded band (e.g. min to max over seeds), one per label.

    Args:
      curves: sequence of ``(label, steps, mean, low, high)``; each array ``(T,)``.
      path: the PNG to write.
      title, ylabel: the title and the y axis label (with units); the y axis is logarithmic.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    """
    fig = Figure(figsize=(7.2, 4.4), layout="constrained")
    ax = fig.add_subplot()
    colors = _category_colors(len(curves))
    for (label, steps, mean, low, high), color in zip(curves, colors):
        shown = np.isfinite(mean) & (mean > 0)
        ax.plot(steps[shown], mean[shown], color=color, lw=1.6, label=label)
        band = shown & np.isfinite(low) & np.isfinite(high) & (low > 0)
        ax.fill_between(steps[band], low[band], high[band], color=color, alpha=0.2, lw=0)
    ax.set(yscale="log", xlabel="training step", ylabel=ylabel)
    ax.grid(True, which="both", alpha=0.25)
    _legend_outside(ax)
    _suptitle(fig, title)
    return _save(fig, path)


def lr_sensitivity(series, path, *, label: str, title: str, yscale: str = "linear") -> Path:
    """A metric against the learning rate (log axis), one line with a ±1 sd band per label.

    Args:
      series: sequence of ``(label, learning_rates, mean, sd)``, each array ``(K,)``.
      path: the PNG to write.
      label: the y axis label, with units; title: the figure's title.
      yscale: ``"linear"`` or ``"log"`` (losses that span decades).

    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    """
    fig = Figure(figsize=(7.2, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for (name, lrs, mean, sd), color in zip(series, _category_colors(len(series))):
        ax.plot(lrs, mean, "o-", color=color, lw=1.4, ms=4, label=name)
        low = np.maximum(mean - sd, mean * 0.5) if yscale == "log" else mean - sd  # stay > 0
        ax.fill_between(lrs, low, mean + sd, color=color, alpha=0.15, lw=0)
    ax.set(xscale="log", yscale=yscale, xlabel="learning rate (log scale)", ylabel=label)
    _plain_ticks(ax.xaxis, np.concatenate([s[1] for s in series]) if series else [])
    ax.grid(True, which="both", alpha=0.25)
    _legend_outside(ax)
    _suptitle(fig, title)
    return _save(fig, path)


def lr_scatter(groups, path, *, label: str, title: str, yscale: str = "linear", best=None):
    """A metric against the learning rate (log axis), one point per setting, a colour per group.

    Args:
      groups: sequence of ``(label, learning_rates, values)``, arrays ``(N,)``.
      path: the PNG to write.
      label: the y axis label, with units; title: the figure's title (say what a point is).
      yscale: ``"linear"`` or ``"log"``.
      best: None, or ``(learning_rate, value, text)``: a star and its words at the best point.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    """
    fig = Figure(figsize=(7.2, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for (name, lrs, values), color in zip(groups, _category_colors(len(groups))):
        ax.scatter(lrs, values, color=color, s=26, alpha=0.85, label=f"{name} ({len(lrs)})")
    if best is not None:
        lr, value, text = best
        ax.scatter([lr], [value], marker="*", s=220, facecolor="none", edgecolor="black", lw=1.2)
        ax.annotate(text, (lr, value), xytext=(10, 6), textcoords="offset points", fontsize="small")
    ax.margins(x=0.08, y=0.12)  # room for the star's words at the top
    ax.set(xscale="log", yscale=yscale, xlabel="learning rate (log scale)", ylabel=label)
    _plain_ticks(ax.xaxis, np.concatenate([g[1] for g in groups]) if groups else [])
    ax.grid(True, which="both", alpha=0.25)
    _legend_outside(ax)
    _suptitle(fig, title)
    return _save(fig, path)


def params_scatter(series, path, *, label: str, title: str, yscale: str = "linear") -> Path:
    """A metric against the parameter count (log axis), one marker series per label.

    Args:
      series: sequence of ``(label, n_params, values)``, arrays ``(N,)``.
      path: the PNG to write.
      label: the y axis label, with units; title: the figure's title.
      yscale: ``"linear"`` or ``"log"``.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    """
    fig = Figure(figsize=(7.2, 4.4), layout="constrained")
    ax = fig.add_subplot()
    markers = "osD^vP*X"
    for i, ((name, n_params, values), color) in enumerate(
        zip(series, _category_colors(len(series)))
    ):
        ax.scatter(
            n_params,
            values,
            color=color,
            marker=markers[i % len(markers)],
            s=28,
            alpha=0.85,
            label=name,
        )
    ax.set(xscale="log", yscale=yscale, xlabel="parameters (log scale)", ylabel=label)
    _plain_ticks(ax.xaxis)
    ax.grid(True, which="both", alpha=0.25)
    _legend_outside(ax)
    _suptitle(fig, title)
    return _save(fig, path)


def _suptitle(fig: Figure, title: str, width: int = 80) -> None:
    """The figure's title, spanning the legend too, wrapped onto lines of ``width`` characters
    so that a long one (a sweep's name and what is shown) is never cut at the edges."""
    import textwrap

    fig.suptitle("\n".join(textwrap.wrap(title, width)) or title, fontsize="medium")


def _legend_outside(ax) -> None:
    """The legend to the right of the axes, where it hides no data."""
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))


def _plain_ticks(axis, values=()) -> None:
    """Plain numbers (0.003, 2000) on a log axis: at the data's values when given and few,
    else at 1, 2 and 5 times each power of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    distinct = np.unique(np.asarray(values, np.float64))
    wide = len(distinct) > 1 and distinct[-1] / max(distinct[0], 1e-300) > 300
    if 0 < len(distinct) <= 8:
        axis.set_ticks(distinct)
    else:  # over more than 2.5 decades, 2 and 5 times a power of ten would crowd the axis
        axis.set_major_locator(LogLocator(subs=(1.0,) if wide else (1.0, 2.0, 5.0)))
    axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _text_color(value: float, limits, higher_is_better: bool) -> str:
    """White on the dark end of viridis (low values, or high ones when reversed), else black."""
    if not np.isfinite(value):
        return "black"
    position = (value - limits[0]) / max(limits[1] - limits[0], 1e-300)
    dark = position < 0.5 if higher_is_better else position > 0.5
    return "white" if dark else "black"


def _category_colors(n: int) -> list:
    """``n`` distinct colours: tab10, then evenly spaced viridis beyond ten."""
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    return [colormaps["viridis"](i / max(n - 1, 1)) for i in range(n)]
