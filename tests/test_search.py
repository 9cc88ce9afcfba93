"""Searches: the [search] table, rung decisions, PBT's exploit, segments, rows after a crash,
kept models and `jaxnet predict STORE`.

The sweeps here share one tiny net (xor, 2-3-2 tanh, full batch, chunks of 12 steps) so the
halving sweep (12 members, then 4), the PBT sweep (4 members), the grid sweep and the segment
tests compile a handful of programs between them. Processes killed with SIGKILL, two processes
on one store, and PBT replayed by `fit` in float64 are slow (``make test-slow``).
"""

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import run_cli

import jaxnet as jn
from jaxnet import population, store, sweep
from jaxnet.population import segments
from jaxnet.sweep import search
from jaxnet.sweep.search import state as search_state
from jaxnet.sweep.task import seed_keys

ROOT = Path(__file__).resolve().parents[1]

HEAD = """
name = "{name}"
dataset = "xor"
evals = 3
curve_points = 10
metric = "{metric}"
[grid]
hidden = [[3]]
activation = ["tanh"]
learning_rate = {lrs}
seed = {seeds}
steps = [36]
batch_size = [0]
"""
HALVING = (
    HEAD
    + """[search]
method = "halving"
min_steps = 12
factor = 3
"""
)
PBT = (
    HEAD
    + """[search]
method = "pbt"
interval = 12
fraction = 0.25
"""
)
TWELVE = dict(lrs="[0.01, 0.03, 0.1, 0.3, 1.0, 3.0]", seeds="[0, 1]")
FOUR = dict(lrs="[0.003, 0.03, 0.3, 3.0]", seeds="[0]")


def _spec(template: str, name: str, metric="best_val_loss", **axes) -> sweep.Sweep:
    return sweep.parse(
        template.format(name=name, metric=metric, **(axes or TWELVE)), f"{name}.toml"
    )


def _quiet(*args, **kwargs):
    return sweep.run(*args, log=lambda line: None, **kwargs)


