"""scikit-learn's MLP update as an optax optimizer, one per setting, shared by every fit.

The learning rate and the L2 term are injected hyperparameters, so every learning rate and
``alpha`` of a search reuses one compiled program. Left out: scikit-learn's learning-rate
schedules (``learning_rate="invscaling"``/``"adaptive"``) and L-BFGS.
"""

from __future__ import annotations

import optax

from .. import train


def _weights_only(params):
    return [{k: k == "w" for k in layer} for layer in params]


_TX_CACHE: dict = {}


def make_optimizer(solver: str, loss_scale: float, beta_1, beta_2, epsilon, momentum, nesterov):
    """scikit-learn's update as an optax optimizer with ``learning_rate`` and ``l2`` injected.

    scikit-learn's gradient is ``loss_scale * grad(jaxnet loss) + alpha * w / batch`` on the
    weights (not the biases); ``l2`` is ``alpha / batch``. One object per setting, so the
    compiled program is shared by every learning rate and ``alpha``.
    """
    settings = (solver, loss_scale, beta_1, beta_2, epsilon, momentum, nesterov)
    if settings in _TX_CACHE:
        return _TX_CACHE[settings]

    def make(learning_rate, l2):
        if solver == "adam":
            base = optax.adam(learning_rate, b1=beta_1, b2=beta_2, eps=epsilon)
        elif solver == "sgd":
            base = optax.sgd(learning_rate, momentum=momentum or None, nesterov=nesterov)
        else:
            base = train.OPTIMIZERS[solver](learning_rate)
        decay = optax.add_decayed_weights(l2, mask=_weights_only)
        return optax.chain(optax.scale(loss_scale), decay, base)

    _TX_CACHE[settings] = optax.inject_hyperparams(make)(learning_rate=1.0, l2=0.0)
    return _TX_CACHE[settings]
