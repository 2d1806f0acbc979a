"""Embedding, RMSNormalization, adaptive pooling, Dot and layer (de)serialization vs Keras."""

from __future__ import annotations

import inspect
import json

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import layers

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
ATOL = 1e-5  # max abs difference of outputs (float32, values of order 1)


def _np(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _short(value):
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items() if k not in ("module", "registered_name")}
    if isinstance(value, list):
        return [_short(v) for v in value]
    return value


def _config(layer):
    config = json.loads(json.dumps(layer.get_config()))
    config.pop("dtype", None)
    return _short(config)


NAMES = ["Embedding", "RMSNormalization", "Dot", "AdaptiveAveragePooling1D",
         "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D", "AdaptiveMaxPooling1D",
         "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D"]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_constructor_defaults_match_keras(name):
    ours = inspect.signature(getattr(layers, name).__init__).parameters
    theirs = inspect.signature(getattr(keras.layers, name).__init__).parameters
    assert list(ours) == list(theirs)
    for key, param in theirs.items():
        assert ours[key].default == param.default, key


@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4)])
def test_embedding_matches_keras(shape):
    theirs = keras.layers.Embedding(10, 4, mask_zero=True, name="e")
    ours = layers.Embedding(10, 4, mask_zero=True, name="e")
    ids = np.random.default_rng(0).integers(0, 10, shape).astype(np.int32)
    theirs(ids)
    ours(ids)
    table = _rand((10, 4), 1)
    theirs.set_weights([table])
    ours.set_weights([table])
    np.testing.assert_array_equal(_np(ours(ids)), _np(theirs(ids)))
    np.testing.assert_array_equal(_np(ours(ids.astype(np.float32))), _np(theirs(ids)))
    np.testing.assert_array_equal(_np(ours.compute_mask(ids)), _np(theirs.compute_mask(ids)))
    assert ours.compute_output_shape((None, *shape[1:])) == theirs.compute_output_shape(
        (None, *shape[1:])
    )
    assert _config(ours) == _config(theirs)
    assert layers.Embedding(3, 2).compute_mask(ids) is None


def test_embedding_default_initializer_is_keras_uniform_range():
    layer = layers.Embedding(500, 40)
    layer(np.zeros((1, 2), np.int32))
    table = layer.get_weights()[0]
    assert table.shape == (500, 40)
    assert -0.05 <= table.min() < -0.049 and 0.049 < table.max() <= 0.05
    assert _config(layer)["embeddings_initializer"] == _short(
        keras.layers.Embedding(5, 2).get_config()["embeddings_initializer"]
    )


def test_embedding_input_length_warns_and_weights_argument():
    with pytest.warns(UserWarning, match="input_length"):
        layers.Embedding(4, 2, input_length=7)
    table = _rand((4, 2), 0)
    layer = layers.Embedding(4, 2, weights=table)
    np.testing.assert_array_equal(_np(layer(np.array([[3, 1]]))), table[[[3, 1]]])
    with pytest.raises(ValueError, match="input_dim"):
        layers.Embedding(0, 2)
    with pytest.raises(ValueError, match="output_dim"):
        layers.Embedding(3, 2.5)


def _token_model(lib):
    inputs = lib.Input(shape=(6,))  # float ids: Embedding casts them, in both
    x = lib.layers.Embedding(20, 8)(inputs)
    x = lib.layers.RMSNormalization()(x)
    x = lib.layers.MultiHeadAttention(2, 4)(x, x)
    x = lib.layers.AdaptiveAveragePooling1D(3)(x)
    x = lib.layers.Flatten()(x)
    return lib.Model(inputs, lib.layers.Dense(3)(x))


def test_token_model_matches_keras_outputs_and_param_counts():
    theirs, ours = _token_model(keras), _token_model(convolve)
    assert ours.count_params() == theirs.count_params()
    lines = []
    ours.summary(print_fn=lines.append)
    for layer in theirs.layers:
        assert f"{layer.count_params():,}" in "\n".join(lines)
    rng = np.random.default_rng(0)
    weights = [(0.3 * rng.standard_normal(w.shape)).astype(np.float32) for w in theirs.weights]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    ids = rng.integers(0, 20, (4, 6)).astype(np.int32)
    np.testing.assert_allclose(_np(ours(ids)), _np(theirs(ids)), atol=ATOL)


