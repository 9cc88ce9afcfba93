"""Run a sweep: the short story of one ``jaxnet sweep`` call.

Check everything before anything is written (:func:`~.preparation.preflight`), start an engine
(:mod:`.engines`; Ray is imported, started or joined here, so a refusal leaves nothing behind),
open the store and find what is left (:func:`~.driver.open_sweep`), let the driver claim, train
and commit the groups (:func:`~.driver.drive`), then say where the wall time went
(:class:`SweepSummary`).
"""

from __future__ import annotations

import dataclasses
import sys
import time

from tqdm.auto import tqdm

from .. import compile_cache, store
from .driver import Leases, Opened, Tally, drive, open_sweep
from .engines import make_engine
from .options import EngineOptions
from .plan import padding_overhead
from .preparation import Preflight, preflight
from .spec import Sweep


def run(
    sweep: Sweep,
    store_path,
    progress: bool | None = None,
    log=print,
    *,
    engine: str = "in-process",
    address: str | None = None,
    gpus_per_group: float | None = None,
    cpus_per_group: float | None = None,
    retries: int | None = None,
    lease: float = 60.0,
    cache_dir=None,
) -> SweepSummary:
    """Train every config of ``sweep`` that ``store_path`` does not hold yet.

    Each group's rows are committed in one transaction when it finishes, so killing the
    process loses at most the groups in training, and a rerun trains exactly the configs that
    are missing. Groups are claimed in the store before training (see :mod:`.driver`), so
    several processes on one store split the groups and never train one twice.

    Args:
      sweep: the spec (:func:`load`, :func:`parse` or :func:`from_dict`).
      store_path: the SQLite results store; created when missing.
      progress: show a progress bar over groups and members (None: when stderr is a terminal).
      log: called with one line per group and a line before training.
      engine, address, gpus_per_group, cpus_per_group, retries, lease: how the groups run
        (see :class:`~.options.EngineOptions`).
      cache_dir: JAX's persistent compilation cache folder, or ``"off"``; None: the
        default of :func:`jaxnet.compile_cache.enable` (on, in a per-user folder).

    Returns:
      A :class:`SweepSummary`; ``trained`` counts only what this call trained.
    """
    options = EngineOptions(engine, address, gpus_per_group, cpus_per_group, retries, lease)
    start = time.perf_counter()
    compile_cache.enable(cache_dir)
    counts = _compile_counts()
    plan = preflight(sweep, options)  # every check against the data, before any write
    # The engine too starts before the store is opened: a missing Ray, a cluster that does not
    # answer or cannot hold a group leaves no store file and no sweep row behind.
    engine = make_engine(plan.options, sweep.name, plan.prepared, plan.settings["curve_points"])
    try:
        with store.opened(store_path) as conn:
            opened = open_sweep(conn, plan)
            log(
                f"sweep {sweep.name}: {sweep.dataset}, {len(plan.configs)} configs; "
                f"{len(plan.configs) - opened.todo} already stored, {opened.todo} to train in "
                f"{len(opened.groups)} groups -> {store_path}"
            )
            tally = _train(conn, store_path, plan, opened, progress, log, engine)
    finally:
        engine.close()
    startup = getattr(engine, "startup_seconds", 0.0)
    return _summary(plan, store_path, opened, tally, time.perf_counter() - start, startup, counts)


def _train(conn, store_path, plan: Preflight, opened: Opened, progress, log, engine) -> Tally:
    """Drive the groups left through the started ``engine``; what it did."""
    if not opened.groups:
        return Tally()
    name = plan.sweep.name
    with (
        Leases(conn, store_path, plan.options.lease) as leases,
        _progress_bar(opened.todo, progress, name) as bar,
    ):
        return drive(
            conn, opened, name, engine, leases,
            retries=plan.options.retry_limit, log=log, bar=bar,
        )  # fmt: skip


def _progress_bar(total: int, progress: bool | None, desc: str):
    enabled = sys.stderr.isatty() if progress is None else bool(progress)
    return tqdm(total=total, desc=desc, unit="member", disable=not enabled, leave=False)


