"""The preflight: everything a sweep needs, built and checked once before anything is written.

:func:`preflight` loads, splits and scales the sweep's data (:func:`prepare`), fills in the
settings that depend on it (the loss, the ranking metric), expands the configs and groups them
into compiled programs (:mod:`.plan`), and refuses what the data cannot train -- a metric
without its data, a loss that does not fit the targets, a group too large for memory -- all
before the store is opened. The result, a :class:`Preflight`, is what the driver, the engines
and every group's task read; nothing downstream checks these things again. Left out: the
store's own checks (the data file's identity against the stored runs), which need the store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math

import jax
import numpy as np

from .. import _validate, data, mlp
from ..sizing import MAX_GROUP_BYTES, batch_rows, loop_bytes, training_bytes
from . import regimen
from .options import EngineOptions
from .plan import expand, group, task_defaults, trial_config
from .spec import Sweep, SweepError

# The most rungs (halving) and rounds (PBT) a search may make of one config's steps.
MAX_RUNGS = 64
MAX_ROUNDS = 10_000

# --- data -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A sweep's data, split and scaled once for all its groups.

    Attributes:
      parts: ``{"train": (x, y), "validation": ..., "test": ...}`` (the parts that exist):
        ``x`` ``(n, features)`` scaled with a scaler fitted on the training rows; ``y`` class
        indices ``(n,)`` or scaled regression targets ``(n,)``.
      task: ``"classification"`` or ``"regression"``; n_features, n_outputs: the net's ends.
      identity: what the store binds the sweep's name to (:func:`data_identity`): for a file
        dataset, the SHA-256 of the bytes read and how they were read; for a built-in one,
        its name.
      x_scaler, y_scaler: the :class:`~jaxnet.Scaler` fitted on the training inputs and
        (regression) targets, or None; labels: a classifier's original class labels, one
        per output, or None; feature_names, target_name: the dataset's column names. A kept
        model carries them all (:func:`jaxnet.sweep.load_model`).
    """

    parts: dict
    task: str
    n_features: int
    n_outputs: int
    identity: str | None = None
    x_scaler: data.Scaler | None = None
    y_scaler: data.Scaler | None = None
    labels: tuple | None = None
    feature_names: tuple | None = None
    target_name: str | None = None


def data_identity(sweep: Sweep, content: bytes | None = None) -> str:
    """What a sweep's rows were trained on, as the store records it beside the sweep's name.

    Args:
      sweep: the spec; content: the bytes of its data file (None for a built-in dataset).

    Returns:
      ``"csv sha256=... target=... task=..."`` or ``"npz sha256=... task=..."`` for a file (the
      SHA-256 of exactly the bytes parsed), ``"builtin NAME"`` for a built-in dataset.
    """
    s = sweep.settings
    if content is None:
        return f"builtin {sweep.dataset}"
    digest = hashlib.sha256(content).hexdigest()
    if sweep.dataset == "csv":
        return f"csv sha256={digest} target={s['target']} task={s['task']}"
    return f"npz sha256={digest} task={s['task']}"


def _dataset(sweep: Sweep) -> tuple[data.Dataset, str]:
    """The sweep's dataset and its identity (see :class:`Prepared`): a file is read once, and
    the bytes hashed are the bytes parsed, so a file changed meanwhile cannot slip between."""
    s = sweep.settings
    if sweep.dataset == "csv":
        content = data.csv_bytes(s["csv"])
        dataset = data.parse_csv(content, s["csv"], s["target"], task=s["task"])
        return dataset, data_identity(sweep, content)
    if sweep.dataset == "npz":
        content = data.npz_bytes(s["npz"])
        return data.parse_npz(content, s["npz"], task=s["task"]), data_identity(sweep, content)
    return data.load(sweep.dataset, seed=s["data_seed"]), data_identity(sweep)


def _scaler(parts: dict, kind: str, column: int) -> data.Scaler | None:
    """A scaler of column 0 (inputs) or 1 (targets) fitted on the training part, or None."""
    return None if kind == "none" else data.Scaler.fit(parts["train"][column], kind)


def _scaled(parts: dict, scaler: data.Scaler | None, column: int) -> dict:
    """Every part with column 0 (inputs) or 1 (targets) scaled by ``scaler``."""
    if scaler is None:
        return parts
    return {
        k: tuple(scaler.transform(a) if i == column else a for i, a in enumerate(v))
        for k, v in parts.items()
    }


