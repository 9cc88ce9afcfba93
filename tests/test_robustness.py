"""Issue 9 (CLI, store, checkpoint, sweep half): every bad input a hostile user tried is refused
in one line, and nothing good is lost or replaced on the way."""

import contextlib
import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import tracemalloc
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import fake_row

import jaxnet as jn
from jaxnet import _atomic, checkpoint, plots, store, sweep
from jaxnet.cli import main
from jaxnet.sweep.preparation import group_bytes

ROOT = Path(__file__).resolve().parents[1]


def _one_line_error(capsys, *fragments, absent=()):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    for fragment in absent:
        assert fragment not in err, err
    return err


def _quiet(argv) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return main(argv)


# --- read-only places: chmod for users, the immutable attribute for root (chmod binds no root)


@contextlib.contextmanager
def _read_only(*paths: Path):
    if os.geteuid() != 0:
        modes = [p.stat().st_mode for p in paths]
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in zip(paths, modes):
                p.chmod(mode)
        return
    names = [str(p) for p in paths]
    if subprocess.run(["chattr", "+i", *names], capture_output=True).returncode:
        pytest.skip("running as root without chattr +i: cannot make a read-only directory")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *names], check=True)


def _fake_store(path: Path) -> None:
    with store.opened(path) as conn:
        sweep_id = store.add_sweep(conn, "s", 'name = "s"\ndataset = "xor"\n[grid]\n', "h")
        store.insert_runs(conn, sweep_id, [fake_row("a"), fake_row("b", train_loss=0.05)])


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_wal_store_in_a_read_only_place_is_read_and_never_called_not_a_database(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "r.sqlite"
    _fake_store(path)
    before = _digest(path)
    with _read_only(path, folder):
        assert main(["runs", str(path), "--csv"]) == 0  # read-only commands still work
        assert len(capsys.readouterr().out.splitlines()) == 3
        with pytest.raises(store.StoreError) as info:
            store.connect(path)  # a writer cannot: the message says why, and how to read it
        message = str(info.value)
        for fragment in ("WAL", "read-only", f"file:{path}?mode=ro&immutable=1"):
            assert fragment in message
        assert "not an SQLite database" not in message and "not a jaxnet" not in message
    assert sorted(os.listdir(folder)) == ["r.sqlite"] and _digest(path) == before


def test_a_new_store_in_a_read_only_directory_is_one_line(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    toml = tmp_path / "t.toml"
    toml.write_text('name = "t"\ndataset = "xor"\n[grid]\nsteps = [2]\n')
    with _read_only(folder):
        assert _quiet(["sweep", str(toml), "--store", str(folder / "new.sqlite")]) == 2
    _one_line_error(capsys, "cannot create results store", "is not writable")
    assert os.listdir(folder) == []


def test_read_only_commands_create_and_modify_nothing(tmp_path, capsys):
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    assert main(["runs", str(empty)]) == 2
    _one_line_error(capsys, "empty.sqlite is an empty file, not a jaxnet results store")
    assert empty.stat().st_size == 0  # not turned into a store
    assert main(["report", str(empty), "--out", str(tmp_path / "figs")]) == 2
    _one_line_error(capsys, "empty file")
    assert os.listdir(tmp_path) == ["empty.sqlite"]
    path = tmp_path / "r.sqlite"
    _fake_store(path)
    before = _digest(path)
    assert main(["runs", str(path)]) == 0 and main(["runs", str(path), "--csv"]) == 0
    assert _digest(path) == before and sorted(os.listdir(tmp_path)) == ["empty.sqlite", "r.sqlite"]


def test_a_store_with_meta_rows_but_no_tables_is_one_line(tmp_path, capsys):
    path = tmp_path / "half.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('application', 'jaxnet'), ('schema_version', '1')")
    assert main(["runs", str(path)]) == 2
    _one_line_error(capsys, "half.sqlite is a damaged jaxnet results store", "no sweeps or runs")


def _full_after_connect(monkeypatch, spare: int = 0):
    """Every store opened from now on can grow by ``spare`` pages: SQLite's own 'disk is full'."""
    connect = store.connect

    def full(path):
        conn = connect(path)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + spare}")
        return conn

    monkeypatch.setattr(store, "connect", full)
    monkeypatch.setattr(store.connection, "connect", full)  # what store.opened calls


