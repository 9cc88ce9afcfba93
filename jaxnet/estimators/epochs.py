"""scikit-learn's stochastic training, epoch by epoch, as one compiled program for P members.

A member is one ``fit`` (or ``partial_fit``) of an estimator. One epoch of one member is a
``lax.scan`` over its batches: the batch's rows come from a row order the host drew with the
member's own ``RandomState`` (scikit-learn's shuffle, so the same ``random_state`` visits the
rows in the same order as scikit-learn's MLP), the gradient is jaxnet's weighted one
(:data:`jaxnet.chunks.WEIGHTED_GRAD_FNS`, ``"auto"`` or ``"manual"``), and scikit-learn's L2
term ``alpha * W / (the batch's weight)`` is added to it. At the end of the epoch the member
applies scikit-learn's rules: the mean loss (with the L2 term), ``tol`` and
``n_iter_no_change`` on that loss (or, with ``early_stopping``, on the validation score, keeping
the best weights), ``learning_rate="invscaling"`` and ``"adaptive"``, the epoch budget, and a
stop when the loss or the weights are no longer finite (scikit-learn would carry on with NaNs
and refuse the weights at the end).

:func:`member_chunk` is up to ``epochs`` such epochs of one member in a ``lax.while_loop``
that ends when the member stops, so a fit that converges early costs no more epochs than it
ran. Everything is written for one member and mapped over the members (:func:`chunk`), whose
hyperparameters (learning rate, ``alpha``, ``tol``, schedule, betas, ...) are data: members of
one architecture, batch layout and solver share one program. Left out: the host side (row
orders, members in and out), which is :mod:`.engine`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.sharding import PartitionSpec as P

from ..mlp import forward_batch
from . import objective

RUNNING, CONVERGED, MAX_ITER, DIVERGED = 0, 1, 2, 3
STATUS = {RUNNING: "running", CONVERGED: "converged", MAX_ITER: "max_iter", DIVERGED: "diverged"}
CONSTANT, INVSCALING, ADAPTIVE = 0, 1, 2
SCHEDULES = {"constant": CONSTANT, "invscaling": INVSCALING, "adaptive": ADAPTIVE}


class Progress(NamedTuple):
    """A member's epoch-end bookkeeping (scalars), scikit-learn's private counters included."""

    best_loss: jax.Array  # lowest epoch loss so far (inf at first)
    bad_epochs: jax.Array  # scikit-learn's _no_improvement_count (int32)
    best_score: jax.Array  # highest validation score so far (-inf at first; early stopping)
    samples: jax.Array  # scikit-learn's t_: rows seen since the weights were drawn (float)
    epochs_left: jax.Array  # epochs this call may still run (int32)
    ran: jax.Array  # epochs run in this call (int32)
    status: jax.Array  # RUNNING, CONVERGED, MAX_ITER or DIVERGED (int32)


class Member(NamedTuple):
    """What one member carries from epoch to epoch (a pytree; stacked over members)."""

    params: list
    opt_state: object
    best_params: object  # the params of the best validation score, or None
    progress: Progress
    key: jax.Array  # (2,) uint32 raw key data of the dropout masks (unused without dropout)


class Hyper(NamedTuple):
    """A member's epoch-rule hyperparameters (scalars, data in the program)."""

    alpha: jax.Array
    tol: jax.Array
    patience: jax.Array  # n_iter_no_change, a float (scikit-learn accepts np.inf)
    schedule: jax.Array  # CONSTANT, INVSCALING or ADAPTIVE (int32)
    learning_rate_init: jax.Array
    power_t: jax.Array
    rows: jax.Array  # the member's training rows (float): an epoch's loss is a mean over them
    dropout: jax.Array  # (hidden layers,) dropout rates, jaxnet's extension (0: none)


class Data(NamedTuple):
    """Training rows of every member, one flat table; a member's row order indexes into it."""

    x: jax.Array  # (R, features)
    y: jax.Array  # (R, outputs)
    weight: jax.Array  # (R,) sample weights, 0 on padding rows
    real: jax.Array  # (R,) 1 on a member's rows, 0 on padding rows


class Validation(NamedTuple):
    """Validation rows (early stopping): a flat table and each member's rows in it."""

    x: jax.Array  # (Rv, features)
    y: jax.Array  # (Rv, outputs)
    weight: jax.Array  # (Rv,) 0 on padding rows
    rows: jax.Array  # (V,) a member's rows (padded with a row of weight 0); stacked (P, V)


def _where(take, new, old):
    return jax.tree.map(lambda a, b: jnp.where(take, a, b), new, old)


