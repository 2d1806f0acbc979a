"""Reductions and scans: sum, mean, max, std, argmax, cumsum, logsumexp ...

`axis` is None (all axes), an int, or a tuple/list of ints; an empty tuple reduces nothing.
`keepdims=True` keeps each reduced axis with size 1, also when `axis` is None.
"""

from __future__ import annotations

import builtins
from typing import Any

import torch

from convolve.ops._dtypes import FLOATX, result_type, standardize_dtype, to_torch_dtype
from convolve.ops.core import as_tensor, cast

__all__ = [
    "all", "amax", "amin", "any", "argmax", "argmin", "count_nonzero", "cumprod", "cumsum",
    "logsumexp", "max", "mean", "min", "prod", "std", "sum", "var",
]  # fmt: skip

Axis = int | tuple[int, ...] | list[int] | None
_SMALL_INTS = ("bool", "uint8", "int8", "int16")


def _dims(x: torch.Tensor, axis: Axis) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(x.ndim))
    return (axis,) if isinstance(axis, int) else tuple(axis)


def _stacked(x: Any) -> torch.Tensor:
    if isinstance(x, list | tuple):
        return torch.stack([as_tensor(v) for v in x])
    return as_tensor(x)


def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Sum over `axis`; bool and 8/16-bit integers are summed as int32."""
    x = _stacked(x)
    if axis in ((), []):
        return x
    name = standardize_dtype(x.dtype)
    dtype = "int32" if name in _SMALL_INTS else name
    return cast(torch.sum(x, dim=_dims(x, axis), keepdim=keepdims), dtype)


def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Arithmetic mean over `axis`; integer and bool inputs give float32.

    Example:
        >>> from convolve import ops
        >>> ops.mean([[1, 2], [3, 4]], axis=0).tolist()
        [2.0, 3.0]
    """
    x = _stacked(x)
    if axis in ((), []):
        return x
    name = standardize_dtype(x.dtype)
    compute = result_type(name, "float32")
    out = torch.mean(cast(x, compute), dim=_dims(x, axis), keepdim=keepdims)
    return cast(out, compute if "int" in name or name == "bool" else name)


def _extreme(fn: Any, x: Any, axis: Axis, keepdims: bool, initial: Any, name: str) -> Any:
    x = as_tensor(x)
    if x.numel() == 0:
        if initial is None:
            raise ValueError(f"Cannot compute the {name} of an empty tensor.")
        return torch.full((1,) * x.ndim if keepdims else (), initial, device=x.device)
    out = x if axis in ((), []) else fn(x, dim=_dims(x, axis), keepdim=keepdims)
    if initial is not None:
        pick = torch.maximum if name == "max" else torch.minimum
        out = pick(out, torch.as_tensor(initial, dtype=out.dtype, device=out.device))
    return out


def max(x: Any, axis: Axis = None, keepdims: bool = False, initial: Any = None) -> torch.Tensor:
    """Maximum over `axis`, at least `initial` when given."""
    return _extreme(torch.amax, x, axis, keepdims, initial, "max")


def min(x: Any, axis: Axis = None, keepdims: bool = False, initial: Any = None) -> torch.Tensor:
    """Minimum over `axis`, at most `initial` when given."""
    return _extreme(torch.amin, x, axis, keepdims, initial, "min")


def amax(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Maximum over `axis`."""
    return _extreme(torch.amax, x, axis, keepdims, None, "max")


def amin(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Minimum over `axis`."""
    return _extreme(torch.amin, x, axis, keepdims, None, "min")


def prod(x: Any, axis: Axis = None, keepdims: bool = False, dtype: Any = None) -> torch.Tensor:
    """Product over `axis`; bool and 8/16-bit integers multiply as int32 unless `dtype`."""
    x = as_tensor(x)
    if axis in ((), []):
        return x
    if dtype is None:
        name = result_type(x.dtype)
        dtype = "int32" if name in _SMALL_INTS else name
    dtype = standardize_dtype(dtype)
    compute = to_torch_dtype(dtype)
    if axis is None and not keepdims:
        return torch.prod(x, dtype=compute)
    # torch.prod reduces one axis at a time.
    for a in sorted((a % builtins.max(x.ndim, 1) for a in _dims(x, axis)), reverse=True):
        x = torch.prod(x, dim=a, keepdim=keepdims, dtype=compute)
    return cast(x, dtype)


def var(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Population variance (no Bessel correction) over `axis`; integers give float32."""
    x = as_tensor(x)
    out_dtype = result_type(x.dtype, float)
    if axis in ((), []):
        return torch.zeros_like(x, dtype=to_torch_dtype(out_dtype))
    x = cast(x, result_type(x.dtype, "float32"))
    return cast(torch.var(x, dim=_dims(x, axis), keepdim=keepdims, correction=0), out_dtype)


def std(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Population standard deviation (no Bessel correction) over `axis`."""
    x = as_tensor(x)
    if not (x.dtype.is_floating_point or x.dtype.is_complex):
        x = cast(x, FLOATX)
    if axis in ((), []):
        return torch.zeros_like(x)
    return torch.std(x, dim=_dims(x, axis), keepdim=keepdims, correction=0)


def _arg(fn: Any, x: Any, axis: int | None, keepdims: bool) -> torch.Tensor:
    x = as_tensor(x)
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    return fn(x, dim=axis, keepdim=keepdims).to(torch.int32)


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    """Index (int32) of the first maximum along `axis`, or in the flattened tensor."""
    return _arg(torch.argmax, x, axis, keepdims)


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    """Index (int32) of the first minimum along `axis`, or in the flattened tensor."""
    return _arg(torch.argmin, x, axis, keepdims)


def all(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Whether every element along `axis` is truthy (a bool tensor)."""
    x = as_tensor(x)
    if axis in ((), []):
        return x.bool()
    return torch.all(x, dim=_dims(x, axis), keepdim=keepdims).bool()


def any(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Whether some element along `axis` is truthy (a bool tensor)."""
    x = as_tensor(x)
    if axis in ((), []):
        return x.bool()
    return torch.any(x, dim=_dims(x, axis), keepdim=keepdims).bool()


def count_nonzero(x: Any, axis: Axis = None) -> torch.Tensor:
    """Number of non-zero elements along `axis`, as int32."""
    x = as_tensor(x)
    if axis in ((), []):
        return (x != 0).int()
    return torch.count_nonzero(x, dim=_dims(x, axis)).int()


def _scan(fn: Any, x: Any, axis: int | None, dtype: Any) -> torch.Tensor:
    x = as_tensor(x)
    if axis is None:
        x, axis = x.flatten(), 0
    name = result_type(dtype or x.dtype)
    return fn(x, dim=axis, dtype=to_torch_dtype("int32" if name == "bool" else name))


def cumsum(x: Any, axis: int | None = None, dtype: Any = None) -> torch.Tensor:
    """Cumulative sum along `axis` (of the flattened tensor if None)."""
    return _scan(torch.cumsum, x, axis, dtype)


def cumprod(x: Any, axis: int | None = None, dtype: Any = None) -> torch.Tensor:
    """Cumulative product along `axis` (of the flattened tensor if None)."""
    return _scan(torch.cumprod, x, axis, dtype)


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """`log(sum(exp(x)))` over `axis`, computed without overflow."""
    x = as_tensor(x)
    if axis in ((), []):
        return x if x.dtype.is_floating_point else cast(x, FLOATX)
    return torch.logsumexp(x, dim=_dims(x, axis), keepdim=keepdims)
