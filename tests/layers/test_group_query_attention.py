"""GroupQueryAttention against Keras's layer (torch backend): weights, outputs, configs."""

from __future__ import annotations

import inspect
import json

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import layers, saving

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
ATOL = 1e-5  # float32 outputs of order 1, the same weights on both sides
RNG = np.random.default_rng(0)
QUERY = RNG.standard_normal((2, 5, 8)).astype(np.float32)
VALUE = RNG.standard_normal((2, 6, 8)).astype(np.float32)
KEY = RNG.standard_normal((2, 6, 4)).astype(np.float32)
MASK = RNG.random((2, 5, 6)) > 0.3


def _np(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _short(value):
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items() if k not in ("module", "registered_name")}
    if isinstance(value, list):
        return [_short(v) for v in value]
    return value


def _config(layer):
    config = json.loads(json.dumps(layer.get_config()))
    config.pop("dtype", None)
    return _short(config)


def test_constructor_defaults_match_keras():
    ours = inspect.signature(layers.GroupQueryAttention.__init__).parameters
    theirs = inspect.signature(keras.layers.GroupQueryAttention.__init__).parameters
    assert list(ours) == list(theirs)
    for key, param in theirs.items():
        assert ours[key].default == param.default, key


def _pair(**kwargs):
    theirs = keras.layers.GroupQueryAttention(4, 4, 2, **kwargs)
    ours = layers.GroupQueryAttention(4, 4, 2, **kwargs)
    theirs(QUERY, VALUE, KEY)
    ours(QUERY, VALUE, KEY)
    return theirs, ours


CALLS = [
    {},
    {"use_causal_mask": True},
    {"attention_mask": MASK},
    {"attention_mask": MASK, "use_causal_mask": True},
    {"return_attention_scores": True},
    {"value_mask": MASK[:, 0], "use_causal_mask": True, "return_attention_scores": True},
    {"query_mask": MASK[:, :, 0]},
    {"key_mask": MASK[:, 1]},
]


@pytest.mark.parametrize(
    "options", [{}, {"use_gate": True}, {"use_bias": False}, {"sliding_window": 2}]
)
def test_outputs_weights_and_config_match_keras(options):
    theirs, ours = _pair(**options)
    assert ours.name.startswith("grouped_query_attention")
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.weights]
    assert [w.path.split("/", 1)[1] for w in ours.weights] == [
        w.path.split("/", 1)[1] for w in theirs.weights
    ]
    assert ours.count_params() == theirs.count_params()
    assert _config(ours) == {**_config(theirs), "name": ours.name}
    ours.set_weights(theirs.get_weights())
    for call in CALLS:
        expected, got = theirs(QUERY, VALUE, KEY, **call), ours(QUERY, VALUE, KEY, **call)
        expected = expected if isinstance(expected, tuple) else (expected,)
        got = got if isinstance(got, tuple) else (got,)
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_allclose(_np(a), _np(b), atol=ATOL, err_msg=str(list(call)))


def test_self_attention_without_key_and_with_one_kv_head_matches_keras():
    theirs = keras.layers.GroupQueryAttention(3, 6, 1, name="g")
    ours = layers.GroupQueryAttention(3, 6, 1, name="g")
    theirs(QUERY, QUERY), ours(QUERY, QUERY)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(_np(ours(QUERY, QUERY)), _np(theirs(QUERY, QUERY)), atol=ATOL)


def test_dropout_acts_only_in_training():
    theirs, ours = _pair(dropout=0.5, seed=1)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(
        _np(ours(QUERY, VALUE, KEY)), _np(theirs(QUERY, VALUE, KEY)), atol=ATOL
    )
    assert not np.allclose(
        _np(ours(QUERY, VALUE, KEY, training=True)), _np(ours(QUERY, VALUE, KEY))
    )


def test_symbolic_shapes_match_keras():
    for lib in (keras, convolve):
        q, v = lib.Input((5, 8)), lib.Input((6, 8))
        out, scores = lib.layers.GroupQueryAttention(4, 4, 2)(q, v, return_attention_scores=True)
        assert tuple(out.shape) == (None, 5, 8)
        assert tuple(scores.shape) == (None, 4, 5, 6)
    ours = layers.GroupQueryAttention(4, 4, 2)
    with pytest.raises(ValueError, match="last dimension"):
        ours(convolve.Input((5, 8)), convolve.Input((6, 4)))


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="divisible"):
        layers.GroupQueryAttention(4, 4, 3)
    with pytest.raises(ValueError, match="head_dim=0"):
        layers.GroupQueryAttention(0, 4, 2)
    with pytest.raises(ValueError, match="sliding_window=-1"):
        layers.GroupQueryAttention(4, 4, 2, sliding_window=-1)
    with pytest.raises(NotImplementedError, match="flash_attention=True"):
        layers.GroupQueryAttention(4, 4, 2, flash_attention=True)


def _model(lib):
    query, value = lib.Input((5, 8)), lib.Input((6, 8))
    x = lib.layers.GroupQueryAttention(4, 4, 2, use_gate=True)(query, value)
    return lib.Model([query, value], lib.layers.Dense(3)(x))


def test_model_file_round_trip_and_keras_config(tmp_path):
    model = _model(convolve)
    model.save(tmp_path / "m.keras")
    back = saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(
        back.predict([QUERY, VALUE], verbose=0), model.predict([QUERY, VALUE], verbose=0), atol=0
    )
    # The layer's entry is the one Keras writes (class name, config, build config, call).
    theirs = _model(keras)
    ours_entry = saving.serialize_keras_object(model)["config"]["layers"][2]
    keras_entry = keras.saving.serialize_keras_object(theirs)["config"]["layers"][2]
    assert ours_entry["class_name"] == keras_entry["class_name"] == "GroupQueryAttention"
    assert sorted(ours_entry["config"]) == sorted(keras_entry["config"])
    assert ours_entry["build_config"] == keras_entry["build_config"]
    assert len(ours_entry["inbound_nodes"][0]["args"]) == 2


@pytest.mark.parametrize("direction", ["keras_to_convolve", "convolve_to_keras"])
def test_model_files_move_both_ways(tmp_path, direction):
    writer, reader = (keras, convolve) if direction == "keras_to_convolve" else (convolve, keras)

    def build(lib):
        query, value = lib.Input((5, 8)), lib.Input((6, 8))
        out = lib.layers.GroupQueryAttention(4, 4, 2)(query, value)
        return lib.Model([query, value], out)

    original = build(writer)
    original.save(tmp_path / "m.keras")
    loaded = reader.models.load_model(tmp_path / "m.keras")
    rng = np.random.default_rng(3)
    inputs = [
        rng.normal(size=(2, 5, 8)).astype("float32"),
        rng.normal(size=(2, 6, 8)).astype("float32"),
    ]
    np.testing.assert_allclose(
        np.asarray(loaded.predict(inputs, verbose=0)),
        np.asarray(original.predict(inputs, verbose=0)),
        atol=1e-5,
        rtol=0,
    )
