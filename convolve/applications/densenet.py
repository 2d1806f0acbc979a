"""DenseNet121, DenseNet169 and DenseNet201 (Huang et al., CVPR 2017), as
`keras.applications` builds them: dense blocks whose layers each see the concatenated outputs
of all the layers before them."""

from __future__ import annotations

from typing import Any

from convolve.applications import _builder, imagenet_utils
from convolve.applications.weights import KERAS_APPLICATIONS, WeightFile
from convolve.layers.convolution import Conv2D
from convolve.layers.core import Activation
from convolve.layers.merging import Concatenate
from convolve.layers.normalization import BatchNormalization
from convolve.layers.pooling import AveragePooling2D, GlobalAveragePooling2D, MaxPooling2D
from convolve.layers.reshaping import ZeroPadding2D
from convolve.layers.symbolic import KerasTensor
from convolve.models.model import Model

__all__ = [
    "DenseNet121",
    "DenseNet169",
    "DenseNet201",
    "decode_predictions",
    "preprocess_input",
]

_EPSILON = 1.001e-5
# Blocks per dense block -> (family, Keras's pinned (MD5) hashes: with top, without).
_CONFIGS = {
    (6, 12, 24, 16): (
        "densenet121",
        ("9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    ),
    (6, 12, 32, 32): (
        "densenet169",
        ("d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    ),
    (6, 12, 48, 32): (
        "densenet201",
        ("1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
    ),
}


def weight_file(blocks: tuple[int, ...], include_top: bool) -> WeightFile:
    """The published ImageNet weights of the DenseNet with `blocks` layers per dense block."""
    if tuple(blocks) not in _CONFIGS:
        raise ValueError(f"No ImageNet weights are published for DenseNet blocks={blocks}")
    family, (top_hash, notop_hash) = _CONFIGS[tuple(blocks)]
    fname = f"{family}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    return WeightFile(
        fname, f"{KERAS_APPLICATIONS}densenet/{fname}", top_hash if include_top else notop_hash
    )


def _bn(name: str) -> BatchNormalization:
    return BatchNormalization(axis=3, epsilon=_EPSILON, name=name)


def dense_block(x: KerasTensor, blocks: int, name: str) -> KerasTensor:
    """`blocks` conv blocks, each adding 32 channels."""
    for i in range(blocks):
        x = conv_block(x, 32, name=f"{name}_block{i + 1}")
    return x


def transition_block(x: KerasTensor, reduction: float, name: str) -> KerasTensor:
    """BN, ReLU, a 1x1 convolution to `reduction` times the channels, 2x2 average pooling."""
    x = _bn(f"{name}_bn")(x)
    x = Activation("relu", name=f"{name}_relu")(x)
    x = Conv2D(int(x.shape[3] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def conv_block(x: KerasTensor, growth_rate: int, name: str) -> KerasTensor:
    """BN-ReLU-1x1 conv, BN-ReLU-3x3 conv to `growth_rate` channels, concatenated to `x`."""
    x1 = _bn(f"{name}_0_bn")(x)
    x1 = Activation("relu", name=f"{name}_0_relu")(x1)
    x1 = Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(x1)
    x1 = _bn(f"{name}_1_bn")(x1)
    x1 = Activation("relu", name=f"{name}_1_relu")(x1)
    x1 = Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(x1)
    return Concatenate(axis=3, name=f"{name}_concat")([x, x1])


def DenseNet(  # noqa: N802 - Keras's public name
    blocks: list[int] | tuple[int, ...],
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "densenet",
) -> Model:
    """A DenseNet with `blocks[i]` conv blocks in dense block `i` (see `DenseNet121`)."""
    _builder.check_arguments(weights, include_top, classes, pooling, classifier_activation)
    file = weight_file(blocks, include_top) if weights == "imagenet" else None
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=224, min_size=32, require_flatten=include_top, weights=weights
    )
    img_input = _builder.image_input(input_tensor, input_shape)
    x = ZeroPadding2D(padding=((3, 3), (3, 3)))(img_input)
    x = Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = _bn("conv1_bn")(x)
    x = Activation("relu", name="conv1_relu")(x)
    x = ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, count in enumerate(blocks):
        x = dense_block(x, count, name=f"conv{stage + 2}")
        if stage < len(blocks) - 1:
            x = transition_block(x, 0.5, name=f"pool{stage + 2}")
    x = _bn("bn")(x)
    x = Activation("relu", name="relu")(x)
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        x = _builder.classifier(x, classes, classifier_activation)
    else:
        x = _builder.pool(x, pooling, "avg_pool", "max_pool")
    return _builder.finish(img_input, input_tensor, x, name, weights, file)


def DenseNet121(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "densenet121",
) -> Model:
    """The DenseNet121 network: dense blocks of 6, 12, 24 and 16 layers.

    Call `convolve.applications.densenet.preprocess_input` on images (values in [0, 255])
    first: it scales them to [0, 1] and standardizes each channel with ImageNet statistics.

    Args:
        include_top: include the classifier (global average pooling and `predictions`).
        weights: None (random initialization), `"imagenet"` (download Keras's ImageNet
            weights into the cache, see `convolve.applications.weights`), or the path of a
            Keras `.h5` weights file.
        input_tensor: a symbolic tensor (output of `convolve.Input()`) to use as the input.
        input_shape: the input shape, `(height, width, 3)`, at least 32x32. With
            `include_top=True` and ImageNet weights it must be `(224, 224, 3)`.
        pooling: for `include_top=False`: None (4D output), `"avg"` or `"max"`.
        classes: the number of classes of the classifier; 1000 with ImageNet weights.
        classifier_activation: the activation of `predictions`; None gives logits. With
            pretrained weights only None or `"softmax"`.
        name: the model's name.

    Returns:
        A functional `Model`.

    Example:
        >>> from convolve.applications import DenseNet121
        >>> DenseNet121(weights=None, include_top=False, input_shape=(64, 64, 3)).output_shape
        (None, 2, 2, 1024)
    """
    return DenseNet(
        [6, 12, 24, 16], include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name=name,
    )  # fmt: skip


def DenseNet169(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "densenet169",
) -> Model:
    return DenseNet(
        [6, 12, 32, 32], include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name=name,
    )  # fmt: skip


def DenseNet201(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "densenet201",
) -> Model:
    return DenseNet(
        [6, 12, 48, 32], include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name=name,
    )  # fmt: skip


def _variant_doc(blocks: str, example: str) -> str:
    doc = DenseNet121.__doc__ or ""
    doc = doc.replace("The DenseNet121 network: dense blocks of 6, 12, 24 and 16 layers.", blocks)
    return doc[: doc.index("    Example:")] + example


DenseNet169.__doc__ = _variant_doc(
    "The DenseNet169 network: dense blocks of 6, 12, 32 and 32 layers.",
    """    Example:
        >>> from convolve.applications import DenseNet169
        >>> DenseNet169(weights=None, include_top=False, input_shape=(32, 32, 3)).output_shape
        (None, 1, 1, 1664)
""",
)
DenseNet201.__doc__ = _variant_doc(
    "The DenseNet201 network: dense blocks of 6, 12, 48 and 32 layers.",
    """    Example:
        >>> from convolve.applications import DenseNet201
        >>> DenseNet201(weights=None, include_top=False, input_shape=(32, 32, 3)).output_shape
        (None, 1, 1, 1920)
""",
)

preprocess_input = imagenet_utils.preprocess_torch
decode_predictions = imagenet_utils.decode_predictions
