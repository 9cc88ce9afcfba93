"""The tutorial mode is exactly the article's NumPy loop."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet as jn
from jaxnet import cli

X = np.array([[2.0, 9.0], [1.0, 5.0], [3.0, 6.0]])
Y = np.array([[92.0], [86.0], [89.0]])


def article_loop(x, y, w1, w2, steps):
    """The article's training loop, line for line, in NumPy float64."""

    def sigmoid(s):
        return 1 / (1 + np.exp(-s))

    def sigmoid_prime(s):  # called with the output, as the article does
        return s * (1 - s)

    for _ in range(steps):
        z2 = sigmoid(x @ w1)
        o = sigmoid(z2 @ w2)
        o_error = y - o
        o_delta = o_error * sigmoid_prime(o)
        z2_error = o_delta @ w2.T
        z2_delta = z2_error * sigmoid_prime(z2)
        w1 = w1 + x.T @ z2_delta
        w2 = w2 + z2.T @ o_delta
    return w1, w2


@pytest.mark.parametrize("grads", ["manual", "auto"])
def test_1000_steps_equal_the_article_loop(grads, x64):
    x, y = X / X.max(axis=0), Y / 100
    net = jn.MLP(
        (2, 3, 1), activation="sigmoid", output_activation="sigmoid", bias=False, init="normal"
    )
    params = jn.init(net, jax.random.key(0), jnp.float64)
    w1, w2 = article_loop(x, y, np.asarray(params[0]["w"]), np.asarray(params[1]["w"]), 1000)
    trained, history = jn.fit(
        net, params, x, y, loss="sse", optimizer=optax.sgd(1.0), steps=1000, grads=grads
    )
    assert history.status == "completed" and history.loss.shape == (1000,)
    np.testing.assert_allclose(trained[0]["w"], w1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(trained[1]["w"], w2, rtol=1e-10, atol=1e-12)


def test_tutorial_command_prints_the_table_and_both_predictions(tmp_path, capsys):
    out = tmp_path / "tutorial.jaxnet"
    assert cli.main(["tutorial", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "final loss" in text and "predicted" in text
    assert "training maxima" in text and "its own maximum" in text
    assert out.exists()
    # The final loss printed is small: the net has fitted the three scores.
    final = float(text.split("final loss ")[1].split()[0])
    assert final < 1e-3


def test_tutorial_command_flags(tmp_path, capsys):
    out = tmp_path / "t.jaxnet"
    args = [
        "tutorial",
        "--hidden",
        "8,8",
        "--bias",
        "--lr",
        "0.5",
        "--steps",
        "200",
        "--seed",
        "3",
        "--grads",
        "auto",
        "--activation",
        "tanh",
        "--out",
        str(out),
    ]
    assert cli.main(args) == 0
    assert "net 2-8-8-1 tanh, bias=True" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args,message",
    [
        (["--hidden", "2,,1"], "--hidden must be comma-separated positive ints"),
        (["--hidden", "0"], "--hidden must be positive ints"),
        (["--activation", "sigmod"], "activation must be one of"),
        (["--steps", "0"], "steps must be a positive int"),
    ],
)
def test_tutorial_bad_arguments_are_one_line(args, message, tmp_path, capsys):
    assert cli.main(["tutorial", "--out", str(tmp_path / "t.jaxnet"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
