"""What the ``jaxnet`` subcommands share: the one-line error, value parsers and messages.

Every helper here is plain Python and NumPy, so building the parser and checking arguments
import no JAX. Left out: anything one subcommand alone needs (it lives in that command's file).
"""

from __future__ import annotations

import argparse
import math
import re
import sys

import numpy as np

from .._limits import INT32_MAX, LIMIT_TEXT, int_in_range, shown
from . import output

# Literal copies, so that building the parser imports no JAX; tests/test_cli_help.py checks
# they equal jaxnet.train.OPTIMIZERS and jaxnet.sweep.METRICS.
OPTIMIZER_NAMES = ("adam", "adamw", "momentum", "nesterov", "rmsprop", "sgd")
METRIC_NAMES = (
    "best_val_loss",
    "best_val_accuracy",
    "final_val_loss",
    "final_val_accuracy",
    "test_loss",
    "test_accuracy",
    "train_loss",
    "train_accuracy",
)

RESIDUAL_HELP = "skip around every hidden layer as wide as its input: a + f(a @ w + b)"


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse with one-line errors: ``jaxnet CMD: error: ...`` and a pointer to --help."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def _print_message(self, message, file=None):
        # argparse drops a failed write, so `--help > /dev/full` and `--version >&-` exited 0
        # having printed nothing (or printed to stderr): for --help and --version, as for any
        # result, a stdout that cannot be written is an error. ``file`` is None only when
        # argparse meant stdout and it is closed; errors and usage go to stderr, unchanged.
        if not message:
            return
        if file is not None and file is not sys.stdout:
            return super()._print_message(message, file)
        if file is None:
            self.exit(2, f"{self.prog}: error: {output.closed_message()}\n")
        try:
            file.write(message)
            file.flush()
        except BrokenPipeError:  # the reader stopped reading (`| head`), as for `cat`
            output.silence_stdout(file)
            self.exit(output.BROKEN_PIPE_STATUS)
        except OSError as e:
            self.exit(2, f"{self.prog}: error: cannot write to standard output: {e.strerror}\n")


# A value that starts with a minus, like "-1,2" or "-.5e3": argparse would take it for an option.
_NEGATIVE_VALUES = re.compile(r"-[0-9.][0-9.,eE+-]*")


def join_negative_values(argv: list[str]) -> list[str]:
    """``["--input", "-1,2"]`` -> ``["--input=-1,2"]``, so --input needs no ``=``.

    Args:
      argv: the command line after ``jaxnet``.

    Returns:
      ``argv`` with each negative value after ``--input`` joined to it.
    """
    out = []
    for arg in argv:
        if out and out[-1] == "--input" and _NEGATIVE_VALUES.fullmatch(arg):
            out[-1] = f"--input={arg}"
        else:
            out.append(arg)
    return out


def int_list(text: str, argument: str) -> tuple[int, ...]:
    """``"8,8"`` -> ``(8, 8)``; a one-line error for ``"2,,1"``, ``"0,3"`` or ``"a"``."""
    parts = text.split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise CliError(
            f"{argument} must be comma-separated positive ints like 8,8; got {shown(text)}"
        ) from None
    if any(v <= 0 for v in values):
        raise CliError(f"{argument} must be positive ints; got {shown(text)}")
    if any(v > INT32_MAX for v in values):
        raise CliError(
            f"{argument} must be positive ints of at most {LIMIT_TEXT}; got {shown(text)}"
        )
    return values


def float_list(text: str, argument: str) -> np.ndarray:
    """``"4,8"`` -> ``array([4., 8.])`` with a one-line error otherwise."""
    try:
        return np.array([float(p) for p in text.split(",")])
    except ValueError:
        raise CliError(
            f"{argument} must be comma-separated numbers like 4,8; got {text!r}"
        ) from None


def positive_number(value: float, argument: str) -> float:
    """``value`` if it is finite and > 0 (a learning rate), else a one-line error."""
    if not (math.isfinite(value) and value > 0):
        raise CliError(f"{argument} must be a positive finite number; got {value}")
    return value


def at_least(value: int, low: int, argument: str) -> int:
    """``value`` if it is at least ``low`` and fits in int32 (the library's one rule,
    :func:`jaxnet._limits.int_in_range`), else a one-line error naming the flag."""
    try:
        return int_in_range(value, argument, low)
    except ValueError as e:
        raise CliError(str(e)) from None


def plain_arguments(args: argparse.Namespace) -> dict:
    """The plain-valued arguments of an argparse namespace (for checkpoint metadata)."""
    return {k: v for k, v in vars(args).items() if isinstance(v, (str, int, float, bool))}


def check_residual(net) -> None:
    """A residual flag that would change nothing is a mistake: say which sizes would skip.

    Args:
      net: the :class:`~jaxnet.MLP` a command built from its flags.

    Raises:
      CliError: ``--residual`` was given, but no hidden layer is as wide as its input.
    """
    if net.residual and not any(net.skips):
        raise CliError(
            "--residual needs a hidden layer as wide as its input (e.g. --hidden 64,64); "
            f"layer sizes {'-'.join(map(str, net.sizes))} have none, so there is no skip"
        )


def residual_note(net) -> str:
    """`` residual (2 skips)`` for a residual net, else nothing."""
    return f" residual ({sum(net.skips)} skips)" if net.residual else ""


def report_diverged(command: str, what: str, history) -> int:
    """One line on stderr for a diverged run, naming what was (not) written.

    Args:
      command: the subcommand's name; what: the rest of the sentence, e.g. what was kept.
      history: the run's :class:`~jaxnet.History` (its message says where it diverged).

    Returns:
      1, the command's exit status.
    """
    print(f"jaxnet {command}: error: {history.message}; {what}", file=sys.stderr)
    return 1
