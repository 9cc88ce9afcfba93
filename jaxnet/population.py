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
import os
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from . import _validate, train
from .mlp import MLP, init


def use_all_cpu_cores() -> None:
    """Ask JAX for one CPU device per core, unless the user chose already or JAX has started.

    Called when jaxnet is imported. It does nothing when ``XLA_FLAGS`` sets a host device
    count, when ``jax_num_cpu_devices`` was set, or when JAX's backends are already running.
    """
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    try:
        if jax.config.jax_num_cpu_devices == -1:
            jax.config.update("jax_num_cpu_devices", os.cpu_count() or 1)
    except (RuntimeError, AttributeError):  # backends already initialised, or an older JAX
        pass


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
    """

    loss: np.ndarray
    eval_step: np.ndarray
    val_loss: np.ndarray
    val_accuracy: np.ndarray
    status: tuple[str, ...]
    steps: np.ndarray
    seconds: float
    compile_seconds: float


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
    keys = jnp.asarray(keys) if not isinstance(keys, jax.Array) else keys
    if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        return keys if keys.ndim == 1 else None
    if keys.dtype == jnp.uint32 and keys.ndim == 2 and keys.shape[1] == 2:  # raw legacy keys
        return jax.random.wrap_key_data(keys)
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


def _pad(tree, n: int):
    """Append copies of member 0 so the model axis has length ``n``."""
    return jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[:1], n - a.shape[0], 0)]), tree)


_chunk_vmapped = jax.vmap(
    lambda state, x, y, total, static: train.train_chunk(state, x, y, total, **static),
    in_axes=(0, None, None, None, None),
)
_chunk_vmapped_weighted = jax.vmap(
    lambda state, x, y, w, total, static: train.train_chunk_weighted(
        state, x, y, w, total, **static
    ),
    in_axes=(0, None, None, 0, None, None),
)
_COMPILED: dict = {}


def compile_count() -> int:
    """How many population programs have been compiled in this process."""
    return len(_COMPILED)


def _compiled_chunk(states, data: tuple, total, static: dict):
    """The compiled population chunk for these shapes, and the seconds spent compiling it.

    ``data`` is ``(x, y)``, or ``(x, y, weights)`` with per-member row weights.
    """
    leaves = jax.tree.leaves((states, data))
    signature = (
        tuple(sorted(static.items())),
        jax.tree.structure(states),
        tuple((leaf.shape, leaf.dtype, leaf.sharding) for leaf in leaves),
    )
    if signature in _COMPILED:
        return _COMPILED[signature], 0.0
    start = time.perf_counter()
    if len(data) == 2:
        fn = jax.jit(lambda s, x, y, t: _chunk_vmapped(s, x, y, t, static))
    else:
        fn = jax.jit(lambda s, x, y, w, t: _chunk_vmapped_weighted(s, x, y, w, t, static))
    _COMPILED[signature] = fn.lower(states, *data, total).compile()
    return _COMPILED[signature], time.perf_counter() - start


_evaluate_vmapped = jax.jit(
    jax.vmap(train.evaluate_batch, in_axes=(None, 0, None, None, None)), static_argnums=(0, 4)
)


def evaluate_population(net: MLP, params, x, y, loss: str):
    """``(loss, accuracy)``, each ``(P,)``, of stacked params on a checked batch."""
    return _evaluate_vmapped(net, params, x, y, loss)


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
    start = time.perf_counter()
    keys = _keys_array(keys)
    if keys is None:
        raise TypeError(
            "keys must be a 1-D array of jax.random keys, e.g. jax.random.split(key, P)"
        )
    n = keys.shape[0]
    _validate.loss_for(net, loss)
    # Shapes and dtype for the host-side checks, without running (or compiling) an init.
    probe = jax.eval_shape(lambda k: init(net, k, dtype), jax.random.key(0))
    xb, yb = _validate.batch(net, probe, x, y, loss)
    train.check_fit_args(net, steps, batch_size, grads, eval_every, xb.shape[0])
    lrs = _per_member(learning_rates, n, "learning_rates", None)
    scales = _per_member(init_scales, n, "init_scales", None)
    tx, _ = train.resolve_optimizer(optimizer, lrs, probe, "learning_rates")
    val = None if validation is None else _validate.batch(net, probe, *validation, loss)

    mesh = _mesh(n, devices)
    padded = -(-n // mesh.size) * mesh.size
    states = _initial_states(net, keys, tx, lrs, scales, dtype)
    replicated = NamedSharding(mesh, P())
    if hyperparams:
        states = _with_hyperparams(states, hyperparams, n)
    if weights is not None:
        xb, yb, wb = _member_weights(xb, yb, weights, n, batch_size)
    states = jax.device_put(_pad(states, padded), NamedSharding(mesh, P("models")))
    data = jax.device_put((xb, yb), replicated)
    if weights is not None:
        data += (jax.device_put(_pad(wb, padded), NamedSharding(mesh, P("models"))),)
    if val is not None:
        val = jax.device_put(val, replicated)
    static = dict(net=net, loss=loss, tx=tx, grads=grads, batch_size=batch_size)
    return _population_loop(states, data, val, n, steps, eval_every, static, progress, start)


def _with_hyperparams(states, hyperparams: dict, n: int):
    values = {}
    for name, v in hyperparams.items():
        arr = np.asarray(v, np.float64).reshape(-1)
        if arr.shape != (n,) or not np.all(np.isfinite(arr)):
            raise ValueError(
                f"hyperparams[{name!r}] must hold one finite value per key ({n}); got {v!r}"
            )
        values[name] = jnp.asarray(arr, jnp.float32)
    opt = jax.vmap(train.set_hyperparams)(states.opt_state, values)
    return states._replace(opt_state=opt)


def _member_weights(x, y, weights, n: int, batch_size):
    w = np.asarray(weights)
    if w.ndim != 2 or w.shape[0] != n:
        raise ValueError(
            f"weights must have shape ({n}, {x.shape[0]}): one row weight per member and row; "
            f"got shape {w.shape}"
        )
    rows = np.stack([train.check_weights(row, x.shape[0]) for row in w])
    x, y, _ = train.pad_rows(x, y, rows[0], batch_size)
    rows = np.pad(rows, ((0, 0), (0, x.shape[0] - rows.shape[1])))
    return x, y, _validate.to_device(rows, x.dtype)


@partial(jax.jit, static_argnums=(0, 2, 5))
def _initial_states_compiled(net, keys, tx, lrs, scales, dtype):
    params = init_population(net, keys, scales, dtype)
    batch_keys = jax.vmap(lambda k: member_keys(k)[1])(keys)
    if lrs is None:
        return jax.vmap(lambda p, k: train.init_state(p, tx, k))(params, batch_keys)
    return jax.vmap(lambda p, k, r: train.init_state(p, tx, k, r))(params, batch_keys, lrs)


def _initial_states(net, keys, tx, lrs, scales, dtype):
    """Stacked :class:`jaxnet.train.TrainState` of every member, made by one compiled program."""
    dtype = jnp.dtype(dtype)
    lrs = None if lrs is None else jnp.asarray(lrs, dtype)
    scales = None if scales is None else jnp.asarray(scales, dtype)
    return _initial_states_compiled(net, keys, tx, lrs, scales, dtype)


def _population_loop(states, data, val, n, steps, eval_every, static, progress, start):
    n_chunks, length = train.chunking(steps, eval_every)
    total = jnp.int32(steps)
    static = dict(static, length=length)
    run, compile_seconds = _compiled_chunk(states, data, total, static)
    chunks, evals = [], []
    with train.progress_bar(steps, progress, f"population of {n}") as bar:
        for _ in range(n_chunks):
            states, chunk = run(states, *data, total)
            chunks.append(np.asarray(chunk)[:n])
            bar.update(min(length, steps - bar.n))
            if val is not None:
                vl, va = evaluate_population(static["net"], states.params, *val, static["loss"])
                evals.append(
                    (
                        int(np.max(np.asarray(states.step)[:n])),
                        np.asarray(vl)[:n],
                        np.asarray(va)[:n],
                    )
                )
            if not np.any(np.asarray(states.alive)[:n]):
                break
    params = jax.tree.map(lambda a: a[:n], states.params)
    alive = np.asarray(states.alive)[:n]
    history = PopulationHistory(
        loss=np.concatenate(chunks, axis=1)[:, :steps],
        eval_step=np.array([e[0] for e in evals], np.int64),
        val_loss=np.stack([e[1] for e in evals], axis=1) if evals else np.zeros((n, 0)),
        val_accuracy=np.stack([e[2] for e in evals], axis=1) if evals else np.zeros((n, 0)),
        status=tuple("completed" if a else "diverged" for a in alive),
        steps=np.asarray(states.step)[:n].astype(np.int64),
        seconds=time.perf_counter() - start,
        compile_seconds=compile_seconds,
    )
    return params, history
