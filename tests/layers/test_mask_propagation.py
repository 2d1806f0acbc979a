"""Masks travel through the layers that support masking, as in Keras (the oracle).

A mask made by `Embedding(mask_zero=True)` or `Masking` passes through Dense, Dropout,
activations, normalization and merges to the layers that read it (recurrent layers,
attention, GlobalAveragePooling1D, BatchNormalization in training); layers that do not
support masking drop it with Keras's warning. Tolerance: atol 1e-5 on outputs.
"""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
import torch

import convolve

ATOL = 1e-5
IDS = np.array([[3, 5, 0, 0, 0], [1, 2, 7, 4, 0], [6, 0, 0, 0, 0]])


def _numpy(x):
    return keras.ops.convert_to_numpy(x) if not isinstance(x, torch.Tensor) else x.detach().numpy()


def _mask_of(x):
    mask = getattr(x, "_keras_mask", None)
    return None if mask is None else _numpy(mask)


def _pair(build):
    """The same model built with Keras and with convolve, convolve holding Keras's weights."""
    keras.utils.set_random_seed(0)
    theirs = build(keras)
    ours = build(convolve)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


def _embedded(lib, inner):
    inputs = lib.Input((IDS.shape[1],), dtype="int32")
    x = lib.layers.Embedding(10, 6, mask_zero=True)(inputs)
    return lib.Model(inputs, inner(lib, x))


def _lstm_after_dense(L, x):
    return L.layers.LSTM(4)(L.layers.Dropout(0.5)(L.layers.Dense(5)(x)))


def _average_after_dense(L, x):
    return L.layers.GlobalAveragePooling1D()(L.layers.Dense(5, activation="relu")(x))


def _gru_after_normalization(L, x):
    return L.layers.GRU(3)(L.layers.LayerNormalization()(L.layers.Activation("tanh")(x)))


def _attention(L, x):
    return L.layers.GlobalAveragePooling1D()(L.layers.MultiHeadAttention(2, 3)(x, x))


def _residual_attention(L, x):
    attended = L.layers.MultiHeadAttention(2, 3)(x, x)
    return L.layers.GlobalAveragePooling1D()(L.layers.Add()([x, attended]))


def _sequence_output(L, x):
    return L.layers.Dense(2)(L.layers.SimpleRNN(3, return_sequences=True)(x))


@pytest.mark.parametrize(
    "inner",
    [
        _lstm_after_dense,
        _average_after_dense,
        _gru_after_normalization,
        _attention,
        _residual_attention,
        _sequence_output,
    ],
)
def test_model_outputs_and_output_masks_match_keras(inner):
    theirs, ours = _pair(lambda lib: _embedded(lib, inner))
    expected, got = theirs(IDS), ours(IDS)
    np.testing.assert_allclose(_numpy(got), _numpy(expected), atol=ATOL)
    assert (_mask_of(got) is None) == (_mask_of(expected) is None)
    if _mask_of(expected) is not None:
        np.testing.assert_array_equal(_mask_of(got), _mask_of(expected))


def test_the_mask_changes_the_result():
    """Without the mask reaching the LSTM through Dense, the result differs (the test above
    would catch a dropped mask)."""
    theirs, ours = _pair(
        lambda lib: _embedded(lib, lambda L, x: L.layers.LSTM(4)(L.layers.Dense(5)(x)))
    )
    masked = _numpy(ours(IDS))
    ours.layers[1].supports_masking = False  # the Embedding stops making the mask
    ours.layers[1].mask_zero = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unmasked = _numpy(ours(IDS))
    assert np.abs(masked - unmasked).max() > 1e-3


