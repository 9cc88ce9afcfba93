"""``sweep_engines``: the demo sweep in this process vs on a one-node local Ray cluster.

Opt-in (minutes); skipped without Ray. ``--quick`` runs a 2-group cut of the sweep.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path

from jaxnet import sweep

from ..config import QUICK, ROOT, Config
from ..timing import case


def _sweep_spec(cfg: Config):
    """The demo sweep (``--quick``: a 2-group cut of it with 100 steps)."""
    spec = sweep.load(ROOT / "experiments/sweeps/demo.toml")
    if cfg is QUICK:
        text = spec.source.split("[grid]")[0] + (
            "[grid]\ndepth = [1]\nwidth = [16, 32]\nlearning_rate = [1e-3]\nseed = [0, 1]\n"
            "steps = [100]\nbatch_size = [64]\n"
        )
        spec = sweep.parse(text, "demo (quick)")
    return spec


def _sweep_timing(summary, wall: float, startup: float = 0.0) -> dict:
    """One sweep as a variant row: wall time less start-up, compile time summed over groups."""
    seconds = wall - startup
    return {
        "first_s": wall,
        "compile_s": summary.compile_seconds,
        "median_s": seconds,
        "min_s": seconds,
        "times_s": [seconds],
        "startup_s": startup,
        "group_s": summary.group_seconds,
        "groups": summary.groups,
    }


def bench_sweep_engines(cfg: Config) -> dict:
    """The demo sweep trained in this process, then on a one-node local Ray cluster.

    Each run starts from an empty store; the in-process run goes first, so neither finds its
    programs compiled. Ray's start-up (``ray.init``) is reported apart and left out of the
    ratio; the per-group overhead is what Ray adds to each group beyond training it (task
    dispatch, a worker's first JAX import, returning rows).
    """
    if importlib.util.find_spec("ray") is None:
        return {"cases": {}, "skipped": "ray is not installed (pip install -e '.[ray]')"}
    spec = _sweep_spec(cfg)
    timings, quiet = {}, {"log": lambda line: None, "progress": False}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        here = sweep.run(spec, Path(tmp) / "here.sqlite", **quiet)
        timings["in-process"] = _sweep_timing(here, time.perf_counter() - start)
        start = time.perf_counter()
        ray = sweep.run(spec, Path(tmp) / "ray.sqlite", engine="ray", **quiet)
        timings["ray, 1 local node"] = _sweep_timing(
            ray, time.perf_counter() - start, ray.startup_seconds
        )
    r = timings["ray, 1 local node"]
    overhead = (r["median_s"] - r["group_s"]) / max(ray.groups, 1)
    slower = r["median_s"] / timings["in-process"]["median_s"]
    result = case(
        f"sweep {spec.name}: {here.configs} configs in {here.groups} groups; in-process vs "
        f"one local Ray node (one group at a time, a whole node each); 'steps' are configs, "
        f"Ray start-up {r['startup_s']:.1f} s left out",
        here.configs,
        timings,
        {"ray_over_in_process": slower},
        [],
        ray_over_in_process=slower,
        ray_startup_s=r["startup_s"],
        ray_overhead_per_group_s=overhead,
    )
    return {"cases": {"sweep_engines": result}}
