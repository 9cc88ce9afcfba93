"""``sweep``: the demo sweep's wall and compile time in fresh processes.

Opt-in (minutes). This checkout with a cold and then a warm compile cache, and an older checkout
(``--old-checkout DIR``) first when given.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..config import ROOT, Config
from ..machine import load_average
from ..timing import case, target

_SWEEP_CODE = """
import dataclasses, json, sys, time
start = time.perf_counter()
from jaxnet import sweep
s = sweep.run(sweep.load(sys.argv[1]), sys.argv[2], progress=False, log=lambda _: None)
print(json.dumps({**dataclasses.asdict(s), "process_s": time.perf_counter() - start,
                  "train_fraction": s.train_fraction}))
"""


def sweep_process(root: Path, toml: Path, store_path: Path, cache: Path) -> dict:
    """One sweep in a fresh process of the checkout ``root``; its summary and wall time."""
    env = {**os.environ, "PYTHONPATH": str(root), "JAXNET_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _SWEEP_CODE, str(toml), str(store_path)],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    wall = time.perf_counter() - start
    result.update(wall_s=wall, load_after=load_average())
    print(json.dumps({"sweep": str(toml), "root": str(root), **result}), flush=True)  # kept
    return {
        **result,
        "first_s": wall,
        "compile_s": result["compile_seconds"],
        "median_s": wall,
        "min_s": wall,
    }


def bench_sweep(cfg: Config) -> dict:
    """The demo sweep (make run) in fresh processes: this checkout with a cold and a warm compile
    cache, and ``--old-checkout`` (an earlier jaxnet) when given, one after another."""
    demo = ROOT / cfg.sweep_file
    with tempfile.TemporaryDirectory(prefix="jaxnet-bench-sweep-") as tmp:
        tmp = Path(tmp)
        rerun = tmp / "rerun.toml"  # the same shapes under a new name: all configs train again
        rerun.write_text(demo.read_text().replace('name = "', 'name = "rerun_', 1))
        variants = {}
        if cfg.sweep_old:
            variants["old checkout, no cache"] = sweep_process(
                Path(cfg.sweep_old), demo, tmp / "old.sqlite", tmp / "old-cache"
            )
        variants["new, cold cache"] = sweep_process(ROOT, demo, tmp / "a.sqlite", tmp / "cache")
        variants["new, warm cache"] = sweep_process(ROOT, rerun, tmp / "b.sqlite", tmp / "cache")
    cold, warm = variants["new, cold cache"], variants["new, warm cache"]
    targets = [
        target("cold: share of wall time in compiled training", cold["train_fraction"], 0.5),
        target(
            "warm: compile share of wall time",
            warm["compile_seconds"] / warm["seconds"],
            0.10,
            "<=",
        ),
    ]
    ratios = {}
    if cfg.sweep_old:
        old = variants["old checkout, no cache"]
        ratios["old/new cold wall"] = old["wall_s"] / cold["wall_s"]
        targets.insert(
            0, target("old wall / new cold wall (x less)", ratios["old/new cold wall"], 3.0)
        )
    for t in variants.values():
        t["per_step_us"] = 0.0
    summary = {
        k: {
            f: t.get(f)
            for f in (
                "groups",
                "compiles",
                "programs",
                "cache_hits",
                "padding",
                "seconds",
                "compile_seconds",
                "train_fraction",
                "load_after",
            )
        }
        for k, t in variants.items()
    }
    result = case(
        f"{cfg.sweep_file} in fresh processes: wall (s) as first call and median, "
        "compile = the sweep's own compile seconds",
        1,
        variants,
        ratios,
        targets,
        sweeps=summary,
    )
    return {"cases": {"demo sweep": result}}
