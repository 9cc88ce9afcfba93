"""``search``: successive halving and PBT against a grid, scikit-learn, and ``fit``.

Opt-in (many minutes). Four cases, each sweep in a fresh process with a fresh compile cache:

* halving vs grid: a random search of 108 configs (depth 1-3, width 16-256, learning rates
  over 3 decades, relu/tanh) on digits, trained to the end (grid) and by successive halving:
  steps trained, programs compiled, wall time, the best test accuracy.
* the same space and budget in epochs with scikit-learn's ``HalvingRandomSearchCV`` over
  ``jaxnet.estimators.MLPClassifier`` (one validation split, the sweep's own).
* PBT vs fixed learning rates: 16 members of one net, plain SGD on minibatches, learning
  rates from 1e-3 to 1; the best member of each.
* a PBT member replayed with ``jn.fit`` along its lineage in float64 (max relative error).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..config import ROOT, Config
from ..machine import load_average
from ..timing import case, target

RANDOM = """
name = "{name}"
dataset = "digits"
evals = {evals}
metric = "best_val_accuracy"
[grid]
steps = [{steps}]
batch_size = [64]
[random]
n = {n}
seed = 0
depth = {{int_uniform = [1, 3]}}
width = {{int_log_uniform = [16, 256]}}
learning_rate = {{log_uniform = [1e-4, 1e-1]}}
activation = ["relu", "tanh"]
"""
HALVING = '\n[search]\nmethod = "halving"\nmin_steps = {min_steps}\nfactor = 3\n'
FIXED = """
name = "{name}"
dataset = "digits"
evals = {evals}
[grid]
hidden = [[64]]
optimizer = ["sgd"]
batch_size = [16]
steps = [{steps}]
learning_rate = {lrs}
"""
PBT = '\n[search]\nmethod = "pbt"\ninterval = {interval}\n'

_RUN = """
import dataclasses, json, sys, time
start = time.perf_counter()
from jaxnet import store, sweep
s = sweep.run(sweep.load(sys.argv[1]), sys.argv[2], progress=False, log=lambda _: None,
              keep_models="none")
with store.opened(sys.argv[2], must_exist=True) as conn:
    rows = store.runs(conn)
    tasks = store.rung_results(conn, s.name)
done = [r for r in rows if r["status"] == "completed"]
best = max(done, key=lambda r: (r["best_val_accuracy"] or -1, -(r["best_val_loss"] or 9)))
slots = {}
for r in tasks:  # member-steps computed for nothing: device padding slots of each task
    info = json.loads(r["info"])
    slots[r["task"]] = (info["slots"] - info["size"]) * (r["step"] - r["start"])
print(json.dumps({
    **dataclasses.asdict(s), "process_s": time.perf_counter() - start,
    "max_test_accuracy": max(r["test_accuracy"] for r in done),
    "chosen_test_accuracy": best["test_accuracy"],
    "best_final_val_loss": min(r["final_val_loss"] for r in done),
    "best_test_loss": min(r["test_loss"] for r in done),
    "padding_member_steps": sum(slots.values()),
}))
"""


def sweep_process(text: str, folder: Path, name: str, cache: str | None = None) -> dict:
    """One sweep file in a fresh process with its own compile cache (``cache``: the folder of
    an earlier run's, warm); its summary and facts."""
    toml, db = folder / f"{name}.toml", folder / f"{name}.sqlite"
    cache = folder / f"{cache or name}-cache"
    toml.write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAXNET_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _RUN, str(toml), str(db)],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    wall = time.perf_counter() - start
    result.update(wall_s=wall, load_after=load_average())
    print(json.dumps({"sweep": name, **result}), flush=True)
    return {**result, "first_s": wall, "compile_s": result["compile_seconds"], "median_s": wall,
            "min_s": wall}  # fmt: skip


def _facts(t: dict) -> dict:
    keys = ("programs", "seconds", "compile_seconds", "max_test_accuracy",
            "chosen_test_accuracy", "padding_member_steps", "load_after")  # fmt: skip
    out = {k: t.get(k) for k in keys}
    if t.get("steps"):
        out["steps_trained"], out["steps_grid"] = t["steps"]
    return out


def _renamed(text: str, name: str) -> str:
    """The sweep file under another name: the same configs, other config ids (a new store)."""
    return text.replace('name = "', f'name = "{name}_', 1)


