"""Bad input is refused on the host with a message naming the argument, expected and given."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet as jn

NET = jn.MLP((2, 3, 1), activation="sigmoid", output_activation="sigmoid", bias=False)
PARAMS = jn.init(NET, jax.random.key(0))
X = np.array([[2 / 3, 1.0], [1 / 3, 5 / 9], [1.0, 6 / 9]])
Y = np.array([0.92, 0.86, 0.89])
ENTRY_POINTS = {
    "backprop": lambda x, y: jn.backprop(NET, PARAMS, x, y, loss="sse"),
    "value_and_grad": lambda x, y: jn.value_and_grad(NET, PARAMS, x, y, loss="sse"),
    "fit": lambda x, y: jn.fit(
        NET, PARAMS, x, y, loss="sse", optimizer="sgd", learning_rate=1.0, steps=2
    ),
}


@pytest.fixture(params=sorted(ENTRY_POINTS))
def call(request):
    return ENTRY_POINTS[request.param]


def test_wrong_feature_count_names_x_and_both_shapes(call):
    with pytest.raises(ValueError, match=r"x must have 2 features.*got shape \(3, 3\)"):
        call(np.ones((3, 3)), Y)


def test_the_tutorial_readers_mistake_is_a_clear_error(call):
    # One new student [4, 8] against the three training scores: rows differ.
    with pytest.raises(ValueError, match=r"y must have shape \(1, 1\).*1 rows.*got shape \(3,\)"):
        call(np.array([4.0, 8.0]), Y)


def test_x_and_y_with_different_rows(call):
    with pytest.raises(ValueError, match=r"y must have shape \(3, 1\).*got shape \(2,\)"):
        call(X, Y[:2])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_x_or_y(call, bad):
    x = X.copy()
    x[1, 0] = bad
    with pytest.raises(ValueError, match=r"x must be finite.*index \(1, 0\)"):
        call(x, Y)
    y = Y.copy()
    y[2] = bad
    with pytest.raises(ValueError, match=r"y must be finite"):
        call(X, y)


def test_three_d_input(call):
    with pytest.raises(
        ValueError, match=r"x must have shape \(features,\) or \(batch, features\).*3-D"
    ):
        call(np.ones((3, 1, 2)), Y)


def test_empty_input(call):
    with pytest.raises(ValueError, match=r"x must hold at least one example.*\(0, 2\)"):
        call(np.ones((0, 2)), np.ones((0,)))


def test_string_input(call):
    with pytest.raises(TypeError, match="x must be a numeric array"):
        call("2,9", Y)
    with pytest.raises(TypeError, match="x must be a numeric array; got dtype <U"):
        call(np.array([["2", "9"]]), Y[:1])


def test_forward_refuses_the_same_inputs_before_tracing():
    with pytest.raises(ValueError, match="x must have 2 features"):
        jn.forward(NET, PARAMS, np.ones(3))
    with pytest.raises(ValueError, match="x must be finite"):
        jn.forward(NET, PARAMS, np.array([np.nan, 1.0]))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(activation="sigmod"), r"activation must be one of .*sigmoid.*got 'sigmod'"),
        (dict(output_activation="soft"), r"output_activation must be one of .*got 'soft'"),
        (dict(init="xavier"), r"init must be one of auto, glorot, he, lecun, normal; got 'xavier'"),
    ],
)
def test_unknown_names_in_the_spec(kwargs, message):
    with pytest.raises(ValueError, match=message):
        jn.MLP((2, 3, 1), **kwargs)


@pytest.mark.parametrize(
    "sizes,error,message",
    [
        (
            (2, 0, 1),
            ValueError,
            r"sizes must be positive ints of at most 2147483647 = 2\*\*31 - 1; got 0 at sizes\[1\]",
        ),
        ((2, -3, 1), ValueError, r"sizes must be positive ints .*; got -3"),
        ((2,), ValueError, r"at least 2 entries"),
        ((2, 3.5, 1), TypeError, r"sizes must hold ints; got 3.5"),
        ("2,3,1", TypeError, r"sizes must be a sequence of ints"),
        ((2, True, 1), TypeError, r"sizes must hold ints; got True"),
    ],
)
def test_bad_layer_sizes(sizes, error, message):
    with pytest.raises(error, match=message):
        jn.MLP(sizes)


def test_unknown_loss_name():
    with pytest.raises(ValueError, match=r"loss must be one of .*mse.*got 'l2'"):
        jn.backprop(NET, PARAMS, X, Y, loss="l2")


def test_labels_out_of_range_for_cross_entropy():
    net = jn.MLP((2, 4, 3))
    params = jn.init(net, jax.random.key(0))
    with pytest.raises(ValueError, match=r"labels that must lie in \[0, 2\].*from 0 to 3"):
        jn.backprop(net, params, X, np.array([0, 1, 3]), loss="cross_entropy")
    with pytest.raises(ValueError, match=r"from -1 to 1"):
        jn.value_and_grad(net, params, X, np.array([0, 1, -1]), loss="cross_entropy")


def test_params_that_do_not_match_the_spec():
    bad = [dict(PARAMS[0]), {"w": np.ones((2, 1))}]
    with pytest.raises(
        ValueError, match=r"params\[1\]\['w'\] must have shape \(3, 1\); got \(2, 1\)"
    ):
        jn.forward(NET, bad, X)
    with pytest.raises(ValueError, match=r"params\[0\] must have keys \['w'\]; got \['b', 'w'\]"):
        jn.forward(NET, [{"w": PARAMS[0]["w"], "b": np.zeros(3)}, PARAMS[1]], X)
    with pytest.raises(TypeError, match=r"params must be a list of 2 layer dicts"):
        jn.forward(NET, PARAMS[:1], X)


def test_fit_arguments():
    fit = lambda **kw: jn.fit(NET, PARAMS, X, Y, loss="sse", **kw)  # noqa: E731
    with pytest.raises(
        ValueError,
        match=r"steps must be a positive int \(at most 2147483647 = 2\*\*31 - 1\); got 0",
    ):
        fit(optimizer="sgd", learning_rate=1.0, steps=0)
    with pytest.raises(ValueError, match="learning_rate is required"):
        fit(optimizer="sgd", steps=5)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        fit(optimizer="sgdd", learning_rate=1.0, steps=5)
    with pytest.raises(
        ValueError, match=r"batch_size must be between 1 and the 3 training rows; got 4"
    ):
        fit(optimizer="sgd", learning_rate=1.0, steps=5, batch_size=4)
    with pytest.raises(ValueError, match="grads must be 'auto' or 'manual'"):
        fit(optimizer="sgd", learning_rate=1.0, steps=5, grads="hand")
    with pytest.raises(ValueError, match="learning_rate must be positive"):
        fit(optimizer="sgd", learning_rate=-1.0, steps=5)


# --- issue 9: the adversarial pass ------------------------------------------------------------

CE_NET = jn.MLP((2, 4, 3))
CE_PARAMS = jn.init(CE_NET, jax.random.key(0))


def _all_entry_points(net, params, x, y, loss):
    """Every library entry that takes a loss, called the same way."""
    yield lambda: jn.backprop(net, params, x, y, loss=loss)
    yield lambda: jn.value_and_grad(net, params, x, y, loss=loss)
    yield lambda: jn.per_example_grads(net, params, x, y, loss=loss)
    yield lambda: jn.fit(net, params, x, y, loss=loss, optimizer="sgd", learning_rate=0.1, steps=1)
    yield lambda: jn.fit_population(
        net, jax.random.split(jax.random.key(0), 2), x, y, loss=loss, optimizer="sgd",
        learning_rates=[0.1, 0.2], steps=1,
    )  # fmt: skip
    yield lambda: jn.gradcheck(net, params, x, y, loss)


@pytest.mark.parametrize("output", ["tanh", "identity", "relu", "softplus"])
def test_binary_cross_entropy_needs_a_sigmoid_output(output):
    # With tanh, backprop and jax.grad differed by up to 1e14 and training "completed" at 82 %.
    net = jn.MLP((2, 3, 1), output_activation=output)
    params = jn.init(net, jax.random.key(0))
    for call in _all_entry_points(
        net, params, X, np.array([1.0, 0.0, 1.0]), "binary_cross_entropy"
    ):
        with pytest.raises(
            ValueError,
            match=rf"binary_cross_entropy' needs output_activation='sigmoid'.*got .*'{output}'",
        ):
            call()


def test_cross_entropy_needs_two_outputs():
    # One output: softmax is constant, every gradient 0, and gradcheck printed PASS.
    net = jn.MLP((2, 3, 1))
    params = jn.init(net, jax.random.key(0))
    for call in _all_entry_points(net, params, X, np.array([0, 0, 0]), "cross_entropy"):
        with pytest.raises(ValueError, match=r"cross_entropy' needs at least 2 outputs.*got a net"):
            call()


@pytest.mark.parametrize("value", [1e39, 1e300, -1e39])
def test_finite_values_beyond_the_compute_dtype_are_named(call, value):
    # They passed the finiteness check, became inf on the device and predicted NaN.
    x = X.copy()
    x[2, 1] = value
    with pytest.raises(
        ValueError, match=r"x holds -?1e\+\d+ at index \(2, 1\), beyond the range of float32"
    ):
        call(x, Y)
    y = Y.copy()
    y[0] = value
    with pytest.raises(ValueError, match=r"y holds -?1e\+\d+ at index \(0,\), beyond the range"):
        call(X, y)


def test_forward_refuses_overflowing_inputs_but_float64_params_take_them():
    with pytest.raises(ValueError, match=r"x holds 1e\+300 at index \(0,\).*float32"):
        jn.forward(NET, PARAMS, np.array([1e300, 1.0]))
    with jax.enable_x64(True):
        p64 = jn.init(NET, 0)
        assert np.isfinite(jn.forward(NET, p64, np.array([1e300, 1.0])))  # sigmoid(+-big)


def test_complex_inputs_are_refused_from_numpy_and_jax(call):
    for x in (X + 1j, jnp.asarray(X) + 1j):  # jax's was cast silently, dropping 1j
        with pytest.raises(TypeError, match="x must be a real numeric array; got dtype complex"):
            call(x, Y)
    with pytest.raises(TypeError, match="y must be a real numeric array; got dtype complex"):
        call(X, jnp.asarray(Y) + 0j)


def test_boolean_labels_are_the_classes_0_and_1():
    net = jn.MLP((2, 4, 2))
    params = jn.init(net, jax.random.key(0))
    labels = np.array([True, False, True])  # was an IndexError from inside NumPy
    for f in (jn.backprop, jn.value_and_grad):
        v_bool, g_bool = f(net, params, X, labels, loss="cross_entropy")
        v_int, g_int = f(net, params, X, labels.astype(int), loss="cross_entropy")
        assert float(v_bool) == float(v_int)
        assert all(
            np.array_equal(a, b) for a, b in zip(jax.tree.leaves(g_bool), jax.tree.leaves(g_int))
        )


def test_integer_labels_work_inside_jit():
    labels = np.array([0, 2, 1])
    eager = jn.backprop(CE_NET, CE_PARAMS, X, labels, loss="cross_entropy")
    for f in (jn.backprop, jn.value_and_grad):
        jitted = jax.jit(lambda p, x, y, f=f: f(CE_NET, p, x, y, loss="cross_entropy"))
        value, grads = jitted(CE_PARAMS, X, labels)  # was "y must have shape (3, 3)"
        np.testing.assert_allclose(value, eager[0], rtol=1e-6)
        for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(eager[1])):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "params, error, message",
    [
        (
            [{"w": np.ones((2, 3)).tolist()}, {"w": np.ones((3, 1)).tolist()}],
            TypeError,
            r"params\[0\]\['w'\] must be an array \(NumPy or JAX\) of floats; got a list",
        ),
        ([[np.ones((2, 3))], [np.ones((3, 1))]], TypeError, r"params\[0\] must be a dict .*a list"),
        (
            [{"w": np.ones((2, 3), int)}, {"w": np.ones((3, 1), int)}],
            ValueError,
            r"params\[0\]\['w'\] must be a float array; got int",
        ),
        (
            [{"w": np.ones((2, 3), np.float32)}, {"w": np.ones((3, 1), np.float16)}],
            TypeError,
            r"params must share one dtype; params\[1\]\['w'\] is float16",
        ),
    ],
)
def test_params_of_the_wrong_kind(call_with_params, params, error, message):
    with pytest.raises(error, match=message):
        call_with_params(params)


@pytest.fixture(params=["forward", "backprop", "value_and_grad", "fit"])
def call_with_params(request):
    return {
        "forward": lambda p: jn.forward(NET, p, X),
        "backprop": lambda p: jn.backprop(NET, p, X, Y, loss="sse"),
        "value_and_grad": lambda p: jn.value_and_grad(NET, p, X, Y, loss="sse"),
        "fit": lambda p: jn.fit(
            NET, p, X, Y, loss="sse", optimizer="sgd", learning_rate=1.0, steps=1
        ),
    }[request.param]


def test_float64_params_after_x64_is_switched_off(call_with_params):
    with jax.enable_x64(True):
        p64 = jn.init(NET, jax.random.key(0))
    # fit failed inside lax.scan (carry float64 vs float32); forward silently used float32
    with pytest.raises(TypeError, match=r"params\[0\]\['w'\] is a float64 JAX array but 64-bit"):
        call_with_params(p64)


def test_init_takes_an_int_seed_and_says_what_a_key_is():
    a, b = jn.init(NET, 3), jn.init(NET, jax.random.key(3))  # an int was a 26-line traceback
    assert all(np.array_equal(u, v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    for bad in ("0", 1.5, None, True, np.zeros(3)):
        with pytest.raises(TypeError, match=r"key must be a jax.random.key\(seed\) or an int seed"):
            jn.init(NET, bad)
    legacy = jn.init(NET, jax.random.PRNGKey(3))
    assert legacy[0]["w"].shape == (2, 3)
    with pytest.raises(TypeError, match=r"key must be a jax.random.key\(seed\) or an int seed"):
        jn.fit(NET, PARAMS, X, Y, loss="sse", optimizer="sgd", learning_rate=1.0, steps=1, key="0")


def test_init_follows_jax_default_float_dtype():
    assert jn.init(NET, 0)[0]["w"].dtype == jnp.float32
    with jax.enable_x64(True):
        assert jn.init(NET, 0)[0]["w"].dtype == jnp.float64  # was float32
        assert jn.init(NET, 0, jnp.float32)[0]["w"].dtype == jnp.float32
    with pytest.raises(ValueError, match="dtype float64 needs 64-bit mode"):
        jn.init(NET, 0, jnp.float64)
    with pytest.raises(TypeError, match="dtype must be a floating dtype like float32; got"):
        jn.init(NET, 0, jnp.int32)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            dict(learning_rate="0.1"),
            TypeError,
            "learning_rate must be a positive number; got a string",
        ),
        (
            dict(learning_rate=-1.0),
            ValueError,
            "learning_rate must be positive and finite; got -1.0",
        ),
        (dict(learning_rate=0.0), ValueError, "learning_rate must be positive and finite; got 0.0"),
        (
            dict(learning_rate=np.nan),
            ValueError,
            "learning_rate must be positive and finite; got nan",
        ),
        (
            dict(learning_rate=np.inf),
            ValueError,
            "learning_rate must be positive and finite; got inf",
        ),
        (
            dict(optimizer=optax.sgd(0.1), learning_rate=0.1),
            ValueError,
            "learning_rate needs an optimizer name.*inject_hyperparams",
        ),
    ],
)
def test_learning_rates_that_make_no_sense(kwargs, error, message):
    kw = dict(dict(optimizer="sgd"), **kwargs)
    with pytest.raises(error, match=message):
        jn.fit(NET, PARAMS, X, Y, loss="sse", steps=1, **kw)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(learning_rates="0.1,0.2"), TypeError, "learning_rates must be numbers.*a string"),
        (
            dict(learning_rates=[0.1, -1.0]),
            ValueError,
            "learning_rates must be positive and finite",
        ),
        (
            dict(learning_rates=[0.1, np.nan]),
            ValueError,
            "learning_rates must be positive and finite",
        ),
        (
            dict(optimizer=optax.adam(0.1), learning_rates=[0.1, 0.2]),
            ValueError,
            "learning_rates needs an optimizer name",
        ),
    ],
)
def test_population_learning_rates_that_make_no_sense(kwargs, error, message):
    kw = dict(dict(optimizer="sgd"), **kwargs)
    keys = jax.random.split(jax.random.key(0), 2)
    with pytest.raises(error, match=message):
        jn.fit_population(NET, keys, X, Y, loss="sse", steps=1, **kw)


# --- issue 25: probabilities, labels past int64, bfloat16, the int32 rule ----------------------

CE_NET = jn.MLP((2, 3), output_activation="identity")
CE_PARAMS = jn.init(CE_NET, 0)
CE_X = np.array([[0.1, 0.2], [0.3, -0.1], [-0.2, 0.4], [0.5, 0.5]])
ONE_HOT = np.eye(3)[[0, 1, 2, 0]]


def _ce_fit(y, **kw):
    kw = {"loss": "cross_entropy", "optimizer": "sgd", "learning_rate": 0.1, "steps": 3, **kw}
    return jn.fit(CE_NET, CE_PARAMS, CE_X, y, **kw)


@pytest.mark.parametrize(
    "y, message",
    [
        (-5 * ONE_HOT, r"y must hold probabilities in \[0, 1\] for cross_entropy; got values "
         r"from -5 to 0 \(row 0: \[-5, 0, 0\]\)"),
        (2 * ONE_HOT, r"from 0 to 2"),
        (0.5 * ONE_HOT, r"y rows must sum to 1 for cross_entropy .*row 0 sums to 0.5"),
        (np.zeros((4, 3)), r"row 0 sums to 0"),
    ],
)  # fmt: skip
def test_targets_that_are_no_distributions_are_refused_before_training(y, message):
    with pytest.raises(ValueError, match=message):
        _ce_fit(y)
    with pytest.raises(ValueError, match=message):
        jn.value_and_grad(CE_NET, CE_PARAMS, CE_X, y, loss="cross_entropy")


def test_soft_labels_that_are_distributions_train_as_before():
    smooth = np.full((4, 3), 0.1 / 3) + 0.9 * ONE_HOT  # label smoothing, float64 rounding
    assert _ce_fit(smooth)[1].status == "completed"
    f32 = (smooth / smooth.sum(1, keepdims=True)).astype(np.float32)  # float32 rounding
    assert _ce_fit(f32)[1].status == "completed"
    bce_net = jn.MLP((2, 2), output_activation="sigmoid")
    multi = np.array([[1.0, 1.0], [0.0, 0.0], [0.3, 0.9], [1.0, 0.0]])  # no sum rule for bce
    jn.value_and_grad(bce_net, jn.init(bce_net, 0), CE_X, multi, loss="binary_cross_entropy")
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\] for binary_cross_entropy"):
        jn.value_and_grad(bce_net, jn.init(bce_net, 0), CE_X, -multi, "binary_cross_entropy")


def test_a_value_a_rounding_error_past_one_is_no_distribution_error():
    # A float32 one-hot scaled by 1 + eps sums to 1 within rounding; its 1.0000001 was refused
    # as "values from 0 to 1", a message that named nothing wrong.
    nudged = (ONE_HOT * (1 + 1e-7)).astype(np.float32)
    assert nudged.max() > 1
    assert _ce_fit(nudged)[1].status == "completed"
    with pytest.raises(ValueError, match=r"got values from 0 to 1\.0001 \(row 0: \[1\.0001, 0"):
        _ce_fit((ONE_HOT * 1.0001).astype(np.float32))


@pytest.mark.parametrize(
    "labels, shown",
    [
        (np.full(4, 2**63 + 1, np.uint64), "9223372036854775809"),
        ([2**63 + 1] * 4, "9223372036854775809"),
        (np.array([0, 1, 2, 2**40]), "1099511627776"),
    ],
)
def test_labels_past_the_classes_are_shown_as_given_never_wrapped(labels, shown):
    with pytest.raises(ValueError, match=f"lie in \\[0, 2\\].*from 0 to {shown}|to {shown}"):
        _ce_fit(labels)


def test_ints_past_64_bits_are_refused_by_name():
    with pytest.raises(
        ValueError, match=r"y holds an int beyond 64 bits \(1180591620717411303424\)"
    ):
        _ce_fit([2**70] * 4)


def test_numpy_bfloat16_is_a_float_as_jax_bfloat16_is():
    import ml_dtypes

    x = CE_X.astype(ml_dtypes.bfloat16)
    np.testing.assert_allclose(
        jn.forward(CE_NET, CE_PARAMS, x), jn.forward(CE_NET, CE_PARAMS, jnp.asarray(x)), rtol=1e-6
    )


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: jn.init(NET, 2**70), r"key must be a non-negative int \(at most 2147483647 = "
         r"2\*\*31 - 1\); got 1180591620717411303424"),
        (lambda: jn.init(NET, -1), "key must be a non-negative int"),
        (lambda: jn.fit(NET, PARAMS, X, Y, loss="sse", optimizer="sgd", learning_rate=1.0,
                        steps=2**32 + 3, eval_every=2**32 + 3),
         r"steps must be a positive int \(at most 2147483647 = 2\*\*31 - 1\); got 4294967299"),
        (lambda: jn.fit(NET, PARAMS, X, Y, loss="sse", optimizer="sgd", learning_rate=1.0,
                        steps=3, eval_every=2**31), "eval_every must be a positive int"),
        (lambda: jn.fit(NET, PARAMS, X, Y, loss="sse", optimizer="sgd", learning_rate=1.0,
                        steps=3, key=2**31), "key must be a non-negative int"),
    ],
)  # fmt: skip
def test_ints_past_int32_are_refused_by_the_api_naming_the_argument_and_the_limit(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_population_of_no_members_is_one_line():
    with pytest.raises(ValueError, match="keys must hold at least one key"):
        jn.fit_population(
            NET, jax.random.split(jax.random.key(0), 0), X, Y, loss="sse", optimizer="sgd",
            learning_rates=[], steps=2,
        )  # fmt: skip


def test_text_labels_in_fit_point_at_from_arrays():
    net = jn.MLP((2, 3, 2))
    with pytest.raises(TypeError) as caught:
        jn.fit(net, jn.init(net, 0), np.ones((2, 2)), np.array(["cat", "dog"]),
               loss="cross_entropy", optimizer="sgd", learning_rate=0.1, steps=1)  # fmt: skip
    assert str(caught.value) == (
        "y must be a numeric array; got dtype <U3; text labels become class indices with "
        "jn.data.Dataset.from_arrays(x, y)"
    )
