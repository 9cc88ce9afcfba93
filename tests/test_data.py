"""Datasets, Scaler, splits and CSV reading (jaxnet.data)."""

import json
import os
import random

import numpy as np
import pytest

from jaxnet import data
from jaxnet.data import Scaler

# --- Scaler -----------------------------------------------------------------------------------

X = np.array([[2.0, 9.0], [1.0, 5.0], [3.0, 6.0]])


def test_max_scaler_is_the_tutorials_divide_by_max():
    s = Scaler.fit(X, kind="max")
    np.testing.assert_array_equal(s.transform(X), X / np.amax(X, axis=0))
    np.testing.assert_array_equal(s.transform([4.0, 8.0]), [4 / 3, 8 / 9])


def test_minmax_and_standard_scalers():
    np.testing.assert_allclose(Scaler.fit(X, "minmax").transform(X).min(0), 0.0)
    np.testing.assert_allclose(Scaler.fit(X, "minmax").transform(X).max(0), 1.0)
    z = Scaler.fit(X, "standard").transform(X)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(0), 1.0)


@pytest.mark.parametrize("kind", data.SCALER_KINDS)
def test_constant_column_gets_scale_one_and_inverse_undoes_transform(kind):
    x = np.array([[1.0, 0.0], [2.0, 0.0], [4.0, 0.0]])
    s = Scaler.fit(x, kind)
    assert s.scale[1] == 1.0
    np.testing.assert_allclose(s.inverse(s.transform(x)), x)


def test_one_column_scaler_takes_any_shape():
    # A 1-D fit (a regression target) used to refuse every 1-D input it was asked to scale.
    s = Scaler.fit(np.array([92.0, 86.0, 89.0]), "standard")
    assert s.offset.shape == s.scale.shape == ()
    assert s.transform(np.array([89.0, 89.0])).shape == (2,)
    assert s.transform(89.0) == 0.0
    np.testing.assert_allclose(s.inverse(s.transform([[92.0], [86.0]])), [[92.0], [86.0]])


def test_scaler_refuses_wrong_feature_count_bad_input_and_bad_fields():
    s = Scaler.fit(X, "max")
    with pytest.raises(ValueError, match="must have 2 features"):
        s.transform([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="must have 2 features"):
        s.inverse(np.ones((4, 3)))
    with pytest.raises(ValueError, match="finite"):
        Scaler.fit([[1.0], [np.nan]])
    with pytest.raises(ValueError, match="non-empty"):
        Scaler.fit(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="kind"):
        Scaler.fit(X, "zscore")
    with pytest.raises(ValueError, match="positive"):
        Scaler("max", 0.0, 0.0)
    with pytest.raises(ValueError, match="one shape"):
        Scaler("max", [0.0, 0.0], [1.0])


def test_scaler_is_frozen_and_copies_its_arrays():
    offset = np.array([1.0, 2.0])
    s = Scaler("minmax", offset, [1.0, 1.0])
    offset[0] = 99.0
    assert s.offset[0] == 1.0
    with pytest.raises(ValueError):
        s.scale[0] = 5.0


def test_fixed_scaler_for_scores_out_of_100():
    s = Scaler("max", 0.0, 100.0)
    np.testing.assert_array_equal(s.inverse([0.92, 0.5]), [92.0, 50.0])


def test_scaler_dict_round_trip_is_exact_through_json():
    rng = np.random.default_rng(0)
    for s in (Scaler.fit(rng.normal(size=(50, 7)) * 1e3), Scaler.fit(rng.normal(size=9), "minmax")):
        back = Scaler.from_dict(json.loads(json.dumps(s.to_dict())))
        assert back.kind == s.kind
        assert back.offset.tobytes() == s.offset.tobytes()
        assert back.scale.tobytes() == s.scale.tobytes()


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        {"kind": "max"},
        {"kind": "max", "offset": "a", "scale": 1.0},
        {"kind": "max", "offset": 0.0, "scale": -1.0},
        {"kind": "?", "offset": 0.0, "scale": 1.0},
    ],
)
def test_scaler_from_bad_dict_is_a_value_error(bad):
    with pytest.raises(ValueError):
        Scaler.from_dict(bad)


