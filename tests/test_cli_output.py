"""The command line against hostile surroundings (issue 25, 5 and 8-10): a stdout that is closed
or fails, integers past int32, and refusals that leave nothing behind (no store file, no sweep
row, no training before a refusal that could have come first), and a compile cache that cannot
be used (one warning line, the run goes on)."""

import contextlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
from helpers import fake_row, run_cli

from jaxnet import compile_cache, store
from jaxnet.cli import main

ROOT = Path(__file__).resolve().parents[1]
LIMIT = "(at most 2147483647 = 2**31 - 1)"


def _one_line(capsys, *fragments) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "s.sqlite"
    with store.opened(path) as conn:
        sweep_id = store.add_sweep(conn, "s", 'name = "s"\ndataset = "xor"\n[grid]\n', "h")
        store.insert_runs(conn, sweep_id, [fake_row("a"), fake_row("b", train_loss=0.05)])
    return path


# --- stdout: closed, full, a reader gone ---------------------------------------------------------


@pytest.mark.parametrize("argv", [["runs", "{db}"], ["runs", "{db}", "--csv"]])
def test_a_closed_stdout_is_refused_before_anything_runs(db, capsys, monkeypatch, argv):
    monkeypatch.setattr(sys, "stdout", None)  # what Python makes of `>&-`
    assert main([a.format(db=db) for a in argv]) == 2
    _one_line(capsys, "jaxnet runs: error: standard output is closed")


def test_a_real_process_with_stdout_closed_exits_nonzero_with_one_line(db):
    done = subprocess.run(
        f"{sys.executable} -m jaxnet.cli runs {db} --csv >&-",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "standard output is closed" in done.stderr and "write method" not in done.stderr


@pytest.mark.parametrize("argv", [["runs", "{db}"], ["runs", "{db}", "--csv"]])
def test_a_stdout_that_fails_is_one_line_and_nonzero(db, capsys, monkeypatch, argv):
    full = open("/dev/full", "w")  # every write fails: No space left on device
    monkeypatch.setattr(sys, "stdout", full)
    try:
        assert main([a.format(db=db) for a in argv]) == 2
    finally:
        monkeypatch.undo()
        full.close = lambda: None  # its buffer cannot be flushed; do not try at close
    _one_line(capsys, "cannot write to standard output: No space left on device")


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["--version"]])
@pytest.mark.parametrize("stdout", ["closed", "full"])
def test_help_and_version_to_a_stdout_that_cannot_take_them_exit_nonzero(
    argv, stdout, capsys, monkeypatch
):
    # argparse dropped the failed write: `--help > /dev/full` exited 0 having printed nothing,
    # and `--version >&-` printed on stderr instead and exited 0.
    full = open("/dev/full", "w")
    monkeypatch.setattr(sys, "stdout", None if stdout == "closed" else full)
    try:
        with pytest.raises(SystemExit) as exited:
            main(argv)
    finally:
        monkeypatch.undo()
        full.close = lambda: None
    assert exited.value.code == 2
    why = "standard output is closed" if stdout == "closed" else "No space left on device"
    err = _one_line(capsys, why)
    assert err.startswith("jaxnet" + (" train" if "train" in argv else "") + ": error:"), err


class _Gone(io.StringIO):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_stops_reading_ends_the_command_quietly_with_141(db, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", _Gone())
    assert main(["runs", str(db), "--csv"]) == 141  # as `cat` killed by SIGPIPE
    assert capsys.readouterr().err == ""


def test_help_to_a_reader_that_stops_reading_ends_with_141(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", _Gone())
    with pytest.raises(SystemExit) as exited:
        main(["train", "--help"])
    assert exited.value.code == 141 and capsys.readouterr().err == ""


# --- integers past int32: the CLI says what the API and sweep files say -------------------------


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "--dataset", "xor", "--steps", "99999999999"], f"--steps must be a positive int {LIMIT}; got 99999999999"),
        (["train", "--dataset", "xor", "--steps", "2147483648"], "got 2147483648"),
        (["tutorial", "--steps", "99999999999"], f"--steps must be a positive int {LIMIT}"),
        (["train", "--dataset", "xor", "--seed", "1180591620717411303424"], f"--seed must be a non-negative int {LIMIT}; got 1180591620717411303424"),
        (["tutorial", "--seed", "1180591620717411303424"], "--seed must be a non-negative int"),
        (["tutorial", "--seed", "-1"], "--seed must be a non-negative int"),
        (["gradcheck", "--seed", "2147483648"], "--seed must be a non-negative int"),
        (["gradcheck", "--batch", "2147483648"], "--batch must be a positive int"),
        (["train", "--dataset", "xor", "--data-seed", "2147483648"], "--data-seed must be a non-negative int"),
        (["train", "--dataset", "xor", "--eval-every", "0"], f"--eval-every must be a positive int {LIMIT}; got 0"),
        (["train", "--dataset", "xor", "--patience", "0"], f"--patience must be a positive int {LIMIT}; got 0"),
        (["train", "--dataset", "xor", "--batch-size", "2147483648"], "--batch-size must be a non-negative int"),
        (["train", "--dataset", "xor", "--hidden", "2147483648"], "--hidden must be positive ints of at most 2147483647"),
        (["runs", "x.sqlite", "--top", "99999999999"], "--top must be a positive int"),
        (["sweep", "x.toml", "--engine", "ray", "--retries", "2147483648"], "retries must be a non-negative int"),
        (["train", "--dataset", "xor", "--steps", "2147483647"], "--steps 2147483647 with --eval-every 107374182 would need about"),
    ],
)  # fmt: skip
def test_ints_past_int32_are_one_line_naming_the_flag_and_the_limit(
    tmp_path, capsys, argv, fragment
):
    argv = [a.replace("x.sqlite", str(tmp_path / "x.sqlite")) for a in argv]
    rc, out = run_cli(argv)
    assert rc == 2 and out == ""
    _one_line(capsys, fragment)
    assert not (tmp_path / "x.sqlite").exists()


