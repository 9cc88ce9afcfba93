"""``tiers``: tiered compilation and compile-ahead (issue 20), side by side with tiers off.

Opt-in (minutes). Sweeps run in fresh processes, each with a compile cache of its own (cold)
unless said warm: the widths sweep (experiments/sweeps/widths.toml) with tiers on, cold and warm,
and off, cold, with its rankings compared; the demo sweep (``make run``) on cold, on warm and
off warm; a long sweep (the widths at 20,000 steps) on and off. In this process: a training
chunk timed alone and while the background thread compiles, and a first ``fit`` of a new shape
with tiers on and off (fresh processes).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..config import ROOT, Config
from ..machine import load_average
from ..timing import case, target

_SWEEP = """
import dataclasses, json, sys, time
start = time.perf_counter()
from jaxnet import sweep
s = sweep.run(sweep.load(sys.argv[1]), sys.argv[2], progress=False, log=lambda _: None)
print(json.dumps({**dataclasses.asdict(s), "process_s": time.perf_counter() - start,
                  "train_fraction": s.train_fraction}))
"""


def sweep_run(toml: Path, store: Path, cache: Path, tiers: str) -> dict:
    """One ``jaxnet.sweep.run`` in a fresh process with ``JAXNET_TIERS=tiers``: its summary,
    wall time (the process's, JAX's import included) and the load after it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAXNET_CACHE_DIR": str(cache)}
    env["JAXNET_TIERS"] = tiers
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _SWEEP, str(toml), str(store)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    s = json.loads(out.stdout.strip().splitlines()[-1])
    wall = time.perf_counter() - start
    s.update(wall_s=wall, load_after=load_average())
    print(json.dumps({"sweep": toml.name, "tiers": tiers, **s}), flush=True)  # kept in the log
    return {
        **s,
        "first_s": wall,
        "compile_s": s["compile_seconds"],
        "median_s": wall,
        "min_s": wall,
        "times_s": [wall],
        "compile_share": s["compile_seconds"] / s["seconds"],
        "background_share": s["background_seconds"] / s["seconds"],
    }


def ranking(store: Path, metric: str) -> list:
    """``[(config JSON, metric)]`` best first (ties by config), of every run in ``store``."""
    with sqlite3.connect(store) as conn:
        rows = conn.execute(f"SELECT config, {metric} FROM runs").fetchall()
    higher = "accuracy" in metric
    return sorted(rows, key=lambda r: ((-r[1] if higher else r[1]), r[0]))


def compare_rankings(a: Path, b: Path) -> dict:
    """Whether two stores of the same configs rank them alike, and their largest metric gap."""
    out = {}
    for metric in ("final_val_accuracy", "final_val_loss"):
        ra, rb = ranking(a, metric), ranking(b, metric)
        gap = max(abs(x[1] - dict(rb)[x[0]]) for x in ra)
        out[metric] = {"same_order": [r[0] for r in ra] == [r[0] for r in rb], "max_gap": gap}
    return out


def sweep_file(tmp: Path, source: Path, name: str, **grid) -> Path:
    """``source`` renamed ``name`` with some ``[grid]`` lists replaced (``key=[values]``)."""
    lines = []
    for line in source.read_text().splitlines():
        key = line.split("=")[0].strip()
        if key == "name":
            line = f'name = "{name}"'
        elif key in grid:
            line = f"{key} = {json.dumps(grid[key])}"
        lines.append(line)
    path = tmp / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _summary_row(t: dict) -> dict:
    keys = ("seconds", "compile_share", "background_share", "train_fraction", "programs")
    return {k: t.get(k) for k in keys} | {"switches": t.get("switches")}


