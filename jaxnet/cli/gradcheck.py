"""``jaxnet gradcheck``: the hand-written backprop against jax.grad and finite differences.

One net from the flags, printed as a table, or with ``--all`` the library's whole case matrix,
one summary line a case. Exit status 0 when every comparison agrees, 1 otherwise. Left out:
the checks themselves (``jaxnet.verification``).
"""

from __future__ import annotations

import time

from .args import RESIDUAL_HELP, at_least, check_residual, int_list


def add_parser(sub) -> None:
    """Add ``gradcheck`` and its options to the ``jaxnet`` subparsers ``sub``."""
    p = sub.add_parser("gradcheck", help="check backprop against jax.grad and finite differences")
    p.add_argument("--sizes", default="2,3,1", help="layer sizes (default 2,3,1)")
    p.add_argument("--activation", default="sigmoid", help="hidden activation (default sigmoid)")
    p.add_argument(
        "--output-activation",
        default=None,
        help="default: identity for cross_entropy, sigmoid for binary_cross_entropy, "
        "else the hidden activation",
    )
    p.add_argument(
        "--loss", default="sse", help="mse, sse (default), cross_entropy or binary_cross_entropy"
    )
    p.add_argument("--no-bias", dest="bias", action="store_false", help="layers without biases")
    p.add_argument("--residual", action="store_true", help=RESIDUAL_HELP)
    p.add_argument("--batch", type=int, default=4, help="examples in the batch (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of params, data and directions")
    p.add_argument("--dtype", default="float64", help="float64 (default) or float32")
    p.add_argument(
        "--all",
        action="store_true",
        help="check every activation x loss x depth 1-4 x bias on/off, and residual nets "
        "(depth 4), instead (ignores the net options)",
    )
    p.set_defaults(run=run)


def run(args) -> int:
    """Check one net (or ``--all`` of them) and print the report.

    Returns:
      0 if every gradient agrees, 1 if one does not.
    """
    from ..losses import check_name
    from ..mlp import MLP
    from ..verification import gradcheck, output_activation_for, random_problem

    at_least(args.seed, 0, "--seed")
    if args.all:
        return run_matrix(args.dtype, args.seed)
    sizes = int_list(args.sizes, "--sizes")
    loss = check_name(args.loss, "--loss")
    at_least(args.batch, 1, "--batch")
    out = args.output_activation or output_activation_for(loss, args.activation)
    net = MLP(
        sizes,
        activation=args.activation,
        output_activation=out,
        bias=args.bias,
        residual=args.residual,
    )
    check_residual(net)
    params, x, y = random_problem(net, loss, batch=args.batch, seed=args.seed)
    report = gradcheck(net, params, x, y, loss, dtype=args.dtype, seed=args.seed)
    print(report.table())
    return 0 if report.ok else 1


def run_matrix(dtype: str, seed: int) -> int:
    """``--all``: every case of the library's matrix, a line each, then the total.

    Args:
      dtype: ``"float64"`` or ``"float32"``; seed: of params, data and directions.

    Returns:
      0 if every case passed, 1 if one failed.
    """
    from ..verification import check_matrix

    print(
        f"backprop vs jax.grad vs finite differences (fd), {dtype}, seed {seed}: every activation "
        "x loss x depth 1-4 x bias on/off, residual at depth 4, then edge points (zero inputs, "
        "dead layer, ...)"
    )
    start, reports = time.perf_counter(), []
    for report in check_matrix(dtype=dtype, seed=seed):
        print(report.summary(), flush=True)
        reports.append(report)
    failed = sum(not r.ok for r in reports)
    worst = ", ".join(
        f"{name} {max(r.max_rel_err(name) for r in reports):.2e}"
        for name in reports[0].comparison_names()
    )
    print(
        f"total: {len(reports) - failed} of {len(reports)} cases passed, {failed} failed "
        f"in {time.perf_counter() - start:.1f} s; largest {dtype} relative errors: {worst}"
    )
    return 1 if failed else 0
