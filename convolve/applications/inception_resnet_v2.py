"""InceptionResNetV2 (Szegedy et al., AAAI 2017), as `keras.applications` builds it:
inception modules whose output, scaled down, is added to their input (residual)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from convolve.applications import _builder, imagenet_utils
from convolve.applications.weights import KERAS_APPLICATIONS, WeightFile
from convolve.layers.convolution import Conv2D
from convolve.layers.core import Activation
from convolve.layers.merging import Concatenate, Merge
from convolve.layers.normalization import BatchNormalization
from convolve.layers.pooling import AveragePooling2D, MaxPooling2D
from convolve.layers.symbolic import KerasTensor
from convolve.models.model import Model

__all__ = [
    "CustomScaleLayer",
    "InceptionResNetV2",
    "decode_predictions",
    "preprocess_input",
]

# Keras's pinned (MD5) hashes of the weight files: (with top, without).
_HASHES = ("e693bd0210a403b3192acc6073ad2e96", "d19885ff4a710c122648d3b5c3b684e4")


def weight_file(include_top: bool) -> WeightFile:
    """The published ImageNet weights (their layers are matched in order, not by name)."""
    suffix = "" if include_top else "_notop"
    fname = f"inception_resnet_v2_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    return WeightFile(
        fname, f"{KERAS_APPLICATIONS}inception_resnet_v2/{fname}", _HASHES[0 if include_top else 1]
    )


class CustomScaleLayer(Merge):
    """`inputs[0] + inputs[1] * scale`: the scaled residual addition of the blocks.

    Args:
        scale: the factor of the residual branch (the second input).

    Example:
        >>> import torch
        >>> layer = CustomScaleLayer(0.5)
        >>> layer([torch.ones(1, 2), torch.full((1, 2), 4.0)]).tolist()
        [[3.0, 3.0]]
    """

    _exact_inputs = 2

    def __init__(self, scale: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            raise ValueError(
                f"Layer '{self.name}' (CustomScaleLayer): `scale` must be a number. "
                f"Received: scale={scale!r}"
            )
        self.scale = scale

    def _merge(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        return tensors[0] + tensors[1] * self.scale

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale}


_builder.register_application_layer(CustomScaleLayer)


def conv2d_bn(
    x: KerasTensor,
    filters: int,
    kernel_size: int | Sequence[int],
    strides: int = 1,
    padding: str = "same",
    activation: str | None = "relu",
    use_bias: bool = False,
    name: str | None = None,
) -> KerasTensor:
    """A convolution, BN without scale unless the convolution has a bias, the activation.

    Unnamed (`name=None`) ones take automatic names (`conv2d_12`, ...), as in Keras.
    """
    x = Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, name=name
    )(x)
    if not use_bias:
        bn_name = None if name is None else f"{name}_bn"
        x = BatchNormalization(axis=3, scale=False, name=bn_name)(x)
    if activation is not None:
        x = Activation(activation, name=None if name is None else f"{name}_ac")(x)
    return x


def inception_resnet_block(
    x: KerasTensor, scale: float, block_type: str, block_idx: int, activation: str | None = "relu"
) -> KerasTensor:
    """An Inception-ResNet block (`"block35"`, `"block17"` or `"block8"`): parallel branches,
    concatenated, projected back by a 1x1 convolution, scaled and added to `x`."""
    if block_type == "block35":
        branch_0 = conv2d_bn(x, 32, 1)
        branch_1 = conv2d_bn(conv2d_bn(x, 32, 1), 32, 3)
        branch_2 = conv2d_bn(conv2d_bn(conv2d_bn(x, 32, 1), 48, 3), 64, 3)
        branches = [branch_0, branch_1, branch_2]
    elif block_type == "block17":
        branch_0 = conv2d_bn(x, 192, 1)
        branch_1 = conv2d_bn(conv2d_bn(conv2d_bn(x, 128, 1), 160, [1, 7]), 192, [7, 1])
        branches = [branch_0, branch_1]
    elif block_type == "block8":
        branch_0 = conv2d_bn(x, 192, 1)
        branch_1 = conv2d_bn(conv2d_bn(conv2d_bn(x, 192, 1), 224, [1, 3]), 256, [3, 1])
        branches = [branch_0, branch_1]
    else:
        raise ValueError(
            'Unknown Inception-ResNet block type. Expects "block35", "block17" or "block8", '
            f"but got: {block_type}"
        )
    block_name = f"{block_type}_{block_idx}"
    mixed = Concatenate(axis=3, name=f"{block_name}_mixed")(branches)
    up = conv2d_bn(mixed, x.shape[3], 1, activation=None, use_bias=True, name=f"{block_name}_conv")
    x = CustomScaleLayer(scale)([x, up])
    if activation is not None:
        x = Activation(activation, name=f"{block_name}_ac")(x)
    return x


def _body(img_input: KerasTensor) -> KerasTensor:
    """Stem, 10 x block35, reduction A, 20 x block17, reduction B, 10 x block8, `conv_7b`."""
    x = conv2d_bn(img_input, 32, 3, strides=2, padding="valid")
    x = conv2d_bn(x, 32, 3, padding="valid")
    x = conv2d_bn(x, 64, 3)
    x = MaxPooling2D(3, strides=2)(x)
    x = conv2d_bn(x, 80, 1, padding="valid")
    x = conv2d_bn(x, 192, 3, padding="valid")
    x = MaxPooling2D(3, strides=2)(x)

    branch_0 = conv2d_bn(x, 96, 1)
    branch_1 = conv2d_bn(conv2d_bn(x, 48, 1), 64, 5)
    branch_2 = conv2d_bn(conv2d_bn(conv2d_bn(x, 64, 1), 96, 3), 96, 3)
    branch_pool = conv2d_bn(AveragePooling2D(3, strides=1, padding="same")(x), 64, 1)
    x = Concatenate(axis=3, name="mixed_5b")([branch_0, branch_1, branch_2, branch_pool])
    for block_idx in range(1, 11):
        x = inception_resnet_block(x, scale=0.17, block_type="block35", block_idx=block_idx)

    branch_0 = conv2d_bn(x, 384, 3, strides=2, padding="valid")
    branch_1 = conv2d_bn(conv2d_bn(conv2d_bn(x, 256, 1), 256, 3), 384, 3, strides=2,
                         padding="valid")  # fmt: skip
    branch_pool = MaxPooling2D(3, strides=2, padding="valid")(x)
    x = Concatenate(axis=3, name="mixed_6a")([branch_0, branch_1, branch_pool])
    for block_idx in range(1, 21):
        x = inception_resnet_block(x, scale=0.1, block_type="block17", block_idx=block_idx)

    branch_0 = conv2d_bn(conv2d_bn(x, 256, 1), 384, 3, strides=2, padding="valid")
    branch_1 = conv2d_bn(conv2d_bn(x, 256, 1), 288, 3, strides=2, padding="valid")
    branch_2 = conv2d_bn(conv2d_bn(conv2d_bn(x, 256, 1), 288, 3), 320, 3, strides=2,
                         padding="valid")  # fmt: skip
    branch_pool = MaxPooling2D(3, strides=2, padding="valid")(x)
    x = Concatenate(axis=3, name="mixed_7a")([branch_0, branch_1, branch_2, branch_pool])
    for block_idx in range(1, 10):
        x = inception_resnet_block(x, scale=0.2, block_type="block8", block_idx=block_idx)
    x = inception_resnet_block(x, scale=1.0, activation=None, block_type="block8", block_idx=10)
    return conv2d_bn(x, 1536, 1, name="conv_7b")


def InceptionResNetV2(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "inception_resnet_v2",
) -> Model:
    return _builder.build(
        _body, weight_file(include_top), default_size=299, min_size=75, in_order=True,
        include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, name=name,
    )  # fmt: skip


InceptionResNetV2.__doc__ = _builder.builder_doc(
    "The InceptionResNetV2 network: 40 Inception-ResNet blocks between a stem and two\n"
    "    reduction modules.\n\n"
    "    Keras's weight files name most layers as Keras 1 did automatically; they are\n"
    "    matched to the model's layers in order, as Keras does.",
    "inception_resnet_v2",
    min_size=75,
    default_size=299,
    example="""
    Example:
        >>> from convolve.applications import InceptionResNetV2
        >>> model = InceptionResNetV2(weights=None, include_top=False, input_shape=(75, 75, 3))
        >>> model.output_shape, model.count_params()
        ((None, 1, 1, 1536), 54336736)
""",
)

preprocess_input = imagenet_utils.preprocess_tf
decode_predictions = imagenet_utils.decode_predictions
