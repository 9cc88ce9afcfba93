"""The two problems most benchmarks train: the article's tutorial net and the digits MLP.

Each setup returns the net, its initial params and the data, the same for every variant of a
case. How they are trained (fit, a bare loop, NumPy, PyTorch) is left to the callers.
"""

from __future__ import annotations

import jax
import numpy as np

import jaxnet as jn
from jaxnet.data import Scaler

from .config import Config

TUTORIAL_X = np.array([[2.0, 9.0], [1.0, 5.0], [3.0, 6.0]])  # hours studied, hours slept
TUTORIAL_Y = np.array([[92.0], [86.0], [89.0]])  # test score out of 100


def tutorial_setup():
    """The article's net and data, scaled as the article scales them.

    Returns:
        ``(net, params, x, y)``: the 2-3-1 sigmoid MLP without biases, its params (normal
        init, key 0), ``x`` (3, 2) divided by its column maxima and ``y`` (3, 1) divided by 100,
        both NumPy float64.
    """
    net = jn.MLP(
        (2, 3, 1), activation="sigmoid", output_activation="sigmoid", bias=False, init="normal"
    )
    params = jn.init(net, jax.random.key(0))
    x = TUTORIAL_X / TUTORIAL_X.max(axis=0)
    y = TUTORIAL_Y / 100.0
    return net, params, x, y


def digits_data(n_features: int, n_classes: int):
    """The digits data standard-scaled, or random data of that shape without scikit-learn.

    Returns:
        ``(x, labels, source)``: ``x`` (1797, n_features) float32, integer ``labels`` (1797,)
        and a line saying which data it is.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        rng = np.random.default_rng(0)
        return (
            rng.standard_normal((1797, n_features)).astype(np.float32),
            rng.integers(0, n_classes, 1797),
            "random (scikit-learn missing)",
        )
    data = load_digits()
    x = Scaler.fit(data.data, kind="standard").transform(data.data)
    return x.astype(np.float32), data.target, "sklearn load_digits, standard-scaled"


DIGITS_LR = {"sgd": 0.1, "adam": 1e-3}


def digits_setup(cfg: Config):
    """The digits MLP of ``cfg.digits_sizes`` (ReLU, identity output) and its data.

    Returns:
        ``(net, params, x, labels, onehot, source)``: params from key 0, ``x`` (rows, features),
        ``labels`` (rows,), ``onehot`` (rows, classes) float32, and :func:`digits_data`'s source.
    """
    net = jn.MLP(cfg.digits_sizes, activation="relu", output_activation="identity")
    x, labels, source = digits_data(net.sizes[0], net.sizes[-1])
    onehot = np.eye(net.sizes[-1], dtype=np.float32)[labels]
    params = jn.init(net, jax.random.key(0))
    return net, params, x, labels, onehot, source
