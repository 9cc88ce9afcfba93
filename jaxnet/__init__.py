"""jaxnet: small, fast JAX MLPs with hand-written backprop checked against autodiff."""

from .backprop import backprop as backprop
from .data import Scaler as Scaler
from .gradcheck import GradcheckReport as GradcheckReport
from .gradcheck import gradcheck as gradcheck
from .grads import per_example_grads as per_example_grads
from .grads import value_and_grad as value_and_grad
from .mlp import MLP as MLP
from .mlp import forward as forward
from .mlp import init as init
from .population import PopulationHistory as PopulationHistory
from .population import fit_population as fit_population
from .train import History as History
from .train import fit as fit

__version__ = "0.1.0"

__all__ = [
    "MLP",
    "PopulationHistory",
    "Scaler",
    "History",
    "backprop",
    "fit",
    "fit_population",
    "forward",
    "gradcheck",
    "GradcheckReport",
    "init",
    "per_example_grads",
    "value_and_grad",
]
