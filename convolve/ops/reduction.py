"""Reductions and scans: sum, mean, max, std, argmax, cumsum, logsumexp ...

`axis` is None (all axes), an int, or a tuple/list of ints; an empty tuple reduces nothing.
`keepdims=True` keeps each reduced axis with size 1, also when `axis` is None.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import torch

from convolve.ops._dtypes import FLOATX, result_type, standardize_dtype, to_torch_dtype
from convolve.ops.core import as_tensor, cast

__all__ = [
    "all", "amax", "amin", "any", "argmax", "argmin", "average", "bincount", "corrcoef",
    "count_nonzero", "cumprod", "cumsum", "histogram", "logsumexp", "max", "mean", "median",
    "min", "nanargmax", "nanargmin", "nancumprod", "nancumsum", "nanmax", "nanmean",
    "nanmedian", "nanmin", "nanpercentile", "nanprod", "nanquantile", "nanstd", "nansum",
    "nanvar", "percentile", "prod", "ptp", "quantile", "std", "sum", "trapezoid", "var",
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


def ptp(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Peak to peak: `max - min` over `axis`."""
    x = as_tensor(x)
    if axis in ((), []):
        return torch.zeros_like(x)
    dims = _dims(x, axis)
    return torch.amax(x, dim=dims, keepdim=keepdims) - torch.amin(x, dim=dims, keepdim=keepdims)


def average(x: Any, axis: Axis = None, weights: Any = None) -> torch.Tensor:
    """Weighted mean over `axis`; 1-D `weights` run along a single `axis`, as in NumPy.

    The result is float (integer inputs give float32), promoted with the weights' dtype.
    """
    x = as_tensor(x)
    names = [x.dtype, float]
    if weights is not None:
        weights = as_tensor(weights, device=x.device)
        names.append(weights.dtype)
    dtype = result_type(*names)
    x = cast(x, dtype)
    if axis in ((), []):
        return x
    if weights is None:
        return torch.mean(x, dim=_dims(x, axis))
    weights = cast(weights, dtype)
    if weights.shape != x.shape:
        if weights.ndim != 1 or not isinstance(axis, int) or weights.shape[0] != x.shape[axis]:
            raise ValueError(
                "average: `weights` must have the shape of `x`, or be 1-D with the length of "
                f"`x` along an int `axis`. Received: weights.shape={tuple(weights.shape)}, "
                f"x.shape={tuple(x.shape)}, axis={axis}"
            )
        shape = [1] * x.ndim
        shape[axis] = -1
        weights = weights.reshape(shape)
    dims = _dims(x, axis)
    total = torch.sum(weights.expand(x.shape), dim=dims)
    return torch.sum(x * weights, dim=dims) / total


_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(
    fn: Any, name: str, x: Any, q: Any, axis: Axis, method: str, keepdims: bool
) -> torch.Tensor:
    if method not in _METHODS:
        raise ValueError(f"{name}: `method` must be one of {_METHODS}. Received: {method!r}")
    x = as_tensor(x)
    q = as_tensor(q, device=x.device)
    compute = result_type(x.dtype, "float32")
    out_dtype = result_type(x.dtype, float)
    x = cast(x, compute)
    q = cast(q, compute)
    if q.numel() and (bool((q < 0).any()) or bool((q > 1).any())):
        raise ValueError(f"{name}: quantiles must lie in [0, 1]. Received: {q.tolist()}")
    if axis is None:
        axes = list(range(x.ndim))
        flat = x.reshape(-1)
    else:
        axes = sorted(a % x.ndim for a in _dims(x, axis))
        others = [d for d in range(x.ndim) if d not in axes]
        flat = x.permute(others + axes).reshape([x.shape[d] for d in others] + [-1])
    y = fn(flat, q, dim=-1, interpolation=method)
    if keepdims:
        shift = 1 if q.ndim else 0
        for a in axes:
            y = y.unsqueeze(a + shift)
    return cast(y, out_dtype)


def quantile(
    x: Any, q: Any, axis: Axis = None, method: str = "linear", keepdims: bool = False
) -> torch.Tensor:
    """The `q`-th quantiles (q in [0, 1]) over `axis`; a 1-D `q` adds a leading axis.

    Example:
        >>> from convolve import ops
        >>> ops.quantile([1.0, 2.0, 3.0, 4.0], 0.5).item()
        2.5
    """
    return _quantile(torch.quantile, "quantile", x, q, axis, method, keepdims)


