"""EfficientNetV2B0 to B3, S, M and L (Tan & Le, ICML 2021), as `keras.applications` builds
them: fused MBConv blocks in the early stages, MBConv blocks with squeeze-and-excitation in
the later ones, and the input scaling inside the model."""

from __future__ import annotations

import copy
import math
from typing import Any

from convolve.applications import _builder, imagenet_utils
from convolve.applications.weights import KERAS_APPLICATIONS, WeightFile
from convolve.initializers import Constant
from convolve.layers.convolution import Conv2D
from convolve.layers.convolution_variants import DepthwiseConv2D
from convolve.layers.core import Activation, Dense, Dropout, Reshape
from convolve.layers.merging import Add, Multiply
from convolve.layers.normalization import BatchNormalization
from convolve.layers.pooling import GlobalAveragePooling2D
from convolve.layers.preprocessing import Normalization, Rescaling
from convolve.layers.symbolic import KerasTensor
from convolve.models.model import Model

__all__ = [
    "EfficientNetV2B0",
    "EfficientNetV2B1",
    "EfficientNetV2B2",
    "EfficientNetV2B3",
    "EfficientNetV2L",
    "EfficientNetV2M",
    "EfficientNetV2S",
    "decode_predictions",
    "preprocess_input",
]

# Keras's pinned (MD5) hashes of the weight files: (with top, without).
WEIGHTS_HASHES = {
    "b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "-s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "-m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "-l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}


def _stages(*rows: tuple) -> list[dict[str, Any]]:
    """Block arguments from rows (kernel, repeats, in, out, expand, se, strides, fused)."""
    return [
        {
            "kernel_size": k, "num_repeat": r, "input_filters": i, "output_filters": o,
            "expand_ratio": e, "se_ratio": se, "strides": s, "conv_type": c,
        }
        for k, r, i, o, e, se, s, c in rows
    ]  # fmt: skip


_B = _stages(
    (3, 1, 32, 16, 1, 0, 1, 1),
    (3, 2, 16, 32, 4, 0, 2, 1),
    (3, 2, 32, 48, 4, 0, 2, 1),
    (3, 3, 48, 96, 4, 0.25, 2, 0),
    (3, 5, 96, 112, 6, 0.25, 1, 0),
    (3, 8, 112, 192, 6, 0.25, 2, 0),
)
# The stages of each model, keyed by the model name, as Keras keys them.
DEFAULT_BLOCKS_ARGS: dict[str, list[dict[str, Any]]] = {
    "efficientnetv2-s": _stages(
        (3, 2, 24, 24, 1, 0.0, 1, 1),
        (3, 4, 24, 48, 4, 0.0, 2, 1),
        (3, 4, 48, 64, 4, 0, 2, 1),
        (3, 6, 64, 128, 4, 0.25, 2, 0),
        (3, 9, 128, 160, 6, 0.25, 1, 0),
        (3, 15, 160, 256, 6, 0.25, 2, 0),
    ),
    "efficientnetv2-m": _stages(
        (3, 3, 24, 24, 1, 0, 1, 1),
        (3, 5, 24, 48, 4, 0, 2, 1),
        (3, 5, 48, 80, 4, 0, 2, 1),
        (3, 7, 80, 160, 4, 0.25, 2, 0),
        (3, 14, 160, 176, 6, 0.25, 1, 0),
        (3, 18, 176, 304, 6, 0.25, 2, 0),
        (3, 5, 304, 512, 6, 0.25, 1, 0),
    ),
    "efficientnetv2-l": _stages(
        (3, 4, 32, 32, 1, 0, 1, 1),
        (3, 7, 32, 64, 4, 0, 2, 1),
        (3, 7, 64, 96, 4, 0, 2, 1),
        (3, 10, 96, 192, 4, 0.25, 2, 0),
        (3, 19, 192, 224, 6, 0.25, 1, 0),
        (3, 25, 224, 384, 6, 0.25, 2, 0),
        (3, 7, 384, 640, 6, 0.25, 1, 0),
    ),
    "efficientnetv2-b0": _B,
    "efficientnetv2-b1": _B,
    "efficientnetv2-b2": _B,
    "efficientnetv2-b3": _B,
}
# (width coefficient, depth coefficient, default size) of each published variant.
SCALING = {
    "b0": (1.0, 1.0, 224),
    "b1": (1.0, 1.1, 240),
    "b2": (1.1, 1.2, 260),
    "b3": (1.2, 1.4, 300),
    "-s": (1.0, 1.0, 384),
    "-m": (1.0, 1.0, 480),
    "-l": (1.0, 1.0, 480),
}

