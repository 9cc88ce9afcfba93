"""The ``jaxnet`` command: one subcommand per job, each a thin layer over library calls.

Every subcommand reports bad arguments and bad files in one line on stderr and exits with
status 2, never with a traceback. Parsing imports no JAX (the library is imported inside the
command functions), so ``--help``, ``--version`` and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import math
import re
import sqlite3
import sys
from pathlib import Path

import numpy as np

DESCRIPTION = (
    "Train, check and sweep small JAX multilayer perceptrons. "
    "Run `jaxnet COMMAND --help` for a command's options."
)
# Literal copies, so that building the parser imports no JAX; tests/test_cli_help.py checks
# they equal jaxnet.train.OPTIMIZERS and jaxnet.sweep.METRICS.
OPTIMIZER_NAMES = ("adam", "adamw", "momentum", "nesterov", "rmsprop", "sgd")
METRIC_NAMES = (
    "best_val_loss",
    "best_val_accuracy",
    "final_val_loss",
    "final_val_accuracy",
    "test_loss",
    "test_accuracy",
    "train_loss",
    "train_accuracy",
)


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def int_list(text: str, argument: str) -> tuple[int, ...]:
    """``"8,8"`` -> ``(8, 8)``; a one-line error for ``"2,,1"``, ``"0,3"`` or ``"a"``."""
    parts = text.split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise CliError(
            f"{argument} must be comma-separated positive ints like 8,8; got {text!r}"
        ) from None
    if any(v <= 0 for v in values):
        raise CliError(f"{argument} must be positive ints; got {text!r}")
    return values


def positive_number(value: float, argument: str) -> float:
    """``value`` if it is finite and > 0 (a learning rate), else a one-line error."""
    if not (math.isfinite(value) and value > 0):
        raise CliError(f"{argument} must be a positive finite number; got {value}")
    return value


def at_least(value: int, low: int, argument: str) -> int:
    """``value`` if it is at least ``low``, else a one-line error naming the flag."""
    if value < low:
        expected = {0: "a non-negative int", 1: "a positive int"}.get(low, f"an int >= {low}")
        raise CliError(f"{argument} must be {expected}; got {value}")
    return value


def float_list(text: str, argument: str) -> np.ndarray:
    """``"4,8"`` -> ``array([4., 8.])`` with a one-line error otherwise."""
    try:
        return np.array([float(p) for p in text.split(",")])
    except ValueError:
        raise CliError(
            f"{argument} must be comma-separated numbers like 4,8; got {text!r}"
        ) from None


# --- tutorial ---------------------------------------------------------------------------------


def _add_tutorial(sub):
    p = sub.add_parser("tutorial", help="the 2-3-1 sigmoid network that predicts a test score")
    p.add_argument("--hidden", default="3", help="hidden sizes, e.g. 3 or 8,8 (default 3)")
    p.add_argument("--bias", action="store_true", help="give every layer a bias")
    p.add_argument("--lr", type=float, default=1.0, help="SGD learning rate (default 1)")
    p.add_argument("--steps", type=int, default=1000, help="training steps (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the standard normal init")
    p.add_argument(
        "--grads",
        choices=["manual", "auto"],
        default="manual",
        help="manual: the hand-written backprop (default); auto: jax.grad",
    )
    p.add_argument("--activation", default="sigmoid", help="hidden activation (default sigmoid)")
    p.add_argument("--out", default="runs/tutorial.jaxnet", help="where to save the weights")
    p.add_argument("--residual", action="store_true", help=RESIDUAL_HELP)
    p.set_defaults(run=_cmd_tutorial)


RESIDUAL_HELP = "skip around every hidden layer as wide as its input: a + f(a @ w + b)"


NEW_STUDENT = np.array([4.0, 8.0])


def _cmd_tutorial(args):
    hidden = int_list(args.hidden, "--hidden")
    positive_number(args.lr, "--lr")
    at_least(args.steps, 1, "--steps")

    import jax
    import optax

    from . import checkpoint, data, mlp, train

    net = mlp.MLP(
        (2, *hidden, 1),
        activation=args.activation,
        output_activation="sigmoid",
        bias=args.bias,
        init="normal",
        residual=args.residual,
    )
    _check_residual(net)
    students = data.tutorial()
    scaler = data.Scaler.fit(students.x, kind="max")  # the article's X / np.amax(X, axis=0)
    scores = data.Scaler("max", 0.0, 100.0)  # the article's y / 100
    x, y = scaler.transform(students.x), scores.transform(students.y)
    params = mlp.init(net, jax.random.key(args.seed))
    print(
        f"net {'-'.join(map(str, net.sizes))} {args.activation}{_residual_note(net)}, "
        f"bias={args.bias}, "
        f"SGD lr={args.lr} on sse, {args.steps} steps, {args.grads} gradients, seed {args.seed}"
    )
    params, hist = train.fit(
        net,
        params,
        x,
        y,
        loss="sse",
        optimizer=optax.sgd(args.lr),
        steps=args.steps,
        grads=args.grads,
        eval_every=max(1, args.steps // 10),
    )
    marks = sorted(
        set(range(0, len(hist.loss), max(1, len(hist.loss) // 10))) | {len(hist.loss) - 1}
    )
    print("loss " + "  ".join(f"{i}:{hist.loss[i]:.3g}" for i in marks))
    print(f"final loss {hist.loss[-1]:.6g} ({hist.message})")
    predicted = scores.inverse(mlp.forward(net, params, x))[:, 0]
    print("\n  studied  slept   actual  predicted")
    for (h1, h2), a, p in zip(students.x, students.y, predicted):
        print(f"  {h1:7.0f} {h2:6.0f} {a:8.1f} {p:10.2f}")
    right_x, article_x = scaler.transform(NEW_STUDENT), NEW_STUDENT / NEW_STUDENT.max()
    right = float(scores.inverse(mlp.forward(net, params, right_x))[0])
    article = float(scores.inverse(mlp.forward(net, params, article_x))[0])
    print("\nnew student [4, 8] (studied 4 h, slept 8 h):")
    print(
        f"  scaled by the training maxima (3, 9) -> {np.round(right_x, 3)}: "
        f"predicted {right:.2f}   <- right"
    )
    print(
        f"  scaled by its own maximum 8 (article) -> {np.round(article_x, 3)}: "
        f"predicted {article:.2f}   <- wrong: the net only knows the training scale"
    )
    config = {
        "command": "tutorial",
        **vars_of(args),
        "task": "regression",
        "target_name": students.target_name,
        "feature_names": list(students.feature_names),
    }
    if hist.status == "diverged":  # never replace a good checkpoint with a diverged run
        return _diverged("tutorial", f"{args.out} not written: try a smaller --lr", hist)
    checkpoint.save(args.out, net, params, x_scaler=scaler, y_scaler=scores, config=config)
    print(f"weights saved to {args.out} (try: jaxnet predict {args.out} --input 4,8)")


def _check_residual(net) -> None:
    """A residual flag that would change nothing is a mistake: say which sizes would skip."""
    if net.residual and not any(net.skips):
        raise CliError(
            "--residual needs a hidden layer as wide as its input (e.g. --hidden 64,64); "
            f"layer sizes {'-'.join(map(str, net.sizes))} have none, so there is no skip"
        )


def _residual_note(net) -> str:
    """`` residual (2 skips)`` for a residual net, else nothing."""
    return f" residual ({sum(net.skips)} skips)" if net.residual else ""


def vars_of(args) -> dict:
    """The plain-valued arguments of an argparse namespace (for checkpoint metadata)."""
    return {k: v for k, v in vars(args).items() if isinstance(v, (str, int, float, bool))}


# --- gradcheck (issue 4) ----------------------------------------------------------------------


def _add_gradcheck(sub):
    p = sub.add_parser("gradcheck", help="check backprop against jax.grad and finite differences")
    p.add_argument("--sizes", default="2,3,1", help="layer sizes (default 2,3,1)")
    p.add_argument("--activation", default="sigmoid", help="hidden activation (default sigmoid)")
    p.add_argument(
        "--output-activation",
        default=None,
        help="default: identity for cross_entropy, sigmoid for binary_cross_entropy, "
        "else the hidden activation",
    )
    p.add_argument(
        "--loss", default="sse", help="mse, sse (default), cross_entropy or binary_cross_entropy"
    )
    p.add_argument("--no-bias", dest="bias", action="store_false", help="layers without biases")
    p.add_argument("--residual", action="store_true", help=RESIDUAL_HELP)
    p.add_argument("--batch", type=int, default=4, help="examples in the batch (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of params, data and directions")
    p.add_argument("--dtype", default="float64", help="float64 (default) or float32")
    p.add_argument(
        "--all",
        action="store_true",
        help="check every activation x loss x depth 1-4 x bias on/off, and residual nets "
        "(depth 4), instead (ignores the net options)",
    )
    p.set_defaults(run=_cmd_gradcheck)


def _cmd_gradcheck(args):
    # Names, not `from . import gradcheck`: the package's `gradcheck` is the function.
    from .gradcheck import gradcheck, output_activation_for, random_problem
    from .losses import check_name
    from .mlp import MLP

    if args.all:
        return _gradcheck_all(args.dtype, args.seed)
    sizes = int_list(args.sizes, "--sizes")
    loss = check_name(args.loss, "--loss")
    if args.batch < 1:
        raise CliError(f"--batch must be a positive int; got {args.batch}")
    out = args.output_activation or output_activation_for(loss, args.activation)
    net = MLP(
        sizes,
        activation=args.activation,
        output_activation=out,
        bias=args.bias,
        residual=args.residual,
    )
    _check_residual(net)
    params, x, y = random_problem(net, loss, batch=args.batch, seed=args.seed)
    report = gradcheck(net, params, x, y, loss, dtype=args.dtype, seed=args.seed)
    print(report.table())
    return 0 if report.ok else 1


def _gradcheck_all(dtype: str, seed: int) -> int:
    import time

    from .gradcheck import check_matrix

    print(
        f"backprop vs jax.grad vs finite differences (fd), {dtype}, seed {seed}: every activation "
        "x loss x depth 1-4 x bias on/off, residual at depth 4, then edge points (zero inputs, "
        "dead layer, ...)"
    )
    start, reports = time.perf_counter(), []
    for report in check_matrix(dtype=dtype, seed=seed):
        print(report.summary(), flush=True)
        reports.append(report)
    failed = sum(not r.ok for r in reports)
    worst = ", ".join(
        f"{name} {max(r.max_rel_err(name) for r in reports):.2e}"
        for name in reports[0].comparison_names()
    )
    print(
        f"total: {len(reports) - failed} of {len(reports)} cases passed, {failed} failed "
        f"in {time.perf_counter() - start:.1f} s; largest {dtype} relative errors: {worst}"
    )
    return 1 if failed else 0


# --- train / predict (issue 3) ----------------------------------------------------------------

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


def _add_train(sub):
    from . import data

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
    p.add_argument("--out", help="checkpoint path (default runs/DATASET.jaxnet); PNG beside it")
    p.add_argument(
        "--save-diverged",
        action="store_true",
        help="if training diverges, save its last finite params as OUT_STEM.diverged.jaxnet "
        "(a diverged run never replaces OUT)",
    )
    p.set_defaults(run=_cmd_train)


def _train_dataset(args):
    from . import data

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


def _with_defaults(args, name: str) -> argparse.Namespace:
    """``args`` with unset options filled from the dataset's defaults, then the generic ones."""
    chosen = {**TRAIN_DEFAULTS, **DATASET_DEFAULTS.get(name, {})}
    unset = {k: v for k, v in chosen.items() if getattr(args, k) is None}
    return argparse.Namespace(**{**vars(args), **unset})


