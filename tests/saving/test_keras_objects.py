"""serialize_keras_object / deserialize_keras_object against Keras's."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import convolve
from convolve.saving import ModelFileError, UnsafeModelError


def _pairs():
    c, k = convolve, keras
    return [
        (c.regularizers.L2(0.01), k.regularizers.L2(0.01)),
        (
            c.optimizers.Adam(0.01, beta_1=0.8, name="adam"),
            k.optimizers.Adam(0.01, beta_1=0.8, name="adam"),
        ),
        (c.metrics.SparseCategoricalAccuracy(), k.metrics.SparseCategoricalAccuracy()),
        (
            c.losses.BinaryCrossentropy(label_smoothing=0.1),
            k.losses.BinaryCrossentropy(label_smoothing=0.1),
        ),
        (c.activations.relu, k.activations.relu),
        (c.constraints.MaxNorm(2.0), k.constraints.MaxNorm(2.0)),
        (
            c.optimizers.schedules.ExponentialDecay(0.1, 100, 0.9),
            k.optimizers.schedules.ExponentialDecay(0.1, 100, 0.9),
        ),
        (c.layers.Conv2D(4, 3, name="conv"), k.layers.Conv2D(4, 3, name="conv")),
        (c.layers.Dense(2, name="dense"), k.layers.Dense(2, name="dense")),
        (c.initializers.HeNormal(seed=1), k.initializers.HeNormal(seed=1)),
        ([c.regularizers.L2(0.1), 3, "x"], [k.regularizers.L2(0.1), 3, "x"]),
    ]


def _as_in_a_file(config):
    """JSON's view of a config: tuples become lists, as in a saved file."""
    return json.loads(json.dumps(config))


@pytest.mark.parametrize("index", range(len(_pairs())))
def test_serialized_forms_equal_keras_s_and_load_both_ways(index):
    ours, theirs = _pairs()[index]
    written = convolve.utils.serialize_keras_object(ours)
    expected = keras.saving.serialize_keras_object(theirs)
    if isinstance(ours, convolve.optimizers.Optimizer):
        # Keras's torch backend names its own Adam subclass; files hold keras.optimizers.
        expected.update(module="keras.optimizers", registered_name=None)
    assert _as_in_a_file(written) == _as_in_a_file(expected)
    rebuilt = convolve.saving.deserialize_keras_object(expected)
    assert convolve.utils.serialize_keras_object(rebuilt) == written
    back = keras.saving.deserialize_keras_object(written)
    assert type(back).__name__ == type(theirs).__name__


def test_nested_dicts_custom_classes_and_refusals():
    class Halve(convolve.regularizers.Regularizer):
        def __init__(self, rate=0.5):
            self.rate = rate

        def __call__(self, x):
            return self.rate * x.sum()

        def get_config(self):
            return {"rate": self.rate}

    config = convolve.utils.serialize_keras_object({"reg": Halve(0.25), "n": 2})
    assert config["n"] == 2 and config["reg"]["class_name"] == "Halve"
    rebuilt = convolve.utils.deserialize_keras_object(config, custom_objects={"Halve": Halve})
    assert isinstance(rebuilt["reg"], Halve) and rebuilt["reg"].rate == 0.25
    with pytest.raises(ModelFileError, match="Halve"):
        convolve.utils.deserialize_keras_object(config["reg"])
    layer = keras.layers.Lambda(lambda x: x * 2)
    with pytest.raises(UnsafeModelError):
        convolve.utils.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    relu = convolve.utils.deserialize_keras_object("relu")
    assert relu == "relu"  # a plain string stays a string, as in Keras
    dense = convolve.utils.deserialize_keras_object(
        keras.saving.serialize_keras_object(keras.layers.Dense(2, activation="relu"))
    )
    assert dense.units == 2 and np.isclose(float(dense.activation(np.float32(-1.0))), 0.0)