CONV_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
DENSE_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"},
}


def weight_file(name: str, weights_name: str, include_top: bool) -> WeightFile:
    """The published ImageNet weights, named after the model (`efficientnetv2-b0.h5`), as
    Keras names them."""
    fname = name + (".h5" if include_top else "_notop.h5")
    file_hash = WEIGHTS_HASHES[weights_name][0 if include_top else 1]
    return WeightFile(fname, f"{KERAS_APPLICATIONS}efficientnet_v2/{fname}", file_hash)


def round_filters(filters: float, width_coefficient: float, min_depth: int | None,
                  depth_divisor: int) -> int:  # fmt: skip
    """`filters` scaled by `width_coefficient`, rounded to a multiple of `depth_divisor`."""
    filters *= width_coefficient
    minimum_depth = min_depth or depth_divisor
    return int(
        max(minimum_depth, int(filters + depth_divisor / 2) // depth_divisor * depth_divisor)
    )


def round_repeats(repeats: int, depth_coefficient: float) -> int:
    return int(math.ceil(depth_coefficient * repeats))


def _conv(filters: int, kernel_size: int, **kwargs: Any) -> Conv2D:
    return Conv2D(
        filters, kernel_size, kernel_initializer=CONV_KERNEL_INITIALIZER, padding="same", **kwargs
    )


def _se(x: KerasTensor, input_filters: int, filters: int, se_ratio: float, activation: str,
        name: str) -> KerasTensor:  # fmt: skip
    filters_se = max(1, int(input_filters * se_ratio))
    se = GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    se = Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
    se = _conv(filters_se, 1, activation=activation, name=f"{name}se_reduce")(se)
    se = _conv(filters, 1, activation="sigmoid", name=f"{name}se_expand")(se)
    return Multiply(name=f"{name}se_excite")([x, se])


def _residual(x: KerasTensor, inputs: KerasTensor, rate: float, name: str) -> KerasTensor:
    if rate:
        x = Dropout(rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
    return Add(name=f"{name}add")([x, inputs])


def mb_conv_block(
    inputs: KerasTensor,
    input_filters: int,
    output_filters: int,
    expand_ratio: int = 1,
    kernel_size: int = 3,
    strides: int = 1,
    se_ratio: float = 0.0,
    bn_momentum: float = 0.9,
    activation: str = "swish",
    survival_probability: float = 0.8,
    name: str = "",
) -> KerasTensor:
    """Expand (1x1), depthwise, optional squeeze-excite, project (1x1); residual when the
    shape allows (with per-sample dropout at rate `survival_probability`, as Keras names it)."""
    filters = input_filters * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = _conv(filters, 1, strides=1, use_bias=False, name=f"{name}expand_conv")(x)
        x = BatchNormalization(axis=3, momentum=bn_momentum, name=f"{name}expand_bn")(x)
        x = Activation(activation, name=f"{name}expand_activation")(x)
    x = DepthwiseConv2D(
        kernel_size=kernel_size, strides=strides, depthwise_initializer=CONV_KERNEL_INITIALIZER,
        padding="same", use_bias=False, name=f"{name}dwconv2",
    )(x)  # fmt: skip
    x = BatchNormalization(axis=3, momentum=bn_momentum, name=f"{name}bn")(x)
    x = Activation(activation, name=f"{name}activation")(x)
    if 0 < se_ratio <= 1:
        x = _se(x, input_filters, filters, se_ratio, activation, name)
    x = _conv(output_filters, 1, strides=1, use_bias=False, name=f"{name}project_conv")(x)
    x = BatchNormalization(axis=3, momentum=bn_momentum, name=f"{name}project_bn")(x)
    if strides == 1 and input_filters == output_filters:
        x = _residual(x, inputs, survival_probability, name)
    return x


def fused_mb_conv_block(
    inputs: KerasTensor,
    input_filters: int,
    output_filters: int,
    expand_ratio: int = 1,
    kernel_size: int = 3,
    strides: int = 1,
    se_ratio: float = 0.0,
    bn_momentum: float = 0.9,
    activation: str = "swish",
    survival_probability: float = 0.8,
    name: str = "",
) -> KerasTensor:
    """A full convolution in place of expand and depthwise, then as `mb_conv_block`."""
    filters = input_filters * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = _conv(filters, kernel_size, strides=strides, use_bias=False,
                  name=f"{name}expand_conv")(x)  # fmt: skip
        x = BatchNormalization(axis=3, momentum=bn_momentum, name=f"{name}expand_bn")(x)
        x = Activation(activation=activation, name=f"{name}expand_activation")(x)
    if 0 < se_ratio <= 1:
        x = _se(x, input_filters, filters, se_ratio, activation, name)
    x = _conv(
        output_filters, 1 if expand_ratio != 1 else kernel_size,
        strides=1 if expand_ratio != 1 else strides, use_bias=False, name=f"{name}project_conv",
    )(x)  # fmt: skip
    x = BatchNormalization(axis=3, momentum=bn_momentum, name=f"{name}project_bn")(x)
    if expand_ratio == 1:
        x = Activation(activation=activation, name=f"{name}project_activation")(x)
    if strides == 1 and input_filters == output_filters:
        x = _residual(x, inputs, survival_probability, name)
    return x


def EfficientNetV2(  # noqa: N802 - Keras's public name
    width_coefficient: float,
    depth_coefficient: float,
    default_size: int,
    dropout_rate: float = 0.2,
    drop_connect_rate: float = 0.2,
    depth_divisor: int = 8,
    min_depth: int = 8,
    bn_momentum: float = 0.9,
    activation: str = "swish",
    blocks_args: Any = "default",
    name: str = "efficientnetv2",
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    include_preprocessing: bool = True,
    weights_name: str | None = None,
) -> Model:
    """The EfficientNetV2 family (see `EfficientNetV2B0`).

    As in Keras, `blocks_args="default"` takes the stages of the model called `name`
    (`"efficientnetv2-b0"` ...), and the input scaling of the B models (ImageNet
    normalization) is chosen when `name` ends in `-b...`; others scale to [-1, 1].

    Args:
        width_coefficient: scales the number of filters.
        depth_coefficient: scales the number of blocks.
        default_size: the default input height and width.
        dropout_rate: dropout before the classifier.
        drop_connect_rate: the per-sample dropout of the last residual block (less before).
        depth_divisor: filter counts are rounded to multiples of it.
        min_depth: the smallest filter count.
        bn_momentum: the momentum of the batch normalizations.
        activation: the activation of the blocks.
        blocks_args: `"default"` or a list of block argument dicts like
            `DEFAULT_BLOCKS_ARGS["efficientnetv2-s"]`.
        name: the model's name.
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, include_preprocessing: as for `EfficientNetV2B0`.
        weights_name: which published weights `weights="imagenet"` loads (`"b0"`, `"-s"` ...).
    """
    if isinstance(blocks_args, str) and blocks_args == "default":
        if name not in DEFAULT_BLOCKS_ARGS:
            raise ValueError(
                "EfficientNetV2: with `blocks_args='default'` the stages are those of the "
                f"model called `name`, one of {', '.join(DEFAULT_BLOCKS_ARGS)}. "
                f"Received: name={name!r}"
            )
        blocks_args = DEFAULT_BLOCKS_ARGS[name]
    if not (weights in ("imagenet", None) or _builder._is_file(weights)):
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization), "
            "`imagenet` (pre-training on ImageNet), or the path to the weights file to be "
            f"loaded.Received: weights={weights}"
        )
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            'If using `weights="imagenet"` with `include_top` as true, `classes` should be '
            f"1000. Received: classes={classes}"
        )
    if weights == "imagenet" and weights_name not in WEIGHTS_HASHES:
        raise ValueError(
            f"No ImageNet weights are published for weights_name={weights_name!r}; "
            f"available: {', '.join(WEIGHTS_HASHES)}"
        )
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=default_size, min_size=32, require_flatten=include_top,
        weights=weights,
    )  # fmt: skip
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    img_input = _builder.image_input(input_tensor, input_shape)

    def filters_of(count: float) -> int:
        return round_filters(count, width_coefficient, min_depth, depth_divisor)

    x = img_input
    if include_preprocessing:
        if name.split("-")[-1].startswith("b") and input_shape[2] == 3:
            x = Rescaling(scale=1.0 / 255)(x)
            x = Normalization(
                mean=[0.485, 0.456, 0.406], variance=[0.229**2, 0.224**2, 0.225**2], axis=3
            )(x)
        else:
            x = Rescaling(scale=1.0 / 128.0, offset=-1)(x)
    x = _conv(filters_of(blocks_args[0]["input_filters"]), 3, strides=2, use_bias=False,
              name="stem_conv")(x)  # fmt: skip
    x = BatchNormalization(axis=3, momentum=bn_momentum, name="stem_bn")(x)
    x = Activation(activation, name="stem_activation")(x)

    blocks_args = copy.deepcopy(list(blocks_args))
    b = 0
    blocks = float(sum(args["num_repeat"] for args in blocks_args))
    for i, args in enumerate(blocks_args):
        if args["num_repeat"] <= 0:
            raise ValueError(
                "The number of repeats in `EfficientNetV2` must be > 0. "
                f"Received: num_repeat={args['num_repeat']}"
            )
        args["input_filters"] = filters_of(args["input_filters"])
        args["output_filters"] = filters_of(args["output_filters"])
        block = (mb_conv_block, fused_mb_conv_block)[args.pop("conv_type")]
        for j in range(round_repeats(args.pop("num_repeat"), depth_coefficient)):
            if j > 0:  # only the first block of a stage strides and changes width
                args["strides"] = 1
                args["input_filters"] = args["output_filters"]
            x = block(
                x, activation=activation, bn_momentum=bn_momentum,
                survival_probability=drop_connect_rate * b / blocks,
                name=f"block{i + 1}{chr(j + 97)}_", **args,
            )  # fmt: skip
            b += 1

    x = _conv(filters_of(1280), 1, strides=1, use_bias=False, name="top_conv")(x)
    x = BatchNormalization(axis=3, momentum=bn_momentum, name="top_bn")(x)
    x = Activation(activation=activation, name="top_activation")(x)
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = Dropout(dropout_rate, name="top_dropout")(x)
        x = Dense(
            classes, activation=classifier_activation,
            kernel_initializer=DENSE_KERNEL_INITIALIZER, bias_initializer=Constant(0.0),
            name="predictions",
        )(x)  # fmt: skip
    else:
        x = _builder.pool(x, pooling, "avg_pool", "max_pool")
    file = weight_file(name, weights_name, include_top) if weights == "imagenet" else None
    return _builder.finish(img_input, input_tensor, x, name, weights, file, in_order=True)


