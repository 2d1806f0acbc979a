"""Models whose input is text: `Input(dtype="string")` then a StringLookup.

Keras builds, summarises, saves and loads such models on its torch backend, but its
`Model.__call__`, `predict`, `fit` and `evaluate` refuse string arrays ("Invalid dtype:
str32"). convolve runs them; the reference for their outputs is Keras's own layers applied
one after the other (its StringLookup called on the strings, then the numeric layers),
with the same weights. Tolerances: float32, atol/rtol 1e-5.
"""

import os

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import layers

pytestmark = pytest.mark.parity

TOL = {"atol": 1e-5, "rtol": 1e-5}
VOCAB = ["a", "b", "c"]
DATA = np.array([["a"], ["b"], ["z"], ["c"], ["a"]])


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _one_hot_models():
    """The same text model in convolve and in Keras, with Keras's weights copied across."""
    k_in = keras.Input(shape=(1,), dtype="string")
    k_lookup = keras.layers.StringLookup(vocabulary=VOCAB, output_mode="one_hot")
    k_dense = keras.layers.Dense(2)
    k_model = keras.Model(k_in, k_dense(k_lookup(k_in)))
    c_in = convolve.Input(shape=(1,), dtype="string")
    c_model = convolve.Model(
        c_in, layers.Dense(2)(layers.StringLookup(vocabulary=VOCAB, output_mode="one_hot")(c_in))
    )
    c_model.layers[-1].set_weights(k_dense.get_weights())
    return c_model, k_model, k_lookup, k_dense


def test_input_dtype_string_matches_keras():
    for shape in [(1,), (), (None,)]:
        c, k = convolve.Input(shape=shape, dtype="string"), keras.Input(shape=shape, dtype="string")
        assert (c.shape, c.dtype) == (tuple(k.shape), k.dtype)
    c_layer = convolve.layers.InputLayer(shape=(1,), dtype="string", name="text")
    k_layer = keras.layers.InputLayer(shape=(1,), dtype="string", name="text")
    assert c_layer.get_config() == k_layer.get_config()


def test_call_and_predict_match_keras_layers():
    c_model, k_model, k_lookup, k_dense = _one_hot_models()
    expected = _np(k_dense(k_lookup(DATA)))
    with pytest.raises(ValueError, match="Invalid dtype"):  # Keras's model refuses text
        k_model.predict(DATA, verbose=0)
    for x in (DATA, DATA.astype(object), DATA.astype("S")):
        np.testing.assert_allclose(c_model(x).detach().numpy(), expected, **TOL)
        np.testing.assert_allclose(c_model.predict(x, batch_size=2, verbose=0), expected, **TOL)
    np.testing.assert_allclose(c_model.predict(DATA.tolist(), verbose=0), expected, **TOL)
    assert c_model.output_shape == tuple(k_model.output_shape)
    assert c_model.count_params() == k_model.count_params()