# --- datasets ---------------------------------------------------------------------------------


def test_xor_with_four_noiseless_points_is_the_truth_table():
    d = data.xor(n=4, noise=0.0)
    np.testing.assert_array_equal(d.x, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(d.y, [0, 1, 1, 0])
    assert d.task == "classification" and d.n_classes == 2


@pytest.mark.parametrize("name", ["xor", "spirals", "moons"])
def test_generated_datasets_are_balanced_and_seeded(name):
    a, b, c = data.load(name, seed=0), data.load(name, seed=0), data.load(name, seed=1)
    assert a.x.shape == (400, 2) and a.x.dtype == np.float64 and a.y.dtype == np.int64
    assert np.bincount(a.y).tolist() == [200, 200]
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)


def test_spirals_arms_are_point_reflections_of_each_other():
    d = data.spirals(n=200, noise=0.0)
    radius = np.linalg.norm(d.x, axis=1)
    assert radius.max() <= 1.0
    # Without noise a point on arm 1 at radius r lies opposite the arm-0 point at radius r.
    angle = np.arctan2(d.x[:, 1], d.x[:, 0]) - 2 * np.pi * 1.5 * radius - np.pi * d.y
    np.testing.assert_allclose(np.cos(angle), 1.0, atol=1e-9)


def test_tutorial_and_digits():
    t = data.load("tutorial")
    assert t.task == "regression" and t.feature_names == ("studied", "slept")
    np.testing.assert_array_equal(t.y, [92, 86, 89])
    d = data.load("digits")
    assert d.x.shape == (1797, 64) and d.n_classes == 10 and d.x.max() == 16.0
    assert d.test is None


def test_unknown_dataset_is_refused():
    with pytest.raises(ValueError, match="dataset must be one of"):
        data.load("cifar")


def test_mnist1d_is_made_offline_without_files_and_keeps_global_rng_states(tmp_path, monkeypatch):
    import mnist1d.data

    def no_network(*args, **kwargs):
        raise AssertionError("mnist1d tried to download")

    monkeypatch.setattr(mnist1d.data.requests, "get", no_network)
    monkeypatch.setattr(mnist1d.data, "get_dataset", no_network)
    monkeypatch.chdir(tmp_path)
    np.random.seed(123)
    random.seed(456)
    np_before, py_before = np.random.get_state(), random.getstate()
    d = data.mnist1d()
    assert os.listdir(tmp_path) == []
    np_after = np.random.get_state()
    assert all(np.array_equal(u, v) for u, v in zip(np_before, np_after, strict=True))
    assert random.getstate() == py_before
    assert d.x.shape == (4000, 40) and d.test[0].shape == (1000, 40)
    assert d.n_classes == 10 and d.test[1].dtype == np.int64
    assert np.bincount(d.y, minlength=10).min() > 300


# --- splits and labels ------------------------------------------------------------------------


def _labels(counts):
    return np.repeat(np.arange(len(counts)), counts)


def test_split_is_disjoint_covering_and_stratified():
    y = _labels([100, 40, 60, 7])
    parts = data.split_indices(y, (0.6, 0.15, 0.25), seed=3)
    everything = np.concatenate(parts)
    assert sorted(everything.tolist()) == list(range(len(y)))
    for part, f in zip(parts, (0.6, 0.15, 0.25), strict=True):
        for c, n in enumerate([100, 40, 60, 7]):
            assert abs(np.sum(y[part] == c) - f * n) <= 1
    assert data.split_indices(y, (0.75, 0.25), seed=3)[1].tolist() == (
        data.split_indices(y, (0.75, 0.25), seed=3)[1].tolist()
    )


