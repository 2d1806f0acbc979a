"""Activation functions by Keras name, on engine tensors (elementwise unless noted).

Each takes a tensor (or, as in Keras, a NumPy array, a list or a number, which becomes a
tensor: NumPy arrays keep their dtype, Python floats become float32) and returns a tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

_PYTHON_DTYPES = {"f": torch.float32, "i": torch.int32, "u": torch.int32, "b": torch.bool}


def _tensor(x: Any) -> torch.Tensor:
    """`x` as a tensor, converted as Keras's `convert_to_tensor` does."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray | np.generic):
        array = np.asarray(x)
        if not array.flags.writeable or not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="), copy=True)
        return torch.as_tensor(array)
    array = np.asarray(x)
    dtype = _PYTHON_DTYPES.get(array.dtype.kind)
    if dtype is None:
        raise TypeError(
            f"Activation functions take numbers, arrays or tensors; received {type(x).__name__} "
            f"of dtype {array.dtype}."
        )
    return torch.as_tensor(array, dtype=dtype)


def _float(x: Any) -> torch.Tensor:
    """`_tensor(x)`, with integer and boolean values as float32."""
    x = _tensor(x)
    return x if x.is_floating_point() else x.to(torch.float32)


def _on_contiguous_memory(fn: Callable[..., torch.Tensor], x: torch.Tensor, **kwargs: Any):
    """`fn(x)` computed on the view of `x` whose order matches its memory (a channels_last
    engine tensor is a contiguous channels-last array), then viewed back.

    Some CPU kernels (gelu's) take another code path on strided input, whose rounding
    differs from Keras's computation on the contiguous channels-last array; this takes
    Keras's path, without copying (and keeps the channels_last memory format).
    """
    if x.ndim in (4, 5) and not x.is_contiguous():
        user = x.movedim(1, -1)
        if user.is_contiguous():
            return fn(user, **kwargs).movedim(-1, 1)
    return fn(x, **kwargs)


def _along_axis(fn: Callable[..., torch.Tensor], x: torch.Tensor, axis: int) -> torch.Tensor:
    """`fn(x, dim=axis)` for a normalization along `axis` (softmax), run as torch's
    last-dim kernel when `axis` is innermost in memory, as Keras's channels-last arrays are."""
    dim = axis % x.ndim if x.ndim else axis
    if x.ndim >= 2 and dim != x.ndim - 1:
        moved = x.movedim(dim, -1)
        if moved.is_contiguous():
            return fn(moved, dim=-1).movedim(-1, dim)
    return fn(x, dim=axis)


def linear(x: Any) -> Any:
    """Returns its input unchanged (not converted, as in Keras)."""
    return x


def relu(
    x: Any,
    negative_slope: float = 0.0,
    max_value: float | None = None,
    threshold: float = 0.0,
) -> torch.Tensor:
    """Keras's relu: `max(x, 0)`, with optional slope below threshold and a cap.

    As in Keras, `x` at or below a nonzero `threshold` maps to 0 (then the slope applies).
    """
    x = _tensor(x)
    if max_value is None and threshold == 0:
        if negative_slope == 0:
            return F.relu(x)
        return F.leaky_relu(x, negative_slope)
    if threshold != 0:
        y = torch.where(x > threshold, x, torch.zeros((), dtype=x.dtype, device=x.device))
    else:
        y = F.relu(x)
    if max_value is not None:
        y = torch.clamp(y, 0.0, max_value)
    if negative_slope != 0:
        y = y - negative_slope * F.relu(-x + threshold)
    return y


def relu6(x: Any) -> torch.Tensor:
    return F.relu6(_float(x))


def sigmoid(x: Any) -> torch.Tensor:
    return torch.sigmoid(_float(x))


def hard_sigmoid(x: Any) -> torch.Tensor:
    """`relu6(x + 3) / 6`: 0 below -3, 1 above 3, linear between."""
    return F.hardsigmoid(_float(x))


def hard_silu(x: Any) -> torch.Tensor:
    """Hard SiLU (hard swish): `x * relu6(x + 3) / 6`."""
    return F.hardswish(_float(x))


