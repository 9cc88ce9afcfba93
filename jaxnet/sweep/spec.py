"""Sweeps: a TOML file of configs -> groups that share a compiled shape -> populations -> store.

A sweep is data. Its file names a dataset, how to split and scale it, and the configs to
train: the Cartesian product of the ``[grid]`` lists, crossed with ``n`` random draws from the
``[random]`` table. Configs that differ only in seed, learning rate, init scale, dropout,
weight decay or schedule values (:data:`MEMBER_KEYS`) share one compiled program, so each
group of them is trained as one population (:func:`jaxnet.population.fit_population`): the
number of compiles equals the number of distinct shapes. Each group's rows are written to the
results store (:mod:`jaxnet.store`) in one transaction as soon as the group finishes; rerunning
a sweep trains only the configs that have no row yet, so a sweep killed at any moment and
rerun ends with exactly one row per config.

The file format (every key but ``name``, ``dataset`` and one of the tables is optional)::

    name = "demo"                # letters, digits, ``_.-``; identifies the sweep in the store
    description = "..."          # free text
    dataset = "digits"           # one of jaxnet.data.DATASETS, or "csv" / "npz": your file
    csv = "data/wine.csv"        # with dataset = "csv": relative to this file's folder
    target = "quality"           # with dataset = "csv": the column to predict
    npz = "data/points.npz"      # with dataset = "npz": arrays x (rows, features), y (rows,)
    task = "regression"          # with a file: default inferred from the target
    data_seed = 0                # seed of generated data and of the splits
    val_fraction = 0.15          # share of the non-test rows held out for validation (0: none)
    test_fraction = 0.2          # share of all rows held out for testing (ignored by mnist1d,
                                 # which has its own test set)
    scaler = "standard"          # input scaling fitted on the training rows: max, minmax,
                                 # standard or none
    target_scaler = "standard"   # the same for regression targets
    loss = "cross_entropy"       # default: cross_entropy for classes, mse for regression
    output_activation = "identity"
    init = "auto"                # weight init scheme (jaxnet.mlp.INITS)
    evals = 10                   # validation evaluations per run (every ceil(steps/evals) steps)
    curve_points = 100           # the stored training curve keeps at most this many points
    metric = "best_val_loss"     # what ranks configs (default best_val_loss, or train_loss
                                 # without validation); see METRICS
    max_padding = 4.0            # width buckets: configs differing only in hidden widths train
                                 # as one population padded to the widest, while no member's
                                 # padded FLOPs exceed this many times its own (1: off)

    [grid]                       # lists; every combination is a config
    depth = [1, 2, 3]            # hidden layers, all of size `width`; or instead:
    width = [16, 32, 64, 128]    #   hidden = [[8], [16, 8]] (each entry one net's hidden sizes)
    activation = ["relu", "tanh"]
    bias = [true]
    optimizer = ["adam"]         # a name from jaxnet.train.OPTIMIZERS
    learning_rate = [1e-3]
    batch_size = [128]           # 0, or at least the training rows: full batch
    steps = [500]
    seed = [0, 1, 2]             # seeds the init and the minibatch order
    init_scale = [1.0]           # multiplies the initial weights
    residual = [false, true]     # skips around equal-width hidden layers (jaxnet.MLP); a
                                 # net with none trains as the plain one, stored apart
    dropout = [0.0, 0.2]         # the rate of every hidden layer (data: one program)
    weight_decay = [0.0, 1e-4]   # decoupled weight decay of the weights (data: one program)
    grads = ["manual", "auto"]   # the hand-written backward pass, or jax.grad
    lr_schedule = ["constant", "cosine"]  # also warmup_cosine, exponential
    lr_final = [0.0]             # a decaying schedule's last factor (data: one program)
    warmup_steps = [100]         # warmup_cosine's linear warmup (data: one program)

    [search]                     # optional: which configs go on, and how far
    method = "halving"           # grid (the default: all to the end), halving or pbt;
    min_steps = 100              # see jaxnet.sweep.search_table for every method's keys
    factor = 3

    [random]                     # n draws, each crossed with every grid combination
    n = 20
    seed = 0                     # seed of the draws (the `seed` axis itself goes in [grid])
    learning_rate = {log_uniform = [1e-4, 1e-1]}  # also uniform; int_uniform and
    width = {int_log_uniform = [8, 256]}          # int_log_uniform (inclusive) for ints;
    activation = ["relu", "tanh"]                 # a list draws one of its values

An axis in neither table takes its default (:data:`AXIS_DEFAULTS`). Drawn floats are rounded to
4 significant digits. Identical configs are trained once. A config's id is a hash of its
canonical JSON and the sweep's name; the same file can be extended (more seeds, more widths)
and rerun, and only the new configs train. Any mistake in the file -- an unknown key, dataset or
activation, an empty list -- is a :class:`SweepError` whose one-line message names the key.

Size limits, checked before anything is allocated or compiled (a typo like ``n = 1000000000``
should not run the machine out of memory): at most :data:`MAX_CONFIGS` configs (the product of
the grid's list lengths times ``random.n``, counted before expanding), at most
:data:`MAX_DEPTH` hidden layers, fewer than :data:`MAX_STEPS` steps (they are counted in
int32), and, once the data is known, at most :data:`MAX_GROUP_BYTES` of estimated memory per
group (:func:`jaxnet.sweep.preparation.group_bytes`). Each refusal says how much was asked for.

A CSV file is read as ``jaxnet train --csv`` reads it (:func:`jaxnet.data.read_csv`), an NPZ
file without pickle (:func:`jaxnet.data.read_npz`). docs/sweeps.md is the reference of every
key, with examples.

A top-level ``patience = 5`` stops each config on its own after that many evaluations without
a lower validation loss, keeping its best params (as ``jaxnet.fit(..., patience=5)``); a
``[search]`` stops configs at rungs instead. The axes from ``dropout`` on, and ``patience``,
are left out of a config at their defaults, and how they combine is checked by
:mod:`.regimen`.

Left out: several datasets in one sweep, and splitting a very large group into several
populations.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from pathlib import Path

from .. import activations, data, losses, mlp, schedules, train
from .._limits import shown
from .._reading import read_regular
from ..sizing import MAX_GROUP_BYTES as MAX_GROUP_BYTES
from .search_table import GRID, check_search, check_space, is_study
from .values import (
    boolean,
    dropout_rate,
    fraction,
    int_from,
    is_int,
    is_number,
    lr_factor,
    non_negative_float,
    one_of,
    padding,
    positive_float,
)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

METRICS = (
    "best_val_loss",
    "best_val_accuracy",
    "final_val_loss",
    "final_val_accuracy",
    "test_loss",
    "test_accuracy",
    "train_loss",
    "train_accuracy",
)
SETTING_DEFAULTS = {
    "description": "",
    "data_seed": 0,
    "val_fraction": 0.15,
    "test_fraction": 0.2,
    "scaler": "standard",
    "target_scaler": "standard",
    "loss": None,  # chosen from the dataset's task
    "output_activation": "identity",
    "init": "auto",
    "evals": 10,
    "curve_points": 100,
    "metric": None,  # best_val_loss, or train_loss without validation
    "csv": None,  # with dataset = "csv": the file, relative to the sweep file's folder
    "target": None,  # with dataset = "csv": the column to predict
    "npz": None,  # with dataset = "npz": a numpy.savez file of arrays x and y
    "task": None,  # with a file: classification or regression (default: from the target)
    "max_padding": 4.0,  # width buckets: padded / own FLOPs of any member (1: no buckets)
    "patience": None,  # early stopping per config: evaluations without a lower val loss
}
# Datasets read from the user's file rather than jaxnet.data's built-in ones.
FILE_DATASETS = ("csv", "npz")
AXIS_DEFAULTS = {
    "depth": 1,
    "width": 32,
    "hidden": None,  # from depth and width
    "activation": "relu",
    "bias": True,
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "batch_size": 128,
    "steps": 1000,
    "seed": 0,
    "init_scale": 1.0,
    "residual": False,  # left out of a config while False, so older config ids stay the same
    # Left out of a config at their defaults too (see .regimen):
    "dropout": 0.0,
    "weight_decay": 0.0,
    "grads": "auto",
    "lr_schedule": "constant",
    "lr_final": None,  # the schedule's own default (jaxnet.schedules.LR_FINAL_DEFAULTS)
    "warmup_steps": None,  # warmup_cosine only, which needs it
}
# What may differ inside one compiled population (data: seeds, rates, coefficients, schedule
# values); every other config key defines the shape.
MEMBER_KEYS = (
    "seed",
    "learning_rate",
    "init_scale",
    "dropout",
    "weight_decay",
    "lr_final",
    "warmup_steps",
)
DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "int_log_uniform")
# Size limits (see the module docstring); raise them here if a machine can take more.
MAX_CONFIGS = 100_000
MAX_DEPTH = 128
MAX_STEPS = 2**31  # exclusive: a step count is an int32 inside the training loop
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class SweepError(ValueError):
    """A bad sweep file: the one-line message names the file and the key."""


# --- checking values --------------------------------------------------------------------------


def _hidden_sizes(v):
    if not isinstance(v, list) or not all(is_int(s) and s > 0 for s in v):
        raise ValueError("a list of positive ints, e.g. [16, 8] ([] for no hidden layer)")
    if len(v) > MAX_DEPTH:
        raise ValueError(f"at most {MAX_DEPTH} hidden sizes (jaxnet.sweep.spec.MAX_DEPTH)")
    return [int(s) for s in v]


def _text(v):
    if not isinstance(v, str):
        raise ValueError("a string")
    return v


def _sweep_name(v):
    if not isinstance(v, str) or not _NAME.match(v):
        raise ValueError("a non-empty name of letters, digits, '_', '.' or '-'")
    return v


INT_AXES = ("depth", "width", "batch_size", "steps", "seed", "warmup_steps")
FLOAT_AXES = ("learning_rate", "init_scale", "dropout", "weight_decay", "lr_final")
_ACTIVATION_NAMES = tuple(sorted(activations.ACTIVATIONS))
_SCALERS = (*data.SCALER_KINDS, "none")
AXIS_CHECKS = {
    "depth": int_from(1, MAX_DEPTH + 1),
    "width": int_from(1),
    "hidden": _hidden_sizes,
    "activation": one_of(_ACTIVATION_NAMES),
    "bias": boolean,
    "optimizer": one_of(tuple(train.OPTIMIZERS)),
    "learning_rate": positive_float,
    "batch_size": int_from(0),
    "steps": int_from(1, MAX_STEPS),
    "seed": int_from(0),
    "init_scale": positive_float,
    "residual": boolean,
    "dropout": dropout_rate,
    "weight_decay": non_negative_float,
    "grads": one_of(tuple(train.GRAD_FNS)),
    "lr_schedule": one_of(schedules.KINDS),
    "lr_final": lr_factor,
    "warmup_steps": int_from(1, MAX_STEPS),
}
SETTING_CHECKS = {
    "name": _sweep_name,
    "dataset": one_of((*data.DATASETS, *FILE_DATASETS)),
    "description": _text,
    "data_seed": int_from(0),
    "val_fraction": fraction,
    "test_fraction": fraction,
    "scaler": one_of(_SCALERS),
    "target_scaler": one_of(_SCALERS),
    "loss": one_of(tuple(sorted(losses.LOSSES))),
    "output_activation": one_of(_ACTIVATION_NAMES),
    "init": one_of(mlp.INITS),
    "evals": int_from(1),
    "curve_points": int_from(2),
    "metric": one_of(METRICS),
    "csv": _text,
    "target": _text,
    "npz": _text,
    "task": one_of(data.TASKS),
    "max_padding": padding,
    "patience": int_from(1),
}


def _checked(where: str, key: str, check, value):
    """``check(value)``, or a SweepError naming the file, the key, what was expected and got."""
    try:
        return check(value)
    except ValueError as e:
        raise SweepError(f"{where}: {key} must be {e}; got {shown(value)}") from None


def _unknown(where: str, table: str, given, known) -> None:
    extra = [k for k in given if k not in known]
    if extra:
        key = f"{table}.{extra[0]}" if table else extra[0]
        raise SweepError(f"{where}: unknown key {key!r}; expected one of {', '.join(known)}")


# --- the sweep spec ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A checked sweep spec.

    Attributes:
      name, dataset: as in the file.
      settings: every setting of :data:`SETTING_DEFAULTS`, defaults filled in (``loss`` and
        ``metric`` may be None: chosen when the data is known).
      grid: axis -> list of checked values.
      random: axis -> ``(distribution, args)`` with ``distribution`` "choice" or one of
        :data:`DISTRIBUTIONS`; draws: how many random draws (0 without ``[random]``);
        random_seed: the seed of the draws.
      source: the text that defined the sweep (stored with its runs).
      search: the checked ``[search]`` table (:func:`.search_table.check_search`);
        ``{"method": "grid"}`` without one.
    """

    name: str
    dataset: str
    settings: dict
    grid: dict
    random: dict
    draws: int
    random_seed: int
    source: str
    search: dict = dataclasses.field(default_factory=lambda: dict(GRID))


