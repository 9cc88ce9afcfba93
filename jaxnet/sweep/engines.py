"""Engines: where a sweep's groups train. The driver (:mod:`.driver`) only submits and collects.

An engine runs one task per shape group -- :func:`train_group`, which trains the group as one
population and returns its store rows as plain Python and NumPy values -- and reports tasks
as they finish. It never touches the store: the driver writes every row, one transaction per
finished group, so the store's guarantees are the same whatever runs the groups.

The interface, three methods and one property::

    engine.submit(index, configs)   # start (or queue) the task of group `index`
    engine.wait(timeout)            # -> [(index, GroupResult | Exception)] of finished tasks
    engine.slots                    # how many tasks can run at once (the driver claims no more)
    engine.close()                  # stop what this engine started

:class:`InProcess` (the default) trains the groups one after another in this process;
:class:`~jaxnet.sweep.ray_engine.RayEngine` runs them as Ray tasks on a cluster. Left out:
any scheduling of our own (which node trains which group is Ray's business).
"""

from __future__ import annotations

import dataclasses
import time

from .prepare import Prepared, checked_parts, net_for

ENGINES = ("in-process", "ray")


@dataclasses.dataclass(frozen=True)
class GroupResult:
    """What one group's task returns to the driver.

    Attributes:
      rows: the members' store rows (:func:`~jaxnet.sweep.member_rows`), plain values only.
      seconds: the task's wall time; compiling: of it, lowering and compiling JAX programs;
      compiles: population programs compiled by the task (0 when its worker had them cached).
    """

    rows: list
    seconds: float
    compiling: float
    compiles: int


_checked_cache: list = []  # [(prepared, loss, checked)]: one entry, the sweep in hand


def _checked(prepared: Prepared, configs: list[dict]) -> dict:
    """:func:`checked_parts` of the sweep's data: once per sweep in-process (a Ray task gets
    its own copy of the data from the object store, so there it is once per task)."""
    loss = configs[0]["loss"]
    if not (_checked_cache and _checked_cache[0][0] is prepared and _checked_cache[0][1] == loss):
        # Every group has the same inputs, outputs and loss, so one check serves them all.
        _checked_cache[:] = [
            (prepared, loss, checked_parts(prepared, net_for(configs[0], prepared), loss))
        ]
    return _checked_cache[0][2]


def train_group(sweep_name: str, configs: list[dict], prepared: Prepared, curve_points: int):
    """The task of one group: train its configs as one population and build their rows.

    Args:
      sweep_name: names the config ids; configs: the group's P configs (one shape).
      prepared: the sweep's data; curve_points: the most points kept of each loss curve.

    Returns:
      A :class:`GroupResult` with P rows.
    """
    from .. import population
    from .run import compile_clock, environment, fit_group, member_rows

    start, compiled, compiles = time.perf_counter(), compile_clock(), population.compile_count()
    net, history, evaluated = fit_group(configs, prepared, _checked(prepared, configs))
    seconds, compiling = time.perf_counter() - start, compile_clock() - compiled
    timing = {
        "group_seconds": seconds,
        "train_seconds": seconds - compiling,
        "compile_seconds": compiling,
        **environment(),
    }
    rows = member_rows(sweep_name, configs, net, history, evaluated, timing, curve_points)
    return GroupResult(rows, seconds, compiling, population.compile_count() - compiles)


class InProcess:
    """Train the groups one after another in this process (the default engine)."""

    name = "in-process"
    slots = 1

    def __init__(self, sweep_name: str, prepared: Prepared, curve_points: int):
        self._task = (sweep_name, prepared, curve_points)
        self._queue: list = []

    def submit(self, index: int, configs: list[dict]) -> None:
        self._queue.append((index, configs))

    def wait(self, timeout: float | None = None) -> list:
        """Run the oldest queued task now; ``[(index, result or exception)]``."""
        if not self._queue:
            return []
        index, configs = self._queue.pop(0)
        name, prepared, curve_points = self._task
        try:
            return [(index, train_group(name, configs, prepared, curve_points))]
        except Exception as e:  # the driver decides: retry, or stop with this error
            return [(index, e)]

    def close(self) -> None:
        self._queue.clear()


def make_engine(name: str, sweep_name: str, prepared: Prepared, curve_points: int, **options):
    """The engine called ``name`` (one of :data:`ENGINES`), started.

    Args:
      options: for ``"ray"``: ``address``, ``gpus_per_group``, ``cpus_per_group``, ``retries``
        (see :class:`~jaxnet.sweep.ray_engine.RayEngine`); none for ``"in-process"``.

    Raises:
      ValueError: an unknown engine or an option it does not take.
    """
    if name == "in-process":
        given = {k: v for k, v in options.items() if v is not None and k != "retries"}
        if given:
            raise ValueError(
                f"engine 'in-process' takes no {', '.join(given)}; those go with engine 'ray'"
            )
        return InProcess(sweep_name, prepared, curve_points)
    if name == "ray":
        from .ray_engine import RayEngine

        return RayEngine(sweep_name, prepared, curve_points, **options)
    raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {name!r}")
