"""jaxnet: small, fast JAX MLPs with hand-written backprop checked against autodiff.

Only re-exports. They are imported on first use (PEP 562 ``__getattr__``), so ``import
jaxnet`` does not import JAX and the ``jaxnet`` command answers ``--help``, ``--version`` and
argument errors at once; ``jn.fit`` and the rest behave exactly as if imported eagerly.
"""

import importlib as _importlib
from typing import TYPE_CHECKING

from . import _devices

__version__ = "0.1.0"

# Public name -> the module that defines it; "" for a module exported under its own name.
_EXPORTS = {
    "MLP": "mlp",
    "forward": "mlp",
    "init": "mlp",
    "backprop": "backward",
    "value_and_grad": "grads",
    "per_example_grads": "grads",
    "gradcheck": "verification",
    "GradcheckReport": "verification",
    "fit": "train",
    "History": "train",
    "fit_population": "population",
    "PopulationHistory": "population",
    "Scaler": "data",
    "data": "",
    "save": "model",
    "load": "model",
    "Model": "model",
}

__all__ = list(_EXPORTS)

# Submodules reachable as attributes (jn.train.OPTIMIZERS), imported on first use like the rest.
_SUBMODULES = {
    "activations",
    "backward",
    "checkpoint",
    "chunks",
    "cli",
    "grads",
    "losses",
    "metrics",
    "mlp",
    "model",
    "optimizers",
    "plots",
    "population",
    "schedules",
    "store",
    "sweep",
    "train",
    "verification",
}

if TYPE_CHECKING:  # what __getattr__ resolves, spelled out for type checkers and readers
    from . import data as data
    from .backward import backprop as backprop
    from .data import Scaler as Scaler
    from .grads import per_example_grads as per_example_grads
    from .grads import value_and_grad as value_and_grad
    from .mlp import MLP as MLP
    from .mlp import forward as forward
    from .mlp import init as init
    from .model import Model as Model
    from .model import load as load
    from .model import save as save
    from .population import PopulationHistory as PopulationHistory
    from .population import fit_population as fit_population
    from .train import History as History
    from .train import fit as fit
    from .verification import GradcheckReport as GradcheckReport
    from .verification import gradcheck as gradcheck


def __getattr__(name: str):
    if name in _SUBMODULES:
        return _importlib.import_module(f".{name}", __name__)
    if name not in _EXPORTS:
        raise AttributeError(f"module 'jaxnet' has no attribute {name!r}")
    module = _importlib.import_module(f".{_EXPORTS[name] or name}", __name__)
    value = getattr(module, name) if _EXPORTS[name] else module
    globals()[name] = value  # later lookups find it without calling __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


_devices.use_all_cpu_cores()