def _grid(where: str, table) -> dict:
    if not isinstance(table, dict):
        raise SweepError(f"{where}: grid must be a table of lists, like [grid] width = [16, 32]")
    _unknown(where, "grid", table, AXIS_CHECKS)
    grid = {}
    for axis, values in table.items():
        key = f"grid.{axis}"
        if not isinstance(values, list):
            raise SweepError(f"{where}: {key} must be a list of values; got {values!r}")
        if not values:
            raise SweepError(f"{where}: {key} is empty; give it at least one value")
        grid[axis] = [_checked(where, key, AXIS_CHECKS[axis], v) for v in values]
    return grid


def _distribution(where: str, axis: str, spec):
    """``("choice", values)`` or ``(kind, (low, high))`` for one ``[random]`` entry."""
    key = f"random.{axis}"
    if isinstance(spec, list):
        if not spec:
            raise SweepError(f"{where}: {key} is empty; give it at least one value")
        return "choice", [_checked(where, key, AXIS_CHECKS[axis], v) for v in spec]
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise SweepError(
            f"{where}: {key} must be a list to choose from or one of "
            f"{{{' | '.join(f'{d} = [low, high]' for d in DISTRIBUTIONS)}}}; got {spec!r}"
        )
    ((kind, bounds),) = spec.items()
    integer = kind.startswith("int_")
    if axis not in (INT_AXES if integer else FLOAT_AXES):
        allowed = "a list" + (" or int_uniform/int_log_uniform" if axis in INT_AXES else "")
        allowed += " or uniform/log_uniform" if axis in FLOAT_AXES else ""
        raise SweepError(f"{where}: {key} cannot be drawn from {kind}; use {allowed}")
    ok = isinstance(bounds, list) and len(bounds) == 2 and all(is_number(b) for b in bounds)
    if not ok or bounds[0] > bounds[1] or (kind.endswith("log_uniform") and bounds[0] <= 0):
        raise SweepError(
            f"{where}: {key}.{kind} must be [low, high] with low <= high "
            f"(and low > 0 for a log scale); got {bounds!r}"
        )
    for b in bounds:
        _checked(where, key, AXIS_CHECKS[axis], int(b) if integer else float(b))
    return kind, (bounds[0], bounds[1])


