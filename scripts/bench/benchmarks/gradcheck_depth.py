"""``gradcheck_depth``: time and peak memory of deep gradchecks (CLI and jn.gradcheck), by depth.

Each check runs in a fresh process, so its peak resident memory (``ru_maxrss`` from
``os.wait4``) is its own: ``jaxnet gradcheck`` on a plain sigmoid net of width 4, and
``jn.gradcheck`` on a residual sigmoid net of width 4 (about 20 parameters a layer), at depths
50, 100 and 200 (10, 20 and 40 with ``--quick``), with the compile cache off so that every
program is compiled. Memory does not depend on the machine's load; time does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from ..config import Config

API = """
import jax, jaxnet as jn
from jaxnet.verification import random_problem
net = jn.MLP((4,) * {depth} + (1,), activation="sigmoid", output_activation="sigmoid",
             residual=True)
params, x, y = random_problem(net, "sse", batch=4, seed=0)
report = jn.gradcheck(net, params, x, y, "sse")
print(report.ok, net.n_params)
"""


def _measured(argv: list[str]) -> dict:
    """Wall seconds, peak resident MiB and exit status of one child process."""
    with tempfile.TemporaryFile("w+") as log:  # a file, not a pipe: a long table never blocks
        start = time.perf_counter()
        env = {**os.environ, "JAXNET_CACHE_DIR": "off"}  # every program compiled, none loaded
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.DEVNULL, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        log.seek(0)
        out = log.read().strip().splitlines()
    return {
        "seconds": round(seconds, 2),
        "peak_mib": round(usage.ru_maxrss / 1024, 1),
        "status": os.waitstatus_to_exitcode(status),
        "last_line": out[-1][:120] if out else "",
    }


def bench_gradcheck_depth(cfg: Config) -> dict:
    """Deep gradchecks at three depths: seconds and peak memory of each, in its own process."""
    rows = {}
    for depth in cfg.gradcheck_depths:
        sizes = ",".join(["4"] * depth + ["1"])
        cli = [sys.executable, "-m", "jaxnet.cli", "gradcheck", "--sizes", sizes]
        rows[f"jaxnet gradcheck, depth {depth}"] = _measured(cli)
        api = [sys.executable, "-c", API.format(depth=depth)]
        rows[f"jn.gradcheck residual, depth {depth}"] = _measured(api)
    return {"cases": {}, "rows": rows}
