"""EfficientNetB0 to B7 (Tan & Le, ICML 2019), as `keras.applications` builds it: MBConv blocks
with squeeze-and-excitation and swish, and the input normalization inside the model."""

from __future__ import annotations

import copy
import math
from typing import Any

from convolve.applications import _builder, imagenet_utils
from convolve.applications.weights import WeightFile
from convolve.layers.convolution import Conv2D
from convolve.layers.convolution_variants import DepthwiseConv2D
from convolve.layers.core import Activation, Dropout, Reshape
from convolve.layers.merging import Add, Multiply
from convolve.layers.normalization import BatchNormalization
from convolve.layers.pooling import GlobalAveragePooling2D
from convolve.layers.preprocessing import Normalization, Rescaling
from convolve.layers.reshaping import ZeroPadding2D
from convolve.layers.symbolic import KerasTensor
from convolve.models.model import Model

__all__ = [
    "EfficientNetB0",
    "EfficientNetB1",
    "EfficientNetB2",
    "EfficientNetB3",
    "EfficientNetB4",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
    "decode_predictions",
    "preprocess_input",
]

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/keras-applications/"
# Keras's pinned (MD5) hashes of the weight files: (with top, without).
WEIGHTS_HASHES = {
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}
# (width coefficient, depth coefficient, default size, dropout rate) of B0 to B7.
SCALING = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
}
IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)

# One dict per stage: the blocks' arguments and how often the block repeats.
DEFAULT_BLOCKS_ARGS: tuple[dict[str, Any], ...] = tuple(
    {
        "kernel_size": k, "repeats": r, "filters_in": i, "filters_out": o,
        "expand_ratio": e, "id_skip": True, "strides": s, "se_ratio": 0.25,
    }
    for k, r, i, o, e, s in (
        (3, 1, 32, 16, 1, 1),
        (3, 2, 16, 24, 6, 2),
        (5, 2, 24, 40, 6, 2),
        (3, 3, 40, 80, 6, 2),
        (5, 3, 80, 112, 6, 1),
        (5, 4, 112, 192, 6, 2),
        (3, 1, 192, 320, 6, 1),
    )
)  # fmt: skip

CONV_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
DENSE_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"},
}


def weight_file(weights_name: str, include_top: bool) -> WeightFile:
    """The published ImageNet weights of `efficientnet{weights_name}` (e.g. `"b0"`)."""
    top_hash, notop_hash = WEIGHTS_HASHES[weights_name]
    fname = f"efficientnet{weights_name}{'' if include_top else '_notop'}.h5"
    return WeightFile(fname, BASE_WEIGHTS_PATH + fname, top_hash if include_top else notop_hash)


def _conv(filters: int, kernel_size: int, padding: str = "same", **kwargs: Any) -> Conv2D:
    return Conv2D(
        filters, kernel_size, padding=padding, kernel_initializer=CONV_KERNEL_INITIALIZER, **kwargs
    )


def block(
    inputs: KerasTensor,
    activation: str = "swish",
    drop_rate: float = 0.0,
    name: str = "",
    filters_in: int = 32,
    filters_out: int = 16,
    kernel_size: int = 3,
    strides: int = 1,
    expand_ratio: int = 1,
    se_ratio: float = 0.0,
    id_skip: bool = True,
) -> KerasTensor:
    """An inverted residual (MBConv) block with optional squeeze-and-excitation."""
    filters = filters_in * expand_ratio
    if expand_ratio != 1:
        x = _conv(filters, 1, use_bias=False, name=f"{name}expand_conv")(inputs)
        x = BatchNormalization(axis=3, name=f"{name}expand_bn")(x)
        x = Activation(activation, name=f"{name}expand_activation")(x)
    else:
        x = inputs
    if strides == 2:
        padding = imagenet_utils.correct_pad(x, kernel_size)
        x = ZeroPadding2D(padding=padding, name=f"{name}dwconv_pad")(x)
        conv_pad = "valid"
    else:
        conv_pad = "same"
    x = DepthwiseConv2D(
        kernel_size, strides=strides, padding=conv_pad, use_bias=False,
        depthwise_initializer=CONV_KERNEL_INITIALIZER, name=f"{name}dwconv",
    )(x)  # fmt: skip
    x = BatchNormalization(axis=3, name=f"{name}bn")(x)
    x = Activation(activation, name=f"{name}activation")(x)
    if 0 < se_ratio <= 1:
        filters_se = max(1, int(filters_in * se_ratio))
        se = GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
        se = Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
        se = _conv(filters_se, 1, activation=activation, name=f"{name}se_reduce")(se)
        se = _conv(filters, 1, activation="sigmoid", name=f"{name}se_expand")(se)
        x = Multiply(name=f"{name}se_excite")([x, se])
    x = _conv(filters_out, 1, use_bias=False, name=f"{name}project_conv")(x)
    x = BatchNormalization(axis=3, name=f"{name}project_bn")(x)
    if id_skip and strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = Add(name=f"{name}add")([x, inputs])
    return x