def _random(where: str, table) -> tuple[dict, int, int]:
    if not isinstance(table, dict):
        raise SweepError(f"{where}: random must be a table, like [random] n = 10")
    _unknown(where, "random", table, ("n", "seed", *AXIS_CHECKS))
    if "n" not in table:
        raise SweepError(f"{where}: random.n is missing: how many draws to make")
    n = _checked(where, "random.n", int_from(1), table["n"])
    seed = _checked(where, "random.seed", int_from(0), table.get("seed", 0))
    axes = {k: _distribution(where, k, v) for k, v in table.items() if k not in ("n", "seed")}
    if not axes:
        raise SweepError(
            f"{where}: random has no axis to draw; add e.g. learning_rate = "
            "{log_uniform = [1e-4, 1e-1]}"
        )
    return axes, n, seed


def _space(where: str, table, grid: dict) -> dict:
    """An Optuna study's space: the ``[random]`` table's distributions (see
    :func:`.search_table.check_space` for what it refuses)."""
    try:
        check_space(table, grid)
    except ValueError as e:
        raise SweepError(f"{where}: {e}") from None
    return _random(where, {**table, "n": 1})[0]


def _check_axes(where: str, grid: dict, random: dict) -> None:
    both = [k for k in grid if k in random]
    if both:
        raise SweepError(f"{where}: {both[0]} is in both [grid] and [random]; keep it in one")
    axes = {*grid, *random}
    if "hidden" in axes and axes & {"depth", "width"}:
        raise SweepError(f"{where}: hidden replaces depth and width; give one or the other")


