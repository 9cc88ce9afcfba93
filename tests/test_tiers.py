"""Tiered compilation and compile-ahead (jaxnet.tiers, jaxnet.program_cache, population.ahead):
tiers agree to the compiler's reassociation, the switch happens at a chunk boundary and only when
it pays, compile-ahead leaves nothing to compile, the clocks split main and background, both tiers
reach the persistent cache, and every bad switch is refused in one line."""

import math
import sqlite3
import threading
from concurrent.futures import Future

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tree_max_rel_err
from helpers import blobs, run_cli

import jaxnet as jn
from jaxnet import compile_cache, population, program_cache, sweep, tiers
from jaxnet.cli import main
from jaxnet.sweep import engines


class AtOnce:
    """An executor that runs each job when it is submitted: the background thread's work
    becomes deterministic (a tier-2 program asked for after chunk k is ready for chunk k+1)."""

    def submit(self, fn):
        future = Future()
        try:
            future.set_result(fn())
        except Exception as e:
            future.set_exception(e)
        return future


@pytest.fixture
def at_once():
    program_cache.set_executor(AtOnce())
    yield
    program_cache.set_executor(None)


def _population(net, dtype, steps=200, eval_every=20, members=3):
    x, y = blobs(n=64, seed=3)
    return population.fit_population(
        net,
        jax.random.split(jax.random.key(4), members),
        x,
        y,
        loss="cross_entropy",
        optimizer="adam",
        learning_rates=[0.01, 0.03, 0.003][:members],
        steps=steps,
        eval_every=eval_every,
        batch_size=16,
        dtype=dtype,
        progress=False,
    )


def _three_ways(monkeypatch, net, dtype):
    """The same population on tier 1 only, switched after its first chunk, and on tier 2 only
    (in that order: a kept tier-2 program would start the first two on tier 2)."""
    monkeypatch.setattr(tiers, "predicted", lambda flops: 0.0)  # start cheap; measure, then ask
    monkeypatch.setattr(tiers, "PAYBACK", math.inf)
    only1 = _population(net, dtype)
    monkeypatch.setattr(tiers, "PAYBACK", 0.0)  # every tier-1 second pays
    switched = _population(net, dtype)
    only2 = _population(net, dtype)  # tier 2 is kept now: the ladder starts on it
    return only1, switched, only2


@pytest.mark.parametrize(
    "dtype, rtol, width",
    [(jnp.float32, 1e-5, 11), pytest.param(jnp.float64, 1e-10, 13, marks=pytest.mark.slow)],
)  # widths no other test uses: these programs must be new to the process
def test_tier1_tier2_and_a_switch_mid_run_agree_to_reassociation(
    monkeypatch, at_once, x64, dtype, rtol, width
):
    net = jn.MLP((4, width, 3), activation="tanh")
    (p1, h1), (ps, hs), (p2, h2) = _three_ways(monkeypatch, net, dtype)
    assert h1.chunk_tiers == (1,) * 10
    assert hs.chunk_tiers == (1,) + (2,) * 9  # asked after chunk 1, switched at chunk 2
    assert h2.chunk_tiers == (2,) * 10
    for params, hist in [(ps, hs), (p2, h2)]:
        assert jax.tree.leaves(params)[0].dtype == dtype
        assert tree_max_rel_err(params, p1) <= rtol
        np.testing.assert_allclose(hist.loss, h1.loss, rtol=rtol)
    assert np.isfinite(h1.loss).all() and h1.loss[:, -1].max() < h1.loss[:, 0].min()


@pytest.mark.slow  # over 1.5 s: make test-slow
def test_short_runs_stay_on_the_cheap_tier_and_tiers_off_is_xla_defaults(tiers_off):
    net = jn.MLP((4, 6, 3), activation="tanh")
    x, y = blobs(n=48, seed=1)
    kw = dict(loss="cross_entropy", optimizer="sgd", learning_rate=0.1, steps=40, eval_every=10)
    params = jn.init(net, jax.random.key(0))
    _, off = jn.fit(net, params, x, y, progress=False, **kw)
    tiers.use_tiers(True)
    _, on = jn.fit(net, params, x, y, progress=False, **kw)
    assert off.chunk_tiers == (2,) * 4 and on.chunk_tiers == (1,) * 4
    assert tiers.compiler_options(1) == tiers.CHEAP
    np.testing.assert_allclose(on.loss, off.loss, rtol=1e-5)