def test_a_sweep_file_says_the_same_rule(tmp_path, capsys):
    toml = tmp_path / "big.toml"
    toml.write_text('name = "b"\ndataset = "xor"\n[grid]\nsteps = [2147483648]\n')
    assert main(["sweep", str(toml), "--store", str(tmp_path / "b.sqlite")]) == 2
    _one_line(capsys, f"grid.steps must be a positive int {LIMIT}; got 2147483648")


# --- refusals leave nothing behind ---------------------------------------------------------------

TINY = 'name = "t"\ndataset = "xor"\n[grid]\nhidden = [[4]]\nsteps = [5]\n'


@pytest.fixture
def tiny(tmp_path):
    toml = tmp_path / "t.toml"
    toml.write_text(TINY)
    return toml


def test_a_missing_ray_creates_no_store_and_no_sweep_row(tmp_path, tiny, capsys, monkeypatch):
    from jaxnet.sweep import ray_engine

    def missing():
        raise ValueError("engine 'ray' needs Ray, an optional extra: pip install 'jaxnet[ray]'")

    monkeypatch.setattr(ray_engine, "_ray", missing)
    db = tmp_path / "r.sqlite"
    assert main(["sweep", str(tiny), "--store", str(db), "--engine", "ray"]) == 2
    _one_line(capsys, "needs Ray, an optional extra")
    assert not db.exists()


@pytest.mark.parametrize("address", ["nowhere", "127.0.0.1:0", "127.0.0.1:99999", "host:port"])
def test_a_malformed_ray_address_is_refused_before_ray(tmp_path, tiny, capsys, address):
    db = tmp_path / "r.sqlite"
    argv = ["sweep", str(tiny), "--store", str(db), "--engine", "ray", "--address", address]
    assert main(argv) == 2
    _one_line(capsys, "address must be 'auto', 'local' or 'HOST:PORT' with a port from 1 to 65535")
    assert not db.exists()


def test_a_ray_address_where_nothing_listens_is_one_line_within_seconds(tmp_path, tiny, capsys):
    pytest.importorskip("ray")
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = tmp_path / "r.sqlite"
    start = time.monotonic()
    argv = ["sweep", str(tiny), "--store", str(db), "--engine", "ray"]
    assert main([*argv, "--address", f"127.0.0.1:{port}"]) == 2
    assert time.monotonic() - start < 30  # not the 400 s and more of Ray's own retries
    _one_line(capsys, f"cannot join 127.0.0.1:{port}: nothing answers at 127.0.0.1:{port}")
    assert not db.exists()


@pytest.mark.parametrize("reply", [b"", b"HTTP/1.0 400 Bad Request\r\n\r\n"])
def test_a_ray_address_where_no_ray_cluster_answers_is_one_line_within_seconds(
    tmp_path, tiny, capsys, monkeypatch, reply
):
    # A port that accepts and stays silent (or a web server) made Ray retry for 44 s and print
    # three lines of its own warnings before an error that blamed token authentication.
    pytest.importorskip("ray")
    from jaxnet.sweep import ray_engine

    monkeypatch.setattr(ray_engine, "GRPC_TIMEOUT", 0.5)  # a silent port: the wait, shortened
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted = []

    def serve():
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            accepted.append(conn)
            conn.recv(64)
            conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    db = tmp_path / "r.sqlite"
    start = time.monotonic()
    try:
        argv = ["sweep", str(tiny), "--store", str(db), "--engine", "ray"]
        assert main([*argv, "--address", f"127.0.0.1:{port}"]) == 2
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
    assert time.monotonic() - start < 20
    _one_line(capsys, f"something answers at 127.0.0.1:{port} but it is no Ray cluster")
    assert not db.exists()


def test_an_unwritable_report_folder_is_refused_before_the_sweep_trains(tmp_path, tiny, capsys):
    blocker = tmp_path / "report"
    blocker.write_text("a file where the folder would go")
    db = tmp_path / "t.sqlite"
    assert main(["sweep", str(tiny), "--store", str(db), "--report", str(blocker)]) == 2
    _one_line(capsys, "--report", "is not a directory")
    assert not db.exists()


# --- the compile cache: a problem is one warning, never a refusal --------------------------------


@pytest.fixture
def restore_cache():
    before = os.environ.get("JAXNET_CACHE_DIR")
    yield
    compile_cache._warned.clear()
    compile_cache.enable(before)


@pytest.mark.parametrize("kind", ["a file", "a read-only folder"])
def test_an_unusable_cache_folder_warns_once_and_the_command_runs(
    tmp_path, capsys, monkeypatch, restore_cache, kind
):
    folder = tmp_path / "cache"
    if kind == "a file":
        folder.write_text("not a folder")
    else:
        folder.mkdir()
    monkeypatch.setenv("JAXNET_CACHE_DIR", str(folder))
    with _read_only(folder) if kind != "a file" else contextlib.nullcontext():
        rc, out = run_cli(["gradcheck", "--sizes", "2,2,1"])
        with warnings.catch_warnings(record=True) as seen:  # later calls in this process: silent
            warnings.simplefilter("always")
            assert compile_cache.enable(str(folder)) is None
    assert rc == 0 and "PASS" in out
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("jaxnet gradcheck: warning: compile cache")
    assert "running without it" in err and seen == []


@contextlib.contextmanager
def _read_only(folder: Path):
    """A folder nobody may write: chmod for a user, the immutable attribute for root."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("running as root without chattr +i: cannot make a read-only folder")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
