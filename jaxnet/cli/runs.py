"""``jaxnet runs``: a results store's sweeps and their best configs, or every run as CSV, JSON
or JSON lines.

Left out: the summary and the formats themselves (``jaxnet.sweep.store_summary``,
``jaxnet.sweep.write_csv``, ``write_json``, ``write_jsonl``).
"""

from __future__ import annotations

import sys

from .. import store
from .args import CliError, at_least

FORMATS = ("table", "csv", "json", "jsonl")


def add_parser(sub) -> None:
    """Add ``runs`` and its options to the ``jaxnet`` subparsers ``sub``."""
    p = sub.add_parser("runs", help="list a results store's sweeps and their best configs")
    p.add_argument("store", help="the SQLite results store, e.g. runs/demo.sqlite")
    p.add_argument(
        "--format",
        choices=FORMATS,
        help="table (default): each sweep's best configs; csv: one row per trained member "
        "(in_sweep_file: 0 for a config the sweep's file no longer defines); json, jsonl: the "
        "same with each run's config and curves",
    )
    p.add_argument("--csv", action="store_true", help="the same as --format csv")
    p.add_argument("--sweep", help="only this sweep's runs (csv, json, jsonl)")
    p.add_argument("--top", type=int, default=5, help="best configs shown per sweep (default 5)")
    p.set_defaults(run=run)


def _format(args) -> str:
    if args.csv and args.format not in (None, "csv"):
        raise CliError(f"--csv means --format csv; it cannot go with --format {args.format}")
    return "csv" if args.csv else args.format or "table"


def run(args) -> None:
    """Print the store's summary, or one record per trained member in the chosen format."""
    from .. import sweep  # lazy: it imports JAX

    at_least(args.top, 1, "--top")
    fmt = _format(args)
    if fmt == "table" and args.sweep is not None:
        raise CliError("--sweep goes with --format csv, json or jsonl")
    with store.opened(args.store, must_exist=True) as conn:
        if fmt == "table":
            print("\n".join(sweep.store_summary(conn, args.top)).rstrip())
            return
        # a broken pipe (`| head`) or a failing stdout: jaxnet.cli.output says what happened
        write = {"csv": sweep.write_csv, "json": sweep.write_json, "jsonl": sweep.write_jsonl}
        write[fmt](conn, sys.stdout, args.sweep)
