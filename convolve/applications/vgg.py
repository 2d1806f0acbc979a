"""VGG16 and VGG19 (Simonyan & Zisserman, ICLR 2015), as `keras.applications` builds them."""

from __future__ import annotations

from typing import Any

from convolve.applications import _builder, imagenet_utils
from convolve.applications.weights import KERAS_APPLICATIONS, WeightFile
from convolve.layers.convolution import Conv2D
from convolve.layers.core import Dense, Flatten
from convolve.layers.pooling import MaxPooling2D
from convolve.models.model import Model

__all__ = ["VGG16", "VGG19", "decode_predictions", "preprocess_input"]

# Convolutions per block, and Keras's weight files with their pinned (MD5) hashes.
_CONFIGS = {
    "vgg16": (
        (2, 2, 3, 3, 3),
        ("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"),
    ),
    "vgg19": (
        (2, 2, 4, 4, 4),
        ("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"),
    ),
}
_FILTERS = (64, 128, 256, 512, 512)


def weight_file(family: str, include_top: bool) -> WeightFile:
    """The published ImageNet weights of `family` (`"vgg16"` or `"vgg19"`)."""
    top_hash, notop_hash = _CONFIGS[family][1]
    suffix = "" if include_top else "_notop"
    fname = f"{family}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    return WeightFile(
        fname, f"{KERAS_APPLICATIONS}{family}/{fname}", top_hash if include_top else notop_hash
    )


def _vgg(
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
    x = img_input
    for block, (convs, filters) in enumerate(zip(_CONFIGS[family][0], _FILTERS, strict=True), 1):
        for i in range(1, convs + 1):
            x = Conv2D(
                filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{i}"
            )(x)
        x = MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = Flatten(name="flatten")(x)
        x = Dense(4096, activation="relu", name="fc1")(x)
        x = Dense(4096, activation="relu", name="fc2")(x)
        x = _builder.classifier(x, classes, classifier_activation)
    else:
        x = _builder.pool(x, pooling, None, None)
    return _builder.finish(
        img_input, input_tensor, x, name, weights, weight_file(family, include_top)
    )


def VGG16(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "vgg16",
) -> Model:
    """The VGG16 network: 13 convolutions in 5 blocks, then 3 dense layers.

    Call `convolve.applications.vgg16.preprocess_input` on images (RGB, values in
    [0, 255]) first: it converts them to BGR and subtracts the ImageNet mean pixel.

    Args:
        include_top: include the three dense layers (`fc1`, `fc2`, `predictions`).
        weights: None (random initialization), `"imagenet"` (download Keras's ImageNet
            weights into the cache, see `convolve.applications.weights`), or the path of a
            Keras `.h5` weights file.
        input_tensor: a symbolic tensor (output of `convolve.Input()`) to use as the input.
        input_shape: the input shape, `(height, width, 3)`, at least 32x32. With
            `include_top=True` and ImageNet weights it must be `(224, 224, 3)`.
        pooling: for `include_top=False`: None (the last block's 4D output), `"avg"` or
            `"max"` (global pooling to a 2D output).
        classes: the number of classes of the classifier; 1000 with ImageNet weights.
        classifier_activation: the activation of `predictions`; None gives logits. With
            pretrained weights only None or `"softmax"`.
        name: the model's name.

    Returns:
        A functional `Model`.

    Example:
        >>> from convolve.applications import VGG16
        >>> model = VGG16(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
        >>> model.output_shape, model.count_params()
        ((None, 512), 14714688)
    """
    return _vgg(
        "vgg16", include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name,
    )  # fmt: skip


def VGG19(  # noqa: N802 - Keras's public name
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "vgg19",
) -> Model:
    """The VGG19 network: 16 convolutions in 5 blocks, then 3 dense layers.

    Arguments, preprocessing and weights are those of `VGG16`.

    Example:
        >>> from convolve.applications import VGG19
        >>> VGG19(weights=None, include_top=False, input_shape=(64, 64, 3)).output_shape
        (None, 2, 2, 512)
    """
    return _vgg(
        "vgg19", include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name,
    )  # fmt: skip


preprocess_input = imagenet_utils.preprocess_caffe
decode_predictions = imagenet_utils.decode_predictions
