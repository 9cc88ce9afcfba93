"""Tiered compilation: a program runs first as XLA compiles it cheaply, then optimized when
that pays, the way JITs for dynamic languages do it.

Two tiers of one program, chosen per compile with ``lowered.compile(compiler_options)``:

- **tier 1** (:data:`CHEAP`): the XLA flags behind JAX's ``jax_disable_most_optimizations``
  (LLVM at ``-O0``, no expensive LLVM passes). On CPU a population's training chunk compiles
  in 0.3-0.45x the CPU time of XLA's defaults and runs 1.6-2.4x slower.
- **tier 2** (:func:`compiler_options`): on CPU, LLVM at ``-O2``
  (``xla_backend_optimization_level=2``), which ran every MLP chunk measured as fast as XLA's
  default ``-O3`` (0.83-1.0x) for 0.5-0.7x its compile; on other platforms, XLA's defaults.

``exec_time_optimization_effort`` and ``jax_optimization_level`` changed neither compile nor
run time on CPU (``experiments/compile_options.py`` measures all of them). On a GPU, where
compiling is mostly autotuning and PTX assembly, the same flags are expected to cut less: it
was not measured.

A program that runs once (a population's initial states, its final scores) is compiled at
tier 1 (:func:`once_tier`). A loop of chunks runs through a :class:`Ladder`. One rule,
:func:`pays`, decides: tier 2 is worth its compile once the tier-1 time this program has run
(in this process) and will still run exceeds :data:`PAYBACK` estimated tier-2 compiles. A run
predicted to pay from the start (its FLOPs at the speed of the last tier-1 chunk measured)
starts on tier 2 (:func:`first_tier`: tier 1 is slower by more than tier 2's compile costs
extra). Any other starts on tier 1; once its measured chunks say it pays, the tier-2 program
compiles on the background thread (:mod:`jaxnet.program_cache`) and the ladder switches at the
first chunk boundary where it is ready. A
chunk's state is the next chunk's input whatever compiled it, so a switch changes results only
by the compiler's reassociation of sums. Both tiers are entries of JAX's persistent compilation
cache (the compiler options are part of its key).

``JAXNET_TIERS=off`` in the environment, ``use_tiers(False)`` or ``jaxnet sweep --tiers off``
compiles every program with XLA's defaults on the calling thread, as ``jax.jit`` does and as
jaxnet did before tiers. Left out: more than two tiers, and profile-guided choices.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import time

import jax

from . import program_cache

ENV = "JAXNET_TIERS"
CHEAP = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
OPTIMIZED = {"cpu": {"xla_backend_optimization_level": 2}}  # by platform; others: XLA's defaults
COMPILE_RATIO = 1.6  # tier-2 / tier-1 compile seconds of a training chunk (CPU, measured)
PAYBACK = 1.0  # ask for tier 2 once tier-1 time exceeds this many tier-2 compiles
# Tier-1 training speed before a chunk is measured: about 20 GFLOP/s (CPU, small MLPs).
TIER1_SECONDS_PER_FLOP = 5e-11
# A tier-1 compile of a small population's chunk on a laptop core, for a program whose tier 1
# came from the persistent cache (its load time says nothing of what tier 2 costs to compile)
# until this process has compiled one.
TIER1_COMPILE_SECONDS = 1.0


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
    before = list(_switch)
    if on is not None:
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


def compiler_options(tier: int) -> dict:
    """The ``compile(compiler_options)`` of ``tier`` (1 or 2) on the default backend; with
    tiers off, tier 2 is XLA's defaults, as ``jax.jit`` compiles."""
    if tier == 1:
        return CHEAP
    if tier != 2:
        raise ValueError(f"tier must be 1 or 2; got {tier!r}")
    return OPTIMIZED.get(jax.default_backend(), {}) if enabled() else {}


_used: collections.Counter = collections.Counter()  # tier -> programs handed out to run
_hot: collections.Counter = collections.Counter()  # signature -> tier-1 seconds run so far
_rate: dict = {}  # 1: seconds per FLOP of the last tier-1 chunk; "compile": last tier-1 compile
_switches = [0]


def used() -> dict:
    """``{1: n, 2: m}``: programs handed out to run at each tier in this process (each
    ladder's tiers counted once each, and every :func:`compiled` call)."""
    return {1: _used[1], 2: _used[2]}


