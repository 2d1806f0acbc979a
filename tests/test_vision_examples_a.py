"""Parity checks drawn from the keras.io vision examples (U-Net segmentation, denoising
autoencoder, ConvLSTM next-frame prediction), at small sizes, against Keras."""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest

import convolve


def _unet_like(lib, filters=(4, 8)):
    """A shrunken version of the example's U-Net: same layer kinds and wiring."""
    layers = lib.layers
    inputs = lib.Input(shape=(16, 16, 3))
    x = layers.Conv2D(4, 3, strides=2, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    previous = x
    for f in filters:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(f, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(f, 1, strides=2, padding="same")(previous)
        x = layers.add([x, residual])
        previous = x
    for f in reversed(filters):
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(f, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.UpSampling2D(2)(x)
        residual = layers.UpSampling2D(2)(previous)
        residual = layers.Conv2D(f, 1, padding="same")(residual)
        x = layers.add([x, residual])
        previous = x
    x = layers.UpSampling2D(2)(x)
    outputs = layers.Conv2D(3, 3, activation="softmax", padding="same")(x)
    return lib.Model(inputs, outputs)


def _layer_entries(model):
    """The model's layer entries as written to a file (JSON: tuples become lists)."""
    config = json.loads(json.dumps(model.get_config()))
    return {entry["name"]: entry for entry in config["layers"]}


@pytest.mark.parametrize(
    ("name", "shape"),
    [("UpSampling1D", (5, 3)), ("UpSampling2D", (4, 4, 3)), ("UpSampling3D", (2, 4, 4, 3))],
)
def test_upsampling_build_config_matches_keras(name, shape):
    entries = {}
    for lib in (keras, convolve):
        layer = getattr(lib.layers, name)(2, name="up")
        assert layer.built is False  # Keras builds these on the first call, not at init
        inputs = lib.Input(shape)
        lib.Model(inputs, layer(inputs))
        assert layer.built is True
        entries[lib.__name__] = _layer_entries(lib.Model(inputs, layer(inputs)))["up"]
    assert entries["convolve"].get("build_config") == entries["keras"].get("build_config")
    assert entries["convolve"]["build_config"] == {"input_shape": [None, *shape]}


def test_unet_like_layer_build_configs_and_outputs_match_keras():
    keras.backend.clear_session()  # generated layer names count from a fresh start in both
    convolve.backend.clear_session()
    k_model = _unet_like(keras)
    c_model = _unet_like(convolve)
    k_entries, c_entries = _layer_entries(k_model), _layer_entries(c_model)
    assert list(k_entries) == list(c_entries)
    for name, k_entry in k_entries.items():
        assert c_entries[name].get("build_config") == k_entry.get("build_config"), name
        if k_entry["class_name"] != "InputLayer":  # generated input names differ per run
            assert c_entries[name]["config"] == k_entry["config"], name
    assert c_model.count_params() == k_model.count_params()
    c_model.set_weights(k_model.get_weights())
    x = np.random.default_rng(0).random((2, 16, 16, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(k_model(x, training=False))
    got = c_model.predict(x, verbose=0)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
