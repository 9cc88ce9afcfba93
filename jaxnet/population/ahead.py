"""Compile-ahead: a population's programs compiled on the background thread before it trains.

A sweep knows its next group while the current one trains, and a small MLP trains on about one
core; :func:`compile_ahead` lowers and compiles the next population's programs (its initial
states, its first training chunk, its final evaluation) on :mod:`jaxnet.tiers`' background
thread, at the tiers its own run will ask for, so that :func:`~.training.fit_population` finds
them ready. Nothing runs on the devices and no array is made: the programs are lowered for
``jax.ShapeDtypeStruct`` arguments carrying the shardings the real arrays will have, so the
keys match. Left out: populations with row weights, hyperparameters, regularisation values or
dropout rates (their states are not the initial program's output), which simply compile when
they train.
"""

from __future__ import annotations

from functools import partial

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from .. import tiers
from ..train import chunking
from .buckets import bucket_net, layer_scales
from .programs import evaluate_parts, fast_members, initial_states
from .training import Options, layout


def compile_ahead(net, keys, x, y, **options) -> list:
    """Queue the programs of ``fit_population(net, keys, x, y, **options)`` on the background
    compile thread; returns their Futures (empty when nothing is left to compile, or when the
    arguments would be refused: the run itself raises that error)."""
    return _ahead(net, None, keys, x, y, options)


def compile_bucket_ahead(nets, keys, x, y, **options) -> list:
    """:func:`compile_ahead` for ``fit_bucket(nets, keys, x, y, **options)``."""
    try:
        padded = bucket_net(nets)
    except (TypeError, ValueError):
        return []
    own = np.array([n.sizes for n in nets], np.int32)
    return _ahead(padded, (own, layer_scales(nets)), keys, x, y, options)


def _abstract(tree, sharding):
    """Every array leaf of ``tree`` as a ``jax.ShapeDtypeStruct`` placed with ``sharding``."""
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding), tree)


def _ahead(net, bucket, keys, x, y, options: dict) -> list:
    try:
        o = Options(**options)
        if o.weights is not None or o.hyperparams:
            return []
        lay = layout(net, bucket, keys, x, y, o)
    except (TypeError, ValueError):
        return []
    c, mesh, net = lay.checked, lay.mesh, lay.static["net"]
    if c.values or c.dropout is not None:  # states set after the initial program: not ahead
        return []
    sharded, replicated = NamedSharding(mesh, P("models")), NamedSharding(mesh, P())
    init_args, init_static = lay.init
    once = tiers.once_tier()
    futures = [tiers.compile_ahead("init", initial_states, init_args, init_static, sharded, once)]
    states, masks = _abstract(
        jax.eval_shape(partial(initial_states, **init_static), *init_args), sharded
    )
    xb, yb, val, parts = _abstract((c.x, c.y, c.val, c.parts), replicated)
    n_chunks, length = chunking(o.steps, o.eval_every)
    rows = o.batch_size or xb.shape[0]
    flops = tiers.training_flops(net.n_params, rows, length, len(lay.take))
    static = dict(lay.static, length=length)
    args = (states, masks, xb, yb, val)
    futures.append(tiers.compile_loop_ahead("fast", fast_members, args, static, flops, n_chunks))
    if parts:
        args, static = (states.params, parts), dict(net=net, loss=o.loss)
        futures.append(tiers.compile_ahead("evaluate", evaluate_parts, args, static, None, once))
    return [f for f in futures if f is not None]