def _scaled(variant: str, name: str, include_top: bool, weights: Any, input_tensor: Any,
            input_shape: tuple | None, pooling: str | None, classes: int,
            classifier_activation: Any, include_preprocessing: bool) -> Model:  # fmt: skip
    width, depth, size = SCALING[variant]
    return EfficientNetV2(
        width_coefficient=width, depth_coefficient=depth, default_size=size, name=name,
        include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing, weights_name=variant,
    )  # fmt: skip


def EfficientNetV2B0(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    include_preprocessing: bool = True,
    name: str = "efficientnetv2-b0",
) -> Model:
    return _scaled(
        "b0", name, include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, include_preprocessing,
    )  # fmt: skip


def EfficientNetV2B1(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    include_preprocessing: bool = True,
    name: str = "efficientnetv2-b1",
) -> Model:
    return _scaled(
        "b1", name, include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, include_preprocessing,
    )  # fmt: skip


def EfficientNetV2B2(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    include_preprocessing: bool = True,
    name: str = "efficientnetv2-b2",
) -> Model:
    return _scaled(
        "b2", name, include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, include_preprocessing,
    )  # fmt: skip


def EfficientNetV2B3(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    include_preprocessing: bool = True,
    name: str = "efficientnetv2-b3",
) -> Model:
    return _scaled(
        "b3", name, include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, include_preprocessing,
    )  # fmt: skip


