"""The compiled training chunk: one optax step, fused ``length`` times in a ``lax.scan``.

The host calls a chunk once per ``eval_every`` steps, not once per step. Everything that
varies between runs of one architecture -- data, seed, learning rate, steps -- is an array
input, so the program is keyed only on (net, loss, optimizer, gradient method, batch size,
chunk length). The gradient method is a parameter (``"auto"``: ``jax.grad``; ``"manual"``:
the hand-written backprop), so both share this one loop. Chunks are written for one model;
``jaxnet.population`` maps them over a leading model axis.

Divergence: a step whose loss or new parameters are not finite is not applied, and the model
is frozen at its last finite parameters. The per-step guard costs a pass over the params every
step, so :func:`fast_chunk` runs unguarded and is checked once at its end;
:func:`checked_chunk` reruns a chunk guarded (:func:`train_chunk`) only when it went
non-finite. Row weights (a fold's row mask, sample weights) have their own guarded chunk,
:func:`train_chunk_weighted`. Left out: gradient accumulation and mixed precision.

Dropout: a state whose ``dropout`` holds rates (one per hidden layer: data, so every rate
shares the program) takes its gradients through the dropout functions, with masks drawn from
:func:`mask_key` -- a new key each step, made from the run's key and the step count, so a run
is reproducible from its seed and does not depend on how its steps are cut into chunks.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .backward import (
    backprop_batch,
    backprop_batch_dropout,
    backprop_batch_weighted,
    backprop_batch_weighted_dropout,
)
from .grads import (
    autodiff_batch,
    autodiff_batch_dropout,
    autodiff_batch_weighted,
    autodiff_batch_weighted_dropout,
)
from .optimizers import set_learning_rate

GRAD_FNS = {"auto": autodiff_batch, "manual": backprop_batch}
WEIGHTED_GRAD_FNS = {"auto": autodiff_batch_weighted, "manual": backprop_batch_weighted}
# The same with dropout: two more arguments, the step's key and the rates.
DROPOUT_GRAD_FNS = {"auto": autodiff_batch_dropout, "manual": backprop_batch_dropout}
WEIGHTED_DROPOUT_GRAD_FNS = {
    "auto": autodiff_batch_weighted_dropout,
    "manual": backprop_batch_weighted_dropout,
}
# fold_in data of the dropout masks' key stream: above every int32, so it is never an epoch
# number, which the minibatch orders fold into the same key (see epoch_orders).
MASK_STREAM = 0xD50F_0000


class TrainState(NamedTuple):
    """Everything one model carries from step to step (a pytree of arrays)."""

    params: list
    opt_state: object
    key: jax.Array  # seeds the minibatch order; fixed for the run
    step: jax.Array  # updates applied so far (int32 scalar)
    alive: jax.Array  # False once a step diverged (bool scalar)
    dropout: jax.Array | None = None  # (hidden layers,) dropout rates; None: no dropout


def mask_key(key, step):
    """The key of the dropout masks of step ``step`` of a run whose key is ``key``."""
    return jax.random.fold_in(jax.random.fold_in(key, MASK_STREAM), step)


def with_dropout(state: TrainState, rates) -> TrainState:
    """``state`` that trains with dropout at ``rates`` (``(hidden layers,)``), in the params'
    dtype; ``rates`` None leaves it without dropout."""
    if rates is None:
        return state
    dtype = jax.tree.leaves(state.params)[0].dtype
    return state._replace(dropout=jnp.asarray(rates, dtype))


@partial(jax.jit, static_argnums=1)
def init_state(params, tx, key, learning_rate=None) -> TrainState:
    """A fresh :class:`TrainState`; ``learning_rate`` is set in an injected-hyperparams state."""
    opt_state = tx.init(params)
    if learning_rate is not None:
        opt_state = set_learning_rate(opt_state, learning_rate)
    return TrainState(params, opt_state, key, jnp.int32(0), jnp.bool_(True))


class Batcher(NamedTuple):
    """The row orders of every epoch one chunk can touch, drawn once per chunk, not per step.

    Epoch ``e``'s order is ``permutation(fold_in(key, e), n)``, so the batches do not depend
    on how the steps are cut into chunks. Drawing a permutation of ``n`` rows costs far more
    than a small net's step, hence once per epoch.
    """

    orders: jax.Array  # (epochs, n) row orders, epoch first_epoch + i in row i
    first_epoch: jax.Array  # int32 scalar


def epoch_orders(key, step, n: int, batch_size: int | None, length: int) -> Batcher | None:
    """A :class:`Batcher` for ``length`` steps from ``step``; None for full batch."""
    if batch_size is None:
        return None
    per_epoch = n // batch_size
    first = step // per_epoch
    epochs = first + jnp.arange(-(-length // per_epoch) + 1)
    orders = jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(key, e), n))(epochs)
    return Batcher(orders, first)


def minibatch(x, y, batcher: Batcher | None, step, batch_size: int | None):
    """Rows for ``step``: shuffled epochs without replacement (all rows when full batch)."""
    if batcher is None:
        return x, y
    per_epoch = x.shape[0] // batch_size
    epoch, within = step // per_epoch, step % per_epoch
    order = batcher.orders[jnp.clip(epoch - batcher.first_epoch, 0, batcher.orders.shape[0] - 1)]
    rows = jax.lax.dynamic_slice(order, (within * batch_size,), (batch_size,))
    return x[rows], y[rows]


def _all_finite(tree):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def _select(take, new, old):
    return jax.tree.map(lambda a, b: jnp.where(take, a, b), new, old)


def _masked(grads, mask):
    """``grads`` with the padded units of a width bucket zeroed (``mask`` None: unchanged)."""
    return grads if mask is None else jax.tree.map(jnp.multiply, grads, mask)


def gradients(s: TrainState, xb, yb, *, net, loss, grads):
    """``(loss, grads)`` of one minibatch at ``s``: with dropout when ``s`` has rates."""
    if s.dropout is None:
        return GRAD_FNS[grads](net, s.params, xb, yb, loss)
    key = mask_key(s.key, s.step)
    return DROPOUT_GRAD_FNS[grads](net, s.params, xb, yb, loss, key, s.dropout)


def weighted_gradients(s: TrainState, xb, yb, row_weights, *, net, loss, grads):
    """:func:`gradients` with row weights (``(batch,)``)."""
    if s.dropout is None:
        return WEIGHTED_GRAD_FNS[grads](net, s.params, xb, yb, row_weights, loss)
    key = mask_key(s.key, s.step)
    fn = WEIGHTED_DROPOUT_GRAD_FNS[grads]
    return fn(net, s.params, xb, yb, row_weights, loss, key, s.dropout)


def _update(s: TrainState, x, y, batcher, *, net, loss, tx, grads, batch_size, mask):
    """One optimizer step's ``(loss_before, new_params, new_opt_state)``, taken or not."""
    xb, yb = minibatch(x, y, batcher, s.step, batch_size)
    value, g = gradients(s, xb, yb, net=net, loss=loss, grads=grads)
    updates, opt_state = tx.update(_masked(g, mask), s.opt_state, s.params)
    return value, optax.apply_updates(s.params, updates), opt_state


