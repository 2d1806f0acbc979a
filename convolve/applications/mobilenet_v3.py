"""MobileNetV3Small and MobileNetV3Large (Howard et al., ICCV 2019), as `keras.applications`
builds them: inverted residual blocks with squeeze-and-excitation and hard-swish, and the
input scaling inside the model."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from convolve.applications import _builder, imagenet_utils
from convolve.applications.weights import KERAS_APPLICATIONS, WeightFile
from convolve.layers.convolution import Conv2D
from convolve.layers.convolution_variants import DepthwiseConv2D
from convolve.layers.core import Activation, Dropout, Flatten, ReLU
from convolve.layers.merging import Add, Multiply
from convolve.layers.normalization import BatchNormalization
from convolve.layers.pooling import GlobalAveragePooling2D
from convolve.layers.preprocessing import Rescaling
from convolve.layers.reshaping import ZeroPadding2D
from convolve.layers.symbolic import KerasTensor
from convolve.models.model import Model

__all__ = ["MobileNetV3Large", "MobileNetV3Small", "decode_predictions", "preprocess_input"]

# Keras's pinned (MD5) hashes of the weight files: (with top, without).
WEIGHTS_HASHES = {
    "large_224_0.75_float": (
        "765b44a33ad4005b3ac83185abf1d0eb",
        "40af19a13ebea4e2ee0c676887f69a2e",
    ),
    "large_224_1.0_float": ("59e551e166be033d707958cf9e29a6a7", "07fb09a5933dd0c8eaafa16978110389"),
    "large_minimalistic_224_1.0_float": (
        "675e7b876c45c57e9e63e6d90a36599c",
        "ec5221f64a2f6d1ef965a614bdae7973",
    ),
    "small_224_0.75_float": (
        "cb65d4e5be93758266aa0a7f2c6708b7",
        "ebdb5cc8e0b497cd13a7c275d475c819",
    ),
    "small_224_1.0_float": ("8768d4c2e7dee89b9d02b2d03d65d862", "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "small_minimalistic_224_1.0_float": (
        "99cd97fb2fcdad2bf028eb838de69e37",
        "cde8136e733e811080d9fcd8a252f7e4",
    ),
}

# The blocks of each model: (expansion, filters, kernel, stride, squeeze-excite, activation),
# where a kernel of 0 is the model's kernel (5, or 3 if minimalistic), and "act" the model's
# activation (hard-swish, or ReLU if minimalistic); squeeze-excite is dropped if minimalistic.
_SMALL = (
    (1, 16, 3, 2, True, "relu"),
    (72.0 / 16, 24, 3, 2, False, "relu"),
    (88.0 / 24, 24, 3, 1, False, "relu"),
    (4, 40, 0, 2, True, "act"),
    (6, 40, 0, 1, True, "act"),
    (6, 40, 0, 1, True, "act"),
    (3, 48, 0, 1, True, "act"),
    (3, 48, 0, 1, True, "act"),
    (6, 96, 0, 2, True, "act"),
    (6, 96, 0, 1, True, "act"),
    (6, 96, 0, 1, True, "act"),
)
_LARGE = (
    (1, 16, 3, 1, False, "relu"),
    (4, 24, 3, 2, False, "relu"),
    (3, 24, 3, 1, False, "relu"),
    (3, 40, 0, 2, True, "relu"),
    (3, 40, 0, 1, True, "relu"),
    (3, 40, 0, 1, True, "relu"),
    (6, 80, 3, 2, False, "act"),
    (2.5, 80, 3, 1, False, "act"),
    (2.3, 80, 3, 1, False, "act"),
    (2.3, 80, 3, 1, False, "act"),
    (6, 112, 3, 1, True, "act"),
    (6, 112, 3, 1, True, "act"),
    (6, 160, 0, 2, True, "act"),
    (6, 160, 0, 1, True, "act"),
    (6, 160, 0, 1, True, "act"),
)


def weight_file(model_type: str, minimalistic: bool, alpha: float, include_top: bool) -> WeightFile:
    """The published ImageNet weights of one MobileNetV3 (all trained at 224x224)."""
    model_name = f"{model_type}{'_minimalistic' if minimalistic else ''}_224_{alpha}_float"
    top_hash, notop_hash = WEIGHTS_HASHES[model_name]
    if include_top:
        fname, file_hash = f"weights_mobilenet_v3_{model_name}.h5", top_hash
    else:
        fname, file_hash = f"weights_mobilenet_v3_{model_name}_no_top_v2.h5", notop_hash
    return WeightFile(fname, f"{KERAS_APPLICATIONS}mobilenet_v3/{fname}", file_hash)


def relu(x: KerasTensor) -> KerasTensor:
    return ReLU()(x)


def hard_sigmoid(x: KerasTensor) -> KerasTensor:
    """`ReLU6(x + 3) / 6`, as Keras writes it (two operation nodes around a `ReLU` layer)."""
    return ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def hard_swish(x: KerasTensor) -> KerasTensor:
    return Activation("hard_swish")(x)


def _depth(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """`v` rounded to a multiple of `divisor`, never more than 10% below `v`."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _bn(name: str) -> BatchNormalization:
    return BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)