def from_dict(spec: dict, where: str = "sweep", source: str | None = None) -> Sweep:
    """Check a parsed sweep (the TOML file's tables as dicts) and build a :class:`Sweep`.

    Args:
      spec: top-level settings plus ``grid`` and/or ``random`` tables.
      where: what to call the sweep in error messages (its file name).
      source: the text to store with its runs; default the spec as canonical JSON.

    Raises:
      SweepError: naming the key at fault.
    """
    _unknown(where, "", spec, (*SETTING_CHECKS, "grid", "random", "search"))
    for key in ("name", "dataset"):
        if key not in spec:
            raise SweepError(f"{where}: {key} is missing")
    if "grid" not in spec and "random" not in spec:
        raise SweepError(f"{where}: a sweep needs a [grid] or a [random] table of configs")
    values = {
        k: _checked(where, k, SETTING_CHECKS[k], v) for k, v in spec.items() if k in SETTING_CHECKS
    }
    grid = _grid(where, spec.get("grid", {}))
    if is_study(spec):
        random, draws, seed = _space(where, spec.get("random"), grid), 0, 0
    else:
        random, draws, seed = _random(where, spec["random"]) if "random" in spec else ({}, 0, 0)
    _check_axes(where, grid, random)
    _check_count(where, grid, draws)
    settings = {**SETTING_DEFAULTS, **{k: v for k, v in values.items() if k in SETTING_DEFAULTS}}
    _check_metric(where, settings)
    _check_file_keys(where, values)
    search = _search(where, spec["search"], settings) if "search" in spec else dict(GRID)
    text = source if source is not None else json.dumps(spec, sort_keys=True)
    return Sweep(
        values["name"], values["dataset"], settings, grid, random, draws, seed, text, search
    )


