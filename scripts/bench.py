"""Benchmarks of jaxnet's training loop against hand-written baselines (issue 3, part 5).

Every number comes from this one process. Within a case the variants are interleaved (one
timed call of each in turn, the order rotated every round), each figure is the median of the
repeats, and the first call of every variant -- compile included -- is reported apart from
the steady state. Ratios are ``time of the other / time of fit``: above 1 means fit is faster.

Benchmarks (``--only NAME``; several by commas or by repeating the flag):

* ``tutorial``: the article's 2-3-1 sigmoid net, full batch, 1000 SGD steps: fit vs the
  article's NumPy loop.
* ``digits``: a 64-128-128-10 ReLU MLP on the digits data, batch 128, 1000 SGD and Adam steps:
  fit vs a bare ``jax.jit`` + ``lax.scan`` loop, vs NumPy with hand-written backprop, and vs
  PyTorch (CPU) when it is installed.
* ``grads``: fit(grads="manual") vs fit(grads="auto") on the tutorial and the digits nets.
* ``wide``: a 1024-4096-4096-1024 MLP, batch 1024: achieved FLOP/s of fit's training step
  against the matmul peak measured in the same run.

Nothing beyond jax, optax and numpy is needed: scikit-learn (the digits data; random data
of the same shape without it), threadpoolctl (BLAS report) and torch are used when present.
Nothing here is CPU-specific; timings block on their results (``block_until_ready``).

Usage::

    python scripts/bench.py                         # everything: minutes on an idle 2-core CPU
    python scripts/bench.py --quick                 # smoke run, smaller sizes (about a minute)

On a CPU shared with other processes the baselines' spinning thread pools (OpenBLAS, OpenMP)
slow down many times over, and so does the run; each benchmark reports the load average.
    python scripts/bench.py --only digits --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jaxnet as jn  # noqa: E402
from jaxnet import train  # noqa: E402

# --- configuration -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes and repeat counts; ``--quick`` swaps in :data:`QUICK`."""

    tutorial_steps: int = 1000
    tutorial_repeats: int = 21
    digits_sizes: tuple[int, ...] = (64, 128, 128, 10)
    digits_batch: int = 128
    digits_steps: int = 1000
    digits_repeats: int = 5
    grads_repeats: int = 5
    wide_sizes: tuple[int, ...] = (1024, 4096, 4096, 1024)
    wide_batch: int = 1024
    wide_seconds: float = 3.0  # aim of one timed wide call; its step count follows from the peak
    wide_repeats: int = 3
    matmul_n: int = 4096
    torch: bool = True
    population_sizes: tuple[int, ...] = (1, 16, 64, 256, 1024)
    population_net: tuple[int, ...] = (64, 128, 10)
    population_steps: int = 200
    population_repeats: int = 3
    population_sequential: int = 4  # models timed one after another with fit (and PyTorch)
    sklearn_seeds: int = 5  # issue 12: jaxnet.estimators vs scikit-learn's MLPClassifier
    sklearn_big_rows: int = 20_000
    sklearn_big_epochs: int = 100
    sklearn_search_folds: int = 5
    sklearn_search_epochs: int = 100
    sweep_file: str = "experiments/sweeps/demo.toml"
    sweep_old: str | None = None  # an older checkout to time the same sweep with (--old-checkout)


FULL = Config()
QUICK = Config(
    tutorial_steps=1000,
    tutorial_repeats=5,
    digits_steps=100,
    digits_repeats=2,
    grads_repeats=2,
    wide_sizes=(256, 1024, 1024, 256),
    wide_batch=256,
    wide_seconds=0.3,
    wide_repeats=3,
    matmul_n=1024,
    population_sizes=(1, 16, 64),
    population_steps=50,
    population_repeats=2,
    population_sequential=2,
    sklearn_seeds=2,
    sklearn_big_rows=2000,
    sklearn_big_epochs=10,
    sklearn_search_folds=2,
    sklearn_search_epochs=10,
)
# For a GPU machine: nothing to install beyond jax and optax; no CPU baselines.
GPU = Config(
    torch=False,
    population_sizes=(1, 16, 256, 1024, 4096, 16384),
    population_repeats=3,
)

# --- timing --------------------------------------------------------------------------------


def interleaved(variants: dict[str, Callable[[], object]], repeats: int) -> dict[str, dict]:
    """Time each variant: one first call, then ``repeats`` rounds of one call each, interleaved.

    Each callable must do one complete unit of work and return only when it is finished
    (JAX results blocked on). The order is rotated every round so no variant always runs
    right after the same neighbour.
    """
    first = {}
    for name, fn in variants.items():
        first[name] = _timed(fn)
    times = {name: [] for name in variants}
    names = list(variants)
    for r in range(repeats):
        gc.collect()
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(_timed(variants[name]))
    out = {}
    for name in names:
        med = statistics.median(times[name])
        out[name] = {
            "first_s": first[name],
            "compile_s": max(first[name] - med, 0.0),  # first call minus one steady call
            "median_s": med,
            "min_s": min(times[name]),
            "times_s": times[name],
        }
    return out


def _timed(fn) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def ratio(timings: dict, slower: str, faster: str = "fit") -> float:
    """How many times faster ``faster`` is than ``slower`` (ratio of median times)."""
    return timings[slower]["median_s"] / timings[faster]["median_s"]


def target(what: str, value: float, bound: float, op: str = ">=") -> dict:
    met = value >= bound if op == ">=" else value <= bound
    return {"what": what, "value": value, "target": f"{op} {bound:g}", "met": bool(met)}


def case(description: str, steps: int, timings: dict, ratios: dict, targets: list, **info):
    """One benchmark case as plain data (what goes into the JSON)."""
    for t in timings.values():
        t["per_step_us"] = 1e6 * t["median_s"] / steps
    return {
        "description": description,
        "steps": steps,
        "variants": timings,
        "ratios": ratios,
        "targets": targets,
        **info,
    }


# --- the tutorial net ----------------------------------------------------------------------

TUTORIAL_X = np.array([[2.0, 9.0], [1.0, 5.0], [3.0, 6.0]])  # hours studied, hours slept
TUTORIAL_Y = np.array([[92.0], [86.0], [89.0]])  # test score out of 100


