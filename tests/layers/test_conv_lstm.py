"""ConvLSTM1D/2D/3D against Keras (torch backend): signatures, configs, shapes, parameter
counts, outputs with copied weights (atol 1e-5), masks, states and a few fit steps."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import layers

pytestmark = pytest.mark.parity

ATOL = 1e-5  # float32 outputs with the same weights; observed differences are ~1e-7
RNG = np.random.default_rng(0)
NAMES = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]
SHAPES = {
    "ConvLSTM1D": (2, 4, 7, 2),
    "ConvLSTM2D": (2, 4, 6, 5, 2),
    "ConvLSTM3D": (1, 3, 4, 5, 3, 2),
}


def _listify(out):
    return list(out) if isinstance(out, list | tuple) else [out]


def _numpy(t):
    return np.asarray(t.detach().cpu()) if isinstance(t, torch.Tensor) else np.asarray(t)


def _data(shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _compare(name, kwargs, x, **call_kwargs):
    theirs = getattr(keras.layers, name)(**kwargs)
    ours = getattr(layers, name)(**kwargs)
    expected = _listify(theirs(x, **call_kwargs))
    ours(x, **call_kwargs)  # builds
    ours.set_weights(theirs.get_weights())
    got = _listify(ours(x, **call_kwargs))
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(_numpy(a), _numpy(b), atol=ATOL, rtol=0)
    assert ours.count_params() == theirs.count_params()
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    return ours, theirs


CASES = [
    {"filters": 3, "kernel_size": 3},
    {"filters": 3, "kernel_size": 2, "padding": "same", "return_sequences": True},
    {"filters": 2, "kernel_size": 3, "strides": 2, "return_state": True},
    {"filters": 2, "kernel_size": 2, "padding": "same", "dilation_rate": 2, "go_backwards": True,
     "return_sequences": True, "return_state": True},
    {"filters": 2, "kernel_size": 3, "padding": "same", "use_bias": False, "activation": "relu",
     "recurrent_activation": "hard_sigmoid"},
    {"filters": 2, "kernel_size": 1, "unit_forget_bias": False, "bias_initializer": "ones"},
]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kwargs", CASES, ids=str)
def test_outputs_match_keras(name, kwargs):
    _compare(name, kwargs, _data(SHAPES[name]))


@pytest.mark.parametrize("go_backwards", [False, True])
def test_masked_steps_match_keras(go_backwards):
    mask = np.ones((2, 4), bool)
    mask[0, 2:] = False
    mask[1, 0] = False
    kwargs = {"filters": 3, "kernel_size": 3, "padding": "same", "return_sequences": True,
              "return_state": True, "go_backwards": go_backwards}  # fmt: skip
    _compare("ConvLSTM2D", kwargs, _data(SHAPES["ConvLSTM2D"]), mask=mask)


def test_initial_state_matches_keras():
    states = [_data((2, 4, 3, 2)) for _ in range(2)]
    kwargs = {"filters": 2, "kernel_size": 3, "return_sequences": True, "return_state": True}
    _compare("ConvLSTM2D", kwargs, _data(SHAPES["ConvLSTM2D"]), initial_state=states)


def test_stateful_matches_keras_over_two_calls():
    x = _data(SHAPES["ConvLSTM1D"])
    theirs = keras.layers.ConvLSTM1D(2, 3, stateful=True)
    ours = layers.ConvLSTM1D(2, 3, stateful=True)
    theirs(x)
    ours(x)
    ours.set_weights(theirs.get_weights())
    theirs.reset_state()
    ours.reset_state()
    for _ in range(2):
        np.testing.assert_allclose(_numpy(ours(x)), _numpy(theirs(x)), atol=ATOL)
    with pytest.raises(ValueError, match="batch size"):
        ours(x[:1])


def test_bidirectional_conv_lstm_matches_keras():
    x = _data(SHAPES["ConvLSTM2D"])

    def build(lib):
        inner = lib.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True)
        return lib.layers.Bidirectional(inner)

    theirs, ours = build(keras), build(convolve)
    expected = theirs(x)
    ours(x)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(_numpy(ours(x)), _numpy(expected), atol=ATOL)


@pytest.mark.parametrize("name", NAMES)
def test_signature_defaults_match_keras(name):
    def defaults(cls):
        params = inspect.signature(cls.__init__).parameters
        return {k: p.default for k, p in params.items() if k not in ("self", "kwargs")}

    assert defaults(getattr(layers, name)) == defaults(getattr(keras.layers, name))


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("ConvLSTM2D", {"filters": 3, "kernel_size": 2}),
        ("ConvLSTM1D", {"filters": 3, "kernel_size": 3, "padding": "SAME", "dropout": 0.1,
                        "recurrent_dropout": 0.2, "seed": 7, "return_sequences": True}),
        ("ConvLSTM3D", {"filters": 2, "kernel_size": (1, 2, 3), "strides": (1, 2, 1),
                        "kernel_regularizer": "l2",
                        "activity_regularizer": {"class_name": "L1", "config": {"l1": 0.5}},
                        "bias_constraint": "non_neg", "go_backwards": True, "stateful": True}),
        ("ConvLSTM2D", {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "dropout": 1.5,
                        "recurrent_initializer": "he_normal", "activation": "relu"}),
    ],
)  # fmt: skip
def test_get_config_matches_keras(name, kwargs):
    from convolve.saving import serialize_keras_object

    ours = getattr(layers, name)(name="x", **kwargs)
    theirs = getattr(keras.layers, name)(name="x", **kwargs)
    expected = keras.saving.serialize_keras_object(theirs)["config"]  # tuples included
    assert serialize_keras_object(ours)["config"] == expected
    assert list(ours.get_config()) == list(theirs.get_config())
    rebuilt = type(ours).from_config(ours.get_config())
    assert rebuilt.get_config() == ours.get_config()
    # A Keras config (lists for tuples, nested references) rebuilds the same layer here.
    from_keras = convolve.saving.deserialize_layer(keras.saving.serialize_keras_object(theirs))
    assert serialize_keras_object(from_keras)["config"] == expected


@pytest.mark.parametrize(
    "name, kwargs, input_shape",
    [
        ("ConvLSTM2D", {"filters": 4, "kernel_size": 3}, (None, 5, 9, 8, 3)),
        ("ConvLSTM2D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same",
                        "return_sequences": True, "return_state": True}, (None, None, 9, 8, 3)),
        ("ConvLSTM1D", {"filters": 2, "kernel_size": 4, "dilation_rate": 2,
                        "return_state": True}, (4, 6, 12, 1)),
        ("ConvLSTM3D", {"filters": 1, "kernel_size": 2, "return_sequences": True},
         (None, 2, 3, 4, 5, 2)),
    ],
)  # fmt: skip
def test_output_shapes_match_keras(name, kwargs, input_shape):
    ours = getattr(layers, name)(**kwargs).compute_output_shape(input_shape)
    theirs = getattr(keras.layers, name)(**kwargs).compute_output_shape(input_shape)
    assert ours == theirs  # with return_state, a tuple of shapes in both
    symbolic_ours = convolve.Input(input_shape[1:], batch_size=input_shape[0])
    symbolic_theirs = keras.Input(input_shape[1:], batch_size=input_shape[0])
    out_ours = _listify(getattr(layers, name)(**kwargs)(symbolic_ours))
    out_theirs = _listify(getattr(keras.layers, name)(**kwargs)(symbolic_theirs))
    assert [tuple(t.shape) for t in out_ours] == [tuple(t.shape) for t in out_theirs]


def test_weights_names_shapes_and_order_match_keras():
    x = _data(SHAPES["ConvLSTM2D"])
    ours, theirs = layers.ConvLSTM2D(3, (3, 2)), keras.layers.ConvLSTM2D(3, (3, 2))
    ours(x)
    theirs(x)
    assert [spec.name for _, spec, _ in ours._weight_entries()] == [w.name for w in theirs.weights]
    assert [tuple(w.shape) for w in ours.get_weights()] == [
        tuple(w.shape) for w in theirs.get_weights()
    ]
    # unit_forget_bias: the forget gate's bias starts at one, the others at zero.
    np.testing.assert_array_equal(ours.get_weights()[2], np.asarray(theirs.get_weights()[2]))


def test_regularizer_penalties_match_keras():
    x = _data(SHAPES["ConvLSTM1D"])
    kwargs = {"filters": 2, "kernel_size": 3, "kernel_regularizer": "l2",
              "recurrent_regularizer": "l1", "bias_regularizer": "l2"}  # fmt: skip
    ours, theirs = _compare("ConvLSTM1D", kwargs, x)
    np.testing.assert_allclose(
        sorted(float(v) for v in ours.losses),
        sorted(float(_numpy(v)) for v in theirs.losses),
        rtol=1e-5,
    )


def test_model_param_counts_match_keras():
    def build(lib):
        inputs = lib.Input((None, 8, 8, 1))
        x = lib.layers.ConvLSTM2D(4, 3, padding="same", return_sequences=True)(inputs)
        x = lib.layers.ConvLSTM2D(2, 3)(x)
        return lib.Model(inputs, lib.layers.Dense(2)(lib.layers.Flatten()(x)))

    theirs, ours = build(keras), build(convolve)
    assert [lyr.count_params() for lyr in ours.layers] == [
        lyr.count_params() for lyr in theirs.layers
    ]
    assert ours.output_shape == theirs.output_shape


@pytest.mark.parametrize("stacked", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_fit_steps_match_keras(stacked):
    x = _data((8, 3, 5, 5, 2))
    y = _data((8, 2))

    def build(lib):
        convs = [lib.layers.ConvLSTM2D(2, 3)]
        if stacked:
            convs.insert(0, lib.layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True))
        model = lib.Sequential(
            [lib.Input((3, 5, 5, 2)), *convs, lib.layers.Flatten(), lib.layers.Dense(2)]
        )
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        return model

    theirs, ours = build(keras), build(convolve)
    ours.set_weights(theirs.get_weights())
    epochs = 2 if stacked else 1
    theirs.fit(x, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_dropout_is_training_only_and_seeded():
    x = _data(SHAPES["ConvLSTM2D"])
    layer = layers.ConvLSTM2D(2, 3, dropout=0.5, recurrent_dropout=0.3, seed=3)
    inference = _numpy(layer(x))
    np.testing.assert_array_equal(inference, _numpy(layer(x)))
    trained = _numpy(layer(x, training=True))
    assert not np.allclose(trained, inference)
    twin = layers.ConvLSTM2D(2, 3, dropout=0.5, recurrent_dropout=0.3, seed=3)
    twin(x)
    twin.set_weights(layer.get_weights())
    np.testing.assert_array_equal(_numpy(twin(x, training=True)), trained)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: layers.ConvLSTM2D(0, 3), "filters"),
        (lambda: layers.ConvLSTM2D(2, (3, 3, 3)), "kernel_size"),
        (lambda: layers.ConvLSTM2D(2, 3, padding="causal"), "padding"),
        (lambda: layers.ConvLSTM2D(2, 3, data_format="channels_first"), "channels_first"),
        (lambda: layers.ConvLSTM2D(2, 3, strides=2, dilation_rate=2), "dilation_rate"),
        (lambda: layers.ConvLSTM1D(2, 3, recurrent_activation="nope"), "recurrent_activation"),
        (lambda: layers.ConvLSTM3D(2, 3, dropout="a"), "dropout"),
        (lambda: layers.ConvLSTM2D(2, 3, return_sequences="yes"), "return_sequences"),
    ],
)
def test_bad_arguments_raise_one_clear_error(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_bad_inputs_are_refused():
    layer = layers.ConvLSTM2D(2, 3)
    with pytest.raises(ValueError, match="expected rank 5"):
        layer(_data((2, 4, 6, 2)))
    with pytest.raises(ValueError, match="larger than the input"):
        layers.ConvLSTM2D(2, 5)(_data((2, 3, 4, 4, 1)))
    with pytest.raises(ValueError, match="static input shapes"):
        layers.ConvLSTM2D(2, 3)(convolve.Input((3, None, 5, 1)))
    layer(_data((2, 4, 6, 5, 2)))
    with pytest.raises(ValueError, match="spatial shape"):
        layer(_data((2, 4, 7, 5, 2)))
