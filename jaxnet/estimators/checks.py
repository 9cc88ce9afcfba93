"""The estimators' parameter checks, run at fit time (scikit-learn forbids checks in ``__init__``).

Each bad parameter raises ``ValueError`` naming it, what was expected and what was given,
before anything is traced. Left out: checks of the data (scikit-learn's ``validate_data`` does
them in the estimators).
"""

from __future__ import annotations

import numbers

from .. import train
from ..activations import ACTIVATIONS

# scikit-learn's activation names that jaxnet spells otherwise
ACTIVATION_NAMES = {"logistic": "sigmoid"}
SOLVERS = ("adam", "sgd") + tuple(k for k in train.OPTIMIZERS if k not in ("adam", "sgd"))


def activation_of(est) -> str:
    """The jaxnet activation name of an estimator's ``activation`` (``logistic`` -> ``sigmoid``)."""
    return ACTIVATION_NAMES.get(est.activation, est.activation)


def _check_number(value, name: str, low, high=None, *, integer=False, low_open=False):
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool)
    ok = ok and (value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        what = "an int" if integer else "a number"
        bound = f"{'>' if low_open else '>='} {low}" + ("" if high is None else f" and <= {high}")
        raise ValueError(f"{name} must be {what} {bound}; got {value!r}")


def _check_hidden(est) -> tuple[int, ...]:
    hidden = est.hidden_layer_sizes
    hidden = (hidden,) if isinstance(hidden, numbers.Integral) else hidden
    if (
        isinstance(hidden, (str, bytes))
        or not hasattr(hidden, "__iter__")
        or not all(isinstance(h, numbers.Integral) and not isinstance(h, bool) for h in hidden)
        or any(h < 1 for h in hidden)
    ):
        raise ValueError(
            f"hidden_layer_sizes must be positive ints; got {est.hidden_layer_sizes!r}"
        )
    return tuple(int(h) for h in hidden)


def _check_names(est) -> None:
    act = activation_of(est)
    if not isinstance(act, str) or act not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of logistic, {', '.join(ACTIVATIONS)}; got {est.activation!r}"
        )
    if est.solver not in SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(SOLVERS)}; got {est.solver!r}")
    if est.grads not in ("auto", "manual"):
        raise ValueError(f"grads must be 'auto' or 'manual'; got {est.grads!r}")
    if est.dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {est.dtype!r}")


def _check_numbers(est) -> None:
    if est.batch_size != "auto":
        _check_number(est.batch_size, "batch_size", 1, integer=True)
    if not est.shuffle:
        raise ValueError("shuffle=False is not supported: jaxnet always shuffles each epoch")
    _check_number(est.alpha, "alpha", 0.0)
    _check_number(est.learning_rate_init, "learning_rate_init", 0.0, low_open=True)
    _check_number(est.max_iter, "max_iter", 1, integer=True)
    _check_number(est.tol, "tol", 0.0)
    _check_number(est.n_iter_no_change, "n_iter_no_change", 1, integer=True)
    _check_number(est.momentum, "momentum", 0.0, 1.0)
    _check_number(est.validation_fraction, "validation_fraction", 0.0, 1.0, low_open=True)
    _check_number(est.beta_1, "beta_1", 0.0, 1.0)
    _check_number(est.beta_2, "beta_2", 0.0, 1.0)
    _check_number(est.epsilon, "epsilon", 0.0, low_open=True)


def check_params(est) -> tuple[int, ...]:
    """Validate an estimator's hyperparameters, in the order scikit-learn's MLP reports them.

    Args:
      est: an ``MLPClassifier`` or ``MLPRegressor``.

    Returns:
      The hidden layer sizes as a tuple of ints (``hidden_layer_sizes`` may be one int).
    """
    hidden = _check_hidden(est)
    _check_names(est)
    _check_numbers(est)
    return hidden
