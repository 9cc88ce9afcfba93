"""scikit-learn estimators trained by jaxnet: the same fits as scikit-learn's MLP, faster.

``MLPClassifier`` and ``MLPRegressor`` take scikit-learn's MLP parameter names, validate them
with scikit-learn's own constraints, follow its fit step by step and set its fitted
attributes, so a script written for ``sklearn.neural_network`` switches with one import. With
the same ``random_state`` and float64 data they draw the same weights and biases, visit the
rows in the same shuffled batches, apply the same Adam or SGD update (``learning_rate``
schedules, momentum, Nesterov), the same L2 term and the same ``tol`` / ``n_iter_no_change``
or ``early_stopping`` rule, so ``coefs_``, ``loss_curve_``, ``n_iter_`` and ``t_`` equal
scikit-learn's to rounding; ``solver="lbfgs"`` minimises the same objective with
``optax.lbfgs``. ``sample_weight``, ``warm_start`` and ``partial_fit`` (which keeps the
optimizer state) work as in scikit-learn. A fit that diverges raises ``ValueError``; one that
runs out of ``max_iter`` warns with ``ConvergenceWarning``.

The searches are scikit-learn's (``GridSearchCV``, ``RandomizedSearchCV``,
``HalvingGridSearchCV``, ``HalvingRandomSearchCV``) with their fits trained ahead as
populations: ``PopulationSearchCV``, ``RandomizedPopulationSearchCV``,
``HalvingPopulationSearchCV``, ``HalvingRandomPopulationSearchCV``.

What differs from scikit-learn, and why:

* ``dtype``: None (the default) trains in ``X``'s dtype as scikit-learn does; ``"float32"``
  trains faster, ``"float64"`` in double precision whatever the data (scoped with
  ``jax.enable_x64``: JAX's global setting is not changed). Predictions run in float64.
* ``partial_fit`` keeps the shuffling generator between calls, so ``N`` calls on the same rows
  equal one ``fit`` of ``N`` epochs (scikit-learn reseeds it on every call).
* A divergence (a non-finite loss or weight at the end of an epoch) stops that fit at once
  and raises; scikit-learn carries on with NaNs and raises at the end.
* ``solver="lbfgs"`` is optax's L-BFGS, not SciPy's: the same objective and stopping rules,
  other iterates.
* ``grads="manual"`` trains with jaxnet's hand-written backward pass; ``dropout`` (0 by
  default: scikit-learn's fit) drops hidden units while training, never when predicting.
* Left out: sparse input, the ``"poisson"`` loss, and the solvers beyond scikit-learn's.

The package, one concept a file: :mod:`.checks` (parameters), :mod:`.objective`
(scikit-learn's loss on a batch), :mod:`.optimizer` (its updates in optax), :mod:`.tasks` (one
fit prepared as scikit-learn prepares it), :mod:`.epochs` (the compiled epochs of P members),
:mod:`.engine` (the host loop and row orders), :mod:`.lbfgs`, :mod:`.base`,
:mod:`.classifier`, :mod:`.regressor`, :mod:`.prefit` (fits recorded, trained together,
served), :mod:`.search` and :mod:`.halving`.
"""

from .base import BaseMLP as BaseMLP
from .classifier import MLPClassifier as MLPClassifier
from .engine import bucket_rows as bucket_rows
from .halving import HalvingPopulationSearchCV as HalvingPopulationSearchCV
from .halving import HalvingRandomPopulationSearchCV as HalvingRandomPopulationSearchCV
from .optimizer import sklearn_optimizer as sklearn_optimizer
from .regressor import MLPRegressor as MLPRegressor
from .search import PopulationSearchCV as PopulationSearchCV
from .search import RandomizedPopulationSearchCV as RandomizedPopulationSearchCV
from .tasks import draw_params as draw_params

__all__ = [
    "MLPClassifier",
    "MLPRegressor",
    "PopulationSearchCV",
    "RandomizedPopulationSearchCV",
    "HalvingPopulationSearchCV",
    "HalvingRandomPopulationSearchCV",
    "BaseMLP",
    "bucket_rows",
    "draw_params",
    "sklearn_optimizer",
]