def tanh(x: Any) -> torch.Tensor:
    return torch.tanh(_float(x))


def hard_tanh(x: Any) -> torch.Tensor:
    """`tanh`'s hard version: `x` clipped to [-1, 1]."""
    return F.hardtanh(_float(x), -1.0, 1.0)


def tanh_shrink(x: Any) -> torch.Tensor:
    """`x - tanh(x)`."""
    return F.tanhshrink(_float(x))


def elu(x: Any, alpha: float = 1.0) -> torch.Tensor:
    return F.elu(_float(x), alpha=alpha)


def celu(x: Any, alpha: float = 1.0) -> torch.Tensor:
    """Continuously differentiable ELU: `max(x, 0) + min(0, alpha * (exp(x / alpha) - 1))`."""
    return F.celu(_float(x), alpha=alpha)


def selu(x: Any) -> torch.Tensor:
    return F.selu(_float(x))


def gelu(x: Any, approximate: bool = False) -> torch.Tensor:
    return _on_contiguous_memory(F.gelu, _float(x), approximate="tanh" if approximate else "none")


def silu(x: Any) -> torch.Tensor:
    return F.silu(_float(x))


def softplus(x: Any) -> torch.Tensor:
    return F.softplus(_float(x))


def softsign(x: Any) -> torch.Tensor:
    return F.softsign(_float(x))


def squareplus(x: Any, b: float = 4) -> torch.Tensor:
    """`(x + sqrt(x**2 + b)) / 2`, a smooth ReLU."""
    x = _float(x)
    return (x + torch.sqrt(x**2 + b)) / 2


def sparse_plus(x: Any) -> torch.Tensor:
    """0 for `x <= -1`, `(x + 1)**2 / 4` for `-1 < x < 1`, `x` for `x >= 1`."""
    x = _float(x)
    return torch.where(x <= -1, torch.zeros_like(x), torch.where(x < 1, (1 / 4) * (x + 1) ** 2, x))


def sparse_sigmoid(x: Any) -> torch.Tensor:
    """0 for `x <= -1`, 1 for `x >= 1`, `(x + 1) / 2` between."""
    x = _float(x)
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    one = torch.ones((), dtype=x.dtype, device=x.device)
    return torch.where(x <= -1, zero, torch.where(x >= 1, one, 0.5 * (x + 1)))


def log_sigmoid(x: Any) -> torch.Tensor:
    """`log(sigmoid(x))`, computed stably."""
    return _on_contiguous_memory(F.logsigmoid, _float(x))  # keeps channels_last memory


def soft_shrink(x: Any, threshold: float = 0.5) -> torch.Tensor:
    """`x - threshold` above `threshold`, `x + threshold` below `-threshold`, else 0."""
    return F.softshrink(_float(x), lambd=threshold)


def hard_shrink(x: Any, threshold: float = 0.5) -> torch.Tensor:
    """`x` where `|x| > threshold`, else 0."""
    return F.hardshrink(_float(x), lambd=threshold)


def threshold(x: Any, threshold: float, default_value: float) -> torch.Tensor:
    """`x` where `x > threshold`, else `default_value`."""
    return F.threshold(_float(x), threshold, default_value)


def leaky_relu(x: Any, negative_slope: float = 0.2) -> torch.Tensor:
    return F.leaky_relu(_float(x), negative_slope)


def exponential(x: Any) -> torch.Tensor:
    return torch.exp(_float(x))


def mish(x: Any) -> torch.Tensor:
    """`x * tanh(softplus(x))`, computed as Keras does."""
    x = _float(x)
    return x * torch.tanh(F.softplus(x))


def softmax(x: Any, axis: int = -1) -> torch.Tensor:
    """Softmax over a Keras axis; `axis` is an engine dim once layouts are mapped."""
    return _along_axis(torch.softmax, _float(x), axis)


def log_softmax(x: Any, axis: int = -1) -> torch.Tensor:
    return _along_axis(torch.log_softmax, _float(x), axis)