def EfficientNet(  # noqa: N802 - Keras's public name
    width_coefficient: float,
    depth_coefficient: float,
    default_size: int,
    dropout_rate: float = 0.2,
    drop_connect_rate: float = 0.2,
    depth_divisor: int = 8,
    activation: str = "swish",
    blocks_args: Any = "default",
    name: str = "efficientnet",
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    weights_name: str | None = None,
) -> Model:
    """The EfficientNet family, scaled by width and depth coefficients (see `EfficientNetB0`).

    Args:
        width_coefficient: scales the number of filters.
        depth_coefficient: scales the number of blocks.
        default_size: the default input height and width.
        dropout_rate: dropout before the classifier.
        drop_connect_rate: the largest rate of the per-block stochastic depth, reached by
            the last block (earlier blocks drop less, linearly).
        depth_divisor: filter counts are rounded to multiples of it.
        activation: the activation of the blocks.
        blocks_args: `"default"` or a list of block argument dicts like
            `DEFAULT_BLOCKS_ARGS`.
        name: the model's name.
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation: as for `EfficientNetB0`.
        weights_name: which published weights to load for `weights="imagenet"` (`"b0"`).
    """
    if blocks_args == "default":
        blocks_args = DEFAULT_BLOCKS_ARGS
    _builder.check_arguments(weights, include_top, classes, pooling, classifier_activation)
    if weights == "imagenet" and weights_name not in WEIGHTS_HASHES:
        raise ValueError(
            f"No ImageNet weights are published for weights_name={weights_name!r}; "
            f"available: {', '.join(WEIGHTS_HASHES)}"
        )
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=default_size, min_size=32, require_flatten=include_top,
        weights=weights,
    )  # fmt: skip
    img_input = _builder.image_input(input_tensor, input_shape)

    def round_filters(filters: float, divisor: int = depth_divisor) -> int:
        filters *= width_coefficient
        new_filters = max(divisor, int(filters + divisor / 2) // divisor * divisor)
        if new_filters < 0.9 * filters:  # never round down by more than 10%
            new_filters += divisor
        return int(new_filters)

    def round_repeats(repeats: int) -> int:
        return int(math.ceil(depth_coefficient * repeats))

    x = Rescaling(1.0 / 255.0)(img_input)
    x = Normalization(axis=3)(x)
    if weights == "imagenet":
        # The published weights hold the ImageNet variance where the original divides by
        # it, i.e. by the square of the standard deviation: divide by sqrt(std) once more.
        x = Rescaling([1.0 / math.sqrt(std) for std in IMAGENET_STDDEV_RGB])(x)
    x = ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name="stem_conv_pad")(x)
    x = _conv(round_filters(32), 3, strides=2, padding="valid", use_bias=False, name="stem_conv")(x)
    x = BatchNormalization(axis=3, name="stem_bn")(x)
    x = Activation(activation, name="stem_activation")(x)

    blocks_args = copy.deepcopy(list(blocks_args))
    b = 0
    blocks = float(sum(round_repeats(args["repeats"]) for args in blocks_args))
    for i, args in enumerate(blocks_args):
        if args["repeats"] <= 0:
            raise ValueError(
                "The number of repeats in `EfficientNet` must be > 0. "
                f"Received: repeats={args['repeats']}"
            )
        args["filters_in"] = round_filters(args["filters_in"])
        args["filters_out"] = round_filters(args["filters_out"])
        for j in range(round_repeats(args.pop("repeats"))):
            if j > 0:  # only the first block of a stage strides and changes width
                args["strides"] = 1
                args["filters_in"] = args["filters_out"]
            x = block(
                x, activation, drop_connect_rate * b / blocks, name=f"block{i + 1}{chr(j + 97)}_",
                **args,
            )  # fmt: skip
            b += 1

    x = _conv(round_filters(1280), 1, use_bias=False, name="top_conv")(x)
    x = BatchNormalization(axis=3, name="top_bn")(x)
    x = Activation(activation, name="top_activation")(x)
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = Dropout(dropout_rate, name="top_dropout")(x)
        x = _builder.classifier(
            x, classes, classifier_activation, kernel_initializer=DENSE_KERNEL_INITIALIZER
        )
    else:
        x = _builder.pool(x, pooling, "avg_pool", "max_pool")
    file = weight_file(weights_name, include_top) if weights == "imagenet" else None
    return _builder.finish(img_input, input_tensor, x, name, weights, file)


