"""Populations: P models of one architecture trained as one compiled program.

The same per-model code as :func:`jaxnet.train.train_chunk`, mapped with ``vmap`` over a
leading model axis on params, optimizer state and per-member hyperparameters: a seed (init
and minibatch order), a learning rate (held in an ``optax.inject_hyperparams`` state, so it
is data, not a constant baked into the program) and an init scale. The model axis is sharded
over all local devices with a ``Mesh`` and ``NamedSharding``; P is padded up to a multiple of
the device count with copies of member 0 that are dropped from the results.

A member whose loss or parameters stop being finite is frozen at its last finite parameters
and marked ``"diverged"``; the others go on untouched, because every member's update is
selected elementwise from its own values only.

CPU devices: XLA runs a small MLP on about one core, so by default jaxnet asks JAX for one
CPU device per core (see :func:`use_all_cpu_cores`) and a population uses the whole machine.
The trade-off: a single model still runs on one device (big matmuls still use every core's
threads), and memory for sharded arrays is split per device. Set ``XLA_FLAGS`` (or
``jax_num_cpu_devices``) yourself to choose otherwise. Left out: early stopping per member
(all members run the same number of steps, which keeps them one program).
"""

from __future__ import annotations

import dataclasses
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from . import _validate, train
from ._devices import use_all_cpu_cores
from .mlp import MLP, _init_scheme, _layer_scale, init

# Imported directly (not through the package), a population still gets a device per core.
use_all_cpu_cores()


def member_keys(key):
    """``(init_key, batch_key)`` of one member's key: what :func:`fit_population` uses.

    ``fit(net, init(net, init_key), ..., key=batch_key)`` trains the same model alone.
    """
    init_key, batch_key = jax.random.split(key)
    return init_key, batch_key


@dataclasses.dataclass(frozen=True)
class PopulationHistory:
    """What happened to each member, as NumPy arrays with a leading member axis ``P``.

    Attributes:
      loss: ``(P, steps)`` training loss before each step (NaN after a divergence).
      eval_step: ``(E,)`` step count at each evaluation.
      val_loss, val_accuracy: ``(P, E)`` validation metrics (accuracy NaN for regression).
      status: ``P`` strings, ``"completed"`` or ``"diverged"``.
      steps: ``(P,)`` updates applied to each member.
      seconds: wall time of the whole call; compile_seconds: of it, compiling.
      evaluated: ``{name: (loss, accuracy)}``, each ``(P,)`` float64, of the final params on
        the ``evaluate`` parts (empty without them).
    """

    loss: np.ndarray
    eval_step: np.ndarray
    val_loss: np.ndarray
    val_accuracy: np.ndarray
    status: tuple[str, ...]
    steps: np.ndarray
    seconds: float
    compile_seconds: float
    evaluated: dict = dataclasses.field(default_factory=dict)


