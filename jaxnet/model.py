"""A trained network saved with what it needs to predict: ``jn.save``, ``jn.load``, ``Model``.

A :class:`Model` bundles the spec, the params, the input scaler fitted on the training data,
the regression target's scaler or the class labels, and the training config. Its
:meth:`Model.predict` takes inputs in their original units and answers in the target's
original units or labels: the path ``jaxnet predict`` takes. Files are ``jaxnet.checkpoint``
files (one ``.npz``, written atomically, no pickle, SHA-256 checked), so ``jaxnet predict``
reads what :func:`save` writes and :func:`load` reads what ``jaxnet train`` writes.

Left out: training state, populations (save one member: ``jax.tree.map(lambda a: a[i], p)``).
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from . import checkpoint, mlp
from .data import Scaler


@dataclasses.dataclass(frozen=True, eq=False)
class Model:
    """What :func:`load` returns: a frozen network with its scalers and labels.

    Attributes:
      net: the :class:`~jaxnet.MLP` spec; params: its parameters (NumPy arrays as saved).
      x_scaler: the input :class:`~jaxnet.Scaler` fitted on the training rows, or None.
      y_scaler: a regression target's scaler, or None.
      labels: a classifier's class labels, one per output (two for one sigmoid output);
        None for a regressor.
      config: the JSON config saved with the model (``jaxnet train`` puts its settings,
        history and metrics there).
      version: the jaxnet version that wrote the file.
    """

    net: mlp.MLP
    params: list
    x_scaler: Scaler | None
    y_scaler: Scaler | None
    labels: tuple | None
    config: dict
    version: str

    @property
    def is_classifier(self) -> bool:
        return self.labels is not None

    def __repr__(self) -> str:
        net = self.net
        shape = "-".join(map(str, net.sizes))
        words = [net.activation] if net.depth > 1 else []
        words += [] if net.output_activation == "identity" else [f"{net.output_activation} output"]
        words += ["residual"] if net.residual else []
        words += [] if net.bias else ["no bias"]
        acts = " ".join([shape, ", ".join(words)]).strip()
        parts = [acts, f"{net.n_params:,} params"]
        parts.append(f"x_scaler {_scaler_words(self.x_scaler)}")
        if self.is_classifier:
            parts.append(f"labels {_labels_words(self.labels)}")
        else:
            parts.append(f"regression, y_scaler {_scaler_words(self.y_scaler)}")
        return f"Model({', '.join(parts)}; jaxnet {self.version})"

    def outputs(self, x) -> np.ndarray:
        """The net's raw outputs (logits for a softmax classifier) as float64.

        Args:
          x: ``(features,)`` or ``(n, features)`` finite inputs in their original units.

        Returns:
          ``(outputs,)`` or ``(n, outputs)``.
        """
        x = _inputs(self.net, x)
        scaled = x if self.x_scaler is None else self.x_scaler.transform(x)
        _check_scaled(x, scaled, np.dtype(self.params[0]["w"].dtype))
        return np.asarray(mlp.forward(self.net, self.params, scaled), dtype=np.float64)

    def predict_proba(self, x) -> np.ndarray:
        """Class probabilities, one column per label in :attr:`labels` order.

        Args:
          x: ``(features,)`` or ``(n, features)`` inputs in their original units.

        Returns:
          ``(n_labels,)`` or ``(n, n_labels)`` float64 rows that sum to 1.

        Raises:
          ValueError: for a regressor (a model saved without labels).
        """
        if not self.is_classifier:
            raise ValueError(
                "predict_proba needs a classifier; this model was saved without labels "
                "(a regressor: use predict)"
            )
        z = self.outputs(x)
        if self.net.sizes[-1] == 1:  # one sigmoid output: P(labels[1])
            return np.concatenate([1.0 - z, z], axis=-1)
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def predict(self, x) -> np.ndarray:
        """Predictions in the target's terms: a label per row, or values in original units.

        Args:
          x: ``(features,)`` or ``(n, features)`` inputs in their original units.

        Returns:
          A classifier's labels, ``()`` or ``(n,)`` (the most probable; the first on a tie);
          a regressor's outputs, ``(outputs,)`` or ``(n, outputs)``, mapped back through
          :attr:`y_scaler`.
        """
        if self.is_classifier:
            return np.asarray(self.labels)[self.predict_proba(x).argmax(axis=-1)]
        z = self.outputs(x)
        return z if self.y_scaler is None else self.y_scaler.inverse(z)

    def accuracy(self, x, labels) -> float:
        """Share of rows whose predicted label equals ``labels``.

        Args:
          x: ``(n, features)`` inputs in their original units.
          labels: ``(n,)`` true labels of the kind :attr:`labels` holds (what :meth:`predict`
            returns). Class indices of a dataset whose labels are not ``0..k-1`` are refused:
            map them with ``dataset.labels_of(y)``.

        Returns:
          A float in [0, 1].

        Raises:
          ValueError: for a regressor, a length mismatch, or labels the model does not know
            (one line naming them), before anything is computed.
        """
        if not self.is_classifier:
            raise ValueError("accuracy needs a classifier; this model is a regressor")
        truth = np.asarray(labels)
        x = _inputs(self.net, x)
        n = 1 if x.ndim == 1 else len(x)
        if truth.shape not in ((n,), ()) or (truth.ndim == 0 and n != 1):
            raise ValueError(
                f"labels must have shape ({n},) to match x's {n} rows; got {truth.shape}"
            )
        unknown = _unknown_labels(truth, self.labels)
        if unknown:
            shown = ", ".join(map(repr, unknown[:3])) + (", ..." if len(unknown) > 3 else "")
            raise ValueError(
                f"labels holds {shown}, which the model does not know (its labels: "
                f"{_labels_words(self.labels)}); class indices map to labels with "
                "dataset.labels_of(y)"
            )
        return float(np.mean(self.predict(x) == truth))


def _unknown_labels(truth: np.ndarray, labels: tuple) -> list:
    """The distinct values of ``truth`` that are not among ``labels``, first few first."""
    known = set(labels)
    try:
        values = np.unique(truth).tolist()
    except TypeError:  # an object array of mixed kinds cannot be sorted
        values = list(dict.fromkeys(truth.ravel().tolist()))
    return [v for v in values if v not in known]


def _scaler_words(scaler: Scaler | None) -> str:
    return "none" if scaler is None else scaler.kind


def _labels_words(labels: tuple) -> str:
    """``0..9`` for labels that are their own indices, else the first few, quoted."""
    if labels == tuple(range(len(labels))):
        return f"0..{len(labels) - 1}"
    shown = ", ".join(map(repr, labels[:4])) + (", ..." if len(labels) > 4 else "")
    return f"({shown}) ({len(labels)})" if len(labels) > 4 else f"({shown})"


def _inputs(net: mlp.MLP, x) -> np.ndarray:
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"x must be an array of numbers; got {type(x).__name__}: {e}") from e
    n = net.sizes[0]
    if x.ndim not in (1, 2) or x.shape[-1] != n or (x.ndim == 2 and x.shape[0] == 0):
        raise ValueError(
            f"x must have shape ({n},) or (n, {n}) for the net's {n} inputs; got {x.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("x must be finite; it holds NaN or infinity")
    return x


def _check_scaled(x: np.ndarray, scaled: np.ndarray, dtype: np.dtype) -> None:
    """Refuse an input that its scaling takes beyond the params' dtype, naming the value the
    caller gave (not the scaled one, which the caller never saw)."""
    with np.errstate(over="ignore", invalid="ignore"):
        bad = ~np.isfinite(np.asarray(scaled).astype(dtype))
    if not bad.any():
        return
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    became = "" if scaled is x else f"; scaled as in training it is {scaled[where]:g}"
    raise ValueError(
        f"x holds {x[where]:g} at index {where}{became}, beyond the range of {dtype.name} "
        f"(largest {float(np.finfo(dtype).max):.4g}), the model's dtype"
    )


def _labels(net: mlp.MLP, labels) -> list | None:
    """``labels`` as a JSON-ready list, checked against the net's outputs."""
    if labels is None:
        return None
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__len__"):
        raise TypeError(f"labels must be a sequence of class labels; got {labels!r}")
    out = [v.item() if isinstance(v, np.generic) else v for v in labels]
    if not all(isinstance(v, (str, numbers.Real)) and not isinstance(v, bool) for v in out):
        raise TypeError(f"labels must be strings or numbers; got {out!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"labels must be distinct; got {out!r}")
    outputs = net.sizes[-1]
    if outputs == 1:
        if len(out) != 2 or net.output_activation != "sigmoid":
            raise ValueError(
                "a one-output classifier needs output_activation='sigmoid' and two labels "
                f"(negative, positive); got {net.output_activation!r} and {len(out)} labels"
            )
    elif len(out) != outputs:
        raise ValueError(f"labels must have one label per output ({outputs}); got {len(out)}")
    return out


def save(path, net, params, *, x_scaler=None, y_scaler=None, labels=None, config=None):
    """Save a trained network with what :meth:`Model.predict` needs, atomically.

    Args:
      path: destination file (``.jaxnet`` by convention); parent directories are created.
      net: the :class:`~jaxnet.MLP`; params: its parameters.
      x_scaler: the :class:`~jaxnet.Scaler` fitted on the training inputs, if any.
      y_scaler: a regression target's scaler, if any.
      labels: a classifier's class labels in output order (strings or numbers); two labels
        (negative, positive) for one sigmoid output. None for a regressor.
      config: a JSON-serialisable dict kept with the model.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.

    Raises:
      ValueError, TypeError: naming the argument, before anything is written.
    """
    if config is not None and not isinstance(config, dict):
        raise TypeError(f"config must be a dict or None; got {type(config).__name__}")
    if not isinstance(net, mlp.MLP):
        raise TypeError(f"net must be a jaxnet.MLP; got {type(net).__name__}")
    checked = _labels(net, labels)
    if checked is not None and y_scaler is not None:
        raise ValueError("y_scaler is for a regressor's targets; a classifier (labels) has none")
    config = dict(config or {})
    if checked is not None:
        config.update(task="classification", classes=checked)
    config.setdefault("task", "regression")
    return checkpoint.save(path, net, params, x_scaler=x_scaler, y_scaler=y_scaler, config=config)


def from_checkpoint(ck: checkpoint.Checkpoint) -> Model:
    """The :class:`Model` of a loaded checkpoint (``jaxnet train``'s or :func:`save`'s)."""
    labels = None
    if ck.config.get("task") == "classification":
        classes = ck.config.get("classes")
        labels = tuple(_labels(ck.net, classes) if classes else range(ck.net.sizes[-1]))
    return Model(ck.net, ck.params, ck.x_scaler, ck.y_scaler, labels, ck.config, ck.version)


def load(path) -> Model:
    """Read a model written by :func:`save` or ``jaxnet train``.

    Raises:
      ValueError: naming the file, if it is not an intact jaxnet checkpoint.
      OSError: if it cannot be read.
    """
    ck = checkpoint.load(path)
    try:
        return from_checkpoint(ck)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: bad class labels in its config: {e}") from e