def _all_finite(tree):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def _batch_step(carry, start, *, data, order, active, gradients, tx, batch):
    """One scikit-learn update on the rows ``order[start:start + batch]`` (skipped when empty);
    ``gradients(params, x, y, w, start)`` is the batch's ``(loss, grads)``."""
    params, opt_state, total = carry
    rows = jax.lax.dynamic_slice(order, (start,), (batch,))
    x, y, w, real = data.x[rows], data.y[rows], data.weight[rows], data.real[rows]
    value, g = gradients(params, x, y, w, start)
    updates, new_opt = tx.update(g, opt_state, params)
    take = active & (jnp.sum(w) > 0)
    params = _where(take, optax.apply_updates(params, updates), params)
    opt_state = _where(take, new_opt, opt_state)
    # scikit-learn's epoch loss weighs each batch's loss by its rows (not their weights)
    return (params, opt_state, total + jnp.where(take, value * jnp.sum(real), 0)), None


def _gradients(m: Member, hyper: Hyper, static: dict):
    """The batch gradient function of one member's epoch, and its key after the epoch: with
    dropout (a key split off per epoch, folded with the step's first row) or without."""
    kw = dict(kind=static["kind"], grads=static["grads"])
    net, alpha = static["net"], hyper.alpha
    if not static["dropout"]:
        return lambda p, x, y, w, start: objective.loss_and_grads(
            net, p, x, y, w, alpha, **kw
        ), m.key
    key, epoch_key = jax.random.split(jax.random.wrap_key_data(m.key))

    def gradients(p, x, y, w, start):
        step_key = jax.random.fold_in(epoch_key, start)
        return objective.loss_and_grads_dropout(
            net, p, x, y, w, alpha, step_key, hyper.dropout, **kw
        )

    return gradients, jax.random.key_data(key)


def validation_score(net, params, val: Validation, rows, kind: str):
    """scikit-learn's score on a member's validation rows: accuracy, or R^2 for regression.

    Accuracy counts a row right when every output is (a multi-label row needs all its labels);
    R^2 is the mean over outputs, 1 for a perfect constant fit and 0 for an imperfect one
    (scikit-learn's ``force_finite``). NaN when a prediction is not finite, as scikit-learn.
    """
    x, y, w = val.x[rows], val.y[rows], val.weight[rows]
    out = forward_batch(net, params, x)
    if kind == "softmax":
        right = jnp.argmax(out, -1) == jnp.argmax(y, -1)
        score = jnp.sum(w * right) / jnp.sum(w)
    elif kind == "logistic":
        right = jnp.all((out > 0.5) == (y > 0.5), axis=-1)
        score = jnp.sum(w * right) / jnp.sum(w)
    else:
        mean = jnp.sum(w[:, None] * y, 0) / jnp.sum(w)
        num = jnp.sum(w[:, None] * (y - out) ** 2, 0)
        den = jnp.sum(w[:, None] * (y - mean) ** 2, 0)
        perfect = jnp.where(num == 0, 1.0, 0.0)
        score = jnp.mean(jnp.where(den == 0, perfect, 1 - num / jnp.where(den == 0, 1, den)))
    return jnp.where(_all_finite(out), score, jnp.nan)


def _improvement(p: Progress, loss, score, tol, early: bool):
    """scikit-learn's ``_update_no_improvement_count``: ``(bad_epochs, best_loss, best_score,
    better)`` after an epoch; ``better`` says the best weights change (early stopping)."""
    if early:
        bad = jnp.where(score < p.best_score + tol, p.bad_epochs + 1, 0)
        better = score > p.best_score
        return bad, p.best_loss, jnp.where(better, score, p.best_score), better
    bad = jnp.where(loss > p.best_loss - tol, p.bad_epochs + 1, 0)
    return bad, jnp.where(loss < p.best_loss, loss, p.best_loss), p.best_score, jnp.bool_(False)


def _epoch_end(m: Member, loss, score, hyper: Hyper, *, early: bool, stochastic_lr: bool):
    """scikit-learn's bookkeeping after one epoch, and whether (and why) the member stops."""
    p = m.progress
    bad, best_loss, best_score, better = _improvement(p, loss, score, hyper.tol, early)
    samples = p.samples + hyper.rows
    hp = m.opt_state.hyperparams
    lr = hp["learning_rate"]
    if stochastic_lr:  # iteration_ends: invscaling sets the rate from the rows seen
        decayed = hyper.learning_rate_init / (samples + 1) ** hyper.power_t
        lr = jnp.where(hyper.schedule == INVSCALING, decayed.astype(lr.dtype), lr)
    stalled = bad > hyper.patience
    adaptive = stochastic_lr & (hyper.schedule == ADAPTIVE)
    shrink = stalled & adaptive & (lr > 1e-6)
    converged = stalled & ~shrink
    lr = jnp.where(shrink, lr / 5, lr)
    bad = jnp.where(shrink, 0, bad)
    left = p.epochs_left - 1
    finite = jnp.isfinite(loss) & _all_finite(m.params)
    status = jnp.where(converged, CONVERGED, jnp.where(left <= 0, MAX_ITER, RUNNING))
    status = jnp.where(finite, status, DIVERGED)
    progress = Progress(best_loss, bad, best_score, samples, left, p.ran + 1, status)
    opt_state = m.opt_state._replace(hyperparams={**hp, "learning_rate": lr})
    best = _where(better, m.params, m.best_params) if early else m.best_params
    return Member(m.params, opt_state, best, progress, m.key)