def test_sequence_model_with_embedding_matches_keras_layers():
    data = np.array([["a", "b", "q"], ["c", "c", "a"]])
    k_lookup = keras.layers.StringLookup(vocabulary=VOCAB, mask_token="")
    k_embed, k_pool = keras.layers.Embedding(5, 3), keras.layers.GlobalAveragePooling1D()
    k_dense = keras.layers.Dense(1, activation="sigmoid")
    expected = _np(k_dense(k_pool(k_embed(k_lookup(data)))))
    model = convolve.Sequential(
        [
            convolve.Input(shape=(None,), dtype="string"),
            layers.StringLookup(vocabulary=VOCAB, mask_token=""),
            layers.Embedding(5, 3),
            layers.GlobalAveragePooling1D(),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.layers[1].set_weights(k_embed.get_weights())
    model.layers[3].set_weights(k_dense.get_weights())
    np.testing.assert_allclose(model.predict(data, verbose=0), expected, **TOL)
    np.testing.assert_allclose(model(data).detach().numpy(), expected, **TOL)


def test_fit_and_evaluate_match_keras_on_looked_up_features():
    c_model, _, k_lookup, k_dense = _one_hot_models()
    y = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [1.0, 1.0], [0.0, 0.0]], "float32")
    features = _np(k_lookup(DATA))
    k_in = keras.Input(shape=(features.shape[1],))
    k_numeric = keras.Model(k_in, k_dense(k_in))
    k_numeric.compile(keras.optimizers.SGD(0.1), "mse")
    c_model.compile(convolve.optimizers.SGD(0.1), "mse")
    k_hist = k_numeric.fit(features, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
    c_hist = c_model.fit(DATA, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(c_hist.history["loss"], k_hist.history["loss"], **TOL)
    for got, want in zip(c_model.layers[-1].get_weights(), k_dense.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, **TOL)
    k_loss = k_numeric.evaluate(features, y, verbose=0)
    np.testing.assert_allclose(c_model.evaluate(DATA, y, verbose=0), k_loss, **TOL)
    c_model.fit(DATA, y, batch_size=2, epochs=1, shuffle=True, verbose=0)  # shuffled text


def test_keras_file_with_string_input_loads(tmp_path):
    k_in = keras.Input(shape=(1,), dtype="string")
    k_lookup = keras.layers.StringLookup(output_mode="one_hot")
    k_lookup.adapt(np.array([["a"], ["b"], ["c"], ["a"], ["c"], ["a"]]))
    k_dense = keras.layers.Dense(2)
    k_model = keras.Model(k_in, k_dense(k_lookup(k_in)))
    path = os.path.join(tmp_path, "text.keras")
    k_model.save(path)
    expected = _np(k_dense(k_lookup(DATA)))
    model = convolve.saving.load_model(path)
    assert model.inputs[0].dtype == "string"
    assert model.layers[1].get_vocabulary() == k_lookup.get_vocabulary()
    np.testing.assert_allclose(model.predict(DATA, verbose=0), expected, **TOL)
    again = os.path.join(tmp_path, "again.keras")
    model.save(again)
    np.testing.assert_allclose(
        convolve.saving.load_model(again).predict(DATA, verbose=0), expected, **TOL
    )
    reloaded = keras.saving.load_model(again)  # and Keras reads convolve's file
    np.testing.assert_allclose(_np(reloaded.layers[2](reloaded.layers[1](DATA))), expected, **TOL)


def test_summary_lists_the_text_input(capsys):
    c_model, _, _, _ = _one_hot_models()
    c_model.summary()
    text = capsys.readouterr().out
    assert "StringLookup" in text and "(None, 1)" in text and "(None, 4)" in text


def test_numeric_models_still_refuse_text():
    model = convolve.Sequential([convolve.Input(shape=(1,)), layers.Dense(2)])
    message = r"`x` must be a numeric array; received an array of strings \(dtype <U1\)"
    with pytest.raises(ValueError, match=message):
        model(DATA)
    with pytest.raises(ValueError, match=message):
        model.predict(DATA, verbose=0)
    text_model, _, _, _ = _one_hot_models()
    with pytest.raises(ValueError, match="takes strings"):
        text_model(np.array([[1.0], [2.0]]))
    assert isinstance(text_model(DATA), torch.Tensor)


def test_text_vectorization_end_to_end_model_as_in_the_text_classification_example(tmp_path):
    """keras.io's end-to-end model: a string Input, TextVectorization, the trained model.
    Its predictions equal the trained model's on the vectorized text, and Keras's
    TextVectorization (standalone) vectorizes the text identically."""
    texts = np.array(["this movie was great", "terrible film, awful!", "great acting", "dull"])
    labels = np.array([1, 0, 1, 0])
    theirs = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=5)
    vectorize = convolve.layers.TextVectorization(max_tokens=20, output_sequence_length=5)
    theirs.adapt(texts)
    vectorize.adapt(texts)
    np.testing.assert_array_equal(vectorize(texts).numpy(), _np(theirs(texts)))
    inner = convolve.Sequential(
        [
            convolve.Input((5,), dtype="int64"),
            layers.Embedding(20, 4),
            layers.GlobalAveragePooling1D(),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    inputs = convolve.Input(shape=(1,), dtype="string")
    end_to_end = convolve.Model(inputs, inner(vectorize(inputs)))
    end_to_end.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    expected = inner.predict(vectorize(texts), verbose=0)
    np.testing.assert_allclose(end_to_end.predict(texts[:, None], verbose=0), expected, **TOL)
    np.testing.assert_allclose(end_to_end.predict([["dull"]], verbose=0), expected[3:], **TOL)
    inner.compile(loss="binary_crossentropy", metrics=["accuracy"])
    np.testing.assert_allclose(
        end_to_end.evaluate(texts[:, None], labels, verbose=0),
        inner.evaluate(vectorize(texts), labels, verbose=0),
        **TOL,
    )
    path = tmp_path / "end_to_end.keras"
    end_to_end.save(path)
    reloaded = convolve.saving.load_model(path)
    np.testing.assert_allclose(reloaded.predict(texts[:, None], verbose=0), expected, **TOL)
    assert keras.saving.load_model(path).layers[1].get_vocabulary() == theirs.get_vocabulary()
