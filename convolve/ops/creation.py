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
    "arange", "array", "copy", "eye", "full", "full_like", "identity", "linspace", "ones",
    "ones_like", "zeros", "zeros_like",
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
