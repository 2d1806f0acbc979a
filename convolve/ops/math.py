"""Elementwise arithmetic and math functions, with Keras's dtype rules.

Python numbers are weakly typed (an int32 tensor times 2 stays int32; times 2.0 becomes
float32), and functions that only make sense on floats (exp, sqrt, floor ...) return floats
for integer inputs, as `keras.ops` does on the torch backend.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from convolve.ops._dtypes import FLOATX, result_type, standardize_dtype
from convolve.ops.core import as_tensor, cast, tensors

__all__ = [
    "abs", "absolute", "add", "angle", "arccos", "arccosh", "arcsin", "arcsinh", "arctan",
    "arctan2", "arctanh", "bitwise_and", "bitwise_invert", "bitwise_left_shift", "bitwise_not",
    "bitwise_or", "bitwise_right_shift", "bitwise_xor", "cbrt", "cdist", "ceil", "clip", "conj",
    "conjugate", "cos", "cosh", "deg2rad", "divide", "divide_no_nan", "erf", "erfc", "erfinv",
    "exp", "exp2", "expm1", "fabs", "floor", "floor_divide", "fmax", "fmin", "fmod", "gcd",
    "heaviside", "hypot", "i0", "imag", "lcm", "ldexp", "left_shift", "log", "log10", "log1p",
    "log2", "logaddexp", "logaddexp2", "logdet", "maximum", "minimum", "mod", "multiply",
    "nan_to_num", "negative", "nextafter", "power", "rad2deg", "real", "reciprocal",
    "right_shift", "round", "rsqrt", "segment_max", "segment_min", "segment_prod",
    "segment_sum", "sign", "signbit", "sin", "sinc", "sinh", "sqrt", "square", "subtract",
    "tan", "tanh", "true_divide", "trunc", "view_as_complex", "view_as_real",
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


# --- More elementwise math (NumPy names), with the dtypes of Keras's torch backend. ---


def cbrt(x: Any) -> torch.Tensor:
    """Elementwise real cube root (negative inputs give negative roots)."""
    x = as_tensor(x)
    name = standardize_dtype(x.dtype)
    if name == "bool":
        x = x.int()
    elif name == "int64":
        x = cast(x, "float64")
    return torch.sign(x) * torch.abs(x) ** (1.0 / 3.0)


def exp2(x: Any) -> torch.Tensor:
    """Elementwise `2 ** x`; integer and bool inputs give float32."""
    return torch.exp2(_float_input(x))


def fabs(x: Any) -> torch.Tensor:
    """Elementwise absolute value as a float (integer and bool inputs give float32)."""
    return torch.abs(_float_input(x))


def fmod(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise C-style remainder, with the sign of the dividend (unlike `mod`)."""
    x1, x2 = tensors(x1, x2)
    if result_type(x1.dtype, x2.dtype) == "bool":
        x1, x2 = x1.int(), x2.int()
    return torch.fmod(x1, x2)


def _float_pair(x1: Any, x2: Any) -> tuple[torch.Tensor, torch.Tensor]:
    # Integer results become float32 (float64 for int64), as Keras's hypot and heaviside.
    x1, x2 = tensors(x1, x2)
    dtype = result_type(x1.dtype, x2.dtype)
    if dtype in ("int8", "int16", "int32", "uint8", "uint16", "uint32", "bool"):
        dtype = FLOATX
    elif dtype == "int64":
        dtype = "float64"
    return cast(x1, dtype), cast(x2, dtype)


