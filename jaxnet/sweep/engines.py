"""Engines: where a sweep's groups train. The driver (:mod:`.driver`) only submits and collects.

An engine runs one task per group -- :func:`~.task.train_group`, which trains the group as one
population and returns its store rows as plain Python and NumPy values -- and reports tasks as
they finish. It never touches the store: the driver writes every row, one transaction per
finished group, so the store's guarantees are the same whatever runs the groups.

The interface, three methods and one property::

    engine.submit(index, configs)   # start (or queue) the task of group `index`
    engine.submit_call(index, fn, args)  # or any task: fn(*args, prepared) (a search segment)
    engine.wait(timeout)            # -> [(index, GroupResult | Exception)] of finished tasks
    engine.slots                    # how many tasks it holds at once (the driver claims no more)
    engine.close()                  # stop what this engine started

:class:`InProcess` (the default) trains the groups one after another in this process;
:class:`~.ray_engine.RayEngine` runs them as Ray tasks on a cluster. Left out: any scheduling
of our own (which node trains which group is Ray's business).
"""

from __future__ import annotations

from .. import tiers
from .options import ENGINES, EngineOptions
from .preparation import Prepared
from .ray_engine import RayEngine
from .task import compile_group_ahead, train_group

__all__ = ["ENGINES", "InProcess", "make_engine"]


class InProcess:
    """Train the groups one after another in this process (the default engine).

    With tiered compilation on (:mod:`jaxnet.tiers`) it holds one group ahead: while a group
    trains, the next one's programs compile on the background thread (``slots`` is 2, so the
    driver claims and submits the next group before this one ends). Memory stays bounded:
    programs of one group ahead, no arrays.
    """

    name = "in-process"

    def __init__(self, sweep_name: str, prepared: Prepared, curve_points: int):
        self._task = (sweep_name, prepared, curve_points)
        self._queue: list = []
        self._ahead: set = set()  # groups whose programs were queued for compiling
        self.slots = 2 if tiers.enabled() else 1

    def submit(self, index: int, configs: list[dict]) -> None:
        name, prepared, curve_points = self._task
        self._queue.append((index, train_group, (name, configs, prepared, curve_points)))

    def submit_call(self, index: int, fn, args: tuple) -> None:
        """Queue ``fn(*args, prepared)`` (a module-level function) as task ``index``."""
        self._queue.append((index, fn, (*args, self._task[1])))

    def wait(self, timeout: float | None = None) -> list:
        """Run the oldest queued task now, the next one's programs compiling meanwhile;
        ``[(index, result or exception)]``."""
        if not self._queue:
            return []
        index, fn, args = self._queue.pop(0)
        if self._queue and self.slots > 1:
            self._compile_ahead(*self._queue[0])
        try:
            return [(index, fn(*args))]
        except Exception as e:  # the driver decides: retry, or stop with this error
            return [(index, e)]

    def _compile_ahead(self, index: int, fn, args: tuple) -> None:
        if index in self._ahead or fn is not train_group:  # a search segment: not (yet) ahead
            return
        self._ahead.add(index)
        try:
            compile_group_ahead(args[1], self._task[1])
        except Exception:  # only a head start: the group reports its own errors when it trains
            pass

    def close(self) -> None:
        self._queue.clear()
        tiers.cancel_pending()


def make_engine(options: EngineOptions, sweep_name: str, prepared: Prepared, curve_points: int):
    """The engine ``options.engine`` names, started (Ray is started or joined here).

    Args:
      options: checked engine options; sweep_name, prepared, curve_points: what every group's
        task needs (see :func:`~.task.train_group`).
    """
    if options.engine == "ray":
        return RayEngine(sweep_name, prepared, curve_points, options)
    return InProcess(sweep_name, prepared, curve_points)
