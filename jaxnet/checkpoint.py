"""Save and load a trained model: spec, params, scalers, training config and library version.

A checkpoint is one ``.npz`` (zip) file: one ``.npy`` entry per params leaf (``params.0.w``,
``params.0.b``, ...) and a ``metadata`` entry holding UTF-8 JSON as a uint8 array. Nothing is
pickled, and files are read with ``allow_pickle=False``, so loading a file cannot run code.

The metadata carries a SHA-256 over itself and every array's name, dtype, shape and bytes, so
a truncated, corrupted or edited file is refused with a ``ValueError`` that names the file. It
is an integrity check against accidents, not a signature: anyone can write a valid file. The
params are checked against the spec, so a file whose shapes disagree with its spec is refused
too. A save writes a temporary file in the target's directory, flushes it to disk and renames
it over the target, so an interrupted save leaves any previous checkpoint intact.

The scaler keywords and attributes are ``x_scaler`` and ``y_scaler``, as in ``jaxnet.save``
and :class:`jaxnet.Model`; the older ``scaler`` and ``target_scaler`` still work with a
``DeprecationWarning``. In the file they keep their first names (``scaler``, ``target_scaler``).

Left out: optimizer state (resuming training), populations, and reading other formats.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import __version__, _atomic, _validate
from ._reading import excerpt
from .data import Scaler
from .mlp import MLP, check_net

FORMAT = "jaxnet-checkpoint"
FORMAT_VERSION = 1
METADATA = "metadata"


@dataclasses.dataclass(frozen=True, eq=False)
class Checkpoint:
    """What :func:`load` returns.

    Attributes:
      net: the :class:`~jaxnet.MLP` spec.
      params: list of ``{"w": (fan_in, fan_out), "b": (fan_out,)}`` dicts of NumPy arrays,
        bit for bit as saved (JAX converts them on first use).
      x_scaler: the input :class:`~jaxnet.data.Scaler` fitted on the training data, or None.
      y_scaler: the regression target's scaler, or None.
      config: the JSON config given to :func:`save` (tuples come back as lists).
      version: the jaxnet version that wrote the file.
    """

    net: MLP
    params: list
    x_scaler: Scaler | None
    y_scaler: Scaler | None
    config: dict
    version: str

    @property
    def scaler(self) -> Scaler | None:
        """Deprecated name of :attr:`x_scaler`."""
        _warn_renamed("Checkpoint.scaler", "Checkpoint.x_scaler", callers_up=1)
        return self.x_scaler

    @property
    def target_scaler(self) -> Scaler | None:
        """Deprecated name of :attr:`y_scaler`."""
        _warn_renamed("Checkpoint.target_scaler", "Checkpoint.y_scaler", callers_up=1)
        return self.y_scaler


# Keyword names of save() before they matched jaxnet.save's: old name -> new name.
_RENAMED_KEYWORDS = {"scaler": "x_scaler", "target_scaler": "y_scaler"}


def _warn_renamed(old: str, new: str, callers_up: int) -> None:
    """A DeprecationWarning that points at the user's line, ``callers_up`` frames above ours."""
    warnings.warn(f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel=2 + callers_up)


def _scaler_keywords(x_scaler, y_scaler, renamed: dict) -> tuple:
    """``(x_scaler, y_scaler)`` with the deprecated keywords of :func:`save` folded in.

    Raises:
      TypeError: for a keyword save() never had, or an old name given with its new one.
    """
    given = {"x_scaler": x_scaler, "y_scaler": y_scaler}
    for old, value in renamed.items():
        new = _RENAMED_KEYWORDS.get(old)
        if new is None:
            raise TypeError(f"save() got an unexpected keyword argument {old!r}")
        if given[new] is not None:
            raise TypeError(f"save() got both {old}= and {new}=; pass {new}= only")
        _warn_renamed(f"checkpoint.save({old}=)", f"{new}=", callers_up=2)
        given[new] = value
    return given["x_scaler"], given["y_scaler"]


def _spec(net: MLP) -> dict:
    return {f.name: getattr(net, f.name) for f in dataclasses.fields(net)}


def _leaves(params) -> dict[str, np.ndarray]:
    """``{"params.<layer>.<w|b>": array}`` in layer order, as C-contiguous NumPy arrays."""
    out = {}
    for i, layer in enumerate(params):
        for name in sorted(layer):
            leaf = np.ascontiguousarray(np.asarray(layer[name]))
            if leaf.dtype.kind != "f":
                raise ValueError(f"params[{i}][{name!r}] must be a float array; got {leaf.dtype}")
            out[f"params.{i}.{name}"] = leaf
    return out


