"""Sweeps: a TOML file of configs -> groups that share a compiled shape -> populations -> store.

A sweep is data. Its file names a dataset, how to split and scale it, and the configs to
train: the Cartesian product of the ``[grid]`` lists, crossed with ``n`` random draws from the
``[random]`` table. Configs that differ only in seed, learning rate or init scale share one
compiled program, so each group of them is trained as one population
(:func:`jaxnet.population.fit_population`): the number of compiles equals the number of
distinct shapes. Each group's rows are written to the results store (:mod:`jaxnet.store`) in
one transaction as soon as the group finishes; rerunning a sweep trains only the configs that
have no row yet, so a sweep killed at any moment and rerun ends with exactly one row per config.

The file format (every key but ``name``, ``dataset`` and one of the tables is optional)::

    name = "demo"                # letters, digits, ``_.-``; identifies the sweep in the store
    description = "..."          # free text
    dataset = "digits"           # one of jaxnet.data.DATASETS
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

Left out: several datasets in one sweep, CSV datasets, early stopping, and splitting a very
large group into several populations.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
import time
from pathlib import Path

import numpy as np

from . import activations, data, losses, mlp, store, train

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
}
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
}
# What may differ inside one compiled population; every other config key defines the shape.
MEMBER_KEYS = ("seed", "learning_rate", "init_scale")
DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "int_log_uniform")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class SweepError(ValueError):
    """A bad sweep file: the one-line message names the file and the key."""


# --- checking values --------------------------------------------------------------------------


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int_from(low: int, high: int | None = None):
    def check(v):
        if not _is_int(v) or v < low or (high is not None and v >= high):
            top = "" if high is None else f" and below {high}"
            raise ValueError(f"an int of at least {low}{top}")
        return int(v)

    return check


def _positive_float(v):
    if not _is_number(v) or v <= 0:
        raise ValueError("a positive number")
    return float(v)


def _fraction(v):
    if not _is_number(v) or not 0 <= v < 1:
        raise ValueError("a number in [0, 1)")
    return float(v)


def _one_of(names):
    def check(v):
        if v not in names:
            raise ValueError(f"one of {', '.join(map(str, names))}")
        return v

    return check


def _boolean(v):
    if not isinstance(v, bool):
        raise ValueError("true or false")
    return v


def _hidden_sizes(v):
    if not isinstance(v, list) or not all(_is_int(s) and s > 0 for s in v):
        raise ValueError("a list of positive ints, e.g. [16, 8] ([] for no hidden layer)")
    return [int(s) for s in v]


def _text(v):
    if not isinstance(v, str):
        raise ValueError("a string")
    return v


def _sweep_name(v):
    if not isinstance(v, str) or not _NAME.match(v):
        raise ValueError("a non-empty name of letters, digits, '_', '.' or '-'")
    return v


INT_AXES = ("depth", "width", "batch_size", "steps", "seed")
FLOAT_AXES = ("learning_rate", "init_scale")
_ACTIVATION_NAMES = tuple(sorted(activations.ACTIVATIONS))
_SCALERS = (*data.SCALER_KINDS, "none")
AXIS_CHECKS = {
    "depth": _int_from(1),
    "width": _int_from(1),
    "hidden": _hidden_sizes,
    "activation": _one_of(_ACTIVATION_NAMES),
    "bias": _boolean,
    "optimizer": _one_of(tuple(train.OPTIMIZERS)),
    "learning_rate": _positive_float,
    "batch_size": _int_from(0),
    "steps": _int_from(1),
    "seed": _int_from(0, 2**31),
    "init_scale": _positive_float,
}
SETTING_CHECKS = {
    "name": _sweep_name,
    "dataset": _one_of(data.DATASETS),
    "description": _text,
    "data_seed": _int_from(0),
    "val_fraction": _fraction,
    "test_fraction": _fraction,
    "scaler": _one_of(_SCALERS),
    "target_scaler": _one_of(_SCALERS),
    "loss": _one_of(tuple(sorted(losses.LOSSES))),
    "output_activation": _one_of(_ACTIVATION_NAMES),
    "init": _one_of(mlp.INITS),
    "evals": _int_from(1),
    "curve_points": _int_from(2),
    "metric": _one_of(METRICS),
}


def _checked(where: str, key: str, check, value):
    """``check(value)``, or a SweepError naming the file, the key, what was expected and got."""
    try:
        return check(value)
    except ValueError as e:
        raise SweepError(f"{where}: {key} must be {e}; got {value!r}") from None


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
    """

    name: str
    dataset: str
    settings: dict
    grid: dict
    random: dict
    draws: int
    random_seed: int
    source: str


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
    ok = isinstance(bounds, list) and len(bounds) == 2 and all(_is_number(b) for b in bounds)
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
    n = _checked(where, "random.n", _int_from(1), table["n"])
    seed = _checked(where, "random.seed", _int_from(0), table.get("seed", 0))
    axes = {k: _distribution(where, k, v) for k, v in table.items() if k not in ("n", "seed")}
    if not axes:
        raise SweepError(
            f"{where}: random has no axis to draw; add e.g. learning_rate = "
            "{log_uniform = [1e-4, 1e-1]}"
        )
    return axes, n, seed


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
    _unknown(where, "", spec, (*SETTING_CHECKS, "grid", "random"))
    for key in ("name", "dataset"):
        if key not in spec:
            raise SweepError(f"{where}: {key} is missing")
    if "grid" not in spec and "random" not in spec:
        raise SweepError(f"{where}: a sweep needs a [grid] or a [random] table of configs")
    values = {
        k: _checked(where, k, SETTING_CHECKS[k], v) for k, v in spec.items() if k in SETTING_CHECKS
    }
    grid = _grid(where, spec.get("grid", {}))
    random, draws, seed = _random(where, spec["random"]) if "random" in spec else ({}, 0, 0)
    _check_axes(where, grid, random)
    settings = {**SETTING_DEFAULTS, **{k: v for k, v in values.items() if k in SETTING_DEFAULTS}}
    _check_metric(where, settings)
    text = source if source is not None else json.dumps(spec, sort_keys=True)
    return Sweep(values["name"], values["dataset"], settings, grid, random, draws, seed, text)


