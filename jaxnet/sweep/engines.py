"""Engines: where a sweep's groups train. The driver (:mod:`.driver`) only submits and collects.

An engine runs one task per group -- :func:`~.task.train_group`, which trains the group as one
population and returns its store rows as plain Python and NumPy values -- and reports tasks as
they finish. It never touches the store: the driver writes every row, one transaction per
finished group, so the store's guarantees are the same whatever runs the groups.

The interface, three methods and one property::

    engine.submit(index, configs)   # start (or queue) the task of group `index`
    engine.submit_call(index, fn, args)  # or any task: fn(*args, prepared) (a search segment)
    engine.wait(timeout)            # -> [(index, GroupResult | Exception)] of finished tasks
    engine.slots                    # how many tasks can run at once (the driver claims no more)
    engine.close()                  # stop what this engine started

:class:`InProcess` (the default) trains the groups one after another in this process;
:class:`~.ray_engine.RayEngine` runs them as Ray tasks on a cluster. Left out: any scheduling
of our own (which node trains which group is Ray's business).
"""

from __future__ import annotations

from .options import ENGINES, EngineOptions
from .preparation import Prepared
from .ray_engine import RayEngine
from .task import train_group

__all__ = ["ENGINES", "InProcess", "make_engine"]


class InProcess:
    """Train the groups one after another in this process (the default engine)."""

    name = "in-process"
    slots = 1

    def __init__(self, sweep_name: str, prepared: Prepared, curve_points: int):
        self._task = (sweep_name, prepared, curve_points)
        self._queue: list = []

    def submit(self, index: int, configs: list[dict]) -> None:
        name, prepared, curve_points = self._task
        self._queue.append((index, train_group, (name, configs, prepared, curve_points)))

    def submit_call(self, index: int, fn, args: tuple) -> None:
        """Queue ``fn(*args, prepared)`` (a module-level function) as task ``index``."""
        self._queue.append((index, fn, (*args, self._task[1])))

    def wait(self, timeout: float | None = None) -> list:
        """Run the oldest queued task now; ``[(index, result or exception)]``."""
        if not self._queue:
            return []
        index, fn, args = self._queue.pop(0)
        try:
            return [(index, fn(*args))]
        except Exception as e:  # the driver decides: retry, or stop with this error
            return [(index, e)]

    def close(self) -> None:
        self._queue.clear()


def make_engine(options: EngineOptions, sweep_name: str, prepared: Prepared, curve_points: int):
    """The engine ``options.engine`` names, started (Ray is started or joined here).

    Args:
      options: checked engine options; sweep_name, prepared, curve_points: what every group's
        task needs (see :func:`~.task.train_group`).
    """
    if options.engine == "ray":
        return RayEngine(sweep_name, prepared, curve_points, options)
    return InProcess(sweep_name, prepared, curve_points)
