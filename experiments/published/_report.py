"""What every reproduction shares: mean ± std summaries, the command line and the results file.

Each script in this folder trains with library calls only, then hands its numbers to
:func:`save`, which writes ``runs/published/<name>.json`` (``runs/`` is git-ignored) with the
JAX version, the devices and the wall time, so a README row can be filled from the file.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import tiers

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "runs" / "published"
FIGURES = ROOT / "docs" / "figures"


def reproducible(main):
    """``main`` run with tiered compilation off: every program compiled with XLA's defaults, so
    a reproduction gives the same numbers on every run. With tiers on, which chunk runs on which
    tier depends on when a background compile finishes, and 8,000 steps of Adam carry that
    rounding into a different model (MNIST-1D's MLP: 65.4 % vs 67.0 % over 2 seeds)."""

    @functools.wraps(main)
    def run(*args, **kwargs):
        with tiers.switched(False):
            return main(*args, **kwargs)

    return run


def summary(values) -> dict:
    """``{"mean", "std", "n", "values"}`` of per-seed numbers; std is the sample std (ddof=1)."""
    v = np.asarray(values, np.float64).reshape(-1)
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return {"mean": float(v.mean()), "std": std, "n": int(v.size), "values": v.tolist()}


def pm(s: dict, scale: float = 1.0, digits: int = 1) -> str:
    """``"68.1 ± 1.2"`` from a :func:`summary` (``scale=100`` shows a fraction as percent)."""
    return f"{s['mean'] * scale:.{digits}f} ± {s['std'] * scale:.{digits}f}"


def arrays(x, y=None):
    """Float32 JAX arrays, as ``jaxnet.population.evaluate_population`` expects them."""
    x = jnp.asarray(np.asarray(x), jnp.float32)
    return x if y is None else (x, jnp.asarray(np.asarray(y), jnp.float32))


def parse_args(doc: str) -> argparse.Namespace:
    """``--quick``: the reduced run that the slow tests use (fewer seeds, same training)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds (what the tests run)")
    return parser.parse_args()


def output(filename: str) -> Path:
    """``runs/published/<filename>``, its folder created."""
    RUNS.mkdir(parents=True, exist_ok=True)
    return RUNS / filename


def save(name: str, results: dict, started: float, quick: bool = False) -> Path:
    """Write ``results`` with run metadata to ``runs/published/<name>.json``; return the path.

    A quick run goes to ``<name>_quick.json``, so a test never overwrites the full results.
    """
    results = {
        **results,
        "quick": quick,
        "seconds": round(time.perf_counter() - started, 1),
        # CPU time of the whole process and the machine's load: other jobs inflate wall time
        "cpu_seconds": round(time.process_time(), 1),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "command": f"python experiments/published/{name}.py",
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
        "machine": platform.machine(),
    }
    path = output(f"{name}{'_quick' if quick else ''}.json")
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(
        f"\n{name}: {results['seconds']:.0f} s wall, {results['cpu_seconds']:.0f} s CPU "
        f"(load average {results['load_average'][0]:.1f}); results in {path}"
    )
    return path


def table(header: list[str], rows: list[list[str]]) -> None:
    """Print rows as aligned columns."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
