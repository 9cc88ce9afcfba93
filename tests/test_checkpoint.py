"""Checkpoints: bit-exact round trips, refusal of every damaged file, atomic saves."""

import json
import os
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnet as jn
from jaxnet import checkpoint
from jaxnet.data import Scaler


def _model(sizes=(3, 5, 2), bias=True, dtype=jnp.float32, seed=0):
    net = jn.MLP(sizes, activation="tanh", bias=bias)
    return net, jn.init(net, jax.random.key(seed), dtype)


def _same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _same_params(p, q) -> bool:
    return [sorted(layer) for layer in p] == [sorted(layer) for layer in q] and all(
        _same_bits(layer[k], other[k]) for layer, other in zip(p, q, strict=True) for k in layer
    )


def _numpy_model(sizes=(3, 5, 2), bias=True):
    """Like :func:`_model` without JAX (no compiles): NumPy float32 leaves."""
    net, rng = jn.MLP(sizes, activation="tanh", bias=bias), np.random.default_rng(0)
    return net, [
        {"w": rng.normal(size=(i, o)).astype(np.float32)}
        | ({"b": np.ones(o, np.float32)} if bias else {})
        for i, o in zip(sizes[:-1], sizes[1:], strict=False)
    ]


def _save(path, sizes=(3, 5, 2), model=_numpy_model):
    net, params = model(sizes)
    x = np.random.default_rng(0).normal(size=(20, sizes[0])) * 7.0
    scaler, target = Scaler.fit(x, "standard"), Scaler("max", 0.0, 100.0)
    config = {"command": "test", "lr": 1e-3, "hidden": [5], "classes": ["a", "b"], "none": None}
    checkpoint.save(path, net, params, x_scaler=scaler, y_scaler=target, config=config)
    return net, params, scaler, target, config


def _check_round_trip(path, dtype):
    net, params, scaler, target, config = _save(
        path, model=lambda sizes: _model(sizes, dtype=dtype)
    )
    ck = checkpoint.load(path)
    assert ck.net == net and ck.config == config and ck.version == jn.__version__
    assert ck.params[0]["w"].dtype == dtype
    assert _same_params(ck.params, params)
    for a, b in ((ck.x_scaler, scaler), (ck.y_scaler, target)):
        assert a.kind == b.kind and _same_bits(a.offset, b.offset) and _same_bits(a.scale, b.scale)
    x = np.ones((4, 3))
    assert _same_bits(jn.forward(ck.net, ck.params, x), jn.forward(net, params, x))


def test_round_trip_is_bit_exact_float32(tmp_path):
    _check_round_trip(tmp_path / "m.jaxnet", jnp.float32)


def test_round_trip_is_bit_exact_float64(tmp_path):
    with jax.enable_x64(True):
        _check_round_trip(tmp_path / "m.jaxnet", jnp.float64)


def test_round_trip_without_bias_scalers_or_config(tmp_path):
    net, params = _numpy_model((2, 1), bias=False)
    path = checkpoint.save(tmp_path / "deep" / "dir" / "m.ckpt", net, params)
    assert path.exists() and sorted(os.listdir(path.parent)) == ["m.ckpt"]  # no ".npz" added
    ck = checkpoint.load(path)
    assert ck.x_scaler is None and ck.y_scaler is None and ck.config == {}
    assert _same_params(ck.params, params) and "b" not in ck.params[0]


def test_file_holds_no_pickle_and_plain_entries(tmp_path):
    _save(tmp_path / "m.jaxnet")
    with zipfile.ZipFile(tmp_path / "m.jaxnet") as z:
        names = sorted(z.namelist())
        meta = json.loads(np.load(z.open("metadata.npy"), allow_pickle=False).tobytes())
    assert names == [
        "metadata.npy",
        "params.0.b.npy",
        "params.0.w.npy",
        "params.1.b.npy",
        "params.1.w.npy",
    ]
    assert meta["spec"]["sizes"] == [3, 5, 2] and len(meta["sha256"]) == 64


def _contents(ck):
    return (ck.net, ck.config, ck.x_scaler.to_dict(), ck.y_scaler.to_dict(), ck.version)


def test_flipped_bytes_are_refused_or_harmless(tmp_path):
    path = tmp_path / "m.jaxnet"
    _save(path, sizes=(2, 1))
    good = path.read_bytes()
    reference = checkpoint.load(path)
    refused = 0
    for i in range(0, len(good), 3):  # every third byte: each header field and entry is hit
        damaged = bytearray(good)
        damaged[i] ^= 0xFF
        path.write_bytes(bytes(damaged))
        try:
            ck = checkpoint.load(path)
        except ValueError as e:
            assert str(path) in str(e) and "\n" not in str(e)
            refused += 1
            continue
        # Bytes zip never reads (timestamps, attributes) may change; the model may not.
        assert _same_params(ck.params, reference.params)
        assert _contents(ck) == _contents(reference)
    assert refused > 0.7 * len(good) / 3