def _check_metric(where: str, settings: dict) -> None:
    metric = settings["metric"]
    if metric and "val" in metric and settings["val_fraction"] == 0:
        raise SweepError(f"{where}: metric {metric!r} needs validation data (val_fraction > 0)")


def parse(text: str, where: str = "sweep") -> Sweep:
    """A :class:`Sweep` from TOML text; ``where`` names it in error messages."""
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SweepError(f"{where}: not valid TOML: {e}") from None
    return from_dict(spec, where, source=text)


def load(path) -> Sweep:
    """The sweep in the TOML file ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise SweepError(f"cannot read sweep file {path}: {e.strerror}") from None
    return parse(text, str(path))


def spec_from_source(text: str) -> Sweep:
    """The :class:`Sweep` that a store's ``sweeps.spec`` text holds (TOML, or JSON)."""
    if text.lstrip().startswith("{"):
        return from_dict(json.loads(text), "stored sweep", source=text)
    return parse(text, "stored sweep")


# --- configs ----------------------------------------------------------------------------------


def _round(value: float) -> float:
    return float(f"{value:.4g}")


def _draw(rng: np.random.Generator, kind: str, args):
    if kind == "choice":
        return args[int(rng.integers(len(args)))]
    low, high = args
    if kind == "uniform":
        return _round(rng.uniform(low, high))
    if kind == "log_uniform":
        return _round(math.exp(rng.uniform(math.log(low), math.log(high))))
    if kind == "int_uniform":
        return int(rng.integers(int(low), int(high) + 1))
    return int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))  # int_log_uniform


def _draws(sweep: Sweep) -> list[dict]:
    """The ``[random]`` draws (one empty draw without a random table), reproducible."""
    if not sweep.random:
        return [{}]
    rng = np.random.default_rng(sweep.random_seed)
    return [{k: _draw(rng, *spec) for k, spec in sweep.random.items()} for _ in range(sweep.draws)]


def default_metric(settings: dict) -> str:
    """The ranking metric: the file's, else best_val_loss (train_loss without validation)."""
    return settings["metric"] or ("best_val_loss" if settings["val_fraction"] else "train_loss")


def task_defaults(settings: dict, task: str) -> dict:
    """``settings`` with the loss and ranking metric chosen when the file left them out."""
    loss = settings["loss"] or ("cross_entropy" if task == "classification" else "mse")
    return {**settings, "loss": loss, "metric": default_metric(settings)}


