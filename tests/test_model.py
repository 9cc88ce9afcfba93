"""jn.save / jn.load / Model: predictions in original units, the same as `jaxnet predict`."""

import csv
import io

import jax
import numpy as np
import pytest
from helpers import run_cli

import jaxnet as jn
from jaxnet import checkpoint
from jaxnet.cli import main

FEATURES = ["a", "b", "c"]


def _rows(path_or_text) -> list[dict]:
    text = path_or_text if "\n" in str(path_or_text) else open(path_or_text).read()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def raw():
    rng = np.random.default_rng(0)
    return rng.normal(5.0, 3.0, size=(7, 3))  # original units: far from the scaled range


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, raw):
    net = jn.MLP((3, 5, 4), activation="tanh", output_activation="identity")
    params = jn.init(net, jax.random.key(1))
    path = tmp_path_factory.mktemp("m") / "clf.jaxnet"
    config = {"feature_names": FEATURES, "target_name": "kind"}
    jn.save(
        path, net, params, x_scaler=jn.Scaler.fit(raw), labels=["w", "x", "y", "z"], config=config
    )
    return path, net, params


@pytest.fixture(scope="module")
def regressor(tmp_path_factory, raw):
    net = jn.MLP((3, 4, 2), activation="relu", output_activation="identity")
    params = jn.init(net, jax.random.key(2))
    y_scaler = jn.Scaler("standard", [100.0, -3.0], [20.0, 0.5])
    path = tmp_path_factory.mktemp("m") / "reg.jaxnet"
    jn.save(path, net, params, x_scaler=jn.Scaler.fit(raw, "minmax"), y_scaler=y_scaler)
    return path, net, params, y_scaler


def _csv_input(tmp_path, raw, id_name="id", order=(2, 1, 0)):
    """An id column, the features in ``order`` (named a, b, c), then a text column."""
    path = tmp_path / "in.csv"
    with open(path, "w") as f:
        f.write(",".join([id_name, *(FEATURES[j] for j in order), "extra"]) + "\n")
        for i, row in enumerate(raw):
            f.write(",".join([f"r{i}", *(repr(float(row[j])) for j in order), "zzz"]) + "\n")
    return path


def test_classifier_round_trip_equals_jaxnet_predict(classifier, raw, tmp_path):
    path, net, params = classifier
    model = jn.load(path)
    assert isinstance(model, jn.Model) and model.net == net and model.labels == ("w", "x", "y", "z")
    logits = np.asarray(jn.forward(net, params, jn.Scaler.fit(raw).transform(raw)), np.float64)
    expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(raw), expected, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(raw), np.array(list("wxyz"))[logits.argmax(1)])
    out = tmp_path / "preds.csv"
    rc, text = run_cli(
        ["predict", str(path), "--csv", str(_csv_input(tmp_path, raw)), "--out", str(out)]
    )
    assert rc == 0 and "wrote 7 predictions" in text
    rows = _rows(out)
    assert list(rows[0]) == ["id", "kind", "p_w", "p_x", "p_y", "p_z"]
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(7)]
    assert [r["kind"] for r in rows] == list(model.predict(raw))
    probs = np.array([[float(r[f"p_{c}"]) for c in "wxyz"] for r in rows])
    np.testing.assert_array_equal(probs, model.predict_proba(raw))  # every digit kept
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


def test_regressor_round_trip_in_original_units(regressor, raw, tmp_path):
    path, net, params, y_scaler = regressor  # saved without feature names: columns by position
    model = jn.load(path)
    assert model.labels is None and not model.is_classifier
    z = np.asarray(jn.forward(net, params, jn.Scaler.fit(raw, "minmax").transform(raw)), np.float64)
    np.testing.assert_allclose(model.predict(raw), z * [20.0, 0.5] + [100.0, -3.0], rtol=1e-12)
    rc, text = run_cli(
        [
            "predict",
            str(path),
            "--csv",
            str(_csv_input(tmp_path, raw, "index", (0, 1, 2))),
            "--out",
            "-",
        ]
    )
    rows = _rows(text)
    assert rc == 0 and list(rows[0]) == ["index", "output_0", "output_1"]
    got = np.array([[float(r["output_0"]), float(r["output_1"])] for r in rows])
    np.testing.assert_array_equal(got, model.predict(raw))
    rc, text = run_cli(
        [
            "predict",
            str(path),
            "--input",
            ",".join(repr(float(v)) for v in raw[0]),
            "--input",
            "-1,-2,-3",
        ]
    )
    values = model.predict(np.array([raw[0], [-1.0, -2.0, -3.0]]))
    assert text.splitlines() == [
        f"row {i}: output = {v[0]:.6g}, {v[1]:.6g}" for i, v in enumerate(values, 1)
    ]


