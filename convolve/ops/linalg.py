"""Products and norms: matmul, dot, einsum, tensordot, outer, trace, norm.

Integer products come back in the promoted integer dtype (int8 @ int8 gives int32); where a
device has no integer or half-precision kernel the product is computed in float and cast back.
"""

from __future__ import annotations

from typing import Any

import torch

from convolve.ops._dtypes import FLOATX, result_type, standardize_dtype, to_torch_dtype
from convolve.ops.core import as_tensor, cast, tensors

__all__ = ["dot", "einsum", "matmul", "norm", "outer", "tensordot", "trace"]


def _compute_dtype(dtype: str, device: torch.device, float_only: bool = False) -> str:
    if float_only or dtype == "bool" or (device.type != "cpu" and "int" in dtype):
        dtype = result_type(dtype, float)
    if device.type == "cpu" and dtype == "float16":
        return "float32"
    return dtype


def matmul(x1: Any, x2: Any) -> torch.Tensor:
    """Matrix product with NumPy's broadcasting of leading (batch) axes."""
    x1, x2 = tensors(x1, x2)
    names = standardize_dtype(x1.dtype), standardize_dtype(x2.dtype)
    out = "int32" if names == ("int8", "int8") else result_type(*names)
    compute = _compute_dtype(out, x1.device)
    return cast(torch.matmul(cast(x1, compute), cast(x2, compute)), out)


def dot(x1: Any, x2: Any) -> torch.Tensor:
    """NumPy's `dot`: inner product of vectors, matrix product, or scaling by a 0-d tensor."""
    x1, x2 = tensors(x1, x2)
    out = result_type(x1.dtype, x2.dtype)
    compute = _compute_dtype(out, x1.device, float_only=True)
    x1, x2 = cast(x1, compute), cast(x2, compute)
    product = x1 * x2 if x1.ndim == 0 or x2.ndim == 0 else torch.matmul(x1, x2)
    return cast(product, out)


def einsum(subscripts: str, *operands: Any, **kwargs: Any) -> torch.Tensor:
    """Einstein summation, e.g. `einsum("ij,jk->ik", a, b)`; operands are promoted to one dtype.

    Example:
        >>> from convolve import ops
        >>> ops.einsum("i,i->", [1.0, 2.0], [3.0, 4.0]).item()
        11.0
    """
    operands = tensors(*operands)
    names = {standardize_dtype(x.dtype) for x in operands}
    out = "int32" if names == {"int8"} else result_type(*names)
    compute = _compute_dtype(out, operands[0].device)
    return cast(torch.einsum(subscripts, *(cast(x, compute) for x in operands)), out)


def tensordot(x1: Any, x2: Any, axes: Any = 2) -> torch.Tensor:
    """Sum of products over `axes` (an int: the last/first `axes` axes; or two axis lists)."""
    x1, x2 = tensors(x1, x2)
    out = result_type(x1.dtype, x2.dtype)
    compute = _compute_dtype(out, x1.device, float_only=True)
    if isinstance(axes, list | tuple):
        axes = tuple(tuple(a) if isinstance(a, list | tuple) else (a,) for a in axes)
    return cast(torch.tensordot(cast(x1, compute), cast(x2, compute), dims=axes), out)


def outer(x1: Any, x2: Any) -> torch.Tensor:
    """Outer product of the flattened inputs."""
    x1, x2 = tensors(x1, x2)
    out = result_type(x1.dtype, x2.dtype)
    return torch.outer(cast(x1, out).flatten(), cast(x2, out).flatten())


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> torch.Tensor:
    """Sum along a diagonal; bool and 8/16-bit integers are summed as int32."""
    x = as_tensor(x)
    name = standardize_dtype(x.dtype)
    dtype = "int32" if name in ("bool", "int8", "int16", "uint8") else name
    diagonal = torch.diagonal(x, offset, axis1, axis2)
    return torch.sum(diagonal, dim=-1, dtype=to_torch_dtype(dtype))


def norm(
    x: Any, ord: Any = None, axis: int | tuple[int, int] | None = None, keepdims: bool = False
) -> torch.Tensor:
    """Vector or matrix norm, as `numpy.linalg.norm` (2-norm of the flattened `x` by default)."""
    x = as_tensor(x)
    name = standardize_dtype(x.dtype)
    x = cast(x, FLOATX if name == "int64" else result_type(name, float))
    return torch.linalg.norm(x, ord=ord, dim=axis, keepdim=keepdims)