def _per_member(values, n: int, name: str, default):
    if values is None:
        return None if default is None else np.full(n, default, np.float64)
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be numbers, one per key; got a string {values!r}")
    try:
        arr = np.asarray(values, np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be numbers, one per key; got {values!r}") from None
    if arr.shape != (n,):
        raise ValueError(f"{name} must have one value per key ({n}); got shape {np.shape(values)}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be positive and finite; got {values!r}")
    return arr


def _keys_array(keys):
    """Typed keys ``(P,)``, or raw threefry key data ``(P, 2)`` uint32 (wrapped inside the
    compiled init, so NumPy key data costs no eager operation); None for anything else."""
    if not isinstance(keys, (jax.Array, np.ndarray)):
        try:
            keys = np.asarray(keys)
        except TypeError:  # a list of typed keys
            keys = jnp.asarray(keys)
        except ValueError:
            return None
    if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        return keys if keys.ndim == 1 else None
    if keys.dtype == np.uint32 and keys.ndim == 2 and keys.shape[1] == 2:  # raw legacy keys
        return keys
    return None


def init_population(net: MLP, keys, init_scales=None, dtype=jnp.float32):
    """Stacked initial params of P members: each leaf gains a leading ``(P,)`` axis.

    Member i is ``init(net, member_keys(keys[i])[0])`` times ``init_scales[i]``.
    """
    init_keys = jax.vmap(lambda k: member_keys(k)[0])(keys)
    params = jax.vmap(lambda k: init(net, k, dtype))(init_keys)
    if init_scales is None:
        return params
    scales = jnp.asarray(init_scales, dtype)
    return jax.tree.map(lambda leaf: leaf * scales.reshape((-1,) + (1,) * (leaf.ndim - 1)), params)


def _mesh(n_members: int, devices):
    devices = list(devices if devices is not None else jax.local_devices())
    devices = devices[: max(1, min(len(devices), n_members))]
    return Mesh(np.array(devices), ("models",))


# --- width buckets ------------------------------------------------------------------------------


def bucket_net(nets) -> MLP:
    """The padded net of a width bucket: every hidden layer as wide as the widest member's.

    Args:
      nets: MLPs equal but for their hidden widths (same depth, ends, activations, bias, init).

    Raises:
      ValueError/TypeError naming ``nets`` when they cannot share one padded program.
    """
    nets = list(nets) if isinstance(nets, (list, tuple)) else nets
    if not isinstance(nets, list) or not nets or not all(isinstance(n, MLP) for n in nets):
        raise TypeError(f"nets must be a non-empty list of jaxnet.MLP; got {nets!r}")
    first = nets[0]
    for net in nets[1:]:
        same = dataclasses.replace(net, sizes=first.sizes) == first
        if not same or net.depth != first.depth or net.sizes[::-1][:1] != first.sizes[-1:]:
            raise ValueError(
                f"nets must differ only in hidden widths (same depth, inputs, outputs, "
                f"activations, bias and init); got {first} and {net}"
            )
        if net.sizes[0] != first.sizes[0]:
            raise ValueError(f"nets must have the same inputs; got {first} and {net}")
    if first.residual and len({n.skips for n in nets} | {_skips_padded(first, nets)}) > 1:
        # A skip joins equal-width hidden layers: padding must not create or remove one.
        raise ValueError(
            f"residual nets must have equal hidden widths in the same places; got {nets}"
        )
    widest = tuple(int(w) for w in np.max([n.sizes for n in nets], axis=0))
    return dataclasses.replace(first, sizes=widest)


def _skips_padded(first: MLP, nets) -> tuple:
    """The skips of the padded net (every hidden layer as wide as the widest member's)."""
    widest = tuple(int(w) for w in np.max([n.sizes for n in nets], axis=0))
    return dataclasses.replace(first, sizes=widest).skips


def _layer_scales(nets) -> np.ndarray:
    """``(P, depth)`` float64: each member's init scale of each layer, from its own fan-in/out."""
    scheme = _init_scheme(nets[0])
    return np.array(
        [[_layer_scale(scheme, i, o) for i, o in zip(n.sizes[:-1], n.sizes[1:])] for n in nets]
    )


def _bucket_init(net: MLP, own, layer_scales, key, dtype) -> list[dict]:
    """One member's ``init(own_net, key)``, zero-padded to ``net``'s sizes (``own``: its sizes).

    ``jaxnet.mlp.init`` draws all weights as one vector and cuts it into layers; with JAX's
    default partitionable threefry the first ``k`` numbers of a draw do not depend on its
    length, so drawing the padded net's length and gathering the member's own cuts gives
    exactly the member's own weights.
    """
    pairs = list(zip(net.sizes[:-1], net.sizes[1:]))
    total = sum(i * o for i, o in pairs)
    if _init_scheme(net) == "glorot":
        unit = jax.random.uniform(key, (total,), dtype, -1.0, 1.0)
    else:
        unit = jax.random.normal(key, (total,), dtype)
    params, start = [], 0
    for layer, (fan_in, fan_out) in enumerate(pairs):
        rows, cols = jnp.arange(fan_in)[:, None], jnp.arange(fan_out)[None, :]
        mine = (rows < own[layer]) & (cols < own[layer + 1])
        index = jnp.where(mine, start + rows * own[layer + 1] + cols, 0)
        params.append({"w": layer_scales[layer] * jnp.where(mine, unit[index], 0)})
        if net.bias:
            params[-1]["b"] = jnp.zeros((fan_out,), dtype)
        start = start + own[layer] * own[layer + 1]
    return params


def _bucket_mask(net: MLP, own, dtype) -> list[dict]:
    """1 on a member's own weights and biases, 0 on the padding (params-shaped)."""
    mask = []
    for layer, (fan_in, fan_out) in enumerate(zip(net.sizes[:-1], net.sizes[1:])):
        rows, cols = jnp.arange(fan_in)[:, None], jnp.arange(fan_out)
        w = (rows < own[layer]) & (cols[None, :] < own[layer + 1])
        entry = {"w": w.astype(dtype)}
        if net.bias:
            entry["b"] = (cols < own[layer + 1]).astype(dtype)
        mask.append(entry)
    return mask


def member_params(net: MLP, stacked, i: int) -> list[dict]:
    """Member ``i`` of :func:`fit_bucket`'s padded params, cut to its own ``net`` (NumPy)."""
    cut = []
    for layer, (fan_in, fan_out) in zip(stacked, zip(net.sizes[:-1], net.sizes[1:])):
        cut.append({"w": np.asarray(layer["w"][i])[:fan_in, :fan_out]})
        if "b" in layer:
            cut[-1]["b"] = np.asarray(layer["b"][i])[:fan_out]
    return cut


# --- the compiled programs ----------------------------------------------------------------------


_COMPILED: dict = {}


def compile_count() -> int:
    """How many population programs have been compiled in this process."""
    return len(_COMPILED)


def _compiled(name: str, fn, args: tuple, static: dict, out_shardings=None):
    """``fn(*args, **static)`` compiled ahead of time for these shapes, and its compile seconds.

    The cache key is the static arguments and every array's shape, dtype and sharding, so a
    second population of the same shapes reuses the program.
    """
    leaves = jax.tree.leaves(args)
    signature = (
        name,
        out_shardings,
        tuple(sorted(static.items())),
        jax.tree.structure(args),
        tuple((leaf.shape, leaf.dtype, getattr(leaf, "sharding", None)) for leaf in leaves),
    )
    if signature in _COMPILED:
        return _COMPILED[signature], 0.0
    start = time.perf_counter()
    jitted = jax.jit(partial(fn, **static), out_shardings=out_shardings)
    program = jitted.lower(*args).compile()
    _COMPILED[signature] = program
    return program, time.perf_counter() - start


def _metrics(net, params, val, loss):
    """One member's ``(loss, accuracy)`` on the validation batch, or NaNs without one."""
    if val is None:
        return jnp.nan, jnp.nan
    return train.evaluate_batch(net, params, *val, loss)


def _fast_members(states, masks, x, y, val, *, net, loss, tx, grads, batch_size, length):
    """Every member's unguarded chunk, then its validation metrics: one program."""
    kw = dict(net=net, loss=loss, tx=tx, grads=grads, batch_size=batch_size, length=length)

    def one(state, mask):
        state, values, finite = train.fast_chunk(state, x, y, mask=mask, **kw)
        return state, values, _metrics(net, state.params, val, loss), finite

    return jax.vmap(one)(states, masks)


def _guarded_members(states, masks, x, y, val, total, *, net, loss, tx, grads, batch_size, length):
    """Every member's guarded chunk (:func:`jaxnet.train.train_chunk`), then its metrics."""
    kw = dict(net=net, loss=loss, tx=tx, grads=grads, batch_size=batch_size, length=length)

    def one(state, mask):
        state, values = train.train_chunk(state, x, y, total, mask=mask, **kw)
        return state, values, _metrics(net, state.params, val, loss), jnp.bool_(True)

    return jax.vmap(one)(states, masks)


def _weighted_members(
    states, weights, x, y, val, total, *, net, loss, tx, grads, batch_size, length
):
    """Every member's weighted chunk (:func:`jaxnet.train.train_chunk_weighted`, guarded), then
    its metrics; ``weights``: ``(P, n)``, one row mask or weighting per member."""
    kw = dict(net=net, loss=loss, tx=tx, grads=grads, batch_size=batch_size, length=length)

    def one(state, w):
        state, values = train.train_chunk_weighted(state, x, y, w, total, **kw)
        return state, values, _metrics(net, state.params, val, loss), jnp.bool_(True)

    return jax.vmap(one)(states, weights)


def _evaluate_parts(params, parts, *, net, loss):
    return {
        k: jax.vmap(train.evaluate_batch, (None, 0, None, None, None))(net, params, *xy, loss)
        for k, xy in parts.items()
    }


_evaluate_vmapped = jax.jit(
    jax.vmap(train.evaluate_batch, in_axes=(None, 0, None, None, None)), static_argnums=(0, 4)
)


def evaluate_population(net: MLP, params, x, y, loss: str):
    """``(loss, accuracy)``, each ``(P,)``, of stacked params on a checked batch."""
    return _evaluate_vmapped(net, params, x, y, loss)


def _initial_states_program(keys, take, lrs, scales, own, layer_scales, *, net, tx, dtype):
    """Stacked :class:`jaxnet.train.TrainState` and gradient masks of every (padded) member."""
    keys = keys[take]  # member padding for the device count, inside the program
    if not jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        keys = jax.random.wrap_key_data(keys)  # raw threefry key data from the host
    init_keys, batch_keys = jax.vmap(member_keys)(keys)
    if own is None:
        params = jax.vmap(lambda k: init(net, k, dtype))(init_keys)
        masks = None
    else:
        params = jax.vmap(lambda o, s, k: _bucket_init(net, o, s, k, dtype))(
            own, layer_scales, init_keys
        )
        masks = jax.vmap(lambda o: _bucket_mask(net, o, dtype))(own)
    if scales is not None:
        params = jax.tree.map(lambda a: a * scales.reshape((-1,) + (1,) * (a.ndim - 1)), params)
    if lrs is None:
        states = jax.vmap(lambda p, k: train.init_state(p, tx, k))(params, batch_keys)
    else:
        states = jax.vmap(lambda p, k, r: train.init_state(p, tx, k, r))(params, batch_keys, lrs)
    return states, masks


def _padded(values, take, dtype):
    """Per-member host values in the program's dtype, member padding applied (None stays)."""
    return None if values is None else np.asarray(values)[take].astype(dtype)


def fit_population(
    net: MLP,
    keys,
    x,
    y,
    *,
    loss: str,
    optimizer,
    steps: int,
    learning_rates=None,
    init_scales=None,
    batch_size: int | None = None,
    grads: str = "auto",
    validation=None,
    evaluate=None,
    eval_every: int = 500,
    dtype=jnp.float32,
    devices=None,
    progress: bool | None = None,
    weights=None,
    hyperparams: dict | None = None,
):
    """Train P members of one architecture as one compiled program.

    Args:
      net: the spec shared by every member.
      keys: ``(P,)`` ``jax.random`` keys, one per member; each seeds that member's init and
        minibatch order (see :func:`member_keys`).
      x: ``(n, features)``; y: targets as for :func:`jaxnet.fit` (shared by all members).
      loss: a loss name.
      optimizer: a name from ``jaxnet.train.OPTIMIZERS`` (needs ``learning_rates``) or an optax
        ``GradientTransformation`` (with ``learning_rates`` it must be ``inject_hyperparams``).
      steps: optimizer steps for every member.
      learning_rates: ``(P,)`` or None; init_scales: ``(P,)`` multipliers of the initial params.
      batch_size, grads, validation, eval_every, progress: as for :func:`jaxnet.fit`.
      evaluate: None, or ``{name: (x, y)}`` to evaluate the final params on, by one compiled
        program; the result is :attr:`PopulationHistory.evaluated`.
      dtype: params dtype; devices: devices to shard the model axis over (default all local).
      weights: ``(P, n)`` row weights, one row per member, or None: member i trains as
        ``jaxnet.fit(..., weights=weights[i])`` does (a row mask picks each member's rows,
        e.g. its cross-validation fold, from the shared data).
      hyperparams: ``{name: (P,) values}`` set per member in an ``inject_hyperparams``
        optimizer's state (as ``fit``'s ``hyperparams``).

    Returns:
      ``(params, history)``: params stacked with a leading ``(P,)`` axis on every leaf, and a
      :class:`PopulationHistory`.
    """
    return _fit(
        net,
        None,
        keys,
        x,
        y,
        loss,
        optimizer,
        steps,
        learning_rates,
        init_scales,
        batch_size,
        grads,
        validation,
        evaluate,
        eval_every,
        dtype,
        devices,
        progress,
        weights,
        hyperparams,
    )


def fit_bucket(
    nets,
    keys,
    x,
    y,
    *,
    loss: str,
    optimizer,
    steps: int,
    learning_rates=None,
    init_scales=None,
    batch_size: int | None = None,
    grads: str = "auto",
    validation=None,
    evaluate=None,
    eval_every: int = 500,
    dtype=jnp.float32,
    devices=None,
    progress: bool | None = None,
):
    """Train P nets that differ only in hidden widths as one population: a width bucket.

    Every member is padded to :func:`bucket_net` (the widest layers); its padded units start
    at zero and their gradients are masked to zero, so they stay zero in params and in every
    optimizer state, and a padded unit's output never reaches the next layer (its outgoing
    weights are zero, whatever ``f(0)`` is). Member ``i`` is thus exactly ``nets[i]`` trained
    alone: init drawn with its own fan-in and fan-out, same minibatches, same updates (up to
    the summation order of the padded matmuls).

    Args:
      nets: P MLPs, one per key (see :func:`bucket_net` for what may differ).
      keys ... progress: as for :func:`fit_population`.

    Returns:
      ``(params, history)``: params of the padded net stacked over members (cut member ``i``
      out with :func:`member_params`), and a :class:`PopulationHistory`.
    """
    nets = list(nets) if isinstance(nets, (list, tuple)) else nets
    padded = bucket_net(nets)
    if not jax.config.jax_threefry_partitionable:
        raise ValueError(
            "fit_bucket needs jax_threefry_partitionable=True (JAX's default), under which a "
            "longer random draw starts with the shorter one; got False"
        )
    own = np.array([n.sizes for n in nets], np.int32)
    return _fit(
        padded,
        (own, _layer_scales(nets)),
        keys,
        x,
        y,
        loss,
        optimizer,
        steps,
        learning_rates,
        init_scales,
        batch_size,
        grads,
        validation,
        evaluate,
        eval_every,
        dtype,
        devices,
        progress,
        None,
        None,
    )


def _fit(
    net,
    bucket,
    keys,
    x,
    y,
    loss,
    optimizer,
    steps,
    learning_rates,
    init_scales,
    batch_size,
    grads,
    validation,
    evaluate,
    eval_every,
    dtype,
    devices,
    progress,
    weights=None,
    hyperparams=None,
):
    """:func:`fit_population` and :func:`fit_bucket` (``bucket``: own sizes and init scales)."""
    start = time.perf_counter()
    keys = _keys_array(keys)
    if keys is None:
        raise TypeError(
            "keys must be a 1-D array of jax.random keys, e.g. jax.random.split(key, P)"
        )
    n = keys.shape[0]
    if bucket is not None and len(bucket[0]) != n:
        raise ValueError(f"nets must have one net per key ({n}); got {len(bucket[0])}")
    _validate.loss_for(net, loss)
    dtype = jnp.dtype(dtype)
    # Shapes and dtype for the host-side checks, without running (or compiling) an init.
    probe = jax.eval_shape(lambda k: init(net, k, dtype), jax.random.key(0))
    xb, yb = _validate.batch(net, probe, x, y, loss)
    train.check_fit_args(net, steps, batch_size, grads, eval_every, xb.shape[0])
    lrs = _per_member(learning_rates, n, "learning_rates", None)
    scales = _per_member(init_scales, n, "init_scales", 1.0)  # ones: one init program
    tx, _ = train.resolve_optimizer(optimizer, lrs, probe, "learning_rates")
    val = None if validation is None else _validation(net, probe, validation, loss)
    parts = _evaluation_parts(net, probe, evaluate, loss)

    mesh = _mesh(n, devices)
    take = np.zeros(-(-n // mesh.size) * mesh.size, np.int32)  # members padded to the devices
    take[:n] = np.arange(n)  # are copies of member 0, dropped from the results
    args = (
        keys if isinstance(keys, jax.Array) else np.asarray(keys)[take],
        take if isinstance(keys, jax.Array) else np.arange(len(take)),
        _padded(lrs, take, dtype),
        _padded(scales, take, dtype),
        None if bucket is None else bucket[0][take],
        None if bucket is None else bucket[1][take].astype(dtype),
    )
    sharded = NamedSharding(mesh, P("models"))  # made sharded: no resharding ops after
    static = dict(net=net, tx=tx, dtype=dtype)
    program, compile_seconds = _compiled("init", _initial_states_program, args, static, sharded)
    states, masks = program(*args)
    if hyperparams:
        states = _with_hyperparams(states, hyperparams, n, take)
    w = None
    if weights is not None:
        xb, yb, w = _member_weights(xb, yb, weights, n, batch_size)
        w = jax.device_put(w[take], sharded)
    replicated = NamedSharding(mesh, P())
    data = jax.device_put((xb, yb, val, parts), replicated)
    static = dict(net=net, loss=loss, tx=tx, grads=grads, batch_size=batch_size)
    states, history = _population_loop(
        states, masks, (*data[:3], w), n, steps, eval_every, static, progress
    )
    evaluated, seconds = {}, 0.0
    if parts:
        program, seconds = _compiled(
            "evaluate", _evaluate_parts, (states.params, data[3]), dict(net=net, loss=loss)
        )
        out = program(states.params, data[3])
        evaluated = {k: tuple(np.asarray(v, np.float64)[:n] for v in out[k]) for k in parts}
    params = states.params
    if len(take) > n:
        params = jax.tree.map(lambda a: a[:n], params)
    history = dataclasses.replace(
        history,
        seconds=time.perf_counter() - start,
        compile_seconds=history.compile_seconds + compile_seconds + seconds,
        evaluated=evaluated,
    )
    return params, history


def _with_hyperparams(states, hyperparams: dict, n: int, take):
    """``states`` with each member's ``inject_hyperparams`` values set (``take``: the padded
    member order of :func:`_fit`)."""
    values = {}
    for name, v in hyperparams.items():
        arr = np.asarray(v, np.float64).reshape(-1)
        if arr.shape != (n,) or not np.all(np.isfinite(arr)):
            raise ValueError(
                f"hyperparams[{name!r}] must hold one finite value per key ({n}); got {v!r}"
            )
        values[name] = jnp.asarray(arr[take], jnp.float32)
    opt = jax.vmap(train.set_hyperparams)(states.opt_state, values)
    return states._replace(opt_state=opt)


def _member_weights(x, y, weights, n: int, batch_size):
    """Checked ``(P, n)`` row weights, and ``x``, ``y`` and the weights padded with rows of
    weight 0 up to a multiple of the batch (as :func:`jaxnet.train.pad_rows`)."""
    w = np.asarray(weights)
    if w.ndim != 2 or w.shape[0] != n:
        raise ValueError(
            f"weights must have shape ({n}, {x.shape[0]}): one row weight per member and row; "
            f"got shape {w.shape}"
        )
    rows = np.stack([train.check_weights(row, x.shape[0]) for row in w])
    x, y, _ = train.pad_rows(x, y, rows[0], batch_size)
    rows = np.pad(rows, ((0, 0), (0, x.shape[0] - rows.shape[1])))
    return x, y, rows.astype(x.dtype)


def _validation(net, probe, validation, loss):
    if not isinstance(validation, (tuple, list)) or len(validation) != 2:
        raise TypeError("validation must be a pair (x_val, y_val)")
    return _validate.batch(net, probe, *validation, loss)


def _evaluation_parts(net, probe, evaluate, loss) -> dict:
    if evaluate is None:
        return {}
    if not isinstance(evaluate, dict) or not all(
        isinstance(v, (tuple, list)) and len(v) == 2 for v in evaluate.values()
    ):
        raise TypeError(f"evaluate must be a dict of name -> (x, y) pairs; got {evaluate!r}")
    return {k: _validate.batch(net, probe, *xy, loss) for k, xy in evaluate.items()}


def _population_loop(states, masks, data, n, steps, eval_every, static, progress):
    """Run every chunk: unguarded while all members live and the chunk ends within the run,
    guarded (from the chunk's start) otherwise. Returns ``(states, history)``."""
    x, y, val, weights = data
    n_chunks, length = train.chunking(steps, eval_every)
    static = dict(static, length=length)
    total = np.int32(steps)
    chunks, evals, done, live = [], [], 0, True
    programs, compile_seconds = {}, [0.0]
    shapes = (states, masks, x, y, val)  # the first chunk's arguments: the program's signature

    def program(kind: str):
        # Compiled on first use for the first chunk's shapes and shardings (later states may
        # carry equivalent shardings that would not match a new signature).
        if kind not in programs:
            fn, args = {
                "fast": (_fast_members, shapes),
                "guarded": (_guarded_members, (*shapes, total)),
                "weighted": (_weighted_members, (states, weights, x, y, val, total)),
            }[kind]
            programs[kind], seconds = _compiled(kind, fn, args, static)
            compile_seconds[0] += seconds
        return programs[kind]

    with train.progress_bar(steps, progress, f"population of {n}") as bar:
        for _ in range(n_chunks):
            new = None
            if weights is not None:  # row weights: one guarded program (masks are all ones)
                new = program("weighted")(states, weights, x, y, val, total)
            elif live and done + length <= steps:
                new = program("fast")(states, masks, x, y, val)
                if not np.all(np.asarray(new[3])):
                    new = None  # some member went non-finite: rerun this chunk guarded
            if new is None:
                new = program("guarded")(states, masks, x, y, val, total)
            states, values, (vl, va), _ = new
            chunks.append(np.asarray(values)[:n])
            step = np.asarray(states.step)[:n]
            alive = np.asarray(states.alive)[:n]
            done, live = int(step.max()), bool(alive.all())
            bar.update(min(length, steps - bar.n))
            if val is not None:
                evals.append((done, np.asarray(vl)[:n], np.asarray(va)[:n]))
            if not alive.any():
                break
    history = PopulationHistory(
        loss=np.concatenate(chunks, axis=1)[:, :steps],
        eval_step=np.array([e[0] for e in evals], np.int64),
        val_loss=np.stack([e[1] for e in evals], axis=1) if evals else np.zeros((n, 0)),
        val_accuracy=np.stack([e[2] for e in evals], axis=1) if evals else np.zeros((n, 0)),
        status=tuple("completed" if a else "diverged" for a in alive),
        steps=step.astype(np.int64),
        seconds=0.0,
        compile_seconds=compile_seconds[0],
    )
    return states, history