def test_a_full_disk_keeps_committed_groups_and_says_so(tmp_path, monkeypatch):
    path = tmp_path / "r.sqlite"
    store.connect(path).close()
    _full_after_connect(monkeypatch, spare=12)
    with store.opened(path) as conn:
        sweep_id = store.add_sweep(conn, "s", "x", "h")
        blob = store.encode_floats(np.zeros(4000))
        with pytest.raises(store.StoreError, match="r.sqlite: database or disk is full.*rerun"):
            for i in range(10):
                store.insert_runs(conn, sweep_id, [fake_row(f"c{i}", curve=blob)])
        stored = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    assert 0 < stored < 10
    with store.opened(path, must_exist=True) as conn:  # what was committed is all there
        assert len(store.runs(conn)) == stored


def test_a_sweep_on_a_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
    toml = tmp_path / "t.toml"
    long = "x" * 20000  # the stored spec text alone needs pages the disk no longer has
    toml.write_text(f'name = "t"\ndataset = "xor"\ndescription = "{long}"\n[grid]\nsteps = [2]\n')
    _full_after_connect(monkeypatch)
    assert _quiet(["sweep", str(toml), "--store", str(tmp_path / "r.sqlite")]) == 2
    _one_line_error(capsys, "cannot write to results store", "database or disk is full")


