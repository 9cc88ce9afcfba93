"""scripts/bench.py runs end to end: the quick tutorial case in-process, its JSON well formed.

Timings are only checked to be positive: this machine is shared, so no speed is asserted.
"""

import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("jaxnet_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_quick_tutorial_bench_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    load_bench().main(["--quick", "--only", "tutorial", "--json", str(out)])
    report = json.loads(out.read_text())
    assert {"command", "environment", "config", "benchmarks"} <= set(report)
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
