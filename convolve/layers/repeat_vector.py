"""RepeatVector: repeats a batch of vectors `n` times along a new time axis."""

from __future__ import annotations

from typing import Any

from convolve.layers.base import Layer


class RepeatVector(Layer):
    """Repeats each input vector `n` times: `(batch, features)` to `(batch, n, features)`.

    Args:
        n: how many times to repeat, a positive integer.

    Example:
        >>> import numpy as np
        >>> from convolve import layers
        >>> layers.RepeatVector(3)(np.zeros((2, 5), "float32")).shape
        torch.Size([2, 3, 5])
    """

    _engine_layout = True
    input_ndim = 2

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"RepeatVector: `n` must be an integer, received n={n!r}")
        if n <= 0:
            raise ValueError(f"RepeatVector: `n` must be a positive integer, received n={n}")
        self.n = n

    def call(self, inputs, training=False):
        # The engine holds a (batch, n, features) result channels-first: (batch, features, n).
        return inputs.unsqueeze(-1).expand(-1, -1, self.n).contiguous()

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}
