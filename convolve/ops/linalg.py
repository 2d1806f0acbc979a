"""Products and norms: matmul, dot, einsum, tensordot, outer, trace, norm.

Integer products come back in the promoted integer dtype (int8 @ int8 gives int32); where a
device has no integer or half-precision kernel the product is computed in float and cast back.
"""

from __future__ import annotations

from typing import Any

import torch

from convolve.ops._dtypes import FLOATX, result_type, standardize_dtype, to_torch_dtype
from convolve.ops.core import as_tensor, cast, tensors

__all__ = [
    "cholesky", "cholesky_inverse", "correlate", "cross", "det", "dot", "eig", "eigh", "einsum",
    "inner", "inv", "jvp", "kron", "lstsq", "lu_factor", "matmul", "matrix_rank", "norm",
    "outer", "pinv", "qr", "slogdet", "solve", "solve_triangular", "svd", "tensordot", "trace",
    "vdot",
]  # fmt: skip

# The names that `keras.ops.linalg` offers, which `convolve.ops.linalg` offers too.
KERAS_LINALG = (
    "cholesky", "cholesky_inverse", "det", "eig", "eigh", "inv", "jvp", "lstsq", "lu_factor",
    "matrix_rank", "norm", "pinv", "qr", "solve", "solve_triangular", "svd",
)  # fmt: skip


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


def cross(
    x1: Any, x2: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None
) -> torch.Tensor:
    """Cross product of 3-vectors along `axis` (the last axis by default, as in NumPy).

    The inputs must have the same rank. (Keras's torch backend takes the first axis of size
    3 when `axis` is None; this follows NumPy and Keras's other backends.)
    """
    if axisa != -1 or axisb != -1 or axisc != -1:
        raise ValueError(
            "cross: `axisa`, `axisb` and `axisc` are not supported; use `axis`. "
            f"Received: axisa={axisa}, axisb={axisb}, axisc={axisc}"
        )
    x1, x2 = tensors(x1, x2)
    out = result_type(x1.dtype, x2.dtype)
    compute = "float32" if out == "float16" and x1.device.type == "cpu" else out
    if out == "bfloat16" and x1.device.type == "cuda":
        compute = "float32"
    return cast(
        torch.linalg.cross(cast(x1, compute), cast(x2, compute), dim=-1 if axis is None else axis),
        out,
    )


def _float_product(fn: Any, x1: Any, x2: Any) -> torch.Tensor:
    x1, x2 = tensors(x1, x2)
    out = result_type(x1.dtype, x2.dtype)
    compute = _compute_dtype(out, x1.device, float_only=True)
    return cast(fn(cast(x1, compute), cast(x2, compute)), out)


def inner(x1: Any, x2: Any) -> torch.Tensor:
    """Inner product over the last axes (a product with a 0-d operand scales)."""
    return _float_product(torch.inner, x1, x2)


def vdot(x1: Any, x2: Any) -> torch.Tensor:
    """Dot product of two 1-D tensors, conjugating the first."""
    return _float_product(torch.vdot, x1, x2)


def kron(x1: Any, x2: Any) -> torch.Tensor:
    """Kronecker product."""
    return torch.kron(*tensors(x1, x2))


def correlate(x1: Any, x2: Any, mode: str = "valid") -> torch.Tensor:
    """Cross-correlation of two 1-D sequences (`mode` "valid", "same" or "full").

    The result is float32 (float16 and bfloat16 are kept), as on Keras's torch backend.
    """
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"correlate: `mode` must be valid, same or full. Received: {mode!r}")
    x1, x2 = tensors(x1, x2)
    if x1.ndim != 1 or x2.ndim != 1:
        raise ValueError(
            f"correlate: inputs must be 1-D. Received shapes {tuple(x1.shape)}, {tuple(x2.shape)}"
        )
    dtype = result_type(x1.dtype, x2.dtype)
    if dtype not in ("bfloat16", "float16"):
        dtype = FLOATX
    x1, x2 = cast(x1, dtype), cast(x2, dtype)
    n1, n2 = x1.shape[0], x2.shape[0]
    full = torch.nn.functional.conv1d(x1[None, None], x2[None, None], padding=n2 - 1)[0, 0]
    if mode == "valid":
        length = max(n1, n2) - min(n1, n2) + 1
    elif mode == "same":
        length = n1
    else:
        return full
    start = (full.shape[0] - length) // 2
    return full[start : start + length]


def _matrices(name: str, *xs: Any, square: bool = True) -> list[torch.Tensor]:
    values = tensors(*xs)
    for x in values[:1]:
        if x.ndim < 2:
            raise ValueError(
                f"{name}: expected a matrix (rank >= 2). Received shape {tuple(x.shape)}"
            )
        if square and x.shape[-1] != x.shape[-2]:
            raise ValueError(f"{name}: expected a square matrix. Received shape {tuple(x.shape)}")
    return values


def cholesky(x: Any, upper: bool = False) -> torch.Tensor:
    """Cholesky factor `L` (or `U` with `upper`) of a symmetric positive-definite matrix."""
    (x,) = _matrices("cholesky", x)
    return torch.linalg.cholesky(x, upper=upper)


