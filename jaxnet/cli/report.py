"""``jaxnet report``: a sweep's figures and its report page, drawn from a results store.

With ``--watch`` the page is rewritten as groups finish, until Ctrl-C. Left out: the figures
and the page themselves (``jaxnet.sweep.page``).
"""

from __future__ import annotations

from pathlib import Path

from .. import _atomic as atomic_files
from .args import METRIC_NAMES, CliError


def add_parser(sub) -> None:
    """Add ``report`` and its options to the ``jaxnet`` subparsers ``sub``."""
    p = sub.add_parser("report", help="draw a sweep's figures and DIR/index.html from a store")
    p.add_argument("store", help="the SQLite results store, e.g. runs/demo.sqlite")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for the PNGs and page")
    p.add_argument("--sweep", help="whose PNGs go in DIR itself (others: DIR/sweepI-NAME/)")
    p.add_argument("--metric", choices=METRIC_NAMES, help="default: the sweep's metric")
    p.add_argument(
        "--watch", action="store_true", help="rewrite the page as groups finish (Ctrl-C stops)"
    )
    p.add_argument("--interval", type=float, default=3.0, help="seconds between looks (--watch)")
    p.set_defaults(run=run)


def check_report_dir(folder, flag: str) -> None:
    """Refuse, before anything is drawn or trained, a report folder that cannot be written:
    a file in its place, or a place where no file can be created.

    Raises:
      CliError: naming the flag and the folder.
    """
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise CliError(f"{flag} {folder} is not a directory; the report is a folder of files")
    try:
        atomic_files.check_writable(path / "index.html")
    except (OSError, ValueError) as e:
        raise CliError(f"{flag} {folder}: {e}") from None


def print_page(files) -> None:
    """What :func:`jaxnet.sweep.page.write_page` wrote, and why any figures are missing."""
    print("figures: " + ", ".join(str(p) for p in files.figures))
    for note in files.notes:
        print(f"no figures for {note}")
    print(f"page: {files.page}")


def run(args) -> None:
    """Write the report once, or keep rewriting it with ``--watch``."""
    check_report_dir(args.out, "--out")
    from ..sweep import page

    if args.watch:
        page.watch(args.store, args.out, args.sweep, args.metric, args.interval)
        return
    print_page(page.write_page(args.store, args.out, args.sweep, args.metric))
