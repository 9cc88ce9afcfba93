import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnet import activations

NAMES = sorted(activations.ACTIVATIONS)


def _points():
    # Away from ReLU-like kinks at exactly 0, spread over the interesting range.
    z = np.linspace(-6.0, 6.0, 241)
    return jnp.asarray(z[np.abs(z) > 1e-6])


@pytest.mark.parametrize("name", NAMES)
def test_prime_equals_autodiff(name, x64):
    act = activations.get(name)
    z = _points()
    auto = jax.vmap(jax.grad(act.f))(z)
    np.testing.assert_allclose(act.prime(z), auto, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", [n for n in NAMES if activations.get(n).prime_from_output])
def test_prime_from_output_equals_prime_from_preactivation(name, x64):
    # The tutorial's sigmoidPrime(o) = o * (1 - o) is the same number as s'(z).
    act = activations.get(name)
    z = _points()
    np.testing.assert_allclose(act.prime_from_output(act.f(z)), act.prime(z), rtol=1e-9, atol=1e-12)


def test_feeding_the_output_into_the_preactivation_form_is_wrong(x64):
    # The mistake the readers feared: s'(s(z)) is not s'(z).
    act = activations.get("sigmoid")
    z = jnp.array([2.0])
    assert abs(float(act.prime(act.f(z))[0]) - float(act.prime(z)[0])) > 0.01


def test_gelu_and_silu_have_no_output_form():
    assert activations.get("gelu").prime_from_output is None
    assert activations.get("silu").prime_from_output is None


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="sigmoid") as e:
        activations.get("sigmod")
    assert "'sigmod'" in str(e.value)


# --- kinks: one convention, and jax.grad keeps it (issue 9) ----------------------------------

EXACT = [0.0, -0.0, 1e-300, -1e-300, 5e-324, -5e-324, 1e-8, -1e-8]  # the kink and +-tiny
SATURATED = [30.0, -30.0, 800.0, -800.0]


@pytest.mark.parametrize("name", NAMES)
def test_prime_equals_autodiff_at_zero_and_tiny_z(name, x64):
    # jnp.maximum/jnp.minimum have derivative 1/2 at a tie: relu gave 0.5 and elu 0.5 here.
    act = activations.get(name)
    z = jnp.asarray(EXACT)
    auto = jax.vmap(jax.grad(act.f))(z)
    np.testing.assert_allclose(act.prime(z), auto, rtol=1e-12, atol=0)
    if act.prime_from_output is not None:
        np.testing.assert_allclose(act.prime_from_output(act.f(z)), auto, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_prime_equals_autodiff_where_saturated(name, x64):
    # atol: jax.grad of expm1 is ``expm1(z) + 1``, 1.6e-18 off exp(-30) (rounding, no kink).
    act = activations.get(name)
    z = jnp.asarray(SATURATED)
    auto = jax.vmap(jax.grad(act.f))(z)
    assert np.all(np.isfinite(auto))
    np.testing.assert_allclose(act.prime(z), auto, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize(
    "name, slope_at_zero",
    [("relu", 0.0), ("leaky_relu", activations.LEAKY_SLOPE), ("elu", 1.0)],
)
def test_the_kink_convention_is_the_derivative_from_the_left(name, slope_at_zero, x64):
    act = activations.get(name)
    for prime in (act.prime, jax.vmap(jax.grad(act.f))):
        assert float(prime(jnp.zeros(1))[0]) == slope_at_zero
    assert float(act.prime(jnp.array([-1e-12]))[0]) == pytest.approx(slope_at_zero, abs=1e-11)
    assert "derivative from the left" in activations.__doc__
