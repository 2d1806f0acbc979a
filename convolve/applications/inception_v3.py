"""InceptionV3 (Szegedy et al., CVPR 2016), as `keras.applications` builds it: inception
modules of parallel 1x1, factorized 3x3/7x7 and pooling branches, concatenated."""

from __future__ import annotations

from typing import Any

from convolve.applications import _builder, imagenet_utils
from convolve.applications.weights import KERAS_APPLICATIONS, WeightFile
from convolve.layers.convolution import Conv2D
from convolve.layers.core import Activation
from convolve.layers.merging import Concatenate
from convolve.layers.normalization import BatchNormalization
from convolve.layers.pooling import AveragePooling2D, MaxPooling2D
from convolve.layers.symbolic import KerasTensor
from convolve.models.model import Model

__all__ = ["InceptionV3", "decode_predictions", "preprocess_input"]

# Keras's pinned (MD5) hashes of the weight files: (with top, without).
_HASHES = ("9a0d58056eeedaa3f26cb7ebd46da564", "bcbd6486424b2319ff4ef7d526e38f63")


def weight_file(include_top: bool) -> WeightFile:
    """The published ImageNet weights (their layers are matched in order, not by name)."""
    suffix = "" if include_top else "_notop"
    fname = f"inception_v3_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    return WeightFile(
        fname, f"{KERAS_APPLICATIONS}inception_v3/{fname}", _HASHES[0 if include_top else 1]
    )


def conv2d_bn(
    x: KerasTensor,
    filters: int,
    num_row: int,
    num_col: int,
    padding: str = "same",
    strides: tuple[int, int] = (1, 1),
) -> KerasTensor:
    """A `num_row` x `num_col` convolution without bias, BN without scale (ReLU follows), ReLU.

    Keras names none of these layers: they take automatic names (`conv2d_12`, ...).
    """
    x = Conv2D(filters, (num_row, num_col), strides=strides, padding=padding, use_bias=False)(x)
    x = BatchNormalization(axis=3, scale=False)(x)
    return Activation("relu")(x)


def _pool_branch(x: KerasTensor, filters: int) -> KerasTensor:
    branch = AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x)
    return conv2d_bn(branch, filters, 1, 1)


def _double_3x3(x: KerasTensor, strides: tuple[int, int] = (1, 1)) -> KerasTensor:
    """1x1 to 64, then two 3x3 to 96 (the second one strided and unpadded if `strides`)."""
    branch = conv2d_bn(x, 64, 1, 1)
    branch = conv2d_bn(branch, 96, 3, 3)
    padding = "same" if strides == (1, 1) else "valid"
    return conv2d_bn(branch, 96, 3, 3, strides=strides, padding=padding)


def _factorized_7x7(
    x: KerasTensor, filters: int, kernels: tuple[tuple[int, int], ...]
) -> KerasTensor:
    """A 1x1 to `filters`, then 1x7 / 7x1 convolutions, the last one to 192 filters."""
    branch = conv2d_bn(x, filters, 1, 1)
    for i, (rows, cols) in enumerate(kernels):
        branch = conv2d_bn(branch, 192 if i == len(kernels) - 1 else filters, rows, cols)
    return branch


def block_35(x: KerasTensor, pool_filters: int, name: str) -> KerasTensor:
    """The 35x35 module (`mixed0` to `mixed2`): 1x1, 5x5, double 3x3 and pooling branches."""
    branch1x1 = conv2d_bn(x, 64, 1, 1)
    branch5x5 = conv2d_bn(x, 48, 1, 1)
    branch5x5 = conv2d_bn(branch5x5, 64, 5, 5)
    branch3x3dbl = _double_3x3(x)
    branch_pool = _pool_branch(x, pool_filters)
    return Concatenate(axis=3, name=name)([branch1x1, branch5x5, branch3x3dbl, branch_pool])


def reduction_35(x: KerasTensor) -> KerasTensor:
    """`mixed3`: from 35x35 to 17x17 with strided 3x3 branches and max pooling."""
    branch3x3 = conv2d_bn(x, 384, 3, 3, strides=(2, 2), padding="valid")
    branch3x3dbl = _double_3x3(x, strides=(2, 2))
    branch_pool = MaxPooling2D((3, 3), strides=(2, 2))(x)
    return Concatenate(axis=3, name="mixed3")([branch3x3, branch3x3dbl, branch_pool])


