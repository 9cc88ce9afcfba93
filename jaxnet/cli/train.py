"""``jaxnet train``: train an MLP on a built-in dataset or a CSV file and save it.

Splits the rows (train, validation, test), fits the scalers on the training rows only, trains
with ``jaxnet.train.fit``, prints the final losses (accuracy, or RMSE in the target's units)
and saves a checkpoint ``jaxnet predict`` reads, with its loss curve beside it. A diverged
run never replaces an existing checkpoint. Left out: populations and sweeps (``jaxnet
sweep``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

import numpy as np

from .. import _atomic as atomic_files
from .. import data, sizing
from .args import (
    OPTIMIZER_NAMES,
    RESIDUAL_HELP,
    CliError,
    at_least,
    check_residual,
    int_list,
    plain_arguments,
    positive_number,
    report_diverged,
    residual_note,
)

# Defaults of `jaxnet train` options left unset. A dataset can override them: the tutorial's
# three rows cannot be split and the article scales them by their maxima; MNIST-1D's noisy
# signals want a larger learning rate and two hidden layers (its paper's MLP baseline), and
# its validation loss bottoms out early while accuracy still rises (test accuracy over 25
# seed pairs: 57.8 % with the lowest-loss params, 64.6 % with the last), so it keeps the last.
TRAIN_DEFAULTS = {
    "hidden": "128",
    "lr": 1e-3,
    "steps": 2000,
    "batch_size": 128,
    "scaler": "standard",
    "val_size": 0.1,
    "test_size": 0.25,
}
DATASET_DEFAULTS = {
    "tutorial": {"hidden": "3", "scaler": "max", "val_size": 0.0, "test_size": 0.0},
    "mnist1d": {"hidden": "100,100", "lr": 1e-2, "batch_size": 100, "steps": 3000, "keep": "last"},
}


def add_parser(sub) -> None:
    """Add ``train`` and its options to the ``jaxnet`` subparsers ``sub``."""
    p = sub.add_parser("train", help="train an MLP on a dataset or a CSV file and save it")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", choices=data.DATASETS, help="a built-in dataset")
    source.add_argument("--csv", metavar="FILE", help="a CSV file with a header row")
    p.add_argument("--target", metavar="COL", help="the CSV column to predict (with --csv)")
    p.add_argument("--task", choices=data.TASKS, help="for --csv: default inferred from the target")
    p.add_argument("--hidden", help="hidden sizes, e.g. 128,64 (default 128; mnist1d 100,100)")
    p.add_argument("--activation", default="relu", help="hidden activation (default relu)")
    p.add_argument(
        "--optimizer", default="adam", choices=OPTIMIZER_NAMES, help="optimizer (default adam)"
    )
    p.add_argument("--lr", type=float, help="learning rate (default 1e-3; mnist1d 1e-2)")
    p.add_argument("--steps", type=int, help="optimizer steps (default 2000; mnist1d 3000)")
    p.add_argument(
        "--batch-size", type=int, help="minibatch size (default 128; mnist1d 100); 0: full batch"
    )
    p.add_argument(
        "--scaler",
        choices=(*data.SCALER_KINDS, "none"),
        help="input scaling, fitted on the training rows (default standard)",
    )
    p.add_argument("--val-size", type=float, help="share of non-test rows for validation (0.1)")
    p.add_argument("--test-size", type=float, help="share of rows held out for testing (0.25)")
    p.add_argument("--patience", type=int, help="stop after this many evaluations without gain")
    p.add_argument(
        "--keep",
        choices=("best", "last"),
        help="params to save: best (lowest validation loss; the default with validation, "
        "except mnist1d) or last (the final step's)",
    )
    p.add_argument("--eval-every", type=int, help="steps between evaluations (default steps/20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the init and batch order")
    p.add_argument("--data-seed", type=int, default=0, help="seed of generated data and splits")
    p.add_argument(
        "--grads",
        choices=["auto", "manual"],
        default="auto",
        help="auto: jax.grad (default); manual: the hand-written backprop",
    )
    p.add_argument("--residual", action="store_true", help=RESIDUAL_HELP)
    p.add_argument(
        "--dropout", type=float, default=0.0, help="dropout rate of every hidden layer (0)"
    )
    p.add_argument(
        "--weight-decay", type=float, help="decoupled weight decay of the weights (AdamW's)"
    )
    p.add_argument("--l2", type=float, help="L2 term lambda/2 ||w||^2 of the weights in the loss")
    p.add_argument(
        "--lr-schedule",
        choices=("constant", "cosine", "warmup_cosine", "exponential"),
        help="learning-rate schedule over the steps (default constant)",
    )
    p.add_argument("--warmup-steps", type=int, help="with --lr-schedule warmup_cosine")
    p.add_argument("--out", help="checkpoint path (default runs/DATASET.jaxnet); PNG beside it")
    p.add_argument(
        "--save-diverged",
        action="store_true",
        help="if training diverges, save its last finite params as OUT_STEM.diverged.jaxnet "
        "(a diverged run never replaces OUT)",
    )
    p.set_defaults(run=run)


# --- arguments and data -----------------------------------------------------------------------


def with_defaults(args: argparse.Namespace, name: str) -> argparse.Namespace:
    """``args`` with unset options filled from dataset ``name``'s defaults, then generic ones."""
    chosen = {**TRAIN_DEFAULTS, **DATASET_DEFAULTS.get(name, {})}
    unset = {k: v for k, v in chosen.items() if getattr(args, k) is None}
    return argparse.Namespace(**{**vars(args), **unset})


