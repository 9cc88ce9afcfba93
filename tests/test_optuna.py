"""Optuna searches: the [search] keys and space, replayed studies, batches trained as
populations, a study interrupted and rerun, and what is refused before any training.

The studies here search one tiny net (xor, 2-4-2 tanh, full batch) over the learning rate and
the init scale, two member keys: each batch of 4 trials is one population, one program, and
the same program serves every batch. A process killed with SIGKILL mid-study, two processes
on one study and the Ray engine are slow (``make test-slow``).
"""

import dataclasses
import importlib
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import fake_row, run_cli

from jaxnet import store, sweep
from jaxnet.sweep import search
from jaxnet.sweep.page.importances import importances
from jaxnet.sweep.plan import trial_config
from jaxnet.sweep.preparation import study_batch
from jaxnet.sweep.search import optuna_search, study
from jaxnet.sweep.search.space import axes_of, distributions

optuna = pytest.importorskip("optuna")

ROOT = Path(__file__).resolve().parents[1]

SPEC = """
name = "{name}"
dataset = "xor"
evals = 2
curve_points = 8
[grid]
hidden = [[4]]
activation = ["tanh"]
steps = [24]
batch_size = [0]
[random]
learning_rate = {{log_uniform = [0.001, 1.0]}}
init_scale = {{uniform = [0.5, 2.0]}}
[search]
method = "optuna"
trials = {trials}
batch = 4
{extra}
"""


def _spec(name="tpe", trials=8, extra=""):
    return sweep.parse(SPEC.format(name=name, trials=trials, extra=extra), f"{name}.toml")


def _quiet(spec, db, **kwargs):
    return sweep.run(spec, db, progress=False, log=lambda line: None, **kwargs)


def _trials(db) -> list[tuple]:
    with store.opened(db, must_exist=True) as conn:
        return [(t["number"], t["batch"], t["params"]) for t in store.stored_trials(conn, "tpe")]


def _rows(db) -> dict:
    with store.opened(db, must_exist=True) as conn:
        return {r["config_id"]: (r["status"], r["best_val_loss"]) for r in store.runs(conn)}


@pytest.fixture(scope="module")
def studied(tmp_path_factory):
    """An 8-trial TPE study in two batches of 4: ``(spec, store, summary)``."""
    db = tmp_path_factory.mktemp("optuna") / "tpe.sqlite"
    spec = _spec()
    return spec, db, _quiet(spec, db, keep_models="all")


# --- the [search] table and the space, refused before anything is trained --------------------

BAD = [
    ("trials = 0", "search.trials"),
    ("trials = 1099511627776", "search.trials"),  # past int32, and past any sweep
    ("trials = true", "search.trials"),
    ("batch = 0", "search.batch"),
    ('batch = "all"', "search.batch"),
    ('sampler = "bayes"', "search.sampler"),
    ('pruner = "asha"', "search.pruner"),
    ('pruner = "halving"', "search.min_steps"),
    ("min_steps = 6", "search.min_steps"),  # goes with pruner = "halving" only
    ("seed = -1", "search.seed"),
    ("interval = 6", "search.interval"),  # PBT's key
    ('pruner = "halving"\nmin_steps = 24', "search.min_steps"),  # not below the steps
    ('batch = 1\nsampler = "cmaes"', "search.batch 1"),  # CMA-ES needs a population
    ('batch = 3\nsampler = "cmaes"', "at least 4"),  # its rank-mu update needs two parents
    ('sampler = "TPE"', "search.sampler"),
    ("trials = 1.5", "search.trials"),
]


@pytest.mark.parametrize("extra, named", BAD)
def test_bad_optuna_keys_are_one_line_errors_naming_the_key(tmp_path, extra, named):
    text = SPEC.format(name="bad", trials=8, extra="")
    if extra.startswith("trials") or extra.startswith("batch"):
        key = extra.split(" ")[0]
        text = "\n".join(line for line in text.splitlines() if not line.startswith(f"{key} ="))
    with pytest.raises(sweep.SweepError) as info:
        spec = sweep.parse(text + extra + "\n", "bad.toml")
        _quiet(spec, tmp_path / "s.sqlite")
    assert named in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "s.sqlite").exists()  # nothing written


