import jax
import jax.numpy as jnp
import numpy as np
import optax
from conftest import tree_allclose
from helpers import blobs

import jaxnet as jn
from jaxnet import train

NET = jn.MLP((4, 16, 3), activation="tanh")


def test_loss_falls_full_batch_and_minibatch():
    x, y = blobs(n=120, spread=4.0)
    params = jn.init(NET, jax.random.key(0))
    for batch_size in (None, 16):
        _, h = jn.fit(
            NET,
            params,
            x,
            y,
            loss="cross_entropy",
            optimizer="adam",
            learning_rate=1e-2,
            steps=300,
            batch_size=batch_size,
        )
        assert h.status == "completed" and h.loss.shape == (300,)
        assert h.loss[-20:].mean() < 0.5 * h.loss[:5].mean()


def test_manual_and_auto_training_agree(x64):
    x, y = blobs(n=120, spread=4.0)
    params = jn.init(NET, jax.random.key(0), jnp.float64)
    runs = [
        jn.fit(
            NET,
            params,
            x,
            y,
            loss="cross_entropy",
            optimizer=optax.adam(1e-2),
            steps=200,
            batch_size=32,
            grads=g,
        )[0]
        for g in ("manual", "auto")
    ]
    assert tree_allclose(runs[0], runs[1], rtol=1e-9)


def test_minibatches_are_shuffled_epochs_without_replacement():
    x = jnp.arange(12.0)[:, None]
    key = jax.random.key(3)
    batcher = train.epoch_orders(key, jnp.int32(0), 12, 4, length=6)
    seen = [np.asarray(train.minibatch(x, x, batcher, jnp.int32(s), 4)[0])[:, 0] for s in range(6)]
    first, second = np.concatenate(seen[:3]), np.concatenate(seen[3:])
    assert sorted(first) == list(range(12)) and sorted(second) == list(range(12))
    assert not np.array_equal(first, second)
    # A chunk that starts mid-run draws the same batches: chunking does not change training.
    later = train.epoch_orders(key, jnp.int32(4), 12, 4, length=2)
    again = [np.asarray(train.minibatch(x, x, later, jnp.int32(s), 4)[0])[:, 0] for s in (4, 5)]
    assert np.array_equal(np.concatenate(again), np.concatenate(seen[4:]))


def test_chunk_length_does_not_change_the_result():
    x, y = blobs(n=120, spread=4.0)
    params = jn.init(NET, jax.random.key(0))
    kw = dict(loss="cross_entropy", optimizer="adam", learning_rate=1e-2, steps=90, batch_size=16)
    a, _ = jn.fit(NET, params, x, y, eval_every=90, **kw)
    b, _ = jn.fit(NET, params, x, y, eval_every=7, **kw)
    assert tree_allclose(a, b, rtol=1e-5)


def test_no_recompile_across_seeds_learning_rates_and_data():
    x, y = blobs(n=120, spread=4.0)
    kw = dict(loss="cross_entropy", optimizer="sgd", steps=50, batch_size=20, eval_every=50)
    jn.fit(
        NET, jn.init(NET, jax.random.key(0)), x, y, learning_rate=0.1, key=jax.random.key(0), **kw
    )
    before = train.run_chunk._cache_size()
    x2, y2 = blobs(n=120, seed=1, spread=4.0)
    for seed, lr in [(1, 0.05), (2, 0.3)]:
        jn.fit(
            NET,
            jn.init(NET, jax.random.key(seed)),
            x2,
            y2,
            learning_rate=lr,
            key=jax.random.key(seed),
            **kw,
        )
    assert train.run_chunk._cache_size() == before


def test_learning_rate_is_really_used():
    x, y = blobs(n=120, spread=4.0)
    params = jn.init(NET, jax.random.key(0))
    kw = dict(loss="cross_entropy", optimizer="sgd", steps=20)
    a, _ = jn.fit(NET, params, x, y, learning_rate=0.01, **kw)
    b, _ = jn.fit(NET, params, x, y, learning_rate=0.5, **kw)
    assert not np.allclose(a[0]["w"], b[0]["w"])


def test_divergence_stops_and_returns_last_finite_params():
    x, _ = blobs(n=120, spread=4.0)
    net = jn.MLP((4, 16, 3), activation="relu")
    params = jn.init(net, jax.random.key(0))
    kw = dict(loss="mse", optimizer="sgd", learning_rate=10.0, eval_every=100)
    trained, h = jn.fit(net, params, x, 100.0 * x[:, :3], steps=500, **kw)
    assert h.status == "diverged" and "diverged at step" in h.message
    assert 0 < h.steps < 500
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(trained))
    assert np.all(np.isfinite(h.loss[:-1])) and not np.isfinite(h.loss[-1])
    # The returned params are those after exactly h.steps updates: replaying them agrees.
    replay, h2 = jn.fit(net, params, x, 100.0 * x[:, :3], steps=h.steps, **kw)
    assert h2.status == "completed"
    assert tree_allclose(replay, trained, rtol=0)