def tutorial_numpy(x, y, w1, w2, steps: int):
    """The article's training loop, less its print: forward, loss, backward, in-place update."""
    w1, w2 = w1.copy(), w2.copy()
    losses = np.empty(steps)

    def sigmoid(s):
        return 1 / (1 + np.exp(-s))

    def sigmoid_prime(s):
        return s * (1 - s)

    for i in range(steps):
        z2 = sigmoid(np.dot(x, w1))
        o = sigmoid(np.dot(z2, w2))
        losses[i] = np.mean(np.square(y - o))
        o_delta = (y - o) * sigmoid_prime(o)
        z2_delta = o_delta.dot(w2.T) * sigmoid_prime(z2)
        w1 += x.T.dot(z2_delta)
        w2 += z2.T.dot(o_delta)
    return w1, w2, losses


def tutorial_setup():
    net = jn.MLP(
        (2, 3, 1), activation="sigmoid", output_activation="sigmoid", bias=False, init="normal"
    )
    params = jn.init(net, jax.random.key(0))
    x = TUTORIAL_X / TUTORIAL_X.max(axis=0)
    y = TUTORIAL_Y / 100.0
    return net, params, x, y


def fit_call(net, params, x, y, steps, **kwargs):
    """A ``fit`` of ``steps`` steps as one compiled chunk; returns the params (to block on)."""
    kwargs.setdefault("progress", False)
    return jn.fit(net, params, x, y, steps=steps, eval_every=steps, **kwargs)[0]


def fit_variant(*args, **kwargs):
    """A callable doing ``fit_call(*args, **kwargs)``."""
    return lambda: fit_call(*args, **kwargs)


def chunk_call(net, params, x, y, steps, *, loss, optimizer, grads="auto", batch_size=None):
    """fit's compiled program alone (``train.run_chunk``), without fit's per-call host work."""
    state = train.init_state(params, optimizer, jax.random.key(0))
    total = jnp.int32(steps)

    def run():
        return train.run_chunk(
            state,
            x,
            y,
            total,
            net=net,
            loss=loss,
            tx=optimizer,
            grads=grads,
            batch_size=batch_size,
            length=steps,
        )

    return run


def bench_tutorial(cfg: Config) -> dict:
    net, params, x, y = tutorial_setup()
    steps = cfg.tutorial_steps
    tx = optax.sgd(1.0)  # SGD with rate 1 on "sse" is exactly the article's update
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    w1, w2 = (np.asarray(p["w"], np.float64) for p in params)
    variants = {
        "fit": lambda: fit_call(
            net, params, xj, yj, steps, loss="sse", optimizer=tx, grads="manual"
        ),
        "fit compiled chunk only": chunk_call(
            net, params, xj, yj, steps, loss="sse", optimizer=tx, grads="manual"
        ),
        "numpy (article loop)": lambda: tutorial_numpy(x, y, w1, w2, steps),
    }
    timings = interleaved(variants, cfg.tutorial_repeats)
    r = ratio(timings, "numpy (article loop)")
    return {
        "cases": {
            "tutorial": case(
                "2-3-1 sigmoid, no bias, sse, SGD lr 1, full batch of 3; fit(grads='manual')",
                steps,
                timings,
                {
                    "numpy/fit": r,
                    "numpy/chunk": ratio(
                        timings, "numpy (article loop)", "fit compiled chunk only"
                    ),
                },
                [target("fit steady state vs the article's NumPy loop (x faster)", r, 20)],
            )
        }
    }


# --- the digits MLP ------------------------------------------------------------------------


def digits_data(n_features: int, n_classes: int):
    """``(x, labels)``: the digits data standard-scaled, or random data of that shape."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        rng = np.random.default_rng(0)
        return (
            rng.standard_normal((1797, n_features)).astype(np.float32),
            rng.integers(0, n_classes, 1797),
            "random (scikit-learn missing)",
        )
    from jaxnet.data import Scaler

    data = load_digits()
    x = Scaler.fit(data.data, kind="standard").transform(data.data)
    return x.astype(np.float32), data.target, "sklearn load_digits, standard-scaled"


def softmax_cross_entropy(logits, onehot):
    return -jnp.sum(onehot * jax.nn.log_softmax(logits, axis=-1)) / logits.shape[0]


def mean_squared_error(y_hat, y):
    return jnp.mean((y_hat - y) ** 2)


BARE_LOSSES = {"cross_entropy": softmax_cross_entropy, "mse": mean_squared_error}


def bare_forward(params, x):
    """ReLU hidden layers, identity output: ``a = relu(a @ w + b)``."""
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def bare_loop(tx, loss: str, batch_size: int, steps: int):
    """A hand-written jitted ``lax.scan`` training loop: the job fit does, minus its machinery.

    Rows as fit draws them: epoch ``e``'s order is ``permutation(fold_in(key, e), n)``, the
    orders of all the epochs the run spans drawn once up front (fit draws them once per chunk;
    with one chunk that is the same), and step ``s`` takes the ``s % per_epoch``-th slice of
    ``batch_size`` rows of its epoch's order. Per step: ``jax.value_and_grad`` of the loss,
    ``tx.update`` and ``optax.apply_updates``; the loss of each step is returned. No finiteness
    check, no masked update, no step counter or liveness flag in the carry.
    """
    loss_fn = BARE_LOSSES[loss]

    def objective(params, xb, yb):
        return loss_fn(bare_forward(params, xb), yb)

    @jax.jit
    def run(params, opt_state, key, x, y):
        n = x.shape[0]
        per_epoch = n // batch_size
        epochs = jnp.arange(-(-steps // per_epoch))
        orders = jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(key, e), n))(epochs)

        def body(carry, step):
            params, opt_state = carry
            order = orders[step // per_epoch]
            rows = jax.lax.dynamic_slice(order, ((step % per_epoch) * batch_size,), (batch_size,))
            value, grads = jax.value_and_grad(objective)(params, x[rows], y[rows])
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), value

        return jax.lax.scan(body, (params, opt_state), jnp.arange(steps))

    return run


def numpy_train(
    params, x, onehot, steps: int, batch_size: int, optimizer: str, lr: float, seed: int = 0
):
    """NumPy training of a ReLU MLP with softmax cross-entropy, backprop and optimizer by hand.

    Same minibatch scheme as fit: a fresh permutation at the start of every epoch, then
    consecutive slices of ``batch_size`` rows. float32 throughout; updates in place.
    """
    ws = [np.array(p["w"], np.float32) for p in params]
    bs = [np.array(p["b"], np.float32) for p in params]
    leaves = ws + bs
    adam = optimizer == "adam"
    m = [np.zeros_like(p) for p in leaves] if adam else None
    v = [np.zeros_like(p) for p in leaves] if adam else None
    rng = np.random.default_rng(seed)
    n, per_epoch = x.shape[0], x.shape[0] // batch_size
    losses = np.empty(steps, np.float32)
    for step in range(steps):
        within = step % per_epoch
        if within == 0:
            order = rng.permutation(n)
        rows = order[within * batch_size : (within + 1) * batch_size]
        xb, yb = x[rows], onehot[rows]
        zs, acts = [], [xb]
        for w, b in zip(ws, bs, strict=True):
            zs.append(acts[-1] @ w + b)
            acts.append(np.maximum(zs[-1], 0))
        logits = zs[-1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        losses[step] = -(yb * log_p).sum() / batch_size
        delta = (np.exp(log_p) - yb) / batch_size
        gw, gb = [None] * len(ws), [None] * len(ws)
        for i in reversed(range(len(ws))):
            gw[i], gb[i] = acts[i].T @ delta, delta.sum(axis=0)
            if i > 0:
                delta = (delta @ ws[i].T) * (zs[i - 1] > 0)
        grads = gw + gb
        if adam:
            _numpy_adam(leaves, grads, m, v, step + 1, lr)
        else:
            for p, g in zip(leaves, grads, strict=True):
                p -= lr * g
    return leaves, losses


def _numpy_adam(params, grads, m, v, t, lr, b1=0.9, b2=0.999, eps=1e-8):
    """optax.adam's update, in place."""
    c1, c2 = 1 - b1**t, 1 - b2**t
    for p, g, mi, vi in zip(params, grads, m, v, strict=True):
        mi *= b1
        mi += (1 - b1) * g
        vi *= b2
        vi += (1 - b2) * g * g
        p -= (lr / c1) * mi / (np.sqrt(vi / c2) + eps)


