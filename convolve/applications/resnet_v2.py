"""ResNet50V2, ResNet101V2 and ResNet152V2 (He et al., ECCV 2016), as `keras.applications`
builds them: pre-activation bottleneck blocks (BN and ReLU before each convolution), with
the stride on the last block of a stage."""

from __future__ import annotations

import functools
from typing import Any

from convolve.applications import _builder, imagenet_utils, resnet
from convolve.applications.weights import KERAS_APPLICATIONS, WeightFile
from convolve.layers.convolution import Conv2D
from convolve.layers.core import Activation
from convolve.layers.merging import Add
from convolve.layers.pooling import MaxPooling2D
from convolve.layers.reshaping import ZeroPadding2D
from convolve.layers.symbolic import KerasTensor
from convolve.models.model import Model

__all__ = ["ResNet50V2", "ResNet101V2", "ResNet152V2", "decode_predictions", "preprocess_input"]

# Blocks per stage, and Keras's weight files' pinned (MD5) hashes: (with top, without).
_CONFIGS = {
    "resnet50v2": (
        (3, 4, 6, 3),
        ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    ),
    "resnet101v2": (
        (3, 4, 23, 3),
        ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    ),
    "resnet152v2": (
        (3, 8, 36, 3),
        ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
    ),
}


def weight_file(family: str, include_top: bool) -> WeightFile:
    """The published ImageNet weights of `family` (`"resnet50v2"`, ...)."""
    top_hash, notop_hash = _CONFIGS[family][1]
    suffix = "" if include_top else "_notop"
    fname = f"{family}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    return WeightFile(
        fname, f"{KERAS_APPLICATIONS}resnet/{fname}", top_hash if include_top else notop_hash
    )


def residual_block(
    x: KerasTensor, filters: int, stride: int = 1, conv_shortcut: bool = False, name: str = ""
) -> KerasTensor:
    """BN-ReLU, then 1x1, 3x3 (stride), 1x1 to `4 * filters`, added to the shortcut: a 1x1
    convolution of the activated input, or the input itself (1x1 max pooling if strided)."""
    preact = resnet._bn(f"{name}_preact_bn")(x)
    preact = Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = resnet._bn(f"{name}_1_bn")(x)
    x = Activation("relu", name=f"{name}_1_relu")(x)
    x = ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = resnet._bn(f"{name}_2_bn")(x)
    x = Activation("relu", name=f"{name}_2_relu")(x)
    x = Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return Add(name=f"{name}_out")([shortcut, x])


def residual_stack(
    x: KerasTensor, filters: int, blocks: int, stride1: int = 2, name: str = ""
) -> KerasTensor:
    """A stage: a block with a projection shortcut, identity blocks, the strided last one."""
    x = residual_block(x, filters, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = residual_block(x, filters, name=f"{name}_block{i}")
    return residual_block(x, filters, stride=stride1, name=f"{name}_block{blocks}")


def _body(img_input: KerasTensor, blocks: tuple[int, ...]) -> KerasTensor:
    """The stem (no normalization: the first block's pre-activation follows), the four
    stages of `blocks` residual blocks, and the final BN and ReLU."""
    x = ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = Conv2D(64, 7, strides=2, use_bias=True, name="conv1_conv")(x)
    x = ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, count) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
        stride1 = 1 if stage == 3 else 2
        x = residual_stack(x, filters, count, stride1=stride1, name=f"conv{stage + 2}")
    x = resnet._bn("post_bn")(x)
    return Activation("relu", name="post_relu")(x)


def _resnet_v2(
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
    return _builder.build(
        functools.partial(_body, blocks=_CONFIGS[family][0]), weight_file(family, include_top),
        default_size=224, min_size=32, pool_names=("avg_pool", "max_pool"),
        include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, name=name,
    )  # fmt: skip


def ResNet50V2(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "resnet50v2",
) -> Model:
    return _resnet_v2(
        "resnet50v2", include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name,
    )  # fmt: skip


def ResNet101V2(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "resnet101v2",
) -> Model:
    return _resnet_v2(
        "resnet101v2", include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name,
    )  # fmt: skip


def ResNet152V2(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "resnet152v2",
) -> Model:
    return _resnet_v2(
        "resnet152v2", include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name,
    )  # fmt: skip


ResNet50V2.__doc__ = _builder.builder_doc(
    "The ResNet50V2 network: pre-activation stages of 3, 4, 6 and 3 residual blocks.",
    "resnet_v2",
    min_size=32,
    default_size=224,
    example="""
    Example:
        >>> from convolve.applications import ResNet50V2
        >>> model = ResNet50V2(weights=None, include_top=False, input_shape=(64, 64, 3))
        >>> model.output_shape, model.count_params()
        ((None, 2, 2, 2048), 23564800)
""",
)
ResNet101V2.__doc__ = _builder.builder_doc(
    "The ResNet101V2 network: stages of 3, 4, 23 and 3 residual blocks.", "resnet_v2", 32, 224
)
ResNet152V2.__doc__ = _builder.builder_doc(
    "The ResNet152V2 network: stages of 3, 8, 36 and 3 residual blocks.", "resnet_v2", 32, 224
)

preprocess_input = imagenet_utils.preprocess_tf
decode_predictions = imagenet_utils.decode_predictions
