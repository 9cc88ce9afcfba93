import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnet import losses


def _pair(name, key):
    k1, k2 = jax.random.split(key)
    y_hat = jax.random.normal(k1, (5, 3), jnp.float64)
    if name == "cross_entropy":
        y = jax.nn.one_hot(jax.random.randint(k2, (5,), 0, 3), 3, dtype=jnp.float64)
    elif name == "binary_cross_entropy":
        y_hat = jax.nn.sigmoid(y_hat)
        y = jax.random.bernoulli(k2, 0.5, (5, 3)).astype(jnp.float64)
    else:
        y = jax.random.normal(k2, (5, 3), jnp.float64)
    return y_hat, y


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_output_delta_is_the_gradient_of_the_loss(name, x64):
    loss = losses.get(name)
    y_hat, y = _pair(name, jax.random.key(1))
    np.testing.assert_allclose(
        loss.output_delta(y_hat, y), jax.grad(loss.value)(y_hat, y), rtol=1e-12
    )


def test_fused_sigmoid_bce_is_bce_on_the_sigmoid_and_its_delta_the_gradient(x64):
    fused = losses.FUSED[("sigmoid", "binary_cross_entropy")]
    bce = losses.get("binary_cross_entropy")
    z, y = _pair("cross_entropy", jax.random.key(2))
    np.testing.assert_allclose(fused.value(z, y), bce.value(jax.nn.sigmoid(z), y), rtol=1e-12)
    np.testing.assert_allclose(fused.delta(z, y), jax.grad(fused.value)(z, y), rtol=1e-12)
    through_sigmoid = jax.grad(lambda z: bce.value(jax.nn.sigmoid(z), y))(z)
    np.testing.assert_allclose(fused.delta(z, y), through_sigmoid, rtol=1e-10)


def test_sse_is_half_the_sum_and_mse_the_mean(x64):
    y_hat, y = jnp.array([[1.0], [3.0]]), jnp.array([[0.0], [0.0]])
    assert float(losses.get("sse").value(y_hat, y)) == 5.0
    assert float(losses.get("mse").value(y_hat, y)) == 5.0


def test_cross_entropy_of_uniform_logits_is_log_classes(x64):
    z = jnp.zeros((4, 10))
    y = jax.nn.one_hot(jnp.arange(4), 10)
    np.testing.assert_allclose(losses.get("cross_entropy").value(z, y), np.log(10.0), rtol=1e-12)


def test_unknown_loss_lists_the_known_ones():
    with pytest.raises(ValueError, match="binary_cross_entropy, cross_entropy, mse, sse"):
        losses.get("l2")
