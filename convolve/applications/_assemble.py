"""The assembly the newer families share, in the manner of Keras's `ResNet(stack_fn, ...)`:
the input, a body, the head and the weights; and the in-order loading some files need.

Keras's Xception and InceptionV3 files were written by Keras 1 and 2, whose automatic names
(`convolution2d_1`, `conv2d_1`, ...) are neither the names the builders give today nor stable
from one session to the next, so matching layers by name cannot find them. Keras loads these
`.h5` files in layer order: the file's layers that hold weights pair with the model's, one to
one. `load_weights_in_order` does the same, and matches by name (`weights.load_weights`)
when the two counts differ, as for a file written from a larger or smaller model.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from convolve.applications import _builder, imagenet_utils
from convolve.applications import weights as _weights
from convolve.applications.weights import WeightFile, get_file
from convolve.layers.pooling import GlobalAveragePooling2D
from convolve.layers.symbolic import KerasTensor
from convolve.models.model import Model


def build(
    body: Callable[[KerasTensor], KerasTensor],
    weight_file: WeightFile,
    *,
    default_size: int,
    min_size: int,
    pool_names: tuple[str | None, str | None] = (None, None),
    in_order: bool = False,
    include_top: bool,
    weights: Any,
    input_tensor: Any,
    input_shape: Any,
    pooling: str | None,
    classes: int,
    classifier_activation: Any,
    name: str,
) -> Model:
    """An application: the input, `body` (the network up to its last feature map), the head
    (`avg_pool` and `predictions`, or the optional global pooling, named `pool_names`) and
    the weights (`"imagenet"` or a path), matched by name or, if `in_order`, in order."""
    _builder.check_arguments(weights, include_top, classes, pooling, classifier_activation)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape,
        default_size=default_size,
        min_size=min_size,
        require_flatten=include_top,
        weights=weights,
    )
    img_input = _builder.image_input(input_tensor, input_shape)
    x = body(img_input)
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        x = _builder.classifier(x, classes, classifier_activation)
    else:
        x = _builder.pool(x, pooling, *pool_names)
    if not in_order:
        return _builder.finish(img_input, input_tensor, x, name, weights, weight_file)
    model = _builder.finish(img_input, input_tensor, x, name, None, None)
    if weights == "imagenet":
        path = get_file(weight_file.fname, weight_file.origin, file_hash=weight_file.file_hash)
        load_weights_in_order(model, path)
    elif weights is not None:
        load_weights_in_order(model, weights)
    return model


def builder_doc(
    summary: str, module: str, min_size: int, default_size: int, example: str = ""
) -> str:
    """The docstring of a builder made with `build`: `summary`, the preprocessing of
    `convolve.applications.<module>` (scaling to [-1, 1] for all of them) and the arguments."""
    return f"""{summary}

    Call `convolve.applications.{module}.preprocess_input` on images (values in [0, 255])
    first: it scales them to [-1, 1].

    Args:
        include_top: include the classifier (global average pooling and `predictions`).
        weights: None (random initialization), `"imagenet"` (download Keras's ImageNet
            weights into the cache, see `convolve.applications.weights`), or the path of a
            Keras `.h5` weights file.
        input_tensor: a symbolic tensor (output of `convolve.Input()`) to use as the input.
        input_shape: the input shape, `(height, width, 3)`, at least {min_size}x{min_size}.
            With `include_top=True` and ImageNet weights it must be
            `({default_size}, {default_size}, 3)`.
        pooling: for `include_top=False`: None (the last feature map, 4D), `"avg"` or
            `"max"` (global pooling to a 2D output).
        classes: the number of classes of the classifier; 1000 with ImageNet weights.
        classifier_activation: the activation of `predictions`; None gives logits. With
            pretrained weights only None or `"softmax"`.
        name: the model's name.

    Returns:
        A functional `Model`.
{example}"""


def load_weights_in_order(model: Any, filepath: str | os.PathLike) -> None:
    """Loads a Keras `.h5` weights file into `model`, pairing layers in order as Keras does.

    Every array is checked against the model before any is assigned; a file that is not a
    Keras `.h5` weights file, or whose layers do not pair one to one with the model's, is
    loaded by name instead (with `weights.load_weights`'s checks and errors).
    """
    path = os.fspath(filepath)
    plan = _plan_in_order(model, path)
    if plan is None:
        _weights.load_weights(model, path)
        return
    for layer, values in plan:
        layer.set_weights(values)


def _plan_in_order(model: Any, path: str) -> list | None:
    """(layer, arrays) for each of the model's layers with weights, or None if they do not
    pair one to one with the file's."""
    if path.endswith(".weights.h5"):
        return None
    try:
        f = _weights._h5py().File(path, "r")
    except OSError:
        return None
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        groups = [
            g
            for g in _weights._string_list(root, "layer_names")
            if g in root and _weights._string_list(root[g], "weight_names")
        ]
        layers = [layer for layer in model.layers if layer.weights]
        if not groups or len(groups) != len(layers):
            return None
        return [
            (layer, _weights._read_layer(path, root[group], group, layer))
            for layer, group in zip(layers, groups, strict=True)
        ]
