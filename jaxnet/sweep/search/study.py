"""Optuna's side of a study: the sampler, asking a batch, and the study rebuilt from the store.

jaxnet uses Optuna through its ask-and-tell interface, a batch of P trials per ask, and keeps
Optuna's own storage in memory: the store (:mod:`jaxnet.store.trials`) is the source of truth.
A study is rebuilt by *replaying* the stored trials into a fresh in-memory study, batch by
batch, exactly as they were first asked: each stored trial is enqueued with its params and
asked again (so the sampler runs its joint draw and keeps what it keeps in the trial, as
CMA-ES keeps its generation), then each decided batch is told. A replayed study is therefore
the study that asked, and its next batch is the one an uninterrupted run asks.

Each batch is asked by a sampler seeded from ``(seed, batch)`` (QMC from ``seed`` alone: one
sequence), so the asks are reproducible whichever process makes them.

Parallel asks must not collapse onto one point. The remedies are Optuna's own:

* ``tpe``: the constant liar (``TPESampler(constant_liar=True)``): trials asked but not told
  count as bad results, so the next ask of the same batch looks elsewhere.
* ``cmaes``: the batch is CMA-ES's population (``popsize = batch``): one ask is one
  generation, drawn from the search distribution at once; pruned trials count with their last
  value (``consider_pruned_trials=True``).
* ``gp``: ``GPSampler`` conditions on the running trials of the batch itself.
* ``random`` and ``qmc``: their draws are independent (QMC's follow one scrambled Sobol
  sequence), so a batch is as good as one at a time.

Left out: which trials train and how far (:mod:`.optuna_search`), the space (:mod:`.space`).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import warnings

import numpy as np

from ..spec import SweepError

INSTALL = 'pip install "jaxnet[optuna]"'
# What a sampler needs beyond Optuna: (module, how to install it).
NEEDS = {
    "cmaes": ("cmaes", INSTALL),
    "qmc": ("scipy", INSTALL),
    "gp": ("torch", "pip install torch (Optuna's GPSampler runs on PyTorch)"),
}


def require(sampler: str):
    """The ``optuna`` module, once it and what ``sampler`` needs are installed.

    Raises:
      SweepError: one line naming what to install.
    """
    try:
        optuna = importlib.import_module("optuna")
    except ImportError:
        raise SweepError(
            f"search method 'optuna' needs Optuna, an optional extra: {INSTALL}"
        ) from None
    module, how = NEEDS.get(sampler, (None, None))
    if module is not None and importlib.util.find_spec(module) is None:
        raise SweepError(f"search.sampler {sampler!r} needs the {module} package: {how}")
    return optuna


@contextlib.contextmanager
def quiet(optuna):
    """Optuna without its per-trial log lines and its experimental-feature warnings."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


def batch_seed(seed: int, batch: int) -> int:
    """The seed of batch ``batch``'s sampler: 32 bits drawn from ``(seed, batch)``."""
    return int(np.random.SeedSequence([seed, batch]).generate_state(1)[0])


def make_sampler(optuna, name: str, seed: int, batch: int, size: int):
    """The sampler that asks batch ``batch`` (see the module docstring for each remedy).

    Args:
      optuna: the module; name: one of :data:`jaxnet.sweep.search_table.SAMPLERS`.
      seed: the search's seed; batch: the batch's index; size: trials per batch.
    """
    with warnings.catch_warnings():  # consider_pruned_trials is "experimental" in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _sampler(optuna, name, seed, batch, size)


def _sampler(optuna, name: str, seed: int, batch: int, size: int):
    s, samplers = batch_seed(seed, batch), optuna.samplers
    if name == "tpe":
        return samplers.TPESampler(seed=s, constant_liar=True)
    if name == "cmaes":
        return samplers.CmaEsSampler(
            seed=s, popsize=size, consider_pruned_trials=True, warn_independent_sampling=False
        )
    if name == "gp":
        return samplers.GPSampler(seed=s, warn_independent_sampling=False)
    if name == "qmc":
        return samplers.QMCSampler(
            seed=seed % 2**32, scramble=True, warn_independent_sampling=False,
            warn_asynchronous_seeding=False,
        )  # fmt: skip
    return samplers.RandomSampler(seed=s)


