"""gradcheck: passes on correct backprop, catches planted mistakes and names the layer.

Most checks run under ``jax.disable_jit()`` on nets of one width and one batch size: compiling
each small net would dominate the time, while op by op they share compiled kernels (as
``jaxnet gradcheck --all`` does).
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxnet as jn
from jaxnet import activations, losses, verification
from jaxnet.backward import backprop_batch
from jaxnet.grads import autodiff_batch, loss_batch
from jaxnet.verification import (
    TOLERANCES,
    Comparison,
    GradcheckReport,
    ParamCheck,
    compare,
    finite_differences,
    matrix_cases,
    output_activation_for,
    random_problem,
)

ACTS = sorted(activations.ACTIVATIONS)
LOSSES = sorted(losses.LOSSES)


@pytest.fixture
def eager():
    with jax.disable_jit():
        yield


def _net(sizes, act="sigmoid", loss="sse", bias=True):
    return jn.MLP(
        sizes, activation=act, output_activation=output_activation_for(loss, act), bias=bias
    )


def _deep(depth, act="sigmoid", loss="sse", bias=True):
    """A net of the ``--all`` matrix's shapes: 3 inputs, then ``depth`` layers 4 wide."""
    return _net((3,) + (4,) * depth, act, loss, bias)


def _check(net, loss, seed=0, batch=5, **kwargs) -> GradcheckReport:
    params, x, y = random_problem(net, loss, batch=batch, seed=seed)
    return jn.gradcheck(net, params, x, y, loss, **kwargs)


# --- correct backprop passes ------------------------------------------------------------------


@pytest.mark.parametrize("loss", LOSSES)
def test_passes_on_builtin_backprop_for_every_activation_and_depth(loss, eager):
    # Every activation with this loss; depths 1-4 and bias on/off each come round in turn.
    for k, act in enumerate(ACTS):
        net = _deep(1 + k % 4, act, loss, bias=k % 3 != 0)
        report = _check(net, loss, seed=k)
        assert report.ok, report.table()
        assert report.failed_layers == () and report.first_wrong_layer is None
        assert report.fd_mode == "full"
        assert report.fd_directions == net.n_params
        assert len(report.checks) == net.depth * (2 if net.bias else 1)
        # float64: every error far inside its documented tolerance
        assert report.max_rel_err("backprop vs jax.grad") <= 1e-10
        assert report.max_rel_err("jax.grad vs finite differences") <= TOLERANCES["float64"].fd


def test_matrix_covers_every_activation_loss_depth_and_bias():
    cases = [(n, loss) for n, loss in matrix_cases() if not n.residual]  # + residual: 36
    assert len(cases) == len(ACTS) * len(LOSSES) * 4 * 2
    assert {(n.activation, loss, n.depth, n.bias) for n, loss in cases} == {
        (a, loss, d, b)
        for a in ACTS
        for loss in LOSSES
        for d in (1, 2, 3, 4)
        for b in (True, False)
    }


def test_float32_passes_with_looser_tolerance(eager):
    for act, loss in [("tanh", "cross_entropy"), ("sigmoid", "sse")]:
        report = _check(_deep(4, act, loss), loss, dtype=jnp.float32)
        assert report.ok, report.table()
        assert report.dtype == "float32" and report.tolerance == TOLERANCES["float32"]
        # float32 rounding shows, so this really ran in float32
        assert report.max_rel_err("backprop vs finite differences") > 1e-9


def test_float64_is_local_and_report_outlives_it(eager):
    report = _check(_deep(2), "sse")
    assert not jax.config.jax_enable_x64
    assert jnp.ones(2).dtype == jnp.float32
    c = report.checks[0].comparisons[0]
    assert all(type(v) is float for v in (c.max_abs_err, c.max_rel_err, c.cosine))
    assert "PASS" in report.table()