def torch_setup(params, x, labels, batch_size: int, optimizer: str, lr: float):
    """A PyTorch CPU loop with the same init and minibatch scheme, or None without torch."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    layers = []
    for i, p in enumerate(params):
        lin = torch.nn.Linear(*p["w"].shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.array(p["w"], np.float32).T))
            lin.bias.copy_(torch.from_numpy(np.array(p["b"], np.float32)))
        layers += [lin] + ([torch.nn.ReLU()] if i < len(params) - 1 else [])
    model = torch.nn.Sequential(*layers)
    xt = torch.from_numpy(np.asarray(x, np.float32))
    yt = torch.from_numpy(np.asarray(labels, np.int64))
    make = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[optimizer]
    opt = make(model.parameters(), lr=lr)
    criterion = torch.nn.CrossEntropyLoss()
    n, per_epoch = xt.shape[0], xt.shape[0] // batch_size
    gen = torch.Generator().manual_seed(0)

    def run(steps: int):
        losses = torch.empty(steps)
        for step in range(steps):
            within = step % per_epoch
            if within == 0:
                order = torch.randperm(n, generator=gen)
            rows = order[within * batch_size : (within + 1) * batch_size]
            opt.zero_grad()
            loss = criterion(model(xt[rows]), yt[rows])
            loss.backward()
            opt.step()
            losses[step] = loss.detach()
        return losses

    return run


def torch_info() -> dict | None:
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return {
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
    }


def torch_version() -> str | None:
    """PyTorch's version without importing it (the import alone takes seconds)."""
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


DIGITS_LR = {"sgd": 0.1, "adam": 1e-3}


def digits_setup(cfg: Config):
    net = jn.MLP(cfg.digits_sizes, activation="relu", output_activation="identity")
    x, labels, source = digits_data(net.sizes[0], net.sizes[-1])
    onehot = np.eye(net.sizes[-1], dtype=np.float32)[labels]
    params = jn.init(net, jax.random.key(0))
    return net, params, x, labels, onehot, source


def with_threads(run, threads: int):
    """``run`` with PyTorch's intra-op threads set to ``threads`` for the call."""

    def limited(*args):
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return run(*args)
        finally:
            torch.set_num_threads(before)

    return limited


def with_blas_threads(run, threads: int):
    """``run`` with NumPy's BLAS limited to ``threads`` (needs threadpoolctl), or None."""
    if importlib.util.find_spec("threadpoolctl") is None:
        return None
    from threadpoolctl import threadpool_limits

    def limited(*args):
        with threadpool_limits(threads, user_api="blas"):
            return run(*args)

    return limited


def baseline_targets(timings: dict, label: str, names: tuple, bound: float) -> list:
    """The target against the baseline as configured by default, and at its faster setting.

    A thread pool that spins (OpenBLAS, OpenMP) slows down badly when other processes share
    the cores, so the default-threads ratio alone can flatter fit on a busy machine.
    """
    out = [target(f"fit vs {label}, default threads (x faster)", ratio(timings, names[0]), bound)]
    present = [n for n in names if n in timings]
    best = min(present, key=lambda n: timings[n]["median_s"])
    if len(present) > 1:
        out.append(
            target(
                f"fit vs {label} at its faster setting, {best!r} (x faster)",
                ratio(timings, best),
                bound,
            )
        )
    return out


