"""PReLU, RepeatVector, GaussianNoise, GaussianDropout, AlphaDropout, ActivityRegularization
and UnitNormalization against Keras: outputs, shapes, weights, configs, summaries, training,
noise statistics and Keras-written model files.

Tolerances: inference outputs with copied weights agree within rtol=1e-6 (atol=1e-7 for
values near 0); trained weights within rtol=1e-5, atol=1e-6 (float32, 2 epochs).
"""

import inspect
import re

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import layers, saving

RTOL, ATOL = 1e-6, 1e-7
RNG = np.random.default_rng(0)
X2 = RNG.normal(size=(4, 7)).astype("float32")
X3 = RNG.normal(size=(4, 5, 6)).astype("float32")
X4 = RNG.normal(size=(3, 5, 6, 4)).astype("float32")
X5 = RNG.normal(size=(2, 3, 4, 5, 3)).astype("float32")

NEW_LAYERS = (
    "PReLU",
    "RepeatVector",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "UnitNormalization",
)

CASES = [
    ("PReLU", {}, X2),
    ("PReLU", {}, X3),
    ("PReLU", {}, X4),
    ("PReLU", {}, X5),
    ("PReLU", dict(shared_axes=[1, 2]), X4),
    ("PReLU", dict(shared_axes=1), X3),
    ("PReLU", dict(shared_axes=(2,)), X4),
    ("PReLU", dict(shared_axes=[1, 2, 3]), X5),
    ("PReLU", dict(alpha_initializer="ones"), X4),
    ("RepeatVector", dict(n=3), X2),
    ("RepeatVector", dict(n=1), X2),
    ("GaussianNoise", dict(stddev=0.3), X4),
    ("GaussianNoise", dict(stddev=0.0, seed=3), X2),
    ("GaussianDropout", dict(rate=0.4), X4),
    ("AlphaDropout", dict(rate=0.2), X3),
    ("AlphaDropout", dict(rate=0.2, noise_shape=(None, 1, 1, 4), seed=1), X4),
    ("ActivityRegularization", {}, X2),
    ("ActivityRegularization", dict(l1=0.01, l2=0.02), X4),
    ("UnitNormalization", {}, X2),
    ("UnitNormalization", {}, X4),
    ("UnitNormalization", dict(axis=[1, 2]), X4),
    ("UnitNormalization", dict(axis=1), X3),
    ("UnitNormalization", dict(axis=(1, 2, 3)), X5),
]


def _keras_numpy(t):
    return keras.ops.convert_to_numpy(t)


def _randomized_keras(name, kwargs, x):
    theirs = getattr(keras.layers, name)(**kwargs)
    theirs.build((None, *x.shape[1:]))
    # Random slopes of both signs exercise every element of alpha and its layout.
    theirs.set_weights([RNG.normal(size=w.shape).astype("float32") for w in theirs.get_weights()])
    return theirs


@pytest.mark.parity
@pytest.mark.parametrize("name,kwargs,x", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layer_matches_keras_in_inference(name, kwargs, x):
    theirs = _randomized_keras(name, kwargs, x)
    ours = getattr(layers, name)(**kwargs)
    expected = _keras_numpy(theirs(x))
    if theirs.weights:
        ours(x[:1])
        ours.set_weights(theirs.get_weights())
    for training in (None, False):
        got = ours(x) if training is None else ours(x, training=training)
        assert isinstance(got, torch.Tensor)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got.detach().numpy(), expected, rtol=RTOL, atol=ATOL)
    assert ours.count_params() == theirs.count_params()
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    batch_shape = (None, *x.shape[1:])
    assert tuple(ours.compute_output_shape(batch_shape)) == tuple(
        theirs.compute_output_shape(batch_shape)
    )
    assert len(ours.trainable_weights) == len(theirs.trainable_weights)