def _config(sweep: Sweep, settings: dict, axes: dict) -> dict:
    """One member's canonical config: everything that determines its result."""
    hidden = axes["hidden"] if axes["hidden"] is not None else [axes["width"]] * axes["depth"]
    keep = (
        "data_seed",
        "val_fraction",
        "test_fraction",
        "scaler",
        "target_scaler",
        "loss",
        "output_activation",
        "init",
    )
    config = {"dataset": sweep.dataset, **{k: settings[k] for k in keep}, "hidden": hidden}
    config.update({k: axes[k] for k in AXIS_DEFAULTS if k not in ("depth", "width", "hidden")})
    config["eval_every"] = math.ceil(axes["steps"] / settings["evals"])
    return config


def canonical(config: dict) -> str:
    """The config as JSON with sorted keys and no spaces: its identity."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def config_id(sweep_name: str, config: dict) -> str:
    """A stable id of one config within one sweep: 32 hex digits of a SHA-256."""
    return hashlib.sha256(f"{sweep_name}\n{canonical(config)}".encode()).hexdigest()[:32]


def expand(sweep: Sweep, task: str) -> list[dict]:
    """Every config of the sweep, in file order, duplicates removed.

    Args:
      sweep: the spec; task: the dataset's task (``"classification"`` or ``"regression"``).

    Returns:
      A list of config dicts (see :func:`canonical`), one per member to train.
    """
    settings = task_defaults(sweep.settings, task)
    combos = itertools.product(*sweep.grid.values())
    draws = _draws(sweep)
    seen, configs = set(), []
    for combo in combos:
        for draw in draws:
            axes = {**AXIS_DEFAULTS, **dict(zip(sweep.grid, combo)), **draw}
            config = _config(sweep, settings, axes)
            if canonical(config) not in seen:
                seen.add(canonical(config))
                configs.append(config)
    return configs


def effective_batch(config: dict, n_train: int) -> int | None:
    """The batch size to train with: None (full batch) for 0 or at least the training rows."""
    size = config["batch_size"]
    return None if size == 0 or size >= n_train else size


def shape_key(config: dict, n_train: int) -> str:
    """What the compiled program depends on: the config less :data:`MEMBER_KEYS`, as JSON."""
    shape = {k: v for k, v in config.items() if k not in MEMBER_KEYS}
    return canonical({**shape, "batch_size": effective_batch(config, n_train)})


def group(configs: list[dict], n_train: int) -> list[list[dict]]:
    """Configs grouped by :func:`shape_key`, groups in order of first appearance."""
    groups: dict[str, list[dict]] = {}
    for config in configs:
        groups.setdefault(shape_key(config, n_train), []).append(config)
    return list(groups.values())


# --- data -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A sweep's data, split and scaled once for all its groups.

    Attributes:
      parts: ``{"train": (x, y), "validation": ..., "test": ...}`` (the parts that exist):
        ``x`` ``(n, features)`` scaled with a scaler fitted on the training rows; ``y`` class
        indices ``(n,)`` or scaled regression targets ``(n,)``.
      task: ``"classification"`` or ``"regression"``; n_features, n_outputs: the net's ends.
    """

    parts: dict
    task: str
    n_features: int
    n_outputs: int


def _scaled(parts: dict, kind: str, column: int) -> dict:
    """Scale column 0 (inputs) or 1 (targets) of every part with a train-fitted scaler."""
    if kind == "none":
        return parts
    scaler = data.Scaler.fit(parts["train"][column], kind)
    return {
        k: tuple(scaler.transform(a) if i == column else a for i, a in enumerate(v))
        for k, v in parts.items()
    }


def prepare(sweep: Sweep) -> Prepared:
    """Load, split and scale the sweep's dataset (see :class:`Prepared`)."""
    s = sweep.settings
    dataset = data.load(sweep.dataset, seed=s["data_seed"])
    parts = data.partition(dataset, s["val_fraction"], s["test_fraction"], s["data_seed"])
    parts = _scaled(parts, s["scaler"], 0)
    if dataset.task == "regression":
        parts = _scaled(parts, s["target_scaler"], 1)
    outputs = dataset.n_classes if dataset.task == "classification" else 1
    return Prepared(parts, dataset.task, dataset.x.shape[1], outputs)


def _check_metric_data(metric: str, prepared: Prepared) -> None:
    part = {"val": "validation", "test": "test", "train": "train"}[metric.split("_")[-2]]
    if part not in prepared.parts:
        raise SweepError(f"metric {metric!r} needs a {part} set; this sweep's data has none")
    if metric.endswith("accuracy") and prepared.task != "classification":
        raise SweepError(f"metric {metric!r} needs a classification dataset")


