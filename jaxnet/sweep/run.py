"""Run a sweep: train each group as one population and commit its rows to the store."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time

import numpy as np

from .. import store
from .plan import (
    canonical,
    config_id,
    default_metric,
    effective_batch,
    expand,
    group,
    padding_overhead,
    task_defaults,
)
from .prepare import Prepared, _check_metric_data, check_against_data, net_for, prepare
from .spec import Sweep, SweepError


def fit_group(configs: list[dict], prepared: Prepared, checked: dict):
    """Train configs that share one compiled program (see :func:`group`) as one population.

    Configs that differ in hidden widths are a width bucket, trained padded to the widest
    (:func:`jaxnet.population.fit_bucket`); each member still computes exactly its own net.

    Args:
      configs: P configs equal but for :data:`MEMBER_KEYS` (and hidden widths in a bucket).
      prepared: the sweep's data; checked: :func:`checked_parts` of it (unused: the parts
        are checked again on the host, which costs no compiled program).

    Returns:
      ``(net, history, evaluated)``: the spec (the padded one of a bucket), the
      :class:`~jaxnet.PopulationHistory`, and ``{"train": (loss, accuracy), "test": ...}`` of
      the final params, each ``(P,)`` NumPy.
    """
    from .. import population

    first = configs[0]
    nets = [net_for(c, prepared) for c in configs]
    kwargs = dict(
        loss=first["loss"],
        optimizer=first["optimizer"],
        steps=first["steps"],
        learning_rates=[c["learning_rate"] for c in configs],
        init_scales=[c["init_scale"] for c in configs],
        batch_size=effective_batch(first, len(prepared.parts["train"][1])),
        # The NumPy parts: checked on the host and copied, where device arrays would need a
        # compiled finiteness check per shape.
        validation=prepared.parts.get("validation"),
        evaluate={k: prepared.parts[k] for k in ("train", "test") if k in prepared.parts},
        eval_every=first["eval_every"],
        progress=False,
    )
    keys = seed_keys([c["seed"] for c in configs])
    if len({n.sizes for n in nets}) == 1:
        net = nets[0]
        _, history = population.fit_population(net, keys, *prepared.parts["train"], **kwargs)
    else:
        net = population.bucket_net(nets)
        _, history = population.fit_bucket(nets, keys, *prepared.parts["train"], **kwargs)
    return net, history, history.evaluated


def seed_keys(seeds) -> np.ndarray:
    """``jax.random.key(seed)`` of each seed as raw key data ``(P, 2)`` uint32, made on the host.

    A typed key made per member is an eager JAX operation; the data of a threefry key (JAX's
    default) is ``[seed >> 32, seed & 0xffffffff]``, which the compiled init wraps itself.
    """
    import jax

    if jax.config.jax_default_prng_impl != "threefry2x32":
        return np.stack([jax.random.key_data(jax.random.key(s)) for s in seeds])
    seeds = np.asarray(seeds, np.uint64)
    return np.stack([seeds >> np.uint64(32), seeds & np.uint64(0xFFFFFFFF)], 1).astype(np.uint32)


def _number(value) -> float | None:
    """A finite float, or None (SQL NULL) for NaN: accuracy of a regression, no data."""
    value = float(value)
    return value if math.isfinite(value) else None


def _val_metrics(history, i: int) -> dict:
    """Final and best validation metrics of member ``i`` (None without validation)."""
    vl, va = history.val_loss[i], history.val_accuracy[i]
    finite = np.isfinite(vl)
    if not finite.any():
        return dict.fromkeys(
            (
                "final_val_loss",
                "final_val_accuracy",
                "best_val_loss",
                "best_val_accuracy",
                "best_step",
            )
        )
    best = int(np.argmin(np.where(finite, vl, np.inf)))
    return {
        "final_val_loss": _number(vl[-1]),
        "final_val_accuracy": _number(va[-1]),
        "best_val_loss": _number(vl[best]),
        "best_val_accuracy": _number(np.nanmax(va)) if np.isfinite(va).any() else None,
        "best_step": int(history.eval_step[best]),
    }


def environment() -> dict:
    """Library versions and the device kind, stored with every row."""
    import jax

    from .. import __version__

    devices = jax.local_devices()
    return {
        "jaxnet_version": __version__,
        "jax_version": jax.__version__,
        "device_kind": f"{devices[0].device_kind} x{len(devices)}",
    }


_RESIDUAL_MARK = {True: "+res", False: "", None: ""}  # "64-64+res": a residual net
_COPIED = ("activation", "optimizer", "learning_rate", "batch_size", "steps", "seed", "init_scale")


def _config_columns(config: dict) -> dict:
    """The config (as JSON) and its key fields as ``runs`` columns."""
    hidden = config["hidden"]
    return {
        "config": canonical(config),
        "dataset": config["dataset"],
        "depth": len(hidden),
        "width": hidden[0] if len(set(hidden)) == 1 else None,  # None: widths differ
        "hidden": ("-".join(map(str, hidden)) or "none") + _RESIDUAL_MARK[config.get("residual")],
        "bias": int(config["bias"]),
        "eval_every": config["eval_every"],
        **{k: config[k] for k in _COPIED},
    }


def _metric_columns(history, evaluated: dict, i: int) -> dict:
    """Member ``i``'s status and metrics (None where a part or a metric does not exist)."""
    train = [v[i] for v in evaluated["train"]] if "train" in evaluated else (np.nan, np.nan)
    test = [v[i] for v in evaluated["test"]] if "test" in evaluated else (np.nan, np.nan)
    return {
        "status": history.status[i],
        "steps_done": int(history.steps[i]),
        "train_loss": _number(train[0]),
        "train_accuracy": _number(train[1]),
        **_val_metrics(history, i),
        "test_loss": _number(test[0]),
        "test_accuracy": _number(test[1]),
    }


