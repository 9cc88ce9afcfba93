"""The ``[search]`` table of a sweep file: which search method schedules the configs.

Without a ``[search]`` table (or with ``method = "grid"``) every config trains to its last
step, as sweeps always did. The other methods decide which configs run and to which step
(:mod:`jaxnet.sweep.search`); this module only reads and checks their keys::

    [search]
    method = "halving"   # successive halving over training steps
    min_steps = 100      # the first rung; rungs at min_steps * factor**k below each config's steps
    factor = 3           # at each rung the best 1/factor of the configs that reached it go on

    [search]
    method = "pbt"       # population-based training within each group of one shape
    interval = 100       # steps between exploit rounds
    fraction = 0.25      # the worst quarter copies params and optimizer state of the best quarter
    perturb = [0.8, 1.25]  # ...and multiplies the copied learning rate by one of these
    seed = 0             # seeds who copies whom and which factor

    [search]
    method = "optuna"    # Optuna's samplers over the [random] table's distributions
    sampler = "tpe"      # tpe, cmaes, gp, random or qmc
    trials = 64          # how many trials the study asks for in all
    batch = 16           # trials asked at once and trained as populations (default: auto)
    seed = 0             # seeds the sampler
    pruner = "halving"   # none (default), or successive halving within each batch:
    min_steps = 100      #   its first rung (required with pruner = "halving")
    factor = 3           #   at each rung the best 1/factor of the batch go on

:data:`METHOD_KEYS` lists each method's keys with their checks and defaults (None:
required); a new method adds its entry there. Checks that need the data or the expanded
configs (``min_steps`` below every config's ``steps``, a validation metric with validation
rows) are the preflight's (:mod:`jaxnet.sweep.preparation`). Every refusal is a ``ValueError``
whose message names the key; :mod:`.spec` prefixes the file's name.
"""

from __future__ import annotations

import math

from .._limits import INT32_MAX, range_text
from .values import one_of

METHODS = ("grid", "halving", "pbt", "optuna")
SAMPLERS = ("tpe", "cmaes", "gp", "random", "qmc")
PRUNERS = ("none", "halving")
# The most trials one study may ask for (as many as a sweep may hold configs).
MAX_TRIALS = 100_000
GRID = {"method": "grid"}


def _int_at_least(low: int):
    """An int from ``low`` to 2**31 - 1: the one rule for ints (:mod:`jaxnet._limits`)."""

    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= INT32_MAX:
            raise ValueError(range_text(low))
        return int(v)

    return check


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _above_one(v):
    if not _finite(v) or v <= 1:
        raise ValueError("a number above 1 (each rung keeps the best 1/factor)")
    return float(v)


def _share(v):
    if not _finite(v) or not 0 < v <= 0.5:
        raise ValueError("a number in (0, 0.5] (the worst share copies the best share)")
    return float(v)


def _factors(v):
    if not isinstance(v, list) or not v or not all(_finite(f) and f > 0 for f in v):
        raise ValueError("a non-empty list of positive numbers, e.g. [0.8, 1.25]")
    return [float(f) for f in v]


def _trials(v):
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_TRIALS:
        raise ValueError(f"an int from 1 to {MAX_TRIALS:,} (how many trials the study asks for)")
    return int(v)


def _batch(v):
    if v == "auto":
        return v
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_TRIALS:
        raise ValueError(f'"auto" or an int from 1 to {MAX_TRIALS:,} (trials asked at once)')
    return int(v)


# method -> {key: (check, default)}; a default of None means the key is required.
METHOD_KEYS = {
    "grid": {},
    "halving": {"min_steps": (_int_at_least(1), None), "factor": (_above_one, 3.0)},
    "pbt": {
        "interval": (_int_at_least(1), None),
        "fraction": (_share, 0.25),
        "perturb": (_factors, [0.8, 1.25]),
        "seed": (_int_at_least(0), 0),
    },
    "optuna": {
        "sampler": (one_of(SAMPLERS), "tpe"),
        "trials": (_trials, None),
        "batch": (_batch, "auto"),
        "seed": (_int_at_least(0), 0),
        "pruner": (one_of(PRUNERS), "none"),
        "min_steps": (_int_at_least(1), 0),  # 0: not given; required with pruner = "halving"
        "factor": (_above_one, 3.0),
    },
}
# What each method's missing required key means, for the one-line refusal.
REQUIRED_MEANING = {
    "min_steps": "the steps of the first rung",
    "interval": "steps between exploit rounds",
    "trials": "how many trials the study asks for",
}