CONFIG_CASES = [
    ("PReLU", {}),
    ("PReLU", dict(shared_axes=2, alpha_regularizer="l2", alpha_constraint="non_neg")),
    ("PReLU", dict(alpha_initializer="ones", shared_axes=(1, 2))),
    ("RepeatVector", dict(n=4)),
    ("GaussianNoise", dict(stddev=0.25, seed=7)),
    ("GaussianDropout", dict(rate=0.5)),
    ("AlphaDropout", dict(rate=0.1, noise_shape=(None, 1, 3))),
    ("ActivityRegularization", dict(l1=0.5)),
    ("UnitNormalization", dict(axis=(1, 2))),
    ("UnitNormalization", {}),
]


def _comparable(value):
    """A config value with the two libraries' harmless differences removed (tuples vs lists,
    Keras's `module`/`registered_name` on nested objects)."""
    if isinstance(value, tuple | list):
        return [_comparable(v) for v in value]
    if isinstance(value, dict):
        return {
            k: _comparable(v) for k, v in value.items() if k not in ("module", "registered_name")
        }
    return value


@pytest.mark.parity
@pytest.mark.parametrize("name,kwargs", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_config_matches_keras(name, kwargs):
    ours = getattr(layers, name)(**kwargs, name="same")
    theirs = getattr(keras.layers, name)(**kwargs, name="same")
    ours_config, theirs_config = ours.get_config(), theirs.get_config()
    assert set(ours_config) == set(theirs_config)
    for key in set(theirs_config) - {"dtype"}:
        assert _comparable(ours_config[key]) == _comparable(theirs_config[key]), key
    rebuilt = type(ours).from_config(ours_config)
    assert _comparable(rebuilt.get_config()) == _comparable(ours_config)
    assert ours.built == theirs.built


@pytest.mark.parity
def test_default_names_and_signatures_match_keras():
    for name in NEW_LAYERS:
        ours, theirs = getattr(layers, name), getattr(keras.layers, name)
        ours_params = inspect.signature(ours.__init__).parameters
        theirs_params = inspect.signature(theirs.__init__).parameters
        assert list(ours_params) == list(theirs_params), name
        for key, param in theirs_params.items():
            assert ours_params[key].default == param.default, (name, key)
        required = {"n": 2, "stddev": 0.1, "rate": 0.1}
        args = {k: v for k, v in required.items() if k in theirs_params}
        expected = getattr(keras.layers, name)(**args).name.rsplit("_", 1)
        base = expected[0] if expected[-1].isdigit() else "_".join(expected)
        assert re.fullmatch(rf"{base}(_\d+)?", ours(**args).name), (name, base)


def test_prelu_slopes_are_learned_per_keras_axis():
    # One slope per channel (shared over H and W): channel c scales negatives by alpha[c].
    layer = layers.PReLU(shared_axes=[1, 2])
    x = -np.ones((1, 2, 2, 3), "float32")
    layer(x)
    layer.set_weights([np.array([[[0.1, 0.2, 0.3]]], "float32")])
    out = layer(x).detach().numpy()
    np.testing.assert_allclose(out[0, 1, 1], [-0.1, -0.2, -0.3], rtol=1e-6)
    np.testing.assert_array_equal(layer(-x).detach().numpy(), -x)  # positives pass


def test_prelu_refuses_an_input_that_does_not_fit_its_slopes():
    layer = layers.PReLU(shared_axes=[1])
    layer(np.zeros((1, 5, 6, 4), "float32"))
    layer(np.zeros((2, 9, 6, 4), "float32"))  # axis 1 is shared: any size
    with pytest.raises(ValueError, match="expected axis 2 of input shape to have value 6"):
        layer(np.zeros((1, 5, 7, 4), "float32"))
    with pytest.raises(ValueError, match="expected rank 4"):
        layer(np.zeros((1, 5, 4), "float32"))
    with pytest.raises(ValueError, match="must be known"):
        model = convolve.Sequential([convolve.Input((None, 4)), layers.PReLU()])
        del model


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: layers.PReLU(shared_axes=0), "shared_axes"),
        (lambda: layers.PReLU(alpha_initializer="nope"), "alpha_initializer"),
        (lambda: layers.GaussianNoise(stddev=1.5), "stddev"),
        (lambda: layers.GaussianNoise(stddev=0.1, seed="a"), "seed"),
        (lambda: layers.GaussianDropout(rate=-0.1), "rate"),
        (lambda: layers.AlphaDropout(rate=2), "rate"),
        (lambda: layers.AlphaDropout(rate=0.1, noise_shape=(None, 0)), "noise_shape"),
        (lambda: layers.RepeatVector(0), "n"),
        (lambda: layers.ActivityRegularization(l1=-1.0), "l1"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_type_errors_as_keras():
    with pytest.raises(TypeError, match="n"):
        layers.RepeatVector(2.5)
    with pytest.raises(TypeError, match="axis"):
        layers.UnitNormalization(axis="channels")
    with pytest.raises(ValueError, match="out of bounds"):
        layers.UnitNormalization(axis=2)(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match="rank 2"):
        layers.RepeatVector(2)(np.ones((2, 3, 4), "float32"))


# --------------------------------------------------------------------- training-mode noise
def _big(shape=(64, 16, 16, 8), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_gaussian_noise_adds_noise_of_stddev_in_training_only():
    x = _big()
    layer = layers.GaussianNoise(0.3)
    noise = (layer(x, training=True) - torch.from_numpy(x)).numpy()
    assert abs(noise.mean()) < 0.01
    assert abs(noise.std() - 0.3) < 0.005
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    np.testing.assert_array_equal(layer(x).numpy(), x)


def test_gaussian_dropout_multiplies_by_unit_mean_noise():
    x = np.ones((200_000,), "float32").reshape(-1, 10)
    rate = 0.3
    out = layers.GaussianDropout(rate)(x, training=True).numpy()
    assert abs(out.mean() - 1.0) < 0.01
    assert abs(out.std() - np.sqrt(rate / (1 - rate))) < 0.01
    np.testing.assert_array_equal(layers.GaussianDropout(rate)(x).numpy(), x)


def test_alpha_dropout_keeps_zero_mean_unit_variance():
    x = _big((100_000, 10))
    rate = 0.2
    out = layers.AlphaDropout(rate)(x, training=True).numpy()
    assert abs(out.mean()) < 0.01
    assert abs(out.var() - 1.0) < 0.02
    # Dropped values all take one value, a * alpha' + b, a `rate` fraction of them.
    alpha_p = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946
    a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
    dropped = np.isclose(out, a * alpha_p + a * -alpha_p * rate, rtol=0, atol=1e-6)
    assert abs(dropped.mean() - rate) < 0.01
    np.testing.assert_array_equal(layers.AlphaDropout(rate)(x).numpy(), x)


def test_alpha_dropout_noise_shape_is_in_keras_axes():
    x = _big((8, 6, 5, 4))
    out = layers.AlphaDropout(0.5, noise_shape=(None, 1, 1, None))(x, training=True).numpy()
    alpha_p = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946
    a = (0.5 * (1 + 0.5 * alpha_p**2)) ** -0.5
    dropped = np.isclose(out, a * alpha_p - a * alpha_p * 0.5, atol=1e-6)
    # A channel of a sample is dropped everywhere or nowhere.
    per_channel = dropped.reshape(8, 30, 4)
    assert (per_channel.all(axis=1) | ~per_channel.any(axis=1)).all()
    assert 0 < per_channel.all(axis=1).mean() < 1


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: layers.GaussianNoise(0.2, seed=seed),
        lambda seed: layers.GaussianDropout(0.2, seed=seed),
        lambda seed: layers.AlphaDropout(0.2, seed=seed),
    ],
)
def test_seeded_noise_repeats_and_unseeded_follows_the_global_seed(make):
    x = _big((4, 5, 5, 3))
    a = make(3)(x, training=True)
    b = make(3)(x, training=True)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, make(4)(x, training=True))
    convolve.utils.set_random_seed(11)
    c = make(None)(x, training=True)
    convolve.utils.set_random_seed(11)
    torch.testing.assert_close(c, make(None)(x, training=True), rtol=0, atol=0)


