"""How a config trains beyond its shape and learning rate: gradients, dropout, weight decay,
the learning-rate schedule and early stopping, from the sweep file to the population.

Each of these axes (and the top-level ``patience``) is left out of a config at its default,
so sweeps that do not use them keep their config ids. :func:`config_keys` puts the rest into
a config, with the schedule's defaults filled in (two spellings of one schedule are one
config); :func:`check_configs` refuses what does not combine, naming the key: a warmup that
does not end before the run, an exponential decay to 0, ``weight_decay`` with ``adamw``
(which has its own), a schedule key that no config's schedule uses. :func:`population_kwargs`
turns a group's configs into :func:`jaxnet.fit_population`'s arguments: dropout rates, weight
decays and schedule values are per-member data, so configs that differ only in them share
one compiled program; ``grads`` and the schedule's kind are part of the program (the shape).
:func:`columns` gives the store's columns of them. Left out: per-layer dropout rates in a
sweep (one rate for every hidden layer), and schedules of anything but the learning rate.
"""

from __future__ import annotations

import numpy as np

from .. import schedules
from .spec import AXIS_DEFAULTS, SweepError

# The axes this module puts into configs (plan._config leaves them to it).
AXES = ("dropout", "weight_decay", "grads", "lr_schedule", "lr_final", "warmup_steps")
SCHEDULE_KEYS = ("lr_final", "warmup_steps")  # values of a schedule, data in its program


def config_keys(axes: dict, settings: dict) -> dict:
    """The config entries of these axes and of ``patience``: only those off their default.

    Args:
      axes: one config's axis values (defaults filled in); settings: the sweep's settings.

    Returns:
      ``{key: value}`` to add to the config (``lr_final`` and ``warmup_steps`` only with a
      schedule that uses them, ``lr_final`` always with a decaying one).
    """
    keys = {k: axes[k] for k in ("dropout", "weight_decay", "grads") if axes[k] != AXIS_DEFAULTS[k]}
    kind = axes["lr_schedule"]
    if kind != "constant":
        keys["lr_schedule"] = kind
        final = axes["lr_final"]
        keys["lr_final"] = schedules.LR_FINAL_DEFAULTS[kind] if final is None else final
        if kind == "warmup_cosine":
            keys["warmup_steps"] = axes["warmup_steps"]
    if settings.get("patience") is not None:
        keys["patience"] = settings["patience"]
    return keys


# What a search's segments (jaxnet.population.segments) do not train with yet.
NOT_IN_SEARCH = ("dropout", "weight_decay", "lr_schedule", "patience")


def check_configs(where: str, configs: list[dict], given: set, method: str = "grid") -> None:
    """Refuse configs whose training options do not combine (one line naming the key).

    Args:
      where: the sweep's name, for the message; configs: every config of the sweep;
      given: the axes the file names (in ``[grid]`` or ``[random]``); method: the
        ``[search]`` method (``"grid"`` without one).

    Raises:
      SweepError: see the module docstring; also a search (halving, PBT) with one of
        :data:`NOT_IN_SEARCH`, which its segments do not train with.
    """
    for config in configs:
        _check_config(where, config)
        found = [k for k in NOT_IN_SEARCH if k in config] if method != "grid" else []
        if found:
            raise SweepError(
                f"{where}: a {method} search trains in segments, which take no {found[0]} yet: "
                f"leave {found[0]} out, or the [search] table"
            )
    for key in SCHEDULE_KEYS:
        if key in given and not any(key in c for c in configs):
            uses = "'warmup_cosine'" if key == "warmup_steps" else "a decaying lr_schedule"
            raise SweepError(
                f"{where}: {key} is set but no config uses it: it goes with {uses} "
                "(add lr_schedule to [grid])"
            )


def _check_config(where: str, config: dict) -> None:
    if config.get("dropout") and not config["hidden"]:
        raise SweepError(
            f"{where}: dropout needs a hidden layer to drop units of; a config has hidden = []"
        )
    if config.get("weight_decay") and config["optimizer"] == "adamw":
        raise SweepError(
            f"{where}: weight_decay does not go with optimizer 'adamw', which already decays "
            "every parameter by optax's 1e-4: use optimizer 'adam' with weight_decay"
        )
    kind = config.get("lr_schedule", "constant")
    if kind == "warmup_cosine" and config.get("warmup_steps") is None:
        raise SweepError(f"{where}: lr_schedule 'warmup_cosine' needs warmup_steps = [...]")
    try:
        schedule = _schedule(config)
        schedule.values(config["steps"])
    except ValueError as e:
        raise SweepError(f"{where}: {e} (a config with {config['steps']} steps)") from None


def _schedule(config: dict) -> schedules.Schedule:
    kind = config.get("lr_schedule", "constant")
    if kind == "constant":
        return schedules.Schedule()
    return schedules.Schedule(kind, config["lr_final"], config.get("warmup_steps") or 0)


def population_kwargs(configs: list[dict]) -> dict:
    """:func:`jaxnet.fit_population`'s arguments for a group's training options.

    Args:
      configs: the group's P configs, equal but for :data:`~.spec.MEMBER_KEYS` (so in
        ``grads``, the schedule's kind and ``patience``).

    Returns:
      ``grads``, ``patience``, and where any member uses them: ``dropout`` ``(P,)``,
      ``weight_decay`` ``(P,)``, ``lr_schedule`` and the schedule values per member in
      ``hyperparams``. A member without a key gets its default (0): it trains as it would in
      the plain program (a rate or coefficient of 0 changes no value; only the compiled
      program's rounding may differ).
    """
    first = configs[0]
    kwargs = {"grads": first.get("grads", "auto"), "patience": first.get("patience")}
    for key in ("dropout", "weight_decay"):
        if any(c.get(key) for c in configs):
            kwargs[key] = np.array([c.get(key, 0.0) for c in configs], np.float64)
    kind = first.get("lr_schedule", "constant")
    if kind != "constant":
        kwargs["lr_schedule"] = _schedule(first)
        values = [_schedule(c).values(c["steps"]) for c in configs]
        kwargs["hyperparams"] = {k: np.array([v[k] for v in values]) for k in values[0]}
    return kwargs


def columns(config: dict) -> dict:
    """The ``runs`` columns of these options (defaults where the config leaves them out)."""
    return {
        "dropout": config.get("dropout", 0.0),
        "weight_decay": config.get("weight_decay", 0.0),
        "grads": config.get("grads", "auto"),
        "lr_schedule": config.get("lr_schedule", "constant"),
        "lr_final": config.get("lr_final"),
        "warmup_steps": config.get("warmup_steps"),
        "patience": config.get("patience"),
    }


def label(config: dict) -> str:
    """What of these options sets a group apart, for its progress line: `` manual grads
    cosine lr``, or nothing (the rest are data inside the group)."""
    parts = ["manual grads"] if config.get("grads") == "manual" else []
    kind = config.get("lr_schedule", "constant")
    return "".join(" " + p for p in parts + ([f"{kind} lr"] if kind != "constant" else []))
