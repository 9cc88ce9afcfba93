"""Builders shared by the test files: data, CLI runs, store rows, a synthetic sweep.

Imported as ``from helpers import ...`` (pytest puts this folder on ``sys.path``). Only
builders live here; assertions stay in the tests.
"""

import contextlib
import io

import numpy as np

from jaxnet import store, sweep
from jaxnet.cli import main


def blobs(n: int = 96, seed: int = 0, spread: float = 3.0):
    """Three Gaussian classes in 4 features: ``x`` ``(n, 4)`` float64, ``y`` ``(n,)`` ints;
    class ``c`` is shifted by ``spread`` along feature ``c``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return rng.normal(size=(n, 4)) + spread * np.eye(3, 4)[y], y


def run_cli(argv) -> tuple[int, str]:
    """``jaxnet ARGV`` in this process: ``(exit status, what it printed to stdout)``."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(argv)
    return rc, out.getvalue()


def fake_row(config_id: str, **overrides) -> dict:
    """A complete ``runs`` row with made-up values (no training needed)."""
    curve, stride = store.downsample(np.linspace(2.0, 0.1, 50), 10)
    row = {
        "config_id": config_id,
        "group_id": "g0",
        "config": '{"hidden":[8],"seed":0}',
        "dataset": "xor",
        "depth": 1,
        "width": 8,
        "hidden": "8",
        "activation": "tanh",
        "bias": 1,
        "optimizer": "adam",
        "learning_rate": 0.01,
        "batch_size": 32,
        "steps": 50,
        "seed": 0,
        "init_scale": 1.0,
        "n_params": 42,
        "status": "completed",
        "steps_done": 50,
        "train_loss": 0.1,
        "train_accuracy": 0.9,
        "final_val_loss": 0.2,
        "final_val_accuracy": 0.85,
        "best_val_loss": 0.15,
        "best_val_accuracy": 0.9,
        "best_step": 40,
        "test_loss": 0.25,
        "test_accuracy": 0.8,
        "group_size": 1,
        "group_seconds": 1.5,
        "train_seconds": 1.0,
        "compile_seconds": 0.5,
        "curve": store.encode_floats(curve),
        "curve_stride": stride,
        "val_curve": store.encode_floats([0.3, 0.2]),
        "eval_every": 25,
        "jaxnet_version": "0.1.0",
        "jax_version": "0.0",
        "device_kind": "cpu x2",
        "created": store.now(),
        # the columns added later, at the values a run without them was trained with
        **{name: default for name, (_, default) in store.ADDED_RUN_COLUMNS.items()},
    }
    return {**row, **overrides}


# A sweep file's grid of one tiny shape (7 tanh units, 30 full-batch steps, 4 configs): the
# files that use it share one compiled program when they run in one pytest process.
TINY_GRID = """
evals = 2
curve_points = 10
[grid]
hidden = [[7]]
activation = ["tanh"]
learning_rate = [0.05, 0.2]
seed = [0, 1]
steps = [30]
batch_size = [0]
"""

SYNTHETIC_SPEC = """
name = "synthetic"
dataset = "digits"
metric = "best_val_accuracy"
[grid]
depth = [1, 2]
width = [8, 16]
activation = ["relu", "tanh"]
learning_rate = [0.01, 0.1]
seed = [0, 1, 2]
steps = [50]
"""


def made_up_accuracy(depth, width, activation, lr, seed) -> float:
    """Made-up but structured: wider and deeper is better, tanh a little worse, seeds jitter."""
    base = 0.5 + 0.1 * depth + width / 100 - 0.05 * (activation == "tanh") + 0.1 * (lr == 0.1)
    return base + 0.01 * (seed - 1)


def synthetic_rows() -> list[dict]:
    """One made-up row per config of SYNTHETIC_SPEC (its config ids are the file's own)."""
    rows = []
    for config in sweep.expand(sweep.parse(SYNTHETIC_SPEC), "classification"):
        depth, width = len(config["hidden"]), config["hidden"][0]
        activation, lr, seed = config["activation"], config["learning_rate"], config["seed"]
        curve = np.geomspace(2.0, 0.05 * (3 - depth) + 0.01 * seed, 10)
        rows.append(
            fake_row(
                sweep.config_id("synthetic", config),
                config=sweep.canonical(config),
                depth=depth,
                width=width,
                hidden=f"{width}" if depth == 1 else f"{width}-{width}",
                activation=activation,
                learning_rate=lr,
                seed=seed,
                n_params=(64 + 10) * width + (depth - 1) * width * width,
                best_val_accuracy=made_up_accuracy(depth, width, activation, lr, seed),
                status="diverged"
                if (depth, width, activation, lr, seed) == (1, 8, "relu", 0.1, 2)
                else "completed",
                curve=store.encode_floats(curve),
                curve_stride=5,
            )
        )
    return rows
