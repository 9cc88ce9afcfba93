"""The config fields of a stored run: one registry that the store's writer and readers share.

Each config field of a ``runs`` row (``hidden``, ``activation``, ``learning_rate``, ...) is
listed once, in :data:`FIELDS`, with how it is stored, shown and named: its column header on
the report page, its table text, its words in a figure legend and in a curve's name on the
page. The lists the stages need are derived from it: :data:`COPIED_KEYS` (columns the run
stage copies from the config as they are), :data:`SETTING_KEYS` (what a setting pooled over
seeds keeps), :data:`LABEL_KEYS` (what may name a setting in a figure legend) and
:data:`HEADER_ALIASES` (headers a page filter may type instead of the key).

Left out: the metrics (:data:`jaxnet.sweep.METRICS`), timings and provenance columns, which
the store documents, and the config keys that are not columns (``loss``, ``eval_every``...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable


def _yes_no(value) -> str:
    return "yes" if value else "no"


def _bias_words(value) -> str:
    return "bias" if value else "no bias"


def _grads_words(value) -> str:
    return {"manual": "hand-written grads", "auto": "jax.grad"}.get(value, str(value))


@dataclasses.dataclass(frozen=True)
class Field:
    """One config field of a ``runs`` row.

    Attributes:
      key: the ``runs`` column (and, for a copied field, the config key).
      header: the column header of the page's members table.
      show: the value as a table cell writes it (as the terminal table does).
      legend: the value as a figure legend words it; None where a field never names a setting
        in a figure (it follows from others, or differs between seeds).
      tag: the value as a curve's name on the page words it; None: ``header`` and the cell.
      numeric: the page sorts and filters the column as numbers.
      copied: the run stage stores the config's value as it is (else it derives the column).
      per_seed: the field differs between the runs a setting pools (the seed).
      from_shape: the field follows from the hidden sizes, so it never names a curve.
    """

    key: str
    header: str
    show: Callable[[object], str] = str
    legend: Callable[[object], str] | None = None
    tag: Callable[[object], str] | None = None
    numeric: bool = True
    copied: bool = False
    per_seed: bool = False
    from_shape: bool = False

    def text(self, value) -> str:
        """The table cell of ``value``: ``-`` for a missing one (NULL)."""
        return "-" if value is None else self.show(value)

    def curve_tag(self, value) -> str:
        """``16-16``, ``relu``, ``no bias``, ``lr 0.1``, ``seed 2``: the field in a curve's name."""
        return f"{self.header} {self.text(value)}" if self.tag is None else self.tag(value)


# Table order: the net's shape, then training, then the seed, then the size.
FIELDS: tuple[Field, ...] = (
    Field("hidden", "hidden", legend="hidden {}".format, tag=str, numeric=False),
    Field("depth", "depth", from_shape=True),
    Field("width", "width", from_shape=True),
    Field("activation", "activation", legend=str, tag=str, numeric=False, copied=True),
    Field("bias", "bias", _yes_no, legend=_bias_words, tag=_bias_words, numeric=False),
    Field("optimizer", "optimizer", legend=str, tag=str, numeric=False, copied=True),
    # lr as the terminal table shows it
    Field("learning_rate", "lr", "{:.3g}".format, legend="lr {:g}".format, copied=True),
    Field("batch_size", "batch", legend="batch {}".format, copied=True),
    Field("steps", "steps", legend="{} steps".format, copied=True),
    Field("seed", "seed", copied=True, per_seed=True),
    Field("init_scale", "init_scale", "{:g}".format, legend="scale {:g}".format, copied=True),
    # How it trains beyond that (jaxnet.sweep.regimen): stored with their defaults
    Field("dropout", "dropout", "{:g}".format, legend="dropout {:g}".format),
    Field("weight_decay", "wd", "{:g}".format, legend="wd {:g}".format),
    Field("grads", "grads", legend=_grads_words, tag=str, numeric=False),
    Field("lr_schedule", "schedule", legend="{} lr".format, tag=str, numeric=False),
    Field("lr_final", "lr_final", "{:g}".format, legend="lr_final {:g}".format),
    Field("warmup_steps", "warmup", legend="warmup {}".format),
    Field("patience", "patience", legend="patience {}".format),
    Field("n_params", "params", from_shape=True),
)
# The fields above that the terminal table shows in one column, where any of them varies.
REGIMEN_KEYS = ("dropout", "weight_decay", "grads", "lr_schedule", "lr_final", "warmup_steps")
BY_KEY: dict[str, Field] = {f.key: f for f in FIELDS}

COPIED_KEYS = tuple(f.key for f in FIELDS if f.copied)
SETTING_KEYS = tuple(f.key for f in FIELDS if not f.per_seed)
LABEL_KEYS = tuple(f.key for f in FIELDS if f.legend is not None)
HEADER_ALIASES = {f.header: f.key for f in FIELDS if f.header != f.key}


def legend_text(key: str, value) -> str:
    """Field ``key``'s words in a figure legend: ``lr 0.1``, ``no bias``, ``200 steps``."""
    return BY_KEY[key].legend(value)
