"""Every activation Keras 3 has, against Keras: names, signatures, values on random and edge
inputs, gradients, serialization, NumPy inputs, use in layers and Keras-written files.

Tolerance: rtol=1e-6 (atol=1e-7 for values near 0); the functions run the same torch
kernels as Keras's torch backend, so most agree exactly.
"""

import inspect

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import activations, layers, saving

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-6, 1e-7
KERAS_NAMES = sorted(
    n
    for n in dir(keras.activations)
    if not n.startswith("_") and n not in ("get", "serialize", "deserialize")
)
NEW = ["celu", "glu", "hard_shrink", "hard_silu", "hard_swish", "hard_tanh", "log_sigmoid",
       "soft_shrink", "sparse_plus", "sparse_sigmoid", "sparsemax", "squareplus", "tanh_shrink",
       "threshold"]  # fmt: skip

EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 3.0, -3.0, 6.0, -6.0, 20.0, -20.0, 50.0, -50.0,
         100.0, -100.0, 1e-8, -1e-8, 88.0, -88.0, 1e30, -1e30, 0.9999999, -1.0000001]  # fmt: skip


def _inputs(dtype):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=232) * 4, EDGES]).astype(dtype)
    return x.reshape(-1, 8)  # even axes, for glu


def _args(name):
    return (0.3, -2.0) if name == "threshold" else ()


def _keras(fn, x, *args, **kwargs):
    return keras.ops.convert_to_numpy(fn(torch.from_numpy(x), *args, **kwargs))


def test_convolve_has_every_keras_activation():
    assert set(NEW) <= set(KERAS_NAMES)
    missing = [n for n in KERAS_NAMES if not callable(getattr(activations, n, None))]
    assert missing == []
    for name in KERAS_NAMES:
        assert activations.get(name) is getattr(activations, name)
        assert convolve.activations.get(name) is getattr(activations, name)
    assert activations.hard_swish is activations.hard_silu
    assert activations.swish is activations.silu


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_signature_matches_keras(name):
    ours = inspect.signature(getattr(activations, name)).parameters
    theirs = inspect.signature(getattr(keras.activations, name)).parameters
    assert list(ours) == list(theirs)
    for key, param in theirs.items():
        assert ours[key].default == param.default, key
        assert ours[key].kind == param.kind, key


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", KERAS_NAMES)
def test_values_match_keras(name, dtype):
    x = _inputs(dtype)
    expected = _keras(getattr(keras.activations, name), x, *_args(name))
    got = getattr(activations, name)(torch.from_numpy(x), *_args(name))
    assert got.dtype == torch.from_numpy(expected).dtype
    np.testing.assert_allclose(got.numpy(), expected, rtol=RTOL, atol=ATOL)


KWARG_CASES = [
    ("celu", dict(alpha=0.5)),
    ("celu", dict(alpha=2.0)),
    ("elu", dict(alpha=0.3)),
    ("squareplus", dict(b=1)),
    ("squareplus", dict(b=0.25)),
    ("soft_shrink", dict(threshold=1.0)),
    ("hard_shrink", dict(threshold=0.1)),
    ("hard_shrink", dict(threshold=2.0)),
    ("threshold", dict(threshold=-1.0, default_value=5.0)),
    ("threshold", dict(threshold=1.0, default_value=1.0)),  # x == threshold maps to the value
    ("glu", dict(axis=0)),
    ("glu", dict(axis=1)),
    ("sparsemax", dict(axis=0)),
    ("sparsemax", dict(axis=-1)),
    ("softmax", dict(axis=0)),
    ("log_softmax", dict(axis=0)),
    ("gelu", dict(approximate=True)),
    ("leaky_relu", dict(negative_slope=0.01)),
    ("relu", dict(negative_slope=0.1)),
    ("relu", dict(max_value=6.0)),
    ("relu", dict(max_value=2.0)),
    ("relu", dict(threshold=1.0)),  # x == 1 exactly maps to 0, as in Keras
    ("relu", dict(threshold=-1.0, negative_slope=0.2)),
    ("relu", dict(threshold=0.5, negative_slope=0.1, max_value=3.0)),
    ("relu", dict(negative_slope=0.3, max_value=2.0)),
]


