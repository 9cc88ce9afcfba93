"""``MLPRegressor``: scikit-learn's MLP regressor, trained by jaxnet (squared error).

Left out: the shared fitting (:mod:`.base`) and the ``"poisson"`` loss.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils import column_or_1d
from sklearn.utils.validation import validate_data

from .base import BaseMLP


class MLPRegressor(RegressorMixin, BaseMLP):
    """scikit-learn's ``MLPRegressor`` trained by jaxnet (identity output, squared error).

    Parameters and fitted attributes are scikit-learn's (see the package docstring for what
    differs), plus ``grads``, ``dtype`` and ``dropout`` (as ``MLPClassifier``). Multi-output
    targets ``(n, outputs)`` are supported.
    """

    def _loss_kind(self, n_outputs: int) -> str:
        return "squared"

    def _validate_xy(self, X, y, *, first: bool, incremental: bool):
        X, y = validate_data(
            self,
            X,
            y,
            reset=first,
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if first:
            self._y_ndim = y.ndim
            self.out_activation_ = "identity"
        return X, y.reshape(len(y), -1).astype(np.float64)

    def predict(self, X):
        """Predictions ``(n,)``, or ``(n, outputs)`` when fitted on 2-D targets."""
        out = self._forward(X)
        return out.ravel() if self._y_ndim == 1 and out.shape[1] == 1 else out
