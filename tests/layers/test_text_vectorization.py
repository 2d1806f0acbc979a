"""TextVectorization against Keras (torch backend).

Vocabularies, sizes and configs are compared exactly; "int", "one_hot", "multi_hot" and
"count" outputs exactly (values, dtypes, shapes); "tf_idf" outputs with atol and rtol 1e-6; the
small text model trained on the vectorized data with rtol 1e-5, atol 1e-6 (float32).
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch

import convolve
from convolve import layers
from convolve.data.pipeline import Dataset

TEXTS = [
    "The quick brown fox, jumps over the lazy dog!",
    "THE DOG barks; the fox runs... 'quoted' \"double\" fox",
    "Émile's café — naïve résumé: ÉTÉ été Straße ÀÉÎ",
    "日本語のテキスト 日本 語 日本",
    "emoji 🙂🙂 test #hashtag @user http://x.y/z?q=1&r=2 🙂🙂",
    "tabs\tand\nnewlines\r\nand\x0bvertical\x0cfeeds\u00a0nbsp\u3000wide\x1csep\x85next",
    "",
    "   ",
    "a-b_c+d=e [f] {g} (h) <i> |j| ~k~ `l` ^m^ $n% *o* \\p/ q;r:s",
    "the the the fox fox dog dog",
    "!!! ??? ... ,,, --- ''' ###",
]
QUERIES = [
    "the fox and the unknown cat",
    "Émile ÉTÉ été 日本 🙂🙂",
    "",
    "a-b_c+d=e fox, FOX; Fox!",
    "tabs\tand\nnewlines the",
]


def _same(ours, theirs, atol=0.0):
    """Exact equality, or for TF-IDF (atol > 0) agreement within atol and the same relative
    tolerance (the out-of-vocabulary weight is a float32 mean, summed in another order)."""
    assert isinstance(ours, torch.Tensor)
    theirs = keras.ops.convert_to_numpy(theirs)
    assert ours.dtype == torch.from_numpy(np.asarray(theirs)).dtype
    assert tuple(ours.shape) == theirs.shape
    np.testing.assert_allclose(ours.cpu().numpy(), theirs, atol=atol, rtol=atol)


def _vocab(layer, include_special_tokens=True):
    return [str(t) for t in layer.get_vocabulary(include_special_tokens)]


def _both(**kwargs):
    return layers.TextVectorization(**kwargs), keras.layers.TextVectorization(**kwargs)


def _same_config(ours, theirs):
    """Configs equal but for the auto-generated names."""
    mine, keras_config = ours.get_config(), theirs.get_config()
    assert list(mine) == list(keras_config)
    for config in (mine, keras_config):
        del config["name"]
    assert mine == keras_config


def _check(ours, theirs, inputs, atol=0.0):
    assert _vocab(ours) == _vocab(theirs)
    assert _vocab(ours, False) == _vocab(theirs, False)
    assert ours.vocabulary_size() == theirs.vocabulary_size()
    _same(ours(inputs), theirs(inputs), atol)


# ----------------------------------------------------------------------- surface
def test_signatures_match_keras():
    for method in ("__init__", "adapt", "get_vocabulary", "set_vocabulary"):
        ours = inspect.signature(getattr(layers.TextVectorization, method)).parameters
        theirs = inspect.signature(getattr(keras.layers.TextVectorization, method)).parameters
        # Keras takes the two config-only arguments through **kwargs; here they are named.
        extra = {"has_input_vocabulary", "vocabulary_size"}
        assert [(p.name, p.default) for p in ours.values() if p.name not in extra] == [
            (p.name, p.default) for p in theirs.values()
        ]
        assert all(ours[name].kind is inspect.Parameter.KEYWORD_ONLY for name in extra & set(ours))
    assert convolve.layers.TextVectorization is layers.TextVectorization


CONFIGS = [
    {},
    {"standardize": None},
    {"standardize": "lower"},
    {"standardize": "strip_punctuation"},
    {"split": "character"},
    {"split": "character", "standardize": None, "max_tokens": 12},
    {"ngrams": 2},
    {"ngrams": (1, 3)},
    {"ngrams": (3, 1), "standardize": "lower"},
    {"max_tokens": 7},
    {"output_sequence_length": 3},
    {"output_sequence_length": 12},
    {"output_sequence_length": 0},
    {"max_tokens": 9, "output_sequence_length": 5, "ngrams": 2},
    {"output_mode": "multi_hot"},
    {"output_mode": "binary", "ngrams": 2},
    {"output_mode": "count", "standardize": None},
    {"output_mode": "count", "max_tokens": 6, "pad_to_max_tokens": True},
    {"output_mode": "multi_hot", "max_tokens": 40, "pad_to_max_tokens": True},
    {"output_mode": "tf_idf"},
    {"output_mode": "tf-idf", "max_tokens": 8, "split": "character"},
    {"output_mode": "tf_idf", "max_tokens": 30, "pad_to_max_tokens": True, "ngrams": 2},
]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=[str(c) for c in CONFIGS])
def test_adapt_and_call_match_keras(kwargs):
    ours, theirs = _both(**kwargs)
    ours.adapt(TEXTS)
    theirs.adapt(TEXTS)
    atol = 1e-6 if "idf" in kwargs.get("output_mode", "") else 0.0
    _check(ours, theirs, QUERIES, atol)
    _check(ours, theirs, TEXTS, atol)
    _same_config(ours, theirs)


@pytest.mark.parametrize(
    "inputs",
    [
        QUERIES,
        np.array(QUERIES),
        np.array(QUERIES)[:, None],
        np.array([q.encode() for q in QUERIES]),
        np.array([q.encode() if i % 2 else q for i, q in enumerate(QUERIES)], dtype=object),
        np.array(QUERIES, dtype=object)[:, None],
        "The fox, the DOG",
        [],
        ["", "   ", "\t"],
        np.array([[["the fox"]], [["dog"]]]),
    ],
    ids="list unicode column bytes mixed object-column scalar empty blank rank3".split(),
)
def test_input_forms_match_keras(inputs):
    ours, theirs = _both()
    ours.adapt(TEXTS)
    theirs.adapt(TEXTS)
    _same(ours(inputs), theirs(inputs))
    ours, theirs = _both(output_sequence_length=4)
    ours.adapt(TEXTS)
    theirs.adapt(TEXTS)
    _same(ours(inputs), theirs(inputs))


@pytest.mark.parametrize("mode", ["multi_hot", "count", "tf_idf"])
def test_encodings_of_blank_and_unknown_text_match_keras(mode):
    ours, theirs = _both(output_mode=mode)
    ours.adapt(TEXTS)
    theirs.adapt(TEXTS)
    for inputs in (["", "zzz yyy", "   "], np.array([[""], ["the"]]), "the fox, THE fox", []):
        _same(ours(inputs), theirs(inputs), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"split": None},
        {"split": None, "output_mode": "one_hot"},
        {"split": None, "output_mode": "multi_hot"},
        {"split": None, "output_mode": "tf_idf"},
        {"split": None, "ngrams": 2},
        {"split": None, "output_sequence_length": 3},
    ],
    ids=str,
)
def test_without_split_matches_keras(kwargs):
    data = ["red", "Green", "red", "blue!", "", "red"]
    ours, theirs = _both(**kwargs)
    ours.adapt(data)
    theirs.adapt(data)
    atol = 1e-6 if kwargs.get("output_mode") == "tf_idf" else 0.0
    _check(ours, theirs, ["red", "BLUE", "", "violet"], atol)
    _check(ours, theirs, np.array([["red"], ["blue"]]), atol)


def test_tie_order_and_max_tokens_match_keras():
    data = ["b a c", "c b a", "e d", "é É e", "z y x w v u"]
    for max_tokens in (None, 3, 5, 8):
        for mode in ("int", "count"):
            ours, theirs = _both(max_tokens=max_tokens, output_mode=mode, standardize=None)
            ours.adapt(data)
            theirs.adapt(data)
            _check(ours, theirs, ["a b c d e é É z zz"])


def test_split_on_ascii_whitespace_only_like_keras():
    ours, theirs = _both(standardize=None)
    text = ["a\tb\nc\rd\x0be\x0cf\u00a0g\u2003h\u3000i\x1cj\x85k\u200bl  m "]
    ours.adapt(text)
    theirs.adapt(text)
    _check(ours, theirs, text)
    assert "f\u00a0g\u2003h\u3000i\x1cj\x85k\u200bl" in _vocab(ours)


# ----------------------------------------------------------------------- vocabularies
def test_given_vocabulary_file_and_set_vocabulary_match_keras(tmp_path):
    vocab = ["earth", "wind", "and", "fire", "日本", "été"]
    ours, theirs = _both(vocabulary=vocab, output_sequence_length=6)
    _check(ours, theirs, ["Earth, wind & FIRE!", "été 日本 x"])
    _same_config(ours, theirs)
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    ours, theirs = _both(vocabulary=str(path))
    _check(ours, theirs, ["Earth, wind & FIRE!", "été 日本 x"])
    assert ours.get_config()["vocabulary"] == theirs.get_config()["vocabulary"]
    ours, theirs = _both()
    ours.adapt(TEXTS)
    theirs.adapt(TEXTS)
    ours.set_vocabulary(["fox", "dog"])
    theirs.set_vocabulary(["fox", "dog"])
    _check(ours, theirs, QUERIES)
    ours.adapt(["new words here"])  # Keras lets a layer adapted once adapt again
    theirs.adapt(["new words here"])
    _check(ours, theirs, QUERIES)


def test_tf_idf_with_given_weights_matches_keras():
    kwargs = {"output_mode": "tf_idf", "vocabulary": ["fox", "the", "dog"],
              "idf_weights": [0.5, 0.25, 2.0]}  # fmt: skip
    ours, theirs = _both(**kwargs)
    _check(ours, theirs, QUERIES, atol=1e-6)
    ours, theirs = _both(**kwargs, max_tokens=10, pad_to_max_tokens=True)
    _check(ours, theirs, QUERIES, atol=1e-6)
    _same_config(ours, theirs)
    with pytest.raises(ValueError, match="idf_weights"):
        layers.TextVectorization(output_mode="tf_idf", vocabulary=["a"])


def test_adapt_after_a_given_vocabulary_is_refused():
    layer = layers.TextVectorization(vocabulary=["a", "b"])
    with pytest.raises(ValueError, match="static vocabulary"):
        layer.adapt(["a b c"])
    with pytest.raises(ValueError, match="repeated"):
        layers.TextVectorization(vocabulary=["a", "a"])


def test_unadapted_layer_matches_keras_and_refuses_to_call():
    ours, theirs = _both()
    assert _vocab(ours) == _vocab(theirs) == ["", "[UNK]"]
    assert ours.vocabulary_size() == theirs.vocabulary_size()
    _same_config(ours, theirs)
    with pytest.raises(RuntimeError, match="vocabulary is not set"):
        ours(["a b"])
    with pytest.raises(RuntimeError, match="vocabulary"):
        layers.TextVectorization(output_mode="count")(["a b"])


# ----------------------------------------------------------------------- adapt sources
def test_adapt_from_generators_and_steps_match_keras():
    def batches():
        yield ["a a b", "c"]
        yield np.array(["b b b"])
        yield np.array([b"z z z z z"])

    for mode, steps in (("int", None), ("int", 2), ("tf_idf", None), ("tf_idf", 2)):
        ours, theirs = _both(output_mode=mode)
        ours.adapt(batches(), steps=steps)
        theirs.adapt(batches(), steps=steps)
        _check(ours, theirs, ["a b c z q"], atol=1e-6)
    ours, theirs = _both()
    ours.adapt(batches(), steps=0)  # nothing read: the vocabulary stays unset in both
    theirs.adapt(batches(), steps=0)
    assert _vocab(ours) == _vocab(theirs) == ["", "[UNK]"]
    ours, theirs = _both()
    ours.adapt(TEXTS, batch_size=2, steps=1)  # both ignored for arrays, as in Keras
    theirs.adapt(TEXTS, batch_size=2, steps=1)
    _check(ours, theirs, QUERIES)


@pytest.mark.parametrize("mode", ["int", "tf_idf"])
def test_adapt_from_a_string_dataset_matches_keras_on_tf_data(mode):
    labels = np.arange(len(TEXTS)) % 2
    ours_ds = Dataset.from_tensor_slices((np.array(TEXTS), labels)).batch(3)
    theirs_ds = tf.data.Dataset.from_tensor_slices((np.array(TEXTS), labels)).batch(3)
    ours, theirs = _both(output_mode=mode)
    ours.adapt(ours_ds.map(lambda x, y: x))
    theirs.adapt(theirs_ds.map(lambda x, y: x))
    _check(ours, theirs, QUERIES, atol=1e-6)
    ours, theirs = _both(output_mode=mode)  # Keras cannot adapt a called layer again
    ours.adapt(ours_ds.map(lambda x, y: x), steps=2)
    theirs.adapt(theirs_ds.map(lambda x, y: x), steps=2)
    _check(ours, theirs, QUERIES, atol=1e-6)


# ----------------------------------------------------------------------- callables
def _np_standardize(texts):
    return np.char.replace(np.char.lower(texts), "<br />", " ")


def _tf_standardize(texts):  # the keras.io text classification tutorial's function
    import re
    import string

    lowercase = tf.strings.lower(texts)
    stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
    return tf.strings.regex_replace(stripped_html, f"[{re.escape(string.punctuation)}]", "")


def test_callable_standardize_matches_keras():
    data = ["Great movie!<br />Loved it.", "BAD<br />film, bad acting", "Émile ÉTÉ"]
    for function in (_np_standardize, _tf_standardize):
        ours, theirs = _both(standardize=function, output_sequence_length=6)
        ours.adapt(data)
        theirs.adapt(data)
        _check(ours, theirs, data + ["great BAD film"])


def test_callable_split_matches_keras_tf_callable():
    data = ["a,b,c", "b,c", "c,,d", ""]

    def theirs_split(texts):  # Keras hands TensorFlow tensors to `split`
        return tf.strings.split(texts, sep=",")

    def ours_split(texts):  # convolve hands a NumPy array of str
        return [t.split(",") if t else [] for t in texts.tolist()]

    for ours_function in (ours_split, theirs_split):
        ours = layers.TextVectorization(split=ours_function)
        theirs = keras.layers.TextVectorization(split=theirs_split)
        ours.adapt(data)
        theirs.adapt(data)
        _check(ours, theirs, ["a,c,x", "d"])


# ----------------------------------------------------------------------- shapes, configs
def test_compute_output_shape_matches_keras():
    cases = [
        {},
        {"output_sequence_length": 5},
        {"output_mode": "count"},
        {"output_mode": "multi_hot", "split": None},
        {"output_mode": "tf_idf", "max_tokens": 9, "pad_to_max_tokens": True},
    ]
    for kwargs in cases:
        ours, theirs = _both(**kwargs)
        ours.adapt(TEXTS)
        theirs.adapt(TEXTS)
        for shape in ((None,), (4,), (None, 1)):
            assert ours.compute_output_shape(shape) == theirs.compute_output_shape(shape)


def test_config_round_trip():
    ours, theirs = _both(max_tokens=20, ngrams=(1, 2), output_sequence_length=7, name="tv")
    ours.adapt(TEXTS)
    theirs.adapt(TEXTS)
    config = ours.get_config()
    _same_config(ours, theirs)
    assert config["name"] == "tv"
    rebuilt = layers.TextVectorization.from_config({**config, "ngrams": [1, 2]})
    assert rebuilt.get_config() == {**config, "vocabulary_size": 2}
    rebuilt.set_vocabulary(ours.get_vocabulary())
    assert _vocab(rebuilt) == _vocab(ours)
    _same(rebuilt(QUERIES), theirs(QUERIES))
    keras_rebuilt = keras.layers.TextVectorization.from_config(theirs.get_config())
    ours_from_keras = layers.TextVectorization.from_config(keras_rebuilt.get_config())
    assert ours_from_keras.get_config()["ngrams"] == (1, 2)
    assert ours.dtype == theirs.dtype == "string"


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"sparse": True}, "sparse"),
        ({"ragged": True}, "ragged"),
        ({"standardize": "upper"}, "standardize"),
        ({"split": "comma"}, "split"),
        ({"output_mode": "bogus"}, "output_mode"),
        ({"ngrams": [1, 2]}, "ngrams"),
        ({"ngrams": 0}, "ngrams"),
        ({"ngrams": (1, -1)}, "ngrams"),
        ({"output_sequence_length": -3}, "output_sequence_length"),
        ({"output_sequence_length": 2.5}, "output_sequence_length"),
        ({"output_mode": "count", "output_sequence_length": 3}, "output_sequence_length"),
        ({"max_tokens": 1}, "max_tokens"),
        ({"pad_to_max_tokens": True}, "max_tokens"),
        ({"encoding": "no-such-codec"}, "encoding"),
    ],
    ids=str,
)
def test_bad_arguments_raise_one_clear_error(kwargs, argument):
    with pytest.raises(ValueError, match=argument) as caught:
        layers.TextVectorization(**kwargs)
    assert "TextVectorization" in str(caught.value)
    if argument not in ("ngrams", "output_sequence_length", "encoding"):
        with pytest.raises(ValueError):  # Keras refuses these when constructing too
            keras.layers.TextVectorization(**kwargs)


def test_bad_inputs_raise_one_clear_error():
    layer = layers.TextVectorization()
    layer.adapt(TEXTS)
    with pytest.raises(ValueError, match=r"last axis must have size 1.*\(2, 2\)"):
        layer(np.array([["a b", "c"], ["d", "e"]]))
    with pytest.raises(ValueError, match="int64"):
        layer(np.array([1, 2]))
    with pytest.raises(ValueError, match="torch tensor"):
        layer(torch.zeros(2))
    with pytest.raises(ValueError, match="one_hot"):
        one_hot = layers.TextVectorization(output_mode="one_hot")
        one_hot.adapt(TEXTS)
        one_hot(["a b"])
    with pytest.raises(ValueError, match="string"):
        layer(convolve.Input(shape=(1,)))
    with pytest.raises(ValueError, match="steps"):
        layer.adapt(TEXTS, steps=-1)


# ----------------------------------------------------------------------- the keras.io workflow
def _text_model(lib, vocab_size, length):
    return lib.Sequential(
        [
            lib.Input(shape=(length,), dtype="int64"),
            lib.layers.Embedding(vocab_size, 8),
            lib.layers.Dropout(0.0),
            lib.layers.Conv1D(8, 3, padding="valid", activation="relu", strides=1),
            lib.layers.GlobalMaxPooling1D(),
            lib.layers.Dense(8, activation="relu"),
            lib.layers.Dense(1, activation="sigmoid", name="predictions"),
        ]
    )


def test_text_classification_from_scratch_workflow_matches_keras():
    rng = np.random.default_rng(0)
    words = ["good", "great", "fine", "bad", "awful", "poor", "movie", "film", "plot", "the"]
    texts = [
        " ".join(rng.choice(words, size=rng.integers(3, 9))).capitalize() + "!<br />Ok."
        for _ in range(24)
    ]
    labels = np.array([int(any(w in t for w in ("good", "great"))) for t in texts])
    length, max_features = 10, 30
    kwargs = {"standardize": _tf_standardize, "max_tokens": max_features,
              "output_mode": "int", "output_sequence_length": length}  # fmt: skip
    ours = layers.TextVectorization(**kwargs)
    theirs = keras.layers.TextVectorization(**kwargs)
    ours_raw = Dataset.from_tensor_slices((np.array(texts), labels)).batch(8)
    theirs_raw = tf.data.Dataset.from_tensor_slices((np.array(texts), labels)).batch(8)
    ours.adapt(ours_raw.map(lambda x, y: x))
    theirs.adapt(theirs_raw.map(lambda x, y: x))
    assert _vocab(ours) == _vocab(theirs)

    ours_train = ours_raw.map(lambda x, y: (ours(np.expand_dims(x, -1)), y))
    theirs_batches = [
        (keras.ops.convert_to_numpy(theirs(tf.expand_dims(x, -1))), y.numpy())
        for x, y in theirs_raw
    ]
    ours_batches = list(ours_train)
    assert len(ours_batches) == len(theirs_batches)
    for (x, y), (tx, ty) in zip(ours_batches, theirs_batches, strict=True):
        assert x.dtype == torch.int64
        np.testing.assert_array_equal(x.numpy(), tx)
        np.testing.assert_array_equal(np.asarray(y), ty)

    keras.utils.set_random_seed(0)
    theirs_model = _text_model(keras, max_features, length)
    ours_model = _text_model(convolve, max_features, length)
    ours_model.set_weights(theirs_model.get_weights())
    for model in (ours_model, theirs_model):
        model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    ours_history = ours_model.fit(ours_train, epochs=2, verbose=0)
    x_all = np.concatenate([x for x, _ in theirs_batches])
    y_all = np.concatenate([y for _, y in theirs_batches])
    theirs_history = theirs_model.fit(x_all, y_all, batch_size=8, epochs=2, shuffle=False,
                                      verbose=0)  # fmt: skip
    np.testing.assert_allclose(
        ours_history.history["loss"], theirs_history.history["loss"], rtol=1e-5, atol=1e-6
    )
    for a, b in zip(ours_model.get_weights(), theirs_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------- model files
@pytest.mark.parametrize("mode", ["int", "tf_idf"])
def test_keras_files_round_trip_both_ways(tmp_path, mode):
    length = 5 if mode == "int" else None
    ours, theirs = _both(max_tokens=12, output_mode=mode, output_sequence_length=length)
    ours.adapt(TEXTS)
    theirs.adapt(TEXTS)
    convolve.Sequential([ours]).save(tmp_path / "ours.keras")
    keras.Sequential([theirs]).save(tmp_path / "theirs.keras")
    for path in ("ours.keras", "theirs.keras"):
        ours_loaded = convolve.saving.load_model(tmp_path / path).layers[0]
        theirs_loaded = keras.saving.load_model(tmp_path / path).layers[0]
        assert isinstance(ours_loaded, layers.TextVectorization)
        _check(ours_loaded, theirs, QUERIES, atol=1e-6)
        _check(ours_loaded, theirs_loaded, QUERIES, atol=1e-6)