def block_17(x: KerasTensor, filters: int, name: str) -> KerasTensor:
    """The 17x17 module (`mixed4` to `mixed7`): 1x1, 7x7 and double 7x7 factorized into
    1x7 and 7x1 convolutions of `filters` channels, and pooling."""
    branch1x1 = conv2d_bn(x, 192, 1, 1)
    branch7x7 = _factorized_7x7(x, filters, ((1, 7), (7, 1)))
    branch7x7dbl = _factorized_7x7(x, filters, ((7, 1), (1, 7), (7, 1), (1, 7)))
    branch_pool = _pool_branch(x, 192)
    return Concatenate(axis=3, name=name)([branch1x1, branch7x7, branch7x7dbl, branch_pool])


def reduction_17(x: KerasTensor) -> KerasTensor:
    """`mixed8`: from 17x17 to 8x8."""
    branch3x3 = conv2d_bn(x, 192, 1, 1)
    branch3x3 = conv2d_bn(branch3x3, 320, 3, 3, strides=(2, 2), padding="valid")
    branch7x7x3 = _factorized_7x7(x, 192, ((1, 7), (7, 1)))
    branch7x7x3 = conv2d_bn(branch7x7x3, 192, 3, 3, strides=(2, 2), padding="valid")
    branch_pool = MaxPooling2D((3, 3), strides=(2, 2))(x)
    return Concatenate(axis=3, name="mixed8")([branch3x3, branch7x7x3, branch_pool])


def _split_1x3_3x1(x: KerasTensor, name: str | None) -> KerasTensor:
    """Parallel 1x3 and 3x1 convolutions of 384 filters, concatenated."""
    branch_1 = conv2d_bn(x, 384, 1, 3)
    branch_2 = conv2d_bn(x, 384, 3, 1)
    return Concatenate(axis=3, name=name)([branch_1, branch_2])


def block_8(x: KerasTensor, index: int) -> KerasTensor:
    """The 8x8 module (`mixed9`, `mixed10`), with its 3x3 convolutions split in 1x3 and 3x1."""
    branch1x1 = conv2d_bn(x, 320, 1, 1)
    branch3x3 = _split_1x3_3x1(conv2d_bn(x, 384, 1, 1), f"mixed9_{index}")
    branch3x3dbl = conv2d_bn(x, 448, 1, 1)
    branch3x3dbl = _split_1x3_3x1(conv2d_bn(branch3x3dbl, 384, 3, 3), None)
    branch_pool = _pool_branch(x, 192)
    return Concatenate(axis=3, name=f"mixed{9 + index}")(
        [branch1x1, branch3x3, branch3x3dbl, branch_pool]
    )


def _inception_body(img_input: KerasTensor) -> KerasTensor:
    """The stem, then the 35x35, 17x17 and 8x8 modules with the two reductions between."""
    x = conv2d_bn(img_input, 32, 3, 3, strides=(2, 2), padding="valid")
    x = conv2d_bn(x, 32, 3, 3, padding="valid")
    x = conv2d_bn(x, 64, 3, 3)
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = conv2d_bn(x, 80, 1, 1, padding="valid")
    x = conv2d_bn(x, 192, 3, 3, padding="valid")
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)
    for i, pool_filters in enumerate((32, 64, 64)):
        x = block_35(x, pool_filters, f"mixed{i}")
    x = reduction_35(x)
    for i, filters in enumerate((128, 160, 160, 192)):
        x = block_17(x, filters, f"mixed{4 + i}")
    x = reduction_17(x)
    for index in (0, 1):
        x = block_8(x, index)
    return x


def InceptionV3(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "inception_v3",
) -> Model:
    return _builder.build(
        _inception_body, weight_file(include_top), default_size=299, min_size=75, in_order=True,
        include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, name=name,
    )  # fmt: skip


InceptionV3.__doc__ = _builder.builder_doc(
    "The InceptionV3 network: a convolutional stem, then 11 inception modules.\n\n"
    "    Most layers have automatic names, which differ from those in Keras's weight files;\n"
    "    the files' layers are matched to the model's in order, as Keras does.",
    "inception_v3",
    min_size=75,
    default_size=299,
    example="""
    Example:
        >>> from convolve.applications import InceptionV3
        >>> model = InceptionV3(weights=None, include_top=False, input_shape=(75, 75, 3))
        >>> model.output_shape, model.count_params()
        ((None, 1, 1, 2048), 21802784)
""",
)

preprocess_input = imagenet_utils.preprocess_tf
decode_predictions = imagenet_utils.decode_predictions
