"""Programs from the Keras guides on preprocessing layers, RNNs and custom serialization,
run with convolve and with Keras (torch backend): adapt inputs, recurrent return
structures, stateful states, configs and `serialize_keras_object` round trips.

Numbers are compared with atol 1e-5 (float32; the same weights on both sides)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import layers

ATOL = 1e-5
RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 5, 3)).astype(np.float32)


def _numpy(t):
    return np.asarray(t.detach().cpu()) if isinstance(t, torch.Tensor) else np.asarray(t)


def _structure(value):
    """The container types and leaf shapes of a layer's output, e.g. tuple[(2, 4), ...]."""
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_structure(v) for v in value])
    return tuple(value.shape)


# ------------------------------------------------------------------ preprocessing: adapt
class _ForeignArray:
    """An array of another library: iterable row by row, convertible with np.asarray."""

    def __init__(self, array):
        self._array = array
        self.shape, self.dtype = array.shape, array.dtype

    def __array__(self, dtype=None, copy=None):
        return self._array if dtype is None else self._array.astype(dtype)

    def __iter__(self):
        return iter(self._array)

    def __len__(self):
        return len(self._array)


def _adapted_output(lib, data, x):
    layer = lib.layers.Normalization()
    layer.adapt(data)
    return _numpy(layer(x))


def test_normalization_adapts_a_foreign_array_as_one_array():
    data = RNG.standard_normal((10, 4)).astype(np.float32) * 3 + 1
    expected = _adapted_output(keras, data, data[:3])
    got = _adapted_output(convolve, _ForeignArray(data), data[:3])
    np.testing.assert_allclose(got, expected, atol=ATOL)


@pytest.mark.slow
def test_normalization_adapts_tensorflow_tensors_and_unbatched_datasets():
    import tensorflow as tf

    data = RNG.standard_normal((10, 4)).astype(np.float32) * 3 + 1
    for source in (tf.constant(data), tf.data.Dataset.from_tensor_slices(data)):
        expected = _adapted_output(keras, source, data[:3])
        np.testing.assert_allclose(_adapted_output(convolve, source, data[:3]), expected,
                                   atol=ATOL)  # fmt: skip


def test_normalization_adapts_an_unbatched_dataset_of_vectors():
    # A dataset whose elements are single vectors is batched first, as Keras batches an
    # unbatched tf.data dataset (else each vector's features would be the "batch").
    data = RNG.standard_normal((10, 4)).astype(np.float32) * 2 - 1
    expected = _adapted_output(keras, data, data[:3])
    dataset = convolve.data.Dataset.from_tensor_slices(data)
    np.testing.assert_allclose(_adapted_output(convolve, dataset, data[:3]), expected, atol=ATOL)
    labelled = convolve.data.Dataset.from_tensor_slices((data, np.arange(10)))
    np.testing.assert_allclose(_adapted_output(convolve, labelled, data[:3]), expected,
                               atol=ATOL)  # fmt: skip


def test_normalization_adapt_of_a_read_only_array_gives_no_warning(recwarn):
    data = RNG.standard_normal((6, 3)).astype(np.float32)
    data.flags.writeable = False
    layer = layers.Normalization()
    layer.adapt(iter([data[:3], data[3:]]))
    assert not [w for w in recwarn if "not writable" in str(w.message)]
    np.testing.assert_allclose(_numpy(layer(data)), _adapted_output(keras, data, data), atol=ATOL)


# ------------------------------------------------------------------ RNNs
@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.layers.LSTM(4, return_state=True),
        lambda lib: lib.layers.GRU(4, return_state=True, return_sequences=True),
        lambda lib: lib.layers.SimpleRNN(4, return_state=True),
        lambda lib: lib.layers.RNN(lib.layers.LSTMCell(3), return_state=True),
        lambda lib: lib.layers.Bidirectional(lib.layers.LSTM(3, return_state=True)),
        lambda lib: lib.layers.Bidirectional(lib.layers.GRU(3, return_state=True), merge_mode=None),
        lambda lib: lib.layers.Bidirectional(lib.layers.LSTM(3), merge_mode=None),
    ],
    ids=["lstm", "gru", "simple_rnn", "rnn", "bidirectional", "bidi_none_state", "bidi_none"],
)
def test_recurrent_outputs_and_states_come_as_keras_tuples(make):
    theirs, ours = make(keras), make(convolve)
    expected = theirs(X)
    assert _structure(ours(X)) == _structure(expected)
    assert _structure(make(convolve)(convolve.Input((5, 3)))) == _structure(
        make(keras)(keras.Input((5, 3)))
    )
    assert make(convolve).compute_output_shape((None, 5, 3)) == make(keras).compute_output_shape(
        (None, 5, 3)
    )
    ours.set_weights(theirs.get_weights())
    for a, b in zip(ours(X), expected, strict=True):
        np.testing.assert_allclose(_numpy(a), _numpy(b), atol=ATOL)


