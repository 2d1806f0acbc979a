"""MultiHeadAttention, EinsumDense, Attention and AdditiveAttention against Keras."""

from __future__ import annotations

import inspect
import json

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import layers

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
ATOL = 1e-5  # max abs difference of outputs (float32, values of order 1)


def _np(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _short(value):
    """Nested objects in the short form convolve's configs use ({class_name, config})."""
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items() if k not in ("module", "registered_name")}
    if isinstance(value, list):
        return [_short(v) for v in value]
    return value


def _config(layer):
    """The config as JSON would hold it, without the dtype (Keras writes a policy dict)."""
    config = json.loads(json.dumps(layer.get_config()))
    config.pop("dtype", None)
    return _short(config)


def _weights_like(keras_layer, seed=0):
    rng = np.random.default_rng(seed)
    return [(0.5 * rng.standard_normal(w.shape)).astype(np.float32) for w in keras_layer.weights]


@pytest.mark.parametrize(
    "name", ["MultiHeadAttention", "EinsumDense", "Attention", "AdditiveAttention"]
)
def test_constructor_defaults_match_keras(name):
    ours = inspect.signature(getattr(layers, name).__init__).parameters
    theirs = inspect.signature(getattr(keras.layers, name).__init__).parameters
    assert list(ours) == list(theirs)
    for key, param in theirs.items():
        assert ours[key].default == param.default, key


MHA_CASES = [
    ({"num_heads": 2, "key_dim": 4}, (2, 5, 8), (2, 7, 6), None, {}),
    ({"num_heads": 2, "key_dim": 4, "value_dim": 3, "output_shape": 5}, (2, 5, 8), (2, 7, 6),
     (2, 7, 4), {"return_attention_scores": True}),
    ({"num_heads": 2, "key_dim": 4}, (2, 5, 8), (2, 5, 8), None, {"use_causal_mask": True}),
    ({"num_heads": 2, "key_dim": 4}, (2, 5, 8), (2, 7, 8), None,
     {"use_causal_mask": True, "return_attention_scores": True}),
    ({"num_heads": 2, "key_dim": 4, "use_bias": False}, (2, 5, 8), (2, 7, 8), None,
     {"attention_mask": "random"}),
    ({"num_heads": 2, "key_dim": 4}, (2, 5, 8), (2, 7, 8), None,
     {"attention_mask": "row", "return_attention_scores": True}),
    ({"num_heads": 2, "key_dim": 4}, (2, 5, 8), (2, 7, 8), None, {"attention_mask": "row"}),
    ({"num_heads": 2, "key_dim": 4}, (2, 5, 8), (2, 7, 8), None,
     {"value_mask": "random", "use_causal_mask": True}),
    ({"num_heads": 2, "key_dim": 3, "attention_axes": (1, 2)}, (2, 3, 4, 5), (2, 3, 4, 5),
     None, {}),
    ({"num_heads": 2, "key_dim": 3, "attention_axes": 2}, (2, 3, 4, 5), (2, 3, 4, 5), None,
     {"return_attention_scores": True}),
    ({"num_heads": 2, "key_dim": 3, "output_shape": (2, 3)}, (2, 3, 4, 5), (2, 3, 4, 5),
     None, {}),
    ({"num_heads": 3, "key_dim": 4, "sliding_window": 2}, (2, 6, 8), (2, 6, 8), None,
     {"use_causal_mask": True}),
]  # fmt: skip


def _call_args(call, q_shape, v_shape, seed):
    rng = np.random.default_rng(seed)
    args = dict(call)
    if args.get("attention_mask") == "random":
        args["attention_mask"] = rng.random((q_shape[0], q_shape[1], v_shape[1])) > 0.3
    elif args.get("attention_mask") == "row":  # one query sees nothing at all
        mask = np.ones((q_shape[0], q_shape[1], v_shape[1]), bool)
        mask[0, 1] = False
        args["attention_mask"] = mask
    if args.get("value_mask") == "random":
        mask = rng.random((v_shape[0], v_shape[1])) > 0.3
        mask[:, 0] = True
        args["value_mask"] = mask
    return args