SPACES = [
    ("learning_rate = {log_uniform = [-0.1, 1.0]}", "random.learning_rate"),
    ("learning_rate = {log_uniform = [0.0, 1.0]}", "random.learning_rate"),
    ("learning_rate = {log_uniform = [1.0, 0.001]}", "random.learning_rate"),
    ("learning_rate = {log_uniform = [0.001, inf]}", "random.learning_rate"),
    ("learning_rate = []", "random.learning_rate is empty"),
    ("n = 8\nlearning_rate = [0.1]", "random.n"),
    ("seed = 3\nlearning_rate = [0.1]", "random.seed"),
    ("width = {int_uniform = [0, 8]}", "random.width"),
    ("steps = {int_uniform = [1, 4294967296]}", "random.steps"),  # ints past int32
    ("", "random has no axis"),
]


@pytest.mark.parametrize("space, named", SPACES)
def test_hostile_search_spaces_are_refused_in_one_line(space, named):
    text = SPEC.format(name="bad", trials=8, extra="")
    head, tail = text.split("[random]")
    tail = tail.split("[search]")[1]
    with pytest.raises(sweep.SweepError) as info:
        sweep.parse(f"{head}[random]\n{space}\n[search]{tail}", "bad.toml")
    assert named in str(info.value) and "\n" not in str(info.value)


def test_an_auto_batch_is_a_quarter_of_the_trials_and_cmaes_gets_its_smallest_population():
    text = SPEC.format(name="auto", trials=6, extra="").replace("batch = 4\n", "")
    spec = sweep.parse(text, "auto.toml")
    assert spec.search["batch"] == "auto"
    prepared = sweep.prepare(spec)
    assert study_batch(spec, prepared) == 2  # ceil(6 / 4): three rounds told before the last
    cma = sweep.parse(text + 'sampler = "cmaes"\n', "auto.toml")
    assert study_batch(cma, prepared) == 4  # not 2: CMA-ES keeps two parents of four


def test_a_study_holds_grid_axes_fixed_and_needs_a_space_and_a_validation_metric():
    text = SPEC.format(name="bad", trials=8, extra="")
    cases = [
        (text.replace("steps = [24]", "steps = [24, 48]"), "grid.steps has 2 values"),
        (text.split("[random]")[0] + "[search]" + text.split("[search]")[1], "[random] table"),
        ('metric = "test_accuracy"\n' + text, "validation"),
        ("val_fraction = 0\n" + text, "validation"),
    ]
    for source, named in cases:
        with pytest.raises(sweep.SweepError) as info:
            sweep.parse(source, "bad.toml")
        assert named in str(info.value) and "\n" not in str(info.value)


def test_the_cli_refuses_a_bad_study_in_one_line_and_writes_nothing(tmp_path, capsys):
    toml = tmp_path / "bad.toml"
    toml.write_text(SPEC.format(name="bad", trials=0, extra=""))
    assert run_cli(["sweep", str(toml), "--store", str(tmp_path / "s.sqlite")])[0] == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jaxnet sweep: error:") and "search.trials" in err
    assert "\n" not in err and not (tmp_path / "s.sqlite").exists()


@pytest.mark.parametrize(
    "blocked, sampler, named",
    [("optuna", "tpe", "jaxnet[optuna]"), ("cmaes", "cmaes", "jaxnet[optuna]")],
)
def test_a_missing_extra_is_one_line_naming_it_before_the_store_is_made(
    tmp_path, monkeypatch, blocked, sampler, named
):
    monkeypatch.setitem(sys.modules, blocked, None)  # `import optuna` now fails
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == blocked else real(name, *a)
    )
    spec = _spec("miss", extra=f'sampler = "{sampler}"')
    with pytest.raises(sweep.SweepError) as info:
        _quiet(spec, tmp_path / "s.sqlite")
    assert named in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "s.sqlite").exists()


def test_the_gp_sampler_without_pytorch_says_so_in_one_line(tmp_path):
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("PyTorch is installed here: GPSampler can run")
    with pytest.raises(sweep.SweepError) as info:
        _quiet(_spec("gp", extra='sampler = "gp"'), tmp_path / "s.sqlite")
    assert "pip install torch" in str(info.value) and "\n" not in str(info.value)


