"""The Ray engine: each shape group is one Ray task, anywhere on a Ray cluster.

Ray is an optional extra (``pip install -e ".[ray]"``). Without an address, a cluster is
started on this machine by a process of its own that has no JAX (:class:`LocalHead`, so Ray's
fork never happens where JAX runs) and ends with the sweep; with ``address="auto"`` (or
``RAY_ADDRESS`` set) the sweep joins a running one (``ray start --head`` on one machine,
``ray start --address=HEAD:6379`` on the others; docs/sweeps.md says what to export so that
nodes may join).

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
import select
import socket
import subprocess
import sys
import time

from .. import tiers
from .options import RAY_MISSING, EngineOptions, check_address
from .preparation import Prepared
from .task import train_group


def _ray():
    try:
        import ray
    except ImportError:
        raise ValueError(RAY_MISSING) from None
    return ray


CONNECT_TIMEOUT = 10.0  # seconds for a cluster's address to answer before Ray is asked to join
# Ray's own waits when joining, bounded (each only where the user has not set it): one round of
# attempts to reach the cluster's GCS instead of twenty, so an address where something answers
# that is no Ray cluster fails in about 40 s, not in a quarter of an hour.
_JOIN_ENV = {"RAY_gcs_server_port_wait_time_s": "1", "RAY_gcs_rpc_server_connect_timeout_s": "5"}


def _bootstrap(address: str) -> str | None:
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
        conn = socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT)
    except (OSError, ValueError) as e:
        why = "no answer" if isinstance(e, TimeoutError) else (getattr(e, "strerror", None) or e)
        raise ValueError(
            f"engine 'ray': cannot join {where}: nothing answers at {target} ({why}, within "
            f"{CONNECT_TIMEOUT:g} s); start a cluster there (ray start --head --port=PORT) or "
            "leave out --address to start one on this machine"
        ) from None
    with conn:
        if not _speaks_grpc(conn):
            raise ValueError(
                f"engine 'ray': cannot join {where}: something answers at {target} but it is no "
                f"Ray cluster (no gRPC reply within {GRPC_TIMEOUT:g} s); give the address that "
                "`ray start --head` printed (HOST:6379 by default)"
            )


GRPC_TIMEOUT = 5.0  # seconds for a cluster's port to answer an HTTP/2 greeting
# The client's connection preface and an empty SETTINGS frame (RFC 9113, 3.4 and 6.5).
_HTTP2_GREETING = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def _speaks_grpc(conn: socket.socket) -> bool:
    """Whether the peer answers an HTTP/2 greeting with a SETTINGS frame, as a Ray cluster's
    gRPC port does at once. A silent port or a web server made Ray itself retry for 40 s and
    print three lines of its own warnings. With ``RAY_USE_TLS`` the greeting cannot be checked
    in the clear, and Ray is left to answer (True)."""
    if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
        return True
    try:
        conn.settimeout(GRPC_TIMEOUT)
        conn.sendall(_HTTP2_GREETING)
        head = b""
        while len(head) < 9 and (part := conn.recv(9 - len(head))):
            head += part
    except OSError:  # a timeout, or the peer hung up on the greeting
        return False
    return len(head) == 9 and head[3] == 4  # a frame header whose type is SETTINGS


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


def _address(address: str | None) -> str | None:
    """The cluster to join: ``address``, else ``RAY_ADDRESS`` (checked like the flag), else None
    for a new local cluster; one that does not answer is refused here."""
    if address is None and os.environ.get("RAY_ADDRESS"):
        try:  # the flag was checked with the options; the variable is checked here
            address = check_address(os.environ["RAY_ADDRESS"])
        except ValueError as e:
            raise ValueError(f"engine 'ray': RAY_ADDRESS: {e}") from None
    address = None if address == "local" else address  # Ray's name for a new local cluster
    if address is not None:
        _check_reachable(address, _bootstrap(address))
    return address


def _token_mode_here() -> None:
    """Token authentication for this process's Ray, as Ray turns it on itself for a local
    cluster it starts: the variable, and Ray's configuration read again (it read the
    variable when it was imported)."""
    os.environ["RAY_AUTH_MODE"] = "token"
    try:
        from ray._raylet import Config

        Config.initialize("")
    except (ImportError, AttributeError):  # a Ray without token authentication: nothing to do
        pass


class LocalHead:
    """A local Ray cluster held by ``python -m jaxnet._ray_head``, a process without JAX (see
    that module: Ray's fork in a process running JAX is what JAX warns about).

    Args:
      timeout: seconds to wait for the cluster to start.

    Attributes:
      address: the cluster's ``HOST:PORT``; pid: the holding process's id.

    Raises:
      ValueError: Ray could not start (its first line of error named).
    """

    def __init__(self, timeout: float = 120.0):
        env = dict(os.environ)
        # Ray turns token authentication on for a new local cluster when the mode is unset,
        # and warns that it did; choosing it here is the same cluster without the warning.
        env.setdefault("RAY_AUTH_MODE", "token")
        self._proc = subprocess.Popen(  # no preexec_fn: nothing runs between fork and exec
            [sys.executable, "-m", "jaxnet._ray_head"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.pid = self._proc.pid
        line = self._first_line(timeout)
        if not line.startswith("address "):
            self.stop()
            raise ValueError(line.removeprefix("error ") or "its process ended without a word")
        self.address = line.removeprefix("address ")
        if "RAY_AUTH_MODE" not in os.environ:  # to join it from here with its token
            _token_mode_here()

    def _first_line(self, timeout: float) -> str:
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
        if not ready:
            return f"error no answer in {timeout:g} s"
        return self._proc.stdout.readline().strip()

    def stop(self, timeout: float = 60.0) -> None:
        """Let the cluster go (its holder shuts Ray down and exits); kill the holder, by its
        pid, if it has not exited within ``timeout`` seconds."""
        if self._proc.stdin and not self._proc.stdin.closed:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc.stdout.close()


def _init(ray, address: str | None) -> LocalHead | None:
    """Join ``address`` (or ``RAY_ADDRESS``), or start a cluster on this machine through
    :class:`LocalHead`; a failure says in one line what a user must set.

    Returns:
      The :class:`LocalHead` this call started, or None when it joined a running cluster.
    """
    address = _address(address)
    head = None
    try:
        if address is None:
            head = LocalHead()
        with _bounded_join() if address is not None else contextlib.nullcontext():
            ray.init(
                address=address or head.address, log_to_driver=False, logging_level=logging.WARNING
            )
        return head
    except (ConnectionError, ValueError, ray.exceptions.RayError) as e:
        if ray.is_initialized():
            ray.shutdown()
        if head is not None:
            head.stop()
        hint = ""
        if address is not None and os.environ.get("RAY_AUTH_MODE") != "token":
            hint = (
                "; a cluster with token authentication (Ray's default) needs RAY_AUTH_MODE=token "
                "and its token (~/.ray/auth_token, RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH) here"
            )
        where = "a new local cluster" if address is None else address
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
        self._ray, self._owns, self._head = ray, not ray.is_initialized(), None
        start = time.perf_counter()
        if self._owns:
            self._head = _init(ray, options.address)
        self.startup_seconds = time.perf_counter() - start
        try:
            self._cpus, self._gpus = self._request(
                options.gpus_per_group or 0, options.cpus_per_group
            )
            env = {"XLA_FLAGS": f"--xla_force_host_platform_device_count={max(1, int(self._cpus))}"}
            env[tiers.ENV] = "on" if tiers.enabled() else "off"  # the driver's --tiers
            if not self._gpus:
                env["JAX_PLATFORMS"] = "cpu"  # a CPU task on a GPU node leaves its GPUs alone
            elif self._gpus < 1:  # tasks share a GPU: none may take most of its memory up front
                env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
            self._options = dict(
                num_cpus=self._cpus,
                num_gpus=self._gpus,
                max_retries=options.retry_limit,
                runtime_env={"env_vars": env},
            )
            self._remote = ray.remote(train_group).options(**self._options)
            self._remotes: dict = {}
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

    def submit_call(self, index: int, fn, args: tuple) -> None:
        """Run ``fn(*args, prepared)`` (a module-level function) as Ray task ``index``."""
        if fn not in self._remotes:
            self._remotes[fn] = self._ray.remote(fn).options(**self._options)
        self._refs[self._remotes[fn].remote(*args, self._args[1])] = index

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
        if getattr(self, "_head", None) is not None:
            self._head.stop()  # the local cluster this engine started ends with it
            self._head = None