def test_the_payback_rule_at_its_edges():
    # tier-1 seconds run + to run against PAYBACK * COMPILE_RATIO * the tier-1 compile
    bound = tiers.PAYBACK * tiers.COMPILE_RATIO * 1.0
    assert not tiers.pays(bound / 2, bound / 2, 1.0)  # exactly at the bound: not yet
    assert tiers.pays(bound / 2, bound / 2 + 1e-9, 1.0)
    assert tiers.pays(1e-6, 0.0, 0.0)  # a program loaded from the cache pays at once
    assert not tiers.pays(0.0, 0.0, 0.0)
    assert [tiers.chunks_after(d, 10, 35) for d in (0, 10, 20, 30)] == [3, 2, 1, 0]
    assert tiers.chunks_after(0, 40, 35) == 0

    assert tiers.training_flops(10, 4, 3, 2) == 6 * 10 * 4 * 3 * 2


@pytest.mark.slow  # over 1.5 s: make test-slow
def test_a_run_predicted_to_pay_for_the_optimized_compile_starts_on_it(monkeypatch):
    monkeypatch.setattr(tiers, "predicted", lambda flops: flops)  # a second per FLOP
    bound = tiers.PAYBACK * tiers.COMPILE_RATIO * tiers.compile_estimate()
    assert (tiers.first_tier(0, bound), tiers.first_tier(0, bound * 1.01)) == (1, 2)
    assert tiers.first_tier(1, bound / 2 * 1.01) == 2  # two chunks: the whole run counts
    assert tiers.first_tier(3, None) == 1  # unknown work: the cheap start
    with tiers.switched(False):
        assert tiers.first_tier(0, 0.0) == 2
    net = jn.MLP((4, 5, 3))
    x, y = blobs(n=32, seed=2)
    kw = dict(loss="cross_entropy", optimizer="sgd", learning_rate=0.1, progress=False)
    _, one = jn.fit(net, jn.init(net, jax.random.key(0)), x, y, steps=30, eval_every=30, **kw)
    _, two = jn.fit(net, jn.init(net, jax.random.key(0)), x, y, steps=30, eval_every=15, **kw)
    assert one.chunk_tiers == (2,) and two.chunk_tiers == (2, 2)  # a second a FLOP: long
    monkeypatch.setattr(tiers, "predicted", lambda flops: 0.0)
    net = jn.MLP((4, 6, 3))  # a new shape: nothing kept at either tier
    _, short = jn.fit(net, jn.init(net, jax.random.key(0)), x, y, steps=30, eval_every=15, **kw)
    assert short.chunk_tiers == (1, 1)


@pytest.mark.slow  # over 1.5 s: make test-slow
def test_compiled_ahead_a_population_compiles_nothing_when_it_trains(tmp_path):
    x, y = blobs(n=80, seed=5)
    nets = [jn.MLP((4, w, 3), activation="relu") for w in (17, 9)]  # a width bucket
    keys = jax.random.key_data(jax.random.split(jax.random.key(1), 2))
    kw = dict(
        loss="cross_entropy",
        optimizer="adam",
        learning_rates=[1e-2, 3e-3],
        steps=30,
        eval_every=10,
        batch_size=16,
        validation=(x[:20], y[:20]),
        evaluate={"train": (x, y)},
        progress=False,
    )
    main0, back0 = compile_cache.compile_clock(), compile_cache.background_clock()
    futures = population.compile_bucket_ahead(nets, keys, x, y, **kw)
    assert len(futures) == 3  # init, first chunk, final evaluation
    for f in futures:
        f.result()
    assert compile_cache.background_clock() > back0
    assert compile_cache.compile_clock() - main0 < 0.5  # the keys' host checks only
    count = tiers.compile_count()
    _, hist = population.fit_bucket(nets, keys, x, y, **kw)
    assert tiers.compile_count() == count and hist.compile_seconds == 0.0
    assert hist.chunk_tiers == (1, 1, 1)
    # refused arguments queue nothing: the run itself says what is wrong
    assert population.compile_ahead(nets[0], keys, x, y, **{**kw, "steps": 0}) == []
    assert population.compile_bucket_ahead([nets[0], "net"], keys, x, y, **kw) == []


