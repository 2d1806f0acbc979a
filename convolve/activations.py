"""Activation functions by Keras name, on engine tensors (elementwise unless noted)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def linear(x: torch.Tensor) -> torch.Tensor:
    return x


def relu(
    x: torch.Tensor,
    negative_slope: float = 0.0,
    max_value: float | None = None,
    threshold: float = 0.0,
) -> torch.Tensor:
    """Keras's relu: `max(x, 0)`, with optional slope below threshold and a cap."""
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return F.relu(x)
    below = x < threshold
    y = torch.where(below, negative_slope * (x - threshold), x)
    if max_value is not None:
        y = torch.clamp(y, max=max_value)
    return y


def relu6(x: torch.Tensor) -> torch.Tensor:
    return F.relu6(x)


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x)


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return F.hardsigmoid(x)


def tanh(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x)


def elu(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    return F.elu(x, alpha=alpha)


def selu(x: torch.Tensor) -> torch.Tensor:
    return F.selu(x)


def gelu(x: torch.Tensor, approximate: bool = False) -> torch.Tensor:
    return F.gelu(x, approximate="tanh" if approximate else "none")


def silu(x: torch.Tensor) -> torch.Tensor:
    return F.silu(x)


def softplus(x: torch.Tensor) -> torch.Tensor:
    return F.softplus(x)


def softsign(x: torch.Tensor) -> torch.Tensor:
    return F.softsign(x)


def leaky_relu(x: torch.Tensor, negative_slope: float = 0.2) -> torch.Tensor:
    return F.leaky_relu(x, negative_slope)


def exponential(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(x)


def mish(x: torch.Tensor) -> torch.Tensor:
    return F.mish(x)


def softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Softmax over a Keras axis; `axis` is an engine dim once layouts are mapped."""
    return torch.softmax(x, dim=axis)


def log_softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    return torch.log_softmax(x, dim=axis)


swish = silu

# Activations that act along the channel axis rather than elementwise; layers pass the
# engine's channel dim for them.
AXIS_ACTIVATIONS = {"softmax", "log_softmax"}

_BY_NAME: dict[str, Callable[..., torch.Tensor]] = {
    "linear": linear,
    "relu": relu,
    "relu6": relu6,
    "sigmoid": sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "tanh": tanh,
    "elu": elu,
    "selu": selu,
    "gelu": gelu,
    "silu": silu,
    "swish": swish,
    "softplus": softplus,
    "softsign": softsign,
    "leaky_relu": leaky_relu,
    "exponential": exponential,
    "mish": mish,
    "softmax": softmax,
    "log_softmax": log_softmax,
}


def get(identifier: str | Callable | None) -> Callable[..., torch.Tensor]:
    """Resolves an activation given by Keras name, callable or None (linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier)
        if fn is None:
            raise ValueError(
                f"Unknown activation {identifier!r}. Known names: {', '.join(sorted(_BY_NAME))}."
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
