"""Loss functions, each beside the hand-written gradient of the loss with respect to the output.

Every entry is a :class:`Loss` of two functions of a batch of outputs ``y_hat`` and targets
``y``, both of shape ``(batch, outputs)`` (integer class labels are turned into one-hot rows
before they get here):

* ``value(y_hat, y)``: the scalar loss of the batch;
* ``output_delta(y_hat, y)``: ``dL/dy_hat``, shape ``(batch, outputs)``.

Names:

* ``"mse"``: the mean of the squared errors over every element;
* ``"sse"``: one half of the sum of squared errors. This is the tutorial's implicit loss: its
  gradient is ``y_hat - y``, so SGD with learning rate 1 on it is exactly the article's
  ``W += X.T @ delta`` update;
* ``"cross_entropy"``: softmax cross-entropy on logits (``y_hat`` are the logits), mean over
  the batch;
* ``"binary_cross_entropy"``: on probabilities (sigmoid outputs), mean over every element.

A fused output activation + loss is written on the output *pre-activation* ``z`` and uses the
simple delta ``p - y`` (scaled like the loss): see :data:`FUSED`. The backward pass starts
from it instead of multiplying ``output_delta`` by the activation's derivative: the same number
with less rounding, and no vanishing gradient where the sigmoid saturates. Regularisation
terms are left out: they belong in the optimizer (``optax.add_decayed_weights``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp


class Loss(NamedTuple):
    """A batch loss and its gradient with respect to the network's output."""

    value: Callable
    output_delta: Callable


def _clip_probability(p):
    eps = jnp.finfo(p.dtype).eps
    return jnp.clip(p, eps, 1.0 - eps)


def _bce(p, y):
    p = _clip_probability(p)
    return -jnp.mean(y * jnp.log(p) + (1.0 - y) * jnp.log1p(-p))


def _bce_delta(p, y):
    p = _clip_probability(p)
    return (p - y) / (p * (1.0 - p)) / p.size


LOSSES: dict[str, Loss] = {
    "mse": Loss(
        value=lambda y_hat, y: jnp.mean((y_hat - y) ** 2),
        output_delta=lambda y_hat, y: 2.0 * (y_hat - y) / y_hat.size,
    ),
    "sse": Loss(
        value=lambda y_hat, y: 0.5 * jnp.sum((y_hat - y) ** 2),
        output_delta=lambda y_hat, y: y_hat - y,
    ),
    "cross_entropy": Loss(
        value=lambda z, y: -jnp.sum(y * jax.nn.log_softmax(z, axis=-1)) / z.shape[0],
        output_delta=lambda z, y: (
            (jax.nn.softmax(z, axis=-1) * jnp.sum(y, -1, keepdims=True) - y) / z.shape[0]
        ),
    ),
    "binary_cross_entropy": Loss(value=_bce, output_delta=_bce_delta),
}


class FusedLoss(NamedTuple):
    """A loss written on the output *pre-activation* ``z`` for one output activation."""

    value: Callable  # (z, y) -> scalar
    delta: Callable  # (z, y) -> dL/dz, (batch, outputs)


# (output activation, loss) -> the loss on logits. Both gradient paths use it, so they agree
# even where the sigmoid saturates (there, the probability form rounds p to 1 and its
# autodiff gradient vanishes while the true gradient p - y does not).
FUSED: dict[tuple[str, str], FusedLoss] = {
    ("sigmoid", "binary_cross_entropy"): FusedLoss(
        value=lambda z, y: jnp.mean(jax.nn.softplus(z) - y * z),
        delta=lambda z, y: (jax.nn.sigmoid(z) - y) / z.size,
    ),
}


CLASSIFICATION = ("cross_entropy", "binary_cross_entropy")


def check_name(name, argument: str = "loss") -> str:
    """Return ``name`` if it names a loss; otherwise raise a ValueError listing them."""
    if not isinstance(name, str) or name not in LOSSES:
        known = ", ".join(sorted(LOSSES))
        raise ValueError(f"{argument} must be one of {known}; got {name!r}")
    return name


def check_output(loss: str, output_activation: str, outputs: int) -> None:
    """Refuse a loss that makes no sense on this output layer, so no gradient of it is wrong.

    ``binary_cross_entropy`` takes probabilities, which only a sigmoid output guarantees: on
    any other output the clipped log makes the hand-written and autodiff gradients disagree
    (by up to 1e14) and training follows a wrong derivative. ``cross_entropy`` with one output
    is a softmax over one class: constant, so every gradient is 0 and nothing trains.
    """
    if loss == "binary_cross_entropy" and output_activation != "sigmoid":
        raise ValueError(
            "loss 'binary_cross_entropy' needs output_activation='sigmoid' (outputs in (0, 1)); "
            f"got output_activation={output_activation!r}"
        )
    if loss == "cross_entropy" and outputs < 2:
        raise ValueError(
            "loss 'cross_entropy' needs at least 2 outputs (a softmax over one class is "
            f"constant, every gradient 0); got a net with {outputs} output: for two classes use "
            "binary_cross_entropy with output_activation='sigmoid'"
        )


def get(name: str) -> Loss:
    """The :class:`Loss` called ``name``."""
    return LOSSES[check_name(name)]


def weighted_value(value, pred, y, row_weights, loss: str):
    """``value(pred, y)`` with row ``i`` counted ``row_weights[i]`` times.

    Every loss here is a sum over rows (``"sse"``) or a mean over rows of a per-row term, so a
    row's share is ``value`` of that row alone (divided by the batch size for the means). All
    weights 1 give ``value(pred, y)``; weights ``w * batch / sum(w)`` give the weighted mean.
    ``pred``, ``y``: ``(batch, outputs)``; ``row_weights``: ``(batch,)``.
    """
    per_row = jax.vmap(lambda p, t: value(p[None], t[None]))(pred, y)
    return jnp.sum(row_weights * per_row) / (1 if loss == "sse" else pred.shape[0])
