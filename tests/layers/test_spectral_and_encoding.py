"""SpectralNormalization, CategoryEncoding and Discretization against Keras (torch backend)."""

from __future__ import annotations

import inspect
import json

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import layers, saving

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
ATOL = 1e-5  # float32 outputs and weights of order 1, the same weights on both sides
RTOL = 1e-5  # weights after a few optimizer steps


def _np(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _short(value):
    if isinstance(value, dict):
        return {
            k: _short(v)
            for k, v in value.items()
            if k not in ("module", "registered_name", "dtype", "build_config")
        }
    if isinstance(value, list | tuple):
        return [_short(v) for v in value]
    return value


def _config(layer):
    return _short(json.loads(json.dumps(layer.get_config())))


@pytest.mark.parametrize("name", ["SpectralNormalization", "CategoryEncoding", "Discretization"])
def test_constructor_defaults_match_keras(name):
    ours = inspect.signature(getattr(layers, name).__init__).parameters
    theirs = inspect.signature(getattr(keras.layers, name).__init__).parameters
    assert list(ours) == list(theirs)
    for key, param in theirs.items():
        assert ours[key].default == param.default, key


# ----------------------------------------------------------------- SpectralNormalization
def _wrapped(lib, kind, iterations=1):
    inner = lib.layers.Conv2D(4, 3, name="c") if kind == "conv" else lib.layers.Dense(5, name="d")
    return lib.layers.SpectralNormalization(inner, power_iterations=iterations, name="sn")


@pytest.mark.parametrize("kind", ["conv", "dense"])
@pytest.mark.parametrize("iterations", [1, 2])
def test_spectral_normalization_matches_keras_over_training_calls(kind, iterations):
    x = _rand((2, 6, 6, 3), 0)
    theirs, ours = _wrapped(keras, kind, iterations), _wrapped(convolve, kind, iterations)
    theirs(x), ours(x)
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.weights]
    assert ours.count_params() == theirs.count_params()
    assert len(ours.trainable_weights) == len(theirs.trainable_weights) == 2
    assert len(ours.non_trainable_weights) == len(theirs.non_trainable_weights) == 1
    ours.set_weights(theirs.get_weights())  # the same initial kernel, bias and vector_u
    for _ in range(3):
        out_k, out_c = theirs(x, training=True), ours(x, training=True)
        np.testing.assert_allclose(_np(out_c), _np(out_k), atol=ATOL)
        for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
            np.testing.assert_allclose(a, _np(b), atol=ATOL)
    # Inference changes nothing.
    before = ours.get_weights()
    np.testing.assert_allclose(_np(ours(x)), _np(theirs(x)), atol=ATOL)
    for a, b in zip(before, ours.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_spectral_normalization_kernel_has_unit_spectral_norm_after_training_calls():
    ours = _wrapped(convolve, "dense", iterations=1)
    x = _rand((4, 7), 1)
    for _ in range(100):  # the power method converges to the largest singular value
        ours(x, training=True)
    kernel = ours.get_weights()[0]
    assert abs(np.linalg.norm(kernel, 2) - 1.0) < 1e-3


def test_spectral_normalization_config_and_from_config_match_keras():
    x = _rand((1, 5, 5, 2), 2)
    theirs, ours = _wrapped(keras, "conv"), _wrapped(convolve, "conv")
    theirs(x), ours(x)
    assert _config(ours) == _config(theirs)
    assert list(ours.get_config()) == list(theirs.get_config())
    clone = layers.SpectralNormalization.from_config(ours.get_config())
    assert isinstance(clone.layer, layers.Conv2D) and clone.power_iterations == 1
    from_keras = layers.deserialize(json.loads(json.dumps(keras.layers.serialize(theirs))))
    assert isinstance(from_keras, layers.SpectralNormalization)
    assert from_keras.get_config()["layer"]["config"]["filters"] == 4


def test_spectral_normalization_rejects_bad_arguments():
    with pytest.raises(ValueError, match="power_iterations=0"):
        layers.SpectralNormalization(layers.Dense(2), power_iterations=0)
    with pytest.raises(ValueError, match="layer"):
        layers.SpectralNormalization("dense")
    with pytest.raises(ValueError, match="kernel"):
        layers.SpectralNormalization(layers.Flatten())(np.zeros((1, 3, 2), np.float32))


def _sn_model(lib):
    return lib.Sequential(
        [
            lib.Input((6, 6, 2)),
            lib.layers.SpectralNormalization(lib.layers.Conv2D(3, 3)),
            lib.layers.Flatten(),
            lib.layers.Dense(2),
        ]
    )


def test_spectral_normalization_fit_matches_keras():
    x, y = _rand((8, 6, 6, 2), 3), _rand((8, 2), 4)
    theirs, ours = _sn_model(keras), _sn_model(convolve)
    ours.set_weights(theirs.get_weights())
    theirs.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    ours.compile(optimizer=convolve.optimizers.Adam(0.01), loss="mse")
    theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, _np(b), rtol=RTOL, atol=1e-6)


