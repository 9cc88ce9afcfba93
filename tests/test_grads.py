import jax
import jax.numpy as jnp
import pytest
from conftest import tree_allclose

import jaxnet as jn


@pytest.mark.parametrize("loss", ["sse", "cross_entropy"])
def test_per_example_grads_sum_to_the_batch_gradient(loss, x64):
    # sse sums over examples; cross_entropy averages, so its per-example grads average.
    net = jn.MLP((4, 6, 3), activation="tanh")
    params = jn.init(net, jax.random.key(0), jnp.float64)
    x = jax.random.normal(jax.random.key(1), (7, 4), jnp.float64)
    y = jax.random.randint(jax.random.key(2), (7,), 0, 3) if loss == "cross_entropy" else x[:, :3]
    per = jn.per_example_grads(net, params, x, y, loss=loss)
    reduce = jnp.sum if loss == "sse" else jnp.mean
    _, batch = jn.value_and_grad(net, params, x, y, loss=loss)
    assert tree_allclose(jax.tree.map(lambda g: reduce(g, axis=0), per), batch, rtol=1e-12)


def test_per_example_grads_equal_one_example_at_a_time(x64):
    net = jn.MLP((3, 5, 2), activation="relu")
    params = jn.init(net, jax.random.key(0), jnp.float64)
    x = jax.random.normal(jax.random.key(1), (4, 3), jnp.float64)
    y = jax.random.normal(jax.random.key(2), (4, 2), jnp.float64)
    per = jn.per_example_grads(net, params, x, y, loss="mse")
    assert per[0]["w"].shape == (4, 3, 5) and per[1]["b"].shape == (4, 2)
    for i in range(4):
        _, one = jn.backprop(net, params, x[i], y[i], loss="mse")
        assert tree_allclose(jax.tree.map(lambda g, i=i: g[i], per), one, rtol=1e-12)
