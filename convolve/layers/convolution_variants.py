"""Depthwise, separable and transposed convolutions with Keras's arguments and numerics.

Weights are held in the layout torch's kernels take and cross the boundary in Keras's:

- `DepthwiseConv{1,2}D`: Keras `kernel` `(*kernel_size, in, depth_multiplier)`, held as
  `(in, depth_multiplier, *kernel_size)`, which is torch's grouped-convolution weight
  `(in * depth_multiplier, 1, *kernel_size)` without a copy. Output channel
  `c * depth_multiplier + m` comes from input channel `c`, as in Keras.
- `SeparableConv{1,2}D`: the same `depthwise_kernel`, then `pointwise_kernel`
  `(1, ..., 1, in * depth_multiplier, filters)` held as torch's `(filters, in * dm, 1, ...)`.
- `Conv{1,2,3}DTranspose`: Keras `kernel` `(*kernel_size, filters, in)`, held as torch's
  `(in, filters, *kernel_size)`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from convolve.layers import _conv_utils as cu
from convolve.layers import layout
from convolve.layers.convolution import _CONV_FN, ConvFamily

_CONV_TRANSPOSE_FN = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _add_depthwise_kernel(
    layer: ConvFamily, channels: int, name: str, initializer: Any, regularizer: Any, constraint: Any
) -> None:
    rank = layer.rank
    layer.add_weight(
        shape=(*layer.kernel_size, channels, layer.depth_multiplier),
        initializer=initializer,
        regularizer=regularizer,
        constraint=constraint,
        trainable=True,
        name=name,
        layout=(rank, rank + 1, *range(rank)),
    )


def _depthwise(
    layer: ConvFamily, x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """One grouped convolution with a group per input channel."""
    channels = kernel.shape[0]
    weight = kernel.reshape(channels * kernel.shape[1], 1, *kernel.shape[2:])
    x, padding = layer._pad_input(x)
    conv = _CONV_FN[layer.rank]
    return conv(x, weight, bias, layer.strides, padding, layer.dilation_rate, channels)


class BaseDepthwiseConv(ConvFamily):
    """Depthwise convolution: each input channel convolved with its own `depth_multiplier`
    kernels, never mixed with the others. Subclasses set `rank`.

    Args:
        kernel_size: int or tuple of `rank` ints, the window size.
        strides: int or tuple of `rank` ints.
        padding: `"valid"` or `"same"` (case-insensitive); "same" puts the odd pixel of
            padding at the end, as Keras does.
        depth_multiplier: output channels per input channel; the layer outputs
            `in_channels * depth_multiplier` channels.
        data_format: `"channels_last"` or None (the same); `"channels_first"` is not supported.
        dilation_rate: int or tuple of `rank` ints, the spacing between kernel taps.
        activation: activation name or callable applied to the output; None for linear.
        use_bias: whether a bias vector of `in_channels * depth_multiplier` is added.
        depthwise_initializer: initializer of the kernel (`"glorot_uniform"`).
        bias_initializer: initializer of the bias (`"zeros"`).
        depthwise_regularizer: penalty on the kernel.
        bias_regularizer: penalty on the bias.
        activity_regularizer: penalty on the layer's output.
        depthwise_constraint: projection applied to the kernel after each optimizer step.
        bias_constraint: projection applied to the bias after each optimizer step.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, `input_shape`, ...).
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        check = cu.ArgumentErrors(type(self).__name__)
        args = {
            "depth_multiplier": check.positive_int("depth_multiplier", depth_multiplier),
            **self._check_window(check, kernel_size, strides, padding, data_format, dilation_rate),
            "activation": check.activation(activation),
            "use_bias": check.boolean("use_bias", use_bias),
            **self._check_weight(
                check,
                "depthwise",
                depthwise_initializer,
                depthwise_regularizer,
                depthwise_constraint,
            ),
            **self._check_weight(
                check, "bias", bias_initializer, bias_regularizer, bias_constraint
            ),
        }
        check.regularizer("activity_regularizer", activity_regularizer)
        check.raise_if_any()
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._set_arguments(args)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        self._check_input_rank(input_shape)
        channels = input_shape[-1]
        out = None if channels is None else channels * self.depth_multiplier
        return (input_shape[0], *self._spatial_output(input_shape), out)

    def build(self, input_shape: tuple) -> None:
        input_shape = tuple(input_shape)
        channels = self._input_channels(input_shape)
        self._spatial_output(input_shape)
        _add_depthwise_kernel(
            self, channels, "kernel", self.depthwise_initializer, self.depthwise_regularizer,
            self.depthwise_constraint,
        )  # fmt: skip
        self._add_bias(channels * self.depth_multiplier)

    def pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        return _depthwise(self, inputs, self.kernel, self.bias)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "depth_multiplier": self.depth_multiplier,
                **self._window_config(),
                **self._activation_config(),
                **self._weight_config("depthwise"),
                **self._weight_config("bias"),
            }
        )
        return cu.keras_weight_order(config)