def test_split_differs_between_seeds_and_shuffles_classes():
    y = _labels([50, 50])
    a, b = data.split_indices(y, (0.5, 0.5), 0), data.split_indices(y, (0.5, 0.5), 1)
    assert set(a[0]) != set(b[0])
    assert not np.all(np.diff(y[a[0]]) >= 0)  # classes are mixed, not sorted


def test_unstratified_split_of_regression_targets_and_split_pairs():
    x = np.arange(20.0)[:, None]
    y = np.arange(20.0) * 2
    (xa, ya), (xb, yb) = data.split(x, y, (0.75, 0.25), seed=0, stratify=False)
    assert len(ya) == 15 and len(yb) == 5
    np.testing.assert_array_equal(xa[:, 0] * 2, ya)
    with pytest.raises(ValueError, match="integer class labels"):
        data.split(x, y, (0.5, 0.5))


@pytest.mark.parametrize("fractions", [(0.5, 0.4), (1.2, -0.2), (), (0.0, 1.0)])
def test_split_refuses_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fractions"):
        data.split_indices(_labels([10, 10]), fractions)


def test_partition_cuts_test_first_and_uses_a_predefined_test_set():
    d = data.load("digits")
    small = data.partition(d, 0.1, 0.25, seed=0)
    none = data.partition(d, 0.0, 0.25, seed=0)
    assert list(small) == ["train", "validation", "test"] and list(none) == ["train", "test"]
    np.testing.assert_array_equal(small["test"][0], none["test"][0])
    assert len(small["test"][1]) == 450
    own = data.Dataset(
        "own",
        d.x[:100],
        d.y[:100],
        "classification",
        d.feature_names,
        "digit",
        d.classes,
        test=(d.x[100:130], d.y[100:130]),
    )
    parts = data.partition(own, 0.2, 0.25)
    assert parts["test"][0] is own.test[0] and len(parts["train"][1]) == 80


def test_one_hot_and_back():
    y = np.array([2, 0, 1, 2])
    h = data.one_hot(y, 3)
    assert h.shape == (4, 3) and h.sum() == 4
    np.testing.assert_array_equal(data.class_of(h), y)
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        data.one_hot([0, 3], 3)
    with pytest.raises(ValueError, match="integer"):
        data.one_hot([0.5], 3)


# --- CSV --------------------------------------------------------------------------------------


def _csv(tmp_path, text, name="table.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_regression_and_feature_order(tmp_path):
    path = _csv(tmp_path, "studied,score,slept\n2,92.5,9\n1,86,5\n\n3,89,6\n")
    d = data.read_csv(path, "score")
    assert d.task == "regression" and d.classes is None and d.name == "table"
    assert d.feature_names == ("studied", "slept") and d.target_name == "score"
    np.testing.assert_array_equal(d.x, X)
    np.testing.assert_array_equal(d.y, [92.5, 86, 89])


def test_csv_integer_and_text_labels_are_classes(tmp_path):
    d = data.read_csv(_csv(tmp_path, "a,b,label\n0,1,7\n1,0,3\n1,1,7\n0,0,3\n"), "label")
    assert d.task == "classification" and d.classes == (3, 7)
    np.testing.assert_array_equal(d.y, [1, 0, 1, 0])
    d = data.read_csv(_csv(tmp_path, "\ufeffa,kind\n1,cat\n2,dog\n3,cat\n"), "kind")
    assert d.classes == ("cat", "dog") and d.feature_names == ("a",)
    forced = data.read_csv(_csv(tmp_path, "a,label\n0,7\n1,3\n"), "label", task="regression")
    assert forced.task == "regression"


@pytest.mark.parametrize(
    "text, target, message",
    [
        ("", "y", "is empty"),
        ("\n\n", "y", "is empty"),
        ("a,y\n", "y", "header but no data rows"),
        ("a,y\n1,2\n", "z", "has no column 'z'; its columns are a, y"),
        ("a,y\n1,2\nx,3\n", "y", "line 3, column 'a': 'x' is not a finite number"),
        ("a,y\n1,2\n,3\n", "y", "line 3, column 'a': '' is not a finite number"),
        ("a,y\n1,2\nnan,3\n", "y", "line 3, column 'a': 'nan' is not a finite number"),
        ("a,y\n1,2\n2,x\n", "y", "line 3, column 'y': 'x' is not a finite number"),
        ("a,y\n1,2\n2,3,4\n", "y", "line 3 has 3 cells; the header has 2"),
        ("a,a,y\n1,2,3\n", "y", "distinct"),
        ("y\n1\n2\n", "y", "only the target column"),
        ("a,y\n1,5\n2,5\n", "y", "single value"),
    ],
)
def test_bad_csv_is_refused_clearly(tmp_path, text, target, message):
    path = _csv(tmp_path, text)
    with pytest.raises(ValueError, match="table.csv") as info:
        data.read_csv(path, target)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_csv_missing_file_and_binary_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="cannot read .*nope.csv"):
        data.read_csv(tmp_path / "nope.csv", "y")
    path = tmp_path / "bin.csv"
    path.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(ValueError, match=r"not a UTF-8 text file \(byte 0 is 0xff\)$"):
        data.read_csv(path, "y")  # was "(byte 0 is not)"