def test_conv_lstm_return_state_is_a_tuple():
    x = RNG.standard_normal((1, 3, 5, 5, 2)).astype(np.float32)

    def make(lib):
        return lib.layers.ConvLSTM2D(2, 3, return_state=True, return_sequences=True)

    assert _structure(make(convolve)(x)) == _structure(make(keras)(x))
    shape = (None, 3, 5, 5, 2)
    assert make(convolve).compute_output_shape(shape) == make(keras).compute_output_shape(shape)


def test_model_built_on_a_state_tuple_predicts_a_tuple():
    def run(lib):
        inputs = lib.Input((5, 3))
        model = lib.Model(inputs, lib.layers.LSTM(4, return_state=True)(inputs))
        return model, model.predict(X, verbose=0)

    (theirs, expected), (ours, _) = run(keras), run(convolve)
    ours.set_weights(theirs.get_weights())
    got = ours.predict(X, verbose=0)
    assert _structure(got) == _structure(expected)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(_numpy(a), _numpy(b), atol=ATOL)


def test_encoder_decoder_initial_state_from_the_encoder_matches_keras():
    def run(lib):
        enc_in, dec_in = lib.Input((None,)), lib.Input((None,))
        _, h, c = lib.layers.LSTM(8, return_state=True)(lib.layers.Embedding(20, 4)(enc_in))
        dec = lib.layers.LSTM(8)(lib.layers.Embedding(30, 4)(dec_in), initial_state=[h, c])
        return lib.Model([enc_in, dec_in], lib.layers.Dense(3)(dec))

    theirs, ours = run(keras), run(convolve)
    assert ours.count_params() == theirs.count_params()
    ours.set_weights(theirs.get_weights())
    data = [np.array([[1, 2, 3], [4, 5, 0]]), np.array([[6, 7], [8, 9]])]
    np.testing.assert_allclose(
        _numpy(ours.predict(data, verbose=0)), _numpy(theirs.predict(data, verbose=0)), atol=ATOL
    )


def test_stateful_layer_built_for_a_batch_size_starts_from_zero_states():
    theirs = keras.layers.GRU(4, stateful=True)
    ours = layers.GRU(4, stateful=True)
    theirs.build((2, 5, 3))
    ours.build((2, 5, 3))
    assert [tuple(s.shape) for s in ours.states] == [tuple(s.shape) for s in theirs.states]
    for s in ours.states:
        assert not torch.any(s)
    ours.set_weights(theirs.get_weights())
    # The states carry over between calls and reset_states() zeroes them, as in Keras.
    for _ in range(2):
        np.testing.assert_allclose(_numpy(ours(X)), _numpy(theirs(X)), atol=ATOL)
    ours.reset_states()
    theirs.reset_states()
    np.testing.assert_allclose(_numpy(ours(X)), _numpy(theirs(X)), atol=ATOL)


def test_stateful_model_with_a_fixed_batch_keeps_its_batch_size():
    model = convolve.Sequential(
        [convolve.Input((5, 3), batch_size=2), layers.LSTM(4, stateful=True)]
    )
    assert [tuple(s.shape) for s in model.layers[0].states] == [(2, 4), (2, 4)]
    with pytest.raises(ValueError, match="batch size"):
        model.layers[0](np.zeros((3, 5, 3), np.float32))


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.layers.RNN(lib.layers.LSTMCell(3), return_sequences=True),
        lambda lib: lib.layers.RNN([lib.layers.GRUCell(2), lib.layers.SimpleRNNCell(3)]),
    ],
    ids=["cell", "stacked"],
)
def test_rnn_config_keys_come_in_keras_order(make):
    assert list(make(convolve).get_config()) == list(make(keras).get_config())


