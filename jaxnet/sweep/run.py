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
    task_defaults,
)
from .prepare import Prepared, _check_metric_data, checked_parts, net_for, prepare
from .spec import Sweep


def fit_group(configs: list[dict], prepared: Prepared, checked: dict):
    """Train configs that share one shape (see :func:`group`) as one population.

    Args:
      configs: P configs equal but for :data:`MEMBER_KEYS`.
      prepared: the sweep's data; checked: :func:`checked_parts` of it.

    Returns:
      ``(net, history, evaluated)``: the spec, the :class:`~jaxnet.PopulationHistory`, and
      ``{"train": (loss, accuracy), "test": ...}`` of the final params, each ``(P,)`` NumPy.
    """
    import jax
    import jax.numpy as jnp

    from .. import population

    first = configs[0]
    net = net_for(first, prepared)
    keys = jnp.stack([jax.random.key(c["seed"]) for c in configs])
    params, history = population.fit_population(
        net,
        keys,
        *prepared.parts["train"],
        loss=first["loss"],
        optimizer=first["optimizer"],
        steps=first["steps"],
        learning_rates=[c["learning_rate"] for c in configs],
        init_scales=[c["init_scale"] for c in configs],
        batch_size=effective_batch(first, len(prepared.parts["train"][1])),
        validation=prepared.parts.get("validation"),
        eval_every=first["eval_every"],
        progress=False,
    )
    evaluated = {}
    for part in ("train", "test"):
        if part in checked:
            pair = population.evaluate_population(net, params, *checked[part], first["loss"])
            evaluated[part] = tuple(np.asarray(v, np.float64) for v in pair)
    return net, history, evaluated


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
        "n_params": net.n_params,
        "group_size": len(configs),
        "created": store.now(),
        **timing,
    }
    return [
        {
            "config_id": ids[i],
            **shared,
            **_config_columns(config),
            **_metric_columns(history, evaluated, i),
            **_curve_columns(history, i, curve_points),
        }
        for i, config in enumerate(configs)
    ]


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

    @property
    def train_fraction(self) -> float:
        """Share of the wall time spent running compiled programs (training and evaluation)."""
        return (self.group_seconds - self.compile_seconds) / max(self.seconds, 1e-9)

    def describe(self) -> str:
        """One line: what was trained and where the wall time went."""
        if not self.trained:
            return f"{self.name}: all {self.configs} configs were already in {self.store}"
        share = 100.0 / max(self.seconds, 1e-9)
        return (
            f"{self.name}: trained {self.trained} configs in {self.groups} groups "
            f"({self.compiles} training programs) in {self.seconds:.1f} s: "
            f"{100 * self.train_fraction:.0f}% running compiled programs, "
            f"{share * self.compile_seconds:.0f}% compiling, "
            f"{share * (self.seconds - self.group_seconds):.0f}% data, store and Python; "
            f"{self.skipped} were already stored"
        )


def _group_label(configs: list[dict]) -> str:
    c = configs[0]
    hidden = ("-".join(map(str, c["hidden"])) or "linear") + _RESIDUAL_MARK[c.get("residual")]
    return (
        f"{hidden} {c['activation']} {c['optimizer']} batch {c['batch_size']} "
        f"{c['steps']} steps x{len(configs)}"
    )


def _progress(total: int, progress: bool | None, desc: str):
    import sys

    from tqdm.auto import tqdm

    enabled = sys.stderr.isatty() if progress is None else bool(progress)
    return tqdm(total=total, desc=desc, unit="member", disable=not enabled, leave=False)


_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
_compile_seconds = 0.0  # JAX lowering + XLA compiling in this process since the listener began
_listening = False


def _count_compile(event: str, duration: float, **_) -> None:
    global _compile_seconds
    if event in _COMPILE_EVENTS:
        _compile_seconds += duration


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


def _train_groups(conn, sweep_id: int, sweep: Sweep, groups, prepared, log, bar):
    """Train and store each group in turn; returns ``(group_seconds, compile_seconds)``."""
    settings = task_defaults(sweep.settings, prepared.task)
    env = environment()
    group_total = compile_total = 0.0
    # Every group has the same inputs, outputs and loss, so one check serves them all.
    checked = checked_parts(prepared, net_for(groups[0][0], prepared), settings["loss"])
    for i, configs in enumerate(groups, 1):
        bar.set_description(f"group {i}/{len(groups)}")
        start, compiled = time.perf_counter(), compile_clock()
        net, history, evaluated = fit_group(configs, prepared, checked)
        seconds, compiling = time.perf_counter() - start, compile_clock() - compiled
        timing = {
            "group_seconds": seconds,
            "train_seconds": seconds - compiling,
            "compile_seconds": compiling,
            **env,
        }
        rows = member_rows(
            sweep.name, configs, net, history, evaluated, timing, settings["curve_points"]
        )
        store.insert_runs(conn, sweep_id, rows)
        group_total, compile_total = group_total + seconds, compile_total + compiling
        bar.update(len(configs))
        with bar.external_write_mode():
            log(
                f"[{i}/{len(groups)}] {_group_label(configs)}: {seconds:.1f} s, of which "
                f"compiling {compiling:.1f} s"
            )
    return group_total, compile_total


def spec_hash(sweep: Sweep) -> str:
    """SHA-256 of the sweep's source text: a new sweep row when the file changes."""
    return hashlib.sha256(sweep.source.encode()).hexdigest()


def run(sweep: Sweep, store_path, progress: bool | None = None, log=print) -> SweepSummary:
    """Train every config of ``sweep`` that ``store_path`` does not hold yet.

    Groups are trained one after another; each group's rows are committed in one transaction
    when it finishes, so killing the process loses at most the group in training, and a rerun
    trains exactly the configs that are missing.

    Args:
      sweep: the spec (:func:`load`, :func:`parse` or :func:`from_dict`).
      store_path: the SQLite results store; created when missing.
      progress: show a progress bar over groups and members (None: when stderr is a terminal).
      log: called with one line per group and a line before training.

    Returns:
      A :class:`SweepSummary`.
    """
    from .. import population

    start = time.perf_counter()
    prepared = prepare(sweep)
    _check_metric_data(default_metric(sweep.settings), prepared)
    configs = expand(sweep, prepared.task)
    n_train = len(prepared.parts["train"][1])
    compiles = population.compile_count()
    with store.opened(store_path) as conn:
        sweep_id = store.add_sweep(conn, sweep.name, sweep.source, spec_hash(sweep))
        done = store.done_config_ids(conn, sweep.name)
        todo = [c for c in configs if config_id(sweep.name, c) not in done]
        groups = group(todo, n_train)
        log(
            f"sweep {sweep.name}: {sweep.dataset}, {len(configs)} configs; "
            f"{len(configs) - len(todo)} already stored, {len(todo)} to train in "
            f"{len(groups)} groups -> {store_path}"
        )
        with _progress(len(todo), progress, sweep.name) as bar:
            group_s, compile_s = (
                _train_groups(conn, sweep_id, sweep, groups, prepared, log, bar)
                if groups
                else (0.0, 0.0)
            )
    return SweepSummary(
        sweep.name,
        str(store_path),
        len(configs),
        len(configs) - len(todo),
        len(todo),
        len(groups),
        population.compile_count() - compiles,
        time.perf_counter() - start,
        group_s,
        compile_s,
    )