def _owner(key: str) -> str | None:
    return next((m for m, keys in METHOD_KEYS.items() if key in keys), None)


def _check_pruner(out: dict, table: dict) -> dict:
    """An Optuna search's pruner keys: ``min_steps`` with ``pruner = "halving"`` only."""
    if out["pruner"] == "halving" and not out["min_steps"]:
        raise ValueError(
            'search.min_steps is missing: pruner = "halving" needs it (the steps of the first rung)'
        )
    given = [k for k in ("min_steps", "factor") if k in table]
    if out["pruner"] == "none" and given:
        raise ValueError(
            f'search.{given[0]} goes with pruner = "halving"; this search has pruner = "none"'
        )
    return out


def check_search(table) -> dict:
    """The checked ``[search]`` table, defaults filled in.

    Args:
      table: the parsed TOML table (a dict).

    Returns:
      ``{"method": name, **keys}``: :data:`GRID` for ``method = "grid"``.

    Raises:
      ValueError: naming the key at fault (``search.factor must be ...; got 1``).
    """
    if not isinstance(table, dict):
        raise ValueError('search must be a table, like [search] method = "halving"')
    method = table.get("method")
    if method not in METHODS:
        raise ValueError(f"search.method must be one of {', '.join(METHODS)}; got {method!r}")
    keys = METHOD_KEYS[method]
    for key in table:
        if key != "method" and key not in keys:
            owner = _owner(key)
            if owner is not None:
                raise ValueError(f"search.{key} is a key of method {owner!r}; this is {method!r}")
            known = ", ".join(["method", *keys])
            raise ValueError(f"unknown key 'search.{key}'; method {method!r} takes {known}")
    out = {"method": method}
    for key, (check, default) in keys.items():
        if key not in table:
            if default is None:
                raise ValueError(
                    f"search.{key} is missing: method {method!r} needs it ({REQUIRED_MEANING[key]})"
                )
            out[key] = default
            continue
        try:
            out[key] = check(table[key])
        except ValueError as e:
            raise ValueError(f"search.{key} must be {e}; got {table[key]!r}") from None
    return _check_pruner(out, table) if method == "optuna" else out


def is_study(spec: dict) -> bool:
    """The parsed file's ``[search]`` table asks for an Optuna study (checked in full later)."""
    search = spec.get("search")
    return isinstance(search, dict) and search.get("method") == "optuna"


def check_space(table, grid: dict) -> None:
    """The tables of an Optuna study: a ``[random]`` table (its space) with no ``n`` (the study
    asks ``search.trials``) or ``seed`` (``search.seed``), and ``[grid]`` axes of one value
    each (held fixed). The distributions themselves are checked as any ``[random]`` table's.

    Raises:
      ValueError: naming the table or key at fault.
    """
    if table is None:
        raise ValueError(
            "search method 'optuna' searches the [random] table's distributions; add one, "
            "e.g. [random] learning_rate = {log_uniform = [1e-4, 1e-1]}"
        )
    if not isinstance(table, dict):
        raise ValueError("random must be a table, like [random] width = [16, 64]")
    for key, instead in (("n", "search.trials"), ("seed", "search.seed")):
        if key in table:
            raise ValueError(f"random.{key} is not used by an optuna search; set {instead} instead")
    many = next((axis for axis, values in grid.items() if len(values) > 1), None)
    if many is not None:
        raise ValueError(
            f"grid.{many} has {len(grid[many])} values; an optuna search holds [grid] axes "
            "fixed: give one value, or search it in [random] as a list to choose from"
        )
