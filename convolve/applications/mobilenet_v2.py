"""MobileNetV2 (Sandler et al., CVPR 2018), as `keras.applications` builds it: inverted
residual blocks with linear bottlenecks and ReLU6."""

from __future__ import annotations

import warnings
from typing import Any

from convolve.applications import _builder, imagenet_utils
from convolve.applications.weights import KERAS_APPLICATIONS, WeightFile
from convolve.layers.convolution import Conv2D
from convolve.layers.convolution_variants import DepthwiseConv2D
from convolve.layers.core import ReLU
from convolve.layers.merging import Add
from convolve.layers.normalization import BatchNormalization
from convolve.layers.pooling import GlobalAveragePooling2D
from convolve.layers.reshaping import ZeroPadding2D
from convolve.layers.symbolic import KerasTensor
from convolve.models.model import Model

__all__ = ["MobileNetV2", "decode_predictions", "preprocess_input"]

_ALPHAS = (0.35, 0.50, 0.75, 1.0, 1.3, 1.4)
_SIZES = (96, 128, 160, 192, 224)
# (filters, stride, expansion) of the 17 inverted residual blocks.
_BLOCKS = (
    (16, 1, 1),
    (24, 2, 6), (24, 1, 6),
    (32, 2, 6), (32, 1, 6), (32, 1, 6),
    (64, 2, 6), (64, 1, 6), (64, 1, 6), (64, 1, 6),
    (96, 1, 6), (96, 1, 6), (96, 1, 6),
    (160, 2, 6), (160, 1, 6), (160, 1, 6),
    (320, 1, 6),
)  # fmt: skip


def weight_file(alpha: float, rows: int, include_top: bool) -> WeightFile:
    """The published ImageNet weights for width `alpha` and input size `rows`.

    Keras pins no hash for these files, so none is checked unless one is set with
    `convolve.applications.weights.pin_hash`.
    """
    suffix = "" if include_top else "_no_top"
    fname = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}{suffix}.h5"
    return WeightFile(fname, f"{KERAS_APPLICATIONS}mobilenet_v2/{fname}", None)