def _stored(db: Path, sql: str) -> int:
    """A count read while the sweep writes; -1 while there is no store or no tables yet."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return -1


def test_ctrl_c_after_a_committed_group_is_one_line_and_exit_130(tmp_path, monkeypatch, capsys):
    # In process (fast): the interrupt arrives right after the first group's commit.
    toml, db = tmp_path / "c.toml", tmp_path / "c.sqlite"
    toml.write_text(
        'name = "c"\ndataset = "xor"\nevals = 1\n[grid]\nhidden = [[2], [3]]\nsteps = [5]\n'
        "batch_size = [0]\n"
    )
    insert = store.insert_runs_with_models  # a group's rows and kept models: one commit

    def insert_then_ctrl_c(*args):
        insert(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "insert_runs_with_models", insert_then_ctrl_c)
    assert _quiet(["sweep", str(toml), "--store", str(db)]) == 130
    err = _one_line_error(capsys)
    stored = _stored(db, "SELECT count(*) FROM runs")
    assert stored >= 1 and err == (
        f"jaxnet sweep: interrupted, {stored} of the file's 2 configs stored in {db} (1 group), "
        "rerun to resume\n"
    )


def test_the_interrupt_message_counts_groups_and_is_0_without_a_usable_store(tmp_path):
    missing, junk, path = tmp_path / "no.sqlite", tmp_path / "junk.sqlite", tmp_path / "s.sqlite"
    junk.write_bytes(b"not a database, half written " * 200)
    assert store.stored_group_count(missing, "s") == 0 and not missing.exists()
    assert store.stored_group_count(junk, "s") == 0
    store.connect(path).close()
    assert store.stored_group_count(path, "s") == 0
    with store.opened(path) as conn:
        sweep_id = store.add_sweep(conn, "s", "x", "h")
        rows = [fake_row("a"), fake_row("b"), fake_row("c", group_id="g1")]
        store.insert_runs(conn, sweep_id, rows)
        store.insert_runs(conn, store.add_sweep(conn, "other", "y", "h"), [fake_row("d")])
        assert store.group_count(conn, "s") == 2 and store.group_count(conn, "none") == 0
    assert store.stored_group_count(path, "s") == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    "ready",
    ["SELECT count(*) FROM sweeps", "SELECT count(*) FROM runs"],  # while training, after a commit
    ids=["training", "after-a-commit"],
)
def test_ctrl_c_during_a_sweep_says_what_is_stored_and_exits_130(tmp_path, ready):
    toml, db = tmp_path / "c.toml", tmp_path / "c.sqlite"
    toml.write_text(
        'name = "c"\ndataset = "xor"\nevals = 1\n[grid]\nhidden = [[2], [3], [4], [5], [6]]\n'
        # two activations: two groups, so there is work left after the first commit
        'steps = [300]\nbatch_size = [0]\nactivation = ["tanh", "relu"]\n'
    )
    command = [sys.executable, "-m", "jaxnet.cli", "sweep", str(toml), "--store", str(db)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and _stored(db, ready) < 1:
        time.sleep(0.02)
    assert proc.poll() is None, "the sweep ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    groups = max(_stored(db, "SELECT count(DISTINCT group_id) FROM runs"), 0)
    stored = max(_stored(db, "SELECT count(*) FROM runs"), 0)
    assert proc.returncode == 130 and groups >= (1 if "runs" in ready else 0), err
    assert err.strip() == (
        f"jaxnet sweep: interrupted, {stored} of the file's 10 configs stored in {db} "
        f"({groups} group{'' if groups == 1 else 's'}), rerun to resume"
    ), err


# --- the sweep file: sizes refused before anything is built, data checked before any write


@pytest.mark.parametrize(
    "spec, fragments",
    [
        ({"grid": {"steps": [10**12]}}, ["grid.steps", "at most 2147483647", "1000000000000"]),
        (
            {"random": {"n": 10**9, "learning_rate": {"log_uniform": [1e-4, 0.1]}}},
            ["asks for 1,000,000,000 configs", "limit is 100,000"],
        ),
        (
            {
                "grid": {
                    "width": list(range(1, 301)),
                    "seed": list(range(300)),
                    "init_scale": [1 + i / 1000 for i in range(1000)],
                }
            },
            ["asks for 90,000,000 configs (grid 300 x 300 x 1000)", "MAX_CONFIGS"],
        ),
        ({"grid": {"depth": [1000]}}, ["grid.depth", "1000"]),
        ({"grid": {"hidden": [[4] * 1000]}}, ["grid.hidden", "at most 128 hidden sizes"]),
        ({"grid": {"learning_rate": [-1.0]}}, ["grid.learning_rate", "positive finite", "-1"]),
        ({"grid": {"learning_rate": [float("nan")]}}, ["grid.learning_rate", "nan"]),
        ({"grid": {"learning_rate": [0.0]}}, ["grid.learning_rate"]),
        ({"random": {"n": 2, "learning_rate": {"uniform": [0, 1]}}}, ["random.learning_rate"]),
    ],
    ids=[
        "steps-int32",
        "random-n",
        "grid-9e7",
        "depth",
        "hidden-depth",
        "lr-neg",
        "lr-nan",
        "lr-zero",
        "lr-random-zero",
    ],
)
def test_oversized_or_invalid_sweeps_are_refused_before_anything_is_built(spec, fragments):
    start = time.perf_counter()
    with pytest.raises(sweep.SweepError) as info:
        sweep.from_dict({"name": "t", "dataset": "xor", **spec}, "t.toml")
    assert time.perf_counter() - start < 1.0  # counted, never expanded
    message = str(info.value)
    assert "\n" not in message and message.startswith("t.toml: ")
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    "toml, fragments",
    [
        (
            'loss = "binary_cross_entropy"\n[grid]\nsteps = [2]\n',
            ["loss 'binary_cross_entropy' does not fit dataset 'digits'"],
        ),
        (
            "[grid]\nwidth = [10000000]\nsteps = [2]\n",
            ["would need about", "GiB", "MAX_GROUP_BYTES"],
        ),
        (
            "[grid]\nwidth = [400000]\nseed = [0, 1, 2, 3, 4, 5, 6, 7]\nsteps = [2]\n",
            ["the group of 8 nets", "GiB"],
        ),
    ],
    ids=["bce-on-10-classes", "width-1e7", "wide-population"],
)
def test_a_sweep_its_data_cannot_train_writes_nothing(tmp_path, capsys, toml, fragments):
    path, db = tmp_path / "d.toml", tmp_path / "d.sqlite"
    path.write_text('name = "d"\ndataset = "digits"\n' + toml)
    assert _quiet(["sweep", str(path), "--store", str(db)]) == 2
    _one_line_error(capsys, "jaxnet sweep: error: d: ", *fragments)
    assert not db.exists()  # no store, no empty sweep row


def test_group_memory_estimate_grows_with_members_width_and_rows():
    prepared = sweep.Prepared({"train": (np.zeros((100, 3)), np.zeros(100))}, "regression", 3, 1)
    base = {
        "hidden": [8],
        "activation": "relu",
        "bias": True,
        "output_activation": "identity",
        "init": "auto",
        "steps": 100,
        "eval_every": 10,
        "batch_size": 0,
    }
    one = group_bytes([base], prepared)
    loop = 4 * 10 + 8 * 100  # full batch: no row orders; a chunk's losses and the history
    assert one == 4 * (6 * (3 * 8 + 8 + 8 + 1) + 3 * 100 * 9) + loop
    assert group_bytes([base] * 5, prepared) == 5 * one
    minibatch = group_bytes([{**base, "batch_size": 10}], prepared)
    assert minibatch == one + 20 * 10 * 10  # a chunk's row orders: 20 bytes per index


# --- the command line: learning rates, seeds, --top --------------------------------------------


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (
            ["tutorial", "--lr", "-1", "--steps", "3"],
            "--lr must be a positive finite number; got -1",
        ),
        (
            ["tutorial", "--lr", "nan", "--steps", "3"],
            "--lr must be a positive finite number; got nan",
        ),
        (
            ["tutorial", "--lr", "0", "--steps", "3"],
            "--lr must be a positive finite number; got 0.0",
        ),
        (["train", "--dataset", "xor", "--lr", "-0.1", "--steps", "3"], "--lr must be a positive"),
        (
            ["train", "--dataset", "xor", "--lr", "inf", "--steps", "3"],
            "--lr must be a positive finite number; got inf",
        ),
        (
            ["train", "--dataset", "xor", "--data-seed", "-1"],
            "--data-seed must be a non-negative int",
        ),
        (
            ["tutorial", "--steps", "-5"],
            "--steps must be a positive int (at most 2147483647 = 2**31 - 1); got -5",
        ),
        (["train", "--dataset", "xor", "--steps", "0"], "--steps must be a positive int"),
        (
            ["train", "--dataset", "xor", "--patience", "0"],
            "--patience must be a positive int",
        ),
        (
            ["train", "--dataset", "xor", "--hidden", "10000000"],
            "a 2-10000000-2 net would need about 31.3 GiB",
        ),
        (["train", "--dataset", "xor", "--hidden", "40000,40000"], "2-40000-40000-2 net would"),
        (
            ["runs", "x.sqlite", "--top", "-1"],
            "--top must be a positive int (at most 2147483647 = 2**31 - 1); got -1",
        ),
        (
            ["runs", "x.sqlite", "--top", "0"],
            "--top must be a positive int (at most 2147483647 = 2**31 - 1); got 0",
        ),
        (["sweep", "x.toml", "--top", "-1"], "--top must be a positive int"),
    ],
)
def test_bad_flags_are_one_line_errors_naming_the_flag(tmp_path, capsys, argv, fragment):
    out = ["--out", str(tmp_path / "m.jaxnet")] if argv[0] in ("tutorial", "train") else []
    assert _quiet([*argv, *out]) == 2
    _one_line_error(capsys, f"jaxnet {argv[0]}: error: ", fragment)
    assert not (tmp_path / "m.jaxnet").exists()


# --- divergence: exit non-zero, never replace a checkpoint; predict refuses NaN params ------

DIVERGES = ["train", "--dataset", "tutorial", "--optimizer", "sgd", "--lr", "100", "--steps", "20"]


def test_a_diverged_train_exits_nonzero_and_keeps_the_existing_checkpoint(tmp_path, capsys):
    out = tmp_path / "m.jaxnet"
    out.write_bytes(b"an earlier, good model")
    assert _quiet([*DIVERGES, "--out", str(out)]) == 1
    _one_line_error(
        capsys, "jaxnet train: error: diverged at step", "not written", "--save-diverged"
    )
    assert out.read_bytes() == b"an earlier, good model" and os.listdir(tmp_path) == ["m.jaxnet"]
    assert _quiet([*DIVERGES, "--out", str(out), "--save-diverged"]) == 1
    _one_line_error(capsys, "its last finite params are in", "m.diverged.jaxnet")
    assert out.read_bytes() == b"an earlier, good model"
    kept = checkpoint.load(tmp_path / "m.diverged.jaxnet")
    assert kept.config["history"]["status"] == "diverged"
    assert all(np.isfinite(leaf).all() for layer in kept.params for leaf in layer.values())
    assert (tmp_path / "m.diverged.loss.png").exists()


def test_a_diverged_tutorial_keeps_the_existing_checkpoint(tmp_path, capsys, monkeypatch):
    # The tutorial's saturating sigmoids did not diverge at any learning rate tried, so the
    # divergence is forced: the real fit, reported as diverged.
    import dataclasses

    from jaxnet import train

    fit = train.fit

    def diverged_fit(*args, **kwargs):
        params, history = fit(*args, **kwargs)
        return params, dataclasses.replace(history, status="diverged", message="diverged at 3")

    monkeypatch.setattr(train, "fit", diverged_fit)
    out = tmp_path / "t.jaxnet"
    out.write_bytes(b"good")
    assert _quiet(["tutorial", "--steps", "5", "--out", str(out)]) == 1
    _one_line_error(capsys, "jaxnet tutorial: error: diverged at 3; ", "not written")
    assert out.read_bytes() == b"good"


def test_predict_refuses_a_checkpoint_with_non_finite_params(tmp_path, capsys):
    net = jn.MLP((2, 3, 1))
    params = [{k: np.asarray(v) for k, v in layer.items()} for layer in jn.init(net, jax_key())]
    params[1]["w"] = params[1]["w"].copy()
    params[1]["w"][0, 0] = np.nan
    path = checkpoint.save(tmp_path / "nan.jaxnet", net, params, config={"task": "regression"})
    assert main(["predict", str(path), "--input", "1,2"]) == 2
    _one_line_error(capsys, "nan.jaxnet holds non-finite params (params[1]['w'])", "diverged")


def jax_key():
    import jax

    return jax.random.key(0)


# --- checkpoints: a zip bomb is refused before it is decompressed; no pickle hint ----------


def _bomb(path: Path, megabytes: int) -> None:
    """A checkpoint whose w entry inflates to ``megabytes`` of zeros from about 1/1000 of it."""
    net = jn.MLP((3, 5, 2))
    good = tmp = path.with_name("good.jaxnet")
    params = [{k: np.asarray(v) for k, v in layer.items()} for layer in jn.init(net, jax_key())]
    checkpoint.save(tmp, net, params)
    n = megabytes * 2**20 // 4
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (n,)}
    )
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != "params.0.w.npy":
                dst.writestr(info.filename, src.read(info))
                continue
            entry = zipfile.ZipInfo("params.0.w.npy")
            entry.compress_type = zipfile.ZIP_DEFLATED
            with dst.open(entry, "w", force_zip64=True) as f:
                f.write(header.getvalue())
                chunk = bytes(2**20)
                for _ in range(megabytes):
                    f.write(chunk)
    good.unlink()


def test_a_zip_bomb_checkpoint_is_refused_before_decompressing(tmp_path):
    path = tmp_path / "bomb.jaxnet"
    _bomb(path, 64)
    assert path.stat().st_size < 2**20 // 4  # 64 MB of zeros in under 256 kB
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            checkpoint.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MiB allocated while refusing"
    assert "bomb.jaxnet" in str(info.value) and "declare" in str(info.value)


def _entries(path: Path) -> dict:
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _zip(path: Path, entries: dict) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)


def test_entries_larger_than_the_spec_allows_are_refused_unread(tmp_path):
    net = jn.MLP((3, 5, 2))
    params = [{k: np.asarray(v) for k, v in layer.items()} for layer in jn.init(net, jax_key())]
    path = checkpoint.save(tmp_path / "m.jaxnet", net, params)
    entries = _entries(path)
    for shape, fragment in (((300, 5), "has shape \\[300, 5\\]"), ((30000, 5), "declares")):
        big = io.BytesIO()
        np.save(big, np.zeros(shape, np.float32))  # listed and specified as (3, 5)
        _zip(path, {**entries, "params.0.w.npy": big.getvalue()})
        with pytest.raises(
            ValueError, match=f"m.jaxnet is corrupted: entry 'params.0.w' {fragment}"
        ):
            checkpoint.load(path)
    meta = json.loads(np.load(io.BytesIO(entries["metadata.npy"])).tobytes())
    meta["arrays"]["params.0.w"]["shape"] = [30000, 50000]  # a listing that lies about the spec
    text = io.BytesIO()
    np.save(text, np.frombuffer(json.dumps(meta).encode(), np.uint8))
    _zip(path, {**entries, "metadata.npy": text.getvalue()})
    with pytest.raises(ValueError, match=r"params do not match the spec \(3, 5, 2\)"):
        checkpoint.load(path)


def test_a_checkpoint_with_its_first_byte_flipped_never_mentions_pickle(tmp_path):
    net = jn.MLP((3, 5, 2))
    params = [{k: np.asarray(v) for k, v in layer.items()} for layer in jn.init(net, jax_key())]
    path = checkpoint.save(tmp_path / "m.jaxnet", net, params)
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError) as info:
        checkpoint.load(path)
    assert "m.jaxnet is corrupted" in str(info.value) and "pickle" not in str(info.value)


# --- figures are written atomically; orphans of a killed save are removed ------------------


def _history():
    return types.SimpleNamespace(
        loss=np.linspace(1.0, 0.1, 50), val_loss=np.array([0.5]), eval_step=np.array([49])
    )


def test_a_figure_save_killed_midway_leaves_the_old_png(tmp_path, monkeypatch):
    png = plots.loss_curve(_history(), tmp_path / "m.loss.png")
    old = png.read_bytes()

    def killed(self, f, **kwargs):
        f.write(b"\x89PNG half a figure")
        raise KeyboardInterrupt

    monkeypatch.setattr(plots.Figure, "savefig", killed)
    with pytest.raises(KeyboardInterrupt):
        plots.loss_curve(_history(), png)
    assert png.read_bytes() == old and os.listdir(tmp_path) == ["m.loss.png"]


def test_orphan_temp_files_of_killed_saves_are_removed_on_the_next_save(tmp_path):
    png, ck = tmp_path / "m.loss.png", tmp_path / "m.jaxnet"
    dead = 2**22 + 12345  # above Linux's pid_max: no such process
    orphans = [
        tmp_path / f".m.loss.png.{dead}.0123456789ab.tmp",
        tmp_path / f".m.jaxnet.{dead}.0123456789ab.tmp",
        tmp_path / ".m.jaxnet.0123456789ab.tmp",  # the name checkpoints used before
    ]
    live = tmp_path / f".m.jaxnet.{os.getpid()}.ba9876543210.tmp"  # a save still running
    other = tmp_path / f".other.jaxnet.{dead}.0123456789ab.tmp"  # another file's
    for p in (*orphans, live, other):
        p.write_bytes(b"half")
    plots.loss_curve(_history(), png)
    net = jn.MLP((2, 1))
    checkpoint.save(ck, net, [{k: np.asarray(v) for k, v in jn.init(net, jax_key())[0].items()}])
    assert not any(p.exists() for p in orphans)
    assert live.exists() and other.exists()
    assert _atomic.remove_orphans(ck) == []
