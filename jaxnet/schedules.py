"""Learning-rate schedules whose values are data, so one compiled program serves every value.

A schedule multiplies the learning rate by a factor of the optimizer's update count ``t``
over a run of ``T`` steps (``T`` is the run's ``steps``):

=================  ===================================================  ===========================
kind               factor(t)                                            optax's equivalent
=================  ===================================================  ===========================
``constant``       ``1``                                                (no schedule)
``cosine``         ``f + (1 - f) (1 + cos(pi t / T)) / 2``              ``cosine_decay_schedule(1,
                                                                        T, alpha=f)``
``warmup_cosine``  ``t / W`` while ``t < W``; then ``cosine`` over the  ``warmup_cosine_decay_
                   ``T - W`` steps left                                 schedule(0, 1, W, T, f)``
``exponential``    ``f ** (t / T)``                                     ``exponential_decay(1, T,
                                                                        decay_rate=f)``
=================  ===================================================  ===========================

``f`` is :attr:`Schedule.lr_final`, the factor at the last step (default 0 for the cosines,
0.01 for ``exponential``, which cannot reach 0), and ``W`` is :attr:`Schedule.warmup_steps`.
The formulas are optax's (``tests/test_schedules.py`` holds them equal to optax's schedules
at every step); they are written here because optax's constructors check their step counts
and decay rate with Python ``if`` statements, so they cannot take traced values, and here
``f``, ``W`` and ``T`` are hyperparameters in the optimizer's state
(:func:`jaxnet.optimizers.configured_optimizer`): per-member data in a population. Left out:
restarts (SGDR), one-cycle schedules, and schedules of anything but the learning rate.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import jax.numpy as jnp

from ._limits import int_in_range

KINDS = ("constant", "cosine", "warmup_cosine", "exponential")
LR_FINAL_DEFAULTS = {"cosine": 0.0, "warmup_cosine": 0.0, "exponential": 0.01}
# The hyperparameters a kind keeps in the optimizer's state, besides the learning rate.
VALUES = {
    "constant": (),
    "cosine": ("lr_final", "schedule_steps"),
    "warmup_cosine": ("lr_final", "warmup_steps", "schedule_steps"),
    "exponential": ("lr_final", "schedule_steps"),
}


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule: its kind and values (see the module docstring's table).

    Args:
      kind: one of :data:`KINDS`.
      lr_final: the learning rate's factor at the last step; None for the kind's default
        (:data:`LR_FINAL_DEFAULTS`). In ``[0, 1]``; above 0 for ``exponential``.
      warmup_steps: with ``warmup_cosine`` only: the steps of the linear warmup from 0, at
        least 1 (and fewer than the run's steps, checked when the run is known).
    """

    kind: str = "constant"
    lr_final: float | None = None
    warmup_steps: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"lr_schedule must be one of {', '.join(KINDS)}; got {self.kind!r}")
        if self.kind == "constant" and self.lr_final is not None:
            raise ValueError("lr_final goes with a decaying lr_schedule; this one is 'constant'")
        final = LR_FINAL_DEFAULTS.get(self.kind) if self.lr_final is None else self.lr_final
        if final is not None:
            object.__setattr__(self, "lr_final", _fraction(final, self.kind))
        warmup = self.warmup_steps
        int_in_range(warmup, "warmup_steps", 0)
        if (self.kind == "warmup_cosine") != (warmup > 0):
            raise ValueError(
                "warmup_steps (at least 1) goes with lr_schedule 'warmup_cosine' and only with "
                f"it; got warmup_steps={warmup} with {self.kind!r}"
            )
        object.__setattr__(self, "warmup_steps", int(warmup))

    def values(self, steps: int) -> dict:
        """The hyperparameters of this schedule over a run of ``steps`` (see :data:`VALUES`).

        Raises:
          ValueError: the warmup does not end before the run does.
        """
        if self.warmup_steps >= steps:
            raise ValueError(
                f"warmup_steps must be fewer than the run's {steps} steps; got {self.warmup_steps}"
            )
        given = {
            "lr_final": self.lr_final,
            "warmup_steps": float(self.warmup_steps),
            "schedule_steps": float(steps),
        }
        return {k: given[k] for k in VALUES[self.kind]}


def _fraction(value, kind: str) -> float:
    low_open = kind == "exponential"
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not (0 < value <= 1 if low_open else 0 <= value <= 1):
        bounds = "(0, 1]" if low_open else "[0, 1]"
        raise ValueError(
            f"lr_final must be a number in {bounds} for lr_schedule {kind!r} (the learning "
            f"rate's factor at the last step); got {value!r}"
        )
    return float(value)


def schedule_of(value) -> Schedule:
    """``value`` as a :class:`Schedule`: a Schedule, a kind's name, or None (``constant``)."""
    if value is None:
        return Schedule()
    if isinstance(value, str):
        return Schedule(value)
    if isinstance(value, Schedule):
        return value
    raise TypeError(
        f"lr_schedule must be a name ({', '.join(KINDS)}) or a jaxnet.schedules.Schedule; "
        f"got {type(value).__name__}"
    )


def _cosine(t, steps, lr_final):
    t = jnp.minimum(t, steps)
    return lr_final + (1.0 - lr_final) * 0.5 * (1.0 + jnp.cos(jnp.pi * t / steps))


def factor(kind: str, count, lr_final=None, warmup_steps=None, schedule_steps=None):
    """The learning rate's factor after ``count`` updates (traced values welcome).

    Args:
      kind: one of :data:`KINDS` (static); count: int scalar, the updates so far; the rest:
        the kind's values (:meth:`Schedule.values`), scalars.

    Returns:
      A float scalar (``1.0`` for ``constant``).
    """
    if kind == "constant":
        return 1.0
    t = jnp.asarray(count, jnp.result_type(lr_final))
    if kind == "cosine":
        return _cosine(t, schedule_steps, lr_final)
    if kind == "exponential":
        return jnp.where(t <= 0, 1.0, lr_final ** (t / schedule_steps))
    warm = jnp.maximum(warmup_steps, 1.0)  # the where below never takes t / W at W = 0
    decay = _cosine(t - warmup_steps, schedule_steps - warmup_steps, lr_final)
    return jnp.where(t < warmup_steps, t / warm, decay)
