"""The ``jaxnet`` command: one subcommand per job, each a thin layer over library calls.

One module per subcommand (``tutorial``, ``train``, ``predict``, ``gradcheck``, ``sweep``,
``runs``, ``report``, ``export``), each with its ``add_parser(sub)`` and its ``run(args)``; what
they share is in :mod:`jaxnet.cli.args`. Every subcommand reports bad arguments and bad files in
one line on stderr and exits with status 2, never with a traceback. Parsing imports no JAX
(the library is imported inside the ``run`` functions), so ``--help``, ``--version`` and
argument errors answer at once. Left out: any training, checking or storing of its own.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import warnings

from .. import __version__, compile_cache
from . import export, gradcheck, output, predict, report, runs, sweep, train, tutorial
from .args import CliError, OneLineErrorParser, join_negative_values

DESCRIPTION = (
    "Train, check and sweep small JAX multilayer perceptrons. "
    "Run `jaxnet COMMAND --help` for a command's options."
)

# In the order `jaxnet --help` lists them.
SUBCOMMANDS = (tutorial, train, predict, gradcheck, sweep, runs, report, export)


def build_parser() -> argparse.ArgumentParser:
    """The ``jaxnet`` parser; each subcommand's parsed args carry its ``run`` as ``args.run``."""
    parser = OneLineErrorParser(prog="jaxnet", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"jaxnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in SUBCOMMANDS:
        command.add_parser(sub)
    return parser


MAX_MESSAGE = 600  # characters of an error line: a message never echoes a whole file


def _error_message(error: Exception) -> str:
    """The one line an expected error prints after ``jaxnet CMD: error:``: one line, and at
    most :data:`MAX_MESSAGE` characters whatever the error carries."""
    if isinstance(error, sqlite3.Error):  # a store query that jaxnet did not foresee
        text = f"results store: {error}"
    elif isinstance(error, output.StdoutError):
        text = error.args[0]
    elif isinstance(error, OSError):  # str() keeps the path; args[0] alone is only the errno
        text = str(error)
    else:
        text = str(error.args[0]) if error.args else str(error)
    text = " ".join(text.split()) or type(error).__name__
    if len(text) > MAX_MESSAGE:
        text = f"{text[: MAX_MESSAGE - 40]}... ({len(text):,} characters in all)"
    return text


def main(argv=None) -> int:
    """Run the ``jaxnet`` command line.

    Args:
      argv: the arguments after ``jaxnet``; None for ``sys.argv[1:]``.

    Returns:
      The exit status: 0 on success, 1 for a failed check or a diverged run, 2 for a bad
      argument or file (one line on stderr), 130 when interrupted. Argument errors that
      argparse finds exit through ``SystemExit`` with status 2.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(join_negative_values(argv))
    closed = output.closed_message()
    if closed:  # refused before anything runs: nothing is trained, written or left behind
        print(f"jaxnet {args.command}: error: {closed}", file=sys.stderr)
        return 2
    real = sys.stdout
    sys.stdout = output.GuardedStdout(real)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(args.command, warnings.showwarning)
            return _run(args)
    except BrokenPipeError:  # the reader stopped reading (`| head`): end quietly, as cat does
        output.silence_stdout(real)
        return output.BROKEN_PIPE_STATUS
    finally:
        sys.stdout = real


def _one_line_warning(command: str, show):
    """``warnings.showwarning`` that prints jaxnet's own warnings (an unusable compile cache)
    as one line, ``jaxnet CMD: warning: ...``, and leaves any other warning to ``show``."""

    def showwarning(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, compile_cache.CacheWarning):
            return show(message, category, filename, lineno, file, line)
        print(f"jaxnet {command}: warning: {message}", file=sys.stderr)

    return showwarning


def _run(args) -> int:
    """``args.run(args)`` with the expected errors as one line on stderr; its exit status."""
    try:
        # Every command compiles the same few programs on every run: keep them on disk.
        compile_cache.enable(getattr(args, "cache_dir", None))
        result = args.run(args)
        sys.stdout.flush()  # a full disk or a closed descriptor is found here, not at exit
    except BrokenPipeError:
        raise
    except (CliError, ValueError, TypeError, OSError, sqlite3.Error) as e:
        print(f"jaxnet {args.command}: error: {_error_message(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jaxnet {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
