"""The work of one training step in FLOPs, and the machine's matmul peak to set it against.

Used by the wide-MLP and population benchmarks; the peak is measured in the same run as the
figure it divides, never taken from a datasheet.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .timing import timed


def train_flops(sizes, batch: int) -> float:
    """FLOPs of one training step: 2 per multiply-add forward, 4 backward, weights only."""
    return 6.0 * batch * sum(i * o for i, o in zip(sizes[:-1], sizes[1:], strict=True))


def matmul_unit(n: int, seconds: float):
    """A timed unit of back-to-back jitted ``n x n`` float32 matmuls lasting about ``seconds``.

    Returns:
        ``(run, reps, flops, one)``: the callable, the matmuls it does, their FLOPs, and the
        best time of one matmul (s) that set ``reps``.
    """
    a = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(2), (n, n), jnp.float32)
    mm = jax.jit(jnp.matmul)
    jax.block_until_ready(mm(a, b))  # compile
    one = min(timed(lambda: mm(a, b)) for _ in range(3))
    reps = max(1, round(seconds / one))

    def run():
        out = None
        for _ in range(reps):
            out = mm(a, b)
        return out

    return run, reps, 2.0 * n**3 * reps, one
