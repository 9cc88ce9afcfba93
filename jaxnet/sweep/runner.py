"""Run a sweep: the short story of one ``jaxnet sweep`` call.

Check everything before anything is written (:func:`~.preparation.preflight`), start an engine
(:mod:`.engines`; Ray is imported, started or joined here, so a refusal leaves nothing behind),
open the store and find what is left (:func:`~.driver.open_sweep`), let the driver claim, train
and commit the groups (:func:`~.driver.drive`), then say where the wall time went
(:class:`SweepSummary`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time

from tqdm.auto import tqdm

from .. import _progress, compile_cache, store
from ..tiers import compile_count, enabled, parse_switch, switched
from ..tiers import switches as tier_switches
from ..tiers import used as tiers_used
from .driver import Leases, Opened, Tally, drive, open_sweep
from .engines import make_engine
from .models import DEFAULT_KEEP, Keeper, check_keep
from .options import EngineOptions
from .plan import canonical, config_id, padding_overhead, trial_config
from .preparation import Preflight, preflight
from .search import OptunaSearch, drive_search, method_for
from .spec import Sweep, SweepError


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
    keep_models=DEFAULT_KEEP,
    tiers=None,
) -> SweepSummary:
    """Train every config of ``sweep`` that ``store_path`` does not hold yet.

    Each group's rows are committed in one transaction when it finishes, so killing the
    process loses at most the groups in training, and a rerun trains exactly the configs that
    are missing. Groups are claimed in the store before training (see :mod:`.driver`), so
    several processes on one store split the groups and never train one twice.

    Args:
      sweep: the spec (:func:`load`, :func:`parse` or :func:`from_dict`).
      store_path: the SQLite results store; created when missing.
      progress: show a progress bar over groups and members (None: in a terminal or a
        Jupyter notebook).
      log: called with one line per group and a line before training.
      engine, address, gpus_per_group, cpus_per_group, retries, lease: how the groups run
        (see :class:`~.options.EngineOptions`).
      cache_dir: JAX's persistent compilation cache folder, or ``"off"``; None: the
        default of :func:`jaxnet.compile_cache.enable` (on, in a per-user folder).
      keep_models: whose trained params the store keeps (:func:`jaxnet.sweep.load_model`):
        ``"all"``, ``"none"`` or the best K by the sweep's metric (default 10).
      tiers: ``"on"`` / True or ``"off"`` / False: tiered compilation and compile-ahead
        (:mod:`jaxnet.tiers`) for this run; None: ``$JAXNET_TIERS`` (default on).

    Returns:
      A :class:`SweepSummary`; ``trained`` counts only what this call trained.
    """
    options = EngineOptions(engine, address, gpus_per_group, cpus_per_group, retries, lease)
    keep = check_keep(keep_models)
    tiered = enabled() if tiers is None else parse_switch(tiers, "tiers")  # checks $JAXNET_TIERS
    start = time.perf_counter()
    compile_cache.enable(cache_dir)
    counts = _compile_counts()
    plan = preflight(sweep, options)  # every check against the data, before any write
    keeper = Keeper(sweep.name, keep, plan.settings["metric"], plan.prepared)
    method = method_for(plan)
    with switched(tiered):
        # The engine starts before the store is opened: a missing Ray, a cluster that does not
        # answer or cannot hold a group leaves no store file and no sweep row behind.
        engine = make_engine(plan.options, sweep.name, plan.prepared, plan.settings["curve_points"])
        try:
            with store.opened(store_path) as conn:
                _check_search_record(conn, plan, store_path)
                opened = open_sweep(conn, plan)
                total, todo = _counts(conn, plan, opened, method)
                shown = (
                    f"{len(opened.groups)} groups"
                    if method is None
                    else f"{_article(method.name)} {method.name} search"
                )
                what = "trials" if isinstance(method, OptunaSearch) else "configs"
                log(
                    f"sweep {sweep.name}: {sweep.dataset}, {total} {what}; "
                    f"{total - todo} already stored, {todo} to train in {shown} -> {store_path}"
                )
                train = (
                    conn,
                    store_path,
                    plan,
                    opened,
                    todo,
                    progress,
                    log,
                    keeper,
                    method,
                    engine,
                )
                summary = _train_and_record(train, start, counts, (total, todo))
                steps = store.steps_trained(conn, sweep.name) if method is not None else None
                grid_steps = _grid_steps(conn, plan)
        finally:
            engine.close()
    if method is None:
        return summary
    return dataclasses.replace(summary, method=method.name, steps=(steps, grid_steps))


def _counts(conn, plan: Preflight, opened: Opened, method) -> tuple[int, int]:
    """``(configs, configs without a row)``; for an Optuna study ``(trials, trials to ask or
    train)``: its configs are asked as it goes."""
    if isinstance(method, OptunaSearch):
        return method.trials, method.left(conn)
    return len(plan.configs), opened.todo


def _grid_steps(conn, plan: Preflight) -> int:
    """What the sweep's configs cost trained to their last step: a grid's configs, or the
    configs an Optuna study asked so far."""
    if plan.configs:
        return sum(c["steps"] for c in plan.configs)
    asked = {t["config_id"]: t["config"] for t in store.stored_trials(conn, plan.sweep.name)}
    return sum(json.loads(c)["steps"] for c in asked.values())


def search_scope(plan: Preflight) -> str:
    """What a search decides over, hashed (16 hex digits): its configs, or an Optuna study's
    fixed config and space (its configs are asked as it goes)."""
    if plan.sweep.search["method"] == "optuna":
        base = trial_config(plan.sweep, plan.prepared.task, {})
        text = canonical({"fixed": base, "space": plan.sweep.random})
    else:
        text = " ".join(sorted(config_id(plan.sweep.name, c) for c in plan.configs))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _train_and_record(train: tuple, start: float, counts, left: tuple) -> SweepSummary:
    """Train what is left (``train``: :func:`_train`'s arguments; ``left``: ``(configs or
    trials, of them left to train)``), then store how this call ended -- completed,
    interrupted or failed -- with its summary's counts."""
    conn, store_path, plan, opened, todo = train[:5]
    tally, startup, outcome = Tally(), 0.0, "failed"
    try:
        if todo:
            tally, startup = _train(*train)
        outcome = "completed"
    except KeyboardInterrupt:
        outcome = "interrupted"
        raise
    finally:
        seconds = time.perf_counter() - start
        summary = _summary(plan, store_path, opened, left, tally, seconds, startup, counts)
        _record_call(conn, opened.sweep_id, summary, outcome)
    return summary


