"""NASNet (Zoph et al., CVPR 2018), as `keras.applications` builds it: normal and reduction
cells found by architecture search, each fed by the two previous cells' outputs."""

from __future__ import annotations

from typing import Any

from convolve.applications import _builder, imagenet_utils
from convolve.applications.weights import KERAS_APPLICATIONS, WeightFile
from convolve.layers.convolution import Conv2D
from convolve.layers.convolution_variants import SeparableConv2D
from convolve.layers.core import Activation
from convolve.layers.merging import Add, Concatenate
from convolve.layers.normalization import BatchNormalization
from convolve.layers.pooling import AveragePooling2D, GlobalAveragePooling2D, MaxPooling2D
from convolve.layers.reshaping import Cropping2D, ZeroPadding2D
from convolve.layers.symbolic import KerasTensor
from convolve.models.model import Model

__all__ = ["NASNet", "NASNetLarge", "NASNetMobile", "decode_predictions", "preprocess_input"]

BASE_WEIGHTS_PATH = f"{KERAS_APPLICATIONS}nasnet/"

# Keras's published files and pinned (MD5) hashes, by default size and classifier.
WEIGHT_FILES = {
    (224, True): WeightFile(
        "nasnet_mobile.h5", f"{BASE_WEIGHTS_PATH}NASNet-mobile.h5",
        "020fb642bf7360b370c678b08e0adf61",
    ),
    (224, False): WeightFile(
        "nasnet_mobile_no_top.h5", f"{BASE_WEIGHTS_PATH}NASNet-mobile-no-top.h5",
        "1ed92395b5b598bdda52abe5c0dbfd63",
    ),
    (331, True): WeightFile(
        "nasnet_large.h5", f"{BASE_WEIGHTS_PATH}NASNet-large.h5",
        "11577c9a518f0070763c2b964a382f17",
    ),
    (331, False): WeightFile(
        "nasnet_large_no_top.h5", f"{BASE_WEIGHTS_PATH}NASNet-large-no-top.h5",
        "d81d89dc07e6e56530c4e77faddd61b5",
    ),
}  # fmt: skip

_MOMENTUM = 0.9997
_EPSILON = 1e-3


def _bn(x: KerasTensor, name: str | None) -> KerasTensor:
    return BatchNormalization(axis=-1, momentum=_MOMENTUM, epsilon=_EPSILON, name=name)(x)


def _conv1x1(x: KerasTensor, filters: int, name: str) -> KerasTensor:
    return Conv2D(
        filters, (1, 1), strides=(1, 1), padding="same", use_bias=False, name=name,
        kernel_initializer="he_normal",
    )(x)  # fmt: skip


def _separable_conv_block(
    x: KerasTensor,
    filters: int,
    kernel_size: tuple[int, int] = (3, 3),
    strides: tuple[int, int] = (1, 1),
    block_id: str = "",
) -> KerasTensor:
    """(ReLU, separable convolution, BN) twice; the first convolution may be strided, after
    the zero padding that makes it match TensorFlow's 'same'."""
    x = Activation("relu")(x)
    if strides == (2, 2):
        x = ZeroPadding2D(
            padding=imagenet_utils.correct_pad(x, kernel_size),
            name=f"separable_conv_1_pad_{block_id}",
        )(x)
        conv_pad = "valid"
    else:
        conv_pad = "same"
    x = SeparableConv2D(
        filters, kernel_size, strides=strides, name=f"separable_conv_1_{block_id}",
        padding=conv_pad, use_bias=False,
    )(x)  # fmt: skip
    x = _bn(x, f"separable_conv_1_bn_{block_id}")
    x = Activation("relu")(x)
    x = SeparableConv2D(
        filters, kernel_size, name=f"separable_conv_2_{block_id}", padding="same",
        use_bias=False,
    )(x)  # fmt: skip
    return _bn(x, f"separable_conv_2_bn_{block_id}")