def _se_block(inputs: KerasTensor, filters: int, se_ratio: float, prefix: str) -> KerasTensor:
    x = GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(inputs)
    x = Conv2D(
        _depth(filters * se_ratio), kernel_size=1, padding="same",
        name=f"{prefix}squeeze_excite_conv",
    )(x)  # fmt: skip
    x = ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = Conv2D(filters, kernel_size=1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(x)
    x = hard_sigmoid(x)
    return Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, x])


def _inverted_res_block(
    x: KerasTensor,
    expansion: float,
    filters: int,
    kernel_size: int,
    stride: int,
    se_ratio: float | None,
    activation: Callable[[KerasTensor], KerasTensor],
    block_id: int,
) -> KerasTensor:
    """Expand (1x1), depthwise, optional squeeze-excite, project (1x1, linear), residual."""
    shortcut = x
    prefix = "expanded_conv_"
    infilters = x.shape[-1]
    if block_id:
        prefix = f"expanded_conv_{block_id}_"
        x = Conv2D(
            _depth(infilters * expansion), kernel_size=1, padding="same", use_bias=False,
            name=f"{prefix}expand",
        )(x)  # fmt: skip
        x = _bn(f"{prefix}expand_bn")(x)
        x = activation(x)
    if stride == 2:
        x = ZeroPadding2D(
            padding=imagenet_utils.correct_pad(x, kernel_size), name=f"{prefix}depthwise_pad"
        )(x)
    x = DepthwiseConv2D(
        kernel_size, strides=stride, padding="same" if stride == 1 else "valid", use_bias=False,
        name=f"{prefix}depthwise",
    )(x)  # fmt: skip
    x = _bn(f"{prefix}depthwise_bn")(x)
    x = activation(x)
    if se_ratio:
        x = _se_block(x, _depth(infilters * expansion), se_ratio, prefix)
    x = Conv2D(filters, kernel_size=1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = _bn(f"{prefix}project_bn")(x)
    if stride == 1 and infilters == filters:
        x = Add(name=f"{prefix}add")([shortcut, x])
    return x


def _input_shape(input_shape: Any, input_tensor: Any) -> tuple:
    """Keras's resolution of the input shape: `(None, None, 3)` unless given."""
    _builder.check_input_tensor(input_tensor)
    if input_shape is not None and input_tensor is not None:
        if input_tensor.shape[2] != input_shape[1]:
            raise ValueError(
                "input_shape[1] must equal input_tensor.shape[2].  Received "
                f"input_shape={input_shape}, input_tensor.shape={input_tensor.shape}"
            )
    if input_shape is None and input_tensor is not None:
        rows, cols = input_tensor.shape[1], input_tensor.shape[2]
        input_shape = (cols, rows, 3)
    if input_shape is None:
        input_shape = (None, None, 3)
    return tuple(input_shape)


def MobileNetV3(  # noqa: N802 - Keras's public name
    blocks: tuple[tuple, ...],
    last_point_ch: int,
    input_shape: tuple | None = None,
    alpha: float = 1.0,
    model_type: str = "large",
    minimalistic: bool = False,
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    classes: int = 1000,
    pooling: str | None = None,
    dropout_rate: float = 0.2,
    classifier_activation: Any = "softmax",
    include_preprocessing: bool = True,
    name: str | None = None,
) -> Model:
    """A MobileNetV3 with the given blocks (see `MobileNetV3Small`, `MobileNetV3Large`)."""
    if not (weights in ("imagenet", None) or _builder._is_file(weights)):
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization), "
            "`imagenet` (pre-training on ImageNet), or the path to the weights file to be "
            f"loaded.  Received weights={weights}"
        )
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            'If using `weights="imagenet"` with `include_top` as true, `classes` should be '
            f"1000.  Received classes={classes}"
        )
    input_shape = _input_shape(input_shape, input_tensor)
    rows, cols = input_shape[0], input_shape[1]
    if rows and cols and (rows < 32 or cols < 32):
        raise ValueError(f"Input size must be at least 32x32; Received `input_shape={input_shape}`")
    if weights == "imagenet":
        if (not minimalistic and alpha not in (0.75, 1.0)) or (minimalistic and alpha != 1.0):
            raise ValueError(
                "If imagenet weights are being loaded, alpha can be one of `0.75`, `1.0` for "
                "non minimalistic or `1.0` for minimalistic only."
            )
        if rows != cols or rows != 224:
            warnings.warn(
                "`input_shape` is undefined or non-square, or `rows` is not 224. Weights for "
                "input shape (224, 224) will be loaded as the default.",
                stacklevel=3,
            )
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    img_input = _builder.image_input(input_tensor, input_shape)
    if minimalistic:
        kernel, activation, se_ratio = 3, relu, None
    else:
        kernel, activation, se_ratio = 5, hard_swish, 0.25

    x = img_input
    if include_preprocessing:
        x = Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = Conv2D(16, kernel_size=3, strides=(2, 2), padding="same", use_bias=False, name="conv")(x)
    x = _bn("conv_bn")(x)
    x = activation(x)
    for block_id, (expansion, filters, size, stride, se, act) in enumerate(blocks):
        x = _inverted_res_block(
            x, expansion, _depth(filters * alpha), size or kernel, stride,
            se_ratio if se else None, relu if act == "relu" else activation, block_id,
        )  # fmt: skip
    last_conv_ch = _depth(x.shape[-1] * 6)
    if alpha > 1.0:
        last_point_ch = _depth(last_point_ch * alpha)
    x = Conv2D(last_conv_ch, kernel_size=1, padding="same", use_bias=False, name="conv_1")(x)
    x = _bn("conv_1_bn")(x)
    x = activation(x)
    if include_top:
        x = GlobalAveragePooling2D(keepdims=True)(x)
        x = Conv2D(last_point_ch, kernel_size=1, padding="same", use_bias=True, name="conv_2")(x)
        x = activation(x)
        if dropout_rate > 0:
            x = Dropout(dropout_rate)(x)
        x = Conv2D(classes, kernel_size=1, padding="same", name="logits")(x)
        x = Flatten()(x)
        x = Activation(activation=classifier_activation, name="predictions")(x)
    elif pooling in ("avg", "max"):
        x = _builder.pool(x, pooling, "avg_pool", "max_pool")
    file = (
        weight_file(model_type, minimalistic, alpha, include_top) if weights == "imagenet" else None
    )
    return _builder.finish(img_input, input_tensor, x, name, weights, file)


