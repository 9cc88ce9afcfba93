"""Sweeps on the user's own data: dataset = "csv" / "npz", read like `jaxnet train --csv`."""

import sqlite3

import numpy as np
import pytest
from helpers import TINY_GRID

from jaxnet import data, sweep
from jaxnet.cli import main

GRID = TINY_GRID


def _xor_csv(path, rows=None) -> None:
    d = data.xor()
    n = len(d.y) if rows is None else rows
    lines = ["a,b,label"] + [
        f"{float(u)!r},{float(v)!r},{int(c)}" for (u, v), c in zip(d.x[:n], d.y[:n])
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _metrics(db) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT learning_rate, seed, train_loss, best_val_loss, test_accuracy FROM runs "
            "ORDER BY learning_rate, seed"
        ).fetchall()


def test_a_csv_sweep_reads_its_file_beside_the_toml_and_equals_the_built_in_dataset(
    tmp_path, capsys
):
    _xor_csv(tmp_path / "data" / "xor.csv")
    toml = tmp_path / "mine.toml"
    toml.write_text(
        'name = "mine"\ndataset = "csv"\ncsv = "data/xor.csv"\ntarget = "label"\n' + GRID
    )
    db = tmp_path / "m.sqlite"
    assert main(["sweep", str(toml), "--store", str(db)]) == 0  # run from the repository root
    assert "mine: trained 4 configs" in capsys.readouterr().out
    built_in = tmp_path / "xor.toml"
    built_in.write_text('name = "x"\ndataset = "xor"\n' + GRID)
    sweep.run(sweep.load(built_in), tmp_path / "x.sqlite", log=lambda line: None)
    assert _metrics(db) == _metrics(tmp_path / "x.sqlite")  # same reader, splits and scalers
    assert sweep.run(sweep.load(toml), db, log=lambda line: None).trained == 0  # unchanged: resumes

    _xor_csv(tmp_path / "data" / "xor.csv", rows=399)  # the file changes under the sweep
    assert main(["sweep", str(toml), "--store", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("jaxnet sweep: error: sweep 'mine': its data file changed")
        and "\n" not in err
    )
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 4  # nothing added


def test_an_npz_sweep_equals_the_built_in_dataset_and_a_regression_target_follows_the_data(
    tmp_path,
):
    d = data.xor()
    np.savez(tmp_path / "xor.npz", x=d.x, y=d.y)
    spec = sweep.parse(f'name = "n"\ndataset = "npz"\nnpz = "{tmp_path / "xor.npz"}"\n' + GRID)
    sweep.run(spec, tmp_path / "n.sqlite", log=lambda line: None)
    built_in = sweep.parse('name = "x"\ndataset = "xor"\n' + GRID)
    sweep.run(built_in, tmp_path / "x.sqlite", log=lambda line: None)
    assert _metrics(tmp_path / "n.sqlite") == _metrics(tmp_path / "x.sqlite")

    np.savez(tmp_path / "r.npz", x=d.x, y=d.x[:, 0] * 3.5)  # real-valued: regression
    prepared = sweep.prepare(
        sweep.parse(f'name = "r"\ndataset = "npz"\nnpz = "{tmp_path / "r.npz"}"\n' + GRID)
    )
    assert prepared.task == "regression" and prepared.n_outputs == 1
    assert abs(prepared.parts["train"][1].mean()) < 1e-12  # the target scaler, fitted on train
    labels = sweep.parse(
        f'name = "t"\ndataset = "npz"\nnpz = "{tmp_path / "xor.npz"}"\ntask = "regression"\n' + GRID
    )
    assert sweep.prepare(labels).task == "regression"  # task overrides the inference


@pytest.mark.parametrize(
    "keys, named",
    [
        (
            'dataset = "wine.csv"',
            "dataset must be one of tutorial, xor, spirals, moons, digits, mnist1d, csv, npz",
        ),
        ('dataset = "csv"\ntarget = "y"', "dataset = 'csv' needs csv = ..."),
        ('dataset = "csv"\ncsv = "a.csv"', "dataset = 'csv' needs target = ..."),
        ('dataset = "npz"', "dataset = 'npz' needs npz = ..."),
        ('dataset = "xor"\ncsv = "a.csv"', "csv goes with dataset = 'csv'"),
        ('dataset = "xor"\ntarget = "y"', "target goes with dataset = 'csv'"),
        ('dataset = "npz"\nnpz = "a.npz"\ntarget = "y"', "target goes with dataset = 'csv'"),
        ('dataset = "npz"\nnpz = "a.npz"\ncsv = "a.csv"', "csv goes with dataset = 'csv'"),
        ('dataset = "xor"\ntask = "regression"', "task goes with dataset = 'csv' or 'npz'"),
        ('dataset = "csv"\ncsv = "a.csv"\ntarget = "y"\ntask = "ranking"', "task must be one of"),
        ('dataset = "csv"\ncsv = 3\ntarget = "y"', "csv must be a string"),
    ],
)
def test_file_dataset_keys_are_checked_before_any_work(keys, named):
    with pytest.raises(sweep.SweepError, match=named.replace("(", r"\(")):
        sweep.parse(f'name = "f"\n{keys}\n' + GRID)


def _npz(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return path


GOOD_X = np.arange(8.0).reshape(4, 2)


@pytest.mark.parametrize(
    "arrays, named",
    [
        ({"x": GOOD_X}, "lacks array(s) y; it has x"),
        ({"x": GOOD_X.ravel(), "y": np.arange(8)}, "x must be a numeric (rows, features) array"),
        ({"x": np.zeros((0, 2)), "y": np.zeros(0)}, "x must be a numeric (rows, features) array"),
        ({"x": GOOD_X, "y": np.array([0, 1, 0])}, "y must have shape (4,) to match x"),
        ({"x": GOOD_X, "y": np.zeros((4, 1))}, "y must have shape (4,) to match x"),
        (
            {"x": np.where(GOOD_X > 6, np.nan, GOOD_X), "y": np.array([0, 1, 0, 1])},
            "x holds non-finite",
        ),
        ({"x": GOOD_X, "y": np.array([0.5, np.inf, 1, 2])}, "y holds non-finite"),
        ({"x": GOOD_X, "y": np.array([3, 3, 3, 3])}, "y has a single value 3; need two classes"),
        ({"x": GOOD_X.astype(str), "y": np.array([0, 1, 0, 1])}, "x must be a numeric"),
        (
            {"x": np.array([[1, "a"]] * 4, dtype=object), "y": np.array([0, 1, 0, 1])},
            "x and y must be plain numeric arrays",
        ),
    ],
)
def test_bad_npz_files_are_refused_naming_the_file_and_the_fault(tmp_path, arrays, named):
    path = _npz(tmp_path, **arrays)
    with pytest.raises(ValueError, match=named.replace("(", r"\(").replace(")", r"\)")) as e:
        data.read_npz(path)
    assert str(path) in str(e.value)


def test_npz_files_that_are_not_archives_or_hold_text_labels(tmp_path):
    np.save(tmp_path / "one.npy", GOOD_X)
    with pytest.raises(ValueError, match="holds one .npy array"):
        data.read_npz(tmp_path / "one.npy")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="is not an .npz file"):
        data.read_npz(tmp_path / "junk.npz")
    with pytest.raises(OSError, match="cannot read"):
        data.read_npz(tmp_path / "missing.npz")
    path = _npz(tmp_path, x=GOOD_X, y=np.array(["cat", "dog", "cat", "dog"]))
    d = data.read_npz(path)
    assert d.task == "classification" and d.classes == ("cat", "dog") and list(d.y) == [0, 1, 0, 1]
    with pytest.raises(ValueError, match="regression needs numbers"):
        data.read_npz(path, task="regression")


def test_a_missing_csv_is_one_line_from_the_cli(tmp_path, capsys):
    toml = tmp_path / "gone.toml"
    toml.write_text('name = "g"\ndataset = "csv"\ncsv = "nowhere.csv"\ntarget = "y"\n' + GRID)
    assert main(["sweep", str(toml), "--store", str(tmp_path / "g.sqlite")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jaxnet sweep: error: cannot read") and "nowhere.csv" in err
    assert "\n" not in err


# --- issue 25: sweep files and data files that are not what they claim -------------------------


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x7fELF\x02\x01\x01\x00" + bytes(range(128)), "is not a sweep file: it holds NUL bytes"),
        (b'name = "x"\n\xd0\xcf\x11\xe0', "is not a sweep file: not UTF-8 text (byte 11 is 0xd0)"),
    ],
)
def test_a_binary_sweep_file_is_named_as_such(tmp_path, capsys, content, message):
    path = tmp_path / "bin.toml"
    path.write_bytes(content)
    assert main(["sweep", str(path), "--store", str(tmp_path / "s.sqlite")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "error: utf-8" not in err
    assert not (tmp_path / "s.sqlite").exists()


def test_a_sweep_file_or_a_data_file_that_is_a_device_or_fifo_is_refused_unread(tmp_path, capsys):
    import os

    os.mkfifo(tmp_path / "pipe")
    for argv in (["/dev/zero"], [str(tmp_path / "pipe")]):
        assert main(["sweep", *argv, "--store", str(tmp_path / "s.sqlite")]) == 2
        assert "not a regular file" in capsys.readouterr().err
    for source in ("/dev/zero", str(tmp_path / "pipe")):
        toml = tmp_path / "dev.toml"
        toml.write_text(f'name = "d"\ndataset = "csv"\ncsv = "{source}"\ntarget = "y"\n' + GRID)
        assert main(["sweep", str(toml), "--store", str(tmp_path / "s.sqlite")]) == 2
        assert "cannot read CSV file" in capsys.readouterr().err
    assert not (tmp_path / "s.sqlite").exists()


def test_a_csv_cell_beyond_float32_is_named_by_line_and_a_tiny_file_by_its_key(tmp_path, capsys):
    _xor_csv(tmp_path / "xor.csv")
    lines = (tmp_path / "xor.csv").read_text().splitlines()
    lines[7] = "1e39," + lines[7].split(",", 1)[1]
    (tmp_path / "xor.csv").write_text("\n".join(lines) + "\n")
    toml = tmp_path / "big.toml"
    toml.write_text('name = "b"\ndataset = "csv"\ncsv = "xor.csv"\ntarget = "label"\n'
                    'scaler = "none"\n' + GRID)  # fmt: skip
    assert main(["sweep", str(toml), "--store", str(tmp_path / "s.sqlite")]) == 2
    err = capsys.readouterr().err
    assert "xor.csv line 8, column 'a': 1e+39 is beyond the range of float32" in err
    assert "does not fit" not in err and "index" not in err
    (tmp_path / "two.csv").write_text("a,label\n1,0\n2,1\n")
    toml.write_text('name = "t"\ndataset = "csv"\ncsv = "two.csv"\ntarget = "label"\n' + GRID)
    assert main(["sweep", str(toml), "--store", str(tmp_path / "s.sqlite")]) == 2
    err = capsys.readouterr().err
    assert "two.csv: test_fraction 0.2 of 2 rows leaves the test set" in err
    assert "np.float64" not in err and err.count("\n") == 1
    assert not (tmp_path / "s.sqlite").exists()