def _adjust_block(p: KerasTensor | None, ip: KerasTensor, filters: int, block_id: str):
    """The previous cell's output `p`, brought to the size (two strided half-width paths,
    one shifted by a pixel) or the width (a 1x1 projection) of `ip`, where they differ."""
    if p is None:
        return ip
    if p.shape[-2] != ip.shape[-2]:
        p = Activation("relu", name=f"adjust_relu_1_{block_id}")(p)
        p1 = AveragePooling2D(
            (1, 1), strides=(2, 2), padding="valid", name=f"adjust_avg_pool_1_{block_id}"
        )(p)
        p1 = Conv2D(
            filters // 2, (1, 1), padding="same", use_bias=False,
            name=f"adjust_conv_1_{block_id}", kernel_initializer="he_normal",
        )(p1)  # fmt: skip
        p2 = ZeroPadding2D(padding=((0, 1), (0, 1)))(p)
        p2 = Cropping2D(cropping=((1, 0), (1, 0)))(p2)
        p2 = AveragePooling2D(
            (1, 1), strides=(2, 2), padding="valid", name=f"adjust_avg_pool_2_{block_id}"
        )(p2)
        p2 = Conv2D(
            filters // 2, (1, 1), padding="same", use_bias=False,
            name=f"adjust_conv_2_{block_id}", kernel_initializer="he_normal",
        )(p2)  # fmt: skip
        p = Concatenate(axis=-1)([p1, p2])
        return _bn(p, f"adjust_bn_{block_id}")
    if p.shape[-1] != filters:
        p = Activation("relu")(p)
        p = _conv1x1(p, filters, f"adjust_conv_projection_{block_id}")
        return _bn(p, f"adjust_bn_{block_id}")
    return p


def _normal_a_cell(ip: KerasTensor, p: KerasTensor | None, filters: int, block_id: str):
    """A NASNet-A normal cell (Fig. 4 of the paper); returns (its output, `ip`)."""
    p = _adjust_block(p, ip, filters, block_id)
    h = Activation("relu")(ip)
    h = _conv1x1(h, filters, f"normal_conv_1_{block_id}")
    h = _bn(h, f"normal_bn_1_{block_id}")

    x1_1 = _separable_conv_block(h, filters, (5, 5), block_id=f"normal_left1_{block_id}")
    x1_2 = _separable_conv_block(p, filters, block_id=f"normal_right1_{block_id}")
    x1 = Add(name=f"normal_add_1_{block_id}")([x1_1, x1_2])

    x2_1 = _separable_conv_block(p, filters, (5, 5), block_id=f"normal_left2_{block_id}")
    x2_2 = _separable_conv_block(p, filters, (3, 3), block_id=f"normal_right2_{block_id}")
    x2 = Add(name=f"normal_add_2_{block_id}")([x2_1, x2_2])

    x3 = _avg3(h, (1, 1), f"normal_left3_{block_id}")
    x3 = Add(name=f"normal_add_3_{block_id}")([x3, p])

    x4_1 = _avg3(p, (1, 1), f"normal_left4_{block_id}")
    x4_2 = _avg3(p, (1, 1), f"normal_right4_{block_id}")
    x4 = Add(name=f"normal_add_4_{block_id}")([x4_1, x4_2])

    x5 = _separable_conv_block(h, filters, block_id=f"normal_left5_{block_id}")
    x5 = Add(name=f"normal_add_5_{block_id}")([x5, h])

    x = Concatenate(axis=-1, name=f"normal_concat_{block_id}")([p, x1, x2, x3, x4, x5])
    return x, ip


def _avg3(x: KerasTensor, strides: tuple[int, int], name: str) -> KerasTensor:
    padding = "same" if strides == (1, 1) else "valid"
    return AveragePooling2D((3, 3), strides=strides, padding=padding, name=name)(x)


def _max3(x: KerasTensor, name: str) -> KerasTensor:
    return MaxPooling2D((3, 3), strides=(2, 2), padding="valid", name=name)(x)


