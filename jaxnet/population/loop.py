"""The host loop of a population: one compiled chunk per ``eval_every`` steps, guarded only
where it must be, and the :class:`PopulationHistory` it records.

A chunk runs unguarded (:func:`~jaxnet.population.programs.fast_members`) while every member
lives and the chunk ends within the run; when a member went non-finite in it, or the run ends
inside it, the chunk is rerun guarded from its start. A member that diverges is frozen at its
last finite parameters and marked ``"diverged"``; the others go on untouched, since every
member's update is selected from its own values only.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..train import chunking, progress_bar
from .programs import ChunkPrograms, fast_members, guarded_members, weighted_members


@dataclasses.dataclass(frozen=True)
class PopulationHistory:
    """What happened to each member, as NumPy arrays with a leading member axis ``P``.

    Attributes:
      loss: ``(P, steps)`` training loss before each step (NaN after a divergence).
      eval_step: ``(E,)`` step count at each evaluation.
      val_loss, val_accuracy: ``(P, E)`` validation metrics (accuracy NaN for regression).
      status: ``P`` strings, ``"completed"`` or ``"diverged"``.
      steps: ``(P,)`` updates applied to each member.
      seconds: wall time of the whole call; compile_seconds: of it, compiling.
      evaluated: ``{name: (loss, accuracy)}``, each ``(P,)`` float64, of the final params on
        the ``evaluate`` parts (empty without them).
      chunk_tiers: the compile tier (:mod:`jaxnet.tiers`) of the program each chunk ran on.
    """

    loss: np.ndarray
    eval_step: np.ndarray
    val_loss: np.ndarray
    val_accuracy: np.ndarray
    status: tuple[str, ...]
    steps: np.ndarray
    seconds: float
    compile_seconds: float
    evaluated: dict = dataclasses.field(default_factory=dict)
    chunk_tiers: tuple = ()

    def __repr__(self) -> str:
        diverged = sum(s == "diverged" for s in self.status)
        return (
            f"PopulationHistory({len(self.status)} members, {diverged} diverged, "
            f"{self.loss.shape[-1]} steps, {len(self.eval_step)} evaluations, "
            f"{self.seconds:.1f} s)"
        )


def train_members(
    states, masks, data, n: int, steps: int, eval_every: int, static, progress, watch=None
):
    """Run every chunk of ``steps`` for stacked ``states``; returns ``(states, history)``.

    Args:
      states: stacked TrainStates (device padding included); masks: width-bucket gradient
        masks or None; data: ``(x, y, val, weights)`` on the devices (val, weights may be None);
      n: real members (the first n); steps, eval_every: as for ``fit_population``;
      static: the programs' static arguments (net, loss, tx, grads, batch_size);
      progress: show a progress bar (None: in a terminal or a Jupyter notebook);
      watch: None, or a callable ``(states, done, val_loss, alive) -> bool`` called after each
        evaluation (e.g. :class:`~jaxnet.population.stopping.EarlyStopping`); True ends the
        loop (no member trains on).
    """
    x, y, val, weights = data
    n_chunks, length = chunking(steps, eval_every)
    total = np.int32(steps)
    shapes = (states, masks, x, y, val)
    programs = ChunkPrograms(
        {
            "fast": (fast_members, shapes),
            "guarded": (guarded_members, (*shapes, total)),
            "weighted": (weighted_members, (states, weights, x, y, val, total)),
        },
        dict(static, length=length),
    )
    chunks, evals, done, live, chunk_tiers = [], [], 0, True, []
    with progress_bar(steps, progress, f"population of {n}") as bar:
        for i in range(n_chunks):
            new, left = None, n_chunks - 1 - i
            if weights is not None:  # row weights: one guarded program (masks are all ones)
                kind = "weighted"
                new = programs[kind](states, weights, x, y, val, total, chunks_left=left)
            elif live and done + length <= steps:
                kind = "fast"
                new = programs[kind](states, masks, x, y, val, chunks_left=left)
                if not np.all(np.asarray(new[3])):
                    new = None  # some member went non-finite: rerun this chunk guarded
            if new is None:
                kind = "guarded"
                new = programs[kind](states, masks, x, y, val, total, chunks_left=left)
            chunk_tiers.append(programs[kind].tier)
            states, values, (vl, va), _ = new
            chunks.append(np.asarray(values)[:n])
            step = np.asarray(states.step)[:n]
            alive = np.asarray(states.alive)[:n]
            done, live = int(step.max()), bool(alive.all())
            bar.update(min(length, steps - bar.n))
            if val is not None:
                evals.append((done, np.asarray(vl)[:n], np.asarray(va)[:n]))
            if not alive.any():
                break
            if watch is not None and watch(states, done, vl, alive):
                break
    history = PopulationHistory(
        loss=np.concatenate(chunks, axis=1)[:, :steps],
        eval_step=np.array([e[0] for e in evals], np.int64),
        val_loss=np.stack([e[1] for e in evals], axis=1) if evals else np.zeros((n, 0)),
        val_accuracy=np.stack([e[2] for e in evals], axis=1) if evals else np.zeros((n, 0)),
        status=tuple("completed" if a else "diverged" for a in alive),
        steps=step.astype(np.int64),
        seconds=0.0,
        compile_seconds=programs.seconds,
        chunk_tiers=tuple(chunk_tiers),
    )
    return states, history
