"""How large a training run is: the batch it takes and the memory it needs.

One rule each, shared by ``jaxnet train`` and the sweep planner, so that a net the command
refuses is a net a sweep refuses too, and a batch size means the same in both. Pure
arithmetic on Python ints: no JAX is imported, so the command can check a size before
starting JAX.

The limit both apply is :data:`MAX_GROUP_BYTES`. Left out: measuring memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only the attributes sizes and n_params are read: no JAX at import
    from .mlp import MLP

# The most estimated memory one training run (a sweep's group, or `jaxnet train`'s net) may
# need; raise it here if a machine can take more.
MAX_GROUP_BYTES = 16 * 2**30


def batch_rows(batch_size: int, n_rows: int) -> int | None:
    """The minibatch size to train with; None for the full batch.

    Args:
      batch_size: the size asked for; 0 means the full batch.
      n_rows: how many training rows there are.

    Returns:
      ``batch_size``, or None when it is 0 or at least ``n_rows`` (one batch holds every row,
      so training takes the full-batch program).
    """
    return None if batch_size == 0 or batch_size >= n_rows else batch_size


def training_bytes(net: MLP, rows: int, members: int = 1, itemsize: int = 4) -> int:
    """An estimate of the memory ``members`` copies of ``net`` need while they train.

    Per member: the params six times over (params, gradients, two optimizer moments, the
    best and initial params kept by the loop) plus the activations, pre-activations and deltas
    of every layer for the largest batch it runs (a minibatch, or a whole split to evaluate).

    Args:
      net: the :class:`~jaxnet.MLP` spec (its ``sizes`` and ``n_params``).
      rows: the largest batch of rows it runs, usually the largest split.
      members: how many models train together (a population's P).
      itemsize: bytes per number (4 for float32, 8 for float64).

    Returns:
      Bytes, an estimate good to a small factor: a guard, not a measurement.
    """
    units = sum(net.sizes[1:])
    return members * itemsize * (6 * net.n_params + 3 * rows * units)


def loop_bytes(steps: int, chunk: int, batch: int | None, members: int = 1) -> int:
    """An estimate of the memory the training loop itself needs, beside the net's.

    A compiled chunk of ``chunk`` steps draws the row order of every epoch it touches at once
    (``chunk * batch`` row indices per member, and their sort's scratch: about 20 bytes each)
    and returns one loss per step; the history keeps ``steps`` losses on the host. Enormous
    step counts, or one chunk of them (``--eval-every``), need more memory than any net.

    Args:
      steps: the run's steps; chunk: steps per compiled chunk (the evaluation interval);
      batch: the minibatch size, or None for the full batch (no row orders);
      members: models that train together.

    Returns:
      Bytes, an estimate good to a small factor.
    """
    orders = 0 if batch is None else 20 * chunk * batch
    return members * (orders + 4 * chunk + 8 * steps)
