"""The MLP spec, parameter initialisation and the forward pass; owner of the params layout.

Params are a plain Python ``list`` with one ``dict`` per layer: ``"w"`` of shape
``(fan_in, fan_out)`` and, only when the net has biases, ``"b"`` of shape ``(fan_out,)``.
A layer computes ``z = a @ w + b`` (the tutorial's ``X @ W1`` orientation), then its activation.

The spec :class:`MLP` holds only Python values, so it is hashable and passed to ``jit`` as a
static argument; it is never a leaf of a pytree. With ``residual=True`` every hidden layer whose
input and output widths are equal adds its input to its output, ``a_next = a + f(a @ w + b)``
(a skip connection); the params layout is the same.

Dropout (``MLP(..., dropout=p)``) is inverted dropout on every hidden layer's output: with a
key, each unit is kept with probability ``1 - p`` and scaled by ``1 / (1 - p)``, dropped (0)
otherwise, so a layer's expected output is the plain layer's. It is active only when a key is
given (:func:`forward` with ``key=``, ``backprop`` and ``value_and_grad`` with ``key=``, and
``fit``, which draws a new key per step); without one the net is deterministic, as evaluation
and ``predict`` want. The masks are made by :func:`batch_masks` -- one example at a time, from
that example's key -- and passed to :func:`logits_masked`, the forward pass the hand-written
backward pass multiplies by the same masks. Inside compiled programs the rates are data (an
array per hidden layer), so nets that differ only in their rates share one program
(:func:`without_dropout` is the program's spec). Left out on purpose: dropout on the inputs,
normalisation layers, skips across layers that change width (they would need a projection).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

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
      dropout: the probability ``p`` in ``[0, 1)`` that a hidden unit is dropped while
        training (inverted dropout: kept units are scaled by ``1 / (1 - p)``): one number for
        every hidden layer, or a sequence of one number per hidden layer. Kept as one float
        when every layer has the same rate (``0.0``: no dropout, the default), else as a tuple.
        A residual layer drops its branch, ``a_next = a + mask * f(a @ w + b)``.
    """

    sizes: tuple[int, ...]
    activation: str = "relu"
    output_activation: str = "identity"
    bias: bool = True
    init: str = "auto"
    residual: bool = False
    dropout: float | tuple[float, ...] = 0.0

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
        object.__setattr__(self, "dropout", _checked_dropout(self.dropout, len(self.sizes) - 2))

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
    def dropout_rates(self) -> tuple[float, ...]:
        """The dropout rate of each hidden layer (one per hidden layer; empty without any)."""
        hidden = self.depth - 1
        return self.dropout if isinstance(self.dropout, tuple) else (self.dropout,) * hidden

    @property
    def n_params(self) -> int:
        """Number of scalar parameters."""
        pairs = zip(self.sizes[:-1], self.sizes[1:])
        return sum(i * o + (o if self.bias else 0) for i, o in pairs)


def _checked_dropout(value, hidden: int) -> float | tuple[float, ...]:
    """``dropout`` as one float (every hidden layer alike) or a tuple of ``hidden`` floats."""
    if hasattr(value, "__array__") and not isinstance(value, (list, tuple)):  # NumPy, JAX
        array = np.asarray(value)
        if array.ndim > 1:
            raise ValueError(
                "dropout must be one rate or one per hidden layer; got an array of shape "
                f"{array.shape}"
            )
        value = array.item() if array.ndim == 0 else array.tolist()
    many = isinstance(value, (list, tuple))
    for rate in value if many else [value]:
        if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, numbers.Real):
            raise TypeError(
                f"dropout must be a number in [0, 1) or one per hidden layer; got {value!r}"
            )
        if not 0 <= rate < 1:  # False for NaN too
            raise ValueError(f"dropout must be in [0, 1) (a probability of dropping); got {rate}")
    if many and len(value) != hidden:
        raise ValueError(
            f"dropout must have one rate per hidden layer ({hidden}); got {len(value)}: {value!r}"
        )
    if not many and hidden == 0 and value != 0:
        raise ValueError(f"dropout needs a hidden layer to drop units of; got dropout={value}")
    rates = [float(r) for r in value] if many else [float(value)] * hidden
    if len(set(rates)) <= 1:  # one rate for every layer is kept as one float
        return rates[0] if rates else 0.0
    return tuple(rates)


def without_dropout(net: MLP) -> MLP:
    """``net`` with ``dropout=0``: the spec a compiled program is keyed on when the dropout
    rates are data (they then come in as an array, so one program serves every rate)."""
    return net if net.dropout == 0.0 else dataclasses.replace(net, dropout=0.0)


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


