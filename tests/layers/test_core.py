"""Core layers against Keras: shapes, parameter counts, outputs with copied weights, errors."""

import keras
import numpy as np
import pytest
import torch

from convolve import layers

ATOL = 1e-5  # float32, same weights: max abs difference


def _compare(ours, theirs, x, training=False):
    expected = keras.ops.convert_to_numpy(theirs(x, training=training))
    if theirs.weights:
        ours(x[:1])  # build
        ours.set_weights(theirs.get_weights())
    got = ours(x, training=training).detach().numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)
    assert ours.count_params() == theirs.count_params()
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    batch_shape = (None, *x.shape[1:])
    assert tuple(ours.compute_output_shape(batch_shape)) == tuple(
        theirs.compute_output_shape(batch_shape)
    )


RNG = np.random.default_rng(0)
X2 = RNG.normal(size=(4, 7)).astype("float32")
X3 = RNG.normal(size=(4, 5, 6)).astype("float32")
X4 = RNG.normal(size=(3, 5, 6, 4)).astype("float32")
X5 = RNG.normal(size=(2, 3, 4, 5, 3)).astype("float32")

CASES = [
    ("Dense", dict(units=5), X2),
    ("Dense", dict(units=3, activation="softmax"), X2),
    ("Dense", dict(units=3, use_bias=False, activation="tanh"), X2),
    ("Dense", dict(units=4, activation="relu"), X3),
    ("Dense", dict(units=2, activation="softmax"), X4),
    ("Flatten", {}, X3),
    ("Flatten", {}, X4),
    ("Flatten", {}, X5),
    ("Activation", dict(activation="softmax"), X4),
    ("Activation", dict(activation="gelu"), X4),
    ("Activation", dict(activation="selu"), X3),
    ("Activation", dict(activation="swish"), X2),
    ("Activation", dict(activation="softplus"), X2),
    ("Activation", dict(activation="elu"), X2),
    ("Activation", dict(activation="leaky_relu"), X2),
    ("Activation", dict(activation="sigmoid"), X4),
    ("ReLU", {}, X4),
    ("ReLU", dict(max_value=0.5, negative_slope=0.1, threshold=0.2), X4),
    ("LeakyReLU", {}, X3),
    ("LeakyReLU", dict(negative_slope=0.05), X4),
    ("ELU", dict(alpha=0.7), X4),
    ("Softmax", {}, X4),
    ("Softmax", dict(axis=1), X4),
    ("Softmax", dict(axis=2), X3),
    ("Reshape", dict(target_shape=(30, 4)), X4),
    ("Reshape", dict(target_shape=(-1, 2)), X4),
    ("Reshape", dict(target_shape=(6, 5, 4)), X4),
    ("Permute", dict(dims=(2, 1)), X3),
    ("Permute", dict(dims=(3, 1, 2)), X4),
    ("Rescaling", dict(scale=1 / 255.0), X4),
    ("Rescaling", dict(scale=2.0, offset=-1.0), X3),
    ("Dropout", dict(rate=0.5), X4),
]


