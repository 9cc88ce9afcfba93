"""Reports: pooling over seeds, the ranking, the figures drawn from a store alone, the CLI."""

import json

import numpy as np
import pytest
from helpers import SYNTHETIC_SPEC, fake_row, made_up_accuracy, synthetic_rows
from matplotlib.image import imread

from jaxnet import store, sweep
from jaxnet.cli import main
from jaxnet.sweep import fields


@pytest.fixture(scope="module")
def synthetic_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "synthetic.sqlite"
    with store.opened(path) as conn:
        sweep_id = store.add_sweep(conn, "synthetic", SYNTHETIC_SPEC, "h")
        store.insert_runs(conn, sweep_id, synthetic_rows())
    return path


def test_settings_pool_seeds_and_rank_best_first():
    settings = sweep.settings_of(synthetic_rows(), "best_val_accuracy")
    assert len(settings) == 16 and all(len(s["rows"]) == 3 for s in settings)
    best = settings[0]
    assert (best["depth"], best["width"], best["activation"], best["learning_rate"]) == (
        2,
        16,
        "relu",
        0.1,
    )
    assert best["mean"] == pytest.approx(made_up_accuracy(2, 16, "relu", 0.1, 1))
    assert best["std"] == pytest.approx(np.std([-0.01, 0.0, 0.01]))
    assert sum(s["diverged"] for s in settings) == 1
    losses = sweep.settings_of(synthetic_rows(), "best_val_loss")
    assert [s["mean"] for s in losses] == sorted(s["mean"] for s in losses)  # low first


def test_the_heatmap_holds_the_best_seed_mean_of_each_cell():
    settings = sweep.settings_of(synthetic_rows(), "best_val_accuracy")
    values, depths, widths, acts = sweep.heatmap_arrays(settings, "best_val_accuracy")
    assert (depths, widths) == ([1, 2], [8, 16]) and set(acts) == {"relu", "tanh"}
    tanh = acts.index("tanh")
    assert values[tanh, 0, 1] == pytest.approx(
        100 * made_up_accuracy(1, 16, "tanh", 0.1, 1)
    )  # in %


def test_metric_labels_carry_units():
    assert sweep.metric_label("best_val_accuracy", "cross_entropy") == (
        "best validation accuracy (%)"
    )
    assert sweep.metric_label("test_loss", "cross_entropy") == "test loss (cross-entropy, nats)"
    assert "MSE" in sweep.metric_label("train_loss", "mse")


def test_the_ranked_table_lists_the_best_setting_first():
    lines = sweep.ranked_table(synthetic_rows(), "best_val_accuracy", top=3)
    assert len(lines) == 4 and "best_val_accuracy" in lines[0]
    assert lines[1].split()[:3] == ["1", "16-16", "relu"] and "%" in lines[1]


