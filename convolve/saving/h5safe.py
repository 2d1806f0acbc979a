"""Reading HDF5 weight files without trusting them.

An HDF5 file can point outside itself (external links, external raw storage, virtual
datasets), ask the library to load a filter plugin, or declare a dataset far larger than
the bytes it stores. Paths are therefore resolved one link at a time (hard links only),
and a dataset is read only after its layout, filters, dtype, declared size and shape have
been checked against what the model expects.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from convolve.saving.errors import ModelFileError, UnsafeModelError, refuse_pickle

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# A filtered (compressed) dataset may expand at most this much; Keras uses the same bound.
_MAX_EXPANSION = 1000
_ALLOWED_FILTERS = {1: "deflate", 2: "shuffle", 3: "fletcher32"}


class H5Reader:
    """An HDF5 file opened from bytes, with checked access to groups and datasets.

    Args:
        data: the whole file.
        path: the file name, for error messages.
        prefix: the archive member holding the file, if any (e.g. "model.weights.h5").
    """

    def __init__(self, data: bytes, path: Any, prefix: str | None = None) -> None:
        import h5py

        self.path = path
        self.prefix = prefix
        self.size = len(data)
        if not data.startswith(HDF5_SIGNATURE):
            refuse_pickle(data, path)
            raise self.error(None, "not an HDF5 file (no HDF5 signature at offset 0)")
        try:
            self.file = h5py.File(io.BytesIO(data), "r")
        except Exception as err:  # h5py raises OSError and friends for damaged files
            raise self.error(None, f"the HDF5 file cannot be opened: {err}") from None

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> H5Reader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ----------------------------------------------------------------- errors
    def _entry(self, entry: str | None) -> str | None:
        if self.prefix and entry:
            return f"{self.prefix}: {entry}"
        return self.prefix or entry

    def error(self, entry: str | None, problem: str) -> ModelFileError:
        return ModelFileError(self.path, self._entry(entry), problem)

    def unsafe(self, entry: str | None, problem: str) -> UnsafeModelError:
        return UnsafeModelError(self.path, self._entry(entry), problem)

    # ----------------------------------------------------------------- access
    def _child(self, group: Any, name: str, full: str) -> Any:
        import h5py

        if not name or name in (".", ".."):
            raise self.error(full, "empty or relative path component")
        try:
            if name not in group:
                return None
            link = group.get(name, getlink=True)
        except Exception as err:
            raise self.error(full, f"unreadable link: {err}") from None
        if isinstance(link, h5py.ExternalLink):
            raise self.unsafe(full, f"external link to '{link.filename}' refused")
        if isinstance(link, h5py.SoftLink):
            raise self.unsafe(full, "soft link refused")
        if not isinstance(link, h5py.HardLink):
            raise self.unsafe(full, f"unsupported link type {type(link).__name__}")
        try:
            return group[name]
        except Exception as err:
            raise self.error(full, f"unreadable object: {err}") from None

    def group(self, path: str) -> Any:
        """The group at `path` ("" for the root), or None when it does not exist."""
        import h5py

        current = self.file
        walked = []
        for name in [p for p in path.split("/") if p != ""] if path else []:
            walked.append(name)
            current = self._child(current, name, "/".join(walked))
            if current is None:
                return None
            if not isinstance(current, h5py.Group):
                raise self.error("/".join(walked), "expected a group, found a dataset")
        return current

    def keys(self, group: Any, where: str) -> list[str]:
        try:
            return list(group.keys())
        except Exception as err:
            raise self.error(where, f"unreadable group: {err}") from None

    def attr(self, group: Any, name: str, where: str) -> Any:
        """A group attribute (strings decoded), or None; Keras's chunked lists are joined."""
        try:
            if name in group.attrs:
                value = group.attrs[name]
            elif f"{name}0" in group.attrs:  # long lists are split into name0, name1 ...
                value, k = [], 0
                while f"{name}{k}" in group.attrs and k < 10_000:
                    value.extend(group.attrs[f"{name}{k}"])
                    k += 1
            else:
                return None
        except Exception as err:
            raise self.error(f"{where}@{name}", f"unreadable attribute: {err}") from None
        return _decode(value)

    def dataset(self, group: Any, name: str, where: str) -> Any:
        """A checked dataset handle (nothing read yet), or None when missing."""
        import h5py

        parts = name.split("/")
        for part in parts[:-1]:
            group = self._child(group, part, where)
            if group is None:
                return None
            if not isinstance(group, h5py.Group):
                raise self.error(where, "expected a group, found a dataset")
        ds = self._child(group, parts[-1], where)
        if ds is None:
            return None
        if not isinstance(ds, h5py.Dataset):
            raise self.error(where, "expected a dataset, found a group")
        if ds.external:
            raise self.unsafe(where, f"dataset stored in external files {ds.external} refused")
        if ds.is_virtual:
            raise self.unsafe(where, "virtual dataset (data from other files) refused")
        plist = ds.id.get_create_plist()
        for i in range(plist.get_nfilters()):
            code = plist.get_filter(i)[0]
            if code not in _ALLOWED_FILTERS:
                raise self.unsafe(
                    where, f"filter {code} would need a plugin; only deflate/shuffle allowed"
                )
        kind = ds.dtype.kind
        is_bf16 = _attr_str(ds, "dtype") == "bfloat16"
        if not (kind in "fiub" or (is_bf16 and ds.dtype.itemsize == 2)) or ds.dtype.itemsize > 8:
            raise self.error(where, f"unsupported dtype {ds.dtype}")
        declared = math.prod(ds.shape or ()) * ds.dtype.itemsize
        stored = ds.id.get_storage_size()
        if stored > self.size:
            raise self.error(where, f"claims {stored} stored bytes in a {self.size}-byte file")
        limit = stored * (_MAX_EXPANSION if plist.get_nfilters() else 1)
        if declared > limit:
            raise self.error(
                where,
                f"declares {declared} bytes of data but the file stores only {stored} for it",
            )
        return ds

    def read(self, ds: Any, expected_shape: tuple[int, ...] | None, where: str) -> torch.Tensor:
        """Reads a checked dataset as a tensor, after comparing its shape with the model's."""
        shape = tuple(ds.shape or ())
        if expected_shape is not None and shape != tuple(expected_shape):
            raise ShapeMismatch(
                self.path,
                self._entry(where),
                f"the file holds shape {shape}, the model expects {tuple(expected_shape)}",
            )
        try:
            value = ds[()]
        except Exception as err:
            raise self.error(where, f"unreadable data: {err}") from None
        array = np.asarray(value)
        if _attr_str(ds, "dtype") == "bfloat16":
            raw = np.ascontiguousarray(array).view(np.uint16)
            return torch.from_numpy(raw.copy()).view(torch.bfloat16)
        return torch.from_numpy(np.array(array, copy=True))


class ShapeMismatch(ModelFileError):
    """A weight in the file does not have the shape the model expects."""


def _attr_str(obj: Any, name: str) -> str | None:
    try:
        value = obj.attrs.get(name)
    except Exception:
        return None
    value = _decode(value)
    return value if isinstance(value, str) else None


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [_decode(v) for v in value.tolist()]
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def write_h5(
    tree: Iterator[tuple[str, dict[str, Any], list[np.ndarray] | dict[str, np.ndarray]]],
) -> bytes:
    """An HDF5 file (as bytes) with one `<path>/vars` group per entry, as Keras writes.

    Args:
        tree: `(path, attrs, arrays)` triples; a list of arrays becomes datasets "0",
            "1", ...; a dict (what a layer's `save_own_variables` wrote) keeps its keys.
    """
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        for path, attrs, arrays in tree:
            group = f.create_group(f"{path}/vars" if path else "vars")
            for key, value in attrs.items():
                group.attrs[key] = value
            items = arrays.items() if isinstance(arrays, dict) else enumerate(arrays)
            for key, array in items:
                group[str(key)] = array
    return buffer.getvalue()