def test_one_example_gives_one_prediction(classifier, regressor, raw):
    clf, reg = jn.load(classifier[0]), jn.load(regressor[0])
    assert clf.predict(raw[0]).shape == () and clf.predict(raw[0]) == clf.predict(raw[:1])[0]
    assert clf.predict_proba(raw[0]).shape == (4,)
    np.testing.assert_allclose(clf.predict_proba(raw[0]).sum(), 1.0, rtol=1e-12)
    assert reg.predict(raw[0]).shape == (2,)


def test_one_sigmoid_output_classifier(tmp_path):
    net = jn.MLP((2, 3, 1), activation="tanh", output_activation="sigmoid")
    params = jn.init(net, jax.random.key(0))
    jn.save(tmp_path / "b.jaxnet", net, params, labels=[False + 0, 1])
    model = jn.load(tmp_path / "b.jaxnet")
    x = np.array([[0.5, -2.0], [3.0, 1.0]])
    p = np.asarray(jn.forward(net, params, x), np.float64)[:, 0]
    np.testing.assert_allclose(model.predict_proba(x), np.stack([1 - p, p], 1), rtol=1e-12)
    np.testing.assert_array_equal(model.predict(x), (p > 0.5).astype(int))


def test_a_tie_picks_the_first_label(tmp_path):
    net = jn.MLP((2, 3), activation="identity", output_activation="identity", bias=False)
    params = [{"w": np.zeros((2, 3), np.float32)}]  # every logit 0: a three-way tie
    jn.save(tmp_path / "t.jaxnet", net, params, labels=["c", "a", "b"])
    model = jn.load(tmp_path / "t.jaxnet")
    assert model.predict([1.0, 2.0]) == "c"
    np.testing.assert_allclose(model.predict_proba([1.0, 2.0]), [1 / 3] * 3, rtol=1e-12)


NET = jn.MLP((2, 3, 2), activation="tanh", output_activation="identity")
PARAMS = jn.init(NET, jax.random.key(0))


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        (dict(labels=["a"]), ValueError, "one label per output (2); got 1"),
        (dict(labels=["a", "b", "c"]), ValueError, "one label per output (2); got 3"),
        (dict(labels=["a", "a"]), ValueError, "labels must be distinct"),
        (dict(labels="ab"), TypeError, "labels must be a sequence"),
        (dict(labels=5), TypeError, "labels must be a sequence"),
        (dict(labels=[True, False]), TypeError, "labels must be strings or numbers"),
        (dict(labels=[None, "b"]), TypeError, "labels must be strings or numbers"),
        (dict(labels=["a", "b"], y_scaler=jn.Scaler("max", 0.0, 2.0)), ValueError, "y_scaler"),
        (dict(config=[1, 2]), TypeError, "config must be a dict"),
        (dict(config={"x": float("nan")}), ValueError, "finite JSON"),
        (dict(x_scaler="standard"), TypeError, "scaler must be a jaxnet Scaler"),
    ],
)
def test_save_refuses_bad_arguments_and_writes_nothing(tmp_path, kwargs, error, fragment):
    with pytest.raises(error, match=None) as e:
        jn.save(tmp_path / "m.jaxnet", NET, PARAMS, **kwargs)
    assert fragment in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_a_one_output_classifier_without_sigmoid(tmp_path):
    net = jn.MLP((2, 1), output_activation="identity")
    with pytest.raises(ValueError, match="output_activation='sigmoid' and two labels"):
        jn.save(tmp_path / "m", net, jn.init(net, jax.random.key(0)), labels=[0, 1])
    with pytest.raises(TypeError, match="net must be a jaxnet.MLP"):
        jn.save(tmp_path / "m", "net", PARAMS)
    with pytest.raises(TypeError, match="params must be a list of 2 layer dicts"):
        jn.save(tmp_path / "m", NET, PARAMS[:1])


