"""Arrays as bytes: a list of NumPy arrays stored as one blob and a JSON layout, never pickled.

The layout names each array's dtype and shape (``[["<f4", [64, 32]], ["<i4", []], ...]``);
the blob is their little-endian bytes, one after another. :func:`decode_arrays` refuses a
layout it does not know (a dtype outside :data:`DTYPES`, a negative size) or a blob of the
wrong length before it reads anything, so a damaged row is an error naming it, not garbage.
Member states at rung boundaries and kept models are stored this way (as the curves are).
"""

from __future__ import annotations

import json
import math

import numpy as np

from .schema import StoreError

# Little-endian dtypes a state or a model may hold.
DTYPES = ("<f2", "<f4", "<f8", "<i4", "<i8", "<u4", "|b1")


def encode_arrays(arrays) -> tuple[str, bytes]:
    """``(layout JSON, blob)`` of a list of arrays (any byte order in, little-endian out)."""
    layout, parts = [], []
    for a in arrays:
        a = np.asarray(a)
        little = a.astype(a.dtype.newbyteorder("<"), copy=False)
        if little.dtype.str not in DTYPES:
            raise ValueError(f"cannot store an array of dtype {a.dtype}; expected one of {DTYPES}")
        layout.append([little.dtype.str, list(little.shape)])
        parts.append(np.ascontiguousarray(little).tobytes())
    return json.dumps(layout, separators=(",", ":")), b"".join(parts)


def decode_arrays(layout: str, blob: bytes, where: str) -> list[np.ndarray]:
    """The arrays :func:`encode_arrays` wrote, checked; ``where`` names the row in errors.

    Raises:
      StoreError: an unreadable layout, an unknown dtype, or a blob of the wrong length.
    """
    try:
        entries = json.loads(layout)
        specs = [(np.dtype(d), tuple(int(s) for s in shape)) for d, shape in entries]
        ok = all(d.str in DTYPES and all(s >= 0 for s in shape) for d, shape in specs)
    except (ValueError, TypeError):
        raise StoreError(f"{where}: its array layout is not readable: {layout[:80]!r}") from None
    if not ok:
        raise StoreError(f"{where}: its array layout names a dtype or size it cannot hold")
    sizes = [d.itemsize * math.prod(shape) for d, shape in specs]
    if sum(sizes) != len(blob):
        raise StoreError(
            f"{where}: its arrays need {sum(sizes):,} bytes; the stored blob has {len(blob):,}"
        )
    out, offset = [], 0
    for (dtype, shape), size in zip(specs, sizes):
        out.append(np.frombuffer(blob, dtype, math.prod(shape), offset).reshape(shape).copy())
        offset += size
    return out
