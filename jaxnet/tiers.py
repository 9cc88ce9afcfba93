"""Tiered compilation: a program runs first as XLA compiles it cheaply, then optimized when
that pays, the way JITs for dynamic languages do it.

Two tiers of the same program, chosen per compile through ``compile(compiler_options)``:

- **tier 1** (:data:`CHEAP`): the XLA flags behind JAX's ``jax_disable_most_optimizations``
  (LLVM at ``-O0``, no expensive LLVM passes). On CPU a small MLP's training program compiles
  in about half the time and runs 2-2.5x slower (``experiments/compile_options.py``);
  ``exec_time_optimization_effort`` and ``jax_optimization_level`` changed neither on CPU.
- **tier 2**: XLA's defaults, the optimized program.

A program that runs once (a population's initial states, its final scores) is compiled at
tier 1 (:func:`once_tier`). A loop of chunks runs through a :class:`Ladder`: it starts on tier
1 (or on tier 2 if this process already has it), and once the tier-1 time this program has run
and will still run exceeds :data:`PAYBACK` times the estimated tier-2 compile, the optimized
program is compiled on a background thread; the ladder switches to it at the first chunk
boundary where it is ready. The state a chunk returns is the next chunk's input whatever
compiled it, so a switch changes results only by the compiler's reassociation of sums. Both
tiers are entries of JAX's persistent compilation cache (the options are part of its key).

:func:`compile_ahead` lowers and compiles programs on the same background thread (a sweep's next
group while the current one trains). The thread is one ``ThreadPoolExecutor`` worker, so at
most one compile runs beside the training; work is only queued one group ahead.

``JAXNET_TIERS=off`` in the environment, or ``use_tiers(False)``, compiles everything at tier 2
on the calling thread, as before tiers. Left out: more than two tiers, and profile-guided
choices between them.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

import jax

from . import compile_cache

ENV = "JAXNET_TIERS"
CHEAP = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
OPTIONS = {1: CHEAP, 2: {}}
COMPILE_RATIO = 2.5  # tier-2 / tier-1 compile seconds of a training chunk, measured on CPU
PAYBACK = 2.0  # ask for tier 2 once tier-1 time exceeds this many tier-2 compiles
# A run of one chunk has no boundary to switch at: it starts on tier 1 only when its work is
# below this many FLOPs (about 0.1 s optimized on a laptop core, under the second its tier-1
# compile saves), and on tier 2 above.
ONE_CHUNK_FLOPS = 2e9
THREAD = compile_cache.BACKGROUND  # the background compiler's thread name prefix


def parse_switch(value, name: str) -> bool:
    """``"on"`` -> True, ``"off"`` -> False (a bool passes); anything else: a one-line error."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("on", "off"):
        return value.strip().lower() == "on"
    raise ValueError(f"{name} must be 'on' or 'off'; got {value!r}")


_switch: list = []  # [bool] once set by use_tiers; else the environment decides


def use_tiers(on) -> None:
    """Turn tiered compilation on (True / ``"on"``) or off for this process; None: back to
    ``$JAXNET_TIERS`` (default on)."""
    _switch[:] = [] if on is None else [parse_switch(on, "tiers")]


@contextlib.contextmanager
def switched(on):
    """Tiers on or off (as :func:`use_tiers`) inside a ``with`` block; None changes nothing."""
    if on is None:
        yield
        return
    before = list(_switch)
    use_tiers(on)
    try:
        yield
    finally:
        _switch[:] = before


def enabled() -> bool:
    """Whether programs start on tier 1: :func:`use_tiers`, else ``$JAXNET_TIERS``, else on."""
    if _switch:
        return _switch[0]
    return parse_switch(os.environ.get(ENV, "on"), ENV)


def once_tier() -> int:
    """The tier of a program that runs once: 1 with tiers on, else 2."""
    return 1 if enabled() else 2


# --- the process's programs -------------------------------------------------------------------


@dataclasses.dataclass
class Entry:
    """A compiled program and what it cost: seconds to compile (0 when it came from the
    background or another entry), and the Lowered module a tier-1 entry keeps for tier 2."""

    program: object
    seconds: float
    lowered: object = None


_lock = threading.Lock()
_programs: dict = {}  # (signature, tier) -> Entry
_pending: dict = {}  # (signature, tier) -> Future of an Entry
_hot: collections.Counter = collections.Counter()  # signature -> tier-1 seconds run so far
_used: collections.Counter = collections.Counter()  # tier -> programs handed out to run
_switches = [0]
_executor: list = []


