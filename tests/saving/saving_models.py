"""A catalog of models covering convolve's layer families, and weight helpers for tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

import convolve
from convolve import layers
from convolve.models import Model, Sequential


def available(*names: str) -> bool:
    return all(hasattr(layers, name) for name in names)


def randomize(model: convolve.Layer, seed: int = 0) -> None:
    """Random weights everywhere (positive variances), so every weight matters to outputs."""
    rng = np.random.default_rng(seed)
    for layer in _all_layers(model):
        values = []
        for spec, tensor in layer._own_weights():
            shape = tuple(tensor.shape)
            if spec.layout is not None:
                shape = tuple(shape[spec.layout.index(i)] for i in range(len(shape)))
            value = rng.normal(0.0, 0.5, shape).astype(np.float32)
            if "variance" in spec.name:
                value = np.abs(value) + 0.5
            values.append(value)
        if values:
            with torch.no_grad():
                for (spec, tensor), value in zip(layer._own_weights(), values, strict=True):
                    t = torch.from_numpy(value)
                    tensor.copy_(t.permute(*spec.layout) if spec.layout is not None else t)


def _all_layers(model: convolve.Layer) -> list[convolve.Layer]:
    return [m for m in model.modules() if isinstance(m, convolve.Layer)]


def inputs_for(model: convolve.Model, batch: int = 3, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, (batch, *t.shape[1:])).astype(np.float32) for t in model.inputs]


def predict(model: convolve.Model, data: list[np.ndarray]) -> list[np.ndarray]:
    out = model.predict(data[0] if len(data) == 1 else data, verbose=0)
    return list(out) if isinstance(out, list | tuple) else [out]


# --------------------------------------------------------------------- the catalog
def _mlp() -> Model:
    return Sequential(
        [
            layers.Input((12,)),
            layers.Dense(16, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(10, activation="tanh", use_bias=False),
            layers.ReLU(max_value=0.5, negative_slope=0.1),
            layers.LeakyReLU(0.2),
            layers.ELU(0.5),
            layers.Identity(),
            layers.Dense(6),
            layers.Softmax(),
        ],
        name="mlp",
    )


def _conv2d() -> Model:
    return Sequential(
        [
            layers.Input((12, 12, 3)),
            layers.Rescaling(1 / 255.0, offset=-0.5),
            layers.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(padding="same"),
            layers.Conv2D(6, (2, 2), padding="valid"),
            layers.AveragePooling2D(pool_size=(1, 2)),
            layers.SpatialDropout2D(0.2),
            layers.Flatten(),
            layers.Dense(5, activation="softmax"),
        ],
        name="conv2d_model",
    )


def _conv1d() -> Model:
    return Sequential(
        [
            layers.Input((20, 3)),
            layers.Conv1D(4, 3, padding="causal", activation="elu"),
            layers.ZeroPadding1D((1, 2)),
            layers.MaxPooling1D(2),
            layers.AveragePooling1D(3, strides=2, padding="same"),
            layers.SpatialDropout1D(0.1),
            layers.Conv1D(5, 2, dilation_rate=2),
            layers.GlobalMaxPooling1D(),
            layers.Dense(2),
        ],
        name="conv1d_model",
    )


def _conv3d() -> Model:
    return Sequential(
        [
            layers.Input((6, 6, 6, 2)),
            layers.Conv3D(3, 2, activation="sigmoid"),
            layers.ZeroPadding3D(1),
            layers.MaxPooling3D(2),
            layers.AveragePooling3D(1),
            layers.SpatialDropout3D(0.1),
            layers.BatchNormalization(center=False, scale=False),
            layers.GlobalAveragePooling3D(),
            layers.Dense(3),
        ],
        name="conv3d_model",
    )


def _reshaping() -> Model:
    return Sequential(
        [
            layers.Input((6, 4)),
            layers.Reshape((4, 6)),
            layers.Permute((2, 1)),
            layers.Reshape((3, 2, 4)),
            layers.ZeroPadding2D(((1, 0), (2, 1))),
            layers.Conv2D(2, 2, padding="same", use_bias=False),
            layers.GlobalMaxPooling2D(keepdims=True),
            layers.Flatten(),
            layers.Activation("swish"),
            layers.Dense(3, kernel_regularizer="l2"),
        ],
        name="reshaping_model",
    )


def _functional() -> Model:
    image = convolve.Input((10, 10, 3), name="image")
    vector = convolve.Input((4,), name="vector")
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(image)
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    shared = layers.Dense(4, activation="tanh", name="shared")
    a, b = shared(x), shared(vector)
    inner = Sequential([layers.Input((4,)), layers.Dense(5), layers.Dense(3)], name="inner")
    block_input = convolve.Input((4,))
    block = convolve.Model(block_input, layers.Dense(3)(block_input), name="block")
    head = layers.Dense(2, name="head")(block(a))
    outputs = [head, inner(b), a, block(b)]  # block's second call is an output
    return convolve.Model([image, vector], outputs, name="two_towers")


def _pooling() -> Model:
    return Sequential(
        [
            layers.Input((9, 9, 4)),
            layers.MaxPooling2D(3, strides=2, padding="same"),
            layers.AveragePooling2D(2, padding="same"),
            layers.GlobalAveragePooling2D(keepdims=True),
            layers.Reshape((4,)),
            layers.Dense(2),
        ],
        name="pooling",
    )


def _grouped_conv() -> Model:
    return Sequential(
        [
            layers.Input((10, 10, 4)),
            layers.Conv2D(8, 3, groups=2, padding="same"),
            layers.Conv2D(4, 3, dilation_rate=2, activation="gelu"),
            layers.BatchNormalization(scale=False, epsilon=0.01),
            layers.ZeroPadding2D(2),
            layers.GlobalMaxPooling2D(),
            layers.Dense(3, activation="selu"),
        ],
        name="grouped_conv",
    )


def _activations() -> Model:
    names = ["sigmoid", "hard_sigmoid", "softplus", "softsign", "mish", "relu6", "silu"]
    return Sequential(
        [layers.Input((6,))]
        + [layers.Dense(6, activation=name) for name in names]
        + [layers.Dense(4, activation="log_softmax")],
        name="activations",
    )


def _frozen() -> Model:
    image = convolve.Input((7, 7, 3))
    conv = layers.Conv2D(4, 3, trainable=False)
    norm = layers.BatchNormalization()
    norm.trainable = False
    x = layers.Flatten()(norm(conv(image)))
    return convolve.Model(image, layers.Dense(2)(x), name="frozen")


def _merging() -> Model:
    image = convolve.Input((8, 8, 2))
    left = layers.Conv2D(3, 3, padding="same")(image)
    right = layers.Conv2D(3, 1)(image)
    added = layers.Add()([left, right])
    joined = layers.Concatenate()([added, image])
    pooled = layers.GlobalMaxPooling2D()(joined)
    scaled = layers.Multiply()([pooled, layers.Dense(5)(pooled)])
    return convolve.Model(image, layers.Dense(2)(scaled), name="merging")


def _conv_variants() -> Model:
    return Sequential(
        [
            layers.Input((9, 9, 4)),
            layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
            layers.SeparableConv2D(5, 3, activation="relu"),
            layers.Conv2DTranspose(3, 3, strides=2),
            layers.GlobalAveragePooling2D(),
        ],
        name="conv_variants",
    )


def _normalizations() -> Model:
    return Sequential(
        [
            layers.Input((6, 6, 4)),
            layers.LayerNormalization(),
            layers.GroupNormalization(groups=2),
            layers.Flatten(),
            layers.Dense(3),
        ],
        name="normalizations",
    )


def _resampling() -> Model:
    return Sequential(
        [
            layers.Input((8, 8, 2)),
            layers.Cropping2D(((1, 0), (0, 2))),
            layers.UpSampling2D(2),
            layers.Conv2D(2, 3),
            layers.GlobalAveragePooling2D(),
        ],
        name="resampling",
    )


def _preprocessing() -> Model:
    return Sequential(
        [
            layers.Input((10, 10, 3)),
            layers.Resizing(8, 8),
            layers.CenterCrop(6, 6),
            layers.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 3.0]),
            layers.Conv2D(2, 3),
            layers.GlobalMaxPooling2D(),
        ],
        name="preprocessing",
    )


def _augmentation() -> Model:
    return Sequential(
        [
            layers.Input((8, 8, 3)),
            layers.RandomFlip(),
            layers.RandomRotation(0.1),
            layers.RandomZoom(0.1),
            layers.RandomContrast(0.2),
            layers.Conv2D(2, 3),
            layers.Flatten(),
        ],
        name="augmentation",
    )


# name -> (builder, layer names it needs beyond the ones always present)
CATALOG: dict[str, tuple[Callable[[], Model], tuple[str, ...]]] = {
    "mlp": (_mlp, ()),
    "conv2d": (_conv2d, ()),
    "conv1d": (_conv1d, ()),
    "conv3d": (_conv3d, ()),
    "reshaping": (_reshaping, ()),
    "functional": (_functional, ()),
    "pooling": (_pooling, ()),
    "grouped_conv": (_grouped_conv, ()),
    "activations": (_activations, ()),
    "frozen": (_frozen, ()),
    "merging": (_merging, ("Add", "Concatenate", "Multiply")),
    "conv_variants": (_conv_variants, ("DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose")),
    "normalizations": (_normalizations, ("LayerNormalization", "GroupNormalization")),
    "resampling": (_resampling, ("Cropping2D", "UpSampling2D")),
    "preprocessing": (_preprocessing, ("Resizing", "CenterCrop", "Normalization")),
    "augmentation": (
        _augmentation,
        ("RandomFlip", "RandomRotation", "RandomZoom", "RandomContrast"),
    ),
}
# Models of layers exported by convolve.layers now; the first ten always are.
MODEL_NAMES = [name for name, (_, needs) in CATALOG.items() if available(*needs)]


def build(name: str, seed: int = 0) -> Model:
    convolve.layers.naming.reset_names()
    model = CATALOG[name][0]()
    randomize(model, seed)
    return model
