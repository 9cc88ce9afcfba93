"""Facts about the machine a run happens on: CPU, BLAS, load average, library versions.

They go into every report so a figure can be read against the machine that produced it. No
timing here; PyTorch is only asked for its version (importing it takes seconds) until a
benchmark uses it.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import importlib.util
import os
import platform
from pathlib import Path

import jax
import numpy as np
import optax


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info() -> list | None:
    """NumPy's BLAS libraries and their thread counts, or None without threadpoolctl."""
    if importlib.util.find_spec("threadpoolctl") is None:
        return None
    from threadpoolctl import threadpool_info

    keep = ("internal_api", "version", "num_threads", "architecture", "threading_layer")
    return [{k: lib.get(k) for k in keep} for lib in threadpool_info() if lib["user_api"] == "blas"]


def load_average() -> float | None:
    """The 1-minute load average (other processes on the cores distort every timing)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def environment() -> dict:
    """The facts a report opens with: date, CPU, versions, JAX's devices, BLAS, env variables."""
    dev = jax.devices()[0]
    env_vars = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "XLA_FLAGS", "OMP_NUM_THREADS")
    return {
        "date": datetime.date.today().isoformat(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "device": f"{len(jax.devices())} x {dev.device_kind}",
        "numpy": np.__version__,
        "optax": optax.__version__,
        "numpy_blas": blas_info(),
        "torch": torch_version(),
        "env": {k: os.environ.get(k) for k in env_vars},
    }


def torch_info() -> dict | None:
    """PyTorch's version and thread counts (imports it), or None when it is not installed."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return {
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
    }


def torch_version() -> str | None:
    """PyTorch's version without importing it (the import alone takes seconds)."""
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None