def signature(name: str, args: tuple, static: dict, out_shardings=None) -> tuple:
    """The cache key of ``fn(*args, **static)``: the static arguments and every argument's
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


def _in_settings(settings: tuple):
    """Context managers that give a background thread the caller's trace settings (JAX keeps
    them per thread)."""
    x64, precision, rank, dtype, threefry, prng = settings
    return (
        jax.enable_x64(x64),
        jax.default_matmul_precision(precision),
        jax.numpy_rank_promotion(rank),
        jax.numpy_dtype_promotion(dtype),
        jax.threefry_partitionable(threefry),
        jax.default_prng_impl(prng),
    )


def _lower(fn, args, static, out_shardings):
    return jax.jit(partial(fn, **static), out_shardings=out_shardings).lower(*args)


def _compile(lowered, tier: int):
    options = OPTIONS[tier]
    return lowered.compile(dict(options)) if options else lowered.compile()


def _build(lowered, tier: int, start: float) -> Entry:
    program = _compile(lowered, tier)
    return Entry(program, time.perf_counter() - start, lowered if tier == 1 else None)


def compile_count() -> int:
    """How many programs (a tier of a shape each) this process has compiled through here."""
    return len(_programs)


def used() -> dict:
    """``{1: n, 2: m}``: programs handed out to run at each tier in this process (each
    ladder's tier counted once, and every :func:`compiled` call)."""
    return {1: _used[1], 2: _used[2]}


def switches() -> int:
    """How many ladders in this process switched from tier 1 to tier 2."""
    return _switches[0]


def _take(key, fn, args, static, out_shardings) -> tuple[Entry, float]:
    """``(entry, seconds this thread spent)`` of ``key``: kept, awaited from the background
    (the wait is compile time of this thread), or compiled here."""
    entry = _programs.get(key)
    if entry is not None:
        return entry, 0.0
    future = _pending.get(key)
    if future is not None:
        start = time.perf_counter()
        try:
            entry = future.result()
        except Exception:  # the background try failed: compile here, where errors surface
            entry = None
        waited = time.perf_counter() - start
        compile_cache.note_wait(waited)
        if entry is not None:
            return entry, waited
    start = time.perf_counter()
    entry = _build(_lower(fn, args, static, out_shardings), key[1], start)
    with _lock:
        _keep(key, entry)
        _pending.pop(key, None)
    return _programs[key], entry.seconds


def _keep(key, entry: Entry) -> None:
    """Keep ``entry`` under ``key`` (the first one kept wins); a tier-2 program frees its
    tier-1 sibling's Lowered module, which was kept only to compile it. Under ``_lock``."""
    _programs.setdefault(key, entry)
    if key[1] == 2 and (key[0], 1) in _programs:
        _programs[(key[0], 1)].lowered = None


def compiled(name: str, fn, args: tuple, static: dict, out_shardings=None, tier: int = 2):
    """``fn(*args, **static)`` compiled ahead of time at ``tier``, and the seconds it cost here.

    Kept for the life of the process, so a second call with the same shapes costs nothing
    (0 seconds); a program the background thread is compiling is awaited, not compiled twice.

    Args:
      name: names the program in the key; fn: the function; args: its array arguments (arrays
        or ``jax.ShapeDtypeStruct``); static: keyword arguments baked into the program;
      out_shardings: as for ``jax.jit``; tier: 1 (cheap) or 2 (optimized; the default, since
        a program called here may run many times: loops use :class:`Ladder`).

    Returns:
      ``(program, seconds)``.
    """
    if tier not in OPTIONS:
        raise ValueError(f"tier must be 1 or 2; got {tier!r}")
    key = (signature(name, args, static, out_shardings), tier)
    entry, seconds = _take(key, fn, args, static, out_shardings)
    _used[tier] += 1
    return entry.program, seconds


def _background() -> ThreadPoolExecutor:
    if not _executor:
        _executor.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix=THREAD))
    return _executor[0]


def _submit(key, job) -> Future | None:
    """Run ``job() -> Entry`` on the background thread for ``key`` unless it is kept or
    pending; the entry is kept when it is done."""
    with _lock:
        if key in _programs or key in _pending:
            return _pending.get(key)
        future = _background().submit(job)
        _pending[key] = future

    def keep(done: Future) -> None:
        with _lock:
            if not done.cancelled() and done.exception() is None:
                _keep(key, done.result())
            if _pending.get(key) is done:
                del _pending[key]

    future.add_done_callback(keep)
    return future


def compile_ahead(name: str, fn, args: tuple, static: dict, out_shardings=None, tier: int = 1):
    """Lower and compile ``fn(*args, **static)`` on the background thread, for a later
    :func:`compiled` or :class:`Ladder` with the same key to take; returns its Future (None
    when the program is already kept). Pass ``jax.ShapeDtypeStruct`` arguments (with their
    shardings) for arrays that do not exist yet."""
    key = (signature(name, args, static, out_shardings), tier)
    if key in _programs:
        return None
    settings = key[0][-1]

    def job() -> Entry:
        start = time.perf_counter()
        with contextlib.ExitStack() as stack:
            for manager in _in_settings(settings):
                stack.enter_context(manager)
            lowered = _lower(fn, args, static, out_shardings)
        return _build(lowered, tier, start)

    return _submit(key, job)