def member_epoch(m: Member, hyper: Hyper, order, val_rows, data: Data, val, *, static: dict):
    """One epoch of one member: its batches, then scikit-learn's epoch-end rules.

    Args:
      m: the member's state; hyper: its hyperparameters; order: ``(steps * batch,)`` its rows
        for this epoch (indices into ``data``, padded with a row of weight 0); val_rows: its
        validation rows, or None; data, val: the shared tables (val None without early
        stopping); static: net (without dropout: the rates are ``hyper.dropout``), kind,
        tx, grads, batch, steps, early, stochastic_lr, dropout (whether any member drops).

    Returns:
      ``(member, loss, score)``: the member after the epoch (unchanged when it was not
      running), the epoch's loss and validation score (NaN when not run or not asked for).
    """
    active = m.progress.status == RUNNING
    gradients, key = _gradients(m, hyper, static)
    starts = jnp.arange(static["steps"]) * static["batch"]
    zero = jnp.zeros([], m.progress.best_loss.dtype)

    def body(carry, start):
        return _batch_step(
            carry, start, data=data, order=order, active=active, gradients=gradients,
            tx=static["tx"], batch=static["batch"],
        )  # fmt: skip

    (params, opt_state, total), _ = jax.lax.scan(body, (m.params, m.opt_state, zero), starts)
    loss = total / hyper.rows
    early = static["early"]
    score = (
        validation_score(static["net"], params, val, val_rows, static["kind"]) if early else zero
    )
    after = _epoch_end(
        Member(params, opt_state, m.best_params, m.progress, key),
        loss,
        score,
        hyper,
        early=early,
        stochastic_lr=static["stochastic_lr"],
    )
    nan = jnp.full([], jnp.nan, zero.dtype)
    return (
        _where(active, after, m),
        jnp.where(active, loss, nan),
        jnp.where(active & early, score, nan),
    )


def member_chunk(m: Member, hyper: Hyper, orders, val_rows, data: Data, val, *, static: dict):
    """Up to ``orders.shape[0]`` epochs of one member, ending when it stops running.

    Returns ``(member, losses (epochs,), scores (epochs,))``, NaN where no epoch ran.
    """
    epochs = orders.shape[0]
    table = jnp.full((epochs,), jnp.nan, m.progress.best_loss.dtype)

    def cond(carry):
        e, m, _, _ = carry
        return (e < epochs) & (m.progress.status == RUNNING)

    def body(carry):
        e, m, losses, scores = carry
        m, loss, score = member_epoch(m, hyper, orders[e], val_rows, data, val, static=static)
        return e + 1, m, losses.at[e].set(loss), scores.at[e].set(score)

    _, m, losses, scores = jax.lax.while_loop(cond, body, (jnp.int32(0), m, table, table))
    return m, losses, scores


def map_members(one, mesh, per_member: tuple, shared: tuple):
    """``one(*member_args, *shared)`` for every member: ``shard_map`` over ``mesh``'s devices
    and, on each device, ``lax.map`` over its members on a CPU (one member at a time runs its
    matmuls unbatched: about 15 % less work than ``vmap`` there) or ``vmap`` elsewhere.

    Args:
      one: a function of one member's arguments then the shared ones.
      mesh: a one-axis ``"members"`` mesh; per_member: arrays (or None) with a leading member
        axis, a multiple of the mesh's size; shared: arguments every member reads (or None).
    """

    def local(*args):
        mine, common = args[: len(per_member)], args[len(per_member) :]
        if jax.default_backend() == "cpu":
            return jax.lax.map(lambda a: one(*a, *common), mine)
        return jax.vmap(lambda *a: one(*a, *common))(*mine)

    split, whole = P("members"), P()
    specs = tuple(None if a is None else split for a in per_member)
    specs += tuple(None if a is None else whole for a in shared)
    mapped = jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=split, check_vma=False)
    return mapped(*per_member, *shared)


def chunk(members: Member, hyper: Hyper, orders, val_rows, data: Data, val, *, mesh, **static):
    """:func:`member_chunk` for every member (:func:`map_members`).

    Args:
      members, hyper: stacked over P members (P a multiple of the mesh's size); orders:
        ``(P, epochs, steps * batch)`` row orders; val_rows: ``(P, V)`` or None; data, val:
        the shared tables; static: as :func:`member_epoch`'s.

    Returns:
      ``(members, losses (P, epochs), scores (P, epochs))``, NaN where a member did not run.
    """

    def one(m, h, order, rows, data, val):
        return member_chunk(m, h, order, rows, data, val, static=static)

    return map_members(one, mesh, (members, hyper, orders, val_rows), (data, val))
