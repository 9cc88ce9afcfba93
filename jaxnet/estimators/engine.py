"""The host side of stochastic training: members grouped into programs, row orders, results.

A :class:`Task` is one ``fit`` or ``partial_fit`` call of one estimator, fully prepared on the
host (:mod:`.tasks` builds it): its rows, its hyperparameters, its state at the start, and the
``RandomState`` its epochs are shuffled with. :func:`train` groups tasks that share a compiled
program (:class:`Spec`), lays every group's rows out in one flat table, and runs
:func:`.epochs.chunk` over them until no member is running. Between chunks the host draws the
next epochs' row orders with each member's ``RandomState`` (scikit-learn's own ``shuffle``,
so the rows come in the order scikit-learn's MLP visits them), and when a member stopped
inside a chunk its generator is put back to where scikit-learn's would be: drawn once per epoch
run. A single fit is a group of one. Members are sharded over the devices, padded to a multiple
of their count with copies of the first.

Left out: L-BFGS (:mod:`.lbfgs`) and the estimators' attributes (:mod:`.base`).
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from sklearn.utils import shuffle as sk_shuffle

from .. import compile_cache
from ..mlp import MLP
from ..population.programs import compiled
from . import epochs
from .optimizer import sklearn_optimizer

ORDER_BYTES = 1 << 26  # host memory for one chunk's row orders (bounds epochs per chunk)
CHUNK_EPOCHS = 64  # epochs a chunk may run: one program for every max_iter


def bucket_rows(n: int) -> int:
    """The padded row count for ``n`` rows: the least ``m * 2**e >= n`` with ``16 <= m < 32``."""
    if n <= 16:
        return 16
    e = max(0, (n - 1).bit_length() - 5)
    return -(-n // 2**e) * 2**e


@dataclasses.dataclass(frozen=True)
class Spec:
    """What a compiled program is made for; tasks with equal specs train as one population."""

    net: MLP
    kind: str  # "softmax", "logistic" or "squared" (see objective.KINDS)
    solver: str  # "adam" or "sgd"
    nesterov: bool
    grads: str
    dtype: str
    batch: int  # rows a step reads
    steps: int  # steps an epoch takes
    early: bool  # early stopping: validation score every epoch
    dropout: bool = False  # some member drops hidden units (rates are data; jaxnet's extension)


def batch_layout(rows: int, batch: int) -> tuple[int, int]:
    """``(batch, steps)`` of an epoch over ``rows`` rows in batches of ``batch`` (already
    clipped to ``rows``): a full batch is padded to :func:`bucket_rows`, so the folds of a
    cross-validation share its program; minibatches keep scikit-learn's last, smaller batch."""
    if batch >= rows:
        return bucket_rows(rows), 1
    return batch, -(-rows // batch)


@dataclasses.dataclass
class Task:
    """One member's fit, prepared on the host.

    Attributes:
      spec: its program; x, y, weight: its training rows ``(n, features)``, ``(n, outputs)``,
      ``(n,)`` in the training dtype; val: ``(x, y, weight)`` validation rows, or None;
      hyper: :class:`epochs.Hyper` as floats; start: :class:`epochs.Member` as NumPy arrays;
      rng: its ``RandomState``; shuffle: whether each epoch is shuffled with it; order: its
      current row order (scikit-learn shuffles the previous epoch's order); data_key: equal
      for tasks on equal rows (they share the table), or None; verbose: print each epoch.
    """

    spec: Spec
    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    val: tuple | None
    hyper: dict
    start: epochs.Member
    rng: object
    shuffle: bool
    order: np.ndarray
    data_key: object = None
    verbose: bool = False


@dataclasses.dataclass
class Outcome:
    """What a task's training left: its member (NumPy), losses, scores and status; its share
    of the group's wall time (``seconds``) and compile time; and the share of the row slots of
    its epochs that held its rows (``fill``; the rest are padding, skipped but computed)."""

    member: epochs.Member
    losses: list
    scores: list
    status: str
    seconds: float
    compile_seconds: float = 0.0
    fill: float = 1.0


def train(tasks: list) -> list:
    """Train every task, each group of one :class:`Spec` as one population; outcomes in order."""
    compile_cache.enable()  # JAX's persistent cache, as for sweeps (JAXNET_CACHE_DIR=off: none)
    outcomes: list = [None] * len(tasks)
    groups: dict = {}
    for i, task in enumerate(tasks):
        groups.setdefault(task.spec, []).append(i)
    for spec, members in groups.items():
        dtype = np.dtype(spec.dtype)
        with jax.enable_x64(dtype == np.float64):
            for i, outcome in zip(members, _train_group(spec, [tasks[i] for i in members])):
                outcomes[i] = outcome
    return outcomes


def table(parts, keys, dtype, least: int = 0):
    """One flat table of ``(x, y, weight)`` parts; parts with equal keys (not None) share rows.

    Returns ``(Data, offsets, pad_row)``: the first row of each part, and a row of weight 0.
    The table's rows are padded to :func:`bucket_rows` of ``least`` (one epoch's row slots) or
    more, so other row counts with the same batches reuse the program."""
    offsets, seen, blocks, at = [], {}, [], 0
    for i, (x, y, w) in enumerate(parts):
        key = keys[i]
        if key is not None and key in seen:
            offsets.append(seen[key])
            continue
        seen[key] = at
        offsets.append(at)
        blocks.append((x, y, w))
        at += len(x)
    rows = bucket_rows(max(at, least) + 1)
    features, outputs = blocks[0][0].shape[1], blocks[0][1].shape[1]
    x = np.zeros((rows, features), dtype)
    y = np.zeros((rows, outputs), dtype)
    w, real = np.zeros(rows, dtype), np.zeros(rows, dtype)
    start = 0
    for bx, by, bw in blocks:
        end = start + len(bx)
        x[start:end], y[start:end], w[start:end], real[start:end] = bx, by, bw, 1
        start = end
    return epochs.Data(x, y, w, real), np.array(offsets), at


def stack(trees):
    """NumPy trees of one structure stacked on a new leading (member) axis."""
    return jax.tree.map(lambda *leaves: np.stack([np.asarray(v) for v in leaves]), *trees)


def member_mesh(n: int):
    """A mesh over as many local devices as there are members (at most all of them)."""
    devices = jax.local_devices()
    return Mesh(np.array(devices[: max(1, min(len(devices), n))]), ("members",))


def _chunk_epochs(spec: Spec, n_members: int, most: int) -> int:
    """Epochs per chunk: 1 for one epoch (``partial_fit``), else :data:`CHUNK_EPOCHS`, or the
    largest power of two below it that the memory for row orders allows."""
    if most <= 1:
        return 1
    per_epoch = 4 * n_members * spec.batch * spec.steps
    cap = 1 << (max(1, ORDER_BYTES // per_epoch).bit_length() - 1)
    return min(CHUNK_EPOCHS, cap)


def _draw(task: Task, epochs_now: int, base: int, pad: int, width: int) -> np.ndarray:
    """``epochs_now`` epochs of the task's row orders (its generator and order move on)."""
    out = np.full((epochs_now, width), pad, np.int32)
    n = len(task.x)
    for e in range(epochs_now):
        if task.shuffle:
            task.order = sk_shuffle(task.order, random_state=task.rng)
        out[e, :n] = base + task.order
    return out


class Orders:
    """The row orders of a group's members, drawn a chunk ahead and put back if unused.

    A member that stops inside a chunk drew orders for epochs it never ran; its generator and
    order are then reset and advanced by the epochs it did run, so they end where scikit-learn's
    would (a generator shared by several members, ``random_state=None``, is left as it is).
    """

    def __init__(self, tasks, offsets, pad: int, width: int, padded: int):
        self.tasks, self.offsets, self.pad, self.width = tasks, offsets, pad, width
        self.padded = padded
        owners = [id(t.rng) for t in tasks]
        self.shared = [owners.count(o) > 1 for o in owners]
        self.saved: list = []

    def draw(self, running, left, epochs_now: int) -> np.ndarray:
        """``(padded members, epochs_now, width)`` orders; members not running get padding."""
        out = np.full((self.padded, epochs_now, self.width), self.pad, np.int32)
        self.saved = [(t.rng.get_state() if t.shuffle else None, t.order) for t in self.tasks]
        for i, t in enumerate(self.tasks):
            if running[i]:
                k = min(epochs_now, left[i])
                out[i, :k] = _draw(t, k, self.offsets[i], self.pad, self.width)
        out[len(self.tasks) :] = out[0]  # device padding: copies of the first member
        return out

    def settle(self, i: int, ran: int, drawn: int) -> None:
        """Member ``i`` ran ``ran`` of the ``drawn`` epochs: undo the draws it did not use."""
        task = self.tasks[i]
        if ran >= drawn or self.shared[i]:
            return
        state, order = self.saved[i]
        if state is not None:
            task.rng.set_state(state)
        task.order = order
        _draw(task, ran, 0, self.pad, self.width)


def _layout(spec: Spec, tasks: list, dtype):
    """The group's tables: ``(data, offsets, pad, val, val_rows)`` (val parts None unless
    early stopping); a member's validation rows are padded to a bucket with a row of weight 0."""
    keys = [t.data_key for t in tasks]
    parts = [(t.x, t.y, t.weight) for t in tasks]
    data, offsets, pad = table(parts, keys, dtype, spec.batch * spec.steps)
    if not spec.early:
        return data, offsets, pad, None, None
    val, voff, vpad = table([t.val for t in tasks], keys, dtype)
    val_rows = np.full((len(tasks), bucket_rows(max(len(t.val[0]) for t in tasks))), vpad)
    for i, t in enumerate(tasks):
        val_rows[i, : len(t.val[0])] = voff[i] + np.arange(len(t.val[0]))
    return data, offsets, pad, val, val_rows.astype(np.int32)


def _static(spec: Spec, mesh) -> dict:
    return dict(
        net=spec.net,
        kind=spec.kind,
        tx=sklearn_optimizer(spec.solver, spec.nesterov),
        grads=spec.grads,
        batch=spec.batch,
        steps=spec.steps,
        early=spec.early,
        stochastic_lr=spec.solver == "sgd",
        dropout=spec.dropout,
        mesh=mesh,
    )


def _train_group(spec: Spec, tasks: list) -> list:
    """Train one group's tasks as one population, chunk after chunk, until none runs."""
    start = time.perf_counter()
    dtype = np.dtype(spec.dtype)
    data, offsets, pad, val, val_rows = _layout(spec, tasks, dtype)
    mesh = member_mesh(len(tasks))
    take = np.zeros(-(-len(tasks) // mesh.size) * mesh.size, np.int32)
    take[: len(tasks)] = np.arange(len(tasks))  # device padding: copies of the first member
    sharded = NamedSharding(mesh, P("members"))
    members = jax.device_put(stack([tasks[i].start for i in take]), sharded)
    hyper = jax.device_put(stack([_hyper(tasks[i].hyper, dtype) for i in take]), sharded)
    shared = jax.device_put((data, val), NamedSharding(mesh, P()))
    rows_v = None if val_rows is None else jax.device_put(val_rows[take], sharded)
    left = [int(t.start.progress.epochs_left) for t in tasks]
    k = _chunk_epochs(spec, len(take), max(left))
    orders = Orders(tasks, offsets, pad, spec.batch * spec.steps, len(take))
    losses, scores = [[] for _ in tasks], [[] for _ in tasks]
    running = np.ones(len(tasks), bool)
    program, compile_seconds = None, 0.0
    while running.any():
        args = (members, hyper, jax.device_put(orders.draw(running, left, k), sharded), rows_v)
        if program is None:  # compiled for the first chunk's arguments, kept for the others
            program, compile_seconds = compiled(
                "sklearn-epochs", epochs.chunk, (*args, *shared), _static(spec, mesh),
                (sharded,) * 3,
            )  # fmt: skip
        members, chunk_losses, chunk_scores = program(*args, *shared)
        ran_so_far, status = jax.device_get((members.progress.ran, members.progress.status))
        chunk_losses, chunk_scores = np.asarray(chunk_losses), np.asarray(chunk_scores)
        for i in np.flatnonzero(running):
            ran = int(ran_so_far[i]) - len(losses[i])
            orders.settle(i, ran, min(k, left[i]))
            losses[i] += chunk_losses[i, :ran].tolist()
            scores[i] += chunk_scores[i, :ran].tolist()
            left[i] -= ran
            running[i] = status[i] == epochs.RUNNING
            if tasks[i].verbose:
                _report(losses[i][-ran:], scores[i][-ran:], len(losses[i]) - ran, spec.early)
    final = jax.device_get(members)
    seconds = (time.perf_counter() - start) / len(tasks)
    slots = spec.batch * spec.steps * len(take) / len(tasks)  # device padding counts too
    return [
        Outcome(
            jax.tree.map(lambda a, i=i: a[i], final),
            losses[i],
            scores[i],
            epochs.STATUS[int(final.progress.status[i])],
            seconds,
            compile_seconds / len(tasks),
            len(tasks[i].x) / slots,
        )
        for i in range(len(tasks))
    ]


def _hyper(values: dict, dtype) -> epochs.Hyper:
    return epochs.Hyper(
        **{
            k: np.asarray(values[k], np.int32 if k == "schedule" else dtype)
            for k in epochs.Hyper._fields
        }
    )


def _report(losses, scores, before: int, early: bool) -> None:
    """scikit-learn's ``verbose`` lines, one per epoch run."""
    for j, (loss, score) in enumerate(zip(losses, scores)):
        print(f"Iteration {before + j + 1}, loss = {loss:.8f}")
        if early:
            print(f"Validation score: {score:f}")


def fresh_opt_state(solver: str, nesterov: bool, params, values: dict, dtype):
    """A new optimizer state for ``params`` (NumPy), its hyperparameters set to ``values``."""
    tx = sklearn_optimizer(solver, nesterov)
    with jax.enable_x64(np.dtype(dtype) == np.float64):
        shapes = jax.eval_shape(tx.init, params)
    state = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)
    hp = {k: np.asarray(values.get(k, v), v.dtype) for k, v in state.hyperparams.items()}
    return state._replace(hyperparams=hp)