def _check_train_args(args) -> None:
    int_list(args.hidden, "--hidden")
    for name in ("val_size", "test_size"):
        if not 0 <= getattr(args, name) < 1:
            flag = "--" + name.replace("_", "-")
            raise CliError(f"{flag} must be a fraction in [0, 1); got {getattr(args, name)}")
    if args.batch_size < 0:
        raise CliError(f"--batch-size must be positive, or 0 for full batch; got {args.batch_size}")
    positive_number(args.lr, "--lr")
    at_least(args.steps, 1, "--steps")
    if args.patience is not None:
        at_least(args.patience, 1, "--patience")
    if args.patience is not None and args.val_size == 0:
        raise CliError("--patience needs a validation set (--val-size > 0)")
    if args.keep == "best" and args.val_size == 0:
        raise CliError("--keep best needs a validation set (--val-size > 0)")


def _keep(args) -> str:
    """``--keep``, defaulting to best with a validation set and last without one."""
    return args.keep or ("best" if args.val_size > 0 else "last")


def _train_net(args, dataset):
    """``(net, loss)``: logits + cross-entropy for classes, a linear output + MSE otherwise."""
    from . import mlp

    hidden = int_list(args.hidden, "--hidden")
    if dataset.task == "classification":
        sizes, loss = (dataset.x.shape[1], *hidden, dataset.n_classes), "cross_entropy"
    else:
        sizes, loss = (dataset.x.shape[1], *hidden, 1), "mse"
    net = mlp.MLP(
        sizes, activation=args.activation, output_activation="identity", residual=args.residual
    )
    return net, loss


