"""``jaxnet sweep``: train every config of a sweep file into a results store.

Runs the sweep (resuming what the store already holds), prints its summary and the best
configs, and with ``--report`` draws the report page. Ctrl-C stops with exit status 130 and
says how many of the file's configs are stored (rows of an earlier version of the file are
counted apart). Left out: everything the sweep does (``jaxnet.sweep``).
"""

from __future__ import annotations

import sys

from .. import store
from .args import at_least
from .report import check_report_dir, print_page


def add_parser(sub) -> None:
    """Add ``sweep`` and its options to the ``jaxnet`` subparsers ``sub``."""
    p = sub.add_parser(
        "sweep",
        help="train every config of a sweep file into a results store",
        epilog="The sweep file format, every key and its default: docs/sweeps.md.",
    )
    p.add_argument("file", help="the sweep's TOML file, e.g. experiments/sweeps/demo.toml")
    p.add_argument("--store", help="the SQLite results store (default runs/NAME.sqlite)")
    p.add_argument("--report", metavar="DIR", help="then draw the report's figures into DIR")
    p.add_argument("--top", type=int, default=10, help="rows of the final ranking (default 10)")
    p.add_argument(
        "--keep-models",
        metavar="all|K|none",
        default="10",
        help="keep the trained params of every config, of the best K by the sweep's metric, or "
        "of none, so `jaxnet predict STORE --best` serves them (default 10; a model costs about "
        "4 bytes a weight)",
    )
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="JAX's compile cache folder, or 'off' (default: $JAXNET_CACHE_DIR, else "
        "~/.cache/jaxnet/jax; delete the folder to clear it)",
    )
    p.add_argument(
        "--tiers",
        choices=("on", "off"),
        help="tiered compilation: groups start on cheaply compiled programs, the optimized ones "
        "compile in the background and take over when they pay, the next group compiles ahead "
        "(default on, or $JAXNET_TIERS)",
    )
    _add_engine_options(p)
    p.set_defaults(run=run)


def _add_engine_options(p) -> None:
    p.add_argument(
        "--engine",
        choices=("in-process", "ray"),
        default="in-process",
        help="where groups train: here, one after another (default), or as Ray tasks",
    )
    p.add_argument("--address", help="with --engine ray: a Ray cluster to join (auto, HOST:PORT)")
    p.add_argument(
        "--gpus-per-group", type=float, help="with --engine ray: GPUs per group (default 0)"
    )
    p.add_argument(
        "--cpus-per-group",
        type=float,
        help="with --engine ray: CPUs per group (default: a whole CPU node, or 1 with GPUs)",
    )
    p.add_argument("--retries", type=int, help="runs again of a failed group (default 0; 3 on Ray)")
    p.add_argument(
        "--lease",
        type=float,
        default=60.0,
        help="seconds before another process may take over a dead process's group (60)",
    )


def _engine_options(args) -> dict:
    """The keyword arguments of ``jaxnet.sweep.run`` that choose and tune the engine (checked
    there, once: :class:`jaxnet.sweep.EngineOptions`)."""
    names = ("engine", "address", "gpus_per_group", "cpus_per_group", "retries", "lease")
    return {name: getattr(args, name) for name in names}


def run(args) -> int | None:
    """Run the sweep file into its store; print the summary, the ranking, maybe the report.

    Returns:
      None (exit status 0), or 130 when interrupted.
    """
    from .. import sweep  # lazy: it imports JAX
    from ..sweep import page
    from ..sweep.models import check_keep

    at_least(args.top, 1, "--top")
    keep = check_keep(args.keep_models, "--keep-models")
    sweep.EngineOptions(**_engine_options(args))  # the flags first: refused before the file
    if args.report:
        check_report_dir(args.report, "--report")  # before the sweep trains, not after
    spec = sweep.load(args.file)
    path = args.store or f"runs/{spec.name}.sqlite"
    try:
        summary = sweep.run(
            spec,
            path,
            cache_dir=args.cache_dir,
            keep_models=keep,
            tiers=args.tiers,
            **_engine_options(args),
        )
    except KeyboardInterrupt:
        print(f"jaxnet sweep: {sweep.stored_tally(path, spec).interrupted()}", file=sys.stderr)
        return 130
    print(summary.describe())
    with store.opened(path, must_exist=True) as conn:
        rows, earlier = sweep.split_rows(store.runs(conn, spec.name), spec)
    metric = sweep.default_metric(spec.settings)
    print(f"\nbest of {spec.name} by {metric}:")
    print("\n".join(sweep.ranked_table(rows, metric, args.top)))
    if earlier:
        print(
            f"({len(earlier)} stored rows of configs no longer in the file are not ranked here; "
            f"`jaxnet runs {path}` shows them apart)"
        )
    if args.report:
        print_page(page.write_page(path, args.report, spec.name))