@pytest.mark.parametrize("kwargs, q_shape, v_shape, k_shape, call", MHA_CASES)
def test_multi_head_attention_matches_keras(kwargs, q_shape, v_shape, k_shape, call):
    theirs = keras.layers.MultiHeadAttention(**kwargs, name="mha")
    ours = layers.MultiHeadAttention(**kwargs, name="mha")
    q, v = _rand(q_shape, 1), _rand(v_shape, 2)
    k = None if k_shape is None else _rand(k_shape, 3)
    args = _call_args(call, q_shape, v_shape, 4)
    theirs(q, v, k, **args)
    ours(q, v, k, **args)
    weights = _weights_like(theirs)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in weights]
    assert ours.count_params() == theirs.count_params()
    assert [f"{o.name}/{s.name}" for o, s, _ in ours._weight_entries()] == [
        w.path.split("/", 1)[1] for w in theirs.weights
    ]
    expected = theirs(q, v, k, **args)
    got = ours(q, v, k, **args)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(expected)
    for e, g in zip(expected, got, strict=True):
        assert _np(g).shape == _np(e).shape
        np.testing.assert_allclose(_np(g), _np(e), atol=ATOL, rtol=0)
    assert _config(ours) == _config(theirs)


def test_multi_head_attention_config_round_trip_and_unbuilt_config():
    kwargs = {"num_heads": 3, "key_dim": 5, "dropout": 0.1, "attention_axes": -2}
    ours = layers.MultiHeadAttention(**kwargs, name="m")
    theirs = keras.layers.MultiHeadAttention(**kwargs, name="m")
    assert _config(ours) == _config(theirs)
    clone = layers.MultiHeadAttention.from_config(ours.get_config())
    assert clone.get_config() == ours.get_config()


def test_multi_head_attention_dropout_only_in_training():
    layer = layers.MultiHeadAttention(2, 4, dropout=0.5)
    x = _rand((2, 6, 8), 0)
    assert np.array_equal(_np(layer(x, x)), _np(layer(x, x, training=False)))
    assert not np.allclose(_np(layer(x, x, training=True)), _np(layer(x, x)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_heads": 0, "key_dim": 2}, "num_heads"),
        ({"num_heads": 2, "key_dim": -1}, "key_dim"),
        ({"num_heads": 2, "key_dim": 2, "value_dim": "a"}, "value_dim"),
        ({"num_heads": 2, "key_dim": 2, "dropout": 2.0}, "dropout"),
        ({"num_heads": 2, "key_dim": 2, "attention_axes": "x"}, "attention_axes"),
    ],
)
def test_multi_head_attention_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        layers.MultiHeadAttention(**kwargs)


def test_multi_head_attention_refusals():
    with pytest.raises(NotImplementedError, match="use_gate"):
        layers.MultiHeadAttention(2, 2, use_gate=True)
    layer = layers.MultiHeadAttention(2, 2)
    x = _rand((1, 3, 4), 0)
    with pytest.raises(ValueError, match="value"):
        layer(x)
    with pytest.raises(ValueError, match="key"):
        layer(x, x, _rand((1, 4, 4), 0))


def _vit_block(lib, seq=6, dim=8):
    inputs = lib.Input(shape=(seq, dim))
    x = lib.layers.LayerNormalization(epsilon=1e-6)(inputs)
    x = lib.layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x)
    x = lib.layers.Add()([x, inputs])
    y = lib.layers.EinsumDense("abc,cd->abd", output_shape=(None, 5), bias_axes="d")(x)
    y = lib.layers.GlobalAveragePooling1D()(y)
    outputs = lib.layers.Dense(3)(y)
    return lib.Model(inputs, outputs)


def test_functional_model_with_attention_matches_keras_outputs():
    theirs, ours = _vit_block(keras), _vit_block(convolve)
    assert ours.count_params() == theirs.count_params()
    weights = _weights_like(theirs, seed=3)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = _rand((2, 6, 8), 5)
    np.testing.assert_allclose(_np(ours(x)), _np(theirs(x)), atol=ATOL)