def _check_size(args, net, rows: int) -> None:
    """Refuse, before allocating anything, a net too large to train (the sweeps' limit)."""
    from .sweep.spec import MAX_GROUP_BYTES

    # As jaxnet.sweep.prepare.group_bytes for one float32 member: params six times over, and
    # three (rows, units) arrays per layer for the largest split.
    need = 4 * (6 * net.n_params + 3 * rows * sum(net.sizes[1:]))
    if need > MAX_GROUP_BYTES:
        raise CliError(
            f"--hidden {args.hidden}: a {'-'.join(map(str, net.sizes))} net would need about "
            f"{need / 2**30:,.1f} GiB to train; the limit is {MAX_GROUP_BYTES / 2**30:g} GiB "
            "(jaxnet.sweep.spec.MAX_GROUP_BYTES)"
        )


def _scale(scaler, values):
    return values if scaler is None else scaler.transform(values)


def _evaluate(net, params, x, y, loss: str) -> tuple[float, float]:
    """``(loss, accuracy)`` on checked arrays; accuracy is NaN for regression."""
    from . import _validate, train

    xb, yb = _validate.batch(net, params, x, y, loss)
    value, accuracy = train.evaluate_jit(net, params, xb, yb, loss)
    return float(value), float(accuracy)


def _finite_or_none(value: float):
    return value if np.isfinite(value) else None  # JSON has no NaN


