"""scikit-learn's MLP objective on a batch: its loss, its L2 term, and their gradients.

scikit-learn's loss per kind of output, on a batch of rows with sample weights ``w``:

* ``"softmax"``: cross-entropy, the weighted mean over rows (jaxnet's ``cross_entropy``);
* ``"logistic"``: binary log-loss summed over the outputs (jaxnet's ``binary_cross_entropy``
  averages them: times the number of outputs);
* ``"squared"``: half the squared error, averaged over rows and outputs in the loss it
  reports but summed over the outputs in the gradient it follows (jaxnet's ``mse`` times 1/2,
  and its gradient times ``outputs / 2``: for several outputs scikit-learn's update is not
  the gradient of its own loss curve).

plus ``alpha * ||W||^2 / (2 * sum(w))`` (weights only, not biases), whose gradient
``alpha * W / sum(w)`` is added. The loss of the rows comes from jaxnet's weighted gradients
(:data:`jaxnet.chunks.WEIGHTED_GRAD_FNS`: ``jax.grad`` or the hand-written backward pass). Left
out: the update (:mod:`.optimizer`) and the batches (:mod:`.epochs`).
"""

from __future__ import annotations

import jax.numpy as jnp

from ..chunks import WEIGHTED_DROPOUT_GRAD_FNS, WEIGHTED_GRAD_FNS
from ..grads import weighted_loss_batch

# kind -> (jaxnet loss, loss scaled by the outputs, gradient scaled by the outputs)
KINDS = {
    "softmax": ("cross_entropy", False, False),
    "logistic": ("binary_cross_entropy", True, True),
    "squared": ("mse", False, True),
}


def _scales(kind: str, outputs: int) -> tuple[float, float]:
    """``(loss scale, gradient scale)`` from jaxnet's loss to scikit-learn's."""
    _, by_value, by_grad = KINDS[kind]
    half = 0.5 if kind == "squared" else 1.0
    return half * (outputs if by_value else 1), half * (outputs if by_grad else 1)


def _l2(params):
    return sum(jnp.sum(layer["w"] ** 2) for layer in params)


def _mean_weights(w):
    """``(row weights whose mean is 1 over the batch, the batch's weight)``; an empty batch
    (weight 0) gets weights 0 and a divisor of 1, so nothing is divided by 0."""
    mass = jnp.sum(w)
    safe = jnp.where(mass > 0, mass, 1)
    return w * (w.shape[0] / safe), safe


def _sklearns(value, g, params, outputs: int, mass, alpha, kind: str):
    """jaxnet's weighted loss and gradient turned into scikit-learn's, with its L2 term."""
    loss_scale, grad_scale = _scales(kind, outputs)
    g = [
        {k: grad_scale * gl[k] + (alpha * pl[k] / mass if k == "w" else 0) for k in gl}
        for gl, pl in zip(g, params)
    ]
    return loss_scale * value + 0.5 * alpha * _l2(params) / mass, g


def loss_and_grads(net, params, x, y, w, alpha, *, kind: str, grads: str):
    """scikit-learn's loss of one batch and its gradient (``alpha * W / sum(w)`` included).

    Args:
      net: the MLP; params: its layers; x: ``(batch, features)``; y: ``(batch, outputs)``;
      w: ``(batch,)`` sample weights (0 on padding rows); alpha: the L2 strength.
      kind: ``"softmax"``, ``"logistic"`` or ``"squared"``; grads: ``"auto"`` or ``"manual"``.

    Returns:
      ``(loss, grads)`` shaped like ``params``.
    """
    rows, mass = _mean_weights(w)
    value, g = WEIGHTED_GRAD_FNS[grads](net, params, x, y, rows, KINDS[kind][0])
    return _sklearns(value, g, params, y.shape[-1], mass, alpha, kind)


def loss_and_grads_dropout(net, params, x, y, w, alpha, key, rates, *, kind: str, grads: str):
    """:func:`loss_and_grads` through dropout masks drawn from ``key`` at ``rates`` (one per
    hidden layer): jaxnet's extension, scikit-learn's MLP has no dropout."""
    rows, mass = _mean_weights(w)
    fn = WEIGHTED_DROPOUT_GRAD_FNS[grads]
    value, g = fn(net, params, x, y, rows, KINDS[kind][0], key, rates)
    return _sklearns(value, g, params, y.shape[-1], mass, alpha, kind)


def loss(net, params, x, y, w, alpha, *, kind: str):
    """scikit-learn's loss of one batch alone (for a line search to differentiate)."""
    rows, mass = _mean_weights(w)
    loss_scale, _ = _scales(kind, y.shape[-1])
    value = weighted_loss_batch(net, params, x, y, rows, KINDS[kind][0])
    return loss_scale * value + 0.5 * alpha * _l2(params) / mass
