"""``jaxnet export``: a results store's runs as files other tools read (TensorBoard).

Left out: the writing itself (``jaxnet.sweep.export_tensorboard``).
"""

from __future__ import annotations

from .args import CliError


def add_parser(sub) -> None:
    """Add ``export`` and its options to the ``jaxnet`` subparsers ``sub``."""
    p = sub.add_parser("export", help="write a store's runs as TensorBoard event files")
    p.add_argument("store", help="the SQLite results store, e.g. runs/demo.sqlite")
    p.add_argument(
        "--tensorboard",
        required=True,
        metavar="DIR",
        help="a new or empty folder: DIR/SWEEP/RUN per run, its curves and hparams "
        "(then: tensorboard --logdir DIR)",
    )
    p.add_argument("--sweep", help="only this sweep (default: every sweep in the store)")
    p.set_defaults(run=run)


def run(args) -> None:
    """Write the event files and say where they are."""
    from ..sweep import export_tensorboard  # lazy: it imports JAX

    if not args.tensorboard:  # "" would be the current folder
        raise CliError("--tensorboard needs a folder; got an empty path")
    runs = export_tensorboard(args.store, args.tensorboard, args.sweep)
    sweeps = len({p.parent for p in runs})
    print(
        f"wrote {len(runs)} TensorBoard runs of {sweeps} sweep{'s' if sweeps != 1 else ''} to "
        f"{args.tensorboard}; view them with: tensorboard --logdir {args.tensorboard}"
    )
