"""Applying an activation to an engine-layout tensor."""

from __future__ import annotations

from collections.abc import Callable

import torch

from convolve import activations
from convolve.layers import layout

_BUILTINS = {id(fn): name for name, fn in activations._BY_NAME.items()}


def builtin_name(fn: Callable) -> str | None:
    """The name of a built-in activation function (None for a user's callable)."""
    return _BUILTINS.get(id(fn))


def apply(fn: Callable, x: torch.Tensor) -> torch.Tensor:
    """Applies `fn` as Keras would on the channels-last view of `x`.

    Built-in elementwise activations run directly; softmax-like ones run over the engine's
    channel dim; a user's callable sees the Keras layout, as it would in Keras.
    """
    name = builtin_name(fn)
    if name == "linear":
        return x
    if name in activations.AXIS_ACTIVATIONS:
        return fn(x, axis=1 if x.ndim >= 3 else -1)
    if name is not None or x.ndim < 3:
        return fn(x)
    return layout.to_engine(fn(layout.to_user(x)))
