"""A population in segments: members' states handed back at one step and taken up again.

:func:`~jaxnet.population.fit_population` trains P members from their first step to their
last in one call. A search (successive halving, population-based training:
:mod:`jaxnet.sweep.search`) stops members at rungs and copies some into others, so it trains
in segments: :func:`start_segment` trains fresh members from step 0 to ``until``;
:func:`resume_segment` takes up the states a segment handed back and trains them on to a
later ``until``. States come back to the host as NumPy (:class:`MemberState`, one per member,
cut to its own net), so a search can store them, ship them to another process, and choose
which ones go on.

Stopping, keeping and copying happen inside one compiled program per shape: the program that
takes states up gathers them over the member axis (``sources``: which state each slot takes,
PBT's exploit) and sets every member's learning rate from data (PBT's explore), so nothing
recompiles because a member stopped or copied another. A member keeps its own minibatch key
(drawn from its own seed) whatever state it takes. Members of a width bucket are padded to
the widest net on the way in and cut back on the way out (padded units are zeros in the
params and in every optimizer state, so both are exact).

Left out: row weights (cross-validation folds), members at different steps in one segment
(every live member starts where the others do), and early stopping.
"""

from __future__ import annotations

import dataclasses
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .. import _validate, chunks, optimizers, train
from ..mlp import MLP, check_net, init
from ..tiers import once_tier
from .buckets import bucket_mask, bucket_net, layer_scales
from .programs import (
    ChunkPrograms,
    compiled,
    evaluate_parts,
    fast_members,
    guarded_members,
    initial_states,
    member_keys,
)
from .states import (
    MemberState,
    check_state,
    member_state,
    optimizer_of,
    padded_state,
    state_template,
)


@dataclasses.dataclass(frozen=True)
class SegmentHistory:
    """What happened to each member in one segment, NumPy with a leading member axis ``P``.

    Attributes:
      start, until: the segment's first and last step (the members' steps when it began,
        and the step it trained them to).
      loss: ``(P, until - start)`` training loss before each step (NaN: not taken).
      eval_step: ``(E,)`` the step at each validation evaluation, ``until`` the last.
      val_loss, val_accuracy: ``(P, E)`` (NaN without validation, accuracy NaN for regression).
      steps: ``(P,)`` each member's steps at the end; alive: ``(P,)`` False once diverged.
      evaluated: ``{name: (loss (P,), accuracy (P,))}`` of the params at ``until`` on the
        ``evaluate`` parts.
      seconds: wall time of the call; compile_seconds: of it, compiling.
    """

    start: int
    until: int
    loss: np.ndarray
    eval_step: np.ndarray
    val_loss: np.ndarray
    val_accuracy: np.ndarray
    steps: np.ndarray
    alive: np.ndarray
    evaluated: dict
    seconds: float
    compile_seconds: float


def segment_chunks(span: int, eval_every: int) -> tuple[int, int]:
    """``(n_chunks, length)`` of a segment of ``span`` steps, evaluated every ``eval_every``.

    Chunks that divide the span exactly (at most twice as many as ``ceil(span /
    eval_every)``) when there are such, so no chunk runs guarded; otherwise even chunks of
    which the last runs past the span as no-ops.
    """
    fewest = math.ceil(span / eval_every)
    for n in range(fewest, 2 * fewest + 1):
        if span % n == 0:
            return n, span // n
    return fewest, math.ceil(span / fewest)


# --- arguments ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Run:
    """A segment's checked arguments: the (padded) net, the data on the devices, the statics."""

    net: MLP
    nets: list
    own: np.ndarray | None
    keys: object
    n: int
    take: np.ndarray
    mesh: Mesh
    data: tuple
    parts: dict
    static: dict
    lrs: np.ndarray
    dtype: object
    eval_every: int


def _nets(nets) -> list:
    if isinstance(nets, MLP):
        raise TypeError("nets must be a list of jaxnet.MLP, one per member; got one MLP")
    if not isinstance(nets, (list, tuple)) or not nets:
        raise TypeError(f"nets must be a non-empty list of jaxnet.MLP; got {nets!r}")
    for net in nets:
        check_net(net)
    return list(nets)


def _keys(keys, n: int):
    if isinstance(keys, jax.Array) and jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        ok = keys.shape == (n,)
    else:
        keys = np.asarray(keys)
        ok = keys.dtype == np.uint32 and keys.shape == (n, 2)
    if not ok:
        raise ValueError(
            f"keys must be {n} jax.random keys (shape ({n},)) or raw key data ({n}, 2) uint32, "
            f"one per member; got {keys.dtype}{list(keys.shape)}"
        )
    return keys


