"""Weight constraints against Keras: the projections themselves, their configs, and
training with them (the optimizer applies each one after every update, in Keras's layout).

Tolerance: rtol 1e-5, atol 1e-6 (float32).
"""

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import constraints

RNG = np.random.default_rng(0)
W = RNG.normal(size=(3, 3, 2, 4)).astype("float32")


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("MaxNorm", {}),
        ("MaxNorm", {"max_value": 0.5, "axis": [0, 1, 2]}),
        ("MinMaxNorm", {"min_value": 0.5, "max_value": 1.5, "rate": 0.7, "axis": 3}),
        ("NonNeg", {}),
        ("UnitNorm", {"axis": [0, 1]}),
    ],
)
def test_projections_and_configs_match_keras(name, kwargs):
    ours, theirs = getattr(constraints, name)(**kwargs), getattr(keras.constraints, name)(**kwargs)
    expected = keras.ops.convert_to_numpy(theirs(keras.ops.convert_to_tensor(W)))
    np.testing.assert_allclose(ours(torch.from_numpy(W)).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert constraints.serialize(ours) == keras.constraints.serialize(theirs)
    again = constraints.deserialize(constraints.serialize(ours))
    assert type(again) is type(ours) and again.get_config() == ours.get_config()


@pytest.mark.parametrize("identifier", ["max_norm", "MinMaxNorm", "non_neg", "unit_norm"])
def test_names_resolve_as_in_keras(identifier):
    assert (
        type(constraints.get(identifier)).__name__
        == type(keras.constraints.get(identifier)).__name__
    )
    with pytest.raises(ValueError, match="nonneg"):
        constraints.get("nonneg")


def _model(lib):
    layers = lib.layers
    return lib.Sequential(
        [
            lib.Input((6, 6, 2)),
            layers.Conv2D(
                3, 3, kernel_constraint=lib.constraints.MaxNorm(0.3, axis=[0, 1, 2]),
                bias_constraint="non_neg",
            ),
            layers.BatchNormalization(gamma_constraint="unit_norm"),
            layers.Flatten(),
            layers.Dense(4, kernel_constraint="non_neg"),
            layers.Dense(
                1, kernel_constraint=lib.constraints.UnitNorm(axis=0),
                bias_constraint=lambda w: lib.ops.clip(w, -0.01, 0.01),
            ),
        ]
    )  # fmt: skip


def test_training_applies_every_constraint_as_keras_does():
    keras.utils.set_random_seed(1)  # initial weights that do not depend on earlier tests
    x = RNG.normal(size=(16, 6, 6, 2)).astype("float32")
    y = RNG.normal(size=(16, 1)).astype("float32") * 3
    theirs, ours = _model(keras), _model(convolve)
    ours.set_weights(theirs.get_weights())
    for model, lib in ((theirs, keras), (ours, convolve)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
        model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    got, want = ours.get_weights(), theirs.get_weights()
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # The projections were active, not idle: they hold exactly where they bind.
    conv_norms = np.sqrt((got[0] ** 2).sum(axis=(0, 1, 2)))
    assert conv_norms.max() <= 0.3 + 1e-6 and np.isclose(conv_norms, 0.3, atol=1e-5).any()
    assert got[6].min() == 0.0 and (got[6] == 0).any()
    np.testing.assert_allclose(np.sqrt((got[8] ** 2).sum(axis=0)), 1.0, rtol=1e-5)
    assert abs(got[9][0]) == np.float32(0.01)  # clipped
    assert (
        ours.layers[0].get_config()["kernel_constraint"]
        == theirs.layers[0].get_config()["kernel_constraint"]
    )
    assert (
        ours.layers[3].get_config()["kernel_constraint"]
        == theirs.layers[3].get_config()["kernel_constraint"]
    )


def test_a_constraint_that_is_not_one_is_refused_by_name():
    with pytest.raises(ValueError, match="kernel_constraint"):
        convolve.layers.Conv2D(2, 3, kernel_constraint=3)
