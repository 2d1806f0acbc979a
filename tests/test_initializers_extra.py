"""Orthogonal/Identity under Keras's long names, and `initializers.deserialize` /
`regularizers.deserialize` reading Keras's serialized configs.

Seeded draws differ between the two libraries' generators, so Orthogonal is checked by its
defining property (`Q^T Q = gain^2 I` for the flattened kernel, atol=1e-5) against the same
property of Keras's output; Identity values are exact.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch

from convolve import initializers, layers, regularizers


@pytest.mark.parity
@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (3, 3, 2, 5)])
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal_initializer_alias_is_orthogonal_like_keras(shape, gain) -> None:
    assert initializers.OrthogonalInitializer is initializers.Orthogonal
    ours = initializers.OrthogonalInitializer(gain=gain, seed=3)(shape).numpy()
    theirs = keras.ops.convert_to_numpy(keras.initializers.OrthogonalInitializer(gain, 3)(shape))
    assert ours.shape == theirs.shape == shape
    for values in (ours, theirs):
        flat = values.reshape(-1, shape[-1])
        small = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
        np.testing.assert_allclose(small, gain**2 * np.eye(len(small)), atol=1e-5)
    again = initializers.OrthogonalInitializer(gain=gain, seed=3)(shape).numpy()
    np.testing.assert_array_equal(ours, again)
    config = initializers.Orthogonal(gain=gain, seed=3).get_config()
    assert config == keras.initializers.Orthogonal(gain=gain, seed=3).get_config()


@pytest.mark.parity
def test_identity_initializer_alias_matches_keras() -> None:
    assert initializers.IdentityInitializer is initializers.Identity
    ours = initializers.IdentityInitializer(gain=2.0)((3, 4), dtype=torch.float32)
    theirs = keras.initializers.IdentityInitializer(gain=2.0)((3, 4))
    np.testing.assert_array_equal(ours.numpy(), keras.ops.convert_to_numpy(theirs))
    # Keras's Identity writes an empty config (its gain is lost on reload); convolve keeps
    # the gain, in a config Keras reads back.
    assert initializers.Identity(2.0).get_config() == {"gain": 2.0}
    rebuilt = keras.initializers.Identity.from_config(initializers.Identity(2.0).get_config())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(rebuilt((3, 4))), ours.numpy())


INITIALIZER_CASES = [
    keras.initializers.HeNormal(seed=1),
    keras.initializers.Orthogonal(gain=0.7),
    keras.initializers.Identity(gain=3.0),
    keras.initializers.Constant(0.25),
    keras.initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="uniform"),
    keras.initializers.RandomNormal(mean=1.0, stddev=0.5, seed=4),
]


@pytest.mark.parity
@pytest.mark.parametrize("keras_init", INITIALIZER_CASES, ids=lambda i: type(i).__name__)
def test_initializers_deserialize_reads_keras_configs(keras_init) -> None:
    config = keras.initializers.serialize(keras_init)
    ours = initializers.deserialize(config)
    assert type(ours).__name__ == type(keras_init).__name__
    if type(ours).__name__ == "Identity":  # see test_identity_initializer_alias_matches_keras
        assert ours.get_config() == {"gain": 1.0}
    else:
        assert ours.get_config() == keras_init.get_config()
    back = keras.initializers.deserialize(
        {"class_name": type(ours).__name__, "config": ours.get_config()}
    )
    assert back.get_config() == keras_init.get_config() or type(ours).__name__ == "Identity"


def test_initializers_deserialize_names_and_errors() -> None:
    assert isinstance(initializers.deserialize("he_normal"), initializers.HeNormal)

    class Mine(initializers.Initializer):
        def __call__(self, shape, dtype=torch.float32):
            return torch.full(shape, 7.0, dtype=dtype)

    mine = initializers.deserialize({"class_name": "Mine", "config": {}}, {"Mine": Mine})
    assert float(mine((1,))[0]) == 7.0
    with pytest.raises(ValueError, match="Unknown initializer class_name='Nope'"):
        initializers.deserialize({"class_name": "Nope", "config": {}})
    with pytest.raises(ValueError, match="received config=3"):
        initializers.deserialize(3)


@pytest.mark.parity
@pytest.mark.parametrize(
    "keras_reg",
    [
        keras.regularizers.L1(0.1),
        keras.regularizers.L2(0.02),
        keras.regularizers.L1L2(l1=0.1, l2=0.3),
        keras.regularizers.OrthogonalRegularizer(factor=0.2, mode="columns"),
    ],
    ids=lambda r: type(r).__name__,
)
def test_regularizers_deserialize_reads_keras_configs(keras_reg) -> None:
    ours = regularizers.deserialize(keras.regularizers.serialize(keras_reg))
    assert type(ours).__name__ == type(keras_reg).__name__
    assert ours.get_config() == pytest.approx(keras_reg.get_config())
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    np.testing.assert_allclose(
        float(ours(torch.as_tensor(x))),
        float(keras.ops.convert_to_numpy(keras_reg(torch.as_tensor(x)))),
        rtol=1e-5,
    )


def test_regularizers_deserialize_errors() -> None:
    assert isinstance(regularizers.deserialize("l2"), regularizers.L2)
    with pytest.raises(ValueError, match="Unknown regularizer class_name='Nope'"):
        regularizers.deserialize({"class_name": "Nope", "config": {}})
    with pytest.raises(ValueError, match="received config=None"):
        regularizers.deserialize(None)


@pytest.mark.parametrize("alias", ["normal", "uniform", "one", "zero"])
def test_kerass_short_aliases_name_the_same_initializers(alias):
    theirs = type(keras.initializers.get(alias)).__name__
    assert type(initializers.get(alias)).__name__ == theirs
    layer = layers.Dense(2, kernel_initializer=alias)
    layer.build((None, 3))
    assert layer.get_config()["kernel_initializer"]["class_name"] == theirs