def test_read_features_selects_named_columns(tmp_path):
    path = _csv(tmp_path, "slept,id,studied\n8,a,4\n5,b,1\n")
    np.testing.assert_array_equal(data.read_features(path, ["studied", "slept"]), [[4, 8], [1, 5]])
    with pytest.raises(ValueError, match="lacks column"):
        data.read_features(path, ["studied", "hours"])


# --- issue 25: files that are not files, bounded reads, what a message may echo ---------------


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "directory", "socket"])
def test_what_is_not_a_regular_file_is_refused_unread(tmp_path, kind):
    import socket

    path = {"/dev/zero": "/dev/zero"}.get(kind, tmp_path / kind)
    sock = None
    if kind == "fifo":
        os.mkfifo(path)  # nobody writes it: reading would wait forever
    elif kind == "directory":
        path.mkdir()
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
    try:
        for read in (
            lambda: data.read_csv(path, "y"),
            lambda: data.read_features(path, ["a"]),
            lambda: data.read_npz(path),
        ):
            with pytest.raises(ValueError, match=r"cannot read (CSV|NPZ) file .*: it is a "):
                read()
    finally:
        if sock is not None:
            sock.close()


def test_a_csv_file_past_the_size_limit_is_refused_by_its_size(tmp_path, monkeypatch):
    from jaxnet.data import csv_files

    path = _csv(tmp_path, "a,y\n" + "".join(f"1,{i % 2}\n" for i in range(300)))
    monkeypatch.setattr(csv_files, "CSV_MAX_BYTES", 1024)
    with pytest.raises(ValueError, match=r"CSV file .*table.csv is 1.18 KiB; jaxnet reads at most "
                       r"1 KiB \(jaxnet.data.CSV_MAX_BYTES\)"):  # fmt: skip
        data.read_csv(path, "y")
    monkeypatch.setattr(csv_files, "CSV_MAX_BYTES", 2048)
    assert data.read_csv(path, "y").x.shape == (300, 1)


