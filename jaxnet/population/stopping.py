"""Early stopping member by member: each member stops as ``fit(..., patience=...)`` would.

The members of a population run as one program, so a member that stops keeps computing with
the others (a vmapped step costs the same either way); what makes it stopped is what is kept
and reported. After every chunk :class:`EarlyStopping` applies ``fit``'s rule to each member's
validation loss on the host: a lower loss is that member's new best (its params are kept, by
one small compiled select on the device), and a member with ``patience`` evaluations' worth
of steps since its best stops there. :meth:`EarlyStopping.finish` then gives each member
what its own ``fit`` would return: its best params (its params at the stop, without a finite
validation loss), status ``"early_stopped"``, ``steps`` at the stop, and no losses after it.
When every member has stopped or diverged the loop ends early. Left out: stopping on anything
but the validation loss, and freeing a stopped member's share of the program.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np


@jax.jit
def _select(take, new, old):
    """``new`` where ``take`` (``(P,)`` bool), else ``old``, leaf by leaf over the member axis."""
    return jax.tree.map(
        lambda a, b: jnp.where(take.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), new, old
    )


class EarlyStopping:
    """The host's record of each member's best validation loss and stop (see the module doc).

    Args:
      n: real members (the first ``n`` of the stacked states; the rest are device padding);
      patience: evaluations without a lower validation loss before a member stops;
      length: steps per chunk (one evaluation per chunk).
    """

    def __init__(self, n: int, patience: int, length: int):
        self.n, self.patience, self.length = n, patience, length
        self.best = np.full(n, np.inf)
        self.best_step = np.full(n, -1, np.int64)  # -1: no finite validation loss yet
        self.stopped_at = np.full(n, -1, np.int64)  # -1: still training
        self.params = None  # every member's params as its fit would return them, so far

    def __call__(self, states, done: int, val_loss, alive) -> bool:
        """Record one evaluation; True when no member trains on (all stopped or diverged).

        Args:
          states: the stacked states after the chunk; done: the steps applied (the step of this
          evaluation); val_loss: ``(P,)`` validation losses; alive: ``(P,)`` bool.
        """
        n = self.n
        vl, alive = np.asarray(val_loss, np.float64)[:n], np.asarray(alive)[:n]
        live = alive & (self.stopped_at < 0)
        improved = live & (vl < self.best)  # False for NaN: never a best
        self.best = np.where(improved, vl, self.best)
        self.best_step = np.where(improved, done, self.best_step)
        since = done - np.maximum(self.best_step, 0)
        stops = live & ~improved & (since >= self.patience * self.length)
        self.stopped_at = np.where(stops, done, self.stopped_at)
        # Kept: a new best, or the params at a stop without any finite validation loss.
        take = improved | (stops & (self.best_step < 0))
        padded = np.zeros(states.alive.shape[0], bool)  # device padding: never taken
        padded[:n] = take
        current = states.params
        self.params = current if self.params is None else _select(padded, current, self.params)
        return not np.any(alive & (self.stopped_at < 0))

    def finish(self, params, history):
        """``(params, history)`` as each member's own ``fit`` would end them.

        Args:
          params: the stacked params at the end of the loop; history: its
            :class:`~jaxnet.population.loop.PopulationHistory`.
        """
        n = self.n
        kept = (self.best_step >= 0) | (self.stopped_at >= 0)
        if self.params is not None:
            padded = np.zeros(jax.tree.leaves(params)[0].shape[0], bool)
            padded[:n] = kept
            params = _select(padded, self.params, params)
        stopped = self.stopped_at >= 0
        steps = np.where(stopped, self.stopped_at, history.steps)
        loss = history.loss.copy()
        val_loss, val_acc = history.val_loss.copy(), history.val_accuracy.copy()
        for i in np.flatnonzero(stopped):
            loss[i, steps[i] :] = np.nan
            late = history.eval_step > steps[i]
            val_loss[i, late], val_acc[i, late] = np.nan, np.nan
        status = tuple("early_stopped" if stop else s for s, stop in zip(history.status, stopped))
        history = dataclasses.replace(
            history, loss=loss, val_loss=val_loss, val_accuracy=val_acc, status=status, steps=steps
        )
        return params, history
