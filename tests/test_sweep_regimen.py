"""Every training option a sweep axis: dropout, weight_decay, grads, lr_schedule (lr_final,
warmup_steps) and a top-level patience, from the file to the stored rows and the report."""

import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from helpers import fake_row, run_cli

from jaxnet import population, store, sweep
from jaxnet.sweep import agreement, spec

ROOT = Path(__file__).resolve().parents[1]
BASE = {"name": "s", "dataset": "moons"}


def _table_keys(text: str, heading: str) -> set[str]:
    """The backquoted first-column names of the first table under ``heading``."""
    lines = text.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    return set(re.findall(r"^\| `(\w+)` \|", "\n".join(table), re.M))


def test_the_docs_list_every_axis_and_setting_the_parser_takes():
    text = (ROOT / "docs" / "sweeps.md").read_text()
    assert _table_keys(text, "## `[grid]`") == set(spec.AXIS_CHECKS)
    assert _table_keys(text, "## Top-level keys") == set(spec.SETTING_CHECKS)


def test_sweeps_without_the_new_axes_keep_their_config_ids():
    # Computed by jaxnet before these axes existed (main at b12e26e): axes at their defaults,
    # given or not, are left out of the config.
    for extra in ({}, {"dropout": [0.0], "weight_decay": [0.0], "grads": ["auto"]}):
        grid = {"width": [8], "learning_rate": [0.01], "seed": [0, 1], **extra}
        pinned = sweep.from_dict({**BASE, "name": "pinned", "grid": grid})
        configs = sweep.expand(pinned, "classification")
        ids = [sweep.config_id("pinned", c) for c in configs]
        assert ids == ["e0d3c4fe7b2cc8fc6d03bd970a397dd5", "49098fb5b3e90bd3a47b6eed8a43ea04"]


def test_rates_coefficients_and_schedule_values_share_a_group_grads_and_kinds_do_not():
    grid = {
        "dropout": [0.0, 0.2, 0.5],
        "weight_decay": [0.0, 1e-3],
        "lr_final": [0.0, 0.1],
        "warmup_steps": [10, 20],
        "grads": ["manual", "auto"],
        "lr_schedule": ["constant", "cosine", "warmup_cosine"],
        "steps": [100],
    }
    configs = sweep.expand(sweep.from_dict({**BASE, "grid": grid}), "classification")
    # constant: 6, cosine: 6 x 2 lr_final, warmup_cosine: 6 x 2 x 2; times 2 grads
    assert len(configs) == 2 * (6 + 12 + 24)
    groups = sweep.group(configs, n_train=300)
    assert len(groups) == 6  # grads x schedule kind
    for configs_of_group in groups:
        kinds = {(c.get("grads"), c.get("lr_schedule")) for c in configs_of_group}
        assert len(kinds) == 1
    constant = [c for c in configs if "lr_schedule" not in c]
    assert not any("lr_final" in c or "warmup_steps" in c for c in constant)
    cosine = [c for c in configs if c.get("lr_schedule") == "cosine"]
    assert all("lr_final" in c and "warmup_steps" not in c for c in cosine)
    assert not any("dropout" in c for c in configs if c.get("dropout", 0.0) == 0.0)


def test_a_decaying_schedule_without_lr_final_gets_its_default_in_the_config():
    grid = {"lr_schedule": ["cosine", "exponential"], "steps": [50]}
    configs = sweep.expand(sweep.from_dict({**BASE, "grid": grid}), "classification")
    assert [c["lr_final"] for c in configs] == [0.0, 0.01]
    patient = sweep.expand(sweep.from_dict({**BASE, "patience": 3, "grid": {}}), "regression")
    assert patient[0]["patience"] == 3


@pytest.mark.parametrize(
    "extra, top, named",
    [
        ({"dropout": [1.0]}, {}, r"grid.dropout must be a number in \[0, 1\)"),
        ({"dropout": [-0.1]}, {}, r"grid.dropout must be a number in \[0, 1\)"),
        ({"weight_decay": [-1e-4]}, {}, "grid.weight_decay must be a finite number of at least 0"),
        ({"grads": ["backprop"]}, {}, "grid.grads must be one of auto, manual"),
        ({"lr_schedule": ["linear"]}, {}, "grid.lr_schedule must be one of constant"),
        ({"lr_final": [1.5]}, {}, r"grid.lr_final must be a number in \[0, 1\]"),
        (
            {"warmup_steps": [0]},
            {},
            "grid.warmup_steps must be a positive int",
        ),
        ({"lr_schedule": ["warmup_cosine"]}, {}, "'warmup_cosine' needs warmup_steps"),
        (
            {"lr_schedule": ["warmup_cosine"], "warmup_steps": [100], "steps": [100]},
            {},
            "warmup_steps must be fewer than the run's 100 steps",
        ),
        ({"lr_schedule": ["exponential"], "lr_final": [0.0]}, {}, r"lr_final must be .* \(0, 1\]"),
        ({"lr_final": [0.1]}, {}, "lr_final is set but no config uses it"),
        ({"lr_schedule": ["cosine"], "warmup_steps": [5]}, {}, "warmup_steps is set but no config"),
        (
            {"weight_decay": [1e-4], "optimizer": ["adamw"]},
            {},
            "does not go with optimizer 'adamw'",
        ),
        ({}, {"patience": 0}, "patience must be a positive int"),
        ({}, {"patience": 3, "val_fraction": 0}, "patience needs validation data"),
        ({}, {"patience": True}, "patience must be a positive int"),
        (
            {"dropout": [0.0, 0.5]},
            {"search": {"method": "halving", "min_steps": 50}},
            "a halving search trains in segments, which take no dropout yet",
        ),
        ({}, {"search": {"method": "pbt", "interval": 50}, "patience": 3}, "take no patience"),
    ],
)
def test_bad_training_options_are_one_line_errors_naming_the_key(extra, top, named):
    with pytest.raises(sweep.SweepError, match=named) as info:
        spec_ = sweep.from_dict({**BASE, **top, "grid": {"steps": [200], **extra}})
        sweep.expand(spec_, "classification")
    assert "\n" not in str(info.value)


