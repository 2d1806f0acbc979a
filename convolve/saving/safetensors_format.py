"""convolve's `.safetensors` weights files: a flat `{name: tensor}` map in Keras's layout.

The file is a standard safetensors file (any safetensors reader opens it):

- tensors are named `<path>/<weight name>`, where `<path>` is the Keras path of the layer
  that owns the weight (`layers/conv2d`, `layers/sequential/layers/dense_1` ...; the same
  paths as in a Keras `.weights.h5`) and the weight name is Keras's (`kernel`, `bias`,
  `gamma`, `moving_mean` ...), e.g. `layers/conv2d/kernel`;
- arrays are in Keras's layout (conv kernels `(*kernel_size, in, out)`), so the values
  are exactly what `layer.get_weights()` returns;
- optimizer variables, when the model is compiled, are `optimizer/0`, `optimizer/1`, ...
  in Keras's order and layout;
- `__metadata__` holds `format` ("convolve.weights"), `format_version` ("1"), `layout`
  ("keras"), `optimizer` (its name, when saved) and `sha256`: the SHA-256 of the header
  without that entry (as compact JSON with sorted keys) followed by the data bytes, so
  that any change to the file is detected when it is read.

Reading parses the header itself and checks every entry (known dtype, shape matching the
byte range, ranges tiling the data without gaps or overlaps) before touching any data.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import torch

from convolve.saving.errors import ModelFileError, refuse_pickle

FORMAT = "convolve.weights"
FORMAT_VERSION = "1"
_MAX_HEADER = 100 * 1024 * 1024
_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}  # fmt: skip
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}


def _digest(header: dict[str, Any], data: bytes | memoryview) -> str:
    canonical = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    h = hashlib.sha256(canonical)
    h.update(data)
    return h.hexdigest()


def dumps(tensors: dict[str, Any], metadata: dict[str, str]) -> bytes:
    """A safetensors file (as bytes) holding `tensors`, with an integrity digest."""
    header: dict[str, Any] = {}
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        tensor = torch.as_tensor(tensors[name]).detach().cpu().contiguous()
        if tensor.dtype not in _NAMES:
            raise ValueError(f"Cannot store tensor '{name}' of dtype {tensor.dtype}.")
        raw = tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
        header[name] = {
            "dtype": _NAMES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    data = b"".join(chunks)
    meta = {str(k): str(v) for k, v in metadata.items()}
    header["__metadata__"] = meta
    meta["sha256"] = _digest(header, data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded + data


@dataclass
class _Entry:
    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int
    end: int


class SafetensorsFile:
    """A parsed, checked safetensors file; tensors are materialised on request.

    Args:
        data: the file's bytes.
        path: the file name, for error messages.
    """

    def __init__(self, data: bytes, path: Any) -> None:
        self.path = path
        self._data = memoryview(data)
        refuse_pickle(data, path)
        if len(data) < 8:
            raise self.error(None, f"too short for a safetensors file ({len(data)} bytes)")
        (size,) = struct.unpack("<Q", data[:8])
        if size > min(len(data) - 8, _MAX_HEADER):
            raise self.error("header", f"declares a {size}-byte header in a {len(data)}-byte file")
        try:
            header = json.loads(bytes(data[8 : 8 + size]).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            raise self.error("header", f"not valid JSON: {err}") from None
        if not isinstance(header, dict):
            raise self.error("header", "the header is not a JSON object")
        self._body = self._data[8 + size :]
        meta = header.pop("__metadata__", {})
        if not isinstance(meta, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
        ):
            raise self.error("__metadata__", "must map strings to strings")
        self.metadata: dict[str, str] = dict(meta)
        self.entries = {name: self._entry(name, spec) for name, spec in header.items()}
        self._check_tiling()
        digest = meta.get("sha256")
        if digest is None and meta.get("format") == FORMAT:
            raise self.error("__metadata__", "the integrity digest (sha256) is missing")
        if digest is not None:
            unsigned = {**header, "__metadata__": {k: v for k, v in meta.items() if k != "sha256"}}
            if _digest(unsigned, self._body) != digest:
                raise self.error(None, "integrity check failed: the file was modified or damaged")

    def error(self, entry: str | None, problem: str) -> ModelFileError:
        return ModelFileError(self.path, entry, problem)

    def _entry(self, name: Any, spec: Any) -> _Entry:
        if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
            raise self.error(str(name), f"malformed tensor entry {spec!r:.100}")
        dtype = _DTYPES.get(spec["dtype"])
        shape, offsets = spec["shape"], spec["data_offsets"]
        if dtype is None:
            raise self.error(name, f"unknown dtype {spec['dtype']!r:.20}")
        if not isinstance(shape, list) or len(shape) > 16 or not all(_count(v) for v in shape):
            raise self.error(name, f"malformed shape {shape!r:.100}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_count(v) for v in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= len(self._body)
        ):
            raise self.error(name, f"data offsets {offsets!r:.60} fall outside the file")
        itemsize = torch.empty((), dtype=dtype).element_size()
        if (offsets[1] - offsets[0]) != math.prod(shape) * itemsize:
            raise self.error(
                name,
                f"shape {tuple(shape)} of {spec['dtype']} needs {math.prod(shape) * itemsize} "
                f"bytes, the entry covers {offsets[1] - offsets[0]}",
            )
        return _Entry(dtype, tuple(shape), offsets[0], offsets[1])

    def _check_tiling(self) -> None:
        position = 0
        for name, entry in sorted(self.entries.items(), key=lambda kv: (kv[1].start, kv[1].end)):
            if entry.start != position:
                raise self.error(name, "tensor data overlaps another tensor or leaves a gap")
            position = entry.end
        if position != len(self._body):
            raise self.error(None, f"{len(self._body) - position} trailing bytes after the data")

    def tensor(self, name: str) -> torch.Tensor:
        entry = self.entries[name]
        raw = bytes(self._body[entry.start : entry.end])
        if not raw:
            return torch.empty(entry.shape, dtype=entry.dtype)
        flat = torch.frombuffer(bytearray(raw), dtype=entry.dtype)
        return flat.reshape(entry.shape)

    def check_format(self) -> None:
        fmt = self.metadata.get("format")
        if fmt is not None and fmt != FORMAT:
            raise self.error("__metadata__", f"written by another program (format={fmt!r:.50})")
        version = self.metadata.get("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise self.error("__metadata__", f"unsupported format_version {version!r:.20}")
        if self.metadata.get("layout", "keras") != "keras":
            raise self.error("__metadata__", "weights are not in Keras's layout")


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
