import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tree_max_rel_err
from helpers import blobs

import jaxnet as jn
from jaxnet import population as pop

NET = jn.MLP((4, 8, 3), activation="tanh")


def _member(params, i):
    return jax.tree.map(lambda a: a[i], params)


def test_each_member_equals_fit_alone(x64):
    x, y = blobs(n=96)
    keys = jax.random.split(jax.random.key(7), 3)
    lrs = np.array([0.05, 0.2, 0.5])
    scales = np.array([1.0, 0.5, 2.0])
    kw = dict(loss="cross_entropy", optimizer="momentum", steps=120, batch_size=32, eval_every=60)
    stacked, hist = pop.fit_population(
        NET, keys, x, y, learning_rates=lrs, init_scales=scales, dtype=jnp.float64, **kw
    )
    assert hist.loss.shape == (3, 120) and hist.status == ("completed",) * 3
    for i in range(3):
        init_key, batch_key = pop.member_keys(keys[i])
        p0 = jax.tree.map(lambda a, i=i: a * scales[i], jn.init(NET, init_key, jnp.float64))
        alone, h = jn.fit(NET, p0, x, y, learning_rate=lrs[i], key=batch_key, **kw)
        assert tree_max_rel_err(_member(stacked, i), alone) < 1e-12
        np.testing.assert_allclose(hist.loss[i], h.loss, rtol=1e-12)


def test_a_diverging_member_is_frozen_and_the_others_are_untouched():
    x, y = blobs(n=96)
    keys = jax.random.split(jax.random.key(1), 4)
    kw = dict(loss="mse", optimizer="sgd", steps=200, eval_every=50)
    target = 50.0 * x[:, :3]
    lrs = np.array([1e-3, 3e-3, 50.0, 2e-3])
    params, hist = pop.fit_population(NET, keys, x, target, learning_rates=lrs, **kw)
    assert hist.status == ("completed", "completed", "diverged", "completed")
    assert hist.steps[2] < 200 and all(hist.steps[[0, 1, 3]] == 200)
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(params))
    sane = [0, 1, 3]
    alone, hist_alone = pop.fit_population(
        NET, keys[np.array(sane)], x, target, learning_rates=lrs[sane], **kw
    )
    for j, i in enumerate(sane):  # bit-identical, not merely close
        for a, b in zip(jax.tree.leaves(_member(params, i)), jax.tree.leaves(_member(alone, j))):
            assert np.array_equal(np.asarray(a), np.asarray(b))
    assert np.array_equal(hist.loss[sane], hist_alone.loss)


def test_seeds_and_learning_rates_do_not_recompile():
    x, y = blobs(n=96)
    kw = dict(loss="cross_entropy", optimizer="adam", steps=40, batch_size=16, eval_every=40)
    pop.fit_population(
        NET, jax.random.split(jax.random.key(0), 4), x, y, learning_rates=[1e-3] * 4, **kw
    )
    before = pop.compile_count()
    _, h = pop.fit_population(
        NET,
        jax.random.split(jax.random.key(5), 4),
        x,
        y,
        learning_rates=[1e-2, 1e-3, 3e-3, 1e-1],
        init_scales=[1, 2, 3, 4],
        **kw,
    )
    assert pop.compile_count() == before and h.compile_seconds == 0.0
    pop.fit_population(
        jn.MLP((4, 9, 3), activation="tanh"),
        jax.random.split(jax.random.key(5), 4),
        x,
        y,
        learning_rates=[1e-3] * 4,
        **kw,
    )
    assert pop.compile_count() == before + 2  # its init and its training program


def test_bad_population_arguments():
    x, y = blobs(n=96)
    keys = jax.random.split(jax.random.key(0), 3)
    kw = dict(loss="cross_entropy", optimizer="sgd", steps=5)
    with pytest.raises(
        ValueError, match=r"learning_rates must have one value per key \(3\); got shape \(2,\)"
    ):
        pop.fit_population(NET, keys, x, y, learning_rates=[0.1, 0.2], **kw)
    with pytest.raises(TypeError, match="keys must be a 1-D array of jax.random keys"):
        pop.fit_population(NET, [1, 2, 3], x, y, learning_rates=[0.1] * 3, **kw)
    with pytest.raises(ValueError, match="x must have 4 features"):
        pop.fit_population(NET, keys, x[:, :3], y, learning_rates=[0.1] * 3, **kw)


_SHARDED_SCRIPT = r"""
import json, sys, jax, numpy as np
import jaxnet as jn
from jaxnet import population as pop
rng = np.random.default_rng(0); y = rng.integers(0, 3, 64); x = rng.normal(size=(64, 4)) + 3 * np.eye(3, 4)[y]
net = jn.MLP((4, 8, 3), activation="tanh")
keys = jax.random.split(jax.random.key(3), 5)
kw = dict(loss="cross_entropy", optimizer="sgd", learning_rates=np.linspace(0.05, 0.5, 5), steps=60, batch_size=16)
sharded, h = pop.fit_population(net, keys, x, y, **kw)
single, _ = pop.fit_population(net, keys, x, y, devices=jax.devices()[:1], **kw)
leaf = sharded[0]["w"]
print(json.dumps({
    "devices": len(jax.devices()),
    "shards": len(leaf.sharding.device_set) if hasattr(leaf, "sharding") else 1,
    "members": int(leaf.shape[0]),
    "max_diff": max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                    for a, b in zip(jax.tree.leaves(sharded), jax.tree.leaves(single))),
}))
"""


def test_population_is_sharded_over_devices_and_padded():
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu"
    )
    out = subprocess.run(
        [sys.executable, "-c", _SHARDED_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["devices"] == 2 and result["members"] == 5
    assert result["max_diff"] < 1e-5  # 5 members padded to 6, split 3 + 3 over two devices


def test_jaxnet_asks_for_one_cpu_device_per_core():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    code = "import jaxnet, jax, os; print(len(jax.devices()), os.cpu_count())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    devices, cores = map(int, out.stdout.split())
    assert devices == cores


def test_a_population_history_prints_in_one_line():
    h = jn.PopulationHistory(
        loss=np.zeros((16, 100)),
        eval_step=np.array([50, 100]),
        val_loss=np.zeros((16, 2)),
        val_accuracy=np.zeros((16, 2)),
        status=("completed",) * 15 + ("diverged",),
        steps=np.full(16, 100),
        seconds=3.0,
        compile_seconds=1.0,
    )
    assert repr(h) == "PopulationHistory(16 members, 1 diverged, 100 steps, 2 evaluations, 3.0 s)"