def checked_parts(prepared: Prepared, net: mlp.MLP, loss: str) -> dict:
    """Every part as checked ``(x, y)`` arrays (one-hot targets), ready for evaluation."""
    import jax

    from . import _validate

    probe = jax.eval_shape(lambda: mlp.init(net, jax.random.key(0)))  # shapes only: no compile
    return {k: _validate.batch(net, probe, x, y, loss) for k, (x, y) in prepared.parts.items()}


# --- training one group -----------------------------------------------------------------------


def net_for(config: dict, prepared: Prepared) -> mlp.MLP:
    """The spec of a config's network on the prepared data."""
    sizes = (prepared.n_features, *config["hidden"], prepared.n_outputs)
    return mlp.MLP(
        sizes,
        activation=config["activation"],
        bias=config["bias"],
        output_activation=config["output_activation"],
        init=config["init"],
    )


def fit_group(configs: list[dict], prepared: Prepared, checked: dict):
    """Train configs that share one shape (see :func:`group`) as one population.

    Args:
      configs: P configs equal but for :data:`MEMBER_KEYS`.
      prepared: the sweep's data; checked: :func:`checked_parts` of it.

    Returns:
      ``(net, history, evaluated)``: the spec, the :class:`~jaxnet.PopulationHistory`, and
      ``{"train": (loss, accuracy), "test": ...}`` of the final params, each ``(P,)`` NumPy.
    """
    import jax
    import jax.numpy as jnp

    from . import population

    first = configs[0]
    net = net_for(first, prepared)
    keys = jnp.stack([jax.random.key(c["seed"]) for c in configs])
    params, history = population.fit_population(
        net,
        keys,
        *prepared.parts["train"],
        loss=first["loss"],
        optimizer=first["optimizer"],
        steps=first["steps"],
        learning_rates=[c["learning_rate"] for c in configs],
        init_scales=[c["init_scale"] for c in configs],
        batch_size=effective_batch(first, len(prepared.parts["train"][1])),
        validation=prepared.parts.get("validation"),
        eval_every=first["eval_every"],
        progress=False,
    )
    evaluated = {}
    for part in ("train", "test"):
        if part in checked:
            pair = population.evaluate_population(net, params, *checked[part], first["loss"])
            evaluated[part] = tuple(np.asarray(v, np.float64) for v in pair)
    return net, history, evaluated


def _number(value) -> float | None:
    """A finite float, or None (SQL NULL) for NaN: accuracy of a regression, no data."""
    value = float(value)
    return value if math.isfinite(value) else None


def _val_metrics(history, i: int) -> dict:
    """Final and best validation metrics of member ``i`` (None without validation)."""
    vl, va = history.val_loss[i], history.val_accuracy[i]
    finite = np.isfinite(vl)
    if not finite.any():
        return dict.fromkeys(
            (
                "final_val_loss",
                "final_val_accuracy",
                "best_val_loss",
                "best_val_accuracy",
                "best_step",
            )
        )
    best = int(np.argmin(np.where(finite, vl, np.inf)))
    return {
        "final_val_loss": _number(vl[-1]),
        "final_val_accuracy": _number(va[-1]),
        "best_val_loss": _number(vl[best]),
        "best_val_accuracy": _number(np.nanmax(va)) if np.isfinite(va).any() else None,
        "best_step": int(history.eval_step[best]),
    }


def environment() -> dict:
    """Library versions and the device kind, stored with every row."""
    import jax

    from . import __version__

    devices = jax.local_devices()
    return {
        "jaxnet_version": __version__,
        "jax_version": jax.__version__,
        "device_kind": f"{devices[0].device_kind} x{len(devices)}",
    }


_COPIED = ("activation", "optimizer", "learning_rate", "batch_size", "steps", "seed", "init_scale")


def _config_columns(config: dict) -> dict:
    """The config (as JSON) and its key fields as ``runs`` columns."""
    hidden = config["hidden"]
    return {
        "config": canonical(config),
        "dataset": config["dataset"],
        "depth": len(hidden),
        "width": hidden[0] if len(set(hidden)) == 1 else None,  # None: widths differ
        "hidden": "-".join(map(str, hidden)) or "none",
        "bias": int(config["bias"]),
        "eval_every": config["eval_every"],
        **{k: config[k] for k in _COPIED},
    }