def digits_case(cfg: Config, name: str, setup) -> dict:
    net, params, x, labels, onehot, source = setup
    steps, batch, lr = cfg.digits_steps, cfg.digits_batch, DIGITS_LR[name]
    tx = {"sgd": optax.sgd, "adam": optax.adam}[name](lr)
    xj, yj = jnp.asarray(x), jnp.asarray(onehot)
    bare = bare_loop(tx, "cross_entropy", batch, steps)
    key = jax.random.key(0)
    opt_state = tx.init(params)
    common = dict(loss="cross_entropy", optimizer=tx, batch_size=batch)
    np_args = (params, x, onehot, steps, batch, name, lr)
    variants = {
        "fit": lambda: fit_call(net, params, xj, yj, steps, **common),
        "bare jit+scan": lambda: bare(params, opt_state, key, xj, yj),
        "numpy (hand backprop)": lambda: numpy_train(*np_args),
    }
    np1 = with_blas_threads(numpy_train, 1)
    if np1 is not None:
        variants["numpy, 1 BLAS thread"] = lambda: np1(*np_args)
    torch_run = torch_setup(params, x, labels, batch, name, lr) if cfg.torch else None
    if torch_run is not None:
        torch1 = with_threads(torch_run, 1)
        variants["torch (CPU)"] = lambda: torch_run(steps)
        variants["torch (CPU), 1 thread"] = lambda: torch1(steps)
    timings = interleaved(variants, cfg.digits_repeats)
    ratios = {f"{v}/fit": ratio(timings, v) for v in variants if v != "fit"}
    targets = [target("fit vs bare jit+scan (x as fast)", ratios["bare jit+scan/fit"], 0.95)]
    targets += baseline_targets(
        timings, "NumPy", ("numpy (hand backprop)", "numpy, 1 BLAS thread"), 1.3
    )
    if torch_run is not None:
        targets += baseline_targets(
            timings, "PyTorch CPU", ("torch (CPU)", "torch (CPU), 1 thread"), 2.5
        )
    desc = (
        f"{'-'.join(map(str, net.sizes))} ReLU, softmax cross-entropy, {name} lr {lr:g}, "
        f"batch {batch} of {x.shape[0]} rows ({source})"
    )
    fit_losses = jn.fit(
        net, params, xj, yj, steps=steps, eval_every=steps, progress=False, **common
    )[1].loss
    bare_losses = np.asarray(bare(params, opt_state, key, xj, yj)[1])
    same_job = float(np.max(np.abs(fit_losses - bare_losses)))  # 0: same rows, same updates
    return case(
        desc,
        steps,
        timings,
        ratios,
        targets,
        torch=torch_info(),
        bare_vs_fit_max_loss_difference=same_job,
    )


def bench_digits(cfg: Config) -> dict:
    setup = digits_setup(cfg)
    return {"cases": {name: digits_case(cfg, name, setup) for name in ("sgd", "adam")}}


# --- manual vs autodiff --------------------------------------------------------------------


def bench_grads(cfg: Config) -> dict:
    """Manual vs autodiff gradients in fit; on the tutorial net also their compiled chunks.

    fit of the tutorial net is bound by its per-call host work (milliseconds against a compiled
    chunk of a fraction of one), so its manual/auto ratio mostly compares noise; the chunks
    compare the two compiled programs.
    """
    cases = {}
    net, params, x, y = tutorial_setup()
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    kw = dict(loss="sse", optimizer=optax.sgd(1.0))
    setups = {"tutorial": (net, params, xj, yj, cfg.tutorial_steps, kw, cfg.tutorial_repeats)}
    dnet, dparams, dx, _, donehot, _ = digits_setup(cfg)
    for name in ("sgd", "adam"):
        dtx = {"sgd": optax.sgd, "adam": optax.adam}[name](DIGITS_LR[name])
        kw = dict(loss="cross_entropy", optimizer=dtx, batch_size=cfg.digits_batch)
        setups[f"digits {name}"] = (
            dnet,
            dparams,
            jnp.asarray(dx),
            jnp.asarray(donehot),
            cfg.digits_steps,
            kw,
            cfg.grads_repeats,
        )
    for label, (net, params, x, y, steps, kw, repeats) in setups.items():
        variants = {
            g: fit_variant(net, params, x, y, steps, grads=g, **kw) for g in ("manual", "auto")
        }
        if label == "tutorial":
            for g in ("manual", "auto"):
                variants[f"{g}, compiled chunk only"] = chunk_call(
                    net, params, x, y, steps, grads=g, **kw
                )
        timings = interleaved(variants, repeats)
        ratios = {"manual/auto": ratio(timings, "manual", "auto")}
        targets = [
            target(
                f"{label}: fit, slower/faster of manual and auto",
                spread(ratios["manual/auto"]),
                1.10,
                "<=",
            )
        ]
        if label == "tutorial":
            r = ratio(timings, "manual, compiled chunk only", "auto, compiled chunk only")
            ratios["manual/auto, compiled chunks"] = r
            targets.append(
                target(
                    f"{label}: compiled chunks, slower/faster of manual and auto",
                    spread(r),
                    1.10,
                    "<=",
                )
            )
        cases[label] = case(
            f"fit(grads='manual') vs fit(grads='auto'), {label} net",
            steps,
            timings,
            ratios,
            targets,
        )
    return {"cases": cases}


def spread(r: float) -> float:
    """The slower of two over the faster, from their ratio."""
    return max(r, 1 / r)


# --- the wide MLP --------------------------------------------------------------------------


def train_flops(sizes, batch: int) -> float:
    """FLOPs of one training step: 2 per multiply-add forward, 4 backward, weights only."""
    return 6.0 * batch * sum(i * o for i, o in zip(sizes[:-1], sizes[1:], strict=True))


def matmul_unit(n: int, seconds: float):
    """A timed unit of back-to-back jitted ``n x n`` float32 matmuls lasting about ``seconds``."""
    a = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(2), (n, n), jnp.float32)
    mm = jax.jit(jnp.matmul)
    jax.block_until_ready(mm(a, b))  # compile
    one = min(_timed(lambda: mm(a, b)) for _ in range(3))
    reps = max(1, round(seconds / one))

    def run():
        out = None
        for _ in range(reps):
            out = mm(a, b)
        return out

    return run, reps, 2.0 * n**3 * reps, one


