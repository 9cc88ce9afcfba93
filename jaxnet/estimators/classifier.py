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
from sklearn.utils.multiclass import _check_partial_fit_first_call, check_classification_targets
from sklearn.utils.validation import validate_data

from .base import BaseMLP
from .plan import seed_of


class MLPClassifier(ClassifierMixin, BaseMLP):
    """scikit-learn's ``MLPClassifier`` trained by jaxnet (softmax or logistic outputs).

    Multiclass targets get a softmax output and cross-entropy; two classes one logistic output
    and binary cross-entropy; a multi-label indicator matrix one logistic output per label.
    Parameters and fitted attributes are scikit-learn's (see the module docstring for what
    differs), plus ``grads`` (``"auto"`` or ``"manual"`` backprop), ``dtype`` and ``dropout``
    (the rate of every hidden layer, or one per layer, while training: 0, the default, is
    scikit-learn's behaviour; predictions never drop units).
    """

    def _loss_for(self, n_outputs: int):
        if self.out_activation_ == "softmax":
            return "cross_entropy", "identity", 1.0
        # scikit-learn sums the binary log loss over outputs; jaxnet's averages it.
        return "binary_cross_entropy", "sigmoid", float(n_outputs)

    def _validate_xy(self, X, y, reset: bool, classes=None):
        X, y = validate_data(
            self, X, y, reset=reset, multi_output=True, dtype=(np.float64, np.float32)
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if reset:
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if classes is None else classes)
            self.classes_ = self._label_binarizer.classes_
            multiclass = self._label_binarizer.y_type_ == "multiclass"
            self.out_activation_ = "softmax" if multiclass else "logistic"
        elif not set(np.unique(y)) <= set(self.classes_) and y.ndim == 1:
            extra = sorted(set(np.unique(y)) - set(self.classes_))
            raise ValueError(
                f"y holds labels not seen in the first call (classes_={self.classes_}): {extra}"
            )
        Y = self._label_binarizer.transform(y).astype(np.float64)
        return X, Y

    def partial_fit(self, X, y, classes=None):
        """One epoch on ``X``, ``y``; ``classes`` (every label) is required on the first call."""
        if _check_partial_fit_first_call(self, classes):
            X, Y = self._validate_xy(X, y, reset=True, classes=classes)
            self._partial_calls = 1
            seed = seed_of(self.random_state) + 1
            self._fit_rows(X, Y, params=None, epochs=1, early=False, seed=seed)
            return self
        return super().partial_fit(X, y)

    def _validation_scores(self, history, y_val):
        return np.asarray(history.val_accuracy, np.float64)

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
