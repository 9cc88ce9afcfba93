"""A sweep's name is bound to its data (issue 25, 2 and 3): one dataset per name in a store,
and a data file changed under a running sweep is never mixed into it.

The identity is recorded when a sweep opens, checked before each claim and again in the
transaction that stores each group, so a process that read the old file stops when another
process started the sweep on the new one.
"""

import re
import sqlite3

import pytest
from helpers import TINY_GRID, fake_row

from jaxnet import data, store, sweep
from jaxnet.cli import main
from jaxnet.sweep import driver, engines

GRID = TINY_GRID


def _csv(path, nudge: float = 0.0) -> None:
    """XOR as a CSV file; ``nudge`` changes its first cell: another file of the same shape."""
    d = data.xor()
    x = d.x.copy()
    x[0, 0] += nudge
    lines = ["a,b,label"] + [f"{float(u)!r},{float(v)!r},{int(c)}" for (u, v), c in zip(x, d.y)]
    path.write_text("\n".join(lines) + "\n")


def _csv_sweep(tmp_path, name="mine"):
    toml = tmp_path / f"{name}.toml"
    toml.write_text(f'name = "{name}"\ndataset = "csv"\ncsv = "xor.csv"\ntarget = "label"\n' + GRID)
    return toml


def _table(db, sql):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_a_file_changed_while_a_sweep_trains_is_never_mixed_into_it(tmp_path, monkeypatch):
    """A reads the file; B starts on the changed file before A stores anything: A's group is
    refused at its commit, B's rows are the sweep's only rows, and the store names B's data."""
    _csv(tmp_path / "xor.csv")
    toml, db = _csv_sweep(tmp_path), tmp_path / "s.sqlite"
    spec = sweep.load(toml)
    original = engines.train_group

    def a_trains_while_b_starts(*args):
        result = original(*args)  # A's group is trained on the file as A read it ...
        _csv(tmp_path / "xor.csv", nudge=0.5)  # ... the file changes, and B opens the sweep on it
        with store.opened(db) as conn:
            driver.open_sweep(conn, sweep.preflight(sweep.load(toml)))
        return result

    monkeypatch.setattr(engines, "train_group", a_trains_while_b_starts)
    with pytest.raises(sweep.SweepError, match="another process started it on other data"):
        sweep.run(spec, db, log=lambda line: None)
    assert _table(db, "SELECT count(*) FROM runs") == [(0,)]  # nothing of A's is stored
    monkeypatch.setattr(engines, "train_group", original)
    b = sweep.run(sweep.load(toml), db, log=lambda line: None)  # B trains the new file
    assert b.trained == 4
    (identity,) = _table(db, "SELECT identity FROM data_files")[0]
    assert identity == sweep.preflight(sweep.load(toml)).prepared.identity
    assert _table(db, "SELECT count(*), count(DISTINCT config_id) FROM runs") == [(4, 4)]


