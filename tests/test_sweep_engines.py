"""Sweep engines and claims: the driver over a stand-in engine, leases in the store, local Ray.

The multi-process and multi-node tests are slow (``make test-slow``); everything they start is
stopped by PID in a ``finally``.
"""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxnet import store, sweep
from jaxnet.cli import main
from jaxnet.sweep import driver, engines, runner

ROOT = Path(__file__).resolve().parents[1]

# The shapes of tests/test_sweep.py's tiny sweep, so compiled programs are shared in one run.
TINY = """
name = "{name}"
dataset = "xor"
evals = 2
curve_points = 10
max_padding = 1  # two widths, two groups: these tests are about groups, not width buckets
[grid]
hidden = {hidden}
activation = ["tanh"]
learning_rate = [0.05, 0.2]
seed = [0, 1]
steps = [{steps}]
batch_size = [0]
"""


def _write(tmp_path, name="eng", hidden="[[7], [9]]", steps=30) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(TINY.format(name=name, hidden=hidden, steps=steps))
    return path


def _rows(db) -> dict:
    """config_id -> (train_loss, best_val_loss, test_accuracy) of every stored run."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT config_id, train_loss, best_val_loss, test_accuracy FROM runs"
        ).fetchall()
    assert len(rows) == len({r[0] for r in rows})  # never two rows of one config
    return {r[0]: r[1:] for r in rows}


# --- the driver over a stand-in engine ---------------------------------------------------------


class Flaky(engines.InProcess):
    """An in-process engine whose first task fails and whose every result is reported twice."""

    def __init__(self, *args):
        super().__init__(*args)
        self.failed, self.submitted = False, []

    def submit(self, index, configs):
        self.submitted.append(index)
        super().submit(index, configs)

    def wait(self, timeout=None):
        out = super().wait(timeout)
        if out and not self.failed:
            self.failed = True
            return [(out[0][0], RuntimeError("worker lost"))]
        return out + out  # a task reported twice (rerun by Ray after a lost reply)


@pytest.fixture
def flaky(monkeypatch):
    made = []

    def make(options, *args):
        made.append(Flaky(*args))
        return made[-1]

    monkeypatch.setattr(runner, "make_engine", make)
    return made


def test_a_failed_task_runs_again_and_a_group_reported_twice_is_stored_once(tmp_path, flaky):
    toml, db, lines = _write(tmp_path), tmp_path / "f.sqlite", []
    summary = sweep.run(sweep.load(toml), db, log=lines.append, retries=1)
    assert (summary.trained, summary.groups, summary.elsewhere) == (8, 2, 0)
    # group 0 twice: once failed, once retried (group 1 may be claimed in between: the
    # in-process engine holds one group ahead to compile its programs)
    assert sorted(flaky[0].submitted) == [0, 0, 1]
    assert sum("running it again" in line for line in lines) == 1
    assert len(_rows(db)) == 8
    with sqlite3.connect(db) as conn:  # a finished process leaves no claim behind
        assert conn.execute("SELECT count(*) FROM claims").fetchone()[0] == 0


def test_a_task_failing_more_often_than_retries_stops_the_sweep_and_keeps_whole_groups(
    tmp_path, flaky
):
    toml, db = _write(tmp_path), tmp_path / "g.sqlite"
    with pytest.raises(RuntimeError, match="failed 1 times; last error: worker lost"):
        sweep.run(sweep.load(toml), db, log=lambda line: None, retries=0)
    assert _rows(db) == {}  # the failed group is the first: nothing stored, nothing half-stored
    again = sweep.run(sweep.load(toml), db, log=lambda line: None, retries=1)
    assert again.trained == 8 and len(_rows(db)) == 8


# --- claims and leases ---------------------------------------------------------------------------


def test_a_claim_is_held_renewed_released_and_taken_over_only_after_its_lease(tmp_path):
    with store.opened(tmp_path / "c.sqlite") as conn:
        assert store.claim(conn, "s", "g", "a", lease=10, now=100.0)
        assert not store.claim(conn, "s", "g", "b", lease=10, now=105.0)  # a holds it
        assert store.claim(conn, "s", "g", "a", lease=10, now=105.0)  # a again: renewed
        assert store.claim(conn, "s", "other", "b", lease=10, now=105.0)  # another group
        assert store.claim(conn, "t", "g", "b", lease=10, now=105.0)  # another sweep
        assert store.renew_claims(conn, "a", expires=130.0) == 1
        assert not store.claim(conn, "s", "g", "b", lease=10, now=129.9)
        assert store.claim(conn, "s", "g", "b", lease=10, now=130.1)  # a's lease ran out
        store.release_claim(conn, "s", "g", "a")  # a no longer holds it: b's claim stays
        assert not store.claim(conn, "s", "g", "c", lease=10, now=131.0)
        store.release_claims(conn, "b")
        assert store.claim(conn, "s", "g", "c", lease=10, now=131.0)


def test_a_group_held_by_a_dead_process_is_taken_over_when_its_lease_expires(tmp_path):
    toml, db = _write(tmp_path, "ghost"), tmp_path / "h.sqlite"
    spec = sweep.load(toml)
    configs = sweep.expand(spec, "classification")
    n_train = len(sweep.prepare(spec).parts["train"][1])
    first = sweep.group(configs, n_train)[0]
    with store.opened(db) as conn:  # a process that claimed group 0 and was killed
        assert store.claim(conn, "ghost", driver.shape_id(first, n_train), "dead", 2.0, time.time())
    start = time.monotonic()
    summary = sweep.run(spec, db, log=lambda line: None, lease=5.0)
    assert time.monotonic() - start >= 1.5  # it waited for the dead holder's lease
    assert (summary.trained, summary.groups, summary.elsewhere) == (8, 2, 0)
    assert len(_rows(db)) == 8


def test_a_group_held_by_a_killed_process_of_this_host_is_taken_over_at_once(tmp_path):
    toml, db = _write(tmp_path, "rerun"), tmp_path / "r.sqlite"
    spec = sweep.load(toml)
    configs = sweep.expand(spec, "classification")
    n_train = len(sweep.prepare(spec).parts["train"][1])
    first = sweep.group(configs, n_train)[0]
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs: a `jaxnet sweep` killed with -9 and reaped
    holder = f"{socket.gethostname()}:{gone.pid}:0000"
    with store.opened(db) as conn:
        assert store.claim(conn, "rerun", driver.shape_id(first, n_train), holder, 600, time.time())
    summary = sweep.run(spec, db, log=lambda line: None, lease=600.0)  # no 10-minute wait
    assert (summary.trained, summary.groups) == (8, 2) and len(_rows(db)) == 8
    alive = f"{socket.gethostname()}:{os.getpid()}:0000"  # a live holder is never displaced
    with store.opened(db) as conn:
        assert store.claim(conn, "rerun", "x", alive, 600, time.time())
        assert not driver.Leases(conn, db, 5).claim("rerun", "x")


def test_a_group_another_process_stored_meanwhile_counts_as_theirs(tmp_path, monkeypatch):
    toml, db = _write(tmp_path, "shared"), tmp_path / "s.sqlite"
    spec = sweep.load(toml)
    done = {}  # a stand-in for another process: it stores group 0 while this one waits

    def claim(self, name, shape):
        if not done:
            done["other"] = True  # its own claims go straight to the store
            sweep.run(spec, tmp_path / "other.sqlite", log=lambda line: None)
            with store.opened(tmp_path / "other.sqlite") as src, store.opened(db) as dst:
                rows = [r for r in store.runs(src) if r["hidden"] == "7"]
                for r in rows:
                    for column in store.BLOB_COLUMNS:
                        r[column] = store.encode_floats(r[column])
                sid = store.add_sweep(dst, "shared", spec.source, sweep.spec_hash(spec))
                store.insert_runs(dst, sid, rows)
        return store.claim(self._conn, name, shape, self.holder, self.lease, time.time())

    monkeypatch.setattr(driver.Leases, "claim", claim)
    summary = sweep.run(spec, db, log=lambda line: None)
    assert (summary.trained, summary.groups, summary.elsewhere) == (4, 1, 4)
    assert "4 were trained by other processes" in summary.describe()
    assert _rows(db) == _rows(tmp_path / "other.sqlite")


# --- options -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, named",
    [
        ({"engine": "dask"}, "engine must be one of in-process, ray; got 'dask'"),
        ({"retries": -1}, "retries must be a non-negative int"),
        ({"retries": 1.5}, "retries must be a non-negative int"),
        ({"retries": True}, "retries must be a non-negative int"),
        ({"lease": 0.5}, "lease must be a finite number of seconds, at least 1; got 0.5"),
        ({"lease": float("nan")}, "lease must be a finite number of seconds, at least 1; got nan"),
        ({"lease": float("inf")}, "lease must be a finite number of seconds, at least 1; got inf"),
        ({"address": "auto"}, "engine 'in-process' takes no address"),
        ({"gpus_per_group": 1}, "engine 'in-process' takes no gpus_per_group"),
    ],
)
def test_bad_engine_options_are_refused_naming_the_option(tmp_path, options, named):
    spec = sweep.load(_write(tmp_path, "opts", "[[3]]"))
    with pytest.raises(ValueError, match=named.replace("(", r"\(")):
        sweep.run(spec, tmp_path / "o.sqlite", log=lambda line: None, **options)
    assert not (tmp_path / "o.sqlite").exists()  # refused before any work


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--address", "auto"], "engine 'in-process' takes no address"),
        (["--cpus-per-group", "2"], "engine 'in-process' takes no cpus_per_group"),
        (["--engine", "ray", "--gpus-per-group", "-1"], "gpus_per_group must be a number >= 0"),
        (["--engine", "ray", "--cpus-per-group", "0"], "cpus_per_group must be a positive"),
        (["--engine", "ray", "--retries", "-2"], "retries must be a non-negative int"),
    ],
)
def test_the_cli_refuses_bad_engine_flags_in_one_line(tmp_path, capsys, flags, named):
    toml = _write(tmp_path, "flags", "[[3]]")
    assert main(["sweep", str(toml), "--store", str(tmp_path / "x.sqlite"), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jaxnet sweep: error:") and named in err and "\n" not in err


# --- Ray ---------------------------------------------------------------------------------------


def test_a_local_ray_sweep_stores_the_same_rows_as_the_in_process_engine(
    tmp_path, monkeypatch, capfd
):
    pytest.importorskip("ray")
    from jaxnet.sweep import ray_engine

    heads = []
    monkeypatch.setattr(
        ray_engine, "LocalHead", lambda real=ray_engine.LocalHead: heads.append(real()) or heads[-1]
    )
    toml = _write(tmp_path, "local", "[[7]]")
    spec = sweep.load(toml)
    assert float(jax.numpy.ones(2).sum()) == 2.0  # JAX's threads run here before Ray starts
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        on_ray = sweep.run(spec, tmp_path / "ray.sqlite", log=lambda line: None, engine="ray")
    took = time.perf_counter() - start
    # Ray's cluster was started by a process without JAX: no fork where JAX runs, no warning
    # that it did; token authentication was chosen, so Ray did not warn that it chose it
    assert [str(w.message) for w in caught if "fork" in str(w.message)] == []
    assert "Token authentication is enabled" not in capfd.readouterr().err
    assert len(heads) == 1 and heads[0]._proc.poll() == 0  # and it ended with the sweep
    assert (on_ray.trained, on_ray.groups, on_ray.engine) == (4, 1, "ray")
    # counted on the worker: one group compiles its init, training and scoring programs
    assert 0 < on_ray.startup_seconds < took and on_ray.compiles == 3
    sweep.run(spec, tmp_path / "here.sqlite", log=lambda line: None)
    ray_rows, here = _rows(tmp_path / "ray.sqlite"), _rows(tmp_path / "here.sqlite")
    assert ray_rows.keys() == here.keys() and len(here) == 4
    for key, values in here.items():
        np.testing.assert_allclose(ray_rows[key], values, rtol=1e-5)
    with store.opened(tmp_path / "ray.sqlite") as conn:
        (kind,) = {r["device_kind"] for r in store.runs(conn)}
    assert kind.startswith("cpu x")  # a CPU task: JAX_PLATFORMS=cpu on the worker


# --- slow: processes and nodes killed mid-group ------------------------------------------------


def _env(**extra) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def _sweep_process(toml, db, *flags, env=None) -> subprocess.Popen:
    command = [sys.executable, "-m", "jaxnet.cli", "sweep", str(toml), "--store", str(db)]
    return subprocess.Popen(
        [*command, *flags],
        cwd=ROOT,
        env=env or _env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return -1
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # no such table yet
        return -1


def _holders(db: Path) -> set:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return {r[0] for r in conn.execute("SELECT holder FROM claims")}
    except sqlite3.OperationalError:
        return set()


def _stop(*procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _trained(output: str, name: str) -> tuple[int, int]:
    """(trained by this process, trained by others) from a `jaxnet sweep` summary line."""
    line = next(x for x in output.splitlines() if x.startswith(f"{name}: trained"))
    mine = 0 if line.startswith(f"{name}: trained nothing") else int(line.split()[2])
    others = line.split(" were trained by other processes")[0].rsplit("; ", 1)[-1]
    return mine, int(others) if others.isdigit() else 0


def _both_hold_a_claim(db: Path, procs) -> bool:
    pids = {h.split(":")[1] for h in _holders(db)}
    return all(str(p.pid) in pids for p in procs)


@pytest.mark.slow
def test_two_processes_on_one_store_split_the_groups_and_survive_one_killed_mid_group(tmp_path):
    hidden = "[[2], [3], [4], [5], [6], [7]]"
    toml, db = _write(tmp_path, "pair", hidden, steps=300), tmp_path / "p.sqlite"
    procs = [_sweep_process(toml, db, "--lease", "3") for _ in range(2)]
    try:
        outputs = [p.communicate(timeout=900)[0] for p in procs]
    finally:
        _stop(*procs)
    assert [p.returncode for p in procs] == [0, 0], outputs
    counts = [_trained(out, "pair") for out in outputs]
    assert counts[0][0] + counts[1][0] == 24 and min(c[0] for c in counts) > 0  # disjoint split
    assert [c[1] for c in counts] == [24 - counts[0][0], 24 - counts[1][0]]
    assert len(_rows(db)) == 24

    toml, db = _write(tmp_path, "kill", hidden, steps=300), tmp_path / "k.sqlite"
    a, b = (_sweep_process(toml, db, "--lease", "3") for _ in range(2))
    try:
        _wait_for(lambda: _both_hold_a_claim(db, (a, b)), 300, "both processes to hold a group")
        os.kill(b.pid, signal.SIGKILL)  # mid-group: its claim stays until the lease runs out
        b.wait()
        out = a.communicate(timeout=900)[0]
    finally:
        _stop(a, b)
    assert a.returncode == 0, out
    mine, others = _trained(out, "kill")
    assert len(_rows(db)) == 24 and mine + others == 24 and mine >= 8  # b's last group, retaken
    with sqlite3.connect(db) as conn:
        sizes = conn.execute("SELECT count(*), max(group_size) FROM runs GROUP BY group_id")
        assert all(n == size for n, size in sizes)  # whole groups only


def _descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (from /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL a `ray start --block` process and every process it started, by PID."""
    for pid in [*reversed(_descendants(proc.pid)), proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def _kill_session(temp: str) -> None:
    """SIGKILL, by PID, every process whose command line names our Ray temp dir, and below."""
    pids = [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and int(p.name) != os.getpid() and temp in _cmdline(int(p.name))
    ]
    for pid in {d for p in pids for d in _descendants(p)} | set(pids):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _ray_node(*args, env) -> subprocess.Popen:
    ray = Path(sys.executable).with_name("ray")
    command = [str(ray), "start", "--block", "--num-cpus", "1", "--disable-usage-stats", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_a_two_node_ray_sweep_survives_a_worker_node_killed_mid_group(tmp_path):
    pytest.importorskip("ray")
    with socket.socket() as s:  # a free port on loopback for the head
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Ray 2.60's head turns token authentication on; the joining node and the driver must send
    # the token (same user, same machine: ~/.ray/auth_token) and so must say RAY_AUTH_MODE.
    env = _env(RAY_AUTH_MODE="token")
    temp = f"/tmp/jn{os.getpid()}"
    head = _ray_node(
        "--head", f"--port={port}", "--node-ip-address=127.0.0.1", f"--temp-dir={temp}",
        "--include-dashboard=false", env=env,
    )  # fmt: skip
    node = None
    toml = _write(tmp_path, "nodes", "[[2], [3], [4], [5]]", steps=400)
    db = tmp_path / "n.sqlite"
    driver_proc = None
    try:
        time.sleep(5)
        node = _ray_node(f"--address=127.0.0.1:{port}", "--node-ip-address=127.0.0.1", env=env)
        flags = ("--engine", "ray", "--address", f"127.0.0.1:{port}", "--cpus-per-group", "1")
        driver_proc = _sweep_process(toml, db, *flags, env=env)

        def training_on_node() -> bool:
            return any("train_group" in _cmdline(p) for p in _descendants(node.pid))

        _wait_for(training_on_node, 300, "a group task on the second node")
        _kill_tree(node)  # the worker node dies mid-group, its workers with it
        out = driver_proc.communicate(timeout=600)[0]
        assert driver_proc.returncode == 0, out
    finally:
        for proc in (driver_proc, node, head):
            if proc is not None:
                _kill_tree(proc)
        _kill_session(temp)  # anything the nodes daemonised away from their `ray start`
    rows = _rows(db)
    assert len(rows) == 16
    here = tmp_path / "here.sqlite"
    sweep.run(sweep.load(toml), here, log=lambda line: None)
    expected = _rows(here)
    assert rows.keys() == expected.keys()
    for key, values in expected.items():
        np.testing.assert_allclose(rows[key], values, rtol=1e-5)


def test_without_ray_installed_the_engine_says_how_to_add_it_in_one_line(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "ray", None)  # as in a `make run` venv: no Ray
    toml = _write(tmp_path, "noray", "[[3]]")
    db = tmp_path / "x.sqlite"
    assert main(["sweep", str(toml), "--store", str(db), "--engine", "ray"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "jaxnet sweep: error: engine 'ray' needs Ray, an optional extra: pip install -e '.[ray]' "
        "in the jaxnet folder (PyPI's 'jaxnet' is another project)\n"
    )
    assert not db.exists()  # refused before the store was created
