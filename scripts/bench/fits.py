"""How the benchmarks call jaxnet: a whole ``fit`` as one compiled chunk, or that chunk alone.

The chunk alone (``train.run_chunk``) is jaxnet's internal compiled program; this file is the
one place the benchmarks reach past the public API for it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import jaxnet as jn
from jaxnet import train


def fit_call(net, params, x, y, steps, **kwargs):
    """A ``fit`` of ``steps`` steps as one compiled chunk; returns the params (to block on)."""
    kwargs.setdefault("progress", False)
    return jn.fit(net, params, x, y, steps=steps, eval_every=steps, **kwargs)[0]


def fit_variant(*args, **kwargs):
    """A callable doing ``fit_call(*args, **kwargs)``."""
    return lambda: fit_call(*args, **kwargs)


def chunk_call(net, params, x, y, steps, *, loss, optimizer, grads="auto", batch_size=None):
    """fit's compiled program alone (``train.run_chunk``), without fit's per-call host work."""
    state = train.init_state(params, optimizer, jax.random.key(0))
    total = jnp.int32(steps)

    def run():
        return train.run_chunk(
            state,
            x,
            y,
            total,
            net=net,
            loss=loss,
            tx=optimizer,
            grads=grads,
            batch_size=batch_size,
            length=steps,
        )

    return run
