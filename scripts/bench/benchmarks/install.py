"""``install``: the venvs of ``make run`` and ``make test``: their size and install time.

Opt-in (minutes). Each target builds its ``.venv`` in a fresh copy of this checkout's committed
files (``git archive HEAD``), one after the other, with pip's cache as it is (warm on a
machine that has installed jaxnet before: then the time is unpacking and linking, not
downloading). The sizes do not depend on the machine's load; the times do.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from ..config import ROOT, Config
from ..machine import load_average
from ..timing import case

TARGETS = {"make run": ".venv/.run-stamp", "make test": ".venv/.installed-stamp"}


def _tree_bytes(path: Path) -> int:
    """Bytes of the regular files under ``path`` (links not followed)."""
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def install_once(stamp: str) -> dict:
    """``make STAMP`` in a fresh copy of the checkout: wall seconds and the venv's size."""
    with tempfile.TemporaryDirectory(prefix="jaxnet-bench-install-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "HEAD"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        load_before = load_average()
        start = time.perf_counter()
        subprocess.run(["make", stamp], cwd=tmp, check=True, capture_output=True)
        wall = time.perf_counter() - start
        size = _tree_bytes(Path(tmp) / ".venv")
    return {
        "first_s": wall,
        "median_s": wall,
        "min_s": wall,
        "compile_s": 0.0,
        "venv_mb": size / 2**20,
        "load_before": load_before,
        "load_after": load_average(),
    }


def bench_install(cfg: Config) -> dict:
    """Both venvs, one after the other; the make targets' own stamps (see the Makefile)."""
    variants = {name: install_once(stamp) for name, stamp in TARGETS.items()}
    sizes = {name: round(v["venv_mb"]) for name, v in variants.items()}
    result = case(
        "a fresh .venv of each make target (pip cache as it is): wall (s); venv_mb: its size",
        1,
        variants,
        {"test/run size": variants["make test"]["venv_mb"] / variants["make run"]["venv_mb"]},
        [],
        venv_mb=sizes,
    )
    return {"cases": {"install": result}}