def logits_masked(net: MLP, params: list[dict], x, masks):
    """The output layer's pre-activation for one example, each hidden layer's output multiplied
    by its mask: ``(features,)`` -> ``(outputs,)``.

    Args:
      masks: one per hidden layer: a ``(width,)`` array of 0 (dropped) and ``1 / (1 - p)``
        (kept), as :func:`example_masks` makes, or ``1.0`` (every unit kept, unscaled).
    """
    a = x
    for layer, name, skip, mask in zip(params[:-1], net.activations[:-1], net.skips, masks):
        h = activations.get(name).f(dense(layer, a)) * mask  # dropout: a dropped unit gives 0
        a = a + h if skip else h  # a residual layer: a_next = a + f(a @ w + b)
    return dense(params[-1], a)


def logits_one(net: MLP, params: list[dict], x):
    """The output layer's pre-activation for one example: ``(features,)`` -> ``(outputs,)``."""
    return logits_masked(net, params, x, no_masks(net))


def no_masks(net: MLP) -> tuple:
    """The masks of evaluation: every hidden unit kept, unscaled (``x * 1.0`` is ``x``)."""
    return (1.0,) * (net.depth - 1)


def dropout_mask(key, rate, width: int, dtype):
    """One example's inverted-dropout mask of one layer: ``(width,)`` of 0 (dropped, with
    probability ``rate``) and ``1 / (1 - rate)`` (kept). ``rate`` may be a traced scalar."""
    keep = jax.random.bernoulli(key, 1.0 - rate, (width,))
    return jnp.where(keep, 1.0 / (1.0 - rate), 0.0).astype(dtype)


def example_masks(net: MLP, key, rates, dtype) -> list:
    """One example's masks of every hidden layer, layer ``i``'s from ``fold_in(key, i)``.

    Args:
      key: the example's key; rates: ``(hidden layers,)`` dropout rates (data).
    """
    widths = net.sizes[1:-1]
    return [
        dropout_mask(jax.random.fold_in(key, i), rates[i], w, dtype) for i, w in enumerate(widths)
    ]


def batch_masks(net: MLP, key, rates, batch: int, dtype) -> list:
    """The masks of a batch: row ``r``'s are :func:`example_masks` of ``split(key, batch)[r]``.

    Returns:
      One ``(batch, width)`` array per hidden layer, the same ones whoever asks: the forward
      pass, the hand-written backward pass and ``jax.grad`` all multiply by these.
    """
    keys = jax.random.split(key, batch)
    return jax.vmap(lambda k: example_masks(net, k, rates, dtype))(keys)


def forward_one(net: MLP, params: list[dict], x):
    """The network's output for one example: ``x`` of shape ``(features,)`` -> ``(outputs,)``."""
    return activations.get(net.output_activation).f(logits_one(net, params, x))


@partial(jax.jit, static_argnums=0)
def forward_batch(net: MLP, params: list[dict], x):
    """``forward_one`` mapped over a batch: ``(batch, features)`` -> ``(batch, outputs)``."""
    return jax.vmap(forward_one, in_axes=(None, None, 0))(net, params, x)


def logits_batch_masked(net: MLP, params: list[dict], x, masks):
    """:func:`logits_masked` mapped over a batch and its masks (``(batch, width)`` each)."""
    return jax.vmap(logits_masked, in_axes=(None, None, 0, 0))(net, params, x, masks)


@partial(jax.jit, static_argnums=0)
def forward_batch_dropout(net: MLP, params: list[dict], x, key, rates):
    """The outputs of a batch with dropout: the masks of :func:`batch_masks` applied.

    Args:
      net: the spec (static; its own rates are not read); x: ``(batch, features)``;
      key: the batch's key; rates: ``(hidden layers,)`` dropout rates.
    """
    masks = batch_masks(net, key, rates, x.shape[0], x.dtype)
    z = logits_batch_masked(net, params, x, masks)
    return activations.get(net.output_activation).f(z)


def forward(net: MLP, params: list[dict], x, key=None):
    """The network's output, checked on the way in.

    Args:
      net: the spec.
      params: parameters in the layout of :func:`init`.
      x: ``(features,)`` for one example or ``(batch, features)``.
      key: None (the default: deterministic, every unit kept, as evaluation wants), or a
        ``jax.random`` key (or int seed) to drop hidden units at ``net.dropout``'s rates
        (:func:`batch_masks`); a net without dropout ignores it.

    Returns:
      ``(outputs,)`` or ``(batch, outputs)``, in the params' dtype.
    """
    check_net(net)
    _validate.params(net, params)
    x = _validate.inputs(net, params, x)
    key = None if key is None else _validate.prng_key(key, "key")
    batch = x[None] if x.ndim == 1 else x
    if key is None or not any(net.dropout_rates):
        out = forward_batch(net, params, batch)
    else:
        rates = jnp.asarray(net.dropout_rates, batch.dtype)
        out = forward_batch_dropout(without_dropout(net), params, batch, key, rates)
    return out[0] if x.ndim == 1 else out