def _parts(sweep: Sweep, dataset: data.Dataset) -> dict:
    """The dataset's parts, cut as the sweep says; a dataset too small for its fractions is
    refused naming the sweep, its data and the settings."""
    s = sweep.settings
    try:
        return data.partition(dataset, s["val_fraction"], s["test_fraction"], s["data_seed"])
    except ValueError as e:
        raise SweepError(f"{sweep.name}: {dataset.path or sweep.dataset}: {e}") from None


def prepare(sweep: Sweep) -> Prepared:
    """Load, split and scale the sweep's dataset (see :class:`Prepared`).

    Raises:
      SweepError: the data cannot be split by the sweep's fractions, or a value, scaled as
        the sweep scales it, is beyond float32 (named by its file's line and column).
    """
    s = sweep.settings
    dataset, identity = _dataset(sweep)
    parts = _parts(sweep, dataset)
    regression = dataset.task == "regression"
    x_scaler = _scaler(parts, s["scaler"], 0)
    y_scaler = _scaler(parts, s["target_scaler"], 1) if regression else None
    try:
        data.check_scaled(dataset, x_scaler, y_scaler, "float32")
    except ValueError as e:
        raise SweepError(f"{sweep.name}: {e}") from None
    parts = _scaled(_scaled(parts, x_scaler, 0), y_scaler, 1)
    outputs = dataset.n_classes if dataset.task == "classification" else 1
    labels = None if dataset.classes is None else tuple(_plain(c) for c in dataset.classes)
    return Prepared(
        parts,
        dataset.task,
        dataset.x.shape[1],
        outputs,
        identity,
        x_scaler,
        y_scaler,
        labels,
        tuple(dataset.feature_names),
        dataset.target_name,
    )


def _plain(value):
    """A NumPy scalar label as the Python value it holds (JSON and ``jn.Model`` take those)."""
    return value.item() if isinstance(value, np.generic) else value


def checked_parts(prepared: Prepared, net: mlp.MLP, loss: str) -> dict:
    """Every part as checked ``(x, y)`` arrays (one-hot targets), ready for evaluation."""
    probe = jax.eval_shape(lambda: mlp.init(net, jax.random.key(0)))  # shapes only: no compile
    return {k: _validate.batch(net, probe, x, y, loss) for k, (x, y) in prepared.parts.items()}


def net_for(config: dict, prepared: Prepared) -> mlp.MLP:
    """The spec of a config's network on the prepared data."""
    sizes = (prepared.n_features, *config["hidden"], prepared.n_outputs)
    return mlp.MLP(
        sizes,
        activation=config["activation"],
        bias=config["bias"],
        output_activation=config["output_activation"],
        init=config["init"],
        residual=config.get("residual", False),
    )


# --- the preflight ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Preflight:
    """Everything one sweep needs, checked (see the module docstring).

    Attributes:
      sweep: the spec; options: how its groups run (:class:`~.options.EngineOptions`).
      settings: the spec's settings with ``loss`` and ``metric`` chosen for the data.
      prepared: the data; configs: every config, in file order; groups: every config in
        groups that each train as one compiled program (:func:`~.plan.group`).
    """

    sweep: Sweep
    options: EngineOptions
    settings: dict
    prepared: Prepared
    configs: list
    groups: list

    @property
    def n_train(self) -> int:
        """Training rows (the batch size, and so a group's shape, depends on them)."""
        return len(self.prepared.parts["train"][1])

    @property
    def max_padding(self) -> float:
        """The width-bucket bound the groups were made with (1: no buckets)."""
        return _max_padding(self.sweep)


def preflight(sweep: Sweep, options: EngineOptions | None = None) -> Preflight:
    """Build and check everything ``sweep`` needs; nothing is written.

    Raises:
      SweepError: the data cannot train the sweep (one line naming the setting at fault).
    """
    prepared = prepare(sweep)
    settings = task_defaults(sweep.settings, prepared.task)
    _check_metric(settings["metric"], prepared)
    if sweep.search["method"] == "optuna":  # its configs are asked as it goes
        corners = space_corners(sweep, prepared)
        regimen.check_configs(sweep.name, corners, {*sweep.grid, *sweep.random}, "optuna")
        check_against_data(sweep, [[c] for c in corners], prepared, settings["loss"])
        _check_search(sweep, corners)
        study_batch(sweep, prepared)
        return Preflight(sweep, options or EngineOptions(), settings, prepared, [], [])
    configs = expand(sweep, prepared.task)
    n_train = len(prepared.parts["train"][1])
    ends = (prepared.n_features, prepared.n_outputs)
    groups = group(configs, n_train, _max_padding(sweep), ends)
    check_against_data(sweep, groups, prepared, settings["loss"])
    _check_search(sweep, configs)
    return Preflight(sweep, options or EngineOptions(), settings, prepared, configs, groups)


