"""Training P models of one architecture as one compiled program: :func:`fit_population`.

The same per-model code as :func:`jaxnet.fit`, mapped with ``vmap`` over a leading model
axis on params, optimizer state and per-member hyperparameters: a seed (init and minibatch
order), a learning rate (held in an ``optax.inject_hyperparams`` state, so it is data, not a
constant baked into the program) and an init scale. The model axis is sharded over the local
devices with a ``Mesh`` and ``NamedSharding``; P is padded up to a multiple of the device
count with copies of member 0 that are dropped from the results. :func:`fit_bucket` trains
nets that differ only in hidden widths the same way (:mod:`.buckets`).

CPU devices: XLA runs a small MLP on about one core, so jaxnet asks JAX for one CPU device
per core (:func:`jaxnet._devices.use_all_cpu_cores`) and a population uses the whole machine;
a single model still runs on one device. Set ``XLA_FLAGS`` (or ``jax_num_cpu_devices``)
yourself to choose otherwise.

Hyperparameters as data: besides learning rates and init scales, each member may have its own
dropout rates (``dropout=``: kept in its state), weight decay or L2 coefficient and schedule
values (kept in its optimizer's state, :func:`jaxnet.optimizers.configured_optimizer`), so
members that differ in them share one program; with ``patience`` each member stops early on
its own (:mod:`.stopping`).
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .. import _validate, optimizers, train
from .._devices import use_all_cpu_cores
from ..mlp import MLP, check_net, init, without_dropout
from ..tiers import once_tier
from .buckets import bucket_net, layer_scales
from .loop import train_members
from .programs import compiled, evaluate_parts, initial_states, member_keys
from .stopping import EarlyStopping

# Imported directly (not through the package), a population still gets a device per core.
use_all_cpu_cores()


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
    dropout=None,
    weight_decay=None,
    l2=None,
    lr_schedule=None,
    patience: int | None = None,
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
        optimizer's state (as ``fit``'s ``hyperparams``); with ``lr_schedule``, its values
        per member (``{"lr_final": (P,), "warmup_steps": (P,)}``).
      dropout: None (``net.dropout`` for every member), or each member's rates: ``(P,)`` (one
        per member, every hidden layer alike) or ``(P, hidden layers)``; data, so every rate
        shares the program. Member ``i`` trains as ``fit`` of ``net`` with ``dropout[i]``.
      weight_decay, l2: None, or a coefficient (``>= 0``) for every member, or ``(P,)`` one
        per member (see ``jaxnet.fit``; a named optimizer).
      lr_schedule: as for ``jaxnet.fit``: None, a kind's name or a
        :class:`jaxnet.schedules.Schedule` shared by every member (its values per member
        through ``hyperparams``).
      patience: with ``validation``, each member stops after this many evaluations without a
        lower validation loss and keeps its best params, exactly as its own ``fit`` with
        ``patience`` (:mod:`.stopping`); the others train on.

    Returns:
      ``(params, history)``: params stacked with a leading ``(P,)`` axis on every leaf, and a
      :class:`~jaxnet.population.loop.PopulationHistory`.
    """
    check_net(net)
    options = Options(
        loss=loss,
        optimizer=optimizer,
        steps=steps,
        learning_rates=learning_rates,
        init_scales=init_scales,
        batch_size=batch_size,
        grads=grads,
        validation=validation,
        evaluate=evaluate,
        eval_every=eval_every,
        dtype=dtype,
        devices=devices,
        progress=progress,
        weights=weights,
        hyperparams=hyperparams,
        dropout=dropout,
        weight_decay=weight_decay,
        l2=l2,
        lr_schedule=lr_schedule,
        patience=patience,
    )
    return _fit(net, None, keys, x, y, options)