def test_a_search_whose_file_changed_stores_no_segment_of_the_old_data(tmp_path, monkeypatch):
    from jaxnet.sweep.search import loop

    _csv(tmp_path / "xor.csv")
    toml, db = _csv_sweep(tmp_path, "found"), tmp_path / "s.sqlite"
    toml.write_text(
        toml.read_text().replace("hidden = [[7]]", "hidden = [[3]]").replace("[30]", "[36]")
        + '[search]\nmethod = "halving"\nmin_steps = 12\nfactor = 3\n'
    )
    original = loop.train_segment

    def a_trains_while_b_starts(*args):
        result = original(*args)
        _csv(tmp_path / "xor.csv", nudge=0.5)
        with store.opened(db) as conn:
            driver.open_sweep(conn, sweep.preflight(sweep.load(toml)))
        return result

    monkeypatch.setattr(loop, "train_segment", a_trains_while_b_starts)
    with pytest.raises(sweep.SweepError, match="another process started it on other data"):
        sweep.run(sweep.load(toml), db, log=lambda line: None)
    assert _table(db, "SELECT count(*) FROM runs") == [(0,)]
    tables = {t for (t,) in _table(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table in tables & {"rung_results", "member_states", "lineage"}:
        assert _table(db, f"SELECT count(*) FROM {table}") == [(0,)], table


def test_a_process_whose_data_was_replaced_stops_before_it_claims(tmp_path):
    _csv(tmp_path / "xor.csv")
    toml, db = _csv_sweep(tmp_path), tmp_path / "s.sqlite"
    plan_a = sweep.preflight(sweep.load(toml))
    _csv(tmp_path / "xor.csv", nudge=0.5)
    plan_b = sweep.preflight(sweep.load(toml))
    submitted = []

    class Engine(engines.InProcess):
        def submit(self, index, configs):
            submitted.append(index)
            super().submit(index, configs)

    with store.opened(db) as conn:
        opened_a = driver.open_sweep(conn, plan_a)
        driver.open_sweep(conn, plan_b)  # B starts: no rows yet, its data is recorded
        leases = driver.Leases(conn, db, 60)
        with pytest.raises(sweep.SweepError, match="this process read csv sha256="):
            driver.drive(
                conn, opened_a, "mine", Engine("mine", plan_a.prepared, 10), leases,
                retries=0, log=lambda line: None, bar=_Bar(),
            )  # fmt: skip
        assert submitted == [] and store.claim_holder(conn, "mine", opened_a.claims[0]) is None


class _Bar:
    def update(self, n): ...
    def set_description(self, text): ...
    def external_write_mode(self):
        import contextlib

        return contextlib.nullcontext()


@pytest.mark.parametrize(
    "second, stored, now",
    [
        ('dataset = "moons"', "builtin xor", "builtin moons"),
        ('dataset = "csv"\ncsv = "xor.csv"\ntarget = "label"', "builtin xor", "csv sha256="),
    ],
)
def test_one_sweep_name_is_bound_to_one_dataset(tmp_path, capsys, second, stored, now):
    _csv(tmp_path / "xor.csv")
    db = tmp_path / "s.sqlite"
    first = tmp_path / "first.toml"
    first.write_text('name = "mine"\ndataset = "xor"\n' + GRID)
    assert main(["sweep", str(first), "--store", str(db)]) == 0
    capsys.readouterr()
    other = tmp_path / "other.toml"
    other.write_text(f'name = "mine"\n{second}\n' + GRID)
    sweeps_before = _table(db, "SELECT * FROM sweeps")
    assert main(["sweep", str(other), "--store", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sweep 'mine': its stored runs in" in err
    assert f"stored: {stored}; now: {now}" in err and "give this sweep a new name (e.g." in err
    assert _table(db, "SELECT * FROM sweeps") == sweeps_before  # no sweep row for the refused
    assert _table(db, "SELECT count(*) FROM runs") == [(4,)]


def test_a_csv_sweep_cannot_follow_a_built_in_one_and_the_reverse(tmp_path, capsys):
    _csv(tmp_path / "xor.csv")
    db = tmp_path / "s.sqlite"
    assert main(["sweep", str(_csv_sweep(tmp_path)), "--store", str(db)]) == 0
    built_in = tmp_path / "b.toml"
    built_in.write_text('name = "mine"\ndataset = "xor"\n' + GRID)
    assert main(["sweep", str(built_in), "--store", str(db)]) == 2
    assert "now: builtin xor" in capsys.readouterr().err


def test_a_changed_file_or_target_says_which_in_one_short_line(tmp_path, capsys):
    _csv(tmp_path / "xor.csv")
    db = tmp_path / "s.sqlite"
    toml = _csv_sweep(tmp_path)
    assert main(["sweep", str(toml), "--store", str(db)]) == 0
    capsys.readouterr()
    _csv(tmp_path / "xor.csv", nudge=0.5)
    assert main(["sweep", str(toml), "--store", str(db)]) == 2
    err = capsys.readouterr().err
    assert "its data file changed since its stored runs" in err, err
    # A digest to 12 digits, no "task=None": the 64-digit ones made a 430-character line.
    assert re.search(r"stored: csv sha256=[0-9a-f]{12} target=label; now: csv sha256=", err), err
    _csv(tmp_path / "xor.csv")  # the stored file again, another target column
    toml.write_text(toml.read_text().replace('target = "label"', 'target = "a"'))
    assert main(["sweep", str(toml), "--store", str(db)]) == 2
    err = capsys.readouterr().err
    assert "trained on the same file with another target/task" in err
    assert "data file changed" not in err


def test_a_store_written_before_identities_binds_a_name_to_its_rows_dataset(tmp_path, capsys):
    db = tmp_path / "old.sqlite"
    with store.opened(db) as conn:  # as the landed main wrote it: rows, no data_files record
        sweep_id = store.add_sweep(conn, "mine", 'name = "mine"\ndataset = "xor"\n', "h")
        store.insert_runs(conn, sweep_id, [fake_row("a", dataset="xor")])
    moons = tmp_path / "moons.toml"
    moons.write_text('name = "mine"\ndataset = "moons"\n' + GRID)
    assert main(["sweep", str(moons), "--store", str(db)]) == 2
    assert "stored: dataset xor; now: builtin moons" in capsys.readouterr().err
    assert _table(db, "SELECT count(*) FROM sweeps") == [(1,)]
    xor = tmp_path / "xor.toml"  # the same dataset resumes, and is bound from now on
    xor.write_text('name = "mine"\ndataset = "xor"\n' + GRID)
    assert main(["sweep", str(xor), "--store", str(db)]) == 0
    assert _table(db, "SELECT identity FROM data_files") == [("builtin xor",)]


@pytest.mark.slow
def test_two_real_processes_on_a_changing_file_never_both_store(tmp_path):
    """The issue's race with real processes: A starts, the file changes, B starts. Whoever
    stores first binds the sweep; the other is refused (exit 2). Never both exit 0."""
    import os
    import subprocess
    import sys

    _csv(tmp_path / "xor.csv")
    toml, db = _csv_sweep(tmp_path), tmp_path / "s.sqlite"
    toml.write_text(toml.read_text().replace("steps = [30]", "steps = [3000]"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "jaxnet.cli", "sweep", str(toml), "--store", str(db)]
    a = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert a.stdout.readline().startswith("sweep mine: csv")  # A has read the file
        old = sweep.preflight(sweep.load(toml)).prepared.identity
        _csv(tmp_path / "xor.csv", nudge=0.5)
        new = sweep.preflight(sweep.load(toml)).prepared.identity
        b = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
        a_out, a_err = a.communicate(timeout=600)
    finally:
        if a.poll() is None:
            a.kill()
    codes = {"a": a.returncode, "b": b.returncode}
    assert sorted(codes.values()) == [0, 2], (codes, a_err, b.stderr)
    winner = old if codes["a"] == 0 else new
    assert _table(db, "SELECT identity FROM data_files") == [(winner,)]
    assert _table(db, "SELECT count(*), count(DISTINCT config_id) FROM runs") == [(4, 4)]
    loser_err = a_err if codes["a"] == 2 else b.stderr
    assert "other data" in loser_err and loser_err.count("\n") == 1
