"""The hand-written backward pass equals jax.grad in float64 to relative error <= 1e-10."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tree_allclose, tree_max_rel_err
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxnet as jn
from jaxnet import activations, losses
from jaxnet.verification import EDGE_FAMILIES as FAMILIES
from jaxnet.verification import edge_problem

ACTS = sorted(activations.ACTIVATIONS)
LOSSES = sorted(losses.LOSSES)
OUTPUT_FOR_LOSS = {"cross_entropy": "identity", "binary_cross_entropy": "sigmoid"}


def _problem(sizes, act, loss, bias, batch, seed):
    """A float64 net, params and data for ``loss``; batch None means a single example.

    Drawn with NumPy: JAX's random kernels run op by op in the eager mode these tests use,
    which cost more than the gradients they check.
    """
    out = OUTPUT_FOR_LOSS.get(loss, act)
    net = jn.MLP(sizes, activation=act, output_activation=out, bias=bias)
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layer = {"w": rng.normal(size=(fan_in, fan_out)) / np.sqrt(fan_in)}
        if bias:  # non-zero biases, so their gradients are exercised away from the init
            layer["b"] = 0.1 * rng.normal(size=fan_out)
        params.append(layer)
    n = 1 if batch is None else batch
    x = rng.normal(size=(n, sizes[0]))
    if loss == "cross_entropy":
        y = rng.integers(0, sizes[-1], n)
    elif loss == "binary_cross_entropy":
        y = (rng.random((n, sizes[-1])) < 0.5).astype(np.float64)
    else:
        y = rng.normal(size=(n, sizes[-1]))
    if batch is None:
        x, y = x[0], y[0]
    return net, params, x, y


def _assert_equal_grads(net, params, x, y, loss):
    v_manual, g_manual = jn.backprop(net, params, x, y, loss=loss)
    v_auto, g_auto = jn.value_and_grad(net, params, x, y, loss=loss)
    assert jax.tree.structure(g_manual) == jax.tree.structure(params)
    assert abs(float(v_manual) - float(v_auto)) <= 1e-12 * max(1.0, abs(float(v_auto)))
    err = tree_max_rel_err(g_manual, g_auto)
    assert err <= 1e-10, f"relative error {err:.2e}"


# One hidden width at every depth, so eager mode reuses its compiled kernels across depths.
DEPTH_SIZES = {d: (3, *(4,) * (d - 1), 2) for d in range(1, 6)}


def _check_cases(cases):
    # Eager mode: hundreds of small cases would otherwise each pay for a compile.
    with jax.enable_x64(True), jax.disable_jit():
        for depth, act, loss, bias, batch in cases:
            net, params, x, y = _problem(DEPTH_SIZES[depth], act, loss, bias, batch, seed=depth)
            _assert_equal_grads(net, params, x, y, loss)


@pytest.mark.parametrize(
    "depth",
    # Depths past 2 run in make test-slow: the fast suite meets them in test_residual's rotation
    # (depths 1-12) and the exact-zero families (depth 3).
    [d if d <= 2 else pytest.param(d, marks=pytest.mark.slow) for d in sorted(DEPTH_SIZES)],
)
def test_manual_equals_autodiff_every_activation_and_loss_at_each_depth(depth):
    # Bias on/off and single/batch rotate across the cases, so each depth sees all four.
    pairs = itertools.product(ACTS, LOSSES)
    rotation = itertools.cycle(itertools.product((True, False), (None, 5)))
    _check_cases((depth, act, loss, *next(rotation)) for act, loss in pairs)


@pytest.mark.slow
def test_manual_equals_autodiff_full_product_at_depth_2():
    grid = itertools.product(ACTS, LOSSES, (True, False), (None, 5))
    _check_cases((2, act, loss, bias, batch) for act, loss, bias, batch in grid)


@pytest.mark.slow
def test_manual_equals_autodiff_full_matrix():
    grid = itertools.product(sorted(DEPTH_SIZES), ACTS, LOSSES, (True, False), (None, 5))
    _check_cases(grid)


def test_manual_equals_autodiff_when_jitted(x64):
    net, params, x, y = _problem((4, 6, 6, 3), "tanh", "cross_entropy", True, 8, seed=3)
    _assert_equal_grads(net, params, x, y, "cross_entropy")


@settings(max_examples=4, deadline=None)  # each example runs eagerly (~2 s)
@given(
    sizes=st.lists(st.integers(1, 3), min_size=2, max_size=6),
    act=st.sampled_from(ACTS),
    loss=st.sampled_from(LOSSES),
    bias=st.booleans(),
    batch=st.sampled_from([None, 3]),
    seed=st.integers(0, 2**16),
)
def test_manual_equals_autodiff_on_random_architectures(sizes, act, loss, bias, batch, seed):
    if loss == "cross_entropy":  # a softmax needs two classes (one output is refused)
        sizes[-1] = max(sizes[-1], 2)
    with jax.enable_x64(True), jax.disable_jit():
        net, params, x, y = _problem(tuple(sizes), act, loss, bias, batch, seed)
        _assert_equal_grads(net, params, x, y, loss)


def test_grads_have_exactly_the_params_structure(x64):
    net, params, x, y = _problem((2, 3, 1), "sigmoid", "sse", False, 3, seed=0)
    _, g = jn.backprop(net, params, x, y, loss="sse")
    assert isinstance(g, list) and [sorted(d) for d in g] == [["w"], ["w"]]
    assert [d["w"].shape for d in g] == [(2, 3), (3, 1)]


def test_tutorial_deltas_written_out(x64):
    # dJ/dW2 = -(a2.T @ ((y - o) * o(1-o))), dJ/dW1 = -(X.T @ (delta3 @ W2.T * a2(1-a2))).
    net, params, x, y = _problem((2, 3, 1), "sigmoid", "sse", False, 3, seed=4)
    w1, w2 = (np.asarray(p["w"]) for p in params)
    x, y = np.asarray(x), np.asarray(y)
    s = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    a2 = s(x @ w1)
    o = s(a2 @ w2)
    d3 = -(y - o) * o * (1 - o)
    d2 = d3 @ w2.T * a2 * (1 - a2)
    _, g = jn.backprop(net, params, x, y, loss="sse")
    assert tree_allclose(g, [{"w": x.T @ d2}, {"w": a2.T @ d3}], rtol=1e-12)


def test_saturated_sigmoid_bce_gradients_agree_and_do_not_vanish():
    # float32, sigmoid(20) rounds to 1: a loss on probabilities would give jax.grad 0 here.
    net = jn.MLP((1, 1), activation="sigmoid", output_activation="sigmoid", bias=False)
    params = [{"w": np.array([[20.0]], np.float32)}]
    x, y = np.array([[1.0]], np.float32), np.array([[0.0]], np.float32)
    (lm, gm), (la, ga) = (
        f(net, params, x, y, loss="binary_cross_entropy") for f in (jn.backprop, jn.value_and_grad)
    )
    np.testing.assert_allclose(float(gm[0]["w"][0, 0]), 1.0, rtol=1e-6)
    np.testing.assert_allclose(float(ga[0]["w"][0, 0]), 1.0, rtol=1e-6)
    np.testing.assert_allclose(float(lm), 20.0, rtol=1e-6)
    np.testing.assert_allclose(float(la), 20.0, rtol=1e-6)


# --- exact zeros: pre-activations on the kink (issue 9) ---------------------------------------


def _edge_grads_agree(family, act, loss, bias, batch):
    """backprop == jax.grad to 1e-12 relative at an edge point (see gradcheck.edge_problem)."""
    out = OUTPUT_FOR_LOSS.get(loss, act)
    net = jn.MLP(DEPTH_SIZES[3], activation=act, output_activation=out, bias=bias)
    params, x, y = edge_problem(net, loss, family, batch=batch or 1, seed=1)
    if batch is None:
        x, y = x[0], y[0]
    v_manual, g_manual = jn.backprop(net, params, x, y, loss=loss)
    v_auto, g_auto = jn.value_and_grad(net, params, x, y, loss=loss)
    assert abs(float(v_manual) - float(v_auto)) <= 1e-12 * max(1.0, abs(float(v_auto)))
    err = tree_max_rel_err(g_manual, g_auto)
    assert err <= 1e-12, f"{family}, {act}, {loss}, bias {bias}: relative error {err:.2e}"


def _check_edge_cases(cases):
    with jax.enable_x64(True), jax.disable_jit():
        for case in cases:
            _edge_grads_agree(*case)


def test_manual_equals_autodiff_at_exact_zeros_every_activation_and_loss():
    # Every activation x loss once; the families, bias on/off and single/batch rotate.
    rotation = itertools.cycle(itertools.product(FAMILIES, (True, False), (5, None)))
    cases = []
    for act, loss in itertools.product(ACTS, LOSSES):
        family, bias, batch = next(rotation)
        cases.append((family, act, loss, bias, batch))
    assert {c[0] for c in cases} == set(FAMILIES)
    _check_edge_cases(cases)


@pytest.mark.slow
def test_manual_equals_autodiff_at_exact_zeros_full_product():
    grid = itertools.product(FAMILIES, ACTS, LOSSES, (True, False), (None, 5))
    _check_edge_cases(grid)


def test_relu_kink_in_a_one_one_one_net(x64):
    # The measurement: x = 0 and zero biases put both ReLUs at z == 0 exactly; the
    # old relu (jnp.maximum) made jax.grad say dL/db0 = -0.5 where backprop said 0.
    net = jn.MLP((1, 1, 1), activation="relu", output_activation="identity")
    params = [
        {"w": jnp.ones((1, 1)), "b": jnp.zeros(1)},
        {"w": jnp.ones((1, 1)), "b": jnp.zeros(1)},
    ]
    x, y = jnp.zeros((1, 1)), jnp.ones((1, 1))
    _, g_manual = jn.backprop(net, params, x, y, loss="sse")
    _, g_auto = jn.value_and_grad(net, params, x, y, loss="sse")
    assert float(g_auto[0]["b"][0]) == float(g_manual[0]["b"][0]) == 0.0
    assert float(g_auto[1]["b"][0]) == float(g_manual[1]["b"][0]) == -1.0


def test_elu_at_zero_trains_on_the_true_derivative(x64):
    # ELU's derivative is 1 on both sides of 0; the old jnp.minimum made jax.grad see 1/2.
    net = jn.MLP((1, 1, 1), activation="elu", output_activation="identity")
    params = [
        {"w": jnp.ones((1, 1)), "b": jnp.zeros(1)},
        {"w": jnp.ones((1, 1)), "b": jnp.zeros(1)},
    ]
    x, y = jnp.zeros((1, 1)), jnp.ones((1, 1))
    _, g_auto = jn.value_and_grad(net, params, x, y, loss="sse")
    assert float(g_auto[0]["b"][0]) == -1.0  # (0 - 1) * w1 * elu'(0) = -1