def _reduction_a_cell(ip: KerasTensor, p: KerasTensor | None, filters: int, block_id: str):
    """A NASNet-A reduction cell (Fig. 4 of the paper), halving the spatial size; returns
    (its output, `ip`)."""
    p = _adjust_block(p, ip, filters, block_id)
    h = Activation("relu")(ip)
    h = _conv1x1(h, filters, f"reduction_conv_1_{block_id}")
    h = _bn(h, f"reduction_bn_1_{block_id}")
    h3 = ZeroPadding2D(
        padding=imagenet_utils.correct_pad(h, 3), name=f"reduction_pad_1_{block_id}"
    )(h)

    x1_1 = _separable_conv_block(
        h, filters, (5, 5), strides=(2, 2), block_id=f"reduction_left1_{block_id}"
    )
    x1_2 = _separable_conv_block(
        p, filters, (7, 7), strides=(2, 2), block_id=f"reduction_right1_{block_id}"
    )
    x1 = Add(name=f"reduction_add_1_{block_id}")([x1_1, x1_2])

    x2_1 = _max3(h3, f"reduction_left2_{block_id}")
    x2_2 = _separable_conv_block(
        p, filters, (7, 7), strides=(2, 2), block_id=f"reduction_right2_{block_id}"
    )
    x2 = Add(name=f"reduction_add_2_{block_id}")([x2_1, x2_2])

    x3_1 = _avg3(h3, (2, 2), f"reduction_left3_{block_id}")
    x3_2 = _separable_conv_block(
        p, filters, (5, 5), strides=(2, 2), block_id=f"reduction_right3_{block_id}"
    )
    x3 = Add(name=f"reduction_add3_{block_id}")([x3_1, x3_2])

    x4 = _avg3(x1, (1, 1), f"reduction_left4_{block_id}")
    x4 = Add()([x2, x4])

    # Keras names this block `reduction_left4` too (the pooling above has the same stem).
    x5_1 = _separable_conv_block(x1, filters, (3, 3), block_id=f"reduction_left4_{block_id}")
    x5_2 = _max3(h3, f"reduction_right5_{block_id}")
    x5 = Add(name=f"reduction_add4_{block_id}")([x5_1, x5_2])

    x = Concatenate(axis=-1, name=f"reduction_concat_{block_id}")([x2, x3, x4, x5])
    return x, ip


def _check_count(value: Any, argument: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"NASNet: `{argument}` must be an integer of at least {minimum}. "
            f"Received: {argument}={value!r}"
        )


def _check_nasnet_arguments(
    input_shape: Any,
    penultimate_filters: Any,
    num_blocks: Any,
    stem_block_filters: Any,
    filter_multiplier: Any,
    include_top: bool,
    weights: Any,
    pooling: Any,
    classes: int,
    default_size: int,
) -> None:
    """Keras's checks (and messages), then those of the structure's integers."""
    if not (weights in ("imagenet", None) or _builder._is_file(weights)):
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization), "
            "`imagenet` (pre-training on ImageNet), or the path to the weights file to be "
            f"loaded. Received: weights={weights}"
        )
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            'If using `weights` as `"imagenet"` with `include_top` as true, `classes` should '
            f"be 1000. Received: classes={classes}"
        )
    if isinstance(input_shape, tuple) and None in input_shape and weights == "imagenet":
        raise ValueError(
            "When specifying the input shape of a NASNet and loading `ImageNet` weights, the "
            "input_shape argument must be static (no None entries). Got: "
            f"`input_shape={input_shape}`."
        )
    if weights == "imagenet" and default_size not in (224, 331):
        raise ValueError(
            "ImageNet weights can only be loaded with NASNetLarge or NASNetMobile. "
            f"Received: default_size={default_size}"
        )
    if pooling not in _builder.POOLING_MODES:
        raise ValueError(f"`pooling` must be None, 'avg' or 'max'. Received: pooling={pooling!r}")
    _check_count(penultimate_filters, "penultimate_filters", 1)
    _check_count(num_blocks, "num_blocks", 0)
    _check_count(stem_block_filters, "stem_block_filters", 1)
    _check_count(filter_multiplier, "filter_multiplier", 1)