def _scaled(
    variant: str,
    name: str,
    include_top: bool,
    weights: Any,
    input_tensor: Any,
    input_shape: tuple | None,
    pooling: str | None,
    classes: int,
    classifier_activation: Any,
) -> Model:
    width, depth, size, dropout = SCALING[variant]
    return EfficientNet(
        width, depth, size, dropout, name=name, include_top=include_top, weights=weights,
        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, weights_name=variant,
    )  # fmt: skip


def EfficientNetB0(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "efficientnetb0",
) -> Model:
    """The EfficientNetB0 network (224x224 by default).

    The model normalizes its input itself (`Rescaling` and `Normalization` layers): give it
    float images with values in [0, 255]; `efficientnet.preprocess_input` passes them through.

    Args:
        include_top: include the classifier (pooling, dropout and `predictions`).
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
        >>> from convolve.applications import EfficientNetB0
        >>> EfficientNetB0(weights=None, include_top=False, input_shape=(32, 32, 3)).output_shape
        (None, 1, 1, 1280)
    """
    return _scaled(
        "b0", name, include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation,
    )  # fmt: skip


def EfficientNetB1(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "efficientnetb1",
) -> Model:
    return _scaled(
        "b1", name, include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation,
    )  # fmt: skip


def EfficientNetB2(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "efficientnetb2",
) -> Model:
    return _scaled(
        "b2", name, include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation,
    )  # fmt: skip


def EfficientNetB3(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "efficientnetb3",
) -> Model:
    return _scaled(
        "b3", name, include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation,
    )  # fmt: skip


def EfficientNetB4(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "efficientnetb4",
) -> Model:
    return _scaled(
        "b4", name, include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation,
    )  # fmt: skip


def EfficientNetB5(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "efficientnetb5",
) -> Model:
    return _scaled(
        "b5", name, include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation,
    )  # fmt: skip


def EfficientNetB6(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "efficientnetb6",
) -> Model:
    return _scaled(
        "b6", name, include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation,
    )  # fmt: skip


def EfficientNetB7(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "efficientnetb7",
) -> Model:
    return _scaled(
        "b7", name, include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation,
    )  # fmt: skip


def _variant_doc(variant: str, example: str) -> str:
    size = SCALING[variant][2]
    doc = (EfficientNetB0.__doc__ or "").replace(
        "B0 network (224x224", f"{variant.upper()} network ({size}x{size}"
    )
    doc = doc.replace("must be `(224, 224, 3)`", f"must be `({size}, {size}, 3)`")
    return doc[: doc.index("    Example:")] + example


_EXAMPLE = """    Example:
        >>> from convolve.applications import {name}
        >>> {name}(weights=None, include_top=False, input_shape=(32, 32, 3)).output_shape
        (None, 1, 1, {features})
"""
for _model, _features in (
    (EfficientNetB1, 1280),
    (EfficientNetB2, 1408),
    (EfficientNetB3, 1536),
    (EfficientNetB4, 1792),
    (EfficientNetB5, 2048),
    (EfficientNetB6, 2304),
    (EfficientNetB7, 2560),
):
    _name = _model.__name__
    _model.__doc__ = _variant_doc(
        _name[-2:].lower(), _EXAMPLE.format(name=_name, features=_features)
    )
del _model, _features, _name


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """Returns `x` unchanged: EfficientNet normalizes its input inside the model.

    Example:
        >>> from convolve.applications import efficientnet
        >>> efficientnet.preprocess_input([255.0])
        [255.0]
    """
    return x


decode_predictions = imagenet_utils.decode_predictions
