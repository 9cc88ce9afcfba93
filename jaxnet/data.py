"""Datasets, scaling, splits and batches: NumPy on the host, before anything is compiled.

A :class:`Scaler` is fitted on training data only and travels with the model, so new data is
scaled at predict time exactly as the training data was (the tutorial's bug was to scale a
new student by their own maximum). Left out: augmentation, streaming datasets that do not fit
in memory, and anything that downloads.
"""

from __future__ import annotations

import dataclasses

import numpy as np

SCALER_KINDS = ("max", "minmax", "standard")


@dataclasses.dataclass(frozen=True)
class Scaler:
    """An affine per-column scaling ``(x - offset) / scale``.

    Kinds: ``"max"`` divides by the column's largest absolute value (the tutorial's
    ``X / np.amax(X, axis=0)``), ``"minmax"`` maps the training range to [0, 1], ``"standard"``
    subtracts the mean and divides by the standard deviation. Constant columns get scale 1.

    Attributes:
      kind: one of :data:`SCALER_KINDS`.
      offset, scale: ``(features,)`` float64 arrays.
    """

    kind: str
    offset: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x, kind: str = "standard") -> Scaler:
        """Fit on training rows ``x`` of shape ``(n, features)`` (or ``(n,)`` for one column)."""
        if kind not in SCALER_KINDS:
            raise ValueError(f"kind must be one of {', '.join(SCALER_KINDS)}; got {kind!r}")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim not in (1, 2) or x.shape[0] == 0:
            raise ValueError(f"x must be a non-empty (n, features) array; got shape {x.shape}")
        if kind == "max":
            offset, scale = np.zeros(x.shape[1:]), np.abs(x).max(axis=0)
        elif kind == "minmax":
            offset, scale = x.min(axis=0), x.max(axis=0) - x.min(axis=0)
        else:
            offset, scale = x.mean(axis=0), x.std(axis=0)
        return cls(kind, np.asarray(offset, float), np.where(scale > 0, scale, 1.0))

    def transform(self, x) -> np.ndarray:
        """Scale ``x`` of shape ``(..., features)``; checks the feature count."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1:] != self.scale.shape[-1:]:
            raise ValueError(
                f"x must have {self.scale.shape[-1] if self.scale.ndim else 1} features "
                f"(the scaler's); got shape {x.shape}"
            )
        return (x - self.offset) / self.scale

    def inverse(self, x) -> np.ndarray:
        """Undo :meth:`transform`: back to the original units."""
        return np.asarray(x, dtype=np.float64) * self.scale + self.offset