def NASNet(  # noqa: N802 - Keras's public name
    input_shape: tuple | None = None,
    penultimate_filters: int = 4032,
    num_blocks: int = 6,
    stem_block_filters: int = 96,
    skip_reduction: bool = True,
    filter_multiplier: int = 2,
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    default_size: int | None = None,
    classifier_activation: Any = "softmax",
    name: str = "NASNet",
) -> Model:
    """A NASNet-A network `NASNet (num_blocks @ penultimate_filters)`.

    A stem convolution, two reduction cells, then three stacks of `num_blocks` normal
    cells separated by two reduction cells, each cell taking the outputs of the two cells
    before it; the filters grow by `filter_multiplier` at each reduction.

    Call `convolve.applications.nasnet.preprocess_input` on images (values in [0, 255])
    first: it scales them to [-1, 1].

    Args:
        input_shape: the input shape, `(height, width, 3)`, at least 32x32; by default
            `(default_size, default_size, 3)` with the classifier. The height and width
            must be known (without the classifier, pass them): where Keras builds a model
            of unknown size that fails on its first image, this raises a ValueError.
        penultimate_filters: the filters of the last cells; a multiple of
            `24 * filter_multiplier ** 2`.
        num_blocks: the normal cells in each of the three stacks.
        stem_block_filters: the filters of the stem convolution.
        skip_reduction: what the normal cell after each of the two inner reduction cells
            takes as its second input: the reduction cell's own second input, the output
            of the cell two before it (True), or its first input, the output of the cell
            just before it (False).
        filter_multiplier: the factor by which the filters grow at each reduction.
        include_top: include the classifier (global average pooling and `predictions`).
        weights: None (random initialization), `"imagenet"` (Keras's ImageNet weights of
            NASNetMobile if `default_size` is 224, of NASNetLarge if it is 331), or the path
            of a Keras weights file (`.h5`, matched in layer order as Keras does, or
            `.weights.h5`).
        input_tensor: a symbolic tensor (output of `convolve.Input()`) to use as the input.
        pooling: for `include_top=False`: None (the last feature map, 4D), `"avg"` or
            `"max"` (global pooling to a 2D output).
        classes: the number of classes of the classifier; 1000 with ImageNet weights.
        default_size: the default image size (331 if None).
        classifier_activation: the activation of `predictions`; None gives logits. With
            pretrained weights only None or `"softmax"`.
        name: the model's name.

    Returns:
        A functional `Model`.

    Example:
        >>> from convolve.applications.nasnet import NASNet
        >>> model = NASNet(input_shape=(32, 32, 3), penultimate_filters=96, num_blocks=1,
        ...                stem_block_filters=8, weights=None, include_top=False)
        >>> model.output_shape, model.count_params()
        ((None, 1, 1, 96), 26542)
    """
    if default_size is None:
        default_size = 331
    _check_nasnet_arguments(
        input_shape, penultimate_filters, num_blocks, stem_block_filters, filter_multiplier,
        include_top, weights, pooling, classes, default_size,
    )  # fmt: skip
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape,
        default_size=default_size,
        min_size=32,
        require_flatten=include_top,
        weights=weights,
    )
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    img_input = _builder.image_input(input_tensor, input_shape)
    if None in tuple(img_input.shape[1:3]):
        # Each cell adapts its second input by comparing the two inputs' sizes while the
        # model is built; with unknown sizes the comparison cannot see the reduction and
        # the model would fail on its first image.
        raise ValueError(
            "NASNet needs a static input height and width: its cells compare the sizes of "
            "their two inputs while the model is built. Pass input_shape=(height, width, 3). "
            f"Received: input_shape={tuple(img_input.shape[1:])}"
        )
    if penultimate_filters % (24 * (filter_multiplier**2)) != 0:
        raise ValueError(
            "For NASNet-A models, the `penultimate_filters` must be a multiple of "
            f"24 * (`filter_multiplier` ** 2). Current value: {penultimate_filters}"
        )
    filters = penultimate_filters // 24

    x = Conv2D(
        stem_block_filters, (3, 3), strides=(2, 2), padding="valid", use_bias=False,
        name="stem_conv1", kernel_initializer="he_normal",
    )(img_input)  # fmt: skip
    x = _bn(x, "stem_bn1")

    x, p = _reduction_a_cell(x, None, filters // (filter_multiplier**2), block_id="stem_1")
    x, p = _reduction_a_cell(x, p, filters // filter_multiplier, block_id="stem_2")
    for stack in range(3):
        width = filters * filter_multiplier**stack
        if stack:
            x, p0 = _reduction_a_cell(x, p, width, block_id=f"reduce_{stack * num_blocks}")
            p = p if skip_reduction else p0
        for i in range(num_blocks):
            block = stack * num_blocks + i + (1 if stack else 0)
            x, p = _normal_a_cell(x, p, width, block_id=f"{block}")

    x = Activation("relu")(x)
    if include_top:
        x = GlobalAveragePooling2D()(x)
        x = _builder.classifier(x, classes, classifier_activation)
    else:
        x = _builder.pool(x, pooling, None, None)
    weight_file = WEIGHT_FILES.get((default_size, bool(include_top)))
    return _builder.finish(img_input, input_tensor, x, name, weights, weight_file, in_order=True)


def NASNetMobile(  # noqa: N802 - Keras's public name
    input_shape: tuple | None = None,
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "nasnet_mobile",
) -> Model:
    """NASNet-A (4 @ 1056) for 224x224 images: `NASNet` with 4 normal cells per stack,
    1056 penultimate filters, a 32-filter stem and no skipped reduction.

    Without the classifier the input shape defaults to `(224, 224, 3)`, as in Keras. The
    other arguments are `NASNet`'s; `convolve.applications.nasnet.preprocess_input` scales
    images to [-1, 1].

    Example:
        >>> from convolve.applications import NASNetMobile
        >>> model = NASNetMobile(weights=None)
        >>> model.output_shape, model.count_params()
        ((None, 1000), 5326716)
    """
    if not include_top and input_shape is None:
        input_shape = (224, 224, 3)
    return NASNet(
        input_shape, penultimate_filters=1056, num_blocks=4, stem_block_filters=32,
        skip_reduction=False, filter_multiplier=2, include_top=include_top, weights=weights,
        input_tensor=input_tensor, pooling=pooling, classes=classes, default_size=224,
        classifier_activation=classifier_activation, name=name,
    )  # fmt: skip


def NASNetLarge(  # noqa: N802 - Keras's public name
    input_shape: tuple | None = None,
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "nasnet_large",
) -> Model:
    """NASNet-A (6 @ 4032) for 331x331 images: `NASNet` with 6 normal cells per stack,
    4032 penultimate filters, a 96-filter stem and skipped reductions.

    Without the classifier pass `input_shape` (see `NASNet`). The other arguments are
    `NASNet`'s; `convolve.applications.nasnet.preprocess_input` scales images to [-1, 1].

    Example:
        >>> from convolve.applications import NASNetLarge
        >>> model = NASNetLarge(weights=None, include_top=False, input_shape=(32, 32, 3))
        >>> model.output_shape
        (None, 1, 1, 4032)
    """
    return NASNet(
        input_shape, penultimate_filters=4032, num_blocks=6, stem_block_filters=96,
        skip_reduction=True, filter_multiplier=2, include_top=include_top, weights=weights,
        input_tensor=input_tensor, pooling=pooling, classes=classes, default_size=331,
        classifier_activation=classifier_activation, name=name,
    )  # fmt: skip


preprocess_input = imagenet_utils.preprocess_tf
decode_predictions = imagenet_utils.decode_predictions
