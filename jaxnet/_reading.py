"""Reading a user's file: a regular file only, and never more than a stated number of bytes.

``/dev/zero`` named as a CSV file, a FIFO nobody writes, a directory: each is refused before a
byte is read, in one line naming the path and what it is; a regular file larger than the
limit its caller states is refused by its size, and a file that grows while it is read stops
at the limit, so no read can run forever or fill the memory. Callers parse the bytes they get
(one read: what is parsed is exactly what was hashed, see :func:`jaxnet.sweep.preparation`).

Left out: streaming reads of files larger than memory.
"""

from __future__ import annotations

import os
import stat

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (a pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def kind(mode: int) -> str:
    """What a file of ``mode`` (``os.stat(...).st_mode``) is, in words: ``"a regular file"``,
    ``"a directory"``, ``"a character device"``, ..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def size_text(n: int) -> str:
    """``n`` bytes in the largest binary unit that keeps it at least 1: ``512 MiB``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def excerpt(value, limit: int = 40) -> str:
    """A short, escaped excerpt of a value taken from a user's file, for an error message:
    its ``repr`` (control characters and quotes escaped), cut to about ``limit`` characters.

    A message never echoes more of a file than this, however long a cell or a line is.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 3]}... ({len(str(value)):,} characters)"


def listing(names, limit: int = 8) -> str:
    """``a, b, c`` of at most ``limit`` excerpted names, then how many more there are."""
    names = list(names)
    plain = [
        str(n) if len(str(n)) <= 20 and str(n).isprintable() else excerpt(n, 24) for n in names
    ]
    shown = ", ".join(plain[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


def check_regular(path, what: str) -> None:
    """Refuse ``path`` unless it is (or a symlink leads to) a regular file.

    Args:
      path: the file; what: what the caller reads, for the message (``"CSV file"``).

    Raises:
      FileNotFoundError, PermissionError, OSError: cannot be looked at, naming the path.
      ValueError: a directory, device, FIFO or socket.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise type(e)(f"cannot read {what} {path}: {e.strerror}") from None
    except ValueError as e:  # a NUL byte in the path
        raise ValueError(f"cannot read {what} {path!r}: {e}") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"cannot read {what} {path}: it is {kind(mode)}, not a regular file")


def read_regular(path, limit: int, what: str, limit_name: str) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    Args:
      path: the file; limit: the most bytes read.
      what: what the caller reads (``"CSV file"``); limit_name: where the limit is set, for
        the message (``"jaxnet.data.CSV_MAX_BYTES"``).

    Raises:
      ValueError: not a regular file (checked on the open file, so nothing can be swapped in
        between), or larger than ``limit``.
      OSError: cannot be opened, naming the path.
    """
    check_regular(path, what)
    try:
        # O_NONBLOCK: a FIFO put in the file's place since the check must not hang the open.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise type(e)(f"cannot read {what} {path}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        mode, size = os.fstat(fd).st_mode, os.fstat(fd).st_size
        if not stat.S_ISREG(mode):
            raise ValueError(f"cannot read {what} {path}: it is {kind(mode)}, not a regular file")
        if size > limit:
            raise ValueError(
                f"{what} {path} is {size_text(size)}; jaxnet reads at most {size_text(limit)} "
                f"({limit_name})"
            )
        content = f.read(limit + 1)
    if len(content) > limit:
        raise ValueError(
            f"{what} {path} grew past {size_text(limit)} while it was read; jaxnet reads at "
            f"most {size_text(limit)} ({limit_name})"
        )
    return content