def test_every_truncation_is_refused(tmp_path):
    path = tmp_path / "m.jaxnet"
    _save(path, sizes=(2, 1))
    good = path.read_bytes()
    for n in range(0, len(good), 7):
        path.write_bytes(good[:n])
        with pytest.raises(ValueError, match="not a zip file, or truncated"):
            checkpoint.load(path)


def _rewrite(path, edit):
    """Rewrite the npz with ``edit(entries)`` applied: a valid zip with changed contents."""
    with np.load(path, allow_pickle=False) as z:
        entries = {k: z[k] for k in z.files}
    edit(entries)
    with open(path, "wb") as f:
        np.savez(f, **entries)


def _edit_metadata(change):
    def edit(entries):
        meta = json.loads(entries["metadata"].tobytes())
        change(meta)
        entries["metadata"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)

    return edit


@pytest.mark.parametrize(
    "edit",
    [
        _edit_metadata(lambda m: m["spec"].update(activation="relu")),
        _edit_metadata(lambda m: m["scaler"].update(scale=[1.0, 1.0, 1.0])),
        _edit_metadata(lambda m: m["config"].update(lr=1.0)),
        lambda e: e.update({"params.0.w": e["params.0.w"] * 2}),
        lambda e: e.update({"params.1.b": e["params.1.b"].astype(np.float64)}),
        lambda e: e.update({"extra": np.zeros(3)}),
        lambda e: e.pop("params.1.b"),
    ],
    ids=["spec", "scaler", "config", "weights", "dtype", "extra-entry", "missing-entry"],
)
def test_tampered_file_fails_its_checksum(tmp_path, edit):
    path = tmp_path / "m.jaxnet"
    _save(path)
    _rewrite(path, edit)
    with pytest.raises(ValueError, match="m.jaxnet failed its SHA-256 check"):
        checkpoint.load(path)


def test_shapes_not_matching_the_spec_are_refused(tmp_path, monkeypatch):
    # A file with a valid checksum whose spec disagrees with its arrays (a buggy writer).
    net, params = _numpy_model((3, 5, 2))
    with monkeypatch.context() as m:
        m.setattr(checkpoint._validate, "params", lambda net, params: None)
        checkpoint.save(tmp_path / "a.jaxnet", jn.MLP((3, 4, 2)), params)
        checkpoint.save(tmp_path / "b.jaxnet", jn.MLP((3, 5, 5, 2)), params)
    with pytest.raises(ValueError, match=r"a.jaxnet: params do not match the spec \(3, 4, 2\)"):
        checkpoint.load(tmp_path / "a.jaxnet")
    with pytest.raises(ValueError, match=r"b.jaxnet: params do not match the spec"):
        checkpoint.load(tmp_path / "b.jaxnet")


def test_non_checkpoint_files_are_refused(tmp_path):
    text = tmp_path / "notes.jaxnet"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.jaxnet is not a jaxnet checkpoint"):
        checkpoint.load(text)
    npy = tmp_path / "array.jaxnet"
    with open(npy, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(ValueError, match="not a jaxnet checkpoint"):
        checkpoint.load(npy)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ValueError, match="other.npz is not a jaxnet checkpoint: no metadata"):
        checkpoint.load(other)
    with pytest.raises(FileNotFoundError, match="cannot read checkpoint .*missing.jaxnet"):
        checkpoint.load(tmp_path / "missing.jaxnet")
    with pytest.raises(IsADirectoryError, match="cannot read checkpoint"):
        checkpoint.load(tmp_path)


