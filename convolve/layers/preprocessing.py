"""Preprocessing layers that live inside a model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from convolve.layers.base import Layer


class Rescaling(Layer):
    """Multiplies inputs by `scale` and adds `offset` (e.g. `1/255` to map pixels to [0, 1]).

    `scale` and `offset` may be per-channel sequences; they broadcast on the channel axis.
    """

    _engine_layout = True

    def __init__(
        self, scale: float | Sequence[float], offset: float | Sequence[float] = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        for argument, value in (("scale", scale), ("offset", offset)):
            try:
                torch.as_tensor(value, dtype=torch.float32)
            except (TypeError, ValueError):
                raise ValueError(
                    f"Rescaling: `{argument}` must be a number or a sequence of numbers, "
                    f"received {argument}={value!r}"
                ) from None
        self.scale, self.offset = scale, offset

    def _channel_constant(self, value: Any, x: torch.Tensor) -> torch.Tensor | float:
        if isinstance(value, int | float):
            return float(value)
        t = torch.as_tensor(value, dtype=x.dtype, device=x.device)
        if x.ndim >= 3 and t.ndim == 1:
            t = t.reshape(-1, *([1] * (x.ndim - 2)))
        return t

    def call(self, inputs, training=False):
        if not inputs.is_floating_point():
            inputs = inputs.to(torch.float32)
        return inputs * self._channel_constant(self.scale, inputs) + self._channel_constant(
            self.offset, inputs
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}
