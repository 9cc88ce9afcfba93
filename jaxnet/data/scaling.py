"""Per-column affine scaling of inputs and targets: the :class:`Scaler`.

A :class:`Scaler` is fitted on training data only and travels with the model, so new data is
scaled at predict time exactly as the training data was (the tutorial's bug was to scale a
new student by their own maximum). It is a plain frozen record, saved as JSON by
:meth:`Scaler.to_dict`.

Left out: non-affine transforms (logs, quantiles), scaling inside a compiled program.
"""

from __future__ import annotations

import dataclasses

import numpy as np

SCALER_KINDS = ("max", "minmax", "standard")


def _frozen_float_array(value, argument: str) -> np.ndarray:
    arr = np.array(value, dtype=np.float64)  # a copy, so the caller's array cannot change it
    if arr.ndim > 1 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{argument} must be a finite scalar or 1-D array; got {value!r}")
    arr.flags.writeable = False
    return arr


@dataclasses.dataclass(frozen=True, eq=False)
class Scaler:
    """An affine per-column scaling ``(x - offset) / scale``.

    Kinds: ``"max"`` divides by the column's largest absolute value (the tutorial's
    ``X / np.amax(X, axis=0)``), ``"minmax"`` maps the training range to [0, 1], ``"standard"``
    subtracts the mean and divides by the standard deviation. Constant columns get scale 1.
    A fixed scaling can be written directly, e.g. ``Scaler("max", 0.0, 100.0)`` for scores
    out of 100.

    Attributes:
      kind: one of :data:`SCALER_KINDS`.
      offset, scale: read-only float64 arrays, ``(features,)`` when fitted on ``(n, features)``
        rows, or ``()`` when fitted on a 1-D column (then any shape can be transformed).
    """

    kind: str
    offset: np.ndarray
    scale: np.ndarray

    def __post_init__(self):
        if self.kind not in SCALER_KINDS:
            raise ValueError(f"kind must be one of {', '.join(SCALER_KINDS)}; got {self.kind!r}")
        offset = _frozen_float_array(self.offset, "offset")
        scale = _frozen_float_array(self.scale, "scale")
        if offset.shape != scale.shape:
            raise ValueError(
                f"offset and scale must have one shape; got {offset.shape}, {scale.shape}"
            )
        if np.any(scale <= 0):
            raise ValueError(f"scale must be positive; got {scale.tolist()}")
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "scale", scale)

    @classmethod
    def fit(cls, x, kind: str = "standard") -> Scaler:
        """Fit on training rows.

        Args:
          x: ``(n, features)`` rows, or ``(n,)`` values of one column; finite, n >= 1.
          kind: one of :data:`SCALER_KINDS`.

        Returns:
          A :class:`Scaler` with ``(features,)`` (or ``()``) offset and scale.
        """
        if kind not in SCALER_KINDS:
            raise ValueError(f"kind must be one of {', '.join(SCALER_KINDS)}; got {kind!r}")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim not in (1, 2) or 0 in x.shape:
            raise ValueError(
                f"x must be a non-empty (n, features) or (n,) array; got shape {x.shape}"
            )
        if not np.all(np.isfinite(x)):
            raise ValueError("x must be finite to fit a scaler; it holds NaN or infinity")
        offset, scale = _FITS[kind](x)
        return cls(kind, offset, np.where(scale > 0, scale, 1.0))

    def _check(self, x, method: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.scale.ndim and x.shape[-1:] != self.scale.shape:
            raise ValueError(
                f"{method}: x must have {self.scale.shape[0]} features (the scaler's) in its last "
                f"axis; got shape {x.shape}"
            )
        return x

    def transform(self, x) -> np.ndarray:
        """Scale ``x`` of shape ``(..., features)`` (any shape for a 1-D scaler)."""
        return (self._check(x, "transform") - self.offset) / self.scale

    def inverse(self, x) -> np.ndarray:
        """Undo :meth:`transform`: back to the original units."""
        return self._check(x, "inverse") * self.scale + self.offset

    def __repr__(self) -> str:
        if self.offset.size > 4:  # a fitted table's columns: counted, not printed
            return f"Scaler(kind={self.kind!r}, {self.offset.size} columns)"
        offset, scale = (np.round(a, 6).tolist() for a in (self.offset, self.scale))
        return f"Scaler(kind={self.kind!r}, offset={offset}, scale={scale})"

    def to_dict(self) -> dict:
        """A JSON-ready dict; floats survive ``json`` exactly (shortest round-trip repr)."""
        return {"kind": self.kind, "offset": self.offset.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d) -> Scaler:
        """Rebuild from :meth:`to_dict`'s output; ValueError if it is malformed."""
        if not isinstance(d, dict) or set(d) != {"kind", "offset", "scale"}:
            raise ValueError(f"a scaler must be a dict with keys kind, offset, scale; got {d!r}")
        try:
            return cls(d["kind"], d["offset"], d["scale"])
        except TypeError as e:  # e.g. a string where numbers belong
            raise ValueError(f"bad scaler {d!r}: {e}") from e


def _fit_max(x):
    return np.zeros(x.shape[1:]), np.abs(x).max(axis=0)


def _fit_minmax(x):
    return x.min(axis=0), x.max(axis=0) - x.min(axis=0)


def _fit_standard(x):
    return x.mean(axis=0), x.std(axis=0)


_FITS = {"max": _fit_max, "minmax": _fit_minmax, "standard": _fit_standard}


def check_scaled(dataset, scaler: Scaler | None, target_scaler: Scaler | None, dtype) -> None:
    """Refuse data that training could not hold: a value that, scaled as training scales it,
    lies beyond ``dtype``'s range (``1e39`` unscaled, in float32, would become ``inf``).

    Checked on the whole dataset in its file's order (not on a shuffled split), so the
    message names the first such cell by its file, line and column.

    Args:
      dataset: the :class:`~jaxnet.data.Dataset`; scaler: of its inputs, or None;
      target_scaler: of a regression target, or None; dtype: what training computes in.

    Raises:
      ValueError: naming the cell, its value (and its scaled value) and the limit.
    """
    dtype = np.dtype(dtype)
    x = dataset.x if scaler is None else scaler.transform(dataset.x)
    _check_columns(dataset, dataset.x, x, dataset.feature_names, dtype)
    if dataset.task == "regression":
        y = dataset.y if target_scaler is None else target_scaler.transform(dataset.y)
        _check_columns(
            dataset, dataset.y[:, None], np.reshape(y, (-1, 1)), [dataset.target_name], dtype
        )


def _check_columns(dataset, given, scaled, names, dtype) -> None:
    with np.errstate(over="ignore", invalid="ignore"):
        bad = ~np.isfinite(np.asarray(scaled, np.float64).astype(dtype))
    if not bad.any():
        return
    row, column = (int(i) for i in np.argwhere(bad)[0])
    value, became = given[row, column], scaled[row, column]
    note = "" if value == became else f" (scaled: {became:g})"
    raise ValueError(
        f"{dataset.locate(row, names[column])}: {value:g}{note} is beyond the range of "
        f"{dtype.name} (largest {float(np.finfo(dtype).max):.4g}), the dtype training computes "
        "in; scale the column (a standard scaler) or fix the cell"
    )
