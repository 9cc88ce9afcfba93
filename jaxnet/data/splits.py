"""Train, validation and test splits: shuffled, seeded, stratified by class.

Left out: cross-validation folds (scikit-learn's, through ``jaxnet.estimators``) and
minibatching (``jaxnet.train`` draws batches inside the compiled loop).
"""

from __future__ import annotations

import math

import numpy as np

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


def partition(dataset: Dataset, val_fraction: float, test_fraction: float, seed: int = 0) -> dict:
    """Train, validation and test sets of a dataset, stratified for classification.

    The test set is cut first (or is the dataset's own ``test``), then the validation set is
    cut from what is left, so the test set does not depend on ``val_fraction``.

    Args:
      dataset: the :class:`Dataset`.
      val_fraction: share of the non-test rows held out for validation; 0 for none.
      test_fraction: share of all rows held out for testing; 0 for none; ignored when the
        dataset has its own test set.
      seed: seed of the cuts.

    Returns:
      ``{"train": (x, y), "validation": (x, y), "test": (x, y)}``, without the parts whose
      fraction is 0.
    """
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