def _metric_columns(history, evaluated: dict, i: int) -> dict:
    """Member ``i``'s status and metrics (None where a part or a metric does not exist)."""
    train = [v[i] for v in evaluated["train"]] if "train" in evaluated else (np.nan, np.nan)
    test = [v[i] for v in evaluated["test"]] if "test" in evaluated else (np.nan, np.nan)
    return {
        "status": history.status[i],
        "steps_done": int(history.steps[i]),
        "train_loss": _number(train[0]),
        "train_accuracy": _number(train[1]),
        **_val_metrics(history, i),
        "test_loss": _number(test[0]),
        "test_accuracy": _number(test[1]),
    }


def _curve_columns(history, i: int, curve_points: int) -> dict:
    curve, stride = store.downsample(history.loss[i], curve_points)
    return {
        "curve": store.encode_floats(curve),
        "curve_stride": stride,
        "val_curve": store.encode_floats(history.val_loss[i]),
    }


def member_rows(
    sweep_name: str, configs, net, history, evaluated, timing: dict, curve_points: int
) -> list[dict]:
    """One store row per member of a trained group.

    Args:
      sweep_name: names the config ids; configs: the group's P configs.
      net, history, evaluated: what :func:`fit_group` returned.
      timing: ``group_seconds``, ``train_seconds``, ``compile_seconds`` and the environment
        (:func:`environment`), the same for every member.
      curve_points: the most points kept of each training curve.

    Returns:
      P dicts with every column of :data:`jaxnet.store.RUN_COLUMNS`.
    """
    ids = [config_id(sweep_name, c) for c in configs]
    shared = {
        "group_id": hashlib.sha256(" ".join(ids).encode()).hexdigest()[:16],  # this population
        "n_params": net.n_params,
        "group_size": len(configs),
        "created": store.now(),
        **timing,
    }
    return [
        {
            "config_id": ids[i],
            **shared,
            **_config_columns(config),
            **_metric_columns(history, evaluated, i),
            **_curve_columns(history, i, curve_points),
        }
        for i, config in enumerate(configs)
    ]


# --- running a sweep --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SweepSummary:
    """What one call of :func:`run` did.

    Attributes:
      name, store: the sweep and the store file.
      configs: configs in the sweep; skipped: already stored; trained: trained now.
      groups: populations trained now; compiles: population programs compiled now.
      seconds: wall time of the call; group_seconds: of it, training and evaluating groups;
      compile_seconds: of that, JAX tracing, lowering and compiling (every program).
    """

    name: str
    store: str
    configs: int
    skipped: int
    trained: int
    groups: int
    compiles: int
    seconds: float
    group_seconds: float
    compile_seconds: float

    @property
    def train_fraction(self) -> float:
        """Share of the wall time spent running compiled programs (training and evaluation)."""
        return (self.group_seconds - self.compile_seconds) / max(self.seconds, 1e-9)

    def describe(self) -> str:
        """One line: what was trained and where the wall time went."""
        if not self.trained:
            return f"{self.name}: all {self.configs} configs were already in {self.store}"
        share = 100.0 / max(self.seconds, 1e-9)
        return (
            f"{self.name}: trained {self.trained} configs in {self.groups} groups "
            f"({self.compiles} training programs) in {self.seconds:.1f} s: "
            f"{100 * self.train_fraction:.0f}% running compiled programs, "
            f"{share * self.compile_seconds:.0f}% compiling, "
            f"{share * (self.seconds - self.group_seconds):.0f}% data, store and Python; "
            f"{self.skipped} were already stored"
        )


def _group_label(configs: list[dict]) -> str:
    c = configs[0]
    hidden = "-".join(map(str, c["hidden"])) or "linear"
    return (
        f"{hidden} {c['activation']} {c['optimizer']} batch {c['batch_size']} "
        f"{c['steps']} steps x{len(configs)}"
    )


def _progress(total: int, progress: bool | None, desc: str):
    import sys

    from tqdm.auto import tqdm

    enabled = sys.stderr.isatty() if progress is None else bool(progress)
    return tqdm(total=total, desc=desc, unit="member", disable=not enabled, leave=False)


_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
_compile_seconds = 0.0  # JAX lowering + XLA compiling in this process since the listener began
_listening = False


def _count_compile(event: str, duration: float, **_) -> None:
    global _compile_seconds
    if event in _COMPILE_EVENTS:
        _compile_seconds += duration


def compile_clock() -> float:
    """Seconds this process has spent lowering and compiling JAX programs since first asked.

    Counts every program, the eager operations' small ones included (``jax.monitoring``
    events); tracing is left out because nested traces would be counted twice.
    """
    global _listening
    if not _listening:
        import jax.monitoring

        jax.monitoring.register_event_duration_secs_listener(_count_compile)
        _listening = True
    return _compile_seconds


