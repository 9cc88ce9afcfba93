"""Residual MLPs: the skip rule, forward written out, manual == jax.grad on the depth 1-12 matrix,
and residual nets through checkpoints, populations, sweeps and the CLI."""

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tree_max_rel_err
from helpers import blobs, run_cli

import jaxnet as jn
from jaxnet import activations, checkpoint, losses, sweep
from jaxnet import population as pop
from jaxnet.cli import main

ACTS = sorted(activations.ACTIVATIONS)
LOSSES = sorted(losses.LOSSES)
OUTPUT_FOR_LOSS = {"cross_entropy": "identity", "binary_cross_entropy": "sigmoid"}
DEPTHS = range(1, 13)


# --- the spec ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sizes, skips",
    [
        ((3, 4, 4, 5, 5, 2), (False, True, False, True, False)),
        ((4, 4, 4), (True, False)),  # the first layer skips when the inputs are as wide
        ((4, 4), (False,)),  # no hidden layer: the output layer never skips
        ((4, 4, 4, 4), (True, True, False)),  # nor when it is as wide as its input
        ((3, 5, 2), (False, False)),
    ],
)
def test_skips_on_exactly_the_equal_width_hidden_layers(sizes, skips):
    assert jn.MLP(sizes, residual=True).skips == skips
    assert jn.MLP(sizes).skips == (False,) * len(skips)


@pytest.mark.parametrize("bad", ["yes", 1, 0, None, np.bool_(True), 1.0])
def test_residual_must_be_a_bool(bad):
    with pytest.raises(TypeError, match=r"residual must be True or False; got"):
        jn.MLP((4, 4, 2), residual=bad)