@pytest.mark.slow  # over 1.5 s: make test-slow
def test_a_float64_program_compiled_ahead_in_the_background_is_float64(x64):
    x, y = blobs(n=40, seed=6)
    net = jn.MLP((4, 19, 3))
    keys = jax.random.key_data(jax.random.split(jax.random.key(2), 2))
    kw = dict(loss="cross_entropy", optimizer="sgd", learning_rates=[0.1, 0.2], steps=20)
    kw.update(eval_every=10, dtype=jnp.float64, progress=False)
    for f in population.compile_ahead(net, keys, x, y, **kw):
        f.result()  # traced on the background thread, where x64 is off unless carried over
    count = tiers.compile_count()
    params, hist = population.fit_population(net, keys, x, y, **kw)
    assert tiers.compile_count() == count and hist.compile_seconds == 0.0
    assert jax.tree.leaves(params)[0].dtype == jnp.float64


def test_waiting_for_the_background_is_main_thread_compile_time():
    release = threading.Event()
    x = jnp.asarray(blobs(n=8, seed=7)[0], jnp.float32)
    k = program_cache.key(program_cache.signature("held", (x,), {}), {})

    def job():  # a background compile that ends 0.2 s after the main thread asks for it
        release.wait(10)
        return program_cache.build(program_cache.lower(jnp.tanh, (x,), {}), {}, False, 0.0)

    program_cache.submit(k, job)
    threading.Timer(0.2, release.set).start()
    before = compile_cache.compile_clock()
    entry, seconds = program_cache.take(k, jnp.tanh, (x,), {})
    assert seconds >= 0.15 and compile_cache.compile_clock() - before >= 0.15
    np.testing.assert_allclose(entry.program(x), np.tanh(np.asarray(x)), rtol=1e-6)


def test_both_tiers_go_into_the_persistent_cache(tmp_path, monkeypatch, at_once):
    monkeypatch.setattr(tiers, "predicted", lambda flops: 0.0)  # start cheap; measure, then ask
    monkeypatch.setattr(tiers, "PAYBACK", 0.0)
    before = jax.config.jax_compilation_cache_dir
    try:
        compile_cache.enable(tmp_path / "cache")
        net = jn.MLP((4, 29, 3), activation="tanh")
        x, y = blobs(n=32, seed=8)
        kw = dict(loss="cross_entropy", optimizer="sgd", learning_rate=0.1, progress=False)
        _, hist = jn.fit(net, jn.init(net, jax.random.key(0)), x, y, steps=20, eval_every=5, **kw)
    finally:
        compile_cache.enable(before or None)
    assert hist.chunk_tiers == (1, 2, 2, 2)
    names = [p.name for p in (tmp_path / "cache").iterdir()]
    assert sum(n.startswith("jit_fast_chunk") for n in names) == 2  # one chunk, two tiers
    assert any(n.startswith("jit_init_state") for n in names)  # small programs are kept too


def test_the_in_process_engine_holds_one_group_ahead_only_with_tiers(tiers_off):
    assert engines.InProcess("s", None, 10).slots == 1
    tiers.use_tiers(True)
    assert engines.InProcess("s", None, 10).slots == 2


TINY = """
name = "{name}"
dataset = "xor"
evals = 3
curve_points = 10
max_padding = 1
[grid]
hidden = [[5], [7, 7]]
activation = ["tanh"]
learning_rate = [0.05, 0.2]
seed = [0, 1]
steps = [60]
batch_size = [32]
"""


def _stored(db) -> list:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT config, final_val_loss FROM runs ORDER BY config").fetchall()