@pytest.mark.parametrize(
    "text, target, message, absent",
    [
        ("a," + "B" * 5000 + ",y\n1,2,3\n", "z", "its columns are a, 'BBB", "B" * 100),
        ("a,y\n1,2\n" + "x" * 5000 + ",3\n", "y", "line 3, column 'a': 'xxx", "x" * 100),
        ("a,a\x1b[31m,a,y\n1,2,3,4\n", "y", "'a' names columns 1 and 3", "\x1b"),
        ("a,,y\n1,2,3\n", "y", "column 2 of the header has no name", "got"),
        (",".join(f"c{i}" for i in range(1000)) + "\n" + ",".join("1" * 1000) + "\n", "z",
         "c6, c7 and 992 more", "c999"),
    ],
)  # fmt: skip
def test_messages_echo_at_most_a_short_escaped_excerpt_of_the_file(
    tmp_path, text, target, message, absent
):
    path = _csv(tmp_path, text)
    with pytest.raises(ValueError) as info:
        data.read_csv(path, target)
    text = str(info.value)
    assert message in text and absent not in text and len(text) < 400, text


def test_a_value_beyond_float32_is_named_by_its_line_and_column_in_the_file(tmp_path):
    rows = "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20))
    path = _csv(tmp_path, "a,b,y\n" + rows.replace("4,1,0", "4,1e39,0") + "\n\n5,5,1\n")
    d = data.read_csv(path, "y")
    with pytest.raises(ValueError, match=r"table.csv line 6, column 'b': 1e\+39 is beyond the "
                       r"range of float32"):  # fmt: skip
        data.check_scaled(d, None, None, "float32")
    data.check_scaled(d, Scaler.fit(d.x, "standard"), None, "float32")  # scaled, it fits
    assert d.lines[-1] == 24  # the blank lines are counted, as the reader counts them
    target = _csv(tmp_path, "a,y\n" + "".join(f"{i},{i}.5\n" for i in range(9)) + "9,-1e39\n")
    r = data.read_csv(target, "y")
    with pytest.raises(ValueError, match=r"line 11, column 'y': -1e\+39 is beyond"):
        data.check_scaled(r, None, None, "float32")


def test_fractions_that_leave_a_set_empty_name_the_argument_and_the_rows():
    two = data.Dataset("two", np.array([[1.0], [2.0]]), np.array([0, 1]), "classification",
                       ("a",), classes=(0, 1))  # fmt: skip
    with pytest.raises(ValueError, match=r"^test_fraction 0.25 of 2 rows leaves the test set or "
                       r"the rows left empty \(in every class\)"):  # fmt: skip
        data.partition(two, 0.1, 0.25)
    with pytest.raises(ValueError, match=r"^val_fraction 0.5 of 2 rows") as info:
        data.partition(two, 0.5, 0.0)
    assert "np.float64" not in str(info.value)


# --- your own arrays: Dataset.from_arrays and partition((x, y)) --------------------------------


def test_your_own_arrays_split_exactly_as_the_builtin_dataset_does():
    digits = data.digits()
    own = data.Dataset.from_arrays(digits.x.astype(np.int64), digits.y)  # ints, as scikit-learn's
    assert (own.task, own.classes, own.feature_names[:2]) == (
        "classification",
        digits.classes,
        ("x0", "x1"),
    )
    for parts in (data.partition(own, 0.1, 0.25), data.partition((digits.x, digits.y), 0.1, 0.25)):
        for (x, y), (bx, by) in zip(parts.values(), data.partition(digits, 0.1, 0.25).values()):
            np.testing.assert_array_equal(x, bx)
            np.testing.assert_array_equal(y, by)
    regression = data.partition((X, np.array([92.0, 86.0, 89.0])), 0.0, 1 / 3)
    assert regression["train"][1].dtype == np.float64 and len(regression["test"][0]) == 1


