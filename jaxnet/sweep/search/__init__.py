"""Search: which configs of a sweep train, and to which step. The population trains them.

Without a ``[search]`` table a sweep is a grid: every config trains to its last step in its
group (:mod:`jaxnet.sweep.driver`), exactly as before searches existed. With one, a *method*
schedules the training in segments:

* :mod:`.halving` -- successive halving: rungs at ``min_steps * factor**k`` steps; at each,
  only the best ``1/factor`` of the configs that reached it (sweep-wide) go on.
* :mod:`.pbt` -- population-based training: every ``interval`` steps the worst members of
  each group copy the params and optimizer state of the best and perturb their learning rate.

A method is any object with a ``name`` and ``plan(state) -> Plan`` (:mod:`.state`): given the
search's state as the store holds it, the tasks to train next (configs of one compiled
program, from one step to another, which stored state each slot takes, which learning rate
it trains with) and the configs whose fate is decided. It keeps nothing between calls, so a
new method (an Optuna sampler asked for P trials at a time; :func:`.halving.promote` as its
pruner) plugs into the same loop (:mod:`.loop`), the same segment task (:mod:`.segment`,
which any engine runs) and the same store tables (:mod:`jaxnet.store.search`), and resumes
after ``kill -9`` like them. Rows of finished configs are built from the store alone
(:mod:`.rows`).
"""

from __future__ import annotations

from ..preparation import Preflight
from .halving import Halving as Halving
from .halving import promote as promote
from .halving import rung_steps as rung_steps
from .loop import drive_search as drive_search
from .pbt import PBT as PBT
from .pbt import exploit as exploit
from .state import Plan as Plan
from .state import SearchState as SearchState
from .state import Task as Task
from .state import load_state as load_state
from .state import value_at as value_at

__all__ = [
    "Halving",
    "PBT",
    "Plan",
    "SearchState",
    "Task",
    "drive_search",
    "exploit",
    "load_state",
    "method_for",
    "promote",
    "rung_steps",
    "value_at",
]


def method_for(preflight: Preflight):
    """The search method of a checked sweep, or None for a grid.

    Args:
      preflight: the sweep's :class:`~jaxnet.sweep.preparation.Preflight` (its groups are the
        programs a method starts from).
    """
    search = preflight.sweep.search
    if search["method"] == "halving":
        ends = (preflight.prepared.n_features, preflight.prepared.n_outputs)
        return Halving(
            search["min_steps"], search["factor"], preflight.n_train, preflight.max_padding, ends
        )
    if search["method"] == "pbt":
        s = search
        return PBT(s["interval"], s["fraction"], s["perturb"], s["seed"], preflight.groups)
    return None
