"""Training: one pure optax step, many steps fused in a ``lax.scan`` per chunk, and ``fit``.

The host calls the compiled program once per chunk of ``eval_every`` steps, not once per
step; chunk boundaries are where progress is shown, validation is evaluated and early
stopping is decided. Everything that varies between runs of one architecture -- data,
seed, learning rate, number of steps -- is an array input, so a second ``fit`` of the same
shape does not recompile. The compiled program is keyed on (net, loss, optimizer, gradient
method, batch size, chunk length).

The gradient method is a parameter (``grads="auto"`` for ``jax.grad``, ``"manual"`` for the
hand-written backprop), so both share this one loop. :func:`train_chunk` is written for one
model; ``jaxnet.population`` maps it over a leading model axis.

Divergence: a step whose loss or new parameters are not finite is not applied; the model is
frozen at its last finite parameters and :class:`History` says ``status == "diverged"`` and at
which step. No exception is raised, so nothing already trained is lost. The per-step check
costs a pass over the params every step, so a chunk first runs unguarded, is checked once at
its end, and only a chunk that went non-finite is rerun guarded from its start
(:func:`checked_chunk`): the same params and step, at the speed of a bare loop.

Left out: gradient accumulation, mixed precision and callbacks inside the compiled loop.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import sys
import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _validate
from .backprop import backprop_batch, backprop_batch_weighted
from .grads import autodiff_batch, autodiff_batch_weighted, loss_batch
from .mlp import MLP, forward_batch

GRAD_FNS = {"auto": autodiff_batch, "manual": backprop_batch}
WEIGHTED_GRAD_FNS = {"auto": autodiff_batch_weighted, "manual": backprop_batch_weighted}


def _momentum(learning_rate):
    return optax.sgd(learning_rate, momentum=0.9)


def _nesterov(learning_rate):
    return optax.sgd(learning_rate, momentum=0.9, nesterov=True)


OPTIMIZERS = {
    "sgd": optax.sgd,
    "momentum": _momentum,
    "nesterov": _nesterov,
    "adam": optax.adam,
    "adamw": optax.adamw,
    "rmsprop": optax.rmsprop,
}


@functools.cache
def named_optimizer(name: str) -> optax.GradientTransformation:
    """The optax optimizer ``name`` with its learning rate kept in the state.

    One object per name, so the compiled training program is shared by every learning rate
    (set with :func:`set_learning_rate`, or ``fit(..., learning_rate=...)``).
    """
    if name not in OPTIMIZERS:
        raise ValueError(
            f"optimizer must be one of {', '.join(OPTIMIZERS)} or an optax "
            f"GradientTransformation; got {name!r}"
        )
    return optax.inject_hyperparams(OPTIMIZERS[name])(learning_rate=1.0)


def set_learning_rate(opt_state, learning_rate):
    """``opt_state`` of an ``inject_hyperparams`` optimizer with its learning rate replaced."""
    hp = opt_state.hyperparams
    lr = jnp.asarray(learning_rate, jnp.result_type(hp["learning_rate"]))
    return opt_state._replace(hyperparams={**hp, "learning_rate": lr})


def set_hyperparams(opt_state, values: dict):
    """``opt_state`` of an ``inject_hyperparams`` optimizer with the named hyperparams replaced."""
    hp = opt_state.hyperparams
    new = {k: jnp.asarray(v, jnp.result_type(hp[k])) for k, v in values.items()}
    return opt_state._replace(hyperparams={**hp, **new})


class TrainState(NamedTuple):
    """Everything one model carries from step to step (a pytree of arrays)."""

    params: list
    opt_state: object
    key: jax.Array  # seeds the minibatch order; fixed for the run
    step: jax.Array  # updates applied so far (int32 scalar)
    alive: jax.Array  # False once a step diverged (bool scalar)


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


def _update(s: TrainState, x, y, batcher, *, net, loss, tx, grads, batch_size, mask):
    """One optimizer step's ``(loss_before, new_params, new_opt_state)``, taken or not."""
    xb, yb = minibatch(x, y, batcher, s.step, batch_size)
    value, g = GRAD_FNS[grads](net, s.params, xb, yb, loss)
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
    grad_fn = WEIGHTED_GRAD_FNS[grads]
    batcher = weighted_epoch_orders(state.key, state.step, weights, batch_size, length)

    def body(s: TrainState, _):
        xb, yb = minibatch(x, y, batcher, s.step, batch_size)
        wb = minibatch(weights, weights, batcher, s.step, batch_size)[0]
        mass = jnp.sum(wb)
        row_weights = wb * (wb.shape[0] / jnp.where(mass > 0, mass, 1))
        value, g = grad_fn(net, s.params, xb, yb, row_weights, loss)
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
        )
        return new, jnp.where(take, value, jnp.nan)

    return jax.lax.scan(body, state, None, length=length)