def EfficientNetV2S(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    include_preprocessing: bool = True,
    name: str = "efficientnetv2-s",
) -> Model:
    return _scaled(
        "-s", name, include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, include_preprocessing,
    )  # fmt: skip


def EfficientNetV2M(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    include_preprocessing: bool = True,
    name: str = "efficientnetv2-m",
) -> Model:
    return _scaled(
        "-m", name, include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, include_preprocessing,
    )  # fmt: skip


def EfficientNetV2L(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    include_preprocessing: bool = True,
    name: str = "efficientnetv2-l",
) -> Model:
    return _scaled(
        "-l", name, include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, include_preprocessing,
    )  # fmt: skip


_DOC = """The EfficientNetV2{suffix} network ({size}x{size} by default).

    The model scales its input itself (unless `include_preprocessing=False`): give it float
    images with values in [0, 255]; `efficientnet_v2.preprocess_input` passes them through.

    Args:
        include_top: include the classifier (pooling, dropout and `predictions`).
        weights: None (random initialization), `"imagenet"` (download Keras's ImageNet
            weights into the cache, see `convolve.applications.weights`), or the path of a
            Keras `.h5` weights file.
        input_tensor: a symbolic tensor (output of `convolve.Input()`) to use as the input.
        input_shape: the input shape, `(height, width, 3)`, at least 32x32. With
            `include_top=True` and ImageNet weights it must be `({size}, {size}, 3)`.
        pooling: for `include_top=False`: None (4D output), `"avg"` or `"max"`.
        classes: the number of classes of the classifier; 1000 with ImageNet weights.
        classifier_activation: the activation of `predictions`; None gives logits. With
            pretrained weights only None or `"softmax"`.
        include_preprocessing: whether the model scales its input itself.
        name: the model's name; as in Keras, it also selects the architecture's stages
            (keep the default unless calling `EfficientNetV2` with `blocks_args`).

    Returns:
        A functional `Model`.
{example}"""
for _fn, _variant in (
    (EfficientNetV2B0, "b0"),
    (EfficientNetV2B1, "b1"),
    (EfficientNetV2B2, "b2"),
    (EfficientNetV2B3, "b3"),
    (EfficientNetV2S, "-s"),
    (EfficientNetV2M, "-m"),
    (EfficientNetV2L, "-l"),
):
    _fn.__doc__ = _DOC.format(
        suffix=_fn.__name__[len("EfficientNetV2") :],
        size=SCALING[_variant][2],
        example=""
        if _variant != "b0"
        else """
    Example:
        >>> from convolve.applications import EfficientNetV2B0
        >>> model = EfficientNetV2B0(weights=None, include_top=False, input_shape=(32, 32, 3))
        >>> model.output_shape, model.count_params()
        ((None, 1, 1, 1280), 5919312)
""",
    )


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """Returns `x` unchanged: EfficientNetV2 scales its input inside the model.

    Example:
        >>> from convolve.applications import efficientnet_v2
        >>> efficientnet_v2.preprocess_input([255.0])
        [255.0]
    """
    return x


decode_predictions = imagenet_utils.decode_predictions
