"""Train, validation and test splits: shuffled, seeded, stratified by class.

Left out: cross-validation folds (scikit-learn's, through ``jaxnet.estimators``) and
minibatching (``jaxnet.train`` draws batches inside the compiled loop).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._limits import int_in_range
from .dataset import Dataset


def _fractions(fractions) -> np.ndarray:
    f = np.asarray(fractions, dtype=np.float64)
    if f.ndim != 1 or f.size == 0 or np.any(f <= 0) or not math.isclose(f.sum(), 1.0):
        raise ValueError(
            f"fractions must be positive and sum to 1, like (0.75, 0.25); got {fractions!r}"
        )
    return f


def _strata(y, stratify: bool) -> list[np.ndarray]:
    """Row indices grouped by class (one group of all rows when not stratifying)."""
    y = np.asarray(y)
    if not stratify:
        return [np.arange(len(y))]
    if y.ndim != 1 or y.dtype.kind not in "biu":
        raise ValueError(
            f"stratify=True needs integer class labels of shape (n,); got {y.dtype} {y.shape} "
            "(pass stratify=False for regression targets)"
        )
    return [np.flatnonzero(y == c) for c in np.unique(y)]


def split_indices(y, fractions, seed: int = 0, stratify: bool = True) -> tuple[np.ndarray, ...]:
    """Disjoint shuffled row indices, one array per fraction, covering every row.

    Each class is cut in the given proportions (rounded), so every part holds the classes in
    about the same ratio as the whole.

    Args:
      y: ``(n,)`` integer class labels (or any ``(n, ...)`` targets with ``stratify=False``).
      fractions: positive fractions summing to 1, e.g. ``(0.75, 0.25)``.
      seed: seed of ``np.random.default_rng``.
      stratify: cut each class separately.

    Returns:
      One int64 index array per fraction; their union is ``range(n)``.
    """
    f = _fractions(fractions)
    rng = np.random.default_rng(seed)
    parts = [[] for _ in f]
    for group in _strata(y, stratify):
        group = rng.permutation(group)
        cuts = np.round(np.cumsum(f)[:-1] * len(group)).astype(int)
        for part, piece in zip(parts, np.split(group, cuts), strict=True):
            part.append(piece)
    out = tuple(rng.permutation(np.concatenate(p)).astype(np.int64) for p in parts)
    if any(len(p) == 0 for p in out):
        shares = ", ".join(f"{v:g}" for v in f)
        raise ValueError(f"fractions {shares} of {len(np.asarray(y))} rows leave a part empty")
    return out


def split(x, y, fractions, seed: int = 0, stratify: bool = True) -> tuple[tuple, ...]:
    """Rows of ``x`` and ``y`` cut into disjoint parts (see :func:`split_indices`).

    Returns:
      One ``(x_part, y_part)`` pair per fraction.
    """
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same number of rows; got {len(x)} and {len(y)}")
    return tuple((x[i], y[i]) for i in split_indices(y, fractions, seed, stratify))


def _dataset_of(data) -> Dataset:
    """``data`` as a :class:`Dataset`: itself, or an ``(x, y)`` pair made into one."""
    if isinstance(data, Dataset):
        return data
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        got = type(data).__name__
        if isinstance(data, (tuple, list)):
            got += f" of {len(data)} items"
        raise TypeError(
            f"dataset must be a jaxnet.data.Dataset or an (x, y) pair of arrays; got {got}"
        )
        raise TypeError(
            "dataset must be a jaxnet.data.Dataset or an (x, y) pair of arrays; got " + got
        )
    dataset = Dataset.from_arrays(*data)
    if dataset.classes is not None and dataset.classes != tuple(range(len(dataset.classes))):
        shown = ", ".join(map(repr, dataset.classes[:4])) + (
            ", ..." if len(dataset.classes) > 4 else ""
        )
        raise ValueError(
            f"partition((x, y)) got class labels {shown}, not indices 0..k-1: they would become "
            "indices and their names be lost; make jn.data.Dataset.from_arrays(x, y) and "
            "partition that (its classes and labels_of(y) map indices back)"
        )
    return dataset


def _fraction(value, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{argument} must be a number in [0, 1); got {value!r}")
    return float(value)


def partition(dataset, val_fraction: float, test_fraction: float, seed: int = 0) -> dict:
    """Train, validation and test sets of a dataset, stratified for classification.

    The test set is cut first (or is the dataset's own ``test``), then the validation set is
    cut from what is left, so the test set does not depend on ``val_fraction``.

    Args:
      dataset: a :class:`Dataset`, or your own ``(x, y)`` arrays: ``x`` ``(n, features)``
        numbers, ``y`` ``(n,)`` class indices ``0..k-1`` (integers) or float targets, made
        into one by :meth:`Dataset.from_arrays` (labels of other kinds, such as text, need
        that call, which keeps their names).
      val_fraction: share of the non-test rows held out for validation; 0 for none.
      test_fraction: share of all rows held out for testing; 0 for none; ignored when the
        dataset has its own test set.
      seed: seed of the cuts.

    Returns:
      ``{"train": (x, y), "validation": (x, y), "test": (x, y)}``, without the parts whose
      fraction is 0.

    Raises:
      TypeError, ValueError: one line naming the argument, before anything is cut.
    """
    val_fraction = _fraction(val_fraction, "val_fraction")
    test_fraction = _fraction(test_fraction, "test_fraction")
    int_in_range(seed, "seed", 0)
    dataset = _dataset_of(dataset)
    stratify = dataset.task == "classification"
    rest, parts = (dataset.x, dataset.y), {"test": dataset.test}
    if dataset.test is None and test_fraction > 0:
        rest, parts["test"] = _cut(rest, test_fraction, "test_fraction", "test", seed, stratify)
    if val_fraction > 0:
        rest, parts["validation"] = _cut(
            rest, val_fraction, "val_fraction", "validation", seed, stratify
        )
    ordered = {"train": rest, "validation": parts.get("validation"), "test": parts["test"]}
    return {k: v for k, v in ordered.items() if v is not None}


def _cut(rest: tuple, fraction: float, argument: str, part: str, seed: int, stratify: bool):
    """``(rest, part)``: ``split`` of ``rest`` by ``fraction``, or a ValueError naming the
    argument, its value and how many rows there were to cut."""
    try:
        return split(*rest, (1 - fraction, fraction), seed, stratify)
    except ValueError:
        per_class = " (in every class)" if stratify else ""
        raise ValueError(
            f"{argument} {fraction:g} of {len(rest[1])} rows leaves the {part} set or the rows "
            f"left empty{per_class}: give more rows, or a {argument} of 0 for no {part} set"
        ) from None