def widths_case(cfg: Config, tmp: Path) -> dict:
    """The 40-config widths sweep: tiers on cold and warm, off cold; rankings on vs off."""
    grid = {"steps": [cfg.tiers_steps]} if cfg.tiers_steps != 1500 else {}
    toml = sweep_file(tmp, ROOT / "experiments/sweeps/widths.toml", "widths", **grid)
    again = sweep_file(tmp, ROOT / "experiments/sweeps/widths.toml", "widths_again", **grid)
    v = {
        "tiers on, cold cache": sweep_run(toml, tmp / "on.db", tmp / "c-on", "on"),
        "tiers on, warm cache, fresh store": sweep_run(again, tmp / "w.db", tmp / "c-on", "on"),
        "tiers off, cold cache": sweep_run(toml, tmp / "off.db", tmp / "c-off", "off"),
    }
    cold, warm, off = v.values()
    same = compare_rankings(tmp / "on.db", tmp / "off.db")
    targets = [
        target(
            "cold, tiers on: share of wall time in compiled programs", cold["train_fraction"], 0.5
        ),
        target("warm, tiers on: compile share of wall time", warm["compile_share"], 0.10, "<="),
        target(
            "cold: tiers-off wall / tiers-on wall (x faster)", off["wall_s"] / cold["wall_s"], 1.0
        ),
        target(
            "rankings identical, tiers on vs off (1 = yes)",
            float(all(m["same_order"] for m in same.values())),
            1.0,
        ),
    ]
    return case(
        f"{toml.name}: wall (s) of a fresh process; compile = main-thread compile seconds",
        1,
        v,
        {"off/on cold wall": off["wall_s"] / cold["wall_s"]},
        targets,
        sweeps={k: _summary_row(t) for k, t in v.items()},
        rankings=same,
    )


def demo_case(cfg: Config, tmp: Path) -> dict:
    """``make run``'s sweep: tiers on cold and warm, and off warm (the same warm cache)."""
    demo = ROOT / "experiments/sweeps/demo.toml"
    grid = {} if cfg.tiers_demo else {"depth": [1], "width": [16, 32], "steps": [200]}
    toml = sweep_file(tmp, demo, "demo", **grid)
    v = {
        "tiers on, cold cache": sweep_run(toml, tmp / "d1.db", tmp / "c-demo", "on"),
        "tiers on, warm cache": sweep_run(toml, tmp / "d2.db", tmp / "c-demo", "on"),
        "tiers off, warm cache": sweep_run(toml, tmp / "d3.db", tmp / "c-demo", "off"),
    }
    cold, warm, off = v.values()
    targets = [
        target("make run, cold, tiers on: wall (s)", cold["wall_s"], 30.0, "<="),
        target("warm: tiers-on wall / tiers-off wall", warm["wall_s"] / off["wall_s"], 1.0, "<="),
    ]
    return case(
        f"{toml.name} (make run): wall (s) of a fresh process",
        1,
        v,
        {"warm on/off": warm["wall_s"] / off["wall_s"]},
        targets,
        sweeps={k: _summary_row(t) for k, t in v.items()},
    )


def long_case(cfg: Config, tmp: Path) -> dict:
    """Widths of depth 1 at ``tiers_long_steps`` steps: tiers on vs always optimized (off)."""
    grid = {"steps": [cfg.tiers_long_steps], "depth": [1]}
    toml = sweep_file(tmp, ROOT / "experiments/sweeps/widths.toml", "long", **grid)
    v = {
        "tiers on, cold cache": sweep_run(toml, tmp / "l1.db", tmp / "c-l1", "on"),
        "tiers off (always optimized), cold cache": sweep_run(
            toml, tmp / "l2.db", tmp / "c-l2", "off"
        ),
    }
    on, off = v.values()
    ratio = on["wall_s"] / off["wall_s"]
    return case(
        f"{toml.name}: {cfg.tiers_long_steps} steps a group",
        cfg.tiers_long_steps,
        v,
        {"on/off wall": ratio},
        [target("long sweep: tiers-on wall / always-optimized wall", ratio, 1.05, "<=")],
        sweeps={k: _summary_row(t) for k, t in v.items()},
    )


def _background_compiles(stop: threading.Event) -> None:
    """Keep the background compile thread busy: populations of new shapes compiled ahead."""
    import jax
    import numpy as np

    import jaxnet as jn
    from jaxnet import population

    x, y = np.random.default_rng(0).normal(size=(256, 64)), np.arange(256) % 10
    width = 200
    while not stop.is_set():
        width += 1
        net = jn.MLP((64, width, 10))
        keys = jax.random.key_data(jax.random.split(jax.random.key(0), 8))
        futures = population.compile_ahead(
            net, keys, x, y, loss="cross_entropy", optimizer="adam", learning_rates=[1e-3] * 8,
            steps=1000, eval_every=100, batch_size=64,
        )  # fmt: skip
        for f in futures:
            f.result()


