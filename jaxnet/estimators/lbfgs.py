"""``solver="lbfgs"``: scikit-learn's full-batch objective minimised by ``optax.lbfgs``.

The objective is scikit-learn's: the weighted mean loss over every row plus
``alpha * ||W||^2 / (2 * the rows' total weight)``, from weights drawn as for the stochastic
solvers. ``optax.lbfgs`` (ten past gradients, a zoom line search) minimises it in one
``lax.while_loop``, which stops as scikit-learn's call of SciPy's L-BFGS-B stops: the largest
gradient entry at most ``tol``, the relative decrease of the objective at most SciPy's
``ftol`` (``2.22e-9``), ``max_iter`` iterations, or ``max_fun`` evaluations of the objective
(the line search's included). The iterations are optax's, not SciPy's, so the path differs from
scikit-learn's while the minimum sought is the same. Written for one member and mapped with
``vmap``: a search's lbfgs candidates and folds minimise as one program.

scikit-learn's lbfgs estimators have no ``loss_curve_`` (and ``t_`` stays 0); neither do ours.
Left out: ``partial_fit`` (scikit-learn has none for lbfgs either).
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from sklearn.utils import check_random_state

from .. import compile_cache
from .._validate import host_cast
from ..mlp import MLP
from ..population.programs import compiled
from . import objective
from .checks import dtype_of
from .engine import bucket_rows, member_mesh, stack, table
from .epochs import Data, map_members
from .tasks import draw_params, net_of

FTOL = 2.220446049250313e-09  # SciPy's L-BFGS-B default: factr 1e7 times float64's epsilon
CONVERGED, MAX_ITER, MAX_FUN, DIVERGED = 0, 1, 2, 3
STATUS = {CONVERGED: "converged", MAX_ITER: "max_iter", MAX_FUN: "max_iter", DIVERGED: "diverged"}
REASONS = {
    MAX_ITER: "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT",
    MAX_FUN: "STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT",
}


@dataclasses.dataclass(frozen=True)
class LbfgsSpec:
    """What an L-BFGS program is made for; tasks with equal specs minimise together."""

    net: MLP
    kind: str
    grads: str
    dtype: str
    rows: int  # rows a member's objective reads (its own, padded with rows of weight 0)
    solver: str = "lbfgs"
    early: bool = False


@dataclasses.dataclass
class LbfgsTask:
    """One lbfgs fit: rows, starting params (NumPy), ``alpha``, ``tol``, ``max_iter``,
    ``max_fun``; ``first``: fresh weights; ``data_key`` as :class:`.engine.Task`'s."""

    spec: LbfgsSpec
    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    params: list
    hyper: dict
    first: bool
    data_key: object = None


@dataclasses.dataclass
class LbfgsOutcome:
    """The minimum found: params, loss, iterations, status and scikit-learn's warning text;
    timing and row slots as :class:`.engine.Outcome`'s."""

    params: list
    loss: float
    n_iter: int
    status: str
    message: str
    seconds: float
    compile_seconds: float = 0.0
    fill: float = 1.0


def lbfgs_task(est, X, Y, weight, *, first: bool) -> LbfgsTask:
    """The :class:`LbfgsTask` of one ``fit``; a first pass draws the weights as scikit-learn."""
    dtype = dtype_of(est, X)
    net = net_of(est, X.shape[1], Y.shape[1])
    if any(net.dropout_rates):
        raise ValueError(
            "dropout needs solver='adam' or 'sgd' (L-BFGS minimises one fixed objective); "
            f"got solver='lbfgs' with dropout={est.dropout!r}"
        )
    if first:
        params = draw_params(check_random_state(est.random_state), net.sizes, est.activation, dtype)
    else:
        params = [
            {"w": np.asarray(w, dtype), "b": np.asarray(b, dtype)}
            for w, b in zip(est.coefs_, est.intercepts_)
        ]
    spec = LbfgsSpec(net, est._loss_kind(Y.shape[1]), est.grads, dtype.name, bucket_rows(len(X)))
    hyper = dict(
        alpha=float(est.alpha),
        tol=float(est.tol),
        max_iter=min(int(est.max_iter), np.iinfo(np.int32).max),
        max_fun=min(int(est.max_fun), np.iinfo(np.int32).max),
    )
    x, y = host_cast(X, "X", dtype), host_cast(Y, "y", dtype)  # past float32: named, not inf
    return LbfgsTask(spec, x, y, np.asarray(weight, dtype),
                     params, hyper, first)  # fmt: skip


def _max_abs(tree):
    return jnp.max(jnp.stack([jnp.max(jnp.abs(leaf)) for leaf in jax.tree.leaves(tree)]))


