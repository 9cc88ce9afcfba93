"""The training plan of one fit: the net, loss and optimizer, and the row layout of its epochs.

Training rows are padded with rows of weight 0 up to a bucket (:func:`bucket_rows`), batches
tile the padded rows exactly, and an epoch is ``per_epoch`` steps, so folds and candidates of
one architecture compile once. Everything here is a host-side value; the plan trains nothing.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.utils import check_random_state

from .. import population
from .._validate import host_cast
from ..mlp import MLP
from .checks import activation_of, check_params
from .optimizer import make_optimizer

CHUNK_ROWS = 4_000_000  # rows of precomputed epoch orders per compiled chunk (memory bound)


def bucket_rows(n: int) -> int:
    """The padded row count for ``n`` rows: the least ``m * 2**e >= n`` with ``16 <= m < 32``."""
    if n <= 16:
        return 16
    e = max(0, (n - 1).bit_length() - 5)
    return -(-n // 2**e) * 2**e


class Plan:
    """Everything one fit compiles on, and the row layout it trains with (host-side values).

    Attributes:
      net, loss, loss_scale, tx (the optax optimizer), grads, dtype: what the fit trains with.
      batch_rows: scikit-learn's batch size (the L2 divisor); batch: the compiled batch size.
      rows: the padded row count, a multiple of ``batch``; per_epoch: steps per epoch.
    """

    def __init__(self, est, n_features: int, n_outputs: int, n_rows: int):
        hidden = check_params(est)
        self.loss, out_act, self.loss_scale = est._loss_for(n_outputs)
        self.net = MLP(
            (n_features, *hidden, n_outputs),
            activation_of(est),
            out_act,
            True,
            "glorot",
            dropout=est.dropout,  # while training only; predictions never drop units
        )
        nominal = n_rows if est.batch_size == "auto" else int(est.batch_size)
        if nominal > n_rows:
            warnings.warn(
                f"batch_size {nominal} is larger than the {n_rows} training rows; "
                "each epoch is one full batch",
                stacklevel=4,
            )
        nominal = min(200, nominal) if est.batch_size == "auto" else nominal
        self.batch_rows = min(nominal, n_rows)  # scikit-learn's batch, the L2 divisor
        bucket = bucket_rows(n_rows)
        self.batch = nominal if nominal < n_rows else bucket
        self.rows = -(-bucket // self.batch) * self.batch
        self.per_epoch = self.rows // self.batch
        self.tx = make_optimizer(
            est.solver,
            self.loss_scale,
            float(est.beta_1),
            float(est.beta_2),
            float(est.epsilon),
            float(est.momentum),
            bool(est.nesterovs_momentum),
        )
        self.grads = est.grads
        self.dtype = jnp.dtype(est.dtype)

    def pad(self, x, y):
        """``(x, y, weights)`` padded with rows of weight 0 to ``self.rows`` rows."""
        n = x.shape[0]
        extra = self.rows - n
        w = np.r_[np.ones(n), np.zeros(extra)]
        x = np.concatenate([x, np.zeros((extra, x.shape[1]), x.dtype)])
        # Copies of a real target, not zeros: weight 0 makes them count for nothing, and a row
        # of zeros is no distribution, which cross_entropy refuses (jaxnet._validate).
        y = np.concatenate([y, np.repeat(y[:1], extra, axis=0)])
        return host_cast(x, "X", self.dtype), host_cast(y, "y", self.dtype), w

    def hyperparams(self, est) -> dict:
        """The injected ``l2`` of ``est``: ``alpha`` over scikit-learn's batch size."""
        return {"l2": float(est.alpha) / self.batch_rows}

    def eval_every(self, epochs: int) -> int:
        """Steps per compiled chunk: whole epochs, as many as :data:`CHUNK_ROWS` allows."""
        return self.per_epoch * max(1, min(epochs, CHUNK_ROWS // self.rows))


def seed_of(random_state) -> int:
    """An int32 seed drawn from scikit-learn's ``random_state`` (None, an int or a RandomState)."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def fit_keys(seed: int):
    """``(init key, batch key)`` of a fit, as :func:`jaxnet.population.member_keys` splits them."""
    return population.member_keys(jax.random.key(seed))


def epoch_losses(step_losses, n_rows: int, plan: Plan, epochs: int) -> np.ndarray:
    """Per-epoch mean training loss in scikit-learn's scale, from the loss of every step.

    Args:
      step_losses: ``(steps,)`` the loss of every step (NaN where a step did not run).
      n_rows: the real (unpadded) training rows; plan: the fit's plan; epochs: epochs run.

    Returns:
      ``(epochs,)`` each epoch's loss, its batches weighted by their real rows.
    """
    losses = np.asarray(step_losses, np.float64)[: epochs * plan.per_epoch]
    losses = losses.reshape(-1, plan.per_epoch)
    counts = np.clip(n_rows - plan.batch * np.arange(plan.per_epoch), 0, plan.batch)
    taken = np.isfinite(losses)
    total = np.where(taken, losses, 0.0) @ counts
    return plan.loss_scale * total / np.maximum(taken.astype(float) @ counts, 1)