def MobileNetV3Small(  # noqa: N802 - Keras's public name
    input_shape: tuple | None = None,
    alpha: float = 1.0,
    minimalistic: bool = False,
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    classes: int = 1000,
    pooling: str | None = None,
    dropout_rate: float = 0.2,
    classifier_activation: Any = "softmax",
    include_preprocessing: bool = True,
    name: str = "MobileNetV3Small",
) -> Model:
    return MobileNetV3(
        _SMALL, 1024, input_shape, alpha, "small", minimalistic, include_top, weights,
        input_tensor, classes, pooling, dropout_rate, classifier_activation,
        include_preprocessing, name=name,
    )  # fmt: skip


def MobileNetV3Large(  # noqa: N802 - Keras's public name
    input_shape: tuple | None = None,
    alpha: float = 1.0,
    minimalistic: bool = False,
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    classes: int = 1000,
    pooling: str | None = None,
    dropout_rate: float = 0.2,
    classifier_activation: Any = "softmax",
    include_preprocessing: bool = True,
    name: str = "MobileNetV3Large",
) -> Model:
    return MobileNetV3(
        _LARGE, 1280, input_shape, alpha, "large", minimalistic, include_top, weights,
        input_tensor, classes, pooling, dropout_rate, classifier_activation,
        include_preprocessing, name=name,
    )  # fmt: skip


_DOC = """The {name} network (note that `input_shape` comes first, as in Keras).

    The model scales its input itself (a `Rescaling` layer to [-1, 1], unless
    `include_preprocessing=False`): give it float images with values in [0, 255];
    `mobilenet_v3.preprocess_input` passes them through.

    Args:
        input_shape: the input shape, `(height, width, 3)`, at least 32x32; by default
            `(None, None, 3)` (any size). ImageNet weights were trained at 224x224 (other
            sizes load them with a warning).
        alpha: the width multiplier. ImageNet weights exist for 0.75 and 1.0 (1.0 only if
            `minimalistic`).
        minimalistic: 3x3 kernels, ReLU and no squeeze-and-excitation throughout.
        include_top: include the classifier (pooling, two 1x1 convolutions, `predictions`).
        weights: None (random initialization), `"imagenet"` (download Keras's ImageNet
            weights into the cache, see `convolve.applications.weights`), or the path of a
            Keras `.h5` weights file.
        input_tensor: a symbolic tensor (output of `convolve.Input()`) to use as the input.
        classes: the number of classes of the classifier; 1000 with ImageNet weights.
        pooling: for `include_top=False`: None (4D output), `"avg"` or `"max"`.
        dropout_rate: the dropout before the last 1x1 convolution (`logits`).
        classifier_activation: the activation of `predictions`; None gives logits. With
            pretrained weights only None or `"softmax"`.
        include_preprocessing: whether the model scales its input to [-1, 1] itself.
        name: the model's name.

    Returns:
        A functional `Model`.

    Example:
        >>> from convolve.applications import {name}
        >>> model = {name}(weights=None, include_top=False, input_shape=(32, 32, 3))
        >>> model.output_shape
        {shape}
"""
MobileNetV3Small.__doc__ = _DOC.format(name="MobileNetV3Small", shape="(None, 1, 1, 576)")
MobileNetV3Large.__doc__ = _DOC.format(name="MobileNetV3Large", shape="(None, 1, 1, 960)")


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """Returns `x` unchanged: MobileNetV3 scales its input inside the model.

    Example:
        >>> from convolve.applications import mobilenet_v3
        >>> mobilenet_v3.preprocess_input([255.0])
        [255.0]
    """
    return x


decode_predictions = imagenet_utils.decode_predictions