def kept_params(args: argparse.Namespace) -> str:
    """``--keep``, defaulting to best with a validation set and last without one."""
    return args.keep or ("best" if args.val_size > 0 else "last")


def _check_arguments(args) -> None:
    """One-line errors for option values (after :func:`with_defaults`), before any JAX."""
    int_list(args.hidden, "--hidden")
    for name in ("val_size", "test_size"):
        if not 0 <= getattr(args, name) < 1:
            flag = "--" + name.replace("_", "-")
            raise CliError(f"{flag} must be a fraction in [0, 1); got {getattr(args, name)}")
    if args.batch_size < 0:
        raise CliError(f"--batch-size must be positive, or 0 for full batch; got {args.batch_size}")
    at_least(args.batch_size, 0, "--batch-size")
    positive_number(args.lr, "--lr")
    at_least(args.steps, 1, "--steps")
    at_least(args.seed, 0, "--seed")
    for flag, value in (("--patience", args.patience), ("--eval-every", args.eval_every)):
        if value is not None:  # 0 is refused, not taken for "the default": one rule for both
            at_least(value, 1, flag)
    if args.patience is not None and args.val_size == 0:
        raise CliError("--patience needs a validation set (--val-size > 0)")
    if args.keep == "best" and args.val_size == 0:
        raise CliError("--keep best needs a validation set (--val-size > 0)")
    _check_regularisation(args)


def _check_regularisation(args) -> None:
    """One-line errors for --dropout, --weight-decay, --l2 and the schedule's flags."""
    if not 0 <= args.dropout < 1:  # False for NaN
        raise CliError(f"--dropout must be in [0, 1) (a probability); got {args.dropout}")
    for flag, value in (("--weight-decay", args.weight_decay), ("--l2", args.l2)):
        if value is not None and not (0 <= value < float("inf")):
            raise CliError(f"{flag} must be a finite number of at least 0; got {value}")
    if args.weight_decay is not None and args.optimizer == "adamw":
        raise CliError(
            "--weight-decay does not go with --optimizer adamw, which already decays every "
            "parameter by optax's 1e-4: use --optimizer adam --weight-decay ..."
        )
    warmup = args.lr_schedule == "warmup_cosine"
    if warmup != (args.warmup_steps is not None):
        raise CliError("--warmup-steps goes with --lr-schedule warmup_cosine, which needs it")
    if warmup and not 1 <= args.warmup_steps < args.steps:
        raise CliError(
            f"--warmup-steps must be at least 1 and fewer than --steps ({args.steps}); "
            f"got {args.warmup_steps}"
        )


