"""Write a file atomically: a temporary file beside it, flushed to disk, renamed over it.

Used by checkpoints and figures, so a process killed mid-write leaves the previous file intact
(or no file), never a truncated one. A killed write can leave its temporary file behind; the
next write to the same path removes such orphans, but never the temporary file of a writer
that is still running (its process id is part of the name).

Left out: Windows (``os.replace`` over an open file), and locking between concurrent writers
(the last rename wins).
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
from pathlib import Path


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (signal 0 only checks, sends nothing)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


def temp_name(path: Path) -> Path:
    """``.NAME.PID.RANDOM.tmp`` beside ``path``: hidden, and unique per writer."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")


def remove_orphans(path: Path) -> list[Path]:
    """Delete temporary files of earlier writes to ``path`` whose writer no longer runs.

    Returns:
      The files removed.
    """
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        middle = tmp.name[len(path.name) + 2 : -len(".tmp")].split(".")
        # ".NAME.PID.HEX.tmp" (this module), or ".NAME.HEX.tmp" (checkpoints before it).
        pid = int(middle[0]) if len(middle) == 2 and middle[0].isdigit() else None
        if len(middle) > 2 or (pid is not None and _alive(pid)):
            continue
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def write(path, fill) -> Path:
    """Write ``path`` atomically: ``fill(f)`` writes the content to a binary file object.

    Parent directories are created. Any exception (KeyboardInterrupt included) removes the
    temporary file and leaves an existing ``path`` as it was.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(path)
    tmp = temp_name(path)
    try:
        with open(tmp, "xb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path
