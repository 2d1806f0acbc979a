"""What the plots need from models and data: layers by name, sub-models, labelled arrays."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

ImageBatch = np.ndarray  # (batch, height, width, channels), Keras layout


def model_inputs(model: Any, what: str) -> list[Any]:
    """The model's symbolic inputs; a clear error for models without a graph."""
    try:
        inputs = model.inputs
    except AttributeError:
        inputs = None
    if not inputs:
        raise ValueError(
            f"{what} needs a Sequential or functional model with a known input; model "
            f"'{getattr(model, 'name', model)}' ({type(model).__name__}) has none. Build it "
            "with layers.Input(shape) first."
        )
    return list(inputs)


def image_input_shape(model: Any, what: str) -> tuple[int | None, ...]:
    """The Keras shape of one image the model takes: `(height, width, channels)`."""
    inputs = model_inputs(model, what)
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        shapes = [t.shape for t in inputs]
        raise ValueError(
            f"{what} needs a model with one image input of shape (batch, height, width, "
            f"channels); model '{model.name}' takes {shapes}."
        )
    return tuple(inputs[0].shape[1:])


def get_layer(model: Any, layer: Any) -> Any:
    """A layer of `model` given by name, index or the layer itself."""
    from convolve.layers.base import Layer

    if isinstance(layer, Layer):
        if not any(known is layer for known in model.layers):
            raise ValueError(f"Layer '{layer.name}' is not a layer of model '{model.name}'.")
        return layer
    if isinstance(layer, int) and not isinstance(layer, bool):
        return model.get_layer(index=layer)
    if isinstance(layer, str):
        return model.get_layer(layer)
    raise ValueError(f"A layer is given by name, index or Layer; received layer={layer!r}")


def is_conv(layer: Any) -> bool:
    """A 2-D convolution of any kind (plain, depthwise, separable, transposed)."""
    from convolve.layers.convolution import ConvFamily

    return isinstance(layer, ConvFamily) and _output_rank(layer) == 4


def conv_layers(model: Any) -> list[Any]:
    return [layer for layer in model.layers if is_conv(layer)]


def last_conv_layer(model: Any, what: str) -> Any:
    layers = conv_layers(model)
    if not layers:
        raise ValueError(
            f"{what}: model '{model.name}' has no 2-D convolution layer among its layers "
            f"({', '.join(layer.name for layer in model.layers)}); pass layer=... explicitly."
        )
    return layers[-1]


def _output_rank(layer: Any) -> int | None:
    nodes = getattr(layer, "_inbound_nodes", None)
    if not nodes:
        return None
    outputs = nodes[0].output_tensors
    return len(outputs[0].shape) if len(outputs) == 1 else None


def extractor(model: Any, layers: Sequence[Any], what: str, extra: Sequence[Any] = ()) -> Any:
    """A functional model from `model`'s input to each layer's output (then `extra` tensors).

    This is Keras's feature-extraction idiom: `Model(model.inputs, layer.output)`. It shares
    the layers (and weights) of `model`.
    """
    from convolve.models import Model

    inputs = model_inputs(model, what)
    outputs = []
    for layer in layers:
        try:
            outputs.append(layer.output)
        except AttributeError as error:
            raise ValueError(f"{what}: {error}") from None
    try:
        return Model(inputs=inputs, outputs=[*outputs, *extra])
    except ValueError as error:
        raise ValueError(
            f"{what}: the outputs of {', '.join(repr(layer.name) for layer in layers)} are not "
            f"reachable from the input of model '{model.name}' ({error}). A layer inside a "
            "nested model is reached through that nested model itself."
        ) from None


def as_image_batch(images: Any, what: str) -> np.ndarray:
    """Images as a float32 `(batch, height, width, channels)` array (one image allowed)."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    elif isinstance(images, list | tuple):
        images = np.stack([np.asarray(image) for image in images])
    array = np.asarray(images)
    if array.ndim == 2:
        array = array[None, ..., None]
    elif array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise ValueError(
            f"{what} takes an image (height, width, channels) or a batch of them; received an "
            f"array of shape {np.shape(images)}."
        )
    return array.astype(np.float32)


COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}


def load_image_files(model: Any, paths: Sequence[Any], what: str) -> np.ndarray:
    """Image files as a batch at the model's input size and colour mode, pixels 0-255.

    Raises:
        ValueError: naming the file that is missing or cannot be decoded.
    """
    from convolve.utils import img_to_array, load_img

    height, width, channels = image_input_shape(model, what)
    size = None if height is None or width is None else (height, width)
    arrays = []
    for path in paths:
        if not os.path.isfile(path):
            problem = "is not a file" if os.path.exists(path) else "does not exist"
            raise ValueError(f"image '{os.fspath(path)}' {problem}")
        try:
            image = load_img(path, color_mode=COLOR_MODES.get(channels, "rgb"), target_size=size)
        except Exception as error:  # any decoding failure is about this file
            message = " ".join(str(error).split())
            raise ValueError(f"cannot read image '{os.fspath(path)}': {message}") from error
        arrays.append(img_to_array(image))
    return np.stack(arrays)


def labels_to_int(y: Any) -> np.ndarray:
    """Integer labels from integer, one-hot or binary (0/1, floats) targets."""
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    y = y.reshape(len(y))
    if np.issubdtype(y.dtype, np.floating):
        return np.rint(y).astype(np.int64)
    return y.astype(np.int64)


def collect(data: Any, what: str) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """Images, integer labels and class names (when the data knows them) from `data`.

    `data` is an `(x, y)` tuple of arrays, or any other iterable of `(x, y)` batches (such as
    the dataset `image_dataset_from_directory` returns, or a list of batches).
    """
    class_names = getattr(data, "class_names", None)
    if isinstance(data, tuple) and len(data) == 2:
        return as_image_batch(data[0], what), labels_to_int(data[1]), class_names
    if isinstance(data, Iterable):
        xs, ys = [], []
        for item in data:
            if not isinstance(item, list | tuple) or len(item) < 2:
                raise ValueError(
                    f"{what}: the dataset must yield (images, labels) batches; received an "
                    f"item of type {type(item).__name__}."
                )
            xs.append(as_image_batch(item[0], what))
            ys.append(labels_to_int(item[1]))
        if not xs:
            raise ValueError(f"{what}: the dataset yielded no batches.")
        return np.concatenate(xs), np.concatenate(ys), class_names
    raise ValueError(
        f"{what} takes data as (images, labels) arrays or a dataset of (images, labels) "
        f"batches; received {type(data).__name__}."
    )


def probabilities(model: Any, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Class probabilities `(n, classes)`; a single sigmoid unit becomes two columns.

    Logits (outputs that are not probabilities) go through softmax or sigmoid.
    """
    out = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
    out = out.reshape(len(out), -1)
    if out.shape[1] == 1:
        p = out[:, 0]
        if p.min() < 0.0 or p.max() > 1.0:
            p = 1.0 / (1.0 + np.exp(-p))
        return np.stack([1.0 - p, p], axis=1)
    if out.min() < 0.0 or not np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
        out = np.exp(out - out.max(axis=1, keepdims=True))
        out /= out.sum(axis=1, keepdims=True)
    return out


def class_label(index: int, class_names: Sequence[str] | None) -> str:
    if class_names is not None and 0 <= index < len(class_names):
        return str(class_names[index])
    return str(index)
