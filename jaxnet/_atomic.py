"""Write a file atomically: a temporary file beside it, flushed to disk, renamed over it.

Used by checkpoints, figures, CSV tables and the report page, so a process killed mid-write
leaves the previous file intact (or no file), never a truncated one. A killed write can leave
its temporary file behind; the next write to the same path removes such orphans, but never the
temporary file of a writer that is still running (its process id is part of the name).

Atomic replacement is for regular files and new paths only (:func:`destination`): a symlink to
a regular file is written through to that file (the link stays), this process's own standard
output or error (``/dev/stdout``, ``/proc/self/fd/1``, or the file stdout was redirected to) is
written directly, and a directory, device, FIFO or socket is refused before anything is
written -- a rename would replace it with a regular file, even as root. :func:`check_writable`
answers the same question before a long computation, and that the place can be written.

Left out: Windows (``os.replace`` over an open file), and locking between concurrent writers
(the last rename wins).
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import stat
import sys
from pathlib import Path

from ._reading import kind


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


def standard_stream(path) -> int | None:
    """The file descriptor, 1 (stdout) or 2 (stderr), of this process whose open file ``path``
    names (``/dev/stdout``, ``/proc/self/fd/1``, the file stdout was redirected to), or None."""
    try:
        target = os.stat(path)
    except (OSError, ValueError):
        return None
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
                return fd
    return None


def destination(path) -> Path:
    """The regular file a write to ``path`` replaces: ``path`` itself (a regular file, or a
    path with nothing there yet), or the regular file a symlink at ``path`` leads to.

    Raises:
      IsADirectoryError: ``path`` is (or leads to) a directory.
      ValueError: ``path`` is (or leads to) a device, FIFO or socket: replacing it with a
        regular file would destroy it, and writing into it is not a file's write.
      FileNotFoundError: ``path`` is a symlink to nothing (where it leads is not created).
      NotADirectoryError: a parent of ``path`` is a file.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode  # follows symlinks: what a write would reach
    except FileNotFoundError:
        if path.is_symlink():
            raise FileNotFoundError(
                f"cannot write {path}: it is a symlink to {os.readlink(path)}, which does not "
                "exist (create the file first, or write to another path)"
            ) from None
        return path
    except NotADirectoryError:
        parent = next(p for p in path.parents if p.exists())
        raise NotADirectoryError(f"cannot write {path}: {parent} is not a directory") from None
    except OSError as e:  # a symlink loop, a name too long, no permission to look
        raise type(e)(f"cannot write {path}: {e.strerror or e}") from None
    except ValueError as e:  # a NUL byte in the name
        raise ValueError(f"cannot write {path!r}: {e}") from None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"cannot write {path}: it is a directory")
    if not stat.S_ISREG(mode):
        raise ValueError(
            f"cannot write {path}: it is {kind(mode)}, not a regular file (a file is written "
            "by replacing it, which would destroy this one); give a file path"
        )
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def check_writable(path) -> Path:
    """Refuse now what :func:`write` would refuse later, and a place that cannot be written.

    For a long computation that ends in a write: a path the write would refuse
    (:func:`destination`), or a directory where no file can be created (read-only, no
    permission, a file on the way) is found before the work, not after it.

    Returns:
      :func:`destination` of ``path``.

    Raises:
      OSError or ValueError: one line naming ``path`` and why.
    """
    if standard_stream(path) is not None:
        return Path(path)
    target = destination(path)
    folder = next(p for p in (target.parent, *target.parent.parents) if p.exists())
    if not folder.is_dir():
        raise NotADirectoryError(f"cannot write {path}: {folder} is not a directory")
    probe = temp_name(folder / target.name)
    try:
        with open(probe, "xb"):
            pass
    except OSError as e:
        raise PermissionError(
            f"cannot write {path}: cannot create a file in {folder} ({e.strerror})"
        ) from None
    os.unlink(probe)
    return target


def _write_stream(fd: int, fill) -> None:
    """``fill`` this process's stdout or stderr directly, after what Python buffered for it."""
    stream = sys.stdout if fd == 1 else sys.stderr
    if stream is not None:
        stream.flush()
    with os.fdopen(os.dup(fd), "wb") as f:
        fill(f)


def write(path, fill) -> Path:
    """Write ``path`` atomically: ``fill(f)`` writes the content to a binary file object.

    Parent directories are created. Any exception (KeyboardInterrupt included) removes the
    temporary file and leaves an existing ``path`` as it was. A symlink is written through to
    its regular file; this process's stdout or stderr is written directly; anything else that
    is not a regular file is refused (:func:`destination`).

    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    """
    stream = standard_stream(path)
    if stream is not None:
        _write_stream(stream, fill)
        return Path(path)
    given, path = Path(path), destination(path)
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
    return given
