"""The :class:`Dataset` record: a table of examples with its task and its names.

Every reader and built-in dataset of :mod:`jaxnet.data` returns one; nothing here reads or
builds data.
"""

from __future__ import annotations

import dataclasses

import numpy as np

TASKS = ("classification", "regression")


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A table of examples.

    Attributes:
      name: short name, e.g. ``"digits"`` or a CSV file's stem.
      x: ``(n, features)`` float64 inputs.
      y: ``(n,)`` int64 class indices in ``[0, n_classes)`` for classification, or ``(n,)``
        float64 targets for regression.
      task: ``"classification"`` or ``"regression"``.
      feature_names: one name per column of ``x``.
      target_name: name of what ``y`` holds.
      classes: for classification, the original label of each class index (ints or strings);
        None for regression.
      test: a predefined ``(x_test, y_test)`` held-out set (MNIST-1D's), or None.
      path: the file the rows were read from, or None (built in).
      lines: ``(n,)`` the line of that file each row came from (a CSV file), or None.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    task: str
    feature_names: tuple[str, ...]
    target_name: str = "y"
    classes: tuple | None = None
    test: tuple[np.ndarray, np.ndarray] | None = None
    path: str | None = None
    lines: np.ndarray | None = None

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}; got {self.task!r}")
        if self.x.ndim != 2 or self.y.shape != self.x.shape[:1]:
            raise ValueError(
                f"x must be (n, features) and y (n,); got {self.x.shape}, {self.y.shape}"
            )
        if len(self.feature_names) != self.x.shape[1]:
            raise ValueError(
                f"{len(self.feature_names)} feature names for {self.x.shape[1]} columns"
            )
        if (self.task == "classification") != (self.classes is not None):
            raise ValueError("classes must be given for classification and only for it")

    @property
    def n_classes(self) -> int | None:
        """Number of classes, or None for regression."""
        return None if self.classes is None else len(self.classes)

    def locate(self, row: int, column: str) -> str:
        """Where a value of row ``row`` (in ``x``'s order) and column ``column`` is, for a
        message: ``data.csv line 19, column 'a'`` for a CSV file, else its row."""
        if self.lines is not None:
            return f"{self.path} line {int(self.lines[row])}, column {column!r}"
        return f"{self.path or self.name} row {row}, column {column!r}"
