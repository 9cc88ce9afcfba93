"""The estimators' parameter checks, run at fit time (scikit-learn forbids checks in ``__init__``).

Every parameter scikit-learn's MLP validates is validated by scikit-learn's own constraints
(``_parameter_constraints`` of ``sklearn.neural_network.MLPClassifier``, through
``validate_parameter_constraints``), so a bad value raises the same one-line
``InvalidParameterError`` (a ``ValueError``) naming the parameter, the values allowed and the
value given, before anything is traced. jaxnet adds its own activations, ``grads`` and
``dtype``, and is stricter where scikit-learn lets a mistake through: ``hidden_layer_sizes``
must be positive ints (not floats), counts must not be bools, and ``early_stopping`` needs a
``validation_fraction`` above 0. Left out: checks
of the data (scikit-learn's ``validate_data`` does them in the estimators).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.neural_network import MLPClassifier as SklearnMLP
from sklearn.utils._param_validation import StrOptions, validate_parameter_constraints

from ..activations import ACTIVATIONS

# scikit-learn's activation names that jaxnet spells otherwise
ACTIVATION_NAMES = {"logistic": "sigmoid"}
STOCHASTIC = ("sgd", "adam")


def dtype_of(est, X) -> np.dtype:
    """The training dtype: ``est.dtype``, or ``X``'s (float32 or float64) when it is None."""
    return np.dtype(X.dtype if est.dtype is None else est.dtype)


def activation_of(est) -> str:
    """The jaxnet activation name of an estimator's ``activation`` (``logistic`` -> ``sigmoid``)."""
    return ACTIVATION_NAMES.get(est.activation, est.activation)


def constraints() -> dict:
    """scikit-learn's constraints of the parameters jaxnet shares, and jaxnet's own."""
    sk = SklearnMLP._parameter_constraints
    ours = {k: v for k, v in sk.items() if k != "loss"}
    ours["activation"] = [StrOptions({"logistic", *ACTIVATIONS})]
    ours["grads"] = [StrOptions({"auto", "manual"})]
    ours["dtype"] = [StrOptions({"float32", "float64"}), None]
    return ours


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
            "hidden_layer_sizes must be positive ints (one per hidden layer); "
            f"got {est.hidden_layer_sizes!r}"
        )
    return tuple(int(h) for h in hidden)


INTS = ("batch_size", "max_iter", "n_iter_no_change", "max_fun")


def _check_not_bool(est) -> None:
    # scikit-learn's Interval(Integral) takes True and False; a bool is never meant as a count.
    for name in INTS:
        value = getattr(est, name)
        if isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be an int, not a bool; got {value!r}")


def check_params(est) -> tuple[int, ...]:
    """Validate an estimator's hyperparameters as scikit-learn does, then jaxnet's own.

    Args:
      est: an ``MLPClassifier`` or ``MLPRegressor``.

    Returns:
      The hidden layer sizes as a tuple of ints (``hidden_layer_sizes`` may be one int).
    """
    params = est.get_params(deep=False)
    validate_parameter_constraints(constraints(), params, caller_name=type(est).__name__)
    _check_not_bool(est)
    if est.early_stopping and est.validation_fraction == 0:
        raise ValueError("validation_fraction must be above 0 with early_stopping=True; got 0.0")
    return _check_hidden(est)