def _summary(metrics: dict, task: str, target_scaler, target_name: str) -> list[str]:
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


def _train_config(args, dataset, loss, history, metrics) -> dict:
    """What predict needs (task, names, classes) and what happened, as plain JSON."""
    return {
        "command": "train",
        "dataset": dataset.name,
        "task": dataset.task,
        "loss": loss,
        "feature_names": list(dataset.feature_names),
        "target_name": dataset.target_name,
        "classes": None if dataset.classes is None else list(dataset.classes),
        "settings": vars_of(args),
        "history": {"status": history.status, "steps": history.steps, "message": history.message},
        "kept": {"params": _keep(args), "best_step": history.best_step},
        "metrics": {k: [_finite_or_none(v) for v in m] for k, m in metrics.items()},
    }


def _scaled_splits(args, dataset):
    """``(splits, scaler, target_scaler)``: every split scaled by scalers fitted on train only."""
    from . import data

    parts = data.partition(dataset, args.val_size, args.test_size, args.data_seed)
    x_train, y_train = parts["train"]
    scaler = None if args.scaler == "none" else data.Scaler.fit(x_train, args.scaler)
    regression = dataset.task == "regression"
    target_scaler = data.Scaler.fit(y_train, "standard") if regression else None
    splits = {k: (_scale(scaler, x), _scale(target_scaler, y)) for k, (x, y) in parts.items()}
    return splits, scaler, target_scaler


