"""``study``: Optuna searches batched into populations: TPE vs random, batched vs one at a time.

Opt-in (many minutes). A 4-dimensional search on digits (learning rate, init scale, width,
depth; Adam, minibatches of 64, the best validation loss):

* TPE with 64 trials vs random search with 64 trials (Optuna's RandomSampler through the same
  batches), 3 study seeds each, every study a ``jaxnet sweep`` in a fresh process with a fresh
  compile cache: the best validation loss of each, side by side, and trials per compiled
  training program (trials / populations trained: one training program each) and per
  population program of any kind (each population also compiles an init and an evaluation).
* Wall time of the 64 TPE trials batched into populations (16 a batch) vs 64 TPE trials asked
  one at a time through Optuna's usual ``study.optimize`` with ``jn.fit`` in the objective
  (the same data, space, steps and metric), each in a fresh process.

Best validation losses, trial and program counts do not depend on the machine's load; wall
times do (measure them on a quiet machine).
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

SPACE = """
name = "{name}"
dataset = "digits"
evals = 10
[grid]
steps = [{steps}]
batch_size = [64]
[random]
learning_rate = {{log_uniform = [1e-4, 1e-1]}}
init_scale = {{log_uniform = [0.25, 4.0]}}
width = {{int_log_uniform = [16, 256]}}
depth = {{int_uniform = [1, 3]}}
[search]
method = "optuna"
sampler = "{sampler}"
trials = {trials}
batch = {batch}
seed = {seed}
"""

_STUDY = """
import dataclasses, json, sys, time
start = time.perf_counter()
from jaxnet import store, sweep
s = sweep.run(sweep.load(sys.argv[1]), sys.argv[2], progress=False, log=lambda _: None,
              keep_models="none")
with store.opened(sys.argv[2], must_exist=True) as conn:
    rows = store.runs(conn)
    trials = store.stored_trials(conn, s.name)
print(json.dumps({
    **dataclasses.asdict(s), "process_s": time.perf_counter() - start,
    "trials": len(trials), "distinct": len({t["config_id"] for t in trials}),
    "best_val_loss": min(r["best_val_loss"] for r in rows if r["best_val_loss"] is not None),
}))
"""

_OPTIMIZE = """
import json, sys, time
start = time.perf_counter()
import jax, optuna
import jaxnet as jn
from jaxnet import sweep
spec = sweep.load(sys.argv[1])
prepared = sweep.prepare(spec)
(x, y), val = prepared.parts["train"], prepared.parts["validation"]
steps = spec.grid["steps"][0]
optuna.logging.set_verbosity(optuna.logging.WARNING)

def objective(trial):
    lr = trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
    scale = trial.suggest_float("init_scale", 0.25, 4.0, log=True)
    width = trial.suggest_int("width", 16, 256, log=True)
    depth = trial.suggest_int("depth", 1, 3)
    net = jn.MLP((prepared.n_features, *[width] * depth, prepared.n_outputs), activation="relu")
    params = [{k: v * scale if k == "w" else v for k, v in layer.items()}
              for layer in jn.init(net, jax.random.key(0))]
    _, history = jn.fit(net, params, x, y, loss="cross_entropy", optimizer="adam",
                        learning_rate=lr, steps=steps, batch_size=64, validation=val,
                        eval_every=-(-steps // 10), key=jax.random.key(0), progress=False)
    finite = [v for v in history.val_loss if v == v]
    return min(finite) if finite else float("inf")

study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=int(sys.argv[2])))
study.optimize(objective, n_trials=int(sys.argv[3]))
print(json.dumps({"process_s": time.perf_counter() - start, "best_val_loss": study.best_value,
                  "trials": len(study.trials)}))
"""


def _process(code: str, folder: Path, name: str, *args) -> dict:
    """``code`` in a fresh process with its own compile cache; its JSON line and wall time."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAXNET_CACHE_DIR": str(folder / f"{name}-c")}
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result.update(wall_s=time.perf_counter() - start, load_after=load_average())
    print(json.dumps({"run": name, **result}), flush=True)
    return result