def test_large_net_uses_random_directions():
    # 784-256-10 has ~200k parameters: finite differences along 8 directions per array.
    net = jn.MLP((784, 256, 10), activation="relu")
    report = _check(net, "cross_entropy", batch=4)
    assert report.ok, report.table()
    assert report.fd_mode == "directional"
    assert report.fd_directions == 4 * verification.DIRECTIONS_PER_ARRAY


# --- planted mistakes -------------------------------------------------------------------------


def _backprop_with(mistake: str, at: int):
    """A hand-written backward pass (sigmoid hidden layers, sse) with one planted mistake.

    ``"wrong_delta"``: layer ``at``'s weight gradient uses the delta of the layer above;
    ``"missing_derivative"``: the delta passed down from layer ``at`` skips ``f'(z)``;
    ``"transposed_weight"``: the delta is passed down from layer ``at`` through ``w``, not ``w.T``.
    """

    def grad_fn(net, params, x, y, loss):
        f = activations.get(net.activation)
        zs, acts = [], [x]
        for layer in params:
            zs.append(acts[-1] @ layer["w"] + layer["b"])
            acts.append(f.f(zs[-1]))
        delta, above = (acts[-1] - y) * f.prime(zs[-1]), None
        grads = [None] * len(params)
        for i in reversed(range(len(params))):
            used = above if (mistake == "wrong_delta" and i == at) else delta
            grads[i] = {"w": acts[i].T @ used, "b": delta.sum(0)}
            if i > 0:
                w = params[i]["w"]
                back = delta @ (w if (mistake == "transposed_weight" and i == at) else w.T)
                skip = mistake == "missing_derivative" and i == at
                above, delta = delta, back if skip else back * f.prime(zs[i - 1])
        return 0.5 * jnp.sum((acts[-1] - y) ** 2), grads

    return grad_fn


PLANTED = [  # (mistake, layer it is planted at, the layer that must be named first wrong)
    ("wrong_delta", 1, 1),
    ("wrong_delta", 2, 2),
    ("missing_derivative", 2, 1),
    ("missing_derivative", 3, 2),
    ("transposed_weight", 2, 1),
    ("transposed_weight", 3, 2),
]


@pytest.mark.parametrize("mistake, at, first", PLANTED)
def test_planted_mistake_is_caught_at_the_right_layer(mistake, at, first, eager):
    net = _deep(4)  # square weights above layer 0, so every planted bug runs
    params, x, y = random_problem(net, "sse", batch=5, seed=1)
    assert jn.gradcheck(net, params, x, y, "sse", grad_fn=_backprop_with("none", -1)).ok

    report = jn.gradcheck(net, params, x, y, "sse", grad_fn=_backprop_with(mistake, at))
    assert not report.ok
    assert report.first_wrong_layer == first
    # a wrong weight gradient stays in its layer; a wrong delta spoils every layer below
    expected = (at,) if mistake == "wrong_delta" else tuple(range(first + 1))
    assert report.failed_layers == expected
    bad = {c.name for p in report.checks if p.layer == first for c in p.failed}
    assert bad == {"grad_fn vs jax.grad", "grad_fn vs finite differences"}  # both references
    assert f"first wrong at layer {first}" in report.verdict()
    assert "FAIL" in report.table()


def _tutorial_grads_with_wrong_delta(net, params, x, y, loss):
    """The tutorial's network with a third layer added, in NumPy, with the reader's slip.

    The article updates ``W += a.T.dot(delta)`` with ``o_error = y - o``; a gradient is the
    negative of that update, so here ``o_error = o - y``.
    """
    W1, W2, W3 = (np.asarray(p["w"]) for p in params)
    X, y = np.asarray(x), np.asarray(y)

    def sigmoid(s):
        return 1 / (1 + np.exp(-s))

    def sigmoid_prime(s):  # of the output, as in the article
        return s * (1 - s)

    z2 = sigmoid(X.dot(W1))
    z3 = sigmoid(z2.dot(W2))
    o = sigmoid(z3.dot(W3))
    o_delta = (o - y) * sigmoid_prime(o)
    z3_delta = o_delta.dot(W3.T) * sigmoid_prime(z3)
    z2_delta = z3_delta.dot(W2.T) * sigmoid_prime(z2)
    dW1 = X.T.dot(z2_delta)
    dW2 = z2.T.dot(z2_delta)  # the slip: should be z2.T.dot(z3_delta)
    dW3 = z3.T.dot(o_delta)
    return 0.5 * np.sum((o - y) ** 2), [{"w": dW1}, {"w": dW2}, {"w": dW3}]


