"""`layers.Wrapper`, the base of user layers that wrap another layer, against Keras 3:
outputs (rtol 1e-6 with the same weights), weights, configs and model files both ways."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras_compare import (
    fresh_names,  # noqa: F401  (the fixture the tests use)
    to_numpy,
)

import convolve


def scaled_wrapper(lib):
    class ScaledOutput(lib.layers.Wrapper):
        """The wrapped layer's output times `scale`, as a user writes a wrapper."""

        def __init__(self, layer, scale=2.0, **kwargs):
            super().__init__(layer, **kwargs)
            self.scale = scale

        def call(self, inputs):
            return self.layer(inputs) * self.scale

        def compute_output_shape(self, input_shape):
            return self.layer.compute_output_shape(input_shape)

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}

    return ScaledOutput


def build(lib):
    wrapper = scaled_wrapper(lib)
    model = lib.Sequential(
        [lib.Input((6, 6, 2)), wrapper(lib.layers.Conv2D(3, 3), scale=0.5), lib.layers.Flatten()]
    )
    return model, wrapper


@pytest.mark.usefixtures("fresh_names")
def test_user_wrapper_matches_keras():
    theirs, _ = build(keras)
    ours, _ = build(convolve)
    assert ours.count_params() == theirs.count_params() == 3 * 3 * 2 * 3 + 3
    ours.set_weights(theirs.get_weights())
    x = np.random.RandomState(0).rand(2, 6, 6, 2).astype("float32")
    np.testing.assert_allclose(
        to_numpy(ours(x)), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-6, atol=1e-6
    )
    assert [w.shape for w in ours.layers[0].get_weights()] == [
        w.shape for w in theirs.layers[0].get_weights()
    ]
    ours_config = ours.layers[0].get_config()
    theirs_config = theirs.layers[0].get_config()
    assert ours_config["scale"] == theirs_config["scale"]
    assert ours_config["layer"]["class_name"] == theirs_config["layer"]["class_name"]
    assert ours_config["layer"]["config"]["filters"] == theirs_config["layer"]["config"]["filters"]


@pytest.mark.usefixtures("fresh_names")
def test_wrapper_model_files_cross_both_ways(tmp_path):
    x = np.random.RandomState(1).rand(2, 6, 6, 2).astype("float32")
    theirs, keras_wrapper = build(keras)
    ours, our_wrapper = build(convolve)
    ours.set_weights(theirs.get_weights())
    keras_file, our_file = tmp_path / "k.keras", tmp_path / "c.keras"
    theirs.save(keras_file)
    ours.save(our_file)
    expected = keras.ops.convert_to_numpy(theirs(x))
    loaded_ours = convolve.saving.load_model(
        keras_file, custom_objects={"ScaledOutput": our_wrapper}
    )
    loaded_theirs = keras.saving.load_model(
        our_file, custom_objects={"ScaledOutput": keras_wrapper}
    )
    np.testing.assert_allclose(to_numpy(loaded_ours(x)), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded_theirs(x)), expected, rtol=1e-6, atol=1e-6
    )
    assert loaded_ours.layers[0].scale == 0.5


def test_wrapper_refuses_a_non_layer():
    with pytest.raises(ValueError, match="supplied to Wrapper isn't a supported layer"):
        convolve.layers.Wrapper("dense")


def test_wrapper_builds_the_wrapped_layer():
    wrapper = scaled_wrapper(convolve)(convolve.layers.Dense(4))
    wrapper.build((None, 3))
    assert wrapper.built and wrapper.layer.built
    assert [tuple(w.shape) for w in wrapper.get_weights()] == [(3, 4), (4,)]


def test_time_distributed_is_a_wrapper_as_in_keras():
    for lib in (keras, convolve):
        layer = lib.layers.TimeDistributed(lib.layers.Dense(2))
        assert isinstance(layer, lib.layers.Wrapper)
