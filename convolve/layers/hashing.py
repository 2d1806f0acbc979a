"""Hashing of categorical features: the `Hashing` layer and the string hashes it uses.

Keras hashes with TensorFlow's `to_hash_bucket_fast` (FarmHash's 64-bit fingerprint) or,
with a `salt`, `to_hash_bucket_strong` (SipHash-2-4 keyed by the salt). Both are written
here in plain Python, bit for bit, so that a value lands in the same bucket as in Keras.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from convolve.layers import _args
from convolve.layers.base import Layer, policy_config, standardize_dtype, torch_dtype
from convolve.layers.symbolic import is_symbolic

_MASK = (1 << 64) - 1
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F


def _fetch64(s: bytes, i: int) -> int:
    return int.from_bytes(s[i : i + 8], "little")


def _fetch32(s: bytes, i: int) -> int:
    return int.from_bytes(s[i : i + 4], "little")


def _rotate(value: int, shift: int) -> int:
    return ((value >> shift) | (value << (64 - shift))) & _MASK if shift else value


def _shift_mix(value: int) -> int:
    return value ^ (value >> 47)


def _hash_len16(u: int, v: int, mul: int) -> int:
    a = ((u ^ v) * mul) & _MASK
    a ^= a >> 47
    b = ((v ^ a) * mul) & _MASK
    b ^= b >> 47
    return (b * mul) & _MASK


def _hash_len0to16(s: bytes) -> int:
    n = len(s)
    if n >= 8:
        mul = (_K2 + n * 2) & _MASK
        a = (_fetch64(s, 0) + _K2) & _MASK
        b = _fetch64(s, n - 8)
        c = (_rotate(b, 37) * mul + a) & _MASK
        d = ((_rotate(a, 25) + b) * mul) & _MASK
        return _hash_len16(c, d, mul)
    if n >= 4:
        mul = (_K2 + n * 2) & _MASK
        a = _fetch32(s, 0)
        return _hash_len16((n + (a << 3)) & _MASK, _fetch32(s, n - 4), mul)
    if n > 0:
        y = s[0] + (s[n >> 1] << 8)
        z = n + (s[n - 1] << 2)
        return (_shift_mix(((y * _K2) ^ (z * _K0)) & _MASK) * _K2) & _MASK
    return _K2


def _hash_len17to32(s: bytes) -> int:
    n = len(s)
    mul = (_K2 + n * 2) & _MASK
    a = (_fetch64(s, 0) * _K1) & _MASK
    b = _fetch64(s, 8)
    c = (_fetch64(s, n - 8) * mul) & _MASK
    d = (_fetch64(s, n - 16) * _K2) & _MASK
    return _hash_len16(
        (_rotate((a + b) & _MASK, 43) + _rotate(c, 30) + d) & _MASK,
        (a + _rotate((b + _K2) & _MASK, 18) + c) & _MASK,
        mul,
    )


def _hash_len33to64(s: bytes) -> int:
    n = len(s)
    mul = (_K2 + n * 2) & _MASK
    a = (_fetch64(s, 0) * _K2) & _MASK
    b = _fetch64(s, 8)
    c = (_fetch64(s, n - 8) * mul) & _MASK
    d = (_fetch64(s, n - 16) * _K2) & _MASK
    y = (_rotate((a + b) & _MASK, 43) + _rotate(c, 30) + d) & _MASK
    z = _hash_len16(y, (a + _rotate((b + _K2) & _MASK, 18) + c) & _MASK, mul)
    e = (_fetch64(s, 16) * mul) & _MASK
    f = _fetch64(s, 24)
    g = ((y + _fetch64(s, n - 32)) * mul) & _MASK
    h = ((z + _fetch64(s, n - 24)) * mul) & _MASK
    return _hash_len16(
        (_rotate((e + f) & _MASK, 43) + _rotate(g, 30) + h) & _MASK,
        (e + _rotate((f + a) & _MASK, 18) + g) & _MASK,
        mul,
    )


def _weak_hash_len32_with_seeds(s: bytes, i: int, a: int, b: int) -> tuple[int, int]:
    w, x, y, z = (_fetch64(s, i + k) for k in (0, 8, 16, 24))
    a = (a + w) & _MASK
    b = _rotate((b + a + z) & _MASK, 21)
    c = a
    a = (a + x + y) & _MASK
    b = (b + _rotate(a, 44)) & _MASK
    return (a + z) & _MASK, (b + c) & _MASK


def fingerprint64(data: bytes) -> int:
    """FarmHash's `Fingerprint64` of `data` (TensorFlow's `Fingerprint64`), as an unsigned int."""
    n = len(data)
    if n <= 16:
        return _hash_len0to16(data)
    if n <= 32:
        return _hash_len17to32(data)
    if n <= 64:
        return _hash_len33to64(data)
    s = data
    seed = 81
    x = seed
    y = (seed * _K1 + 113) & _MASK
    z = (_shift_mix((y * _K2 + 113) & _MASK) * _K2) & _MASK
    v = (0, 0)
    w = (0, 0)
    x = (x * _K2 + _fetch64(s, 0)) & _MASK
    end = ((n - 1) // 64) * 64
    last64 = n - 64
    i = 0
    while True:
        x = (_rotate((x + y + v[0] + _fetch64(s, i + 8)) & _MASK, 37) * _K1) & _MASK
        y = (_rotate((y + v[1] + _fetch64(s, i + 48)) & _MASK, 42) * _K1) & _MASK
        x ^= w[1]
        y = (y + v[0] + _fetch64(s, i + 40)) & _MASK
        z = (_rotate((z + w[0]) & _MASK, 33) * _K1) & _MASK
        v = _weak_hash_len32_with_seeds(s, i, (v[1] * _K1) & _MASK, (x + w[0]) & _MASK)
        w = _weak_hash_len32_with_seeds(
            s, i + 32, (z + w[1]) & _MASK, (y + _fetch64(s, i + 16)) & _MASK
        )
        z, x = x, z
        i += 64
        if i == end:
            break
    mul = (_K1 + ((z & 0xFF) << 1)) & _MASK
    i = last64
    w0 = (w[0] + ((n - 1) & 63)) & _MASK
    v0 = (v[0] + w0) & _MASK
    w0 = (w0 + v0) & _MASK
    v = (v0, v[1])
    w = (w0, w[1])
    x = (_rotate((x + y + v[0] + _fetch64(s, i + 8)) & _MASK, 37) * mul) & _MASK
    y = (_rotate((y + v[1] + _fetch64(s, i + 48)) & _MASK, 42) * mul) & _MASK
    x ^= (w[1] * 9) & _MASK
    y = (y + v[0] * 9 + _fetch64(s, i + 40)) & _MASK
    z = (_rotate((z + w[0]) & _MASK, 33) * mul) & _MASK
    v = _weak_hash_len32_with_seeds(s, i, (v[1] * mul) & _MASK, (x + w[0]) & _MASK)
    w = _weak_hash_len32_with_seeds(
        s, i + 32, (z + w[1]) & _MASK, (y + _fetch64(s, i + 16)) & _MASK
    )
    z, x = x, z
    return _hash_len16(
        (_hash_len16(v[0], w[0], mul) + _shift_mix(y) * _K0 + z) & _MASK,
        (_hash_len16(v[1], w[1], mul) + x) & _MASK,
        mul,
    )


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (64 - shift))) & _MASK


def siphash24(key: tuple[int, int], data: bytes) -> int:
    """SipHash-2-4 of `data` under the 128-bit `key` (two 64-bit halves), unsigned."""
    k0, k1 = key[0] & _MASK, key[1] & _MASK
    v0 = 0x736F6D6570736575 ^ k0
    v1 = 0x646F72616E646F6D ^ k1
    v2 = 0x6C7967656E657261 ^ k0
    v3 = 0x7465646279746573 ^ k1

    def rounds(v0: int, v1: int, v2: int, v3: int, count: int) -> tuple[int, int, int, int]:
        for _ in range(count):
            v0 = (v0 + v1) & _MASK
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & _MASK
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & _MASK
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & _MASK
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)
        return v0, v1, v2, v3

    n = len(data)
    full = n - n % 8
    for i in range(0, full, 8):
        m = _fetch64(data, i)
        v3 ^= m
        v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    last = int.from_bytes(data[full:], "little") | ((n & 0xFF) << 56)
    v3 ^= last
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
    v0 ^= last
    v2 ^= 0xFF
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3


def hash_buckets(
    values: list[bytes], num_buckets: int, salt: list[int] | None = None
) -> np.ndarray:
    """Buckets of byte strings as TensorFlow's `to_hash_bucket_fast` (no salt) or
    `to_hash_bucket_strong` (salted) assign them: the hash modulo `num_buckets`, int64."""
    cache: dict[bytes, int] = {}
    out = np.empty(len(values), dtype=np.int64)
    key = None if salt is None else (int(salt[0]), int(salt[1]))
    for i, value in enumerate(values):
        bucket = cache.get(value)
        if bucket is None:
            digest = fingerprint64(value) if key is None else siphash24(key, value)
            bucket = cache[value] = digest % num_buckets
        out[i] = bucket
    return out


def as_strings(values: np.ndarray, encoding: str = "utf-8") -> list[bytes]:
    """The bytes TensorFlow's `as_string` gives each value of a flat array (strings as
    their `encoding` bytes, integers in decimal, booleans as `true`/`false`)."""
    if values.dtype.kind == "b":
        return [b"true" if v else b"false" for v in values.tolist()]
    if values.dtype.kind in "iu":
        return [str(v).encode() for v in values.tolist()]
    out = []
    for v in values.tolist():
        if isinstance(v, bytes):
            out.append(v)
        elif isinstance(v, str):
            out.append(v.encode(encoding))
        else:
            raise TypeError(type(v).__name__)
    return out


def encode_bins(
    indices: torch.Tensor, output_mode: str, depth: int, dtype: torch.dtype
) -> torch.Tensor:
    """Encodes integer `indices` as Keras's lookup and hashing layers do (TensorFlow ops):
    `one_hot` adds an axis (replacing a last axis of size 1), `multi_hot` and `count`
    reduce axis 1 (axis 0 of a vector); scalars count as one value; values outside
    `[0, depth)` encode as zeros."""
    if output_mode == "int":
        return indices.to(dtype)
    if indices.ndim == 0:
        indices = indices.reshape(1)
    if output_mode == "one_hot" and indices.ndim > 1 and indices.shape[-1] == 1:
        indices = indices.squeeze(-1)
    valid = (indices >= 0) & (indices < depth)
    safe = torch.where(valid, indices, 0).long()
    if output_mode == "one_hot":
        encoded = torch.nn.functional.one_hot(safe, depth)
        return (encoded * valid.unsqueeze(-1)).to(dtype)
    # Counted in place (no one-hot of every token): Keras reduces axis 1, also for rank
    # 3+, and axis 0 of a vector.
    axis = 1 if indices.ndim > 1 else 0
    safe, valid = safe.movedim(axis, -1), valid.movedim(axis, -1)
    counts = torch.zeros((*safe.shape[:-1], depth), dtype=dtype, device=safe.device)
    counts.scatter_add_(-1, safe, valid.to(dtype))
    return (counts > 0).to(dtype) if output_mode == "multi_hot" else counts


class Hashing(Layer):
    """Hashes values into a fixed number of bins, as `keras.layers.Hashing`.

    Strings are hashed as they are, integers (and floats, truncated to integers) by their
    decimal text, with FarmHash's 64-bit fingerprint, or with SipHash-2-4 keyed by `salt`;
    the bin is the hash modulo `num_bins`, exactly as Keras (TensorFlow) assigns it.

    Args:
        num_bins: the number of bins, including the mask bin if `mask_value` is set.
        mask_value: a value that goes to bin 0 (the others then use bins 1 and up).
        salt: an int or a pair of ints: use the keyed (SipHash) hash with this key.
        output_mode: `"int"` (bin indices), `"one_hot"`, `"multi_hot"` or `"count"`.
        sparse: only False (sparse outputs are not supported, as on Keras's torch backend).
        **kwargs: base layer arguments (`name`, `dtype`: `"int64"` by default in `"int"`
            mode, `"float32"` otherwise).

    Example:
        >>> import numpy as np
        >>> from convolve.layers import Hashing
        >>> Hashing(num_bins=3)(np.array([["A"], ["B"], ["C"], ["D"], ["E"]])).tolist()
        [[1], [0], [1], [1], [2]]
        >>> Hashing(num_bins=3, mask_value="")(["A", "", "C"]).tolist()
        [1, 0, 2]
    """

    _built_at_init = True

    def __init__(
        self,
        num_bins: int,
        mask_value: Any = None,
        salt: Any = None,
        output_mode: str = "int",
        sparse: bool = False,
        **kwargs: Any,
    ) -> None:
        owner = "Hashing"
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int64" if output_mode == "int" else "float32"
        if (
            isinstance(num_bins, bool)
            or not isinstance(num_bins, int | np.integer)
            or num_bins <= 0
        ):
            raise _args.fail(owner, "num_bins", num_bins, "a positive integer")
        dtype = standardize_dtype(kwargs["dtype"])
        if output_mode == "int" and dtype not in ("int32", "int64"):
            raise ValueError(
                f"{owner}: when `output_mode='int'`, `dtype` should be an integer type, "
                f"'int32' or 'int64'. Received: dtype={kwargs['dtype']!r}"
            )
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise _args.fail(owner, "output_mode", output_mode,
                             "one of 'int', 'one_hot', 'multi_hot', 'count'")  # fmt: skip
        if sparse:
            raise ValueError(
                f"{owner}: `sparse=True` cannot be used with convolve (as with Keras's torch "
                f"backend). Received: sparse={sparse!r}"
            )
        if salt is not None:
            if (
                isinstance(salt, tuple | list)
                and len(salt) == 2
                and all(isinstance(s, int | np.integer) and not isinstance(s, bool) for s in salt)
            ):
                salt = [int(salt[0]), int(salt[1])]
            elif isinstance(salt, int | np.integer) and not isinstance(salt, bool):
                salt = [int(salt), int(salt)]
            else:
                raise _args.fail(owner, "salt", salt, "a single integer or a tuple of 2 integers")
        super().__init__(**kwargs)
        self.num_bins = int(num_bins)
        self.mask_value = mask_value
        self.strong_hash = salt is not None
        self.output_mode = output_mode
        self.sparse = False
        self._salt = salt

    @property
    def salt(self) -> list[int] | None:
        return None if self._salt is None else list(self._salt)

    def forward(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if is_symbolic(inputs):
            return super().forward(inputs, *args, **kwargs)
        kwargs.pop("training", None)
        return self.call(inputs, *args, **kwargs)

    def _values_of(self, inputs: Any) -> tuple[np.ndarray, torch.device]:
        if isinstance(inputs, torch.Tensor):
            return inputs.detach().cpu().numpy(), inputs.device
        array = np.asarray(inputs)
        if array.dtype.kind not in "biufUSO":
            raise ValueError(
                f"Layer '{self.name}' (Hashing): takes strings, integers or floats; received "
                f"an array of dtype {array.dtype} with shape {array.shape}"
            )
        return array, torch.device("cpu")

    def _hash(self, values: np.ndarray) -> np.ndarray:
        flat = values.reshape(-1)
        bins = self.num_bins
        mask = None
        if self.mask_value is not None and bins > 1:
            bins -= 1
            mask = flat == self.mask_value
            if flat.dtype.kind in "SO" and isinstance(self.mask_value, str):
                target = self.mask_value.encode()
                mask = np.array(
                    [(v.encode() if isinstance(v, str) else v) == target for v in flat.tolist()],
                    dtype=bool,
                )
            mask = np.asarray(mask, dtype=bool).reshape(flat.shape)
        if flat.dtype.kind == "f":
            flat = np.trunc(flat).astype("int64")
        try:
            data = as_strings(flat)
        except TypeError as err:
            raise ValueError(
                f"Layer '{self.name}' (Hashing): takes strings, integers or floats; received "
                f"an element of type {err}"
            ) from None
        out = hash_buckets(data, bins, self._salt)
        if mask is not None:
            out = np.where(mask, 0, out + 1)
        return out.reshape(values.shape)

    def call(self, inputs: Any) -> torch.Tensor:
        """Hashes `inputs` (strings, integers or floats) to bins, then encodes them."""
        values, device = self._values_of(inputs)
        if self.output_mode == "one_hot" and values.ndim and values.shape[-1] == 1:
            values = values.squeeze(-1)
        indices = torch.from_numpy(self._hash(values)).to(device)
        return encode_bins(indices, self.output_mode, self.num_bins, torch_dtype(self._dtype))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        input_shape = tuple(input_shape)
        if self.output_mode == "int":
            return input_shape
        if len(input_shape) == 0:
            return (self.num_bins,)
        return (*input_shape[:-1], self.num_bins)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": policy_config(self._dtype),
            "num_bins": self.num_bins,
            "salt": self.salt,
            "mask_value": self.mask_value,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Hashing:
        config = dict(config)
        if isinstance(config.get("dtype"), dict):  # a dtype policy as Keras writes it
            config["dtype"] = (config["dtype"].get("config") or {}).get("name")
        return cls(**config)