def _check_metric(metric: str, prepared: Prepared) -> None:
    """The ranking metric's part exists in the data, and accuracy has classes to count."""
    part = {"val": "validation", "test": "test", "train": "train"}[metric.split("_")[-2]]
    if part not in prepared.parts:
        raise SweepError(f"metric {metric!r} needs a {part} set; this sweep's data has none")
    if metric.endswith("accuracy") and prepared.task != "classification":
        raise SweepError(f"metric {metric!r} needs a classification dataset")


def _max_padding(sweep: Sweep) -> float:
    """The sweep's width-bucket bound; 1 (off) where JAX's random draws are not prefix-stable,
    and for PBT, whose members copy each other's params (only nets of one shape can)."""
    if sweep.search["method"] == "pbt" or not jax.config.jax_threefry_partitionable:
        return 1.0
    return sweep.settings["max_padding"]


def rung_count(min_steps: int, factor: float, steps: int) -> int:
    """How many ``min_steps * factor**k`` lie below ``steps``."""
    if min_steps >= steps:
        return 0
    return math.ceil(math.log(steps / min_steps) / math.log(factor))


def _ends(sweep: Sweep, axis: str) -> list:
    """The values of a ``[random]`` axis an Optuna study's checks try: both ends of a range,
    every choice of a list."""
    kind, args = sweep.random[axis]
    return (
        list(args) if kind == "choice" else [int(a) if kind.startswith("int_") else a for a in args]
    )


def space_corners(sweep: Sweep, prepared: Prepared) -> list[dict]:
    """The configs at the ends of an Optuna study's space, for the checks the preflight runs
    before any trial is asked: the largest (every range at its top, each list's value that
    needs the most memory) and the one with the fewest steps."""
    task = prepared.task
    largest = {a: _ends(sweep, a)[-1] if sweep.random[a][0] != "choice" else _ends(sweep, a)[0]
               for a in sweep.random}  # fmt: skip
    for axis, (kind, _) in sweep.random.items():
        if kind == "choice":
            largest[axis] = max(
                _ends(sweep, axis),
                key=lambda v, a=axis: group_bytes([trial_config(sweep, task, {**largest, a: v})],
                                                  prepared),
            )  # fmt: skip
    fewest = dict(largest)
    if "steps" in sweep.random:
        fewest["steps"] = min(_ends(sweep, "steps"))
    return [trial_config(sweep, task, largest), trial_config(sweep, task, fewest)]


# CMA-ES's smallest population: below 4 it keeps one parent (mu = 1) and its rank-mu update of
# the covariance is void (the cmaes package divides by its zero rate); 4 is also its default
# population for one or two dimensions.
CMA_MIN_BATCH = 4