def test_spec_is_hashable_and_the_flag_tells_specs_apart():
    plain, res = jn.MLP((4, 4, 2)), jn.MLP((4, 4, 2), residual=True)
    assert plain != res and len({plain, res, jn.MLP((4, 4, 2), residual=True)}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.residual = False


def test_params_layout_and_init_are_unchanged():
    plain, res = jn.MLP((4, 4, 4, 2)), jn.MLP((4, 4, 4, 2), residual=True)
    assert plain.n_params == res.n_params
    a, b = jn.init(plain, jax.random.key(3)), jn.init(res, jax.random.key(3))
    assert jax.tree.structure(a) == jax.tree.structure(b)
    assert all(np.array_equal(u, v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


# --- forward ----------------------------------------------------------------------------------


def test_forward_is_the_skip_written_out_in_numpy(x64):
    # 4-4-4-3 tanh: a1 = x + tanh(x w0 + b0), a2 = a1 + tanh(a1 w1 + b1), out = a2 w2 + b2.
    net = jn.MLP((4, 4, 4, 3), activation="tanh", residual=True)
    params = jn.init(net, jax.random.key(0), jnp.float64)
    params = [dict(p, b=np.full(p["b"].shape, 0.1 * (i + 1))) for i, p in enumerate(params)]
    x = np.asarray(jax.random.normal(jax.random.key(1), (5, 4), jnp.float64))
    (w0, b0), (w1, b1), (w2, b2) = ((np.asarray(p["w"]), p["b"]) for p in params)
    a1 = x + np.tanh(x @ w0 + b0)
    a2 = a1 + np.tanh(a1 @ w1 + b1)
    np.testing.assert_allclose(jn.forward(net, params, x), a2 @ w2 + b2, rtol=1e-13)
    np.testing.assert_allclose(jn.forward(net, params, x[0]), (a2 @ w2 + b2)[0], rtol=1e-13)
    plain = jn.forward(dataclasses.replace(net, residual=False), params, x)
    assert np.max(np.abs(np.asarray(plain) - (a2 @ w2 + b2))) > 0.1  # the skip changes the net


def test_a_dead_relu_branch_leaves_only_the_skip(x64):
    # Middle layer w = 0, b = -1: relu(...) = 0, so that layer is the identity; the net is then
    # the 3-4-2 net without it, in outputs and in every other layer's gradients, and the dead
    # layer's own gradients are exactly zero (relu' = 0 there).
    deep = jn.MLP((3, 4, 4, 2), activation="relu", residual=True)
    short = jn.MLP((3, 4, 2), activation="relu")
    params = jn.init(deep, jax.random.key(5), jnp.float64)
    params[1] = {"w": jnp.zeros((4, 4), jnp.float64), "b": -jnp.ones(4, jnp.float64)}
    x = jax.random.normal(jax.random.key(6), (6, 3), jnp.float64)
    y = jax.random.normal(jax.random.key(7), (6, 2), jnp.float64)
    kept = [params[0], params[2]]
    np.testing.assert_allclose(jn.forward(deep, params, x), jn.forward(short, kept, x), rtol=0)
    _, g_deep = jn.backprop(deep, params, x, y, loss="mse")
    _, g_short = jn.backprop(short, kept, x, y, loss="mse")
    assert tree_max_rel_err([g_deep[0], g_deep[2]], g_short) == 0.0
    assert not np.any(np.asarray(g_deep[1]["w"])) and not np.any(np.asarray(g_deep[1]["b"]))


# --- manual == jax.grad: depths 1-12 x activation x loss x bias x residual --------------------


def _problem(depth, act, loss, bias, residual, batch, seed):
    """A float64 problem on ``(inputs, 4, ..., 4, 2)``; 4 inputs (a first-layer skip) every
    other case, 3 otherwise. One width throughout, so eager mode reuses its kernels; drawn
    with NumPy, because eager JAX would compile a random-number kernel for every depth."""
    rng = np.random.default_rng(seed)
    inputs = 4 if seed % 2 else 3
    sizes = (inputs, *(4,) * (depth - 1), 2)
    out = OUTPUT_FOR_LOSS.get(loss, act)
    net = jn.MLP(sizes, activation=act, output_activation=out, bias=bias, residual=residual)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layer = {"w": rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)}
        if bias:  # non-zero biases, so their gradients are exercised away from the init
            layer["b"] = 0.1 * rng.standard_normal(fan_out)
        params.append(layer)
    x = rng.standard_normal((batch, inputs))
    if loss == "cross_entropy":
        y = rng.integers(0, 2, batch)
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, (batch, 2)).astype(np.float64)
    else:
        y = rng.standard_normal((batch, 2))
    return net, params, x, y


def _check_cases(cases):
    with jax.enable_x64(True), jax.disable_jit():
        for seed, (depth, act, loss, bias, residual) in enumerate(cases):
            net, params, x, y = _problem(depth, act, loss, bias, residual, batch=5, seed=seed)
            v_manual, g_manual = jn.backprop(net, params, x, y, loss=loss)
            v_auto, g_auto = jn.value_and_grad(net, params, x, y, loss=loss)
            case = f"{net} {loss}"
            assert abs(float(v_manual) - float(v_auto)) <= 1e-12 * max(1.0, abs(float(v_auto)))
            err = tree_max_rel_err(g_manual, g_auto)
            assert err <= 1e-12, f"{case}: relative error {err:.2e}"


def rotation():
    """One case per depth 1-12; activation, loss, bias and residual each run through their
    values (residual on at 8 of the 12 depths, so that most cases have skips)."""
    return [
        (depth, ACTS[(2 * depth) % 9], LOSSES[depth % 4], depth % 2 == 0, depth % 3 != 0)
        for depth in DEPTHS
    ]


def test_manual_equals_autodiff_on_a_rotation_of_the_residual_matrix():
    cases = rotation()
    assert {c[1] for c in cases} == set(ACTS) and {c[2] for c in cases} == set(LOSSES)
    _check_cases(cases)


@pytest.mark.slow
def test_manual_equals_autodiff_on_the_full_residual_matrix():
    _check_cases(itertools.product(DEPTHS, ACTS, LOSSES, (True, False), (True, False)))


def test_manual_equals_autodiff_when_jitted_with_skips(x64):
    net, params, x, y = _problem(3, "silu", "cross_entropy", True, True, batch=7, seed=1)
    assert net.skips == (True, True, False)
    (vm, gm), (va, ga) = (
        f(net, params, x, y, loss="cross_entropy") for f in (jn.backprop, jn.value_and_grad)
    )
    assert tree_max_rel_err(gm, ga) <= 1e-12 and abs(float(vm) - float(va)) <= 1e-12


def test_gradcheck_matrix_has_residual_cases_with_skips():
    from jaxnet.verification import matrix_cases

    cases = matrix_cases()
    residual = [(net, loss) for net, loss in cases if net.residual]
    assert len(cases) == 324 and len(residual) == 36
    assert all(any(net.skips) for net, _ in residual)
    # every activation and every loss meets both bias settings among the residual nets
    assert len({(loss, n.bias) for n, loss in residual}) == 8
    assert len({(n.activation, n.bias) for n, _ in residual}) == 18


# --- residual nets through checkpoints, populations, sweeps and the CLI ----------------------


def test_checkpoint_records_the_flag_and_round_trips(tmp_path):
    net = jn.MLP((4, 4, 4, 2), activation="tanh", residual=True)
    params = jn.init(net, jax.random.key(0))
    ck = checkpoint.load(checkpoint.save(tmp_path / "res.jaxnet", net, params))
    assert ck.net == net and ck.net.residual is True
    x = np.ones((3, 4), np.float32)
    np.testing.assert_array_equal(jn.forward(ck.net, ck.params, x), jn.forward(net, params, x))


def test_a_checkpoint_from_before_the_flag_loads_as_a_plain_net(tmp_path, monkeypatch):
    # Files written before this change have no "residual" in their spec (and a digest over
    # that spec): write one the old way, then read it with today's code.
    net = jn.MLP((4, 4, 4, 2), activation="tanh")
    later = ("residual", "dropout")  # fields added since (dropout after residual)
    old_spec = {k: v for k, v in checkpoint._spec(net).items() if k not in later}
    assert set(old_spec) == {"sizes", "activation", "output_activation", "bias", "init"}
    with monkeypatch.context() as m:
        m.setattr(checkpoint, "_spec", lambda net: old_spec)
        path = checkpoint.save(tmp_path / "old.jaxnet", net, jn.init(net, jax.random.key(0)))
    ck = checkpoint.load(path)
    assert ck.net == net and ck.net.residual is False


def test_a_checkpoint_with_a_bad_residual_value_is_refused(tmp_path, monkeypatch):
    net = jn.MLP((4, 4, 2))
    bad = {**checkpoint._spec(net), "residual": "yes"}
    with monkeypatch.context() as m:
        m.setattr(checkpoint, "_spec", lambda net: bad)
        path = checkpoint.save(tmp_path / "bad.jaxnet", net, jn.init(net, jax.random.key(0)))
    with pytest.raises(ValueError, match="invalid MLP spec.*residual must be True or False"):
        checkpoint.load(path)


def test_population_member_equals_residual_net_fit_alone(x64):
    net = jn.MLP((4, 5, 5, 3), activation="tanh", residual=True)
    x, y = blobs(n=64)
    keys = jax.random.split(jax.random.key(2), 2)
    lrs = np.array([0.05, 0.2])
    kw = dict(loss="cross_entropy", optimizer="sgd", steps=30, batch_size=16, eval_every=30)
    stacked, hist = pop.fit_population(
        net, keys, x, y, learning_rates=lrs, dtype=jnp.float64, grads="manual", **kw
    )
    for i in range(2):
        init_key, batch_key = pop.member_keys(keys[i])
        p0 = jn.init(net, init_key, jnp.float64)
        alone, h = jn.fit(net, p0, x, y, learning_rate=lrs[i], key=batch_key, **kw)
        assert tree_max_rel_err(jax.tree.map(lambda a, i=i: a[i], stacked), alone) < 1e-12
        np.testing.assert_allclose(hist.loss[i], h.loss, rtol=1e-12)
    assert np.all(hist.loss[:, -1] < hist.loss[:, 0])


def _sweep(**grid):
    return sweep.from_dict({"name": "r", "dataset": "xor", "grid": grid}, "r.toml")


def test_sweep_residual_axis_is_part_of_the_shape_and_plain_ids_are_unchanged():
    configs = sweep.expand(_sweep(width=[8], depth=[2], residual=[False, True]), "classification")
    plain, res = configs
    assert "residual" not in plain and res["residual"] is True
    before = sweep.expand(_sweep(width=[8], depth=[2]), "classification")
    assert sweep.config_id("r", plain) == sweep.config_id("r", before[0])
    assert sweep.shape_key(plain, 100) != sweep.shape_key(res, 100)
    assert len(sweep.group(configs, 100)) == 2
    prepared = sweep.Prepared({}, "classification", 2, 2)
    assert sweep.net_for(res, prepared).skips == (False, True, False)
    assert sweep.net_for(plain, prepared).residual is False


@pytest.mark.parametrize("values", [["yes"], [1], [None], "true"])
def test_sweep_residual_axis_takes_only_booleans(values):
    with pytest.raises(sweep.SweepError, match="grid.residual must be"):
        _sweep(residual=values)


@pytest.mark.slow
def test_cli_train_residual_saves_a_residual_net(tmp_path):
    out = tmp_path / "xor.jaxnet"
    argv = ["train", "--dataset", "xor", "--hidden", "4,4", "--steps", "20", "--residual"]
    rc, text = run_cli([*argv, "--eval-every", "20", "--out", str(out)])
    assert rc == 0 and "net 2-4-4-2 relu residual (1 skips)" in text
    ck = checkpoint.load(out)
    assert ck.net.residual is True and ck.net.skips == (False, True, False)


def test_cli_tutorial_residual(tmp_path):
    out = tmp_path / "t.jaxnet"
    rc, text = run_cli(
        ["tutorial", "--hidden", "3,3", "--residual", "--steps", "50", "--out", str(out)]
    )
    assert rc == 0 and "net 2-3-3-1 sigmoid residual (1 skips)" in text
    assert checkpoint.load(out).net.residual is True


@pytest.mark.parametrize(
    "argv",
    [
        ["tutorial", "--residual"],  # 2-3-1: no hidden layer as wide as its input
        ["train", "--dataset", "xor", "--hidden", "8", "--residual"],
        ["gradcheck", "--sizes", "3,4,2", "--residual"],
    ],
)
def test_cli_residual_without_a_skip_is_a_one_line_error(argv, capsys, tmp_path):
    assert main([*argv, *(["--out", str(tmp_path / "x")] if argv[0] != "gradcheck" else [])]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"jaxnet {argv[0]}: error: --residual needs a hidden layer")
    assert err.count("\n") == 1
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_cli_gradcheck_residual_passes(capsys):
    with jax.disable_jit():
        rc = main(["gradcheck", "--sizes", "4,4,2", "--residual", "--batch", "5"])
    out = capsys.readouterr().out
    assert rc == 0 and "bias res" in out.splitlines()[0] and out.splitlines()[-1].startswith("PASS")


@pytest.mark.slow
def test_a_sweep_trains_plain_and_residual_nets_and_stores_them_apart(tmp_path):
    from jaxnet import store

    spec = sweep.from_dict(
        {
            "name": "res",
            "dataset": "xor",
            "evals": 1,
            "grid": {"hidden": [[4, 4]], "residual": [False, True], "steps": [10]},
        }
    )
    summary = sweep.run(spec, tmp_path / "r.sqlite")
    assert summary.trained == 2 and summary.groups == 2
    with store.opened(tmp_path / "r.sqlite", must_exist=True) as conn:
        rows = store.runs(conn, "res")
    assert sorted(r["hidden"] for r in rows) == ["4-4", "4-4+res"]
    assert [store.config_of(r).get("residual", False) for r in rows] == [
        r["hidden"].endswith("+res") for r in rows
    ]
    assert rows[0]["train_loss"] != rows[1]["train_loss"]  # two different nets were trained
