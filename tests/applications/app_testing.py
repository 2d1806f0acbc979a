"""Helpers for the application tests: paired builds, lively weights, Keras-layout h5 files."""

from __future__ import annotations

import os
from collections.abc import Callable

import h5py
import keras
import numpy as np

import convolve
from convolve import applications
from convolve.layers.naming import reset_names

ATOL = 1e-4  # max abs difference between Keras's and convolve's outputs, same weights


def build_pair(name: str, **kwargs) -> tuple[keras.Model, convolve.Model]:
    """The Keras and convolve application `name`, built with fresh automatic names."""
    keras.backend.clear_session()
    reset_names()
    keras_model = getattr(keras.applications, name)(weights=None, **kwargs)
    reset_names()
    return keras_model, getattr(applications, name)(weights=None, **kwargs)


def lively_weights(model, seed: int = 0) -> list[np.ndarray]:
    """Random weights under which activations stay of order one through the whole network.

    Keras's initial weights make deep networks' outputs vanish (MobileNetV2's are ~1e-12),
    which would let a comparison with an absolute tolerance pass whatever the network does.
    Kernels get He scaling (per channel for depthwise ones; a separable convolution's
    depthwise kernel, which no activation follows, keeps the variance), normalizations get
    statistics near the identity; Keras's order of `get_weights()` is kept.
    """
    rng = np.random.default_rng(seed)
    weights = []
    for layer in model.layers:
        kind = type(layer).__name__
        names = _weight_names(layer)
        for i, w in enumerate(layer.get_weights()):
            if kind == "Normalization":
                weights.append(w)  # the input statistics stay as built (mean 0, variance 1)
                continue
            if kind == "BatchNormalization":
                near_one = names[i].endswith(("/gamma:0", "/moving_variance:0"))
                w = rng.uniform(0.8, 1.2, w.shape) if near_one else rng.normal(0.0, 0.1, w.shape)
            elif w.ndim == 1:  # biases
                w = rng.normal(0.0, 0.1, w.shape)
            else:
                separable_depthwise = kind == "SeparableConv2D" and i == 0
                depthwise = kind == "DepthwiseConv2D" or separable_depthwise
                taps = w.shape[:2] if depthwise else w.shape[:-1]
                gain = 1.0 if kind == "Dense" or separable_depthwise else 2.0
                w = rng.normal(0.0, np.sqrt(gain / np.prod(taps)), w.shape)
            weights.append(w.astype("float32"))
    return weights


def keras_outputs(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(x, training=False))


def images(shape, seed: int = 1, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype("float32")


def write_h5(
    model,
    path: str | os.PathLike,
    edit: Callable[[str, list[tuple[str, np.ndarray]]], list[tuple[str, np.ndarray]]] | None = None,
) -> None:
    """Writes `model`'s weights as Keras 2 wrote `.h5` weight files (`layer/kernel:0` names).

    `edit(layer_name, [(weight_name, array), ...])` may change what a layer's group holds.
    """
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode("utf8") for layer in model.layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for layer in model.layers:
            group = f.create_group(layer.name)
            names = _weight_names(layer)
            entries = list(zip(names, layer.get_weights(), strict=True))
            if edit is not None:
                entries = edit(layer.name, entries)
            group.attrs["weight_names"] = [n.encode("utf8") for n, _ in entries]
            for n, value in entries:
                group.create_dataset(n, data=value)


_NAMES = {
    "DepthwiseConv2D": ("depthwise_kernel", "bias"),
    "SeparableConv2D": ("depthwise_kernel", "pointwise_kernel", "bias"),
    "Normalization": ("mean", "variance", "count"),
}


def _weight_names(layer) -> list[str]:
    """Keras 2's names of a layer's weights: `layer/kernel:0`, `layer/bias:0`, ..."""
    if type(layer).__name__ == "BatchNormalization":  # `scale` and `center` may drop one
        names = ("gamma",) * layer.scale + ("beta",) * layer.center
        names += ("moving_mean", "moving_variance")
    else:
        names = _NAMES.get(type(layer).__name__, ("kernel", "bias"))
    return [f"{layer.name}/{name}:0" for name in names[: len(layer.weights)]]


def all_weights(model) -> list[np.ndarray]:
    return [np.array(w, copy=True) for w in model.get_weights()]


def assert_same_weights(before: list[np.ndarray], model) -> None:
    after = model.get_weights()
    assert len(before) == len(after)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
