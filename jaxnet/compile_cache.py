"""JAX's persistent compilation cache, on by default for sweeps and the ``jaxnet`` command.

A sweep compiles a handful of programs per group; the same shapes rerun (a new sweep file, a
rerun into a fresh store, the next ``make run``) need not compile again. :func:`enable` points
JAX's on-disk cache at a per-user folder, ``$XDG_CACHE_HOME/jaxnet/jax`` (by default
``~/.cache/jaxnet/jax``), and caches every program, however fast it compiled.

Where it lives, in order of precedence:

- ``enable(path)`` with a path (the CLI's ``--cache-dir DIR``), or ``"off"`` to disable;
- the environment variable ``JAXNET_CACHE_DIR`` (a folder, or ``off``);
- a folder the user already gave JAX (``jax_compilation_cache_dir`` or the environment
  variable ``JAX_COMPILATION_CACHE_DIR``): used as it is, jaxnet changes nothing;
- the per-user default above.

A folder that cannot be used -- ``JAXNET_CACHE_DIR`` naming a file, a folder that cannot be
created or written -- costs one :class:`CacheWarning` and the run goes on without the cache
(the ``jaxnet`` command prints it as one line); it never stops a run, and JAX is never left to
fail on every program it tries to store. Clearing it is deleting the folder.

:func:`stats` counts the programs loaded from it and written to it; :func:`compile_clock` and
:func:`xla_compiles` count the seconds and programs this process spent compiling, so a sweep
can say where its wall time went, and :func:`background_clock` the seconds of the background
compile thread (:mod:`jaxnet.tiers`). Left out: size limits (JAX's own
``jax_compilation_cache_max_size`` applies) and any cache of jaxnet's own.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from pathlib import Path

ENV = "JAXNET_CACHE_DIR"
_OFF = ("off", "none", "0", "false", "no")
_counts = {"hits": 0, "misses": 0}
_thread_hits = threading.local()  # hits counted in each thread (one compile's own, read twice)
_listening = False
_enabled: list = []  # the folder jaxnet turned the cache on in, once it has
_warned: set = set()  # folders already said to be unusable: one warning each per process


class CacheWarning(UserWarning):
    """The compile cache folder cannot be used: the run goes on without the cache."""


def _usable(folder: str) -> str | None:
    """Why ``folder`` cannot hold the cache (created here when missing), or None."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        probe = Path(folder) / f".jaxnet-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        return f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
    return None


def _unusable(folder: str, why: str) -> None:
    if folder in _warned:
        return
    _warned.add(folder)
    warnings.warn(
        f"compile cache {folder} cannot be used ({why}); running without it (set "
        f"{ENV}=off, or --cache-dir, to choose another folder or none)",
        CacheWarning,
        stacklevel=3,
    )