def _search(where: str, table, settings: dict) -> dict:
    """The checked ``[search]`` table; a search other than grid ranks configs on validation
    while they train, so its metric must be a validation one and the file must keep rows for it."""
    try:
        search = check_search(table)
    except ValueError as e:
        raise SweepError(f"{where}: {e}") from None
    if search["method"] == "grid":
        return search
    metric = settings["metric"] or ("best_val_loss" if settings["val_fraction"] else "train_loss")
    if "_val_" not in f"_{metric}":
        raise SweepError(
            f"{where}: search method {search['method']!r} ranks configs on validation data while "
            f"they train; metric {metric!r} has none: use best_val_loss, best_val_accuracy, "
            "final_val_loss or final_val_accuracy (with val_fraction > 0)"
        )
    return search


def _check_count(where: str, grid: dict, draws: int) -> None:
    """Refuse more than :data:`MAX_CONFIGS` configs, counted before any is built."""
    count = math.prod(len(v) for v in grid.values()) * max(draws, 1)
    if count > MAX_CONFIGS:
        parts = [f"grid {' x '.join(str(len(v)) for v in grid.values())}"] if grid else []
        parts += [f"{draws:,} random draws"] if draws else []
        raise SweepError(
            f"{where}: the sweep asks for {count:,} configs ({' times '.join(parts)}); "
            f"the limit is {MAX_CONFIGS:,} "
            "(jaxnet.sweep.spec.MAX_CONFIGS): split it into smaller sweeps"
        )