def _masked_pair(seed: int, steps: int = 4, features: int = 3):
    """Keras and convolve tensors with a mask on the steps that are all zero."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, steps, features)).astype("float32")
    x[0, steps - 1 - seed % 2 :] = 0.0
    x[1, :1] = 0.0
    return keras.layers.Masking()(x), convolve.layers.Masking()(x)


@pytest.mark.parametrize(
    "layer", ["Add", "Subtract", "Average", "Multiply", "Maximum", "Minimum", "Concatenate"]
)
@pytest.mark.parametrize("both_masked", [True, False])
def test_merges_combine_masks_and_values_as_keras(layer, both_masked):
    (ka, ca), (kb, cb) = _masked_pair(0), _masked_pair(1)
    if not both_masked:
        kb, cb = torch.ones(2, 4, 3) * 0.5, torch.ones(2, 4, 3) * 0.5
    expected = getattr(keras.layers, layer)()([ka, kb])
    got = getattr(convolve.layers, layer)()([ca, cb])
    np.testing.assert_allclose(_numpy(got), _numpy(expected), atol=ATOL)
    assert (_mask_of(got) is None) == (_mask_of(expected) is None)
    if _mask_of(expected) is not None:
        np.testing.assert_array_equal(_mask_of(got), _mask_of(expected))


def test_concatenate_on_the_steps_axis_joins_masks():
    (ka, ca), (kb, cb) = _masked_pair(0), _masked_pair(1, steps=3)
    expected = keras.layers.Concatenate(axis=1)([ka, kb])
    got = convolve.layers.Concatenate(axis=1)([ca, cb])
    np.testing.assert_array_equal(_mask_of(got), _mask_of(expected))


@pytest.mark.parametrize(
    "make",
    [
        lambda L: L.layers.Dense(2),
        lambda L: L.layers.Dropout(0.3),
        lambda L: L.layers.ReLU(),
        lambda L: L.layers.LeakyReLU(),
        lambda L: L.layers.ELU(),
        lambda L: L.layers.PReLU(),
        lambda L: L.layers.Identity(),
        lambda L: L.layers.GaussianNoise(0.1),
        lambda L: L.layers.UnitNormalization(),
        lambda L: L.layers.GroupNormalization(groups=3),
        lambda L: L.layers.Rescaling(2.0),
        lambda L: L.layers.ActivityRegularization(l1=0.1),
    ],
)
def test_layers_that_support_masking_hand_the_mask_on(make):
    keras_x, ours_x = _masked_pair(0)
    theirs, ours = make(keras), make(convolve)
    expected = theirs(keras_x)
    got = ours(ours_x)
    assert theirs.supports_masking and ours.supports_masking
    np.testing.assert_array_equal(_mask_of(got), _mask_of(expected))


def test_batch_normalization_in_training_leaves_masked_steps_out_of_the_statistics():
    keras_x, ours_x = _masked_pair(0, steps=5)
    theirs, ours = keras.layers.BatchNormalization(), convolve.layers.BatchNormalization()
    theirs.build((None, 5, 3))
    ours.build((None, 5, 3))
    expected = theirs(keras_x, training=True)
    got = ours(ours_x, training=True)
    np.testing.assert_allclose(_numpy(got), _numpy(expected), atol=ATOL)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    unmasked = convolve.layers.BatchNormalization()
    unmasked.build((None, 5, 3))
    plain = unmasked(torch.as_tensor(_numpy(ours_x)), training=True)
    assert np.abs(_numpy(plain) - _numpy(got)).max() > 1e-3
    with pytest.raises(ValueError, match="one dimension less"):
        ours(ours_x, training=True, mask=torch.ones(2, 5, 3, dtype=torch.bool))


def test_softmax_with_an_explicit_mask_matches_keras():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    mask = rng.random((2, 3, 4)) > 0.3
    mask[0, 1] = False  # a fully masked row: zeros, not a uniform distribution
    expected = keras.layers.Softmax()(x, mask)
    got = convolve.layers.Softmax()(x, mask=torch.as_tensor(mask))
    np.testing.assert_allclose(_numpy(got), _numpy(expected), atol=ATOL)
    with pytest.raises(ValueError, match="broadcastable"):
        convolve.layers.Softmax()(x, mask=torch.ones(2, 3, dtype=torch.bool))


def test_multi_head_attention_reads_the_masks_and_ignores_an_explicit_query_mask():
    # Keras's eager call removes the inputs' masks; in a model the layers after it still
    # see them (see the residual case above), which convolve follows everywhere.
    keras_x, ours_x = _masked_pair(2, steps=5, features=4)
    theirs, ours = keras.layers.MultiHeadAttention(2, 3), convolve.layers.MultiHeadAttention(2, 3)
    expected = theirs(keras_x, keras_x)
    ours(torch.zeros(1, 5, 4), torch.zeros(1, 5, 4))
    ours.set_weights(theirs.get_weights())
    got = ours(ours_x, ours_x, query_mask=torch.zeros(2, 5, dtype=torch.bool))
    np.testing.assert_allclose(_numpy(got), _numpy(expected), atol=ATOL)
    np.testing.assert_array_equal(_mask_of(got), _mask_of(expected))
    unmasked = ours(torch.as_tensor(_numpy(ours_x)), torch.as_tensor(_numpy(ours_x)))
    assert np.abs(_numpy(unmasked) - _numpy(got)).max() > 1e-4


@pytest.mark.parametrize("cls", ["Attention", "AdditiveAttention"])
def test_attention_takes_the_masks_of_its_inputs(cls):
    (kq, cq), (kv, cv) = _masked_pair(0, features=4), _masked_pair(1, features=4)
    theirs, ours = getattr(keras.layers, cls)(), getattr(convolve.layers, cls)()
    expected = theirs([kq, kv])
    ours([torch.zeros(2, 4, 4), torch.zeros(2, 4, 4)])
    ours.set_weights(theirs.get_weights())  # AdditiveAttention's scale starts random
    got = ours([cq, cv])
    np.testing.assert_allclose(_numpy(got), _numpy(expected), atol=ATOL)
    np.testing.assert_array_equal(_mask_of(got), _mask_of(expected))


def test_a_layer_without_mask_support_drops_the_mask_with_keras_warning():
    _, ours_x = _masked_pair(0)
    with pytest.warns(UserWarning, match="does not support masking"):
        out = convolve.layers.Conv1D(2, 2)(ours_x)
    assert _mask_of(out) is None
    assert not convolve.layers.Conv1D(2, 2).supports_masking


def test_lambda_masks_as_keras():
    keras_x, ours_x = _masked_pair(0)
    for mask in (None, lambda inputs, previous: previous):
        expected = keras.layers.Lambda(lambda t: t * 2.0, mask=mask)(keras_x)
        got = convolve.layers.Lambda(lambda t: t * 2.0, mask=mask)(ours_x)
        assert (_mask_of(got) is None) == (_mask_of(expected) is None)
    keras_x, ours_x = _masked_pair(0)
    seen = {}

    def record(t, mask=None):
        seen["mask"] = mask
        return t

    convolve.layers.Lambda(record)(ours_x)
    np.testing.assert_array_equal(_numpy(seen["mask"]), _mask_of(keras_x))


def test_a_custom_layer_with_supports_masking_and_compute_mask():
    def make(lib):
        class HalfMask(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.supports_masking = True

            def call(self, inputs, mask=None):
                self.received = mask
                return inputs + 1.0

            def compute_mask(self, inputs, mask=None):
                return None if mask is None else mask[:, : mask.shape[1] // 2 + 1]

        return HalfMask()

    keras_x, ours_x = _masked_pair(0)
    theirs, ours = make(keras), make(convolve)
    expected, got = theirs(keras_x), ours(ours_x)
    np.testing.assert_array_equal(_numpy(ours.received), _numpy(theirs.received))
    np.testing.assert_array_equal(_mask_of(got), _mask_of(expected))
    plain = convolve.layers.Layer()
    assert not plain.supports_masking
    plain.supports_masking = True
    assert plain.supports_masking


def _sequence_tagger(lib):
    inputs = lib.Input((IDS.shape[1],), dtype="int32")
    x = lib.layers.Embedding(10, 6, mask_zero=True)(inputs)
    x = lib.layers.SimpleRNN(4, return_sequences=True)(x)
    outputs = lib.layers.Dense(3, activation="softmax")(x)
    model = lib.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_losses_and_metrics_skip_the_masked_steps_in_fit_and_evaluate():
    theirs, ours = _pair(_sequence_tagger)
    ids = np.tile(IDS, (4, 1))
    tags = np.random.default_rng(0).integers(0, 3, size=ids.shape)
    kwargs = dict(batch_size=4, epochs=2, shuffle=False, verbose=0)
    expected = theirs.fit(ids, tags, **kwargs).history
    got = ours.fit(ids, tags, **kwargs).history
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, err_msg=key)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        ours.evaluate(ids, tags, verbose=0), theirs.evaluate(ids, tags, verbose=0), rtol=1e-5
    )
    # The padded steps would change the loss: the masked value is not the plain mean.
    probabilities = ours.predict(ids, verbose=0)
    picked = np.take_along_axis(probabilities, tags[..., None], axis=-1)[..., 0]
    plain = float(np.mean(-np.log(picked)))
    assert abs(ours.evaluate(ids, tags, verbose=0)[0] - plain) > 1e-3


def test_a_loss_object_reads_the_mask_of_its_predictions():
    y_true = np.array([[0, 1, 2, 1]])
    rng = np.random.default_rng(1)
    probabilities = rng.random((1, 4, 3)).astype("float32")
    probabilities /= probabilities.sum(-1, keepdims=True)
    mask = np.array([[True, True, False, False]])
    expected_pred = keras.ops.convert_to_tensor(probabilities)
    expected_pred._keras_mask = keras.ops.convert_to_tensor(mask)
    ours_pred = torch.as_tensor(probabilities)
    ours_pred._keras_mask = torch.as_tensor(mask)
    for name in ("SparseCategoricalCrossentropy",):
        expected = getattr(keras.losses, name)()(y_true, expected_pred)
        got = getattr(convolve.losses, name)()(y_true, ours_pred)
        np.testing.assert_allclose(_numpy(got), _numpy(expected), rtol=1e-6)
    theirs_metric = keras.metrics.SparseCategoricalAccuracy()
    ours_metric = convolve.metrics.SparseCategoricalAccuracy()
    theirs_metric.update_state(y_true, expected_pred)
    ours_metric.update_state(y_true, ours_pred)
    np.testing.assert_allclose(_numpy(ours_metric.result()), _numpy(theirs_metric.result()))