def _batch_size(args, n_train: int) -> int | None:
    """None (full batch) for 0 or a batch as large as the training set."""
    return args.batch_size if 0 < args.batch_size < n_train else None


def _describe(args, dataset, splits, net, loss) -> str:
    rows = len(dataset.y) + (0 if dataset.test is None else len(dataset.test[1]))
    if dataset.task == "classification":
        kind = f"{dataset.n_classes} classes"
    else:
        kind = f"regression of {dataset.target_name}"
    sizes = ", ".join(f"{k} {len(y)}" for k, (_, y) in splits.items())
    batch = _batch_size(args, len(splits["train"][1])) or "full"
    return (
        f"{dataset.name}: {rows} rows, {dataset.x.shape[1]} features, {kind}; {sizes}\n"
        f"net {'-'.join(map(str, net.sizes))} {net.activation}{_residual_note(net)}, {loss}, "
        f"{args.optimizer} "
        f"lr {args.lr:g}, batch {batch}, {args.steps} steps, seed {args.seed}"
    )


def _fit(args, net, loss, splits):
    """``(params, history)`` of ``jaxnet.train.fit`` with the command's settings."""
    import jax

    from . import mlp, train

    init_key, batch_key = jax.random.split(jax.random.key(args.seed))
    return train.fit(
        net,
        mlp.init(net, init_key),
        *splits["train"],
        loss=loss,
        optimizer=args.optimizer,
        learning_rate=args.lr,
        steps=args.steps,
        batch_size=_batch_size(args, len(splits["train"][1])),
        grads=args.grads,
        key=batch_key,
        validation=splits.get("validation"),
        patience=args.patience,
        eval_every=args.eval_every or max(1, args.steps // 20),
        restore_best=_keep(args) == "best",
    )


def _cmd_train(args):
    from pathlib import Path

    at_least(args.data_seed, 0, "--data-seed")
    args = _with_defaults(args, args.dataset or "")
    _check_train_args(args)
    dataset = _train_dataset(args)

    from . import checkpoint, plots  # after the argument checks: they answer without JAX

    splits, scaler, target_scaler = _scaled_splits(args, dataset)
    net, loss = _train_net(args, dataset)
    _check_size(args, net, max(len(y) for _, y in splits.values()))
    _check_residual(net)
    print(_describe(args, dataset, splits, net, loss))
    params, history = _fit(args, net, loss, splits)
    print(f"{history.message} in {history.seconds:.1f} s")
    if _keep(args) == "best" and history.best_step is not None:
        print(
            f"kept the params of step {history.best_step}, the lowest validation loss "
            "(--keep last for the final step's)"
        )
    metrics = {k: _evaluate(net, params, x, y, loss) for k, (x, y) in splits.items()}
    print("\n".join(_summary(metrics, dataset.task, target_scaler, dataset.target_name)))
    out = Path(args.out or f"runs/{dataset.name}.jaxnet")
    diverged = history.status == "diverged"
    if diverged:  # a diverged run never replaces OUT; its last finite params only if asked
        if not args.save_diverged:
            return _diverged(
                "train",
                f"{out} not written (an existing file is kept); try a smaller --lr, "
                "or --save-diverged to keep the last finite params",
                history,
            )
        out = out.with_name(out.stem + ".diverged" + out.suffix)
    config = _train_config(args, dataset, loss, history, metrics)
    checkpoint.save(out, net, params, x_scaler=scaler, y_scaler=target_scaler, config=config)
    title = f"{dataset.name}: {'-'.join(map(str, net.sizes))} {net.activation}, {args.optimizer}"
    png = plots.loss_curve(history, out.with_name(out.stem + ".loss.png"), title=title)
    print(f"saved {out} and its loss curve {png}")
    return _diverged("train", f"its last finite params are in {out}", history) if diverged else 0


def _diverged(command: str, what: str, history) -> int:
    """One line on stderr for a diverged run; exit status 1."""
    print(f"jaxnet {command}: error: {history.message}; {what}", file=sys.stderr)
    return 1


def _add_predict(sub):
    p = sub.add_parser("predict", help="predict with a model saved by `jaxnet train`")
    p.add_argument("model", help="the checkpoint file, e.g. runs/digits.jaxnet")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input",
        action="append",
        metavar="VALUES",
        help="one example's features, e.g. 4,8 or -1,2 (repeatable)",
    )
    source.add_argument(
        "--csv", metavar="FILE", help="rows to predict: a CSV file with the training's columns"
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help="write a CSV instead of printing: the input's id/index column (if any), the "
        "prediction, and one probability column per class for a classifier; - for stdout",
    )
    p.set_defaults(run=_cmd_predict)


