"""Where and how a sweep's groups run: the engine and its options, checked once.

:class:`EngineOptions` is built from the caller's keywords (``jaxnet.sweep.run``'s, the CLI's
flags) and checked in its constructor, before any data is loaded or any file is written; every
later stage (the engines, the Ray engine, the driver) takes it as it is. Left out: options
of the training itself, which live in the sweep file (:mod:`.spec`).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math

from .._limits import int_in_range, shown

ENGINES = ("in-process", "ray")
RAY_ONLY = ("address", "gpus_per_group", "cpus_per_group")
RAY_MISSING = (
    "engine 'ray' needs Ray, an optional extra: pip install -e '.[ray]' in the jaxnet folder "
    "(PyPI's 'jaxnet' is another project)"
)


def ray_installed() -> bool:
    """Whether Ray can be imported here (without importing it: that takes seconds)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ValueError, ImportError):  # a module set to None in sys.modules: not importable
        return False


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_address(address) -> str:
    """A Ray cluster address: ``"auto"``, ``"local"``, or ``[ray://]HOST:PORT`` with a port
    from 1 to 65535; anything else is refused before Ray is imported.

    Raises:
      ValueError: naming the address and the forms expected.
    """
    expected = "address must be 'auto', 'local' or 'HOST:PORT' with a port from 1 to 65535"
    if not isinstance(address, str):
        raise ValueError(f"{expected}; got {shown(address)}")
    if address in ("auto", "local"):
        return address
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not (colon and host and port.isdigit() and 1 <= int(port) <= 65535) or any(
        c.isspace() for c in address
    ):
        raise ValueError(f"{expected}; got {shown(address)}")
    return address


@dataclasses.dataclass(frozen=True)
class EngineOptions:
    """How a sweep's groups are run.

    Attributes:
      engine: one of :data:`ENGINES`: ``"in-process"`` trains the groups one after another
        here; ``"ray"`` runs each as a Ray task (:mod:`.ray_engine`).
      address: with Ray, a cluster to join (``"auto"``, ``"HOST:PORT"``); None: ``RAY_ADDRESS``
        if set, else a new local cluster.
      gpus_per_group: with Ray, GPUs each task asks for (None: 0).
      cpus_per_group: with Ray, CPUs each task asks for (None: 1 with GPUs, else a whole node).
      retries: how often a failed group is run again (None: 0 in-process, 3 on Ray).
      lease: seconds a claim on a group outlives its holder's last renewal (at least 1: a
        shorter one would be renewed many times a second, and a compile could outlast it).

    Raises:
      ValueError: an unknown engine, a Ray option with another engine, or a bad value; the
        message names the option.
    """

    engine: str = "in-process"
    address: str | None = None
    gpus_per_group: float | None = None
    cpus_per_group: float | None = None
    retries: int | None = None
    lease: float = 60.0

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {self.engine!r}")
        if self.engine == "ray" and not ray_installed():  # before any data or store is touched
            raise ValueError(RAY_MISSING)
        given = [k for k in RAY_ONLY if getattr(self, k) is not None]
        if given and self.engine != "ray":
            raise ValueError(
                f"engine {self.engine!r} takes no {', '.join(given)}; those go with engine 'ray'"
            )
        if self.address is not None:
            check_address(self.address)
        gpus = self.gpus_per_group
        if gpus is not None and (not _number(gpus) or gpus < 0):
            raise ValueError(f"gpus_per_group must be a number >= 0; got {gpus!r}")
        cpus = self.cpus_per_group
        if cpus is not None and (not _number(cpus) or cpus <= 0):
            raise ValueError(f"cpus_per_group must be a positive number or None; got {cpus!r}")
        if self.retries is not None:
            int_in_range(self.retries, "retries", 0)
        if not _number(self.lease) or not self.lease >= 1:  # inf and nan are no lease at all
            raise ValueError(
                f"lease must be a finite number of seconds, at least 1; got {self.lease!r}"
            )

    @property
    def retry_limit(self) -> int:
        """How often a failed group is run again: ``retries``, or the engine's default."""
        if self.retries is not None:
            return self.retries
        return 3 if self.engine == "ray" else 0