@pytest.mark.parametrize(
    "name,kwargs", KWARG_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(KWARG_CASES)]
)
def test_arguments_match_keras(name, kwargs):
    x = _inputs("float32")
    expected = _keras(getattr(keras.activations, name), x, **kwargs)
    got = getattr(activations, name)(torch.from_numpy(x), **kwargs).numpy()
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", NEW + ["relu", "mish", "softmax"])
def test_gradients_match_keras(name):
    x = _inputs("float32")[:30]  # finite, moderate values
    x = x[np.abs(x).max(axis=1) < 50]
    ours_x = torch.tensor(x, requires_grad=True)
    theirs_x = torch.tensor(x, requires_grad=True)
    weights = torch.from_numpy(np.random.default_rng(1).normal(size=x.shape).astype("float32"))
    (getattr(activations, name)(ours_x, *_args(name)) * weights[:, : _width(name)]).sum().backward()
    theirs = getattr(keras.activations, name)(theirs_x, *_args(name))
    (theirs * weights[:, : _width(name)]).sum().backward()
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=1e-5, atol=1e-6)


def _width(name):
    return 4 if name == "glu" else 8


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_serialized_with_keras_names(name):
    ours = activations.serialize(activations.get(name))
    theirs = keras.activations.serialize(keras.activations.get(name))
    assert ours == theirs
    assert activations.get(ours) is activations.get(name)
    assert activations.deserialize(ours) is activations.get(name)


def test_hard_swish_is_saved_as_hard_silu_like_keras():
    assert keras.activations.serialize(keras.activations.hard_swish) == "hard_silu"
    dense = layers.Dense(3, activation="hard_swish")
    assert dense.get_config()["activation"] == "hard_silu"
    assert keras.layers.Dense(3, activation="hard_swish").get_config()["activation"] == "hard_silu"


def test_get_accepts_keras_function_configs():
    config = {"module": "keras.activations", "class_name": "function", "config": "celu",
              "registered_name": "celu"}  # fmt: skip
    assert activations.get(config) is activations.celu
    assert keras.activations.get(config) is keras.activations.celu
    with pytest.raises(ValueError, match="nope"):
        activations.get("nope")
    with pytest.raises(ValueError):
        activations.get({"class_name": "Dense", "config": {}})


# --------------------------------------------------------------------- non-tensor inputs
ARRAY_INPUTS = [
    ("float64-array", lambda: np.array([-2.0, -0.5, 0.0, 0.5, 2.0])),
    ("float32-array", lambda: np.array([-2.0, -0.5, 0.0, 0.5, 2.0], "float32")),
    ("list-of-floats", lambda: [-2.0, -0.5, 0.0, 0.5, 2.0]),
    ("float", lambda: 1.5),
    ("readonly-array", lambda: np.frombuffer(np.arange(4, dtype="float32").tobytes(), "float32")),
]


# Keras's softmax family reads `.shape`, so it takes arrays only; glu needs an even axis.
ARRAY_CASES = [
    (name, kind, make)
    for name in KERAS_NAMES
    if name not in ("glu", "linear")
    for kind, make in ARRAY_INPUTS
    if not (name in ("softmax", "log_softmax", "sparsemax") and kind in ("list-of-floats", "float"))
]


@pytest.mark.parametrize(
    "name,kind,make", ARRAY_CASES, ids=[f"{name}-{kind}" for name, kind, _ in ARRAY_CASES]
)
def test_numpy_and_python_inputs_give_tensors_as_keras(name, kind, make):
    expected = getattr(keras.activations, name)(make(), *_args(name))
    got = getattr(activations, name)(make(), *_args(name))
    assert isinstance(got, torch.Tensor)
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got.numpy(), keras.ops.convert_to_numpy(expected), rtol=RTOL)


