"""Layer assets in `.keras` files: learned lookup vocabularies (and IDF weights) move
between convolve and Keras both ways, laid out as Keras lays them out."""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile

import h5py
import keras
import numpy as np
import pytest

import convolve
from convolve import saving

pytestmark = pytest.mark.parity

TOLERANCE = {"rtol": 1e-6, "atol": 1e-6}  # float32 tf_idf outputs; indices are exact

INT_DATA = np.array([[5, 5, 7], [3, 5, 1], [7, 7, 2]])
INT_QUERY = np.array([[5, 7, 9], [3, 3, 5], [1, 2, 0]])
STR_DATA = np.array([["é", "b", "b"], ["c", "zz", "b"], ["日本", "c", "b"]])
STR_QUERY = np.array([["é", "q", "b"], ["zz", "b", "c"], ["日本", "", "x"]])


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _assets(path) -> dict[str, bytes]:
    return {k: v for k, v in _members(path).items() if k.startswith("assets/")}


def _h5_vars(path, where: str) -> dict[str, np.ndarray]:
    with h5py.File(io.BytesIO(_members(path)["model.weights.h5"]), "r") as f:
        group = f[where]
        return {k: group[k][()] for k in group}


def _int_models(kwargs, query):
    """The same adapted IntegerLookup in a convolve and a Keras model on int64 inputs."""
    shape = (query.shape[1],)
    ours = convolve.layers.IntegerLookup(**kwargs)
    ours.adapt(INT_DATA)
    theirs = keras.layers.IntegerLookup(**kwargs)
    theirs.adapt(INT_DATA)
    model = convolve.Sequential([convolve.Input(shape, dtype="int64"), ours])
    kmodel = keras.Sequential([keras.Input(shape, dtype="int64"), theirs])
    return model, kmodel


INT_CASES = [
    {},
    {"mask_token": 0, "num_oov_indices": 2},
    {"output_mode": "multi_hot"},
    {"output_mode": "count", "max_tokens": 6},
    {"output_mode": "tf_idf"},
]


@pytest.mark.parametrize("kwargs", INT_CASES, ids=lambda k: "-".join(map(str, k.values())) or "int")
def test_adapted_integer_lookup_moves_both_ways(kwargs, tmp_path):
    model, kmodel = _int_models(kwargs, INT_QUERY)
    expected = np.asarray(kmodel.predict(INT_QUERY, verbose=0))
    np.testing.assert_allclose(model.predict(INT_QUERY, verbose=0), expected, **TOLERANCE)

    model.save(tmp_path / "ours.keras")
    kmodel.save(tmp_path / "keras.keras")
    # The same members as Keras writes, the vocabulary file byte for byte.
    assert sorted(_members(tmp_path / "ours.keras")) == sorted(_members(tmp_path / "keras.keras"))
    assert _assets(tmp_path / "ours.keras") == _assets(tmp_path / "keras.keras")
    assert list(_assets(tmp_path / "ours.keras")) == ["assets/layers/integer_lookup/vocabulary.txt"]

    back = saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(back.predict(INT_QUERY, verbose=0), expected, **TOLERANCE)
    in_keras = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(in_keras.predict(INT_QUERY, verbose=0), expected, **TOLERANCE)
    from_keras = saving.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(from_keras.predict(INT_QUERY, verbose=0), expected, **TOLERANCE)
    assert from_keras.layers[0].get_vocabulary() == [
        int(v) for v in kmodel.layers[0].get_vocabulary()
    ]


def test_the_example_that_failed_before(tmp_path):
    lookup = convolve.layers.IntegerLookup()
    lookup.adapt(np.array([5, 5, 7, 3]))
    model = convolve.Sequential([convolve.Input((3,), dtype="int64"), lookup])
    model.save(tmp_path / "m.keras")
    loaded = convolve.saving.load_model(tmp_path / "m.keras")
    x = np.array([[5, 7, 9], [3, 3, 5]])
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[0].get_vocabulary() == [-1, 5, 7, 3]


STR_CASES = [
    {},
    {"mask_token": "", "num_oov_indices": 2},
    {"output_mode": "one_hot"},
    {"output_mode": "tf_idf"},
    {"output_mode": "tf_idf", "max_tokens": 9, "pad_to_max_tokens": True},
]