def test_noise_keeps_channels_last_feature_maps():
    # Inside a model feature maps are channels_last tensors; noise must not change that.
    x = torch.randn(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    for layer in (layers.GaussianNoise(0.1), layers.GaussianDropout(0.1), layers.AlphaDropout(0.1)):
        out = layer.engine_call(x, training=True)
        assert out.is_contiguous(memory_format=torch.channels_last)


def test_noise_layers_act_in_fit_and_not_in_predict():
    model = convolve.Sequential(
        [convolve.Input((4,)), layers.GaussianNoise(1.0), layers.Dense(1, use_bias=False)]
    )
    model.layers[-1].set_weights([np.ones((4, 1), "float32")])
    x = np.ones((16, 4), "float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.full((16, 1), 4.0, "float32"))
    out = model(x, training=True).detach().numpy()
    assert np.abs(out - 4.0).max() > 0.1


# --------------------------------------------------------------------- regularization loss
@pytest.mark.parity
def test_activity_regularization_penalty_matches_keras():
    ours = layers.ActivityRegularization(l1=0.01, l2=0.02)
    theirs = keras.layers.ActivityRegularization(l1=0.01, l2=0.02)
    ours(X4)
    theirs(X4)
    assert len(ours.losses) == len(theirs.losses) == 1
    np.testing.assert_allclose(
        float(ours.losses[0]), float(_keras_numpy(theirs.losses[0])), rtol=1e-6
    )


def _regularized(lib):
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((6,)),
            L.Dense(5),
            L.ActivityRegularization(l1=0.01, l2=0.05),
            L.Dense(2),
        ]
    )