def test_tutorial_readers_third_layer_mistake_is_named():
    net = jn.MLP((2, 3, 3, 1), activation="sigmoid", output_activation="sigmoid", bias=False)
    params, x, y = random_problem(net, "sse", batch=3, seed=0)
    report = jn.gradcheck(net, params, x, y, "sse", grad_fn=_tutorial_grads_with_wrong_delta)
    assert report.candidate == "_tutorial_grads_with_wrong_delta"
    assert not report.ok and report.failed_layers == (1,)
    assert "first wrong at layer 1: w" in report.verdict()


def test_planted_mistake_is_caught_in_float32_and_by_directions(eager):
    net = _deep(4)
    grad_fn = _backprop_with("missing_derivative", 2)
    assert _check(net, "sse", grad_fn=grad_fn, dtype=jnp.float32).first_wrong_layer == 1
    report = _check(net, "sse", grad_fn=grad_fn, directions=4)
    assert report.fd_mode == "directional" and report.first_wrong_layer == 1
    fd_bad = {
        p.layer for p in report.checks for c in p.failed if c.reference == "finite differences"
    }
    assert fd_bad == {0, 1}


def test_a_report_prints_in_one_line(eager):
    net = _deep(2)
    params, x, y = random_problem(net, "sse", batch=5, seed=0)
    good = jn.gradcheck(net, params, x, y, "sse")
    assert repr(good) == (
        f"GradcheckReport(ok: backprop on {'-'.join(map(str, net.sizes))}, "
        f"{net.activation}/{net.output_activation}, sse, bias, float64; .table() has the rest)"
    )
    bad = jn.gradcheck(net, params, x, y, "sse", grad_fn=_backprop_with("missing_derivative", 1))
    assert repr(bad).startswith("GradcheckReport(FAIL at layer ") and "\n" not in repr(bad)


def test_wrong_loss_value_and_nan_gradients_fail(eager):
    net = _deep(2)
    params, x, y = random_problem(net, "sse", batch=5, seed=0)

    def off_by_two(*args):
        value, grads = backprop_batch(*args)
        return 2 * value, grads

    def nan_bias(*args):
        value, grads = backprop_batch(*args)
        return value, [grads[0], dict(grads[1], b=grads[1]["b"] * jnp.nan)]

    report = jn.gradcheck(net, params, x, y, "sse", grad_fn=off_by_two)
    assert not report.ok and report.failed_layers == () and "loss value" in report.verdict()
    report = jn.gradcheck(net, params, x, y, "sse", grad_fn=nan_bias)
    assert not report.ok and report.failed_layers == (1,)
    assert [p.param for p in report.checks if not p.ok] == ["b"]