def train_chunk(
    state: TrainState, x, y, total_steps, *, net, loss, tx, grads, batch_size, length, mask=None
):
    """Run ``length`` steps of one model; steps past ``total_steps`` or a divergence are no-ops.

    Args:
      state: the model's :class:`TrainState`.
      x: ``(n, features)``; y: ``(n, outputs)``; total_steps: int scalar array.
      net, loss, tx, grads, batch_size, length: static (they define the compiled program).
      mask: None, or a params-shaped tree of 0/1 that zeroes the gradients of a width
        bucket's padded units (see :func:`jaxnet.population.fit_bucket`).

    Returns:
      ``(state, losses)``: ``losses`` is ``(length,)``, the training loss before each step,
      NaN for steps that were not taken.
    """
    batcher = epoch_orders(state.key, state.step, x.shape[0], batch_size, length)
    kw = dict(net=net, loss=loss, tx=tx, grads=grads, batch_size=batch_size, mask=mask)

    def body(s: TrainState, _):
        value, params, opt_state = _update(s, x, y, batcher, **kw)
        active = s.alive & (s.step < total_steps)
        good = jnp.isfinite(value) & _all_finite(params)
        take = active & good
        new = TrainState(
            params=_select(take, params, s.params),
            # Not selected: a model stops at its first skipped step (divergence or the end of
            # the run), after which its optimizer state is never used; skipping the select
            # saves a pass over the state every step (Adam: two copies of the params).
            opt_state=opt_state,
            key=s.key,
            step=s.step + take.astype(jnp.int32),
            alive=s.alive & (good | ~active),
            dropout=s.dropout,
        )
        return new, jnp.where(active, value, jnp.nan)

    return jax.lax.scan(body, state, None, length=length)


def fast_chunk(state: TrainState, x, y, *, net, loss, tx, grads, batch_size, length, mask=None):
    """:func:`train_chunk` without the per-step guard: all ``length`` steps are taken.

    Only for a live model with at least ``length`` steps left. Finiteness is checked once, at
    the end: a non-finite parameter stays non-finite under ``apply_updates`` (``inf + u`` is
    ``inf`` or NaN), so finite final params and finite losses mean no step would have been
    skipped, and the result is exactly :func:`train_chunk`'s. Otherwise the caller reruns
    the chunk from its start with :func:`train_chunk`.

    Returns:
      ``(state, losses, finite)``: as :func:`train_chunk`, and a bool scalar, False when the
      guarded chunk would have stopped somewhere in it.
    """
    batcher = epoch_orders(state.key, state.step, x.shape[0], batch_size, length)
    kw = dict(net=net, loss=loss, tx=tx, grads=grads, batch_size=batch_size, mask=mask)

    def body(s: TrainState, _):
        value, params, opt_state = _update(s, x, y, batcher, **kw)
        return s._replace(params=params, opt_state=opt_state, step=s.step + 1), value

    state, values = jax.lax.scan(body, state, None, length=length)
    return state, values, jnp.all(jnp.isfinite(values)) & _all_finite(state.params)