# ------------------------------------------------------------------ serialize_keras_object
@pytest.mark.parametrize(
    "value",
    [
        np.array([[1.5, 2.0]], np.float32),
        np.arange(3),
        np.float32(2.5),
        np.int64(3),
        b"bytes",
        (1, (2, 3)),
        [1, (2,)],
        {"a": (1, 2), "b": np.arange(2)},
        slice(1, 5, None),
        Ellipsis,
        "float32",
        True,
        None,
    ],
    ids=lambda v: type(v).__name__,
)
def test_serialize_keras_object_of_plain_data_matches_keras(value):
    ours = convolve.saving.serialize_keras_object(value)
    theirs = keras.saving.serialize_keras_object(value)
    assert ours == theirs and type(ours) is type(theirs)
    back, expected = (
        convolve.saving.deserialize_keras_object(ours),
        keras.saving.deserialize_keras_object(theirs),
    )
    assert type(back) is type(expected)
    np.testing.assert_equal(back, expected)  # recursive over dicts, lists and arrays
    if isinstance(expected, np.ndarray):
        assert back.dtype == expected.dtype


def test_serialize_keras_object_of_a_tensor():
    tensor = torch.tensor([1.0, 2.0])
    ours = convolve.saving.serialize_keras_object(tensor)
    assert ours == keras.saving.serialize_keras_object(tensor)
    back = convolve.saving.deserialize_keras_object(ours)
    assert isinstance(back, torch.Tensor) and back.dtype == torch.float32
    np.testing.assert_array_equal(back.numpy(), [1.0, 2.0])


def _square(x):
    return x**2


def test_registered_function_serializes_and_resolves_by_name_as_in_keras():
    ours_fn = convolve.saving.register_keras_serializable(package="guide_h9", name="sq")(_square)
    theirs_fn = keras.saving.register_keras_serializable(package="guide_h9", name="sq")(_square)
    ours = convolve.saving.serialize_keras_object(ours_fn)
    assert ours == keras.saving.serialize_keras_object(theirs_fn)
    assert convolve.saving.deserialize_keras_object(ours) is _square
    # A registered name (a string) deserializes to the object itself.
    assert convolve.saving.deserialize_keras_object("guide_h9>sq") is _square
    assert keras.saving.deserialize_keras_object("guide_h9>sq") is _square


def test_plain_function_serializes_as_keras_writes_it():
    def shift(x):
        return x + 1

    assert convolve.saving.serialize_keras_object(shift) == keras.saving.serialize_keras_object(
        shift
    )


def test_get_registered_object_takes_module_objects():
    table = {"shift": _square}
    assert convolve.saving.get_registered_object("shift", module_objects=table) is _square
    assert keras.saving.get_registered_object("shift", module_objects=table) is _square
    assert convolve.saving.get_registered_object("absent", module_objects=table) is None


def _custom_layer_class(lib):
    class KernelMult(lib.layers.Layer):
        def __init__(self, units, *, nested=None, scale=None, **kwargs):
            super().__init__(**kwargs)
            self.units, self.nested, self.scale = units, nested, scale

        def get_config(self):
            return {**super().get_config(), "units": self.units, "nested": self.nested,
                    "scale": self.scale}  # fmt: skip

    KernelMult.__module__ = "__main__"  # as a class defined in the running script
    return KernelMult


def test_custom_layer_config_with_a_nested_layer_and_arrays_serializes_as_keras():
    def run(lib):
        cls = _custom_layer_class(lib)
        inner = cls(2, scale=np.float32(0.5), name="inner")
        outer = cls(3, nested=inner, scale=np.array([1.0, 2.0]), name="outer")
        entry = lib.saving.serialize_keras_object(outer)
        layer = lib.saving.deserialize_keras_object(entry, custom_objects={"KernelMult": cls})
        for part in (entry["config"], entry["config"]["nested"]["config"]):
            part.pop("dtype")  # convolve's dtype entry is checked elsewhere
        return entry, layer

    (ours, ours_layer), (theirs, theirs_layer) = run(convolve), run(keras)
    assert ours == theirs
    assert ours["module"] is None  # a class of the running script: no module, as Keras
    assert ours_layer.units == 3 and ours_layer.name == theirs_layer.name == "outer"
    # Nested entries are left for the class's from_config to deserialize, as in Keras.
    assert dict(ours_layer.scale) == dict(theirs_layer.scale)
    assert ours_layer.nested["class_name"] == theirs_layer.nested["class_name"] == "KernelMult"


def test_lambda_entries_stay_refused_in_safe_mode():
    entry = {"class_name": "__lambda__", "config": {"value": ["", None, None]}}
    with pytest.raises(ValueError, match="lambda"):
        convolve.saving.deserialize_keras_object(entry)