def test_a_kink_inside_the_step_is_no_verdict_on_the_backward_pass():
    # One ReLU pre-activation sits at 1e-7, well inside the step h = 1e-5 of the finite
    # differences along params[0]["w"][0, 0]: they see half the slope that jax.grad sees. So
    # layer 0 is held to jax.grad alone, and layer 1 (above the kink) to all three.
    net = jn.MLP((2, 2, 1), activation="relu", bias=False)
    params = [{"w": np.array([[1e-7, 0.5], [0.0, 0.5]])}, {"w": np.array([[1.0], [-1.0]])}]
    x, y = np.array([[1.0, 0.0], [0.3, 0.9]]), np.array([[0.5], [0.1]])
    report = jn.gradcheck(net, params, x, y, "sse")
    assert report.ok and report.kinks == 2  # both rows: 1e-7 and 3e-8
    assert [c.fd_held for c in report.checks] == [False, True]
    assert not report.checks[0].comparisons[2].ok  # finite differences do miss jax.grad there
    assert report.suspect_layers == () and report.failed_layers == ()
    assert "kink" in report.table() and "finite differences not held at layers 0" in report.table()
    assert "away from the kinks" in report.verdict()

    def half_slope_at_kink(net, params, x, y, loss):  # the mean of both slopes, as fd see it
        value, grads = backprop_batch(net, params, x, y, loss)
        return value, [{"w": grads[0]["w"] * np.array([[0.5, 1.0], [1.0, 1.0]])}, grads[1]]

    bad = jn.gradcheck(net, params, x, y, "sse", grad_fn=half_slope_at_kink)
    assert not bad.ok and bad.failed_layers == (0,)


@pytest.mark.parametrize(
    "oks, candidate_wrong, reference_suspect",
    [  # ok of: candidate vs jax.grad, candidate vs finite differences, jax.grad vs fd
        ((True, True, True), False, False),
        ((False, False, True), True, False),  # a wrong backward pass
        ((False, True, True), True, False),  # a small error: within fd's tolerance only
        ((True, False, True), True, False),
        ((True, False, False), False, True),  # a kink: both exact gradients miss fd alike
        ((False, True, False), False, True),  # jax.grad is the odd one out
        ((False, False, False), True, True),
    ],
)
def test_who_is_to_blame(oks, candidate_wrong, reference_suspect):
    comparisons = tuple(Comparison("t", "r", 0.0, 0.0 if ok else 1.0, 1.0, 0.5) for ok in oks)
    check = ParamCheck(0, "w", (2, 2), comparisons)
    assert check.candidate_wrong == candidate_wrong
    assert check.reference_suspect == reference_suspect
    assert check.ok == all(oks)


# --- finite differences -----------------------------------------------------------------------


@pytest.mark.parametrize("act, loss", [("gelu", "binary_cross_entropy"), ("elu", "mse")])
def test_finite_differences_agree_with_jax_grad_in_float64(act, loss, eager):
    net = _deep(3, act, loss)
    params, x, y = random_problem(net, loss, batch=5, seed=3)
    with jax.enable_x64(True):
        p, x, y = jax.tree.map(jnp.asarray, (params, x, y))
        axes, _ = verification.unit_directions(p, None, 0)
        fd = finite_differences(net, p, x, y, loss, axes, verification.FD_STEP)
        value, g = autodiff_batch(net, p, x, y, loss)
    for fd_layer, g_layer in zip(fd, g, strict=True):
        for name, leaf in g_layer.items():
            fd_leaf = fd_layer[name][: leaf.size]  # the rest is zero padding
            assert not np.any(fd_layer[name][leaf.size :])
            c = compare("jax.grad", "fd", leaf, fd_leaf, 1e-5, verification.fd_atol(value))
            assert c.max_rel_err <= TOLERANCES["float64"].fd, (name, c)
            assert c.cosine > 1 - 1e-12


