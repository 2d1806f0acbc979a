"""UnitNormalization: scales each sample to unit L2 norm along some axes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from convolve.layers import layout
from convolve.layers.base import Layer

_EPSILON = 1e-12


class UnitNormalization(Layer):
    """Divides inputs by their L2 norm over `axis`: `x * min(1 / ||x||, 1e12)`, as Keras.

    Args:
        axis: the Keras axis (or list of axes) the norm is taken over; -1, the channels,
            by default.

    Example:
        >>> import numpy as np
        >>> from convolve import layers
        >>> layers.UnitNormalization()(np.array([[3.0, 4.0]], "float32"))
        tensor([[0.6000, 0.8000]])
    """

    _hands_on_masks = True
    _engine_layout = True
    _built_at_init = True

    def __init__(self, axis: int | Sequence[int] = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, list | tuple):
            if not all(isinstance(a, int) and not isinstance(a, bool) for a in axis):
                raise TypeError(
                    f"UnitNormalization: `axis` must be an int or a list of ints, "
                    f"received axis={axis!r}"
                )
            self.axis: int | list[int] = list(axis)
        elif isinstance(axis, int) and not isinstance(axis, bool):
            self.axis = axis
        else:
            raise TypeError(
                "UnitNormalization: `axis` must be an int or a list of ints, "
                f"received axis={axis!r}"
            )

    def _axes(self) -> list[int]:
        return [self.axis] if isinstance(self.axis, int) else list(self.axis)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs, training=False):
        dims = [layout.engine_axis(a, inputs.ndim) for a in self._axes()]
        square_sum = torch.sum(torch.square(inputs), dim=dims, keepdim=True)
        inv_norm = torch.clamp_max(torch.rsqrt(square_sum), 1.0 / _EPSILON)
        return inputs * inv_norm

    def compute_output_shape(self, input_shape):
        rank = len(input_shape)
        for axis in self._axes():
            if axis >= rank or axis < -rank:
                raise ValueError(
                    f"Layer '{self.name}' (UnitNormalization): axis {self.axis} is out of "
                    f"bounds for input shape {tuple(input_shape)}."
                )
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