def test_relu_of_a_numpy_array_and_integer_inputs():
    x = np.array([-1.0, 0.0, 2.0])
    out = activations.relu(x)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    np.testing.assert_array_equal(out.numpy(), [0.0, 0.0, 2.0])
    # Integer arrays: relu keeps integers (as Keras), the others compute in float32.
    ints = np.array([-1, 2])
    assert activations.relu(ints).dtype == keras.activations.relu(ints).dtype == torch.int64
    assert activations.sigmoid(ints).dtype == keras.activations.sigmoid(ints).dtype
    assert activations.hard_silu(ints).dtype == torch.float32
    glu = activations.glu(np.array([[1.0, 2.0]]))
    np.testing.assert_allclose(glu.numpy(), [[1.0 / (1.0 + np.exp(-2.0))]], rtol=RTOL)
    assert activations.linear(x) is x


# --------------------------------------------------------------------- in layers and files
X2 = np.random.default_rng(2).normal(size=(4, 6)).astype("float32") * 2
X4 = np.random.default_rng(3).normal(size=(3, 4, 5, 6)).astype("float32") * 2
LAYER_NAMES = [n for n in KERAS_NAMES if n != "threshold"]


@pytest.mark.parametrize("x", [X2, X4], ids=["rank2", "rank4"])
@pytest.mark.parametrize("name", LAYER_NAMES)
def test_activation_layer_matches_keras(name, x):
    # Axis-wise activations (softmax, glu, sparsemax ...) act on the channels, as in Keras.
    expected = keras.ops.convert_to_numpy(keras.layers.Activation(name)(x))
    got = layers.Activation(name)(x).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    assert (
        layers.Activation(name).get_config()["activation"]
        == (keras.layers.Activation(name).get_config()["activation"])
    )


@pytest.mark.parametrize("name", [n for n in LAYER_NAMES if n != "glu"])
def test_dense_activation_matches_keras(name):
    theirs = keras.layers.Dense(4, activation=name)
    expected = keras.ops.convert_to_numpy(theirs(X4))
    ours = layers.Dense(4, activation=name)
    ours(X4[:1])
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(X4).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["gelu", "log_sigmoid", "softmax", "log_softmax", "sparsemax"])
def test_feature_maps_stay_channels_last_and_match_keras(name):
    # Inside a model a feature map is a channels_last engine tensor (N, C, H, W); the result
    # keeps that memory format and Keras's values on the contiguous NHWC array.
    x = torch.from_numpy(X4)
    engine = x.movedim(-1, 1)
    kwargs = {"axis": 1} if name in activations.AXIS_ACTIVATIONS else {}
    out = getattr(activations, name)(engine, **kwargs)
    assert out.is_contiguous(memory_format=torch.channels_last)
    expected = _keras(getattr(keras.activations, name), X4)
    np.testing.assert_allclose(out.movedim(1, -1).numpy(), expected, rtol=RTOL, atol=ATOL)


def _model(lib):
    L = lib.layers
    inputs = lib.Input((6,))
    x = L.Dense(8, activation="hard_swish")(inputs)
    x = L.Dense(8, activation="celu")(x)
    x = L.Activation("squareplus")(x)
    x = L.Dense(8, activation="log_sigmoid")(x)
    x = L.Activation("tanh_shrink")(x)
    x = L.Dense(8, activation="soft_shrink")(x)
    x = L.Activation("hard_shrink")(x)
    x = L.Dense(8, activation="hard_tanh")(x)
    x = L.Activation("sparse_plus")(x)
    x = L.Dense(8, activation="sparse_sigmoid")(x)
    x = L.Dense(4, activation="sparsemax")(x)
    return lib.Model(inputs, x)


def test_keras_written_file_with_new_activations_loads(tmp_path):
    theirs = _model(keras)
    theirs.save(tmp_path / "keras.keras")
    ours = saving.load_model(tmp_path / "keras.keras")
    x = np.random.default_rng(4).normal(size=(10, 6)).astype("float32")
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    assert [getattr(layer, "activation", None) for layer in ours.layers][1] is (
        activations.hard_silu
    )
    ours.save(tmp_path / "ours.keras")
    again = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(
        again.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_docstring_examples_run():
    import doctest

    result = doctest.testmod(activations)
    assert result.failed == 0 and result.attempted > 0