def glu(x: Any, axis: int = -1) -> torch.Tensor:
    """Gated linear unit: splits `axis` in halves `a, b` and returns `a * sigmoid(b)`."""
    return F.glu(_float(x), dim=axis)


def sparsemax(x: Any, axis: int = -1) -> torch.Tensor:
    """Sparsemax: the Euclidean projection of `x` onto the simplex along `axis`.

    Like softmax its outputs sum to 1, but many are exactly 0.
    """
    logits = _float(x)
    ordered, _ = torch.sort(logits, dim=axis, descending=True)
    cumsum = torch.cumsum(ordered, dim=axis)
    r = torch.arange(1, logits.size(axis) + 1, device=logits.device, dtype=logits.dtype)
    r_shape = [1] * logits.ndim
    r_shape[axis] = -1
    r = r.view(r_shape)
    support = ordered - (cumsum - 1) / r > 0
    k = torch.sum(support, dim=axis, keepdim=True)
    cumsum_safe = torch.where(
        support, cumsum, torch.zeros((), dtype=cumsum.dtype, device=cumsum.device)
    )
    tau = (torch.sum(cumsum_safe, dim=axis, keepdim=True) - 1) / k
    return torch.clamp(logits - tau, min=0.0)


swish = silu
hard_swish = hard_silu

# Activations that act along the channel axis rather than elementwise; layers pass the
# engine's channel dim for them.
AXIS_ACTIVATIONS = {"softmax", "log_softmax", "glu", "sparsemax"}

# Keras's names; an alias follows the function it names, so that `serialize` gives the
# canonical name first (Keras saves `hard_swish` as "hard_silu", `swish` as "silu").
_BY_NAME: dict[str, Callable[..., torch.Tensor]] = {
    "linear": linear,
    "relu": relu,
    "relu6": relu6,
    "sigmoid": sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "hard_silu": hard_silu,
    "hard_swish": hard_swish,
    "tanh": tanh,
    "hard_tanh": hard_tanh,
    "tanh_shrink": tanh_shrink,
    "elu": elu,
    "celu": celu,
    "selu": selu,
    "gelu": gelu,
    "glu": glu,
    "silu": silu,
    "swish": swish,
    "softplus": softplus,
    "softsign": softsign,
    "squareplus": squareplus,
    "sparse_plus": sparse_plus,
    "sparse_sigmoid": sparse_sigmoid,
    "log_sigmoid": log_sigmoid,
    "soft_shrink": soft_shrink,
    "hard_shrink": hard_shrink,
    "threshold": threshold,
    "leaky_relu": leaky_relu,
    "exponential": exponential,
    "mish": mish,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "sparsemax": sparsemax,
}


def get(identifier: str | dict | Callable | None) -> Callable[..., Any]:
    """Resolves an activation given by Keras name, Keras config, callable or None (linear).

    Example:
        >>> from convolve import activations
        >>> activations.get("hard_swish") is activations.hard_silu
        True
    """
    if identifier is None:
        return linear
    name = identifier
    if isinstance(identifier, dict):
        name = identifier.get("config") if identifier.get("class_name") == "function" else None
        if not isinstance(name, str):
            raise ValueError(f"Could not interpret activation function identifier: {identifier}")
    if isinstance(name, str):
        fn = _BY_NAME.get(name)
        if fn is None:
            raise ValueError(
                f"Unknown activation {name!r}. Known names: {', '.join(sorted(_BY_NAME))}."
            )
        return fn
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation: {identifier!r}")


def serialize(fn: Callable) -> str:
    """The Keras name of a built-in activation, or the callable's __name__."""
    for name, known in _BY_NAME.items():
        if known is fn:
            return name
    return getattr(fn, "__name__", repr(fn))


def deserialize(config: str | dict, custom_objects: dict[str, Any] | None = None) -> Callable:
    """The activation a Keras config (a name or a function reference) names."""
    if custom_objects:
        key = config.get("config") if isinstance(config, dict) else config
        if isinstance(key, str) and key in custom_objects:
            return custom_objects[key]
    return get(config)
