"""Zero padding of the spatial axes: ZeroPadding1D, ZeroPadding2D and ZeroPadding3D."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from convolve.layers import _conv_utils as cu


class BaseZeroPadding(cu.SpatialLayer):
    """Adds rows of zeros before and after each spatial axis; subclasses set `rank`.

    Args:
        padding: an int (the same on both sides of every spatial axis); a tuple of `rank`
            ints (symmetric per axis); or a tuple of `rank` `(before, after)` pairs.
            `ZeroPadding1D` takes an int or one `(before, after)` pair.
        data_format: `"channels_last"` or None (the same); `"channels_first"` is not supported.
        **kwargs: base layer arguments (`name`, `dtype`, `input_shape`, ...).
    """

    def __init__(
        self,
        padding: int | Sequence[int] | Sequence[Sequence[int]] = 1,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        check = cu.ArgumentErrors(type(self).__name__)
        pads = self._standardize(check, padding)
        fmt = check.data_format(data_format)
        check.raise_if_any()
        super().__init__(**kwargs)
        self.padding: tuple[tuple[int, int], ...] = pads
        self.data_format = fmt

    def _standardize(self, check: cu.ArgumentErrors, padding: Any) -> tuple[tuple[int, int], ...]:
        rank = self.rank
        if rank == 1:
            pair = check.int_tuple("padding", padding, 2, allow_zero=True)
            return (pair,) if pair else ((0, 0),)
        if cu.is_int(padding):
            pairs: list[Any] = [padding] * rank
        elif isinstance(padding, Sequence) and len(padding) == rank:
            pairs = list(padding)
        else:
            check.add(
                f"padding must be an int, a tuple of {rank} ints or a tuple of {rank} "
                f"(before, after) pairs, received padding={padding!r}"
            )
            return ((0, 0),) * rank
        result = []
        for i, entry in enumerate(pairs):
            pair = check.int_tuple(f"padding[{i}]", entry, 2, allow_zero=True)
            result.append(pair or (0, 0))
        return tuple(result)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        self._check_input_rank(input_shape)
        spatial = (
            None if n is None else n + before + after
            for n, (before, after) in zip(input_shape[1:-1], self.padding, strict=True)
        )
        return (input_shape[0], *spatial, input_shape[-1])

    def call(self, inputs: torch.Tensor, training: bool = False) -> torch.Tensor:
        return cu.pad_spatial(inputs, self.padding)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        padding: Any = self.padding[0] if self.rank == 1 else self.padding
        config.update({"padding": padding, "data_format": self.data_format})
        return config


class ZeroPadding1D(BaseZeroPadding):
    """Pads the steps axis of `(batch, steps, channels)` inputs with zeros.

    Example:
        >>> import torch
        >>> from convolve.layers.reshaping import ZeroPadding1D
        >>> ZeroPadding1D((1, 2))(torch.ones(1, 2, 1)).flatten().tolist()
        [0.0, 1.0, 1.0, 0.0, 0.0]
    """

    rank = 1


class ZeroPadding2D(BaseZeroPadding):
    """Pads the height and width of `(batch, height, width, channels)` images with zeros.

    Example:
        >>> import torch
        >>> from convolve.layers.reshaping import ZeroPadding2D
        >>> ZeroPadding2D(((1, 0), (2, 3)))(torch.ones(1, 4, 4, 3)).shape
        torch.Size([1, 5, 9, 3])
    """

    rank = 2


class ZeroPadding3D(BaseZeroPadding):
    """Pads the spatial axes of `(batch, depth, height, width, channels)` volumes with zeros."""

    rank = 3