def nanquantile(
    x: Any, q: Any, axis: Axis = None, method: str = "linear", keepdims: bool = False
) -> torch.Tensor:
    """`quantile` ignoring NaN values."""
    return _quantile(torch.nanquantile, "nanquantile", x, q, axis, method, keepdims)


def _percent(q: Any, device: torch.device) -> torch.Tensor:
    return as_tensor(q, dtype=FLOATX, device=device) / 100.0


def percentile(
    x: Any, q: Any, axis: Axis = None, method: str = "linear", keepdims: bool = False
) -> torch.Tensor:
    """The `q`-th percentiles (q in [0, 100]) over `axis`."""
    x = as_tensor(x)
    return quantile(x, _percent(q, x.device), axis=axis, method=method, keepdims=keepdims)


def nanpercentile(
    x: Any, q: Any, axis: Axis = None, method: str = "linear", keepdims: bool = False
) -> torch.Tensor:
    """`percentile` ignoring NaN values."""
    x = as_tensor(x)
    return nanquantile(x, _percent(q, x.device), axis=axis, method=method, keepdims=keepdims)


def median(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Median over `axis` (the mean of the two middle values for even counts); floats out."""
    return quantile(x, 0.5, axis=axis, keepdims=keepdims)


def nanmedian(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """`median` ignoring NaN values."""
    x = as_tensor(x)
    if axis in ((), []):
        return x
    return nanquantile(x, 0.5, axis=axis, keepdims=keepdims)


def _nan_extreme(x: Any, axis: Axis, keepdims: bool, largest: bool) -> torch.Tensor:
    x = as_tensor(x)
    fn = torch.amax if largest else torch.amin
    if not x.dtype.is_floating_point:
        return x if axis in ((), []) else fn(x, dim=_dims(x, axis), keepdim=keepdims)
    if axis in ((), []):
        return x
    dims = _dims(x, axis)
    nan = torch.isnan(x)
    out = fn(torch.where(nan, -math.inf if largest else math.inf, x), dim=dims, keepdim=keepdims)
    return torch.where(nan.all(dim=dims, keepdim=keepdims), math.nan, out)


def nanmax(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """`max` ignoring NaN values (NaN where every value is NaN)."""
    return _nan_extreme(x, axis, keepdims, largest=True)


def nanmin(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """`min` ignoring NaN values (NaN where every value is NaN)."""
    return _nan_extreme(x, axis, keepdims, largest=False)


def _nan_arg(x: Any, axis: int | None, keepdims: bool, largest: bool) -> torch.Tensor:
    x = as_tensor(x)
    fn = argmax if largest else argmin
    if not x.dtype.is_floating_point:
        return fn(x, axis=axis, keepdims=keepdims)
    nan = torch.isnan(x)
    index = fn(torch.where(nan, -math.inf if largest else math.inf, x), axis, keepdims)
    all_nan = nan.all() if axis is None else nan.all(dim=axis)
    if keepdims:
        all_nan = all_nan.reshape(index.shape)
    return torch.where(all_nan, -1, index)


def nanargmax(x: Any, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    """`argmax` ignoring NaN values (-1 where every value is NaN)."""
    return _nan_arg(x, axis, keepdims, largest=True)


def nanargmin(x: Any, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    """`argmin` ignoring NaN values (-1 where every value is NaN)."""
    return _nan_arg(x, axis, keepdims, largest=False)


def _without_nan(x: torch.Tensor, fill: float) -> torch.Tensor:
    if not (x.dtype.is_floating_point or x.dtype.is_complex):
        return x
    return torch.where(torch.isnan(x), fill, x)


def nansum(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """`sum` treating NaN as 0."""
    x = _stacked(x)
    name = standardize_dtype(x.dtype)
    dtype = "int32" if name in _SMALL_INTS else name
    if axis in ((), []):
        return cast(_without_nan(x, 0.0), dtype)
    return cast(torch.nansum(x, dim=_dims(x, axis), keepdim=keepdims), dtype)


def nanprod(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """`prod` treating NaN as 1."""
    x = as_tensor(x)
    if axis in ((), []):
        return _without_nan(x, 1.0)
    return prod(_without_nan(x, 1.0), axis=axis, keepdims=keepdims)


def nanmean(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """`mean` of the values that are not NaN; integer inputs give float32."""
    x = as_tensor(x)
    if axis in ((), []):
        return x
    x = cast(x, result_type(x.dtype, float))
    return torch.nanmean(x, dim=_dims(x, axis), keepdim=keepdims)


def nanvar(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """`var` of the values that are not NaN; integer inputs give float32."""
    x = as_tensor(x)
    x = cast(x, result_type(x.dtype, float))
    if axis in ((), []):
        return torch.where(torch.isnan(x), x, torch.zeros_like(x))
    dims = _dims(x, axis)
    valid = ~torch.isnan(x)
    centered = torch.where(valid, x - torch.nanmean(x, dim=dims, keepdim=True), 0.0)
    if centered.is_complex():
        squares = centered.real**2 + centered.imag**2
    else:
        squares = centered.square()
    return squares.sum(dim=dims, keepdim=keepdims) / valid.sum(dim=dims, keepdim=keepdims)


def nanstd(x: Any, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """`std` of the values that are not NaN; integer inputs give float32."""
    return torch.sqrt(nanvar(x, axis=axis, keepdims=keepdims))


def nancumsum(x: Any, axis: int | None = None, dtype: Any = None) -> torch.Tensor:
    """`cumsum` treating NaN as 0."""
    return cumsum(_without_nan(as_tensor(x), 0.0), axis=axis, dtype=dtype)


def nancumprod(x: Any, axis: int | None = None, dtype: Any = None) -> torch.Tensor:
    """`cumprod` treating NaN as 1."""
    return cumprod(_without_nan(as_tensor(x), 1.0), axis=axis, dtype=dtype)


def bincount(x: Any, weights: Any = None, minlength: int = 0, sparse: bool = False) -> torch.Tensor:
    """Counts (int32) or summed `weights` of each non-negative integer in `x`.

    A 2-D `x` is counted row by row.
    """
    if sparse:
        raise ValueError(f"bincount: sparse=True is not supported. Received: sparse={sparse}")
    x = as_tensor(x)
    if x.dtype.is_floating_point or x.dtype.is_complex or x.ndim not in (1, 2):
        raise ValueError(
            f"bincount: `x` must be a 1-D or 2-D integer tensor. Received dtype {x.dtype}, "
            f"shape {tuple(x.shape)}"
        )
    if x.numel() and int(x.min()) < 0:
        raise ValueError("bincount: `x` must not hold negative values.")
    if weights is not None:
        weights = as_tensor(weights, device=x.device)
        dtype = result_type(x.dtype, weights.dtype)
    else:
        dtype = "int32"
    if x.ndim == 2:
        length = builtins.max(minlength, int(x.max()) + 1 if x.numel() else 0)
        rows = [
            torch.bincount(row, None if weights is None else weights[i], minlength=length)
            for i, row in enumerate(x)
        ]
        return cast(torch.stack(rows), dtype)
    return cast(torch.bincount(x, weights, minlength=minlength), dtype)


def histogram(x: Any, bins: int = 10, range: tuple[float, float] | None = None) -> Any:
    """Counts of a 1-D tensor in `bins` equal bins over `range` (default: min to max).

    Returns:
        `(counts, bin_edges)`; the counts have `x`'s float dtype, as on Keras's torch backend.
    """
    if not isinstance(bins, int) or isinstance(bins, bool):
        raise TypeError(f"histogram: `bins` must be an int. Received: bins={bins!r}")
    if bins < 0:
        raise ValueError(f"histogram: `bins` must be non-negative. Received: bins={bins}")
    if range:
        if not isinstance(range, tuple) or len(range) < 2:
            raise ValueError(f"histogram: `range` must be a tuple of two. Received: {range}")
        if range[1] < range[0]:
            raise ValueError(f"histogram: `range` must be increasing. Received: {range}")
    x = as_tensor(x)
    if x.ndim > 1:
        raise ValueError(f"histogram: `x` must be 1-D. Received: x.shape={tuple(x.shape)}")
    result = torch.histogram(x, bins=bins, range=range)
    return result.hist, result.bin_edges


def trapezoid(y: Any, x: Any = None, dx: float = 1.0, axis: int = -1) -> torch.Tensor:
    """Integral of `y` along `axis` by the trapezoidal rule (at `x`, or spaced `dx`)."""
    y = as_tensor(y)
    if y.dtype == torch.bool:
        y = cast(y, FLOATX)
    if x is not None:
        return torch.trapezoid(y, x=as_tensor(x, device=y.device), dim=axis)
    return torch.trapezoid(y, dx=as_tensor(dx, device=y.device), dim=axis)


def corrcoef(x: Any) -> torch.Tensor:
    """Pearson correlation matrix of the rows of a 2-D tensor (variables by observations)."""
    x = as_tensor(x)
    if x.dtype == torch.bool:
        x = cast(x, FLOATX)
    elif x.dtype == torch.int64:
        x = cast(x, "float64")
    return torch.corrcoef(x)
