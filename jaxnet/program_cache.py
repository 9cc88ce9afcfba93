"""The process's compiled programs, keyed by shape and compiler options, and the background
thread that compiles some of them ahead.

A program is ``fn(*args, **static)`` lowered with ``jax.jit`` and compiled ahead of time with
``lowered.compile(options)``; it is kept for the life of the process under its key: the static
arguments, every argument's shape, dtype and sharding, the JAX settings a trace reads, and the
compiler options. :func:`take` returns a kept program, waits for one the background thread is
compiling (the wait counts as compile time of the caller, :func:`jaxnet.compile_cache.note_wait`),
or compiles it on the calling thread. :func:`submit` and :func:`compile_ahead` queue work on the
background thread: one ``ThreadPoolExecutor`` worker named ``jaxnet-compile``, so at most one
compile runs beside the caller's work (XLA's compile releases the GIL), taking the most urgent
job first: a program a running loop is waiting for before the work queued ahead.

Which options a program gets, and when the optimized one is worth compiling, is
:mod:`jaxnet.tiers`' business. Left out: evicting programs (a sweep compiles a few per group).
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import itertools
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

import jax

from . import compile_cache


@dataclasses.dataclass
class Entry:
    """A compiled program, the seconds its lowering and compiling took (on whichever thread),
    whether XLA's part was a load from the persistent cache, and its Lowered module while
    someone may compile it again with other options."""

    program: object
    seconds: float
    lowered: object = None
    cached: bool = False


_lock = threading.Lock()
_programs: dict = {}  # key -> Entry
_pending: dict = {}  # key -> Future of an Entry
_executor: list = []


def signature(name: str, args: tuple, static: dict, out_shardings=None) -> tuple:
    """What a program's code follows from: its name, the static arguments, every argument's
    shape, dtype and sharding (arrays or ``jax.ShapeDtypeStruct``), and the JAX settings a
    trace reads that may differ between threads."""
    leaves = jax.tree.leaves(args)
    return (
        name,
        out_shardings,
        tuple(sorted(static.items())),
        jax.tree.structure(args),
        tuple((leaf.shape, leaf.dtype, getattr(leaf, "sharding", None)) for leaf in leaves),
        _trace_settings(),
    )


def key(sig: tuple, options: dict) -> tuple:
    """The cache key of a signature compiled with ``options``."""
    return sig, tuple(sorted(options.items()))


def _trace_settings() -> tuple:
    c = jax.config
    return (
        c.jax_enable_x64,
        c.jax_default_matmul_precision,
        c.jax_numpy_rank_promotion,
        c.jax_numpy_dtype_promotion,
        c.jax_threefry_partitionable,
        c.jax_default_prng_impl,
    )


@contextlib.contextmanager
def _in_settings(settings: tuple):
    """The caller's trace settings in another thread (JAX keeps them per thread)."""
    x64, precision, rank, dtype, threefry, prng = settings
    with (
        jax.enable_x64(x64),
        jax.default_matmul_precision(precision),
        jax.numpy_rank_promotion(rank),
        jax.numpy_dtype_promotion(dtype),
        jax.threefry_partitionable(threefry),
        jax.default_prng_impl(prng),
    ):
        yield


def lower(fn, args: tuple, static: dict, out_shardings=None):
    """``fn(*args, **static)`` lowered by ``jax.jit`` for these arguments."""
    return jax.jit(partial(fn, **static), out_shardings=out_shardings).lower(*args)


def build(lowered, options: dict, keep_lowered: bool, start: float) -> Entry:
    """Compile ``lowered`` with ``options``; an :class:`Entry` timed from ``start``."""
    hits = compile_cache.thread_hits()
    program = lowered.compile(dict(options)) if options else lowered.compile()
    cached = compile_cache.thread_hits() > hits
    seconds = time.perf_counter() - start
    return Entry(program, seconds, lowered if keep_lowered else None, cached)


def get(k: tuple) -> Entry | None:
    """The kept entry of key ``k``, or None."""
    return _programs.get(k)


def pending(k: tuple) -> bool:
    """Whether the background thread has ``k`` queued or in hand."""
    return k in _pending


def _keep(k: tuple, entry: Entry) -> Entry:
    """Keep ``entry`` under ``k`` unless one is kept already; the kept one. Under ``_lock``."""
    return _programs.setdefault(k, entry)