@pytest.mark.parity
def test_activity_regularization_trains_as_keras():
    x = RNG.normal(size=(32, 6)).astype("float32")
    y = RNG.normal(size=(32, 2)).astype("float32")
    theirs, ours = _regularized(keras), _regularized(convolve)
    ours.set_weights(theirs.get_weights())
    for lib, model in ((keras, theirs), (convolve, ours)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
    kwargs = dict(epochs=2, batch_size=8, shuffle=False, verbose=0)
    h_theirs = theirs.fit(x, y, **kwargs)
    h_ours = ours.fit(x, y, **kwargs)
    np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------- PReLU training
def _prelu_model(lib, **prelu):
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((6, 6, 2)),
            L.Conv2D(3, 3),
            L.PReLU(**prelu),
            L.Flatten(),
            L.Dense(4),
            L.PReLU(alpha_initializer="ones"),
            L.Dense(2),
        ]
    )


PRELU_TRAINING = [
    ("unshared-sgd", {}, lambda lib: lib.optimizers.SGD(0.05)),
    ("shared-adam", dict(shared_axes=[1, 2]), lambda lib: lib.optimizers.Adam(0.01)),
    ("shared-h", dict(shared_axes=1), lambda lib: lib.optimizers.RMSprop(0.005)),
    (
        "regularized-constrained",
        dict(alpha_regularizer="l2", alpha_constraint="non_neg", shared_axes=[1, 2]),
        lambda lib: lib.optimizers.Adam(0.01),
    ),
]


