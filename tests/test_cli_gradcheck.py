"""`jaxnet gradcheck`: the table, exit status 0 / 1 / 2, one-line errors, and `--all`.

Apart from the first, the commands run op by op (``jax.disable_jit()``) on nets of the ``--all``
matrix's shapes (3 inputs, layers 4 wide, batch 5), sharing compiled kernels with
test_gradcheck.py instead of compiling every net anew.
"""

import subprocess
import sys
import time

import jax
import pytest

from jaxnet import cli
from jaxnet.verification import EDGE_FAMILIES
from jaxnet.verification import check as CHECK  # where gradcheck finds backprop_batch
from jaxnet.verification import matrix as MATRIX  # where check_matrix finds its cases

HEADER = ("layer", "param", "shape", "max abs err", "max rel err", "cosine", "verdict")


@pytest.fixture
def eager():
    with jax.disable_jit():
        yield


@pytest.fixture
def buggy_backprop(monkeypatch):
    """The built-in backprop with the output layer's gradients doubled: a planted bug."""
    real = CHECK.backprop_batch

    def doubled_top_layer(*args):
        value, grads = real(*args)
        return value, [*grads[:-1], {k: 2 * v for k, v in grads[-1].items()}]

    monkeypatch.setattr(CHECK, "backprop_batch", doubled_top_layer)