def fit_bucket(nets, keys, x, y, **options):
    """Train P nets that differ only in hidden widths as one population: a width bucket.

    Every member is padded to :func:`~jaxnet.population.buckets.bucket_net` (the widest
    layers); its padded units start at zero and their gradients are masked to zero, so
    member ``i`` is exactly ``nets[i]`` trained alone: init drawn with its own fan-in and
    fan-out, same minibatches, same updates (up to the summation order of the padded matmuls).

    Args:
      nets: P MLPs, one per key (see ``bucket_net`` for what may differ).
      keys, x, y, options: as for :func:`fit_population`, every keyword but ``weights``
        (row weights and width masks do not share a program).

    Returns:
      ``(params, history)``: params of the padded net stacked over members (cut member ``i``
      out with :func:`~jaxnet.population.buckets.member_params`), and a history.
    """
    nets = list(nets) if isinstance(nets, (list, tuple)) else nets
    padded = bucket_net(nets)
    if options.get("weights") is not None:
        raise ValueError("fit_bucket takes no weights; train weighted members with fit_population")
    if not jax.config.jax_threefry_partitionable:
        raise ValueError(
            "fit_bucket needs jax_threefry_partitionable=True (JAX's default), under which a "
            "longer random draw starts with the shorter one; got False"
        )
    own = np.array([n.sizes for n in nets], np.int32)
    return _fit(padded, (own, layer_scales(nets)), keys, x, y, Options(**options))


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


@dataclasses.dataclass(frozen=True)
class Options:
    """The keywords of :func:`fit_population` (see there), in one record."""

    loss: str
    optimizer: object
    steps: int
    learning_rates: object = None
    init_scales: object = None
    batch_size: int | None = None
    grads: str = "auto"
    validation: object = None
    evaluate: dict | None = None
    eval_every: int = 500
    dtype: object = jnp.float32
    devices: object = None
    progress: bool | None = None
    weights: object = None
    hyperparams: dict | None = None
    dropout: object = None
    weight_decay: object = None
    l2: object = None
    lr_schedule: object = None
    patience: int | None = None


@dataclasses.dataclass(frozen=True)
class _Checked:
    """A population's arguments, checked on the host before anything is compiled."""

    keys: object  # typed keys (P,) or raw key data (P, 2)
    n: int
    x: object
    y: object
    val: tuple | None
    parts: dict
    lrs: np.ndarray | None
    scales: np.ndarray
    tx: object
    values: dict  # hyperparameters for the optimizer's state: {name: (P,)}
    dropout: np.ndarray | None  # (P, hidden layers) rates, or None


def _checked(net, bucket, keys, x, y, o: Options, dtype) -> _Checked:
    keys = _keys_array(keys)
    if keys is None:
        raise TypeError(
            "keys must be a 1-D array of jax.random keys, e.g. jax.random.split(key, P)"
        )
    n = keys.shape[0]
    if n == 0:
        raise ValueError("keys must hold at least one key (one per member); got 0 keys")
    if bucket is not None and len(bucket[0]) != n:
        raise ValueError(f"nets must have one net per key ({n}); got {len(bucket[0])}")
    _validate.loss_for(net, o.loss)
    # Shapes and dtype for the host-side checks, without running (or compiling) an init.
    probe = jax.eval_shape(lambda k: init(net, k, dtype), jax.random.key(0))
    xb, yb = _validate.batch(net, probe, x, y, o.loss)
    train.check_fit_args(net, o.steps, o.batch_size, o.grads, o.eval_every, len(xb))
    lrs = _per_member(o.learning_rates, n, "learning_rates", None)
    scales = _per_member(o.init_scales, n, "init_scales", 1.0)  # ones: one init program
    tx, values = _optimizer(o, lrs, probe, n)
    val = _pair(net, probe, o.validation, o.loss)
    if o.patience is not None:
        train.check_patience(o.patience, val)
    parts = _evaluation_parts(net, probe, o.evaluate, o.loss)
    rates = member_dropout(net, o.dropout, n)
    return _Checked(keys, n, xb, yb, val, parts, lrs, scales, tx, values, rates)


