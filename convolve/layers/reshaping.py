"""Spatial reshaping: ZeroPadding, Cropping and UpSampling in 1, 2 and 3 dimensions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from convolve.layers import _conv_utils as cu


class _EdgePairs(cu.SpatialLayer):
    """A layer with one `(before, after)` pair of edge widths per spatial axis.

    `argument` names the constructor argument in error messages (`padding`, `cropping`).
    """

    argument = ""

    def _standardize(self, check: cu.ArgumentErrors, value: Any) -> tuple[tuple[int, int], ...]:
        rank, name = self.rank, self.argument
        if rank == 1:
            pair = check.int_tuple(name, value, 2, allow_zero=True)
            return (pair,) if pair else ((0, 0),)
        if cu.is_int(value):
            pairs: list[Any] = [value] * rank
        elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == rank:
            pairs = list(value)
        else:
            check.add(
                f"{name} must be an int, a tuple of {rank} ints or a tuple of {rank} "
                f"(before, after) pairs, received {name}={value!r}"
            )
            return ((0, 0),) * rank
        result = []
        for i, entry in enumerate(pairs):
            pair = check.int_tuple(f"{name}[{i}]", entry, 2, allow_zero=True)
            result.append(pair or (0, 0))
        return tuple(result)

    def _pairs_config(self, pairs: tuple[tuple[int, int], ...]) -> Any:
        """Keras's config form: the 1D layers store their one pair flat."""
        return pairs[0] if self.rank == 1 else pairs


class BaseZeroPadding(_EdgePairs):
    """Adds rows of zeros before and after each spatial axis; subclasses set `rank`.

    Args:
        padding: an int (the same on both sides of every spatial axis); a tuple of `rank`
            ints (symmetric per axis); or a tuple of `rank` `(before, after)` pairs.
            `ZeroPadding1D` takes an int or one `(before, after)` pair.
        data_format: `"channels_last"` or None (the same); `"channels_first"` is not supported.
        **kwargs: base layer arguments (`name`, `dtype`, `input_shape`, ...).
    """

    argument = "padding"

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
        config.update(
            {"padding": self._pairs_config(self.padding), "data_format": self.data_format}
        )
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


# --------------------------------------------------------------------- cropping
class BaseCropping(_EdgePairs):
    """Removes rows from the start and end of each spatial axis; subclasses set `rank`.

    Args:
        cropping: an int (the same at both ends of every spatial axis); a tuple of `rank`
            ints (symmetric per axis); or a tuple of `rank` `(before, after)` pairs.
            `Cropping1D` takes an int or one `(before, after)` pair.
        data_format: `"channels_last"` or None (the same); `"channels_first"` is not
            supported. `Cropping1D` has no such argument, as in Keras.
        **kwargs: base layer arguments (`name`, `dtype`, `input_shape`, ...).
    """

    argument = "cropping"

    def __init__(self, cropping: Any, data_format: str | None = None, **kwargs: Any) -> None:
        check = cu.ArgumentErrors(type(self).__name__)
        pairs = self._standardize(check, cropping)
        fmt = check.data_format(data_format)
        check.raise_if_any()
        super().__init__(**kwargs)
        self.cropping: tuple[tuple[int, int], ...] = pairs
        self.data_format = fmt

    def _check_fits(self, shape: tuple) -> None:
        spatial = shape[1:-1]
        if any(
            n is not None and a + b >= n for n, (a, b) in zip(spatial, self.cropping, strict=True)
        ):
            cropping = self._pairs_config(self.cropping)
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): cropping={cropping} must "
                f"leave at least one value on every spatial axis, but the spatial sizes are "
                f"{tuple(spatial)}. Input shape received: {tuple(shape)}"
            )

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        self._check_input_rank(input_shape)
        self._check_fits(input_shape)
        spatial = (
            None if n is None else n - before - after
            for n, (before, after) in zip(input_shape[1:-1], self.cropping, strict=True)
        )
        return (input_shape[0], *spatial, input_shape[-1])

    def build(self, input_shape: tuple) -> None:
        self._check_fits(tuple(input_shape))

    def call(self, inputs: torch.Tensor, training: bool = False) -> torch.Tensor:
        spatial = inputs.shape[2:]
        if any(a + b >= n for n, (a, b) in zip(spatial, self.cropping, strict=True)):
            self._check_fits((inputs.shape[0], *spatial, inputs.shape[1]))
        window = [slice(a, n - b) for n, (a, b) in zip(spatial, self.cropping, strict=True)]
        return inputs[(slice(None), slice(None), *window)]

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "cropping": self._pairs_config(self.cropping)}
        if self.rank > 1:
            config["data_format"] = self.data_format
        return config


class Cropping1D(BaseCropping):
    """Crops the steps axis of `(batch, steps, channels)` inputs.

    Example:
        >>> import torch
        >>> from convolve.layers.reshaping import Cropping1D
        >>> Cropping1D((1, 2))(torch.arange(6.0).reshape(1, 6, 1)).flatten().tolist()
        [1.0, 2.0, 3.0]
    """

    rank = 1

    def __init__(self, cropping: int | tuple[int, int] = (1, 1), **kwargs: Any) -> None:
        super().__init__(cropping, **kwargs)


