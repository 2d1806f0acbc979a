"""StringLookup, IntegerLookup and Hashing against Keras (torch backend) and TensorFlow's hashes.

Indices and encodings are compared exactly (integers); TF-IDF weights with atol 1e-6.
"""

from __future__ import annotations

import inspect
import random

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch

import convolve
from convolve import layers
from convolve.data.pipeline import Dataset
from convolve.layers.hashing import fingerprint64, hash_buckets, siphash24


def _same(ours, theirs, atol=0.0):
    assert isinstance(ours, torch.Tensor)
    theirs = keras.ops.convert_to_numpy(theirs)
    assert ours.dtype == torch.from_numpy(np.asarray(theirs)).dtype
    assert tuple(ours.shape) == theirs.shape
    np.testing.assert_allclose(ours.cpu().numpy(), theirs, atol=atol, rtol=0)


def _both(cls, *args, **kwargs):
    return getattr(layers, cls)(*args, **kwargs), getattr(keras.layers, cls)(*args, **kwargs)


# ----------------------------------------------------------------------- hashes
def test_farmhash_and_siphash_match_tensorflow_bit_for_bit():
    rng = random.Random(0)
    data = [bytes(rng.randrange(256) for _ in range(n)) for n in range(0, 140)]
    data += ["é€".encode(), b"[UNK]", b"-17"]
    buckets = 2**62 + 7  # large, so the whole 64-bit hash shows through
    fast = tf.strings.to_hash_bucket_fast(data, buckets).numpy()
    np.testing.assert_array_equal(hash_buckets(data, buckets), fast)
    for key in ([1, 2], [2**63 - 1, 12345]):
        strong = tf.strings.to_hash_bucket_strong(data, buckets, key=key).numpy()
        np.testing.assert_array_equal(hash_buckets(data, buckets, key), strong)
    assert fingerprint64(b"") != fingerprint64(b"a")
    assert siphash24((0, 0), b"") != siphash24((0, 1), b"")


# ----------------------------------------------------------------------- Hashing
HASH_INPUTS = [
    np.array([["A"], ["B"], ["C"], ["D"], ["E"]]),
    np.array([b"cat", b"dog", b""]),
    np.array(["x", "yy", "zzz"], dtype=object),
    np.array([[1, -2, 300], [4, 5, 6]]),
    np.array([1.7, -2.2, 3.0]),
    ["a", "b", "a", "c"],
]


@pytest.mark.parametrize("index", range(len(HASH_INPUTS)))
@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_bins": 3},
        {"num_bins": 7, "salt": 133},
        {"num_bins": 5, "salt": [-1, 9]},
        {"num_bins": 4, "output_mode": "one_hot"},
        {"num_bins": 4, "output_mode": "multi_hot"},
        {"num_bins": 4, "output_mode": "count"},
        {"num_bins": 4, "dtype": "int32"},
    ],
)
def test_hashing_matches_keras(index, kwargs):
    ours, theirs = _both("Hashing", **kwargs)
    x = HASH_INPUTS[index]
    _same(ours(x), theirs(x))


def test_hashing_torch_inputs_and_masks_match_keras():
    x = torch.tensor([[1, 2, 3, 4], [3, 3, 0, 9]])
    ours, theirs = _both("Hashing", num_bins=5, mask_value=3)
    _same(ours(x), theirs(x))
    ours, theirs = _both("Hashing", num_bins=5, mask_value="")
    strings = np.array(["", "a", "b", ""])
    _same(ours(strings), theirs(strings))
    ours, theirs = _both("Hashing", num_bins=3, output_mode="multi_hot")
    rank3 = np.array([[["a", "b"], ["c", "c"]], [["d", "a"], ["b", "e"]]])
    _same(ours(rank3), theirs(rank3))


def test_hashing_config_shape_and_errors():
    ours, theirs = _both("Hashing", num_bins=4, salt=3, mask_value="m", name="h")
    config = ours.get_config()
    expected = theirs.get_config()
    assert config == expected
    assert layers.Hashing.from_config(ours.get_config()).get_config() == ours.get_config()
    assert ours.compute_output_shape((None, 3)) == theirs.compute_output_shape((None, 3))
    encoded = layers.Hashing(4, output_mode="count")
    assert encoded.compute_output_shape((None, 3)) == (None, 4)
    for bad in (
        {"num_bins": 0},
        {"num_bins": 3, "output_mode": "tf_idf"},
        {"num_bins": 3, "salt": "x"},
        {"num_bins": 3, "sparse": True},
        {"num_bins": 3, "dtype": "float32"},
    ):
        with pytest.raises(ValueError):
            layers.Hashing(**bad)
    assert inspect.signature(layers.Hashing).parameters.keys() == (
        inspect.signature(keras.layers.Hashing).parameters.keys()
    )


