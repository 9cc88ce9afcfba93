"""The command's standard output: a write that fails is an error, as it is for ``cat``.

A command whose stdout is closed (``jaxnet runs S >&-``: Python then has no ``sys.stdout`` at
all) is refused before it does anything; a write that fails while it runs (``> /dev/full``, a
closed descriptor) ends it with one line on stderr and a non-zero status instead of a
traceback or a silent exit 0. A reader that stops reading (``| head``) ends it quietly with
status 141, as SIGPIPE ends ``cat``. Left out: stderr, which has nowhere else to report to.
"""

from __future__ import annotations

import contextlib
import os
import sys

BROKEN_PIPE_STATUS = 141  # 128 + SIGPIPE: what a shell reports for `cat` killed by a closed pipe


class StdoutError(OSError):
    """A write to standard output failed; ``args[0]`` is the one-line message."""


class GuardedStdout:
    """``sys.stdout`` while a command runs: failed writes raise :class:`StdoutError`
    (:class:`BrokenPipeError` stays itself: the reader left on purpose).

    Args:
      stream: the real ``sys.stdout``.
    """

    def __init__(self, stream):
        self._stream = stream

    def _guarded(self, call, *args):
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise StdoutError(f"cannot write to standard output: {e.strerror or e}") from e

    def write(self, text: str) -> int:
        return self._guarded(self._stream.write, text)

    def flush(self) -> None:
        self._guarded(self._stream.flush)

    def __getattr__(self, name):  # fileno, isatty, encoding, buffer: the real stream's
        return getattr(self._stream, name)


def closed_message() -> str | None:
    """Why this process cannot print at all (stdout closed at start), or None."""
    if sys.stdout is None:
        return "standard output is closed (e.g. >&-): there is nowhere to print the result"
    return None


def silence_stdout(stream) -> None:
    """After a broken pipe on the process's own stdout (``stream`` is ``sys.__stdout__``), point
    file descriptor 1 at ``/dev/null``, so that the interpreter's last flush at exit prints no
    traceback for a reader that is gone. Any other stream (a test's) is left alone."""
    if stream is None or stream is not sys.__stdout__:
        return
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
