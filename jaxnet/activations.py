"""Activation functions, each beside its hand-written derivative.

Every entry is an :class:`Activation` with three functions, all elementwise:

* ``f(z)``: the activation of the pre-activation ``z``;
* ``prime(z)``: its derivative ``f'(z)`` written from the pre-activation;
* ``prime_from_output(a)``: the same derivative written from the output ``a = f(z)``, where
  such a form exists (``None`` otherwise).

Why both derivative forms are right (the tutorial's readers argued about ``sigmoidPrime``):
the derivative of the sigmoid is ``s'(z) = e^{-z} / (1 + e^{-z})^2``, and that expression is
algebraically equal to ``s(z) * (1 - s(z))``. So ``sigmoidPrime(z)`` evaluated on the
pre-activation and ``o * (1 - o)`` evaluated on the *output* ``o = s(z)`` are the same number.
The tutorial's code calls ``sigmoidPrime(o)`` with the output and uses the ``o * (1 - o)``
form: correct. Feeding the output ``o`` into the pre-activation formula would be the bug.
The same holds for tanh (``1 - a**2``), softplus (``1 - exp(-a)``), ELU (``a + 1`` for
``z <= 0``), ReLU and leaky ReLU (the sign of ``a`` is the sign of ``z``). GELU and SiLU are
not invertible, so they have only the pre-activation form.

The kink convention, once for all: where the derivative jumps (ReLU and leaky ReLU at
``z == 0``), ``prime`` is the derivative from the left, ``f'(0) = f'(0-)``: 0 for ReLU,
``LEAKY_SLOPE`` for leaky ReLU (ELU's two one-sided derivatives are both 1 there). Each ``f``
is written so that ``jax.grad(f)`` equals ``prime`` at every point, kinks included: with
``jax.nn.relu`` (whose derivative at 0 is 0) and ``jnp.where(z > 0, ...)`` rather than
``jnp.maximum``/``jnp.minimum``, whose derivative at a tie is 1/2. So the hand-written backward
pass and ``jax.grad`` agree exactly even where a pre-activation is exactly 0 (zero inputs, a
zero bias under a dead layer). Finite differences cannot see a one-sided derivative: a step
across a kink measures the mean of both slopes, which is why ``jaxnet.verification`` does not
hold them there.

This module leaves out anything with parameters (PReLU, learnable slopes): an activation
here is a fixed function of one number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

LEAKY_SLOPE = 0.01  # slope of leaky_relu for z <= 0
_SQRT_2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class Activation(NamedTuple):
    """An elementwise activation and its derivative in both forms (see module docstring)."""

    f: Callable
    prime: Callable
    prime_from_output: Callable | None


def _nonpositive(z):
    # min(z, 0) without jnp.minimum, whose derivative at z == 0 is 1/2 (see module docstring);
    # the large positive z it drops would overflow exp in the branch jnp.where discards.
    return jnp.where(z > 0, 0.0, z)


def _sigmoid(z):
    return jax.nn.sigmoid(z)


def _gelu(z):
    # The exact (erf) GELU, so its derivative below is exact too.
    return 0.5 * z * (1.0 + jax.lax.erf(z / _SQRT_2))


def _gelu_prime(z):
    return 0.5 * (1.0 + jax.lax.erf(z / _SQRT_2)) + z * _INV_SQRT_2PI * jnp.exp(-0.5 * z * z)


def _silu_prime(z):
    s = _sigmoid(z)
    return s * (1.0 + z * (1.0 - s))


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation(
        f=_sigmoid,
        prime=lambda z: _sigmoid(z) * (1.0 - _sigmoid(z)),
        prime_from_output=lambda a: a * (1.0 - a),
    ),
    "tanh": Activation(
        f=jnp.tanh,
        prime=lambda z: 1.0 - jnp.tanh(z) ** 2,
        prime_from_output=lambda a: 1.0 - a**2,
    ),
    "relu": Activation(
        f=jax.nn.relu,
        prime=lambda z: jnp.where(z > 0, 1.0, 0.0).astype(z.dtype),
        prime_from_output=lambda a: jnp.where(a > 0, 1.0, 0.0).astype(a.dtype),
    ),
    "leaky_relu": Activation(
        f=lambda z: jnp.where(z > 0, z, LEAKY_SLOPE * z),
        prime=lambda z: jnp.where(z > 0, 1.0, LEAKY_SLOPE).astype(z.dtype),
        prime_from_output=lambda a: jnp.where(a > 0, 1.0, LEAKY_SLOPE).astype(a.dtype),
    ),
    "elu": Activation(
        f=lambda z: jnp.where(z > 0, z, jnp.expm1(_nonpositive(z))),
        prime=lambda z: jnp.where(z > 0, 1.0, jnp.exp(_nonpositive(z))),
        prime_from_output=lambda a: jnp.where(a > 0, 1.0, a + 1.0),
    ),
    "gelu": Activation(f=_gelu, prime=_gelu_prime, prime_from_output=None),
    "softplus": Activation(
        f=lambda z: jnp.logaddexp(z, 0.0),
        prime=_sigmoid,
        prime_from_output=lambda a: -jnp.expm1(-a),
    ),
    "silu": Activation(f=lambda z: z * _sigmoid(z), prime=_silu_prime, prime_from_output=None),
    "identity": Activation(
        f=lambda z: z,
        prime=jnp.ones_like,
        prime_from_output=jnp.ones_like,
    ),
}


def check_name(name, argument: str = "activation") -> str:
    """Return ``name`` if it names an activation; otherwise raise a ValueError listing them."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        known = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"{argument} must be one of {known}; got {name!r}")
    return name


def get(name: str) -> Activation:
    """The :class:`Activation` called ``name``."""
    return ACTIVATIONS[check_name(name)]