def bench_wide(cfg: Config) -> dict:
    sizes, batch = cfg.wide_sizes, cfg.wide_batch
    net = jn.MLP(sizes, activation="relu", output_activation="identity")
    params = jn.init(net, jax.random.key(0))
    kx, ky = jax.random.split(jax.random.key(3))
    x = jax.random.normal(kx, (batch, sizes[0]), jnp.float32)
    y = jax.random.normal(ky, (batch, sizes[-1]), jnp.float32)
    flops = train_flops(sizes, batch)
    mm_run, reps, mm_flops, mm_one = matmul_unit(cfg.matmul_n, cfg.wide_seconds / 3)
    est_step = flops / (2.0 * cfg.matmul_n**3 / mm_one)
    steps = int(min(1000, max(2, round(cfg.wide_seconds / est_step))))
    tx = optax.sgd(1e-3)
    kw = dict(loss="mse", optimizer=tx, batch_size=batch)
    bare = bare_loop(tx, "mse", batch, steps)
    opt_state = tx.init(params)
    key = jax.random.key(0)
    variants = {
        "matmul peak": mm_run,
        "fit": lambda: fit_call(net, params, x, y, steps, **kw),
        "bare jit+scan": lambda: bare(params, opt_state, key, x, y),
    }
    timings = interleaved(variants, cfg.wide_repeats)
    peak = mm_flops / timings["matmul peak"]["median_s"]
    achieved = flops * steps / timings["fit"]["median_s"]
    bare_achieved = flops * steps / timings["bare jit+scan"]["median_s"]
    result = case(
        f"{'-'.join(map(str, sizes))} ReLU, mse, SGD, batch {batch} (minibatch of all rows); "
        f"{flops / 1e9:.1f} GFLOP per step; peak from {reps} x {cfg.matmul_n}^2 matmul per call "
        "(its per-step column is one matmul)",
        steps,
        timings,
        {
            "fit/peak": achieved / peak,
            "bare/peak": bare_achieved / peak,
            "bare jit+scan/fit": ratio(timings, "bare jit+scan"),
        },
        [target("fit training step FLOP/s / measured matmul peak", achieved / peak, 0.70)],
        peak_gflops=peak / 1e9,
        fit_gflops=achieved / 1e9,
        bare_gflops=bare_achieved / 1e9,
        flops_per_step=flops,
        matmul_n=cfg.matmul_n,
        matmuls_per_call=reps,
    )
    per_matmul = timings["matmul peak"]["median_s"] / reps
    result["variants"]["matmul peak"]["per_step_us"] = 1e6 * per_matmul  # one matmul
    return {"cases": {"wide": result}}


# --- populations (issue 5) ------------------------------------------------------------------


def _split(keys_lrs, x, y):
    """``(keys, x, y, lrs)`` in :func:`population_call`'s argument order."""
    keys, lrs = keys_lrs
    return keys, x, y, lrs


def population_call(net, keys, x, y, lrs, steps: int, batch: int):
    """One ``fit_population`` of ``len(keys)`` members, blocked on; returns the params."""
    params, _ = jn.fit_population(
        net,
        keys,
        x,
        y,
        loss="cross_entropy",
        optimizer="sgd",
        learning_rates=lrs,
        steps=steps,
        batch_size=batch,
        eval_every=steps,
    )
    return jax.block_until_ready(params)


def sequential_fit_call(net, keys, x, y, lrs, steps: int, batch: int):
    """The same models trained one after another with ``fit`` (one compiled program)."""
    out = None
    for key, lr in zip(keys, lrs, strict=True):
        init_key, batch_key = jn.population.member_keys(key)
        out, _ = jn.fit(
            net,
            jn.init(net, init_key),
            x,
            y,
            loss="cross_entropy",
            optimizer="sgd",
            learning_rate=float(lr),
            steps=steps,
            batch_size=batch,
            key=batch_key,
            eval_every=steps,
        )
    return jax.block_until_ready(out)


def bench_population(cfg: Config) -> dict:
    """Model-steps/s of populations of digits-size MLPs against ``fit`` and PyTorch in a loop."""
    net = jn.MLP(cfg.population_net, activation="relu", output_activation="identity")
    x, labels, source = digits_data(net.sizes[0], net.sizes[-1])
    steps, batch = cfg.population_steps, cfg.digits_batch
    flops = train_flops(net.sizes, batch)
    mm_run, _, mm_flops, _ = matmul_unit(cfg.matmul_n, 0.5)
    peak = mm_flops / interleaved({"peak": mm_run}, 3)["peak"]["median_s"]

    def members(p):
        return jax.random.split(jax.random.key(p), p), np.full(p, 0.1)

    k = cfg.population_sequential
    seq_keys, seq_lrs = members(k)
    big = max(cfg.population_sizes)
    variants = {
        f"population P={p}": (
            lambda p=p: population_call(net, *_split(members(p), x, labels), steps, batch)
        )
        for p in cfg.population_sizes
    }
    variants[f"fit, {k} models in turn"] = lambda: sequential_fit_call(
        net, seq_keys, x, labels, seq_lrs, steps, batch
    )
    run_torch = None
    if cfg.torch:
        one = jn.init(net, jax.random.key(0))
        torch_run = torch_setup(one, x, labels, batch, "sgd", 0.1)
        if torch_run is not None:
            run_torch = with_threads(torch_run, 1)
            variants[f"torch (CPU, 1 thread), {k} models in turn"] = lambda: [
                run_torch(steps) for _ in range(k)
            ]
    timings = interleaved(variants, cfg.population_repeats)
    rates = {}
    for name, t in timings.items():
        models = int(name.split("P=")[1]) if "P=" in name else k
        rates[name] = models * steps / t["median_s"]
        t["model_steps_per_s"] = rates[name]
        t["fraction_of_peak"] = rates[name] * flops / peak
    pop_name = f"population P={256 if 256 in cfg.population_sizes else big}"
    seq = rates[f"fit, {k} models in turn"]
    ratios = {f"{pop_name} / fit in turn": rates[pop_name] / seq}
    targets = [
        target(
            f"{pop_name} vs fit one after another (model-steps/s)",
            ratios[f"{pop_name} / fit in turn"],
            1.8,
        )
    ]
    torch_name = f"torch (CPU, 1 thread), {k} models in turn"
    if torch_name in rates:
        ratios[f"{pop_name} / torch"] = rates[pop_name] / rates[torch_name]
        targets.append(
            target(
                f"{pop_name} vs PyTorch in a loop (model-steps/s)",
                ratios[f"{pop_name} / torch"],
                5.0,
            )
        )
    result = case(
        f"{'-'.join(map(str, net.sizes))} ReLU, softmax cross-entropy, SGD lr 0.1, batch {batch} "
        f"({source}); one timed call trains every member {steps} steps; "
        f"{flops / 1e6:.1f} MFLOP per model-step; matmul peak {peak / 1e9:.0f} GFLOP/s",
        steps,
        timings,
        ratios,
        targets,
        model_steps_per_s=rates,
        peak_gflops=peak / 1e9,
        devices=f"{len(jax.devices())} x {jax.devices()[0].device_kind}",
    )
    return {"cases": {"population": result}}