def settle(timeout: float | None = None) -> None:
    """Wait for every background compile queued so far (tests and benchmarks)."""
    for future in list(_pending.values()):
        try:
            future.result(timeout)
        except Exception:  # a failed background compile is retried in the foreground
            pass


def cancel_pending() -> int:
    """Cancel the background compiles not started yet; how many were cancelled."""
    with _lock:
        return sum(f.cancel() for f in list(_pending.values()))


def forget() -> None:
    """Drop this process's compiled programs and tier-1 run times (benchmarks that time a
    first compile again); queued background work is finished first."""
    settle()
    with _lock:
        _programs.clear()
        _hot.clear()


# --- a loop of chunks ----------------------------------------------------------------------------


class Ladder:
    """One program of a host loop at two tiers: tier 1 at once, tier 2 when it pays.

    Args:
      name, fn, args, static, out_shardings: as for :func:`compiled`; ``args`` are the first
        chunk's (later chunks must pass arguments of the same shapes, dtypes and shardings).
      flops: the work of one chunk (:func:`training_flops`), or None when unknown; decides
        the tier of a run of a single chunk (:data:`ONE_CHUNK_FLOPS`).

    Attributes:
      tier: the tier of the program the next chunk runs (None before the first);
      seconds: compile seconds this ladder cost the calling thread (waits included).
    """

    def __init__(self, name: str, fn, args: tuple, static: dict, out_shardings=None, flops=None):
        self.key = signature(name, args, static, out_shardings)
        self._build = (fn, args, static, out_shardings)
        self.flops = flops
        self.tier, self.seconds, self._program, self._asked = None, 0.0, None, False

    def _first_tier(self, chunks_left: int) -> int:
        if not enabled() or (self.key, 2) in _programs:
            return 2
        if (self.key, 1) in _programs or (self.key, 1) in _pending:
            return 1  # already paid for (or on its way): the run promotes it if it is hot
        return first_tier(chunks_left, self.flops)

    def _start(self, chunks_left: int) -> None:
        tier = self._first_tier(chunks_left)
        entry, self.seconds = _take((self.key, tier), *self._build)
        self._program, self.tier = entry.program, tier
        _used[tier] += 1

    def _switch(self) -> None:
        entry = _programs.get((self.key, 2))
        if entry is not None:
            self._program, self.tier = entry.program, 2
            _used[2] += 1
            _switches[0] += 1

    def __call__(self, *args, chunks_left: int):
        """Run one chunk on the best program ready, wait for it, and decide about tier 2.

        Args:
          args: the program's arguments; chunks_left: chunks this loop will run after this one.

        Returns:
          The program's outputs (ready).
        """
        if self._program is None:
            self._start(chunks_left)
        elif self.tier == 1:
            self._switch()
        start = time.perf_counter()
        out = jax.block_until_ready(self._program(*args))
        if self.tier == 1:
            self._ran(time.perf_counter() - start, chunks_left)
        return out

    def _ran(self, seconds: float, chunks_left: int) -> None:
        _hot[self.key] += seconds
        if self._asked or not enabled():
            return
        tier1 = _programs.get((self.key, 1))
        if tier1 is None or tier1.lowered is None:
            return
        if pays(_hot[self.key], seconds * chunks_left, tier1.seconds):
            self._asked = True
            lowered = tier1.lowered
            _submit((self.key, 2), lambda: _build(lowered, 2, time.perf_counter()))


def first_tier(chunks_left: int, flops: float | None) -> int:
    """The tier a loop starts on before any chunk is measured: 1, but 2 with tiers off or for
    a run of one chunk (nowhere to switch) whose work exceeds :data:`ONE_CHUNK_FLOPS`.

    Args:
      chunks_left: chunks after the first; flops: one chunk's work, or None when unknown.
    """
    if not enabled():
        return 2
    if chunks_left == 0 and flops is not None and flops > ONE_CHUNK_FLOPS:
        return 2
    return 1


def pays(run_seconds: float, left_seconds: float, tier1_compile: float) -> bool:
    """The ladder's rule: tier-1 seconds run and still to run exceed :data:`PAYBACK` estimated
    tier-2 compiles (:data:`COMPILE_RATIO` times the tier-1 compile)."""
    return run_seconds + left_seconds > PAYBACK * COMPILE_RATIO * tier1_compile


def training_flops(n_params: int, rows: int, steps: int, members: int = 1) -> float:
    """Rough FLOPs of ``steps`` training steps of an MLP: forward and backward are about six
    multiply-adds per parameter per row."""
    return 6.0 * n_params * rows * steps * members


def chunks_after(done: int, length: int, total: int) -> int:
    """Chunks of ``length`` a loop still runs after the one starting at step ``done``."""
    return max(0, math.ceil((total - done - length) / length))
