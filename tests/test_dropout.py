"""Dropout: the spec, the masks, the same masks in forward, the hand-written backward pass and
jax.grad, training with a new mask every step, populations of rates, checkpoints."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tree_max_rel_err
from helpers import blobs

import jaxnet as jn
from jaxnet import activations, checkpoint, losses
from jaxnet import population as pop
from jaxnet.backward import backprop_batch_masked
from jaxnet.chunks import mask_key, run_fast_chunk
from jaxnet.mlp import batch_masks, logits_batch_masked, without_dropout
from jaxnet.verification import output_activation_for


def _problem(net, loss, batch=5, seed=0):
    """Float64 NumPy params, inputs and targets (NumPy: eager JAX random kernels are slow)."""
    rng = np.random.default_rng(seed)
    params = [
        {"w": rng.normal(size=(i, o)) / np.sqrt(i), "b": 0.1 * rng.normal(size=o)}
        for i, o in zip(net.sizes[:-1], net.sizes[1:])
    ]
    x = rng.normal(size=(batch, net.sizes[0]))
    n = net.sizes[-1]
    if loss == "cross_entropy":
        y = rng.integers(0, n, batch)
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, (batch, n)).astype(np.float64)
    else:
        y = rng.normal(size=(batch, n))
    return params, x, y


def test_dropout_zero_is_the_plain_net_bit_for_bit():
    net = jn.MLP((4, 8, 8, 3), activation="tanh")
    assert jn.MLP((4, 8, 8, 3), activation="tanh", dropout=0.0) == net
    assert jn.MLP((4, 8, 8, 3), activation="tanh", dropout=[0, 0]) == net
    assert hash(jn.MLP((4, 8, 8, 3), activation="tanh", dropout=(0.0, 0.0))) == hash(net)
    x, y = blobs(n=16)
    params = jn.init(net, 0)
    assert np.array_equal(jn.forward(net, params, x, key=1), jn.forward(net, params, x))
    for grad in (jn.backprop, jn.value_and_grad):
        with_key = grad(net, params, x, y, "cross_entropy", key=3)
        plain = grad(net, params, x, y, "cross_entropy")
        assert all(
            np.array_equal(u, v) for u, v in zip(jax.tree.leaves(with_key), jax.tree.leaves(plain))
        )
    # A member at rate 0 in a population that drops units: see
    # test_members_with_different_rates_each_equal_their_own_fit.


def test_rates_are_kept_one_float_or_one_per_hidden_layer():
    assert jn.MLP((2, 4, 4, 1), dropout=(0.5, 0.5)).dropout == 0.5
    net = jn.MLP((2, 4, 4, 1), dropout=np.array([0.1, 0.5]))
    assert net.dropout == (0.1, 0.5) and net.dropout_rates == (0.1, 0.5)
    assert jn.MLP((2, 4, 4, 1), dropout=0.25).dropout_rates == (0.25, 0.25)
    assert jn.MLP((2, 1)).dropout_rates == () and jn.MLP((2, 1), dropout=[]).dropout == 0.0
    assert without_dropout(net) == jn.MLP((2, 4, 4, 1))


@pytest.mark.parametrize(
    "dropout, message",
    [
        (-0.1, r"dropout must be in \[0, 1\).*got -0.1"),
        (1.0, r"dropout must be in \[0, 1\).*got 1.0"),
        (float("nan"), r"dropout must be in \[0, 1\).*got nan"),
        (float("inf"), r"dropout must be in \[0, 1\)"),
        ([0.1, 0.2, 0.3], r"one rate per hidden layer \(2\); got 3"),
        ([0.1], r"one rate per hidden layer \(2\); got 1"),
        ([0.1, 1.5], r"dropout must be in \[0, 1\).*got 1.5"),
        (True, "dropout must be a number"),
        ("0.5", "dropout must be a number"),
        ([0.1, None], "dropout must be a number"),
        (None, "dropout must be a number"),
    ],
)
def test_bad_rates_are_refused_in_one_line(dropout, message):
    with pytest.raises((ValueError, TypeError), match=message) as info:
        jn.MLP((2, 4, 4, 1), dropout=dropout)
    assert "\n" not in str(info.value)


def test_bad_dropout_elsewhere_is_refused_in_one_line():
    with pytest.raises(ValueError, match="dropout needs a hidden layer"):
        jn.MLP((2, 1), dropout=0.5)
    net = jn.MLP((4, 6, 3), dropout=0.5)
    x, y = blobs(n=8)
    with pytest.raises(TypeError, match="key must be a jax.random.key"):
        jn.forward(net, jn.init(net, 0), x, key="seed")
    with pytest.raises(TypeError, match="key must be a jax.random.key"):
        jn.backprop(net, jn.init(net, 0), x, y, "cross_entropy", key=1.5)
    keys = jax.random.split(jax.random.key(0), 2)
    kw = dict(loss="cross_entropy", optimizer="sgd", learning_rates=[0.1, 0.1], steps=2)
    for bad, message in [
        ([0.1, 0.2, 0.3], r"dropout must have shape \(2,\) or \(2, 1\)"),
        ([[0.1, 0.2], [0.1, 0.2]], r"dropout must have shape \(2,\) or \(2, 1\)"),
        (np.linspace(0.5, 1.5, 2), r"dropout rates must be in \[0, 1\); got 1.5"),
        ([0.1, 1.0], r"dropout rates must be in \[0, 1\)"),
        ("0.1", "dropout must be rates"),
    ]:
        with pytest.raises((ValueError, TypeError), match=message) as info:
            pop.fit_population(net, keys, x, y, dropout=bad, **kw)
        assert "\n" not in str(info.value)


def test_without_a_key_the_net_is_deterministic_and_a_key_repeats_its_masks():
    net = jn.MLP((4, 8, 8, 3), activation="tanh", dropout=0.5)
    x, _ = blobs(n=16)
    params = jn.init(net, 0)
    plain = jn.forward(without_dropout(net), params, x)
    assert np.array_equal(jn.forward(net, params, x), plain)
    first, again = jn.forward(net, params, x, key=7), jn.forward(net, params, x, key=7)
    assert np.array_equal(first, again) and not np.allclose(first, plain)
    assert not np.allclose(jn.forward(net, params, x, key=8), first)


def test_forward_and_backward_use_the_same_masks():
    # One example: a unit the mask drops passes no gradient to its incoming weights or bias,
    # in the hand-written pass and in jax.grad alike, and every kept unit does.
    net = jn.MLP((5, 40, 40, 2), activation="tanh", dropout=(0.3, 0.6))
    params, x, y = _problem(net, "mse", batch=1)
    key = jax.random.key(11)
    masks = batch_masks(without_dropout(net), key, jnp.asarray(net.dropout_rates), 1, jnp.float32)
    logits = logits_batch_masked(net, params, jnp.asarray(x, jnp.float32), masks)
    assert np.allclose(jn.forward(net, params, x, key=key), logits, rtol=1e-6)
    for grad in (jn.backprop, jn.value_and_grad):
        _, g = grad(net, params, x, y, "mse", key=key)
        for layer, mask, rate in zip(range(2), masks, net.dropout_rates):
            dropped = np.asarray(mask[0]) == 0
            assert 0 < dropped.sum() < dropped.size
            assert np.allclose(np.asarray(mask[0])[~dropped], 1 / (1 - rate))
            assert np.all(np.asarray(g[layer]["w"])[:, dropped] == 0)
            assert np.all(np.asarray(g[layer]["b"])[dropped] == 0)
            assert np.all(np.asarray(g[layer]["b"])[~dropped] != 0)


def _manual_vs_autodiff(activation, loss, depth, residual):
    out = output_activation_for(loss, activation)
    net = jn.MLP(
        (6, *[6] * depth, 3), activation=activation, output_activation=out,
        residual=residual, dropout=0.4,
    )  # fmt: skip
    params, x, y = _problem(net, loss, batch=7, seed=depth)
    manual = jn.backprop(net, params, x, y, loss, key=depth)
    auto = jn.value_and_grad(net, params, x, y, loss, key=depth)
    case = f"{activation} {loss} depth {depth} residual {residual}"  # the rotating case
    assert abs(float(manual[0]) - float(auto[0])) <= 1e-12 * abs(float(auto[0])), case
    assert tree_max_rel_err(manual[1], auto[1]) <= 1e-12, case


CASES = list(
    itertools.product(
        sorted(activations.ACTIVATIONS), sorted(losses.LOSSES), (1, 2, 3), (False, True)
    )
)


@pytest.mark.parametrize("i", range(2))
def test_manual_equals_autodiff_with_the_same_key(x64, i):
    # Two cases of the product each run of the fast suite, a different pair each time; the
    # whole product is in test-slow. NumPy data: eager JAX random kernels cost more here.
    start = np.random.default_rng().integers(len(CASES))
    _manual_vs_autodiff(*CASES[(start + i * 97) % len(CASES)])


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_manual_equals_autodiff_with_the_same_key_everywhere(x64, case):
    _manual_vs_autodiff(*case)


def test_a_dropped_layer_is_the_plain_layer_in_expectation():
    # Inverted dropout: E[mask * h] = h. N copies of one example, each with its own mask; an
    # identity output is linear, so the mean output estimates the plain net's, to within a
    # bound from the spread of the dropped outputs (5 standard errors: fails by chance with
    # probability below 1e-6 per output).
    net = jn.MLP((3, 64, 2), activation="tanh", dropout=0.3)
    params, x, _ = _problem(net, "mse", batch=1)
    n = 20_000
    dropped = np.asarray(jn.forward(net, params, np.repeat(x, n, axis=0), key=5), np.float64)
    plain = np.asarray(jn.forward(net, params, x[0]), np.float64)
    bound = 5 * dropped.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(dropped.mean(axis=0) - plain) <= bound)
    assert np.all(dropped.std(axis=0) > 0.01)  # the masks did vary


def test_fit_draws_new_masks_each_step_from_its_key_and_shares_its_program():
    net = jn.MLP((4, 8, 8, 3), activation="tanh", dropout=0.5)
    x, y = blobs(n=16)
    params = jn.init(net, 1)
    kw = dict(loss="cross_entropy", optimizer="sgd", learning_rate=0.5, steps=4)
    b, hb = jn.fit(net, params, x, y, key=3, eval_every=4, **kw)
    # step s's masks come from mask_key(key, s), whatever the chunks: four SGD steps by hand
    hand, key = params, jax.random.key(3)
    for step in range(4):
        value, g = jn.backprop(net, hand, x, y, "cross_entropy", key=mask_key(key, step))
        assert np.isclose(value, hb.loss[step], rtol=1e-6)
        hand = jax.tree.map(lambda p, d: p - 0.5 * d, hand, g)
    assert tree_max_rel_err(b, hand) < 1e-5
    assert len(set(np.round(hb.loss, 6))) == 4
    cached = run_fast_chunk._cache_size()
    other = jn.MLP((4, 8, 8, 3), activation="tanh", dropout=(0.1, 0.7))
    c, hc = jn.fit(other, params, x, y, key=4, eval_every=4, **kw)
    assert run_fast_chunk._cache_size() == cached  # another rate, another key: same program
    assert not np.allclose(hc.loss, hb.loss)


def test_members_with_different_rates_each_equal_their_own_fit(x64):
    x, y = blobs(n=16)
    keys = jax.random.split(jax.random.key(5), 2)
    rates = np.array([[0.0, 0.0], [0.3, 0.6]])
    net = jn.MLP((4, 8, 8, 3), activation="tanh")
    kw = dict(loss="cross_entropy", optimizer="momentum", steps=4, eval_every=4, batch_size=8)
    pop_kw = dict(learning_rates=[0.1] * 2, dtype=jnp.float64, **kw)
    stacked, hist = pop.fit_population(net, keys, x, y, dropout=rates, **pop_kw)
    for i in range(2):
        own = jn.MLP((4, 8, 8, 3), activation="tanh", dropout=rates[i])
        init_key, batch_key = pop.member_keys(keys[i])
        p0 = jn.init(own, init_key, jnp.float64)
        alone, h = jn.fit(own, p0, x, y, learning_rate=0.1, key=batch_key, **kw)
        member = jax.tree.map(lambda a, i=i: a[i], stacked)
        # member 0 (rate 0, in a program that drops units) equals the plain fit
        assert tree_max_rel_err(member, alone) < 1e-12
        np.testing.assert_allclose(hist.loss[i], h.loss, rtol=1e-12)
    # the rates are data: other rates, or the net's own, compile nothing new
    compiled = pop.compile_count()
    pop.fit_population(net, keys, x, y, dropout=[0.5, 0.7], **pop_kw)
    dropping = jn.MLP((4, 8, 8, 3), activation="tanh", dropout=0.2)
    pop.fit_population(dropping, keys, x, y, **pop_kw)
    assert pop.compile_count() == compiled


def test_gradcheck_holds_a_dropout_net_at_the_masks_of_a_key():
    net = jn.MLP((3, 4, 4, 2), activation="tanh", residual=True, dropout=0.5)
    params, x, y = _problem(net, "mse", batch=3)
    report = jn.gradcheck(net, params, x, y, "mse", key=1)
    assert report.ok and report.max_rel_err(report.comparison_names()[0]) < 1e-12

    def masked(net, params, x, y, loss, masks):  # a researcher's pass, given the masks
        return backprop_batch_masked(without_dropout(net), params, x, y, loss, masks)

    def ignores_masks(net, params, x, y, loss, masks):
        return backprop_batch_masked(without_dropout(net), params, x, y, loss, [1.0, 1.0])

    assert jn.gradcheck(net, params, x, y, "mse", key=1, grad_fn=masked).ok
    wrong = jn.gradcheck(net, params, x, y, "mse", key=1, grad_fn=ignores_masks)
    assert not wrong.ok and "first wrong at layer" in wrong.verdict()


def test_checkpoints_record_dropout_and_predict_never_applies_it(tmp_path, monkeypatch):
    x, _ = blobs(n=8)
    for dropout in (0.5, (0.1, 0.4)):
        net = jn.MLP((4, 8, 8, 3), dropout=dropout)
        params = jn.init(net, 0)
        jn.save(tmp_path / "m.jaxnet", net, params)
        model = jn.load(tmp_path / "m.jaxnet")
        assert model.net == net and model.net.dropout == dropout
        plain = jn.forward(without_dropout(net), params, x)
        assert np.array_equal(model.outputs(x), np.asarray(plain, np.float64))
        assert np.array_equal(model.outputs(x), model.outputs(x))
    # a file written before dropout existed has no such key in its spec: no dropout
    spec_of = checkpoint._spec
    monkeypatch.setattr(
        checkpoint, "_spec", lambda net: {k: v for k, v in spec_of(net).items() if k != "dropout"}
    )
    checkpoint.save(tmp_path / "old.jaxnet", jn.MLP((4, 8, 3)), jn.init(jn.MLP((4, 8, 3)), 0))
    assert checkpoint.load(tmp_path / "old.jaxnet").net == jn.MLP((4, 8, 3))


@pytest.mark.slow
def test_the_estimators_dropout_is_a_jaxnet_extension_off_by_default():
    from jaxnet.estimators import MLPClassifier

    x, y = blobs(n=48)
    plain = MLPClassifier((8,), max_iter=3, random_state=0).fit(x, y)
    zero = MLPClassifier((8,), max_iter=3, random_state=0, dropout=0.0).fit(x, y)
    dropped = MLPClassifier((8,), max_iter=3, random_state=0, dropout=0.5).fit(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(plain.coefs_, zero.coefs_))
    assert not np.allclose(plain.coefs_[0], dropped.coefs_[0])
    assert np.array_equal(dropped.predict_proba(x), dropped.predict_proba(x))
    assert dropped.get_params()["dropout"] == 0.5
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        MLPClassifier((8,), dropout=1.0).fit(x, y)
