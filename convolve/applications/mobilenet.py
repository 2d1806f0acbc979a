"""MobileNet (Howard et al., 2017), as `keras.applications` builds it: a stack of depthwise
separable convolutions (depthwise 3x3 and pointwise 1x1, each with BN and ReLU6)."""

from __future__ import annotations

import warnings
from typing import Any

from convolve.applications import _builder, imagenet_utils
from convolve.applications.weights import KERAS_APPLICATIONS, WeightFile
from convolve.layers.convolution import Conv2D
from convolve.layers.convolution_variants import DepthwiseConv2D
from convolve.layers.core import Activation, Dropout, ReLU, Reshape
from convolve.layers.normalization import BatchNormalization
from convolve.layers.pooling import GlobalAveragePooling2D
from convolve.layers.reshaping import ZeroPadding2D
from convolve.layers.symbolic import KerasTensor
from convolve.models.model import Model

__all__ = ["MobileNet", "decode_predictions", "preprocess_input"]

_ALPHAS = {0.25: "2_5", 0.5: "5_0", 0.75: "7_5", 1.0: "1_0"}  # width -> its files' tag
_SIZES = (128, 160, 192, 224)
# (pointwise filters, stride) of the 13 depthwise separable blocks.
_BLOCKS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip


def weight_file(alpha: float, rows: int, include_top: bool) -> WeightFile:
    """The published ImageNet weights for width `alpha` and input size `rows`.

    Keras pins no hash for these files, so none is checked unless one is set with
    `convolve.applications.weights.pin_hash`.
    """
    fname = f"mobilenet_{_ALPHAS[alpha]}_{rows}_tf{'' if include_top else '_no_top'}.h5"
    return WeightFile(fname, f"{KERAS_APPLICATIONS}mobilenet/{fname}", None)


def conv_block(inputs: KerasTensor, filters: int, alpha: float, strides: int) -> KerasTensor:
    """The first layer: a 3x3 convolution to `filters * alpha` channels, BN and ReLU6."""
    x = Conv2D(
        int(filters * alpha), (3, 3), padding="same", use_bias=False,
        strides=(strides, strides), name="conv1",
    )(inputs)  # fmt: skip
    x = BatchNormalization(axis=-1, name="conv1_bn")(x)
    return ReLU(6.0, name="conv1_relu")(x)


def depthwise_conv_block(
    inputs: KerasTensor,
    pointwise_conv_filters: int,
    alpha: float,
    depth_multiplier: int = 1,
    strides: int = 1,
    block_id: int = 1,
) -> KerasTensor:
    """Depthwise 3x3 (strided and zero padded at the end if `strides` is 2), BN, ReLU6, then
    pointwise 1x1 to `pointwise_conv_filters * alpha` channels, BN, ReLU6."""
    x = inputs
    if strides != 1:
        x = ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = DepthwiseConv2D(
        (3, 3), padding="same" if strides == 1 else "valid", depth_multiplier=depth_multiplier,
        strides=(strides, strides), use_bias=False, name=f"conv_dw_{block_id}",
    )(x)  # fmt: skip
    x = BatchNormalization(axis=-1, name=f"conv_dw_{block_id}_bn")(x)
    x = ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = Conv2D(
        int(pointwise_conv_filters * alpha), (1, 1), padding="same", use_bias=False,
        strides=(1, 1), name=f"conv_pw_{block_id}",
    )(x)  # fmt: skip
    x = BatchNormalization(axis=-1, name=f"conv_pw_{block_id}_bn")(x)
    return ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def _default_size(input_shape: Any) -> int:
    """224, or the square input size when it is one of the sizes weights exist for."""
    if input_shape is None:
        return 224
    rows, cols = input_shape[0], input_shape[1]
    return rows if rows == cols and rows in _SIZES else 224


