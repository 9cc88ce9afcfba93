"""An Optuna study's search space: the ``[random]`` table as Optuna distributions, and back.

A sweep file writes its space as today's ``[random]`` distributions; an Optuna search reads
the same table (:func:`jaxnet.sweep.spec.from_dict` has checked it):

====================================  ===============================================
``[random]`` entry                    Optuna distribution
====================================  ===============================================
``{uniform = [low, high]}``           ``FloatDistribution(low, high)``
``{log_uniform = [low, high]}``       ``FloatDistribution(low, high, log=True)``
``{int_uniform = [low, high]}``       ``IntDistribution(low, high)``
``{int_log_uniform = [low, high]}``   ``IntDistribution(low, high, log=True)``
``[a, b, c]``                         ``CategoricalDistribution([a, b, c])``
====================================  ===============================================

A parameter is named after its axis (``learning_rate``, ``width``), so Optuna's importances
and TensorBoard's hparams view show the sweep file's names. Optuna's choices must be plain
values: a choice that is a list (a ``hidden`` entry like ``[16, 8]``) is offered as its JSON
text (``"[16, 8]"``) and turned back into the list for the config (:func:`axes_of`). Repeated
choices are offered once. Left out: asking and telling (:mod:`.study`).
"""

from __future__ import annotations

import json


def _plain(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _choices(values: list) -> list:
    """Optuna's choices for a list axis: plain values as they are, lists as JSON; each once."""
    out = []
    for v in values:
        choice = v if _plain(v) else json.dumps(v)
        if choice not in out:
            out.append(choice)
    return out


def distributions(sweep, optuna) -> dict:
    """The study's space: axis -> Optuna distribution, in the ``[random]`` table's order.

    Args:
      sweep: an optuna search's :class:`~jaxnet.sweep.spec.Sweep`; optuna: the module.
    """
    d = optuna.distributions
    out = {}
    for axis, (kind, args) in sweep.random.items():
        if kind == "choice":
            out[axis] = d.CategoricalDistribution(_choices(args))
        elif kind.startswith("int_"):
            out[axis] = d.IntDistribution(int(args[0]), int(args[1]), log=kind == "int_log_uniform")
        else:
            out[axis] = d.FloatDistribution(
                float(args[0]), float(args[1]), log=kind == "log_uniform"
            )
    return out


def axes_of(sweep, params: dict) -> dict:
    """The config values of a trial's params: a list choice's JSON text back to the list, an
    int axis's value an int, a float axis's a float.

    Args:
      sweep: the spec; params: axis -> the value Optuna chose (one per ``[random]`` axis).
    """
    out = {}
    for axis, (kind, args) in sweep.random.items():
        value = params[axis]
        if kind == "choice":
            listed = {json.dumps(v): v for v in args if not _plain(v)}
            out[axis] = listed.get(value, value) if isinstance(value, str) else value
        elif kind.startswith("int_"):
            out[axis] = int(value)
        else:
            out[axis] = float(value)
    return out
