"""New tensors: zeros, ones, full, arange, linspace, eye and the `*_like` variants.

Tensors built from a shape live on `convolve.config.device()`; `*_like` tensors on the device
of their template. The default dtype is float32 except where Keras infers one (arange from
integer bounds gives int32, `*_like` keeps the template's dtype).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from convolve import config
from convolve.ops._dtypes import result_type, to_torch_dtype
from convolve.ops.core import as_tensor, tensors

__all__ = [
    "arange", "array", "bartlett", "blackman", "copy", "empty", "empty_like", "eye", "full",
    "full_like", "geomspace", "hamming", "hanning", "identity", "kaiser", "linspace", "logspace",
    "ones", "ones_like", "tri", "vander", "zeros", "zeros_like",
]  # fmt: skip

Shape = int | tuple[int, ...] | list[int]


def _shape(shape: Shape) -> tuple[int, ...]:
    return (shape,) if isinstance(shape, int) else tuple(shape)


def zeros(shape: Shape, dtype: Any = None) -> torch.Tensor:
    """A tensor of zeros (float32 unless `dtype`)."""
    return torch.zeros(_shape(shape), dtype=to_torch_dtype(dtype), device=config.device())


def ones(shape: Shape, dtype: Any = None) -> torch.Tensor:
    """A tensor of ones (float32 unless `dtype`)."""
    return torch.ones(_shape(shape), dtype=to_torch_dtype(dtype), device=config.device())


def zeros_like(x: Any, dtype: Any = None) -> torch.Tensor:
    """Zeros with the shape (and, unless `dtype`, the dtype) of `x`."""
    x = as_tensor(x)
    return torch.zeros_like(x, dtype=to_torch_dtype(dtype or x.dtype))


def ones_like(x: Any, dtype: Any = None) -> torch.Tensor:
    """Ones with the shape (and, unless `dtype`, the dtype) of `x`."""
    x = as_tensor(x)
    return torch.ones_like(x, dtype=to_torch_dtype(dtype or x.dtype))


def _full(shape: Shape, fill_value: Any, dtype: Any, device: torch.device) -> torch.Tensor:
    dtype = to_torch_dtype(dtype)
    fill = as_tensor(fill_value, dtype=dtype, device=device)
    return torch.empty(_shape(shape), dtype=dtype, device=fill.device).copy_(fill)


def full(shape: Shape, fill_value: Any, dtype: Any = None) -> torch.Tensor:
    """A tensor filled with `fill_value` (broadcast if it is an array); float32 unless `dtype`."""
    return _full(shape, fill_value, dtype, config.device())


def full_like(x: Any, fill_value: Any, dtype: Any = None) -> torch.Tensor:
    """`full` with the shape (and, unless `dtype`, the dtype) of `x`."""
    x = as_tensor(x)
    return _full(x.shape, fill_value, dtype or x.dtype, x.device)


def _type_of(value: Any) -> Any:
    return getattr(value, "dtype", type(value))


def arange(start: Any, stop: Any = None, step: Any = None, dtype: Any = None) -> torch.Tensor:
    """Evenly spaced values in `[start, stop)`; `arange(n)` counts from 0 to `n - 1`.

    Example:
        >>> from convolve import ops
        >>> ops.arange(3).tolist(), ops.arange(0, 1, 0.25).dtype
        ([0, 1, 2], torch.float32)
    """
    if dtype is None:
        dtype = result_type(*(_type_of(v) for v in (start, stop, step) if v is not None))
    if stop is None:
        start, stop = 0, start
    step = 1 if step is None else step
    return torch.arange(start, stop, step, dtype=to_torch_dtype(dtype), device=config.device())


def linspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: Any = None,
    axis: int = 0,
) -> Any:
    """`num` evenly spaced values from `start` to `stop` (excluded if not `endpoint`).

    Returns:
        The values (float32 unless `dtype`), and with `retstep=True` also the spacing.
    """
    if axis != 0:
        raise ValueError(f"linspace: only axis=0 is supported. Received: axis={axis}")
    is_array = hasattr(start, "__len__") or hasattr(stop, "__len__")
    if is_array:
        start, stop = tensors(start, stop)
    dtype = to_torch_dtype(dtype or result_type(_type_of(start), _type_of(stop), float))
    if is_array:
        start, stop = start.to(dtype), stop.to(dtype)
    divisions = (num - 1) if endpoint else num
    step = (stop - start) / divisions if divisions > 0 else math.nan
    if not endpoint and num > 1:
        stop = stop - (stop - start) / num
    if is_array:
        steps = torch.arange(num, dtype=dtype, device=start.device) / (num - 1)
        steps = steps.reshape((num,) + (1,) * start.ndim)
        values = start[None] + steps * (stop - start)[None]
    else:
        values = torch.linspace(start, stop, num, dtype=dtype, device=config.device())
    return (values, step) if retstep else values


def eye(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> torch.Tensor:
    """An `N x M` matrix with ones on the `k`-th diagonal and zeros elsewhere."""
    for name, value in (("N", N), ("M", M)):
        if isinstance(value, float) or getattr(value, "is_floating_point", lambda: False)():
            raise TypeError(f"eye: `{name}` must be an integer. Received: {name}={value!r}")
    M = N if M is None else M
    dtype, device = to_torch_dtype(dtype), config.device()
    if k == 0:
        return torch.eye(N, M, dtype=dtype, device=device)
    ones = torch.ones(max(N, M), dtype=dtype, device=device)
    return torch.diag(ones, diagonal=k)[:N, :M]


def identity(n: int, dtype: Any = None) -> torch.Tensor:
    """The `n x n` identity matrix."""
    return eye(n, dtype=dtype)


def array(x: Any, dtype: Any = None) -> torch.Tensor:
    """Same as `convert_to_tensor`."""
    return as_tensor(x, dtype=dtype)


def copy(x: Any) -> torch.Tensor:
    """A copy of `x` that does not share memory with it."""
    return torch.clone(as_tensor(x))


def empty(shape: Shape, dtype: Any = None) -> torch.Tensor:
    """An uninitialised tensor (float32 unless `dtype`)."""
    return torch.empty(_shape(shape), dtype=to_torch_dtype(dtype), device=config.device())


def empty_like(x: Any, dtype: Any = None) -> torch.Tensor:
    """An uninitialised tensor with the shape (and, unless `dtype`, the dtype) of `x`."""
    x = as_tensor(x)
    return torch.empty_like(x, dtype=to_torch_dtype(dtype or x.dtype))


def tri(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> torch.Tensor:
    """An `N x M` matrix with ones at and below the `k`-th diagonal (float32 unless `dtype`)."""
    M = M or N
    ones = torch.ones((N, M), dtype=to_torch_dtype(dtype), device=config.device())
    return torch.tril(ones, diagonal=k)


def vander(x: Any, N: int | None = None, increasing: bool = False) -> torch.Tensor:
    """The Vandermonde matrix of a 1-D `x`: columns are powers of `x` (decreasing by default)."""
    x = as_tensor(x)
    if x.ndim != 1:
        raise ValueError(f"vander: `x` must be 1-D. Received: x.shape={tuple(x.shape)}")
    if N is not None and N < 0:
        raise ValueError(f"vander: `N` must be non-negative. Received: N={N}")
    return torch.vander(x, N=N, increasing=increasing).to(to_torch_dtype(result_type(x.dtype)))


def _log_dtype(start: Any, stop: Any, dtype: Any) -> torch.dtype:
    if dtype is None:
        dtype = result_type(_type_of(start), _type_of(stop), float)
    return to_torch_dtype(dtype)


def logspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    base: float = 10,
    dtype: Any = None,
    axis: int = 0,
) -> torch.Tensor:
    """`num` values from `base ** start` to `base ** stop`, evenly spaced in log scale."""
    if axis != 0:
        raise ValueError(f"logspace: only axis=0 is supported. Received: axis={axis}")
    dtype = _log_dtype(start, stop, dtype)
    if not endpoint:
        stop = stop - (stop - start) / num
    if hasattr(start, "__len__") or hasattr(stop, "__len__"):
        start, stop = (v.to(dtype) for v in tensors(start, stop))
        steps = torch.arange(num, dtype=dtype, device=start.device) / (num - 1)
        steps = steps.reshape((num,) + (1,) * start.ndim)
        return base ** (start[None] + steps * (stop - start)[None])
    compute = torch.float32 if dtype == torch.float16 else dtype
    values = torch.logspace(start, stop, num, base=base, dtype=compute, device=config.device())
    return values.to(dtype)


def geomspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    dtype: Any = None,
    axis: int = 0,
) -> torch.Tensor:
    """`num` values from `start` to `stop`, evenly spaced in log scale (a geometric series)."""
    if axis != 0:
        raise ValueError(f"geomspace: only axis=0 is supported. Received: axis={axis}")
    dtype = _log_dtype(start, stop, dtype)
    start = as_tensor(start, dtype=dtype)
    stop = as_tensor(stop, dtype=dtype, device=start.device)
    values = logspace(
        torch.log10(torch.abs(start)), torch.log10(torch.abs(stop)), num, endpoint, 10, dtype
    )
    return values * torch.sign(start)


def _window(name: str, fn: Any, x: Any, **kwargs: Any) -> torch.Tensor:
    length = as_tensor(x)
    if length.ndim or length.dtype.is_floating_point or length.dtype == torch.bool:
        raise ValueError(f"{name}: `x` must be an integer window length. Received: x={x!r}")
    return fn(int(length), device=config.device(), **kwargs)


def bartlett(x: Any) -> torch.Tensor:
    """The Bartlett (triangular) window of length `x`."""
    return _window("bartlett", torch.signal.windows.bartlett, x)


def blackman(x: Any) -> torch.Tensor:
    """The Blackman window of length `x`."""
    return _window("blackman", torch.signal.windows.blackman, x)


def hamming(x: Any) -> torch.Tensor:
    """The Hamming window of length `x`."""
    return _window("hamming", torch.signal.windows.hamming, x)


def hanning(x: Any) -> torch.Tensor:
    """The Hann window of length `x`."""
    return _window("hanning", torch.signal.windows.hann, x)


def kaiser(x: Any, beta: float) -> torch.Tensor:
    """The Kaiser window of length `x` with shape parameter `beta`."""
    return _window("kaiser", torch.signal.windows.kaiser, x, beta=float(beta))