# --- sweep engines: the demo sweep in-process vs on Ray ----------------------------------------


def _sweep_spec(cfg: Config):
    """The demo sweep (``--quick``: a 2-group cut of it with 100 steps)."""
    from jaxnet import sweep

    spec = sweep.load(Path(__file__).resolve().parents[1] / "experiments/sweeps/demo.toml")
    if cfg is QUICK:
        text = spec.source.split("[grid]")[0] + (
            "[grid]\ndepth = [1]\nwidth = [16, 32]\nlearning_rate = [1e-3]\nseed = [0, 1]\n"
            "steps = [100]\nbatch_size = [64]\n"
        )
        spec = sweep.parse(text, "demo (quick)")
    return spec


def _sweep_timing(summary, wall: float, startup: float = 0.0) -> dict:
    """One sweep as a variant row: wall time less start-up, compile time summed over groups."""
    seconds = wall - startup
    return {
        "first_s": wall,
        "compile_s": summary.compile_seconds,
        "median_s": seconds,
        "min_s": seconds,
        "times_s": [seconds],
        "startup_s": startup,
        "group_s": summary.group_seconds,
        "groups": summary.groups,
    }


def bench_sweep_engines(cfg: Config) -> dict:
    """The demo sweep trained in this process, then on a one-node local Ray cluster.

    Each run starts from an empty store; the in-process run goes first, so neither finds its
    programs compiled. Ray's start-up (``ray.init``) is reported apart and left out of the
    ratio; the per-group overhead is what Ray adds to each group beyond training it (task
    dispatch, a worker's first JAX import, returning rows).
    """
    import tempfile

    from jaxnet import sweep

    if importlib.util.find_spec("ray") is None:
        return {"cases": {}, "skipped": "ray is not installed (pip install -e '.[ray]')"}
    spec = _sweep_spec(cfg)
    timings, quiet = {}, {"log": lambda line: None, "progress": False}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        here = sweep.run(spec, Path(tmp) / "here.sqlite", **quiet)
        timings["in-process"] = _sweep_timing(here, time.perf_counter() - start)
        start = time.perf_counter()
        ray = sweep.run(spec, Path(tmp) / "ray.sqlite", engine="ray", **quiet)
        timings["ray, 1 local node"] = _sweep_timing(
            ray, time.perf_counter() - start, ray.startup_seconds
        )
    r = timings["ray, 1 local node"]
    overhead = (r["median_s"] - r["group_s"]) / max(ray.groups, 1)
    slower = r["median_s"] / timings["in-process"]["median_s"]
    result = case(
        f"sweep {spec.name}: {here.configs} configs in {here.groups} groups; in-process vs "
        f"one local Ray node (one group at a time, a whole node each); 'steps' are configs, "
        f"Ray start-up {r['startup_s']:.1f} s left out",
        here.configs,
        timings,
        {"ray_over_in_process": slower},
        [],
        ray_over_in_process=slower,
        ray_startup_s=r["startup_s"],
        ray_overhead_per_group_s=overhead,
    )
    return {"cases": {"sweep_engines": result}}


# --- scikit-learn side by side (issue 12) --------------------------------------------------


