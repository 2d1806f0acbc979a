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


def _espcn(lib, upscale=3):
    """The super-resolution example's sub-pixel model, its DepthToSpace a user layer."""

    class DepthToSpace(lib.layers.Layer):
        def __init__(self, block_size, **kwargs):
            super().__init__(**kwargs)
            self.block_size = block_size

        def call(self, x):
            b, h, w, d = lib.ops.shape(x)
            s = self.block_size
            x = lib.ops.reshape(x, (b, h, w, s, s, d // s**2))
            x = lib.ops.transpose(x, [0, 1, 3, 2, 4, 5])
            return lib.ops.reshape(x, (b, h * s, w * s, d // s**2))

    inputs = lib.Input((None, None, 1))
    x = lib.layers.Conv2D(8, 3, activation="relu", padding="same")(inputs)
    x = lib.layers.Conv2D(upscale**2, 3, padding="same")(x)
    return lib.Model(inputs, DepthToSpace(upscale)(x))


def test_a_user_layer_on_unknown_image_sizes_keeps_them_unknown_and_trains_as_keras():
    theirs, ours = _espcn(keras), _espcn(convolve)
    assert ours.output_shape == theirs.output_shape == (None, None, None, 1)
    ours.set_weights(theirs.get_weights())
    rng = np.random.default_rng(1)
    x, y = rng.random((4, 5, 5, 1)).astype("float32"), rng.random((4, 15, 15, 1)).astype("float32")
    for model in (theirs, ours):
        model.compile(optimizer="adam", loss="mse")
    expected = theirs.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0).history["loss"]
    got = ours.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