@pytest.mark.parametrize(
    "x, error, fragment",
    [
        ([1.0, 2.0, 3.0], ValueError, "x must have shape (2,) or (n, 2)"),
        (np.ones((4, 3)), ValueError, "got (4, 3)"),
        (np.ones((2, 2, 2)), ValueError, "got (2, 2, 2)"),
        (np.ones((0, 2)), ValueError, "got (0, 2)"),
        (5.0, ValueError, "got ()"),
        ([[1.0, np.nan]], ValueError, "x must be finite"),
        ([[1.0, np.inf]], ValueError, "x must be finite"),
        ([["a", "b"]], TypeError, "x must be an array of numbers"),
    ],
)
def test_predict_refuses_bad_inputs(tmp_path, x, error, fragment):
    jn.save(tmp_path / "m.jaxnet", NET, PARAMS, labels=["a", "b"])
    model = jn.load(tmp_path / "m.jaxnet")
    for method in (model.predict, model.predict_proba):
        with pytest.raises(error) as e:
            method(x)
        assert fragment in str(e.value)


def test_predict_proba_of_a_regressor_is_refused(regressor, raw):
    with pytest.raises(ValueError, match="predict_proba needs a classifier"):
        jn.load(regressor[0]).predict_proba(raw)


def test_load_refuses_a_modified_file(classifier, tmp_path):
    damaged = tmp_path / "bad.jaxnet"
    blob = bytearray(classifier[0].read_bytes())
    blob[len(blob) // 3] ^= 0xFF
    damaged.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="bad.jaxnet"):
        jn.load(damaged)


def test_saved_file_is_a_plain_checkpoint(classifier):
    ck = checkpoint.load(classifier[0])
    assert ck.config["task"] == "classification" and ck.config["classes"] == ["w", "x", "y", "z"]
    assert ck.y_scaler is None and ck.x_scaler.kind == "standard"


