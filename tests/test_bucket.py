"""Width buckets and cheaper groups (issue 11): padded members are exactly their own nets, the
bucket policy bounds padding, a sweep group compiles a handful of programs, the compile cache
is used, and fit's unguarded chunks give exactly the guarded loop's result."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import blobs

import jaxnet as jn
from jaxnet import _validate, population, store, sweep, train
from jaxnet.sweep import plan

ROOT = Path(__file__).resolve().parents[1]


def _max_diff(a, b) -> float:
    return max(
        float(np.max(np.abs(np.asarray(u) - np.asarray(v))))
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


CASES = [
    ("sigmoid", "manual", True),  # f(0) = 1/2: a padded unit's output must not reach on
    pytest.param("relu", "auto", False, marks=pytest.mark.slow),
    pytest.param("softplus", "auto", True, marks=pytest.mark.slow),
    pytest.param("gelu", "manual", True, marks=pytest.mark.slow),
    pytest.param("elu", "auto", True, marks=pytest.mark.slow),
    pytest.param("tanh", "manual", False, marks=pytest.mark.slow),
    pytest.param("leaky_relu", "manual", True, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("activation, grads, bias", CASES)
def test_each_bucket_member_is_exactly_its_own_net_trained_alone(x64, activation, grads, bias):
    x, y = blobs(n=48)
    nets = [jn.MLP((4, *h, 3), activation=activation, bias=bias) for h in ((5, 2), (2, 6))]
    keys = jax.random.split(jax.random.key(3), 2)
    lrs = np.array([0.05, 0.2])
    kw = dict(loss="cross_entropy", optimizer="adam", steps=12, batch_size=16, eval_every=6)
    params, hist = population.fit_bucket(
        nets,
        keys,
        x,
        y,
        learning_rates=lrs,
        grads=grads,
        validation=(x, y),
        dtype=jnp.float64,
        **kw,
    )
    assert population.bucket_net(nets).sizes == (4, 5, 6, 3)
    for i, net in enumerate(nets):
        init_key, batch_key = population.member_keys(keys[i])
        p0 = jn.init(net, init_key, jnp.float64)  # its own fan-in and fan-out
        alone, h = jn.fit(
            net, p0, x, y, learning_rate=lrs[i], key=batch_key, grads=grads, validation=(x, y), **kw
        )
        assert _max_diff(population.member_params(net, params, i), alone) < 1e-10
        np.testing.assert_allclose(hist.loss[i], h.loss, rtol=1e-10, atol=0)
        np.testing.assert_allclose(hist.val_loss[i], h.val_loss, rtol=1e-10, atol=0)
    # the padding stays exactly zero: member 1's first layer has 2 of 5 units
    assert not np.any(np.asarray(params[0]["w"][1])[:, 2:])
    assert not np.any(np.asarray(params[1]["w"][1])[2:, :])


def test_bucket_nets_that_cannot_share_a_program_are_refused():
    x, y = blobs(n=48)
    kw = dict(loss="cross_entropy", optimizer="sgd", steps=2, learning_rates=[0.1, 0.1])
    keys = jax.random.split(jax.random.key(0), 2)
    bad = [
        [jn.MLP((4, 5, 3)), jn.MLP((4, 5, 3), activation="tanh")],
        [jn.MLP((4, 5, 3)), jn.MLP((4, 5, 5, 3))],
        [jn.MLP((4, 5, 3)), jn.MLP((4, 5, 2))],
        [jn.MLP((4, 5, 3)), jn.MLP((3, 5, 3))],
        [jn.MLP((4, 5, 3)), jn.MLP((4, 5, 3), bias=False)],
    ]
    for nets in bad:
        with pytest.raises(ValueError, match="nets must"):
            population.fit_bucket(nets, keys, x, y, **kw)
    for nets in ([], "mlp", [jn.MLP((4, 5, 3)), (4, 5, 3)]):
        with pytest.raises(TypeError, match="nets must be a non-empty list of jaxnet.MLP"):
            population.fit_bucket(nets, keys, x, y, **kw)
    with pytest.raises(ValueError, match=r"nets must have one net per key \(2\); got 3"):
        population.fit_bucket([jn.MLP((4, 5, 3))] * 3, keys, x, y, **kw)


def _demo_configs():
    spec = sweep.load(ROOT / "experiments/sweeps/demo.toml")
    return sweep.expand(spec, "classification")


def test_the_bucket_policy_bounds_every_members_padded_flops():
    configs, ends = _demo_configs(), (64, 10)
    assert len(sweep.group(configs, 1000)) == 24  # max_padding 1: one group per shape
    groups = sweep.group(configs, 1000, 4.0, ends)
    # Worked out by hand: depth 1 {128, 64, 32} {16}, depths 2 and 3 {128, 64} {32, 16}, for
    # each of 2 activations; 2 lrs x 3 seeds per width.
    widths = sorted(sorted({c["hidden"][0] for c in g}) for g in groups)
    assert len(groups) == 12 and sum(map(len, groups)) == 144
    assert widths.count([16]) == 2 and widths.count([32, 64, 128]) == 2
    assert widths.count([64, 128]) == 4 and widths.count([16, 32]) == 4
    for g in groups:
        widest = np.max([c["hidden"] for c in g], axis=0)
        assert all(plan.flops(widest, ends) <= 4 * plan.flops(c["hidden"], ends) for c in g)
        assert len({(c["activation"], len(c["hidden"])) for c in g}) == 1
    overhead = plan.padding_overhead(groups, ends)
    assert 0 < overhead < 3 and plan.padding_overhead(sweep.group(configs, 1000), ends) == 0


@pytest.mark.parametrize("bad", [0.5, 0, -4, "4", True, float("nan")])
def test_a_bad_max_padding_is_a_one_line_error(bad):
    with pytest.raises(sweep.SweepError, match="max_padding must be a number of at least 1"):
        sweep.from_dict({"name": "t", "dataset": "xor", "grid": {}, "max_padding": bad})


BUCKETED = """
name = "{name}"
dataset = "xor"
evals = 2
[grid]
hidden = [[40], [9], [7]]
activation = ["sigmoid"]
learning_rate = [0.05, 0.2]
seed = [0, 1]
steps = [8]
batch_size = [0]
"""


def test_a_bucketed_sweep_stores_true_sizes_and_compiles_few_programs(tmp_path):
    path = tmp_path / "b.toml"
    path.write_text(BUCKETED.format(name="bucketed"))
    summary = sweep.run(sweep.load(path), tmp_path / "b.sqlite", log=lambda _: None)
    # 40 units padded would be 5.7x the FLOPs of 7: {40} and {9, 7} are the two groups
    assert (summary.trained, summary.groups) == (12, 2)
    assert summary.programs <= 5 * summary.groups  # XLA compilations, eager ones included
    assert 0 < summary.padding < 0.5 and "programs compiled" in summary.describe()
    with store.opened(tmp_path / "b.sqlite", must_exist=True) as conn:
        rows = store.runs(conn, "bucketed")
    for r in rows:
        width = int(r["hidden"])
        assert r["n_params"] == 2 * width + width + width * 2 + 2  # its own net's
        assert r["group_size"] == (4 if width == 40 else 8) and r["status"] == "completed"


def _cli_sweep(tmp_path, name: str, cache: Path) -> str:
    path = tmp_path / f"{name}.toml"
    path.write_text(BUCKETED.format(name=name))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAXNET_CACHE_DIR": str(cache)}
    command = [sys.executable, "-m", "jaxnet.cli", "sweep", str(path)]
    command += ["--store", str(tmp_path / f"{name}.sqlite")]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=True)
    return next(s for s in out.stdout.splitlines() if s.startswith(f"{name}: trained 12"))


def _loaded(line: str) -> int:
    return int(line.split("programs compiled, ")[1].split()[0])


@pytest.mark.slow
def test_a_second_process_loads_every_program_from_the_compile_cache(tmp_path):
    cache = tmp_path / "cache"
    first = _cli_sweep(tmp_path, "first", cache)
    assert _loaded(first) == 0 and any(cache.iterdir())
    again = _cli_sweep(tmp_path, "again", cache)  # the same shapes under a new name
    assert _loaded(again) >= 6, again  # init, training and evaluation of both groups
    assert " 0 programs compiled" in again


def test_the_compile_cache_respects_the_users_folder_and_can_be_turned_off(tmp_path):
    from jaxnet import compile_cache

    before = jax.config.jax_compilation_cache_dir
    try:
        assert compile_cache.enable(tmp_path / "mine") == str(tmp_path / "mine")
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "mine")
        assert compile_cache.enable("off") is None
        assert not jax.config.jax_enable_compilation_cache
    finally:
        compile_cache.enable(before or None)
    assert compile_cache.default_dir().parts[-2:] == ("jaxnet", "jax")


def _guarded_fit(net, params, x, y, steps, eval_every, tx):
    """Today's loop: every chunk guarded (the reference for fit's unguarded chunks)."""
    state = train.init_state(params, tx, jax.random.key(0))
    n_chunks, length = train.chunking(steps, eval_every)
    static = dict(net=net, loss="mse", tx=tx, grads="auto", batch_size=None, length=length)
    for _ in range(n_chunks):
        state, _ = train.run_chunk(state, x, y, np.int32(steps), **static)
        if not bool(state.alive):
            break
    return state.params, int(state.step)


@pytest.mark.parametrize("lr", [1e-3, 40.0])  # converging, diverging in the second chunk
def test_fit_unguarded_chunks_return_exactly_the_guarded_loops_params_and_step(lr, tiers_off):
    x, y = blobs(16)
    target = jnp.asarray(20.0 * x[:, :3], jnp.float32)
    net = jn.MLP((4, 6, 3), activation="tanh")
    params = jn.init(net, jax.random.key(1))
    xj = jnp.asarray(x, jnp.float32)
    tx = optax.sgd(lr)
    got, hist = jn.fit(net, params, xj, target, loss="mse", optimizer=tx, steps=20, eval_every=7)
    want, step = _guarded_fit(net, params, xj, target, 20, 7, tx)
    assert hist.steps == step and (hist.status == "diverged") == (lr > 1)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert np.array_equal(np.asarray(a), np.asarray(b))  # bit-identical


def test_a_device_array_is_checked_for_finiteness_on_the_device():
    net = jn.MLP((3, 2))
    params = jn.init(net, jax.random.key(0))
    x = jnp.ones((4, 3)).at[2, 1].set(jnp.nan)
    with pytest.raises(ValueError, match=r"x must be finite; got nan at index \(2, 1\)"):
        _validate.inputs(net, params, x)
    assert _validate.inputs(net, params, jnp.ones((4, 3))).shape == (4, 3)


def test_residual_nets_are_not_padded_into_a_skip_they_do_not_have():
    # On 64 inputs a residual [64] net skips its first layer and a [32] one does not: padding
    # the [32] member to 64 would give it a skip, so a bucket refuses them and a sweep keeps
    # residual configs in groups of their own widths.
    nets = [jn.MLP((64, 64, 10), residual=True), jn.MLP((64, 32, 10), residual=True)]
    with pytest.raises(ValueError, match="residual nets"):
        population.bucket_net(nets)
    plain = [dataclasses.replace(n, residual=False) for n in nets]
    assert population.bucket_net(plain).sizes == (64, 64, 10)
    configs = [{**c, "residual": True} for c in ({"hidden": [64]}, {"hidden": [32]})]
    base = {
        "activation": "relu",
        "bias": True,
        "optimizer": "adam",
        "batch_size": 32,
        "steps": 10,
        "output_activation": "identity",
        "init": "auto",
        "loss": "mse",
        "seed": 0,
        "learning_rate": 1e-3,
        "init_scale": 1.0,
    }
    configs = [{**base, **c} for c in configs]
    assert plan.bucket_key(configs[0], 100) != plan.bucket_key(configs[1], 100)