def _curve_columns(history, i: int, curve_points: int) -> dict:
    curve, stride = store.downsample(history.loss[i], curve_points)
    return {
        "curve": store.encode_floats(curve),
        "curve_stride": stride,
        "val_curve": store.encode_floats(history.val_loss[i]),
    }


def member_rows(
    sweep_name: str, configs, net, history, evaluated, timing: dict, curve_points: int
) -> list[dict]:
    """One store row per member of a trained group.

    Args:
      sweep_name: names the config ids; configs: the group's P configs.
      net, history, evaluated: what :func:`fit_group` returned.
      timing: ``group_seconds``, ``train_seconds``, ``compile_seconds`` and the environment
        (:func:`environment`), the same for every member.
      curve_points: the most points kept of each training curve.

    Returns:
      P dicts with every column of :data:`jaxnet.store.RUN_COLUMNS`.
    """
    ids = [config_id(sweep_name, c) for c in configs]
    shared = {
        "group_id": hashlib.sha256(" ".join(ids).encode()).hexdigest()[:16],  # this population
        "group_size": len(configs),
        "created": store.now(),
        **timing,
    }
    return [
        {
            "config_id": ids[i],
            "n_params": own_net(net, config).n_params,  # its own net, not a bucket's padding
            **shared,
            **_config_columns(config),
            **_metric_columns(history, evaluated, i),
            **_curve_columns(history, i, curve_points),
        }
        for i, config in enumerate(configs)
    ]


def own_net(net, config: dict):
    """A member's own net: ``net`` (maybe a width bucket's padded one) with its own widths."""
    sizes = (net.sizes[0], *config["hidden"], net.sizes[-1])
    return net if sizes == net.sizes else dataclasses.replace(net, sizes=sizes)


# --- running a sweep --------------------------------------------------------------------------


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


def _progress(total: int, progress: bool | None, desc: str):
    import sys

    from tqdm.auto import tqdm

    enabled = sys.stderr.isatty() if progress is None else bool(progress)
    return tqdm(total=total, desc=desc, unit="member", disable=not enabled, leave=False)


_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",  # includes loading from the cache
)
_compile_seconds = 0.0  # JAX lowering + XLA compiling in this process since the listener began
_xla_compiles = 0  # XLA compilations requested (persistent-cache hits included)
_listening = False


def _count_compile(event: str, duration: float, **_) -> None:
    global _compile_seconds, _xla_compiles
    if event in _COMPILE_EVENTS:
        _compile_seconds += duration
    if event == "/jax/core/compile/backend_compile_duration":
        _xla_compiles += 1


def compile_clock() -> float:
    """Seconds this process has spent lowering and compiling JAX programs since first asked.

    Counts every program, the eager operations' small ones included (``jax.monitoring``
    events); tracing is left out because nested traces would be counted twice.
    """
    global _listening
    if not _listening:
        import jax.monitoring

        jax.monitoring.register_event_duration_secs_listener(_count_compile)
        _listening = True
    return _compile_seconds


def xla_compiles() -> int:
    """XLA programs requested in this process since :func:`compile_clock` was first asked:
    compiled, or loaded from the persistent compilation cache."""
    compile_clock()
    return _xla_compiles


