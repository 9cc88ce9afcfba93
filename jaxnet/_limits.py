"""The one rule for integer arguments: counts and seeds are ints that fit in int32.

Steps, evaluation intervals, patience, batch sizes and seeds end up inside compiled programs as
int32 (a step counter in ``lax.scan``, a chunk length, a seed folded into a key). A larger one
would overflow there, allocate a history of that many steps, or fail deep inside JAX; so
``jaxnet train --steps``, ``jn.fit(steps=...)``, ``jn.init(net, seed)`` and a sweep file's
``steps`` and ``seed`` are all refused by :func:`int_in_range` with the same sentence, naming
the argument and the limit, before anything is allocated or traced.

Plain Python (no JAX, no NumPy), so the command line checks its flags without importing JAX.
"""

from __future__ import annotations

import numbers

INT32_MAX = 2**31 - 1
LIMIT_TEXT = f"{INT32_MAX} = 2**31 - 1"


def shown(value) -> str:
    """``repr(value)``, or ``an int of N digits`` for one too long to print usefully."""
    if isinstance(value, int) and abs(value) >= 10**30:
        return f"an int of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def range_text(low: int, high: int = INT32_MAX) -> str:
    """The rule in words: ``a positive int (at most 2147483647 = 2**31 - 1)``."""
    top = LIMIT_TEXT if high == INT32_MAX else str(high)
    kind = {0: "a non-negative int", 1: "a positive int"}.get(low)
    return f"{kind} (at most {top})" if kind else f"an int from {low} to {top}"


def int_in_range(value, argument: str, low: int, high: int = INT32_MAX) -> int:
    """``value`` as an int if it is one (not a bool) from ``low`` to ``high``, else a one-line
    ValueError naming ``argument``, the range and the value.

    Args:
      value: what the caller gave; argument: its name in messages (``"steps"``, ``"--seed"``).
      low, high: the inclusive range; ``high`` defaults to :data:`INT32_MAX`.
    """
    bad = isinstance(value, bool) or not isinstance(value, numbers.Integral)
    if bad or not low <= value <= high:
        raise ValueError(f"{argument} must be {range_text(low, high)}; got {shown(value)}")
    return int(value)
