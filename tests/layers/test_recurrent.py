"""Recurrent layers against Keras (torch backend): signatures, configs, shapes, parameter
counts, outputs with copied weights (atol 1e-5), masking, wrappers and a few fit steps."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import layers

ATOL = 1e-5  # float32 outputs with the same weights; observed differences are ~1e-7
RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 6, 4)).astype(np.float32)
MASK = np.ones((3, 6), bool)
MASK[0, 4:] = False
MASK[1, :2] = False
MASK[2, 3] = False


def _listify(out):
    return list(out) if isinstance(out, list | tuple) else [out]


def _numpy(t):
    return np.asarray(t.detach().cpu()) if isinstance(t, torch.Tensor) else np.asarray(t)


def _compare(name, kwargs, x=X, **call_kwargs):
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


RNN_CASES = [
    {"units": 5},
    {"units": 5, "return_sequences": True, "return_state": True},
    {"units": 5, "go_backwards": True, "return_sequences": True},
    {"units": 5, "go_backwards": True, "return_state": True},
    {"units": 5, "use_bias": False},
    {"units": 5, "activation": "relu", "return_sequences": True},
    {"units": 5, "unroll": True, "return_sequences": True},
]


@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("kwargs", RNN_CASES, ids=str)
def test_recurrent_layer_matches_keras(name, kwargs):
    _compare(name, kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"units": 5, "reset_after": False, "return_sequences": True},
        {"units": 5, "reset_after": False, "use_bias": False},
        {"units": 5, "recurrent_activation": "hard_sigmoid", "return_state": True},
    ],
    ids=str,
)
def test_gru_variants_match_keras(kwargs):
    _compare("GRU", kwargs)


def test_lstm_without_unit_forget_bias_matches_keras():
    _compare("LSTM", {"units": 3, "unit_forget_bias": False, "bias_initializer": "ones"})


@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_masked_steps_carry_outputs_and_states_over(name, go_backwards):
    kwargs = {"units": 5, "return_sequences": True, "return_state": True}
    _compare(name, {**kwargs, "go_backwards": go_backwards}, mask=MASK)


@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
def test_initial_state_matches_keras(name):
    n_states = 2 if name == "LSTM" else 1
    states = [RNG.standard_normal((3, 5)).astype(np.float32) for _ in range(n_states)]
    _compare(name, {"units": 5, "return_state": True}, initial_state=states)


def _masked_input():
    x = X.copy()
    x[~MASK] = 0.0
    return x


@pytest.mark.parametrize("name", ["LSTM", "GRU", "SimpleRNN"])
def test_masking_layer_feeds_the_mask_through_a_sequential_model(name):
    x = _masked_input()

    def build(lib):
        return lib.Sequential(
            [
                lib.Input((6, 4)),
                lib.layers.Masking(0.0),
                getattr(lib.layers, name)(5, return_sequences=True),
                getattr(lib.layers, name)(3),
            ]
        )

    theirs, ours = build(keras), build(convolve)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), _numpy(theirs.predict(x, verbose=0)), atol=ATOL
    )
    # Without the mask the result differs, so the test above depends on the mask.
    plain = convolve.Sequential([convolve.Input((6, 4)), *ours.layers[1:]])
    assert not np.allclose(plain.predict(x, verbose=0), ours.predict(x, verbose=0), atol=1e-3)


def test_masking_layer_output_and_mask():
    x = _masked_input()
    out = layers.Masking()(x)
    np.testing.assert_array_equal(_numpy(out), _numpy(keras.layers.Masking()(x)))
    np.testing.assert_array_equal(_numpy(out._keras_mask), MASK)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_bidirectional_merge_modes_match_keras(merge_mode, name):
    def make(lib):
        inner = getattr(lib.layers, name)(4, return_sequences=True)
        return lib.layers.Bidirectional(inner, merge_mode=merge_mode)

    theirs, ours = make(keras), make(convolve)
    expected = _listify(theirs(X))
    ours(X)
    ours.set_weights(theirs.get_weights())
    got = _listify(ours(X))
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(_numpy(a), _numpy(b), atol=ATOL)
    assert ours.compute_output_shape((None, 6, 4)) == _shape(
        theirs.compute_output_shape((None, 6, 4))
    )
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]


def _shape(value):
    if isinstance(value, list | tuple) and value and isinstance(value[0], list | tuple):
        return type(value)(tuple(v) for v in value)  # Keras's list or tuple, as it is
    return tuple(value)


def test_bidirectional_with_state_and_mask_matches_keras():
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(4, return_state=True))
    ours = layers.Bidirectional(layers.LSTM(4, return_state=True))
    expected = theirs(X, mask=MASK)
    ours(X)
    ours.set_weights(theirs.get_weights())
    got = ours(X, mask=MASK)
    assert len(got) == len(expected) == 5
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(_numpy(a), _numpy(b), atol=ATOL)


def test_bidirectional_sequences_with_mask_zero_masked_outputs():
    theirs = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True))
    ours = layers.Bidirectional(layers.GRU(4, return_sequences=True))
    expected = theirs(X, mask=MASK)
    ours(X)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(_numpy(ours(X, mask=MASK)), _numpy(expected), atol=ATOL)


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda lib: lib.layers.Dense(3), (2, 5, 4)),
        (lambda lib: lib.layers.Conv2D(3, 3), (2, 4, 7, 6, 2)),
        (lambda lib: lib.layers.Flatten(), (2, 4, 3, 3, 2)),
    ],
)
def test_time_distributed_matches_keras(make, shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    theirs = keras.layers.TimeDistributed(make(keras))
    ours = layers.TimeDistributed(make(convolve))
    expected = theirs(x)
    ours(x)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(_numpy(ours(x)), _numpy(expected), atol=ATOL)
    in_shape = (None, *shape[1:])
    assert ours.compute_output_shape(in_shape) == tuple(theirs.compute_output_shape(in_shape))


def test_time_distributed_batch_norm_uses_per_step_statistics_in_training():
    x = RNG.standard_normal((4, 3, 5)).astype(np.float32) * np.arange(1, 4)[None, :, None]
    theirs = keras.layers.TimeDistributed(keras.layers.BatchNormalization())
    ours = layers.TimeDistributed(layers.BatchNormalization())
    expected = theirs(x, training=True)
    ours(x)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(_numpy(ours(x, training=True)), _numpy(expected), atol=1e-4)


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.layers.RNN(lib.layers.LSTMCell(4), return_sequences=True),
        lambda lib: lib.layers.RNN(lib.layers.GRUCell(4), go_backwards=True),
        lambda lib: lib.layers.RNN(
            [lib.layers.LSTMCell(4), lib.layers.SimpleRNNCell(3)], return_state=True
        ),
        lambda lib: lib.layers.RNN(
            lib.layers.StackedRNNCells([lib.layers.GRUCell(4), lib.layers.LSTMCell(2)]),
            return_sequences=True,
        ),
    ],
)
def test_generic_rnn_over_cells_matches_keras(make):
    theirs, ours = make(keras), make(convolve)
    expected = _listify(theirs(X, mask=MASK))
    ours(X)
    ours.set_weights(theirs.get_weights())
    got = _listify(ours(X, mask=MASK))
    flat_expected = [t for item in expected for t in _listify(item)]
    flat_got = [t for item in got for t in _listify(item)]
    assert len(flat_got) == len(flat_expected)
    for a, b in zip(flat_got, flat_expected, strict=True):
        np.testing.assert_allclose(_numpy(a), _numpy(b), atol=ATOL)


@pytest.mark.parametrize("name", ["SimpleRNNCell", "LSTMCell", "GRUCell"])
def test_cell_single_step_matches_keras(name):
    theirs, ours = getattr(keras.layers, name)(4), getattr(layers, name)(4)
    x = X[:, 0]
    n_states = 2 if name == "LSTMCell" else 1
    states = [RNG.standard_normal((3, 4)).astype(np.float32) for _ in range(n_states)]
    expected, expected_states = theirs(x, states)
    ours(x, [torch.as_tensor(s) for s in states])
    ours.set_weights(theirs.get_weights())
    got, got_states = ours(x, [torch.as_tensor(s) for s in states])
    np.testing.assert_allclose(_numpy(got), _numpy(expected), atol=ATOL)
    for a, b in zip(_listify(got_states), _listify(expected_states), strict=True):
        np.testing.assert_allclose(_numpy(a), _numpy(b), atol=ATOL)


CLASSES = [
    "SimpleRNN", "LSTM", "GRU", "SimpleRNNCell", "LSTMCell", "GRUCell", "RNN",
    "StackedRNNCells", "Bidirectional", "TimeDistributed", "Masking",
]  # fmt: skip


@pytest.mark.parametrize("name", CLASSES)
def test_signature_defaults_match_keras(name):
    def defaults(cls):
        params = inspect.signature(cls.__init__).parameters
        return {k: p.default for k, p in params.items() if k not in ("self", "kwargs")}

    assert defaults(getattr(layers, name)) == defaults(getattr(keras.layers, name))


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("SimpleRNN", {"units": 3, "dropout": 0.1}),
        ("LSTM", {"units": 3, "return_sequences": True, "recurrent_dropout": 0.2}),
        ("GRU", {"units": 3, "reset_after": False, "go_backwards": True}),
        ("LSTMCell", {"units": 3}),
        ("GRUCell", {"units": 3}),
        ("SimpleRNNCell", {"units": 3, "activation": "relu"}),
        ("Masking", {"mask_value": -1.0}),
    ],
)
def test_get_config_matches_keras(name, kwargs):
    from convolve.saving import serialize_keras_object

    ours = getattr(layers, name)(name="x", **kwargs)
    theirs = getattr(keras.layers, name)(name="x", **kwargs)
    assert serialize_keras_object(ours)["config"] == theirs.get_config()
    rebuilt = type(ours).from_config(ours.get_config())
    assert rebuilt.get_config() == ours.get_config()


def test_wrapper_configs_round_trip_and_match_keras_keys():
    ours = layers.Bidirectional(layers.LSTM(3, return_sequences=True, name="l"), name="b")
    theirs = keras.layers.Bidirectional(
        keras.layers.LSTM(3, return_sequences=True, name="l"), name="b"
    )
    assert list(ours.get_config()) == list(theirs.get_config())
    assert ours.get_config()["layer"]["config"] == theirs.get_config()["layer"]["config"]
    rebuilt = layers.Bidirectional.from_config(ours.get_config())
    assert rebuilt.get_config() == ours.get_config()
    td = layers.TimeDistributed(layers.Dense(2), name="t")
    assert list(td.get_config()) == list(
        keras.layers.TimeDistributed(keras.layers.Dense(2)).get_config()
    )
    assert layers.TimeDistributed.from_config(td.get_config()).layer.units == 2


def test_summary_param_counts_match_keras():
    def build(lib):
        inputs = lib.Input((5, 8, 8, 1))
        x = lib.layers.TimeDistributed(lib.layers.Conv2D(4, 3))(inputs)
        x = lib.layers.TimeDistributed(lib.layers.Flatten())(x)
        x = lib.layers.Bidirectional(lib.layers.GRU(6, return_sequences=True))(x)
        x = lib.layers.LSTM(5)(x)
        return lib.Model(inputs, lib.layers.Dense(2)(x))

    theirs, ours = build(keras), build(convolve)
    assert ours.count_params() == theirs.count_params()
    assert [lyr.count_params() for lyr in ours.layers] == [
        lyr.count_params() for lyr in theirs.layers
    ]
    assert ours.output_shape == theirs.output_shape
    text = []
    ours.summary(print_fn=text.append)
    assert f"{theirs.count_params():,}" in "\n".join(text)


def test_functional_initial_state_from_other_layers():
    def build(lib):
        seq = lib.Input((6, 4))
        image = lib.Input((7,))
        h = lib.layers.Dense(5)(image)
        c = lib.layers.Dense(5)(image)
        out = lib.layers.LSTM(5, return_sequences=True)(seq, initial_state=[h, c])
        return lib.Model([seq, image], out)

    theirs, ours = build(keras), build(convolve)
    ours.set_weights(theirs.get_weights())
    image = RNG.standard_normal((3, 7)).astype(np.float32)
    np.testing.assert_allclose(
        ours.predict([X, image], verbose=0),
        _numpy(theirs.predict([X, image], verbose=0)),
        atol=ATOL,
    )


@pytest.mark.parametrize("name", [pytest.param("LSTM", marks=pytest.mark.slow), "GRU"])
def test_fit_steps_match_keras(name):
    x = RNG.standard_normal((16, 5, 3)).astype(np.float32)
    y = RNG.standard_normal((16, 2)).astype(np.float32)

    def build(lib):
        model = lib.Sequential(
            [
                lib.Input((5, 3)),
                getattr(lib.layers, name)(4, return_sequences=True),
                getattr(lib.layers, name)(4),
                lib.layers.Dense(2),
            ]
        )
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        return model

    theirs, ours = build(keras), build(convolve)
    ours.set_weights(theirs.get_weights())
    theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_dropout_is_training_only_and_one_mask_per_sequence():
    layer = layers.SimpleRNN(4, dropout=0.5, return_sequences=True, seed=1)
    x = np.ones((2, 5, 3), np.float32)
    inference = _numpy(layer(x))
    np.testing.assert_array_equal(inference, _numpy(layer(x)))
    trained = _numpy(layer(x, training=True))
    assert not np.allclose(trained, inference)
    # The mask is drawn once per sequence: with a constant input and zero recurrent
    # weights, every step sees the same dropped input, so every step's output is the same.
    layer.set_weights([w if w.ndim != 2 or w.shape[0] != 4 else 0 * w for w in layer.get_weights()])
    out = _numpy(layer(x, training=True))
    np.testing.assert_allclose(out, np.broadcast_to(out[:, :1], out.shape), atol=1e-6)


def test_stateful_layer_carries_states_between_calls():
    layer = layers.GRU(3, stateful=True)
    x = X[:, :3]
    first = _numpy(layer(x))
    second = _numpy(layer(x))
    assert not np.allclose(first, second)
    layer.reset_state()
    np.testing.assert_allclose(_numpy(layer(x)), first, atol=1e-6)
    with pytest.raises(ValueError, match="batch size"):
        layer(X[:2, :3])


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: layers.LSTM(0), "units"),
        (lambda: layers.GRU(3, dropout="a"), "dropout"),
        (lambda: layers.Bidirectional(layers.Dense(3)), "layer"),
        (lambda: layers.Bidirectional(layers.LSTM(3), merge_mode="max"), "merge_mode"),
        (lambda: layers.TimeDistributed("dense"), "layer"),
        (lambda: layers.Masking("zero"), "mask_value"),
        (lambda: layers.RNN(object()), "cell"),
    ],
)
def test_bad_arguments_raise_one_clear_error(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_wrong_initial_state_count_is_refused():
    with pytest.raises(ValueError, match="initial state"):
        layers.LSTM(3)(X, initial_state=[np.zeros((3, 3), np.float32)])
