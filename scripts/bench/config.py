"""The sizes and repeat counts of a run: FULL, QUICK (``--quick``) and GPU (``--gpu``).

Only numbers and paths live here; what is timed, and how, lives in the benchmarks' own files.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: scripts/bench/config.py -> its root


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes and repeat counts; ``--quick`` swaps in :data:`QUICK`."""

    tutorial_steps: int = 1000
    tutorial_repeats: int = 21
    digits_sizes: tuple[int, ...] = (64, 128, 128, 10)
    digits_batch: int = 128
    digits_steps: int = 1000
    digits_repeats: int = 5
    grads_repeats: int = 5
    wide_sizes: tuple[int, ...] = (1024, 4096, 4096, 1024)
    wide_batch: int = 1024
    wide_seconds: float = 3.0  # aim of one timed wide call; its step count follows from the peak
    wide_repeats: int = 3
    matmul_n: int = 4096
    torch: bool = True
    population_sizes: tuple[int, ...] = (1, 16, 64, 256, 1024)
    population_net: tuple[int, ...] = (64, 128, 10)
    population_steps: int = 200
    population_repeats: int = 3
    population_sequential: int = 4  # models timed one after another with fit (and PyTorch)
    sklearn_seeds: int = 5  # issue 12: jaxnet.estimators vs scikit-learn's MLPClassifier
    sklearn_big_rows: int = 20_000
    sklearn_big_epochs: int = 100
    sklearn_search_folds: int = 5
    sklearn_search_epochs: int = 100
    sklearn_search_rows: int = 5000  # sklearn_search: the searches alone, on this many rows
    sklearn_match_seeds: int = 10  # issue 22: convergence side by side, seeds per size
    sklearn_match_sizes: int = 4  # how many of sklearn_match.SIZES (hidden, max_iter) to run
    sklearn_match_accuracy_seeds: int = 5  # test accuracy: 4 splits x this many seeds
    gradcheck_depths: tuple[int, ...] = (50, 100, 200)  # issue 25: memory bounded at any depth
    sweep_file: str = "experiments/sweeps/demo.toml"
    sweep_old: str | None = None  # an older checkout to time the same sweep with (--old-checkout)
    search_quick: bool = False  # search: 24 configs and short runs instead of 108
    tiers_steps: int = 1500  # issue 20: the widths sweep's steps
    tiers_long_steps: int = 20_000  # the long sweep's
    tiers_demo: bool = True  # the whole demo sweep (False: a 4-config cut of it)
    tiers_chunk_steps: int = 2000  # the chunk timed beside background compiles
    tiers_repeats: int = 5
    tiers_fit_steps: int = 2000  # the longer first fit
    sklearn_sweep_rows: int = 4000  # issue 20: a cold sweep vs GridSearchCV on these rows
    sklearn_sweep_epochs: int = 20


FULL = Config()
QUICK = Config(
    tutorial_steps=1000,
    tutorial_repeats=5,
    digits_steps=100,
    digits_repeats=2,
    grads_repeats=2,
    wide_sizes=(256, 1024, 1024, 256),
    wide_batch=256,
    wide_seconds=0.3,
    wide_repeats=3,
    matmul_n=1024,
    population_sizes=(1, 16, 64),
    population_steps=50,
    population_repeats=2,
    population_sequential=2,
    sklearn_seeds=2,
    sklearn_big_rows=2000,
    sklearn_big_epochs=10,
    sklearn_search_folds=2,
    sklearn_search_epochs=10,
    sklearn_search_rows=1000,
    sklearn_match_seeds=2,
    sklearn_match_sizes=2,
    sklearn_match_accuracy_seeds=1,
    search_quick=True,
    tiers_steps=300,
    tiers_long_steps=3000,
    tiers_demo=False,
    tiers_chunk_steps=500,
    tiers_repeats=3,
    tiers_fit_steps=1000,
    sklearn_sweep_rows=1000,
    sklearn_sweep_epochs=5,
    gradcheck_depths=(10, 20, 40),
)
# For a GPU machine: nothing to install beyond jax and optax; no CPU baselines.
GPU = Config(
    torch=False,
    population_sizes=(1, 16, 256, 1024, 4096, 16384),
    population_repeats=3,
)