def sklearn_datasets(cfg: Config) -> dict:
    """``{name: (x_train, x_test, y_train, y_test)}``, standardised on the training rows."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    sets = {
        "digits": datasets.load_digits(return_X_y=True),
        "wine": datasets.load_wine(return_X_y=True),
        "breast cancer": datasets.load_breast_cancer(return_X_y=True),
        f"make_classification {cfg.sklearn_big_rows}": datasets.make_classification(
            cfg.sklearn_big_rows, 20, n_informative=10, random_state=0
        ),
    }
    out = {}
    for name, (x, y) in sets.items():
        xa, xb, ya, yb = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
        scaler = StandardScaler().fit(xa)
        out[name] = (scaler.transform(xa), scaler.transform(xb), ya, yb)
    return out


def sklearn_pair(hidden, epochs: int, seed: int, **extra):
    """``(scikit-learn's MLPClassifier, jaxnet's)``: same net, Adam, epochs (no early stop)."""
    from sklearn.neural_network import MLPClassifier as SkMLP

    from jaxnet.estimators import MLPClassifier

    # n_iter_no_change = epochs: scikit-learn runs every epoch, as jaxnet does
    common = dict(hidden_layer_sizes=hidden, max_iter=epochs, random_state=seed, **extra)
    return SkMLP(n_iter_no_change=epochs, **common), MLPClassifier(**common)


def _fit_seconds(est, x, y) -> float:
    start = time.perf_counter()
    est.fit(x, y)
    return time.perf_counter() - start


def _one_blas_thread(fn):
    """``fn()`` with NumPy's BLAS on one thread: scikit-learn's MLP, like one jaxnet model on
    one CPU device, then uses one core, and a loaded machine does not stall its thread pool."""
    limited = with_blas_threads(fn, 1)
    return fn() if limited is None else limited()


def bench_sklearn(cfg: Config) -> dict:
    """Accuracy, fit time and a 5-fold search: jaxnet.estimators vs scikit-learn's MLP."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from jaxnet.estimators import PopulationSearchCV

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    rows, accuracy, times = [], {}, {}
    big = f"make_classification {cfg.sklearn_big_rows}"
    for name, (xa, xb, ya, yb) in sklearn_datasets(cfg).items():
        hidden, epochs = ((100, 100), cfg.sklearn_big_epochs) if name == big else ((100,), 200)
        acc = {"scikit-learn": [], "jaxnet": []}
        secs = {"scikit-learn": [], "jaxnet": []}
        for seed in range(cfg.sklearn_seeds):
            for label, est in zip(("scikit-learn", "jaxnet"), sklearn_pair(hidden, epochs, seed)):
                secs[label].append(
                    _one_blas_thread(lambda e=est, a=xa, b=ya: _fit_seconds(e, a, b))
                )
                acc[label].append(est.score(xb, yb))
        accuracy[name], times[name] = acc, secs
        sk, jx = np.array(acc["scikit-learn"]), np.array(acc["jaxnet"])
        tolerance = max(2 * sk.std(), 1.0 / len(yb))
        rows.append(
            {
                "data": name,
                "rows": len(ya) + len(yb),
                "hidden": hidden,
                "epochs": epochs,
                "sklearn_accuracy": (float(sk.mean()), float(sk.std())),
                "jaxnet_accuracy": (float(jx.mean()), float(jx.std())),
                "sklearn_fit_median_s": statistics.median(secs["scikit-learn"]),
                "jaxnet_first_fit_s": secs["jaxnet"][0],  # compile included
                "jaxnet_fit_median_s": statistics.median(secs["jaxnet"][1:] or secs["jaxnet"]),
                "accuracy_within_spread": bool(abs(jx.mean() - sk.mean()) <= tolerance),
                "load": load_average(),
            }
        )
        print(rows[-1], flush=True)
    by = {r["data"]: r for r in rows}
    targets = [
        target(
            f"{r['data']}: |jaxnet - sklearn| mean accuracy within spread",
            float(r["accuracy_within_spread"]),
            1.0,
        )
        for r in rows
    ]
    targets.append(
        target(
            f"{big}: sklearn fit / jaxnet first fit (compile included)",
            by[big]["sklearn_fit_median_s"] / by[big]["jaxnet_first_fit_s"],
            3.0,
        )
    )
    targets.append(
        target(
            "digits: sklearn fit / jaxnet fit, warm compile cache",
            by["digits"]["sklearn_fit_median_s"] / by["digits"]["jaxnet_fit_median_s"],
            1.0,
        )
    )
    xa, _, ya, _ = sklearn_datasets(cfg)[big]
    grid = {"learning_rate_init": [1e-4, 3e-4, 1e-3, 3e-3], "alpha": [1e-4, 1e-3, 1e-2]}
    cv = StratifiedKFold(cfg.sklearn_search_folds, shuffle=True, random_state=0)
    sk_est, jx_est = sklearn_pair((100, 100), cfg.sklearn_search_epochs, 0)
    search = {}
    for label, make in (
        ("PopulationSearchCV(jaxnet)", lambda: PopulationSearchCV(jx_est, grid, cv=cv)),
        ("GridSearchCV(sklearn)", lambda: GridSearchCV(sk_est, grid, cv=cv)),
    ):
        load = load_average()
        start = time.perf_counter()
        s = _one_blas_thread(lambda make=make: make().fit(xa, ya))
        search[label] = {
            "seconds": time.perf_counter() - start,
            "best_score": s.best_score_,
            "best_params": s.best_params_,
            "load_before": load,
            "load_after": load_average(),
        }
        print(label, search[label], flush=True)
    pop, grid_cv = search["PopulationSearchCV(jaxnet)"], search["GridSearchCV(sklearn)"]
    targets.append(
        target(
            "search: GridSearchCV / PopulationSearchCV time",
            grid_cv["seconds"] / pop["seconds"],
            10.0,
        )
    )
    targets.append(
        target(
            "search: |best mean score difference| (points)",
            100 * abs(grid_cv["best_score"] - pop["best_score"]),
            0.5,
            "<=",
        )
    )
    timings = {
        f"{label} {r['data']}": {
            "first_s": r["jaxnet_first_fit_s"] if label == "jaxnet" else times[r["data"]][label][0],
            "compile_s": 0.0,
            "median_s": r["jaxnet_fit_median_s"]
            if label == "jaxnet"
            else r["sklearn_fit_median_s"],
            "min_s": min(times[r["data"]][label]),
            "times_s": times[r["data"]][label],
        }
        for r in rows
        for label in ("scikit-learn", "jaxnet")
    }
    result = case(
        f"jaxnet.estimators.MLPClassifier vs sklearn MLPClassifier, Adam, {cfg.sklearn_seeds} "
        f"seeds; 80/20 stratified split, standardised; {cfg.sklearn_search_folds}-fold search over "
        f"12 candidates, {cfg.sklearn_search_epochs} epochs",
        1,
        timings,
        {},
        targets,
        accuracy=rows,
        search=search,
    )
    return {"cases": {"sklearn": result}}


# --- sweeps: compile time (issue 11) ----------------------------------------------------------

_SWEEP_CODE = """
import dataclasses, json, sys, time
start = time.perf_counter()
from jaxnet import sweep
s = sweep.run(sweep.load(sys.argv[1]), sys.argv[2], progress=False, log=lambda _: None)
print(json.dumps({**dataclasses.asdict(s), "process_s": time.perf_counter() - start,
                  "train_fraction": s.train_fraction}))
"""


