"""Bad input is refused on the host with a message naming the argument, expected and given."""

import jax
import numpy as np
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
        ((2, 0, 1), ValueError, r"sizes must be positive; got 0"),
        ((2, -3, 1), ValueError, r"sizes must be positive; got -3"),
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
    with pytest.raises(ValueError, match="steps must be a positive int; got 0"):
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
