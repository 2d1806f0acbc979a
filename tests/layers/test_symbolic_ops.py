"""Operators and `ops` functions on symbolic tensors, against Keras 3.15.1 (torch backend).

`x + shortcut`, `x * 0.5 + 1`, `x[..., 0]` and `ops.mean(x, axis=-1)` in a functional model
definition build weightless operation nodes in both libraries. Each test builds the same
graph in both, copies Keras's weights into convolve's model, and compares symbolic shapes and
dtypes exactly, the summary text exactly (names reset in both libraries first), and
predictions and training (loss history and weights after `fit`) within rtol = 1e-5.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve.layers.naming import reset_names

RTOL, ATOL = 1e-5, 1e-6

pytestmark = [
    pytest.mark.parity,
    # Keras 3.15.1 converts its tensors with a NumPy 1 idiom that NumPy 2 warns about.
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]


def _both(build: Callable[[Any], Any]) -> tuple[Any, Any]:
    """`build(lib)` for convolve and Keras, each numbering unnamed nodes from scratch."""
    reset_names()
    ours = build(convolve)
    keras.backend.clear_session()
    theirs = build(keras)
    return ours, theirs


def _summary(model: Any) -> str:
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


def _copy_weights_and_compare(ours: Any, theirs: Any, x: np.ndarray) -> None:
    rng = np.random.default_rng(5)
    theirs.set_weights(
        [rng.normal(0, 0.3, w.shape).astype("float32") for w in theirs.get_weights()]
    )
    ours.set_weights(theirs.get_weights())
    expected = theirs.predict(x, verbose=0)
    got = ours.predict(x, verbose=0)
    for a, b in zip(_as_list(got), _as_list(expected), strict=True):
        b = keras.ops.convert_to_numpy(b)
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _images(shape: tuple[int, ...] = (4, 8, 8, 3), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


# --------------------------------------------------------------------- residual block
def residual_block(lib: Any) -> Any:
    """A ResNet basic block written as tutorials write it: `x = x + shortcut`."""
    L = lib.layers
    inputs = lib.Input((8, 8, 3), name="image")
    x = L.Conv2D(8, 3, padding="same", name="stem")(inputs)
    shortcut = x
    x = L.Conv2D(8, 3, padding="same", use_bias=False, name="conv_a")(x)  # BN follows
    x = L.BatchNormalization(name="bn_a")(x)
    x = L.ReLU(name="relu_a")(x)
    x = L.Conv2D(8, 3, padding="same", name="conv_b")(x)
    x = x + shortcut
    x = lib.ops.relu(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Dense(5, activation="softmax", name="head")(x)
    return lib.Model(inputs, outputs, name="resblock")


def test_residual_block_summary_matches_keras() -> None:
    ours, theirs = _both(residual_block)
    text = _summary(theirs)
    assert "add (Add)" in text and "relu (Relu)" in text and "conv_b[0][0]," in text
    assert _summary(ours) == text
    assert ours.count_params() == theirs.count_params()


def test_residual_block_predicts_as_keras() -> None:
    ours, theirs = _both(residual_block)
    _copy_weights_and_compare(ours, theirs, _images())


def test_residual_block_trains_as_keras() -> None:
    ours, theirs = _both(residual_block)
    ours.set_weights(theirs.get_weights())
    before = [w.copy() for w in ours.get_weights()]
    x = _images((16, 8, 8, 3), seed=1)
    y = np.eye(5, dtype="float32")[np.random.default_rng(2).integers(0, 5, 16)]
    histories = []
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        histories.append(model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=RTOL)
    after = ours.get_weights()
    for a, b in zip(after, theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    # The stem's kernel reaches the head only through `x + shortcut` and `ops.relu`.
    assert not np.allclose(after[0], before[0])


def test_gradients_flow_through_operation_nodes() -> None:
    reset_names()
    model = residual_block(convolve)
    loss = model(torch.from_numpy(_images())).square().sum()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and bool(g.abs().sum() > 0) for g in grads)


# --------------------------------------------------------------------- arithmetic
def arithmetic(lib: Any) -> Any:
    inputs = lib.Input((6,), name="x")
    h = lib.layers.Dense(6, name="dense")(inputs)
    outputs = [
        h * 0.5 + 1,
        2 - h,
        -h,
        h**2,
        2.0**h,
        1 / (1 + h**2),
        abs(h) // 0.25,
        h % 0.5,
        h @ np.linspace(-1, 1, 18, dtype="float32").reshape(6, 3),
        h > 0.1,
        (h > 0) & (h < 0.5),
        h != h * 2,
        ~(h <= 0),
        round(h),
    ]
    return lib.Model(inputs, outputs, name="arith")


def test_operators_match_keras() -> None:
    ours, theirs = _both(arithmetic)
    assert [(t.shape, t.dtype) for t in ours.outputs] == [
        (t.shape, t.dtype) for t in theirs.outputs
    ]
    assert _summary(ours) == _summary(theirs)
    _copy_weights_and_compare(ours, theirs, _images((5, 6)))


def test_numbers_and_arrays_on_the_left() -> None:
    inputs = convolve.Input((3,))
    out = torch.tensor([-1.0, -1.0, -1.0]) + np.array([1.0, 2.0, 3.0], "float32") * inputs
    model = convolve.Model(inputs, out)
    x = _images((2, 3))
    np.testing.assert_allclose(model.predict(x, verbose=0), x * [1, 2, 3] - 1, rtol=RTOL)
    graph = model._layer_list  # operation nodes, which `layers` leaves out as Keras does
    assert [type(layer).__name__ for layer in graph[1:]] == ["Multiply", "Add"]
    assert [layer.name for layer in model.layers] == [graph[0].name]


# --------------------------------------------------------------------- feature maps
def feature_map_ops(lib: Any) -> Any:
    """Operations on a conv feature map: axes mean what they mean in Keras (channels last)."""
    ops = lib.ops
    inputs = lib.Input((8, 6, 3), name="image")
    f = lib.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    outputs = [
        ops.mean(f, axis=-1),  # over channels
        ops.max(f, axis=(1, 2)),  # over space
        ops.sum(f, axis=-1, keepdims=True),
        f[:, 1:3],
        f[..., 0],
        f[:, ::2, :, 1:],
        f[..., None],
        f[:, -1],
        ops.concatenate([f, inputs], axis=-1),
        ops.reshape(ops.relu(f), (-1, 8 * 6 * 4)),
        ops.expand_dims(ops.mean(f, axis=-1), -1),
        ops.sigmoid(f) * ops.sqrt(ops.abs(f)),
        ops.maximum(f, 0.1),
        ops.transpose(f, (0, 3, 1, 2)),
        ops.softmax(f, axis=-1),
        ops.stack([f[..., 0], f[..., 1]], axis=-1),
        ops.where(f > 0, f, 0.1 * f),
        f * np.array([1.0, -1.0, 0.5, 2.0], "float32"),  # broadcasting a constant array
        f + np.arange(6, dtype="float32").reshape(1, 6, 1),
    ]
    return lib.Model(inputs, outputs, name="fmap")


def test_feature_map_ops_match_keras() -> None:
    ours, theirs = _both(feature_map_ops)
    assert [(t.shape, t.dtype) for t in ours.outputs] == [
        (t.shape, t.dtype) for t in theirs.outputs
    ]
    assert _summary(ours) == _summary(theirs)
    _copy_weights_and_compare(ours, theirs, _images((3, 8, 6, 3)))


def test_mean_over_channels_of_a_conv_feature_map() -> None:
    def build(lib: Any) -> Any:
        inputs = lib.Input((10, 10, 3), name="image")
        f = lib.layers.Conv2D(16, 3, name="conv")(inputs)
        f = lib.layers.MaxPooling2D(name="pool")(f)
        attention = lib.ops.mean(f, axis=-1, keepdims=True)
        gated = f * lib.ops.sigmoid(attention)
        out = lib.layers.Dense(2, name="head")(lib.layers.Flatten(name="flat")(gated))
        return lib.Model(inputs, [attention, out], name="attn")

    ours, theirs = _both(build)
    assert ours.outputs[0].shape == theirs.outputs[0].shape == (None, 4, 4, 1)
    assert _summary(ours) == _summary(theirs)
    _copy_weights_and_compare(ours, theirs, _images((4, 10, 10, 3)))


def test_multiple_outputs_of_one_operation() -> None:
    def build(lib: Any) -> Any:
        inputs = lib.Input((4, 4, 6), name="image")
        f = lib.layers.Conv2D(6, 1, name="conv")(inputs)
        a, b, c = lib.ops.split(f, 3, axis=-1)
        mean, variance = lib.ops.moments(f, axes=[1, 2])
        return lib.Model(inputs, [a + b * c, mean, variance], name="multi")

    ours, theirs = _both(build)
    assert [t.shape for t in ours.outputs] == [t.shape for t in theirs.outputs]
    assert _summary(ours) == _summary(theirs)
    _copy_weights_and_compare(ours, theirs, _images((2, 4, 4, 6)))


# --------------------------------------------------------------------- unknown dimensions
SHAPE_CASES: dict[str, Callable[[Any, Any, Any, Any], Any]] = {
    "slice_unknown": lambda ops, a, b, v: a[:, 1:3],
    "slice_open": lambda ops, a, b, v: a[:, 1:],
    "index_unknown": lambda ops, a, b, v: a[:, 1],
    "index_last": lambda ops, a, b, v: a[..., 0],
    "new_axis": lambda ops, a, b, v: a[..., None],
    "index_batch": lambda ops, a, b, v: a[0],
    "slice_known": lambda ops, a, b, v: b[:, 2:4, ::2],
    "mean_channels": lambda ops, a, b, v: ops.mean(a, axis=-1),
    "mean_space": lambda ops, a, b, v: ops.mean(a, axis=(1, 2)),
    "sum_keepdims": lambda ops, a, b, v: ops.sum(a, axis=(1, 2), keepdims=True),
    "reshape_known": lambda ops, a, b, v: ops.reshape(b, (-1, 20)),
    "reshape_unknown": lambda ops, a, b, v: ops.reshape(a, (-1, 3)),
    "concat_channels": lambda ops, a, b, v: ops.concatenate([a, a], axis=-1),
    "broadcast_array": lambda ops, a, b, v: v + np.ones((3, 4), "float32"),
    "broadcast_row": lambda ops, a, b, v: a * np.ones((1, 1, 3), "float32"),
    "broadcast_to": lambda ops, a, b, v: ops.broadcast_to(v, (3, 4)),
    "matmul": lambda ops, a, b, v: v @ np.ones((4, 5), "float32"),
    "compare": lambda ops, a, b, v: a > 0,
    "argmax": lambda ops, a, b, v: ops.argmax(a, axis=-1),
    "cast": lambda ops, a, b, v: ops.cast(v, "int32") + 1,
    "int_divide": lambda ops, a, b, v: ops.cast(v, "int32") / 2,
    "transpose": lambda ops, a, b, v: ops.transpose(a, (0, 3, 1, 2)),
    "expand_dims": lambda ops, a, b, v: ops.expand_dims(v, 1),
    "one_hot": lambda ops, a, b, v: ops.one_hot(ops.cast(v, "int32"), 5),
    "sum_all": lambda ops, a, b, v: ops.sum(a),
    "squeeze_method": lambda ops, a, b, v: ops.expand_dims(v, 1).squeeze(1),
}


@pytest.mark.parametrize("case", sorted(SHAPE_CASES))
def test_output_shape_and_dtype_match_keras(case: str) -> None:
    results = []
    for lib in (convolve, keras):
        a, b, v = lib.Input((None, None, 3)), lib.Input((5, 4)), lib.Input((4,))
        out = SHAPE_CASES[case](lib.ops, a, b, v)
        results.append((out.shape, out.dtype))
    assert results[0] == results[1]


def test_unknown_spatial_dimensions_run_on_any_size() -> None:
    def build(lib: Any) -> Any:
        inputs = lib.Input((None, None, 3), name="image")
        f = lib.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
        pooled = lib.ops.mean(f[:, 1:, :-1] * 2.0, axis=(1, 2))
        return lib.Model(inputs, lib.layers.Dense(2, name="head")(pooled), name="anysize")

    ours, theirs = _both(build)
    assert ours.outputs[0].shape == theirs.outputs[0].shape == (None, 2)
    for shape in ((2, 7, 9, 3), (3, 12, 5, 3)):
        _copy_weights_and_compare(ours, theirs, _images(shape))


# --------------------------------------------------------------------- errors and limits
def test_incompatible_shapes_name_the_operation() -> None:
    a, v = convolve.Input((None, None, 3)), convolve.Input((4,))
    with pytest.raises(ValueError, match=r"`add` cannot be applied .*\(None, None, None, 3\)"):
        _ = a + v
    with pytest.raises(ValueError, match="`reshape`"):
        convolve.ops.reshape(v, (5, 5))


def test_symbolic_tensors_have_no_values() -> None:
    v = convolve.Input((4,))
    with pytest.raises(TypeError, match="boolean"):
        bool(v > 0)
    with pytest.raises(NotImplementedError, match="Iterating"):
        list(v)
    with pytest.raises(ValueError, match="symbolic"):
        np.asarray(v)
    with pytest.raises(ValueError, match="symbolic"):
        convolve.ops.convert_to_numpy(v)
    assert convolve.ops.shape(v) == keras.ops.shape(keras.Input((4,))) == (None, 4)
    assert convolve.ops.ndim(v) == 2 and convolve.ops.dtype(v) == "float32"
    assert v == v and len({v, v}) == 1  # identity, as in Keras: graphs key tensors by it


def test_operation_nodes_are_weightless_layers_that_eager_ops_ignore() -> None:
    inputs = convolve.Input((3,))
    model = convolve.Model(inputs, convolve.ops.mean(inputs * 2.0, axis=-1))
    nodes = [layer for layer in model._layer_list if getattr(layer, "is_operation", False)]
    assert [type(n).__name__ for n in nodes] == ["Multiply", "Mean"]
    assert all(n.count_params() == 0 and not n.weights for n in nodes)
    # The same functions on real tensors compute at once, as before.
    assert convolve.ops.mean(torch.tensor([[1.0, 3.0]]), axis=-1).tolist() == [2.0]


def test_saving_names_the_operation(tmp_path: Any) -> None:
    inputs = convolve.Input((8, 8, 3))
    x = convolve.layers.Conv2D(4, 3, padding="same")(inputs)
    # `x + x` saves as Keras writes it (tests/saving/test_op_nodes.py); `cbrt` has no entry.
    x = convolve.layers.GlobalAveragePooling2D()(convolve.ops.cbrt(x))
    model = convolve.Model(inputs, x)
    path = tmp_path / "model.keras"
    with pytest.raises(NotImplementedError, match=r"'cbrt(_\d+)?' \(Cbrt\) .*`cbrt`"):
        model.save(path)
    assert not path.exists()
    # Weights alone still save and load (the nodes have none).
    weights = tmp_path / "model.weights.h5"
    model.save_weights(weights)
    expected = model.get_weights()
    model.set_weights([np.zeros_like(w) for w in expected])
    model.load_weights(weights)
    for a, b in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_models_with_operation_nodes_copy_and_pickle() -> None:
    import copy
    import io

    inputs = convolve.Input((4, 4, 3))
    f = convolve.layers.Conv2D(2, 1)(inputs)
    model = convolve.Model(inputs, convolve.ops.mean(f * np.array([1.0, 2.0], "float32"), -1))
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    x = _images((2, 4, 4, 3))
    expected = model.predict(x, verbose=0)
    for clone in (copy.deepcopy(model), torch.load(buffer, weights_only=False)):
        np.testing.assert_array_equal(clone.predict(x, verbose=0), expected)
    assert "constant_0" not in str(list(model.state_dict()))  # constants are not weights
