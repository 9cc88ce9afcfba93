"""``jaxnet tutorial``: the article's 2-3-1 sigmoid network that predicts a test score.

Trains on the three students with SGD on the sse loss (the article's update), prints the
loss, the fitted table and a new student's prediction scaled two ways, and saves the weights
with both scalers. Left out: other data (``jaxnet train --dataset tutorial``).
"""

from __future__ import annotations

import numpy as np

from .. import _atomic as atomic_files
from .args import (
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

NEW_STUDENT = np.array([4.0, 8.0])


def add_parser(sub) -> None:
    """Add ``tutorial`` and its options to the ``jaxnet`` subparsers ``sub``."""
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
    p.set_defaults(run=run)


def _tutorial_net(args, hidden: tuple[int, ...]):
    """The article's net: sigmoid output, no biases unless ``--bias``, standard normal init."""
    from .. import mlp

    net = mlp.MLP(
        (2, *hidden, 1),
        activation=args.activation,
        output_activation="sigmoid",
        bias=args.bias,
        init="normal",
        residual=args.residual,
    )
    check_residual(net)
    return net


def _print_losses(history) -> None:
    """About ten points of the loss curve, the last one included, and the final loss."""
    n = len(history.loss)
    marks = sorted(set(range(0, n, max(1, n // 10))) | {n - 1})
    print("loss " + "  ".join(f"{i}:{history.loss[i]:.3g}" for i in marks))
    print(f"final loss {history.loss[-1]:.6g} ({history.message})")


def _print_new_student(net, params, scaler, scores) -> None:
    """The new student [4, 8] predicted twice: scaled as the training data, and as the article."""
    from .. import mlp

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


def run(args) -> int | None:
    """Train the tutorial's net, print what it learned and save it to ``--out``.

    Returns:
      None (exit status 0), or 1 if training diverged (``--out`` is then not written).
    """
    hidden = int_list(args.hidden, "--hidden")
    positive_number(args.lr, "--lr")
    at_least(args.steps, 1, "--steps")
    at_least(args.seed, 0, "--seed")
    if not args.out.strip():
        raise CliError("--out must name a file; got an empty name")
    atomic_files.check_writable(args.out)  # before training, not after

    import jax
    import optax

    from .. import checkpoint, data, mlp, train

    net = _tutorial_net(args, hidden)
    students = data.tutorial()
    scaler = data.Scaler.fit(students.x, kind="max")  # the article's X / np.amax(X, axis=0)
    scores = data.Scaler("max", 0.0, 100.0)  # the article's y / 100
    x, y = scaler.transform(students.x), scores.transform(students.y)
    params = mlp.init(net, jax.random.key(args.seed))
    print(
        f"net {'-'.join(map(str, net.sizes))} {args.activation}{residual_note(net)}, "
        f"bias={args.bias}, "
        f"SGD lr={args.lr} on sse, {args.steps} steps, {args.grads} gradients, seed {args.seed}"
    )
    params, history = train.fit(
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
    _print_losses(history)
    predicted = scores.inverse(mlp.forward(net, params, x))[:, 0]
    print("\n  studied  slept   actual  predicted")
    for (h1, h2), a, p in zip(students.x, students.y, predicted):
        print(f"  {h1:7.0f} {h2:6.0f} {a:8.1f} {p:10.2f}")
    _print_new_student(net, params, scaler, scores)
    config = {
        "command": "tutorial",
        **plain_arguments(args),
        "task": "regression",
        "target_name": students.target_name,
        "feature_names": list(students.feature_names),
    }
    if history.status == "diverged":  # never replace a good checkpoint with a diverged run
        return report_diverged("tutorial", f"{args.out} not written: try a smaller --lr", history)
    checkpoint.save(args.out, net, params, x_scaler=scaler, y_scaler=scores, config=config)
    print(f"weights saved to {args.out} (try: jaxnet predict {args.out} --input 4,8)")