def _positive(values, n: int, argument: str) -> np.ndarray:
    """``(n,)`` positive finite float64 values, one per member, or a one-line refusal."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{argument} must be numbers, one per member; got {values!r}")
    try:
        out = np.asarray(values, np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"{argument} must be numbers, one per member; got {values!r}") from None
    if out.shape != (n,) or not np.all(np.isfinite(out)) or np.any(out <= 0):
        raise ValueError(
            f"{argument} must be {n} positive finite numbers, one per member; got {values!r}"
        )
    return out


def _pair(net, probe, pair, loss: str, argument: str):
    if pair is None:
        return None
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise TypeError(f"{argument} must be a pair (x, y)")
    return _validate.batch(net, probe, *pair, loss)


def _checked(nets, keys, x, y, until, lrs, o: dict) -> _Run:
    """Every argument of a segment, checked on the host before anything is compiled."""
    nets = _nets(nets)
    n = len(nets)
    net = nets[0] if len({m.sizes for m in nets}) == 1 else bucket_net(nets)
    own = None if net is nets[0] else np.array([m.sizes for m in nets], np.int32)
    dtype = jnp.dtype(o["dtype"])
    _validate.loss_for(net, o["loss"])
    probe = jax.eval_shape(lambda k: init(net, k, dtype), jax.random.key(0))
    xb, yb = _validate.batch(net, probe, x, y, o["loss"])
    train.check_fit_args(net, until, o["batch_size"], o["grads"], o["eval_every"], len(xb))
    tx = optimizer_of(o["optimizer"])
    optimizers.check_injected_learning_rate(tx, probe, "learning_rates")
    val = _pair(net, probe, o["validation"], o["loss"], "validation")
    if o["evaluate"] is not None and not isinstance(o["evaluate"], dict):
        raise TypeError(f"evaluate must be a dict of name -> (x, y); got {o['evaluate']!r}")
    parts = {
        k: _pair(net, probe, xy, o["loss"], f"evaluate[{k!r}]")
        for k, xy in (o["evaluate"] or {}).items()
    }
    devices = list(o["devices"] if o["devices"] is not None else jax.local_devices())
    mesh = Mesh(np.array(devices[: max(1, min(len(devices), n))]), ("models",))
    take = np.zeros(-(-n // mesh.size) * mesh.size, np.int32)  # device padding: copies of
    take[:n] = np.arange(n)  # member 0, dropped from the results
    data = jax.device_put((xb, yb, val, parts), NamedSharding(mesh, P()))
    static = dict(net=net, loss=o["loss"], tx=tx, grads=o["grads"], batch_size=o["batch_size"])
    return _Run(
        net, nets, own, _keys(keys, n), n, take, mesh, data[:3], data[3], static,
        _positive(lrs, n, "learning_rates"), dtype, o["eval_every"],
    )  # fmt: skip


def _options(**o) -> dict:
    defaults = dict(
        batch_size=None, grads="auto", validation=None, evaluate=None, eval_every=500,
        dtype=jnp.float32, devices=None,
    )  # fmt: skip
    unknown = set(o) - {"loss", "optimizer", *defaults}
    if unknown:
        raise TypeError(f"unexpected keyword argument {sorted(unknown)[0]!r}")
    return {**defaults, **o}


# --- the two entry points -------------------------------------------------------------------


def start_segment(nets, keys, x, y, *, until: int, learning_rates, init_scales=None, **options):
    """Train fresh members from step 0 to step ``until`` and hand back their states.

    Member ``i`` starts as in :func:`~jaxnet.population.fit_population` (or
    :func:`~jaxnet.population.fit_bucket` when the nets differ in hidden widths): params from
    its key and init scale, its learning rate in its optimizer state.

    Args:
      nets: P MLPs, one per member (equal, or differing only in hidden widths).
      keys: ``(P,)`` jax.random keys or ``(P, 2)`` raw key data, one per member.
      x, y: the training data, shared by all members (as for ``fit_population``).
      until: the step to train to (>= 1).
      learning_rates: ``(P,)``; init_scales: ``(P,)`` multipliers of the initial params.
      **options: ``loss``, ``optimizer`` (a name), and optionally ``batch_size``, ``grads``,
        ``validation``, ``evaluate``, ``eval_every``, ``dtype``, ``devices``, as for
        ``fit_population``.

    Returns:
      ``(states, history)``: a list of P :class:`MemberState` (NumPy, each member's own
      shapes) and a :class:`SegmentHistory`.
    """
    start_time = time.perf_counter()
    run = _checked(nets, keys, x, y, until, learning_rates, _options(**options))
    scales = np.ones(run.n) if init_scales is None else _positive(init_scales, run.n, "init_scales")
    traced = isinstance(run.keys, jax.Array)
    args = (
        run.keys if traced else np.asarray(run.keys)[run.take],
        run.take if traced else np.arange(len(run.take)),
        run.lrs[run.take].astype(run.dtype),
        scales[run.take].astype(run.dtype),
        None if run.own is None else run.own[run.take],
        None if run.own is None else layer_scales(run.nets)[run.take].astype(run.dtype),
    )
    static = dict(net=run.net, tx=run.static["tx"], dtype=run.dtype)
    sharded = NamedSharding(run.mesh, P("models"))
    program, seconds = compiled("init", initial_states, args, static, sharded, once_tier())
    states, masks = program(*args)
    return _finish(run, states, masks, 0, until, start_time, seconds)


def resume_segment(nets, states, keys, x, y, *, until: int, sources, learning_rates, **options):
    """Take up members' states, gather them by ``sources``, and train on to step ``until``.

    Args:
      nets: P MLPs, one per member (equal, or differing only in hidden widths).
      states: P :class:`MemberState` from an earlier segment, each of its member's own shapes.
      keys: the members' keys, as for :func:`start_segment`: member ``i`` keeps its own
        minibatch order whatever state it takes.
      x, y: the training data.
      until: the step to train to, above every live member's step.
      sources: ``(P,)`` ints: slot ``i`` takes ``states[sources[i]]`` (params, optimizer state,
        step, alive): ``range(P)`` to go on as they are, another member to copy it. A source
        must have the same own net as the slot.
      learning_rates: ``(P,)`` each slot's learning rate from here on (set in its optimizer
        state after the gather).
      **options: as for :func:`start_segment`.

    Returns:
      ``(states, history)`` as :func:`start_segment`.
    """
    start_time = time.perf_counter()
    run = _checked(nets, keys, x, y, until, learning_rates, _options(**options))
    src = _sources(sources, run.nets)
    stacked = _stacked(run, states)
    start = int(stacked.step[src].max())
    if not until > start:
        raise ValueError(f"until must be above the members' step ({start}); got {until}")
    args = (
        stacked,
        run.keys if isinstance(run.keys, jax.Array) else np.asarray(run.keys),
        src[run.take].astype(np.int32),
        run.take,
        run.lrs[run.take].astype(run.dtype),
        None if run.own is None else run.own[run.take],
    )
    sharded = NamedSharding(run.mesh, P("models"))
    static = dict(net=run.net, dtype=run.dtype)
    program, seconds = compiled("resume", resumed_states, args, static, sharded, once_tier())
    train_states, masks = program(*args)
    return _finish(run, train_states, masks, start, until, start_time, seconds)


def _sources(sources, nets) -> np.ndarray:
    n = len(nets)
    try:
        src = np.asarray(sources)
    except (TypeError, ValueError):
        src = np.zeros(0)
    if src.shape != (n,) or src.dtype.kind not in "iu" or src.min() < 0 or src.max() >= n:
        raise ValueError(
            f"sources must be {n} ints in [0, {n - 1}], one per member; got {sources!r}"
        )
    for i, j in enumerate(src):
        if nets[j].sizes != nets[i].sizes:
            raise ValueError(
                f"sources[{i}] = {j}: member {j}'s net {nets[j].sizes} is not member {i}'s "
                f"{nets[i].sizes}; only equal nets copy each other"
            )
    return src.astype(np.int64)


def _stacked(run: _Run, states) -> MemberState:
    """The members' own states, checked, padded to the run's net and stacked (NumPy)."""
    if not isinstance(states, (list, tuple)) or len(states) != run.n:
        raise ValueError(f"states must be a list of {run.n} MemberState, one per member")
    tx = run.static["tx"]
    padded = state_template(run.net, tx, run.dtype)
    out = [
        padded_state(check_state(state, state_template(net, tx, run.dtype), f"states[{i}]"), padded)
        for i, (state, net) in enumerate(zip(states, run.nets))
    ]
    return jax.tree.map(lambda *a: np.stack(a), *out)


def resumed_states(states, keys, sources, take, lrs, own, *, net, dtype):
    """The program that takes states up: gather, keys, learning rates, width-bucket masks.

    Args:
      states: stacked :class:`MemberState` ``(P, ...)``; keys: ``(P,)`` typed or ``(P, 2)``
        raw keys; sources: ``(S,)`` which state each slot takes; take: ``(S,)`` which
        member's key each slot uses (device padding repeats member 0); lrs: ``(S,)``;
        own: ``(S, depth + 1)`` own sizes in a width bucket, or None.

    Returns:
      ``(TrainState stacked over S slots, masks or None)``.
    """
    picked = jax.tree.map(lambda a: a[sources], states)  # the exploit: a gather over members
    keys = keys[take]
    if not jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        keys = jax.random.wrap_key_data(keys)
    _, batch_keys = jax.vmap(member_keys)(keys)
    opt_state = jax.vmap(optimizers.set_learning_rate)(picked.opt_state, lrs)
    state = chunks.TrainState(picked.params, opt_state, batch_keys, picked.step, picked.alive)
    masks = None if own is None else jax.vmap(lambda o: bucket_mask(net, o, dtype))(own)
    return state, masks


# --- the loop and what it hands back --------------------------------------------------------


def _finish(run: _Run, states, masks, start: int, until: int, start_time: float, seconds):
    """Train ``states`` from ``start`` to ``until``, evaluate, and hand back own states."""
    states, record, train_seconds = _chunks(run, states, masks, start, until)
    evaluated = {}
    if run.parts:
        static = dict(net=run.net, loss=run.static["loss"])
        args, tier = (states.params, run.parts), once_tier()
        program, eval_seconds = compiled("evaluate", evaluate_parts, args, static, None, tier)
        out = program(*args)
        evaluated = {k: tuple(np.asarray(v, np.float64)[: run.n] for v in out[k]) for k in out}
        seconds += eval_seconds
    host = jax.device_get(MemberState(states.params, states.opt_state, states.step, states.alive))
    host = jax.tree.map(lambda a: np.asarray(a)[: run.n], host)
    tx = run.static["tx"]
    own = [
        member_state(host, i, state_template(net, tx, run.dtype)) for i, net in enumerate(run.nets)
    ]
    losses, evals = record
    history = SegmentHistory(
        start=start,
        until=until,
        loss=np.concatenate(losses, axis=1)[:, : until - start].astype(np.float64),
        eval_step=np.array([e[0] for e in evals], np.int64),
        val_loss=np.stack([e[1] for e in evals], axis=1).astype(np.float64),
        val_accuracy=np.stack([e[2] for e in evals], axis=1).astype(np.float64),
        steps=host.step.astype(np.int64),
        alive=host.alive.astype(bool),
        evaluated=evaluated,
        seconds=time.perf_counter() - start_time,
        compile_seconds=seconds + train_seconds,
    )
    return own, history


def _chunks(run: _Run, states, masks, start: int, until: int):
    """Run the segment's chunks (unguarded while every member lives and the chunk fits);
    ``(states, (losses, evals), compile seconds)``."""
    x, y, val = run.data
    n_chunks, length = segment_chunks(until - start, run.eval_every)
    total = np.int32(until)
    shapes = (states, masks, *run.data)
    programs = ChunkPrograms(
        {"fast": (fast_members, shapes), "guarded": (guarded_members, (*shapes, total))},
        dict(run.static, length=length),
    )
    losses, evals = [], []
    alive = np.asarray(states.alive)[: run.n]
    done, live = start, bool(alive.all())
    for i in range(n_chunks):
        new, left = None, n_chunks - 1 - i
        if live and done + length <= until:
            new = programs["fast"](states, masks, x, y, val, chunks_left=left)
            if not np.all(np.asarray(new[3])):
                new = None  # some member went non-finite: rerun this chunk guarded
        if new is None:
            new = programs["guarded"](states, masks, x, y, val, total, chunks_left=left)
        states, values, (vl, va), _ = new
        losses.append(np.asarray(values)[: run.n])
        alive = np.asarray(states.alive)[: run.n]
        done = int(np.asarray(states.step)[: run.n].max())
        live = bool(alive.all())
        evals.append((done, np.asarray(vl)[: run.n], np.asarray(va)[: run.n]))
        if not alive.any():
            break
    return states, (losses, evals), programs.seconds
