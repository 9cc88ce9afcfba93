"""The :class:`Dataset` record: a table of examples with its task and its names.

Every reader and built-in dataset of :mod:`jaxnet.data` returns one, and
:meth:`Dataset.from_arrays` makes one of a user's own arrays; nothing here reads files or
builds data.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .labels import array_target

TASKS = ("classification", "regression")


def _features(x) -> np.ndarray:
    """``x`` as a finite float64 ``(n, features)`` array, refused in one line otherwise."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"x must be an (n, features) array of numbers; got a string {x!r}")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as e:  # ragged nested lists
        raise TypeError(f"x must be a rectangular (n, features) array of numbers; {e}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"x must be an (n, features) array of numbers; got dtype {arr.dtype}")
    if arr.ndim != 2 or 0 in arr.shape:
        hint = "; one feature per row is x[:, None]" if arr.ndim == 1 else ""
        raise ValueError(
            f"x must be an (n, features) array with at least one of each; got shape "
            f"{arr.shape}{hint}"
        )
    with np.errstate(over="ignore"):
        arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"x must be finite; got {arr[where]} at index {where}")
    return arr


def _target(y, n: int) -> np.ndarray:
    """``y`` as an ``(n,)`` array (an ``(n, 1)`` column is flattened)."""
    if isinstance(y, (str, bytes)):
        raise TypeError(f"y must be an (n,) array of labels or targets; got a string {y!r}")
    try:
        arr = np.asarray(y)
    except (TypeError, ValueError) as e:
        raise TypeError(f"y must be an (n,) array of labels or targets; {e}") from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match x's {n} rows; got {arr.shape}")
    return arr


def _names(names, n: int, argument: str) -> tuple[str, ...]:
    if isinstance(names, str) or not hasattr(names, "__len__"):
        raise TypeError(f"{argument} must be a sequence of {n} strings; got {names!r}")
    names = tuple(names)
    if len(names) != n or not all(isinstance(v, str) for v in names):
        raise ValueError(f"{argument} must be {n} strings, one per column of x; got {names!r}")
    return names


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

    def __repr__(self) -> str:
        kind = self.task if self.classes is None else f"{len(self.classes)} classes"
        test = f", test {len(self.test[0])} rows" if self.test is not None else ""
        return (
            f"Dataset({self.name!r}: {self.x.shape[0]} rows x {self.x.shape[1]} features, "
            f"{kind}, target {self.target_name!r}{test})"
        )

    def labels_of(self, y) -> np.ndarray:
        """The original labels of class indices: what a model saved with ``labels=classes``
        predicts, so ``model.predict(x) == dataset.labels_of(y)`` compares like with like.

        Args:
          y: ``(n,)`` (or scalar) int class indices in ``[0, n_classes)``, e.g. a part of
            :func:`~jaxnet.data.partition`.

        Returns:
          ``(n,)`` array of labels from :attr:`classes` (strings stay strings).

        Raises:
          ValueError: for a regression dataset, or indices out of range; TypeError for
            indices that are not integers.
        """
        if self.classes is None:
            raise ValueError(
                f"labels_of needs a classification dataset; {self.name!r} is regression"
            )
        idx = np.asarray(y)
        if idx.dtype.kind not in "biu":
            raise TypeError(f"y must hold integer class indices; got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= len(self.classes)):
            raise ValueError(
                f"y must hold class indices in [0, {len(self.classes) - 1}]; got values from "
                f"{idx.min()} to {idx.max()}"
            )
        return np.asarray(self.classes)[idx.astype(np.int64)]

    @classmethod
    def from_arrays(
        cls, x, y, *, task=None, feature_names=None, target_name=None, name="arrays"
    ) -> Dataset:
        """A dataset of your own arrays (NumPy, lists, pandas), checked in one place.

        Class labels may be of any kind: text, booleans or numbers. They become class indices
        ``0..k-1`` in ``y`` (what :func:`jaxnet.fit` trains on), and :attr:`classes` keeps the
        original labels in sorted order (:meth:`labels_of` maps indices back).

        Args:
          x: ``(n, features)`` finite numbers; a pandas DataFrame's columns name the features.
          y: ``(n,)`` labels or targets (an ``(n, 1)`` column is flattened).
          task: ``"classification"``, ``"regression"`` or None to infer from ``y``'s dtype:
            text, booleans and integers are class labels, floats a regression target (a CSV
            column has no dtype, so :func:`~jaxnet.data.read_csv` guesses; an array says).
          feature_names: one string per column; default ``x0, x1, ...`` (or the DataFrame's).
          target_name: what ``y`` holds; default the pandas Series' name, else ``"y"``.
          name: the dataset's short name.

        Returns:
          A :class:`Dataset` with float64 ``x``.

        Raises:
          ValueError, TypeError: one line naming the argument, what was expected and what came.
        """
        if task is not None and task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)} or None; got {task!r}")
        if not isinstance(name, str):
            raise TypeError(f"name must be a string; got {name!r}")
        columns = getattr(x, "columns", None)
        series_name = getattr(y, "name", None)
        features = _features(x)
        values, classes, task = array_target(_target(y, len(features)), task)
        if feature_names is None:
            feature_names = (
                [str(c) for c in columns]
                if columns is not None
                else [f"x{i}" for i in range(features.shape[1])]
            )
        if target_name is None:
            target_name = series_name if isinstance(series_name, str) else "y"
        if not isinstance(target_name, str):
            raise TypeError(f"target_name must be a string; got {target_name!r}")
        names = _names(feature_names, features.shape[1], "feature_names")
        return cls(name, features, values, task, names, target_name, classes)
