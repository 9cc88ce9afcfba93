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


RANDOM_SPEC = """
name = "rnd"
dataset = "digits"
metric = "best_val_accuracy"
[grid]
seed = [0, 1]
[random]
n = 10
learning_rate = {log_uniform = [1e-4, 1e-1]}
batch_size = [32, 64]
"""


def _rows_of(text: str, accuracy) -> list[dict]:
    """Made-up rows of every config of a sweep file; ``accuracy(config)`` is each one's."""
    spec = sweep.parse(text)
    rows = []
    for c in sweep.expand(spec, "classification"):
        h = c["hidden"]
        rows.append(
            fake_row(
                sweep.config_id(spec.name, c),
                config=sweep.canonical(c),
                hidden="-".join(map(str, h)),
                depth=len(h),
                width=h[0] if len(set(h)) == 1 else None,
                learning_rate=c["learning_rate"],
                batch_size=c["batch_size"],
                seed=c["seed"],
                activation=c["activation"],
                best_val_accuracy=accuracy(c),
            )
        )
    return rows


def _peaked(c) -> float:
    """Best near lr 0.008 and at batch 64, as in the sweep a newcomer ran."""
    return 0.9 - 0.05 * abs(np.log10(c["learning_rate"]) + 2.1) + 0.01 * (c["batch_size"] == 64)


def _draw_capturing(tmp_path, monkeypatch, text, rows, draw=()) -> dict:
    """draw_figures on a store of ``rows``, recording what each plot function was given (and
    drawing only the figures named in ``draw``)."""
    from jaxnet import plots

    db = tmp_path / "f.sqlite"
    with store.opened(db) as conn:
        store.insert_runs(conn, store.add_sweep(conn, sweep.parse(text).name, text, "h"), rows)
    calls = {}
    for name in (
        "lr_scatter",
        "lr_sensitivity",
        "sweep_heatmap",
        "seed_band_curves",
        "params_scatter",
    ):
        real = getattr(plots, name) if name in draw else None

        def record(*args, _real=real, _name=name, **kwargs):
            calls[_name] = (args, kwargs)
            return _real(*args, **kwargs) if _real else args[1]

        monkeypatch.setattr(plots, name, record)
    calls["paths"] = sweep.draw_figures(db, tmp_path / "out")
    return calls


def test_random_learning_rates_are_a_point_per_setting_with_the_best_marked(tmp_path, monkeypatch):
    rows = _rows_of(RANDOM_SPEC, _peaked)
    calls = _draw_capturing(tmp_path, monkeypatch, RANDOM_SPEC, rows, draw=("lr_scatter",))
    assert "lr_sensitivity" not in calls  # lines would hide every setting with a single rate
    (groups, path), kwargs = calls["lr_scatter"]
    settings = sweep.settings_of(rows, "best_val_accuracy")
    assert len(settings) == 10 and sum(len(lrs) for _, lrs, _ in groups) == 10  # none dropped
    shown = sorted(float(lr) for _, lrs, _ in groups for lr in lrs)
    assert shown == sorted(s["learning_rate"] for s in settings)
    assert {label for label, _, _ in groups} == {"batch 32", "batch 64"}
    assert (
        kwargs["title"]
        == "rnd (digits): 10 settings, a point each (mean over 2 seeds); colour: batch size"
    )
    best = max(settings, key=lambda s: s["mean"])
    lr, value, words = kwargs["best"]
    assert (lr, words) == (best["learning_rate"], f"best: lr {best['learning_rate']:g} batch 64")
    assert value == pytest.approx(100 * best["mean"])
    _assert_drawn(path)


def test_grid_rates_draw_lines_until_a_setting_has_one_rate(tmp_path, monkeypatch):
    calls = _draw_capturing(tmp_path, monkeypatch, SYNTHETIC_SPEC, synthetic_rows())
    (series, _), kwargs = calls["lr_sensitivity"]
    assert len(series) == 8 and "lr_scatter" not in calls
    assert kwargs["title"].startswith(
        "synthetic (digits): learning-rate sensitivity of every setting"
    )
    # one setting tried at one rate only (its lr 0.1 runs are missing): points, none hidden
    rows = [
        r
        for r in synthetic_rows()
        if not (r["hidden"] == "8" and r["activation"] == "relu" and r["learning_rate"] == 0.1)
    ]
    calls = _draw_capturing(tmp_path / "one", monkeypatch, SYNTHETIC_SPEC, rows)
    (groups, _), _ = calls["lr_scatter"]
    assert sum(len(lrs) for _, lrs, _ in groups) == 15 and "lr_sensitivity" not in calls
    # more lines than a figure holds: the title says how many of how many
    many = SYNTHETIC_SPEC.replace("depth = [1, 2]", "depth = [1, 2, 3]")
    calls = _draw_capturing(tmp_path / "many", monkeypatch, many, _rows_of(many, _peaked_grid))
    (series, _), kwargs = calls["lr_sensitivity"]
    assert len(series) == 8 and "the 8 best of 12 settings" in kwargs["title"]


def _peaked_grid(c) -> float:
    return 0.5 + 0.01 * len(c["hidden"]) + c["hidden"][0] / 1000 + c["learning_rate"]


def test_many_combinations_are_coloured_by_the_field_with_fewest_values():
    rows = _rows_of(
        RANDOM_SPEC.replace(
            "batch_size = [32, 64]", "batch_size = [16, 32, 64, 128]\nwidth = [8, 16, 32]\nn = 40"
        ).replace("n = 10\n", ""),
        _peaked,
    )
    settings = sweep.settings_of(rows, "best_val_accuracy")
    fields, groups = sweep.lr_points(settings, "best_val_accuracy")
    # 3 widths x 4 batch sizes are 12 colours, more than 10: the widths alone (3) colour it
    assert fields == ["hidden"] and [g[0] for g in groups] == ["hidden 8", "hidden 16", "hidden 32"]
    assert sum(len(lrs) for _, lrs, _ in groups) == len(settings)


def test_the_heatmap_says_how_many_settings_it_cannot_place(tmp_path, monkeypatch):
    text = SYNTHETIC_SPEC.replace(
        "depth = [1, 2]\nwidth = [8, 16]", "hidden = [[8], [16, 8], [16]]"
    )
    calls = _draw_capturing(tmp_path, monkeypatch, text, _rows_of(text, _peaked_grid))
    _, kwargs = calls["sweep_heatmap"]
    assert kwargs["title"].endswith("; 4 settings with unequal hidden widths not shown")


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
    assert out.startswith("synthetic: digits, 48 of its file's 48 configs stored (1 diverged)")
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
