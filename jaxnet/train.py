"""Training one network: :func:`fit`, its :class:`History`, and the checks it shares.

``fit`` checks its arguments on the host, then calls a compiled chunk
(:mod:`jaxnet.chunks`) once per ``eval_every`` steps; chunk boundaries are where progress is
shown, validation is evaluated and early stopping is decided. A step that goes non-finite
freezes the model at its last finite parameters and the history says ``"diverged"``: no
exception, so nothing already trained is lost. Optimizers come from :mod:`jaxnet.optimizers`.

The names of the chunk and optimizer modules that users of ``jaxnet.train`` reached here
before they had modules of their own stay importable from it (``train.OPTIMIZERS``,
``train.run_chunk``, ...). Left out: callbacks inside the compiled loop.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from . import _progress, _validate
from ._limits import int_in_range
from .chunks import (
    GRAD_FNS,
    WEIGHTED_GRAD_FNS,
    Batcher,
    TrainState,
    checked_chunk,
    epoch_orders,
    fast_chunk,
    init_state,
    minibatch,
    run_chunk,
    run_chunk_weighted,
    run_fast_chunk,
    train_chunk,
    train_chunk_weighted,
    weighted_epoch_order,
    weighted_epoch_orders,
    with_dropout,
)
from .metrics import accuracy, evaluate_batch, evaluate_jit
from .mlp import MLP, check_net, without_dropout
from .optimizers import (
    OPTIMIZERS,
    check_injected_learning_rate,
    named_optimizer,
    regularized_optimizer,
    resolve_optimizer,
    set_hyperparams,
    set_learning_rate,
)
from .tiers import Ladder, chunks_after, enabled, training_flops

__all__ = [  # fit's own names, then the ones re-exported from chunks, metrics and optimizers
    "History",
    "fit",
    "check_fit_args",
    "check_weights",
    "check_patience",
    "pad_rows",
    "chunking",
    "progress_bar",
    "GRAD_FNS",
    "WEIGHTED_GRAD_FNS",
    "Batcher",
    "TrainState",
    "checked_chunk",
    "epoch_orders",
    "fast_chunk",
    "init_state",
    "minibatch",
    "run_chunk",
    "run_chunk_weighted",
    "run_fast_chunk",
    "train_chunk",
    "train_chunk_weighted",
    "weighted_epoch_order",
    "weighted_epoch_orders",
    "accuracy",
    "evaluate_batch",
    "evaluate_jit",
    "OPTIMIZERS",
    "check_injected_learning_rate",
    "named_optimizer",
    "resolve_optimizer",
    "set_hyperparams",
    "set_learning_rate",
]


@dataclasses.dataclass(frozen=True)
class History:
    """What happened during :func:`fit`, as NumPy arrays.

    Attributes:
      loss: ``(steps_run,)`` training loss before each step (non-finite at a divergence).
      eval_step: ``(evals,)`` step count at each validation evaluation.
      val_loss, val_accuracy: ``(evals,)`` validation metrics (accuracy NaN for regression).
      status: ``"completed"``, ``"early_stopped"`` or ``"diverged"``.
      steps: updates applied to the returned params' run (the step that diverged, if any).
      best_step: step of the best validation loss, or None without validation.
      message: one line saying how it ended.
      seconds: wall time of the whole fit, compiles included.
      chunk_tiers: the compile tier (:mod:`jaxnet.tiers`) of the program each chunk ran on.
    """

    loss: np.ndarray
    eval_step: np.ndarray
    val_loss: np.ndarray
    val_accuracy: np.ndarray
    status: str
    steps: int
    best_step: int | None
    message: str
    seconds: float
    chunk_tiers: tuple = ()

    def __repr__(self) -> str:
        last = f", final loss {self.loss[-1]:.4g}" if len(self.loss) else ""
        evals = f", {len(self.eval_step)} evaluations" if len(self.eval_step) else ""
        best = f", best_step {self.best_step}" if self.best_step is not None else ""
        return (
            f"History({self.status}, {self.steps} steps{last}{evals}{best}, {self.seconds:.1f} s)"
        )


def check_fit_args(net, steps, batch_size, grads, eval_every, n_rows):
    """Validate the scalar arguments shared by ``fit`` and ``fit_population``."""
    check_net(net)
    enabled()  # a bad $JAXNET_TIERS is refused here, before anything is traced
    int_in_range(steps, "steps", 1)
    int_in_range(eval_every, "eval_every", 1)
    if grads not in GRAD_FNS:
        raise ValueError(f"grads must be 'auto' or 'manual'; got {grads!r}")
    if batch_size is not None and not 1 <= int_in_range(batch_size, "batch_size", 1) <= n_rows:
        raise ValueError(
            f"batch_size must be between 1 and the {n_rows} training rows; got {batch_size}"
        )


def check_patience(patience, validation) -> int:
    """``patience`` as a positive int, given the validation data it watches."""
    int_in_range(patience, "patience", 1)
    if validation is None:
        raise ValueError("patience needs validation=(x_val, y_val) to watch")
    return int(patience)


def chunking(steps: int, eval_every: int) -> tuple[int, int]:
    """``(n_chunks, length)``: chunks of at most ``eval_every`` steps, as even as possible."""
    n_chunks = math.ceil(steps / eval_every)
    return n_chunks, math.ceil(steps / n_chunks)


def progress_bar(total: int, progress: bool | None, desc: str):
    """A tqdm bar (a widget in a Jupyter notebook, text on stderr elsewhere); with
    ``progress=None`` it shows in a terminal or a notebook only (``_progress.wanted``)."""
    from tqdm.auto import tqdm

    enabled = _progress.wanted(progress)
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, unit="step")


def fit(
    net: MLP,
    params: list[dict],
    x,
    y,
    *,
    loss: str,
    optimizer,
    steps: int,
    learning_rate=None,
    batch_size: int | None = None,
    grads: str = "auto",
    key=None,
    validation=None,
    eval_every: int = 500,
    patience: int | None = None,
    progress: bool | None = None,
    restore_best: bool = False,
    weights=None,
    hyperparams: dict | None = None,
    weight_decay=None,
    l2=None,
    lr_schedule=None,
):
    """Train one network.

    Args:
      net: the spec; params: its initial parameters (list of layer dicts).
      x: ``(n, features)``; y: ``(n, outputs)``, ``(n,)`` or integer labels (cross-entropy).
      loss: a loss name (see ``jaxnet.losses``).
      optimizer: an optax ``GradientTransformation`` (e.g. ``optax.sgd(1.0)``), or a name from
        :data:`OPTIMIZERS` together with ``learning_rate``. With a name, runs that differ only
        in learning rate share one compiled program.
      steps: number of optimizer steps.
      learning_rate: the learning rate for a named optimizer (or an ``inject_hyperparams`` one).
      batch_size: minibatch size, drawn in shuffled epochs inside the compiled program; None
        for full batch.
      grads: ``"auto"`` (``jax.grad``) or ``"manual"`` (hand-written backprop).
      key: ``jax.random`` key (or int seed) for the minibatch order (default ``key(0)``).
      validation: ``(x_val, y_val)``, evaluated every ``eval_every`` steps.
      eval_every: steps per compiled chunk (and between evaluations and progress updates).
      patience: with validation, stop after this many evaluations without a lower validation
        loss and return the best parameters.
      progress: show a progress bar; None shows it when stderr is a terminal or in a Jupyter
        notebook (a widget there).
      restore_best: with validation, train all ``steps`` (or until ``patience`` runs out) but
        return the params of the evaluation with the lowest validation loss
        (``history.best_step``), not the last ones.
      weights: ``(n,)`` non-negative row weights, or None. Rows of weight 0 take no part (a
        row mask; padding), and a batch's loss is its rows' weighted mean. Epochs are then
        ``ceil(n / batch_size)`` steps, a step over a batch that weighs nothing is skipped,
        and ``steps`` counts those steps too (see :func:`train_chunk_weighted`).
      hyperparams: ``{name: value}`` set in an ``inject_hyperparams`` optimizer's state (e.g.
        a weight decay), so runs differing only in them share the compiled program.
      weight_decay: None, or ``λ >= 0``: decoupled weight decay of the weights (``w -= lr * λ
        * w`` each step, AdamW's); needs a named optimizer (see :mod:`jaxnet.optimizers`).
      l2: None, or ``λ >= 0``: the L2 term ``λ/2 ||w||²`` of the weights in the loss, its
        gradient added before the optimizer (``history.loss`` stays the data term).
      lr_schedule: None (constant), ``"cosine"``, ``"warmup_cosine"``, ``"exponential"`` or a
        :class:`jaxnet.schedules.Schedule` with its values: the learning rate over the
        ``steps``; needs a named optimizer. Its values are data: runs that differ in them
        share the compiled program.

    Dropout: a net with ``dropout`` trains with new masks every step, drawn from ``key`` and
    the step count (:func:`jaxnet.chunks.mask_key`), so a run is reproducible from its key;
    validation and the returned params' use are deterministic.

    Returns:
      ``(params, history)``: trained params (the best ones when early stopping or
      ``restore_best`` was asked for, the last finite ones after a divergence) and a
      :class:`History`.
    """
    start = time.perf_counter()
    _validate.loss_for(check_net(net), loss)
    _validate.params(net, params)
    x, y = _validate.batch(net, params, x, y, loss)
    check_fit_args(net, steps, batch_size, grads, eval_every, x.shape[0])
    if patience is not None:
        check_patience(patience, validation)
    if not isinstance(restore_best, bool):
        raise TypeError(f"restore_best must be True or False; got {restore_best!r}")
    if restore_best and validation is None:
        raise ValueError("restore_best=True needs validation=(x_val, y_val) to pick the best")
    for name, value in (("weight_decay", weight_decay), ("l2", l2)):
        if value is not None and np.ndim(value) != 0 and not isinstance(value, str):
            raise ValueError(
                f"{name} must be one number for fit; got shape {np.shape(value)} "
                "(one per member: jaxnet.fit_population)"
            )
    tx, learning_rate, values = regularized_optimizer(
        optimizer,
        learning_rate,
        params,
        steps=steps,
        l2=l2,
        weight_decay=weight_decay,
        lr_schedule=lr_schedule,
    )
    val = _validation_batch(net, params, validation, loss)
    key = _default_key() if key is None else _validate.prng_key(key, "key")
    state = init_state(params, tx, key, learning_rate)
    if values or hyperparams:
        values = {**values, **(hyperparams or {})}
        state = state._replace(opt_state=set_hyperparams(state.opt_state, values))
    state = with_dropout(state, net.dropout_rates if any(net.dropout_rates) else None)
    # the rates are in the state: every rate shares the program of the net without dropout
    static = dict(net=without_dropout(net), loss=loss, tx=tx, grads=grads, batch_size=batch_size)
    w = None
    if weights is not None:
        x, y, w = pad_rows(x, y, check_weights(weights, x.shape[0]), batch_size)
    run = _Chunks(static, batch_size or x.shape[0], w)
    return _fit_loop(
        state, x, y, val, steps, eval_every, patience, progress, static, start, run, restore_best
    )


class _Chunks:
    """fit's chunk programs, each a :class:`~jaxnet.tiers.Ladder` (tier 1 first, tier 2 when
    it pays): unguarded while the chunk ends within the run, rerun guarded only when it went
    non-finite (as :func:`checked_chunk`); with row weights, the weighted chunk.

    Args:
      static: the chunk's static arguments but its length; rows: rows a step reads;
      weights: the padded row weights, or None.
    """

    def __init__(self, static: dict, rows: int, weights=None):
        self._static, self._rows, self._weights = static, rows, weights
        self._ladders: dict = {}
        self.tiers: list = []  # the tier each chunk ran on

    def _run(self, kind: str, fn, args: tuple, length: int, left: int):
        if kind not in self._ladders:
            static = dict(self._static, length=length)
            flops = training_flops(static["net"].n_params, self._rows, length)
            self._ladders[kind] = Ladder(f"fit_{kind}", fn, args, static, flops=flops)
        ladder = self._ladders[kind]
        out = ladder(*args, chunks_left=left)
        self.tiers.append(ladder.tier)
        return out

    def __call__(self, state, x, y, total: int, done: int, *, length: int, **_):
        """One chunk from step ``done`` of ``total``; returns ``(state, losses)``."""
        left = chunks_after(done, length, total)
        if self._weights is not None:
            args = (state, x, y, self._weights, np.int32(total))
            return self._run("weighted", train_chunk_weighted, args, length, left)
        if done + length <= total:
            new, values, finite = self._run("fast", fast_chunk, (state, x, y), length, left)
            if bool(finite):
                return new, values
            self.tiers.pop()  # rerun guarded: only the guarded chunk counts
        args = (state, x, y, np.int32(total))
        return self._run("guarded", train_chunk, args, length, left)


def check_weights(weights, n: int) -> np.ndarray:
    """``weights`` as a float ``(n,)`` array of non-negative finite values, not all zero."""
    w = np.asarray(weights)
    if w.dtype.kind not in "biuf" or w.shape != (n,):
        raise ValueError(
            f"weights must be a numeric array of shape ({n},), one per row of x; "
            f"got {w.dtype} of shape {w.shape}"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        raise ValueError("weights must be finite, non-negative and not all zero")
    return w


def pad_rows(x, y, weights, batch_size: int | None):
    """``x``, ``y``, ``weights`` with rows of weight 0 appended up to a multiple of the batch."""
    n = x.shape[0]
    extra = 0 if batch_size is None else -n % batch_size
    w = _validate.to_device(np.concatenate([weights, np.zeros(extra)]), x.dtype)
    if extra == 0:
        return x, y, w
    return (
        jnp.concatenate([x, jnp.zeros((extra, x.shape[1]), x.dtype)]),
        jnp.concatenate([y, jnp.zeros((extra, y.shape[1]), y.dtype)]),
        w,
    )


@functools.cache
def _default_key():
    # Made once, on first use: a new key per call is an eager op on the device each time.
    return jax.random.key(0)


def _validation_batch(net, params, validation, loss):
    if validation is None:
        return None
    if not isinstance(validation, (tuple, list)) or len(validation) != 2:
        raise TypeError("validation must be a pair (x_val, y_val)")
    return _validate.batch(net, params, validation[0], validation[1], loss)


def _fit_loop(
    state, x, y, val, steps, eval_every, patience, progress, static, start, run, restore_best=False
):
    n_chunks, length = chunking(steps, eval_every)
    chunk_losses, evals, done = [], [], 0
    best = (math.inf, state.params, None)
    status, message = "completed", f"completed {steps} steps"
    with progress_bar(steps, progress, "fit") as bar:
        for _ in range(n_chunks):
            state, chunk = run(state, x, y, steps, done, length=length, **static)
            chunk = np.asarray(chunk)
            chunk_losses.append(chunk)
            done = int(state.step)
            bar.update(min(length, steps - bar.n))
            if not bar.disable:
                bar.set_postfix(loss=f"{chunk[np.isfinite(chunk)][-1:].sum():.4g}")
            if not bool(state.alive):
                status = "diverged"
                message = (
                    f"diverged at step {done}: non-finite loss or parameters; "
                    f"returned the params after {done} updates"
                )
                break
            if val is not None:
                vl, va = evaluate_jit(static["net"], state.params, *val, static["loss"])
                evals.append((done, float(vl), float(va)))
                if float(vl) < best[0]:  # False for NaN: a non-finite loss is never the best
                    best = (float(vl), state.params, done)
                elif patience is not None and done - (best[2] or 0) >= patience * length:
                    status = "early_stopped"
                    message = (
                        f"stopped early at step {done}; best validation loss at step {best[2]}"
                        if best[2] is not None
                        else f"stopped early at step {done}: the validation loss was never finite "
                        f"(last {float(vl)}); returned the last params"
                    )
                    break
    loss_hist = np.concatenate(chunk_losses)[: int(state.step) + (status == "diverged")]
    keep_best = (patience is not None or restore_best) and best[2] is not None
    params = best[1] if keep_best else state.params
    ev = np.array(evals, dtype=np.float64).reshape(-1, 3)
    history = History(
        loss=loss_hist,
        eval_step=ev[:, 0].astype(np.int64),
        val_loss=ev[:, 1],
        val_accuracy=ev[:, 2],
        status=status,
        steps=int(state.step),
        best_step=best[2],
        message=message,
        seconds=time.perf_counter() - start,
        chunk_tiers=tuple(run.tiers),
    )
    return params, history
