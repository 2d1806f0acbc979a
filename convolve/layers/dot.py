"""Dot: the per-sample dot product of two tensors along given axes."""

from __future__ import annotations

import string
from typing import Any

import torch

from convolve.layers import layout
from convolve.layers.base import Layer


def _l2_normalize(x: torch.Tensor, axis: int) -> torch.Tensor:
    # Keras: x * min(rsqrt(sum(x^2)), 1 / epsilon) with epsilon 1e-7.
    inv_norm = torch.rsqrt(x.square().sum(dim=axis, keepdim=True))
    return x * torch.clamp(inv_norm, max=1e7)


def _batch_dot(x1: torch.Tensor, x2: torch.Tensor, axes: tuple[int, int]) -> torch.Tensor:
    letters = iter(string.ascii_letters)
    batch = next(letters)
    shared = next(letters)
    s1 = [batch] + [shared if i == axes[0] else next(letters) for i in range(1, x1.ndim)]
    s2 = [batch] + [shared if i == axes[1] else next(letters) for i in range(1, x2.ndim)]
    out = [c for c in s1 if c != shared] + [c for c in s2[1:] if c != shared]
    y = torch.einsum(f"{''.join(s1)},{''.join(s2)}->{''.join(out)}", x1, x2)
    return y.unsqueeze(-1) if y.ndim == 1 else y


class Dot(Layer):
    """Dot product of two samples along `axes` (cosine proximity with `normalize=True`).

    Args:
        axes: an axis (for both inputs) or a pair of axes; the batch axis 0 is not allowed.
        normalize: L2-normalize both inputs along those axes first.

    Example:
        >>> import convolve
        >>> a, b = convolve.Input(shape=(5, 8)), convolve.Input(shape=(7, 8))
        >>> convolve.layers.Dot(axes=2)([a, b]).shape
        (None, 5, 7)
    """

    _engine_layout = True

    def __init__(self, axes: Any, normalize: bool = False, **kwargs: Any) -> None:
        if not isinstance(axes, int):
            if not isinstance(axes, list | tuple):
                raise TypeError(
                    "Dot: invalid type for argument `axes`: it should be a list or an int. "
                    f"Received: axes={axes!r}"
                )
            if len(axes) != 2:
                raise ValueError(
                    "Dot: invalid format for argument `axes`: it should contain two "
                    f"elements. Received: axes={axes!r}"
                )
            if not all(isinstance(a, int) for a in axes):
                raise ValueError(
                    "Dot: invalid format for argument `axes`: list elements should be "
                    f"integers. Received: axes={axes!r}"
                )
        super().__init__(**kwargs)
        self.axes = axes
        self.normalize = normalize

    def _axes(self, rank1: int, rank2: int) -> tuple[int, int]:
        if isinstance(self.axes, int):
            if self.axes < 0:
                return self.axes % rank1, self.axes % rank2
            return self.axes, self.axes
        return tuple(a % r if a < 0 else a for a, r in zip(self.axes, (rank1, rank2), strict=True))

    def _shapes(self, input_shape: Any) -> tuple[tuple, tuple]:
        if (
            not isinstance(input_shape, list | tuple)
            or len(input_shape) != 2
            or not all(isinstance(s, list | tuple) for s in input_shape)
        ):
            raise ValueError(
                f"A `Dot` layer should be called on a list of 2 inputs. Received: "
                f"input_shape={input_shape}"
            )
        return tuple(input_shape[0]), tuple(input_shape[1])

    def build(self, input_shape):
        shape1, shape2 = self._shapes(input_shape)
        a1, a2 = self._axes(len(shape1), len(shape2))
        if 0 in (a1, a2) or a1 >= len(shape1) or a2 >= len(shape2):
            raise ValueError(
                f"Layer '{self.name}' (Dot): invalid axes {self.axes!r} for input shapes "
                f"{shape1} and {shape2} (the batch axis 0 cannot be contracted)"
            )
        if shape1[a1] != shape2[a2]:
            raise ValueError(
                f"Incompatible input shapes: axis values {shape1[a1]} (at axis {a1}) != "
                f"{shape2[a2]} (at axis {a2}). Full input shapes: {shape1}, {shape2}"
            )

    def call(self, inputs, training=False):
        if not isinstance(inputs, list | tuple) or len(inputs) != 2:
            raise ValueError(
                f"A `Dot` layer should be called on exactly 2 inputs. Received: {inputs!r:.100}"
            )
        x1, x2 = (layout.to_user(t) for t in inputs)
        axes = self._axes(x1.ndim, x2.ndim)
        if self.normalize:
            x1, x2 = _l2_normalize(x1, axes[0]), _l2_normalize(x2, axes[1])
        return layout.to_engine(_batch_dot(x1, x2, axes))

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None  # Keras: the product of masked inputs carries no mask

    def compute_output_shape(self, input_shape):
        shape1, shape2 = (list(s) for s in self._shapes(input_shape))
        a1, a2 = self._axes(len(shape1), len(shape2))
        shape1.pop(a1)
        shape2.pop(a2)
        shape2.pop(0)
        out = shape1 + shape2
        return tuple(out + [1] if len(out) == 1 else out)

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def dot(inputs: list, axes: Any = -1, **kwargs: Any) -> Any:
    """Functional interface to `Dot`: `Dot(axes, **kwargs)(inputs)`."""
    return Dot(axes=axes, **kwargs)(inputs)