def switches() -> int:
    """How many ladders in this process switched from tier 1 to tier 2."""
    return _switches[0]


def _key(sig: tuple, tier: int) -> tuple:
    return program_cache.key(sig, compiler_options(tier))


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
    k = _key(program_cache.signature(name, args, static, out_shardings), tier)
    entry, seconds = program_cache.take(k, fn, args, static, out_shardings)
    _used[tier] += 1
    return entry.program, seconds


def compile_ahead(name: str, fn, args: tuple, static: dict, out_shardings=None, tier: int = 1):
    """Lower and compile ``fn(*args, **static)`` at ``tier`` on the background thread, for a
    later :func:`compiled` or :class:`Ladder` of the same key; its Future, or None when the
    program is kept already. Pass ``jax.ShapeDtypeStruct`` arguments (with the shardings the
    arrays will have) for arrays that do not exist yet."""
    sig = program_cache.signature(name, args, static, out_shardings)
    options = compiler_options(tier)
    return program_cache.compile_ahead(sig, options, fn, args, static, out_shardings, tier == 1)


def compile_loop_ahead(name: str, fn, args: tuple, static: dict, flops: float, chunks: int):
    """:func:`compile_ahead` for the program of a loop of ``chunks`` chunks of ``flops`` each
    (what its :class:`Ladder` will take): at its first tier, then, once that is compiled, tier 2
    too if the run is predicted to pay for it (:func:`promote`). Its Future, or None."""
    tier = first_tier(chunks - 1, flops)
    future = compile_ahead(name, fn, args, static, None, tier)
    if future is None or tier == 2:
        return future
    sig = program_cache.signature(name, args, static)

    def then(done) -> None:
        if not done.cancelled() and done.exception() is None:
            promote(sig, predicted(flops * chunks), program_cache.AHEAD)

    future.add_done_callback(then)
    return future


def predicted(flops: float) -> float:
    """Seconds ``flops`` of training take at tier 1: at the rate the last tier-1 chunk of this
    process ran, or :data:`TIER1_SECONDS_PER_FLOP` before any did."""
    return flops * _rate.get(1, TIER1_SECONDS_PER_FLOP)


def promote(sig: tuple, left_seconds: float, priority: int = program_cache.NOW) -> bool:
    """Ask the background thread for the tier-2 program of ``sig`` if :func:`pays` says so,
    given the tier-1 seconds it has run (this process) and ``left_seconds`` still to run;
    whether it was asked (or is not needed: tiers off, or no tier-1 program to start from).
    ``priority``: :data:`~jaxnet.program_cache.NOW` for a loop that runs, else ``AHEAD``."""
    if not enabled():
        return True
    tier1 = program_cache.get(_key(sig, 1))
    if tier1 is None or tier1.lowered is None:
        return tier1 is not None  # no Lowered left: tier 2 was compiled already
    learn_compile(tier1)
    compile_seconds = compile_estimate() if tier1.cached else tier1.seconds
    if not pays(_hot[sig], left_seconds, compile_seconds):
        return False
    lowered, options = tier1.lowered, compiler_options(2)

    def job():
        entry = program_cache.build(lowered, options, False, time.perf_counter())
        tier1.lowered = None  # kept only to compile tier 2 without tracing again
        return entry

    program_cache.submit(_key(sig, 2), job, priority)
    return True


def first_tier(chunks_left: int, flops: float | None) -> int:
    """The tier a loop starts on before any chunk is measured: 2 with tiers off, or when the
    whole run is predicted to pay for the optimized compile (:func:`pays` with nothing run
    yet: then compiling tier 2 at once beats a tier-1 start, since tier 1 runs slower than
    tier 2 by more than tier 2's compile costs over tier 1's); else 1, and the run is promoted
    if it turns out long.

    Args:
      chunks_left: chunks after the first; flops: one chunk's work, or None when unknown.
    """
    if not enabled():
        return 2
    if flops is not None and pays(0.0, predicted(flops * (chunks_left + 1)), compile_estimate()):
        return 2
    return 1


def compile_estimate() -> float:
    """A tier-1 compile's seconds before this program's is known: the last real one of this
    process, else :data:`TIER1_COMPILE_SECONDS`."""
    return _rate.get("compile", TIER1_COMPILE_SECONDS)


def learn_compile(entry) -> None:
    """Remember a tier-1 program's compile seconds (unless it was loaded from the cache)."""
    if not entry.cached:
        _rate["compile"] = entry.seconds


