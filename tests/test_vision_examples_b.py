"""Parity with Keras for the modern-MLP, ConvMixer and ESPCN image examples' building blocks."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest

import convolve

pytestmark = pytest.mark.parity


def _data(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, shape).astype("float32")


def _conv_mixer(lib, filters=8, depth=1, kernel_size=3, patch_size=2):
    layers = lib.layers

    def activation_block(x):
        x = layers.Activation("gelu")(x)
        return layers.BatchNormalization()(x)

    inputs = lib.Input((8, 8, 3))
    x = layers.Rescaling(scale=1.0 / 255)(inputs)
    x = layers.Conv2D(filters, kernel_size=patch_size, strides=patch_size)(x)
    x = activation_block(x)
    for _ in range(depth):
        x0 = x
        x = layers.DepthwiseConv2D(kernel_size=kernel_size, padding="same")(x)
        x = layers.Add()([activation_block(x), x0])
        x = layers.Conv2D(filters, kernel_size=1)(x)
        x = activation_block(x)
    x = layers.GlobalAvgPool2D()(x)
    outputs = layers.Dense(4, activation="softmax")(x)
    return lib.Model(inputs, outputs)


def test_conv_mixer_outputs_and_training_match_keras():
    km, cm = _conv_mixer(keras), _conv_mixer(convolve)
    assert cm.count_params() == km.count_params()
    cm.set_weights(km.get_weights())
    x = _data((8, 8, 8, 3))
    y = np.arange(8) % 4
    np.testing.assert_allclose(cm.predict(x, verbose=0), km.predict(x, verbose=0), atol=1e-5)
    for m, lib in ((km, keras), (cm, convolve)):
        m.compile(
            optimizer=lib.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    hk = km.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    hc = cm.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(hc["loss"], hk["loss"], rtol=1e-4)
    for a, b in zip(cm.get_weights(), km.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