def test_spectral_normalization_model_files_move_both_ways(tmp_path):
    x = _rand((2, 6, 6, 2), 5)
    theirs = _sn_model(keras)
    theirs.layers[0](x, training=True)  # vector_u moved away from its initial value
    theirs.save(tmp_path / "keras.keras")
    ours = saving.load_model(tmp_path / "keras.keras")
    assert isinstance(ours.layers[0], layers.SpectralNormalization)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, _np(b))
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=ATOL)
    ours.layers[0](x, training=True)
    ours.save(tmp_path / "ours.keras")
    back = keras.saving.load_model(tmp_path / "ours.keras")
    for a, b in zip(ours.get_weights(), back.get_weights(), strict=True):
        np.testing.assert_array_equal(a, _np(b))
    np.testing.assert_allclose(ours.predict(x, verbose=0), back.predict(x, verbose=0), atol=ATOL)


# ----------------------------------------------------------------- CategoryEncoding
@pytest.mark.parametrize("mode", ["multi_hot", "one_hot", "count"])
@pytest.mark.parametrize("shape", [(5,), (4, 3), (4, 1)])
def test_category_encoding_matches_keras(mode, shape):
    ints = np.random.default_rng(6).integers(0, 6, shape)
    theirs, ours = keras.layers.CategoryEncoding(6, mode), layers.CategoryEncoding(6, mode)
    expected, got = _np(theirs(ints)), _np(ours(ints))
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    assert ours.compute_output_shape((None, *shape[1:])) == theirs.compute_output_shape(
        (None, *shape[1:])
    )
    assert _config(ours) == {**_config(theirs), "name": ours.name}


def test_category_encoding_count_weights_and_negative_values_match_keras():
    ints = np.array([[0, 1, -1], [3, 3, 2]])
    weights = _rand((2, 3), 7)
    theirs, ours = keras.layers.CategoryEncoding(4, "count"), layers.CategoryEncoding(4, "count")
    np.testing.assert_allclose(
        _np(ours(ints, count_weights=weights)),
        _np(theirs(ints, count_weights=weights)),
        atol=ATOL,
    )
    np.testing.assert_array_equal(_np(ours(ints)), _np(theirs(ints)))


def test_category_encoding_rejects_bad_arguments():
    with pytest.raises(ValueError, match="output_mode='bad'"):
        layers.CategoryEncoding(3, output_mode="bad")
    with pytest.raises(ValueError, match="num_tokens=None"):
        layers.CategoryEncoding()
    with pytest.raises(ValueError, match="num_tokens=0"):
        layers.CategoryEncoding(0)
    with pytest.raises(ValueError, match="sparse=True"):
        layers.CategoryEncoding(3, sparse=True)
    with pytest.raises(ValueError, match="count_weights"):
        layers.CategoryEncoding(3)([0, 1], count_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="value of 5"):
        layers.CategoryEncoding(3)([0, 5])


