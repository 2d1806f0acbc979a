"""Elementwise arithmetic and math functions, with Keras's dtype rules.

Python numbers are weakly typed (an int32 tensor times 2 stays int32; times 2.0 becomes
float32), and functions that only make sense on floats (exp, sqrt, floor ...) return floats
for integer inputs, as `keras.ops` does on the torch backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from convolve.ops._dtypes import FLOATX, result_type, standardize_dtype
from convolve.ops.core import as_tensor, cast, tensors

__all__ = [
    "abs", "absolute", "add", "arccos", "arcsin", "arctan", "arctan2", "ceil", "clip", "cos",
    "cosh", "divide", "divide_no_nan", "erf", "exp", "expm1", "floor", "floor_divide", "log",
    "log10", "log1p", "log2", "logaddexp", "maximum", "minimum", "mod", "multiply",
    "nan_to_num", "negative", "power", "reciprocal", "round", "rsqrt", "sign", "sin", "sinh",
    "sqrt", "square", "subtract", "tan", "tanh", "true_divide", "trunc",
]  # fmt: skip


def _unary(name: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[Any], Any]:
    def op(x: Any) -> torch.Tensor:
        return fn(as_tensor(x))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise `{name}` of `x`, as `keras.ops.{name}`."
    return op


def _binary(name: str, fn: Callable[[Any, Any], torch.Tensor]) -> Callable[[Any, Any], Any]:
    def op(x1: Any, x2: Any) -> torch.Tensor:
        return fn(*tensors(x1, x2))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise `{name}` of `x1` and `x2` (broadcast), as `keras.ops.{name}`."
    return op


def _is_int_or_bool(x: torch.Tensor) -> bool:
    return not (x.dtype.is_floating_point or x.dtype.is_complex)


def _float_input(x: Any) -> torch.Tensor:
    x = as_tensor(x)
    return cast(x, FLOATX) if _is_int_or_bool(x) else x


add = _binary("add", torch.add)
multiply = _binary("multiply", torch.multiply)
power = _binary("power", torch.pow)


def subtract(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise `x1 - x2`; a bool operand takes the other operand's dtype."""
    x1, x2 = tensors(x1, x2)
    if x1.dtype == torch.bool:
        x1 = x1.to(x2.dtype)
    if x2.dtype == torch.bool:
        x2 = x2.to(x1.dtype)
    return torch.subtract(x1, x2)


def _scalar_or_tensor(x1: Any, x2: Any) -> tuple[Any, Any]:
    # Python numbers go to torch unconverted, where they are weakly typed.
    device = next((x.device for x in (x1, x2) if isinstance(x, torch.Tensor)), None)
    x1 = x1 if isinstance(x1, int | float) else as_tensor(x1, device=device)
    x2 = x2 if isinstance(x2, int | float) else as_tensor(x2, device=device)
    if not isinstance(x1, torch.Tensor) and not isinstance(x2, torch.Tensor):
        x1 = as_tensor(x1)
    return x1, x2


def divide(x1: Any, x2: Any) -> torch.Tensor:
    """True division `x1 / x2`; integer inputs give float32."""
    return torch.divide(*_scalar_or_tensor(x1, x2))


def true_divide(x1: Any, x2: Any) -> torch.Tensor:
    """Same as `divide`."""
    return divide(x1, x2)


