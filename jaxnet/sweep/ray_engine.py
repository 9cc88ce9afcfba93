"""The Ray engine: each shape group is one Ray task, anywhere on a Ray cluster.

Ray is an optional extra (``pip install -e ".[ray]"``). Without an address, Ray starts an
embedded cluster on this machine; with ``address="auto"`` (or ``RAY_ADDRESS`` set) it joins a
running one (``ray start --head`` on one machine, ``ray start --address=HEAD:6379`` on the
others; docs/sweeps.md says what to export so that nodes may join).

The sweep's data goes into Ray's object store once; every task gets a reference to it. A task
returns its rows to the driver, which alone writes the store. A task whose node or worker dies
is run again by Ray on a live node (``max_retries``); tasks are never pinned to a node. Each
task asks for ``num_gpus`` (Ray then sets ``CUDA_VISIBLE_DEVICES``) and ``num_cpus``; on a CPU
node, the task's JAX sees as many CPU devices as it was given CPUs (its runtime environment
sets ``XLA_FLAGS``), not every core of the node. By default a CPU group takes a whole node
(measured on 2 cores: two 1-CPU tasks at once were no faster than the same two in turn).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time

from .options import EngineOptions, check_address
from .preparation import Prepared
from .task import train_group


def _ray():
    try:
        import ray
    except ImportError:
        raise ValueError(
            "engine 'ray' needs Ray, an optional extra: pip install 'jaxnet[ray]'"
        ) from None
    return ray


CONNECT_TIMEOUT = 10.0  # seconds for a cluster's address to answer before Ray is asked to join
# Ray's own waits when joining, bounded (each only where the user has not set it): one round of
# attempts to reach the cluster's GCS instead of twenty, so an address where something answers
# that is no Ray cluster fails in about 40 s, not in a quarter of an hour.
_JOIN_ENV = {"RAY_gcs_server_port_wait_time_s": "1", "RAY_gcs_rpc_server_connect_timeout_s": "5"}


def _bootstrap(ray, address: str) -> str | None:
    """``HOST:PORT`` of the cluster ``address`` names (``"auto"``: the one Ray would pick), or
    None when it cannot be told here (Ray then reports on its own)."""
    if address != "auto":
        return address.removeprefix("ray://")
    try:  # Ray's own lookup of RAY_ADDRESS and the last cluster started on this machine
        from ray._private.services import canonicalize_bootstrap_address

        return canonicalize_bootstrap_address("auto")
    except Exception:  # a private helper of Ray's: when it moves, skip the early check
        return None


def _check_reachable(where: str, target: str | None) -> None:
    """Refuse, within :data:`CONNECT_TIMEOUT`, a cluster address where nothing answers."""
    if not target:
        return
    host, _, port = target.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except (OSError, ValueError) as e:
        why = "no answer" if isinstance(e, TimeoutError) else (getattr(e, "strerror", None) or e)
        raise ValueError(
            f"engine 'ray': cannot join {where}: nothing answers at {target} ({why}, within "
            f"{CONNECT_TIMEOUT:g} s); start a cluster there (ray start --head --port=PORT) or "
            "leave out --address to start one on this machine"
        ) from None


@contextlib.contextmanager
def _bounded_join():
    """:data:`_JOIN_ENV` set (where unset) while Ray joins a cluster, then taken back."""
    added = {k: v for k, v in _JOIN_ENV.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def _init(ray, address: str | None) -> None:
    """Start Ray here, or join ``address``; a failure to join says what a user must set."""
    # "local" starts a new cluster: left to itself, Ray would join the cluster named in
    # /tmp/ray/ray_current_cluster, which may be someone else's or long dead.
    if address is None and os.environ.get("RAY_ADDRESS"):
        try:  # the flag was checked with the options; the variable is checked here
            check_address(os.environ["RAY_ADDRESS"])
        except ValueError as e:
            raise ValueError(f"engine 'ray': RAY_ADDRESS: {e}") from None
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    joining = address != "local"
    if joining:
        _check_reachable(address, _bootstrap(ray, address))
    try:
        with _bounded_join() if joining else contextlib.nullcontext():
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
    except (ConnectionError, ray.exceptions.RayError) as e:
        if ray.is_initialized():
            ray.shutdown()
        hint = ""
        if os.environ.get("RAY_AUTH_MODE") != "token":
            hint = (
                "; a cluster with token authentication (Ray's default) needs RAY_AUTH_MODE=token "
                "and its token (~/.ray/auth_token, RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH) here"
            )
        where = "a new local cluster" if address == "local" else address
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"engine 'ray': cannot start or join {where}: {message}{hint}") from e


class RayEngine:
    """Run each group as a Ray task (see the module docstring).

    Args:
      sweep_name, prepared, curve_points: as for :func:`~jaxnet.sweep.task.train_group`.
      options: checked :class:`~.options.EngineOptions`: ``address``, a cluster to join
        (``"auto"``, ``"HOST:PORT"``; None: ``RAY_ADDRESS`` if set, else start Ray on this
        machine; when Ray is already initialised it is used as it is); ``gpus_per_group``
        (None or 0: a CPU task); ``cpus_per_group`` (None: 1 with GPUs, else the CPUs of the
        smallest node: one population per CPU node); its retry limit: how many times Ray
        reruns a task whose worker or node died.

    Attributes:
      startup_seconds: time spent starting or joining Ray (0 when it was running already).
    """

    name = "ray"

    def __init__(
        self,
        sweep_name: str,
        prepared: Prepared,
        curve_points: int,
        options: EngineOptions,
    ):
        ray = _ray()
        self._ray, self._owns = ray, not ray.is_initialized()
        start = time.perf_counter()
        if self._owns:
            _init(ray, options.address)
        self.startup_seconds = time.perf_counter() - start
        try:
            self._cpus, self._gpus = self._request(
                options.gpus_per_group or 0, options.cpus_per_group
            )
            env = {"XLA_FLAGS": f"--xla_force_host_platform_device_count={max(1, int(self._cpus))}"}
            if not self._gpus:
                env["JAX_PLATFORMS"] = "cpu"  # a CPU task on a GPU node leaves its GPUs alone
            elif self._gpus < 1:  # tasks share a GPU: none may take most of its memory up front
                env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
            self._remote = ray.remote(train_group).options(
                num_cpus=self._cpus,
                num_gpus=self._gpus,
                max_retries=options.retry_limit,
                runtime_env={"env_vars": env},
            )
            self._args = (sweep_name, ray.put(prepared), curve_points)  # the data, once
        except BaseException:
            self.close()
            raise
        self._refs: dict = {}

    def _request(self, gpus: float, cpus: float | None) -> tuple[float, float]:
        """``(cpus, gpus)`` per task, checked against the nodes alive now."""
        nodes = [n["Resources"] for n in self._ray.nodes() if n.get("Alive")]
        if cpus is None:
            cpus = 1 if gpus else min((n.get("CPU", 0) for n in nodes if n.get("CPU")), default=1)
        if not any(n.get("CPU", 0) >= cpus and n.get("GPU", 0) >= gpus for n in nodes):
            have = ", ".join(f"{n.get('CPU', 0):g} CPU/{n.get('GPU', 0):g} GPU" for n in nodes)
            raise ValueError(
                f"no Ray node has {cpus:g} CPUs and {gpus:g} GPUs for a group "
                f"(--cpus-per-group/--gpus-per-group); its nodes have {have or 'nothing'}"
            )
        return cpus, gpus

    @property
    def slots(self) -> int:
        """Tasks the cluster can run at once now (nodes may join or die while a sweep runs)."""
        total = self._ray.cluster_resources()
        slots = int(total.get("CPU", 0) // self._cpus)
        if self._gpus:
            slots = min(slots, int(total.get("GPU", 0) // self._gpus))
        return max(1, slots)

    def submit(self, index: int, configs: list[dict]) -> None:
        name, data, curve_points = self._args
        self._refs[self._remote.remote(name, configs, data, curve_points)] = index

    def wait(self, timeout: float | None = None) -> list:
        """Tasks finished within ``timeout`` seconds: ``[(index, result or exception)]``."""
        if not self._refs:
            return []
        ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            index = self._refs.pop(ref)
            try:
                out.append((index, self._ray.get(ref)))
            except Exception as e:  # the task raised, or died more often than max_retries
                out.append((index, e))
        return out

    def close(self) -> None:
        """Cancel unfinished tasks; shut Ray down when this engine started it."""
        for ref in getattr(self, "_refs", {}):
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # already finished or gone with its node: nothing to stop
                pass
        self._refs = {}
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