def _make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """`v` rounded to a multiple of `divisor`, never more than 10% below `v`."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _bn(name: str) -> BatchNormalization:
    return BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)


def inverted_res_block(
    inputs: KerasTensor, expansion: int, stride: int, alpha: float, filters: int, block_id: int
) -> KerasTensor:
    """Expand (1x1), depthwise 3x3, project (1x1, linear); a residual add when shapes allow."""
    in_channels = inputs.shape[-1]
    pointwise_filters = _make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = Conv2D(
            expansion * in_channels, kernel_size=1, padding="same", use_bias=False,
            activation=None, name=f"{prefix}expand",
        )(x)  # fmt: skip
        x = _bn(f"{prefix}expand_BN")(x)
        x = ReLU(6.0, name=f"{prefix}expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name=f"{prefix}pad")(x)
    x = DepthwiseConv2D(
        kernel_size=3, strides=stride, activation=None, use_bias=False,
        padding="same" if stride == 1 else "valid", name=f"{prefix}depthwise",
    )(x)  # fmt: skip
    x = _bn(f"{prefix}depthwise_BN")(x)
    x = ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = Conv2D(
        pointwise_filters, kernel_size=1, padding="same", use_bias=False, activation=None,
        name=f"{prefix}project",
    )(x)  # fmt: skip
    x = _bn(f"{prefix}project_BN")(x)
    if in_channels == pointwise_filters and stride == 1:
        return Add(name=f"{prefix}add")([inputs, x])
    return x


def _default_size(input_shape: Any, input_tensor: Any) -> int:
    """224, or the square input size when it is one of the sizes weights exist for."""
    _builder.check_input_tensor(input_tensor)
    if input_tensor is not None and input_shape is not None:
        if input_tensor.shape[2] != input_shape[1]:
            raise ValueError(
                "input_tensor.shape[2] must equal input_shape[1]; Received "
                f"`input_tensor.shape={input_tensor.shape}`, `input_shape={input_shape}`"
            )
    if input_shape is None and input_tensor is None:
        return 224
    rows, cols = (input_shape if input_shape is not None else input_tensor.shape[1:])[:2]
    return rows if rows == cols and rows in _SIZES else 224


def MobileNetV2(  # noqa: N802 - Keras's public name
    input_shape: tuple | None = None,
    alpha: float = 1.0,
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str | None = None,
) -> Model:
    """The MobileNetV2 network (note that `input_shape` comes first, as in Keras).

    Call `convolve.applications.mobilenet_v2.preprocess_input` on images (values in
    [0, 255]) first: it scales them to [-1, 1].

    Args:
        input_shape: the input shape, `(height, width, 3)`, at least 32x32; ignored when
            `input_tensor` is given. ImageNet weights exist for square inputs of 96, 128,
            160, 192 and 224 pixels (the 224 ones are used for other sizes, with a warning).
        alpha: the width multiplier: < 1 thins every layer, > 1 widens it. ImageNet weights
            exist for 0.35, 0.5, 0.75, 1.0, 1.3 and 1.4.
        include_top: include the classifier (global average pooling and `predictions`).
        weights: None (random initialization), `"imagenet"` (download Keras's ImageNet
            weights into the cache, see `convolve.applications.weights`), or the path of a
            Keras `.h5` weights file.
        input_tensor: a symbolic tensor (output of `convolve.Input()`) to use as the input.
        pooling: for `include_top=False`: None (4D output), `"avg"` or `"max"`.
        classes: the number of classes of the classifier; 1000 with ImageNet weights.
        classifier_activation: the activation of `predictions`; None gives logits. With
            pretrained weights only None or `"softmax"`.
        name: the model's name; by default `mobilenetv2_{alpha:0.2f}_{rows}`.

    Returns:
        A functional `Model`.

    Example:
        >>> from convolve.applications import MobileNetV2
        >>> model = MobileNetV2(weights=None)
        >>> model.name, model.count_params()
        ('mobilenetv2_1.00_224', 3538984)
    """
    _builder.check_arguments(weights, include_top, classes, pooling, classifier_activation)
    if weights == "imagenet" and alpha not in _ALPHAS:
        raise ValueError(
            "If imagenet weights are being loaded, alpha must be one of `0.35`, `0.50`, "
            f"`0.75`, `1.0`, `1.3` or `1.4` only; Received `alpha={alpha}`"
        )
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape,
        default_size=_default_size(input_shape, input_tensor),
        min_size=32,
        require_flatten=include_top,
        weights=weights,
    )
    rows, cols = input_shape[0], input_shape[1]
    if weights == "imagenet" and (rows != cols or rows not in _SIZES):
        rows = 224
        warnings.warn(
            "`input_shape` is undefined or non-square, or `rows` is not in "
            "[96, 128, 160, 192, 224]. Weights for input shape (224, 224) will be loaded as "
            "the default.",
            stacklevel=2,
        )
    img_input = _builder.image_input(input_tensor, input_shape)
    x = Conv2D(
        _make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2), padding="same",
        use_bias=False, name="Conv1",
    )(img_input)  # fmt: skip
    x = _bn("bn_Conv1")(x)
    x = ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = inverted_res_block(x, expansion, stride, alpha, filters, block_id)
    # No width multiplier on the last convolution unless it widens the network (as in the paper).
    last_block_filters = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = Conv2D(last_block_filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = _bn("Conv_1_bn")(x)
    x = ReLU(6.0, name="out_relu")(x)
    if include_top:
        x = GlobalAveragePooling2D()(x)
        x = _builder.classifier(x, classes, classifier_activation)
    else:
        x = _builder.pool(x, pooling, None, None)
    if name is None:
        name = f"mobilenetv2_{alpha:0.2f}_{rows}"
    return _builder.finish(
        img_input, input_tensor, x, name, weights, weight_file(alpha, rows, include_top)
    )


preprocess_input = imagenet_utils.preprocess_tf
decode_predictions = imagenet_utils.decode_predictions