@pytest.mark.parametrize("kwargs", STR_CASES, ids=lambda k: "-".join(map(str, k.values())) or "int")
def test_adapted_string_lookup_moves_both_ways(kwargs, tmp_path):
    # Neither library runs string inputs through a model on torch; the lookup travels in a
    # model file and is called directly after loading.
    query = STR_QUERY[:, :1] if kwargs.get("output_mode") == "one_hot" else STR_QUERY
    ours = convolve.layers.StringLookup(**kwargs)
    ours.adapt(STR_DATA)
    theirs = keras.layers.StringLookup(**kwargs)
    theirs.adapt(STR_DATA)
    expected = np.asarray(theirs(query))
    np.testing.assert_allclose(ours(query).numpy(), expected, **TOLERANCE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unbuilt model: no weights besides the state
        convolve.Sequential([ours]).save(tmp_path / "ours.keras")
        keras.Sequential([theirs]).save(tmp_path / "keras.keras")
    assert _assets(tmp_path / "ours.keras") == _assets(tmp_path / "keras.keras")

    lookup = saving.load_model(tmp_path / "ours.keras").layers[0]
    np.testing.assert_allclose(lookup(query).numpy(), expected, **TOLERANCE)
    lookup = saving.load_model(tmp_path / "keras.keras").layers[0]
    np.testing.assert_allclose(lookup(query).numpy(), expected, **TOLERANCE)
    assert lookup.get_vocabulary() == [str(v) for v in theirs.get_vocabulary()]
    if not kwargs.get("pad_to_max_tokens"):  # Keras cannot load its own padded tf_idf files
        lookup = keras.saving.load_model(tmp_path / "ours.keras").layers[0]
        np.testing.assert_allclose(np.asarray(lookup(query)), expected, **TOLERANCE)


def test_tf_idf_weights_are_stored_where_keras_stores_them(tmp_path):
    ours = convolve.layers.StringLookup(output_mode="tf_idf")
    ours.adapt(STR_DATA)
    theirs = keras.layers.StringLookup(output_mode="tf_idf")
    theirs.adapt(STR_DATA)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        convolve.Sequential([ours]).save(tmp_path / "ours.keras")
        keras.Sequential([theirs]).save(tmp_path / "keras.keras")
    where = "layers/string_lookup/vars"
    stored, reference = (
        _h5_vars(tmp_path / "ours.keras", where),
        _h5_vars(tmp_path / "keras.keras", where),
    )
    assert list(stored) == list(reference) == ["idf_weights"]
    np.testing.assert_allclose(stored["idf_weights"], reference["idf_weights"], **TOLERANCE)

    # A weights file carries them too, as Keras's does.
    model = convolve.Sequential(
        [convolve.Input((3,), dtype="int64"), convolve.layers.IntegerLookup(output_mode="tf_idf")]
    )
    model.layers[0].adapt(INT_DATA)
    model.save_weights(tmp_path / "w.weights.h5")
    fresh = convolve.Sequential(
        [
            convolve.Input((3,), dtype="int64"),
            convolve.layers.IntegerLookup(
                output_mode="tf_idf",
                vocabulary=model.layers[0].get_vocabulary(),
                idf_weights=np.zeros(6),
            ),
        ]
    )
    fresh.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_allclose(
        fresh.layers[0].idf_weights.numpy(), model.layers[0].idf_weights.numpy(), **TOLERANCE
    )


def test_a_given_vocabulary_stays_in_the_config(tmp_path):
    lookup = convolve.layers.StringLookup(vocabulary=["a", "b"])
    model = convolve.Sequential([lookup])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(tmp_path / "m.keras")
        keras.Sequential([keras.layers.StringLookup(vocabulary=["a", "b"])]).save(
            tmp_path / "k.keras"
        )
    assert _assets(tmp_path / "m.keras") == _assets(tmp_path / "k.keras") == {}
    config = json.loads(_members(tmp_path / "m.keras")["config.json"])
    assert config["config"]["layers"][0]["config"]["vocabulary"] == ["a", "b"]
    assert saving.load_model(tmp_path / "m.keras").layers[0](["b", "z"]).tolist() == [2, 0]


def test_a_token_with_a_line_break_is_refused(tmp_path):
    lookup = convolve.layers.StringLookup()
    lookup.adapt(np.array(["a", "b\nc"]))
    with pytest.raises(ValueError, match="line break"):
        convolve.Sequential([lookup]).save(tmp_path / "m.keras")
    assert not os.path.exists(tmp_path / "m.keras")


def test_missing_vocabulary_file_leaves_the_layer_unset(tmp_path):
    """A file whose assets lack a layer's vocabulary loads, and the layer says what is
    missing when it is called (Keras fails inside its reader instead)."""
    lookup = convolve.layers.IntegerLookup()
    lookup.adapt(INT_DATA)
    convolve.Sequential([convolve.Input((3,), dtype="int64"), lookup]).save(tmp_path / "m.keras")
    members = _members(tmp_path / "m.keras")
    members["assets/layers/other/vocabulary.txt"] = members.pop(
        "assets/layers/integer_lookup/vocabulary.txt"
    )
    with zipfile.ZipFile(tmp_path / "edited.keras", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    loaded = saving.load_model(tmp_path / "edited.keras")
    with pytest.raises(RuntimeError, match="vocabulary is not set"):
        loaded.predict(INT_QUERY, verbose=0)


def test_a_bad_vocabulary_file_names_the_member(tmp_path):
    lookup = convolve.layers.IntegerLookup()
    lookup.adapt(INT_DATA)
    convolve.Sequential([convolve.Input((3,), dtype="int64"), lookup]).save(tmp_path / "m.keras")
    members = _members(tmp_path / "m.keras")
    members["assets/layers/integer_lookup/vocabulary.txt"] = b"-1\n5\nseven\n"
    with zipfile.ZipFile(tmp_path / "edited.keras", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(saving.ModelFileError, match="assets/layers/integer_lookup.*seven"):
        saving.load_model(tmp_path / "edited.keras")


# --------------------------------------------------------------------- user layers
@saving.register_keras_serializable(package="AssetTests")
class Offset(convolve.layers.Layer):
    """A user layer whose state (an offset learned from data) lives in an asset file."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.offset = None

    def fit_offset(self, data):
        self.offset = np.asarray(data, dtype="float32").mean(axis=0)

    def call(self, x):
        if self.offset is None:  # while the model is rebuilt, before its assets load
            return x
        return x + convolve.ops.convert_to_tensor(self.offset)

    def save_assets(self, dir_path):
        with open(os.path.join(dir_path, "offset.json"), "w") as f:
            json.dump(self.offset.tolist(), f)

    def load_assets(self, dir_path):
        with open(os.path.join(dir_path, "offset.json")) as f:
            self.offset = np.asarray(json.load(f), dtype="float32")


def _keras_offset_class():
    """The same layer written for Keras, with the same class name (which gives the layer's
    path in the file) and registered name."""

    class Offset(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.offset = None

        def call(self, x):
            if self.offset is None:
                return x
            return x + keras.ops.convert_to_tensor(self.offset)

        def load_assets(self, dir_path):
            with open(os.path.join(dir_path, "offset.json")) as f:
                self.offset = np.asarray(json.load(f), dtype="float32")

    return keras.saving.register_keras_serializable(package="AssetTests")(Offset)


def test_user_layer_assets_round_trip_and_open_in_keras(tmp_path):
    layer = Offset(name="offset")
    layer.fit_offset(np.array([[1.0, 2.0], [3.0, 6.0]]))
    model = convolve.Sequential([convolve.Input((2,)), convolve.layers.Dense(2), layer])
    x = np.array([[0.5, -1.0], [2.0, 0.25]], dtype="float32")
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    assert json.loads(_assets(tmp_path / "m.keras")["assets/layers/offset/offset.json"]) == [
        2.0,
        4.0,
    ]

    loaded = saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, **TOLERANCE)

    config = json.loads(_members(tmp_path / "m.keras")["config.json"])
    assert config["config"]["layers"][2]["registered_name"] == "AssetTests>Offset"
    _keras_offset_class()
    in_keras = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(in_keras.predict(x, verbose=0), expected, **TOLERANCE)


def test_nested_model_paths_match_keras(tmp_path):
    def build(lib):
        lookup = lib.layers.IntegerLookup(name="ids")
        lookup.adapt(INT_DATA)
        inputs = lib.Input((3,), dtype="int64")
        inner = lib.Model(inputs, lookup(inputs), name="inner")
        return lib.Sequential([lib.Input((3,), dtype="int64"), inner])

    ours, theirs = build(convolve), build(keras)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "keras.keras")
    assert _assets(tmp_path / "ours.keras") == _assets(tmp_path / "keras.keras")
    assert list(_assets(tmp_path / "ours.keras")) == [
        "assets/layers/functional/layers/integer_lookup/vocabulary.txt"
    ]
    expected = np.asarray(theirs.predict(INT_QUERY, verbose=0))
    for model in (
        saving.load_model(tmp_path / "ours.keras"),
        saving.load_model(tmp_path / "keras.keras"),
    ):
        np.testing.assert_array_equal(model.predict(INT_QUERY, verbose=0), expected)
    np.testing.assert_array_equal(
        keras.saving.load_model(tmp_path / "ours.keras").predict(INT_QUERY, verbose=0), expected
    )
