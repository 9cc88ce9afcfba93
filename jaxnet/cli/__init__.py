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

from .. import __version__, compile_cache
from . import export, gradcheck, predict, report, runs, sweep, train, tutorial
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


def _error_message(error: Exception) -> str:
    """The one line an expected error prints after ``jaxnet CMD: error:``."""
    if isinstance(error, sqlite3.Error):  # a store query that jaxnet did not foresee
        return f"results store: {error}"
    if isinstance(error, OSError):  # str() keeps the path; args[0] alone is only the errno
        return str(error)
    return error.args[0] if error.args else str(error)


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
    try:
        # Every command compiles the same few programs on every run: keep them on disk.
        compile_cache.enable(getattr(args, "cache_dir", None))
        result = args.run(args)
    except (CliError, ValueError, TypeError, OSError, sqlite3.Error) as e:
        print(f"jaxnet {args.command}: error: {_error_message(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jaxnet {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
