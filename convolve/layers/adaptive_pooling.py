"""Adaptive pooling: average or max pooling to a fixed output size, any input size."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F

from convolve.layers import _args, layout
from convolve.layers.base import Layer

_AVERAGE = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}
_MAX = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}
_AXES = {1: "an integer or (length,) tuple", 2: "an integer or (height, width) tuple",
         3: "an integer or (depth, height, width) tuple"}  # fmt: skip


class _AdaptivePooling(Layer):
    _engine_layout = True
    _rank = 2
    _pools = _AVERAGE

    def __init__(self, output_size: Any, data_format: str | None = None, **kwargs: Any) -> None:
        owner = type(self).__name__
        rank = self._rank
        if isinstance(output_size, int) and not isinstance(output_size, bool):
            size = (output_size,) * rank
        elif isinstance(output_size, list | tuple) and len(output_size) == rank:
            size = tuple(output_size)
        else:
            raise TypeError(
                f"{owner}: `output_size` must be {_AXES[rank]}. Received: "
                f"output_size={output_size!r} of type {type(output_size)}"
            )
        if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in size):
            raise _args.fail(owner, "output_size", output_size, "positive integers")
        super().__init__(**kwargs)
        self.output_size = size
        self.data_format = _args.data_format(owner, data_format)
        self.input_ndim = rank + 2

    def call(self, inputs, training=False):
        pool = self._pools[self._rank]
        out = pool(inputs, self.output_size)
        return layout.feature_map_format(out)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.output_size, input_shape[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "output_size": self.output_size,
            "data_format": self.data_format,
        }


class AdaptiveAveragePooling1D(_AdaptivePooling):
    """Average pooling of `(batch, steps, channels)` to `output_size` steps, whatever the
    input length; windows as in `torch.nn.AdaptiveAvgPool1d` (as Keras computes them)."""

    _rank = 1


class AdaptiveAveragePooling2D(_AdaptivePooling):
    """Average pooling of `(batch, height, width, channels)` to `output_size`.

    Example:
        >>> import convolve
        >>> layer = convolve.layers.AdaptiveAveragePooling2D((7, 7))
        >>> layer(convolve.Input(shape=(30, 20, 3))).shape
        (None, 7, 7, 3)
    """

    _rank = 2


class AdaptiveAveragePooling3D(_AdaptivePooling):
    """Average pooling of `(batch, depth, height, width, channels)` to `output_size`."""

    _rank = 3


class AdaptiveMaxPooling1D(_AdaptivePooling):
    """Max pooling of `(batch, steps, channels)` to `output_size` steps."""

    _rank = 1
    _pools = _MAX


class AdaptiveMaxPooling2D(_AdaptivePooling):
    """Max pooling of `(batch, height, width, channels)` to `output_size`."""

    _rank = 2
    _pools = _MAX


class AdaptiveMaxPooling3D(_AdaptivePooling):
    """Max pooling of `(batch, depth, height, width, channels)` to `output_size`."""

    _rank = 3
    _pools = _MAX
