"""Tensors in and out: conversion, casting, shapes and dtypes (`keras.ops` core functions).

Tensors stay on their device. Other values (NumPy arrays, Python numbers, lists) become tensors
on the device of the tensor they are combined with, or on `convolve.config.device()`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from convolve import config
from convolve.ops._dtypes import FLOATX, result_type, standardize_dtype, to_torch_dtype

__all__ = [
    "cast",
    "convert_to_numpy",
    "convert_to_tensor",
    "dtype",
    "is_tensor",
    "shape",
    "stop_gradient",
    "unstack",
]


def _unwrap(x: Any) -> Any:
    # Variable-like handles (metric state) expose their tensor as `.value`.
    if not isinstance(x, torch.Tensor) and isinstance(getattr(x, "value", None), torch.Tensor):
        return x.value
    return x


def _leaves(x: Any) -> list[Any]:
    if isinstance(x, list | tuple):
        return [leaf for item in x for leaf in _leaves(item)]
    return [x]


def as_tensor(x: Any, dtype: Any = None, device: torch.device | None = None) -> torch.Tensor:
    """`convert_to_tensor` with a device for non-tensor values (the default device if None)."""
    x = _unwrap(x)
    target = None if dtype is None else to_torch_dtype(dtype)
    if isinstance(x, torch.Tensor):
        return x if target is None or x.dtype == target else x.to(target)
    device = config.device() if device is None else device
    if isinstance(x, bool | int | float | complex):
        if target is None:
            if isinstance(x, bool):
                target = torch.bool
            elif isinstance(x, int):
                target = torch.int64 if not -(2**31) <= x < 2**31 else torch.int32
            else:
                target = to_torch_dtype(FLOATX if isinstance(x, float) else "complex64")
        return torch.as_tensor(x, dtype=target, device=device)
    if isinstance(x, list | tuple):
        if any(isinstance(_unwrap(v), torch.Tensor) for v in x):
            out = torch.stack([as_tensor(v, device=device) for v in x])
            return out if target is None else out.to(target)
        if target is None:
            leaves = _leaves(x)
            target = to_torch_dtype(result_type(*(getattr(v, "dtype", type(v)) for v in leaves)))
        return torch.as_tensor(x, dtype=target, device=device)
    x = np.asarray(x)
    if x.dtype == object:
        raise ValueError(f"Cannot convert {x.item() if x.ndim == 0 else x!r} to a tensor.")
    if x.dtype == np.uint32:
        x = x.astype(np.int64)
    if target is None:
        target = to_torch_dtype(x.dtype)
    return torch.as_tensor(x, dtype=target, device=device)


def tensors(*xs: Any) -> list[torch.Tensor]:
    """Converts each value, putting non-tensors on the device of the first tensor among them."""
    device = next((x.device for x in map(_unwrap, xs) if isinstance(x, torch.Tensor)), None)
    return [as_tensor(x, device=device) for x in xs]


def convert_to_tensor(
    x: Any, dtype: Any = None, sparse: bool | None = None, ragged: bool | None = None
) -> torch.Tensor:
    """Converts an array, tensor, Python number or nested list to a torch tensor.

    Python floats become float32, Python ints int32 (int64 if they do not fit), NumPy arrays
    keep their dtype, lists take the promoted dtype of their elements.

    Args:
        x: The value to convert.
        dtype: Target dtype name (e.g. `"float32"`); None keeps the inferred dtype.
        sparse: Must be falsy; sparse tensors are not supported.
        ragged: Must be falsy; ragged tensors are not supported.

    Returns:
        A torch tensor.

    Example:
        >>> from convolve import ops
        >>> ops.convert_to_tensor([1, 2.5]).dtype
        torch.float32
    """
    if sparse:
        raise ValueError(f"convert_to_tensor: sparse=True is not supported. Received: {sparse}")
    if ragged:
        raise ValueError(f"convert_to_tensor: ragged=True is not supported. Received: {ragged}")
    return as_tensor(x, dtype=dtype)


def convert_to_numpy(x: Any) -> np.ndarray:
    """Copies a tensor (or nested list of tensors) to a NumPy array on the host."""

    def one(value: Any) -> np.ndarray:
        value = _unwrap(value)
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu()
            if value.dtype == torch.bfloat16:
                value = value.float()
            return value.numpy()
        return np.array(value)

    if isinstance(x, list | tuple):
        return np.array([one(v) for v in x])
    return one(x)


def cast(x: Any, dtype: Any) -> torch.Tensor:
    """Casts to `dtype` (a Keras dtype name, torch or NumPy dtype); no copy if already so."""
    return as_tensor(x, dtype=standardize_dtype(dtype))


def shape(x: Any) -> tuple[int, ...]:
    """The static shape as a tuple of ints."""
    return tuple(_unwrap(x).shape)


def dtype(x: Any) -> str:
    """Keras's dtype name of `x`, e.g. `"float32"`."""
    return standardize_dtype(_unwrap(x).dtype)


def is_tensor(x: Any) -> bool:
    """Whether `x` is a torch tensor."""
    return isinstance(x, torch.Tensor)


def stop_gradient(variable: Any) -> torch.Tensor:
    """The same values with no gradient flowing back through them."""
    return as_tensor(variable).detach()


def unstack(x: Any, num: int | None = None, axis: int = 0) -> tuple[torch.Tensor, ...]:
    """Splits `x` along `axis` into tensors of one fewer dimension."""
    return as_tensor(x).unbind(axis)