def test_early_stopping_returns_the_best_params():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4))
    y = rng.normal(size=(40, 3))  # pure noise: the validation loss must turn up
    xv, yv = rng.normal(size=(40, 4)), rng.normal(size=(40, 3))
    net = jn.MLP((4, 64, 3), activation="relu")
    params, h = jn.fit(
        net,
        jn.init(net, jax.random.key(0)),
        x,
        y,
        loss="mse",
        optimizer="adam",
        learning_rate=1e-2,
        steps=3000,
        validation=(xv, yv),
        eval_every=50,
        patience=3,
    )
    assert h.status == "early_stopped" and h.steps < 3000
    best = int(np.argmin(h.val_loss))
    assert h.best_step == h.eval_step[best] and h.val_loss[-1] > h.val_loss[best]
    vl, _ = train.evaluate_jit(
        net, params, jnp.asarray(xv, jnp.float32), jnp.asarray(yv, jnp.float32), "mse"
    )
    np.testing.assert_allclose(float(vl), h.val_loss[best], rtol=1e-6)


def test_validation_history_has_accuracy_for_classifiers():
    x, y = blobs(n=120, spread=4.0)
    _, h = jn.fit(
        NET,
        jn.init(NET, jax.random.key(0)),
        x[:80],
        y[:80],
        loss="cross_entropy",
        optimizer="adam",
        learning_rate=1e-2,
        steps=200,
        validation=(x[80:], y[80:]),
        eval_every=50,
    )
    assert list(h.eval_step) == [50, 100, 150, 200]
    assert h.val_accuracy[-1] > 0.9 and np.all(np.isfinite(h.val_loss))


def test_a_user_optax_transformation_and_schedule_work():
    x, y = blobs(n=120, spread=4.0)
    schedule = optax.exponential_decay(0.1, transition_steps=50, decay_rate=0.5)
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(schedule, momentum=0.9))
    _, h = jn.fit(
        NET, jn.init(NET, jax.random.key(0)), x, y, loss="cross_entropy", optimizer=tx, steps=200
    )
    assert h.loss[-1] < h.loss[0]


def test_a_never_finite_validation_loss_stops_with_patience_and_keeps_the_training():
    # The validation rows are finite in float32 but their loss is not (1e20 squared): this
    # was a TypeError (int - None) after training, with everything trained lost.
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 2)), rng.normal(size=(8, 1))
    xv, yv = np.full((3, 2), 1e20), np.zeros((3, 1))
    net = jn.MLP((2, 3, 1), activation="identity")
    params0 = jn.init(net, 0)
    fit = dict(loss="mse", optimizer="sgd", learning_rate=0.1, steps=100, eval_every=10)
    params, h = jn.fit(net, params0, x, y, validation=(xv, yv), patience=2, **fit)
    assert h.status == "early_stopped" and h.best_step is None and h.steps == 20
    assert "validation loss was never finite (last inf)" in h.message
    assert np.all(np.isinf(h.val_loss))
    alone, _ = jn.fit(net, params0, x, y, **dict(fit, steps=20))
    assert tree_allclose(params, alone, rtol=0)  # the 20 steps trained are returned


def test_a_history_prints_in_one_line():
    h = jn.History(
        loss=np.linspace(2.0, 0.5, 300, dtype=np.float32),
        eval_step=np.array([100, 200, 300]),
        val_loss=np.array([1.0, 0.7, 0.6]),
        val_accuracy=np.array([0.5, 0.7, 0.8]),
        status="completed",
        steps=300,
        best_step=300,
        message="completed 300 steps",
        seconds=1.25,
    )
    assert (
        repr(h)
        == "History(completed, 300 steps, final loss 0.5, 3 evaluations, best_step 300, 1.2 s)"
    )


def test_progress_shows_in_a_terminal_or_a_notebook_kernel_unless_told(monkeypatch, capsys):
    import io
    import sys
    import types

    from jaxnet import _progress

    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a pipe: no bar unless asked
    assert not _progress.wanted(None) and _progress.wanted(True)
    ipython = types.ModuleType("IPython")
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    for shell, notebook in (
        (types.SimpleNamespace(config={"IPKernelApp": {"connection_file": "k.json"}}), True),
        (types.SimpleNamespace(config={"TerminalIPythonApp": {}}), False),  # ipython, a terminal
        (None, False),  # IPython imported, no shell running
    ):
        ipython.get_ipython = lambda shell=shell: shell
        assert _progress.wanted(None) is notebook and not _progress.wanted(False)
        bar = train.progress_bar(10, None, "fit")
        assert bar.disable is not notebook
        bar.close()
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stderr", closed)  # a closed stderr is no terminal, and no error
    assert not _progress.wanted(None)
