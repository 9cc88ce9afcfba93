"""``MLPClassifier``: scikit-learn's MLP classifier, trained by jaxnet.

Labels of any type are binarized by scikit-learn's ``LabelBinarizer``: several classes get a
softmax output and cross-entropy, two classes one logistic output, a multi-label indicator
matrix one logistic output per label. Left out: the shared fitting (:mod:`.base`).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import validate_data

from .base import BaseMLP


class MLPClassifier(ClassifierMixin, BaseMLP):
    """scikit-learn's ``MLPClassifier`` trained by jaxnet (softmax or logistic outputs).

    Multiclass targets get a softmax output and cross-entropy; two classes one logistic output
    and binary cross-entropy; a multi-label indicator matrix one logistic output per label.
    Parameters and fitted attributes are scikit-learn's (see the package docstring for what
    differs), plus ``grads`` (``"auto"`` or ``"manual"`` backprop), ``dtype`` and ``dropout``
    (the rate of every hidden layer, or one per layer, while training: 0, the default, is
    scikit-learn's behaviour; predictions never drop units).
    """

    def _loss_kind(self, n_outputs: int) -> str:
        return "softmax" if self.out_activation_ == "softmax" else "logistic"

    def _validate_xy(self, X, y, *, first: bool, incremental: bool):
        X, y = validate_data(
            self, X, y, reset=first, multi_output=True, dtype=(np.float64, np.float32)
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental and set(classes) != set(self.classes_):
                raise ValueError(
                    "warm_start needs y to hold the classes of the previous fit "
                    f"({self.classes_.tolist()}); got {np.asarray(classes).tolist()}"
                )
            extra = np.setdiff1d(classes, self.classes_)
            if len(extra):
                raise ValueError(
                    f"y holds labels not in classes_ ({self.classes_.tolist()}): {extra.tolist()}"
                )
        if first:
            multiclass = self._label_binarizer.y_type_ == "multiclass"
            self.out_activation_ = "softmax" if multiclass else "logistic"
        return X, self._label_binarizer.transform(y).astype(np.float64)

    @available_if(BaseMLP._check_solver)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch on ``X``, ``y``; ``classes`` (every label) is required on the first call."""
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight, incremental=True)

    def predict_proba(self, X):
        """Class probabilities ``(n, classes)`` (``(n, labels)`` for multi-label targets)."""
        out = self._forward(X)
        if self.out_activation_ == "softmax":
            z = out - out.max(axis=1, keepdims=True)
            e = np.exp(z)
            return e / e.sum(axis=1, keepdims=True)
        if out.shape[1] == 1:
            return np.hstack([1.0 - out, out])
        return out

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`."""
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """Predicted labels ``(n,)`` (an indicator matrix for multi-label targets)."""
        proba = self.predict_proba(X)
        if self.out_activation_ == "logistic" and self._label_binarizer.y_type_ == "binary":
            proba = proba[:, 1:]
        return self._label_binarizer.inverse_transform(proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