class DepthwiseConv1D(BaseDepthwiseConv):
    """Depthwise 1D convolution over `(batch, steps, channels)` inputs.

    Example:
        >>> import torch
        >>> from convolve.layers.convolution_variants import DepthwiseConv1D
        >>> layer = DepthwiseConv1D(3, depth_multiplier=2)
        >>> layer(torch.zeros(2, 10, 4)).shape
        torch.Size([2, 8, 8])
        >>> [w.shape for w in layer.get_weights()]
        [(3, 4, 2), (8,)]
    """

    rank = 1


class DepthwiseConv2D(BaseDepthwiseConv):
    """Depthwise 2D convolution over `(batch, height, width, channels)` images.

    Example:
        >>> import torch
        >>> from convolve.layers.convolution_variants import DepthwiseConv2D
        >>> layer = DepthwiseConv2D(3, strides=2, padding="same")
        >>> layer(torch.zeros(1, 9, 9, 8)).shape
        torch.Size([1, 5, 5, 8])
        >>> layer.count_params()
        80
    """

    rank = 2


class BaseSeparableConv(ConvFamily):
    """Depthwise convolution followed by a 1x1 convolution that mixes the channels.

    Subclasses set `rank`. Arguments are those of `keras.layers.SeparableConv2D`.

    Args:
        filters: output channels of the pointwise (1x1) convolution.
        kernel_size: int or tuple of `rank` ints, the depthwise window size.
        strides: int or tuple of `rank` ints, the depthwise strides.
        padding: `"valid"` or `"same"` (case-insensitive).
        data_format: `"channels_last"` or None (the same); `"channels_first"` is not supported.
        dilation_rate: int or tuple of `rank` ints, the depthwise dilation.
        depth_multiplier: depthwise output channels per input channel.
        activation: activation name or callable applied to the output; None for linear.
        use_bias: whether a bias vector of `filters` is added after the pointwise step.
        depthwise_initializer: initializer of `depthwise_kernel` (`"glorot_uniform"`).
        pointwise_initializer: initializer of `pointwise_kernel` (`"glorot_uniform"`).
        bias_initializer: initializer of the bias (`"zeros"`).
        depthwise_regularizer: penalty on `depthwise_kernel`.
        pointwise_regularizer: penalty on `pointwise_kernel`.
        bias_regularizer: penalty on the bias.
        activity_regularizer: penalty on the layer's output.
        depthwise_constraint: projection applied to `depthwise_kernel` after each step.
        pointwise_constraint: projection applied to `pointwise_kernel` after each step.
        bias_constraint: projection applied to the bias after each step.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, `input_shape`, ...).
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
        depth_multiplier: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        check = cu.ArgumentErrors(type(self).__name__)
        args = {
            "filters": check.positive_int("filters", filters),
            **self._check_window(check, kernel_size, strides, padding, data_format, dilation_rate),
            "depth_multiplier": check.positive_int("depth_multiplier", depth_multiplier),
            "activation": check.activation(activation),
            "use_bias": check.boolean("use_bias", use_bias),
            **self._check_weight(
                check,
                "depthwise",
                depthwise_initializer,
                depthwise_regularizer,
                depthwise_constraint,
            ),
            **self._check_weight(
                check,
                "pointwise",
                pointwise_initializer,
                pointwise_regularizer,
                pointwise_constraint,
            ),
            **self._check_weight(
                check, "bias", bias_initializer, bias_regularizer, bias_constraint
            ),
        }
        check.regularizer("activity_regularizer", activity_regularizer)
        check.raise_if_any()
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._set_arguments(args)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        self._check_input_rank(input_shape)
        return (input_shape[0], *self._spatial_output(input_shape), self.filters)

    def build(self, input_shape: tuple) -> None:
        input_shape = tuple(input_shape)
        channels = self._input_channels(input_shape)
        self._spatial_output(input_shape)
        rank = self.rank
        _add_depthwise_kernel(
            self, channels, "depthwise_kernel", self.depthwise_initializer,
            self.depthwise_regularizer, self.depthwise_constraint,
        )  # fmt: skip
        self.add_weight(
            shape=(*(1,) * rank, channels * self.depth_multiplier, self.filters),
            initializer=self.pointwise_initializer,
            regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint,
            trainable=True,
            name="pointwise_kernel",
            layout=(rank + 1, rank, *range(rank)),
        )
        self._add_bias(self.filters)

    def pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        y = _depthwise(self, inputs, self.depthwise_kernel, None)
        return _CONV_FN[self.rank](y, self.pointwise_kernel, self.bias)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "depth_multiplier": self.depth_multiplier,
                "filters": self.filters,
                **self._window_config(),
                **self._activation_config(),
                **self._weight_config("depthwise"),
                **self._weight_config("pointwise"),
                **self._weight_config("bias"),
            }
        )
        return cu.keras_weight_order(config)


class SeparableConv1D(BaseSeparableConv):
    """Depthwise-separable 1D convolution over `(batch, steps, channels)` inputs.

    Example:
        >>> import torch
        >>> from convolve.layers.convolution_variants import SeparableConv1D
        >>> SeparableConv1D(6, 3, padding="same")(torch.zeros(2, 10, 4)).shape
        torch.Size([2, 10, 6])
    """

    rank = 1


class SeparableConv2D(BaseSeparableConv):
    """Depthwise-separable 2D convolution over `(batch, height, width, channels)` images.

    Example:
        >>> import torch
        >>> from convolve.layers.convolution_variants import SeparableConv2D
        >>> layer = SeparableConv2D(16, 3, depth_multiplier=2)
        >>> layer(torch.zeros(1, 8, 8, 4)).shape
        torch.Size([1, 6, 6, 16])
        >>> [w.shape for w in layer.get_weights()]
        [(3, 3, 4, 2), (1, 1, 8, 16), (16,)]
    """

    rank = 2


# --------------------------------------------------------------------- transposed
def transpose_output_length(
    length: int | None,
    kernel: int,
    stride: int,
    dilation: int,
    padding: str,
    output_padding: int | None,
) -> int | None:
    """Keras's output size of a transposed convolution along one axis; None stays None."""
    if length is None:
        return None
    effective = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(effective, stride) - effective if output_padding is None else output_padding
        return (length - 1) * stride + effective + extra
    if output_padding is None:
        return length * stride
    return (length - 1) * stride + effective % 2 + output_padding