def sweep_process(root: Path, toml: Path, store_path: Path, cache: Path) -> dict:
    """One sweep in a fresh process of the checkout ``root``; its summary and wall time."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(root), "JAXNET_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _SWEEP_CODE, str(toml), str(store_path)],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    wall = time.perf_counter() - start
    result.update(wall_s=wall, load_after=load_average())
    print(json.dumps({"sweep": str(toml), "root": str(root), **result}), flush=True)  # kept
    return {
        **result,
        "first_s": wall,
        "compile_s": result["compile_seconds"],
        "median_s": wall,
        "min_s": wall,
    }


def bench_sweep(cfg: Config) -> dict:
    """The demo sweep (make run) in fresh processes: this checkout with a cold and a warm compile
    cache, and ``--old-checkout`` (an earlier jaxnet) when given, one after another."""
    import tempfile

    root = Path(__file__).resolve().parents[1]
    demo = root / cfg.sweep_file
    with tempfile.TemporaryDirectory(prefix="jaxnet-bench-sweep-") as tmp:
        tmp = Path(tmp)
        rerun = tmp / "rerun.toml"  # the same shapes under a new name: all configs train again
        rerun.write_text(demo.read_text().replace('name = "', 'name = "rerun_', 1))
        variants = {}
        if cfg.sweep_old:
            variants["old checkout, no cache"] = sweep_process(
                Path(cfg.sweep_old), demo, tmp / "old.sqlite", tmp / "old-cache"
            )
        variants["new, cold cache"] = sweep_process(root, demo, tmp / "a.sqlite", tmp / "cache")
        variants["new, warm cache"] = sweep_process(root, rerun, tmp / "b.sqlite", tmp / "cache")
    cold, warm = variants["new, cold cache"], variants["new, warm cache"]
    targets = [
        target("cold: share of wall time in compiled training", cold["train_fraction"], 0.5),
        target(
            "warm: compile share of wall time",
            warm["compile_seconds"] / warm["seconds"],
            0.10,
            "<=",
        ),
    ]
    ratios = {}
    if cfg.sweep_old:
        old = variants["old checkout, no cache"]
        ratios["old/new cold wall"] = old["wall_s"] / cold["wall_s"]
        targets.insert(
            0, target("old wall / new cold wall (x less)", ratios["old/new cold wall"], 3.0)
        )
    for t in variants.values():
        t["per_step_us"] = 0.0
    summary = {
        k: {
            f: t.get(f)
            for f in (
                "groups",
                "compiles",
                "programs",
                "cache_hits",
                "padding",
                "seconds",
                "compile_seconds",
                "train_fraction",
                "load_after",
            )
        }
        for k, t in variants.items()
    }
    result = case(
        f"{cfg.sweep_file} in fresh processes: wall (s) as first call and median, "
        "compile = the sweep's own compile seconds",
        1,
        variants,
        ratios,
        targets,
        sweeps=summary,
    )
    return {"cases": {"demo sweep": result}}


# --- environment and report ----------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info() -> list | None:
    if importlib.util.find_spec("threadpoolctl") is None:
        return None
    from threadpoolctl import threadpool_info

    keep = ("internal_api", "version", "num_threads", "architecture", "threading_layer")
    return [{k: lib.get(k) for k in keep} for lib in threadpool_info() if lib["user_api"] == "blas"]


def load_average() -> float | None:
    """The 1-minute load average (other processes on the cores distort every timing)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def environment() -> dict:
    dev = jax.devices()[0]
    env_vars = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "XLA_FLAGS", "OMP_NUM_THREADS")
    return {
        "date": datetime.date.today().isoformat(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "device": f"{len(jax.devices())} x {dev.device_kind}",
        "numpy": np.__version__,
        "optax": optax.__version__,
        "numpy_blas": blas_info(),
        "torch": torch_version(),
        "env": {k: os.environ.get(k) for k in env_vars},
    }


BENCHMARKS: dict[str, Callable[[Config], dict]] = {
    "tutorial": bench_tutorial,
    "digits": bench_digits,
    "grads": bench_grads,
    "wide": bench_wide,
    "population": bench_population,
    "sweep_engines": bench_sweep_engines,
    "sklearn": bench_sklearn,
    "sweep": bench_sweep,
}
OPT_IN = ("sweep_engines", "sweep")  # minutes long: run with --only NAME


def markdown(name: str, result: dict) -> str:
    """The benchmark's tables, as in BENCHMARKS.md."""
    lines = []
    for label, c in result["cases"].items():
        lines += [
            f"#### {name}: {label}",
            "",
            c["description"] + f"; {c['steps']} steps.",
            "",
            "| variant | first call (s) | compile ~ (s) | steady median (ms) "
            "| min (ms) | per step (us) | x fit |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        fit_med = c["variants"].get("fit", {}).get("median_s")
        for v, t in c["variants"].items():
            rel = f"{t['median_s'] / fit_med:.2f}" if fit_med else ""
            lines.append(
                f"| {v} | {t['first_s']:.3f} | {t['compile_s']:.3f} "
                f"| {1e3 * t['median_s']:.2f} | {1e3 * t['min_s']:.2f} "
                f"| {t['per_step_us']:.2f} | {rel} |"
            )
        lines.append("")
        for v, t in c["variants"].items():
            if "model_steps_per_s" in t:
                lines.append(
                    f"- {v}: {t['model_steps_per_s']:,.0f} model-steps/s, "
                    f"{100 * t['fraction_of_peak']:.1f}% of the matmul peak"
                )
        for label, t in c.get("sweeps", {}).items():
            lines.append(
                f"- {label}: " + ", ".join(f"{k} {v:.3g}" for k, v in t.items() if v is not None)
            )
        for k in (
            "peak_gflops",
            "fit_gflops",
            "bare_gflops",
            "bare_vs_fit_max_loss_difference",
            "ray_over_in_process",
            "ray_startup_s",
            "ray_overhead_per_group_s",
        ):
            if k in c:
                lines.append(f"- {k}: {c[k]:.4g}")
        for t in c["targets"]:
            verdict = "MET" if t["met"] else "MISSED"
            lines.append(f"- **{verdict}**: {t['what']}: {t['value']:.3g} (target {t['target']})")
        lines.append("")
    return "\n".join(lines)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only these benchmarks ({', '.join(BENCHMARKS)}); comma-separated or repeated",
    )
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    p.add_argument("--json", metavar="FILE", help="write all results as JSON")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    p.add_argument(
        "--old-checkout",
        metavar="DIR",
        help="sweep: also time the demo sweep with the jaxnet in DIR (e.g. a git worktree of main)",
    )
    p.add_argument(
        "--gpu",
        action="store_true",
        help="the GPU run: populations of 1..16384 and the wide MLP, no CPU baselines",
    )
    args = p.parse_args(argv)
    default = "population,wide" if args.gpu else ",".join(b for b in BENCHMARKS if b not in OPT_IN)
    names = [n for group in (args.only or [default]) for n in group.split(",") if n]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        p.error(
            f"--only: unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        )
    args.names = names
    return args


def main(argv=None) -> dict:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = GPU if args.gpu else QUICK if args.quick else FULL
    if args.no_torch:
        cfg = dataclasses.replace(cfg, torch=False)
    if args.old_checkout:
        cfg = dataclasses.replace(cfg, sweep_old=args.old_checkout)
    command = "python scripts/bench.py " + " ".join(sys.argv[1:] if argv is None else argv)
    report = {
        "command": command.strip(),
        "environment": environment(),
        "config": dataclasses.asdict(cfg),
        "benchmarks": {},
    }
    print(json.dumps(report["environment"], indent=1))
    for name in args.names:
        start, load = time.perf_counter(), load_average()
        result = BENCHMARKS[name](cfg)
        result.update(
            seconds=time.perf_counter() - start, load_before=load, load_after=load_average()
        )
        report["benchmarks"][name] = result
        print(markdown(name, result), flush=True)
        print(
            f"({name}: {result['seconds']:.0f} s; 1-minute load average {load} before, "
            f"{result['load_after']} after, on {os.cpu_count()} cores)\n",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
