"""The ``jaxnet`` command: one subcommand per job, each a thin layer over library calls.

Every subcommand reports bad arguments and bad files in one line on stderr and exits with
status 2, never with a traceback.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def int_list(text: str, argument: str) -> tuple[int, ...]:
    """``"8,8"`` -> ``(8, 8)``; a one-line error for ``"2,,1"``, ``"0,3"`` or ``"a"``."""
    parts = text.split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise CliError(f"{argument} must be comma-separated positive ints like 8,8; got {text!r}") from None
    if any(v <= 0 for v in values):
        raise CliError(f"{argument} must be positive ints; got {text!r}")
    return values


def float_list(text: str, argument: str) -> np.ndarray:
    """``"4,8"`` -> ``array([4., 8.])`` with a one-line error otherwise."""
    try:
        return np.array([float(p) for p in text.split(",")])
    except ValueError:
        raise CliError(f"{argument} must be comma-separated numbers like 4,8; got {text!r}") from None


# --- tutorial ---------------------------------------------------------------------------------


def _add_tutorial(sub):
    p = sub.add_parser("tutorial", help="the 2-3-1 sigmoid network that predicts a test score")
    p.add_argument("--hidden", default="3", help="hidden sizes, e.g. 3 or 8,8 (default 3)")
    p.add_argument("--bias", action="store_true", help="give every layer a bias")
    p.add_argument("--lr", type=float, default=1.0, help="SGD learning rate (default 1)")
    p.add_argument("--steps", type=int, default=1000, help="training steps (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the standard normal init")
    p.add_argument("--grads", choices=["manual", "auto"], default="manual")
    p.add_argument("--activation", default="sigmoid", help="hidden activation (default sigmoid)")
    p.add_argument("--out", default="runs/tutorial.jaxnet", help="where to save the weights")
    p.set_defaults(run=_cmd_tutorial)


TUTORIAL_X = np.array([[2.0, 9.0], [1.0, 5.0], [3.0, 6.0]])  # hours studied, hours slept
TUTORIAL_Y = np.array([92.0, 86.0, 89.0])  # test score out of 100
NEW_STUDENT = np.array([4.0, 8.0])


def _cmd_tutorial(args):
    import jax
    import optax

    from . import checkpoint, mlp, train
    from .data import Scaler

    hidden = int_list(args.hidden, "--hidden")
    net = mlp.MLP((2, *hidden, 1), activation=args.activation, output_activation="sigmoid",
                  bias=args.bias, init="normal")
    scaler = Scaler.fit(TUTORIAL_X, kind="max")  # the article's X / np.amax(X, axis=0)
    x, y = scaler.transform(TUTORIAL_X), TUTORIAL_Y / 100.0
    params = mlp.init(net, jax.random.key(args.seed))
    print(f"net {'-'.join(map(str, net.sizes))} {args.activation}, bias={args.bias}, "
          f"SGD lr={args.lr} on sse, {args.steps} steps, {args.grads} gradients, seed {args.seed}")
    params, hist = train.fit(net, params, x, y, loss="sse", optimizer=optax.sgd(args.lr),
                             steps=args.steps, grads=args.grads, eval_every=max(1, args.steps // 10))
    marks = sorted(set(range(0, len(hist.loss), max(1, len(hist.loss) // 10))) | {len(hist.loss) - 1})
    print("loss " + "  ".join(f"{i}:{hist.loss[i]:.3g}" for i in marks))
    print(f"final loss {hist.loss[-1]:.6g} ({hist.message})")
    predicted = 100.0 * np.asarray(mlp.forward(net, params, x))[:, 0]
    print("\n  studied  slept   actual  predicted")
    for (h1, h2), a, p in zip(TUTORIAL_X, TUTORIAL_Y, predicted):
        print(f"  {h1:7.0f} {h2:6.0f} {a:8.1f} {p:10.2f}")
    right = 100.0 * float(mlp.forward(net, params, scaler.transform(NEW_STUDENT))[0])
    article = 100.0 * float(mlp.forward(net, params, NEW_STUDENT / NEW_STUDENT.max())[0])
    print(f"\nnew student studied 4 h, slept 8 h:")
    print(f"  scaled by the training maxima (3, 9):   predicted score {right:.2f}  <- right")
    print(f"  scaled by its own maximum (8), as the article does: {article:.2f}  <- wrong: "
          "a model only understands inputs on its training scale")
    checkpoint.save(args.out, net, params, scaler=scaler, config={"command": "tutorial", **vars_of(args)})
    print(f"weights saved to {args.out}")


def vars_of(args) -> dict:
    """The plain-valued arguments of an argparse namespace (for checkpoint metadata)."""
    return {k: v for k, v in vars(args).items() if isinstance(v, (str, int, float, bool))}


# --- gradcheck (issue 4) ----------------------------------------------------------------------


# --- train / predict (issue 3) ----------------------------------------------------------------


# --- sweep / runs / report (issue 5) ----------------------------------------------------------


# --- main -------------------------------------------------------------------------------------

_ADDERS = [_add_tutorial]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxnet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add in _ADDERS:
        add(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
    except (CliError, ValueError, TypeError, OSError) as e:
        message = e.args[0] if e.args else str(e)
        print(f"jaxnet {args.command}: error: {message}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