@pytest.mark.parity
@pytest.mark.parametrize(
    "prelu,optimizer", [c[1:] for c in PRELU_TRAINING], ids=[c[0] for c in PRELU_TRAINING]
)
def test_prelu_trains_to_keras_weights(prelu, optimizer):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 6, 6, 2)).astype("float32")
    y = rng.normal(size=(40, 2)).astype("float32")
    theirs = _prelu_model(keras, **prelu)
    # Random starting slopes of both signs, so that the constraint has work to do.
    theirs.set_weights(
        [
            rng.normal(size=w.shape).astype("float32") if "alpha" in v.path else w
            for w, v in zip(theirs.get_weights(), theirs.weights, strict=True)
        ]
    )
    ours = _prelu_model(convolve, **prelu)
    ours.set_weights(theirs.get_weights())
    for lib, model in ((keras, theirs), (convolve, ours)):
        model.compile(optimizer=optimizer(lib), loss="mse")
    kwargs = dict(epochs=2, batch_size=8, shuffle=False, verbose=0)
    h_theirs = theirs.fit(x, y, **kwargs)
    h_ours = ours.fit(x, y, **kwargs)
    np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=1e-5)
    for i, (a, b) in enumerate(zip(ours.get_weights(), theirs.get_weights(), strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"weight {i}")
    if "alpha_constraint" in prelu:
        assert (ours.layers[1].get_weights()[0] >= 0).all()


# --------------------------------------------------------------------- summaries and files
def _all_layers_model(lib):
    L = lib.layers
    image = lib.Input((6, 6, 3), name="image")
    x = L.GaussianNoise(0.1, name="noise_1")(image)
    x = L.PReLU(shared_axes=[1, 2], alpha_regularizer="l2", alpha_constraint="non_neg",
                name="prelu_a")(x)  # fmt: skip
    x = L.PReLU(name="prelu_b")(x)
    x = L.UnitNormalization(axis=[1, 2], name="unitnorm")(x)
    x = L.AlphaDropout(0.1, noise_shape=(None, 1, 1, 3), seed=4, name="alpha_dr")(x)
    x = L.GaussianDropout(0.2, name="gauss_dr")(x)
    x = L.ActivityRegularization(l1=0.001, l2=0.002, name="act_reg")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.RepeatVector(4, name="repeat")(x)
    x = L.Flatten(name="flat")(x)
    out = L.Dense(2, name="head")(x)
    return lib.Model(image, out, name="all_new")


def _randomize_keras(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights(
        [np.abs(rng.normal(size=w.shape)).astype("float32") for w in model.get_weights()]
    )


@pytest.mark.parity
def test_summary_matches_keras():
    ours, theirs = _all_layers_model(convolve), _all_layers_model(keras)
    lines_ours, lines_theirs = [], []
    ours.summary(print_fn=lines_ours.append)
    theirs.summary(print_fn=lines_theirs.append)
    assert "\n".join(lines_ours) == "\n".join(lines_theirs)


@pytest.mark.parity
def test_keras_written_file_loads_and_predicts_the_same(tmp_path):
    theirs = _all_layers_model(keras)
    _randomize_keras(theirs)
    theirs.save(tmp_path / "keras.keras")
    ours = saving.load_model(tmp_path / "keras.keras")
    assert [type(layer).__name__ for layer in ours.layers] == [
        type(layer).__name__ for layer in theirs.layers
    ]
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
    x = RNG.normal(size=(5, 6, 6, 3)).astype("float32")
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    for ours_layer, theirs_layer in zip(ours.layers, theirs.layers, strict=True):
        if type(ours_layer).__name__ not in NEW_LAYERS:
            continue
        ours_config, theirs_config = ours_layer.get_config(), theirs_layer.get_config()
        for key in set(theirs_config) - {"dtype"}:
            assert _comparable(ours_config[key]) == _comparable(theirs_config[key]), (
                ours_layer.name,
                key,
            )
    # The activity penalty and the slopes' L2 penalty come back as losses.
    ours(x)
    assert len(ours.losses) == 2


@pytest.mark.parity
def test_convolve_written_file_opens_in_keras(tmp_path):
    ours = _all_layers_model(convolve)
    theirs_shape = _all_layers_model(keras)
    _randomize_keras(theirs_shape, seed=3)
    ours.set_weights(theirs_shape.get_weights())
    ours.save(tmp_path / "ours.keras")
    theirs = keras.saving.load_model(tmp_path / "ours.keras")
    x = RNG.normal(size=(5, 6, 6, 3)).astype("float32")
    np.testing.assert_allclose(
        theirs.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    back = saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_array_equal(back.predict(x, verbose=0), ours.predict(x, verbose=0))


def test_docstring_examples_run():
    import doctest

    from convolve.layers import activation_layers, regularization, repeat_vector, unit_normalization

    for module in (activation_layers, regularization, repeat_vector, unit_normalization):
        result = doctest.testmod(module)
        assert result.failed == 0, module.__name__
    assert doctest.testmod(activation_layers).attempted > 0
