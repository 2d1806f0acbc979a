"""Comparisons, logical operators, `where` and value tests (isnan, isfinite ...).

All return bool tensors except `where`, which selects values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from convolve.ops._dtypes import result_type
from convolve.ops.core import as_tensor, cast, tensors

__all__ = [
    "allclose", "equal", "greater", "greater_equal", "isclose", "isfinite", "isin", "isinf",
    "isnan", "isneginf", "isposinf", "isreal", "less", "less_equal", "logical_and",
    "logical_not", "logical_or", "logical_xor", "not_equal", "select", "where",
]  # fmt: skip


def _compare(name: str, fn: Callable[[Any, Any], torch.Tensor]) -> Callable[[Any, Any], Any]:
    def op(x1: Any, x2: Any) -> torch.Tensor:
        return fn(*tensors(x1, x2))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise `{name}` of `x1` and `x2` (broadcast), as a bool tensor."
    return op


def _test(name: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[Any], Any]:
    def op(x: Any) -> torch.Tensor:
        return fn(as_tensor(x))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise `{name}` of `x`, as a bool tensor."
    return op


equal = _compare("equal", torch.eq)
not_equal = _compare("not_equal", torch.ne)
greater = _compare("greater", torch.gt)
greater_equal = _compare("greater_equal", torch.ge)
less = _compare("less", torch.lt)
less_equal = _compare("less_equal", torch.le)
logical_and = _compare("logical_and", torch.logical_and)
logical_or = _compare("logical_or", torch.logical_or)
logical_xor = _compare("logical_xor", torch.logical_xor)
logical_not = _test("logical_not", torch.logical_not)
isnan = _test("isnan", torch.isnan)
isinf = _test("isinf", torch.isinf)
isfinite = _test("isfinite", torch.isfinite)


def where(condition: Any, x1: Any = None, x2: Any = None) -> torch.Tensor:
    """`x1` where `condition` holds, else `x2` (broadcast).

    With only `condition`, returns the indices of its true elements, one row per axis.

    Example:
        >>> from convolve import ops
        >>> ops.where([True, False], 1.0, 0.0).tolist()
        [1.0, 0.0]
    """
    if (x1 is None) != (x2 is None):
        raise ValueError(
            "`x1` and `x2` either both should be `None` or both should have non-None value. "
            f"Received: x1={x1!r}, x2={x2!r}"
        )
    if x1 is None:
        return torch.stack(torch.where(as_tensor(condition, dtype="bool")), dim=0)
    condition, x1, x2 = tensors(condition, x1, x2)
    return torch.where(condition.bool(), x1, x2)


def _close_pair(x1: Any, x2: Any) -> tuple[torch.Tensor, torch.Tensor, bool]:
    x1, x2 = tensors(x1, x2)
    dtype = result_type(x1.dtype, x2.dtype)
    return cast(x1, dtype), cast(x2, dtype), "float" in dtype


def isclose(
    x1: Any, x2: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
) -> torch.Tensor:
    """Elementwise `|x1 - x2| <= atol + rtol * |x2|` (exact equality for integers)."""
    x1, x2, is_float = _close_pair(x1, x2)
    if is_float:
        return torch.isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan)
    return torch.eq(x1, x2)


def allclose(
    x1: Any, x2: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
) -> torch.Tensor:
    """Whether `isclose` holds everywhere, as a 0-d bool tensor."""
    return torch.all(isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan))


isneginf = _test("isneginf", torch.isneginf)
isposinf = _test("isposinf", torch.isposinf)
isreal = _test("isreal", torch.isreal)


def isin(x1: Any, x2: Any, assume_unique: bool = False, invert: bool = False) -> torch.Tensor:
    """Whether each element of `x1` occurs in `x2` (or not, with `invert=True`)."""
    x1, x2 = tensors(x1, x2)
    if result_type(x1.dtype, x2.dtype) == "bool":
        x1, x2 = x1.int(), x2.int()
    if x1.dtype == torch.bool:
        x1 = x1.to(x2.dtype)
    if x2.dtype == torch.bool:
        x2 = x2.to(x1.dtype)
    return torch.isin(x1, x2, assume_unique=assume_unique, invert=invert)


def select(condlist: Any, choicelist: Any, default: Any = 0) -> torch.Tensor:
    """Elements of the first `choicelist` tensor whose `condlist` entry holds, else `default`.

    Example:
        >>> from convolve import ops
        >>> x = ops.arange(6)
        >>> ops.select([x < 3, x > 3], [x, x**2], 42).tolist()
        [0, 1, 2, 42, 16, 25]
    """
    if not isinstance(condlist, list | tuple) or not isinstance(choicelist, list | tuple):
        raise ValueError(
            "select: `condlist` and `choicelist` must be lists. Received: "
            f"type(condlist)={type(condlist)}, type(choicelist)={type(choicelist)}"
        )
    if not condlist or not choicelist:
        raise ValueError(
            f"select: `condlist` and `choicelist` must not be empty. Received: "
            f"condlist={condlist}, choicelist={choicelist}"
        )
    if len(condlist) != len(choicelist):
        raise ValueError(
            "select: `condlist` and `choicelist` must have the same length. Received lengths "
            f"{len(condlist)} and {len(choicelist)}"
        )
    values = tensors(*condlist, *choicelist, default)
    conditions, choices, out = values[: len(condlist)], values[len(condlist) : -1], values[-1]
    for condition, choice in reversed(list(zip(conditions, choices, strict=True))):
        out = torch.where(condition.bool(), choice, out)
    return out