# ----------------------------------------------------------------------- StringLookup
VOCAB = ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    "x",
    [
        np.array(["a", "z", "c"]),
        ["d", "a", "q"],
        np.array([["a", "b"], ["c", "zz"]]),
        np.array([b"a", b"b", b"nope"]),
        np.array(["c", "x"], dtype=object),
        "b",
    ],
)
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"mask_token": ""},
        {"num_oov_indices": 3},
        {"num_oov_indices": 3, "salt": 7},
        {"num_oov_indices": 0, "oov_token": "d"},
        {"output_mode": "one_hot"},
        {"output_mode": "multi_hot", "mask_token": ""},
        {"output_mode": "count"},
        {"output_mode": "one_hot", "pad_to_max_tokens": True, "max_tokens": 7},
        {"output_mode": "tf_idf", "idf_weights": [0.5, 0.25, 1.0, 2.0]},
    ],
)
def test_string_lookup_matches_keras(x, kwargs):
    ours, theirs = _both("StringLookup", vocabulary=VOCAB, **kwargs)
    try:
        expected = theirs(x)
    except Exception:  # Keras refuses OOV values when num_oov_indices=0: so must we
        with pytest.raises(ValueError, match="num_oov_indices"):
            ours(x)
        return
    _same(ours(x), expected, atol=1e-6)


def test_string_lookup_rank3_encodings_match_keras():
    x = np.array([[["a", "b"], ["b", "b"]], [["c", "q"], ["d", "d"]]])
    for mode in ("multi_hot", "count", "one_hot"):
        ours, theirs = _both("StringLookup", vocabulary=VOCAB, output_mode=mode)
        _same(ours(x), theirs(x))
    y = np.array([[["a"], ["b"]]])
    ours, theirs = _both("StringLookup", vocabulary=VOCAB, output_mode="one_hot")
    _same(ours(y), theirs(y))


def test_string_lookup_invert_and_the_ocr_round_trip():
    characters = sorted(set("3b7x2m9k"))
    ours = layers.StringLookup(vocabulary=list(characters), mask_token=None)
    theirs = keras.layers.StringLookup(vocabulary=list(characters), mask_token=None)
    label = list("b3kx")
    _same(ours(label), theirs(label))
    assert ours.get_vocabulary() == theirs.get_vocabulary()
    back = layers.StringLookup(vocabulary=ours.get_vocabulary(), mask_token=None, invert=True)
    back_k = keras.layers.StringLookup(
        vocabulary=theirs.get_vocabulary(), mask_token=None, invert=True
    )
    ids = ours(label)
    assert back(ids) == back_k(ids.clone()) == label
    indices = np.array([0, 1, 5, 40])
    assert back(indices) == back_k(indices)
    masked, masked_k = _both("StringLookup", vocabulary=VOCAB, mask_token="[M]", invert=True)
    assert masked([0, 1, 2, 3, 9]) == masked_k(np.array([0, 1, 2, 3, 9]))
    assert back(np.array([[1, 2], [0, 3]])) == [[back(1), back(2)], [back(0), back(3)]]


def test_string_lookup_vocabulary_api_matches_keras():
    cases = [
        {"vocabulary": VOCAB},
        {"vocabulary": ["[UNK]", *VOCAB]},
        {"vocabulary": np.array(VOCAB), "mask_token": ""},
        {"vocabulary": VOCAB, "mask_token": "", "output_mode": "one_hot"},
        {"vocabulary": ["", "[UNK]", *VOCAB], "mask_token": ""},
        {"vocabulary": VOCAB, "num_oov_indices": 2, "mask_token": "[M]"},
    ]
    for kwargs in cases:
        ours, theirs = _both("StringLookup", name="s", **kwargs)
        for special in (True, False):
            assert ours.get_vocabulary(special) == theirs.get_vocabulary(special)
        assert ours.vocabulary_size() == theirs.vocabulary_size()
        config, expected = ours.get_config(), theirs.get_config()
        assert config == expected
        assert list(config) == list(expected)
        rebuilt = layers.StringLookup.from_config(theirs.get_config())
        assert rebuilt.get_vocabulary() == ours.get_vocabulary()
    ours, theirs = _both("StringLookup")
    ours.set_vocabulary(["x", "y"])
    theirs.set_vocabulary(["x", "y"])
    assert ours.get_vocabulary() == theirs.get_vocabulary()
    _same(ours(["y", "q"]), theirs(["y", "q"]))


def test_string_lookup_vocabulary_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("zero\none\ntwo\n")
    ours, theirs = _both("StringLookup", vocabulary=str(path))
    assert ours.get_vocabulary() == theirs.get_vocabulary()
    x = np.array(["two", "zero", "nine"])
    _same(ours(x), theirs(x))
    assert ours.get_config()["vocabulary"] is None


