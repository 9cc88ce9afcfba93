"""Weight decay (decoupled), the L2 term, learning-rate schedules as data, and early stopping
member by member."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import tree_max_rel_err
from helpers import blobs

import jaxnet as jn
from jaxnet import optimizers, schedules
from jaxnet import population as pop
from jaxnet.schedules import Schedule

NET = jn.MLP((4, 8, 3), activation="tanh")


@jax.jit
def _schedules_both_ways(t):
    """``{case: (ours, optax's)}`` over the steps ``t``: one compiled program, not op by op."""
    f32, steps, out = jnp.float32, 100, {}
    for final in (0.0, 0.3):
        out[f"cosine {final}"] = (
            schedules.factor("cosine", t, f32(final), None, f32(steps)),
            optax.cosine_decay_schedule(1.0, steps, alpha=final)(t),
        )
        out[f"warmup_cosine {final}"] = (
            schedules.factor("warmup_cosine", t, f32(final), f32(37), f32(steps)),
            optax.warmup_cosine_decay_schedule(0.0, 1.0, 37, steps, final)(t),
        )
    out["exponential"] = (
        schedules.factor("exponential", t, f32(0.01), None, f32(steps)),
        optax.exponential_decay(1.0, steps, 0.01)(t),
    )
    return out


def test_schedules_equal_optax_at_every_step():
    for case, (ours, theirs) in _schedules_both_ways(jnp.arange(0, 101)).items():
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7, err_msg=case)
    assert schedules.factor("constant", 7) == 1.0


@jax.jit
def _named_and_rebuilt(params, grads):
    """Two steps of every named optimizer and of its rebuilt form: one compiled program."""
    out = {}
    for name in optimizers.OPTIMIZERS:
        pair = (optimizers.named_optimizer(name), optimizers.configured_optimizer(name))
        out[name] = []
        for tx in pair:
            state = optimizers.set_learning_rate(tx.init(params), 0.1)
            steps = []
            for _ in range(2):  # the second step reads the state the first one left
                update, state = tx.update(grads, state, params)
                steps.append(update)
            out[name].append(steps)
    return out


def test_directions_rebuild_every_named_optimizer():
    params = [{"w": jnp.array([[0.5, -1.0]]), "b": jnp.array([0.25, 0.0])}]
    grads = [{"w": jnp.array([[0.1, 0.3]]), "b": jnp.array([-0.2, 0.05])}]
    for name, (named, rebuilt) in _named_and_rebuilt(params, grads).items():
        assert tree_max_rel_err(rebuilt, named) == 0.0, name  # its own b1, b2... as arrays too


def _update(name, terms, values, params, grads):
    tx = optimizers.configured_optimizer(name, terms, "constant")
    state = optimizers.set_hyperparams(tx.init(params), {"learning_rate": 0.1, **values})
    return tx.update(grads, state, params)[0]


def test_weight_decay_is_decoupled_and_l2_is_in_the_loss_weights_only():
    params = [{"w": jnp.array([[0.5, -1.0]]), "b": jnp.array([0.25, 3.0])}]
    grads = [{"w": jnp.array([[0.1, 0.3]]), "b": jnp.array([-0.2, 0.05])}]
    plain = _update("adam", (), {}, params, grads)
    decayed = _update("adam", ("weight_decay",), {"weight_decay": 0.5}, params, grads)
    # decoupled: Adam's update, then -lr * wd * w on the weights, nothing on the biases
    np.testing.assert_allclose(decayed[0]["w"], plain[0]["w"] - 0.1 * 0.5 * params[0]["w"])
    np.testing.assert_array_equal(decayed[0]["b"], plain[0]["b"])
    # L2: its gradient wd * w joins the data gradient before Adam normalises it
    l2 = _update("adam", ("l2",), {"l2": 0.5}, params, grads)
    with_term = [{"w": grads[0]["w"] + 0.5 * params[0]["w"], "b": grads[0]["b"]}]
    np.testing.assert_allclose(l2[0]["w"], _update("adam", (), {}, params, with_term)[0]["w"])
    assert not np.allclose(l2[0]["w"], decayed[0]["w"])
    # plain SGD: the two are the same thing
    sgd = [_update("sgd", (t,), {t: 0.5}, params, grads) for t in ("l2", "weight_decay")]
    np.testing.assert_allclose(sgd[0][0]["w"], sgd[1][0]["w"])
    # a coefficient of 0 changes nothing
    zero = _update("adam", ("l2", "weight_decay"), {"l2": 0.0, "weight_decay": 0.0}, params, grads)
    assert tree_max_rel_err(zero, plain) == 0.0


def test_fit_weight_decay_shrinks_the_weights_and_0_is_the_plain_run():
    x, y = blobs(n=32)
    params = jn.init(NET, 0)
    kw = dict(loss="cross_entropy", optimizer="adam", learning_rate=0.05, steps=10, eval_every=10)
    free, _ = jn.fit(NET, params, x, y, **kw)
    norms = []
    for wd in (0.0, 0.5, 2.0):
        decayed, _ = jn.fit(NET, params, x, y, weight_decay=wd, **kw)
        norms.append(sum(float(jnp.sum(layer["w"] ** 2)) for layer in decayed))
        if wd == 0.0:  # adding 0 * w changes nothing: the plain optimizer's run
            assert all(
                np.array_equal(a, b)
                for a, b in zip(jax.tree.leaves(decayed), jax.tree.leaves(free))
            )
    assert norms[0] > norms[1] > norms[2]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(weight_decay=-1e-4), ValueError, "weight_decay must be finite and at least 0"),
        (dict(weight_decay=float("nan")), ValueError, "weight_decay must be finite"),
        (dict(weight_decay="1e-4"), TypeError, "weight_decay must be a non-negative number"),
        (dict(l2=-1.0), ValueError, "l2 must be finite and at least 0"),
        (dict(l2=[1.0, -1.0]), ValueError, "l2 must be one number for fit"),
        (dict(weight_decay=1e-4, optimizer="adamw"), ValueError, "does not go with optimizer"),
        (dict(weight_decay=1e-4, optimizer=optax.sgd(0.1)), ValueError, "needs an optimizer"),
        (dict(lr_schedule="cosine", optimizer=optax.sgd(0.1)), ValueError, "needs an optimizer"),
        (dict(lr_schedule="linear"), ValueError, "lr_schedule must be one of constant"),
        (dict(lr_schedule=3), TypeError, "lr_schedule must be a name"),
        (dict(lr_schedule="warmup_cosine"), ValueError, "warmup_steps .* goes with"),
        (dict(lr_schedule=Schedule("warmup_cosine", warmup_steps=5)), ValueError, "fewer than"),
        (dict(patience=2), ValueError, "patience needs validation"),
        (dict(patience=0, validation=blobs(8)), ValueError, "patience must be a positive int"),
    ],
)
def test_bad_regularisation_is_refused_in_one_line(kwargs, error, message):
    x, y = blobs(n=16)
    kw = dict(loss="cross_entropy", optimizer="adam", learning_rate=0.01, steps=5)
    with pytest.raises(error, match=message) as info:
        jn.fit(NET, jn.init(NET, 0), x, y, **{**kw, **kwargs})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(kind="cosine", lr_final=1.5), r"lr_final must be a number in \[0, 1\]"),
        (dict(kind="cosine", lr_final=float("nan")), r"lr_final must be a number in \[0, 1\]"),
        (dict(kind="exponential", lr_final=0.0), r"lr_final must be a number in \(0, 1\]"),
        (dict(kind="constant", lr_final=0.5), "lr_final goes with a decaying lr_schedule"),
        (dict(kind="cosine", warmup_steps=10), "goes with lr_schedule 'warmup_cosine'"),
        (dict(kind="warmup_cosine", warmup_steps=-1), "warmup_steps must be a non-negative int"),
        (dict(kind="warmup_cosine", warmup_steps=2.5), "warmup_steps must be a non-negative int"),
        (dict(kind="warmup_cosine", warmup_steps=2**31), r"\(at most 2147483647 = 2\*\*31 - 1\)"),
    ],
)
def test_bad_schedules_are_refused_in_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Schedule(**kwargs)