def _suggest(trial, name: str, dist):
    d = type(dist).__name__
    if d == "FloatDistribution":
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if d == "IntDistribution":
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)
    return trial.suggest_categorical(name, dist.choices)


def ask_one(study, space: dict, params: dict | None = None):
    """One trial, asked the same way whether it is new or replayed (``params``): the
    sampler's joint draw first, then each axis in the space's order, so a replay leaves the
    sampler where the first ask left it."""
    if params is not None:
        study.enqueue_trial(params)
    trial = study.ask()
    trial.relative_params  # noqa: B018 -- the joint draw, which a fixed param would skip
    for name, dist in space.items():
        _suggest(trial, name, dist)
    return trial


def tell(optuna, study, trial, told: tuple) -> None:
    """Tell ``trial`` how it did: ``(state, value, {step: value})`` with state
    ``"complete"``, ``"pruned"`` or ``"fail"`` (a value that is not finite)."""
    state, value, steps = told
    for step, v in steps.items():
        trial.report(v, step)
    if state == "complete":
        study.tell(trial, value)
    else:
        states = optuna.trial.TrialState
        study.tell(trial, state=states.PRUNED if state == "pruned" else states.FAIL)


def told(results: list, fate: str, metric: str, value_at) -> tuple:
    """What a decided trial is told: its metric as the sweep ranks it (``value_at``) and one
    intermediate value per rung it reached.

    Args:
      results: its config's rung results; fate: ``"completed"``, ``"pruned"`` or
        ``"diverged"``; metric: the sweep's; value_at: :func:`.state.value_at`.
    """
    steps = {}
    for k, r in enumerate(results):
        v = value_at(results[: k + 1], metric)
        if math.isfinite(v):
            steps[int(r["step"])] = v
    if fate == "pruned":
        return "pruned", None, steps
    value = value_at(results, metric)
    return ("complete", value, steps) if math.isfinite(value) else ("fail", None, steps)


class Replayed:
    """An in-memory Optuna study in step with a sweep's stored trials (see the module
    docstring): :meth:`sync` replays what it lacks, or starts over when the store disagrees.

    Args:
      optuna: the module; space: axis -> distribution; direction: ``"minimize"`` or
        ``"maximize"``; sampler: ``batch index -> sampler``.
    """

    def __init__(self, optuna, space: dict, direction: str, sampler):
        self.optuna, self.space, self.direction, self.sampler = optuna, space, direction, sampler
        self._fresh()

    def _fresh(self) -> None:
        with quiet(self.optuna):
            self.study = self.optuna.create_study(direction=self.direction, sampler=self.sampler(0))
        self.asked: list = []  # (number, params) of each trial in the study, in order
        self.running: dict = {}  # number -> Trial, asked and not yet told

    def sync(self, stored: list[dict], outcomes: dict) -> None:
        """Replay the stored trials the study lacks, telling each batch once it is decided.

        Args:
          stored: the sweep's trials by number (``number``, ``batch``, ``params`` as dicts).
          outcomes: trial number -> what it is told (:func:`told`), for decided trials.
        """
        known = [(t["number"], t["params"]) for t in stored[: len(self.asked)]]
        if known != self.asked:  # another process's batch, or a changed store: start over
            self._fresh()
        with quiet(self.optuna):
            for b in sorted({t["batch"] for t in stored}):
                batch = [t for t in stored if t["batch"] == b]
                self.study.sampler = self.sampler(b)
                done = {n for n, _ in self.asked}
                for t in batch:
                    if t["number"] not in done:
                        self.running[t["number"]] = ask_one(self.study, self.space, t["params"])
                        self.asked.append((t["number"], t["params"]))
                if all(t["number"] in outcomes for t in batch):
                    for t in batch:
                        trial = self.running.pop(t["number"], None)
                        if trial is not None:
                            tell(self.optuna, self.study, trial, outcomes[t["number"]])

    def ask(self, batch: int, n: int) -> list:
        """Ask ``n`` new trials as batch ``batch``; their params (axis -> Optuna's value)."""
        with quiet(self.optuna):
            self.study.sampler = self.sampler(batch)
            trials = [ask_one(self.study, self.space) for _ in range(n)]
        for t in trials:
            self.running[t.number] = t
            self.asked.append((t.number, dict(t.params)))
        return [dict(t.params) for t in trials]