def _compile_counts() -> tuple[int, int]:
    """``(XLA programs requested, persistent-cache hits)`` in this process so far."""
    return compile_cache.xla_compiles(), compile_cache.stats()["hits"]


def _summary(plan, store_path, opened, tally, seconds, startup, counts) -> SweepSummary:
    programs, hits = (now - before for now, before in zip(_compile_counts(), counts))
    ends = (plan.prepared.n_features, plan.prepared.n_outputs)
    return SweepSummary(
        plan.sweep.name,
        str(store_path),
        len(plan.configs),
        len(plan.configs) - opened.todo,
        tally.trained,
        tally.groups,
        tally.compiles,
        seconds,
        tally.group_seconds,
        tally.compile_seconds,
        engine=plan.options.engine,
        elsewhere=tally.elsewhere,
        startup_seconds=startup,
        programs=programs - hits,
        cache_hits=hits,
        padding=padding_overhead(opened.groups, ends) if opened.groups else 0.0,
    )


@dataclasses.dataclass(frozen=True)
class SweepSummary:
    """What one call of :func:`run` did.

    Attributes:
      name, store: the sweep and the store file.
      configs: configs in the sweep; skipped: already stored; trained: trained now.
      groups: populations trained now; compiles: population programs compiled now.
      seconds: wall time of the call; group_seconds: of it, training and evaluating groups;
      compile_seconds: of that, JAX tracing, lowering and compiling (every program).
      engine: what trained the groups; elsewhere: configs other processes on the same store
      trained meanwhile; startup_seconds: of ``seconds``, starting or joining Ray.
      compile_seconds: of that, JAX lowering and compiling (every program) or loading
        compiled programs from the persistent cache.
      programs: XLA programs compiled now, every one (eager operations' too), cache hits not
        included; cache_hits: programs loaded from the persistent compilation cache instead.
      padding: extra training FLOPs of width buckets over the members' own (0.25: +25 %).
    """

    name: str
    store: str
    configs: int
    skipped: int
    trained: int
    groups: int
    compiles: int
    seconds: float
    group_seconds: float
    compile_seconds: float
    engine: str = "in-process"
    elsewhere: int = 0
    startup_seconds: float = 0.0
    programs: int = 0
    cache_hits: int = 0
    padding: float = 0.0

    @property
    def train_fraction(self) -> float:
        """Share of the wall time spent running compiled programs (training and evaluation)."""
        return (self.group_seconds - self.compile_seconds) / max(self.seconds, 1e-9)

    def describe(self) -> str:
        """One line: what was trained and where the wall time went."""
        others = f"; {self.elsewhere} were trained by other processes" if self.elsewhere else ""
        if not self.trained:
            if self.elsewhere:
                return f"{self.name}: trained nothing itself{others} on {self.store}"
            return f"{self.name}: all {self.configs} configs were already in {self.store}"
        if self.engine != "in-process":  # groups ran in parallel: times are summed over workers
            return (
                f"{self.name}: trained {self.trained} configs in {self.groups} groups on "
                f"{self.engine} in {self.seconds:.1f} s ({self.startup_seconds:.1f} s starting "
                f"{self.engine}); the groups took {self.group_seconds:.1f} s summed over "
                f"workers, {self.compile_seconds:.1f} s of it compiling "
                f"({self.compiles} training programs); {self.skipped} were already stored"
                f"{others}"
            )
        share = 100.0 / max(self.seconds, 1e-9)
        return (
            f"{self.name}: trained {self.trained} configs in {self.groups} groups "
            f"(padding +{100 * self.padding:.0f}% FLOPs; {self.programs} programs compiled, "
            f"{self.cache_hits} loaded from the compile cache) in {self.seconds:.1f} s: "
            f"{100 * self.train_fraction:.0f}% running compiled programs, "
            f"{share * self.compile_seconds:.0f}% compiling, "
            f"{share * (self.seconds - self.group_seconds):.0f}% data, store and Python; "
            f"{self.skipped} were already stored{others}"
        )