def _check_imagenet(alpha: float, depth_multiplier: int, rows: Any, cols: Any) -> Any:
    """Keras's checks for ImageNet weights; returns the input size whose weights load."""
    if depth_multiplier != 1:
        raise ValueError(
            "If imagenet weights are being loaded, depth multiplier must be 1.  "
            f"Received depth_multiplier={depth_multiplier}"
        )
    if alpha not in _ALPHAS:
        raise ValueError(
            "If imagenet weights are being loaded, alpha can be one of`0.25`, `0.50`, `0.75` "
            f"or `1.0` only.  Received alpha={alpha}"
        )
    if rows != cols or rows not in _SIZES:
        warnings.warn(
            "`input_shape` is undefined or non-square, or `rows` is not in "
            "[128, 160, 192, 224]. Weights for input shape (224, 224) will be loaded as the "
            "default.",
            stacklevel=3,
        )
        return 224
    return rows


def MobileNet(  # noqa: N802 - Keras's public name
    input_shape: tuple | None = None,
    alpha: float = 1.0,
    depth_multiplier: int = 1,
    dropout: float = 1e-3,
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str | None = None,
) -> Model:
    """The MobileNet network (note that `input_shape` comes first, as in Keras).

    Call `convolve.applications.mobilenet.preprocess_input` on images (values in [0, 255])
    first: it scales them to [-1, 1].

    Args:
        input_shape: the input shape, `(height, width, 3)`, at least 32x32. ImageNet weights
            exist for square inputs of 128, 160, 192 and 224 pixels (the 224 ones are used
            for other sizes, with a warning).
        alpha: the width multiplier: < 1 thins every layer, > 1 widens it. ImageNet weights
            exist for 0.25, 0.5, 0.75 and 1.0.
        depth_multiplier: the depthwise convolutions' channel multiplier (1 with ImageNet
            weights).
        dropout: the dropout rate before the classifier.
        include_top: include the classifier (global average pooling, dropout, a 1x1
            convolution `conv_preds` and the `predictions` activation).
        weights: None (random initialization), `"imagenet"` (download Keras's ImageNet
            weights into the cache, see `convolve.applications.weights`), or the path of a
            Keras `.h5` weights file.
        input_tensor: a symbolic tensor (output of `convolve.Input()`) to use as the input.
        pooling: for `include_top=False`: None (4D output), `"avg"` or `"max"`.
        classes: the number of classes of the classifier; 1000 with ImageNet weights.
        classifier_activation: the activation of `predictions`; None gives logits. With
            pretrained weights only None or `"softmax"`.
        name: the model's name; by default `mobilenet_{alpha:0.2f}_{rows}`.

    Returns:
        A functional `Model`.

    Example:
        >>> from convolve.applications import MobileNet
        >>> model = MobileNet(weights=None, alpha=0.25, input_shape=(128, 128, 3))
        >>> model.name, model.count_params()
        ('mobilenet_0.25_128', 475544)
    """
    _builder.check_arguments(weights, include_top, classes, pooling, classifier_activation)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape,
        default_size=_default_size(input_shape),
        min_size=32,
        require_flatten=include_top,
        weights=weights,
    )
    rows, cols = input_shape[0], input_shape[1]
    if weights == "imagenet":
        rows = _check_imagenet(alpha, depth_multiplier, rows, cols)
    img_input = _builder.image_input(input_tensor, input_shape)
    x = conv_block(img_input, 32, alpha, strides=2)
    for block_id, (filters, stride) in enumerate(_BLOCKS, 1):
        x = depthwise_conv_block(x, filters, alpha, depth_multiplier, stride, block_id)
    if include_top:
        x = GlobalAveragePooling2D(keepdims=True)(x)
        x = Dropout(dropout, name="dropout")(x)
        x = Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = Reshape((classes,), name="reshape_2")(x)
        x = Activation(classifier_activation, name="predictions")(x)
    else:
        x = _builder.pool(x, pooling, None, None)
    if name is None:
        name = f"mobilenet_{alpha:0.2f}_{rows}"
    file = weight_file(alpha, rows, include_top) if weights == "imagenet" else None
    return _builder.finish(img_input, input_tensor, x, name, weights, file)


preprocess_input = imagenet_utils.preprocess_tf
decode_predictions = imagenet_utils.decode_predictions
