"""``jaxnet predict``: predictions of a saved model for ``--input`` rows or a CSV file.

The model is a checkpoint (``jaxnet train --save``), or a config a sweep kept in its results
store: ``jaxnet predict STORE --best`` (the sweep's best, ranked as ``jaxnet runs`` ranks) or
``--config ID`` (an id from ``jaxnet runs STORE --csv``, or a unique prefix of one). Prints one
line a row (a classifier's label and class probabilities, a regressor's values in the target's
units), or writes them as CSV with ``--out``, keeping the input's id column. Left out: the model
itself (``jaxnet.model``, ``jaxnet.sweep.load_model``: scaling and predicting live there).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import numpy as np

from .. import _atomic as atomic_files
from .. import data
from .args import CliError, float_list

ID_COLUMNS = ("id", "index", "row", "row_id")  # copied to --out when not a feature (any case)


def add_parser(sub) -> None:
    """Add ``predict`` and its options to the ``jaxnet`` subparsers ``sub``."""
    p = sub.add_parser(
        "predict", help="predict with a model saved by `jaxnet train` or kept by a sweep"
    )
    p.add_argument(
        "model",
        help="the checkpoint file, e.g. runs/digits.jaxnet, or a sweep's results store "
        "(then --best or --config)",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--best", action="store_true", help="with a results store: its sweep's best kept model"
    )
    which.add_argument(
        "--config", metavar="ID", help="with a results store: the kept model of this config id"
    )
    p.add_argument(
        "--sweep", metavar="NAME", help="with --best: the sweep, when a store has several"
    )
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
    p.set_defaults(run=run)


def _inputs(args, model) -> np.ndarray:
    """``(rows, features)`` in original units, from ``--input`` or ``--csv``."""
    n, names = model.net.sizes[0], model.config.get("feature_names")
    if args.csv is not None:
        unnamed = [c for c in data.csv_columns(args.csv) if c.lower() not in ID_COLUMNS][:n]
        x = data.read_features(args.csv, names or unnamed)
        _check_csv_range(args.csv, names or unnamed, model, x)
        return x
    rows = [float_list(text, "--input") for text in args.input]
    for text, row in zip(args.input, rows, strict=True):
        if row.size != n:
            listed = f" ({', '.join(names)})" if names and n <= 8 else ""
            raise CliError(
                f"{args.model} takes {n} features{listed}; --input {text!r} has {row.size}"
            )
    return np.stack(rows)


def _check_finite_params(path: str, params) -> None:
    """Refuse a checkpoint whose params hold NaN or inf: its predictions would be NaN."""
    for i, layer in enumerate(params):
        for name in sorted(layer):
            if not np.all(np.isfinite(layer[name])):
                raise CliError(
                    f"{path} holds non-finite params (params[{i}][{name!r}]): the run that "
                    "saved it diverged; retrain it"
                )


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
    """One line per row: the target's name and the predicted values in its units."""
    name = model.config.get("target_name", "output")
    return [
        f"row {i}: {name} = {', '.join(f'{v:.6g}' for v in row)}"
        for i, row in enumerate(model.predict(x), 1)
    ]


def _id_column(args, features) -> tuple[str, list[str]] | None:
    """``(name, cells)`` of the ``--csv`` file's id/index column, or None."""
    if args.csv is None:
        return None
    for name in data.csv_columns(args.csv):
        if name.lower() in ID_COLUMNS and name not in features:
            return name, data.read_column(args.csv, name)
    return None


def _check_csv_range(path, columns: list[str], model, x: np.ndarray) -> None:
    """Refuse a cell that scaling takes past the model's dtype, by its line and column in the
    file (the model's own check can name only an index into ``x``: "index (40, 0)")."""
    dtype = np.dtype(model.params[0]["w"].dtype)
    scaled = x if model.x_scaler is None else model.x_scaler.transform(x)
    with np.errstate(over="ignore", invalid="ignore"):
        bad = ~np.isfinite(np.asarray(scaled, np.float64).astype(dtype))
    if not bad.any():
        return
    row, col = (int(i) for i in np.argwhere(bad)[0])
    note = "" if scaled is x else f" (scaled as in training: {scaled[row, col]:g})"
    raise CliError(
        f"{path} line {data.csv_lines(path)[row]}, column {columns[col]!r}: {x[row, col]:g}"
        f"{note} is beyond the range of {dtype.name} (largest {float(np.finfo(dtype).max):.4g}), "
        "the model's dtype; fix the cell"
    )


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


def _check_out(out: str) -> None:
    """``--out``, refused before the model is loaded and run: no name, no folder for it, or a
    path that cannot be written (a directory, a device, a read-only place)."""
    if not out.strip():
        raise CliError("--out must name a file (or - for stdout); got an empty name")
    if not Path(out).parent.is_dir():
        raise CliError(f"--out {out}: no directory {Path(out).parent}")
    atomic_files.check_writable(out)


def _check_not_input(args) -> None:
    """Refuse an ``--out`` that is the ``--csv`` file (or the model): the predictions would
    replace the rows they were made from, and those rows are the user's."""
    for flag, given in (("--csv", args.csv), ("the model", args.model)):
        with contextlib.suppress(OSError):  # a missing path is not the same file
            if given is not None and os.path.samefile(args.out, given):
                raise CliError(
                    f"--out {args.out} is {flag} {given}: the predictions would replace it; "
                    "write them to another file"
                )


def _is_store(path: str) -> bool:
    """True for an SQLite file (a results store); a checkpoint is a zip."""
    try:
        with open(path, "rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _load(args):
    """The model ``args`` name: a checkpoint, or a config kept in a results store."""
    if not _is_store(args.model):
        if args.best or args.config is not None or args.sweep is not None:
            raise CliError(
                f"--best, --config and --sweep pick a model kept in a results store; "
                f"{args.model} is not one (a checkpoint predicts as it is)"
            )
        from .. import model

        return model.load(args.model)
    if not args.best and args.config is None:
        raise CliError(
            f"{args.model} is a results store: say which model, --best or --config ID "
            "(ids: jaxnet runs STORE --csv)"
        )
    if args.sweep is not None and not args.best:
        raise CliError("--sweep goes with --best (a config id names its sweep already)")
    from ..sweep import best_config_id, load_model

    chosen = args.config if args.config is not None else best_config_id(args.model, args.sweep)
    loaded = load_model(args.model, chosen)
    c = loaded.config
    hidden = "-".join(map(str, c["hidden"])) or "linear"
    print(
        f"jaxnet predict: config {c['config_id']} of sweep {c['sweep']} ({hidden} "
        f"{c['activation']}, lr {c['learning_rate']:g}, trained {c['step']} steps)",
        file=sys.stderr,
    )
    return loaded


def run(args) -> None:
    """Load ``args.model`` and print (or write ``--out``) its predictions."""
    if not Path(args.model).is_file():  # before importing the library: answers at once
        why = "not a file" if Path(args.model).exists() else "no such file"
        raise CliError(f"cannot read checkpoint {args.model}: {why}")
    if args.out is not None and args.out != "-":
        _check_out(args.out)  # before the model is loaded and run
        _check_not_input(args)
    loaded = _load(args)
    _check_finite_params(args.model, loaded.params)
    x = _inputs(args, loaded)
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
