"""`HashedCrossing`: crosses categorical features with the hashing trick, as Keras does.

Keras crosses with TensorFlow's `sparse_cross_hashed`: each feature value becomes a 64-bit
number (a string its FarmHash `Fingerprint64`, an integer its own two's-complement bits),
the numbers are folded, in input order, into the key `0xDECAFCAFFE` with `FingerprintCat64`,
and the bin is the result modulo `num_bins`. The same is done here, bit for bit, with the
fingerprint from `convolve.layers.hashing`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from convolve.layers import _args
from convolve.layers.base import Layer, standardize_dtype, torch_dtype
from convolve.layers.hashing import encode_bins, fingerprint64
from convolve.layers.symbolic import is_symbolic

_MASK = (1 << 64) - 1
_HASH_KEY = 0xDECAFCAFFE  # TensorFlow's default `hash_key` for sparse crosses
_CAT_MUL = 0xC6A4A7935BD1E995


def _shift_mix(value: int) -> int:
    return value ^ (value >> 47)


def fingerprint_cat64(first: int, second: int) -> int:
    """TensorFlow's `FingerprintCat64`: combines two 64-bit fingerprints, unsigned."""
    result = first ^ _CAT_MUL
    result ^= (_shift_mix((second * _CAT_MUL) & _MASK) * _CAT_MUL) & _MASK
    result = (result * _CAT_MUL) & _MASK
    result = (_shift_mix(result) * _CAT_MUL) & _MASK
    return _shift_mix(result)


def _feature_ids(values: np.ndarray) -> list[int]:
    """The 64-bit number each value of a flat array enters the cross as."""
    if values.dtype.kind in "iu":
        return [int(v) & _MASK for v in values.tolist()]
    out = []
    cache: dict[bytes, int] = {}
    for v in values.tolist():
        data = v.encode("utf-8") if isinstance(v, str) else v
        if not isinstance(data, bytes):
            raise TypeError(type(v).__name__)
        digest = cache.get(data)
        if digest is None:
            digest = cache[data] = fingerprint64(data)
        out.append(digest)
    return out


def cross_buckets(columns: list[np.ndarray], num_buckets: int) -> np.ndarray:
    """Buckets of the crosses of equally long flat `columns` (integers or strings), as
    TensorFlow's `sparse_cross_hashed(columns, num_buckets)` assigns them; int64."""
    ids = [_feature_ids(column) for column in columns]
    out = np.empty(len(ids[0]), dtype=np.int64)
    for i, row in enumerate(zip(*ids, strict=True)):
        digest = _HASH_KEY
        for value in row:
            digest = fingerprint_cat64(digest, value)
        out[i] = digest % num_buckets
    return out