def _train_groups(conn, sweep_id: int, sweep: Sweep, groups, prepared, log, bar):
    """Train and store each group in turn; returns ``(group_seconds, compile_seconds)``."""
    settings = task_defaults(sweep.settings, prepared.task)
    env = environment()
    group_total = compile_total = 0.0
    # Every group has the same inputs, outputs and loss, so one check serves them all.
    checked = checked_parts(prepared, net_for(groups[0][0], prepared), settings["loss"])
    for i, configs in enumerate(groups, 1):
        bar.set_description(f"group {i}/{len(groups)}")
        start, compiled = time.perf_counter(), compile_clock()
        net, history, evaluated = fit_group(configs, prepared, checked)
        seconds, compiling = time.perf_counter() - start, compile_clock() - compiled
        timing = {
            "group_seconds": seconds,
            "train_seconds": seconds - compiling,
            "compile_seconds": compiling,
            **env,
        }
        rows = member_rows(
            sweep.name, configs, net, history, evaluated, timing, settings["curve_points"]
        )
        store.insert_runs(conn, sweep_id, rows)
        group_total, compile_total = group_total + seconds, compile_total + compiling
        bar.update(len(configs))
        with bar.external_write_mode():
            log(
                f"[{i}/{len(groups)}] {_group_label(configs)}: {seconds:.1f} s, of which "
                f"compiling {compiling:.1f} s"
            )
    return group_total, compile_total


def spec_hash(sweep: Sweep) -> str:
    """SHA-256 of the sweep's source text: a new sweep row when the file changes."""
    return hashlib.sha256(sweep.source.encode()).hexdigest()


def run(sweep: Sweep, store_path, progress: bool | None = None, log=print) -> SweepSummary:
    """Train every config of ``sweep`` that ``store_path`` does not hold yet.

    Groups are trained one after another; each group's rows are committed in one transaction
    when it finishes, so killing the process loses at most the group in training, and a rerun
    trains exactly the configs that are missing.

    Args:
      sweep: the spec (:func:`load`, :func:`parse` or :func:`from_dict`).
      store_path: the SQLite results store; created when missing.
      progress: show a progress bar over groups and members (None: when stderr is a terminal).
      log: called with one line per group and a line before training.

    Returns:
      A :class:`SweepSummary`.
    """
    from . import population

    start = time.perf_counter()
    prepared = prepare(sweep)
    _check_metric_data(default_metric(sweep.settings), prepared)
    configs = expand(sweep, prepared.task)
    n_train = len(prepared.parts["train"][1])
    compiles = population.compile_count()
    with store.opened(store_path) as conn:
        sweep_id = store.add_sweep(conn, sweep.name, sweep.source, spec_hash(sweep))
        done = store.done_config_ids(conn, sweep.name)
        todo = [c for c in configs if config_id(sweep.name, c) not in done]
        groups = group(todo, n_train)
        log(
            f"sweep {sweep.name}: {sweep.dataset}, {len(configs)} configs; "
            f"{len(configs) - len(todo)} already stored, {len(todo)} to train in "
            f"{len(groups)} groups -> {store_path}"
        )
        with _progress(len(todo), progress, sweep.name) as bar:
            group_s, compile_s = (
                _train_groups(conn, sweep_id, sweep, groups, prepared, log, bar)
                if groups
                else (0.0, 0.0)
            )
    return SweepSummary(
        sweep.name,
        str(store_path),
        len(configs),
        len(configs) - len(todo),
        len(todo),
        len(groups),
        population.compile_count() - compiles,
        time.perf_counter() - start,
        group_s,
        compile_s,
    )


# --- ranking ----------------------------------------------------------------------------------


def higher_is_better(metric: str) -> bool:
    """Accuracy metrics rank high first; losses low first."""
    return metric.endswith("accuracy")


_SHOWN = (
    "hidden",
    "depth",
    "width",
    "activation",
    "bias",
    "optimizer",
    "learning_rate",
    "batch_size",
    "steps",
    "init_scale",
    "n_params",
)


