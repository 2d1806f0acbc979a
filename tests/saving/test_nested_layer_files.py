"""Model files whose layer configs nest other layers (Bidirectional, TimeDistributed, RNN
over cells, StackedRNNCells, ConvLSTM2D) move between convolve and Keras 3, both ways, with
the same outputs; nested entries go through the same allowlist as the model's layers."""

from __future__ import annotations

import json
import zipfile

import h5py
import keras
import numpy as np
import pytest

import convolve
from convolve import saving
from convolve.saving import ModelFileError, UnsafeModelError

pytestmark = pytest.mark.parity

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # float32, same weights, the same arithmetic
RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 3, 6, 6, 2)).astype(np.float32)


def build(lib):
    """Every nesting Keras writes: `layer`, `backward_layer`, `cell`, `cells`."""
    inputs = lib.Input((3, 6, 6, 2))
    x = lib.layers.TimeDistributed(lib.layers.Conv2D(3, 3, padding="same"))(inputs)
    x = lib.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True)(x)
    x = lib.layers.TimeDistributed(lib.layers.Flatten())(x)
    x = lib.layers.Bidirectional(lib.layers.LSTM(3, return_sequences=True))(x)
    x = lib.layers.Bidirectional(
        lib.layers.GRU(2, return_sequences=True),
        backward_layer=lib.layers.SimpleRNN(2, return_sequences=True, go_backwards=True),
        merge_mode="sum",
    )(x)
    x = lib.layers.RNN(lib.layers.LSTMCell(3), return_sequences=True)(x)
    x = lib.layers.RNN([lib.layers.LSTMCell(2), lib.layers.GRUCell(3)])(x)
    return lib.Model(inputs, lib.layers.Dense(2)(x))


def _keras_out(model):
    return np.asarray(model.predict(X, verbose=0))


def _weight_paths(path):
    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as raw:
        found = []
        with h5py.File(raw, "r") as h5:
            h5.visititems(lambda name, obj: found.append(name) if hasattr(obj, "shape") else None)
    return sorted(found)


def test_keras_file_with_nested_layers_loads_with_the_same_outputs(tmp_path):
    theirs = build(keras)
    theirs.compile(optimizer="adam", loss="mse")
    theirs.save(tmp_path / "keras.keras")
    ours = saving.load_model(tmp_path / "keras.keras")
    assert [type(layer).__name__ for layer in ours.layers] == [
        type(layer).__name__ for layer in theirs.layers
    ]
    assert ours.count_params() == theirs.count_params()
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
    np.testing.assert_allclose(ours.predict(X, verbose=0), _keras_out(theirs), **TOLERANCE)
    assert ours.optimizer is not None


def test_convolve_file_with_nested_layers_loads_in_keras(tmp_path):
    ours = build(convolve)
    ours.save(tmp_path / "ours.keras")
    theirs = keras.saving.load_model(tmp_path / "ours.keras")
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
    np.testing.assert_allclose(ours.predict(X, verbose=0), _keras_out(theirs), **TOLERANCE)
    # Keras's own file of the same model stores the same variables under the same paths.
    theirs.save(tmp_path / "keras.keras")
    assert _weight_paths(tmp_path / "ours.keras") == _weight_paths(tmp_path / "keras.keras")
    assert "layers/bidirectional/forward_layer/cell/vars/0" in _weight_paths(
        tmp_path / "ours.keras"
    )
    # ... and the nested configs are Keras's (what Keras reads back writes the same).
    with zipfile.ZipFile(tmp_path / "ours.keras") as archive:
        layers_ours = json.loads(archive.read("config.json"))["config"]["layers"]
    with zipfile.ZipFile(tmp_path / "keras.keras") as archive:
        layers_keras = json.loads(archive.read("config.json"))["config"]["layers"]
    for mine, keras_entry in zip(layers_ours[1:], layers_keras[1:], strict=True):
        assert mine["class_name"] == keras_entry["class_name"]
        assert sorted(mine["config"]) == sorted(keras_entry["config"])
        for key in ("layer", "backward_layer", "cell"):
            if key in mine["config"]:
                nested, nested_keras = mine["config"][key], keras_entry["config"][key]
                assert nested["class_name"] == nested_keras["class_name"]
                assert sorted(nested["config"]) == sorted(nested_keras["config"])


def test_weights_files_with_nested_layers_move_both_ways(tmp_path):
    theirs, ours = build(keras), build(convolve)
    theirs.save_weights(tmp_path / "keras.weights.h5")
    ours.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(ours.predict(X, verbose=0), _keras_out(theirs), **TOLERANCE)
    other = build(convolve)
    other.save_weights(tmp_path / "ours.weights.h5")
    theirs.load_weights(tmp_path / "ours.weights.h5")
    np.testing.assert_allclose(other.predict(X, verbose=0), _keras_out(theirs), **TOLERANCE)


