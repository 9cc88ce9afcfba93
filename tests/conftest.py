"""Shared test helpers: float64 scope, tree comparison, the forward shape contract."""

import os
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

# Sweeps and the CLI turn JAX's persistent compile cache on; tests (and the CLI subprocesses
# they start, which inherit this) use a fresh folder of their own, never the user's.
os.environ.setdefault("JAXNET_CACHE_DIR", tempfile.mkdtemp(prefix="jaxnet-test-cache-"))


@pytest.fixture
def x64():
    """Run the test with 64-bit floats on, without leaving them on for other tests."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def tiers_off():
    """Compile every program at tier 2 (XLA's defaults, as ``jax.jit`` does), for results
    compared bit for bit with jitted functions; tiers differ by the compiler's reassociation."""
    from jaxnet import tiers

    tiers.use_tiers(False)
    yield
    tiers.use_tiers(None)


@pytest.fixture
def fresh_programs():
    """Start the test with none of this process's compiled programs (queued background compiles
    finished first), for tests that count compiles: what an earlier test in the same worker
    compiled would otherwise be counted as cached."""
    from jaxnet import tiers

    tiers.forget()
    yield


def tree_max_rel_err(a, b) -> float:
    """max over leaves of max|a - b| / max|b| (a floor of 1e-300 keeps zeros finite)."""
    errs = jax.tree.map(
        lambda u, v: (
            float(np.max(np.abs(np.asarray(u) - np.asarray(v))))
            / max(float(np.max(np.abs(np.asarray(v)))), 1e-300)
        ),
        a,
        b,
    )
    return max(jax.tree.leaves(errs))


def tree_allclose(a, b, rtol=1e-10) -> bool:
    """Same structure and every leaf within ``rtol`` of the other, relative to its scale."""
    if jax.tree.structure(a) != jax.tree.structure(b):
        return False
    return tree_max_rel_err(a, b) <= rtol


def check_forward_contract(net, params, forward, batch: int):
    """The shape/dtype contract of forward for one architecture (stax-style shared helper)."""
    dtype = params[0]["w"].dtype
    x = jnp.ones((batch, net.sizes[0]), dtype)
    out = forward(net, params, x)
    assert out.shape == (batch, net.sizes[-1])
    assert out.dtype == dtype
    one = forward(net, params, x[0])
    assert one.shape == (net.sizes[-1],)
    assert one.dtype == dtype
    for layer, fan_in, fan_out in zip(params, net.sizes[:-1], net.sizes[1:]):
        assert layer["w"].shape == (fan_in, fan_out)
        assert ("b" in layer) == net.bias
        if net.bias:
            assert layer["b"].shape == (fan_out,)