def test_the_space_maps_to_optunas_distributions_and_back():
    text = (
        'name = "space"\ndataset = "xor"\n[grid]\nactivation = ["tanh"]\n[random]\n'
        "learning_rate = {log_uniform = [0.001, 1.0]}\nhidden = [[8], [16, 8], [8]]\n"
        "bias = [true, false]\nsteps = {int_log_uniform = [8, 64]}\n"
        '[search]\nmethod = "optuna"\ntrials = 4\n'
    )
    spec = sweep.parse(text, "space.toml")
    space = distributions(spec, optuna)
    assert space["learning_rate"] == optuna.distributions.FloatDistribution(0.001, 1.0, log=True)
    assert space["steps"] == optuna.distributions.IntDistribution(8, 64, log=True)
    assert space["hidden"].choices == ("[8]", "[16, 8]")  # lists as JSON text, each once
    assert space["bias"].choices == (True, False)
    axes = axes_of(spec, {"learning_rate": 0.01, "hidden": "[16, 8]", "bias": False, "steps": 9})
    assert axes == {"learning_rate": 0.01, "hidden": [16, 8], "bias": False, "steps": 9}


# --- replaying a study -------------------------------------------------------------------------

SPACE = {
    "lr": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True),
    "width": optuna.distributions.IntDistribution(8, 256, log=True),
    "act": optuna.distributions.CategoricalDistribution(["relu", "tanh"]),
}


def _objective(p) -> float:
    return (math.log10(p["lr"]) + 2) ** 2 + abs(math.log2(p["width"]) - 6) + (p["act"] == "tanh")


def _history(sampler: str, batches: int, size: int = 5, replay_at: int | None = None):
    """Batches asked and told; with ``replay_at`` the study is rebuilt from the history
    (a fresh Replayed synced to it) before that batch is asked."""

    def make(b):
        return study.make_sampler(optuna, sampler, 7, b, size)

    replayed, stored, outcomes = study.Replayed(optuna, SPACE, "minimize", make), [], {}
    for b in range(batches):
        if b == replay_at:
            replayed = study.Replayed(optuna, SPACE, "minimize", make)
        replayed.sync(stored, outcomes)
        asked = replayed.ask(b, size)
        for params in asked:
            n = len(stored)
            stored.append({"number": n, "batch": b, "params": json.loads(json.dumps(params))})
            outcomes[n] = ("complete", _objective(params), {})
    return [t["params"] for t in stored]


@pytest.mark.parametrize("sampler", ["tpe", "cmaes", "qmc", "random"])
def test_a_study_rebuilt_from_its_stored_trials_asks_what_the_uninterrupted_one_asks(sampler):
    whole = _history(sampler, 3)
    assert _history(sampler, 3, replay_at=2) == whole  # CMA-ES's first tell is at batch 2
    assert _history(sampler, 3, replay_at=1) == whole
    assert len({json.dumps(p, sort_keys=True) for p in whole[-5:]}) == 5  # no batch collapses


def test_parallel_asks_use_optunas_remedies():
    tpe = study.make_sampler(optuna, "tpe", 0, 3, 16)
    cma = study.make_sampler(optuna, "cmaes", 0, 3, 16)
    assert tpe._constant_liar is True and cma._popsize == 16  # popsize follows the batch
    assert study.batch_seed(0, 3) != study.batch_seed(0, 4)
    assert study.batch_seed(2**70, 1) == study.batch_seed(2**70, 1) < 2**32  # any seed


def test_told_values_follow_the_sweeps_metric_and_rungs():
    def result(step, losses):
        return {"step": step, "val_loss": np.array(losses), "val_accuracy": np.array([0.5])}

    results = [result(8, [0.9, 0.5]), result(24, [0.7, 0.6])]
    value_at = optuna_search.value_at
    assert study.told(results, "completed", "best_val_loss", value_at) == (
        "complete", 0.5, {8: 0.5, 24: 0.5},
    )  # fmt: skip
    assert study.told(results[:1], "pruned", "final_val_loss", value_at) == (
        "pruned", None, {8: 0.5},
    )  # fmt: skip
    nan = [result(8, [float("nan")])]
    assert study.told(nan, "diverged", "best_val_loss", value_at) == ("fail", None, {})


# --- a study end to end ------------------------------------------------------------------------


