"""Plan a sweep: expand its grid and random draws into configs, and group configs that share
one compiled program (shape) so each group trains as one population."""

from __future__ import annotations

import hashlib
import itertools
import json
import math

import numpy as np

from ..sizing import batch_rows
from . import regimen
from .spec import AXIS_DEFAULTS, MEMBER_KEYS, Sweep

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
    shaped = ("depth", "width", "hidden", *regimen.AXES)
    config.update({k: axes[k] for k in AXIS_DEFAULTS if k not in shaped})
    config["eval_every"] = math.ceil(axes["steps"] / settings["evals"])
    if not config["residual"]:  # a plain net's config (and id) as before the residual axis
        del config["residual"]
    config.update(regimen.config_keys(axes, settings))  # only what is off its default
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
    given = {*sweep.grid, *sweep.random}
    regimen.check_configs(sweep.name, configs, given, sweep.search["method"])
    return configs


def effective_batch(config: dict, n_train: int) -> int | None:
    """The batch size a config trains with (:func:`jaxnet.sizing.batch_rows`): None, the full
    batch, for 0 or at least the training rows."""
    return batch_rows(config["batch_size"], n_train)


def shape_key(config: dict, n_train: int) -> str:
    """What the compiled program depends on: the config less :data:`MEMBER_KEYS`, as JSON."""
    shape = {k: v for k, v in config.items() if k not in MEMBER_KEYS}
    return canonical({**shape, "batch_size": effective_batch(config, n_train)})


def group(
    configs: list[dict], n_train: int, max_padding: float = 1.0, ends: tuple = (1, 1)
) -> list[list[dict]]:
    """Configs grouped into populations that each train as one compiled program.

    With ``max_padding == 1`` a group is one :func:`shape_key`. Above 1, configs that differ
    only in hidden widths share a width bucket (see :func:`jaxnet.population.fit_bucket`)
    as long as every member's padded training FLOPs stay within ``max_padding`` times its own.

    Args:
      configs: from :func:`expand`; n_train: training rows (decides full batch).
      max_padding: the bound on padded / own FLOPs of any member (1: no width buckets).
      ends: ``(inputs, outputs)`` of every net, for the FLOPs.

    Returns:
      Lists of configs, groups in order of first appearance, largest nets first in a bucket.
    """
    if max_padding <= 1:
        groups: dict[str, list[dict]] = {}
        for config in configs:
            groups.setdefault(shape_key(config, n_train), []).append(config)
        return list(groups.values())
    keyed: dict[str, list[dict]] = {}
    for config in configs:
        keyed.setdefault(bucket_key(config, n_train), []).append(config)
    return [b for same in keyed.values() for b in _buckets(same, max_padding, ends)]


def bucket_key(config: dict, n_train: int) -> str:
    """:func:`shape_key` with the hidden widths left out: their number and which neighbours
    are equal are kept (a residual skip joins equal widths, so padding must not make any)."""
    shape = json.loads(shape_key(config, n_train))
    if config.get("residual"):
        # A residual net's first layer skips when the inputs are as wide as it: the pattern
        # depends on the data's width too, so residual nets are not bucketed (kept exact).
        return canonical(shape)
    hidden = config["hidden"]
    return canonical({**shape, "hidden": [a == b for a, b in zip(hidden, hidden[1:])]})


def flops(hidden, ends: tuple) -> int:
    """Multiply-adds of one example's forward pass through ``ends[0], *hidden, ends[1]``."""
    sizes = (ends[0], *hidden, ends[1])
    return sum(i * o for i, o in zip(sizes[:-1], sizes[1:]))


def _buckets(configs: list[dict], max_padding: float, ends: tuple) -> list[list[dict]]:
    """Greedy first fit, widest first: a config joins the first bucket it can widen to
    without any member's padded FLOPs exceeding ``max_padding`` times its own."""
    buckets: list[tuple[list, list[dict], int]] = []  # (widest hidden, members, least FLOPs)
    for config in sorted(configs, key=lambda c: -flops(c["hidden"], ends)):
        own = flops(config["hidden"], ends)
        for i, (widest, members, least) in enumerate(buckets):
            wider = [max(a, b) for a, b in zip(widest, config["hidden"])]
            if flops(wider, ends) <= max_padding * min(least, own):
                buckets[i] = (wider, members + [config], min(least, own))
                break
        else:
            buckets.append((list(config["hidden"]), [config], own))
    return [members for _, members, _ in buckets]


def padding_overhead(groups: list[list[dict]], ends: tuple) -> float:
    """Padded FLOPs over the members' own, less 1, across ``groups`` (0: no padding)."""
    own = padded = 0
    for configs in groups:
        widest = (
            np.max([c["hidden"] for c in configs], axis=0).tolist() if configs[0]["hidden"] else []
        )
        own += sum(flops(c["hidden"], ends) for c in configs)
        padded += len(configs) * flops(widest, ends)
    return padded / max(own, 1) - 1.0
