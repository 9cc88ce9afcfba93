"""``jaxnet gradcheck``: the hand-written backprop against jax.grad and finite differences.

One net from the flags, printed as a table, or with ``--all`` the library's whole case matrix,
one summary line a case. ``--grad-fn MODULE:FUNCTION`` checks a backward pass of your own
instead of jaxnet's. Exit status 0 when every comparison agrees, 1 otherwise. Left out: the
checks themselves (``jaxnet.verification``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import time
from pathlib import Path

from .args import RESIDUAL_HELP, CliError, at_least, check_residual, int_list


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
        "--grad-fn",
        metavar="MODULE:FUNCTION",
        help="check your own backward pass instead of jaxnet's: a function (net, params, x, y, "
        "loss) -> (loss, grads) in an importable module (mybackprop:backprop, found from the "
        "current folder too) or a file (path/to/file.py:backprop)",
    )
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
        if args.grad_fn:
            raise CliError("--grad-fn checks one net from the flags; it cannot go with --all")
        return run_matrix(args.dtype, args.seed)
    grad_fn = load_function(args.grad_fn, "--grad-fn") if args.grad_fn else None
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
    _check_size(args, net)
    params, x, y = random_problem(net, loss, batch=args.batch, seed=args.seed)
    report = gradcheck(net, params, x, y, loss, grad_fn=grad_fn, dtype=args.dtype, seed=args.seed)
    print(report.table())
    return 0 if report.ok else 1


def _check_size(args, net) -> None:
    """Refuse, before JAX allocates anything, a net or batch too large to check: ``--sizes
    2147483647,1`` ended in a 24 GiB allocation's traceback, and 100000,100000,1 ran for
    minutes. The limit is the one training applies (its estimate covers the params, the two
    gradients and the finite differences' copies)."""
    from .. import sizing

    itemsize = 4 if args.dtype == "float32" else 8
    need, limit = sizing.training_bytes(net, args.batch, itemsize=itemsize), sizing.MAX_GROUP_BYTES
    if need > limit:
        raise CliError(
            f"--sizes {args.sizes} with --batch {args.batch}: a {net.n_params:,}-parameter net "
            f"would need about {need / 2**30:,.1f} GiB to check in {args.dtype}; the limit is "
            f"{limit / 2**30:g} GiB (jaxnet.sizing.MAX_GROUP_BYTES)"
        )


def _module_from_file(path: Path, argument: str):
    if not path.is_file():
        raise CliError(f"{argument}: {path} is not a file")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise CliError(f"{argument}: cannot load {path} as Python")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _module(name: str, argument: str):
    if name.endswith(".py") or os.sep in name or "/" in name:
        return _module_from_file(Path(name), argument)
    if not all(part.isidentifier() for part in name.split(".")):
        raise CliError(f"{argument}: {name!r} is neither a module name nor a .py file")
    here = os.getcwd()
    added = "" not in sys.path and here not in sys.path
    if added:  # as `python -m` does: a module beside you is found (for this import only)
        sys.path.insert(0, here)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and name.startswith(e.name):  # the module itself, not one it imports
            raise CliError(
                f"{argument}: no module named {name!r} here ({here}); run from its "
                "folder or give a file, path/to/file.py:FUNCTION"
            ) from None
        raise
    finally:
        if added:
            sys.path.remove(here)


def load_function(text: str, argument: str):
    """The function ``MODULE:FUNCTION`` (or ``FILE.py:FUNCTION``) names, imported.

    Args:
      text: the flag's value; argument: the flag, for messages.

    Returns:
      The callable.

    Raises:
      CliError: a malformed value, a module or file that is not there, a missing or
        non-callable name, or a module that raised while it was imported (its error named).
    """
    module_name, sep, function = text.rpartition(":")
    if not sep or not module_name or not function.isidentifier():
        raise CliError(
            f"{argument} must be MODULE:FUNCTION like mybackprop:backprop or "
            f"path/to/file.py:backprop; got {text!r}"
        )
    try:
        module = _module(module_name, argument)
    except CliError:
        raise
    except (Exception, SystemExit) as e:  # the user's module failed as it ran: one line
        first = (str(e).strip().splitlines() or [""])[0]
        raise CliError(
            f"{argument}: importing {module_name} raised {type(e).__name__}: {first}"
        ) from e
    found = getattr(module, function, None)
    if found is None:
        raise CliError(f"{argument}: {module_name} has no function {function!r}")
    if not callable(found):
        raise CliError(
            f"{argument}: {module_name}.{function} is not a function (its type is "
            f"{type(found).__name__})"
        )
    return found


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