def _optimizer(o: Options, lrs, probe, n: int):
    """``(tx, {name: (P,) values})``: the optimizer, with its regularisation and schedule."""
    if o.weight_decay is None and o.l2 is None and o.lr_schedule is None:
        tx, _ = optimizers.resolve_optimizer(o.optimizer, lrs, probe, "learning_rates")
        return tx, {}
    tx, _, values = optimizers.regularized_optimizer(
        o.optimizer,
        lrs,
        probe,
        steps=o.steps,
        l2=o.l2,
        weight_decay=o.weight_decay,
        lr_schedule=o.lr_schedule,
    )
    per_member = {}
    for name, v in values.items():
        arr = np.asarray(v, np.float64)
        if arr.shape not in ((), (n,)):
            raise ValueError(
                f"{name} must be one number, or one per key ({n}); got shape {arr.shape}"
            )
        per_member[name] = np.broadcast_to(arr, (n,))
    return tx, per_member


def member_dropout(net: MLP, dropout, n: int) -> np.ndarray | None:
    """Each member's dropout rates, ``(P, hidden layers)``, or None for no dropout at all.

    Args:
      net: the shared spec (its own ``dropout`` when ``dropout`` is None); dropout: None,
        ``(P,)`` or ``(P, hidden layers)`` rates in ``[0, 1)``; n: members.
    """
    hidden = net.depth - 1
    if dropout is None:
        rates = np.tile(np.asarray(net.dropout_rates, np.float64), (n, 1))
    else:
        if isinstance(dropout, (str, bytes)):
            raise TypeError(f"dropout must be rates, one per key; got a string {dropout!r}")
        try:
            rates = np.asarray(dropout, np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"dropout must be rates, one per key; got {dropout!r}") from None
        if hidden == 0 and np.any(rates != 0):
            raise ValueError("dropout needs a hidden layer to drop units of; this net has none")
        if rates.ndim == 1 and rates.shape == (n,):
            rates = np.repeat(rates[:, None], hidden, axis=1)
        if rates.shape != (n, hidden):
            raise ValueError(
                f"dropout must have shape ({n},) or ({n}, {hidden}): one rate per key, or per "
                f"key and hidden layer; got shape {np.shape(dropout)}"
            )
        bad = rates[~((rates >= 0) & (rates < 1))]  # NaN included
        if bad.size:
            raise ValueError(f"dropout rates must be in [0, 1); got {bad[0]}")
    return rates if rates.size and np.any(rates > 0) else None


@dataclasses.dataclass(frozen=True)
class Layout:
    """A population checked on the host and placed on the devices: what the shapes of its
    programs follow from (:func:`layout`).

    Attributes:
      checked: the host-checked arguments; mesh: the devices the member axis is sharded over;
      take: ``(padded P,)`` the member each (device-padded) slot copies; init: ``(args,
      static)`` of the initial-states program; static: the chunk programs' static arguments,
      all but the chunk length.
    """

    checked: _Checked
    mesh: Mesh
    take: np.ndarray
    init: tuple
    static: dict


