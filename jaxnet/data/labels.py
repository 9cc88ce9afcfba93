"""Class labels: from a target column to class indices, and between indices and one-hot rows.

:func:`infer_task` decides whether numeric targets are class labels
(:data:`CSV_MAX_CLASSES`), :func:`class_indices` and :func:`numeric_target` turn targets into
``(y, classes, task)`` for the file readers; :func:`one_hot` and :func:`class_of` convert
between labels and the rows a network takes or gives.

Left out: multi-label targets, label smoothing.
"""

from __future__ import annotations

import numpy as np

CSV_MAX_CLASSES = 20  # an integer-valued CSV target with at most this many values is a class label


def class_indices(values) -> tuple[np.ndarray, tuple]:
    """Labels of any kind (ints, text, bools) as class indices.

    Args:
      values: ``(n,)`` labels.

    Returns:
      ``(labels, classes)``: ``(n,)`` int64 indices into ``classes``, the sorted distinct
      original labels as Python values.
    """
    classes, labels = np.unique(np.asarray(values), return_inverse=True)
    return labels.astype(np.int64), tuple(v.item() for v in classes)


def infer_task(values: np.ndarray) -> str:
    """``"classification"`` for integer-valued targets with at most :data:`CSV_MAX_CLASSES`
    distinct values, else ``"regression"``.

    Args:
      values: ``(n,)`` finite float64 targets.
    """
    integral = np.all(values == np.round(values))
    few = len(np.unique(values)) <= CSV_MAX_CLASSES
    return "classification" if integral and few else "regression"


def numeric_target(values: np.ndarray, task: str | None) -> tuple[np.ndarray, tuple | None, str]:
    """A file's numeric target column as ``Dataset`` fields, the same for every reader.

    Args:
      values: ``(n,)`` finite float64 targets.
      task: ``"classification"``, ``"regression"`` or None to infer (:func:`infer_task`).

    Returns:
      ``(y, classes, task)``: for regression ``values`` and None; for classification
      :func:`class_indices` of the values (ints when they are integral).
    """
    task = task or infer_task(values)
    if task == "regression":
        return values, None, task
    if np.all(values == np.round(values)):
        values = values.astype(np.int64)  # labels 3, 5 rather than 3.0, 5.0
    return (*class_indices(values), task)


def _text_or_numbers(values: np.ndarray) -> np.ndarray:
    """An object array of labels as a string or number array; refused when kinds are mixed."""
    items = values.tolist()
    missing = [i for i, v in enumerate(items) if v is None]
    if missing:
        raise ValueError(f"y must hold a label in every row; got None at index {missing[0]}")
    if all(isinstance(v, str) for v in items):
        return np.asarray(items, dtype=str)
    if all(isinstance(v, (bool, np.bool_)) for v in items):
        return np.asarray(items, dtype=bool)
    if all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in items):
        return np.asarray(items, dtype=np.float64)
    kinds = sorted({type(v).__name__ for v in items})
    raise TypeError(f"y must hold labels of one kind (text or numbers); got {', '.join(kinds)}")


def array_target(y: np.ndarray, task: str | None) -> tuple[np.ndarray, tuple | None, str]:
    """An in-memory target array as ``Dataset`` fields: ``(y, classes, task)``.

    An array's dtype says what it holds, which a file's text column cannot: text, booleans
    and integers are class labels, floats a regression target (even when integral, like the
    tutorial's scores 92.0, 86.0), unless ``task`` says otherwise.

    Args:
      y: ``(n,)`` labels or targets of any NumPy dtype but complex.
      task: ``"classification"``, ``"regression"`` or None to infer.

    Returns:
      ``(y, classes, task)``: class indices and the sorted original labels, or float64
      targets and None.
    """
    if y.dtype.kind == "O":
        y = _text_or_numbers(y)
    if y.dtype.kind == "S":  # bytes: text labels, kept as str (what a saved model can hold)
        try:
            y = np.char.decode(y, "utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"y holds bytes labels that are not UTF-8 text: {e}") from None
    if y.dtype.kind in "USb" or (y.dtype.kind in "iu" and task != "regression"):
        if task == "regression":
            raise ValueError(f"task='regression' needs numeric targets; y holds {y.dtype} labels")
        return (*class_indices(y), "classification")
    if y.dtype.kind not in "iuf":
        raise TypeError(f"y must hold numbers or text labels; got dtype {y.dtype}")
    y = y.astype(np.float64)
    if not np.all(np.isfinite(y)):
        where = int(np.flatnonzero(~np.isfinite(y))[0])
        raise ValueError(f"y must be finite; got {y[where]} at index {where}")
    return numeric_target(y, task or "regression")


def one_hot(labels, n_classes: int) -> np.ndarray:
    """``(n,)`` integer labels in ``[0, n_classes)`` -> ``(n, n_classes)`` float64 rows."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "biu" or labels.ndim != 1:
        raise ValueError(f"labels must be a 1-D integer array; got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"labels must lie in [0, {n_classes - 1}]; got {labels.min()}..{labels.max()}"
        )
    return np.eye(n_classes)[labels]


def class_of(scores) -> np.ndarray:
    """``(n, n_classes)`` one-hot rows, probabilities or logits -> ``(n,)`` int64 labels."""
    return np.asarray(scores).argmax(axis=-1).astype(np.int64)
