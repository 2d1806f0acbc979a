"""get_config keys, in Keras's order, for the layers whose configs have Keras-specific
entries: convolutions (activity_regularizer, always written), Dense
(quantization_config) and spatial dropout (no trainable)."""

from __future__ import annotations

import keras
import pytest

import convolve

CASES = [
    ("Dense", (2,)),
    ("Conv1D", (2, 3)),
    ("Conv2D", (2, 3)),
    ("Conv3D", (2, 3)),
    ("Conv1DTranspose", (2, 3)),
    ("Conv2DTranspose", (2, 3)),
    ("Conv3DTranspose", (2, 3)),
    ("SeparableConv1D", (2, 3)),
    ("SeparableConv2D", (2, 3)),
    ("DepthwiseConv1D", (3,)),
    ("DepthwiseConv2D", (3,)),
    ("SpatialDropout1D", (0.2,)),
    ("SpatialDropout2D", (0.2,)),
    ("SpatialDropout3D", (0.2,)),
]


@pytest.mark.parametrize("name, args", CASES)
def test_config_keys_in_keras_order(name, args):
    ours = getattr(convolve.layers, name)(*args, name="x").get_config()
    theirs = getattr(keras.layers, name)(*args, name="x").get_config()
    assert list(ours) == list(theirs)
    rebuilt = getattr(convolve.layers, name).from_config(ours)
    assert list(rebuilt.get_config()) == list(ours)


def test_quantized_dense_is_refused_by_name():
    with pytest.raises(ValueError, match="quantization_config"):
        convolve.layers.Dense(2, quantization_config={"mode": "int8"})
