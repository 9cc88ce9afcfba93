"""The compiled programs of a population, and the cache that compiles each shape once.

Each program is the per-model code of :mod:`jaxnet.chunks` (or :mod:`jaxnet.metrics`) mapped
with ``vmap`` over a leading member axis: the initial states, a training chunk (unguarded,
guarded, or with row weights) with the members' validation metrics fused in, and the final
evaluation. :func:`compiled` compiles a program ahead of time for the shapes, dtypes and
shardings of its arguments, at a tier of :mod:`jaxnet.tiers`, and keeps it for the life of the
process, so a second population of the same shapes compiles nothing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .. import chunks, metrics, tiers
from ..mlp import MLP, init
from .buckets import bucket_init, bucket_mask


def compile_count() -> int:
    """How many programs (a tier of a shape each) this process has compiled for populations
    and fits (:func:`jaxnet.tiers.compile_count`)."""
    return tiers.compile_count()


def compiled(name: str, fn, args: tuple, static: dict, out_shardings=None, tier: int = 2):
    """``fn(*args, **static)`` compiled ahead of time for these shapes at ``tier``, and its
    compile seconds (:func:`jaxnet.tiers.compiled`).

    The cache key is the static arguments and every array's shape, dtype and sharding, so a
    second population of the same shapes reuses the program (0 seconds). A program run once
    passes ``tier=tiers.once_tier()``; a loop's programs go through :class:`jaxnet.tiers.Ladder`.
    """
    return tiers.compiled(name, fn, args, static, out_shardings, tier)


def member_keys(key):
    """``(init_key, batch_key)`` of one member's key: what :func:`fit_population` uses.

    ``fit(net, init(net, init_key), ..., key=batch_key)`` trains the same model alone.
    """
    init_key, batch_key = jax.random.split(key)
    return init_key, batch_key


def _val_metrics(net, params, val, loss):
    """One member's ``(loss, accuracy)`` on the validation batch, or NaNs without one."""
    if val is None:
        return jnp.nan, jnp.nan
    return metrics.evaluate_batch(net, params, *val, loss)


def fast_members(states, masks, x, y, val, *, net, loss, tx, grads, batch_size, length):
    """Every member's unguarded chunk (:func:`jaxnet.chunks.fast_chunk`), then its validation
    metrics: one program. Returns ``(states, losses (P, length), (val_loss, val_acc), finite)``."""
    kw = dict(net=net, loss=loss, tx=tx, grads=grads, batch_size=batch_size, length=length)

    def one(state, mask):
        state, values, finite = chunks.fast_chunk(state, x, y, mask=mask, **kw)
        return state, values, _val_metrics(net, state.params, val, loss), finite

    return jax.vmap(one)(states, masks)


def guarded_members(states, masks, x, y, val, total, *, net, loss, tx, grads, batch_size, length):
    """Every member's guarded chunk (:func:`jaxnet.chunks.train_chunk`), then its metrics."""
    kw = dict(net=net, loss=loss, tx=tx, grads=grads, batch_size=batch_size, length=length)

    def one(state, mask):
        state, values = chunks.train_chunk(state, x, y, total, mask=mask, **kw)
        return state, values, _val_metrics(net, state.params, val, loss), jnp.bool_(True)

    return jax.vmap(one)(states, masks)


def weighted_members(
    states, weights, x, y, val, total, *, net, loss, tx, grads, batch_size, length
):
    """Every member's weighted chunk (:func:`jaxnet.chunks.train_chunk_weighted`, guarded),
    then its metrics; ``weights``: ``(P, n)``, one row mask or weighting per member."""
    kw = dict(net=net, loss=loss, tx=tx, grads=grads, batch_size=batch_size, length=length)

    def one(state, w):
        state, values = chunks.train_chunk_weighted(state, x, y, w, total, **kw)
        return state, values, _val_metrics(net, state.params, val, loss), jnp.bool_(True)

    return jax.vmap(one)(states, weights)


def evaluate_parts(params, parts, *, net, loss):
    """``{name: (loss (P,), accuracy (P,))}`` of stacked params on each checked ``(x, y)``."""
    return {
        k: jax.vmap(metrics.evaluate_batch, (None, 0, None, None, None))(net, params, *xy, loss)
        for k, xy in parts.items()
    }


_evaluate_vmapped = jax.jit(
    jax.vmap(metrics.evaluate_batch, in_axes=(None, 0, None, None, None)), static_argnums=(0, 4)
)


def evaluate_population(net: MLP, params, x, y, loss: str):
    """``(loss, accuracy)``, each ``(P,)``, of stacked params on a checked batch."""
    return _evaluate_vmapped(net, params, x, y, loss)


def initial_states(keys, take, lrs, scales, own, layer_scales, *, net, tx, dtype):
    """Stacked :class:`jaxnet.chunks.TrainState` and gradient masks of every (padded) member.

    Args:
      keys: ``(K,)`` typed keys or ``(K, 2)`` raw threefry key data; take: ``(P,)`` which key
        each member (device padding included) uses; lrs, scales: ``(P,)`` or None; own,
        layer_scales: a width bucket's ``(P, depth + 1)`` own sizes and ``(P, depth)`` init
        scales, or None.

    Returns:
      ``(states, masks)``; masks is None outside a width bucket.
    """
    keys = keys[take]  # member padding for the device count, inside the program
    if not jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        keys = jax.random.wrap_key_data(keys)  # raw threefry key data from the host
    init_keys, batch_keys = jax.vmap(member_keys)(keys)
    if own is None:
        params = jax.vmap(lambda k: init(net, k, dtype))(init_keys)
        masks = None
    else:
        params = jax.vmap(lambda o, s, k: bucket_init(net, o, s, k, dtype))(
            own, layer_scales, init_keys
        )
        masks = jax.vmap(lambda o: bucket_mask(net, o, dtype))(own)
    if scales is not None:
        params = jax.tree.map(lambda a: a * scales.reshape((-1,) + (1,) * (a.ndim - 1)), params)
    if lrs is None:
        states = jax.vmap(lambda p, k: chunks.init_state(p, tx, k))(params, batch_keys)
    else:
        states = jax.vmap(lambda p, k, r: chunks.init_state(p, tx, k, r))(params, batch_keys, lrs)
    return states, masks


class ChunkPrograms:
    """A training loop's chunk programs by kind, each a :class:`~jaxnet.tiers.Ladder` (tier 1
    first, tier 2 when it pays), made on first use for the first chunk's arguments (later states
    may carry equivalent shardings that would not match a new signature).

    Args:
      args: ``{kind: (program function, its arguments)}``; every kind's arguments start with
        ``(states, masks, x, ...)``: states of P members, x (rows, features).
      static: the programs' static arguments (``net``, ``batch_size``, ``length``, ...).
    """

    def __init__(self, args: dict, static: dict):
        states, _, x = args["fast"][1][:3]
        rows = static["batch_size"] or x.shape[0]
        members = states.step.shape[0]
        self._flops = tiers.training_flops(static["net"].n_params, rows, static["length"], members)
        self._args, self._static, self._programs = args, static, {}

    def __getitem__(self, kind: str) -> tiers.Ladder:
        if kind not in self._programs:
            fn, args = self._args[kind]
            self._programs[kind] = tiers.Ladder(kind, fn, args, self._static, flops=self._flops)
        return self._programs[kind]

    @property
    def seconds(self) -> float:
        """Compile seconds the ladders cost this thread."""
        return sum(ladder.seconds for ladder in self._programs.values())