@pytest.mark.slow
def test_members_differ_in_weight_decay_schedule_and_patience_each_as_its_own_fit(x64):
    x, y = blobs(n=48)
    xv, yv = blobs(n=24, seed=3, spread=1.0)  # overlapping classes: the val loss turns up
    keys = jax.random.split(jax.random.key(9), 2)
    wd = np.array([0.0, 1.0])
    finals = np.array([0.0, 1.0])
    kw = dict(
        loss="cross_entropy", optimizer="adam", steps=40, batch_size=16, eval_every=5,
        validation=(xv, yv), patience=2, lr_schedule="cosine",
    )  # fmt: skip
    stacked, hist = pop.fit_population(
        NET, keys, x, y, learning_rates=[0.3] * 2, weight_decay=wd, dtype=jnp.float64,
        hyperparams={"lr_final": finals}, **kw,
    )  # fmt: skip
    assert "early_stopped" in hist.status
    for i in range(2):
        init_key, batch_key = pop.member_keys(keys[i])
        own = {**kw, "lr_schedule": Schedule("cosine", lr_final=float(finals[i]))}
        alone, h = jn.fit(
            NET, jn.init(NET, init_key, jnp.float64), x, y, learning_rate=0.3, key=batch_key,
            weight_decay=float(wd[i]), **own,
        )  # fmt: skip
        assert hist.status[i] == h.status and hist.steps[i] == h.steps
        assert tree_max_rel_err(jax.tree.map(lambda a, i=i: a[i], stacked), alone) < 1e-12
        np.testing.assert_allclose(hist.loss[i][: h.steps], h.loss, rtol=1e-12)
        assert np.all(np.isnan(hist.loss[i][h.steps :]))
        assert np.all(np.isnan(hist.val_loss[i][hist.eval_step > h.steps]))
    # the coefficients and schedule values are data: others compile nothing new
    compiled = pop.compile_count()
    pop.fit_population(
        NET, keys, x, y, learning_rates=[0.1] * 2, weight_decay=0.3, dtype=jnp.float64,
        hyperparams={"lr_final": [0.2, 0.1]}, **kw,
    )  # fmt: skip
    assert pop.compile_count() == compiled


def test_bad_population_regularisation_is_refused_in_one_line():
    x, y = blobs(n=16)
    keys = jax.random.split(jax.random.key(0), 2)
    kw = dict(loss="cross_entropy", optimizer="adam", learning_rates=[0.1, 0.1], steps=2)
    for extra, message in [
        (dict(weight_decay=[0.1, 0.2, 0.3]), r"weight_decay must be one number, or one per key"),
        (dict(l2=[[0.1], [0.2]]), r"l2 must be one number, or one per key"),
        (dict(weight_decay=[0.1, -0.2]), "weight_decay must be finite and at least 0"),
        (dict(patience=3), "patience needs validation"),
    ]:
        with pytest.raises(ValueError, match=message) as info:
            pop.fit_population(NET, keys, x, y, **kw, **extra)
        assert "\n" not in str(info.value)
