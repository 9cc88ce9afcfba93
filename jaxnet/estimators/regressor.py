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

    Parameters and fitted attributes are scikit-learn's (see the module docstring for what
    differs), plus ``grads``, ``dtype`` and ``dropout`` (as ``MLPClassifier``). Multi-output
    targets ``(n, outputs)`` are supported.
    """

    def _loss_for(self, n_outputs: int):
        # scikit-learn's squared error is half of jaxnet's "mse".
        return "mse", "identity", 0.5

    def _validate_xy(self, X, y, reset: bool):
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if reset:
            self._y_ndim = y.ndim
            self.out_activation_ = "identity"
        Y = y.reshape(len(y), -1).astype(np.float64)
        if not reset and Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y must have {self.n_outputs_} outputs as before; got {Y.shape[1]}")
        return X, Y

    def _validation_scores(self, history, y_val):
        spread = np.mean((y_val - y_val.mean(0)) ** 2)
        return 1.0 - np.asarray(history.val_loss, np.float64) / max(spread, 1e-300)

    def predict(self, X):
        """Predictions ``(n,)``, or ``(n, outputs)`` when fitted on 2-D targets."""
        out = self._forward(X)
        return out.ravel() if self._y_ndim == 1 and out.shape[1] == 1 else out
