"""Kept models: a sweep's trained configs that predict straight from the store.

A sweep keeps the final params of its best configs (``--keep-models``: all, the best K, or
none; default :data:`DEFAULT_KEEP`) with the scalers fitted on its training rows and a
classifier's labels (:mod:`jaxnet.store.models`). :func:`load_model` returns one as a
:class:`jaxnet.Model`, which predicts in the data's own units exactly as ``jn.load`` of the
same net saved with ``jn.save`` does; :func:`best_config_id` names the sweep's best. Params are
stored as raw bytes with their shapes in JSON, never pickled. Left out: optimizer states (a
kept model predicts; it does not resume training).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import numpy as np

from .. import __version__, mlp, store
from ..data import Scaler
from ..model import Model
from .plan import default_metric
from .spec import MAX_CONFIGS, spec_from_source

DEFAULT_KEEP = 10  # the best ten configs of a sweep keep their params


def check_keep(keep, argument: str = "keep_models") -> int | None:
    """``keep_models`` as the store takes it: None (all), 0 (none) or K >= 1.

    Accepts ``"all"``, ``"none"``, an int, or the text of one (the CLI's ``--keep-models``);
    a K above any sweep's size (:data:`~jaxnet.sweep.spec.MAX_CONFIGS`) keeps all.

    Raises:
      ValueError: naming ``argument`` and what came.
    """
    if keep in ("all", None):
        return None
    if keep == "none":
        return 0
    if isinstance(keep, str) and keep.strip().isdigit():
        keep = int(keep)
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise ValueError(f"{argument} must be 'all', 'none' or an int >= 0; got {keep!r}")
    return None if keep >= MAX_CONFIGS else keep  # more than a sweep can have: all


def _spec(net: mlp.MLP) -> str:
    return json.dumps({f.name: getattr(net, f.name) for f in dataclasses.fields(net)})


def model_record(config_id: str, step: int, net: mlp.MLP, params, prepared) -> dict:
    """What the store keeps of one trained config (see :mod:`jaxnet.store.models`).

    Args:
      config_id: the config's id; step: the steps its params were trained for.
      net: the config's own net; params: its params (NumPy, its own shapes).
      prepared: the sweep's :class:`~.preparation.Prepared` (scalers, labels, names).
    """
    leaves = [np.asarray(layer[k]) for layer in params for k in sorted(layer)]
    layout, blob = store.encode_arrays(leaves)
    names = {"feature_names": prepared.feature_names, "target_name": prepared.target_name}
    return {
        "config_id": config_id,
        "step": int(step),
        "net": _spec(net),
        "layout": json.dumps({"arrays": json.loads(layout), **names}),
        "params": blob,
        "x_scaler": None if prepared.x_scaler is None else json.dumps(prepared.x_scaler.to_dict()),
        "y_scaler": None if prepared.y_scaler is None else json.dumps(prepared.y_scaler.to_dict()),
        "labels": None if prepared.labels is None else json.dumps(list(prepared.labels)),
    }


def _params(net: mlp.MLP, leaves: list) -> list[dict]:
    params, k = [], 0
    for _ in range(net.depth):
        names = ("b", "w") if net.bias else ("w",)
        params.append(dict(zip(names, leaves[k : k + len(names)])))
        k += len(names)
    return params


def _scaler(text):
    return None if text is None else Scaler.from_dict(json.loads(text))


def _resolve(conn, config_id, path) -> tuple[str, str]:
    """``(config id, sweep)`` of an id or a unique prefix of one."""
    if not isinstance(config_id, str):
        raise TypeError(f"config_id must be a string of hex digits; got {config_id!r}")
    found = store.config_ids_like(conn, config_id.strip().lower())
    if not found:
        raise ValueError(f"{path}: no run has config id {config_id!r}")
    exact = [f for f in found if f[0] == config_id.strip().lower()]
    if len(found) > 1 and not exact:
        shown = ", ".join(f[0][:12] for f in found[:3])
        raise ValueError(
            f"{path}: config id {config_id!r} starts {len(found)} runs' ids ({shown}...): "
            "give more digits"
        )
    return (exact or found)[0]


def load_model(store_path, config_id: str) -> Model:
    """The kept model of one config of a sweep, as a :class:`jaxnet.Model`.

    Args:
      store_path: the results store (opened read-only: nothing is written).
      config_id: the config's id (``jaxnet runs STORE --csv`` lists them), or a unique prefix.

    Returns:
      A :class:`jaxnet.Model`: its ``predict`` takes inputs in the data's own units and
      answers in the target's units or labels. Its ``config`` holds the run's config, its
      ``config_id``, ``sweep``, ``step``, the column names and the task.

    Raises:
      ValueError: naming the store, for an unknown id or a config whose model was not kept.
    """
    with store.opened(store_path, must_exist=True) as conn:
        cid, sweep = _resolve(conn, config_id, store_path)
        record = store.kept_model(conn, cid)
        config = conn.execute("SELECT config FROM runs WHERE config_id = ?", (cid,)).fetchone()
    if record is None:
        raise ValueError(
            f"{store_path}: config {cid} of sweep {sweep!r} has no kept model: the sweep kept "
            "only its best configs' params (jaxnet sweep --keep-models all keeps every one)"
        )
    return _model(record, json.loads(config[0]), sweep, store_path)


def _model(record: dict, config: dict, sweep: str, where) -> Model:
    try:
        net = mlp.MLP(**json.loads(record["net"]))
        layout = json.loads(record["layout"])
        arrays = json.dumps(layout["arrays"])
        leaves = store.decode_arrays(
            arrays, record["params"], f"{where}: model {record['config_id']}"
        )
        params = _params(net, leaves)
        mlp.check_net(net)
        labels = None if record["labels"] is None else tuple(json.loads(record["labels"]))
        x_scaler, y_scaler = _scaler(record["x_scaler"]), _scaler(record["y_scaler"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{where}: the kept model of {record['config_id']} is damaged: {e}") from e
    task = "classification" if labels is not None else "regression"
    extra = {k: layout.get(k) for k in ("feature_names", "target_name") if layout.get(k)}
    full = {
        **config,
        **extra,
        "task": task,
        "classes": list(labels) if labels else None,
        "config_id": record["config_id"],
        "sweep": sweep,
        "step": record["step"],
    }
    return Model(net, params, x_scaler, y_scaler, labels, full, __version__)


def best_config_id(store_path, sweep: str | None = None) -> str:
    """The config id of a sweep's best run with a kept model, ranked as ``jaxnet runs`` ranks.

    Args:
      store_path: the results store; sweep: the sweep's name (None: the store's only sweep).

    Raises:
      ValueError: no such sweep, several sweeps and no name, or no kept model.
    """
    with store.opened(store_path, must_exist=True) as conn:
        entries = {e["name"]: e for e in store.sweeps(conn)}
        if sweep is None and len(entries) != 1:
            names = ", ".join(entries) or "none"
            raise ValueError(f"{store_path} holds {len(entries)} sweeps ({names}): name one")
        name = sweep if sweep is not None else next(iter(entries))
        if name not in entries:
            raise ValueError(f"{store_path} has no sweep {name!r}; it has {', '.join(entries)}")
        metric = default_metric(spec_from_source(entries[name]["spec"]).settings)
        order = store.rank_order(metric, metric.endswith("accuracy"))
        kept = set(store.kept_model_ids(conn, name))
        try:
            ranked = store.ranked_config_ids(conn, name, order)
        except sqlite3.Error as e:
            raise ValueError(f"{store_path}: cannot rank sweep {name!r}: {e}") from e
    best = next((c for c in ranked if c in kept), None)
    if best is None:
        raise ValueError(
            f"{store_path}: sweep {name!r} kept no model (it ran with --keep-models none, or "
            "before jaxnet kept models): rerun it into a new store"
        )
    return best


@dataclasses.dataclass(frozen=True)
class Keeper:
    """How a sweep keeps models: how many, ranked how, with which data's scalers and labels.

    Attributes:
      sweep: the sweep's name; keep: None (all), 0 (none) or K (the best K by the metric);
      metric: what ranks them; prepared: the sweep's data (scalers, labels, column names).
    """

    sweep: str
    keep: int | None
    metric: str
    prepared: object

    @property
    def order(self) -> str:
        """The store's ranking terms (:func:`jaxnet.store.rank_order`)."""
        return store.rank_order(self.metric, self.metric.endswith("accuracy"))

    def records(self, rows: list[dict], params) -> list[dict]:
        """The model records of trained rows and their params (nothing when keeping none)."""
        if self.keep == 0:
            return []
        out = []
        for row, p in zip(rows, params):
            net = _net_of(row, p, self.prepared)
            out.append(model_record(row["config_id"], row["steps_done"], net, p, self.prepared))
        return out

    def insert(self, conn, sweep_id: int, rows: list[dict], params) -> int:
        """A group's rows and kept models in one transaction; returns rows inserted."""
        models = self.records(rows, params)
        return store.insert_runs_with_models(
            conn, sweep_id, self.sweep, rows, models, self.keep, self.order
        )


def _net_of(row: dict, params, prepared) -> mlp.MLP:
    """A stored row's own net (its config, the data's ends), checked against its params."""
    config = json.loads(row["config"])
    sizes = (prepared.n_features, *config["hidden"], prepared.n_outputs)
    return mlp.MLP(
        sizes,
        activation=config["activation"],
        bias=config["bias"],
        output_activation=config["output_activation"],
        init=config["init"],
        residual=config.get("residual", False),
        dropout=config.get("dropout", 0.0),  # recorded, as a checkpoint does; never applied
    )
