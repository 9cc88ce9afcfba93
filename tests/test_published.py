"""The reproductions of published results stay within their target bands.

Each slow test runs a script of ``experiments/published`` in its ``quick`` form (fewer seeds,
the same training) and checks the issue's band: MNIST-1D logistic regression within 2 points
of 32%, the plain MLP at 66% or more and the paper's MLP (with its skip) within 4 points of
68%; the four scikit-learn strategies within 1.5 points of the published training accuracy;
XOR's success rates where 200-seed runs put them; the tutorial's loss small. Results go to a
temporary folder, never over a full run's files.
"""

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

PUBLISHED = Path(__file__).resolve().parents[1] / "experiments" / "published"


def _script(name: str):
    """Import ``experiments/published/<name>.py`` (its folder holds the shared ``_report``)."""
    if str(PUBLISHED) not in sys.path:
        sys.path.append(str(PUBLISHED))  # appended: it must not shadow installed packages
    spec = importlib.util.spec_from_file_location(f"published_{name}", PUBLISHED / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def quick_run(tmp_path, monkeypatch):
    """Run a script's ``main(quick=True)`` with its results written under ``tmp_path``."""

    def run(name: str) -> dict:
        module = _script(name)
        monkeypatch.setattr(sys.modules["_report"], "RUNS", tmp_path)
        results = module.main(quick=True)
        assert (tmp_path / f"{name}_quick.json").exists()
        return results

    return run


@pytest.mark.slow
def test_mnist1d_logistic_regression_and_mlp_reach_the_paper(quick_run):
    models = quick_run("mnist1d_paper")["models"]
    logistic = models["logistic regression"]["test_accuracy"]["mean"]
    mlp = models["MLP 40-100-100-10"]["test_accuracy"]["mean"]
    residual = models["residual MLP 40-100-100-10 (the paper's)"]
    assert abs(logistic - 0.32) <= 0.02, f"logistic regression {logistic:.3f}, target 0.32 ± 0.02"
    assert mlp >= 0.66, f"MLP {mlp:.3f}, target >= 0.66"
    assert residual["residual"] and residual["published"] == 0.68
    acc = residual["test_accuracy"]["mean"]  # 6 seeds: 0.657 ± 0.015
    assert abs(acc - 0.68) <= 0.04, f"residual MLP {acc:.3f}, target 0.68 ± 0.04"


@pytest.mark.slow
def test_sklearn_strategies_within_one_and_a_half_points(quick_run):
    for name, r in quick_run("sklearn_digits")["strategies"].items():
        ours = r["jaxnet"]["mean"]
        assert abs(ours - r["published"]) <= 0.015, f"{name}: {ours:.4f} vs {r['published']}"
        if r["sklearn"] is not None:  # scikit-learn itself, random_state=0, is the published run
            assert abs(r["sklearn"]["values"][0] - r["published"]) < 0.001, name


@pytest.mark.slow
def test_xor_success_rates(quick_run):
    runs = quick_run("xor")["runs"]
    small, wide = (np.array(runs[f"2-{h}-1 bias=True"]["success_rate"]) for h in (2, 3))
    assert np.all(wide > small), (small, wide)  # the third hidden unit removes most plateaus
    assert np.all(wide >= 0.9), wide
    # 200 seeds measure 0.67-0.76 for 2-2-1 with the standard normal init: about 1 run in 4
    # fails, more than the 1 in 5 to 1 in 10 reported with smaller initial weights.
    assert np.all((small >= 0.6) & (small <= 0.9)), small
    assert np.all(np.array(runs["2-2-1 bias=False"]["success_rate"]) <= 0.3)


@pytest.mark.slow
def test_tutorial_population_fits_the_three_students(quick_run):
    results = quick_run("tutorial")
    single = results["single_run_seed0"]
    # One draw of the 100: seed 0 gives 5.4e-4 since init draws all weights in one kernel.
    assert single["final_sse"] < 1e-3
    article = results["populations"]["article: no bias, SGD lr 1"]
    assert article["final_sse"]["mean"] < 1e-3
    assert 85.0 < article["predict_right"]["mean"] < 95.0
    adam = results["populations"]["bias, Adam lr 0.1"]
    assert adam["final_sse_median"] < article["final_sse_median"]


def test_xor_success_counts_the_first_step_below_the_threshold():
    xor = _script("xor")
    history = SimpleNamespace(loss=np.array([[0.3, 0.02, 0.009, 0.001], [0.3, 0.2, 0.1, 0.05]]))
    np.testing.assert_array_equal(xor.steps_to_success(history), [2, -1])


def test_sklearn_l2_term_decays_weights_not_biases():
    digits = _script("sklearn_digits")
    params = [{"w": np.ones((2, 3)), "b": np.ones(3)}]
    assert digits.weights_only(params) == [{"w": True, "b": False}]
    assert digits.updates(1797) == 15 * 9


def test_xor_best_loss_includes_the_loss_after_the_last_step():
    xor = _script("xor")
    history = SimpleNamespace(loss=np.array([[0.3, 0.02], [0.3, 0.005]]))
    np.testing.assert_allclose(xor.best_loss(history, np.array([0.008, 0.2])), [0.008, 0.005])
