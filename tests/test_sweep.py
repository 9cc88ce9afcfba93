"""Sweeps: the file format, configs and groups, compile count, resuming, and SIGKILL + rerun."""

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jaxnet import population, store, sweep
from jaxnet.cli import main

ROOT = Path(__file__).resolve().parents[1]
BASE = {"name": "t", "dataset": "xor"}


def _error(spec: dict) -> str:
    with pytest.raises(sweep.SweepError) as info:
        sweep.from_dict(spec, "t.toml")
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "spec, named",
    [
        ({**BASE, "grid": {"width": [8]}, "colour": "red"}, "'colour'"),
        ({**BASE, "grid": {"widht": [8]}}, "'grid.widht'"),
        ({**BASE, "dataset": "imagenet", "grid": {"width": [8]}}, "dataset must be one of"),
        ({**BASE, "grid": {"activation": ["relux"]}}, "grid.activation must be one of"),
        ({**BASE, "grid": {"width": []}}, "grid.width is empty"),
        ({**BASE, "grid": {"width": 8}}, "grid.width must be a list"),
        ({**BASE, "grid": {"depth": [0]}}, "grid.depth must be a positive int (at most 128)"),
        ({**BASE, "grid": {"learning_rate": [-1.0]}}, "grid.learning_rate must be a positive"),
        ({**BASE, "grid": {"bias": ["yes"]}}, "grid.bias must be true or false"),
        ({**BASE, "grid": {"optimizer": ["lbfgs"]}}, "grid.optimizer must be one of"),
        ({**BASE, "grid": {"hidden": [[8]], "width": [8]}}, "hidden replaces depth and width"),
        ({**BASE}, "needs a [grid] or a [random] table"),
        ({"dataset": "xor", "grid": {"width": [8]}}, "name is missing"),
        ({**BASE, "random": {"learning_rate": {"log_uniform": [1e-3, 1e-1]}}}, "random.n is"),
        ({**BASE, "random": {"n": 2, "width": {"log_uniform": [8, 64]}}}, "random.width cannot"),
        ({**BASE, "random": {"n": 2, "learning_rate": {"normal": [0, 1]}}}, "random.learning_rate"),
        ({**BASE, "grid": {"seed": [0]}, "random": {"n": 1, "seed": 0, "seed_": [1]}}, "seed_"),
        ({**BASE, "grid": {"width": [8]}, "random": {"n": 1, "width": [4]}}, "in both"),
        ({**BASE, "grid": {"width": [8]}, "val_fraction": 0, "metric": "best_val_loss"}, "needs"),
    ],
)
def test_bad_sweep_specs_are_one_line_errors_naming_the_key(spec, named):
    assert named in _error(spec)