def default_dir() -> Path:
    """``$XDG_CACHE_HOME/jaxnet/jax``, or ``~/.cache/jaxnet/jax``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxnet" / "jax"


def _is_off(path) -> bool:
    return str(path).strip().lower() in _OFF or not str(path).strip()


def enable(path=None) -> str | None:
    """Turn on JAX's persistent compilation cache (see the module docstring for where).

    Args:
      path: a folder (created when missing), ``"off"`` to turn the cache off, or None for
        ``JAXNET_CACHE_DIR``, else the user's own JAX setting, else :func:`default_dir`.

    Returns:
      The folder in use, or None when the cache is off.
    """
    if "jax" not in sys.modules:
        return _enable_at_start(path)
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    _listen()
    if path is None:
        path = os.environ.get(ENV)
        if path is None and jax.config.jax_compilation_cache_dir:
            return jax.config.jax_compilation_cache_dir  # the user's own (or ours already)
    if path is not None and _is_off(path):
        jax.config.update("jax_enable_compilation_cache", False)
        _enabled.clear()
        return None
    folder = str(Path(path if path is not None else default_dir()).expanduser())
    if _enabled == [folder] and jax.config.jax_compilation_cache_dir == folder:
        return folder
    why = _usable(folder)
    if why is not None:
        if path is not None:  # a folder the user named: say so, once
            _unusable(folder, why)
        jax.config.update("jax_enable_compilation_cache", False)
        _enabled.clear()
        return None  # no usable folder: run without the cache
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", folder)
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        # Every program: a small group's programs compile in well under JAX's 1 s default.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    # JAX decides once per process whether the cache is used; programs compiled before this
    # call (without a folder) must not keep it off.
    compilation_cache.reset_cache()
    _enabled[:] = [folder]
    return folder


def _enable_at_start(path) -> str | None:
    """:func:`enable` before JAX is imported: the same choice, handed to JAX through the
    environment it reads when it starts, so that ``jaxnet --help`` and argument errors never
    pay for importing JAX."""
    if path is None:
        path = os.environ.get(ENV)
        if path is None and os.environ.get("JAX_COMPILATION_CACHE_DIR"):
            return os.environ["JAX_COMPILATION_CACHE_DIR"]  # the user's own
    if path is not None and _is_off(path):
        os.environ["JAX_ENABLE_COMPILATION_CACHE"] = "false"
        return None
    folder = str(Path(path if path is not None else default_dir()).expanduser())
    why = _usable(folder)
    if why is not None:
        if path is not None:
            _unusable(folder, why)
        os.environ["JAX_ENABLE_COMPILATION_CACHE"] = "false"
        return None
    os.environ["JAX_ENABLE_COMPILATION_CACHE"] = "true"
    os.environ["JAX_COMPILATION_CACHE_DIR"] = folder
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    _enabled[:] = [folder]
    return folder


def _count(event: str, **_) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _counts["hits"] += 1
        _thread_hits.n = getattr(_thread_hits, "n", 0) + 1
    elif event == "/jax/compilation_cache/cache_misses":
        _counts["misses"] += 1


def _listen() -> None:
    global _listening
    if not _listening:
        import jax.monitoring

        jax.monitoring.register_event_listener(_count)
        _listening = True


def thread_hits() -> int:
    """Programs this thread has loaded from the persistent cache (read before and after a
    compile to tell a load from a compile, whatever other threads compile meanwhile)."""
    _listen()
    return getattr(_thread_hits, "n", 0)


def stats() -> dict:
    """``{"hits": n, "misses": m}``: programs this process loaded from / wrote to the cache."""
    _listen()
    return dict(_counts)


_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",  # includes loading from the cache
)
BACKGROUND = "jaxnet-compile"  # the name prefix of jaxnet's background compile thread
# Seconds and programs since the duration listener began: "main" is every thread but the
# background compiler (with the time spent waiting for it), "background" is that thread.
_clock = {"main": 0.0, "background": 0.0, "waited": 0.0, "programs": 0}
_timing: list = []  # [True] once the duration listener is registered


def _in_background() -> bool:
    return threading.current_thread().name.startswith(BACKGROUND)


def _count_compile(event: str, duration: float, **_) -> None:
    if event in _COMPILE_EVENTS:
        _clock["background" if _in_background() else "main"] += duration
    if event == "/jax/core/compile/backend_compile_duration":
        _clock["programs"] += 1


def _start_clock() -> None:
    if not _timing:
        import jax.monitoring

        jax.monitoring.register_event_duration_secs_listener(_count_compile)
        _timing.append(True)


def compile_clock() -> float:
    """Seconds this process's own threads have spent lowering and compiling JAX programs, or
    waiting for the background compiler to finish one they need, since first asked.

    Counts every program, the eager operations' small ones included (``jax.monitoring``
    events); tracing is left out because nested traces would be counted twice. The background
    compiler's own seconds are :func:`background_clock`'s.
    """
    _start_clock()
    return _clock["main"] + _clock["waited"]


def background_clock() -> float:
    """Seconds jaxnet's background compile thread has spent lowering and compiling (tier-2
    programs, and programs compiled ahead) since :func:`compile_clock` was first asked."""
    _start_clock()
    return _clock["background"]


def note_wait(seconds: float) -> None:
    """Count ``seconds`` a thread waited for a program the background thread was compiling."""
    _start_clock()
    if not _in_background():
        _clock["waited"] += seconds


def xla_compiles() -> int:
    """XLA programs requested in this process since :func:`compile_clock` was first asked:
    compiled, or loaded from the persistent compilation cache (either thread)."""
    _start_clock()
    return _clock["programs"]