def settings_of(rows: list[dict], metric: str) -> list[dict]:
    """Runs that differ only in seed, pooled: one dict per setting, best first.

    Args:
      rows: run rows from :func:`jaxnet.store.runs`.
      metric: a column of :data:`METRICS` to rank by.

    Returns:
      Dicts with the setting's columns (:data:`_SHOWN`), ``key`` (its config less the seed,
      as JSON), ``rows`` (its runs), ``values`` (their metric, NULLs dropped), ``mean``,
      ``std`` and ``diverged``; settings without a value of the metric are left out.
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
                    **{k: members[0][k] for k in _SHOWN},
                    "key": key,
                    "rows": members,
                    "values": values,
                    "mean": float(values.mean()),
                    "std": float(values.std()),
                    "diverged": sum(r["status"] == "diverged" for r in members),
                }
            )
    sign = -1.0 if higher_is_better(metric) else 1.0
    return sorted(out, key=lambda s: sign * s["mean"])


def _shown(value: float, metric: str) -> str:
    return f"{100 * value:.2f}%" if metric.endswith("accuracy") else f"{value:.4g}"


def _test_metric(rows: list[dict]) -> str | None:
    """The test metric the rows have: accuracy for classes, else loss; None without a test set."""
    return next(
        (m for m in ("test_accuracy", "test_loss") if any(r[m] is not None for r in rows)), None
    )


def _mean_of(rows: list[dict], metric: str | None) -> str:
    values = [r[metric] for r in rows if metric and r[metric] is not None]
    return _shown(float(np.mean(values)), metric) if values else "-"


def ranked_table(rows: list[dict], metric: str, top: int = 10) -> list[str]:
    """The ``top`` settings by ``metric`` (mean over seeds) as aligned text lines.

    The last column is the mean test accuracy (or loss) of the same runs, when there is a
    test set: shown, not ranked by, so the test set stays out of model selection.
    """
    settings = settings_of(rows, metric)[:top]
    test, title = _test_metric(rows), f"{metric} (mean ± sd over seeds)"
    width = len(title) + 2
    head = (
        f"{'rank':>4}  {'hidden':<12} {'activation':<10} {'optimizer':<9} {'lr':>8} "
        f"{'batch':>5} {'steps':>6} {'params':>7}  {title:<{width}}{test or ''}"
    )
    lines = [head.rstrip()]
    for i, s in enumerate(settings, 1):
        spread = f"{_shown(s['mean'], metric)} ± {_shown(s['std'], metric)}"
        extra = f", {s['diverged']} diverged" if s["diverged"] else ""
        described = f"{spread} (n={len(s['rows'])}{extra})"
        tested = _mean_of(s["rows"], test) if test else ""
        line = (
            f"{i:>4}  {s['hidden']:<12} {s['activation']:<10} {s['optimizer']:<9} "
            f"{s['learning_rate']:>8.3g} {s['batch_size']:>5} {s['steps']:>6} "
            f"{s['n_params']:>7}  {described:<{width}}{tested}"
        )
        lines.append(line.rstrip())
    return lines


def store_summary(conn, top: int = 5) -> list[str]:
    """Each stored sweep: one line about it, then its best ``top`` settings."""
    lines = []
    for entry in store.sweeps(conn):
        sweep = spec_from_source(entry["spec"])
        metric = default_metric(sweep.settings)
        rows = store.runs(conn, entry["name"])
        diverged = sum(r["status"] == "diverged" for r in rows)
        lines.append(
            f"{entry['name']}: {sweep.dataset}, {len(rows)} runs ({diverged} diverged), "
            f"since {entry['created']}; best by {metric}:"
        )
        lines.extend("  " + line for line in ranked_table(rows, metric, top))
        lines.append("")
    return lines or ["the store holds no sweeps yet"]


# --- report: figures rebuilt from the store alone ----------------------------------------------

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
_LABEL_FIELDS = (
    "hidden",
    "activation",
    "bias",
    "optimizer",
    "learning_rate",
    "batch_size",
    "steps",
    "init_scale",
)


def metric_label(metric: str, loss: str) -> str:
    """An axis label with units, e.g. ``"best validation accuracy (%)"``."""
    part, kind = metric.rsplit("_", 1)
    unit = "%" if kind == "accuracy" else _LOSS_UNITS.get(loss, loss)
    return f"{_METRIC_PARTS[part]} {kind} ({unit})"


def _in_units(values, metric: str):
    """Accuracies as percentages, losses as they are."""
    return np.asarray(values, np.float64) * (100.0 if metric.endswith("accuracy") else 1.0)


_FIELD_FORMATS = {
    "hidden": "hidden {}",
    "learning_rate": "lr {:g}",
    "batch_size": "batch {}",
    "steps": "{} steps",
    "init_scale": "scale {:g}",
}


def _field_text(field: str, value) -> str:
    if field == "bias":
        return "bias" if value else "no bias"
    return _FIELD_FORMATS.get(field, "{}").format(value)


def _varying(settings: list[dict], fields=_LABEL_FIELDS) -> list[str]:
    return [f for f in fields if len({s[f] for s in settings}) > 1]


def _label(setting: dict, fields: list[str]) -> str:
    return " ".join(_field_text(f, setting[f]) for f in fields) or f"hidden {setting['hidden']}"


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
    import warnings

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


def lr_series(settings: list[dict], metric: str, top: int = 8) -> list[tuple]:
    """Metric against learning rate for the ``top`` settings-less-lr with the best value.

    Returns:
      ``(label, learning_rates, mean, sd)`` tuples for :func:`jaxnet.plots.lr_sensitivity`.
    """
    lines: dict[str, list[dict]] = {}
    for s in settings:  # best first, so lines come out in order of their best point
        rest = {k: v for k, v in json.loads(s["key"]).items() if k != "learning_rate"}
        lines.setdefault(canonical(rest), []).append(s)
    chosen = [line for line in lines.values() if len(line) > 1][:top]
    fields = _varying(
        [line[0] for line in chosen], [f for f in _LABEL_FIELDS if f != "learning_rate"]
    )
    series = []
    for line in chosen:
        line = sorted(line, key=lambda s: s["learning_rate"])
        lrs = np.array([s["learning_rate"] for s in line])
        mean = _in_units([s["mean"] for s in line], metric)
        sd = _in_units([s["std"] for s in line], metric)
        series.append((_label(line[0], fields), lrs, mean, sd))
    return series


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
    from . import plots

    values, depths, widths, acts = heatmap_arrays(f.settings, f.metric)
    if not depths:  # no net with equal hidden widths
        return []
    fields = ("bias", "optimizer", "learning_rate", "batch_size", "steps", "init_scale")
    others = [name.replace("_", " ") for name in _varying(f.settings, fields)]
    best_over = f"best over {', '.join(others)}; " if others else ""
    title = f"{f.name}: {best_over}{f.seeds}"
    higher = higher_is_better(f.metric)
    path = f.out / "heatmap.png"
    return [
        plots.sweep_heatmap(
            values, depths, widths, acts, path, label=f.label, title=title, higher_is_better=higher
        )
    ]


def _curves_png(f: _Figures) -> list:
    from . import plots

    title = f"{f.name}: training loss of the best settings (band: min-max over seeds)"
    ylabel = metric_label("train_loss", f.loss) + ", log scale"
    return [
        plots.seed_band_curves(
            curve_bands(f.settings), f.out / "loss_curves.png", title=title, ylabel=ylabel
        )
    ]


def _lr_png(f: _Figures) -> list:
    from . import plots

    series = lr_series(f.settings, f.metric)
    if not series:  # one learning rate per setting: nothing to compare
        return []
    title = f"{f.name}: learning-rate sensitivity (band: ±1 sd over seeds)"
    return [
        plots.lr_sensitivity(
            series, f.out / "lr_sensitivity.png", label=f.label, title=title, yscale=f.yscale
        )
    ]


def _params_png(f: _Figures) -> list:
    from . import plots

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
    metric = metric or default_metric(sweep.settings)
    if metric not in METRICS:
        raise SweepError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    return entry, sweep, rows, metric


def report(store_path, out_dir, sweep_name: str | None = None, metric: str | None = None):
    """Draw a sweep's figures from the store alone.

    Args:
      store_path: a results store; out_dir: where the PNGs go (created).
      sweep_name: which sweep (needed only when the store holds several).
      metric: one of :data:`METRICS`; default the sweep's ranking metric.

    Returns:
      The written PNG paths: ``heatmap.png`` (depth x width, when nets have equal hidden
      widths), ``loss_curves.png``, ``lr_sensitivity.png`` (when the sweep has several
      learning rates) and ``params.png``.
    """
    entry, sweep, rows, metric = _report_data(store_path, sweep_name, metric)
    settings = settings_of(rows, metric)
    if not settings:
        raise SweepError(f"sweep {entry['name']!r} has no runs with a {metric} to plot yet")
    name = entry["name"] + ("" if entry["name"] == sweep.dataset else f" ({sweep.dataset})")
    loss = store.config_of(rows[0])["loss"]
    figures = _Figures(settings, metric, loss, name, Path(out_dir))
    return [p for draw in (_heatmap_png, _curves_png, _lr_png, _params_png) for p in draw(figures)]