def _predict_inputs(args, ck) -> np.ndarray:
    """``(rows, features)`` in original units, from ``--input`` or ``--csv``."""
    from . import data

    n, names = ck.net.sizes[0], ck.config.get("feature_names")
    if args.csv is not None:
        unnamed = [c for c in data.csv_columns(args.csv) if c.lower() not in ID_COLUMNS][:n]
        return data.read_features(args.csv, names or unnamed)
    rows = [float_list(text, "--input") for text in args.input]
    for text, row in zip(args.input, rows, strict=True):
        if row.size != n:
            listed = f" ({', '.join(names)})" if names and n <= 8 else ""
            raise CliError(
                f"{args.model} takes {n} features{listed}; --input {text!r} has {row.size}"
            )
    return np.stack(rows)


def _class_lines(model, x) -> list[str]:
    """One line per row: the predicted label, its probability, every class's probability."""
    lines, labels = [], model.predict(x)
    for i, (label, p) in enumerate(zip(labels, model.predict_proba(x), strict=True), 1):
        probs = " ".join(f"{c}:{q:.3f}" for c, q in zip(model.labels, p, strict=True))
        lines.append(
            f"row {i}: {model.config.get('target_name', 'class')} {label} "
            f"(p={p.max():.3f})  probabilities {probs}"
        )
    return lines


def _value_lines(model, x) -> list[str]:
    name = model.config.get("target_name", "output")
    return [
        f"row {i}: {name} = {', '.join(f'{v:.6g}' for v in row)}"
        for i, row in enumerate(model.predict(x), 1)
    ]


def _check_finite_params(model: str, params) -> None:
    """Refuse a checkpoint whose params hold NaN or inf: its predictions would be NaN."""
    for i, layer in enumerate(params):
        for name in sorted(layer):
            if not np.all(np.isfinite(layer[name])):
                raise CliError(
                    f"{model} holds non-finite params (params[{i}][{name!r}]): the run that "
                    "saved it diverged; retrain it"
                )


ID_COLUMNS = ("id", "index", "row", "row_id")  # copied to --out when not a feature (any case)


def _id_column(args, features) -> tuple[str, list[str]] | None:
    """``(name, cells)`` of the ``--csv`` file's id/index column, or None."""
    from . import data

    if args.csv is None:
        return None
    for name in data.csv_columns(args.csv):
        if name.lower() in ID_COLUMNS and name not in features:
            return name, data.read_column(args.csv, name)
    return None


def _prediction_table(args, model, x) -> tuple[list[str], list[list]]:
    """``(header, rows)`` of ``--out``: id column, prediction, class probabilities."""
    target = model.config.get("target_name") or ("class" if model.is_classifier else "output")
    features = model.config.get("feature_names") or []
    ids = _id_column(args, features)
    predicted = model.predict(x)
    if model.is_classifier:
        header = [target, *(f"p_{label}" for label in model.labels)]
        columns = [list(predicted), *model.predict_proba(x).T]
    else:
        k = predicted.shape[-1]
        header = [target] if k == 1 else [f"{target}_{j}" for j in range(k)]
        columns = list(predicted.T)
    if ids is not None:
        header, columns = [ids[0], *header], [ids[1], *columns]
    if len(set(header)) != len(header):
        raise CliError(f"--out would repeat a column name: {header}")
    return header, [list(row) for row in zip(*columns, strict=True)]