def floor_divide(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise `x1 // x2` in the promoted dtype of the inputs."""
    x1, x2 = _scalar_or_tensor(x1, x2)
    dtype = result_type(getattr(x1, "dtype", type(x1)), getattr(x2, "dtype", type(x2)))
    return cast(torch.floor_divide(x1, x2), dtype)


def _promoted(x1: Any, x2: Any, *extra: Any) -> tuple[torch.Tensor, torch.Tensor]:
    device = next((x.device for x in (x1, x2) if isinstance(x, torch.Tensor)), None)
    dtype = result_type(getattr(x1, "dtype", type(x1)), getattr(x2, "dtype", type(x2)), *extra)
    return as_tensor(x1, dtype, device), as_tensor(x2, dtype, device)


def divide_no_nan(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 / x2`, with 0 wherever `x2` is 0 (also for 0 / 0)."""
    x1, x2 = _promoted(*_scalar_or_tensor(x1, x2), float)
    zero = x2 == 0
    return torch.where(zero, 0, torch.divide(x1, torch.where(zero, torch.ones_like(x2), x2)))


def maximum(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise maximum in the promoted dtype (Python numbers are weakly typed)."""
    return torch.maximum(*_promoted(*_scalar_or_tensor(x1, x2)))


def minimum(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise minimum in the promoted dtype (Python numbers are weakly typed)."""
    return torch.minimum(*_promoted(*_scalar_or_tensor(x1, x2)))


def mod(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise remainder with the sign of the divisor, as NumPy's `mod`."""
    x1, x2 = tensors(x1, x2)
    if result_type(x1.dtype, x2.dtype) == "bool":
        x1, x2 = x1.int(), x2.int()
    return torch.remainder(x1, x2)


def arctan2(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise arc tangent of `x1 / x2`, choosing the quadrant; floats out."""
    x1, x2 = tensors(x1, x2)
    return torch.arctan2(*_promoted(x1, x2, float))


def logaddexp(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise `log(exp(x1) + exp(x2))`, computed stably; floats out."""
    x1, x2 = tensors(x1, x2)
    return torch.logaddexp(*_promoted(x1, x2, float))


def absolute(x: Any) -> torch.Tensor:
    """Elementwise absolute value (bools are returned unchanged)."""
    x = as_tensor(x)
    return x if x.dtype == torch.bool else torch.abs(x)


abs = absolute
negative = _unary("negative", torch.negative)
sign = _unary("sign", torch.sign)
sin = _unary("sin", torch.sin)
cos = _unary("cos", torch.cos)
tan = _unary("tan", torch.tan)
tanh = _unary("tanh", torch.tanh)
sinh = _unary("sinh", torch.sinh)
cosh = _unary("cosh", torch.cosh)
arcsin = _unary("arcsin", torch.arcsin)
arccos = _unary("arccos", torch.arccos)
arctan = _unary("arctan", torch.arctan)
log = _unary("log", torch.log)
log1p = _unary("log1p", torch.log1p)
log2 = _unary("log2", torch.log2)
log10 = _unary("log10", torch.log10)
reciprocal = _unary("reciprocal", torch.reciprocal)
rsqrt = _unary("rsqrt", torch.rsqrt)
erf = _unary("erf", torch.erf)


def exp(x: Any) -> torch.Tensor:
    """Elementwise `e ** x`; integer and bool inputs give float32."""
    return torch.exp(_float_input(x))


def expm1(x: Any) -> torch.Tensor:
    """Elementwise `exp(x) - 1`, accurate near 0; integer and bool inputs give float32."""
    return torch.expm1(_float_input(x))


def square(x: Any) -> torch.Tensor:
    """Elementwise `x * x` (bools count as int32)."""
    x = as_tensor(x)
    return torch.square(x.int() if x.dtype == torch.bool else x)


def sqrt(x: Any) -> torch.Tensor:
    """Elementwise square root; integer inputs give float32."""
    x = as_tensor(x)
    return torch.sqrt(cast(x, FLOATX) if x.dtype == torch.int64 else x)


def _rounding(fn: Callable[[torch.Tensor], torch.Tensor], x: Any) -> torch.Tensor:
    x = as_tensor(x)
    name = standardize_dtype(x.dtype)
    return fn(cast(x, FLOATX if name == "int64" else result_type(name, float)))


def floor(x: Any) -> torch.Tensor:
    """Elementwise floor, as a float tensor (integer inputs give float32)."""
    return _rounding(torch.floor, x)


def ceil(x: Any) -> torch.Tensor:
    """Elementwise ceiling, as a float tensor (integer inputs give float32)."""
    return _rounding(torch.ceil, x)


def trunc(x: Any) -> torch.Tensor:
    """Elementwise rounding toward zero, keeping the dtype."""
    x = as_tensor(x)
    return x if x.dtype == torch.bool else torch.trunc(x)


def round(x: Any, decimals: int = 0) -> torch.Tensor:
    """Rounds half to even to `decimals` places, keeping the dtype."""
    x = as_tensor(x)
    if _is_int_or_bool(x) and x.dtype != torch.bool:
        return cast(torch.round(cast(x, FLOATX), decimals=decimals), x.dtype)
    return torch.round(x, decimals=decimals)


def clip(x: Any, x_min: Any, x_max: Any) -> torch.Tensor:
    """Limits values to `[x_min, x_max]` (bools are clipped as int32)."""
    x, x_min, x_max = tensors(x, x_min, x_max)
    if x.dtype == torch.bool:
        x = x.int()
    return torch.clip(x, min=x_min, max=x_max)


def nan_to_num(
    x: Any, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
) -> torch.Tensor:
    """Replaces NaN by `nan` and infinities by `posinf`/`neginf` (default: dtype limits)."""
    return torch.nan_to_num(as_tensor(x), nan=nan, posinf=posinf, neginf=neginf)