def cholesky_inverse(x: Any, upper: bool = False) -> torch.Tensor:
    """Inverse of the matrix whose Cholesky factor is `x`."""
    (x,) = _matrices("cholesky_inverse", x)
    return torch.cholesky_inverse(x, upper=upper)


def det(x: Any) -> torch.Tensor:
    """Determinant of a square matrix (or batch)."""
    (x,) = _matrices("det", x)
    return torch.linalg.det(x)


def slogdet(x: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """`(sign, log|det|)` of a square matrix (or batch)."""
    (x,) = _matrices("slogdet", x)
    return tuple(torch.linalg.slogdet(x))


def eig(x: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Complex eigenvalues and eigenvectors of a square matrix."""
    (x,) = _matrices("eig", x)
    return torch.linalg.eig(x)


def eigh(x: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (ascending) and eigenvectors of a symmetric/Hermitian matrix."""
    (x,) = _matrices("eigh", x)
    return torch.linalg.eigh(x)


def inv(x: Any) -> torch.Tensor:
    """Inverse of a square matrix (or batch)."""
    (x,) = _matrices("inv", x)
    return torch.linalg.inv(x)


def lu_factor(x: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """LU factorization with partial pivoting: `(lu, pivots)`, pivots counted from 0."""
    (x,) = _matrices("lu_factor", x, square=False)
    lu, pivots = torch.linalg.lu_factor(x)
    return lu, pivots - 1


def qr(x: Any, mode: str = "reduced") -> tuple[torch.Tensor, torch.Tensor]:
    """QR decomposition `(q, r)`; `mode` is "reduced" or "complete"."""
    if mode not in ("reduced", "complete"):
        raise ValueError(f"qr: `mode` must be 'reduced' or 'complete'. Received: mode={mode!r}")
    (x,) = _matrices("qr", x, square=False)
    return torch.linalg.qr(x, mode=mode)


def svd(x: Any, full_matrices: bool = True, compute_uv: bool = True) -> Any:
    """Singular value decomposition `(u, s, vh)`, or only `s` when not `compute_uv`."""
    (x,) = _matrices("svd", x, square=False)
    if not compute_uv:
        return torch.linalg.svdvals(x)
    return torch.linalg.svd(x, full_matrices=full_matrices)


def _check_rhs(name: str, a: torch.Tensor, b: torch.Tensor) -> None:
    if b.ndim < 1:
        raise ValueError(f"{name}: `b` must have rank >= 1. Received a scalar.")
    if a.ndim == b.ndim:
        ok = a.shape[-2] == b.shape[-2]
    else:
        ok = a.ndim == b.ndim + 1 and a.shape[-1] == b.shape[-1]
    if not ok:
        raise ValueError(
            f"{name}: incompatible shapes a.shape={tuple(a.shape)}, b.shape={tuple(b.shape)}"
        )


def solve(a: Any, b: Any) -> torch.Tensor:
    """The `x` with `a @ x == b` for a square matrix `a`."""
    a, b = _matrices("solve", a, b)
    _check_rhs("solve", a, b)
    return torch.linalg.solve(a, b)


def solve_triangular(a: Any, b: Any, lower: bool = False) -> torch.Tensor:
    """`solve` for a triangular `a` (upper unless `lower`)."""
    a, b = _matrices("solve_triangular", a, b)
    _check_rhs("solve_triangular", a, b)
    if b.ndim == a.ndim - 1:
        return torch.linalg.solve_triangular(a, b[..., None], upper=not lower)[..., 0]
    return torch.linalg.solve_triangular(a, b, upper=not lower)


def lstsq(a: Any, b: Any, rcond: float | None = None) -> torch.Tensor:
    """Least-squares solution of `a @ x = b`; `rcond` cuts off small singular values."""
    a, b = tensors(a, b)
    if a.ndim != 2 or b.ndim not in (1, 2) or a.shape[0] != b.shape[0]:
        raise ValueError(
            "lstsq: expected `a` of shape (M, N) and `b` of shape (M,) or (M, K). "
            f"Received: a.shape={tuple(a.shape)}, b.shape={tuple(b.shape)}"
        )
    if rcond is None:
        return torch.linalg.lstsq(a, b).solution
    if a.device.type != "cpu":
        return torch.linalg.pinv(a, rtol=rcond) @ b
    return torch.linalg.lstsq(a, b, rcond=rcond, driver="gelsd").solution


def matrix_rank(x: Any, tol: float | None = None) -> torch.Tensor:
    """Rank (int32): the number of singular values above `tol` (a default from NumPy if None)."""
    return torch.linalg.matrix_rank(as_tensor(x), atol=tol).to(torch.int32)


def pinv(x: Any, rcond: float | None = None) -> torch.Tensor:
    """Moore-Penrose pseudo-inverse; singular values below `rcond * max` are dropped."""
    return torch.linalg.pinv(as_tensor(x), rtol=rcond)


def jvp(fun: Any, primals: Any, tangents: Any, has_aux: bool = False) -> Any:
    """Forward-mode Jacobian-vector product: `(fun(*primals), J @ tangents)` (plus aux)."""
    return torch.func.jvp(fun, tuple(primals), tuple(tangents), has_aux=has_aux)
