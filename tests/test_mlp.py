import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import check_forward_contract

import jaxnet as jn
from jaxnet import mlp

ARCHS = [
    ((2, 3, 1), "sigmoid", "sigmoid", False),
    ((1, 1), "identity", "identity", True),
    ((4, 8, 8, 3), "relu", "identity", True),
    ((5, 2, 7, 2, 6, 1), "tanh", "softplus", True),
    ((64, 32, 10), "gelu", "identity", False),
]


@pytest.mark.parametrize("sizes,act,out,bias", ARCHS)
def test_forward_shape_contract(sizes, act, out, bias):
    net = jn.MLP(sizes, activation=act, output_activation=out, bias=bias)
    check_forward_contract(net, jn.init(net, jax.random.key(0)), jn.forward, batch=7)


@pytest.mark.parametrize("sizes,act,out,bias", ARCHS)
def test_forward_contract_in_float64(sizes, act, out, bias, x64):
    net = jn.MLP(sizes, activation=act, output_activation=out, bias=bias)
    check_forward_contract(net, jn.init(net, jax.random.key(0), jnp.float64), jn.forward, batch=3)


@pytest.mark.parametrize("sizes,act,out,bias", ARCHS)
def test_batch_equals_loop_over_examples(sizes, act, out, bias, x64):
    net = jn.MLP(sizes, activation=act, output_activation=out, bias=bias)
    params = jn.init(net, jax.random.key(1), jnp.float64)
    x = jax.random.normal(jax.random.key(2), (6, sizes[0]), jnp.float64)
    loop = np.stack([np.asarray(jn.forward(net, params, row)) for row in x])
    np.testing.assert_allclose(jn.forward(net, params, x), loop, rtol=1e-13)


def test_forward_is_the_tutorial_matrix_product(x64):
    # z = X @ W1, a = sigmoid(z), o = sigmoid(a @ W2): the article's forward, written in NumPy.
    net = jn.MLP((2, 3, 1), activation="sigmoid", output_activation="sigmoid", bias=False)
    params = jn.init(net, jax.random.key(0), jnp.float64)
    x = np.array([[2 / 3, 1.0], [1 / 3, 5 / 9], [1.0, 6 / 9]])
    w1, w2 = (np.asarray(p["w"]) for p in params)
    s = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    np.testing.assert_allclose(jn.forward(net, params, x), s(s(x @ w1) @ w2), rtol=1e-13)


def test_eager_equals_jit(x64):
    net = jn.MLP((3, 5, 2), activation="elu")
    params = jn.init(net, jax.random.key(0), jnp.float64)
    x = jax.random.normal(jax.random.key(1), (4, 3), jnp.float64)
    with jax.disable_jit():
        eager = jn.forward(net, params, x)
    np.testing.assert_allclose(jn.forward(net, params, x), eager, rtol=1e-13)


def test_second_call_does_not_recompile():
    net = jn.MLP((3, 5, 2))
    params = jn.init(net, jax.random.key(0))
    jn.forward(net, params, np.ones((4, 3)))
    before = mlp.forward_batch._cache_size()
    other = jn.init(net, jax.random.key(1))
    jn.forward(net, other, np.zeros((4, 3)))
    assert mlp.forward_batch._cache_size() == before


def test_spec_is_frozen_hashable_and_equal_by_value():
    a = jn.MLP([2, 3, 1], activation="tanh")
    b = jn.MLP((2, 3, 1), activation="tanh")
    assert a == b and hash(a) == hash(b) and a.sizes == (2, 3, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.bias = False
    assert jn.MLP((2, 3, 1), bias=False).n_params == 9
    assert jn.MLP((2, 3, 1)).n_params == 13


@pytest.mark.parametrize(
    "init,act,expected_std",
    [
        ("normal", "sigmoid", 1.0),
        ("he", "relu", np.sqrt(2 / 400)),
        ("lecun", "tanh", np.sqrt(1 / 400)),
        ("glorot", "tanh", np.sqrt(2 / (400 + 300))),
        ("auto", "relu", np.sqrt(2 / 400)),
        ("auto", "tanh", np.sqrt(2 / (400 + 300))),
    ],
)
def test_init_scale_matches_the_named_scheme(init, act, expected_std):
    net = jn.MLP((400, 300), activation=act, init=init)
    w = np.asarray(jn.init(net, jax.random.key(0))[0]["w"])
    assert abs(w.std() / expected_std - 1) < 0.02
    assert abs(w.mean()) < 0.02 * expected_std * 10


def test_init_differs_by_key_and_repeats_by_key():
    net = jn.MLP((3, 4, 2))
    a, b, c = (jn.init(net, jax.random.key(k)) for k in (0, 0, 1))
    assert np.array_equal(a[0]["w"], b[0]["w"])
    assert not np.array_equal(a[0]["w"], c[0]["w"])
    assert np.all(np.asarray(a[0]["b"]) == 0)