def test_legacy_h5_with_nested_layers_moves_both_ways(tmp_path):
    theirs = build(keras)
    theirs.save(tmp_path / "keras.h5")
    ours = saving.load_model(tmp_path / "keras.h5")
    np.testing.assert_allclose(ours.predict(X, verbose=0), _keras_out(theirs), **TOLERANCE)
    with pytest.warns(UserWarning, match="legacy"):
        ours.save(tmp_path / "ours.h5")
    back = keras.saving.load_model(tmp_path / "ours.h5")
    np.testing.assert_allclose(ours.predict(X, verbose=0), _keras_out(back), **TOLERANCE)


def test_convolve_round_trip_keeps_nested_configs(tmp_path):
    model = build(convolve)
    model.save(tmp_path / "m.keras")
    back = saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(back.predict(X, verbose=0), model.predict(X, verbose=0), atol=0)
    assert [layer.get_config() for layer in back.layers] == [
        layer.get_config() for layer in model.layers
    ]


def _bidirectional_entry(inner):
    return {
        "module": "keras.layers",
        "class_name": "Bidirectional",
        "config": {"name": "b", "merge_mode": "concat", "layer": inner},
    }


def test_nested_layer_entries_go_through_the_allowlist():
    hostile = {"module": "os", "class_name": "system", "config": {"command": "echo hi"}}
    with pytest.raises(UnsafeModelError, match="os.system"):
        saving.deserialize_layer(_bidirectional_entry(hostile))
    lam = {"module": "keras.layers", "class_name": "Lambda", "config": {"function": "abs"}}
    with pytest.raises(UnsafeModelError, match="Lambda"):
        saving.deserialize_layer({**_bidirectional_entry(lam)})
    cells = {
        "module": "keras.layers",
        "class_name": "StackedRNNCells",
        "config": {"cells": [hostile]},
    }
    with pytest.raises(UnsafeModelError, match="os.system"):
        saving.deserialize_layer(cells)
    unknown = {"module": "keras.layers", "class_name": "NoSuchCell", "config": {}}
    rnn = {"module": "keras.layers", "class_name": "RNN", "config": {"cell": unknown}}
    with pytest.raises(ModelFileError, match="NoSuchCell"):
        saving.deserialize_layer(rnn)


def test_nested_layer_entry_from_keras_rebuilds_the_layer():
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(3, name="l"), name="b")
    entry = keras.saving.serialize_keras_object(theirs)
    ours = saving.deserialize_layer(json.loads(json.dumps(entry)))
    assert isinstance(ours.forward_layer, convolve.layers.LSTM)
    assert ours.forward_layer.units == 3 and ours.backward_layer.go_backwards
    assert ours.get_config()["layer"]["config"] == theirs.get_config()["layer"]["config"]


def test_registered_cell_nested_in_rnn_round_trips(tmp_path):
    @saving.register_keras_serializable(package="nested_test")
    class Doubling(convolve.layers.Layer):
        state_size = 2

        def call(self, inputs, states):
            out = inputs[:, :2] * 2 + states[0]
            return out, [out]

    model = convolve.Sequential([convolve.Input((4, 3)), convolve.layers.RNN(Doubling())])
    x = RNG.standard_normal((2, 4, 3)).astype(np.float32)
    model.save(tmp_path / "m.keras")
    back = saving.load_model(tmp_path / "m.keras")
    assert type(back.layers[0].cell) is Doubling
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), atol=0)


def _attention_model(lib):
    """Layers called with several tensors (Keras writes them as several arguments) and a
    pipeline (a list of nested layer configs)."""
    query, value = lib.Input((5, 8)), lib.Input((6, 8))
    x = lib.layers.MultiHeadAttention(2, 4)(query, value)
    y = lib.layers.Attention()([query, value])
    z = lib.layers.AdditiveAttention()([x, y, query])
    z = lib.layers.Pipeline([lib.layers.Rescaling(2.0), lib.layers.Rescaling(0.5, offset=1.0)])(z)
    return lib.Model([query, value], lib.layers.Dense(3)(z))


ATTENTION_INPUTS = [
    RNG.standard_normal((2, 5, 8)).astype(np.float32),
    RNG.standard_normal((2, 6, 8)).astype(np.float32),
]


@pytest.mark.parametrize("direction", ["keras_to_convolve", "convolve_to_keras"])
def test_multi_input_calls_and_pipelines_move_both_ways(tmp_path, direction):
    writer, reader = (keras, convolve) if direction == "keras_to_convolve" else (convolve, keras)
    original = _attention_model(writer)
    original.save(tmp_path / "m.keras")
    loaded = reader.models.load_model(tmp_path / "m.keras")
    assert [type(layer).__name__ for layer in loaded.layers] == [
        type(layer).__name__ for layer in original.layers
    ]
    expected = np.asarray(original.predict(ATTENTION_INPUTS, verbose=0))
    got = np.asarray(loaded.predict(ATTENTION_INPUTS, verbose=0))
    np.testing.assert_allclose(got, expected, **TOLERANCE)
