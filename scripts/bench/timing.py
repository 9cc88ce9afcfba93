"""How a benchmark times its variants, and the plain data a case is reported as.

Timing only: what runs (the nets, the baselines) and the machine facts live elsewhere. Every
callable timed here must finish its work before it returns (JAX results are blocked on).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

import jax


def interleaved(variants: dict[str, Callable[[], object]], repeats: int) -> dict[str, dict]:
    """Time each variant: one first call, then ``repeats`` rounds of one call each, interleaved.

    Each callable must do one complete unit of work and return only when it is finished
    (JAX results blocked on). The order is rotated every round so no variant always runs
    right after the same neighbour.
    """
    first = {}
    for name, fn in variants.items():
        first[name] = timed(fn)
    times = {name: [] for name in variants}
    names = list(variants)
    for r in range(repeats):
        gc.collect()
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(timed(variants[name]))
    out = {}
    for name in names:
        med = statistics.median(times[name])
        out[name] = {
            "first_s": first[name],
            "compile_s": max(first[name] - med, 0.0),  # first call minus one steady call
            "median_s": med,
            "min_s": min(times[name]),
            "times_s": times[name],
        }
    return out


def timed(fn) -> float:
    """Seconds one call of ``fn`` takes, its result blocked on."""
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def ratio(timings: dict, slower: str, faster: str = "fit") -> float:
    """How many times faster ``faster`` is than ``slower`` (ratio of median times)."""
    return timings[slower]["median_s"] / timings[faster]["median_s"]


def target(what: str, value: float, bound: float, op: str = ">=") -> dict:
    """A goal as plain data: ``value`` against ``bound`` under ``op`` (``">="`` or ``"<="``)."""
    met = value >= bound if op == ">=" else value <= bound
    return {"what": what, "value": value, "target": f"{op} {bound:g}", "met": bool(met)}


def case(description: str, steps: int, timings: dict, ratios: dict, targets: list, **info):
    """One benchmark case as plain data (what goes into the JSON)."""
    for t in timings.values():
        t["per_step_us"] = 1e6 * t["median_s"] / steps
    return {
        "description": description,
        "steps": steps,
        "variants": timings,
        "ratios": ratios,
        "targets": targets,
        **info,
    }