def test_a_study_trains_each_batch_as_one_population_and_tells_every_trial(studied):
    spec, db, summary = studied
    trials = _trials(db)
    assert [(n, b) for n, b, _ in trials] == [(n, n // 4) for n in range(8)]
    rows = _rows(db)
    assert len(rows) == 8 and {s for s, _ in rows.values()} == {"completed"}
    assert summary.groups == 2 and summary.trained == 8  # 4 trials a program, twice
    assert summary.steps == (8 * 24, 8 * 24) and summary.configs == 8
    with store.opened(db) as conn:
        for t in store.stored_trials(conn, "tpe"):
            params = json.loads(t["params"])
            config = json.loads(t["config"])
            assert config["learning_rate"] == params["learning_rate"]
            assert config["init_scale"] == params["init_scale"]
            assert sweep.config_id("tpe", config) == t["config_id"]
        lines = "\n".join(sweep.store_summary(conn))
    assert "8 trials asked in 2 batches (8 distinct configs): 8 complete" in lines
    assert "search: optuna (trials 8, batch 4, pruner none, sampler tpe, seed 0)" in lines


def test_a_seed_past_int64_is_shown_whole_in_the_summary():
    from jaxnet.sweep.search import summary

    described = summary._described(
        {"method": "optuna", "trials": 8, "pruner": "none", "seed": 2**64, "min_steps": 1}
    )
    assert described == "optuna (trials 8, pruner none, seed 18446744073709551616)"


def test_a_study_leaves_jaxnet_as_json_tensorboard_runs_and_importances(studied, tmp_path):
    spec, db, _ = studied
    rc, text = run_cli(["runs", str(db), "--format", "jsonl", "--sweep", "tpe"])
    runs = [json.loads(line) for line in text.splitlines()]
    by_id = {r["config_id"]: r for r in runs}
    assert rc == 0 and len(runs) == 8
    with store.opened(db) as conn:
        for t in store.stored_trials(conn, "tpe"):
            lr = json.loads(t["params"])["learning_rate"]
            assert by_id[t["config_id"]]["config"]["learning_rate"] == lr
        (section,) = sweep.page.sweep_sections(conn)
    names = [name for name, _ in section["importances"]]
    assert sorted(names) == ["init_scale", "learning_rate"] and section["importances_note"] == ""
    assert sum(v for _, v in section["importances"]) == pytest.approx(1.0)
    html = sweep.page.render([section], {}, {}, "tpe.sqlite")
    assert "Parameter importances (Optuna, fANOVA)" in html and 'class="parallel"' in html
    if importlib.util.find_spec("tensorboardX"):
        rc, text = run_cli(["export", str(db), "--tensorboard", str(tmp_path / "tb")])
        assert rc == 0 and len(list((tmp_path / "tb" / "tpe").iterdir())) == 8 + 1  # + events


def test_a_rerun_of_a_finished_study_trains_nothing_and_more_trials_continue_it(studied, tmp_path):
    spec, db, _ = studied
    again = _quiet(spec, db)
    assert again.trained == 0 and again.groups == 0
    copy = tmp_path / "more.sqlite"
    copy.write_bytes(db.read_bytes())
    more = _quiet(_spec(trials=12), copy)
    assert more.trained == 4 and more.groups == 1  # one more batch, asked after the first two
    assert _trials(copy)[:8] == _trials(db) and len(_trials(copy)) == 12


def test_a_study_interrupted_after_any_transaction_resumes_to_the_same_trials(
    studied, tmp_path, monkeypatch
):
    spec, db, _ = studied
    expected_trials, expected_rows = _trials(db), _rows(db)
    # after batch 0 is asked; after it trained; after batch 1 is asked
    for name, crash_after, left in (
        ("save_trials", 1, 2),
        ("save_segment", 1, 1),
        ("save_trials", 2, 1),
    ):
        target = tmp_path / f"{name}{crash_after}.sqlite"
        real = getattr(store, name)
        calls = []

        def crashing(*args, real=real, calls=calls, crash_after=crash_after, **kwargs):
            out = real(*args, **kwargs)
            calls.append(1)
            if len(calls) == crash_after:
                raise KeyboardInterrupt  # the process dies right after this transaction
            return out

        monkeypatch.setattr(store, name, crashing)
        with pytest.raises(KeyboardInterrupt):
            _quiet(spec, target, keep_models="all")
        monkeypatch.setattr(store, name, real)
        before = _trials(target)
        again = _quiet(spec, target, keep_models="all")
        assert _trials(target)[: len(before)] == before  # nothing asked again
        assert _trials(target) == expected_trials  # the same trials as one uninterrupted run
        assert again.groups == left  # no population trained twice
        assert _rows(target).keys() == expected_rows.keys()
        for cid, (status, loss) in expected_rows.items():
            assert _rows(target)[cid][0] == status
            assert _rows(target)[cid][1] == pytest.approx(loss, rel=1e-6)


def _trial(spec, number, batch, lr):
    params = {"learning_rate": lr, "init_scale": 1.0}
    config = trial_config(spec, "classification", params)
    cid = sweep.config_id(spec.name, config)
    row = {"number": number, "batch": batch, "config_id": cid, "params": json.dumps(params)}
    return {**row, "config": sweep.canonical(config)}


def _result(rung, step, loss):
    return {"rung": rung, "step": step, "alive": 1, "val_loss": np.array([loss]),
            "val_accuracy": np.array([np.nan]), "eval_step": np.array([step])}  # fmt: skip


def test_with_the_halving_pruner_each_batch_is_a_bracket_told_back_as_pruned_trials():
    spec = _spec("bracket", trials=8, extra='pruner = "halving"\nmin_steps = 8\nfactor = 4')
    method = search.method_for(sweep.preflight(spec))
    trials = [_trial(spec, n, 0, lr) for n, lr in enumerate([0.1, 0.2, 0.3, 0.4])]
    configs = tuple(json.loads(t["config"]) for t in trials)
    ids = tuple(t["config_id"] for t in trials)

    def planned(results, rows=()):
        state = search.SearchState("bracket", "best_val_loss", configs, ids,
                                   {c: results.get(c, []) for c in ids}, frozenset(rows),
                                   tuple(trials))  # fmt: skip
        return state, method.plan(state)

    _, plan = planned({})
    assert [(t.rung, t.start, t.until, len(t.configs)) for t in plan.tasks] == [(0, 0, 8, 4)]
    losses = dict(zip(ids, [0.4, 0.1, 0.3, 0.2]))
    results = {c: [_result(0, 8, losses[c])] for c in ids}
    _, plan = planned(results)
    assert [(t.rung, t.start, t.until) for t in plan.tasks] == [(1, 8, 24)]  # the best one goes on
    assert plan.tasks[0].configs == (configs[1],) and not plan.ask
    assert sorted(plan.finished.values()) == ["pruned"] * 3
    results[ids[1]].append(_result(1, 24, 0.05))
    state, plan = planned(results)
    assert plan.ask and not plan.done and plan.finished[ids[1]] == "completed"
    told = [study.told(state.results[c], plan.finished[c], "best_val_loss", optuna_search.value_at)
            for c in ids]  # fmt: skip
    assert told[1] == ("complete", 0.05, {8: 0.1, 24: 0.05})
    assert [t[0] for t in told] == ["pruned", "complete", "pruned", "pruned"]
    assert told[0] == ("pruned", None, {8: 0.4})  # its rung-0 value, as Optuna's report
    # a second batch that asks an earlier trial's config again trains nothing for it
    trials += [_trial(spec, 4, 1, 0.2), _trial(spec, 5, 1, 0.9)]
    configs += (json.loads(trials[-1]["config"]),)
    ids += (trials[-1]["config_id"],)
    _, plan = planned(results)
    assert [t.configs for t in plan.tasks] == [(configs[-1],)]


def test_a_space_of_one_point_trains_it_once_and_tells_every_trial_its_value(tmp_path):
    spec = _spec("point", trials=6)
    method = search.method_for(sweep.preflight(spec))
    trials = [_trial(spec, n, n // 4, 0.1) for n in range(6)]  # every trial the same config
    (cid,) = {t["config_id"] for t in trials}
    config = (json.loads(trials[0]["config"]),)
    state = search.SearchState("point", "best_val_loss", config, (cid,), {cid: []}, frozenset(),
                               tuple(trials[:4]))  # fmt: skip
    plan = method.plan(state)
    assert [t.configs for t in plan.tasks] == [config]  # four trials, one population of one
    done = dataclasses.replace(state, results={cid: [_result(0, 24, 0.3)]}, rows=frozenset([cid]))
    assert method.plan(done).ask  # 4 of 6 trials asked
    done = dataclasses.replace(done, trials=tuple(trials))
    plan = method.plan(done)
    assert plan.done and not plan.tasks and plan.finished == {cid: "completed"}
    db = tmp_path / "point.sqlite"
    with store.opened(db) as conn:  # 6 trials, one row: the study is over
        store.insert_runs(conn, store.add_sweep(conn, "point", spec.source, "h"),
                          [fake_row(cid)])  # fmt: skip
        store.save_trials(conn, "point", trials)
        assert store.finished_trials(conn, "point") == 6 and method.left(conn) == 0


def test_importances_say_why_when_there_are_none(tmp_path, monkeypatch):
    spec = _spec("ties", trials=4)
    trials = [_trial(spec, n, 0, lr) for n, lr in enumerate([0.1, 0.2, 0.3, 0.4])]
    db = tmp_path / "ties.sqlite"
    with store.opened(db) as conn:
        sweep_id = store.add_sweep(conn, "ties", spec.source, "h")
        rows = [fake_row(t["config_id"], best_val_loss=0.5) for t in trials]  # all tie
        store.insert_runs(conn, sweep_id, rows)
        store.save_trials(conn, "ties", trials)
        store.record_search(conn, "ties", "optuna", "{}")
        (entry,) = store.sweeps(conn)
        found, why = importances(conn, entry, store.runs(conn, "ties"), "best_val_loss")
        assert found == [] and "could not be computed" in why and "variance" in why
        found, why = importances(conn, entry, store.runs(conn, "ties")[:1], "best_val_loss")
        assert found == [] and "at least 2 complete trials" in why
        monkeypatch.setitem(sys.modules, "optuna", None)
        found, why = importances(conn, entry, store.runs(conn, "ties"), "best_val_loss")
        assert found == [] and 'pip install "jaxnet[optuna]"' in why


@pytest.mark.slow
def test_a_pruned_study_stops_trials_at_rungs_and_tells_optuna_they_were_pruned(tmp_path):
    spec = _spec("pruned", trials=4, extra='pruner = "halving"\nmin_steps = 8\nfactor = 4')
    db = tmp_path / "p.sqlite"
    summary = _quiet(spec, db)
    with store.opened(db) as conn:
        rows = store.runs(conn, "pruned")
        stored = store.stored_trials(conn, "pruned")
    statuses = sorted((r["status"], r["steps_done"]) for r in rows)
    assert statuses == [("completed", 24), ("pruned", 8), ("pruned", 8), ("pruned", 8)]
    assert summary.steps == (4 * 8 + 16, 4 * 24)
    with store.opened(db) as conn:  # what the study was told, recomputed from the store
        st = search.load_state(conn, "pruned", "best_val_loss", [])
        finished = search.method_for(sweep.preflight(spec)).plan(st).finished
    outcomes = {
        t["number"]: study.told(
            st.results[t["config_id"]], finished[t["config_id"]], "best_val_loss",
            optuna_search.value_at,
        )
        for t in stored
    }  # fmt: skip
    assert sorted(o[0] for o in outcomes.values()) == ["complete", "pruned", "pruned", "pruned"]
    assert all(8 in o[2] for o in outcomes.values())  # every trial reported its rung-0 value


def test_a_stored_study_refuses_another_space_or_pruner_but_takes_more_trials(studied, tmp_path):
    spec, db, _ = studied
    copy = tmp_path / "c.sqlite"
    copy.write_bytes(db.read_bytes())
    other = sweep.parse(spec.source.replace("[0.5, 2.0]", "[0.5, 3.0]"), "tpe.toml")
    with pytest.raises(sweep.SweepError, match="other configs"):
        _quiet(other, copy)
    pruned = _spec(extra='pruner = "halving"\nmin_steps = 8')
    with pytest.raises(sweep.SweepError, match="other settings"):
        _quiet(pruned, copy)


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
name = "tpe"
dataset = "digits"
evals = 4
curve_points = 10
[grid]
steps = [600]
batch_size = [32]
[random]
learning_rate = {{log_uniform = [1e-4, 1e-1]}}
width = {{int_log_uniform = [8, 64]}}
depth = {{int_uniform = [1, 2]}}
[search]
method = "optuna"
trials = 24
batch = 8
{extra}
"""


@pytest.mark.slow
@pytest.mark.parametrize("extra", ["", 'pruner = "halving"\nmin_steps = 100'])
def test_a_study_killed_with_sigkill_and_rerun_trains_no_trial_twice(tmp_path, extra):
    toml = tmp_path / "tpe.toml"
    toml.write_text("max_padding = 1\n" + SLOW.format(extra=extra))
    whole = tmp_path / "whole.sqlite"
    proc = _sweep_process(toml, whole)
    try:
        out = proc.communicate(timeout=900)[0]
    finally:
        _stop(proc)
    assert proc.returncode == 0, out
    killed = tmp_path / "killed.sqlite"
    for goal in (2, 6):  # killed mid-batch after some segments, then again later
        proc = _sweep_process(toml, killed)
        try:
            deadline = time.monotonic() + 600
            while _count(killed, "SELECT count(DISTINCT task) FROM rung_results") < goal:
                assert proc.poll() is None, proc.communicate()[0]
                assert time.monotonic() < deadline
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        finally:
            _stop(proc)
    stored = _count(killed, "SELECT count(DISTINCT task) FROM rung_results")
    proc = _sweep_process(toml, killed)
    try:
        out = proc.communicate(timeout=900)[0]
    finally:
        _stop(proc)
    assert proc.returncode == 0, out
    trained = [line for line in out.splitlines() if line.startswith("[optuna")]
    assert len(trained) == _count(killed, "SELECT count(DISTINCT task) FROM rung_results") - stored
    assert _count(killed, "SELECT count(*) FROM trials") == 24
    with sqlite3.connect(killed) as a, sqlite3.connect(whole) as b:
        sql = "SELECT number, batch, params FROM trials ORDER BY number"
        assert a.execute(sql).fetchall() == b.execute(sql).fetchall()  # the same study
        seen = a.execute(
            "SELECT count(*), count(DISTINCT config_id || ':' || rung) FROM rung_results"
        ).fetchone()
        assert seen[0] == seen[1]  # no segment of any trial trained twice


@pytest.mark.slow
def test_two_processes_share_one_study_and_ask_each_batch_once(tmp_path):
    toml = tmp_path / "tpe.toml"
    toml.write_text("max_padding = 1\n" + SLOW.format(extra=""))
    db = tmp_path / "pair.sqlite"
    procs = [_sweep_process(toml, db, "--lease", "3") for _ in range(2)]
    try:
        outputs = [p.communicate(timeout=900)[0] for p in procs]
    finally:
        _stop(*procs)
    assert [p.returncode for p in procs] == [0, 0], outputs
    trained = [line for out in outputs for line in out.splitlines() if line.startswith("[optuna")]
    assert not any("stored it first" in line for line in trained)
    assert min(sum(line.startswith("[optuna") for line in o.splitlines()) for o in outputs) > 0
    assert _count(db, "SELECT count(*) FROM trials") == 24
    assert len(trained) == _count(db, "SELECT count(DISTINCT task) FROM rung_results")
    alone = tmp_path / "alone.sqlite"
    sweep.run(sweep.load(toml), alone, log=lambda line: None)
    with sqlite3.connect(db) as a, sqlite3.connect(alone) as b:
        sql = "SELECT number, params FROM trials ORDER BY number"
        assert a.execute(sql).fetchall() == b.execute(sql).fetchall()


@pytest.mark.slow
def test_a_study_on_ray_asks_and_stores_what_the_in_process_engine_does(studied, tmp_path):
    pytest.importorskip("ray")
    spec, db, _ = studied
    summary = _quiet(spec, tmp_path / "ray.sqlite", engine="ray", keep_models="all")
    assert summary.engine == "ray" and summary.trained == 8
    assert _trials(tmp_path / "ray.sqlite") == _trials(db)
    for cid, (status, loss) in _rows(db).items():
        got = _rows(tmp_path / "ray.sqlite")[cid]
        assert got[0] == status and got[1] == pytest.approx(loss, rel=1e-5)
