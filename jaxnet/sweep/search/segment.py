"""The task of one search segment: take states up (or start), train to a step, hand back.

:func:`train_segment` is what an engine runs for a search -- in this process, or shipped to a
Ray worker -- as :func:`jaxnet.sweep.task.train_group` is for a grid: it trains a
:class:`~.state.Task`'s configs as one population from the task's stored states (or fresh at
step 0) to its ``until`` (:mod:`jaxnet.population.segments`) and returns its rung results and
the members' new states as plain values, ready for one store transaction
(:func:`jaxnet.store.save_segment`). It never touches the store.
"""

from __future__ import annotations

import dataclasses
import json
import time

import jax
import numpy as np

from ... import compile_cache, population, store
from ...population import MemberState, resume_segment, start_segment, state_template
from ..plan import config_id, effective_batch
from ..preparation import Prepared, net_for
from ..task import environment, finite_or_none, seed_keys


@dataclasses.dataclass(frozen=True)
class SegmentResult:
    """What one segment's task returns to the search loop.

    Attributes:
      task: the :class:`~.state.Task` it trained.
      results: one ``rung_results`` row per config (:data:`jaxnet.store.search.RESULT_COLUMNS`).
      states: one ``member_states`` row per config: ``config_id``, ``step``, ``layout``, ``state``.
      seconds, compiling, compiles: wall time, of it compiling, programs compiled.
      slots: members computed, device padding included (``slots - len(configs)`` computed
        for nothing).
    """

    task: object
    results: list
    states: list
    seconds: float
    compiling: float
    compiles: int
    slots: int


def decode_state(record: dict, net, optimizer: str, where: str) -> MemberState:
    """A stored member state as a :class:`~jaxnet.population.segments.MemberState`,
    checked against ``net`` and ``optimizer``."""
    template = state_template(net, optimizer)
    leaves = store.decode_arrays(record["layout"], record["state"], where)
    expected, treedef = jax.tree.flatten(template)
    if len(leaves) != len(expected):
        raise store.StoreError(
            f"{where}: its state has {len(leaves)} arrays; expected {len(expected)}"
        )
    return jax.tree.unflatten(treedef, leaves)


def encode_state(state: MemberState) -> tuple[str, bytes]:
    """``(layout, bytes)`` of a member state (:func:`jaxnet.store.encode_arrays`)."""
    return store.encode_arrays(jax.tree.leaves(state))


def train_segment(sweep_name: str, task, states, prepared: Prepared) -> SegmentResult:
    """Train one search task (see the module docstring).

    Args:
      sweep_name: names the config ids; task: the :class:`~.state.Task`.
      states: config id -> stored state record of every config the task takes a state from
        (empty when the task starts at step 0).
      prepared: the sweep's data.

    Returns:
      A :class:`SegmentResult`.
    """
    start = time.perf_counter()
    compiled, compiles = compile_cache.compile_clock(), population.compile_count()
    configs = list(task.configs)
    ids = [config_id(sweep_name, c) for c in configs]
    nets = [net_for(c, prepared) for c in configs]
    first = configs[0]
    options = dict(
        loss=first["loss"],
        optimizer=first["optimizer"],
        batch_size=effective_batch(first, len(prepared.parts["train"][1])),
        validation=prepared.parts.get("validation"),
        evaluate={k: prepared.parts[k] for k in ("train", "test") if k in prepared.parts},
        eval_every=first["eval_every"],
        grads=first.get("grads", "auto"),  # a shape key: the same in every member
    )
    keys = seed_keys([c["seed"] for c in configs])
    x, y = prepared.parts["train"]
    if task.start == 0:
        scales = [c["init_scale"] for c in configs]
        out, history = start_segment(
            nets, keys, x, y, until=task.until, learning_rates=task.learning_rates,
            init_scales=scales, **options,
        )  # fmt: skip
    else:
        where = f"{sweep_name}: stored state of config"
        taken = [
            decode_state(states[ids[i]], nets[i], first["optimizer"], f"{where} {ids[i]}")
            for i in range(len(configs))
        ]
        out, history = resume_segment(
            nets, taken, keys, x, y, until=task.until, sources=list(task.sources),
            learning_rates=task.learning_rates, **options,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    compiling = compile_cache.compile_clock() - compiled
    devices = min(jax.local_device_count(), len(configs))
    info = {
        "seconds": seconds,
        "compile_seconds": compiling,
        "size": len(configs),
        "slots": -(-len(configs) // devices) * devices,
        **environment(),
    }
    results = [_result(ids[i], i, task, history, info) for i in range(len(configs))]
    encoded = [encode_state(s) for s in out]
    new_states = [
        {"config_id": cid, "step": int(history.steps[i]), "layout": e[0], "state": e[1]}
        for i, (cid, e) in enumerate(zip(ids, encoded))
    ]
    return SegmentResult(
        task, results, new_states, seconds, compiling,
        population.compile_count() - compiles, info["slots"],
    )  # fmt: skip


def _result(cid: str, i: int, task, history, info: dict) -> dict:
    """One config's ``rung_results`` row from a segment's history."""
    train = [v[i] for v in history.evaluated.get("train", (np.nan, np.nan))]
    test = [v[i] for v in history.evaluated.get("test", (np.nan, np.nan))]
    return {
        "config_id": cid,
        "rung": task.rung,
        "start": task.start,
        "step": int(history.steps[i]),
        "alive": int(bool(history.alive[i])),
        "learning_rate": float(task.learning_rates[i]),
        "train_loss": finite_or_none(train[0]),
        "train_accuracy": finite_or_none(train[1]),
        "test_loss": finite_or_none(test[0]),
        "test_accuracy": finite_or_none(test[1]),
        "loss": np.asarray(history.loss[i], "<f4").tobytes(),
        "eval_step": np.asarray(history.eval_step, "<i8").tobytes(),
        "val_loss": np.asarray(history.val_loss[i], "<f8").tobytes(),
        "val_accuracy": np.asarray(history.val_accuracy[i], "<f8").tobytes(),
        "task": task.key,
        "info": json.dumps(info),
    }
