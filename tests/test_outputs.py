"""Results out of a store: jaxnet.sweep.results (pandas or dicts), `jaxnet runs --format
csv|json|jsonl`, `jaxnet export --tensorboard` read back by TensorBoard's own reader.

The stores here are written row by row (no training): two sweeps, one with a diverged run
whose metrics are missing and whose curve ends in NaN, one regression run without accuracies.
"""

import importlib
import io
import json
import math
import sys

import numpy as np
import pytest
from helpers import fake_row, run_cli

from jaxnet import store, sweep
from jaxnet.cli import main

pandas = pytest.importorskip("pandas")

SPEC = 'name = "{name}"\ndataset = "xor"\n[grid]\nwidth = [8]\n'


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "s.sqlite"
    with store.opened(path) as conn:
        a = store.add_sweep(conn, "alpha", SPEC.format(name="alpha"), "h1")
        b = store.add_sweep(conn, "beta", SPEC.format(name="beta"), "h2")
        curve = store.encode_floats([0.9, 0.30000001, float("nan")])
        rows_a = [
            fake_row("a" * 32, learning_rate=0.1, seed=0),
            fake_row(
                "b" * 32, status="diverged", best_val_loss=None, final_val_loss=None,
                train_loss=None, best_step=None, curve=curve, curve_stride=20, learning_rate=3.0,
            ),
        ]  # fmt: skip
        rows_b = [
            fake_row(
                "c" * 32, train_accuracy=None, final_val_accuracy=None, best_val_accuracy=None,
                test_accuracy=None, hidden="16-8", width=None, depth=2, learning_rate=2**-30,
            )
        ]  # fmt: skip
        store.insert_runs(conn, a, rows_a)
        store.insert_runs(conn, b, rows_b)
    return path


