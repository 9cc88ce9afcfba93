"""``.npz`` files (``numpy.savez``) of arrays ``x`` and ``y``, read as a :class:`Dataset`.

Read without pickle: object arrays are refused, never unpickled. Labels and the task follow the
CSV reader's rules (:mod:`jaxnet.data.labels`).

Left out: writing them, and any array names but ``x`` and ``y``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .._reading import listing, read_regular
from .dataset import TASKS, Dataset
from .labels import class_indices, numeric_target

NPZ_MAX_BYTES = 2 * 2**30  # the largest .npz file read (it is read into memory, then parsed)


def npz_bytes(path) -> bytes:
    """The bytes of an ``.npz`` file: a regular file of at most :data:`NPZ_MAX_BYTES`.

    Raises:
      ValueError: naming the file: not a regular file, or larger than the limit.
      OSError: the file cannot be opened.
    """
    return read_regular(path, NPZ_MAX_BYTES, "NPZ file", "jaxnet.data.NPZ_MAX_BYTES")


def _npz_arrays(content: bytes, path) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ``x`` and ``y`` of an ``.npz`` file's bytes, read without pickle."""
    try:
        loaded = np.load(io.BytesIO(content), allow_pickle=False)
    except (OSError, EOFError, ValueError):  # numpy takes other bytes for a pickle: refused
        raise ValueError(f"{path} is not an .npz file (numpy.savez) of arrays x and y") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds one .npy array; expected an .npz file with arrays x and y")
    with loaded:
        missing = [k for k in ("x", "y") if k not in loaded.files]
        if missing:
            raise ValueError(
                f"{path} lacks array(s) {', '.join(missing)}; it has {listing(loaded.files)}"
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
      path: the file (a regular file of at most :data:`NPZ_MAX_BYTES`); x: ``(n, features)``
        numbers; y: ``(n,)`` numbers or text labels.
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
    return parse_npz(npz_bytes(path), path, task)


def parse_npz(content: bytes, path, task: str | None = None) -> Dataset:
    """:func:`read_npz` of an ``.npz`` file's bytes, read before (:func:`npz_bytes`).

    Args:
      content: the file's bytes; path: the file, for messages and the dataset's name;
      task: as for :func:`read_npz`.
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)} or None; got {task!r}")
    x, y = _npz_arrays(content, path)
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
    return Dataset(Path(path).stem, x, y, task, names, "y", classes, path=str(path))