run_chunk_weighted = jax.jit(train_chunk_weighted, static_argnames=_STATIC)


def accuracy(y_hat, y, loss: str):
    """Fraction of correct predictions for classification losses; NaN for regression."""
    if loss == "cross_entropy":
        return jnp.mean(jnp.argmax(y_hat, -1) == jnp.argmax(y, -1))
    if loss == "binary_cross_entropy":
        return jnp.mean((y_hat > 0.5) == (y > 0.5))
    return jnp.nan


def evaluate_batch(net: MLP, params, x, y, loss: str):
    """``(loss, accuracy)`` of a checked batch, for one model."""
    return loss_batch(net, params, x, y, loss), accuracy(forward_batch(net, params, x), y, loss)


evaluate_jit = jax.jit(evaluate_batch, static_argnums=(0, 4))


@dataclasses.dataclass(frozen=True)
class History:
    """What happened during :func:`fit`, as NumPy arrays.

    Attributes:
      loss: ``(steps_run,)`` training loss before each step (non-finite at a divergence).
      eval_step: ``(evals,)`` step count at each validation evaluation.
      val_loss, val_accuracy: ``(evals,)`` validation metrics (accuracy NaN for regression).
      status: ``"completed"``, ``"early_stopped"`` or ``"diverged"``.
      steps: updates applied to the returned params' run (the step that diverged, if any).
      best_step: step of the best validation loss, or None without validation.
      message: one line saying how it ended.
      seconds: wall time of the whole fit, compiles included.
    """

    loss: np.ndarray
    eval_step: np.ndarray
    val_loss: np.ndarray
    val_accuracy: np.ndarray
    status: str
    steps: int
    best_step: int | None
    message: str
    seconds: float


def _positive_int(value, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{argument} must be a positive int; got {value!r}")
    return int(value)


def _check_learning_rate(learning_rate, argument: str) -> None:
    if isinstance(learning_rate, (str, bytes)):
        raise TypeError(f"{argument} must be a positive number; got a string {learning_rate!r}")
    try:
        lr = np.asarray(learning_rate, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{argument} must be a positive number; got {type(learning_rate).__name__}"
        ) from None
    if not np.all(np.isfinite(lr)) or np.any(lr <= 0):
        raise ValueError(f"{argument} must be positive and finite; got {learning_rate!r}")


def check_injected_learning_rate(tx, params, argument: str = "learning_rate") -> None:
    """Raise unless ``tx``'s state holds a learning rate to set (``optax.inject_hyperparams``).

    ``params`` may be arrays or shapes; only ``tx.init``'s output structure is looked at.
    """
    state = jax.eval_shape(tx.init, params)
    hyper = getattr(state, "hyperparams", None)
    if not isinstance(hyper, dict) or "learning_rate" not in hyper:
        raise ValueError(
            f"{argument} needs an optimizer name (e.g. optimizer='adam') or an optax optimizer "
            "made with optax.inject_hyperparams; this optax optimizer has its learning rate "
            f"built in: pass it without {argument}, or pass its name"
        )


def resolve_optimizer(optimizer, learning_rate, params=None, argument="learning_rate"):
    """``(tx, learning_rate)``: a named optimizer needs a learning rate; a given one may take it
    if it keeps it in its state (checked against ``params`` when they are given)."""
    if isinstance(optimizer, str):
        if learning_rate is None:
            raise ValueError(f"learning_rate is required with optimizer={optimizer!r}")
        tx = named_optimizer(optimizer)
    elif isinstance(optimizer, optax.GradientTransformation):
        tx = optimizer
    else:
        raise TypeError(
            f"optimizer must be an optimizer name or an optax GradientTransformation; "
            f"got {type(optimizer).__name__}"
        )
    if learning_rate is not None:
        _check_learning_rate(learning_rate, argument)
        if tx is optimizer and params is not None:
            check_injected_learning_rate(tx, params, argument)
    return tx, learning_rate


def check_fit_args(net, steps, batch_size, grads, eval_every, n_rows):
    """Validate the scalar arguments shared by ``fit`` and ``fit_population``."""
    if not isinstance(net, MLP):
        raise TypeError(f"net must be a jaxnet.MLP; got {type(net).__name__}")
    _positive_int(steps, "steps")
    _positive_int(eval_every, "eval_every")
    if grads not in GRAD_FNS:
        raise ValueError(f"grads must be 'auto' or 'manual'; got {grads!r}")
    if batch_size is not None and not 1 <= _positive_int(batch_size, "batch_size") <= n_rows:
        raise ValueError(
            f"batch_size must be between 1 and the {n_rows} training rows; got {batch_size}"
        )


def chunking(steps: int, eval_every: int) -> tuple[int, int]:
    """``(n_chunks, length)``: chunks of at most ``eval_every`` steps, as even as possible."""
    n_chunks = math.ceil(steps / eval_every)
    return n_chunks, math.ceil(steps / n_chunks)


def progress_bar(total: int, progress: bool | None, desc: str):
    """A tqdm bar on stderr, off when stderr is not a terminal (unless ``progress=True``)."""
    from tqdm.auto import tqdm

    enabled = sys.stderr.isatty() if progress is None else bool(progress)
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, unit="step")


