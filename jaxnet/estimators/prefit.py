"""Fits prepared ahead and trained together: how a search trains its fits as populations.

A search (:mod:`.search`) runs scikit-learn's own search code, which clones the estimator and
calls ``fit`` once per (candidate, split). Before that, the search calls the same fits in
*recording* mode: each ``fit`` checks its arguments and prepares its task exactly as it would
to train, records it under a key of its inputs, and returns untrained. The recorded tasks are
trained as populations; then scikit-learn's calls run in *serving* mode, where a ``fit`` whose
key was recorded takes its trained result instead of training again. A fit whose key was not
recorded (a step before it drew other random numbers, say) simply trains, so a miss costs time,
never a wrong result. The key is the estimator's class and parameters and a digest of the rows,
targets and sample weights it was given. Left out: everything about training and searching.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading

import numpy as np

_local = threading.local()


def _book():
    return getattr(_local, "book", None)


def key(est, arrays) -> str:
    """A digest of ``est``'s class and parameters (None: none) and of ``arrays`` (their bytes,
    shapes and dtypes)."""
    h = hashlib.blake2b(digest_size=20)
    if est is not None:
        params = sorted((k, _stable_repr(v)) for k, v in est.get_params(deep=False).items())
        h.update(repr((type(est).__qualname__, params)).encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(repr((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _stable_repr(value) -> str:
    """``repr(value)``, but a ``RandomState`` by its state, not its address: a search clones
    the estimator (and copies its generator) for each pass, and the copies must match."""
    if isinstance(value, np.random.RandomState):
        kind, keys, pos, has_gauss, gauss = value.get_state()
        digest = hashlib.blake2b(np.asarray(keys).tobytes(), digest_size=12).hexdigest()
        return f"RandomState({kind}, {digest}, {pos}, {has_gauss}, {gauss})"
    return repr(value)


def mode() -> str | None:
    """``"record"``, ``"serve"``, or None outside a search."""
    book = _book()
    return None if book is None else book["mode"]


@contextlib.contextmanager
def recording():
    """Fits inside record their tasks instead of training; yields the ``[(key, task)]`` list."""
    book, outer = {"mode": "record", "tasks": []}, _book()
    _local.book = book
    try:
        yield book["tasks"]
    finally:
        _local.book = outer


@contextlib.contextmanager
def serving(results: dict):
    """Fits inside take their results from ``results`` (``{key: [(task, outcome), ...]}``)."""
    outer = _book()
    _local.book = {"mode": "serve", "results": results}
    try:
        yield
    finally:
        _local.book = outer


def record(k: str, task) -> None:
    """Record one fit's task (in recording mode)."""
    _book()["tasks"].append((k, task))


def take(k: str):
    """The next ``(task, outcome)`` recorded under ``k`` (serving mode), or None."""
    waiting = _book()["results"].get(k)
    return waiting.pop(0) if waiting else None