def _cmd_predict(args):
    from pathlib import Path

    if not Path(args.model).is_file():  # before importing the library: answers at once
        why = "not a file" if Path(args.model).exists() else "no such file"
        raise CliError(f"cannot read checkpoint {args.model}: {why}")

    from . import data, model

    loaded = model.load(args.model)
    _check_finite_params(args.model, loaded.params)
    x = _predict_inputs(args, loaded)
    if args.out is not None:
        header, rows = _prediction_table(args, loaded, x)
        if args.out == "-":
            data.write_csv(sys.stdout, header, rows)
        else:
            data.write_csv(args.out, header, rows)
            print(f"wrote {len(rows)} predictions to {args.out}")
    elif loaded.is_classifier:
        print("\n".join(_class_lines(loaded, x)))
    else:
        print("\n".join(_value_lines(loaded, x)))


# --- sweep / runs / report (issue 5) ----------------------------------------------------------


def _add_sweep(sub):
    p = sub.add_parser(
        "sweep",
        help="train every config of a sweep file into a results store",
        epilog="The sweep file format, every key and its default: docs/sweeps.md.",
    )
    p.add_argument("file", help="the sweep's TOML file, e.g. experiments/sweeps/demo.toml")
    p.add_argument("--store", help="the SQLite results store (default runs/NAME.sqlite)")
    p.add_argument("--report", metavar="DIR", help="then draw the report's figures into DIR")
    p.add_argument("--top", type=int, default=10, help="rows of the final ranking (default 10)")
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="JAX's compile cache folder, or 'off' (default: $JAXNET_CACHE_DIR, else "
        "~/.cache/jaxnet/jax; delete the folder to clear it)",
    )
    _add_engine_options(p)
    p.set_defaults(run=_cmd_sweep)


def _add_engine_options(p) -> None:
    p.add_argument(
        "--engine",
        choices=("in-process", "ray"),
        default="in-process",
        help="where groups train: here, one after another (default), or as Ray tasks",
    )
    p.add_argument("--address", help="with --engine ray: a Ray cluster to join (auto, HOST:PORT)")
    p.add_argument(
        "--gpus-per-group", type=float, help="with --engine ray: GPUs per group (default 0)"
    )
    p.add_argument(
        "--cpus-per-group",
        type=float,
        help="with --engine ray: CPUs per group (default: a whole CPU node, or 1 with GPUs)",
    )
    p.add_argument("--retries", type=int, help="runs again of a failed group (default 0; 3 on Ray)")
    p.add_argument(
        "--lease",
        type=float,
        default=60.0,
        help="seconds before another process may take over a dead process's group (60)",
    )


def _engine_options(args) -> dict:
    ray_only = {"address": args.address, "gpus_per_group": args.gpus_per_group}
    ray_only["cpus_per_group"] = args.cpus_per_group
    given = [k for k, v in ray_only.items() if v is not None]
    if given and args.engine != "ray":
        raise CliError(f"--{given[0].replace('_', '-')} goes with --engine ray")
    options = {k: v for k, v in ray_only.items() if v is not None}
    return {"engine": args.engine, "retries": args.retries, "lease": args.lease, **options}


def _cmd_sweep(args):
    from . import store, sweep
    from .sweep import page

    at_least(args.top, 1, "--top")
    spec = sweep.load(args.file)
    path = args.store or f"runs/{spec.name}.sqlite"
    try:
        summary = sweep.run(spec, path, cache_dir=args.cache_dir, **_engine_options(args))
    except KeyboardInterrupt:
        groups = _stored_groups(path, spec.name)
        print(
            f"jaxnet sweep: interrupted, {groups} groups stored in {path}, rerun to resume",
            file=sys.stderr,
        )
        return 130
    print(summary.describe())
    with store.opened(path, must_exist=True) as conn:
        rows = store.runs(conn, spec.name)
    metric = sweep.default_metric(spec.settings)
    print(f"\nbest of {spec.name} by {metric}:")
    print("\n".join(sweep.ranked_table(rows, metric, args.top)))
    if args.report:
        _print_page(page.write_report(path, args.report, spec.name))


