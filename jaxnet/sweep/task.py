"""The task of one group: train its configs as one population and build their store rows.

:func:`train_group` is what an engine runs -- in this process, or shipped to a Ray worker --
so this module holds everything it needs and nothing of the driver's: the group's training
(:func:`fit_group`), its members' rows (:func:`member_rows`) and the environment stored with
them. It returns plain Python and NumPy values and never touches the store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time

import jax
import numpy as np

from .. import __version__, compile_cache, population, store
from . import regimen
from .fields import COPIED_KEYS
from .plan import canonical, config_id, effective_batch
from .preparation import Prepared, net_for


@dataclasses.dataclass(frozen=True)
class GroupResult:
    """What one group's task returns to the driver.

    Attributes:
      rows: the members' store rows (:func:`member_rows`), plain values only.
      seconds: the task's wall time; compiling: of it, lowering and compiling JAX programs;
      compiles: population programs compiled by the task (0 when its worker had them cached).
      params: each member's final params, cut to its own net, for the models the driver keeps.
    """

    rows: list
    seconds: float
    compiling: float
    compiles: int
    params: tuple = ()  # each member's final params (NumPy, its own net), in config order


def train_group(sweep_name: str, configs: list[dict], prepared: Prepared, curve_points: int):
    """The task of one group: train its configs as one population and build their rows.

    Args:
      sweep_name: names the config ids; configs: the group's P configs (one program).
      prepared: the sweep's data; curve_points: the most points kept of each loss curve.

    Returns:
      A :class:`GroupResult` with P rows.
    """
    start = time.perf_counter()
    compiled, compiles = compile_cache.compile_clock(), population.compile_count()
    net, params, history = fit_members(configs, prepared)
    evaluated = history.evaluated
    seconds = time.perf_counter() - start
    compiling = compile_cache.compile_clock() - compiled
    timing = {
        "group_seconds": seconds,
        "train_seconds": seconds - compiling,
        "compile_seconds": compiling,
        **environment(),
    }
    rows = member_rows(sweep_name, configs, net, history, evaluated, timing, curve_points)
    host = jax.device_get(params)  # one copy to the host, then NumPy cuts (no eager ops)
    own = tuple(own_params(net, host, c, i) for i, c in enumerate(configs))
    return GroupResult(rows, seconds, compiling, population.compile_count() - compiles, own)


def own_params(net, params, config: dict, i: int) -> list[dict]:
    """Member ``i``'s params (NumPy) cut from the stacked ``params`` of ``net`` to its own."""
    return population.member_params(own_net(net, config), params, i)


def fit_group(configs: list[dict], prepared: Prepared):
    """Train configs that share one compiled program (see :func:`group`) as one population.

    :func:`fit_members` returns the trained params too; this returns what the rows need.

    Configs that differ in hidden widths are a width bucket, trained padded to the widest
    (:func:`jaxnet.population.fit_bucket`); each member still computes exactly its own net.

    Args:
      configs: P configs equal but for :data:`MEMBER_KEYS` (and hidden widths in a bucket).
      prepared: the sweep's data (its parts are checked again on the host, which costs no
        compiled program).

    Returns:
      ``(net, history, evaluated)``: the spec (the padded one of a bucket), the
      :class:`~jaxnet.PopulationHistory`, and ``{"train": (loss, accuracy), "test": ...}`` of
      the final params, each ``(P,)`` NumPy.
    """
    net, _, history = fit_members(configs, prepared)
    return net, history, history.evaluated


def fit_members(configs: list[dict], prepared: Prepared):
    """:func:`fit_group`'s training: ``(net, params, history)``, params stacked ``(P, ...)``
    on every leaf of ``net`` (a width bucket's padded net)."""
    first = configs[0]
    nets = [net_for(c, prepared) for c in configs]
    kwargs = dict(
        loss=first["loss"],
        optimizer=first["optimizer"],
        steps=first["steps"],
        learning_rates=[c["learning_rate"] for c in configs],
        init_scales=[c["init_scale"] for c in configs],
        batch_size=effective_batch(first, len(prepared.parts["train"][1])),
        # The NumPy parts: checked on the host and copied, where device arrays would need a
        # compiled finiteness check per shape.
        validation=prepared.parts.get("validation"),
        evaluate={k: prepared.parts[k] for k in ("train", "test") if k in prepared.parts},
        eval_every=first["eval_every"],
        progress=False,
        # grads, dropout, weight decay, the schedule, patience: per-member data where they vary
        **regimen.population_kwargs(configs),
    )
    keys = seed_keys([c["seed"] for c in configs])
    if len({n.sizes for n in nets}) == 1:
        net = nets[0]
        params, history = population.fit_population(net, keys, *prepared.parts["train"], **kwargs)
    else:
        net = population.bucket_net(nets)
        params, history = population.fit_bucket(nets, keys, *prepared.parts["train"], **kwargs)
    return net, params, history