def _load_dataset(args):
    """The :class:`~jaxnet.data.Dataset` of ``--dataset``, or of ``--csv`` and ``--target``."""
    if args.csv is None:
        if args.target or args.task:
            raise CliError("--target and --task go with --csv")
        try:
            return data.load(args.dataset, seed=args.data_seed)
        except ImportError as e:
            raise CliError(str(e)) from e
    if not args.target:
        raise CliError("--csv needs --target COLUMN, the column to predict")
    return data.read_csv(args.csv, args.target, task=args.task)


def _checked_out(args, dataset) -> Path:
    """``--out`` (default ``runs/DATASET.jaxnet``), checked before training: its loss curve
    beside it too, so that a place that cannot be written is found before, not after."""
    if args.out is not None and not args.out.strip():
        raise CliError("--out must name a file; got an empty name")
    out = Path(args.out or f"runs/{dataset.name}.jaxnet")
    for path in (out, out.with_name(out.stem + ".loss.png")):
        atomic_files.check_writable(path)
        _check_not_csv(args, path)
    return out


def _check_not_csv(args, path: Path) -> None:
    """Refuse writing the checkpoint or its curve over the ``--csv`` file: the user's data."""
    with contextlib.suppress(OSError):  # a path not there yet is not the CSV file
        if args.csv is not None and os.path.samefile(path, args.csv):
            raise CliError(
                f"--out: {path} is the --csv file {args.csv}; saving the model (or its loss curve) "
                "there would replace the data: give --out another path"
            )


def _scaled(scaler, values):
    return values if scaler is None else scaler.transform(values)


def _scaled_splits(args, dataset):
    """``(splits, scaler, target_scaler)``: every split scaled by scalers fitted on train only."""
    try:
        parts = data.partition(dataset, args.val_size, args.test_size, args.data_seed)
    except ValueError as e:  # partition's argument names, as this command's flags
        flags = str(e).replace("val_fraction", "--val-size").replace("test_fraction", "--test-size")
        raise CliError(f"{dataset.path or dataset.name}: {flags}") from None
    x_train, y_train = parts["train"]
    scaler = None if args.scaler == "none" else data.Scaler.fit(x_train, args.scaler)
    regression = dataset.task == "regression"
    target_scaler = data.Scaler.fit(y_train, "standard") if regression else None
    data.check_scaled(dataset, scaler, target_scaler, "float32")
    splits = {k: (_scaled(scaler, x), _scaled(target_scaler, y)) for k, (x, y) in parts.items()}
    return splits, scaler, target_scaler


# --- the net and its training -----------------------------------------------------------------


def _net_and_loss(args, dataset):
    """``(net, loss)``: logits + cross-entropy for classes, a linear output + MSE otherwise."""
    from .. import mlp

    hidden = int_list(args.hidden, "--hidden")
    if dataset.task == "classification":
        sizes, loss = (dataset.x.shape[1], *hidden, dataset.n_classes), "cross_entropy"
    else:
        sizes, loss = (dataset.x.shape[1], *hidden, 1), "mse"
    net = mlp.MLP(
        sizes,
        activation=args.activation,
        output_activation="identity",
        residual=args.residual,
        dropout=args.dropout,
    )
    return net, loss