@pytest.mark.slow
def test_token_model_trains_like_keras():
    theirs, ours = _token_model(keras), _token_model(convolve)
    rng = np.random.default_rng(1)
    weights = [(0.3 * rng.standard_normal(w.shape)).astype(np.float32) for w in theirs.weights]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    ids = rng.integers(0, 20, (8, 6)).astype(np.int32)
    y = rng.integers(0, 3, 8)
    # SGD: the key bias's true gradient is zero (softmax ignores it), so Adam would
    # amplify float rounding noise into different updates in any two implementations.
    theirs.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(True))
    ours.compile(convolve.optimizers.SGD(0.1), convolve.losses.SparseCategoricalCrossentropy(True))
    for _ in range(3):
        np.testing.assert_allclose(
            float(ours.train_on_batch(ids, y)), float(theirs.train_on_batch(ids, y)), rtol=1e-5
        )
    for got, expected in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_embedding_sequential_trains_like_keras():
    def build(lib):
        return lib.Sequential([lib.Input((5,)), lib.layers.Embedding(12, 3),
                               lib.layers.Flatten(), lib.layers.Dense(2)])  # fmt: skip

    theirs, ours = build(keras), build(convolve)
    rng = np.random.default_rng(2)
    weights = [(0.3 * rng.standard_normal(w.shape)).astype(np.float32) for w in theirs.weights]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    ids = rng.integers(0, 12, (6, 5)).astype(np.int32)
    y = rng.standard_normal((6, 2)).astype(np.float32)
    theirs.compile(keras.optimizers.SGD(0.1), "mse")
    ours.compile(convolve.optimizers.SGD(0.1), "mse")
    for _ in range(3):
        np.testing.assert_allclose(
            float(ours.train_on_batch(ids, y)), float(theirs.train_on_batch(ids, y)), rtol=1e-5
        )
    for got, expected in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis, shape", [(-1, (2, 3, 8)), ([-2, -1], (2, 3, 4, 5)), (1, (2, 6))])
def test_rms_normalization_matches_keras(axis, shape):
    theirs = keras.layers.RMSNormalization(axis=axis, epsilon=1e-3, name="r")
    ours = layers.RMSNormalization(axis=axis, epsilon=1e-3, name="r")
    x = _rand(shape, 0)
    theirs(x)
    ours(x)
    scale = [_rand(w.shape, 1) for w in theirs.weights]
    theirs.set_weights(scale)
    ours.set_weights(scale)
    np.testing.assert_allclose(_np(ours(x)), _np(theirs(x)), atol=ATOL)
    assert _config(ours) == _config(theirs)


def test_rms_normalization_refuses_leading_axes():
    with pytest.raises(NotImplementedError, match="axis"):
        layers.RMSNormalization(axis=1)(_rand((2, 3, 4), 0))


ADAPTIVE = [
    ("AdaptiveAveragePooling1D", 4, (2, 11, 3)),
    ("AdaptiveMaxPooling1D", (3,), (2, 10, 3)),
    ("AdaptiveAveragePooling2D", (3, 4), (2, 7, 9, 3)),
    ("AdaptiveMaxPooling2D", 2, (2, 5, 6, 3)),
    ("AdaptiveAveragePooling3D", (2, 3, 2), (1, 5, 7, 4, 2)),
    ("AdaptiveMaxPooling3D", 2, (1, 4, 5, 3, 2)),
]


@pytest.mark.parametrize("name, size, shape", ADAPTIVE)
def test_adaptive_pooling_matches_keras(name, size, shape):
    theirs = getattr(keras.layers, name)(size, name="p")
    ours = getattr(layers, name)(size, name="p")
    x = _rand(shape, 0)
    np.testing.assert_allclose(_np(ours(x)), _np(theirs(x)), atol=ATOL)
    unknown = (None,) * (len(shape) - 1) + (shape[-1],)
    assert ours.compute_output_shape(unknown) == theirs.compute_output_shape(unknown)
    assert _config(ours) == _config(theirs)


def test_adaptive_pooling_bad_size():
    with pytest.raises(TypeError, match="output_size"):
        layers.AdaptiveAveragePooling2D((2, 3, 4))
    with pytest.raises(ValueError, match="output_size"):
        layers.AdaptiveMaxPooling1D(0)