def transpose_crops(
    kernel: int, stride: int, dilation: int, padding: str, output_padding: int | None
) -> tuple[int, int]:
    """What to cut from each end of torch's full transposed output to get Keras's.

    Torch's unpadded transposed convolution yields `(n - 1) * stride + effective_kernel`
    values; Keras's output is a window of it, shifted so that "same" puts the odd pixel at
    the end. A negative crop means values past torch's output (zeros plus the bias).
    """
    effective = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(effective, stride) - effective if output_padding is None else output_padding
        left, right = effective - 1, effective - 1 + extra
    else:
        if output_padding is None:
            total = stride + effective - 2
        else:
            total = effective + effective % 2 - 2 + output_padding
        left = min(total // 2 + total % 2, effective - 1)
        right = total - left
    return effective - 1 - left, effective - 1 - right


class BaseConvTranspose(ConvFamily):
    """Transposed convolution (the gradient of a convolution with respect to its input),
    used to upsample. Subclasses set `rank`.

    Args:
        filters: number of output channels.
        kernel_size: int or tuple of `rank` ints, the window size.
        strides: int or tuple of `rank` ints, the upsampling factor; `strides > 1` cannot be
            combined with `dilation_rate > 1`.
        padding: `"valid"` (output `(n - 1) * stride + max(kernel, stride)`) or `"same"`
            (output `n * stride`), case-insensitive.
        output_padding: None, or an int or tuple of `rank` ints, each smaller than its
            stride: the output then has `(n - 1) * stride + kernel + output_padding` values
            ("valid") or `(n - 1) * stride + kernel % 2 + output_padding` ("same").
        data_format: `"channels_last"` or None (the same); `"channels_first"` is not supported.
        dilation_rate: int or tuple of `rank` ints, the spacing between kernel taps.
        activation: activation name or callable applied to the output; None for linear.
        use_bias: whether a bias vector is added.
        kernel_initializer: initializer of the kernel (`"glorot_uniform"`).
        bias_initializer: initializer of the bias (`"zeros"`).
        kernel_regularizer: penalty on the kernel.
        bias_regularizer: penalty on the bias.
        activity_regularizer: penalty on the layer's output.
        kernel_constraint: projection applied to the kernel after each optimizer step.
        bias_constraint: projection applied to the bias after each optimizer step.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, `input_shape`, ...).
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str = "valid",
        output_padding: int | tuple[int, ...] | None = None,
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        check = cu.ArgumentErrors(type(self).__name__)
        args = {
            "filters": check.positive_int("filters", filters),
            **self._check_window(check, kernel_size, strides, padding, data_format, dilation_rate),
            "output_padding": None,
            "activation": check.activation(activation),
            "use_bias": check.boolean("use_bias", use_bias),
            **self._check_weight(
                check, "kernel", kernel_initializer, kernel_regularizer, kernel_constraint
            ),
            **self._check_weight(
                check, "bias", bias_initializer, bias_regularizer, bias_constraint
            ),
        }
        check.regularizer("activity_regularizer", activity_regularizer)
        if output_padding is not None:
            args["output_padding"] = check.int_tuple(
                "output_padding", output_padding, self.rank, allow_zero=True
            )
            step, extra = args["strides"], args["output_padding"]
            if step and extra and any(e >= s for e, s in zip(extra, step, strict=True)):
                check.add(
                    "output_padding must be smaller than strides along every axis, received "
                    f"output_padding={output_padding!r} and strides={strides!r}"
                )
        self._check_no_dilated_strides(check, args, strides, dilation_rate)
        check.raise_if_any()
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._set_arguments(args)
        self._plan_torch_call()

    def _axis_arguments(self) -> list[tuple[int, int, int, int | None]]:
        extras = self.output_padding or (None,) * self.rank
        return list(zip(self.kernel_size, self.strides, self.dilation_rate, extras, strict=True))

    def _plan_torch_call(self) -> None:
        """Splits Keras's window into torch's (padding, output_padding) and a slice, per axis.

        Torch crops `padding` from both ends and gives back `output_padding` at the end, so a
        crop of `(left, right)` is `padding=left, output_padding=left - right` when that is
        a valid output_padding (it also covers negative crops: values past the end). On the
        other axes Keras crops one more value at the end than at the start; there torch
        computes the full output and the layer slices it.
        """
        padding, output_padding, window = [], [], []
        for k, s, d, op in self._axis_arguments():
            left, right = transpose_crops(k, s, d, self.padding, op)
            if left >= 0 and 0 <= left - right < max(s, d):
                padding.append(left)
                output_padding.append(left - right)
                window.append((0, 0))
            else:  # right == left + 1 >= 1 here
                padding.append(0)
                output_padding.append(0)
                window.append((left, right))
        self._torch_padding = tuple(padding)
        self._torch_output_padding = tuple(output_padding)
        self._slices = window if any(right for _, right in window) else None

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        self._check_input_rank(input_shape)
        sizes = tuple(
            transpose_output_length(n, k, s, d, self.padding, op)
            for n, (k, s, d, op) in zip(input_shape[1:-1], self._axis_arguments(), strict=True)
        )
        if any(size is not None and size <= 0 for size in sizes):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): the output spatial size would "
                f"be {sizes} with kernel_size={self.kernel_size}, strides={self.strides}, "
                f"padding='{self.padding}' and output_padding={self.output_padding}. "
                f"Input shape received: {input_shape}"
            )
        return (input_shape[0], *sizes, self.filters)

    def build(self, input_shape: tuple) -> None:
        input_shape = tuple(input_shape)
        channels = self._input_channels(input_shape)
        self.compute_output_shape(input_shape)
        rank = self.rank
        self.add_weight(
            shape=(*self.kernel_size, self.filters, channels),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            trainable=True,
            name="kernel",
            layout=(rank + 1, rank, *range(rank)),
        )
        self._add_bias(self.filters)

    def pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        y = _CONV_TRANSPOSE_FN[self.rank](
            layout.feature_map_format(inputs), self.kernel, self.bias, self.strides,
            self._torch_padding, self._torch_output_padding, 1, self.dilation_rate,
        )  # fmt: skip
        if self._slices is not None:
            window = [slice(a, n - b) for (a, b), n in zip(self._slices, y.shape[2:], strict=True)]
            y = y[(slice(None), slice(None), *window)]
        return y

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                **self._window_config(),
                **self._activation_config(),
                **self._weight_config("kernel"),
                **self._weight_config("bias"),
            }
        )
        window = list(config)
        at = window.index("data_format")  # Keras puts output_padding before data_format
        items = list(config.items())
        items.insert(at, ("output_padding", self.output_padding))
        return cu.keras_weight_order(dict(items))


class Conv1DTranspose(BaseConvTranspose):
    """Transposed 1D convolution over `(batch, steps, channels)` inputs.

    Example:
        >>> import torch
        >>> from convolve.layers.convolution_variants import Conv1DTranspose
        >>> Conv1DTranspose(4, 3, strides=2)(torch.zeros(1, 5, 2)).shape
        torch.Size([1, 11, 4])
    """

    rank = 1


class Conv2DTranspose(BaseConvTranspose):
    """Transposed 2D convolution over `(batch, height, width, channels)` images.

    Example:
        >>> import torch
        >>> from convolve.layers.convolution_variants import Conv2DTranspose
        >>> layer = Conv2DTranspose(8, 3, strides=2, padding="same")
        >>> layer(torch.zeros(1, 7, 7, 16)).shape
        torch.Size([1, 14, 14, 8])
        >>> layer.get_weights()[0].shape  # (kh, kw, filters, in)
        (3, 3, 8, 16)
    """

    rank = 2


class Conv3DTranspose(BaseConvTranspose):
    """Transposed 3D convolution over `(batch, depth, height, width, channels)` volumes.

    Keras's positional order differs here: `data_format` comes before `output_padding`.

    Example:
        >>> import torch
        >>> from convolve.layers.convolution_variants import Conv3DTranspose
        >>> Conv3DTranspose(2, 2, strides=2)(torch.zeros(1, 3, 3, 3, 1)).shape
        torch.Size([1, 6, 6, 6, 2])
    """

    rank = 3

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = (1, 1, 1),
        padding: str = "valid",
        data_format: str | None = None,
        output_padding: int | tuple[int, ...] | None = None,
        dilation_rate: int | tuple[int, ...] = (1, 1, 1),
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            output_padding=output_padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )


Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
Convolution3DTranspose = Conv3DTranspose
SeparableConvolution1D = SeparableConv1D
SeparableConvolution2D = SeparableConv2D
