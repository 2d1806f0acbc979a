"""The steps every application shares: argument checks, the input, the head, the weights;
and `build`, the whole assembly for the families written as a body function, in the manner
of Keras's `ResNet(stack_fn, ...)`."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from convolve.applications import imagenet_utils
from convolve.applications.weights import (
    WeightFile,
    get_file,
    load_weights,
    load_weights_in_order,
)
from convolve.layers.core import Dense, InputLayer
from convolve.layers.core import Input as _Input
from convolve.layers.pooling import GlobalAveragePooling2D, GlobalMaxPooling2D
from convolve.layers.symbolic import KerasTensor
from convolve.models.model import Model
from convolve.saving import registration

POOLING_MODES = (None, "avg", "max")


def register_application_layer(cls: type) -> type:
    """Lets model files name `cls`, a layer an application defines in its own module (as
    Keras's `CustomScaleLayer` and `LayerScale` are), by its class name, which is also the
    name Keras writes for it; a user's custom objects of the same name still come first."""
    registration.get_custom_objects().setdefault(cls.__name__, cls)
    return cls


def check_arguments(
    weights: Any, include_top: bool, classes: int, pooling: Any, classifier_activation: Any
) -> None:
    """Keras's checks of the arguments every application takes, before anything is built."""
    if not (weights in ("imagenet", None) or _is_file(weights)):
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization), "
            "'imagenet' (pre-training on ImageNet), or the path to the weights file to be "
            f"loaded.  Received: weights={weights}"
        )
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            "If using `weights='imagenet'` with `include_top=True`, `classes` should be 1000.  "
            f"Received classes={classes}"
        )
    if pooling not in POOLING_MODES:
        raise ValueError(f"`pooling` must be None, 'avg' or 'max'. Received: pooling={pooling!r}")
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)


def _is_file(weights: Any) -> bool:
    return isinstance(weights, str | os.PathLike) and os.path.isfile(weights)


def check_input_tensor(input_tensor: Any) -> None:
    """Raises unless `input_tensor` is None or a symbolic tensor made by layers."""
    if input_tensor is not None and (
        not isinstance(input_tensor, KerasTensor) or input_tensor._keras_history is None
    ):
        raise ValueError(
            "`input_tensor` must be a symbolic tensor (the output of `convolve.Input(...)` or "
            f"of layers called on it). Received: input_tensor={input_tensor!r}"
        )


def image_input(input_tensor: Any, input_shape: tuple) -> KerasTensor:
    """The model's image input: `input_tensor` if given, else a new `Input(input_shape)`."""
    if input_tensor is None:
        return _Input(shape=input_shape)
    check_input_tensor(input_tensor)
    return input_tensor


def source_inputs(tensor: KerasTensor) -> list[KerasTensor]:
    """The `Input` tensors that `tensor` is computed from (Keras's `get_source_inputs`)."""
    found: list[KerasTensor] = []

    def visit(t: KerasTensor) -> None:
        history = t._keras_history
        node = history.layer._inbound_nodes[history.node_index]
        if isinstance(history.layer, InputLayer):
            if all(t is not s for s in found):
                found.append(t)
            return
        for parent in node.input_tensors:
            visit(parent)

    visit(tensor)
    return found


def pool(x: KerasTensor, pooling: str | None, avg_name: str | None, max_name: str | None):
    """The optional global pooling of a headless model (layer names as the family has them)."""
    if pooling == "avg":
        return GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return GlobalMaxPooling2D(name=max_name)(x)
    return x


def classifier(x: KerasTensor, classes: int, activation: Any, **kwargs: Any) -> KerasTensor:
    """The final `predictions` layer."""
    return Dense(classes, activation=activation, name="predictions", **kwargs)(x)


def finish(
    img_input: KerasTensor,
    input_tensor: Any,
    outputs: KerasTensor,
    name: str,
    weights: Any,
    weight_file: WeightFile | None,
    in_order: bool = False,
) -> Model:
    """Creates the functional model and loads its weights (`"imagenet"` or a file path),
    matching layers by name or, if `in_order`, in order (see `load_weights_in_order`)."""
    inputs: Any = img_input
    if input_tensor is not None:
        sources = source_inputs(input_tensor)
        inputs = sources[0] if len(sources) == 1 else sources
    model = Model(inputs, outputs, name=name)
    load = load_weights_in_order if in_order else load_weights
    if weights == "imagenet":
        if weight_file is None:  # pragma: no cover - every family publishes its files
            raise ValueError(f"No ImageNet weights are published for model '{name}'.")
        path = get_file(weight_file.fname, weight_file.origin, file_hash=weight_file.file_hash)
        load(model, path)
    elif weights is not None:
        load(model, weights)
    return model


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
    check_arguments(weights, include_top, classes, pooling, classifier_activation)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape,
        default_size=default_size,
        min_size=min_size,
        require_flatten=include_top,
        weights=weights,
    )
    img_input = image_input(input_tensor, input_shape)
    x = body(img_input)
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        x = classifier(x, classes, classifier_activation)
    else:
        x = pool(x, pooling, *pool_names)
    return finish(img_input, input_tensor, x, name, weights, weight_file, in_order=in_order)


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