def _record_call(conn, sweep_id: int, summary: SweepSummary, outcome: str) -> None:
    """Store what this call's summary says and the rows cannot (programs compiled, cache
    hits, wall time), for the report page. Never hides how the call ended: a store that
    cannot take the row (a full disk) only loses this row."""
    in_process = summary.engine == "in-process"
    if in_process:
        programs, hits = summary.programs, summary.cache_hits
    else:  # the workers compile: the driver knows only the training programs they reported
        programs, hits = (summary.compiles if outcome == "completed" else None), None
    programs, hits = (n if n is None or n >= 0 else None for n in (programs, hits))
    try:
        store.record_call(
            conn, sweep_id, outcome=outcome, engine=summary.engine, programs=programs,
            cache_hits=hits, seconds=summary.seconds,
        )  # fmt: skip
    except (store.StoreError, ValueError):  # a full disk; a count JAX's listeners got wrong
        pass


def _check_search_record(conn, plan: Preflight, store_path) -> None:
    """Refuse to mix two searches (or a search and a grid) under one sweep name: their
    decisions would not be the ones either makes alone."""
    sweep, search = plan.sweep, plan.sweep.search
    stored = store.search_of(conn, sweep.name)
    if search["method"] == "grid":
        if stored is not None:
            raise SweepError(
                f"sweep {sweep.name!r} in {store_path} ran as a {stored[0]} search; without "
                "its [search] table it would be a grid: give the sweep a new name or a new store"
            )
        return
    if stored is None and store.done_config_ids(conn, sweep.name):
        raise SweepError(
            f"sweep {sweep.name!r} in {store_path} has rows of a grid sweep; a "
            f"{search['method']} search would mix with them: give it a new name or a new store"
        )
    # The configs too: a search decides over a fixed set (a rung ranks all who reached it).
    # An Optuna study's trials may grow (a rerun with more trials continues the study).
    configs = search_scope(plan)
    search = {
        k: v for k, v in search.items() if not (search["method"] == "optuna" and k == "trials")
    }
    settings = canonical({**search, "configs": configs})
    before = store.record_search(conn, sweep.name, search["method"], settings)
    if before is not None:
        stored = json.loads(before[1])
        what = "its configs" if stored.pop("configs", None) != configs else canonical(stored)
        raise SweepError(
            f"sweep {sweep.name!r} in {store_path} began its search with other "
            f"{'configs' if what == 'its configs' else 'settings, ' + what}; a search decides "
            "over a fixed set of configs and settings: give the sweep a new name or a new store"
        )


def _train(
    conn, store_path, plan: Preflight, opened: Opened, todo, progress, log, keeper, method, engine
):
    """Drive the groups (or the search) through the started ``engine``; ``(tally, engine
    start-up seconds)``. ``todo``: configs (or trials) left, for the progress bar."""
    name = plan.sweep.name
    retries = plan.options.retry_limit
    with (
        Leases(conn, store_path, plan.options.lease) as leases,
        _progress_bar(todo, progress, name) as bar,
    ):
        if method is None:
            tally = drive(
                conn, opened, name, engine, leases,
                retries=retries, log=log, bar=bar, keeper=keeper,
            )  # fmt: skip
        else:
            tally = drive_search(
                conn, plan, method, opened.sweep_id, engine, leases, keeper,
                retries=retries, log=log, bar=bar,
            )  # fmt: skip
            tally.elsewhere = max(0, todo - tally.trained)
    return tally, getattr(engine, "startup_seconds", 0.0)