def spec_hash(sweep: Sweep) -> str:
    """SHA-256 of the sweep's source text: a new sweep row when the file changes."""
    return hashlib.sha256(sweep.source.encode()).hexdigest()


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
      engine: ``"in-process"`` (groups one after another here) or ``"ray"`` (one Ray task
        per group; see :class:`~jaxnet.sweep.ray_engine.RayEngine` for ``address``,
        ``gpus_per_group`` and ``cpus_per_group``).
      retries: how often a failed group is run again (default 0 in-process, 3 on Ray).
      lease: seconds a claim on a group outlives its holder's last renewal.
      cache_dir: JAX's persistent compilation cache folder, or ``"off"``; None: the
        default of :func:`jaxnet.compile_cache.enable` (on, in a per-user folder).

    Returns:
      A :class:`SweepSummary`; ``trained`` counts only what this call trained.
    """
    from .. import compile_cache
    from . import driver, engines

    options = {"address": address, "gpus_per_group": gpus_per_group}
    options.update(cpus_per_group=cpus_per_group)
    options["retries"] = _checked_options(engine, retries, lease, options)
    start = time.perf_counter()
    compile_cache.enable(cache_dir)
    hits, programs = compile_cache.stats()["hits"], xla_compiles()
    prepared = prepare(sweep)
    _check_metric_data(default_metric(sweep.settings), prepared)
    configs = expand(sweep, prepared.task)
    n_train = len(prepared.parts["train"][1])
    loss = task_defaults(sweep.settings, prepared.task)["loss"]
    ends = (prepared.n_features, prepared.n_outputs)
    # Before any write: every group's memory and the loss against the data.
    check_against_data(sweep, group(configs, n_train, _max_padding(sweep), ends), prepared, loss)
    retries = options["retries"]
    with store.opened(store_path) as conn:
        sweep_id = store.add_sweep(conn, sweep.name, sweep.source, spec_hash(sweep))
        _check_data_file(conn, sweep, prepared)
        done = store.done_config_ids(conn, sweep.name)
        todo = [c for c in configs if config_id(sweep.name, c) not in done]
        groups = group(todo, n_train, _max_padding(sweep), ends)
        log(
            f"sweep {sweep.name}: {sweep.dataset}, {len(configs)} configs; "
            f"{len(configs) - len(todo)} already stored, {len(todo)} to train in "
            f"{len(groups)} groups -> {store_path}"
        )
        tally, started = driver.Tally(), 0.0
        if groups:
            settings = task_defaults(sweep.settings, prepared.task)
            runner = engines.make_engine(
                engine, sweep.name, prepared, settings["curve_points"], **_given(options, engine)
            )
            started = getattr(runner, "startup_seconds", 0.0)
            try:
                with (
                    driver.Leases(conn, store_path, lease) as leases,
                    _progress(len(todo), progress, sweep.name) as bar,
                ):
                    tally = driver.drive(
                        conn, sweep_id, sweep.name, groups, n_train, runner, leases,
                        retries=retries, log=log, bar=bar,
                    )  # fmt: skip
            finally:
                runner.close()
    return SweepSummary(
        sweep.name,
        str(store_path),
        len(configs),
        len(configs) - len(todo),
        tally.trained,
        tally.groups,
        tally.compiles,
        time.perf_counter() - start,
        tally.group_seconds,
        tally.compile_seconds,
        engine=engine,
        elsewhere=tally.elsewhere,
        startup_seconds=started,
        programs=xla_compiles() - programs - (compile_cache.stats()["hits"] - hits),
        cache_hits=compile_cache.stats()["hits"] - hits,
        padding=padding_overhead(groups, ends) if groups else 0.0,
    )


def _checked_options(engine: str, retries, lease, ray_options: dict) -> int:
    """Check the driver's options before any work; returns ``retries`` with its default."""
    from .engines import ENGINES

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    given = [k for k, v in ray_options.items() if v is not None]
    if given and engine != "ray":
        raise ValueError(
            f"engine {engine!r} takes no {', '.join(given)}; those go with engine 'ray'"
        )
    retries = (3 if engine == "ray" else 0) if retries is None else retries
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ValueError(f"retries must be an int >= 0; got {retries!r}")
    # Shorter leases would be renewed many times a second, and a long compile could outlast one.
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease >= 1:
        raise ValueError(f"lease must be at least 1 second; got {lease!r}")
    return retries


def _given(options: dict, engine: str) -> dict:
    """The engine's options the caller set (``retries`` is the driver's for in-process)."""
    if engine == "ray":
        return {k: v for k, v in options.items() if v is not None}
    return {k: v for k, v in options.items() if k != "retries"}


def _check_data_file(conn, sweep: Sweep, prepared: Prepared) -> None:
    """Refuse to resume a sweep whose data file changed since its rows were stored."""
    if prepared.identity is None:
        return
    recorded = store.check_data_identity(conn, sweep.name, prepared.identity)
    if recorded is not None:
        raise SweepError(
            f"sweep {sweep.name!r}: its data file changed since its stored runs were trained "
            f"(stored: {recorded}; now: {prepared.identity}); give the sweep a new name or "
            "use a new store"
        )


def _max_padding(sweep: Sweep) -> float:
    """The sweep's width-bucket bound; 1 (off) where JAX's random draws are not prefix-stable."""
    import jax

    return sweep.settings["max_padding"] if jax.config.jax_threefry_partitionable else 1.0