def fit(
    net: MLP,
    params: list[dict],
    x,
    y,
    *,
    loss: str,
    optimizer,
    steps: int,
    learning_rate=None,
    batch_size: int | None = None,
    grads: str = "auto",
    key=None,
    validation=None,
    eval_every: int = 500,
    patience: int | None = None,
    progress: bool | None = None,
    restore_best: bool = False,
    weights=None,
    hyperparams: dict | None = None,
):
    """Train one network.

    Args:
      net: the spec; params: its initial parameters (list of layer dicts).
      x: ``(n, features)``; y: ``(n, outputs)``, ``(n,)`` or integer labels (cross-entropy).
      loss: a loss name (see ``jaxnet.losses``).
      optimizer: an optax ``GradientTransformation`` (e.g. ``optax.sgd(1.0)``), or a name from
        :data:`OPTIMIZERS` together with ``learning_rate``. With a name, runs that differ only
        in learning rate share one compiled program.
      steps: number of optimizer steps.
      learning_rate: the learning rate for a named optimizer (or an ``inject_hyperparams`` one).
      batch_size: minibatch size, drawn in shuffled epochs inside the compiled program; None
        for full batch.
      grads: ``"auto"`` (``jax.grad``) or ``"manual"`` (hand-written backprop).
      key: ``jax.random`` key (or int seed) for the minibatch order (default ``key(0)``).
      validation: ``(x_val, y_val)``, evaluated every ``eval_every`` steps.
      eval_every: steps per compiled chunk (and between evaluations and progress updates).
      patience: with validation, stop after this many evaluations without a lower validation
        loss and return the best parameters.
      progress: show a progress bar; None shows it only when stderr is a terminal.
      restore_best: with validation, train all ``steps`` (or until ``patience`` runs out) but
        return the params of the evaluation with the lowest validation loss
        (``history.best_step``), not the last ones.
      weights: ``(n,)`` non-negative row weights, or None. Rows of weight 0 take no part (a
        row mask; padding), and a batch's loss is its rows' weighted mean. Epochs are then
        ``ceil(n / batch_size)`` steps, a step over a batch that weighs nothing is skipped,
        and ``steps`` counts those steps too (see :func:`train_chunk_weighted`).
      hyperparams: ``{name: value}`` set in an ``inject_hyperparams`` optimizer's state (e.g.
        a weight decay), so runs differing only in them share the compiled program.

    Returns:
      ``(params, history)``: trained params (the best ones when early stopping or
      ``restore_best`` was asked for, the last finite ones after a divergence) and a
      :class:`History`.
    """
    start = time.perf_counter()
    _validate.loss_for(net, loss)
    _validate.params(net, params)
    x, y = _validate.batch(net, params, x, y, loss)
    check_fit_args(net, steps, batch_size, grads, eval_every, x.shape[0])
    if patience is not None:
        _positive_int(patience, "patience")
        if validation is None:
            raise ValueError("patience needs validation=(x_val, y_val) to watch")
    if not isinstance(restore_best, bool):
        raise TypeError(f"restore_best must be True or False; got {restore_best!r}")
    if restore_best and validation is None:
        raise ValueError("restore_best=True needs validation=(x_val, y_val) to pick the best")
    tx, learning_rate = resolve_optimizer(optimizer, learning_rate, params)
    val = _validation_batch(net, params, validation, loss)
    key = _default_key() if key is None else _validate.prng_key(key, "key")
    state = init_state(params, tx, key, learning_rate)
    if hyperparams:
        state = state._replace(opt_state=set_hyperparams(state.opt_state, hyperparams))
    static = dict(net=net, loss=loss, tx=tx, grads=grads, batch_size=batch_size)
    run = checked_chunk
    if weights is not None:
        x, y, w = pad_rows(x, y, check_weights(weights, x.shape[0]), batch_size)

        def run(state, x, y, total, done, **static):
            return run_chunk_weighted(state, x, y, w, np.int32(total), **static)

    return _fit_loop(
        state, x, y, val, steps, eval_every, patience, progress, static, start, run, restore_best
    )


