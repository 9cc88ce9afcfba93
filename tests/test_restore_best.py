"""fit(..., restore_best=True) and `jaxnet train --keep`: the best-validation params are kept."""

import jax
import numpy as np
import pytest
from conftest import tree_allclose

import jaxnet as jn

NET = jn.MLP((4, 32, 3), activation="relu")


def _noise(seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(40, 4)), rng.normal(size=(40, 3))  # pure noise: val loss turns up
    return x, y, (rng.normal(size=(40, 4)), rng.normal(size=(40, 3)))


KW = dict(loss="mse", optimizer="adam", learning_rate=1e-2, eval_every=25)


def test_restore_best_returns_the_params_of_the_best_step_after_all_steps():
    x, y, val = _noise()
    params = jn.init(NET, jax.random.key(0))
    best, h = jn.fit(NET, params, x, y, steps=150, validation=val, restore_best=True, **KW)
    last, h_last = jn.fit(NET, params, x, y, steps=150, validation=val, **KW)
    i = int(np.argmin(h.val_loss))
    assert h.status == "completed" and h.steps == 150 and len(h.loss) == 150  # no early stop
    assert h.best_step == h.eval_step[i] < 150 and h.val_loss[-1] > h.val_loss[i]
    np.testing.assert_array_equal(h.val_loss, h_last.val_loss)
    # The kept params are exactly those after best_step updates: replaying that many agrees.
    replay, _ = jn.fit(NET, params, x, y, steps=h.best_step, **KW)
    assert tree_allclose(best, replay, rtol=0)
    assert not tree_allclose(best, last, rtol=1e-3)


def test_restore_best_when_the_last_step_is_best_keeps_the_last_params():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 4))
    y = x[:, :3] * 2.0  # learnable: validation on the same rows keeps falling
    params = jn.init(NET, jax.random.key(0))
    best, h = jn.fit(NET, params, x, y, steps=100, validation=(x, y), restore_best=True, **KW)
    last, _ = jn.fit(NET, params, x, y, steps=100, **KW)
    assert h.best_step == 100 and tree_allclose(best, last, rtol=0)


def test_restore_best_needs_validation_and_a_bool():
    x, y, val = _noise()
    params = jn.init(NET, jax.random.key(0))
    with pytest.raises(ValueError, match="restore_best=True needs validation"):
        jn.fit(NET, params, x, y, steps=10, restore_best=True, **KW)
    with pytest.raises(TypeError, match="restore_best must be True or False; got 'yes'"):
        jn.fit(NET, params, x, y, steps=10, validation=val, restore_best="yes", **KW)


def test_restore_best_after_a_divergence_returns_finite_best_params(tiers_off):
    # bit for bit: with tiers on, a chunk's tier depends on when the background compile ends
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4))
    kw = dict(loss="mse", optimizer="sgd", learning_rate=0.05, eval_every=5)
    y = 100.0 * x[:, :3]
    params = jn.init(NET, jax.random.key(0))
    kept, h = jn.fit(NET, params, x, y, steps=500, validation=(x, y), restore_best=True, **kw)
    assert h.status == "diverged" and h.best_step is not None and h.best_step < h.steps
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(kept))
    replay, _ = jn.fit(NET, params, x, y, steps=h.best_step, **kw)
    assert tree_allclose(kept, replay, rtol=0)
