"""RMSNormalization: scales by the inverse root mean square over the last axes."""

from __future__ import annotations

from typing import Any

import torch

from convolve.layers import layout
from convolve.layers.base import Layer


class RMSNormalization(Layer):
    """`x * rsqrt(mean(x**2, axis) + epsilon) * scale`, with a learned `scale`.

    Args:
        axis: the axis (or trailing axes) to normalize over; `-1` by default.
        epsilon: added to the mean square.

    Example:
        >>> import convolve
        >>> convolve.layers.RMSNormalization()(convolve.Input(shape=(4, 8))).shape
        (None, 4, 8)
    """

    _engine_layout = True

    def __init__(self, axis: Any = -1, epsilon: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(axis, int | list | tuple) or isinstance(axis, bool):
            raise ValueError(
                f"RMSNormalization: `axis` must be an int or a list of ints, received axis={axis!r}"
            )
        self.axis = axis
        self.epsilon = epsilon

    def _axes(self, rank: int) -> list[int]:
        axes = [self.axis] if isinstance(self.axis, int) else list(self.axis)
        for a in axes:
            if not -rank <= a < rank:
                raise ValueError(
                    f"Layer '{self.name}' (RMSNormalization): axis {a} is out of bounds for "
                    f"an input of rank {rank}. Received: axis={self.axis}"
                )
        return sorted(a % rank for a in axes)

    def build(self, input_shape):
        rank = len(input_shape)
        axes = self._axes(rank)
        if axes != list(range(rank - len(axes), rank)):
            raise NotImplementedError(
                f"Layer '{self.name}' (RMSNormalization): only the trailing axes can be "
                f"normalized, received axis={self.axis}"
            )
        self.add_weight(tuple(input_shape[a] for a in axes), "ones", name="scale")
        if isinstance(self.axis, list | tuple):
            self.axis = sorted(self.axis)
        else:
            self.axis = [self.axis]  # what Keras holds after building

    def call(self, inputs, training=False):
        x = layout.to_user(inputs)
        dims = tuple(range(x.ndim - self.scale.ndim, x.ndim))
        out = torch.nn.functional.rms_norm(x, x.shape[dims[0] :], self.scale, self.epsilon)
        return layout.to_engine(out)

    def compute_output_shape(self, input_shape):
        self._axes(len(input_shape))
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}