def _check_size(args, net, rows: int, batch: int | None) -> None:
    """Refuse, before allocating anything, a net too large to train (the sweeps' limit), or
    more steps in one run or one chunk than memory holds."""
    limit = sizing.MAX_GROUP_BYTES
    need = sizing.training_bytes(net, rows)
    loop = sizing.loop_bytes(args.steps, _eval_every(args), batch)
    if need + loop <= limit:
        return
    if loop > need:
        raise CliError(
            f"--steps {args.steps} with --eval-every {_eval_every(args)} would need about "
            f"{loop / 2**30:,.1f} GiB for the loop's batch orders and losses; the limit is "
            f"{limit / 2**30:g} GiB (jaxnet.sizing.MAX_GROUP_BYTES): use fewer steps, or a "
            "smaller --eval-every"
        )
    raise CliError(
        f"--hidden {args.hidden}: a {'-'.join(map(str, net.sizes))} net would need about "
        f"{(need + loop) / 2**30:,.1f} GiB to train; the limit is {limit / 2**30:g} GiB "
        "(jaxnet.sizing.MAX_GROUP_BYTES)"
    )


def _eval_every(args) -> int:
    """Steps between evaluations (and per compiled chunk): ``--eval-every``, else steps/20."""
    return args.eval_every or max(1, args.steps // 20)


def _batch_size(args, splits) -> int | None:
    """``--batch-size`` for the training split; None for the full batch."""
    return sizing.batch_rows(args.batch_size, len(splits["train"][1]))


def _description(args, dataset, splits, net, loss) -> str:
    """Two lines: the data and its splits, then the net and how it trains."""
    rows = len(dataset.y) + (0 if dataset.test is None else len(dataset.test[1]))
    if dataset.task == "classification":
        kind = f"{dataset.n_classes} classes"
    else:
        kind = f"regression of {dataset.target_name}"
    sizes = ", ".join(f"{k} {len(y)}" for k, (_, y) in splits.items())
    batch = _batch_size(args, splits) or "full"
    return (
        f"{dataset.name}: {rows} rows, {dataset.x.shape[1]} features, {kind}; {sizes}\n"
        f"net {'-'.join(map(str, net.sizes))} {net.activation}{residual_note(net)}"
        f"{_regularisation_note(args)}, {loss}, {args.optimizer} "
        f"lr {args.lr:g}, batch {batch}, {args.steps} steps, seed {args.seed}"
    )


def _regularisation_note(args) -> str:
    """`` dropout 0.2 weight decay 0.0001 cosine lr`` for what is set, else nothing."""
    parts = [f"dropout {args.dropout:g}"] if args.dropout else []
    parts += [f"weight decay {args.weight_decay:g}"] if args.weight_decay is not None else []
    parts += [f"l2 {args.l2:g}"] if args.l2 is not None else []
    parts += [f"{args.lr_schedule} lr"] if args.lr_schedule not in (None, "constant") else []
    return "".join(" " + p for p in parts)


def _fit(args, net, loss, splits):
    """``(params, history)`` of ``jaxnet.train.fit`` with the command's settings."""
    import jax

    from .. import mlp, schedules, train

    init_key, batch_key = jax.random.split(jax.random.key(args.seed))
    schedule = None
    if args.lr_schedule is not None:
        schedule = schedules.Schedule(args.lr_schedule, warmup_steps=args.warmup_steps or 0)
    return train.fit(
        net,
        mlp.init(net, init_key),
        *splits["train"],
        loss=loss,
        optimizer=args.optimizer,
        learning_rate=args.lr,
        steps=args.steps,
        batch_size=_batch_size(args, splits),
        grads=args.grads,
        key=batch_key,
        validation=splits.get("validation"),
        patience=args.patience,
        eval_every=_eval_every(args),
        restore_best=kept_params(args) == "best",
        weight_decay=args.weight_decay,
        l2=args.l2,
        lr_schedule=schedule,
    )


# --- results ----------------------------------------------------------------------------------


def _evaluate(net, params, x, y, loss: str) -> tuple[float, float]:
    """``(loss, accuracy)`` on checked arrays; accuracy is NaN for regression."""
    from .. import _validate, train

    xb, yb = _validate.batch(net, params, x, y, loss)
    value, accuracy = train.evaluate_jit(net, params, xb, yb, loss)
    return float(value), float(accuracy)


def _summary_lines(metrics: dict, task: str, target_scaler, target_name: str) -> list[str]:
    """The final table: loss and accuracy, or RMSE in the target's own units."""
    unit = 1.0 if target_scaler is None else float(target_scaler.scale)
    head = "accuracy" if task == "classification" else f"RMSE ({target_name})"
    lines = [f"{'':12}{'loss':>10}  {head}"]
    for split, (loss, accuracy) in metrics.items():
        if task == "classification":
            lines.append(f"{split:12}{loss:10.4g}  {100 * accuracy:7.2f}%")
        else:  # mse of standardised targets: RMSE in original units is sqrt(mse) * scale
            lines.append(f"{split:12}{loss:10.4g}  {np.sqrt(loss) * unit:.4g}")
    return lines


def _finite_or_none(value: float):
    return value if np.isfinite(value) else None  # JSON has no NaN


def _checkpoint_config(args, dataset, loss, history, metrics) -> dict:
    """What predict needs (task, names, classes) and what happened, as plain JSON."""
    return {
        "command": "train",
        "dataset": dataset.name,
        "task": dataset.task,
        "loss": loss,
        "feature_names": list(dataset.feature_names),
        "target_name": dataset.target_name,
        "classes": None if dataset.classes is None else list(dataset.classes),
        "settings": plain_arguments(args),
        "history": {"status": history.status, "steps": history.steps, "message": history.message},
        "kept": {"params": kept_params(args), "best_step": history.best_step},
        "metrics": {k: [_finite_or_none(v) for v in m] for k, m in metrics.items()},
    }


def run(args) -> int:
    """Train, print the results and save the checkpoint and its loss curve.

    Returns:
      0; 1 if training diverged (then ``--out`` is kept as it was).
    """
    at_least(args.data_seed, 0, "--data-seed")
    args = with_defaults(args, args.dataset or "")
    _check_arguments(args)
    dataset = _load_dataset(args)
    out = _checked_out(args, dataset)

    from .. import checkpoint, plots  # after the argument checks: they answer without JAX

    splits, scaler, target_scaler = _scaled_splits(args, dataset)
    net, loss = _net_and_loss(args, dataset)
    _check_size(args, net, max(len(y) for _, y in splits.values()), _batch_size(args, splits))
    check_residual(net)
    print(_description(args, dataset, splits, net, loss))
    params, history = _fit(args, net, loss, splits)
    print(f"{history.message} in {history.seconds:.1f} s")
    if kept_params(args) == "best" and history.best_step is not None:
        print(
            f"kept the params of step {history.best_step}, the lowest validation loss "
            "(--keep last for the final step's)"
        )
    metrics = {k: _evaluate(net, params, x, y, loss) for k, (x, y) in splits.items()}
    print("\n".join(_summary_lines(metrics, dataset.task, target_scaler, dataset.target_name)))
    diverged = history.status == "diverged"
    if diverged:  # a diverged run never replaces OUT; its last finite params only if asked
        if not args.save_diverged:
            return report_diverged(
                "train",
                f"{out} not written (an existing file is kept); try a smaller --lr, "
                "or --save-diverged to keep the last finite params",
                history,
            )
        out = out.with_name(out.stem + ".diverged" + out.suffix)
    config = _checkpoint_config(args, dataset, loss, history, metrics)
    checkpoint.save(out, net, params, x_scaler=scaler, y_scaler=target_scaler, config=config)
    title = f"{dataset.name}: {'-'.join(map(str, net.sizes))} {net.activation}, {args.optimizer}"
    png = plots.loss_curve(history, out.with_name(out.stem + ".loss.png"), title=title)
    print(f"saved {out} and its loss curve {png}")
    if diverged:
        return report_diverged("train", f"its last finite params are in {out}", history)
    return 0