class HashedCrossing(Layer):
    """Crosses categorical features with the "hashing trick", as `keras.layers.HashedCrossing`.

    Conceptually `hash(concatenate(features)) % num_bins`; the bins are exactly those Keras
    (TensorFlow's `sparse_cross_hashed`) assigns. Call it on a tuple or list of two or more
    features of integers or strings, all of shape `()`, `(batch_size,)` or `(batch_size, 1)`.

    Args:
        num_bins: the number of hash bins.
        output_mode: `"int"` (bin indices) or `"one_hot"`.
        sparse: only False (sparse outputs are not supported, as on Keras's torch backend).
        name: the layer's name.
        dtype: the output dtype: `"int64"` by default in `"int"` mode, `"float32"` otherwise.
        **kwargs: base layer arguments.

    Example:
        >>> import numpy as np
        >>> from convolve.layers import HashedCrossing
        >>> layer = HashedCrossing(num_bins=5)
        >>> feat1 = np.array(["A", "B", "A", "B", "A"])
        >>> layer((feat1, np.array([101, 101, 101, 102, 102]))).tolist()
        [1, 4, 1, 1, 3]
    """

    _built_at_init = True

    def __init__(
        self,
        num_bins: int,
        output_mode: str = "int",
        sparse: bool = False,
        name: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        owner = "HashedCrossing"
        if output_mode == "int" and dtype is None:
            dtype = "int64"
        if (
            isinstance(num_bins, bool)
            or not isinstance(num_bins, int | np.integer)
            or num_bins <= 0
        ):
            raise _args.fail(owner, "num_bins", num_bins, "a positive integer")
        if output_mode not in ("int", "one_hot"):
            raise _args.fail(owner, "output_mode", output_mode, "one of 'int', 'one_hot'")
        if sparse:
            raise ValueError(
                f"{owner}: `sparse=True` cannot be used with convolve (as with Keras's torch "
                f"backend). Received: sparse={sparse!r}"
            )
        if dtype is not None:
            standardize_dtype(dtype)
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.num_bins = int(num_bins)
        self.output_mode = output_mode
        self.sparse = False

    def forward(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if is_symbolic(inputs):
            raise ValueError(
                f"Layer '{self.name}' (HashedCrossing): runs on concrete arrays or tensors "
                "(as in Keras, it cannot be called on symbolic model inputs); use it to "
                "preprocess data before the model."
            )
        kwargs.pop("training", None)
        return self.call(inputs, *args, **kwargs)

    def _column(self, value: Any) -> tuple[np.ndarray, torch.device | None]:
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy(), value.device
        if isinstance(value, str | bytes):
            return np.array(value, dtype=object), None
        return np.asarray(value), None

    def call(self, inputs: Any) -> torch.Tensor:
        """Crosses the features in `inputs` (a tuple or list) into bins, then encodes them."""
        where = f"Layer '{self.name}' (HashedCrossing)"
        if not isinstance(inputs, list | tuple):
            raise ValueError(
                f"{where}: should be called on a list or tuple of inputs. "
                f"Received: inputs={inputs!r}"
            )
        if len(inputs) < 2:
            raise ValueError(
                f"{where}: should be called on at least two inputs. Received: inputs={inputs!r}"
            )
        columns = []
        device = None
        for value in inputs:
            column, column_device = self._column(value)
            device = device or column_device
            columns.append(column)
        shape = columns[0].shape
        if len(shape) > 2 or (len(shape) == 2 and shape[-1] != 1):
            raise ValueError(
                f"{where}: all inputs should have shape `()`, `(batch_size)` or "
                f"`(batch_size, 1)`. Received shapes: {[c.shape for c in columns]}"
            )
        if any(c.shape != shape for c in columns[1:]):
            raise ValueError(
                f"{where}: all inputs should have equal shape. "
                f"Received shapes: {[c.shape for c in columns]}"
            )
        flat = []
        for column in columns:
            column = column.reshape(-1)
            if column.dtype.kind == "O" and all(isinstance(v, str | bytes) for v in column):
                pass
            elif column.dtype.kind not in "iuSU":
                raise ValueError(
                    f"{where}: all inputs should have an integer or string dtype. "
                    f"Received an input of dtype {column.dtype} with shape {shape}"
                )
            flat.append(column)
        bins = cross_buckets(flat, self.num_bins).reshape(shape)
        indices = torch.from_numpy(bins)
        if device is not None:
            indices = indices.to(device)
        return encode_bins(indices, self.output_mode, self.num_bins, torch_dtype(self._dtype))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        """The output shape for a list or tuple of (equal) input shapes."""
        shapes = list(input_shape) if isinstance(input_shape, list | tuple) else None
        if not shapes or len(shapes) < 2 or not all(isinstance(s, list | tuple) for s in shapes):
            raise ValueError(
                f"Layer '{self.name}' (HashedCrossing): expected a list or tuple of at least "
                f"2 input shapes. Received: input_shape={input_shape!r}"
            )
        shapes = [tuple(s) for s in shapes]
        first = shapes[0]
        for other in shapes[1:]:
            if len(other) != len(first) or any(
                a is not None and b is not None and a != b
                for a, b in zip(first, other, strict=True)
            ):
                raise ValueError(
                    f"Layer '{self.name}' (HashedCrossing): expected the input shapes to be "
                    f"identical. Received: input_shape={input_shape!r}"
                )
        if self.output_mode == "int":
            return first
        if not first:
            return (1, self.num_bins)
        if first[-1] != 1:
            return (*first, self.num_bins)
        return (*first[:-1], self.num_bins)

    def get_config(self) -> dict[str, Any]:
        return {
            "num_bins": self.num_bins,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
            "name": self.name,
            "dtype": self._dtype,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HashedCrossing:
        config = dict(config)
        if isinstance(config.get("dtype"), dict):  # a dtype policy as Keras writes it
            config["dtype"] = (config["dtype"].get("config") or {}).get("name")
        return cls(**config)
