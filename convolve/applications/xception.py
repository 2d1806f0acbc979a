"""Xception (Chollet, CVPR 2017), as `keras.applications` builds it: depthwise separable
convolutions in residual blocks (entry, middle and exit flows)."""

from __future__ import annotations

from typing import Any

from convolve.applications import _builder, imagenet_utils
from convolve.applications.weights import KERAS_APPLICATIONS, WeightFile
from convolve.layers.convolution import Conv2D
from convolve.layers.convolution_variants import SeparableConv2D
from convolve.layers.core import Activation
from convolve.layers.merging import Add
from convolve.layers.normalization import BatchNormalization
from convolve.layers.pooling import MaxPooling2D
from convolve.layers.symbolic import KerasTensor
from convolve.models.model import Model

__all__ = ["Xception", "decode_predictions", "preprocess_input"]

# Keras's pinned (MD5) hashes of the weight files: (with top, without).
_HASHES = ("0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97")


def weight_file(include_top: bool) -> WeightFile:
    """The published ImageNet weights (their layers are matched in order, not by name)."""
    fname = f"xception_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    return WeightFile(
        fname, f"{KERAS_APPLICATIONS}xception/{fname}", _HASHES[0 if include_top else 1]
    )


def _sepconv_bn(x: KerasTensor, filters: int, name: str) -> KerasTensor:
    """A 3x3 separable convolution (`name`) and its normalization (`name_bn`)."""
    x = SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return BatchNormalization(axis=-1, name=f"{name}_bn")(x)


def _projection(x: KerasTensor, filters: int) -> KerasTensor:
    """The strided 1x1 shortcut of a downsampling block (unnamed in Keras)."""
    shortcut = Conv2D(filters, (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    return BatchNormalization(axis=-1)(shortcut)


def downsampling_block(
    x: KerasTensor, filters: tuple[int, int], block: int, act_first: bool = True
) -> KerasTensor:
    """(ReLU, separable conv, BN) twice, 3x3 max pooling with stride 2, plus a 1x1 shortcut.

    Block 2 starts on an activated input, so it has no first ReLU; its second one is
    named `block2_sepconv2_act` nonetheless, as in Keras.
    """
    shortcut = _projection(x, filters[1])
    prefix = f"block{block}"
    if act_first:
        x = Activation("relu", name=f"{prefix}_sepconv1_act")(x)
    x = _sepconv_bn(x, filters[0], f"{prefix}_sepconv1")
    x = Activation("relu", name=f"{prefix}_sepconv2_act")(x)
    x = _sepconv_bn(x, filters[1], f"{prefix}_sepconv2")
    x = MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"{prefix}_pool")(x)
    return Add()([x, shortcut])


def middle_block(x: KerasTensor, block: int) -> KerasTensor:
    """Three (ReLU, 728-filter separable conv, BN), plus the identity."""
    shortcut = x
    for i in (1, 2, 3):
        x = Activation("relu", name=f"block{block}_sepconv{i}_act")(x)
        x = _sepconv_bn(x, 728, f"block{block}_sepconv{i}")
    return Add()([x, shortcut])


def _xception_body(img_input: KerasTensor) -> KerasTensor:
    """Entry flow (blocks 1 to 4), middle flow (5 to 12), exit flow (13 and 14)."""
    x = Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(img_input)
    x = BatchNormalization(axis=-1, name="block1_conv1_bn")(x)
    x = Activation("relu", name="block1_conv1_act")(x)
    x = Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = BatchNormalization(axis=-1, name="block1_conv2_bn")(x)
    x = Activation("relu", name="block1_conv2_act")(x)
    x = downsampling_block(x, (128, 128), 2, act_first=False)
    x = downsampling_block(x, (256, 256), 3)
    x = downsampling_block(x, (728, 728), 4)
    for block in range(5, 13):
        x = middle_block(x, block)
    x = downsampling_block(x, (728, 1024), 13)
    for i, filters in enumerate((1536, 2048), 1):
        x = _sepconv_bn(x, filters, f"block14_sepconv{i}")
        x = Activation("relu", name=f"block14_sepconv{i}_act")(x)
    return x


def Xception(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "xception",
) -> Model:
    return _builder.build(
        _xception_body, weight_file(include_top), default_size=299, min_size=71, in_order=True,
        include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, name=name,
    )  # fmt: skip


Xception.__doc__ = _builder.builder_doc(
    "The Xception network: 36 convolutions, most of them depthwise separable, in 14 blocks.\n\n"
    "    Keras's weight files name their layers as Keras 1 did automatically; they are matched\n"
    "    to the model's layers in order, as Keras does.",
    "xception",
    min_size=71,
    default_size=299,
    example="""
    Example:
        >>> from convolve.applications import Xception
        >>> model = Xception(weights=None, include_top=False, input_shape=(71, 71, 3))
        >>> model.output_shape, model.count_params()
        ((None, 3, 3, 2048), 20861480)
""",
)

preprocess_input = imagenet_utils.preprocess_tf
decode_predictions = imagenet_utils.decode_predictions