@pytest.mark.slow
def test_functional_model_with_attention_matches_keras_and_trains_alike(tmp_path):
    theirs, ours = _vit_block(keras), _vit_block(convolve)
    assert ours.count_params() == theirs.count_params()
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.weights]
    weights = _weights_like(theirs, seed=3)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = _rand((4, 6, 8), 5)
    y = np.random.default_rng(6).integers(0, 3, 4)
    np.testing.assert_allclose(_np(ours.predict(x, verbose=0)), theirs.predict(x, verbose=0),
                               atol=ATOL)  # fmt: skip
    # Summaries list the same parameter counts.
    lines = []
    ours.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert f"{theirs.count_params():,}" in text
    mha = next(la for la in theirs.layers if isinstance(la, keras.layers.MultiHeadAttention))
    assert f"{mha.count_params():,}" in text
    theirs.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(True))
    ours.compile(convolve.optimizers.SGD(0.1), convolve.losses.SparseCategoricalCrossentropy(True))
    for _ in range(3):
        loss_k = float(theirs.train_on_batch(x, y))
        loss_c = float(ours.train_on_batch(x, y))
        np.testing.assert_allclose(loss_c, loss_k, rtol=1e-5)
    for got, expected in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # Weights files move both ways: Keras's paths for the nested projections.
    theirs.save_weights(tmp_path / "k.weights.h5")
    fresh = _vit_block(convolve)
    fresh.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(_np(fresh.predict(x, verbose=0)), theirs.predict(x, verbose=0),
                               atol=ATOL)  # fmt: skip
    ours.save_weights(tmp_path / "c.weights.h5")
    back = _vit_block(keras)
    back.load_weights(tmp_path / "c.weights.h5")
    np.testing.assert_allclose(back.predict(x, verbose=0), _np(ours.predict(x, verbose=0)),
                               atol=ATOL)  # fmt: skip


def test_functional_attention_scores_output_and_masks():
    q = convolve.Input(shape=(5, 8))
    v = convolve.Input(shape=(7, 8))
    m = convolve.Input(shape=(5, 7))
    layer = layers.MultiHeadAttention(2, 4)
    out, scores = layer(q, v, attention_mask=m, return_attention_scores=True)
    assert out.shape == (None, 5, 8)
    assert scores.shape == (None, 2, 5, 7)
    model = convolve.Model([q, v, m], [out, scores])
    qa, va = _rand((2, 5, 8), 0), _rand((2, 7, 8), 1)
    ma = (np.random.default_rng(2).random((2, 5, 7)) > 0.4).astype(np.float32)
    ma[..., 0] = 1
    got_out, got_scores = model.predict([qa, va, ma], verbose=0)
    want_out, want_scores = layer(qa, va, attention_mask=ma.astype(bool),
                                  return_attention_scores=True)  # fmt: skip
    np.testing.assert_allclose(_np(got_out), _np(want_out), atol=ATOL)
    np.testing.assert_allclose(_np(got_scores), _np(want_scores), atol=ATOL)
    assert np.all(_np(got_scores)[np.broadcast_to(~ma.astype(bool)[:, None], (2, 2, 5, 7))] == 0)


EINSUM_CASES = [
    ("ab,bc->ac", (5,), "c", (2, 3)),
    ("abc,cd->abd", (None, 6), "d", (2, 4, 3)),
    ("...b,bc->...c", (5,), "c", (2, 4, 3, 3)),
    ("abc,cde->abde", (None, 2, 4), "de", (2, 7, 3)),
    ("ab...,bc->ac...", (5, 4), "c", (2, 3, 4)),
    ("abcd,cde->abe", (None, 6), None, (2, 3, 4, 5)),
]


@pytest.mark.parametrize("equation, output_shape, bias_axes, shape", EINSUM_CASES)
def test_einsum_dense_matches_keras(equation, output_shape, bias_axes, shape):
    kwargs = {"bias_axes": bias_axes, "activation": "relu"}
    theirs = keras.layers.EinsumDense(equation, output_shape, **kwargs, name="e")
    ours = layers.EinsumDense(equation, output_shape, **kwargs, name="e")
    x = _rand(shape, 7)
    assert ours.compute_output_shape((None, *shape[1:])) == theirs.compute_output_shape(
        (None, *shape[1:])
    )
    theirs(x)
    ours(x)
    weights = _weights_like(theirs)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    np.testing.assert_allclose(_np(ours(x)), _np(theirs(x)), atol=ATOL)
    assert _config(ours) == _config(theirs)