# ----------------------------------------------------------------- Discretization
@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
def test_discretization_with_boundaries_matches_keras(mode):
    x = _rand((4, 5), 8) * 2
    kwargs = {"bin_boundaries": [-1.0, 0.0, 0.5, 2.0], "output_mode": mode}
    theirs, ours = keras.layers.Discretization(**kwargs), layers.Discretization(**kwargs)
    expected, got = _np(theirs(x)), _np(ours(x))
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    assert ours.compute_output_shape((None, 5)) == theirs.compute_output_shape((None, 5))
    assert ours.get_config() == {**theirs.get_config(), "name": ours.name}


@pytest.mark.parametrize("epsilon", [0.01, 0.1, 0.3])
@pytest.mark.parametrize("num_bins", [2, 5])
def test_discretization_adapt_matches_keras(epsilon, num_bins):
    rng = np.random.default_rng(9)
    batches = [rng.standard_normal((40, 3)).astype(np.float32) * 3 for _ in range(3)]
    for data, steps in ((batches[0], None), (batches, None), (batches, 2)):
        theirs = keras.layers.Discretization(num_bins=num_bins, epsilon=epsilon)
        ours = layers.Discretization(num_bins=num_bins, epsilon=epsilon)
        theirs.adapt(data, steps=steps)
        ours.adapt(data, steps=steps)
        assert ours.bin_boundaries == theirs.bin_boundaries
        np.testing.assert_array_equal(_np(ours(batches[1])), _np(theirs(batches[1])))
    assert ours.get_config() == {**theirs.get_config(), "name": ours.name}
    clone = layers.Discretization.from_config(ours.get_config())
    assert clone.bin_boundaries == ours.bin_boundaries and clone.num_bins == num_bins


def test_discretization_adapt_on_many_values_matches_keras():
    data = torch.randn(3000, generator=torch.Generator().manual_seed(0))
    theirs, ours = keras.layers.Discretization(num_bins=8), layers.Discretization(num_bins=8)
    theirs.adapt(data.numpy())
    ours.adapt(data)
    assert ours.bin_boundaries == theirs.bin_boundaries


def test_discretization_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_bins"):
        layers.Discretization(bin_boundaries=[0.0], num_bins=2)
    with pytest.raises(ValueError, match="either"):
        layers.Discretization()
    with pytest.raises(ValueError, match="num_bins=-1"):
        layers.Discretization(num_bins=-1)
    with pytest.raises(ValueError, match="output_mode='bad'"):
        layers.Discretization(num_bins=2, output_mode="bad")
    with pytest.raises(ValueError, match="sparse=True"):
        layers.Discretization(num_bins=2, sparse=True)
    with pytest.raises(ValueError, match="adapt"):
        layers.Discretization(num_bins=2)(np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="bin_boundaries"):
        layers.Discretization(bin_boundaries=[0.0]).adapt(np.zeros((3, 1), np.float32))


def _encoding_model(lib):
    inputs = lib.Input((4,))
    x = lib.layers.Discretization(bin_boundaries=[-0.5, 0.0, 0.5], output_mode="count")(inputs)
    return lib.Model(inputs, lib.layers.Dense(2)(x))


def test_encoding_layers_in_model_files_move_both_ways(tmp_path):
    x = _rand((3, 4), 10)
    theirs = _encoding_model(keras)
    theirs.save(tmp_path / "keras.keras")
    ours = saving.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=ATOL)
    ours.save(tmp_path / "ours.keras")
    back = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(ours.predict(x, verbose=0), back.predict(x, verbose=0), atol=ATOL)
    encoder = convolve.Sequential([convolve.Input((3,), dtype="int32"),
                                   layers.CategoryEncoding(5, "multi_hot")])  # fmt: skip
    encoder.save(tmp_path / "enc.keras")
    loaded = keras.saving.load_model(tmp_path / "enc.keras")
    ints = np.array([[0, 4, 4], [1, 2, 3]], dtype=np.int32)
    np.testing.assert_array_equal(encoder.predict(ints, verbose=0), _np(loaded(ints)))