class _Boom:
    """Unpickling this would create a file: proof that loading never unpickles."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickled_entry_is_never_unpickled(tmp_path):
    path, marker = tmp_path / "evil.jaxnet", tmp_path / "pwned"
    _save(path)
    _rewrite(path, lambda e: e.update({"params.0.w": np.array([_Boom(str(marker))], object)}))
    with pytest.raises(ValueError, match="evil.jaxnet is corrupted"):
        checkpoint.load(path)
    assert not marker.exists()


def test_a_newer_format_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "FORMAT_VERSION", 2)
    _save(tmp_path / "new.jaxnet")
    monkeypatch.setattr(checkpoint, "FORMAT_VERSION", 1)
    with pytest.raises(ValueError, match="new.jaxnet has checkpoint format 2; this jaxnet"):
        checkpoint.load(tmp_path / "new.jaxnet")


def test_an_interrupted_save_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "m.jaxnet"
    _save(path)
    old = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(checkpoint._atomic.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        _save(path, sizes=(3, 9, 2))
    monkeypatch.undo()

    def half_written(f, **entries):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.np, "savez", half_written)
    with pytest.raises(KeyboardInterrupt):
        _save(path, sizes=(3, 9, 2))
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["m.jaxnet"]
    assert checkpoint.load(path).net.sizes == (3, 5, 2)


def test_save_refuses_what_it_cannot_store(tmp_path):
    net, params = _numpy_model()
    with pytest.raises(ValueError, match="config must hold only finite JSON values"):
        checkpoint.save(tmp_path / "a", net, params, config={"loss": float("nan")})
    with pytest.raises(ValueError, match="config must hold only finite JSON values"):
        checkpoint.save(tmp_path / "a", net, params, config={"x": np.zeros(2)})
    with pytest.raises(ValueError, match=r"params\[0\]\['w'\] must have shape"):
        checkpoint.save(tmp_path / "a", jn.MLP((4, 5, 2)), params)
    ints = [{k: np.asarray(v).astype(np.int32) for k, v in layer.items()} for layer in params]
    with pytest.raises(ValueError, match="must be a float array"):
        checkpoint.save(tmp_path / "a", net, ints)
    with pytest.raises(TypeError, match="scaler"):
        checkpoint.save(tmp_path / "a", net, params, x_scaler={"kind": "max"})
    assert os.listdir(tmp_path) == []


def test_the_old_scaler_keywords_and_attributes_work_with_a_deprecation_warning(tmp_path):
    net, params, scaler, target, config = _save(tmp_path / "new.jaxnet")
    with pytest.warns(DeprecationWarning) as warned:
        checkpoint.save(
            tmp_path / "old.jaxnet", net, params, scaler=scaler, target_scaler=target, config=config
        )
    assert [str(w.message) for w in warned] == [
        "checkpoint.save(scaler=) is deprecated; use x_scaler=",
        "checkpoint.save(target_scaler=) is deprecated; use y_scaler=",
    ]
    assert {w.filename for w in warned} == {__file__}  # the warning points at the caller
    old, new = checkpoint.load(tmp_path / "old.jaxnet"), checkpoint.load(tmp_path / "new.jaxnet")
    assert _contents(old) == _contents(new)
    with pytest.warns(
        DeprecationWarning, match="Checkpoint.scaler is deprecated; use Checkpoint.x_scaler"
    ):
        assert old.scaler is old.x_scaler
    with pytest.warns(DeprecationWarning, match="use Checkpoint.y_scaler") as warned:
        assert old.target_scaler is old.y_scaler
    assert warned[0].filename == __file__


def test_old_and_new_scaler_keywords_together_or_unknown_ones_are_refused(tmp_path):
    net, params = _numpy_model()
    scaler = Scaler("max", 0.0, 2.0)
    with pytest.raises(TypeError, match="got both scaler= and x_scaler=; pass x_scaler= only"):
        checkpoint.save(tmp_path / "a", net, params, scaler=scaler, x_scaler=scaler)
    with pytest.raises(TypeError, match="got both target_scaler= and y_scaler="):
        checkpoint.save(tmp_path / "a", net, params, target_scaler=scaler, y_scaler=scaler)
    with pytest.raises(TypeError, match="unexpected keyword argument 'scalar'"):
        checkpoint.save(tmp_path / "a", net, params, scalar=scaler)
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="x_scaler must be a"):
        checkpoint.save(tmp_path / "a", net, params, scaler={"kind": "max"})
    assert os.listdir(tmp_path) == []


def test_an_unwritable_path_is_an_os_error_naming_the_file(tmp_path):
    (tmp_path / "plain").write_text("a file, not a directory")
    with pytest.raises(OSError, match="cannot write checkpoint .*plain/m.jaxnet"):
        checkpoint.save(tmp_path / "plain" / "m.jaxnet", *_numpy_model())


# --- issue 25: what a refusal may echo ---------------------------------------------------------


def _rewritten(path, meta: dict) -> None:
    """``path`` with its metadata entry replaced by ``meta`` (its arrays kept)."""
    import io
    import zipfile

    with zipfile.ZipFile(path) as z:
        entries = {i.filename: z.read(i) for i in z.infolist()}
    raw = io.BytesIO()
    np.save(raw, np.frombuffer(json.dumps(meta).encode(), np.uint8))
    entries["metadata.npy"] = raw.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)


@pytest.mark.parametrize("sizes", [[2] * 10**5, [2] * 10**5 + [0], "x" * 10**6])
def test_a_spec_of_a_hundred_thousand_layers_is_refused_in_a_short_line(tmp_path, capsys, sizes):
    from jaxnet.cli import main

    net = jn.MLP((2, 2))
    path = checkpoint.save(
        tmp_path / "m.jaxnet", net, [{k: np.asarray(v) for k, v in jn.init(net, 0)[0].items()}]
    )
    with np.load(path) as z:
        meta = json.loads(z["metadata"].tobytes())
        arrays = {k: z[k] for k in z.files if k != "metadata"}
    meta.pop("sha256")
    meta["spec"]["sizes"] = sizes
    meta["sha256"] = checkpoint._digest(meta, arrays)  # intact: only the spec is hostile
    _rewritten(path, meta)
    with pytest.raises(ValueError) as info:
        checkpoint.load(path)
    assert len(str(info.value)) < 400 and "m.jaxnet" in str(info.value), str(info.value)[:400]
    assert main(["predict", str(path), "--input", "1,2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < 500
