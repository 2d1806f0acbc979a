"""convolve.backend, the lowercase initializer names and models.clone_model, against Keras."""

import keras
import numpy as np
import pytest

import convolve


def _text(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


def _names(lib):
    lib.backend.clear_session()
    first = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2)])
    second = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2)])
    lib.utils.clear_session()
    third = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2)])
    return [(m.name, m.layers[0].name) for m in (first, second, third)]


def test_clear_session_restarts_names_as_keras_does():
    assert _names(convolve) == _names(keras)
    assert _names(convolve)[0] == ("sequential", "dense")


def test_clear_session_resets_dtype_policy():
    convolve.mixed_precision.set_global_policy("mixed_float16")
    convolve.backend.clear_session()
    assert convolve.mixed_precision.global_policy().name == "float32"


def test_backend_settings():
    b = convolve.backend
    assert b.backend() == keras.backend.backend() == "torch"
    assert b.image_data_format() == keras.backend.image_data_format() == "channels_last"
    b.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match="channels_last only"):
        b.set_image_data_format("channels_first")
    with pytest.raises(ValueError, match="data_format"):
        b.set_image_data_format("nhwc")
    assert b.floatx() == keras.backend.floatx() == "float32"
    b.set_floatx("float32")
    with pytest.raises(ValueError, match="float32"):
        b.set_floatx("float64")
    assert b.epsilon() == keras.backend.epsilon() == 1e-7
    b.set_epsilon(1e-4)
    assert b.epsilon() == 1e-4
    b.set_epsilon(1e-7)


LOWERCASE = sorted(
    n for n in dir(keras.initializers) if n.islower() and not n.startswith("_") and n != "stft"
)
LOWERCASE = [n for n in LOWERCASE if n not in {"deserialize", "get", "serialize"}]


@pytest.mark.parametrize("name", LOWERCASE)
def test_initializer_aliases_match_keras(name):
    ours, theirs = getattr(convolve.initializers, name)(), getattr(keras.initializers, name)()
    assert isinstance(ours, convolve.initializers.Initializer)
    assert type(ours).__name__ == type(theirs).__name__
    expected = theirs.get_config()
    if name == "identity":  # Keras's Identity leaves `gain` out of its config ({})
        expected = {"gain": 1.0}
    assert ours.get_config() == expected


def _convnet(lib):
    lay = lib.layers
    return lib.Sequential(
        [
            lib.Input((12, 12, 3)),
            lay.Conv2D(4, 3, activation="relu"),
            lay.BatchNormalization(),
            lay.MaxPooling2D(),
            lay.Flatten(),
            lay.Dropout(0.1),
            lay.Dense(5, activation="softmax"),
        ],
        name="convnet",
    )


def _two_branch(lib):
    lay = lib.layers
    x = lib.Input((8, 8, 3), name="image")
    a = lay.Conv2D(4, 3, padding="same", activation="relu")(x)
    b = lay.Conv2D(4, 1)(x)
    merged = lay.Concatenate()([a, a + b])
    out = lay.Dense(2)(lay.GlobalAveragePooling2D()(merged))
    return lib.Model(x, out, name="two_branch")


@pytest.mark.parity
@pytest.mark.parametrize("build", [_convnet, _two_branch])
def test_clone_model_matches_keras(build):
    texts = []
    for lib in (convolve, keras):
        lib.backend.clear_session()
        model = build(lib)
        texts.append(_text(lib.models.clone_model(model)))
    assert texts[0] == texts[1]


@pytest.mark.parametrize("build", [_convnet, _two_branch])
def test_clone_model_has_new_weights_and_same_function(build):
    convolve.utils.set_random_seed(0)
    model = build(convolve)
    clone = convolve.models.clone_model(model)
    assert type(clone) is type(model) and clone.name == model.name
    assert [w.name for w in clone.weights] == [w.name for w in model.weights]
    assert not {id(w) for w in clone.weights} & {id(w) for w in model.weights}
    assert not {id(layer) for layer in clone.layers} & {id(layer) for layer in model.layers}
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(0).random((3, *model.input_shape[1:]), dtype=np.float32)
    np.testing.assert_allclose(
        clone.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-7
    )


def test_clone_function_and_input_tensors():
    lay = convolve.layers
    model = convolve.Sequential([convolve.Input((4,)), lay.Dense(3), lay.Dense(2)])
    seen = []

    def fn(layer):
        seen.append(layer.name)
        config = layer.get_config()
        config["units"] = config["units"] * 2
        return layer.__class__.from_config(config)

    clone = convolve.models.clone_model(
        model, input_tensors=convolve.Input((4,)), clone_function=fn
    )
    assert seen == [layer.name for layer in model.layers]
    assert clone.output_shape == (None, 4)


def test_clone_keeps_shared_layers_shared():
    x = convolve.Input((4,))
    shared = convolve.layers.Dense(4)
    model = convolve.Model(x, shared(shared(x)))
    clone = convolve.models.clone_model(model)
    assert len(clone.layers) == len(model.layers) == 2
    assert clone.count_params() == model.count_params()


def test_clone_compiled_model_is_compiled():
    model = _convnet(convolve)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert convolve.models.clone_model(model).compiled


class _Sub(convolve.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = convolve.layers.Dense(2)

    def call(self, x):
        return self.dense(x)


def test_clone_subclassed_model():
    model = _Sub()
    with pytest.raises(ValueError, match="only supported for Sequential models"):
        convolve.models.clone_model(model, clone_function=lambda layer: layer)
    clone = convolve.models.clone_model(model)
    assert type(clone) is _Sub and clone.dense is not model.dense


def test_fan_axes_choose_the_fans_as_in_keras():
    # Keras 3.15's input_axes/output_axes: the fans are the products of those axes.
    shape = (20, 30, 5)
    for lib in (convolve, keras):
        init = lib.initializers.VarianceScaling(
            scale=1.0,
            mode="fan_in",
            distribution="uniform",
            seed=1,
            input_axes=[2],
            output_axes=[0],
        )
        values = np.asarray(init(shape))
        limit = np.sqrt(3.0 / 5)  # fan_in = shape[2]; by default it would be 30 * 20
        assert values.shape == shape and np.abs(values).max() <= limit
        assert np.abs(values).max() > 0.95 * limit
    config = convolve.initializers.HeNormal(input_axes=[0], output_axes=[1]).get_config()
    assert config == keras.initializers.HeNormal(input_axes=[0], output_axes=[1]).get_config()
