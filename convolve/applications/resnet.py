"""ResNet50, ResNet101 and ResNet152 (He et al., CVPR 2016), as `keras.applications` builds
them: bottleneck residual blocks with the stride on the first 1x1 convolution."""

from __future__ import annotations

from typing import Any

from convolve.applications import _builder, imagenet_utils
from convolve.applications.weights import KERAS_APPLICATIONS, WeightFile
from convolve.layers.convolution import Conv2D
from convolve.layers.core import Activation
from convolve.layers.merging import Add
from convolve.layers.normalization import BatchNormalization
from convolve.layers.pooling import GlobalAveragePooling2D, MaxPooling2D
from convolve.layers.reshaping import ZeroPadding2D
from convolve.layers.symbolic import KerasTensor
from convolve.models.model import Model

__all__ = ["ResNet50", "ResNet101", "ResNet152", "decode_predictions", "preprocess_input"]

_EPSILON = 1.001e-5
# Blocks per stage, and Keras's weight files' pinned (MD5) hashes: (with top, without).
_CONFIGS = {
    "resnet50": (
        (3, 4, 6, 3),
        ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    ),
    "resnet101": (
        (3, 4, 23, 3),
        ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    ),
    "resnet152": (
        (3, 8, 36, 3),
        ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    ),
}


def weight_file(family: str, include_top: bool) -> WeightFile:
    """The published ImageNet weights of `family` (`"resnet50"`, ...)."""
    top_hash, notop_hash = _CONFIGS[family][1]
    suffix = "" if include_top else "_notop"
    fname = f"{family}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    return WeightFile(
        fname, f"{KERAS_APPLICATIONS}resnet/{fname}", top_hash if include_top else notop_hash
    )


def _bn(name: str) -> BatchNormalization:
    return BatchNormalization(axis=3, epsilon=_EPSILON, name=name)


def residual_block(
    x: KerasTensor, filters: int, stride: int = 1, conv_shortcut: bool = True, name: str = ""
) -> KerasTensor:
    """One bottleneck block: 1x1 (stride), 3x3, 1x1 to `4 * filters`, plus the shortcut."""
    if conv_shortcut:
        shortcut = Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = _bn(f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = _bn(f"{name}_1_bn")(x)
    x = Activation("relu", name=f"{name}_1_relu")(x)
    x = Conv2D(filters, 3, padding="SAME", name=f"{name}_2_conv")(x)
    x = _bn(f"{name}_2_bn")(x)
    x = Activation("relu", name=f"{name}_2_relu")(x)
    x = Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = _bn(f"{name}_3_bn")(x)
    x = Add(name=f"{name}_add")([shortcut, x])
    return Activation("relu", name=f"{name}_out")(x)


def residual_stack(
    x: KerasTensor, filters: int, blocks: int, stride1: int = 2, name: str = ""
) -> KerasTensor:
    """A stage: one block with a projection shortcut, then `blocks - 1` identity blocks."""
    x = residual_block(x, filters, stride=stride1, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = residual_block(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def _resnet(
    family: str,
    include_top: bool,
    weights: Any,
    input_tensor: Any,
    input_shape: Any,
    pooling: str | None,
    classes: int,
    classifier_activation: Any,
    name: str,
) -> Model:
    _builder.check_arguments(weights, include_top, classes, pooling, classifier_activation)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=224, min_size=32, require_flatten=include_top, weights=weights
    )
    img_input = _builder.image_input(input_tensor, input_shape)
    x = ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = Conv2D(64, 7, strides=2, use_bias=True, name="conv1_conv")(x)
    x = _bn("conv1_bn")(x)
    x = Activation("relu", name="conv1_relu")(x)
    x = ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    blocks = _CONFIGS[family][0]
    for stage, (filters, count) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
        x = residual_stack(
            x, filters, count, stride1=1 if stage == 0 else 2, name=f"conv{stage + 2}"
        )
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        x = _builder.classifier(x, classes, classifier_activation)
    else:
        x = _builder.pool(x, pooling, "avg_pool", "max_pool")
    return _builder.finish(
        img_input, input_tensor, x, name, weights, weight_file(family, include_top)
    )


_DOC = """

    Call `convolve.applications.resnet.preprocess_input` on images (RGB, values in
    [0, 255]) first: it converts them to BGR and subtracts the ImageNet mean pixel.

    Args:
        include_top: include the classifier (global average pooling and `predictions`).
        weights: None (random initialization), `"imagenet"` (download Keras's ImageNet
            weights into the cache, see `convolve.applications.weights`), or the path of a
            Keras `.h5` weights file.
        input_tensor: a symbolic tensor (output of `convolve.Input()`) to use as the input.
        input_shape: the input shape, `(height, width, 3)`, at least 32x32. With
            `include_top=True` and ImageNet weights it must be `(224, 224, 3)`.
        pooling: for `include_top=False`: None (the last stage's 4D output), `"avg"` or
            `"max"` (global pooling to a 2D output).
        classes: the number of classes of the classifier; 1000 with ImageNet weights.
        classifier_activation: the activation of `predictions`; None gives logits. With
            pretrained weights only None or `"softmax"`.
        name: the model's name.

    Returns:
        A functional `Model`.
"""


def ResNet50(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "resnet50",
) -> Model:
    return _resnet(
        "resnet50", include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name,
    )  # fmt: skip


def ResNet101(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "resnet101",
) -> Model:
    return _resnet(
        "resnet101", include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name,
    )  # fmt: skip


def ResNet152(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "resnet152",
) -> Model:
    return _resnet(
        "resnet152", include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name,
    )  # fmt: skip


ResNet50.__doc__ = (
    "The ResNet50 network: bottleneck stages of 3, 4, 6 and 3 residual blocks."
    + _DOC
    + """
    Example:
        >>> from convolve.applications import ResNet50
        >>> ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3)).output_shape
        (None, 2, 2, 2048)
"""
)
ResNet101.__doc__ = "The ResNet101 network: stages of 3, 4, 23 and 3 residual blocks." + _DOC
ResNet152.__doc__ = "The ResNet152 network: stages of 3, 8, 36 and 3 residual blocks." + _DOC

preprocess_input = imagenet_utils.preprocess_caffe
decode_predictions = imagenet_utils.decode_predictions