def bench_halving(cfg: Config, folder: Path) -> dict:
    """Halving vs the full grid of the same random configs."""
    n, steps, min_steps = (24, 540, 60) if cfg.search_quick else (108, 2700, 100)
    evals = steps // min_steps
    grid = RANDOM.format(name="grid", n=n, steps=steps, evals=evals)
    halving = RANDOM.format(name="halving", n=n, steps=steps, evals=evals)
    halving += HALVING.format(min_steps=min_steps)
    variants = {
        "grid, cold cache": sweep_process(grid, folder, "grid"),
        "halving, cold cache": sweep_process(halving, folder, "halving"),
        # the same configs again under a new name (a new store): every program from the cache
        "grid, warm cache": sweep_process(_renamed(grid, "grid2"), folder, "grid2", "grid"),
        "halving, warm cache": sweep_process(
            _renamed(halving, "halving2"), folder, "halving2", "halving"
        ),
    }
    g, h = variants["grid, cold cache"], variants["halving, cold cache"]
    gw, hw = variants["grid, warm cache"], variants["halving, warm cache"]
    ratios = {"halving/grid wall, cold": h["wall_s"] / g["wall_s"],
              "halving/grid wall, warm": hw["wall_s"] / gw["wall_s"]}  # fmt: skip
    targets = [
        target("halving best test accuracy - grid's (points)",
               100 * (h["max_test_accuracy"] - g["max_test_accuracy"]), -1.0),
        target("halving steps / grid steps", h["steps"][0] / h["steps"][1], 0.35, "<="),
        target("halving wall / grid wall, cold compile caches", ratios[
            "halving/grid wall, cold"], 0.5, "<="),
        target("halving wall / grid wall, warm compile caches", ratios[
            "halving/grid wall, warm"], 0.5, "<="),
    ]  # fmt: skip
    return case(
        f"{n} random digits configs to {steps} steps: the full grid and successive halving "
        f"(min_steps {min_steps}, factor 3), each in a fresh process, with a fresh compile "
        "cache and again with the one its first run filled",
        1, variants, ratios, targets, sweeps={k: _facts(v) for k, v in variants.items()},
    )  # fmt: skip


class _Hidden:
    """``hidden_layer_sizes`` drawn as the sweep draws them: depth 1-3, width log-uniform."""

    def rvs(self, random_state=None):
        rng = np.random.default_rng(random_state.randint(2**31) if random_state else None)
        width = int(round(np.exp(rng.uniform(np.log(16), np.log(256)))))
        return (width,) * int(rng.integers(1, 4))


def bench_sklearn_halving(cfg: Config) -> dict:
    """HalvingRandomSearchCV over our MLPClassifier: the same space and budget in epochs."""
    from scipy.stats import loguniform
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV, PredefinedSplit

    from jaxnet import sweep
    from jaxnet.estimators import MLPClassifier

    n, steps, min_steps = (24, 540, 60) if cfg.search_quick else (108, 2700, 100)
    prepared = sweep.prepare(sweep.parse(RANDOM.format(name="s", n=n, steps=steps, evals=9)))
    (xt, yt), (xv, yv), (xs, ys) = (prepared.parts[k] for k in ("train", "validation", "test"))
    per_epoch = len(yt) / 64  # steps of one epoch at batch 64
    search = HalvingRandomSearchCV(
        MLPClassifier(batch_size=64, random_state=0, tol=0.0, n_iter_no_change=10**9),
        {"hidden_layer_sizes": _Hidden(), "activation": ["relu", "tanh"],
         "learning_rate_init": loguniform(1e-4, 1e-1)},
        n_candidates=n, factor=3, resource="max_iter",
        min_resources=max(1, round(min_steps / per_epoch)), max_resources=round(steps / per_epoch),
        cv=PredefinedSplit([-1] * len(yt) + [0] * len(yv)), random_state=0, refit=True,
    )  # fmt: skip
    start = time.perf_counter()
    search.fit(np.concatenate([xt, xv]), np.concatenate([yt, yv]))
    wall = time.perf_counter() - start
    test = float(np.mean(search.best_estimator_.predict(xs) == ys))
    timing = {"first_s": wall, "compile_s": 0.0, "median_s": wall, "min_s": wall}
    return case(
        f"scikit-learn HalvingRandomSearchCV over jaxnet's MLPClassifier: {n} candidates, "
        f"max_iter {search.min_resources_}..{search.max_resources_} epochs, factor 3, the "
        "sweep's validation split",
        1, {"HalvingRandomSearchCV": timing}, {}, [],
        sweeps={"HalvingRandomSearchCV": {"seconds": wall, "best_val_accuracy": search.best_score_,
                                           "test_accuracy": test, "load_after": load_average()}},
    )  # fmt: skip