def test_bad_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\ngrid = [\n')
    with pytest.raises(sweep.SweepError, match="broken.toml: not valid TOML"):
        sweep.load(path)


def test_the_grid_is_a_product_with_defaults_and_duplicates_once():
    spec = {**BASE, "grid": {"depth": [1, 2], "width": [4, 8, 8], "seed": [0, 1]}}
    configs = sweep.expand(sweep.from_dict(spec), "classification")
    assert len(configs) == 2 * 2 * 2
    assert {tuple(c["hidden"]) for c in configs} == {(4,), (8,), (4, 4), (8, 8)}
    first = configs[0]
    assert first["activation"] == "relu" and first["optimizer"] == "adam"
    assert first["loss"] == "cross_entropy" and first["eval_every"] == 100  # 1000 steps / 10


def test_random_draws_are_reproducible_within_bounds_and_crossed_with_the_grid():
    spec = {
        **BASE,
        "grid": {"seed": [0, 1, 2]},
        "random": {
            "n": 5,
            "seed": 3,
            "learning_rate": {"log_uniform": [1e-4, 1e-1]},
            "width": {"int_log_uniform": [4, 64]},
            "activation": ["relu", "tanh"],
        },
    }
    configs = sweep.expand(sweep.from_dict(spec), "classification")
    again = sweep.expand(sweep.from_dict(spec), "classification")
    assert configs == again and len(configs) == 15
    assert all(1e-4 <= c["learning_rate"] <= 1e-1 for c in configs)
    assert all(4 <= c["hidden"][0] <= 64 for c in configs)
    assert len({c["learning_rate"] for c in configs}) == 5  # each draw runs with every seed


def test_config_ids_are_stable_and_depend_on_the_config_and_the_sweep_name():
    config = {"b": 1, "a": [1, 2]}
    assert sweep.config_id("s", config) == sweep.config_id("s", {"a": [1, 2], "b": 1})
    assert sweep.config_id("s", config) != sweep.config_id("s2", config)
    assert sweep.config_id("s", config) != sweep.config_id("s", {**config, "b": 2})
    assert sweep.config_id("s", config) == "dc23d9da965043a2d9e5980c0290c07d"  # never changes


def test_seeds_learning_rates_and_init_scales_share_a_group_and_nothing_else_does():
    spec = {
        **BASE,
        "grid": {
            "width": [4, 8],
            "activation": ["relu", "tanh"],
            "seed": [0, 1],
            "learning_rate": [0.01, 0.1],
            "init_scale": [0.5, 1.0],
            "batch_size": [300, 0],  # both are full batch on 300 training rows: one shape
        },
    }
    configs = sweep.expand(sweep.from_dict(spec), "classification")
    groups = sweep.group(configs, n_train=300)
    assert len(groups) == 4 and all(len(g) == 16 for g in groups)
    assert len(sweep.group(configs, n_train=1000)) == 8  # 300 rows of 1000 is a minibatch


TINY = """
name = "{name}"
dataset = "xor"
evals = 2
curve_points = 10
[grid]
hidden = {hidden}
activation = ["tanh"]
learning_rate = [0.05, 0.2]
seed = [0, 1]
steps = [{steps}]
batch_size = [0]
"""


# The kill tests rerun the same shapes in this process as the first sweep test: compiled
# programs are cached per process, so their reruns take little time when run together.
def _write(tmp_path, name="tiny", hidden="[[7], [40]]", steps=30) -> Path:
    # 7 and 40 units are two groups: 40 padded would be 5.7x the FLOPs of 7 (max_padding 4).
    path = tmp_path / f"{name}.toml"
    path.write_text(TINY.format(name=name, hidden=hidden, steps=steps))
    return path


def _rows(db) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT config_id, id, created, train_loss FROM runs").fetchall()


def test_a_sweep_compiles_once_per_shape_stores_everything_and_resumes(tmp_path, fresh_programs):
    spec, db = sweep.load(_write(tmp_path)), tmp_path / "r.sqlite"
    before, lines = population.compile_count(), []
    summary = sweep.run(spec, db, log=lines.append)
    # 2 shapes x (init, training, final evaluation); 2 lrs x 2 seeds share them
    assert population.compile_count() - before == 6
    assert (summary.configs, summary.trained, summary.groups, summary.compiles) == (8, 8, 2, 6)
    assert len(lines) == 3 and "2 groups" in lines[0]
    with store.opened(db, must_exist=True) as conn:
        rows = store.runs(conn, "tiny")
    assert len(rows) == 8 and len({r["config_id"] for r in rows}) == 8
    for r in rows:
        config = json.loads(r["config"])
        assert r["hidden"] == str(config["hidden"][0]) and r["seed"] == config["seed"]
        assert r["status"] == "completed" and r["steps_done"] == 30
        assert 0 <= r["best_val_accuracy"] <= 1 and r["best_val_loss"] <= r["final_val_loss"]
        assert r["test_loss"] > 0 and r["train_loss"] > 0 and r["group_size"] == 4
        assert r["n_params"] == 2 * r["width"] + r["width"] + r["width"] * 2 + 2
        assert len(r["curve"]) == 10 and r["curve_stride"] == 3 and len(r["val_curve"]) == 2
        assert r["jax_version"] and r["device_kind"].startswith("cpu")
        assert 0 <= r["compile_seconds"] <= r["group_seconds"]
    again = sweep.run(spec, db, log=lines.append)
    assert (again.trained, again.skipped, again.compiles) == (0, 8, 0)
    assert len(_rows(db)) == 8


def _popen(toml: Path, db: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "jaxnet.cli", "sweep", str(toml), "--store", str(db)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def _count(db: Path, sql: str) -> int:
    """A count read with plain sqlite3 while the sweep writes; -1 while the store is not ready."""
    if not db.exists():
        return -1
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # no tables yet
        return -1


def _kill_when(proc: subprocess.Popen, db: Path, sql: str, ready, timeout=120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        seen = _count(db, sql)
        if ready(seen):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return seen
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"the sweep ended (rc {proc.returncode}) before the condition to kill it")


def _assert_exactly_once(db: Path, n_configs: int) -> None:
    rows = _rows(db)
    assert len(rows) == n_configs and len({r[0] for r in rows}) == n_configs
    with sqlite3.connect(db) as conn:
        sizes = conn.execute("SELECT count(*), max(group_size) FROM runs GROUP BY group_id")
        assert all(n == size for n, size in sizes)  # groups are whole: all members or none


def test_a_sweep_killed_after_a_group_committed_loses_nothing_and_trains_nothing_twice(tmp_path):
    toml, db = _write(tmp_path, "killed"), tmp_path / "k.sqlite"
    proc = _popen(toml, db)
    _kill_when(proc, db, "SELECT count(*) FROM runs", lambda n: n >= 1)
    before = _rows(db)
    assert len(before) == 4  # one whole group of two
    summary = sweep.run(sweep.load(toml), db, log=lambda line: None)
    assert (summary.trained, summary.skipped, summary.groups) == (4, 4, 1)
    _assert_exactly_once(db, 8)
    after = {r[0]: r for r in _rows(db)}
    assert all(after[r[0]] == r for r in before)  # stored rows untouched: not trained again
    assert _count(db, "SELECT count(*) FROM sweeps") == 1


def test_a_sweep_killed_before_any_commit_leaves_a_usable_store(tmp_path):
    toml, db = _write(tmp_path, "early", "[[7]]"), tmp_path / "e.sqlite"
    proc = _popen(toml, db)
    seen = _kill_when(proc, db, "SELECT count(*) FROM sweeps", lambda n: n >= 1)
    assert seen == 1 and _count(db, "SELECT count(*) FROM runs") == 0
    assert main(["sweep", str(toml), "--store", str(db)]) == 0
    _assert_exactly_once(db, 4)


@pytest.mark.slow
def test_a_sweep_killed_at_random_moments_ends_with_exactly_one_row_per_config(tmp_path):
    toml, db = _write(tmp_path, "chaos", "[[2], [3], [4], [5]]"), tmp_path / "c.sqlite"
    rng, stored = random.Random(0), [0]
    for _ in range(8):
        proc = _popen(toml, db)
        try:
            proc.wait(timeout=rng.uniform(0.2, 12.0))
            break  # it finished before this kill
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        stored.append(max(_count(db, "SELECT count(*) FROM runs"), 0))
        assert stored[-1] >= stored[-2] and stored[-1] % 4 == 0  # whole groups, never undone
    proc = _popen(toml, db)
    assert proc.wait(timeout=600) == 0
    _assert_exactly_once(db, 16)


def test_the_cli_reports_a_bad_sweep_file_in_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('name = "b"\ndataset = "xor"\n[grid]\nactivation = ["relux"]\n')
    assert main(["sweep", str(path), "--store", str(tmp_path / "b.sqlite")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jaxnet sweep: error:") and "grid.activation" in err
    assert "\n" not in err and not (tmp_path / "b.sqlite").exists()
