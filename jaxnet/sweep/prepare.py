"""A sweep's data: loaded, split and scaled once for all its groups; nets built from configs."""

from __future__ import annotations

import dataclasses

from .. import data, mlp
from .spec import Sweep, SweepError

# --- data -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A sweep's data, split and scaled once for all its groups.

    Attributes:
      parts: ``{"train": (x, y), "validation": ..., "test": ...}`` (the parts that exist):
        ``x`` ``(n, features)`` scaled with a scaler fitted on the training rows; ``y`` class
        indices ``(n,)`` or scaled regression targets ``(n,)``.
      task: ``"classification"`` or ``"regression"``; n_features, n_outputs: the net's ends.
    """

    parts: dict
    task: str
    n_features: int
    n_outputs: int


def _scaled(parts: dict, kind: str, column: int) -> dict:
    """Scale column 0 (inputs) or 1 (targets) of every part with a train-fitted scaler."""
    if kind == "none":
        return parts
    scaler = data.Scaler.fit(parts["train"][column], kind)
    return {
        k: tuple(scaler.transform(a) if i == column else a for i, a in enumerate(v))
        for k, v in parts.items()
    }


def prepare(sweep: Sweep) -> Prepared:
    """Load, split and scale the sweep's dataset (see :class:`Prepared`)."""
    s = sweep.settings
    dataset = data.load(sweep.dataset, seed=s["data_seed"])
    parts = data.partition(dataset, s["val_fraction"], s["test_fraction"], s["data_seed"])
    parts = _scaled(parts, s["scaler"], 0)
    if dataset.task == "regression":
        parts = _scaled(parts, s["target_scaler"], 1)
    outputs = dataset.n_classes if dataset.task == "classification" else 1
    return Prepared(parts, dataset.task, dataset.x.shape[1], outputs)


def _check_metric_data(metric: str, prepared: Prepared) -> None:
    part = {"val": "validation", "test": "test", "train": "train"}[metric.split("_")[-2]]
    if part not in prepared.parts:
        raise SweepError(f"metric {metric!r} needs a {part} set; this sweep's data has none")
    if metric.endswith("accuracy") and prepared.task != "classification":
        raise SweepError(f"metric {metric!r} needs a classification dataset")


def checked_parts(prepared: Prepared, net: mlp.MLP, loss: str) -> dict:
    """Every part as checked ``(x, y)`` arrays (one-hot targets), ready for evaluation."""
    import jax

    from .. import _validate

    probe = jax.eval_shape(lambda: mlp.init(net, jax.random.key(0)))  # shapes only: no compile
    return {k: _validate.batch(net, probe, x, y, loss) for k, (x, y) in prepared.parts.items()}


# --- training one group -----------------------------------------------------------------------


def net_for(config: dict, prepared: Prepared) -> mlp.MLP:
    """The spec of a config's network on the prepared data."""
    sizes = (prepared.n_features, *config["hidden"], prepared.n_outputs)
    return mlp.MLP(
        sizes,
        activation=config["activation"],
        bias=config["bias"],
        output_activation=config["output_activation"],
        init=config["init"],
        residual=config.get("residual", False),
    )
