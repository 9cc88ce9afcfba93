"""Rows of an earlier version of a sweep file: kept, counted and ranked apart (sweep.versions)."""

import csv
import io
import sqlite3

from helpers import fake_row

from jaxnet import store, sweep
from jaxnet.cli import main

OLD = """
name = "v"
dataset = "xor"
[grid]
width = [4, 8]
steps = [300]
seed = [0, 1]
"""
NEW = OLD.replace("steps = [300]", "steps = [2000]")
MORE_SEEDS = OLD.replace("seed = [0, 1]", "seed = [0, 1, 2]")


def _rows(spec_text: str, task: str = "classification", **overrides) -> list[dict]:
    """Made-up rows of every config of a file, with its config ids."""
    spec = sweep.parse(spec_text)
    return [
        fake_row(
            sweep.config_id(spec.name, c),
            config=sweep.canonical(c),
            group_id=f"g{c['hidden'][0]}-{c['steps']}",
            hidden=str(c["hidden"][0]),
            width=c["hidden"][0],
            steps=c["steps"],
            seed=c["seed"],
            **overrides,
        )
        for c in sweep.expand(spec, task)
    ]


def test_changing_steps_makes_rows_earlier_and_adding_a_seed_does_not():
    old = _rows(OLD)
    current, earlier = sweep.split_rows(old, sweep.parse(NEW))
    assert current == [] and earlier == old
    current, earlier = sweep.split_rows(old, sweep.parse(MORE_SEEDS))
    assert current == old and earlier == []
    # the data's task only picks the default loss: regression rows (mse) are current too
    assert sweep.split_rows(_rows(OLD, "regression"), sweep.parse(OLD))[1] == []
    assert sweep.split_rows(old, None) == (old, [])  # an unreadable spec: nothing told apart
    both = {r["config_id"] for r in old + _rows(OLD, "regression")}
    assert sweep.current_ids(sweep.parse(OLD)) == both and len(both) == 8


def _store(path, *versions) -> None:
    with store.opened(path) as conn:
        for i, (text, rows) in enumerate(versions):
            store.insert_runs(conn, store.add_sweep(conn, "v", text, f"h{i}"), rows)


def test_jaxnet_runs_ranks_the_files_rows_and_shows_earlier_ones_apart(tmp_path, capsys):
    db = tmp_path / "v.sqlite"
    # the old rows are better (they would top a mixed ranking) and have steps 300
    _store(db, (OLD, _rows(OLD, best_val_loss=0.01)), (NEW, _rows(NEW)[:3]))
    assert main(["runs", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("v: xor, 3 of its file's 4 configs stored (0 diverged)")
    apart = next(i for i, line in enumerate(out) if "no longer in the file" in line)
    assert out[apart] == (
        "  and 4 rows of configs no longer in the file (earlier versions of it), ranked apart:"
    )
    steps = [line.split()[6] for line in out if line.lstrip()[:1].isdigit()]
    first = [line.split()[6] for line in out[2:apart]]  # the current file's table
    assert first == ["2000", "2000"] and steps[len(first) :] == ["300", "300"]


def test_ctrl_c_counts_the_files_configs_and_says_what_else_the_store_holds(
    tmp_path, monkeypatch, capsys
):
    toml, db = tmp_path / "c.toml", tmp_path / "c.sqlite"
    text = 'name = "c"\ndataset = "xor"\nevals = 1\n[grid]\nhidden = [[2], [3]]\nsteps = [5]\n'
    old = text.replace("steps = [5]", "steps = [7]") + "seed = [0, 1, 2]\n"
    with store.opened(db) as conn:  # three rows of the file as it was (steps 7)
        rows = [{**r, "group_id": "old"} for r in _rows(old)][:3]
        store.insert_runs(conn, store.add_sweep(conn, "c", old, "old"), rows)
    toml.write_text(text + "batch_size = [0]\n")

    def ctrl_c(*args, **kwargs):  # as training starts: before anything of this file is stored
        raise KeyboardInterrupt

    # (not at make_engine: the engine starts before the store is opened, so a Ctrl-C there
    # leaves the store untouched, no call recorded -- issue 25's "nothing left behind")
    monkeypatch.setattr(sweep.runner, "_train", ctrl_c)
    assert main(["sweep", str(toml), "--store", str(db)]) == 130
    err = capsys.readouterr().err
    assert err == (
        f"jaxnet sweep: interrupted, 0 of the file's 2 configs stored in {db} (0 groups), "
        "rerun to resume; it also holds 3 rows of configs no longer in the file\n"
    )
    with store.opened(db, must_exist=True) as conn:  # the call was recorded, as interrupted
        assert store.call_totals(conn, "c")["calls"] == 1


def test_the_tally_of_no_store_or_a_foreign_file_is_zero_and_creates_nothing(tmp_path):
    spec = sweep.parse(OLD)
    missing, junk = tmp_path / "none.sqlite", tmp_path / "junk.sqlite"
    junk.write_bytes(b"SQLite format 3\x00 but cut short")
    for path in (missing, junk):
        tally = sweep.stored_tally(path, spec)
        assert (tally.configs, tally.stored, tally.groups, tally.earlier) == (4, 0, 0, 0)
    assert not missing.exists() and junk.read_bytes().endswith(b"cut short")
    assert tally.interrupted() == (
        f"interrupted, 0 of the file's 4 configs stored in {junk} (0 groups), rerun to resume"
    )
    db = tmp_path / "v.sqlite"
    _store(db, (OLD, _rows(OLD)[:1]), (NEW, _rows(NEW)))
    tally = sweep.stored_tally(db, sweep.parse(NEW))
    assert (tally.stored, tally.groups, tally.earlier) == (4, 2, 1)
    assert tally.interrupted().endswith("; it also holds 1 row of configs no longer in the file")
    with sqlite3.connect(db) as conn:  # stored_tally only read
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 5


def test_figures_draw_the_files_rows_only(tmp_path, monkeypatch):
    db = tmp_path / "v.sqlite"
    _store(db, (OLD, _rows(OLD, n_params=99999)), (NEW, _rows(NEW)))
    drawn = {}

    def capture(series, path, **kwargs):
        drawn["n_params"] = {int(n) for _, ns, _ in series for n in ns}
        return path

    from jaxnet import plots

    monkeypatch.setattr(plots, "params_scatter", capture)
    sweep.draw_figures(db, tmp_path / "figs")
    assert drawn["n_params"] == {42}  # fake_row's own, never the old rows' 99999


def test_the_csv_marks_each_row_as_the_files_or_an_earlier_versions(tmp_path, capsys):
    db = tmp_path / "v.sqlite"
    _store(db, (OLD, _rows(OLD)), (NEW, _rows(NEW)[:1]))
    with store.opened(db) as conn:  # a second sweep whose spec this jaxnet cannot read
        store.insert_runs(conn, store.add_sweep(conn, "x", "not toml [[", "h"), [fake_row("z")])
    assert main(["runs", str(db), "--csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    marks = [(r["sweep"], r["steps"], r["in_sweep_file"]) for r in table]
    assert marks == [("v", "300", "0")] * 4 + [("v", "2000", "1"), ("x", "50", "")]