def seed_keys(seeds) -> np.ndarray:
    """``jax.random.key(seed)`` of each seed as raw key data ``(P, 2)`` uint32, made on the host.

    A typed key made per member is an eager JAX operation; the data of a threefry key (JAX's
    default) is ``[seed >> 32, seed & 0xffffffff]``, which the compiled init wraps itself.
    """
    if jax.config.jax_default_prng_impl != "threefry2x32":
        return np.stack([jax.random.key_data(jax.random.key(s)) for s in seeds])
    seeds = np.asarray(seeds, np.uint64)
    return np.stack([seeds >> np.uint64(32), seeds & np.uint64(0xFFFFFFFF)], 1).astype(np.uint32)


def finite_or_none(value) -> float | None:
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
    last = -1
    if history.status[i] == "early_stopped":  # its last evaluation: the one it stopped at
        last = int(np.flatnonzero(history.eval_step <= history.steps[i])[-1])
    return {
        "final_val_loss": finite_or_none(vl[last]),
        "final_val_accuracy": finite_or_none(va[last]),
        "best_val_loss": finite_or_none(vl[best]),
        "best_val_accuracy": finite_or_none(np.nanmax(va)) if np.isfinite(va).any() else None,
        "best_step": int(history.eval_step[best]),
    }


def environment() -> dict:
    """Library versions and the device kind, stored with every row."""
    devices = jax.local_devices()
    return {
        "jaxnet_version": __version__,
        "jax_version": jax.__version__,
        "device_kind": f"{devices[0].device_kind} x{len(devices)}",
    }


_RESIDUAL_MARK = {True: "+res", False: "", None: ""}  # "64-64+res": a residual net


def _config_columns(config: dict) -> dict:
    """The config (as JSON) and its key fields as ``runs`` columns."""
    hidden = config["hidden"]
    return {
        "config": canonical(config),
        "dataset": config["dataset"],
        "depth": len(hidden),
        "width": hidden[0] if len(set(hidden)) == 1 else None,  # None: widths differ
        "hidden": ("-".join(map(str, hidden)) or "none") + _RESIDUAL_MARK[config.get("residual")],
        "bias": int(config["bias"]),
        "eval_every": config["eval_every"],
        **{k: config[k] for k in COPIED_KEYS},
        **regimen.columns(config),
    }


def _metric_columns(history, evaluated: dict, i: int) -> dict:
    """Member ``i``'s status and metrics (None where a part or a metric does not exist)."""
    train = [v[i] for v in evaluated["train"]] if "train" in evaluated else (np.nan, np.nan)
    test = [v[i] for v in evaluated["test"]] if "test" in evaluated else (np.nan, np.nan)
    return {
        "status": history.status[i],
        "steps_done": int(history.steps[i]),
        "train_loss": finite_or_none(train[0]),
        "train_accuracy": finite_or_none(train[1]),
        **_val_metrics(history, i),
        "test_loss": finite_or_none(test[0]),
        "test_accuracy": finite_or_none(test[1]),
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
        "group_size": len(configs),
        "created": store.now(),
        **timing,
    }
    return [
        {
            "config_id": ids[i],
            "n_params": own_net(net, config).n_params,  # its own net, not a bucket's padding
            **shared,
            **_config_columns(config),
            **_metric_columns(history, evaluated, i),
            **_curve_columns(history, i, curve_points),
        }
        for i, config in enumerate(configs)
    ]


def own_net(net, config: dict):
    """A member's own net: ``net`` (maybe a width bucket's padded one) with its own widths."""
    sizes = (net.sizes[0], *config["hidden"], net.sizes[-1])
    return net if sizes == net.sizes else dataclasses.replace(net, sizes=sizes)