def check_weights(weights, n: int) -> np.ndarray:
    """``weights`` as a float ``(n,)`` array of non-negative finite values, not all zero."""
    w = np.asarray(weights)
    if w.dtype.kind not in "biuf" or w.shape != (n,):
        raise ValueError(
            f"weights must be a numeric array of shape ({n},), one per row of x; "
            f"got {w.dtype} of shape {w.shape}"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        raise ValueError("weights must be finite, non-negative and not all zero")
    return w


def pad_rows(x, y, weights, batch_size: int | None):
    """``x``, ``y``, ``weights`` with rows of weight 0 appended up to a multiple of the batch."""
    n = x.shape[0]
    extra = 0 if batch_size is None else -n % batch_size
    w = _validate.to_device(np.concatenate([weights, np.zeros(extra)]), x.dtype)
    if extra == 0:
        return x, y, w
    return (
        jnp.concatenate([x, jnp.zeros((extra, x.shape[1]), x.dtype)]),
        jnp.concatenate([y, jnp.zeros((extra, y.shape[1]), y.dtype)]),
        w,
    )


@functools.cache
def _default_key():
    # Made once, on first use: a new key per call is an eager op on the device each time.
    return jax.random.key(0)


def _validation_batch(net, params, validation, loss):
    if validation is None:
        return None
    if not isinstance(validation, (tuple, list)) or len(validation) != 2:
        raise TypeError("validation must be a pair (x_val, y_val)")
    return _validate.batch(net, params, validation[0], validation[1], loss)


def _fit_loop(
    state, x, y, val, steps, eval_every, patience, progress, static, start, run, restore_best=False
):
    n_chunks, length = chunking(steps, eval_every)
    chunk_losses, evals, done = [], [], 0
    best = (math.inf, state.params, None)
    status, message = "completed", f"completed {steps} steps"
    with progress_bar(steps, progress, "fit") as bar:
        for _ in range(n_chunks):
            state, chunk = run(state, x, y, steps, done, length=length, **static)
            chunk = np.asarray(chunk)
            chunk_losses.append(chunk)
            done = int(state.step)
            bar.update(min(length, steps - bar.n))
            if not bar.disable:
                bar.set_postfix(loss=f"{chunk[np.isfinite(chunk)][-1:].sum():.4g}")
            if not bool(state.alive):
                status = "diverged"
                message = (
                    f"diverged at step {done}: non-finite loss or parameters; "
                    f"returned the params after {done} updates"
                )
                break
            if val is not None:
                vl, va = evaluate_jit(static["net"], state.params, *val, static["loss"])
                evals.append((done, float(vl), float(va)))
                if float(vl) < best[0]:  # False for NaN: a non-finite loss is never the best
                    best = (float(vl), state.params, done)
                elif patience is not None and done - (best[2] or 0) >= patience * length:
                    status = "early_stopped"
                    message = (
                        f"stopped early at step {done}; best validation loss at step {best[2]}"
                        if best[2] is not None
                        else f"stopped early at step {done}: the validation loss was never finite "
                        f"(last {float(vl)}); returned the last params"
                    )
                    break
    loss_hist = np.concatenate(chunk_losses)[: int(state.step) + (status == "diverged")]
    keep_best = (patience is not None or restore_best) and best[2] is not None
    params = best[1] if keep_best else state.params
    ev = np.array(evals, dtype=np.float64).reshape(-1, 3)
    history = History(
        loss=loss_hist,
        eval_step=ev[:, 0].astype(np.int64),
        val_loss=ev[:, 1],
        val_accuracy=ev[:, 2],
        status=status,
        steps=int(state.step),
        best_step=best[2],
        message=message,
        seconds=time.perf_counter() - start,
    )
    return params, history