DOT = [
    (-1, False, (3, 5), (3, 5)),
    (1, True, (3, 5), (3, 5)),
    (2, False, (2, 4, 6), (2, 7, 6)),
    ((1, 2), True, (2, 4, 6), (2, 6, 4)),
    ((2, 1), False, (2, 3, 4), (2, 4, 5)),
]


@pytest.mark.parametrize("axes, normalize, s1, s2", DOT)
def test_dot_matches_keras(axes, normalize, s1, s2):
    theirs = keras.layers.Dot(axes, normalize=normalize, name="d")
    ours = layers.Dot(axes, normalize=normalize, name="d")
    a, b = _rand(s1, 0), _rand(s2, 1)
    np.testing.assert_allclose(_np(ours([a, b])), _np(theirs([a, b])), atol=ATOL)
    shapes = [(None, *s1[1:]), (None, *s2[1:])]
    assert ours.compute_output_shape(shapes) == theirs.compute_output_shape(shapes)
    assert _config(ours) == _config(theirs)
    got = layers.dot([convolve.Input(s1[1:]), convolve.Input(s2[1:])], axes=axes)
    assert got.shape == keras.layers.dot([keras.Input(s1[1:]), keras.Input(s2[1:])], axes).shape


def test_dot_bad_arguments():
    with pytest.raises(TypeError, match="axes"):
        layers.Dot("x")
    with pytest.raises(ValueError, match="axes"):
        layers.Dot((1, 2, 3))
    with pytest.raises(ValueError, match="Incompatible"):
        layers.Dot(1)([_rand((2, 3), 0), _rand((2, 4), 0)])


@pytest.mark.parametrize(
    "layer",
    [
        lambda lib: lib.layers.Embedding(10, 3, mask_zero=True),
        lambda lib: lib.layers.MultiHeadAttention(2, 4, dropout=0.1),
        lambda lib: lib.layers.Dot(axes=(1, 2)),
        lambda lib: lib.layers.Dense(3, activation="relu"),
    ],
)
def test_serialize_and_deserialize_follow_keras(layer):
    ours, theirs = layer(convolve), layer(keras)
    data = layers.serialize(ours)
    expected = keras.layers.serialize(theirs)
    assert data["class_name"] == expected["class_name"]
    assert data["module"] == expected["module"]
    rebuilt = layers.deserialize(data)
    assert type(rebuilt) is type(ours)
    assert _config(rebuilt) == _config(ours)
    from_keras = layers.deserialize(json.loads(json.dumps(expected)))
    assert _config(from_keras) | {"name": None} == _config(theirs) | {"name": None}


def test_deserialize_bad_config():
    with pytest.raises(ValueError, match="class_name"):
        layers.deserialize({"config": {}})
    with pytest.raises(ValueError, match="Layer"):
        layers.serialize("Dense")


@pytest.mark.parametrize("head", ["average", "lstm", "bidirectional"])
def test_embedding_masks_reach_the_layers_that_read_them_as_in_keras(head):
    """Padding id 0 is skipped by recurrent layers and left out of GlobalAveragePooling1D's
    mean, in functional and Sequential models; without the mask the outputs would differ."""

    def build(lib):
        inputs = lib.Input((7,), dtype="int32")
        x = lib.layers.Embedding(20, 4, mask_zero=True)(inputs)
        if head == "lstm":
            x = lib.layers.LSTM(3)(x)
        elif head == "bidirectional":
            x = lib.layers.Bidirectional(lib.layers.LSTM(3, return_sequences=True))(x)
            x = lib.layers.GlobalAveragePooling1D()(x)
        else:
            x = lib.layers.GlobalAveragePooling1D()(x)
        return lib.Model(inputs, lib.layers.Dense(2)(x))

    ids = np.array([[3, 4, 5, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7], [9, 0, 0, 0, 0, 0, 0]])
    theirs, ours = build(keras), build(convolve)
    ours.set_weights(theirs.get_weights())
    expected = theirs.predict(ids, verbose=0)
    np.testing.assert_allclose(ours.predict(ids, verbose=0), expected, atol=1e-6, rtol=0)
    unmasked = build(convolve)
    unmasked.layers[1].mask_zero = False
    unmasked.set_weights(theirs.get_weights())
    assert np.abs(unmasked.predict(ids, verbose=0) - expected).max() > 1e-3