def test_adapt_orders_by_frequency_then_token_as_keras():
    data = [
        np.array(["b", "a", "c", "a", "b", "d", "é", "é"]),
        np.array([["x", "y"], ["y", "z"]]),
        ["q", "q", "p"],
    ]
    for x in data:
        for kwargs in ({}, {"max_tokens": 3}, {"mask_token": "", "num_oov_indices": 2}):
            ours, theirs = _both("StringLookup", **kwargs)
            ours.adapt(x)
            theirs.adapt(x)
            assert ours.get_vocabulary() == theirs.get_vocabulary()
            assert ours.get_config()["vocabulary_size"] == theirs.get_config()["vocabulary_size"]
    batches = [np.array(["x", "y"]), np.array(["y", "z"]), np.array(["w", "w"])]
    ours, theirs = _both("StringLookup")
    ours.adapt(iter(batches), steps=2)
    theirs.adapt(iter(batches), steps=2)
    assert ours.get_vocabulary() == theirs.get_vocabulary()
    ints = torch.tensor([[3, -1, 2], [2, 3, 0], [7, 7, 7]])
    for kwargs in ({}, {"mask_token": 0}, {"max_tokens": 3}):
        ours, theirs = _both("IntegerLookup", **kwargs)
        ours.adapt(ints)
        theirs.adapt(ints)
        assert ours.get_vocabulary() == theirs.get_vocabulary()
        _same(ours(ints), theirs(ints))


def test_tf_idf_adapt_matches_keras():
    docs = np.array([["a", "b", "a"], ["c", "a", "d"], ["d", "d", "e"]])
    for kwargs in ({}, {"pad_to_max_tokens": True, "max_tokens": 8}):
        ours, theirs = _both("StringLookup", output_mode="tf_idf", **kwargs)
        ours.adapt(docs)
        theirs.adapt(docs)
        assert ours.get_vocabulary() == theirs.get_vocabulary()
        np.testing.assert_allclose(
            ours.idf_weights.numpy(), theirs.idf_weights.numpy(), atol=1e-6, rtol=0
        )
        x = np.array([["a", "e", "zz", "a"]])
        _same(ours(x), theirs(x), atol=1e-6)


def test_adapt_from_a_convolve_dataset_and_labels_in_a_map():
    labels = np.array([3, 3, 4, 5, 5, 5, 9])
    ours, theirs = _both("IntegerLookup", output_mode="one_hot")
    ours.adapt(Dataset.from_tensor_slices(labels).batch(3))
    theirs.adapt(labels)  # the same counts, whatever the batching
    assert ours.get_vocabulary() == theirs.get_vocabulary()
    ds = Dataset.from_tensor_slices((np.zeros((7, 2)), labels)).batch(4)
    ds = ds.map(lambda x, y: (x, ours(y)))
    encoded = torch.cat([y for _, y in ds])
    _same(encoded, theirs(labels))


# ----------------------------------------------------------------------- IntegerLookup
@pytest.mark.parametrize(
    "x",
    [
        torch.tensor([12, 1000, 36, -4]),
        np.array([[12, 1000, 36]], dtype="int32"),
        [1138, 42, 0],
        np.array([1.0, 12.7, 36.0]),
        np.array(42),
    ],
)
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"mask_token": 0},
        {"num_oov_indices": 3},
        {"num_oov_indices": 3, "oov_method": "farmhash"},
        {"num_oov_indices": 2, "oov_method": "farmhash", "salt": [4, 5]},
        {"output_mode": "one_hot"},
        {"output_mode": "multi_hot", "mask_token": 0},
        {"output_mode": "count", "pad_to_max_tokens": True, "max_tokens": 9},
        {"invert": True},
        {"invert": True, "mask_token": 0},
    ],
)
def test_integer_lookup_matches_keras(x, kwargs):
    ours, theirs = _both("IntegerLookup", vocabulary=[12, 36, 1138, 42], **kwargs)
    _same(ours(x), theirs(x))