def test_predict_out_errors_are_one_line(classifier, raw, tmp_path, capsys):
    src = _csv_input(tmp_path, raw)
    rc = main(
        ["predict", str(classifier[0]), "--csv", str(src), "--out", str(tmp_path / "no" / "p.csv")]
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "no directory" in err
    rc = main(["predict", str(classifier[0]), "--csv", str(src), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "is a directory" in err


def test_predict_out_replaces_an_old_file_whole(classifier, raw, tmp_path):
    out = tmp_path / "p.csv"
    out.write_text("old,contents\n" * 1000)
    rc, _ = run_cli(["predict", str(classifier[0]), "--input", "1,2,3", "--out", str(out)])
    rows = _rows(out)
    assert rc == 0 and len(rows) == 1 and list(rows[0]) == ["kind", "p_w", "p_x", "p_y", "p_z"]


def test_an_interrupted_csv_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    out = tmp_path / "p.csv"
    out.write_text("old\n")

    class Exploding:
        def __init__(self, *a, **k):
            pass

        def writerows(self, rows):
            raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of the write

    monkeypatch.setattr(jn.data.csv_files.csv, "writer", Exploding)
    with pytest.raises(KeyboardInterrupt):
        jn.data.write_csv(out, ["a"], [[1.0]])
    assert out.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["p.csv"]


def test_predict_out_refuses_a_repeated_column_name(tmp_path, raw, capsys):
    net = jn.MLP((3, 2), output_activation="identity")
    model = tmp_path / "m.jaxnet"
    config = {"feature_names": FEATURES, "target_name": "id"}  # the prediction column is "id" too
    jn.save(model, net, jn.init(net, jax.random.key(0)), labels=[0, 1], config=config)
    rc = main(["predict", str(model), "--csv", str(_csv_input(tmp_path, raw)), "--out", "-"])
    err = capsys.readouterr().err
    assert rc == 2 and "would repeat a column name" in err and err.count("\n") == 1


def test_predict_csv_missing_a_trained_column_is_one_line(classifier, tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("id,a,b\n1,2,3\n")
    rc = main(["predict", str(classifier[0]), "--csv", str(src), "--out", "-"])
    err = capsys.readouterr().err
    assert rc == 2 and "lacks column(s) c" in err and err.count("\n") == 1


def test_load_refuses_labels_that_do_not_fit_the_net(tmp_path):
    # A valid file (anyone can write one) whose config lists 3 classes for a 2-output net.
    config = {"task": "classification", "classes": ["a", "b", "c"]}
    checkpoint.save(tmp_path / "m.jaxnet", NET, PARAMS, config=config)
    with pytest.raises(ValueError, match="m.jaxnet: bad class labels.*one label per output"):
        jn.load(tmp_path / "m.jaxnet")


def test_an_input_that_scaling_takes_past_float32_is_named_as_given(tmp_path):
    net = jn.MLP((2, 1))
    params = [{k: np.asarray(v) for k, v in jn.init(net, 0)[0].items()}]
    scaler = jn.Scaler("standard", np.zeros(2), np.full(2, 0.5))  # x / 0.5: doubles every input
    jn.save(tmp_path / "m.jaxnet", net, params, x_scaler=scaler)
    model = jn.load(tmp_path / "m.jaxnet")
    with pytest.raises(ValueError, match=r"x holds 1e\+39 at index \(1, 0\); scaled as in "
                       r"training it is 2e\+39, beyond the range of float32"):  # fmt: skip
        model.predict(np.array([[1.0, 2.0], [1e39, 0.0]]))
    with pytest.raises(ValueError, match=r"x holds 1\.7e\+308 at index \(0, 1\); scaled as in "
                       r"training it is inf"):  # fmt: skip
        model.predict([[0.0, 1.7e308]])


# --- string labels: strings in, strings out; accuracy compares labels with labels ---------------


def test_string_labels_come_back_as_strings_and_accuracy_compares_like_with_like(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2))
    names = np.where(x[:, 0] + x[:, 1] > 0, "malignant", "benign")  # a user's own labels
    dataset = jn.data.Dataset.from_arrays(x, names)
    parts = jn.data.partition(dataset, val_fraction=0.0, test_fraction=0.25, seed=0)
    x_test, y_test = parts["test"]
    # the net a fit on these class indices would learn, written down: output 1 ("malignant",
    # the second class in sorted order) wins when x0 + x1 > 0
    net = jn.MLP((2, 2))
    params = [{"w": np.array([[-1.0, 1.0], [-1.0, 1.0]]), "b": np.zeros(2)}]
    jn.save(tmp_path / "m.jaxnet", net, params, labels=dataset.classes)
    model = jn.load(tmp_path / "m.jaxnet")
    predicted = model.predict(x_test)
    assert predicted.dtype.kind == "U" and set(predicted) <= {"benign", "malignant"}
    truth = dataset.labels_of(y_test)
    accuracy = model.accuracy(x_test, truth)
    assert accuracy == float(np.mean(predicted == truth)) == 1.0
    assert float(np.mean(predicted == y_test)) == 0.0  # the silent trap the README line avoids
    with pytest.raises(ValueError) as caught:  # class indices where labels belong: one line
        model.accuracy(x_test, y_test)
    message = str(caught.value)
    assert (
        message.startswith("labels holds 0, 1, which the model does not know")
        and "\n" not in message
    )
    assert "dataset.labels_of(y)" in message


def test_accuracy_refuses_a_regressor_and_a_length_mismatch(classifier, regressor, raw):
    with pytest.raises(ValueError, match="accuracy needs a classifier; this model is a regressor"):
        jn.load(regressor[0]).accuracy(raw, np.zeros(len(raw)))
    model = jn.load(classifier[0])
    with pytest.raises(
        ValueError, match=r"labels must have shape \(7,\) to match x's 7 rows; got \(3,\)"
    ):
        model.accuracy(raw, ["w", "x", "y"])
    with pytest.raises(ValueError, match="labels holds nan"):
        model.accuracy(raw, np.full(7, np.nan))
    assert model.accuracy(raw[0], "w") in (0.0, 1.0)  # one example, one label


def test_a_model_prints_in_one_line(classifier, regressor):
    assert repr(jn.load(classifier[0])) == (
        "Model(3-5-4 tanh, 44 params, x_scaler standard, labels ('w', 'x', 'y', 'z'); jaxnet 0.1.0)"
    )
    assert repr(jn.load(regressor[0])).count("\n") == 0
    net = jn.MLP((64, 128, 10))
    jn.save(tmp := regressor[0].parent / "d.jaxnet", net, jn.init(net, 0), labels=list(range(10)))
    assert (
        repr(jn.load(tmp))
        == "Model(64-128-10 relu, 9,610 params, x_scaler none, labels 0..9; jaxnet 0.1.0)"
    )