def test_directional_and_full_modes_agree_on_small_nets(eager):
    for act, loss in [("tanh", "mse"), ("softplus", "cross_entropy")]:
        net = _deep(2, act, loss)
        params, x, y = random_problem(net, loss, batch=5, seed=2)
        full = jn.gradcheck(net, params, x, y, loss)
        directional = jn.gradcheck(net, params, x, y, loss, directions=4, seed=7)
        assert full.ok and directional.ok
        assert (full.fd_mode, directional.fd_mode) == ("full", "directional")
        assert directional.fd_directions == 4 * len(directional.checks)
        with jax.enable_x64(True):
            p, xs, ys = jax.tree.map(jnp.asarray, (params, x, y))
            axes, _ = verification.unit_directions(p, None, 0)
            rand, k = verification.unit_directions(p, 4, 7)
            fd_full = finite_differences(net, p, xs, ys, loss, axes, verification.FD_STEP)
            fd_dir = finite_differences(net, p, xs, ys, loss, rand, verification.FD_STEP)
            for i, layer in enumerate(p):
                for name, leaf in layer.items():
                    grad = np.asarray(fd_full[i][name][: leaf.size])  # the full-mode gradient
                    v = np.asarray(rand[i][name]).reshape(len(rand[i][name]), -1)
                    assert k[i][name] == 4 and v.shape[0] == 4  # random directions need no pad
                    assert np.allclose(np.linalg.norm(v, axis=1), 1.0)
                    np.testing.assert_allclose(fd_dir[i][name], v @ grad, rtol=1e-6, atol=1e-11)