def test_integer_lookup_config_vocabulary_and_model_use():
    ours, theirs = _both("IntegerLookup", vocabulary=np.array([7, 8, 9]), mask_token=0, name="i")
    config, expected = ours.get_config(), theirs.get_config()
    assert config == expected
    assert list(config) == list(expected)
    for special in (True, False):
        assert ours.get_vocabulary(special) == theirs.get_vocabulary(special)
    rebuilt = layers.IntegerLookup.from_config(theirs.get_config())
    _same(rebuilt(np.array([0, 7, 9, 5])), theirs(np.array([0, 7, 9, 5])))
    for cls in ("IntegerLookup", "StringLookup"):
        ours_sig = inspect.signature(getattr(layers, cls)).parameters
        keras_sig = inspect.signature(getattr(keras.layers, cls)).parameters
        assert {k: v.default for k, v in ours_sig.items()} == {
            k: v.default for k, v in keras_sig.items()
        }
    # Inside a functional model, as in Keras: int64 indices, float32 encodings.
    inputs = convolve.Input(shape=(3,), dtype="int64")
    indices = layers.IntegerLookup(vocabulary=[3, 5, 7])(inputs)
    assert indices.dtype == "int64"
    model = convolve.Model(inputs, indices)
    x = np.array([[3, 5, 9]])
    expected = keras.layers.IntegerLookup(vocabulary=[3, 5, 7])(x)
    np.testing.assert_array_equal(model.predict(x, verbose=0), keras.ops.convert_to_numpy(expected))
    encoded = layers.IntegerLookup(vocabulary=[3, 5, 7], output_mode="multi_hot")(inputs)
    assert encoded.dtype == "float32" and encoded.shape == (None, 4)
    out = convolve.Model(inputs, layers.Dense(2)(encoded)).predict(x, verbose=0)
    assert out.shape == (1, 2)


# ----------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        ("StringLookup", {"sparse": True, "output_mode": "one_hot"}, "sparse"),
        ("StringLookup", {"invert": True, "output_mode": "one_hot"}, "invert"),
        ("StringLookup", {"max_tokens": 1}, "max_tokens"),
        ("StringLookup", {"num_oov_indices": -1}, "num_oov_indices"),
        ("StringLookup", {"pad_to_max_tokens": True}, "max_tokens"),
        ("StringLookup", {"output_mode": "bad"}, "output_mode"),
        ("StringLookup", {"vocabulary": ["a", "a"]}, "repeated"),
        ("StringLookup", {"vocabulary": ["a", "", "b"], "mask_token": ""}, "mask"),
        ("StringLookup", {"vocabulary": []}, "empty"),
        ("StringLookup", {"vocabulary": ["a", "b", "c"], "max_tokens": 3}, "max_tokens"),
        ("StringLookup", {"vocabulary": ["a"], "output_mode": "tf_idf"}, "idf_weights"),
        ("StringLookup", {"idf_weights": [1.0]}, "idf_weights"),
        ("StringLookup", {"vocabulary": "/no/such/vocab.txt"}, "does not exist"),
        ("IntegerLookup", {"vocabulary_dtype": "int32"}, "vocabulary_dtype"),
        ("IntegerLookup", {"salt": 3}, "farmhash"),
        ("IntegerLookup", {"oov_method": "md5"}, "oov_method"),
    ],
)
def test_bad_arguments_are_refused_like_keras(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        getattr(layers, cls)(**kwargs)
    with pytest.raises(ValueError):
        getattr(keras.layers, cls)(**kwargs)


def test_bad_calls_name_the_layer():
    lookup = layers.StringLookup(vocabulary=VOCAB, name="chars")
    with pytest.raises(ValueError, match="chars.*torch tensor"):
        lookup(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="chars.*int64"):
        lookup(np.array([1, 2]))
    with pytest.raises(ValueError, match="static vocabulary"):
        lookup.adapt(["a"])
    with pytest.raises(RuntimeError, match="vocabulary"):
        layers.StringLookup(output_mode="one_hot")(["a"])
    with pytest.raises(RuntimeError, match="vocabulary"):
        layers.IntegerLookup()([1])
    with pytest.raises(ValueError, match="num_oov_indices"):
        layers.IntegerLookup(vocabulary=[5], num_oov_indices=0)([5, 6])
    with pytest.raises(ValueError, match="takes integers"):
        layers.IntegerLookup(vocabulary=[5])(np.array(["5"]))
    frozen = layers.StringLookup(vocabulary=VOCAB, output_mode="one_hot")
    with pytest.raises(RuntimeError, match="cannot be changed"):
        frozen.set_vocabulary(["x"])


def test_lookup_and_hashing_models_round_trip_through_keras_files(tmp_path):
    inputs = convolve.Input(shape=(3,), dtype="int64")
    lookup = layers.IntegerLookup(vocabulary=[3, 5, 7], mask_token=0)
    hashed = layers.Hashing(num_bins=5, salt=3)(inputs)
    model = convolve.Model(inputs, [lookup(inputs), hashed])
    path = tmp_path / "lookup.keras"
    model.save(path)
    loaded = convolve.saving.load_model(path)
    x = np.array([[3, 0, 9], [7, 5, 5]])
    for ours, before in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0), strict=True):
        np.testing.assert_array_equal(ours, before)
    np.testing.assert_array_equal(
        model.predict(x, verbose=0)[0],
        keras.ops.convert_to_numpy(
            keras.layers.IntegerLookup(vocabulary=[3, 5, 7], mask_token=0)(x)
        ),
    )