def test_labels_of_any_kind_become_indices_and_map_back():
    x = np.arange(12.0).reshape(6, 2)
    words = data.Dataset.from_arrays(x, ["dog", "cat", "dog", "emu", "cat", "dog"])
    assert words.classes == ("cat", "dog", "emu") and words.y.tolist() == [1, 0, 1, 2, 0, 1]
    assert words.labels_of(words.y).tolist() == ["dog", "cat", "dog", "emu", "cat", "dog"]
    big = data.Dataset.from_arrays(x, np.array([2**40, -3, 2**40, 7, 7, -3]))  # past int32
    assert big.classes == (-3, 7, 2**40) and big.labels_of([2]).tolist() == [2**40]
    flags = data.Dataset.from_arrays(x, np.array([True, False] * 3))
    assert flags.classes == (False, True)
    column = data.Dataset.from_arrays(x, np.array([[0.5], [1.5], [2.5], [0.5], [1.0], [9.0]]))
    assert column.task == "regression" and column.y.shape == (6,)  # an (n, 1) column: flattened
    scores = data.Dataset.from_arrays(x, np.array([92.0, 86.0, 89.0] * 2))  # floats: targets
    assert scores.task == "regression" and scores.classes is None
    integral = data.Dataset.from_arrays(x, np.array([0.0, 1.0] * 3), task="classification")
    assert integral.task == "classification" and integral.classes == (0, 1)
    counts = data.Dataset.from_arrays(x, np.arange(6), task="regression")
    assert counts.task == "regression" and counts.y.dtype == np.float64
    one = data.Dataset.from_arrays(x[:1], ["only"])  # one row, one class
    assert (len(one.x), one.classes) == (1, ("only",))
    raw = data.Dataset.from_arrays(x, np.array([b"ant", "bée".encode()] * 3))  # bytes: text
    assert raw.classes == ("ant", "bée")
    with pytest.raises(ValueError, match="val_fraction 0.5 of 1 rows leaves the validation set"):
        data.partition(one, 0.5, 0)


def test_pandas_like_tables_name_their_columns():
    class Frame:  # what from_arrays reads of a pandas DataFrame and Series
        columns = ["height", "weight"]

        def __array__(self, dtype=None, copy=None):
            return np.array([[1.0, 2.0], [3.0, 4.0]])

    class Series(list):
        name = "size"

    d = data.Dataset.from_arrays(Frame(), Series([0.5, 1.5]))
    assert d.feature_names == ("height", "weight") and d.target_name == "size"


def test_a_dataset_prints_in_one_line():
    assert repr(data.digits()) == (
        "Dataset('digits': 1797 rows x 64 features, 10 classes, target 'digit')"
    )
    assert (
        repr(data.tutorial())
        == "Dataset('tutorial': 3 rows x 2 features, regression, target 'score')"
    )


XY = np.arange(8.0).reshape(4, 2)