def _normal(frame):
    """Every value as Python sees it, missing as None, for comparing across formats."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def test_the_dataframe_rows_equal_jaxnet_runs_format_csv(db):
    frame = sweep.results(db)
    rc, text = run_cli(["runs", str(db), "--format", "csv"])
    assert rc == 0 and list(frame.columns[:-2]) == text.splitlines()[0].split(",")
    texts = {c: str for c, kind in store.RUN_COLUMNS.items() if kind.startswith("TEXT")}
    from_csv = pandas.read_csv(  # CSV has no types: text columns read as text ("0.0" too)
        io.StringIO(text), keep_default_na=False, na_values=[""], dtype={"sweep": str, **texts}
    )
    assert _normal(frame[list(from_csv.columns)]) == _normal(from_csv)
    assert len(frame) == 3 and list(frame["sweep"]) == ["alpha", "alpha", "beta"]
    assert frame.loc[2, "learning_rate"] == 2**-30  # exact, as the CSV's text
    assert run_cli(["runs", str(db), "--csv"])[1] == text  # --csv: the same output


def test_results_hold_curves_and_one_sweep_and_dicts_without_pandas(db, monkeypatch):
    frame = sweep.results(db, sweep="alpha")
    assert len(frame) == 2 and set(frame["sweep"]) == {"alpha"}
    curve = frame.loc[1, "curve"]
    assert curve.dtype == np.float32 and curve[:2].tolist() == pytest.approx([0.9, 0.3])
    assert np.isnan(curve[2]) and pandas.isna(frame.loc[1, "best_val_loss"])
    monkeypatch.setitem(sys.modules, "pandas", None)
    rows = sweep.results(db, sweep="beta")
    assert isinstance(rows, list) and rows[0]["hidden"] == "16-8" and rows[0]["width"] is None
    assert list(rows[0]) == list(sweep.outputs.COLUMNS)


@pytest.mark.parametrize(
    "call, named",
    [
        (lambda db, tmp: sweep.results(db, sweep="gamma"), "no sweep 'gamma'; it has alpha, beta"),
        (lambda db, tmp: sweep.results(tmp / "none.sqlite"), "no such results store"),
        (lambda db, tmp: sweep.results(tmp), "is a directory, not a results store"),
        (lambda db, tmp: sweep.results(3), "store_path must be a results store's path; got 3"),
        (lambda db, tmp: sweep.results(""), "store_path must be"),
        (lambda db, tmp: sweep.results(db, sweep=5), "sweep must be a sweep's name"),
        (lambda db, tmp: sweep.export_tensorboard(None, tmp / "t"), "store_path must be"),
        (lambda db, tmp: sweep.export_tensorboard(db, 7), "out_dir must be a folder's path"),
        (lambda db, tmp: sweep.export_tensorboard(db, tmp / "t", ["alpha"]), "sweep must be"),
    ],
)
def test_results_refuse_what_is_not_there_in_one_line(db, tmp_path, call, named):
    with pytest.raises((ValueError, TypeError)) as info:
        call(db, tmp_path)
    assert named in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "none.sqlite").exists() and not (tmp_path / "t").exists()


def test_json_and_jsonl_hold_configs_curves_and_nulls(db):
    rc, text = run_cli(["runs", str(db), "--format", "json"])
    rows = json.loads(text)
    rc2, lines = run_cli(["runs", str(db), "--format", "jsonl", "--sweep", "alpha"])
    assert rc == rc2 == 0 and [json.loads(line) for line in lines.splitlines()] == rows[:2]
    diverged = rows[1]
    assert diverged["curve"] == [0.9, 0.3, None]  # float32 as its shortest text; NaN -> null
    assert diverged["best_val_loss"] is None and diverged["config"] == {"hidden": [8], "seed": 0}
    assert rows[2]["learning_rate"] == 2**-30 and "NaN" not in text


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--csv", "--format", "json"], "--csv means --format csv"),
        (["--sweep", "alpha"], "--sweep goes with --format"),
        (["--format", "csv", "--sweep", "gamma"], "no sweep 'gamma'"),
        (["--format", "xml"], "invalid choice"),
    ],
)
def test_jaxnet_runs_refuses_bad_formats_in_one_line(db, capsys, argv, named):
    try:
        rc = run_cli(["runs", str(db), *argv])[0]
    except SystemExit as e:  # argparse's own refusal
        rc = e.code
    err = capsys.readouterr().err.strip()
    assert rc == 2 and named in err and "\n" not in err


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_jaxnet_runs_with_stdout_closed_says_so_in_one_line(db, capsys, monkeypatch, fmt):
    monkeypatch.setattr(sys, "stdout", None)  # what Python sets when started with `>&-`
    assert main(["runs", str(db), "--format", fmt]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == "jaxnet runs: error: standard output is closed (e.g. >&-): there is nowhere to print the result"
    )  # noqa: E501


# --- TensorBoard ------------------------------------------------------------------------------


def _read(folder):
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = ea.EventAccumulator(str(folder), size_guidance={ea.SCALARS: 0})
    acc.Reload()
    scalars = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    content = acc.PluginTagToContent("hparams")
    data = {tag: plugin_data_pb2.HParamsPluginData.FromString(c) for tag, c in content.items()}
    return scalars, data


def test_an_export_read_back_by_tensorboard_holds_the_curves_and_hparams(db, tmp_path):
    pytest.importorskip("tensorboardX")
    pytest.importorskip("tensorboard")
    out = tmp_path / "tb"
    rc, text = run_cli(["export", str(db), "--tensorboard", str(out)])
    assert rc == 0 and "wrote 3 TensorBoard runs of 2 sweeps" in text
    runs = sorted(p.name for p in (out / "alpha").iterdir() if p.is_dir())
    assert runs == ["aaaaaaaa_8_tanh_lr0.1_s0", "bbbbbbbb_8_tanh_lr3_s0"]
    scalars, data = _read(out / "alpha" / runs[1])
    assert scalars["loss/train"] == [(20, pytest.approx(0.9)), (40, pytest.approx(0.3))]  # no NaN
    assert scalars["loss/validation"] == [(25, pytest.approx(0.3)), (50, pytest.approx(0.2))]
    assert "hparams/best_val_loss" not in scalars and "hparams/test_accuracy" in scalars
    start = data["_hparams_/session_start_info"].session_start_info.hparams
    assert start["learning_rate"].number_value == 3.0 and start["status"].string_value == "diverged"
    _, root = _read(out / "alpha")  # the experiment: every hparam and metric of the sweep
    experiment = root["_hparams_/experiment"].experiment
    assert {h.name for h in experiment.hparam_infos} >= {"learning_rate", "hidden", "status"}
    assert "hparams/best_val_loss" in {m.name.tag for m in experiment.metric_infos}
    beta = _read(out / "beta" / next((out / "beta").glob("cccc*")))[1]
    assert "width" not in beta["_hparams_/session_start_info"].session_start_info.hparams


def test_an_export_refuses_a_used_folder_and_a_missing_extra_in_one_line(
    db, tmp_path, capsys, monkeypatch
):
    used = tmp_path / "used"
    used.mkdir()
    (used / "mine.txt").write_text("keep me")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        (["--tensorboard", str(used)], "is not empty"),
        (["--tensorboard", str(a_file)], "is not a folder"),
        (["--tensorboard", ""], "--tensorboard needs a folder; got an empty path"),
        (["--tensorboard", str(tmp_path / "n"), "--sweep", "gamma"], "no sweep 'gamma'"),
    ]
    for argv, named in cases:
        assert run_cli(["export", str(db), *argv])[0] == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("jaxnet export: error:") and named in err and "\n" not in err
    assert (used / "mine.txt").read_text() == "keep me" and not (tmp_path / "n").exists()
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    assert run_cli(["export", str(db), "--tensorboard", str(tmp_path / "m")])[0] == 2
    err = capsys.readouterr().err.strip()
    assert 'pip install "jaxnet[tensorboard]"' in err and not (tmp_path / "m").exists()


def test_an_export_that_fails_midway_leaves_no_folder(db, tmp_path, monkeypatch):
    pytest.importorskip("tensorboardX")
    tb = importlib.import_module("jaxnet.sweep.tensorboard")
    calls = []

    def failing(*args):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(*args)

    real = tb._write_run
    monkeypatch.setattr(tb, "_write_run", failing)
    with pytest.raises(OSError, match="disk full"):
        sweep.export_tensorboard(db, tmp_path / "tb")
    assert not (tmp_path / "tb").exists()  # nothing half written where the export goes
    assert not any(p.name.startswith(".tb.") for p in tmp_path.iterdir())  # nor beside it


def test_metrics_of_leave_out_what_is_missing_or_not_finite():
    row = fake_row("d" * 32, best_val_loss=math.inf, test_loss=None)
    metrics = sweep.tensorboard.metrics_of(row)
    assert "hparams/best_val_loss" not in metrics and "hparams/test_loss" not in metrics
    assert metrics["hparams/train_loss"] == 0.1
