"""Convolution layers: Conv1D, Conv2D and Conv3D with Keras's arguments and numerics.

Kernels are held in torch's `(filters, in_channels // groups, *kernel_size)` layout and passed
straight to `torch.nn.functional.conv{1,2,3}d`; `get_weights` and `set_weights` speak Keras's
`(*kernel_size, in_channels // groups, filters)` layout.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from convolve import activations
from convolve.layers import _conv_utils as cu
from convolve.layers import activation_util, layout

_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


class ConvFamily(cu.SpatialLayer):
    """What every convolution layer shares: window arguments, padding, bias and activation.

    Subclasses (`BaseConv` here, the depthwise, separable and transposed families in
    `convolution_variants.py`) validate their own arguments with the `_check_*` helpers so
    that one error lists every bad argument, then hand the values to `_set_arguments`.
    """

    def _allowed_paddings(self) -> tuple[str, ...]:
        return ("valid", "same")

    def _check_window(
        self,
        check: cu.ArgumentErrors,
        kernel_size: Any,
        strides: Any,
        padding: Any,
        data_format: Any,
        dilation_rate: Any,
    ) -> dict[str, Any]:
        rank = self.rank
        return {
            "kernel_size": check.int_tuple("kernel_size", kernel_size, rank),
            "strides": check.int_tuple("strides", strides, rank),
            "padding": check.padding(padding, self._allowed_paddings()),
            "data_format": check.data_format(data_format),
            "dilation_rate": check.int_tuple("dilation_rate", dilation_rate, rank),
        }

    @staticmethod
    def _check_weight(
        check: cu.ArgumentErrors, prefix: str, initializer: Any, regularizer: Any, constraint: Any
    ) -> dict[str, Any]:
        """The initializer, regularizer and constraint of the weight named `prefix`."""
        return {
            f"{prefix}_initializer": check.initializer(f"{prefix}_initializer", initializer),
            f"{prefix}_regularizer": check.regularizer(f"{prefix}_regularizer", regularizer),
            f"{prefix}_constraint": check.constraint(f"{prefix}_constraint", constraint),
        }

    @staticmethod
    def _check_no_dilated_strides(
        check: cu.ArgumentErrors, args: dict[str, Any], strides: Any, dilation_rate: Any
    ) -> None:
        step, dilation = args["strides"], args["dilation_rate"]
        if step and dilation and max(step) > 1 and max(dilation) > 1:
            check.add(
                "strides > 1 is not supported in conjunction with dilation_rate > 1, "
                f"received strides={strides!r} and dilation_rate={dilation_rate!r}"
            )

    def _set_arguments(self, args: dict[str, Any]) -> None:
        for key, value in args.items():
            setattr(self, key, value)
        self._is_linear = self.activation is activations.linear

    # ----------------------------------------------------------------- shapes
    def _spatial_output(self, input_shape: tuple) -> tuple:
        return self._window_output(
            input_shape,
            "kernel_size",
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            self.padding,
        )

    def _input_channels(self, input_shape: tuple) -> int:
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): the channel dimension of the "
                f"input must be known, received input shape {tuple(input_shape)}"
            )
        return channels

    def _add_bias(self, size: int) -> None:
        if self.use_bias:
            self.add_weight(
                shape=(size,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                trainable=True,
                name="bias",
            )
        else:
            self.bias = None

    # ----------------------------------------------------------------- compute
    def _pad_input(self, x: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Applies "same"/"causal" padding; returns the input and torch's `padding`."""
        x = layout.feature_map_format(x)
        if self.padding == "causal":
            return F.pad(x, ((self.kernel_size[0] - 1) * self.dilation_rate[0], 0)), 0
        if self.padding == "same":
            pads = cu.window_padding(
                x.shape[2:], self.kernel_size, self.strides, self.dilation_rate
            )
            if all(before == after for before, after in pads):
                return x, tuple(before for before, _ in pads)  # torch pads both sides itself
            return cu.pad_spatial(x, pads), 0
        return x, 0

    def _activate(self, y: torch.Tensor) -> torch.Tensor:
        return y if self._is_linear else activation_util.apply(self.activation, y)

    def call(self, inputs: torch.Tensor, training: bool = False) -> torch.Tensor:
        return self._activate(self.pre_activation(inputs))

    def pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        """The layer's output before its activation (models may apply that later)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- config
    def _window_config(self) -> dict[str, Any]:
        return {
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
        }

    def _weight_config(self, prefix: str) -> dict[str, Any]:
        return {
            f"{prefix}_initializer": cu.serialize_initializer(
                getattr(self, f"{prefix}_initializer")
            ),
            f"{prefix}_regularizer": cu.serialize_regularizer(
                getattr(self, f"{prefix}_regularizer")
            ),
            f"{prefix}_constraint": cu.serialize_constraint(getattr(self, f"{prefix}_constraint")),
        }

    def _activation_config(self) -> dict[str, Any]:
        return {"activation": activations.serialize(self.activation), "use_bias": self.use_bias}


class BaseConv(ConvFamily):
    """N-D convolution (cross-correlation), optionally followed by a bias and an activation.

    Subclasses only set `rank`. Arguments are those of `keras.layers.Conv2D`.

    Args:
        filters: number of output channels.
        kernel_size: int or tuple of `rank` ints, the window size.
        strides: int or tuple of `rank` ints; `strides > 1` cannot be combined with
            `dilation_rate > 1`.
        padding: `"valid"` (no padding) or `"same"` (output size `ceil(input / stride)`,
            with the odd pixel of padding at the end), case-insensitive; `Conv1D` also takes
            `"causal"` (left padding only, so that output `t` sees inputs up to `t`).
        data_format: `"channels_last"` or None (the same); `"channels_first"` is not supported.
        dilation_rate: int or tuple of `rank` ints, the spacing between kernel taps.
        groups: number of groups the input channels are split into; input channels and
            `filters` must both be divisible by it.
        activation: activation name or callable applied to the output; None for linear.
        use_bias: whether a bias vector is added.
        kernel_initializer: initializer of the kernel (`"glorot_uniform"`).
        bias_initializer: initializer of the bias (`"zeros"`).
        kernel_regularizer: penalty on the kernel, added to the loss.
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
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
        groups: int = 1,
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
        # Validate everything first so that one error lists every bad argument.
        args = {
            "filters": check.positive_int("filters", filters),
            **self._check_window(check, kernel_size, strides, padding, data_format, dilation_rate),
            "groups": check.positive_int("groups", groups),
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
        if args["filters"] and args["groups"] and args["filters"] % args["groups"]:
            check.add(
                f"filters must be divisible by groups, received filters={filters!r} "
                f"and groups={groups!r}"
            )
        self._check_no_dilated_strides(check, args, strides, dilation_rate)
        check.raise_if_any()
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._set_arguments(args)
        self._conv = _CONV_FN[self.rank]

    def _allowed_paddings(self) -> tuple[str, ...]:
        return ("valid", "same", "causal") if self.rank == 1 else ("valid", "same")

    # ----------------------------------------------------------------- shapes
    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        self._check_input_rank(input_shape)
        return (input_shape[0], *self._spatial_output(input_shape), self.filters)

    def build(self, input_shape: tuple) -> None:
        input_shape = tuple(input_shape)
        channels = self._input_channels(input_shape)
        if channels % self.groups:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): input channels must be "
                f"divisible by groups={self.groups}, but the input has {channels} channels. "
                f"Input shape received: {input_shape}"
            )
        self._spatial_output(input_shape)
        rank = self.rank
        self.add_weight(
            shape=(*self.kernel_size, channels // self.groups, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            trainable=True,
            name="kernel",
            layout=(rank + 1, rank, *range(rank)),
        )
        self._add_bias(self.filters)

    # ----------------------------------------------------------------- compute
    def pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        x, padding = self._pad_input(inputs)
        return self._conv(
            x, self.kernel, self.bias, self.strides, padding, self.dilation_rate, self.groups
        )

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                **self._window_config(),
                "groups": self.groups,
                **self._activation_config(),
                **self._weight_config("kernel"),
                **self._weight_config("bias"),
            }
        )
        return cu.keras_weight_order(config)


class Conv1D(BaseConv):
    """1D convolution over `(batch, steps, channels)` inputs, e.g. for sequences.

    Example:
        >>> import torch
        >>> from convolve.layers.convolution import Conv1D
        >>> Conv1D(8, 3, padding="causal")(torch.zeros(2, 10, 4)).shape
        torch.Size([2, 10, 8])
    """

    rank = 1


class Conv2D(BaseConv):
    """2D convolution over `(batch, height, width, channels)` images.

    Example:
        >>> import torch
        >>> from convolve.layers.convolution import Conv2D
        >>> layer = Conv2D(16, 3, strides=2, padding="same")
        >>> layer(torch.zeros(1, 28, 28, 3)).shape
        torch.Size([1, 14, 14, 16])
        >>> layer.count_params()
        448
    """

    rank = 2


class Conv3D(BaseConv):
    """3D convolution over `(batch, depth, height, width, channels)` volumes.

    Example:
        >>> import torch
        >>> from convolve.layers.convolution import Conv3D
        >>> Conv3D(4, (3, 3, 3))(torch.zeros(1, 8, 8, 8, 2)).shape
        torch.Size([1, 6, 6, 6, 4])
    """

    rank = 3


Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution3D = Conv3D
