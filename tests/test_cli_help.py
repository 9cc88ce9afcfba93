"""The `jaxnet` command answers help, --version and argument errors without importing JAX."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jaxnet import cli
from jaxnet.cli import args as cli_args
from jaxnet.cli import train as train_command

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["tutorial", "train", "predict", "gradcheck", "sweep", "runs", "report"]

# (argv, a fragment of the one-line error); every one must answer without importing JAX.
BAD_ARGS = [
    ([], "required: COMMAND"),
    (["trian"], "invalid choice: 'trian'"),
    (["--bogus"], "required: COMMAND"),
    (["train", "--dataset", "xor", "--bogus"], "unrecognized arguments: --bogus"),
    (["train"], "one of the arguments --dataset --csv is required"),
    (["train", "--dataset", "nope"], "invalid choice: 'nope'"),
    (["train", "--dataset", "xor", "--steps", "many"], "invalid int value: 'many'"),
    (["train", "--dataset", "xor", "--hidden", "0,3"], "--hidden must be positive ints"),
    (["train", "--dataset", "xor", "--hidden", "8,,8"], "--hidden must be comma-separated"),
    (["train", "--dataset", "xor", "--val-size", "1.5"], "--val-size must be a fraction"),
    (["train", "--dataset", "xor", "--keep", "best", "--val-size", "0"], "--keep best needs"),
    (["train", "--dataset", "xor", "--keep", "first"], "invalid choice: 'first'"),
    (["train", "--dataset", "xor", "--batch-size", "-3"], "--batch-size must be positive"),
    (["predict", "m.jaxnet"], "one of the arguments --input --csv is required"),
    (["predict", "m.jaxnet", "--input", "1", "--csv", "f.csv"], "not allowed with"),
    (["predict", "m.jaxnet", "--input"], "expected one argument"),
    (["predict", "missing.jaxnet", "--input", "-1,2"], "cannot read checkpoint missing.jaxnet"),
    (["predict", "jaxnet", "--input", "1"], "cannot read checkpoint jaxnet: not a file"),
    (["gradcheck", "--batch", "x"], "invalid int value: 'x'"),
    (["tutorial", "--hidden", "a"], "--hidden must be comma-separated"),
    (["tutorial", "--grads", "numeric"], "invalid choice: 'numeric'"),
    (["sweep"], "required: file"),
    (["runs"], "required: store"),
    (["report", "s.sqlite"], "required: --out"),
    (["report", "s.sqlite", "--out", "d", "--metric", "bogus"], "invalid choice: 'bogus'"),
]

_SCRIPT = """
import contextlib, io, json, sys
from jaxnet.cli import main
cases = json.loads(sys.argv[1])
results = []
for argv in cases:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code
    results.append([rc, out.getvalue(), err.getvalue()])
print(json.dumps({"results": results, "jax": "jax" in sys.modules, "optax": "optax" in sys.modules}))
"""


@pytest.fixture(scope="module")
def answers():
    """Every help, --version and bad-argument call, run in one fresh interpreter."""
    cases = [["--help"], ["--version"], *([c, "--help"] for c in COMMANDS)]
    cases += [argv for argv, _ in BAD_ARGS]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(cases)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    return dict(zip(map(tuple, cases), got["results"])), got


def test_help_version_and_errors_never_import_jax(answers):
    _, got = answers
    assert got["jax"] is False and got["optax"] is False


def test_help_is_plain_text_and_lists_every_command(answers):
    results, _ = answers
    rc, text, _ = results[("--help",)]
    assert rc == 0 and "usage: jaxnet" in text
    for command in COMMANDS:
        assert f"\n    {command}" in text
        rc, sub_text, _ = results[(command, "--help")]
        assert rc == 0 and sub_text.startswith(f"usage: jaxnet {command}")
    for _, text, _ in results.values():
        for markup in ("``", ":func:", ":class:", ":mod:", ".. "):
            assert markup not in text


def test_version_names_the_package_version(answers):
    import jaxnet

    rc, text, _ = answers[0][("--version",)]
    assert rc == 0 and text.strip() == f"jaxnet {jaxnet.__version__}"


@pytest.mark.parametrize(
    "argv, fragment", BAD_ARGS, ids=[" ".join(a) or "none" for a, _ in BAD_ARGS]
)
def test_bad_arguments_get_one_line_and_status_2(answers, argv, fragment):
    rc, out, err = answers[0][tuple(argv)]
    # argparse reports unrecognized arguments from the top-level parser
    top = not argv or argv[0] not in COMMANDS or "unrecognized" in fragment
    command = "jaxnet" if top else f"jaxnet {argv[0]}"
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"{command}: error: "), err
    assert fragment in err, err


def _options(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from ((f"{name} {a}", h) for a, h in _options(sub))
        elif not isinstance(action, argparse._HelpAction):
            yield "/".join(action.option_strings) or action.dest, action.help


def test_every_option_and_argument_has_a_help_line():
    missing = [name for name, text in _options(cli.build_parser()) if not text]
    assert missing == []


def test_parser_constants_match_the_library():
    from jaxnet import sweep, train

    assert sorted(cli_args.OPTIMIZER_NAMES) == sorted(train.OPTIMIZERS)
    assert tuple(cli_args.METRIC_NAMES) == tuple(sweep.METRICS)


@pytest.mark.parametrize(
    "values, expected",
    [
        (["--input", "-1,2"], ["-1,2"]),
        (["--input", "-.5e-3,2", "--input", "3,-4"], ["-.5e-3,2", "3,-4"]),
        (["--input=-1,2"], ["-1,2"]),
        (["--input", "-0", "--input", "-1"], ["-0", "-1"]),
    ],
)
def test_input_takes_a_leading_minus_without_equals(values, expected):
    args = cli.build_parser().parse_args(cli.join_negative_values(["predict", "m", *values]))
    assert args.input == expected


def test_a_flag_after_input_is_still_a_flag(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["predict", "m", "--input", "--csv", "f.csv"])
    assert e.value.code == 2
    assert "argument --input: expected one argument" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, keep",
    [
        (["--dataset", "digits"], "best"),
        (["--dataset", "digits", "--keep", "last"], "last"),
        (["--dataset", "digits", "--val-size", "0"], "last"),
        (["--dataset", "tutorial"], "last"),  # no validation rows
        (["--dataset", "mnist1d"], "last"),  # lowest val loss comes early; accuracy still rises
        (["--dataset", "mnist1d", "--keep", "best"], "best"),
    ],
)
def test_which_params_train_keeps(argv, keep):
    args = cli.build_parser().parse_args(["train", *argv])
    assert train_command.kept_params(train_command.with_defaults(args, args.dataset)) == keep


def test_python_dash_m_and_the_installed_script_run_the_same_main():
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "jaxnet"]
    assert script.value == "jaxnet.cli:main" and script.load() is cli.main
    out = subprocess.run(
        [sys.executable, "-m", "jaxnet.cli", "--version"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 0 and out.stdout.startswith("jaxnet "), out.stderr
