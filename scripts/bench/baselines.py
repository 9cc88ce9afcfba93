"""The hand-written training loops jaxnet is measured against: NumPy, bare JAX and PyTorch.

Each does the job ``fit`` does (same init, same rows in the same order where it can) with none
of fit's machinery. Also the thread limits the baselines are timed under. Which baseline runs
in which case is each benchmark's business.
"""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import optax


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


def softmax_cross_entropy(logits, onehot):
    """Mean softmax cross-entropy of ``logits`` (batch, classes) against one-hot labels."""
    return -jnp.sum(onehot * jax.nn.log_softmax(logits, axis=-1)) / logits.shape[0]


def mean_squared_error(y_hat, y):
    """Mean of the squared errors over every element."""
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