def test_pass_prints_the_table_and_exits_0(capsys):
    argv = ["gradcheck", "--sizes", "2,3,1", "--activation", "sigmoid", "--loss", "sse"]
    assert cli.main([*argv, "--batch", "4", "--seed", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(word in lines[1] for word in HEADER)
    rows = lines[2:-1]
    assert len(rows) == 2 * 2 * 3  # layers x (w, b) x comparisons
    assert all(row.split()[-1] == "ok" for row in rows)
    assert [row.split()[:2] for row in rows[::3]] == [
        ["0", "w"],
        ["0", "b"],
        ["1", "w"],
        ["1", "b"],
    ]
    assert lines[-1].startswith("PASS")


def test_no_bias_float32_and_cross_entropy(eager, capsys):
    argv = ["gradcheck", "--sizes", "3,4,4", "--activation", "tanh", "--loss", "cross_entropy"]
    assert cli.main([*argv, "--batch", "5", "--no-bias", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    assert "tanh/identity" in out and "float32" in out
    assert not any(line.split()[1:2] == ["b"] for line in out.splitlines()[2:-1])


def test_failure_exits_1_and_names_the_layer(eager, buggy_backprop, capsys):
    assert cli.main(["gradcheck", "--sizes", "3,4,4,4", "--batch", "5"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("FAIL: backward pass first wrong at layer 2")
    assert "FAIL" in next(line for line in out.splitlines() if line.split()[:2] == ["2", "w"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--sizes", "2,,1"], "--sizes must be comma-separated positive ints"),
        (["--sizes", "0,3"], "--sizes must be positive ints"),
        (["--sizes", "3"], "sizes needs at least 2 entries"),
        (["--activation", "swish"], "activation must be one of"),
        (["--output-activation", "swish"], "output_activation must be one of"),
        (["--loss", "hinge"], "--loss must be one of"),
        (["--dtype", "float16"], "dtype must be float32 or float64"),
        (["--batch", "0"], "--batch must be a positive int"),
        (
            ["--sizes", "4,5,3", "--loss", "binary_cross_entropy", "--output-activation", "tanh"],
            "needs output_activation='sigmoid'",
        ),
        (["--sizes", "2,3,1", "--loss", "cross_entropy"], "needs at least 2 outputs"),
    ],
)
def test_bad_arguments_give_a_one_line_error(argv, message, capsys):
    assert cli.main(["gradcheck", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("jaxnet gradcheck: error: ")
    assert captured.err.count("\n") == 1 and message in captured.err


def test_all_prints_a_line_per_case_and_a_total(monkeypatch, capsys):
    few = MATRIX.matrix_cases()[::96]
    edges = [next(c for c in MATRIX.edge_cases() if c[2] == f) for f in EDGE_FAMILIES]
    monkeypatch.setattr(MATRIX, "matrix_cases", lambda: few)
    monkeypatch.setattr(MATRIX, "edge_cases", lambda: edges)
    assert cli.main(["gradcheck", "--all"]) == 0
    lines = capsys.readouterr().out.splitlines()
    n = len(few) + len(edges)
    assert len(lines) == 1 + n + 1
    assert all(line.startswith("ok") for line in lines[1:-1])
    assert [family in line for line, family in zip(lines[-6:-1], EDGE_FAMILIES)] == [True] * 5
    assert lines[-1].startswith(f"total: {n} of {n} cases passed, 0 failed")
    assert "largest float64 relative errors: backprop vs jax.grad" in lines[-1]


def test_all_exits_1_when_a_case_fails(monkeypatch, buggy_backprop, capsys):
    few = MATRIX.matrix_cases()[:2]
    monkeypatch.setattr(MATRIX, "matrix_cases", lambda: few)
    monkeypatch.setattr(MATRIX, "edge_cases", lambda: [])
    assert cli.main(["gradcheck", "--all"]) == 1
    out = capsys.readouterr().out
    assert out.count("FAIL") == 2 * len(few)  # status, then the verdict line of each case
    assert f"0 of {len(few)} cases passed, {len(few)} failed" in out


@pytest.mark.slow
def test_all_passes_in_under_a_minute():
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "jaxnet.cli", "gradcheck", "--all"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "total: 369 of 369 cases passed, 0 failed" in done.stdout  # 288 + 36 residual + 45 edge
    assert seconds < 60, f"took {seconds:.1f} s"


# --- --grad-fn: your own backward pass, by module or file ---------------------------------------

MINE = """
import jax, jax.numpy as jnp

def backprop(net, params, x, y, loss):  # y: one-hot rows for cross_entropy
    (l1, l2), n = params, x.shape[0]
    a = jnp.tanh(x @ l1["w"] + l1["b"])
    z = a @ l2["w"] + l2["b"]
    delta = (jax.nn.softmax(z) - y) / n
    hidden = (delta @ l2["w"].T) * (1 - a**2)
    value = -jnp.mean(jnp.sum(y * jax.nn.log_softmax(z), axis=-1))
    return value, [{"w": x.T @ hidden, "b": hidden.sum(0)}, {"w": a.T @ delta, "b": delta.sum(0)}]

def transposed(net, params, x, y, loss):
    value, grads = backprop(net, params, x, y, loss)
    return value, [{"w": grads[0]["w"].T, "b": grads[0]["b"]}, grads[1]]

not_a_function = 3
"""
NET = ["gradcheck", "--sizes", "3,4,4", "--activation", "tanh", "--loss", "cross_entropy"]


def test_grad_fn_checks_your_own_backward_pass_from_a_module_or_a_file(
    tmp_path, monkeypatch, capsys
):
    (tmp_path / "mine_ok.py").write_text(MINE)
    monkeypatch.chdir(tmp_path)
    path = list(sys.path)
    assert cli.main([*NET, "--batch", "5", "--grad-fn", "mine_ok:backprop"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "PASS: backprop matches jax.grad and finite differences"
    assert "backprop vs jax.grad" in out and sys.path == path  # the import left sys.path alone
    file = str(tmp_path / "mine_ok.py")  # the same file by its path: its function is named
    assert cli.main([*NET, "--batch", "5", "--grad-fn", f"{file}:transposed"]) == 2
    assert capsys.readouterr().err == (
        "jaxnet gradcheck: error: grad_fn transposed returned grads[0]['w'] of shape (4, 3); "
        "params[0]['w'] has shape (3, 4)\n"
    )


@pytest.mark.parametrize(
    "value, message",
    [
        ("mine_bad", "--grad-fn must be MODULE:FUNCTION like mybackprop:backprop"),
        ("mine_bad:1x", "--grad-fn must be MODULE:FUNCTION"),
        ("no_such_module_here:f", "--grad-fn: no module named 'no_such_module_here' here"),
        ("mine_bad:nope", "--grad-fn: mine_bad has no function 'nope'"),
        ("mine_bad:not_a_function", "mine_bad.not_a_function is not a function (its type is int)"),
        (
            "broken.py:f",
            "--grad-fn: importing broken.py raised NameError: name 'undefined' is not defined",
        ),
        ("missing.py:f", "--grad-fn: missing.py is not a file"),
        ("leaves.py:f", "--grad-fn: importing leaves.py raised SystemExit: not to be imported"),
        (".:f", "'.' is neither a module name nor a .py file"),
        ("a/:f", "--grad-fn: a is not a file"),
    ],
)
def test_a_bad_grad_fn_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, value, message):
    (tmp_path / "mine_bad.py").write_text(MINE)
    (tmp_path / "broken.py").write_text("x = undefined\n")
    (tmp_path / "leaves.py").write_text("import sys\nsys.exit('not to be imported')\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main([*NET, "--grad-fn", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxnet gradcheck: error: ") and message in err and err.count("\n") == 1
    assert cli.main(["gradcheck", "--all", "--grad-fn", "mine_bad:backprop"]) == 2
    assert "cannot go with --all" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--sizes", "2147483647,1"], "a 2,147,483,648-parameter net would need about 96.0 GiB"),
        (["--sizes", "100000,100000,1"], "10,000,200,001-parameter net"),
        (["--sizes", "2,3,1", "--batch", "2147483647"], "--batch 2147483647: a 13-parameter"),
    ],
)
def test_a_net_or_batch_too_large_to_check_is_one_line_before_jax_allocates(capsys, argv, fragment):
    # --sizes 2147483647,1 ended in a RESOURCE_EXHAUSTED traceback (24 GiB asked for), and
    # 100000,100000,1 was still running after 100 s.
    assert cli.main(["gradcheck", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert fragment in err and "the limit is 16 GiB (jaxnet.sizing.MAX_GROUP_BYTES)" in err, err
