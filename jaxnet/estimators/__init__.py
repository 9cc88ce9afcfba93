"""scikit-learn estimators over :func:`jaxnet.fit` and :func:`jaxnet.fit_population`.

``MLPClassifier`` and ``MLPRegressor`` take scikit-learn's MLP parameter names and set its
fitted attributes, so a script written for ``sklearn.neural_network`` switches with one import.
``PopulationSearchCV`` is ``GridSearchCV`` whose candidates of one architecture and all their
folds train as one population: a fold is a per-member row mask over the shared data.

This package is an adapter: it turns scikit-learn's arguments into a net, a loss, an optax
optimizer and row weights, calls ``fit``/``fit_population``, and turns the results into
scikit-learn's attributes. It holds no training loop.

Compiling once per architecture: training rows are padded with rows of weight 0 up to a
bucket (``m * 2**e`` with ``16 <= m < 32``, so at most 1/16 extra), and everything that varies
between folds or candidates (rows, learning rate, ``alpha``, seed) is data, so the folds of a
``cross_val_score`` reuse one compiled program. Predictions run in float64 on padded rows too.

What differs from scikit-learn, and why:

* ``tol`` and ``n_iter_no_change`` act only with ``early_stopping=True``, where training stops
  after ``n_iter_no_change`` epochs without a lower validation *loss* (scikit-learn watches
  the validation score with ``tol``) and keeps the best params. Without early stopping every
  fit runs ``max_iter`` epochs inside one compiled program: stopping on the training loss
  would need the host every epoch. No ``ConvergenceWarning`` is raised.
* ``loss_curve_`` is the data term per epoch; the L2 term (``alpha``) is applied to the
  gradient exactly as scikit-learn does, but not added to the recorded loss.
* ``partial_fit`` runs one epoch with a fresh optimizer state on each call (``fit`` does not
  hand back its optimizer state), so Adam's moments restart per call.
* ``solver="lbfgs"``, ``learning_rate`` schedules, ``warm_start`` and ``sample_weight`` are
  not offered; ``shuffle=False`` is refused. Weights start as Glorot uniform, biases at zero.
* Training runs in float32 by default (``dtype``); predictions in float64.
* The L2 term of the last, partial batch of an epoch is scaled by the full batch size.

The package, one concept a file: :mod:`.checks` (the parameter checks), :mod:`.optimizer`
(scikit-learn's update in optax), :mod:`.plan` (net, loss and row layout of one fit),
:mod:`.base` (shared fitting and prediction), :mod:`.classifier`, :mod:`.regressor` and
:mod:`.search` (``PopulationSearchCV``).

Left out: sparse input (scikit-learn's MLP takes it), and the ``"poisson"`` regression loss.
"""

from .base import BaseMLP as BaseMLP
from .classifier import MLPClassifier as MLPClassifier
from .optimizer import make_optimizer as make_optimizer
from .plan import bucket_rows as bucket_rows
from .regressor import MLPRegressor as MLPRegressor
from .search import PopulationSearchCV as PopulationSearchCV

__all__ = [
    "MLPClassifier",
    "MLPRegressor",
    "PopulationSearchCV",
    "BaseMLP",
    "bucket_rows",
    "make_optimizer",
]