def _digest(meta: dict, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the metadata (without its digest) and every array's name, dtype, shape, bytes."""
    h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for name in sorted(arrays):
        a = arrays[name]
        h.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _metadata_entry(meta: dict, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The ``metadata`` entry: JSON with its digest, as a uint8 array."""
    try:
        text = json.dumps({**meta, "sha256": _digest(meta, arrays)}, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"config must hold only finite JSON values (no NaN, arrays, objects): {e}"
        ) from e
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _write_atomic(path: Path, entries: dict[str, np.ndarray]) -> None:
    """Write ``entries`` as an npz at ``path`` via a temporary file and ``os.replace``."""
    # A file object, so numpy does not append ".npz"; orphans of a killed save are removed.
    _atomic.write(path, lambda f: np.savez(f, allow_pickle=False, **entries))


def save(path, net: MLP, params, *, x_scaler=None, y_scaler=None, config=None, **renamed) -> Path:
    """Write a checkpoint atomically, creating parent directories.

    Args:
      path: destination file (any name; ``.jaxnet`` by convention).
      net: the spec; params: its parameters (float leaves, any float dtype).
      x_scaler: the input :class:`~jaxnet.data.Scaler` fitted on the training data, if any.
      y_scaler: the regression target's scaler, if any.
      config: a JSON-serialisable dict (training settings, results).
      **renamed: ``scaler=`` and ``target_scaler=``, the deprecated names of ``x_scaler=`` and
        ``y_scaler=`` (each warns with a ``DeprecationWarning``).

    Returns:
      ``path`` as a :class:`~pathlib.Path`.

    Raises:
      ValueError, TypeError: for params that do not fit ``net`` or a config that is not JSON.
      OSError: if the file cannot be written; any previous file at ``path`` is left intact.
    """
    x_scaler, y_scaler = _scaler_keywords(x_scaler, y_scaler, renamed)
    check_net(net)
    _validate.params(net, params)
    for argument, s in (("x_scaler", x_scaler), ("y_scaler", y_scaler)):
        if s is not None and not isinstance(s, Scaler):
            raise TypeError(f"{argument} must be a jaxnet Scaler or None; got {type(s).__name__}")
    arrays = _leaves(params)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "version": __version__,
        "spec": _spec(net),
        "arrays": {
            name: {"dtype": a.dtype.str, "shape": list(a.shape)} for name, a in arrays.items()
        },
        "scaler": None if x_scaler is None else x_scaler.to_dict(),
        "target_scaler": None if y_scaler is None else y_scaler.to_dict(),
        "config": {} if config is None else config,
    }
    path, entries = Path(path), {**arrays, METADATA: _metadata_entry(meta, arrays)}
    try:
        _write_atomic(path, entries)
    except OSError as e:  # re-raised with one argument, so the message names the file
        raise type(e)(f"cannot write checkpoint {path}: {e.strerror or e}") from e
    return path


# --- load -------------------------------------------------------------------------------------

# What a damaged zip or .npy entry raises inside numpy and zipfile (OSError: a seek to a
# negative offset read from a damaged header; NotImplementedError: a damaged method field).
_CORRUPT = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    KeyError,
    ValueError,
    TypeError,
    OSError,
    NotImplementedError,
)


def _open(path: Path):
    try:
        return open(path, "rb")
    except OSError as e:  # re-raised with one argument, so the message names the file
        raise type(e)(f"cannot read checkpoint {path}: {e.strerror or e}") from e


# Bounds checked before anything is decompressed (a zip entry can declare gigabytes in a few
# kilobytes): the metadata entry, an .npy header, an entry the metadata does not list, and how
# much larger than the file all entries may be together (np.savez stores, so about 1x).
MAX_METADATA_BYTES = 16 * 2**20
_NPY_HEADER_BYTES = 2**16 + 16
_UNLISTED_BYTES = 2**16
_EXPANSION = 2


def _entry_name(info: zipfile.ZipInfo) -> str:
    return info.filename.removesuffix(".npy")


def _check_declared_sizes(path: Path, infos: list) -> None:
    """Refuse a zip whose entries declare far more bytes than the file holds (a zip bomb)."""
    declared, size = sum(i.file_size for i in infos), path.stat().st_size
    if declared > _EXPANSION * size + 2**20:
        raise ValueError(
            f"{path} is not a jaxnet checkpoint: its entries declare {declared:,} bytes "
            f"uncompressed in a file of {size:,} bytes (refused unread, a possible zip bomb)"
        )


def _limit(listed) -> int:
    """The most data bytes an entry may hold: its listed shape in any float dtype (up to 16
    bytes an element; a changed dtype is left to the checksum), or a small unlisted entry."""
    return _UNLISTED_BYTES if listed is None else 16 * math.prod(listed["shape"])


def _read_npy(path: Path, zf: zipfile.ZipFile, info, limit: int, listed=None) -> np.ndarray:
    """One .npy entry, its declared size and header (shape ``listed``) checked before its data
    is decompressed; at most ``limit`` data bytes."""
    name = _entry_name(info)
    if info.file_size > limit + _NPY_HEADER_BYTES:
        raise ValueError(
            f"{path} is corrupted: entry {name!r} declares {info.file_size:,} bytes; "
            f"its listed shape allows at most {limit:,}"
        )
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"{path} is corrupted: entry {name!r} has .npy version {version}")
        read_header = getattr(np.lib.format, f"read_array_header_{version[0]}_0")
        shape, fortran, dtype = read_header(f)
        if dtype.hasobject:
            raise ValueError(f"{path} is corrupted: entry {name!r} holds Python objects")
        if listed is not None and list(shape) != list(listed["shape"]):
            raise ValueError(
                f"{path} is corrupted: entry {name!r} has shape {list(shape)}; "
                f"the metadata lists {listed['shape']}"
            )
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > limit:
            raise ValueError(f"{path} is corrupted: entry {name!r} is larger than listed")
        data = f.read()  # to the end of the entry, which verifies its CRC
    if len(data) != nbytes:
        raise ValueError(f"{path} is corrupted: entry {name!r} holds {len(data)} of {nbytes} bytes")
    array = np.frombuffer(data, dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C").copy()


def _read_metadata_entry(path: Path, zf: zipfile.ZipFile, infos: list) -> np.ndarray:
    found = [i for i in infos if _entry_name(i) == METADATA]
    if not found:
        raise ValueError(f"{path} is not a jaxnet checkpoint: no metadata entry")
    if found[0].file_size > MAX_METADATA_BYTES:
        raise ValueError(
            f"{path} is not a jaxnet checkpoint: its metadata declares "
            f"{found[0].file_size:,} bytes (at most {MAX_METADATA_BYTES:,})"
        )
    return _read_npy(path, zf, found[0], MAX_METADATA_BYTES)


def _spec_shapes(meta) -> dict | None:
    """``{"params.<i>.<w|b>": shape}`` that the metadata's spec implies; None if unreadable."""
    try:
        net = MLP(**meta["spec"])
    except (KeyError, TypeError, ValueError):
        return None
    shapes = {}
    for i, (fan_in, fan_out) in enumerate(zip(net.sizes[:-1], net.sizes[1:])):
        shapes[f"params.{i}.w"] = [fan_in, fan_out]
        if net.bias:
            shapes[f"params.{i}.b"] = [fan_out]
    return shapes


def _listing(path: Path, raw: np.ndarray) -> dict:
    """The metadata's ``arrays`` listing, checked against its spec before any array is read.

    Returns ``{}`` for metadata that cannot be read at all: :func:`load` refuses it later with
    the reason, and meanwhile every entry is bounded as an unlisted one.
    """
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
        listed, shapes = meta["arrays"], _spec_shapes(meta)
        wrong = [
            (k, v["shape"])
            for k, v in listed.items()
            if shapes is None or v["shape"] != shapes.get(k)
        ]
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        return {}
    if shapes is None:
        return {}
    if wrong:
        sizes = tuple(meta["spec"]["sizes"])
        raise ValueError(
            f"{path}: params do not match the spec {_sizes_text(sizes)}: {excerpt(wrong[0][0])} "
            f"{excerpt(wrong[0][1])}"
        )
    return listed


def _read_entries(path: Path) -> dict[str, np.ndarray]:
    """Every array in the npz at ``path``; ValueError if it is not a readable, intact npz.

    Sizes are checked before decompressing: the metadata first, then every entry's declared
    size and .npy shape against the metadata's list, itself checked against the spec.
    """
    with _open(path) as f:
        if not zipfile.is_zipfile(f):
            raise ValueError(f"{path} is not a jaxnet checkpoint: not a zip file, or truncated")
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as zf:
                infos = zf.infolist()
                _check_declared_sizes(path, infos)
                entries = {METADATA: _read_metadata_entry(path, zf, infos)}
                listed = _listing(path, entries[METADATA])
                for info in infos:
                    name = _entry_name(info)
                    if name != METADATA:
                        entries[name] = _read_npy(
                            path, zf, info, _limit(listed.get(name)), listed.get(name)
                        )
        except ValueError as e:
            if str(path) in str(e):
                raise
            raise ValueError(f"{path} is corrupted: {e}") from e
        except _CORRUPT as e:
            raise ValueError(f"{path} is corrupted: {e}") from e
    return entries


def _metadata(path: Path, entries: dict) -> dict:
    raw = entries.pop(METADATA, None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError(f"{path} is not a jaxnet checkpoint: no metadata entry")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{path} is corrupted: its metadata is not JSON ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a jaxnet checkpoint: wrong format tag")
    if not isinstance(meta.get("format_version"), int) or meta["format_version"] > FORMAT_VERSION:
        raise ValueError(
            f"{path} has checkpoint format {meta.get('format_version')!r}; this jaxnet "
            f"({__version__}) reads format {FORMAT_VERSION} and older"
        )
    return meta


def _check_integrity(path: Path, meta: dict, arrays: dict) -> None:
    stored = meta.pop("sha256", None)
    if stored != _digest(meta, arrays):
        raise ValueError(f"{path} failed its SHA-256 check: the file was modified or corrupted")
    listed = meta.get("arrays")
    if not isinstance(listed, dict) or set(listed) != set(arrays):
        raise ValueError(f"{path}: its arrays {sorted(arrays)} differ from the metadata's list")


def _sizes_text(sizes) -> str:
    """Layer sizes for a message: all of a small net's, the ends of a long list (a damaged or
    hostile spec may list a million layers, which no message should echo)."""
    sizes = tuple(sizes)
    if len(sizes) <= 8:
        return str(sizes)
    return f"({', '.join(map(str, sizes[:3]))}, ..., {sizes[-1]}) ({len(sizes):,} sizes)"


def _net(path: Path, spec) -> MLP:
    try:
        return MLP(**spec)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path} holds an invalid MLP spec {excerpt(spec, 120)}: {e}") from e


def _params(path: Path, net: MLP, arrays: dict) -> list[dict]:
    """Rebuild the params list from ``params.<i>.<name>`` entries and check it against ``net``."""
    params = [{} for _ in range(net.depth)]
    for key, a in arrays.items():
        parts = key.split(".")
        ok = len(parts) == 3 and parts[0] == "params" and parts[1].isdigit()
        if not ok or int(parts[1]) >= net.depth or a.dtype.kind != "f":
            raise ValueError(
                f"{path}: entry {excerpt(key)} ({a.dtype}) does not fit the spec "
                f"{_sizes_text(net.sizes)}"
            )
        params[int(parts[1])][parts[2]] = a
    try:
        _validate.params(net, params)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"{path}: params do not match the spec {_sizes_text(net.sizes)}: {e}"
        ) from e
    return params


def _scaler(path: Path, meta: dict, key: str) -> Scaler | None:
    if meta.get(key) is None:
        return None
    try:
        return Scaler.from_dict(meta[key])
    except ValueError as e:
        raise ValueError(f"{path}: bad {key}: {e}") from e


def load(path) -> Checkpoint:
    """Read a checkpoint written by :func:`save`.

    Args:
      path: the file.

    Returns:
      A :class:`Checkpoint`.

    Raises:
      ValueError: naming the file, if it is not a jaxnet checkpoint, is truncated, corrupted
        or modified, was written by a newer format, or its params do not match its spec.
      OSError: if the file cannot be read (missing, a directory, no permission).
    """
    path = Path(path)
    arrays = _read_entries(path)
    meta = _metadata(path, arrays)
    _check_integrity(path, meta, arrays)
    net = _net(path, meta.get("spec"))
    config = meta.get("config")
    return Checkpoint(
        net=net,
        params=_params(path, net, arrays),
        x_scaler=_scaler(path, meta, "scaler"),
        y_scaler=_scaler(path, meta, "target_scaler"),
        config=config if isinstance(config, dict) else {},
        version=str(meta.get("version")),
    )