def _rows(db) -> dict:
    """config id -> what a rerun must reproduce of its row."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT config_id, status, steps_done, train_loss, best_val_loss, final_val_loss, "
            "test_accuracy, curve, val_curve FROM runs"
        ).fetchall()
    assert len(rows) == len({r[0] for r in rows})
    return {r[0]: r[1:] for r in rows}


@pytest.fixture(scope="module")
def halved(tmp_path_factory):
    """One halving sweep, uninterrupted: ``(spec, store path, summary)``."""
    db = tmp_path_factory.mktemp("halving") / "h.sqlite"
    spec = _spec(HALVING, "halving")
    return spec, db, _quiet(spec, db, keep_models="all")


@pytest.fixture(scope="module")
def pbt_run(tmp_path_factory):
    db = tmp_path_factory.mktemp("pbt") / "p.sqlite"
    spec = _spec(PBT, "pbt", **FOUR)
    return spec, db, _quiet(spec, db)


# --- the [search] table -------------------------------------------------------------------------


GOOD = 'name = "t"\ndataset = "xor"\n[grid]\nsteps = [30]\n'


def _with_search(top: str, table: str) -> str:
    """A small sweep file with extra top-level keys and a ``[search]`` table."""
    return f'name = "t"\ndataset = "xor"\n{top}\n[grid]\nsteps = [30]\n[search]\n{table}\n'


@pytest.mark.parametrize(
    "top, table, named",
    [
        (
            "",
            'method = "bayes"',
            "search.method must be one of grid, halving, pbt, optuna; got 'bayes'",
        ),
        ("", "min_steps = 3", "search.method must be one of"),
        ("", 'method = "halving"', "search.min_steps is missing"),
        (
            "",
            'method = "halving"\nmin_steps = 3\nfactor = 1',
            "search.factor must be a number above 1 (each rung keeps the best 1/factor); got 1",
        ),
        (
            "",
            'method = "halving"\nmin_steps = 3\nfactor = 0.5',
            "search.factor must be a number above 1",
        ),
        ("", 'method = "halving"\nmin_steps = 3\nfactor = true', "search.factor must be"),
        ("", 'method = "halving"\nmin_steps = 3\nfactor = inf', "search.factor must be"),
        (
            "",
            'method = "halving"\nmin_steps = 0',
            "search.min_steps must be a positive int (at most 2147483647 = 2**31 - 1)",
        ),
        ("", 'method = "halving"\nmin_steps = 2.5', "search.min_steps must be a positive int"),
        ("", 'method = "halving"\nmin_steps = 3\nrate = 2', "unknown key 'search.rate'"),
        (
            "",
            'method = "halving"\nmin_steps = 3\ninterval = 2',
            "search.interval is a key of method 'pbt'",
        ),
        ("", 'method = "pbt"', "search.interval is missing"),
        (
            "",
            'method = "pbt"\ninterval = 5\nfraction = 0',
            "search.fraction must be a number in (0, 0.5] (the worst share copies the best share); got 0",
        ),
        (
            "",
            'method = "pbt"\ninterval = 5\nfraction = 0.6',
            "search.fraction must be a number in (0, 0.5]",
        ),
        ("", 'method = "pbt"\ninterval = 5\nfraction = -0.1', "search.fraction must be"),
        ("", 'method = "pbt"\ninterval = 5\nfraction = nan', "search.fraction must be"),
        (
            "",
            'method = "pbt"\ninterval = 5\nperturb = []',
            "search.perturb must be a non-empty list",
        ),
        ("", 'method = "pbt"\ninterval = 5\nperturb = [0.8, 0]', "search.perturb must be"),
        ("", 'method = "pbt"\ninterval = 5\nperturb = "up"', "search.perturb must be"),
        (
            "",
            'method = "pbt"\ninterval = 5\nseed = -1',
            "search.seed must be a non-negative int (at most 2147483647 = 2**31 - 1)",
        ),
        (
            "",
            'method = "pbt"\ninterval = 5\nmin_steps = 2',
            "search.min_steps is a key of method 'halving'",
        ),
        ("val_fraction = 0", 'method = "halving"\nmin_steps = 3', "metric 'train_loss' has none"),
        (
            'metric = "test_accuracy"',
            'method = "pbt"\ninterval = 5',
            "metric 'test_accuracy' has none",
        ),
    ],
)
def test_bad_search_tables_are_one_line_errors_naming_the_key(top, table, named):
    with pytest.raises(sweep.SweepError) as info:
        sweep.parse(_with_search(top, table), "t.toml")
    message = str(info.value)
    assert message.startswith("t.toml: ") and named in message and "\n" not in message


def test_a_search_that_is_not_a_table_is_refused():
    with pytest.raises(sweep.SweepError, match="t.toml: search must be a table"):
        sweep.parse('name = "t"\ndataset = "xor"\nsearch = 3\n[grid]\nsteps = [30]\n', "t.toml")


@pytest.mark.parametrize(
    "search_text, named",
    [
        (
            'method = "halving"\nmin_steps = 30',
            "search.min_steps (30) must be below every config's steps; the fewest steps are 30",
        ),
        ('method = "halving"\nmin_steps = 31', "search.min_steps (31) must be below"),
        (
            'method = "pbt"\ninterval = 20',
            "search.interval (20) must be below every config's steps; the fewest steps are 20",
        ),
        (
            'method = "halving"\nmin_steps = 1\nfactor = 1.01',
            "search.min_steps 1 and factor 1.01 make 342 rungs in 30 steps; at most 64",
        ),
        (
            'method = "pbt"\ninterval = 1\n[grid]\nsteps = [20000]',
            "search.interval 1 makes 20,000 rounds in 20,000 steps; at most 10,000",
        ),
    ],
)
def test_search_keys_against_the_configs_are_refused_before_any_store_is_made(
    tmp_path, search_text, named
):
    steps = "steps = [30, 20]" if "pbt" in search_text else "steps = [30]"
    search_text, _, grid = search_text.partition("[grid]\n")
    text = GOOD.replace("steps = [30]", grid.strip() or steps) + "[search]\n" + search_text
    spec = sweep.parse(text, "t.toml")
    with pytest.raises(sweep.SweepError, match=named.replace("(", r"\(").replace(")", r"\)")):
        _quiet(spec, tmp_path / "s.sqlite")
    assert not (tmp_path / "s.sqlite").exists()


def test_the_cli_refuses_a_bad_search_and_keep_models_in_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD + '[search]\nmethod = "halving"\nmin_steps = 3\nfactor = 1\n')
    from jaxnet.cli import main

    assert main(["sweep", str(path), "--store", str(tmp_path / "s.sqlite")]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("jaxnet sweep: error: ") and "search.factor" in err and err.count("\n") == 1
    )
    path.write_text(GOOD)
    for bad in ("-1", "some", "1.5", ""):
        assert (
            main(["sweep", str(path), "--store", str(tmp_path / "s.sqlite"), "--keep-models", bad])
            == 2
        )
        err = capsys.readouterr().err
        assert "--keep-models must be 'all', 'none' or an int >= 0" in err and err.count("\n") == 1
    assert not (tmp_path / "s.sqlite").exists()


def test_a_grid_spec_is_unchanged_by_the_search_table_and_its_config_ids_too():
    plain = sweep.parse(GOOD, "t.toml")
    explicit = sweep.parse(GOOD + '[search]\nmethod = "grid"\n', "t.toml")
    assert plain.search == explicit.search == {"method": "grid"}
    assert sweep.expand(plain, "classification") == sweep.expand(explicit, "classification")


# --- rung decisions on planted populations (no training) ----------------------------------------


def test_keep_models_takes_all_none_or_k_and_a_k_past_any_sweep_is_all():
    from jaxnet.sweep.models import check_keep

    assert [check_keep(k) for k in ("all", None, "none", 0, "0", " 7 ", 3)] == [
        None,
        None,
        0,
        0,
        0,
        7,
        3,
    ]
    assert check_keep(10**30) is None and check_keep(str(2**70)) is None  # no SQLite overflow
    for bad in (-1, "-1", 2.5, "1e3", True, "", [3]):
        with pytest.raises(ValueError, match="keep_models must be 'all', 'none' or an int >= 0"):
            check_keep(bad)


def test_rung_steps_round_dedupe_and_end_at_the_configs_steps():
    assert search.rung_steps(12, 3, 36) == [12, 36]
    assert search.rung_steps(10, 3, 1000) == [10, 30, 90, 270, 810, 1000]
    assert search.rung_steps(1, 1.5, 6) == [1, 2, 3, 5, 6]  # 1, 1.5->2, 2.25->2 (dropped), 3.4->3
    assert search.rung_steps(5, 2, 6) == [5, 6]
    assert search.rung_steps(1, 1000, 2**31 - 1) == [1, 1000, 10**6, 10**9, 2**31 - 1]
    assert search.rung_steps(2, 1e308, 100) == [2, 100]  # 2e308 overflows to inf: no rung
    with pytest.raises(ValueError, match="make more than 64 rungs below 1000000 steps"):
        search.rung_steps(1, 1.0000001, 10**6)  # refused at once, not 10**8 loops


def test_promote_keeps_the_best_floor_n_over_factor_ties_to_the_first_nan_last():
    ids = list("abcdefghi")
    losses = [0.5, 0.1, 0.9, 0.3, 0.2, 0.8, 0.1, float("nan"), 0.4]
    assert search.promote(ids, losses, 3, "best_val_loss") == ["b", "g", "e"]  # b before g: a tie
    assert search.promote(ids, losses, 2, "best_val_loss") == ["b", "g", "e", "d"]
    assert search.promote(ids, losses, 3, "final_val_accuracy") == ["c", "f", "a"]  # high first
    assert search.promote(["a", "b"], [0.3, 0.1], 3, "best_val_loss") == ["b"]  # at least one
    assert search.promote(["a"], [float("nan")], 2.5, "best_val_loss") == ["a"]
    assert search.promote([], [], 3, "best_val_loss") == []
    assert search.promote(list("abcde"), [1, 2, 3, 4, 5], 2.5, "best_val_accuracy") == ["e", "d"]


def _planted_state(
    configs, name, planted: dict, metric="best_val_loss"
) -> search_state.SearchState:
    """A SearchState whose config ``i`` has, at each rung in ``planted[i]``, one evaluation of
    ``(value, alive)``."""
    ids = tuple(sweep.config_id(name, c) for c in configs)
    results = {cid: [] for cid in ids}
    for i, rungs in planted.items():
        for k, (value, alive) in enumerate(rungs):
            results[ids[i]].append(
                {"rung": k, "alive": alive, "step": 0, "val_loss": np.array([value]),
                 "val_accuracy": np.array([1 - value]), "learning_rate": configs[i]["learning_rate"]}
            )  # fmt: skip
    return search_state.SearchState(name, metric, tuple(configs), ids, results, frozenset())


PLANTED = """
name = "planted"
dataset = "xor"
max_padding = 1
[grid]
hidden = [[3], [5]]
learning_rate = [0.1, 0.2, 0.3]
steps = [40]
"""


def test_halving_decides_sweep_wide_on_a_planted_population():
    spec = sweep.parse(PLANTED, "p.toml")
    configs = sweep.expand(spec, "classification")  # [3] x 3 lrs, then [5] x 3 lrs: two groups
    method = search.Halving(10, 2, n_train=100, max_padding=1.0, ends=(2, 2))
    ids = [sweep.config_id("planted", c) for c in configs]
    nothing = method.plan(_planted_state(configs, "planted", {}))
    assert [len(t.configs) for t in nothing.tasks] == [3, 3] and not nothing.finished
    assert {(t.rung, t.start, t.until) for t in nothing.tasks} == {(0, 0, 10)}

    rung0 = {i: [(v, True)] for i, v in enumerate([0.5, 0.1, 0.9, 0.3, 0.2, 0.8])}
    plan = method.plan(_planted_state(configs, "planted", rung0))
    assert plan.finished == {ids[0]: "pruned", ids[2]: "pruned", ids[5]: "pruned"}
    survivors = [[sweep.config_id("planted", c) for c in t.configs] for t in plan.tasks]
    assert survivors == [[ids[1]], [ids[3], ids[4]]]  # the best 3 of 6, across both groups
    assert all((t.rung, t.start, t.until) == (1, 10, 20) for t in plan.tasks) and not plan.done

    # rung 1: config 4 diverged, 3 beats 1 on its best loss so far -> only 3 goes on to 40
    rung1 = {**rung0, 1: [(0.1, True), (0.09, True)], 3: [(0.3, True), (0.05, True)],
             4: [(0.2, True), (float("nan"), False)]}  # fmt: skip
    plan = method.plan(_planted_state(configs, "planted", rung1))
    assert plan.finished[ids[4]] == "diverged" and plan.finished[ids[1]] == "pruned"
    assert [(t.rung, t.start, t.until) for t in plan.tasks] == [(2, 20, 40)]
    assert [sweep.config_id("planted", c) for c in plan.tasks[0].configs] == [ids[3]]

    all_diverged = {i: [(float("nan"), False)] for i in range(6)}
    plan = method.plan(_planted_state(configs, "planted", all_diverged))
    assert plan.done and set(plan.finished.values()) == {"diverged"} and len(plan.finished) == 6

    done = {**rung1, 3: [(0.3, True), (0.05, True), (0.04, True)]}
    plan = method.plan(_planted_state(configs, "planted", done))
    assert plan.done and not plan.tasks and plan.finished[ids[3]] == "completed"
    assert sorted(plan.finished.values()).count("pruned") == 4


def test_pbt_exploit_copies_the_best_quarter_into_the_worst_and_perturbs():
    ids = list("abcdefgh")
    values = [0.8, 0.1, 0.5, 0.3, float("nan"), 0.2, 0.6, 0.4]  # best: b, f; worst: e (nan), a
    lrs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    rng = np.random.default_rng(0)
    sources, new, copies = search.exploit(ids, values, lrs, 0.25, [0.5, 2.0], rng, "best_val_loss")
    assert sorted(m for m, _ in copies) == [0, 4] and {s for _, s in copies} <= {1, 5}
    for member, source in copies:
        assert sources[member] == source and new[member] / lrs[source] in (0.5, 2.0)
    assert [sources[i] for i in (1, 2, 3, 5, 6, 7)] == [1, 2, 3, 5, 6, 7]
    assert [new[i] for i in (1, 2, 3, 5, 6, 7)] == [2.0, 3.0, 4.0, 6.0, 7.0, 8.0]
    again = search.exploit(
        ids, values, lrs, 0.25, [0.5, 2.0], np.random.default_rng(0), "best_val_loss"
    )
    assert again == (sources, new, copies)  # the same draws from the same seed
    assert search.exploit(["a"], [0.1], [1.0], 0.5, [2.0], rng, "best_val_loss")[2] == []
    two = search.exploit(["a", "b"], [0.1, 0.2], [1.0, 3.0], 0.25, [2.0], rng, "best_val_loss")
    assert two == ([0, 0], [1.0, 2.0], [(1, 0)])  # one of two rounds to one copy
    acc = search.exploit(["a", "b"], [0.1, 0.2], [1.0, 3.0], 0.5, [1.0], rng, "final_val_accuracy")
    assert acc[2] == [(0, 1)]  # accuracy: higher is better
    huge = search.exploit(["a", "b"], [0.1, 0.2], [1e29, 1.0], 0.5, [1e300], rng, "best_val_loss")
    tiny = search.exploit(["a", "b"], [0.1, 0.2], [1e-29, 1.0], 0.5, [1e-300], rng, "best_val_loss")
    assert huge[1][1] == 1e30 and tiny[1][1] == 1e-30  # float32 holds every learning rate


def test_value_at_reads_best_or_final_validation_and_nan_without_any():
    r = [{"val_loss": np.array([0.5, 0.2]), "val_accuracy": np.array([0.6, 0.9])},
         {"val_loss": np.array([0.3, np.nan]), "val_accuracy": np.array([0.8, np.nan])}]  # fmt: skip
    assert search.value_at(r, "best_val_loss") == 0.2
    assert search.value_at(r, "best_val_accuracy") == 0.9
    assert math.isnan(search.value_at(r, "final_val_loss"))  # the last evaluation diverged
    assert search.value_at(r[:1], "final_val_accuracy") == 0.9
    assert math.isnan(search.value_at([], "best_val_loss"))


# --- segments: the population's resumable form ----------------------------------------------------


@pytest.fixture(scope="module")
def xor_data():
    prepared = sweep.prepare(_spec(PBT, "data", **FOUR))
    x, y = prepared.parts["train"]
    return x, y, prepared.parts["validation"]


def _segment_options(val):
    return dict(loss="cross_entropy", optimizer="adam", eval_every=12, validation=val)


def test_segments_resumed_from_host_states_equal_one_uninterrupted_population(xor_data, tiers_off):
    # bit for bit: with tiers on, a chunk's tier depends on when the background compile ends
    x, y, val = xor_data
    nets, keys, lrs = (
        [jn.MLP((2, 3, 2), activation="tanh")] * 4,
        seed_keys([0, 1, 2, 3]),
        [0.01, 0.03, 0.1, 0.3],
    )
    params, history = population.fit_population(
        nets[0], keys, x, y, steps=24, learning_rates=lrs, eval_every=12,
        loss="cross_entropy", optimizer="adam", validation=val,
    )  # fmt: skip
    first, h1 = segments.start_segment(
        nets, keys, x, y, until=12, learning_rates=lrs, **_segment_options(val)
    )
    assert [int(s.step) for s in first] == [12] * 4 and h1.loss.shape == (4, 12)
    second, h2 = segments.resume_segment(
        nets,
        first,
        keys,
        x,
        y,
        until=24,
        sources=range(4),
        learning_rates=lrs,
        **_segment_options(val),
    )
    for i in range(4):
        assert np.array_equal(second[i].params[0]["w"], np.asarray(params[0]["w"][i]))
    np.testing.assert_array_equal(np.concatenate([h1.loss, h2.loss], 1), history.loss)
    np.testing.assert_array_equal(np.concatenate([h1.val_loss, h2.val_loss], 1), history.val_loss)
    assert list(h2.eval_step) == [24] and (h2.start, h2.until) == (12, 24)


def test_a_slot_that_takes_another_members_state_trains_on_from_it(xor_data):
    x, y, val = xor_data
    nets, keys = [jn.MLP((2, 3, 2), activation="tanh")] * 4, seed_keys([0, 1, 2, 3])
    lrs = [0.01, 0.03, 0.1, 0.3]
    first, _ = segments.start_segment(
        nets, keys, x, y, until=12, learning_rates=lrs, **_segment_options(val)
    )
    # full batch: the minibatch key plays no part, so slot 0 taking member 3's state and learning
    # rate is exactly member 3 going on
    copied, _ = segments.resume_segment(
        nets, first, keys, x, y, until=24, sources=[3, 1, 2, 3], learning_rates=[0.3, 0.03, 0.1, 0.3],
        **_segment_options(val),
    )  # fmt: skip
    assert jax.tree.all(jax.tree.map(np.array_equal, copied[0], copied[3]))
    slower, _ = segments.resume_segment(
        nets, first, keys, x, y, until=24, sources=[3, 1, 2, 3], learning_rates=[0.03, 0.03, 0.1, 0.3],
        **_segment_options(val),
    )  # fmt: skip
    assert not np.array_equal(slower[0].params[0]["w"], copied[3].params[0]["w"])  # lr is data
    assert float(slower[0].opt_state.hyperparams["learning_rate"]) == pytest.approx(0.03)


@pytest.mark.parametrize(
    "change, named",
    [
        (dict(sources=[0, 1, 2, 4]), "sources must be 4 ints in [0, 3]"),
        (dict(sources=[0.5, 1, 2, 3]), "sources must be 4 ints"),
        (dict(learning_rates=[0.1, 0.1, 0.1]), "learning_rates must be 4 positive finite numbers"),
        (dict(learning_rates=[0.1, 0.1, 0.1, -1.0]), "learning_rates must be 4 positive"),
        (dict(until=12), "until must be above the members' step (12); got 12"),
        (dict(until=0), "steps must be a positive int"),
        (dict(states="cut"), "states must be a list of 4 MemberState"),
        (dict(nets=jn.MLP((2, 3, 2))), "nets must be a list of jaxnet.MLP"),
        (
            dict(nets=[jn.MLP((2, 4, 2), activation="tanh")] * 4),
            "states[0].params[0]['b'] has float32[3]; this net and optimizer need float32[4]",
        ),
        (dict(keys=np.zeros((3, 2), np.uint32)), "keys must be 4 jax.random keys"),
    ],
)
def test_bad_segment_arguments_are_refused_by_name(xor_data, change, named):
    x, y, val = xor_data
    nets, keys = [jn.MLP((2, 3, 2), activation="tanh")] * 4, seed_keys([0, 1, 2, 3])
    lrs = [0.01, 0.03, 0.1, 0.3]
    first, _ = segments.start_segment(
        nets, keys, x, y, until=12, learning_rates=lrs, **_segment_options(val)
    )
    args = dict(nets=nets, states=first, keys=keys, until=24, sources=range(4), learning_rates=lrs)
    args.update(change)
    with pytest.raises((ValueError, TypeError)) as info:
        segments.resume_segment(
            args["nets"], args["states"], args["keys"], x, y, until=args["until"],
            sources=args["sources"], learning_rates=args["learning_rates"], **_segment_options(val),
        )  # fmt: skip
    assert named in str(info.value) and "\n" not in str(info.value)


# --- halving and PBT sweeps end to end ----------------------------------------------------------


def test_a_halving_sweep_prunes_at_the_rung_and_says_what_it_trained(halved):
    spec, db, summary = halved
    rows = _rows(db)
    statuses = sorted((s, n) for s, n, *_ in rows.values())
    assert statuses == [("completed", 36)] * 4 + [("pruned", 12)] * 8
    # 12 configs x 12 steps, then 4 x 24 more, of 12 x 36 for a grid
    assert summary.steps == (12 * 12 + 4 * 24, 12 * 36)
    assert "steps trained: 240 of 432 (56 %)" in summary.describe()
    with store.opened(db) as conn:
        results = store.rung_results(conn, "halving")
        kept = store.kept_model_ids(conn, "halving")
        states = conn.execute("SELECT count(*) FROM member_states").fetchone()[0]
    by_id = {(r["config_id"], r["rung"]): r for r in results}
    for cid, (status, _, train_loss, _, _, test, *_) in rows.items():
        rung = 0 if status == "pruned" else 1
        assert by_id[cid, rung]["train_loss"] == pytest.approx(train_loss, rel=1e-12)
        assert by_id[cid, rung]["test_accuracy"] == pytest.approx(test, rel=1e-12)
    # the 4 that went on are the 4 best by best_val_loss at rung 0 (12 steps)
    at_rung0 = {
        cid: np.frombuffer(r["val_loss"], "<f8").min() for (cid, k), r in by_id.items() if k == 0
    }
    best4 = sorted(at_rung0, key=at_rung0.get)[:4]
    assert sorted(best4) == sorted(c for c, r in rows.items() if r[0] == "completed")
    assert len(kept) == 12 and states == 0  # every row written: no state left behind


def _crashing_after(real, n: int):
    """``real`` that raises KeyboardInterrupt right after its ``n``-th transaction."""
    calls = []

    def crashing(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt  # the process dies right after a transaction
        return out

    return crashing


def test_a_halving_sweep_interrupted_at_any_task_boundary_resumes_to_the_same_rows(
    halved, tmp_path, monkeypatch
):
    spec, db, _ = halved
    expected = _rows(db)
    real = store.save_segment
    for crash_after in (1, 2):  # after rung 0's commit; after rung 1's commit, before its rows
        target = tmp_path / f"c{crash_after}.sqlite"
        monkeypatch.setattr(store, "save_segment", _crashing_after(real, crash_after))
        with pytest.raises(KeyboardInterrupt):
            _quiet(spec, target, keep_models="all")
        monkeypatch.setattr(store, "save_segment", real)
        again = _quiet(spec, target, keep_models="all")
        assert again.groups == 2 - crash_after  # nothing stored is trained again
        assert _rows(target) == expected


def test_the_same_configs_as_a_grid_keep_their_ids_and_train_every_step(halved, tmp_path):
    spec, db, _ = halved
    grid = sweep.parse(spec.source.split("[search]")[0], "g.toml")
    summary = _quiet(grid, tmp_path / "g.sqlite")
    assert summary.steps is None and "steps trained" not in summary.describe()
    rows = _rows(tmp_path / "g.sqlite")
    assert set(rows) == set(_rows(db)) and {r[:2] for r in rows.values()} == {("completed", 36)}
    with store.opened(tmp_path / "g.sqlite") as conn:  # a grid keeps its best 10 by default
        kept = set(store.kept_model_ids(conn, "halving"))
    by_loss = sorted(rows, key=lambda c: rows[c][3])  # best_val_loss, lowest first
    assert kept == set(by_loss[:10])
    with pytest.raises(sweep.SweepError, match="has rows of a grid sweep"):
        _quiet(spec, tmp_path / "g.sqlite")  # a search on top of a grid's rows would mix them
    with pytest.raises(sweep.SweepError, match="ran as a halving search"):
        _quiet(grid, db)


def test_a_stored_search_refuses_other_settings_or_other_configs_before_training(halved):
    spec, db, _ = halved
    with store.opened(db) as conn:
        before = store.steps_trained(conn, "halving")
    for changed, named in [
        (spec.source.replace("factor = 3", "factor = 2"), 'other settings, {"factor":3.0'),
        (spec.source.replace("seed = [0, 1]", "seed = [0, 1, 2]"), "other configs"),
    ]:
        with pytest.raises(sweep.SweepError, match=named) as info:
            _quiet(sweep.parse(changed, "h.toml"), db)
        assert "give the sweep a new name or a new store" in str(info.value)
    with store.opened(db) as conn:
        assert store.steps_trained(conn, "halving") == before


def test_a_damaged_state_or_model_is_refused_in_one_line(halved, tmp_path, monkeypatch):
    spec, db, _ = halved
    target = tmp_path / "d.sqlite"
    monkeypatch.setattr(store, "save_segment", _crashing_after(store.save_segment, 1))
    with pytest.raises(KeyboardInterrupt):
        _quiet(spec, target)
    monkeypatch.undo()
    with sqlite3.connect(target) as conn:  # a state cut short on disk
        conn.execute("UPDATE member_states SET state = substr(state, 1, 10)")
        n = conn.execute("SELECT count(*) FROM rung_results").fetchone()[0]
    with pytest.raises(store.StoreError, match="its arrays need .* the stored blob has 10") as info:
        _quiet(spec, target)
    assert "\n" not in str(info.value)
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM rung_results").fetchone()[0] == n
    damaged = tmp_path / "m.sqlite"
    damaged.write_bytes(Path(db).read_bytes())
    best = sweep.best_config_id(damaged)
    with sqlite3.connect(damaged) as conn:
        conn.execute("UPDATE models SET params = x'00' WHERE config_id = ?", (best,))
    with pytest.raises(ValueError, match=f"the kept model of {best} is damaged"):
        sweep.load_model(damaged, best)


def test_a_pbt_sweep_stores_lineage_that_explains_every_members_learning_rate(pbt_run):
    spec, db, summary = pbt_run
    assert summary.steps == (4 * 36, 4 * 36) and summary.groups == 3
    with store.opened(db) as conn:
        lineage = store.lineage(conn, "pbt")
        results = store.rung_results(conn, "pbt")
    assert [c["step"] for c in lineage] == [12, 24]  # one copy per round: a quarter of four
    lr = {(r["config_id"], r["rung"]): r["learning_rate"] for r in results}
    for copy in lineage:
        k = copy["step"] // 12
        assert copy["source_learning_rate"] == lr[copy["source"], k - 1]
        assert copy["learning_rate"] == lr[copy["config_id"], k]
        ratio = copy["learning_rate"] / copy["source_learning_rate"]
        assert ratio == pytest.approx(0.8) or ratio == pytest.approx(1.25)
    copied = {(c["config_id"], c["step"] // 12) for c in lineage}
    for (cid, k), rate in lr.items():
        if k and (cid, k) not in copied:
            assert rate == lr[cid, k - 1]  # nobody else's learning rate changes
    assert _rows(db) and all(r[:2] == ("completed", 36) for r in _rows(db).values())


def test_jaxnet_runs_shows_rungs_lineage_steps_and_kept_models(halved, pbt_run):
    _, db, _ = halved
    rc, out = run_cli(["runs", str(db)])
    assert rc == 0
    assert "12 of its file's 12 configs stored (0 diverged, 8 pruned)" in out
    assert "search: halving (factor 3, min_steps 12); steps trained: 240 of 432 (56 %)" in out
    assert "rung 0 (step 12): 12 configs, 4 went on; 8 pruned" in out
    assert "rung 1 (step 36): 4 configs; 4 completed" in out
    assert "kept models: 12 of 12; best: config" in out
    rc, out = run_cli(["runs", str(pbt_run[1])])
    assert "2 exploit copies" in out and "best member" in out and "kept models: 4 of 4" in out


# --- kept models and `jaxnet predict STORE` ------------------------------------------------------


def test_a_kept_model_predicts_like_jn_load_of_the_same_model(halved, tmp_path):
    _, db, _ = halved
    best = sweep.best_config_id(db)
    model = sweep.load_model(db, best)
    prepared = sweep.prepare(halved[0])
    assert model.config["config_id"] == best and model.config["step"] == 36
    assert model.labels == (0, 1) and model.x_scaler is not None
    saved = jn.save(tmp_path / "m.jaxnet", model.net, model.params, x_scaler=model.x_scaler,
                    labels=model.labels)  # fmt: skip
    x = np.array([[0.0, 1.0], [1.0, 1.0], [0.2, 0.9]])
    np.testing.assert_array_equal(jn.load(saved).predict_proba(x), model.predict_proba(x))
    # the scaler is the sweep's own: the kept model scores its test rows as the row says
    x_test, y_test = sweep.prepare(halved[0]).parts["test"]
    raw = prepared.x_scaler.inverse(x_test)
    with sqlite3.connect(db) as conn:
        (test,) = conn.execute(
            "SELECT test_accuracy FROM runs WHERE config_id = ?", (best,)
        ).fetchone()
    assert np.mean(model.predict(raw) == y_test) == pytest.approx(test, abs=1e-6)
    assert sweep.load_model(db, best[:10]).config["config_id"] == best  # a unique prefix


@pytest.mark.parametrize(
    "config, named",
    [
        ("f" * 32, "no run has config id"),
        ("", "no run has config id"),
        ("XYZ", "no run has config id"),
        (42, "config_id must be a string"),
    ],
)
def test_load_model_refuses_unknown_ids_by_name(halved, config, named):
    with pytest.raises((ValueError, TypeError), match=named):
        sweep.load_model(halved[1], config)


def test_only_the_best_k_keep_their_models_and_none_keeps_none(halved, tmp_path):
    spec = halved[0]
    _quiet(spec, tmp_path / "k.sqlite", keep_models=3)
    with store.opened(tmp_path / "k.sqlite") as conn:
        kept = store.kept_model_ids(conn, "halving")
        order = store.rank_order("best_val_loss", False)
        ranked = store.ranked_config_ids(conn, "halving", order)
    assert sorted(kept) == sorted(ranked[:3])
    with pytest.raises(ValueError, match="has no kept model"):
        sweep.load_model(tmp_path / "k.sqlite", ranked[-1])
    _quiet(spec, tmp_path / "n.sqlite", keep_models="none")
    with pytest.raises(ValueError, match="kept no model"):
        sweep.best_config_id(tmp_path / "n.sqlite")


def test_jaxnet_predict_serves_a_stores_best_and_refuses_what_it_cannot(halved, tmp_path, capsys):
    from jaxnet.cli import main

    db = str(halved[1])
    rc, out = run_cli(["predict", db, "--best", "--input", "0,1", "--input", "1,1"])
    assert rc == 0 and out.count("row ") == 2
    best = sweep.best_config_id(db)
    assert f"config {best}" in capsys.readouterr().err
    rc, again = run_cli(["predict", db, "--config", best[:8], "--input", "0,1", "--input", "1,1"])
    assert again == out
    for argv, named in [
        ([db, "--input", "0,1"], "is a results store: say which model, --best or --config ID"),
        ([db, "--config", "0000", "--input", "0,1"], "no run has config id '0000'"),
        (
            [db, "--sweep", "halving", "--config", best, "--input", "0,1"],
            "--sweep goes with --best",
        ),
        (
            [db, "--best", "--sweep", "nope", "--input", "0,1"],
            "has no sweep 'nope'; it has halving",
        ),
        ([db, "--best", "--input", "0,1,2"], "takes 2 features"),
    ]:
        assert main(["predict", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("jaxnet predict: error: ") and named in err[-1], err
    checkpoint = tmp_path / "m.jaxnet"
    model = sweep.load_model(db, best)
    jn.save(checkpoint, model.net, model.params)
    assert main(["predict", str(checkpoint), "--best", "--input", "0,1"]) == 2
    assert "is not one (a checkpoint predicts as it is)" in capsys.readouterr().err
    assert main(["predict", str(tmp_path), "--best", "--input", "0,1"]) == 2  # not a file


# --- stored arrays -----------------------------------------------------------------------------


def test_arrays_round_trip_as_bytes_and_damaged_blobs_are_refused():
    arrays = [np.arange(6, dtype=">f4").reshape(2, 3), np.int32(7), np.bool_(True),
              np.zeros((0, 4), np.float64), np.array([2**40], np.int64)]  # fmt: skip
    layout, blob = store.encode_arrays(arrays)
    back = store.decode_arrays(layout, blob, "here")
    assert all(np.array_equal(a, b) and np.shape(a) == b.shape for a, b in zip(arrays, back))
    assert back[0].dtype == np.dtype("<f4") and back[4][0] == 2**40  # past int32
    with pytest.raises(
        store.StoreError, match="here: its arrays need 37 bytes; the stored blob has 36"
    ):
        store.decode_arrays(layout, blob[:-1], "here")
    with pytest.raises(store.StoreError, match="names a dtype or size it cannot hold"):
        store.decode_arrays('[["|O", [1]]]', b"12345678", "here")
    with pytest.raises(store.StoreError, match="not readable"):
        store.decode_arrays("{", b"", "here")
    with pytest.raises(ValueError, match="cannot store an array of dtype"):
        store.encode_arrays([np.array(["text"])])


# --- slow: real processes ----------------------------------------------------------------------


def _sweep_process(toml, db, *flags) -> subprocess.Popen:
    command = [sys.executable, "-m", "jaxnet.cli", "sweep", str(toml), "--store", str(db), *flags]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def _count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # no file or no such table yet
        return -1


def _stop(*procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


SLOW = """
name = "{name}"
dataset = "digits"
evals = 4
curve_points = 10
metric = "best_val_accuracy"
[grid]
hidden = [[8], [16], [24]]
learning_rate = [0.001, 0.003, 0.01, 0.03]
seed = [0, 1]
steps = [{steps}]
batch_size = [32]
[search]
{search}
"""


def _slow_spec(tmp_path, name, search_text, steps=1080, extra="") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(extra + SLOW.format(name=name, search=search_text, steps=steps))
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, search_text",
    [
        ("killh", 'method = "halving"\nmin_steps = 40\nfactor = 3'),
        ("killp", 'method = "pbt"\ninterval = 120'),
    ],  # fmt: skip
)
def test_a_search_killed_with_sigkill_mid_run_and_rerun_ends_with_the_uninterrupted_rows(
    tmp_path, name, search_text
):
    toml = _slow_spec(tmp_path, name, search_text)
    whole = tmp_path / "whole.sqlite"
    proc = _sweep_process(toml, whole, "--keep-models", "all")
    try:
        out = proc.communicate(timeout=900)[0]
    finally:
        _stop(proc)
    assert proc.returncode == 0, out
    killed = tmp_path / "killed.sqlite"
    for kills in range(2):  # killed once after the first commits, and once more later
        proc = _sweep_process(toml, killed, "--keep-models", "all")
        try:
            goal = 1 + 2 * kills
            deadline = time.monotonic() + 600
            while _count(killed, "SELECT count(*) FROM rung_results") < goal * 6:
                assert proc.poll() is None, proc.communicate()[0]
                assert time.monotonic() < deadline
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)  # mid-task: whatever it trains now is lost
            proc.wait()
        finally:
            _stop(proc)
    stored = _count(killed, "SELECT count(DISTINCT task) FROM rung_results")
    proc = _sweep_process(toml, killed, "--keep-models", "all")
    try:
        out = proc.communicate(timeout=900)[0]
    finally:
        _stop(proc)
    assert proc.returncode == 0, out
    # the rerun trained exactly the segments the store lacked: nothing stored is trained again
    trained = [line for line in out.splitlines() if line.startswith(("[halving", "[pbt"))]
    assert len(trained) == _count(killed, "SELECT count(DISTINCT task) FROM rung_results") - stored
    assert "stored it first" not in out
    expected, got = _rows(whole), _rows(killed)
    assert expected.keys() == got.keys()
    for cid, row in expected.items():
        assert got[cid][:2] == row[:2]  # same status, same steps: the same survivors
        np.testing.assert_allclose(got[cid][2:6], row[2:6], rtol=1e-6)
    with sqlite3.connect(killed) as conn:
        seen = conn.execute(
            "SELECT count(*), count(DISTINCT config_id || ':' || rung) FROM rung_results"
        )
        assert len(set(seen.fetchone())) == 1


@pytest.mark.slow
def test_two_processes_on_one_halving_search_train_no_config_past_a_rung_twice(tmp_path):
    # no width buckets: three groups at rung 0, so the two processes have groups to share
    search_text = 'method = "halving"\nmin_steps = 40\nfactor = 3'
    toml = _slow_spec(tmp_path, "pair", search_text, extra="max_padding = 1\n")
    db = tmp_path / "pair.sqlite"
    procs = [_sweep_process(toml, db, "--lease", "3") for _ in range(2)]
    try:
        outputs = [p.communicate(timeout=900)[0] for p in procs]
    finally:
        _stop(*procs)
    assert [p.returncode for p in procs] == [0, 0], outputs
    trained = [line for out in outputs for line in out.splitlines() if line.startswith("[halving")]
    assert not any("another process stored it first" in line for line in trained)
    per_process = [sum(line.startswith("[halving") for line in out.splitlines()) for out in outputs]
    assert min(per_process) > 0  # both took a share
    with sqlite3.connect(db) as conn:
        tasks = conn.execute("SELECT count(DISTINCT task) FROM rung_results").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    assert len(trained) == tasks and rows == 24  # every task trained once, by one process
    alone = tmp_path / "alone.sqlite"
    sweep.run(sweep.load(toml), alone, log=lambda line: None)
    assert {k: v[:2] for k, v in _rows(alone).items()} == {k: v[:2] for k, v in _rows(db).items()}


@pytest.mark.slow
def test_a_pbt_member_equals_fit_replayed_with_its_lineage_to_1e_10_in_float64(x64):
    from jaxnet import data

    d = data.spirals(200, seed=1)
    x, y = d.x, d.y
    nets = [jn.MLP((2, 16, 2), activation="tanh")] * 8
    keys = seed_keys(range(8))
    lrs = list(np.geomspace(0.01, 1.0, 8))
    options = dict(
        loss="cross_entropy",
        optimizer="sgd",
        eval_every=25,
        validation=(x[:50], y[:50]),
        dtype=np.float64,
    )
    states, history = segments.start_segment(
        nets, keys, x[50:], y[50:], until=50, learning_rates=lrs, **options
    )
    ids, log = list(range(8)), []
    rng = np.random.default_rng(0)
    for until in (100, 150, 200):
        values = list(history.val_loss[:, -1])
        sources, new, copies = search.exploit(
            ids, values, lrs, 0.25, [0.8, 1.25], rng, "final_val_loss"
        )
        log.append((until - 50, sources, new))
        states, history = segments.resume_segment(
            nets,
            states,
            keys,
            x[50:],
            y[50:],
            until=until,
            sources=sources,
            learning_rates=new,
            **options,
        )
        lrs = new
    # replay every member with jn.fit, segment by segment, copying the replayed source's params
    init_keys = [population.member_keys(k)[0] for k in jax.random.wrap_key_data(keys)]
    replay = [jn.init(nets[0], k, np.float64) for k in init_keys]
    rates = list(np.geomspace(0.01, 1.0, 8))

    def advance(params, rate):
        out, _ = jn.fit(nets[0], params, x[50:], y[50:], loss="cross_entropy", optimizer="sgd",
                        learning_rate=rate, steps=50, eval_every=50)  # fmt: skip
        return out

    replay = [advance(p, r) for p, r in zip(replay, rates)]
    for _, sources, new in log:
        replay = [advance(replay[s], r) for s, r in zip(sources, new)]
    for i in range(8):
        for a, b in zip(jax.tree.leaves(replay[i]), jax.tree.leaves(states[i].params)):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_a_halving_search_on_ray_stores_the_rows_of_the_in_process_engine(halved, tmp_path):
    pytest.importorskip("ray")
    spec, db, _ = halved
    summary = _quiet(spec, tmp_path / "ray.sqlite", engine="ray", keep_models="all")
    assert summary.engine == "ray" and summary.steps == (240, 432)
    expected, got = _rows(db), _rows(tmp_path / "ray.sqlite")
    assert expected.keys() == got.keys()
    for cid, row in expected.items():
        assert got[cid][:2] == row[:2]
        np.testing.assert_allclose(got[cid][2:6], row[2:6], rtol=1e-5)