def _stored_groups(path, name: str) -> int:
    """How many of sweep ``name``'s groups ``path`` holds (0 if there is no usable store yet)."""
    from . import store

    if not Path(path).is_file():
        return 0
    try:
        with store.opened(path, must_exist=True) as conn:
            return conn.execute(
                "SELECT count(DISTINCT r.group_id) FROM runs r JOIN sweeps s ON r.sweep_id = s.id "
                "WHERE s.name = ?",
                (name,),
            ).fetchone()[0]
    except (ValueError, sqlite3.Error):  # interrupted while the store was being created
        return 0


def _print_report(paths) -> None:
    print("figures: " + ", ".join(str(p) for p in paths))


def _print_page(files) -> None:
    """What :func:`jaxnet.sweep.page.write_report` wrote, and why any figures are missing."""
    _print_report(files.figures)
    for note in files.notes:
        print(f"no figures for {note}")
    print(f"page: {files.page}")


def _add_runs(sub):
    p = sub.add_parser("runs", help="list a results store's sweeps and their best configs")
    p.add_argument("store", help="the SQLite results store, e.g. runs/demo.sqlite")
    p.add_argument("--csv", action="store_true", help="print one CSV row per trained member")
    p.add_argument("--top", type=int, default=5, help="best configs shown per sweep (default 5)")
    p.set_defaults(run=_cmd_runs)


def _cmd_runs(args):
    import os

    from . import store, sweep

    at_least(args.top, 1, "--top")
    with store.opened(args.store, must_exist=True) as conn:
        if not args.csv:
            print("\n".join(sweep.store_summary(conn, args.top)).rstrip())
            return
        try:
            store.write_csv(conn, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:  # `jaxnet runs S --csv | head`: the reader took what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _add_report(sub):
    p = sub.add_parser("report", help="draw a sweep's figures and DIR/index.html from a store")
    p.add_argument("store", help="the SQLite results store, e.g. runs/demo.sqlite")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for the PNGs and page")
    p.add_argument("--sweep", help="whose PNGs go in DIR itself (others: DIR/sweepI-NAME/)")
    p.add_argument("--metric", choices=METRIC_NAMES, help="default: the sweep's metric")
    p.add_argument(
        "--watch", action="store_true", help="rewrite the page as groups finish (Ctrl-C stops)"
    )
    p.add_argument("--interval", type=float, default=3.0, help="seconds between looks (--watch)")
    p.set_defaults(run=_cmd_report)


def _cmd_report(args):
    from .sweep import page

    if args.watch:
        page.watch(args.store, args.out, args.sweep, args.metric, args.interval)
        return
    _print_page(page.write_report(args.store, args.out, args.sweep, args.metric))


# --- main -------------------------------------------------------------------------------------

_ADDERS = [_add_tutorial, _add_train, _add_predict, _add_gradcheck]
_ADDERS += [_add_sweep, _add_runs, _add_report]  # issue 5


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``jaxnet CMD: error: ...`` and a pointer to --help."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="jaxnet", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"jaxnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _ADDERS:
        add(sub)
    return parser


# A value that starts with a minus, like "-1,2" or "-.5e3": argparse would take it for an option.
_NEGATIVE_VALUES = re.compile(r"-[0-9.][0-9.,eE+-]*")


def _join_negative_values(argv: list[str]) -> list[str]:
    """``["--input", "-1,2"]`` -> ``["--input=-1,2"]``, so --input needs no ``=``."""
    out = []
    for arg in argv:
        if out and out[-1] == "--input" and _NEGATIVE_VALUES.fullmatch(arg):
            out[-1] = f"--input={arg}"
        else:
            out.append(arg)
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(_join_negative_values(argv))
    try:
        from . import compile_cache

        # Every command compiles the same few programs on every run: keep them on disk.
        compile_cache.enable(getattr(args, "cache_dir", None))
        result = args.run(args)
    except (CliError, ValueError, TypeError, OSError, sqlite3.Error) as e:
        # str() of an OSError keeps the path; args[0] alone is only the errno.
        message = str(e) if isinstance(e, OSError) else (e.args[0] if e.args else str(e))
        if isinstance(e, sqlite3.Error):  # a store query that jaxnet did not foresee
            message = f"results store: {e}"
        print(f"jaxnet {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jaxnet {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