_STATIC = ("net", "loss", "tx", "grads", "batch_size", "length")
run_chunk = jax.jit(train_chunk, static_argnames=_STATIC)
run_fast_chunk = jax.jit(fast_chunk, static_argnames=_STATIC)


def checked_chunk(state, x, y, total: int, done: int, *, length: int, **static):
    """One chunk as :func:`run_chunk` gives it, at the speed of an unguarded loop.

    A chunk that ends within the run (``done + length <= total``, ``done`` the steps applied so
    far by a live model) runs unguarded; only when that chunk went non-finite, or the run ends
    inside it, is it run guarded from its start. Returns ``(state, losses)``.
    """
    if done + length <= total:
        new, values, finite = run_fast_chunk(state, x, y, length=length, **static)
        if bool(finite):
            return new, values
    return run_chunk(state, x, y, np.int32(total), length=length, **static)


def weighted_epoch_order(key, weights):
    """One epoch's row order: rows of positive weight first, shuffled, then the others.

    A row's place is drawn from its rank among the weighted rows, not from its index, so the
    same rows in the same relative order get the same order whatever else the data holds:
    a fold's rows inside the whole data set (a row mask) are visited exactly as the fold
    alone is. ``weights``: ``(n,)``; returns ``(n,)`` int32 row indices.
    """
    real = weights > 0
    rank = jnp.cumsum(real) - 1
    draws = jax.vmap(lambda r: jax.random.bits(jax.random.fold_in(key, r)))(rank)
    return jnp.lexsort((draws, ~real)).astype(jnp.int32)


def weighted_epoch_orders(key, step, weights, batch_size: int | None, length: int):
    """A :class:`Batcher` of :func:`weighted_epoch_order` rows; None for full batch."""
    if batch_size is None:
        return None
    per_epoch = weights.shape[0] // batch_size
    first = step // per_epoch
    epochs = first + jnp.arange(-(-length // per_epoch) + 1)
    orders = jax.vmap(lambda e: weighted_epoch_order(jax.random.fold_in(key, e), weights))(epochs)
    return Batcher(orders, first)


def train_chunk_weighted(
    state: TrainState, x, y, weights, total_steps, *, net, loss, tx, grads, batch_size, length
):
    """:func:`train_chunk` with a weight per row; rows of weight 0 take no part.

    An epoch is ``n // batch_size`` steps (``n`` a multiple of ``batch_size``) over
    :func:`weighted_epoch_order`: the weighted rows' batches come first, the last of them
    partly filled, and a step whose batch weighs nothing is skipped (counted, but neither
    params nor optimizer state change), so padding rows change nothing. A batch's loss is its
    rows' weighted mean (see :func:`jaxnet.losses.weighted_value`).

    Args:
      weights: ``(n,)`` non-negative row weights; the other arguments as :func:`train_chunk`.

    Returns:
      ``(state, losses)`` as :func:`train_chunk`, NaN also for the skipped empty steps.
    """
    batcher = weighted_epoch_orders(state.key, state.step, weights, batch_size, length)

    def body(s: TrainState, _):
        xb, yb = minibatch(x, y, batcher, s.step, batch_size)
        wb = minibatch(weights, weights, batcher, s.step, batch_size)[0]
        mass = jnp.sum(wb)
        row_weights = wb * (wb.shape[0] / jnp.where(mass > 0, mass, 1))
        value, g = weighted_gradients(s, xb, yb, row_weights, net=net, loss=loss, grads=grads)
        updates, opt_state = tx.update(g, s.opt_state, s.params)
        params = optax.apply_updates(s.params, updates)
        active = s.alive & (s.step < total_steps)
        good = jnp.isfinite(value) & _all_finite(params)
        take = active & good & (mass > 0)
        new = TrainState(
            params=_select(take, params, s.params),
            opt_state=_select(take, opt_state, s.opt_state),
            key=s.key,
            step=s.step + (active & good).astype(jnp.int32),
            alive=s.alive & (good | ~active),
            dropout=s.dropout,
        )
        return new, jnp.where(take, value, jnp.nan)

    return jax.lax.scan(body, state, None, length=length)


run_chunk_weighted = jax.jit(train_chunk_weighted, static_argnames=_STATIC)
