"""Pooling layers: max and average pooling over windows, and global pooling, in 1D/2D/3D.

"same" padding follows Keras's rule (output size `ceil(input / stride)`, the odd pixel of
padding at the end). Padded positions never win a max and are left out of an average's
count, as in Keras on TensorFlow and JAX.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from convolve.layers import _conv_utils as cu
from convolve.layers import layout
from convolve.layers.masking import MaskAware

_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


class BasePooling(cu.SpatialLayer):
    """Max or average pooling over sliding windows; subclasses set `rank` and `mode`.

    Args:
        pool_size: int or tuple of `rank` ints, the window size.
        strides: int or tuple of `rank` ints; None means `pool_size`.
        padding: `"valid"` or `"same"`, case-insensitive.
        data_format: `"channels_last"` or None (the same); `"channels_first"` is not supported.
        **kwargs: base layer arguments (`name`, `dtype`, `input_shape`, ...).
    """

    mode: str = "max"

    _built_at_init = True

    def __init__(
        self,
        pool_size: int | tuple[int, ...] = 2,
        strides: int | tuple[int, ...] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        check = cu.ArgumentErrors(type(self).__name__)
        pool = check.int_tuple("pool_size", pool_size, self.rank)
        step = pool if strides is None else check.int_tuple("strides", strides, self.rank)
        pad = check.padding(padding, ("valid", "same"))
        fmt = check.data_format(data_format)
        check.raise_if_any()
        super().__init__(**kwargs)
        self.pool_size: tuple[int, ...] = pool
        self.strides: tuple[int, ...] = step
        self.padding = pad
        self.data_format = fmt

    def _spatial_output(self, input_shape: tuple) -> tuple:
        ones = (1,) * self.rank
        return self._window_output(
            input_shape, "pool_size", self.pool_size, self.strides, ones, self.padding
        )

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        self._check_input_rank(input_shape)
        return (input_shape[0], *self._spatial_output(input_shape), input_shape[-1])

    def build(self, input_shape: tuple) -> None:
        self._spatial_output(tuple(input_shape))

    def call(self, inputs: torch.Tensor, training: bool = False) -> torch.Tensor:
        x = layout.feature_map_format(inputs)  # pooling is several times slower otherwise
        padding: Any = 0
        pads = None
        if self.padding == "same":
            pads = cu.window_padding(x.shape[2:], self.pool_size, self.strides)
            if all(before == after for before, after in pads):
                # torch pads both sides itself (and leaves the pad out of averages).
                padding = tuple(before for before, _ in pads)
                pads = None
        if self.mode == "max":
            if pads is not None:
                x = cu.pad_spatial(x, pads, value=float("-inf"))
            return _MAX_POOL[self.rank](x, self.pool_size, self.strides, padding)
        if pads is None:
            return _AVG_POOL[self.rank](
                x, self.pool_size, self.strides, padding, count_include_pad=False
            )
        # Uneven padding: torch's own padding is symmetric, so pad with zeros and divide
        # window sums by the number of window positions inside the input.
        sums = self._window_sums(cu.pad_spatial(x, pads))
        counts = self._window_sums(cu.pad_spatial(x.new_ones((1, 1, *x.shape[2:])), pads))
        return sums / counts

    def _window_sums(self, x: torch.Tensor) -> torch.Tensor:
        if self.rank == 1:  # avg_pool1d has no divisor_override; pool a (1, L) image instead
            sums = F.avg_pool2d(
                x.unsqueeze(2), (1, *self.pool_size), (1, *self.strides), divisor_override=1
            )
            return sums.squeeze(2)
        return _AVG_POOL[self.rank](x, self.pool_size, self.strides, divisor_override=1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "pool_size": self.pool_size,
                "padding": self.padding,
                "strides": self.strides,
                "data_format": self.data_format,
            }
        )
        return config


class BaseGlobalPooling(cu.SpatialLayer):
    """Max or average over all spatial positions; subclasses set `rank` and `mode`.

    Args:
        data_format: `"channels_last"` or None (the same); `"channels_first"` is not supported.
        keepdims: keep the spatial axes with size 1 (`(batch, 1, ..., 1, channels)`) instead
            of returning `(batch, channels)`.
        **kwargs: base layer arguments (`name`, `dtype`, `input_shape`, ...).
    """

    mode: str = "max"

    _built_at_init = True

    def __init__(
        self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any
    ) -> None:
        check = cu.ArgumentErrors(type(self).__name__)
        fmt = check.data_format(data_format)
        keep = check.boolean("keepdims", keepdims)
        check.raise_if_any()
        super().__init__(**kwargs)
        self.data_format = fmt
        self.keepdims = keep
        self._dims = tuple(range(2, 2 + self.rank))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        self._check_input_rank(input_shape)
        if self.keepdims:
            return (input_shape[0], *(1,) * self.rank, input_shape[-1])
        return (input_shape[0], input_shape[-1])

    def call(self, inputs: torch.Tensor, training: bool = False) -> torch.Tensor:
        if self.mode == "max":
            return inputs.amax(dim=self._dims, keepdim=self.keepdims)
        return inputs.mean(dim=self._dims, keepdim=self.keepdims)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


class MaxPooling1D(BasePooling):
    """Max pooling over `(batch, steps, channels)` inputs.

    Example:
        >>> import torch
        >>> from convolve.layers.pooling import MaxPooling1D
        >>> MaxPooling1D(pool_size=2)(torch.arange(5.0).reshape(1, 5, 1)).flatten().tolist()
        [1.0, 3.0]
    """

    rank, mode = 1, "max"


class MaxPooling2D(BasePooling):
    """Max pooling over `(batch, height, width, channels)` images.

    Example:
        >>> import torch
        >>> from convolve.layers.pooling import MaxPooling2D
        >>> MaxPooling2D(padding="same")(torch.zeros(1, 5, 5, 3)).shape
        torch.Size([1, 3, 3, 3])
    """

    rank, mode = 2, "max"


class MaxPooling3D(BasePooling):
    """Max pooling over `(batch, depth, height, width, channels)` volumes."""

    rank, mode = 3, "max"


class AveragePooling1D(BasePooling):
    """Average pooling over `(batch, steps, channels)` inputs.

    Example:
        >>> import torch
        >>> from convolve.layers.pooling import AveragePooling1D
        >>> x = torch.tensor([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1)
        >>> AveragePooling1D(3, strides=2, padding="same")(x).flatten().tolist()
        [2.0, 3.5]
    """

    rank, mode = 1, "average"


class AveragePooling2D(BasePooling):
    """Average pooling over `(batch, height, width, channels)` images."""

    rank, mode = 2, "average"


class AveragePooling3D(BasePooling):
    """Average pooling over `(batch, depth, height, width, channels)` volumes."""

    rank, mode = 3, "average"


class GlobalMaxPooling1D(BaseGlobalPooling):
    """Maximum over the steps of `(batch, steps, channels)` inputs."""

    rank, mode = 1, "max"


class GlobalMaxPooling2D(BaseGlobalPooling):
    """Maximum over the height and width of `(batch, height, width, channels)` images."""

    rank, mode = 2, "max"


class GlobalMaxPooling3D(BaseGlobalPooling):
    """Maximum over the spatial axes of `(batch, depth, height, width, channels)` volumes."""

    rank, mode = 3, "max"


class GlobalAveragePooling1D(MaskAware, BaseGlobalPooling):
    """Mean over the steps of `(batch, steps, channels)` inputs; with a mask (from
    `Embedding(mask_zero=True)` or `Masking`), over the unmasked steps only, as in Keras."""

    rank, mode = 1, "average"

    def call(self, inputs: torch.Tensor, training: bool = False, mask: Any = None):
        if mask is None:
            return super().call(inputs, training)
        weights = mask.to(inputs.dtype)[:, None, :]  # (batch, 1, steps): engine layout
        total = (inputs * weights).sum(dim=2, keepdim=self.keepdims)
        return total / weights.sum(dim=2, keepdim=self.keepdims)

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None  # the steps are gone


class GlobalAveragePooling2D(BaseGlobalPooling):
    """Mean over the height and width of `(batch, height, width, channels)` images.

    Example:
        >>> import torch
        >>> from convolve.layers.pooling import GlobalAveragePooling2D
        >>> GlobalAveragePooling2D()(torch.ones(2, 7, 7, 32)).shape
        torch.Size([2, 32])
    """

    rank, mode = 2, "average"


class GlobalAveragePooling3D(BaseGlobalPooling):
    """Mean over the spatial axes of `(batch, depth, height, width, channels)` volumes."""

    rank, mode = 3, "average"


MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = (
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
)
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
)
