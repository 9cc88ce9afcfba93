"""Following a running sweep: rewrite the report page whenever a group is committed.

The page written while watching polls ``stamp.js`` beside it and reloads itself when the
stamp changes, keeping its sort, filter and selection in the address's ``#`` part; the last
page written does not poll. Left out: a server (the folder is the page) and notifications.
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path

from ... import store
from .sections import sweep_sections
from .writer import PAGE, write_page


def store_state(store_path) -> tuple | None:
    """What changes when a group is committed: ``(sweeps, runs, last run id)``; None while
    the store does not exist yet (or is the empty file SQLite makes before its first commit)."""
    path = Path(store_path)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    with store.opened(store_path, must_exist=True) as conn:
        return store.stored_counts(conn)


def _complete(store_path) -> bool:
    """Every sweep in the store has a row for every config of its spec."""
    with store.opened(store_path, must_exist=True) as conn:
        sections = sweep_sections(conn)
    return bool(sections) and all(
        s["configs"] is not None and s["stored"] >= s["configs"] for s in sections
    )


def watch(
    store_path,
    out_dir,
    sweep_name=None,
    metric=None,
    interval: float = 3.0,
    log=None,
    stop=None,
) -> int:
    """Rewrite the report whenever the store changes, until its sweeps complete or Ctrl-C.

    It stops by itself as soon as every sweep in the store holds all its configs: after the
    change that completes them, or at its first look at a store that is complete already
    (then it writes the final page once and says so). The last page written does not reload
    itself.

    Args:
      store_path, out_dir, sweep_name, metric: as for :func:`.writer.write_page` (the store may
        appear after the watch begins).
      interval: seconds between looks at the store (> 0).
      log: called with one line per rewrite (default: print, flushed, so a log file or a
        pipe follows along).
      stop: a ``threading.Event`` that ends the watch when set (tests), or None.

    Returns:
      The number of times the page was written.
    """
    if not (isinstance(interval, (int, float)) and math.isfinite(interval) and interval > 0):
        raise ValueError(f"interval must be a positive number of seconds; got {interval!r}")
    log = log or functools.partial(print, flush=True)
    last, writes = None, 0
    log(f"watching {store_path}: {Path(out_dir) / PAGE} follows it (Ctrl-C stops)")
    try:
        while stop is None or not stop.is_set():
            state = store_state(store_path)
            if state is not None and state != last:
                last = state
                files = write_page(store_path, out_dir, sweep_name, metric, watching=True)
                writes += 1
                log(f"{time.strftime('%H:%M:%S')} {state[1]} runs -> {files.page}")
                if _complete(store_path):
                    log("every sweep in the store is complete")
                    break
            elif state is None and last is None and writes == 0:
                log(f"waiting for {store_path} to appear")
                last = ()
            if stop is None:
                time.sleep(interval)
            else:
                stop.wait(interval)
    except KeyboardInterrupt:
        log("stopped watching")
    if store_state(store_path) is not None:  # the final page: complete, no polling
        write_page(store_path, out_dir, sweep_name, metric, watching=False)
        writes += 1
    return writes
