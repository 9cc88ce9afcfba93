"""CSV files with a header row: read as a :class:`~jaxnet.data.Dataset` or as columns, and written.

:func:`read_csv` takes one column as the target and the rest as features, inferring the task
as :mod:`jaxnet.data.labels` says; :func:`csv_columns`, :func:`read_features` and
:func:`read_column` read parts of a file (e.g. the features of new rows to predict);
:func:`write_csv` writes a table atomically. Every error names the file, and the line and
column of a bad cell.

Left out: other delimiters and encodings than comma-separated UTF-8, files that do not fit in
memory.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from .. import _atomic
from .._reading import excerpt, listing, read_regular
from .dataset import TASKS, Dataset
from .labels import class_indices, numeric_target

CSV_MAX_BYTES = 512 * 2**20  # the largest CSV file read: its rows are parsed in memory


def csv_bytes(path) -> bytes:
    """The bytes of a CSV file: a regular file of at most :data:`CSV_MAX_BYTES`.

    Raises:
      ValueError: naming the file: a directory, device, FIFO or socket (``/dev/zero`` is
        refused unread), or a file larger than the limit.
      OSError: the file cannot be opened.
    """
    return read_regular(path, CSV_MAX_BYTES, "CSV file", "jaxnet.data.CSV_MAX_BYTES")


def _csv_table(path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-blank rows (with their line numbers) of a CSV file."""
    return _table_of(csv_bytes(path), path)


def _table_of(content: bytes, path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """:func:`_csv_table` of a CSV file's bytes (UTF-8, a byte-order mark allowed)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path} is not a UTF-8 text file (byte {e.start:,} is {content[e.start]:#04x})"
        ) from None
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except csv.Error as e:
        raise ValueError(f"{path} is not valid CSV: {e}") from None
    return _checked_table(path, header, rows)


def _checked_table(path, header, rows):
    if not header or not any(c.strip() for c in header):
        raise ValueError(f"{path} is empty; expected a header row of column names, then data rows")
    header = [c.strip() for c in header]
    if "" in header:
        raise ValueError(f"{path}: column {header.index('') + 1} of the header has no name")
    second = next((i for i, c in enumerate(header) if c in header[:i]), None)
    if second is not None:
        first = header.index(header[second])
        raise ValueError(
            f"{path}: column names must be distinct; {excerpt(header[second])} names columns "
            f"{first + 1} and {second + 1}"
        )
    if not rows:
        raise ValueError(f"{path} has a header but no data rows")
    for line, row in rows:
        if len(row) != len(header):
            raise ValueError(
                f"{path} line {line} has {len(row)} cells; the header has {len(header)}"
            )
    return header, rows


def _column(path, header: list[str], name: str) -> int:
    if name not in header:
        raise ValueError(f"{path} has no column {excerpt(name)}; its columns are {listing(header)}")
    return header.index(name)


def _parse_cell(cell: str) -> float | None:
    """The finite number a CSV cell holds, or None (text, empty, NaN or infinite)."""
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _numeric_columns(path, header, rows, columns: list[int]) -> np.ndarray:
    """``(n_rows, len(columns))`` float64; a ValueError naming the first bad cell."""
    out = np.empty((len(rows), len(columns)))
    for i, (line, row) in enumerate(rows):
        for j, c in enumerate(columns):
            value = _parse_cell(row[c])
            if value is None:
                raise ValueError(
                    f"{path} line {line}, column {excerpt(header[c])}: {excerpt(row[c])} is not "
                    "a finite number"
                )
            out[i, j] = value
    return out


def csv_lines(path) -> list[int]:
    """The line of a CSV file each data row is on (its last line, where a quoted cell spans
    lines; blank lines skipped), in the order :func:`read_features` returns its rows: to name
    a cell by line in a message."""
    return [line for line, _ in _csv_table(path)[1]]


def csv_columns(path) -> list[str]:
    """The column names in a CSV file's header row (checked like :func:`read_csv` does)."""
    return _csv_table(path)[0]


def read_features(path, names) -> np.ndarray:
    """The columns ``names`` of a CSV file with a header row, in that order.

    Args:
      path: the CSV file; other columns (a target, an id) are ignored.
      names: column names to read.

    Returns:
      ``(rows, len(names))`` float64.
    """
    header, rows = _csv_table(path)
    missing = [n for n in names if n not in header]
    if missing:
        raise ValueError(f"{path} lacks column(s) {listing(missing)}; it has {listing(header)}")
    return _numeric_columns(path, header, rows, [header.index(n) for n in names])


def read_column(path, name: str) -> list[str]:
    """The cells of column ``name`` of a CSV file with a header row, as text (ids, labels)."""
    header, rows = _csv_table(path)
    col = _column(path, header, name)
    return [row[col].strip() for _, row in rows]


def _format_cell(value) -> str:
    """Floats in their shortest exact form (``repr``), everything else as ``str``."""
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value.item() if isinstance(value, np.generic) else value)


