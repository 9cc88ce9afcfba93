"""The MLP spec, parameter initialisation and the forward pass; owner of the params layout.

Params are a plain Python ``list`` with one ``dict`` per layer: ``"w"`` of shape
``(fan_in, fan_out)`` and, only when the net has biases, ``"b"`` of shape ``(fan_out,)``.
A layer computes ``z = a @ w + b`` (the tutorial's ``X @ W1`` orientation), then its activation.

The spec :class:`MLP` holds only Python values, so it is hashable and passed to ``jit`` as a
static argument; it is never a leaf of a pytree. With ``residual=True`` every hidden layer whose
input and output widths are equal adds its input to its output, ``a_next = a + f(a @ w + b)``
(a skip connection); the params layout is the same. Left out on purpose: dropout,
normalisation layers, skips across layers that change width (they would need a projection).
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial

import jax
import jax.numpy as jnp

from . import _validate, activations

INITS = ("auto", "glorot", "he", "lecun", "normal")
_RELU_LIKE = ("relu", "leaky_relu", "elu", "gelu", "silu")


@dataclasses.dataclass(frozen=True)
class MLP:
    """A multilayer perceptron's shape and functions.

    Args:
      sizes: layer widths from inputs to outputs, e.g. ``(2, 3, 1)``; at least two positive ints.
      activation: name of the hidden layers' activation (see ``jaxnet.activations``).
      output_activation: name of the output layer's activation; ``"identity"`` gives logits.
      bias: whether every layer has a bias ``"b"``.
      init: ``"glorot"`` (uniform), ``"he"`` (normal, ``2/fan_in``), ``"lecun"`` (normal,
        ``1/fan_in``), ``"normal"`` (standard normal: the tutorial's ``np.random.randn``), or
        ``"auto"``: He for ReLU-like hidden activations, Glorot otherwise. Biases start at 0.
      residual: whether every hidden layer whose input and output widths are equal skips
        around itself: ``a_next = a + f(a @ w + b)``. Layers that change width, and the output
        layer, have no skip. No new parameters: the params layout is the same.
    """

    sizes: tuple[int, ...]
    activation: str = "relu"
    output_activation: str = "identity"
    bias: bool = True
    init: str = "auto"
    residual: bool = False

    def __post_init__(self):
        object.__setattr__(self, "sizes", _validate.layer_sizes(self.sizes))
        activations.check_name(self.activation, "activation")
        activations.check_name(self.output_activation, "output_activation")
        if not isinstance(self.bias, bool):
            raise TypeError(f"bias must be True or False; got {self.bias!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}; got {self.init!r}")
        if not isinstance(self.residual, bool):
            raise TypeError(f"residual must be True or False; got {self.residual!r}")

    @property
    def depth(self) -> int:
        """Number of weight layers (hidden layers + 1)."""
        return len(self.sizes) - 1

    @property
    def activations(self) -> tuple[str, ...]:
        """Activation name of each weight layer, the output layer last."""
        return (self.activation,) * (self.depth - 1) + (self.output_activation,)

    @property
    def skips(self) -> tuple[bool, ...]:
        """Whether each weight layer adds its input to its output (the output layer never)."""
        pairs = zip(self.sizes[:-2], self.sizes[1:-1])
        return tuple(self.residual and i == o for i, o in pairs) + (False,)

    @property
    def n_params(self) -> int:
        """Number of scalar parameters."""
        pairs = zip(self.sizes[:-1], self.sizes[1:])
        return sum(i * o + (o if self.bias else 0) for i, o in pairs)


def check_net(net, argument: str = "net") -> MLP:
    """``net`` if it is an :class:`MLP`; a TypeError naming ``argument`` otherwise."""
    if not isinstance(net, MLP):
        raise TypeError(f"{argument} must be a jaxnet.MLP; got {type(net).__name__}")
    return net


def init_scheme(net: MLP) -> str:
    """The scheme ``init`` draws ``net``'s weights with: ``net.init``, with ``"auto"`` resolved
    (He for ReLU-like hidden activations, Glorot otherwise)."""
    if net.init != "auto":
        return net.init
    return "he" if net.activation in _RELU_LIKE else "glorot"


def layer_scale(scheme: str, fan_in: int, fan_out: int) -> float:
    """Glorot's uniform limit, or the standard deviation of the normal schemes, for one layer."""
    if scheme == "glorot":
        return math.sqrt(6.0 / (fan_in + fan_out))
    return {"he": math.sqrt(2.0 / fan_in), "lecun": math.sqrt(1.0 / fan_in), "normal": 1.0}[scheme]


@partial(jax.jit, static_argnums=(0, 1, 2, 4))
def _init_compiled(sizes: tuple, scheme: str, bias: bool, key, dtype) -> list[dict]:
    # One random draw for all the weights, cut into layers: random-number kernels are slow to
    # compile on a CPU, so one kernel per architecture beats one per layer shape. Keyed on
    # sizes, scheme and bias only, so nets differing in activation share the program.
    pairs = list(zip(sizes[:-1], sizes[1:]))
    n = sum(i * o for i, o in pairs)
    if scheme == "glorot":
        unit = jax.random.uniform(key, (n,), dtype, -1.0, 1.0)
    else:
        unit = jax.random.normal(key, (n,), dtype)
    params, start = [], 0
    for fan_in, fan_out in pairs:
        w = unit[start : start + fan_in * fan_out].reshape(fan_in, fan_out)
        layer = {"w": layer_scale(scheme, fan_in, fan_out) * w}
        if bias:
            layer["b"] = jnp.zeros((fan_out,), dtype)
        params.append(layer)
        start += fan_in * fan_out
    return params


def init(net: MLP, key, dtype=None) -> list[dict]:
    """Draw initial parameters.

    Args:
      net: the spec.
      key: a ``jax.random`` key, or an int seed (``init(net, 0)`` is ``init(net, key(0))``).
      dtype: floating dtype of every leaf. None follows JAX's default float, as
        ``jax.random.normal`` does: float32, or float64 under ``jax.enable_x64``.

    Returns:
      A list of ``{"w": (fan_in, fan_out), "b": (fan_out,)}`` dicts, one per layer.
    """
    check_net(net)
    key = _validate.prng_key(key, "key")
    dtype = _validate.float_dtype(dtype, "dtype")
    return _init_compiled(net.sizes, init_scheme(net), net.bias, key, dtype)


def dense(layer: dict, a):
    """``a @ w + b`` for one layer; ``a`` is ``(fan_in,)`` or ``(batch, fan_in)``."""
    z = a @ layer["w"]
    return z + layer["b"] if "b" in layer else z


def logits_one(net: MLP, params: list[dict], x):
    """The output layer's pre-activation for one example: ``(features,)`` -> ``(outputs,)``."""
    a = x
    for layer, name, skip in zip(params[:-1], net.activations[:-1], net.skips):
        h = activations.get(name).f(dense(layer, a))
        a = a + h if skip else h  # a residual layer: a_next = a + f(a @ w + b)
    return dense(params[-1], a)


def forward_one(net: MLP, params: list[dict], x):
    """The network's output for one example: ``x`` of shape ``(features,)`` -> ``(outputs,)``."""
    return activations.get(net.output_activation).f(logits_one(net, params, x))


@partial(jax.jit, static_argnums=0)
def forward_batch(net: MLP, params: list[dict], x):
    """``forward_one`` mapped over a batch: ``(batch, features)`` -> ``(batch, outputs)``."""
    return jax.vmap(forward_one, in_axes=(None, None, 0))(net, params, x)


def forward(net: MLP, params: list[dict], x):
    """The network's output, checked on the way in.

    Args:
      net: the spec.
      params: parameters in the layout of :func:`init`.
      x: ``(features,)`` for one example or ``(batch, features)``.

    Returns:
      ``(outputs,)`` or ``(batch, outputs)``, in the params' dtype.
    """
    check_net(net)
    _validate.params(net, params)
    x = _validate.inputs(net, params, x)
    if x.ndim == 1:
        return forward_batch(net, params, x[None])[0]
    return forward_batch(net, params, x)