@pytest.mark.parity
@pytest.mark.parametrize("name,kwargs,x", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layer_matches_keras(name, kwargs, x):
    _compare(getattr(layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs), x)


@pytest.mark.parity
def test_flatten_then_dense_uses_keras_weight_order():
    # Flatten must order features H, W, C so that Dense weights copied from Keras fit.
    k = keras.Sequential([keras.Input((5, 6, 4)), keras.layers.Flatten(), keras.layers.Dense(3)])
    from convolve import models

    c = models.Sequential([layers.Input((5, 6, 4)), layers.Flatten(), layers.Dense(3)])
    c.set_weights(k.get_weights())
    np.testing.assert_allclose(
        c.predict(X4, verbose=0), keras.ops.convert_to_numpy(k(X4)), atol=ATOL, rtol=0
    )


def test_dropout_training_zeroes_and_scales():
    torch.manual_seed(0)
    out = layers.Dropout(0.5)(np.ones((1000, 10), "float32"), training=True).numpy()
    assert set(np.unique(out)) == {0.0, 2.0}
    assert 0.4 < (out == 0).mean() < 0.6


@pytest.mark.parametrize("rank,shape", [(1, (8, 10, 6)), (2, (8, 5, 5, 6)), (3, (8, 3, 3, 3, 6))])
def test_spatial_dropout_drops_whole_channels(rank, shape):
    torch.manual_seed(0)
    layer = getattr(layers, f"SpatialDropout{rank}D")(0.5)
    out = layer(np.ones(shape, "float32"), training=True).numpy()
    per_channel = out.reshape(shape[0], -1, shape[-1])
    # every channel of a sample is either all dropped or all kept (and scaled by 2)
    assert np.all((per_channel == 0).all(axis=1) | (per_channel == 2).all(axis=1))
    assert (per_channel == 0).any() and (per_channel == 2).any()
    np.testing.assert_array_equal(layer(np.ones(shape, "float32")).numpy(), 1.0)


def test_regularizer_penalties_reach_losses():
    from convolve import regularizers

    layer = layers.Dense(
        3, kernel_regularizer="l2", bias_regularizer=regularizers.L1(0.5),
        activity_regularizer="l1", bias_initializer="ones",
    )  # fmt: skip
    out = layer(X2)
    kernel, bias = layer.get_weights()
    expected = [
        0.01 * np.abs(out.detach().numpy()).sum() / X2.shape[0],
        0.01 * np.square(kernel).sum(),
        0.5 * np.abs(bias).sum(),
    ]
    np.testing.assert_allclose(sorted(float(p) for p in layer.losses), sorted(expected), rtol=1e-5)


@pytest.mark.parity
@pytest.mark.parametrize(
    "identifier",
    ["l1", "l2", "l1l2"],
)
def test_regularizer_defaults_match_keras(identifier):
    from convolve import regularizers

    w = RNG.normal(size=(4, 3)).astype("float32")
    theirs = float(keras.regularizers.get(identifier)(keras.ops.convert_to_tensor(w)))
    ours = float(regularizers.get(identifier)(torch.from_numpy(w)))
    assert ours == pytest.approx(theirs, rel=1e-6)


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: layers.Dense(0), r"Dense: `units` must be a positive integer, received units=0"),
        (lambda: layers.Dense(4, activation="relux"), r"Unknown activation 'relux'.*relux"),
        (lambda: layers.Dropout(1.5), r"Dropout: `rate` must be .*rate=1.5"),
        (lambda: layers.Reshape((-1, -1)), r"Reshape: `target_shape`.*\(-1, -1\)"),
        (lambda: layers.Permute((1, 3)), r"Permute: `dims`.*\(1, 3\)"),
        (lambda: layers.Flatten(data_format="channels_first"), r"Flatten.*channels_first"),
    ],
)
def test_bad_arguments_raise_one_clear_error(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_reshape_size_mismatch_names_layer_and_shape():
    layer = layers.Reshape((7, 7), name="bad_reshape")
    with pytest.raises(ValueError, match=r"'bad_reshape'.*\(None, 5, 6, 4\).*\(7, 7\)"):
        layer.compute_output_shape((None, 5, 6, 4))


def test_wrong_input_rank_names_layer_and_shape():
    layer = layers.SpatialDropout2D(0.1, name="sd")
    with pytest.raises(ValueError, match=r"'sd'.*expected rank 4.*found rank 3.*\(None, 5, 6\)"):
        layer(X3)


def test_trainable_false_moves_weights_to_non_trainable():
    layer = layers.Dense(3)
    layer(X2)
    assert len(layer.trainable_weights) == 2 and not layer.non_trainable_weights
    layer.trainable = False
    assert not layer.trainable_weights and len(layer.non_trainable_weights) == 2
    assert not any(p.requires_grad for p in layer.parameters())


@pytest.mark.parity
@pytest.mark.parametrize(
    "name",
    ["glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal",
     "random_normal", "truncated_normal", "random_uniform", "orthogonal"],
)  # fmt: skip
def test_initializer_statistics_match_keras(name):
    # Different generators, same distribution: compare moments on a large kernel.
    from convolve import initializers

    shape = (3, 3, 64, 128)
    ours = initializers.get(name)(shape).numpy()
    theirs = keras.ops.convert_to_numpy(keras.initializers.get(name)(shape))
    assert ours.shape == theirs.shape
    assert abs(ours.std() - theirs.std()) < 0.02 * theirs.std()
    assert abs(ours.mean() - theirs.mean()) < 0.02 * theirs.std()
    # Tails: Keras's torch backend redraws out-of-range values only 4 times, so compare a
    # high quantile rather than the maximum.
    q_ours, q_theirs = np.quantile(np.abs(ours), 0.999), np.quantile(np.abs(theirs), 0.999)
    assert abs(q_ours - q_theirs) < 0.05 * q_theirs


def test_layer_names_follow_keras_rules():
    from convolve.layers.naming import to_snake_case

    assert to_snake_case("MaxPooling2D") == "max_pooling2d"
    assert to_snake_case("ReLU") == "re_lu"
    assert to_snake_case("BatchNormalization") == "batch_normalization"
    a, b = layers.Dense(1), layers.Dense(1)
    assert a.name.startswith("dense") and b.name != a.name


def test_get_config_round_trip():
    layer = layers.Dense(7, activation="relu", use_bias=False, kernel_initializer="he_normal")
    clone = layers.Dense.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.units == 7 and not clone.use_bias


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool", "float32"])
def test_input_dtypes_and_config_match_keras(dtype):
    import convolve

    ours = convolve.Input((6,), dtype=dtype, name="ids")
    theirs = keras.Input((6,), dtype=dtype, name="ids")
    assert ours.dtype == theirs.dtype
    ours_layer = ours._keras_history.layer
    theirs_layer = theirs._keras_history.operation
    assert ours_layer.get_config() == theirs_layer.get_config()


def test_an_integer_input_feeds_token_ids_as_keras_does():
    import convolve

    def build(lib):
        inputs = lib.Input((6,), dtype="int32")
        x = lib.layers.Embedding(20, 4)(inputs)
        x = lib.layers.GlobalAveragePooling1D()(x)
        return lib.Model(inputs, lib.layers.Dense(2)(x))

    ours, theirs = build(convolve), build(keras)
    ours.set_weights(theirs.get_weights())
    ids = RNG.integers(0, 20, (3, 6))
    expected = theirs.predict(ids, verbose=0)
    np.testing.assert_allclose(ours.predict(ids, verbose=0), expected, atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match="ragged=True"):
        convolve.Input((6,), ragged=True)