def _assert_drawn(path) -> None:
    """A PNG that is not blank: many distinct colours and some dark (text) pixels."""
    image = imread(path)[..., :3]
    assert image.shape[0] > 300 and image.shape[1] > 400
    colours = np.unique((image * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50 and image.min() < 0.2 and image.std() > 0.05


def test_report_draws_every_figure_from_the_store_alone(synthetic_store, tmp_path):
    paths = sweep.draw_figures(synthetic_store, tmp_path / "out")
    names = [p.name for p in paths]
    assert names == ["heatmap.png", "loss_curves.png", "lr_sensitivity.png", "params.png"]
    for path in paths:
        _assert_drawn(path)


def test_a_sweep_with_one_learning_rate_skips_the_sensitivity_figure(tmp_path):
    rows = [r for r in synthetic_rows() if r["learning_rate"] == 0.1]
    path = tmp_path / "one.sqlite"
    with store.opened(path) as conn:
        store.insert_runs(conn, store.add_sweep(conn, "synthetic", SYNTHETIC_SPEC, "h"), rows)
    names = [p.name for p in sweep.draw_figures(path, tmp_path / "out")]
    assert "lr_sensitivity.png" not in names and "heatmap.png" in names


def test_report_asks_which_sweep_when_the_store_holds_several(synthetic_store, tmp_path):
    path = tmp_path / "two.sqlite"
    with store.opened(path) as conn:
        for name in ("a", "b"):
            sweep_id = store.add_sweep(conn, name, SYNTHETIC_SPEC.replace("synthetic", name), name)
            store.insert_runs(conn, sweep_id, [fake_row(name + "1")])
    with pytest.raises(sweep.SweepError, match="holds a, b; choose one with --sweep"):
        sweep.draw_figures(path, tmp_path / "out")
    with pytest.raises(sweep.SweepError, match="no sweep 'c'"):
        sweep.draw_figures(path, tmp_path / "out", "c")


def test_the_old_name_report_warns_and_draws_the_figures(tmp_path):
    path = tmp_path / "two.sqlite"
    with store.opened(path) as conn:
        for name in ("a", "b"):
            store.add_sweep(conn, name, SYNTHETIC_SPEC.replace("synthetic", name), name)
    with pytest.warns(DeprecationWarning, match="renamed jaxnet.sweep.draw_figures"):
        with pytest.raises(sweep.SweepError, match="holds a, b; choose one with --sweep"):
            sweep.report(path, tmp_path / "out")  # reaches draw_figures: the same checks


def test_the_config_fields_are_listed_once_and_each_list_derives_from_it():
    regimen = (
        "dropout", "weight_decay", "grads", "lr_schedule", "lr_final", "warmup_steps", "patience",
    )  # fmt: skip
    assert fields.SETTING_KEYS == (
        "hidden", "depth", "width", "activation", "bias", "optimizer", "learning_rate",
        "batch_size", "steps", "init_scale", *regimen, "n_params",
    )  # fmt: skip
    assert fields.LABEL_KEYS == (
        "hidden", "activation", "bias", "optimizer", "learning_rate", "batch_size", "steps",
        "init_scale", *regimen,
    )  # fmt: skip
    assert fields.COPIED_KEYS == (
        "activation", "optimizer", "learning_rate", "batch_size", "steps", "seed", "init_scale",
    )  # fmt: skip
    assert fields.HEADER_ALIASES == {
        "lr": "learning_rate",
        "batch": "batch_size",
        "wd": "weight_decay",
        "schedule": "lr_schedule",
        "warmup": "warmup_steps",
        "params": "n_params",
    }
    assert all(f.key in store.RUN_COLUMNS for f in fields.FIELDS)
    words = [
        fields.legend_text(k, v) for k, v in [("learning_rate", 0.1), ("bias", 0), ("steps", 200)]
    ]
    assert words == ["lr 0.1", "no bias", "200 steps"]
    tags = [
        fields.BY_KEY[k].curve_tag(v)
        for k, v in [("hidden", "16-16"), ("bias", 1), ("learning_rate", 0.12345), ("seed", 2)]
    ]
    assert tags == ["16-16", "bias", "lr 0.123", "seed 2"]
    assert fields.BY_KEY["width"].text(None) == "-"


def test_cli_runs_lists_sweeps_and_prints_csv(synthetic_store, capsys):
    assert main(["runs", str(synthetic_store)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("synthetic: digits, 48 runs (1 diverged)")
    assert "16-16" in out.splitlines()[2]
    assert main(["runs", str(synthetic_store), "--csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 + 48 and lines[0].startswith("sweep,config_id,group_id,config,")
    assert "curve" not in lines[0].split(",")


def test_cli_report_writes_pngs_and_refuses_a_foreign_file(synthetic_store, tmp_path, capsys):
    out = tmp_path / "figs"
    assert main(["report", str(synthetic_store), "--out", str(out), "--metric", "test_loss"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == [
        "heatmap.png",
        "loss_curves.png",
        "lr_sensitivity.png",
        "params.png",
    ]
    bogus = tmp_path / "bogus.sqlite"
    bogus.write_text("not a database")
    assert main(["report", str(bogus), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bogus.sqlite is not a jaxnet results store" in err and len(err.splitlines()) == 1
    assert main(["runs", str(tmp_path / "missing.sqlite")]) == 2
    assert "no such results store" in capsys.readouterr().err


def test_stored_configs_parse_back(synthetic_store):
    with store.opened(synthetic_store, must_exist=True) as conn:
        row = store.runs(conn)[0]
    assert store.config_of(row) == json.loads(row["config"])