@settings(max_examples=5, deadline=None, derandomize=True)
@given(
    depth=st.integers(1, 3),
    act=st.sampled_from(ACTS),
    loss=st.sampled_from(LOSSES),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_jax_check_grads_on_the_loss_of_random_architectures(depth, act, loss, bias, seed):
    # Widths stay those of the matrix: second-order checks op by op then share kernels.
    from jax.test_util import check_grads

    net = _deep(depth, act, loss, bias)
    params, x, y = random_problem(net, loss, batch=5, seed=seed)
    with jax.enable_x64(True), jax.disable_jit():
        params, x, y = jax.tree.map(jnp.asarray, (params, x, y))
        check_grads(lambda p: loss_batch(net, p, x, y, loss), (params,), order=2, modes=["rev"])


# --- bad input --------------------------------------------------------------------------------


def test_bad_arguments_raise_clear_errors():
    net = _net((2, 3, 1))
    params, x, y = random_problem(net, "sse")
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        jn.gradcheck(net, params, x, y, "sse", dtype=jnp.float16)
    with pytest.raises(ValueError, match="loss must be one of"):
        jn.gradcheck(net, params, x, y, "hinge")
    with pytest.raises(ValueError, match="x must have 2 features"):
        jn.gradcheck(net, params, x[:, :1], y, "sse")
    with pytest.raises(TypeError, match="grad_fn must be a function"):
        jn.gradcheck(net, params, x, y, "sse", grad_fn="backprop")
    with pytest.raises(ValueError, match="directions must be None or a positive int"):
        jn.gradcheck(net, params, x, y, "sse", directions=0)

    def transposed(*args):
        value, grads = backprop_batch(*args)
        return value, [grads[0], dict(grads[1], w=grads[1]["w"].T)]

    with pytest.raises(ValueError, match=r"grads\[1\]\['w'\] of shape \(1, 3\)"):
        jn.gradcheck(net, params, x, y, "sse", grad_fn=transposed)


# --- edge points, loss/activation pairs and messages (issue 9) --------------------------------


def test_edge_cases_cover_every_family_activation_and_loss():
    cases = verification.edge_cases()
    assert len(cases) == len(verification.EDGE_FAMILIES) * len(ACTS)  # the loss rotates
    triples = {(f, n.activation, loss) for n, loss, f in cases}
    assert {(f, a) for f, a, _ in triples} == {
        (f, a) for f in verification.EDGE_FAMILIES for a in ACTS
    }
    assert {(f, loss) for f, _, loss in triples} == {
        (f, loss) for f in verification.EDGE_FAMILIES for loss in LOSSES
    }
    assert {(a, loss) for _, a, loss in triples} == {(a, loss) for a in ACTS for loss in LOSSES}
    assert all(n.bias and n.depth == verification.EDGE_DEPTH for n, _, _ in cases)


def _edge(family, act, loss):
    net = _deep(verification.EDGE_DEPTH, act, loss)
    params, x, y = verification.edge_problem(net, loss, family, batch=5)
    return net, params, x, y


@pytest.mark.parametrize(
    "family, act, loss, kinked_layers",
    [
        ("dead layer", "relu", "sse", (0, 1, 2)),  # z1 == b1 == 0 under the dead layer
        ("zero inputs", "leaky_relu", "cross_entropy", (0, 1)),
        ("zero output", "relu", "mse", (0, 1, 2)),  # relu output at z == 0
        ("zero weights", "sigmoid", "binary_cross_entropy", ()),  # smooth: fd held everywhere
        ("saturated output", "tanh", "mse", ()),
    ],
)
def test_edge_points_pass_with_fd_held_away_from_kinks(family, act, loss, kinked_layers, eager):
    net, params, x, y = _edge(family, act, loss)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zero reference gradients, expected here
        report = jn.gradcheck(net, params, x, y, loss)
    assert report.ok, report.table()
    assert tuple(sorted({c.layer for c in report.checks if not c.fd_held})) == kinked_layers
    assert report.max_rel_err("backprop vs jax.grad") <= 1e-12


def test_edge_points_really_are_edges():
    net = _deep(verification.EDGE_DEPTH, "relu", "sse")
    with jax.enable_x64(True):
        for family, layer in [("dead layer", 1), ("zero inputs", 0), ("zero output", 2)]:
            params, x, _ = verification.edge_problem(net, "sse", family, batch=5)
            a = x
            for i in range(layer + 1):
                z = a @ params[i]["w"] + params[i]["b"]
                a = np.maximum(z, 0.0)
            assert not np.any(z), family  # every pre-activation exactly 0
        params, x, _ = verification.edge_problem(net, "mse", "saturated output", batch=5)
        assert np.all(np.abs(jn.forward(_deep(3, "tanh", "mse"), params, x)) == 1.0)
    with pytest.raises(ValueError, match="family must be one of"):
        verification.edge_problem(net, "sse", "zero bias")
    with pytest.raises(ValueError, match="a dead layer needs a hidden layer"):
        verification.edge_problem(_deep(1), "sse", "dead layer")


def test_the_old_half_slope_relu_fails_at_a_dead_layer(eager):
    # A candidate that differentiates relu as jnp.maximum (slope 1/2 at 0), as jax.grad did.
    net, params, x, y = _edge("dead layer", "relu", "sse")

    def maximum_relu(net, params, x, y, loss):
        def loss_fn(p):
            a = x
            for layer in p:
                a = jnp.maximum(a @ layer["w"] + layer["b"], 0.0)
            return 0.5 * jnp.sum((a - y) ** 2)

        return jax.value_and_grad(loss_fn)(params)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert jn.gradcheck(net, params, x, y, "sse").ok
        report = jn.gradcheck(net, params, x, y, "sse", grad_fn=maximum_relu)
    assert not report.ok and report.first_wrong_layer is not None


def test_a_zero_reference_gradient_is_warned_about(eager):
    net, params, x, y = _edge("dead layer", "relu", "sse")
    with pytest.warns(UserWarning, match=r"identically zero for params\[0\]\['w'\].*cannot fail"):
        report = jn.gradcheck(net, params, x, y, "sse")
    assert "params[0]['w']" in report.zero_reference
    assert "identically zero" in report.table()
    net = _deep(2)
    params, x, y = random_problem(net, "sse", batch=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a generic point warns of nothing
        assert jn.gradcheck(net, params, x, y, "sse").zero_reference == ()


@pytest.mark.parametrize(
    "sizes, output, loss, message",
    [
        ((4, 5, 3), "tanh", "binary_cross_entropy", "needs output_activation='sigmoid'"),
        ((4, 5, 3), "identity", "binary_cross_entropy", "got output_activation='identity'"),
        ((2, 3, 1), "identity", "cross_entropy", "needs at least 2 outputs"),
    ],
)
def test_meaningless_loss_and_output_pairs_are_refused(sizes, output, loss, message):
    net = jn.MLP(sizes, activation="tanh", output_activation=output)
    params = jn.init(net, 0)
    x, y = np.ones((2, sizes[0])), np.zeros((2, sizes[-1]))
    with pytest.raises(ValueError, match=message):
        jn.gradcheck(net, params, x, y, loss)
    with pytest.raises(ValueError, match=message):
        random_problem(net, loss)


def test_grad_fn_mistakes_get_messages_that_say_what_is_wrong(eager):
    net = _deep(2)
    params, x, y = random_problem(net, "sse", batch=5)

    def grads_only(*args):
        return backprop_batch(*args)[1]

    def capital_w(*args):
        value, grads = backprop_batch(*args)
        return value, [{"W": grads[0]["w"], "b": grads[0]["b"]}, grads[1]]

    def vector_loss(*args):
        value, grads = backprop_batch(*args)
        return jnp.stack([value, value]), grads

    with pytest.raises(
        ValueError, match=r"pair \(loss_value, grads\); got a list of 2 layer dicts"
    ):
        jn.gradcheck(net, params, x, y, "sse", grad_fn=grads_only)
    with pytest.raises(
        ValueError, match=r"grads\[0\] with keys \['W', 'b'\]; expected \['b', 'w'\]"
    ):
        jn.gradcheck(net, params, x, y, "sse", grad_fn=capital_w)
    with pytest.raises(ValueError, match=r"scalar loss_value first; got shape \(2,\)"):
        jn.gradcheck(net, params, x, y, "sse", grad_fn=vector_loss)


def test_float32_grads_in_a_float64_check_say_dtype_is_the_cause(eager):
    net = _deep(2)
    params, x, y = random_problem(net, "sse", batch=5)

    def in_float32(*args):
        return jax.tree.map(lambda a: a.astype(jnp.float32), backprop_batch(*args))

    report = jn.gradcheck(net, params, x, y, "sse", grad_fn=in_float32)
    assert not report.ok and report.candidate_dtype == "float32"
    assert "returned float32 gradients in a float64 check" in report.verdict()
    assert "dtype=float32" in report.verdict()
    assert jn.gradcheck(net, params, x, y, "sse", grad_fn=in_float32, dtype=jnp.float32).ok


def test_float64_params_from_an_x64_scope_are_welcome_outside_it(eager):
    net = _deep(2)
    with jax.enable_x64(True):
        params = jn.init(net, 0)
    assert params[0]["w"].dtype == jnp.float64
    x, y = np.ones((5, 3)), np.zeros((5, 4))
    assert jn.gradcheck(net, params, x, y, "sse").ok


# --- issue 25: memory bounded at any depth -------------------------------------------------------


def test_a_deep_net_is_checked_by_one_compiled_block_of_directions():
    from jaxnet.verification import differences

    net = jn.MLP((4,) * 17 + (1,), activation="sigmoid", output_activation="sigmoid", residual=True)
    params, x, y = random_problem(net, "sse", batch=3, seed=1)
    before = differences._block._cache_size()
    report = jn.gradcheck(net, params, x, y, "sse", directions=3)
    assert report.ok and report.fd_mode == "directional" and len(report.checks) == 34
    assert differences._block._cache_size() == before + 1  # one program for all 34 arrays
    assert differences.block_size(4000, 20) == differences.FD_MAX_BLOCK
    wide = differences.block_size(8 * 2**20, 2**20)  # an 8M-parameter net: a few at a time
    assert 1 <= wide and wide * 8 * 2 * 8 * 2**20 <= 2 * differences.FD_BLOCK_BYTES


@pytest.mark.slow
def test_a_201_layer_gradcheck_finishes_in_bounded_memory(tmp_path):
    import subprocess
    import sys

    # The child reports its own peak (VmHWM belongs to its address space after exec): its
    # ru_maxrss would also count the pytest worker it was forked from, gigabytes late in a run.
    code = (
        "import sys; from jaxnet.cli import main; rc = main(sys.argv[1:]); "
        "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')), "
        "file=sys.stderr); sys.exit(rc)"
    )
    sizes = ",".join(["4"] * 201 + ["1"])
    with open(tmp_path / "table.txt", "w+") as log:  # a file: a long table never blocks a pipe
        proc = subprocess.run(
            [sys.executable, "-c", code, "gradcheck", "--sizes", sizes],
            stdout=log,
            stderr=subprocess.PIPE,
            text=True,
        )
        log.seek(0)
        out = log.read()
    assert proc.returncode == 0 and "PASS" in out, proc.stderr[-500:]
    peak_kib = int(proc.stderr.split("VmHWM:")[1].split()[0])
    assert peak_kib < 2 * 2**20, f"{peak_kib / 2**10:.0f} MiB"  # main: > 8 GiB


# --- your own grad_fn: what it returned, or why it raised, in one line -------------------------


def _my_backprop(net, params, x, y, loss):
    """A correct softmax cross-entropy backward pass for a one-hidden-layer tanh net, as a
    reader would write it: y arrives as one-hot rows."""
    (l1, l2), n = params, x.shape[0]
    a = jnp.tanh(x @ l1["w"] + l1["b"])
    z = a @ l2["w"] + l2["b"]
    delta = (jax.nn.softmax(z) - y) / n
    hidden = (delta @ l2["w"].T) * (1 - a**2)
    value = -jnp.mean(jnp.sum(y * jax.nn.log_softmax(z), axis=-1))
    grads = [{"w": x.T @ hidden, "b": hidden.sum(0)}, {"w": a.T @ delta, "b": delta.sum(0)}]
    return value, grads


def _one_hot_again(net, params, x, y, loss):
    return _my_backprop(net, params, x, jax.nn.one_hot(y, net.sizes[-1]), loss)


def _transposed(net, params, x, y, loss):
    value, grads = _my_backprop(net, params, x, y, loss)
    return value, [{**grads[0], "w": grads[0]["w"].T}, grads[1]]


def _grads_only(net, params, x, y, loss):
    return _my_backprop(net, params, x, y, loss)[1]


@pytest.mark.parametrize(
    "grad_fn, error, fragments",
    [
        (
            _one_hot_again,
            ValueError,
            [
                "grad_fn _one_hot_again raised ",
                "Incompatible shapes for broadcasting",
                "x of shape (5, 3) and y of shape (5, 4)",
                "one-hot rows already, so do not one-hot encode y again",
            ],
        ),
        (
            _transposed,
            ValueError,
            [
                "grad_fn _transposed returned grads[0]['w'] of shape (4, 3)",
                "params[0]['w'] has shape (3, 4)",
            ],
        ),
        (_grads_only, ValueError, ["looks like the grads alone: return (loss, grads)"]),
        (
            lambda *a: ("a lot", _my_backprop(*a)[1]),
            ValueError,
            ["must return a number as loss_value; got a str"],
        ),
        (lambda *a: (0.0, {"w": 1}), ValueError, ["grads as a list of 2 layer dicts; got a dict"]),
        (
            lambda *a: (0.0, [{"w": 1}, {}]),
            ValueError,
            ["grads[0] with keys ['w']; expected ['b', 'w']"],
        ),
    ],
)
@pytest.mark.filterwarnings("ignore:jax.nn.one_hot input should be integer-typed")
def test_a_wrong_grad_fn_is_named_in_one_line(grad_fn, error, fragments, eager):
    net = jn.MLP((3, 4, 4), activation="tanh")
    params, x, y = random_problem(net, "cross_entropy", batch=5, seed=0)
    with pytest.raises(error) as caught:
        jn.gradcheck(net, params, x, y, "cross_entropy", grad_fn=grad_fn)
    message = str(caught.value)
    assert "\n" not in message and all(f in message for f in fragments), message
