"""Points to check gradients at: a random one, and edge points where backward passes go wrong.

:func:`random_problem` draws params, inputs and targets for a net and a loss;
:func:`edge_problem` moves them to one of :data:`EDGE_FAMILIES`: pre-activations exactly on a
ReLU kink, a dead layer, a saturated output. :func:`output_activation_for` picks the output
activation a loss expects. Everything is float64 NumPy.

Left out: checking anything (``check``), and which nets to check (``matrix``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate, activations
from ..mlp import MLP, init


def output_activation_for(loss: str, activation: str) -> str:
    """The output activation a loss expects: logits for cross-entropy, sigmoid for binary
    cross-entropy, and the hidden activation for mse/sse (the tutorial's all-sigmoid net)."""
    return {"cross_entropy": "identity", "binary_cross_entropy": "sigmoid"}.get(loss, activation)


def random_problem(net: MLP, loss: str, *, batch: int = 4, seed: int = 0):
    """A generic point to check gradients at: params, inputs and targets as float64 NumPy.

    Biases get small random values, so the point is not the special all-zero-bias init;
    inputs are standard normal, so no pre-activation sits exactly on a ReLU kink.

    Args:
      net: the spec; loss: a loss name; batch: rows; seed: seed of everything drawn.

    Returns:
      ``(params, x, y)``: params in :func:`jaxnet.init`'s layout, x ``(batch, features)``,
      y ``(batch, outputs)`` (one-hot rows for cross-entropy, 0/1 for binary cross-entropy).
    """
    _validate.loss_for(net, loss)
    rng = np.random.default_rng(seed)
    params = [
        {k: np.asarray(v, np.float64) for k, v in layer.items()}
        for layer in init(net, jax.random.key(seed), jnp.float32)
    ]
    for layer in params:
        if "b" in layer:
            layer["b"] = 0.1 * rng.standard_normal(layer["b"].shape)
    x = rng.standard_normal((batch, net.sizes[0]))
    n_out = net.sizes[-1]
    if loss == "cross_entropy":
        y = np.eye(n_out)[rng.integers(0, n_out, batch)]
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, (batch, n_out)).astype(np.float64)
    else:
        y = rng.standard_normal((batch, n_out))
    return params, x, y


EDGE_FAMILIES = ("zero inputs", "zero weights", "dead layer", "zero output", "saturated output")
SATURATION = 40.0  # an output pre-activation this far out saturates sigmoid and tanh in float64


def edge_problem(net: MLP, loss: str, family: str, *, batch: int = 4, seed: int = 0):
    """:func:`random_problem` moved to a point where pre-activations sit exactly on kinks or
    activations saturate, the points a hand-written backward pass most often gets wrong.

    Families (:data:`EDGE_FAMILIES`), each with every bias but the named ones set to 0:

    * ``"zero inputs"``: x = 0, so every pre-activation of a ReLU net is exactly 0;
    * ``"zero weights"``: every ``w`` = 0, so every pre-activation is exactly 0;
    * ``"dead layer"``: x > 0, ``w_0 < 0`` and ``b_0 = -1``: the first hidden layer's
      pre-activations are all negative (a dead ReLU layer), so the next one's are exactly 0;
    * ``"zero output"``: the output layer's ``w`` = 0, so its pre-activation is exactly 0;
    * ``"saturated output"``: the output pre-activations are pushed to about +-40 (sigmoid and
      tanh round to their limits).

    Returns:
      ``(params, x, y)`` as :func:`random_problem` does.
    """
    if family not in EDGE_FAMILIES:
        raise ValueError(f"family must be one of {', '.join(EDGE_FAMILIES)}; got {family!r}")
    if family == "dead layer" and net.depth < 2:
        raise ValueError(f"a dead layer needs a hidden layer; got sizes {net.sizes}")
    params, x, y = random_problem(net, loss, batch=batch, seed=seed)
    for layer in params:
        if "b" in layer:
            layer["b"] = np.zeros_like(layer["b"])
    first, last = params[0], params[-1]
    if family == "zero inputs":
        x = np.zeros_like(x)
    elif family == "zero weights":
        for layer in params:
            layer["w"] = np.zeros_like(layer["w"])
    elif family == "dead layer":
        x, first["w"] = np.abs(x) + 0.1, -np.abs(first["w"])
        if "b" in first:
            first["b"] = -np.ones_like(first["b"])
    elif family == "zero output":
        last["w"] = np.zeros_like(last["w"])
    else:  # saturated output: scale the output layer so its smallest |z| is SATURATION
        a = x
        for layer, name in zip(params[:-1], net.activations[:-1]):
            a = np.asarray(activations.get(name).f(a @ layer["w"]), np.float64)
        z = a @ last["w"]
        last["w"] = last["w"] * (SATURATION / max(float(np.min(np.abs(z))), 1e-3))
    return params, x, y