def pays(run_seconds: float, left_seconds: float, tier1_compile: float) -> bool:
    """The rule for asking for tier 2: tier-1 seconds run and still to run exceed
    :data:`PAYBACK` estimated tier-2 compiles (:data:`COMPILE_RATIO` times the tier-1 compile).

    The tier-2 program compiles on the background thread while tier 1 runs; tier 2 runs about
    twice as fast, so whatever tier-1 time is left once it is ready is halved. With less tier-1
    time left than the compile takes, tier 2 would arrive after the run ended.
    """
    return run_seconds + left_seconds > PAYBACK * COMPILE_RATIO * tier1_compile


def training_flops(n_params: int, rows: int, steps: int, members: int = 1) -> float:
    """Rough FLOPs of ``steps`` training steps of an MLP: forward and backward are about six
    multiply-adds per parameter per row."""
    return 6.0 * n_params * rows * steps * members


def chunks_after(done: int, length: int, total: int) -> int:
    """Chunks of ``length`` a loop still runs after the one starting at step ``done``."""
    return max(0, math.ceil((total - done - length) / length))


class Ladder:
    """One program of a host loop at two tiers: tier 1 at once, tier 2 when it pays.

    Args:
      name, fn, args, static, out_shardings: as for :func:`compiled`; ``args`` are the first
        chunk's (later chunks must pass arguments of the same shapes, dtypes and shardings).
      flops: the work of one chunk (:func:`training_flops`), or None when unknown; decides
        the tier of a run of a single chunk (:func:`first_tier`).

    Attributes:
      tier: the tier of the program the last chunk ran on (None before the first);
      seconds: compile seconds this ladder cost the calling thread (waits included).
    """

    def __init__(self, name: str, fn, args: tuple, static: dict, out_shardings=None, flops=None):
        self.sig = program_cache.signature(name, args, static, out_shardings)
        self._build = (fn, args, static, out_shardings)
        self.flops = flops
        self.tier, self.seconds, self._program, self._asked = None, 0.0, None, False

    def _first_tier(self, chunks_left: int) -> int:
        if not enabled() or program_cache.get(_key(self.sig, 2)) is not None:
            return 2
        k = _key(self.sig, 1)
        if program_cache.get(k) is not None:
            return 1  # paid for: the run promotes it when it is hot
        if program_cache.pending(_key(self.sig, 2)):
            return 2  # compiled ahead because the run pays for it: the rest is waited for
        return 1 if program_cache.pending(k) else first_tier(chunks_left, self.flops)

    def _start(self, chunks_left: int) -> None:
        tier = self._first_tier(chunks_left)
        k = _key(self.sig, tier)
        entry, self.seconds = program_cache.take(k, *self._build, keep_lowered=tier == 1)
        self._program, self.tier = entry.program, tier
        _used[tier] += 1
        if tier == 1:
            learn_compile(entry)
        if tier == 1 and self.flops:  # a run predicted long asks before its first chunk
            self._asked = promote(self.sig, predicted(self.flops * (chunks_left + 1)))

    def _switch(self) -> None:
        entry = program_cache.get(_key(self.sig, 2))
        if entry is not None:
            self._program, self.tier = entry.program, 2
            _used[2] += 1
            _switches[0] += 1

    def __call__(self, *args, chunks_left: int):
        """Run one chunk on the best program ready, wait for it, and decide about tier 2.

        Args:
          args: the program's arguments; chunks_left: chunks this loop runs after this one.

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
        _hot[self.sig] += seconds
        if self.flops:
            _rate[1] = seconds / self.flops
        if not self._asked:
            self._asked = promote(self.sig, seconds * chunks_left)


def settle(timeout: float | None = None) -> None:
    """Wait for every background compile queued so far (tests and benchmarks)."""
    program_cache.settle(timeout)


def forget() -> None:
    """Drop this process's compiled programs and tier-1 run times (a benchmark that times a
    first compile again); queued background work is finished first."""
    program_cache.forget()
    _hot.clear()
    _rate.clear()


def compile_count() -> int:
    """How many programs (a shape at a tier each) this process has compiled through here."""
    return program_cache.count()


def cancel_pending() -> int:
    """Cancel the background compiles not started yet; how many were cancelled."""
    return program_cache.cancel_pending()