def test_agreement_pairs_only_configs_that_differ_in_grads_and_says_when_they_differ():
    def row(i, grads, loss, **config):
        cfg = {"hidden": [8], "seed": 0, **config, **({"grads": grads} if grads else {})}
        curve = np.array([0.3, 0.2], np.float32)  # as store.runs decodes it
        return fake_row(
            f"c{i}", config=sweep.canonical(cfg), grads=grads or "auto", train_loss=loss,
            val_curve=curve,
        )  # fmt: skip

    rows = [row(0, "manual", 0.5), row(1, None, 0.5 * (1 + 1e-6)), row(2, "manual", 0.4, seed=1)]
    found = agreement.compare(rows)
    assert (found.pairs, found.agree) == (1, 1) and found.loss == pytest.approx(1e-6, rel=1e-3)
    assert "1 configs trained both ways, agree" in agreement.agreement_line(rows)
    rows.append(row(3, "auto", 0.3, seed=1))  # 0.4 against 0.3: a real difference
    line = agreement.agreement_line(rows)
    assert "2 configs trained both ways, 1 DIFFER" in line and "worst pair: config c2" in line
    assert agreement.agreement_line(rows[2:3]) is None


TINY = """
name = "regimen"
dataset = "moons"
evals = 4
patience = 1
[grid]
width = [8]
steps = [40]
batch_size = [32]
learning_rate = [0.05]
dropout = [0.0, 0.3]
weight_decay = [0.0, 0.01]
grads = ["manual", "auto"]
lr_schedule = ["cosine"]
lr_final = [0.0, 0.5]
seed = [0]
"""


def test_a_sweep_trains_every_option_one_program_per_grads_and_reports_agreement(tmp_path):
    path = tmp_path / "regimen.toml"
    path.write_text(TINY)
    db = tmp_path / "r.sqlite"
    before = population.compile_count()
    summary = sweep.run(sweep.load(path), db, log=lambda line: None)
    # dropout, weight decay and the schedule's values are data: one group per grads
    assert (summary.configs, summary.groups) == (16, 2)
    assert population.compile_count() - before <= 2 * 3  # init, training, evaluation
    with store.opened(db, must_exist=True) as conn:
        rows = store.runs(conn, "regimen")
    assert {(r["grads"], r["dropout"], r["weight_decay"], r["lr_final"]) for r in rows} == {
        (g, d, w, f)
        for g in ("manual", "auto")
        for d in (0.0, 0.3)
        for w in (0.0, 0.01)
        for f in (0.0, 0.5)
    }
    assert all(r["patience"] == 1 and r["lr_schedule"] == "cosine" for r in rows)
    assert all(r["status"] in ("completed", "early_stopped") for r in rows)
    for r in rows:
        if r["status"] == "early_stopped":
            assert r["steps_done"] < 40 and r["final_val_loss"] is not None
    rc, out = run_cli(["runs", str(db)])
    assert rc == 0 and "trained with" in out and "8 configs trained both ways, agree" in out
    found = agreement.compare(rows)
    assert found.pairs == found.agree == 8 and found.loss < 1e-3


def test_a_store_of_an_older_jaxnet_reads_as_it_is_and_gains_the_columns_to_write(tmp_path):
    db = tmp_path / "old.sqlite"
    with store.opened(db) as conn:
        sweep_id = store.add_sweep(conn, "old", '{"name": "old"}', "h")
        store.insert_runs(conn, sweep_id, [fake_row("a")])
    with sqlite3.connect(db) as raw:  # what a store written before these columns looks like
        for name in store.ADDED_RUN_COLUMNS:
            raw.execute(f"ALTER TABLE runs DROP COLUMN {name}")
    before = db.read_bytes()
    with store.opened(db, must_exist=True) as conn:  # read only: nothing written
        rows = store.runs(conn)
        assert rows[0]["dropout"] == 0.0 and rows[0]["grads"] == "auto"
        assert rows[0]["patience"] is None
    assert db.read_bytes() == before
    rc, out = run_cli(["runs", str(db), "--csv"])
    header, line = out.splitlines()[:2]
    assert rc == 0 and "dropout" in header.split(",") and ",auto," in line
    with store.opened(db) as conn:  # opened to write: the columns are added, once
        store.insert_runs(conn, sweep_id, [fake_row("b", dropout=0.5, grads="manual")])
        assert store.add_missing_columns(conn, db) == []
        rows = store.runs(conn)
    assert [(r["dropout"], r["grads"]) for r in rows] == [(0.0, "auto"), (0.5, "manual")]
    assert np.isnan(rows[0]["val_curve"]).sum() == 0