def minimize(params, rows, hyper, data: Data, *, net, kind, grads):
    """L-BFGS on one member's objective (its ``rows`` of ``data``) until a stopping rule.

    Returns ``(params, loss, iterations, status)``.
    """
    x, y, w = data.x[rows], data.y[rows], data.weight[rows]
    alpha, tol = hyper["alpha"], hyper["tol"]

    def value_fn(p):
        return objective.loss(net, p, x, y, w, alpha, kind=kind)

    def value_and_grads(p):
        return objective.loss_and_grads(net, p, x, y, w, alpha, kind=kind, grads=grads)

    opt = optax.lbfgs()
    f, g = value_and_grads(params)
    status = jnp.where(_max_abs(g) <= tol, CONVERGED, -1)
    status = jnp.where(jnp.isfinite(f), status, DIVERGED)
    carry = (params, opt.init(params), f, g, jnp.int32(0), jnp.int32(1), status)

    def cond(c):
        return c[-1] < 0

    def body(c):
        params, state, f, g, it, nfev, _ = c
        updates, state = opt.update(g, state, params, value=f, grad=g, value_fn=value_fn)
        new = optax.apply_updates(params, updates)
        f_new, g_new = value_and_grads(new)
        steps = optax.tree.get(state, "num_linesearch_steps")
        it, nfev = it + 1, nfev + 1 + steps.astype(jnp.int32)
        decrease = (f - f_new) / jnp.maximum(jnp.maximum(jnp.abs(f), jnp.abs(f_new)), 1.0)
        done = (_max_abs(g_new) <= tol) | (decrease <= FTOL)
        status = jnp.where(done, CONVERGED, -1)
        status = jnp.where((status < 0) & (it >= hyper["max_iter"]), MAX_ITER, status)
        status = jnp.where((status < 0) & (nfev >= hyper["max_fun"]), MAX_FUN, status)
        finite = jnp.isfinite(f_new) & jnp.all(
            jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(new)])
        )
        status = jnp.where(finite, status, DIVERGED)
        return new, state, f_new, g_new, it, nfev, status

    params, _, f, _, it, _, status = jax.lax.while_loop(cond, body, carry)
    return params, f, it, status


def _minimize_all(params, rows, hyper, data, *, mesh, **static):
    def one(p, r, h, data):
        return minimize(p, r, h, data, **static)

    return map_members(one, mesh, (params, rows, hyper), (data,))


def train(tasks: list) -> list:
    """Minimise every task, each group of one :class:`LbfgsSpec` as one program."""
    compile_cache.enable()  # JAX's persistent cache, as for sweeps (JAXNET_CACHE_DIR=off: none)
    outcomes: list = [None] * len(tasks)
    groups: dict = {}
    for i, task in enumerate(tasks):
        groups.setdefault(task.spec, []).append(i)
    for spec, members in groups.items():
        with jax.enable_x64(np.dtype(spec.dtype) == np.float64):
            done = _train_group(spec, [tasks[i] for i in members])
        for i, outcome in zip(members, done):
            outcomes[i] = outcome
    return outcomes


def _train_group(spec: LbfgsSpec, tasks: list) -> list:
    start = time.perf_counter()
    dtype = np.dtype(spec.dtype)
    data, offsets, pad = table([(t.x, t.y, t.weight) for t in tasks], [t.data_key for t in tasks],
                               dtype)  # fmt: skip
    mesh = member_mesh(len(tasks))
    take = np.zeros(-(-len(tasks) // mesh.size) * mesh.size, np.int32)
    take[: len(tasks)] = np.arange(len(tasks))
    rows = np.full((len(take), spec.rows), pad, np.int32)
    for j, i in enumerate(take):
        rows[j, : len(tasks[i].x)] = offsets[i] + np.arange(len(tasks[i].x))
    hyper = {
        "alpha": np.array([tasks[i].hyper["alpha"] for i in take], dtype),
        "tol": np.array([tasks[i].hyper["tol"] for i in take], dtype),
        "max_iter": np.array([tasks[i].hyper["max_iter"] for i in take], np.int32),
        "max_fun": np.array([tasks[i].hyper["max_fun"] for i in take], np.int32),
    }
    sharded = NamedSharding(mesh, P("members"))
    args = (
        jax.device_put(stack([tasks[i].params for i in take]), sharded),
        jax.device_put(rows, sharded),
        jax.device_put(hyper, sharded),
        jax.device_put(data, NamedSharding(mesh, P())),
    )
    static = dict(net=spec.net, kind=spec.kind, grads=spec.grads, mesh=mesh)
    program, compile_seconds = compiled("sklearn-lbfgs", _minimize_all, args, static)
    params, loss, it, status = jax.device_get(program(*args))
    seconds = (time.perf_counter() - start) / len(tasks)
    out = []
    for i in range(len(tasks)):
        code = int(status[i])
        message = ""
        if code in REASONS:
            message = (
                f"lbfgs failed to converge after {int(it[i])} iteration(s) (status=1): "
                f"{REASONS[code]}. Increase the number of iterations (max_iter) or scale the data"
            )
        member = jax.tree.map(lambda a, i=i: np.asarray(a[i]), params)
        fill = len(tasks[i].x) / (spec.rows * len(take) / len(tasks))
        out.append(
            LbfgsOutcome(
                member,
                float(loss[i]),
                int(it[i]),
                STATUS[code],
                message,
                seconds,
                compile_seconds / len(tasks),
                fill,
            )  # fmt: skip
        )
    return out


def install(est, task: LbfgsTask, outcome: LbfgsOutcome) -> None:
    """scikit-learn's attributes of an lbfgs fit: weights, ``loss_``, ``n_iter_``, ``t_``."""
    net = task.spec.net
    est.coefs_ = [np.array(layer["w"]) for layer in outcome.params]
    est.intercepts_ = [np.array(layer["b"]) for layer in outcome.params]
    est._net = net
    est.n_layers_ = net.depth + 1
    est.n_outputs_ = net.sizes[-1]
    est.n_iter_ = outcome.n_iter
    est.t_ = 0 if task.first else getattr(est, "t_", 0)
    est.loss_ = outcome.loss
    est.fit_seconds_ = outcome.seconds
    est._fitted_state = None