def ahead_case(cfg: Config) -> dict:
    """A population's training chunks timed alone, then while the background thread compiles
    (what compile-ahead does during a sweep): the chunk's slowdown."""
    import numpy as np

    import jaxnet as jn
    from jaxnet import data, population

    ds = data.load("digits")
    x, y = np.asarray(ds.x, np.float32) / 16, np.asarray(ds.y)
    net = jn.MLP((64, 64, 32, 10), activation="relu")
    keys = np.stack([np.zeros(8, np.uint32), np.arange(8, dtype=np.uint32)], 1)
    kw = dict(loss="cross_entropy", optimizer="adam", learning_rates=[1e-3] * 8, batch_size=64)
    kw.update(steps=cfg.tiers_chunk_steps, eval_every=cfg.tiers_chunk_steps, progress=False)

    def chunk() -> float:
        return population.fit_population(net, keys, x[:1200], y[:1200], **kw)[1].seconds

    from jaxnet import tiers

    with tiers.switched(False):  # one program, compiled now: only the training is timed
        chunk()
        alone = [chunk() for _ in range(cfg.tiers_repeats)]
        stop = threading.Event()
        worker = threading.Thread(target=_background_compiles, args=(stop,))
        worker.start()
        time.sleep(1.0)  # the first background compile is under way
        busy = [chunk() for _ in range(cfg.tiers_repeats)]
        stop.set()
        worker.join()
    a, b = statistics.median(alone), statistics.median(busy)
    v = {
        "chunk alone": _timing(alone),
        "chunk while compiling in the background": _timing(busy),
    }
    return case(
        f"64-64-32-10 ReLU population of 8, Adam, batch 64, {cfg.tiers_chunk_steps} steps a chunk",
        cfg.tiers_chunk_steps,
        v,
        {"busy/alone": b / a},
        [target("a background compile slows a training chunk by (x)", b / a, 1.10, "<=")],
    )


def _timing(times: list) -> dict:
    med = statistics.median(times)
    return {"first_s": times[0], "compile_s": 0.0, "median_s": med, "min_s": min(times),
            "times_s": times}  # fmt: skip


_FIT = """
import json, sys, time
import numpy as np
start = time.perf_counter()
import jax, jaxnet as jn
from jaxnet import data
jax.config.update("jax_enable_compilation_cache", False)
ds = data.load("digits")
x, y = np.asarray(ds.x, np.float32) / 16, np.asarray(ds.y)
net = jn.MLP((64, 128, 128, 10), activation="relu")
params = jn.init(net, jax.random.key(0))
ready = time.perf_counter()
_, h = jn.fit(net, params, x, y, loss="cross_entropy", optimizer="sgd", learning_rate=0.05,
              steps=int(sys.argv[1]), eval_every=int(sys.argv[2]), batch_size=128, progress=False)
print(json.dumps({"fit_s": time.perf_counter() - ready, "tiers": h.chunk_tiers}))
"""


def first_fit_case(cfg: Config) -> dict:
    """A first ``fit`` of a new shape (64-128-128-10 on digits) in a fresh process, persistent
    cache off: tiers on vs off, for a short fit and a longer one."""
    v, ratios = {}, {}
    for steps, every in ((200, 200), (cfg.tiers_fit_steps, 500)):
        for tiers in ("on", "off"):
            env = {**os.environ, "PYTHONPATH": str(ROOT), "JAXNET_TIERS": tiers}
            out = subprocess.run(
                [sys.executable, "-c", _FIT, str(steps), str(every)],
                env=env, cwd=ROOT, capture_output=True, text=True, check=True,
            )  # fmt: skip
            r = json.loads(out.stdout.strip().splitlines()[-1])
            v[f"{steps} steps, tiers {tiers} (chunk tiers {r['tiers']})"] = _timing([r["fit_s"]])
        on, off = list(v.values())[-2:]
        ratios[f"{steps} steps: off/on"] = off["median_s"] / on["median_s"]
    return case(
        "a first fit of 64-128-128-10 on digits, SGD, batch 128: seconds to return",
        1,
        v,
        ratios,
        [
            target(
                "first 200-step fit: tiers-off / tiers-on time (x sooner)",
                ratios["200 steps: off/on"],
                1.0,
            )
        ],  # fmt: skip
    )


def bench_tiers(cfg: Config) -> dict:
    """Every case above, one after another (sweeps in fresh processes)."""
    with tempfile.TemporaryDirectory(prefix="jaxnet-bench-tiers-") as tmp:
        tmp = Path(tmp)
        cases = {
            "widths sweep": widths_case(cfg, tmp),
            "demo sweep": demo_case(cfg, tmp),
            "long sweep": long_case(cfg, tmp),
        }
    cases["compile-ahead beside training"] = ahead_case(cfg)
    cases["first fit of a new shape"] = first_fit_case(cfg)
    return {"cases": cases, "config": {k: v for k, v in dataclasses.asdict(cfg).items()
                                       if k.startswith("tiers")}}  # fmt: skip
