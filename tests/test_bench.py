"""scripts/bench runs end to end: the quick tutorial case in-process, its JSON well formed;
and `python scripts/bench` itself starts (every benchmark module imports) and checks --only.

Timings are only checked to be positive: this machine is shared, so no speed is asserted.
"""

import importlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "scripts" / "bench"


def load_bench_cli():
    """The harness's command line module, imported from scripts/bench as the package
    ``jaxnet_bench`` (the folder is not on sys.path: its relative imports need a package)."""
    if "jaxnet_bench" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "jaxnet_bench", BENCH / "__init__.py", submodule_search_locations=[str(BENCH)]
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = package  # dataclasses look their module up there
        spec.loader.exec_module(package)
    return importlib.import_module("jaxnet_bench.cli")


def test_quick_tutorial_bench_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    load_bench_cli().main(["--quick", "--only", "tutorial", "--json", str(out)])
    report = json.loads(out.read_text())
    assert {"command", "environment", "config", "benchmarks"} <= set(report)
    assert report["command"] == f"python scripts/bench --quick --only tutorial --json {out}"
    assert {"date", "cpu", "jax", "numpy", "backend"} <= set(report["environment"])
    assert list(report["benchmarks"]) == ["tutorial"]
    case = report["benchmarks"]["tutorial"]["cases"]["tutorial"]
    assert set(case["variants"]) == {"fit", "fit compiled chunk only", "numpy (article loop)"}
    for timing in case["variants"].values():
        assert timing["first_s"] > 0 and timing["median_s"] > 0 and timing["per_step_us"] > 0
        assert timing["compile_s"] >= 0
        assert len(timing["times_s"]) == report["config"]["tutorial_repeats"]
    assert case["ratios"]["numpy/fit"] > 0
    (goal,) = case["targets"]
    assert {"what", "value", "target", "met"} <= set(goal)


def test_the_documented_command_starts_and_rejects_an_unknown_benchmark():
    # `python scripts/bench` as a user types it (from the checkout, not from tests/): every
    # benchmark module is imported before the arguments are checked, so an unknown name fails
    # fast with the usage error, having timed nothing.
    run = subprocess.run(
        [sys.executable, "scripts/bench", "--only", "tutorial,nosuch"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert "usage: python scripts/bench" in run.stderr
    assert "unknown benchmark nosuch; choose from tutorial, digits, grads, wide," in run.stderr