def study_batch(sweep: Sweep, prepared: Prepared) -> int:
    """How many trials an Optuna study asks at once: ``search.batch``, or (``"auto"``) as
    many as one population of the space's largest net holds within
    :data:`~jaxnet.sizing.MAX_GROUP_BYTES`, but at most a quarter of the trials (at least 1),
    so the sampler sees three rounds of results before its last ask (CMA-ES: at least
    :data:`CMA_MIN_BATCH`).

    Raises:
      SweepError: a batch of the largest net would need more memory than the limit, or
        CMA-ES asked for a population below :data:`CMA_MIN_BATCH`.
    """
    s = sweep.search
    one = group_bytes([space_corners(sweep, prepared)[0]], prepared)
    fits = max(1, MAX_GROUP_BYTES // max(one, 1))
    batch = min(fits, max(1, math.ceil(s["trials"] / 4))) if s["batch"] == "auto" else s["batch"]
    if batch * one > MAX_GROUP_BYTES:
        raise SweepError(
            f"{sweep.name}: search.batch {batch} of the space's largest net would need about "
            f"{batch * one / 2**30:,.1f} GiB; the limit is {MAX_GROUP_BYTES / 2**30:g} GiB per "
            f"population (jaxnet.sizing.MAX_GROUP_BYTES): at most {fits} fit"
        )
    if s["sampler"] == "cmaes" and s["batch"] == "auto":
        batch = max(batch, min(CMA_MIN_BATCH, fits))
    if s["sampler"] == "cmaes" and batch < CMA_MIN_BATCH:
        raise SweepError(
            f"{sweep.name}: search.batch {batch}: sampler 'cmaes' asks a population of at least "
            f"{CMA_MIN_BATCH} trials at once (its batch is CMA-ES's population size)"
        )
    return batch


def _check_search(sweep: Sweep, configs: list[dict]) -> None:
    """A search's keys against the configs: halving's first rung below every config's steps,
    PBT's interval too (a round as long as the run exchanges nothing); an Optuna study's
    halving pruner the same, against the ends of its space."""
    method, search = sweep.search["method"], sweep.search
    if method == "optuna" and search["pruner"] == "halving":
        method = "halving"
    elif method == "optuna":
        return
    key = {"halving": "min_steps", "pbt": "interval"}.get(method)
    if key is None:
        return
    fewest, most = min(c["steps"] for c in configs), max(c["steps"] for c in configs)
    if sweep.search[key] >= fewest:
        raise SweepError(
            f"{sweep.name}: search.{key} ({sweep.search[key]}) must be below every config's "
            f"steps; the fewest steps are {fewest}"
        )
    s = sweep.search
    if key == "min_steps":
        count, limit, made = rung_count(s["min_steps"], s["factor"], most), MAX_RUNGS, "rungs"
        cause = f"min_steps {s['min_steps']} and factor {s['factor']!r} make"
        fix = "raise search.min_steps or search.factor"
    else:
        count, limit, made = most // s["interval"], MAX_ROUNDS, "rounds"
        cause, fix = f"interval {s['interval']} makes", "raise search.interval"
    if count > limit:
        raise SweepError(
            f"{sweep.name}: search.{cause} {count:,} {made} in {most:,} steps; at most "
            f"{limit:,} (each is a store transaction per group): {fix}"
        )


def group_bytes(configs: list[dict], prepared: Prepared, itemsize: int = 4) -> int:
    """An estimate of the memory one group needs while it trains (float32: ``itemsize`` 4).

    :func:`jaxnet.sizing.training_bytes` of the group's net, for its P members and the
    largest split (a whole split is evaluated at once), and :func:`jaxnet.sizing.loop_bytes`
    of its steps and chunks.

    Args:
      configs: one group's P configs (one shape); prepared: the sweep's data.
    """
    rows = max(len(y) for _, y in prepared.parts.values())
    c = configs[0]
    n_train = len(prepared.parts["train"][1])
    loop = loop_bytes(
        c["steps"], c["eval_every"], batch_rows(c["batch_size"], n_train), len(configs)
    )
    return training_bytes(net_for(c, prepared), rows, len(configs), itemsize) + loop


def check_against_data(sweep: Sweep, groups: list[list[dict]], prepared: Prepared, loss: str):
    """Refuse, before anything is written, a sweep its data cannot train.

    Raises:
      SweepError: the loss does not fit the data (e.g. binary_cross_entropy on ten classes),
        or a group would need more than :data:`~jaxnet.sizing.MAX_GROUP_BYTES`.
    """
    try:
        checked_parts(prepared, net_for(groups[0][0], prepared), loss)
    except (TypeError, ValueError) as e:
        raise SweepError(
            f"{sweep.name}: loss {loss!r} does not fit dataset {sweep.dataset!r}: {e}"
        ) from None
    for configs in groups:
        need = group_bytes(configs, prepared)
        if need > MAX_GROUP_BYTES:
            c = configs[0]
            raise SweepError(
                f"{sweep.name}: the group of {len(configs)} nets with hidden sizes "
                f"{_short(c['hidden'])} and {c['steps']} steps would need about "
                f"{need / 2**30:,.1f} GiB; the limit is {MAX_GROUP_BYTES / 2**30:g} GiB per "
                "group (jaxnet.sizing.MAX_GROUP_BYTES): use narrower or shallower nets, fewer "
                "steps (or more evals), or fewer seeds and learning rates per shape"
            )


def _short(hidden: list) -> str:
    text = str(hidden)
    return text if len(text) <= 40 else f"{text[:30]}... ({len(hidden)} layers)"