def bench_pbt(cfg: Config, folder: Path) -> dict:
    """PBT vs the same population with fixed learning rates."""
    steps, interval = (600, 60) if cfg.search_quick else (3000, 150)
    lrs = json.dumps([float(f"{v:.3g}") for v in np.geomspace(1e-3, 1.0, 16)])
    fixed = FIXED.format(name="fixed", steps=steps, lrs=lrs, evals=steps // interval)
    pbt = FIXED.format(name="pbt", steps=steps, lrs=lrs, evals=steps // interval)
    pbt += PBT.format(interval=interval)
    variants = {
        "fixed": sweep_process(fixed, folder, "fixed"),
        "pbt": sweep_process(pbt, folder, "pbt"),
    }
    f, p = variants["fixed"], variants["pbt"]
    targets = [
        target("best PBT member's validation loss / best fixed member's",
               p["best_final_val_loss"] / f["best_final_val_loss"], 1.0, "<="),
        target("best PBT member's test loss / best fixed member's",
               p["best_test_loss"] / f["best_test_loss"], 1.0, "<="),
    ]  # fmt: skip
    return case(
        f"16 members of 64-64-10 relu on digits, SGD, batch 16, {steps} steps: learning rates "
        f"fixed (1e-3..1) or PBT every {interval} steps",
        1, variants, {}, targets,
        sweeps={k: {**_facts(v), "best_final_val_loss": v["best_final_val_loss"],
                    "best_test_loss": v["best_test_loss"]} for k, v in variants.items()},
    )  # fmt: skip


def bench_replay(cfg: Config) -> dict:
    """A PBT population in float64, each member replayed by jn.fit along its lineage."""
    import jax

    import jaxnet as jn
    from jaxnet import data, population
    from jaxnet.population import segments
    from jaxnet.sweep import search
    from jaxnet.sweep.task import seed_keys

    with jax.enable_x64(True):
        d = data.spirals(300, seed=1)
        x, y, val = d.x[60:], d.y[60:], (d.x[:60], d.y[:60])
        net, p, interval = jn.MLP((2, 32, 2), activation="tanh"), 8, 100
        nets, keys = [net] * p, seed_keys(range(p))
        lrs = list(np.geomspace(0.01, 1.0, p))
        opts = dict(loss="cross_entropy", optimizer="sgd", eval_every=50, validation=val,
                    dtype=np.float64)  # fmt: skip
        states, hist = segments.start_segment(
            nets, keys, x, y, until=interval, learning_rates=lrs, **opts
        )
        rng, log = np.random.default_rng(0), []
        for until in range(2 * interval, (6 if cfg.search_quick else 11) * interval, interval):
            src, lrs, _ = search.exploit(list(range(p)), list(hist.val_loss[:, -1]), lrs, 0.25,
                                         [0.8, 1.25], rng, "final_val_loss")  # fmt: skip
            log.append((src, list(lrs)))
            states, hist = segments.resume_segment(
                nets, states, keys, x, y, until=until, sources=src, learning_rates=lrs, **opts
            )

        def advance(params, rate):
            return jn.fit(net, params, x, y, loss="cross_entropy", optimizer="sgd",
                          learning_rate=rate, steps=interval, eval_every=interval)[0]  # fmt: skip

        typed = jax.random.wrap_key_data(keys)
        replay = [advance(jn.init(net, population.member_keys(k)[0], np.float64), r)
                  for k, r in zip(typed, np.geomspace(0.01, 1.0, p))]  # fmt: skip
        for src, rates in log:
            replay = [advance(replay[s], r) for s, r in zip(src, rates)]
        err = max(
            float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))
            for i in range(p)
            for a, b in zip(jax.tree.leaves(replay[i]), jax.tree.leaves(states[i].params))
        )
    timing = {"first_s": 0.0, "compile_s": 0.0, "median_s": 0.0, "min_s": 0.0}
    return case(
        f"{p} PBT members of 2-32-2 tanh on spirals, SGD full batch, float64, {len(log)} exploit "
        "rounds: each member's params against jn.fit replayed along its lineage",
        1, {"replay": timing}, {"max relative error": err},
        [target("max relative error of a replayed member", err, 1e-10, "<=")],
    )  # fmt: skip


def bench_search(cfg: Config) -> dict:
    """The four cases (see the module docstring); each sweep in a fresh process and cache."""
    with tempfile.TemporaryDirectory(prefix="jaxnet-bench-search-") as tmp:
        folder = Path(tmp)
        return {
            "cases": {
                "halving vs grid": bench_halving(cfg, folder),
                "vs scikit-learn HalvingRandomSearchCV": bench_sklearn_halving(cfg),
                "PBT vs fixed learning rates": bench_pbt(cfg, folder),
                "PBT replayed by fit": bench_replay(cfg),
            }
        }