@pytest.mark.parametrize(
    "call, error, fragment",
    [
        (lambda: data.partition(XY, 0.1, 0.1), TypeError, "an (x, y) pair of arrays; got ndarray"),
        (lambda: data.partition((XY, [0, 1, 0, 1], 3), 0, 0), TypeError, "got tuple of 3 items"),
        (lambda: data.partition({"x": XY}, 0, 0), TypeError, "got dict"),
        (
            lambda: data.partition((XY, ["a", "b", "a", "b"]), 0.5, 0),
            ValueError,
            "class labels 'a', 'b', not indices 0..k-1",
        ),
        (lambda: data.partition((XY, [1, 2, 1, 2]), 0.5, 0), ValueError, "not indices 0..k-1"),
        (
            lambda: data.partition((XY, [0, 1, 0, 1]), 1.0, 0),
            ValueError,
            "val_fraction must be a number in [0, 1); got 1.0",
        ),
        (lambda: data.partition((XY, [0, 1, 0, 1]), 0, -0.1), ValueError, "test_fraction must be"),
        (lambda: data.partition((XY, [0, 1, 0, 1]), "0.1", 0), ValueError, "val_fraction must be"),
        (
            lambda: data.partition((XY, [0, 1, 0, 1]), 0.5, 0, seed=-1),
            ValueError,
            "seed must be a non-negative int",
        ),
        (
            lambda: data.Dataset.from_arrays(XY[:, 0], [0, 1, 0, 1]),
            ValueError,
            "one feature per row is x[:, None]",
        ),
        (
            lambda: data.Dataset.from_arrays(XY[:0], []),
            ValueError,
            "at least one of each; got shape (0, 2)",
        ),
        (lambda: data.Dataset.from_arrays("abc", [0]), TypeError, "got a string"),
        (lambda: data.Dataset.from_arrays([[1, 2], [3]], [0, 1]), TypeError, "rectangular"),
        (
            lambda: data.Dataset.from_arrays(XY.astype(complex), [0] * 4),
            TypeError,
            "dtype complex128",
        ),
        (
            lambda: data.Dataset.from_arrays(np.where(XY == 5, np.inf, XY), [0] * 4),
            ValueError,
            "x must be finite; got inf at index (2, 1)",
        ),
        (
            lambda: data.Dataset.from_arrays(XY, [0, 1]),
            ValueError,
            "y must have shape (4,) to match x's 4 rows; got (2,)",
        ),
        (lambda: data.Dataset.from_arrays(XY, np.zeros((4, 2))), ValueError, "got (4, 2)"),
        (
            lambda: data.Dataset.from_arrays(XY, [0.5, np.nan, 1, 2]),
            ValueError,
            "y must be finite; got nan at index 1",
        ),
        (
            lambda: data.Dataset.from_arrays(XY, ["a", None, "b", "a"]),
            ValueError,
            "got None at index 1",
        ),
        (
            lambda: data.Dataset.from_arrays(XY, np.array(["a", 1, "b", 2], object)),
            TypeError,
            "labels of one kind",
        ),
        (
            lambda: data.Dataset.from_arrays(XY, ["a", "b"] * 2, task="regression"),
            ValueError,
            "needs numeric targets",
        ),
        (
            lambda: data.Dataset.from_arrays(XY, [0] * 4, task="clustering"),
            ValueError,
            "task must be one of",
        ),
        (
            lambda: data.Dataset.from_arrays(XY, [0] * 4, feature_names=["a"]),
            ValueError,
            "feature_names must be 2 strings",
        ),
        (
            lambda: data.Dataset.from_arrays(XY, [0] * 4, feature_names="ab"),
            TypeError,
            "feature_names must be a sequence",
        ),
        (
            lambda: data.Dataset.from_arrays(XY, [0] * 4, target_name=3),
            TypeError,
            "target_name must be a string",
        ),
        (
            lambda: data.Dataset.from_arrays(XY, np.array([b"\xff"] * 4)),
            ValueError,
            "bytes labels that are not UTF-8",
        ),
        (
            lambda: data.Dataset.from_arrays(XY, np.zeros(4, "datetime64[D]")),
            TypeError,
            "numbers or text labels; got dtype datetime64[D]",
        ),
        (
            lambda: data.digits().labels_of([10]),
            ValueError,
            "class indices in [0, 9]; got values from 10 to 10",
        ),
        (lambda: data.digits().labels_of([0.5]), TypeError, "integer class indices"),
        (lambda: data.tutorial().labels_of([0]), ValueError, "'tutorial' is regression"),
    ],
)
def test_bad_arrays_are_refused_in_one_line(call, error, fragment):
    with pytest.raises(error) as caught:
        call()
    assert fragment in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


def test_a_scaler_prints_in_one_line():
    assert repr(Scaler("max", 0.0, 100.0)) == "Scaler(kind='max', offset=0.0, scale=100.0)"
    assert repr(Scaler.fit(X, "max")) == "Scaler(kind='max', offset=[0.0, 0.0], scale=[3.0, 9.0])"
    assert repr(Scaler.fit(data.digits().x)) == "Scaler(kind='standard', 64 columns)"


def test_without_scikit_learn_digits_says_which_extra_to_add(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # as without the data extra
    with pytest.raises(ImportError) as caught:
        data.digits()
    message = str(caught.value)
    assert message.startswith("the digits dataset needs the 'data' extra: pip install -e '.[data]'")
    assert "\n" not in message and "another project" in message