def test_einsum_dense_initializer_uses_the_kernel_fans():
    # 3 inputs per output unit in a (3, 2, 50) kernel: Keras's fans are 3 and 100.
    layer = layers.EinsumDense("ab,bcd->acd", (2, 50), kernel_initializer="glorot_uniform")
    layer.build((None, 3))
    limit = np.sqrt(6 / (3 + 100))
    kernel = layer.get_weights()[0]
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.8 * limit


def test_einsum_dense_bad_equation():
    with pytest.raises(ValueError, match="equation"):
        layers.EinsumDense("ab->b", 3).build((None, 2))
    with pytest.raises(ValueError, match="bias"):
        layers.EinsumDense("ab,bc->ac", 3, bias_axes="x").build((None, 2))


ATTENTION_CASES = [
    ("Attention", {}, {}),
    ("Attention", {"use_scale": True, "score_mode": "concat"}, {"return_attention_scores": True}),
    ("Attention", {"use_scale": True}, {"use_causal_mask": True, "masks": True}),
    ("AdditiveAttention", {}, {"masks": True}),
    ("AdditiveAttention", {"use_scale": False}, {"return_attention_scores": True, "key": True}),
]


@pytest.mark.parametrize("name, kwargs, call", ATTENTION_CASES)
def test_dot_product_and_additive_attention_match_keras(name, kwargs, call):
    call = dict(call)
    theirs = getattr(keras.layers, name)(**kwargs, name="a")
    ours = getattr(layers, name)(**kwargs, name="a")
    inputs = [_rand((2, 4, 6), 0), _rand((2, 5, 6), 1)]
    if call.pop("key", False):
        inputs.append(_rand((2, 5, 6), 2))
    if call.pop("masks", False):
        rng = np.random.default_rng(3)
        q_mask, v_mask = rng.random((2, 4)) > 0.3, rng.random((2, 5)) > 0.3
        v_mask[:, 0] = True
        call["mask"] = [q_mask, v_mask]
    theirs(inputs, **call)
    ours(inputs, **call)
    weights = _weights_like(theirs)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    expected, got = theirs(inputs, **call), ours(inputs, **call)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = got if isinstance(got, tuple) else (got,)
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(_np(g), _np(e), atol=ATOL)
    assert _config(ours) == _config(theirs)


def test_attention_in_a_functional_model():
    q, v = convolve.Input(shape=(4, 6)), convolve.Input(shape=(5, 6))
    out = layers.Attention(use_scale=True)([q, v])
    assert out.shape == (None, 4, 6)
    model = convolve.Model([q, v], out)
    qa, va = _rand((2, 4, 6), 0), _rand((2, 5, 6), 1)
    theirs = keras.layers.Attention(use_scale=True)
    np.testing.assert_allclose(_np(model.predict([qa, va], verbose=0)),
                               _np(theirs([qa, va])), atol=ATOL)  # fmt: skip


def test_attention_bad_inputs():
    with pytest.raises(ValueError, match="score_mode"):
        layers.Attention(score_mode="add")
    with pytest.raises(ValueError, match="list of inputs"):
        layers.Attention()(_rand((2, 3, 4), 0))


def test_model_file_round_trip_with_attention_layers(tmp_path):
    q, v = convolve.Input(shape=(5, 8)), convolve.Input(shape=(6, 8))
    x = layers.MultiHeadAttention(2, 4, attention_axes=1)(q, v, use_causal_mask=True)
    x = layers.Attention()([x, v])
    model = convolve.Model([q, v], x)
    data = [_rand((2, 5, 8), 0), _rand((2, 6, 8), 1)]
    model.save(tmp_path / "m.keras")
    loaded = convolve.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(
        _np(loaded.predict(data, verbose=0)), _np(model.predict(data, verbose=0))
    )
