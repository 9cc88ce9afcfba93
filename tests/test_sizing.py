"""jaxnet.sizing: the batch rule and the memory estimate that `jaxnet train` and sweeps share."""

import subprocess
import sys

import numpy as np
import pytest

import jaxnet as jn
from jaxnet import sizing, sweep
from jaxnet.sweep import plan
from jaxnet.sweep.preparation import group_bytes


@pytest.mark.parametrize(
    "batch_size, n_rows, expected",
    [(0, 100, None), (100, 100, None), (500, 100, None), (32, 100, 32), (1, 2, 1), (99, 100, 99)],
)
def test_batch_rows_is_full_batch_for_0_or_every_row(batch_size, n_rows, expected):
    assert sizing.batch_rows(batch_size, n_rows) == expected
    assert plan.effective_batch({"batch_size": batch_size}, n_rows) == expected


def test_training_bytes_counts_params_six_times_and_three_arrays_a_layer():
    net = jn.MLP((3, 8, 1))
    one = sizing.training_bytes(net, rows=100)
    assert one == 4 * (6 * (3 * 8 + 8 + 8 + 1) + 3 * 100 * 9)
    assert sizing.training_bytes(net, 100, members=5) == 5 * one
    assert sizing.training_bytes(net, 100, itemsize=8) == 2 * one
    assert sizing.training_bytes(jn.MLP((3, 8, 1), bias=False), 100) < one


def test_training_bytes_is_the_sweeps_group_estimate():
    prepared = sweep.Prepared({"train": (np.zeros((70, 3)), np.zeros(70))}, "regression", 3, 1)
    config = {
        "hidden": [16, 4],
        "activation": "relu",
        "bias": True,
        "output_activation": "identity",
        "init": "auto",
        "steps": 200,
        "eval_every": 20,
        "batch_size": 0,
    }
    net = jn.MLP((3, 16, 4, 1), activation="relu")
    loop = sizing.loop_bytes(200, 20, None, members=3)  # and the loop's, full batch here
    assert sizing.training_bytes(net, 70, members=3) + loop == group_bytes([config] * 3, prepared)


def test_importing_sizing_imports_no_jax():
    code = "import sys, jaxnet.sizing; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