class Cropping2D(BaseCropping):
    """Crops the height and width of `(batch, height, width, channels)` images.

    Example:
        >>> import torch
        >>> from convolve.layers.reshaping import Cropping2D
        >>> Cropping2D(((1, 0), (2, 3)))(torch.zeros(1, 8, 8, 3)).shape
        torch.Size([1, 7, 3, 3])
    """

    rank = 2

    def __init__(
        self,
        cropping: int | Sequence[int] | Sequence[Sequence[int]] = ((0, 0), (0, 0)),
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(BaseCropping):
    """Crops the spatial axes of `(batch, depth, height, width, channels)` volumes.

    Example:
        >>> import torch
        >>> from convolve.layers.reshaping import Cropping3D
        >>> Cropping3D()(torch.zeros(1, 4, 5, 6, 2)).shape
        torch.Size([1, 2, 3, 4, 2])
    """

    rank = 3

    def __init__(
        self,
        cropping: int | Sequence[int] | Sequence[Sequence[int]] = ((1, 1), (1, 1), (1, 1)),
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(cropping, data_format, **kwargs)


# --------------------------------------------------------------------- upsampling
_TORCH_MODES = {"nearest": "nearest-exact", "bilinear": "bilinear", "bicubic": "bicubic"}


class BaseUpSampling(cu.SpatialLayer):
    """Enlarges each spatial axis by an integer factor; subclasses set `rank`.

    "nearest" repeats every value `size` times along each axis (Keras's `ops.repeat`);
    "bilinear" and "bicubic" interpolate as Keras's torch backend does (half-pixel
    centres, no antialiasing).

    Args:
        size: an int or a tuple of `rank` positive ints, the factor per spatial axis.
        data_format: `"channels_last"` or None (the same); `"channels_first"` is not
            supported. `UpSampling1D` has no such argument, as in Keras.
        interpolation: `"nearest"`, `"bilinear"` or `"bicubic"` (`UpSampling2D` only).
        **kwargs: base layer arguments (`name`, `dtype`, `input_shape`, ...).
    """

    # Not built at construction: as in Keras, the first call records the input shape, so
    # the layer's config carries a `build_config`.
    _built_at_init = False

    def __init__(
        self,
        size: int | Sequence[int],
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs: Any,
    ) -> None:
        check = cu.ArgumentErrors(type(self).__name__)
        factors = check.int_tuple("size", size, self.rank)
        fmt = check.data_format(data_format)
        mode = interpolation.lower() if isinstance(interpolation, str) else interpolation
        if mode not in _TORCH_MODES:
            check.add(
                "interpolation must be one of 'nearest', 'bilinear', 'bicubic', received "
                f"interpolation={interpolation!r}"
            )
        check.raise_if_any()
        super().__init__(**kwargs)
        self.size: tuple[int, ...] = factors or (1,) * self.rank
        self.data_format = fmt
        self.interpolation = mode

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        self._check_input_rank(input_shape)
        spatial = (
            None if n is None else n * f for n, f in zip(input_shape[1:-1], self.size, strict=True)
        )
        return (input_shape[0], *spatial, input_shape[-1])

    def call(self, inputs: torch.Tensor, training: bool = False) -> torch.Tensor:
        if all(f == 1 for f in self.size):
            return inputs
        sizes = [n * f for n, f in zip(inputs.shape[2:], self.size, strict=True)]
        mode = _TORCH_MODES[self.interpolation]
        corners = None if mode == "nearest-exact" else False
        return F.interpolate(inputs, size=sizes, mode=mode, align_corners=corners)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self.rank == 1:
            return {**config, "size": self.size[0]}
        return {**config, "size": self.size, "data_format": self.data_format}


class UpSampling1D(BaseUpSampling):
    """Repeats each step of `(batch, steps, channels)` inputs `size` times.

    Example:
        >>> import torch
        >>> from convolve.layers.reshaping import UpSampling1D
        >>> UpSampling1D(3)(torch.tensor([[[1.0], [2.0]]])).flatten().tolist()
        [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    """

    rank = 1

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        if not cu.is_int(size):
            raise ValueError(f"UpSampling1D: size must be an integer, received size={size!r}")
        super().__init__(size, **kwargs)


class UpSampling2D(BaseUpSampling):
    """Enlarges the height and width of `(batch, height, width, channels)` images.

    Example:
        >>> import torch
        >>> from convolve.layers.reshaping import UpSampling2D
        >>> x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
        >>> UpSampling2D()(x)[0, :, :, 0].tolist()
        [[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0], [3.0, 3.0, 4.0, 4.0], [3.0, 3.0, 4.0, 4.0]]
        >>> UpSampling2D((1, 2), interpolation="bilinear")(x)[0, 0, :, 0].tolist()
        [1.0, 1.25, 1.75, 2.0]
    """

    rank = 2

    def __init__(
        self,
        size: int | Sequence[int] = (2, 2),
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs: Any,
    ) -> None:
        super().__init__(size, data_format, interpolation, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "interpolation": self.interpolation}


class UpSampling3D(BaseUpSampling):
    """Repeats each voxel of `(batch, depth, height, width, channels)` volumes.

    Example:
        >>> import torch
        >>> from convolve.layers.reshaping import UpSampling3D
        >>> UpSampling3D((1, 2, 3))(torch.zeros(1, 2, 2, 2, 4)).shape
        torch.Size([1, 2, 4, 6, 4])
    """

    rank = 3

    def __init__(
        self, size: int | Sequence[int] = (2, 2, 2), data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(size, data_format, **kwargs)
