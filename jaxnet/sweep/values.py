"""One value of a sweep file checked: each function takes the TOML value and returns it in
the form a config holds, or raises ValueError saying what was expected (``jaxnet.sweep.spec``
names the file and key around it).

Left out: which key takes which check (``spec.AXIS_CHECKS`` and ``spec.SETTING_CHECKS``).
"""

from __future__ import annotations

import math

from .._limits import INT32_MAX, range_text


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def int_from(low: int, high: int = INT32_MAX + 1):
    """An int from ``low`` to below ``high``; every int of a sweep file fits in int32, the
    rule the command line and the library apply too (:mod:`jaxnet._limits`)."""

    def check(v):
        if not is_int(v) or v < low or v >= high:
            raise ValueError(range_text(low, high - 1))
        return int(v)

    return check


def positive_float(v):
    if not is_number(v) or v <= 0:
        raise ValueError("a positive finite number")
    return float(v)


def non_negative_float(v):
    if not is_number(v) or v < 0:
        raise ValueError("a finite number of at least 0")
    return float(v)


def dropout_rate(v):
    if not is_number(v) or not 0 <= v < 1:
        raise ValueError("a number in [0, 1): the probability of dropping a hidden unit")
    return float(v)


def lr_factor(v):
    if not is_number(v) or not 0 <= v <= 1:
        raise ValueError("a number in [0, 1]: the learning rate's factor at the last step")
    return float(v)


def padding(v):
    if not is_number(v) or v < 1:
        raise ValueError("a number of at least 1 (1 turns width buckets off)")
    return float(v)


def fraction(v):
    if not is_number(v) or not 0 <= v < 1:
        raise ValueError("a number in [0, 1)")
    return float(v)


def one_of(names):
    def check(v):
        if v not in names:
            raise ValueError(f"one of {', '.join(map(str, names))}")
        return v

    return check


def boolean(v):
    if not isinstance(v, bool):
        raise ValueError("true or false")
    return v