def take(k: tuple, fn, args: tuple, static: dict, out_shardings=None, keep_lowered=False):
    """``(entry, seconds this thread spent)`` of key ``k``: kept, awaited from the background
    thread, or lowered and compiled here with ``k``'s options."""
    entry = _programs.get(k)
    if entry is not None:
        return entry, 0.0
    future = _pending.get(k)
    if future is not None:
        start = time.perf_counter()
        try:
            entry = future.result()
        except Exception:  # the background try failed: compile here, where errors surface
            entry = None
        waited = time.perf_counter() - start
        compile_cache.note_wait(waited)
        if entry is not None:
            with _lock:
                return _keep(k, entry), waited
    start = time.perf_counter()
    entry = build(lower(fn, args, static, out_shardings), dict(k[1]), keep_lowered, start)
    with _lock:
        return _keep(k, entry), entry.seconds


def _background():
    with _lock:
        if not _executor:
            _executor.append(
                ThreadPoolExecutor(max_workers=1, thread_name_prefix=compile_cache.BACKGROUND)
            )
        return _executor[0]


def set_executor(executor) -> None:
    """Run background compiles on ``executor`` (anything with ``submit(fn) -> Future``, e.g.
    one that runs each job at once, for deterministic tests); None: the default thread."""
    with _lock:
        _executor[:] = [] if executor is None else [executor]


NOW, AHEAD = 0, 1  # priorities: a program a running loop waits for first, then ahead work
_queue: list = []  # heap of (priority, order, Future, job) not started yet
_order = itertools.count()


def _run_next() -> None:
    """One job of the background thread: the most urgent one queued (each submitted job
    queues one of these, so every job runs; a cancelled one is skipped)."""
    with _lock:
        while _queue:
            _, _, future, job = heapq.heappop(_queue)
            if not (future.running() or future.done()):  # else a job queued again, done
                break
        else:
            return
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(job())
    except BaseException as e:  # handed to whoever takes the program: it compiles it again
        future.set_exception(e)


def submit(k: tuple, job, priority: int = AHEAD) -> Future | None:
    """Run ``job() -> Entry`` on the background thread and keep its entry under ``k``, unless
    ``k`` is kept (None) or already queued (that Future). Jobs of :data:`NOW` priority run
    before those of :data:`AHEAD`, in the order they came."""
    executor = _background()
    with _lock:  # nothing that may run a callback (and take the lock) happens under it
        if k in _programs:
            return None
        future, new, bumped = _pending.get(k), False, False
        if future is not None:  # queued: made more urgent if need be (it runs once either way)
            queued = [q for q in _queue if q[2] is future]
            bumped = priority < min((q[0] for q in queued), default=priority)
            if bumped:
                heapq.heappush(_queue, (priority, next(_order), future, queued[0][3]))
        else:
            future, new = Future(), True
            _pending[k] = future
            heapq.heappush(_queue, (priority, next(_order), future, job))
    if not new:
        if bumped:
            executor.submit(_run_next)
        return future

    def done(f: Future) -> None:
        with _lock:
            if not f.cancelled() and f.exception() is None:
                _keep(k, f.result())
            if _pending.get(k) is f:
                del _pending[k]

    future.add_done_callback(done)
    executor.submit(_run_next)
    return future


def compile_ahead(
    sig: tuple, options: dict, fn, args: tuple, static: dict, out_shardings=None, keep_lowered=False
):
    """Lower (under the caller's trace settings) and compile a program on the background
    thread, for a later :func:`take` of the same key; its Future, or None when it is kept."""
    k = key(sig, options)
    settings = sig[-1]

    def job() -> Entry:
        start = time.perf_counter()
        with _in_settings(settings):
            lowered = lower(fn, args, static, out_shardings)
        return build(lowered, options, keep_lowered, start)

    return submit(k, job)


def count() -> int:
    """How many programs this process keeps."""
    return len(_programs)


def settle(timeout: float | None = None) -> None:
    """Wait for every background compile queued so far."""
    for future in list(_pending.values()):
        with contextlib.suppress(Exception):  # a failed one is compiled again where it is needed
            future.result(timeout)


def cancel_pending() -> int:
    """Cancel the queued background compiles not started yet; how many were."""
    with _lock:
        futures = list(_pending.values())
    return sum(f.cancel() for f in futures)  # outside the lock: cancelling runs `done`


def forget() -> None:
    """Drop every kept program (after the background work queued so far is done)."""
    settle()
    with _lock:
        _programs.clear()