@pytest.mark.slow  # over 1.5 s: make test-slow
def test_a_sweep_says_its_tiers_and_ranks_the_same_with_tiers_on_and_off(tmp_path, monkeypatch):
    (tmp_path / "on.toml").write_text(TINY.format(name="on"))
    (tmp_path / "off.toml").write_text(TINY.format(name="off").replace(", [7, 7]]", "]"))
    rc, on = run_cli(["sweep", str(tmp_path / "on.toml"), "--store", str(tmp_path / "on.db")])
    monkeypatch.setenv("JAXNET_TIERS", " OFF ")  # the environment, as the flag's default
    rc_off, off = run_cli(["sweep", str(tmp_path / "off.toml"), "--store", str(tmp_path / "x.db")])
    assert not rc and not rc_off
    on_lines, off_lines = on.splitlines(), off.splitlines()
    # a line per group (2) and the closing line say the tiers and where compiling happened
    assert "programs at tier 1: 3, tier 2: 0" in on_lines[1]
    assert "programs at tier 1: 0, tier 2: 3" in off_lines[1]
    assert "programs at tier 1: 6, tier 2: 0" in on_lines[3]
    assert "programs at tier 1: 0, tier 2: 3" in off_lines[2]
    assert "compiling on the main thread" in on_lines[3]
    assert "the background thread compiled for 0.0 s (0% of the wall time)" in off_lines[2]
    assert "the background thread compiled for 0.0 s" not in on_lines[3]  # group 2 compiled ahead
    monkeypatch.setenv("JAXNET_TIERS", "off")
    rc, again = run_cli(["sweep", str(tmp_path / "on.toml"), "--store", str(tmp_path / "y.db"),
                         "--tiers", "on"])  # fmt: skip
    assert "programs at tier 1: 6, tier 2: 0" in again.splitlines()[3]  # the flag wins
    # the same configs, metrics to float32 reassociation, and the same ranking
    off_rows = _stored(tmp_path / "x.db")
    on_rows = [r for r in _stored(tmp_path / "on.db") if r[0] in {c for c, _ in off_rows}]
    assert [r[0] for r in on_rows] == [r[0] for r in off_rows] and len(on_rows) == 4
    on_loss, off_loss = (np.array([r[1] for r in rows]) for rows in (on_rows, off_rows))
    np.testing.assert_allclose(on_loss, off_loss, rtol=1e-5, atol=1e-8)
    assert np.array_equal(np.argsort(on_loss), np.argsort(off_loss))


@pytest.mark.parametrize("value", ["maybe", "", "1", "true", "o n"])
def test_a_bad_tiers_switch_is_refused_in_one_line(tmp_path, monkeypatch, value, capsys):
    net = jn.MLP((3, 2))
    monkeypatch.setenv("JAXNET_TIERS", value)
    with pytest.raises(ValueError, match=rf"JAXNET_TIERS must be 'on' or 'off'; got {value!r}"):
        jn.fit(net, jn.init(net, jax.random.key(0)), np.ones((4, 3)), np.ones((4, 2)),
               loss="mse", optimizer="sgd", learning_rate=0.1, steps=3)  # fmt: skip
    path = tmp_path / "t.toml"
    path.write_text(TINY.format(name="t"))
    with pytest.raises(ValueError, match="JAXNET_TIERS must be"):
        sweep.run(sweep.load(path), tmp_path / "t.sqlite", log=lambda line: None)
    assert not (tmp_path / "t.sqlite").exists()  # refused before the store was opened
    monkeypatch.delenv("JAXNET_TIERS")
    for bad in (value, 1, "ON!"):
        with pytest.raises(ValueError, match=r"^tiers must be 'on' or 'off'; got "):
            sweep.run(sweep.load(path), tmp_path / "t.sqlite", tiers=bad, log=lambda line: None)
        with pytest.raises(ValueError, match=r"^tiers must be 'on' or 'off'"):
            tiers.use_tiers(bad)
    assert not (tmp_path / "t.sqlite").exists()
    with pytest.raises(ValueError, match=r"^tier must be 1 or 2; got 3$"):
        tiers.compiler_options(3)
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", str(path), "--tiers", value])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1
    assert err[0].startswith("jaxnet sweep: error: argument --tiers: invalid choice")