def _check_file_keys(where: str, values: dict) -> None:
    """The keys of a file dataset: csv + target, or npz; none of them with a built-in one."""
    needed = {"csv": ("csv", "target"), "npz": ("npz",)}.get(values["dataset"], ())
    for key in needed:
        if key not in values:
            raise SweepError(f"{where}: dataset = {values['dataset']!r} needs {key} = ...")
    allowed = (*needed, "task") if needed else ()
    owner = {"csv": "'csv'", "target": "'csv'", "npz": "'npz'", "task": "'csv' or 'npz'"}
    for key, datasets in owner.items():
        if key in values and key not in allowed:
            raise SweepError(
                f"{where}: {key} goes with dataset = {datasets}; this sweep's dataset is "
                f"{values['dataset']!r}"
            )


def _check_metric(where: str, settings: dict) -> None:
    """A validation metric (or ``patience``) with ``val_fraction = 0`` contradicts the file
    itself (what the data holds is checked by the preflight,
    :func:`jaxnet.sweep.preparation.preflight`)."""
    metric = settings["metric"]
    if metric and "val" in metric and settings["val_fraction"] == 0:
        raise SweepError(f"{where}: metric {metric!r} needs validation data (val_fraction > 0)")
    if settings["patience"] is not None and settings["val_fraction"] == 0:
        raise SweepError(f"{where}: patience needs validation data to watch (val_fraction > 0)")


def parse(text: str, where: str = "sweep") -> Sweep:
    """A :class:`Sweep` from TOML text; ``where`` names it in error messages."""
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SweepError(f"{where}: not valid TOML: {e}") from None
    return from_dict(spec, where, source=text)


MAX_FILE_BYTES = 4 * 2**20  # a sweep file is a page of settings, never megabytes


def load(path) -> Sweep:
    """The sweep in the TOML file ``path``: a regular UTF-8 file of at most
    :data:`MAX_FILE_BYTES` (a device, a FIFO or a binary file is refused in one line)."""
    try:
        content = read_regular(
            path, MAX_FILE_BYTES, "sweep file", "jaxnet.sweep.spec.MAX_FILE_BYTES"
        )
    except (OSError, ValueError) as e:
        raise SweepError(str(e)) from None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SweepError(
            f"{path} is not a sweep file: not UTF-8 text (byte {e.start:,} is "
            f"{content[e.start]:#04x})"
        ) from None
    if "\x00" in text:
        raise SweepError(f"{path} is not a sweep file: it holds NUL bytes (a binary file)")
    sweep = parse(text, str(path))
    return _with_file_beside(sweep, Path(path).parent)


def _with_file_beside(sweep: Sweep, folder: Path) -> Sweep:
    """A file dataset's relative path read as relative to the sweep file's folder."""
    key = sweep.dataset if sweep.dataset in FILE_DATASETS else None
    if key is None:
        return sweep
    path = Path(sweep.settings[key]).expanduser()
    settings = {**sweep.settings, key: str(path if path.is_absolute() else folder / path)}
    return dataclasses.replace(sweep, settings=settings)


def spec_from_source(text: str) -> Sweep:
    """The :class:`Sweep` that a store's ``sweeps.spec`` text holds (TOML, or JSON)."""
    if text.lstrip().startswith("{"):
        return from_dict(json.loads(text), "stored sweep", source=text)
    return parse(text, "stored sweep")


def spec_hash(sweep: Sweep) -> str:
    """SHA-256 of the sweep's source text: a new sweep row when the file changes."""
    return hashlib.sha256(sweep.source.encode()).hexdigest()