def _study(folder: Path, name: str, **keys) -> dict:
    toml = folder / f"{name}.toml"
    toml.write_text(SPACE.format(name=name, **keys))
    return _process(_STUDY, folder, name, toml, folder / f"{name}.sqlite")


def _timing(result: dict, compile_s: float) -> dict:
    """``result`` with the timing fields the tables read: one run, so its wall time is the
    first call, the median and the minimum alike."""
    wall = result["wall_s"]
    return {**result, "first_s": wall, "compile_s": compile_s, "median_s": wall, "min_s": wall}


def _sizes(cfg: Config) -> tuple[int, int, int]:
    """``(trials, batch, steps)``: 64 trials of 16 at 600 steps; 16 of 4 at 150 with --quick."""
    return (16, 4, 150) if cfg.search_quick else (64, 16, 600)


def bench_samplers(cfg: Config, folder: Path) -> dict:
    """TPE vs random, 3 study seeds each."""
    trials, batch, steps = _sizes(cfg)
    runs, facts = {}, {}
    for sampler in ("tpe", "random"):
        for seed in range(3):
            name = f"{sampler}{seed}"
            r = _study(folder, name, sampler=sampler, trials=trials, batch=batch, seed=seed,
                       steps=steps)  # fmt: skip
            runs[f"{sampler}, seed {seed}"] = _timing(r, r["compile_seconds"])
            facts[name] = {
                "best_val_loss": r["best_val_loss"], "trials": r["trials"],
                "distinct_configs": r["distinct"], "populations": r["groups"],
                "programs": r["compiles"],
                # One training program a population; ``compiles`` also counts each population's
                # init and evaluation programs (three a population).
                "trials_per_training_program": r["trials"] / max(r["groups"], 1),
                "trials_per_population_program": r["trials"] / max(r["compiles"], 1),
            }  # fmt: skip
    best = {s: [facts[f"{s}{i}"]["best_val_loss"] for i in range(3)] for s in ("tpe", "random")}
    per_program = min(f["trials_per_training_program"] for f in facts.values())
    targets = [
        target("TPE mean best val loss / random's", sum(best["tpe"]) / sum(best["random"]), 1.0,
               "<="),
        target("trials per compiled training program (fewest of the 6 studies)", per_program,
               2.0),
    ]  # fmt: skip
    return case(
        f"{trials} trials on digits (lr, init scale, width, depth; {steps} steps, batches of "
        f"{batch}): TPE vs random, study seeds 0-2, each a fresh process and compile cache",
        1, runs, {}, targets, sweeps=facts, best_val_loss=best,
    )  # fmt: skip


def bench_batched(cfg: Config, folder: Path, batched: dict) -> dict:
    """The TPE study batched into populations (``batched``: seed 0's run of
    :func:`bench_samplers`) vs study.optimize with jn.fit, one at a time."""
    trials, batch, steps = _sizes(cfg)
    one = _process(_OPTIMIZE, folder, "optimize", folder / "tpe0.toml", 0, trials)
    runs = {
        f"batched ({batch} a population)": _timing(batched, batched["compile_seconds"]),
        # jn.fit's compile time is not measured apart from its training: 0 means "not split".
        "study.optimize with jn.fit": _timing(one, 0.0),
    }  # fmt: skip
    ratio = one["wall_s"] / batched["wall_s"]
    return case(
        f"{trials} TPE trials: asked {batch} at a time and trained as populations, vs asked one "
        "at a time by study.optimize with jn.fit in the objective (fresh processes)",
        1, runs, {"one at a time / batched wall": ratio},
        [target("study.optimize wall / batched wall", ratio, 2.0)],
        sweeps={k: {"best_val_loss": r["best_val_loss"], "trials": r["trials"]}
                for k, r in (("batched", batched), ("study.optimize", one))},
    )  # fmt: skip


def bench_study(cfg: Config) -> dict:
    """Both cases (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="jaxnet-bench-study-") as tmp:
        folder = Path(tmp)
        samplers = bench_samplers(cfg, folder)
        batched = bench_batched(cfg, folder, samplers["variants"]["tpe, seed 0"])
        return {"cases": {"TPE vs random": samplers, "batched vs study.optimize": batched}}