def test_the_background_thread_runs_the_urgent_job_first_and_cancels_without_deadlock():
    started, release, ran = threading.Event(), threading.Event(), []

    def job(name):
        def run():
            if name.startswith("blocker"):
                started.set()
                release.wait(10)
            ran.append(name)
            return program_cache.Entry(program=name, seconds=0.0)

        return run

    def key(name):
        return program_cache.key(("order-test", name), {})

    program_cache.submit(key("blocker"), job("blocker"))  # holds the one worker
    started.wait(10)
    program_cache.submit(key("a"), job("a"))  # ahead work, queued first
    program_cache.submit(key("b"), job("b"), program_cache.NOW)  # a running loop's: first
    program_cache.submit(key("c"), job("c"))
    program_cache.submit(key("c"), job("c"), program_cache.NOW)  # asked again, now urgent
    program_cache.submit(key("d"), job("d"))
    release.set()
    program_cache.settle(10)
    assert ran == ["blocker", "b", "c", "a", "d"]
    assert program_cache.get(key("c")).program == "c"
    started.clear(), release.clear()
    program_cache.submit(key("blocker2"), job("blocker2"))
    started.wait(10)
    program_cache.submit(key("e"), job("e"))
    program_cache.submit(key("f"), job("f"), program_cache.NOW)
    assert program_cache.cancel_pending() == 2  # e and f; the running one goes on
    release.set()
    program_cache.settle(10)
    assert ran[-1] == "blocker2" and not program_cache.pending(key("e"))
    assert program_cache.get(key("e")) is None and program_cache.get(key("f")) is None


def test_a_background_compile_that_fails_is_done_again_where_its_error_surfaces():
    x = jnp.asarray(blobs(n=8, seed=10)[0], jnp.float32)
    k = program_cache.key(program_cache.signature("fails-in-the-background", (x,), {}), {})

    def broken():
        raise RuntimeError("lost its worker")

    program_cache.submit(k, broken)
    entry, _ = program_cache.take(k, jnp.cos, (x,), {})  # compiled here instead
    np.testing.assert_allclose(entry.program(x), np.cos(np.asarray(x)), rtol=1e-6)
    bad = program_cache.key(program_cache.signature("bad-args", (x,), {}), {})
    with pytest.raises(TypeError):  # a program that cannot be built says so on the caller's side
        program_cache.take(bad, jnp.matmul, (x,), {})


def test_the_switch_precedence_and_a_with_block_restores_it_after_an_error(monkeypatch):
    monkeypatch.setenv("JAXNET_TIERS", "off")
    try:
        assert not tiers.enabled() and tiers.once_tier() == 2 and tiers.compiler_options(2) == {}
        tiers.use_tiers("ON")  # the process's switch wins over the environment
        assert tiers.enabled() and tiers.once_tier() == 1
        if jax.default_backend() == "cpu":
            assert tiers.compiler_options(2) == {"xla_backend_optimization_level": 2}
        with pytest.raises(RuntimeError), tiers.switched(False):
            assert not tiers.enabled()
            raise RuntimeError("inside")
        assert tiers.enabled()  # restored although the block raised
        with tiers.switched(None):  # None changes nothing
            assert tiers.enabled()
        tiers.use_tiers(None)  # back to the environment
        assert not tiers.enabled()
        monkeypatch.setenv("JAXNET_TIERS", "bogus")
        with tiers.switched("off"):  # a switch set in code never reads the environment
            assert not tiers.enabled()
        with pytest.raises(ValueError, match="JAXNET_TIERS must be 'on' or 'off'; got 'bogus'"):
            tiers.enabled()
    finally:
        tiers.use_tiers(None)


def test_a_tier2_compile_that_fails_leaves_the_run_on_tier1(monkeypatch, at_once):
    monkeypatch.setattr(tiers, "predicted", lambda flops: 0.0)  # start cheap; measure, then ask
    monkeypatch.setattr(tiers, "PAYBACK", 0.0)  # every tier-1 second pays
    broken = {name: {"xla_no_such_option": 1} for name in ("cpu", "gpu", "cuda", "tpu")}
    monkeypatch.setattr(tiers, "OPTIMIZED", broken)  # what an option a backend lacks would do
    net = jn.MLP((4, 31, 3), activation="tanh")  # a width no other test uses
    x, y = blobs(n=32, seed=11)
    kw = dict(loss="cross_entropy", optimizer="sgd", learning_rate=0.1, progress=False)
    _, hist = jn.fit(net, jn.init(net, jax.random.key(0)), x, y, steps=20, eval_every=5, **kw)
    assert hist.chunk_tiers == (1, 1, 1, 1)  # asked after chunk 1, never ready: no switch
    assert np.isfinite(hist.loss).all() and hist.loss[-1] < hist.loss[0]
