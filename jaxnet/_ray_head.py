"""A local Ray cluster started by a process of its own, one that never imports JAX.

``python -m jaxnet._ray_head`` starts Ray on this machine and prints one line, ``address
HOST:PORT`` (or ``error MESSAGE``); it keeps the cluster until its stdin closes -- when the
sweep that started it closes its engine, or dies -- and then shuts Ray down.

Why a process of its own: Ray starts its head processes with ``fork`` and runs Python code in
the child before ``exec`` (a ``preexec_fn``). In a process where JAX has started its threads
that is unsafe, and JAX says so (``RuntimeWarning: os.fork() was called ... JAX is
multithreaded, so this will likely lead to a deadlock``). This process has no JAX, and the
sweep starts it with a plain ``fork``/``exec`` that runs no Python in between, so the warning
is neither printed nor true. Ctrl-C is left to the sweep: this process ignores SIGINT and ends
when the sweep closes its stdin.

Left out: joining a running cluster (the sweep does that itself; it starts nothing).
"""

from __future__ import annotations

import logging
import signal
import sys


def main() -> int:
    """Start Ray here, say where, and hold it until stdin closes; the exit status."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the sweep decides when the cluster ends
    try:
        import ray

        context = ray.init(
            address="local",
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except Exception as e:  # one line for the sweep to show
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        print(f"error {type(e).__name__}: {first}", flush=True)
        return 1
    try:
        print(f"address {context.address_info['gcs_address']}", flush=True)
        sys.stdin.read()  # until the sweep closes it (or dies: the pipe closes then too)
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
