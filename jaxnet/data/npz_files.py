"""``.npz`` files (``numpy.savez``) of arrays ``x`` and ``y``, read as a :class:`Dataset`.

Read without pickle: object arrays are refused, never unpickled. Labels and the task follow the
CSV reader's rules (:mod:`jaxnet.data.labels`).

Left out: writing them, and any array names but ``x`` and ``y``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import TASKS, Dataset
from .labels import class_indices, numeric_target


def _npz_arrays(path) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ``x`` and ``y`` of an ``.npz`` file, read without pickle."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except OSError as e:
        raise type(e)(f"cannot read {path}: {e.strerror or e}") from e
    except ValueError:  # numpy takes any other bytes for a pickle, which it may not load
        raise ValueError(f"{path} is not an .npz file (numpy.savez) of arrays x and y") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds one .npy array; expected an .npz file with arrays x and y")
    with loaded:
        missing = [k for k in ("x", "y") if k not in loaded.files]
        if missing:
            raise ValueError(
                f"{path} lacks array(s) {', '.join(missing)}; it has {', '.join(loaded.files)}"
            )
        try:
            return loaded["x"], loaded["y"]
        except ValueError as e:  # object arrays: loading them would unpickle
            raise ValueError(f"{path}: x and y must be plain numeric arrays ({e})") from None


def _npz_target(path, y: np.ndarray, task: str | None):
    """``(y, classes, task)`` from an ``.npz`` file's ``y``, with the CSV reader's rules."""
    if y.dtype.kind in "US" or y.dtype == bool:
        if task == "regression":
            raise ValueError(f"{path}: y holds {y.dtype} labels; regression needs numbers")
        return (*class_indices(y), "classification")
    if y.dtype.kind not in "iuf":
        raise ValueError(f"{path}: y must hold numbers or text labels; got dtype {y.dtype}")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{path}: y holds non-finite values (NaN or inf)")
    return numeric_target(y.astype(np.float64), task)


def read_npz(path, task: str | None = None) -> Dataset:
    """An ``.npz`` file (``numpy.savez``) holding ``x`` and ``y`` as a :class:`Dataset`.

    Read with ``allow_pickle=False``: object arrays are refused, never unpickled. Labels and
    the task follow the same rules as :func:`~jaxnet.data.read_csv`.

    Args:
      path: the file; x: ``(n, features)`` numbers; y: ``(n,)`` numbers or text labels.
      task: ``"classification"``, ``"regression"`` or None to infer as
        :func:`~jaxnet.data.read_csv` does.

    Returns:
      The :class:`Dataset`, features named ``x0, x1, ...``.

    Raises:
      ValueError: naming the file and what is wrong (not an .npz, a missing array, wrong
        shapes, non-numeric or non-finite values, a single class).
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)} or None; got {task!r}")
    x, y = _npz_arrays(path)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0 or x.dtype.kind not in "biuf":
        raise ValueError(
            f"{path}: x must be a numeric (rows, features) array with at least one of each; "
            f"got shape {x.shape} dtype {x.dtype}"
        )
    if y.shape != x.shape[:1]:
        raise ValueError(f"{path}: y must have shape ({x.shape[0]},) to match x; got {y.shape}")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{path}: x holds non-finite values (NaN or inf)")
    y, classes, task = _npz_target(path, y, task)
    if task == "classification" and len(classes) < 2:
        raise ValueError(f"{path}: y has a single value {classes[0]!r}; need two classes")
    names = tuple(f"x{i}" for i in range(x.shape[1]))
    return Dataset(Path(path).stem, x, y, task, names, "y", classes)