def _progress_bar(total: int, progress: bool | None, desc: str):
    enabled = _progress.wanted(progress)
    return tqdm(total=total, desc=desc, unit="member", disable=not enabled, leave=False)


def _compile_counts() -> tuple:
    """``(XLA programs requested, persistent-cache hits, background compile seconds, programs
    run at tier 1, at tier 2, tier switches, population programs compiled)`` in this process
    so far."""
    hits, used = compile_cache.stats()["hits"], tiers_used()
    background = compile_cache.background_clock()
    return (
        compile_cache.xla_compiles(), hits, background, used[1], used[2], tier_switches(),
        compile_count(),
    )  # fmt: skip


def _summary(plan, store_path, opened, left, tally, seconds, startup, counts) -> SweepSummary:
    deltas = (now - was for now, was in zip(_compile_counts(), counts))
    programs, hits, background, tier1, tier2, switches, compiled = deltas
    # In this process a group's programs may be compiled ahead, while the group before it
    # trains: only the whole call's count is exact. Workers report their own.
    compiles = compiled if plan.options.engine == "in-process" else tally.compiles
    ends = (plan.prepared.n_features, plan.prepared.n_outputs)
    total, todo = left
    return SweepSummary(
        plan.sweep.name,
        str(store_path),
        total,
        total - todo,
        tally.trained,
        tally.groups,
        compiles,
        seconds,
        tally.group_seconds,
        tally.compile_seconds,
        engine=plan.options.engine,
        elsewhere=tally.elsewhere,
        startup_seconds=startup,
        programs=programs - hits,
        cache_hits=hits,
        padding=padding_overhead(opened.groups, ends) if opened.groups else 0.0,
        tier_programs={1: tier1, 2: tier2},
        switches=switches,
        background_seconds=background,
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
      method: the search method (``"grid"`` without a ``[search]`` table).
      steps: with a search, ``(steps trained, steps a grid of the same configs trains)``,
        added up over every config and segment the store holds for the sweep; None for a grid.
      tier_programs: ``{1: n, 2: m}`` programs this process ran at each compile tier
        (:mod:`jaxnet.tiers`); switches: training programs that moved to tier 2 mid-run.
      background_seconds: seconds the background thread spent compiling (tier-2 programs and
        the next group's), beside ``compile_seconds`` on the main thread.
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
    method: str = "grid"
    steps: tuple | None = None
    tier_programs: dict = dataclasses.field(default_factory=lambda: {1: 0, 2: 0})
    switches: int = 0
    background_seconds: float = 0.0

    @property
    def train_fraction(self) -> float:
        """Share of the wall time spent running compiled programs (training and evaluation)."""
        return (self.group_seconds - self.compile_seconds) / max(self.seconds, 1e-9)

    def describe(self) -> str:
        """One line: what was trained and where the wall time went (and, for a search, how
        many steps it trained of what a grid of the same configs trains)."""
        line = self._describe()
        if self.steps is None:
            return line
        done, grid = self.steps
        return f"{line}; steps trained: {done:,} of {grid:,} ({100 * done / max(grid, 1):.0f} %)"

    @property
    def _units(self) -> str:
        return "groups" if self.steps is None else f"{self.method} segments"

    def _describe(self) -> str:
        others = f"; {self.elsewhere} were trained by other processes" if self.elsewhere else ""
        if not self.trained:
            if self.elsewhere:
                return f"{self.name}: trained nothing itself{others} on {self.store}"
            return f"{self.name}: all {self.configs} configs were already in {self.store}"
        if self.engine != "in-process":  # groups ran in parallel: times are summed over workers
            return (
                f"{self.name}: trained {self.trained} configs in {self.groups} {self._units} on "
                f"{self.engine} in {self.seconds:.1f} s ({self.startup_seconds:.1f} s starting "
                f"{self.engine}); the groups took {self.group_seconds:.1f} s summed over "
                f"workers, {self.compile_seconds:.1f} s of it compiling "
                f"({self.compiles} training programs); {self.skipped} were already stored"
                f"{others}"
            )
        share = 100.0 / max(self.seconds, 1e-9)
        return (
            f"{self.name}: trained {self.trained} configs in {self.groups} {self._units} "
            f"(padding +{100 * self.padding:.0f}% FLOPs; {self.programs} programs compiled, "
            f"{self.cache_hits} loaded from the compile cache; {self.tier_note()}) in "
            f"{self.seconds:.1f} s: {100 * self.train_fraction:.0f}% running compiled programs, "
            f"{share * self.compile_seconds:.0f}% compiling on the main thread, "
            f"{share * (self.seconds - self.group_seconds):.0f}% data, store and Python; "
            f"the background thread compiled for {self.background_seconds:.1f} s "
            f"({share * self.background_seconds:.0f}% of the wall time); "
            f"{self.skipped} were already stored{others}"
        )

    def tier_note(self) -> str:
        """``programs at tier 1: n, tier 2: m (k switched)``."""
        t = self.tier_programs
        switched = f" ({self.switches} switched)" if self.switches else ""
        return f"programs at tier 1: {t.get(1, 0)}, tier 2: {t.get(2, 0)}{switched}"


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
