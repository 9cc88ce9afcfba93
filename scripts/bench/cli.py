"""The command line: arguments, the ``--only`` dispatcher and the report (stdout and JSON).

Which benchmarks exist is the table below, one module each under ``benchmarks/``; how one is
timed is in ``timing``. Run it as ``python scripts/bench`` (see ``__main__``).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .benchmarks import (
    digits,
    gradcheck_depth,
    grads,
    install,
    population,
    search,
    sklearn,
    sklearn_match,
    study,
    sweep,
    sweep_engines,
    sweep_sklearn,
    tiers,
    tutorial,
    wide,
)
from .config import FULL, GPU, QUICK, Config
from .machine import environment, load_average
from .tables import markdown

BENCHMARKS: dict[str, Callable[[Config], dict]] = {
    "tutorial": tutorial.bench_tutorial,
    "digits": digits.bench_digits,
    "grads": grads.bench_grads,
    "wide": wide.bench_wide,
    "population": population.bench_population,
    "sweep_engines": sweep_engines.bench_sweep_engines,
    "sklearn": sklearn.bench_sklearn,
    "sklearn_search": sklearn.bench_sklearn_search,
    "sklearn_match": sklearn_match.bench_sklearn_match,
    "sweep": sweep.bench_sweep,
    "search": search.bench_search,
    "install": install.bench_install,
    "tiers": tiers.bench_tiers,
    "sweep_sklearn": sweep_sklearn.bench_sweep_sklearn,
    "study": study.bench_study,
    "gradcheck_depth": gradcheck_depth.bench_gradcheck_depth,
}
# minutes long: run with --only NAME
OPT_IN = (
    "sweep_engines",
    "sweep",
    "search",
    "install",
    "tiers",
    "sweep_sklearn",
    "sklearn_match",
    "sklearn_search",
    "study",
    "gradcheck_depth",
)
COMMAND = "python scripts/bench"


def benchmark_list() -> str:
    """One line a benchmark: its ``--only`` name and the first line of its module's docstring
    (of its function's, where a module holds several benchmarks)."""
    lines = []
    for name, run in BENCHMARKS.items():
        first = inspect.getmodule(run).__doc__.strip().splitlines()[0].replace("``", "")
        if not first.startswith(f"{name}:"):
            first = f"{name}: " + run.__doc__.strip().splitlines()[0].replace("``", "")
        lines.append(f"  {first}{' (opt-in)' if name in OPT_IN else ''}")
    default = "all but the opt-in ones; with --gpu, population and wide"
    return f"benchmarks (default: {default}):\n" + "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The options, with ``names``: the benchmarks to run, in order.

    Args:
        argv: the arguments after the program name.

    Returns:
        The parsed options; exits with a usage error on an unknown ``--only`` name.
    """
    p = argparse.ArgumentParser(
        prog=COMMAND,
        description="Benchmarks of jaxnet's training loop against hand-written baselines.",
        epilog=benchmark_list(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only these benchmarks ({', '.join(BENCHMARKS)}); comma-separated or repeated",
    )
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    p.add_argument("--json", metavar="FILE", help="write all results as JSON")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    p.add_argument(
        "--old-checkout",
        metavar="DIR",
        help="sweep: also time the demo sweep with the jaxnet in DIR (e.g. a git worktree of main)",
    )
    p.add_argument(
        "--gpu",
        action="store_true",
        help="the GPU run: populations of 1..16384 and the wide MLP, no CPU baselines",
    )
    args = p.parse_args(argv)
    default = "population,wide" if args.gpu else ",".join(b for b in BENCHMARKS if b not in OPT_IN)
    names = [n for group in (args.only or [default]) for n in group.split(",") if n]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        p.error(
            f"--only: unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        )
    args.names = names
    return args


def chosen_config(args: argparse.Namespace) -> Config:
    """The sizes the options ask for: GPU, QUICK or FULL, less PyTorch, plus an old checkout."""
    cfg = GPU if args.gpu else QUICK if args.quick else FULL
    if args.no_torch:
        cfg = dataclasses.replace(cfg, torch=False)
    if args.old_checkout:
        cfg = dataclasses.replace(cfg, sweep_old=args.old_checkout)
    return cfg


def run_benchmark(name: str, cfg: Config) -> dict:
    """Run one benchmark, print its tables, and return its result with its time and load."""
    start, load = time.perf_counter(), load_average()
    result = BENCHMARKS[name](cfg)
    result.update(seconds=time.perf_counter() - start, load_before=load, load_after=load_average())
    print(markdown(name, result), flush=True)
    print(
        f"({name}: {result['seconds']:.0f} s; 1-minute load average {load} before, "
        f"{result['load_after']} after, on {os.cpu_count()} cores)\n",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> dict:
    """Run the chosen benchmarks, print their tables and return (and write) the report.

    Args:
        argv: the arguments; ``sys.argv[1:]`` when None.

    Returns:
        The report: ``command``, ``environment``, ``config`` and ``benchmarks`` by name.
    """
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    cfg = chosen_config(args)
    report = {
        "command": " ".join([COMMAND, *argv]),
        "environment": environment(),
        "config": dataclasses.asdict(cfg),
        "benchmarks": {},
    }
    print(json.dumps(report["environment"], indent=1))
    for name in args.names:
        report["benchmarks"][name] = run_benchmark(name, cfg)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return report