def layout(net, bucket, keys, x, y, o: Options) -> Layout:
    """Check a population's arguments and place it (``bucket``: own sizes and init scales of
    a width bucket, or None); raises the one-line errors of :func:`fit_population`."""
    dtype = jnp.dtype(o.dtype)
    c = _checked(net, bucket, keys, x, y, o, dtype)
    mesh = _mesh(c.n, o.devices)
    take = np.zeros(-(-c.n // mesh.size) * mesh.size, np.int32)  # members padded to the devices
    take[: c.n] = np.arange(c.n)  # are copies of member 0, dropped from the results
    net = without_dropout(net)  # the rates are in the states: one program for every rate
    static = dict(net=net, loss=o.loss, tx=c.tx, grads=o.grads, batch_size=o.batch_size)
    init = (_init_args(bucket, c, take, dtype), dict(net=net, tx=c.tx, dtype=dtype))
    return Layout(c, mesh, take, init, static)


def _fit(net, bucket, keys, x, y, o: Options):
    """:func:`fit_population` and :func:`fit_bucket` (``bucket``: own sizes and init scales)."""
    start = time.perf_counter()
    lay = layout(net, bucket, keys, x, y, o)
    c, mesh, take = lay.checked, lay.mesh, lay.take
    sharded = NamedSharding(mesh, P("models"))  # made sharded: no resharding ops after
    net = lay.static["net"]  # without dropout: the rates are in the states
    program, init_seconds = compiled("init", initial_states, *lay.init, sharded, once_tier())
    states, masks = program(*lay.init[0])
    if c.values or o.hyperparams:
        states = _with_hyperparams(states, {**c.values, **(o.hyperparams or {})}, c.n, take)
    if c.dropout is not None:
        dtype = jnp.dtype(o.dtype)
        states = states._replace(dropout=jax.device_put(c.dropout[take].astype(dtype), sharded))
    xb, yb, w = c.x, c.y, None
    if o.weights is not None:
        xb, yb, w = _member_weights(xb, yb, o.weights, c.n, o.batch_size)
        w = jax.device_put(w[take], sharded)
    data = jax.device_put((xb, yb, c.val, c.parts), NamedSharding(mesh, P()))
    watch = None
    if o.patience is not None:
        watch = EarlyStopping(c.n, o.patience, train.chunking(o.steps, o.eval_every)[1])
    states, history = train_members(
        states, masks, (*data[:3], w), c.n, o.steps, o.eval_every, lay.static, o.progress, watch
    )
    params = states.params
    if watch is not None:
        params, history = watch.finish(params, history)
    evaluated, eval_seconds = _evaluated(params, data[3], net, o.loss, c.n)
    if len(take) > c.n:
        params = jax.tree.map(lambda a: a[: c.n], params)
    history = dataclasses.replace(
        history,
        seconds=time.perf_counter() - start,
        compile_seconds=history.compile_seconds + init_seconds + eval_seconds,
        evaluated=evaluated,
    )
    return params, history


def _init_args(bucket, c: _Checked, take, dtype) -> tuple:
    """The initial-states program's array arguments for every (device-padded) member."""
    traced = isinstance(c.keys, jax.Array)
    return (
        c.keys if traced else np.asarray(c.keys)[take],
        take if traced else np.arange(len(take)),
        _padded(c.lrs, take, dtype),
        _padded(c.scales, take, dtype),
        None if bucket is None else bucket[0][take],
        None if bucket is None else bucket[1][take].astype(dtype),
    )


def _evaluated(params, parts, net, loss, n: int):
    """``({name: (loss, accuracy)}, compile_seconds)`` of the final params; empty without
    parts."""
    if not parts:
        return {}, 0.0
    args, static = (params, parts), dict(net=net, loss=loss)
    program, seconds = compiled("evaluate", evaluate_parts, args, static, None, once_tier())
    out = program(params, parts)
    return {k: tuple(np.asarray(v, np.float64)[:n] for v in out[k]) for k in parts}, seconds


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


def _mesh(n_members: int, devices):
    devices = list(devices if devices is not None else jax.local_devices())
    devices = devices[: max(1, min(len(devices), n_members))]
    return Mesh(np.array(devices), ("models",))


def _padded(values, take, dtype):
    """Per-member host values in the program's dtype, member padding applied (None stays)."""
    return None if values is None else np.asarray(values)[take].astype(dtype)


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
        values[name] = arr[take]  # float64: set_hyperparams casts to the state's dtype
    opt = jax.vmap(optimizers.set_hyperparams)(states.opt_state, values)
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


def _pair(net, probe, validation, loss):
    """The checked validation pair, or None."""
    if validation is None:
        return None
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