def write_csv(target, header, rows) -> None:
    """Write a CSV table: to an open text file, or atomically to a path.

    Args:
      target: a path (written to a temporary file beside it, then renamed over it, so a
        reader never sees half a file) or an open text stream such as ``sys.stdout``.
      header: column names; rows: sequences of cells (floats keep every digit).
    """
    lines = [list(map(str, header)), *([_format_cell(v) for v in row] for row in rows)]
    if hasattr(target, "write"):
        csv.writer(target, lineterminator="\n").writerows(lines)
        return
    path = Path(target)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: no directory {path.parent}")

    def fill(f) -> None:
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        csv.writer(text, lineterminator="\n").writerows(lines)
        text.flush()
        text.detach()  # the binary file stays open for _atomic.write to sync and close

    _atomic.write(path, fill)


def _csv_target(path, name: str, cells: list[tuple[int, str]], task: str | None):
    """``(y, classes, task)`` from the target column's ``(line, cell)`` pairs."""
    numbers = [_parse_cell(c) for _, c in cells]
    if all(v is None for v in numbers) and task != "regression":
        labels, classes = class_indices([c.strip() for _, c in cells])  # text labels: "cat", "dog"
        return labels, classes, "classification"
    bad = next(((line, c) for (line, c), v in zip(cells, numbers, strict=True) if v is None), None)
    if bad is not None:
        raise ValueError(
            f"{path} line {bad[0]}, column {excerpt(name)}: {excerpt(bad[1])} is not a finite "
            "number"
        )
    return numeric_target(np.array(numbers), task)


def read_csv(path, target: str, task: str | None = None) -> Dataset:
    """A CSV file with a header row as a :class:`Dataset`: ``target`` is ``y``, the rest ``x``.

    Args:
      path: the file (UTF-8, comma-separated, first row = column names): a regular file of
        at most :data:`CSV_MAX_BYTES`.
      target: name of the column to predict.
      task: ``"classification"``, ``"regression"`` or None to infer: an integer-valued target
        with at most :data:`~jaxnet.data.CSV_MAX_CLASSES` distinct values, or a text one, is a
        class label.

    Returns:
      The :class:`Dataset`; class labels become indices and ``classes`` keeps the originals.

    Raises:
      ValueError: naming the file and what is wrong: not a regular file, too large, empty,
        header only, missing target column, no feature column, ragged row, non-numeric or
        non-finite cell (with its line and column).
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)} or None; got {task!r}")
    return parse_csv(csv_bytes(path), path, target, task)


def parse_csv(content: bytes, path, target: str, task: str | None = None) -> Dataset:
    """:func:`read_csv` of a CSV file's bytes, read before (:func:`csv_bytes`): a caller that
    hashes the bytes it parses knows exactly which content it trained on.

    Args:
      content: the file's bytes; path: the file, for messages and the dataset's name;
      target, task: as for :func:`read_csv`.
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)} or None; got {task!r}")
    header, rows = _table_of(content, path)
    col = _column(path, header, target)
    features = [i for i in range(len(header)) if i != col]
    if not features:
        raise ValueError(
            f"{path} has only the target column {excerpt(target)}; it needs feature columns"
        )
    x = _numeric_columns(path, header, rows, features)
    y, classes, task = _csv_target(path, target, [(line, row[col]) for line, row in rows], task)
    if task == "classification" and len(classes) < 2:
        raise ValueError(
            f"{path}: target {excerpt(target)} has a single value {excerpt(classes[0])}; need two"
        )
    names = tuple(header[i] for i in features)
    lines = np.array([line for line, _ in rows], np.int64)
    return Dataset(Path(path).stem, x, y, task, names, target, classes, path=str(path), lines=lines)
