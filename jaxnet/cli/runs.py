"""``jaxnet runs``: a results store's sweeps and their best configs, or every run as CSV.

Left out: the summary and the CSV themselves (``jaxnet.sweep.store_summary``,
``jaxnet.store.write_csv``).
"""

from __future__ import annotations

import sys

from .. import store
from .args import at_least


def add_parser(sub) -> None:
    """Add ``runs`` and its options to the ``jaxnet`` subparsers ``sub``."""
    p = sub.add_parser("runs", help="list a results store's sweeps and their best configs")
    p.add_argument("store", help="the SQLite results store, e.g. runs/demo.sqlite")
    p.add_argument(
        "--csv",
        action="store_true",
        help="print one CSV row per trained member (in_sweep_file: 0 for a config the sweep's "
        "file no longer defines)",
    )
    p.add_argument("--top", type=int, default=5, help="best configs shown per sweep (default 5)")
    p.set_defaults(run=run)


def run(args) -> None:
    """Print the store's summary, or with ``--csv`` one row per trained member."""
    from .. import sweep  # lazy: it imports JAX

    at_least(args.top, 1, "--top")
    with store.opened(args.store, must_exist=True) as conn:
        if not args.csv:
            print("\n".join(sweep.store_summary(conn, args.top)).rstrip())
            return
        # a broken pipe (`| head`) or a failing stdout: jaxnet.cli.output says what happened
        store.write_csv(conn, sys.stdout, sweep.in_file_marker(conn))