def hypot(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise `sqrt(x1 ** 2 + x2 ** 2)`, without overflow; floats out."""
    return torch.hypot(*_float_pair(x1, x2))


def heaviside(x1: Any, x2: Any) -> torch.Tensor:
    """Step function: 0 where `x1 < 0`, `x2` where `x1 == 0`, 1 where `x1 > 0`."""
    return torch.heaviside(*_float_pair(x1, x2))


def logaddexp2(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise `log2(2 ** x1 + 2 ** x2)`, computed stably; floats out."""
    x1, x2 = tensors(x1, x2)
    return torch.logaddexp2(*_promoted(x1, x2, float))


def deg2rad(x: Any) -> torch.Tensor:
    """Converts degrees to radians (int64 inputs give float64, other integers float32)."""
    x = as_tensor(x)
    out = torch.deg2rad(x)
    return cast(out, "float64") if x.dtype == torch.int64 else out


def rad2deg(x: Any) -> torch.Tensor:
    """Converts radians to degrees (int64 inputs give float64, other integers float32)."""
    x = as_tensor(x)
    out = torch.rad2deg(x)
    return cast(out, "float64") if x.dtype == torch.int64 else out


arccosh = _unary("arccosh", torch.arccosh)
arcsinh = _unary("arcsinh", torch.arcsinh)
arctanh = _unary("arctanh", torch.arctanh)
erfc = _unary("erfc", torch.erfc)
erfinv = _unary("erfinv", torch.erfinv)
signbit = _unary("signbit", torch.signbit)
sinc = _unary("sinc", torch.sinc)


def i0(x: Any) -> torch.Tensor:
    """Modified Bessel function of the first kind, order 0 (float64 kept, ints as float32)."""
    x = as_tensor(x)
    name = standardize_dtype(x.dtype)
    if name in ("int64", "float64"):
        name = "float64"
    elif name not in ("bfloat16", "float16"):
        name = FLOATX
    return torch.i0(cast(x, name))


gcd = _binary("gcd", torch.gcd)
lcm = _binary("lcm", torch.lcm)


def fmax(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise maximum that ignores NaN (NaN only where both are NaN)."""
    return torch.fmax(*_promoted(*_scalar_or_tensor(x1, x2)))


def fmin(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise minimum that ignores NaN (NaN only where both are NaN)."""
    return torch.fmin(*_promoted(*_scalar_or_tensor(x1, x2)))


def nextafter(x1: Any, x2: Any) -> torch.Tensor:
    """The next float after `x1` toward `x2`, computed in float64 and cast to the result dtype."""
    x1, x2 = tensors(x1, x2)
    dtype = result_type(x1.dtype, x2.dtype, float)
    return cast(torch.nextafter(cast(x1, "float64"), cast(x2, "float64")), dtype)


def ldexp(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise `x1 * 2 ** x2`; `x2` must be an integer tensor."""
    x1, x2 = tensors(x1, x2)
    name = standardize_dtype(x2.dtype)
    if "int" not in name:
        raise TypeError(f"ldexp: the exponent `x2` must be integer. Received dtype {name}")
    return cast(torch.ldexp(x1, x2), result_type(x1.dtype, x2.dtype, float))


def bitwise_and(x: Any, y: Any) -> torch.Tensor:
    """Elementwise bitwise AND (logical AND for bools)."""
    return torch.bitwise_and(*tensors(x, y))


def bitwise_or(x: Any, y: Any) -> torch.Tensor:
    """Elementwise bitwise OR (logical OR for bools)."""
    return torch.bitwise_or(*tensors(x, y))


def bitwise_xor(x: Any, y: Any) -> torch.Tensor:
    """Elementwise bitwise XOR (logical XOR for bools)."""
    return torch.bitwise_xor(*tensors(x, y))


def bitwise_invert(x: Any) -> torch.Tensor:
    """Elementwise bitwise NOT (logical NOT for bools)."""
    return torch.bitwise_not(as_tensor(x))


def bitwise_not(x: Any) -> torch.Tensor:
    """Same as `bitwise_invert`."""
    return bitwise_invert(x)


def _shift_operands(x: Any, y: Any) -> tuple[torch.Tensor, Any]:
    x = as_tensor(x)
    return x, y if isinstance(y, int) else as_tensor(y, device=x.device)


def bitwise_left_shift(x: Any, y: Any) -> torch.Tensor:
    """Elementwise `x << y`."""
    return torch.bitwise_left_shift(*_shift_operands(x, y))


def bitwise_right_shift(x: Any, y: Any) -> torch.Tensor:
    """Elementwise `x >> y` (arithmetic shift for signed integers)."""
    return torch.bitwise_right_shift(*_shift_operands(x, y))


def left_shift(x: Any, y: Any) -> torch.Tensor:
    """Same as `bitwise_left_shift`."""
    return bitwise_left_shift(x, y)


def right_shift(x: Any, y: Any) -> torch.Tensor:
    """Same as `bitwise_right_shift`."""
    return bitwise_right_shift(x, y)


def _complex_ok(x: Any) -> torch.Tensor:
    # NumPy complex arrays convert with their dtype kept.
    if isinstance(x, torch.Tensor):
        return x
    if hasattr(x, "dtype") and getattr(x.dtype, "kind", "") == "c":
        return torch.from_numpy(x)
    return as_tensor(x)


def real(x: Any) -> torch.Tensor:
    """The real part (the values themselves for real inputs)."""
    return torch.real(_complex_ok(x))


def imag(x: Any) -> torch.Tensor:
    """The imaginary part of a complex tensor (real inputs are refused, as in Keras on torch)."""
    x = _complex_ok(x)
    if not x.is_complex():
        raise ValueError(f"imag: `x` must be complex. Received dtype {x.dtype}")
    return torch.imag(x)


def conj(x: Any) -> torch.Tensor:
    """The complex conjugate (the values themselves for real inputs)."""
    return torch.conj(_complex_ok(x)).resolve_conj()


def conjugate(x: Any) -> torch.Tensor:
    """Same as `conj`."""
    return conj(x)


def angle(x: Any) -> torch.Tensor:
    """The argument (phase angle) of each complex element; 0 or pi for reals."""
    x = as_tensor(x)
    if x.dtype == torch.float16 and x.device.type != "cpu":
        return torch.angle(x.float()).half()
    return torch.angle(x)


def _segment(
    kind: str, data: Any, segment_ids: Any, num_segments: int | None, sorted: bool
) -> torch.Tensor:
    data = as_tensor(data)
    ids = as_tensor(segment_ids, device=data.device).long()
    if ids.ndim != 1 or (data.ndim and ids.shape[0] != data.shape[0]):
        raise ValueError(
            f"segment_{kind}: `segment_ids` must be 1-D with one id per row of `data`. "
            f"Received: segment_ids.shape={tuple(ids.shape)}, data.shape={tuple(data.shape)}"
        )
    if num_segments is None:
        num_segments = int(ids.max()) + 1 if ids.numel() else 0
    num_segments = int(num_segments)
    # Ids outside [0, num_segments) are dropped into an extra row that is cut off.
    ids = torch.where((ids >= 0) & (ids < num_segments), ids, num_segments)
    index = ids.reshape((-1,) + (1,) * (data.ndim - 1)).expand(data.shape)
    start = {"sum": 0.0, "max": -math.inf, "min": math.inf, "prod": 1.0}[kind]
    shape = (num_segments + 1, *data.shape[1:])
    result = torch.full(shape, start, dtype=torch.float32, device=data.device)
    reduce = {"sum": "sum", "max": "amax", "min": "amin", "prod": "prod"}[kind]
    result = result.scatter_reduce(0, index, data.float(), reduce)
    return result[:-1].to(data.dtype)


def segment_sum(
    data: Any, segment_ids: Any, num_segments: int | None = None, sorted: bool = False
) -> torch.Tensor:
    """Sums the rows of `data` that share a segment id (empty segments give 0).

    The sum is accumulated in float32 and cast back to `data`'s dtype, as Keras does.
    """
    return _segment("sum", data, segment_ids, num_segments, sorted)


def segment_max(
    data: Any, segment_ids: Any, num_segments: int | None = None, sorted: bool = False
) -> torch.Tensor:
    """Maximum of the rows of `data` that share a segment id (empty segments give -inf)."""
    return _segment("max", data, segment_ids, num_segments, sorted)


def segment_min(
    data: Any, segment_ids: Any, num_segments: int | None = None, sorted: bool = False
) -> torch.Tensor:
    """Minimum of the rows of `data` that share a segment id (empty segments give inf)."""
    return _segment("min", data, segment_ids, num_segments, sorted)


def segment_prod(
    data: Any, segment_ids: Any, num_segments: int | None = None, sorted: bool = False
) -> torch.Tensor:
    """Product of the rows of `data` that share a segment id (empty segments give 1)."""
    return _segment("prod", data, segment_ids, num_segments, sorted)


def cdist(x: Any, y: Any) -> torch.Tensor:
    """Euclidean distances between the rows of `x` and of `y`, batch axes broadcast.

    `x` of shape `(..., n, d)` and `y` of shape `(..., m, d)` give `(..., n, m)`.
    """
    x, y = tensors(x, y)
    if x.ndim < 2 or y.ndim < 2:
        raise ValueError(
            f"cdist: inputs must have rank >= 2. Received shapes {tuple(x.shape)}, {tuple(y.shape)}"
        )
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(
            f"cdist: the last axes must match. Received shapes {tuple(x.shape)}, {tuple(y.shape)}"
        )
    difference = x.unsqueeze(-2) - y.unsqueeze(-3)
    return torch.sqrt(torch.sum(difference * difference, dim=-1))


def view_as_real(x: Any) -> torch.Tensor:
    """A complex tensor as a real one with a last axis of size 2 (real, imaginary)."""
    x = _complex_ok(x)
    if not x.is_complex():
        raise ValueError(f"view_as_real: `x` must be complex. Received dtype {x.dtype}")
    return torch.view_as_real(x)


def view_as_complex(x: Any) -> torch.Tensor:
    """A real tensor with a last axis of size 2 as a complex tensor."""
    x = as_tensor(x)
    if x.shape[-1:] != (2,):
        raise ValueError(
            f"view_as_complex: the last axis must have size 2. Received shape {tuple(x.shape)}"
        )
    return torch.view_as_complex(x.contiguous())


def logdet(x: Any) -> torch.Tensor:
    """Natural log of the determinant of a square matrix (or a batch of them)."""
    return torch.logdet(as_tensor(x))
