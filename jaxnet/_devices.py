"""One XLA CPU device per core, asked for without importing JAX.

XLA runs a small MLP on about one core, so a population split over one CPU device per core
uses the whole machine. ``import jaxnet`` asks for that, unless the user already chose: an
``XLA_FLAGS`` host device count, ``JAX_NUM_CPU_DEVICES`` or ``jax_num_cpu_devices``, or JAX's
backends are running. When JAX is not imported yet the request is an ``XLA_FLAGS`` entry, read
when JAX starts its CPU backend, so ``import jaxnet`` (and the ``jaxnet`` command's help) does
not load JAX; child processes inherit it like any ``XLA_FLAGS`` and may override it.
"""

from __future__ import annotations

import os
import sys

COUNT_FLAG = "--xla_force_host_platform_device_count"


def use_all_cpu_cores() -> None:
    """Ask for ``os.cpu_count()`` CPU devices unless a count was chosen or JAX has started."""
    if COUNT_FLAG in os.environ.get("XLA_FLAGS", "") or "JAX_NUM_CPU_DEVICES" in os.environ:
        return
    cores = os.cpu_count() or 1
    jax = sys.modules.get("jax")
    if jax is None:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} {COUNT_FLAG}={cores}".strip()
        return
    try:
        if jax.config.jax_num_cpu_devices == -1:
            jax.config.update("jax_num_cpu_devices", cores)
    except (RuntimeError, AttributeError):  # backends already initialised, or an older JAX
        pass
