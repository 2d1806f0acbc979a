"""Merging layers: parity with Keras (broadcasting, ranks, axes), functional forms, errors."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import torch
from parity_grid import ATOL, max_abs_diff, random_array, to_numpy

import convolve
from convolve.layers import merging

# Keras 3.15.1 converts its tensors with a NumPy 1 idiom that NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

ELEMENTWISE = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]
# Lists of input shapes (batch included): equal shapes of every rank, size-1 axes that
# broadcast, lower-rank inputs that Keras expands after the batch axis, three inputs.
SHAPES = [
    [(3, 5), (3, 5)],
    [(2, 7, 4), (2, 7, 4)],
    [(2, 5, 4, 3), (2, 5, 4, 3)],
    [(2, 3, 4, 2, 3), (2, 3, 4, 2, 3)],
    [(2, 1, 1, 3), (2, 5, 4, 3)],
    [(2, 5, 4, 1), (2, 5, 4, 3)],
    [(2, 5, 1, 3), (2, 1, 4, 3)],
    [(2, 3), (2, 5, 4, 3)],
    [(2, 5, 4, 3), (2, 4, 3)],
    [(2, 4, 1), (2, 6, 4, 3)],
    [(2, 5, 4, 3), (2, 5, 4, 3), (2, 1, 1, 3)],
]
ELEMENTWISE_CASES = [
    (name, shapes)
    for name in ELEMENTWISE
    for shapes in SHAPES
    if name != "Subtract" or len(shapes) == 2
]
CONCAT_CASES = [
    (-1, [(3, 5), (3, 2)]),
    (1, [(3, 5), (3, 2), (3, 1)]),
    (-1, [(2, 5, 4, 3), (2, 5, 4, 2)]),
    (1, [(2, 5, 4, 3), (2, 2, 4, 3)]),
    (2, [(2, 5, 4, 3), (2, 5, 1, 3)]),
    (-2, [(2, 5, 4, 3), (2, 5, 6, 3)]),
    (-3, [(2, 5, 4, 3), (2, 1, 4, 3)]),
    (3, [(2, 5, 4, 3), (2, 5, 4, 1), (2, 5, 4, 2)]),
    (-1, [(2, 7, 3), (2, 7, 5)]),
    (1, [(2, 7, 3), (2, 2, 3)]),
    (4, [(2, 3, 4, 2, 3), (2, 3, 4, 2, 1)]),
    (2, [(2, 3, 4, 2, 3), (2, 3, 1, 2, 3)]),
]


def _case_id(value) -> str:
    return str(value).replace(" ", "")


def _check(keras_layer: keras.layers.Layer, ours: merging.Merge, shapes: list[tuple]) -> None:
    """Outputs (eager and inside a functional model) and output shapes against Keras."""
    arrays = [random_array(s, i) for i, s in enumerate(shapes)]
    expected = to_numpy(keras_layer(arrays))
    got = to_numpy(ours([torch.from_numpy(a) for a in arrays]))
    assert got.shape == expected.shape
    assert max_abs_diff(got, expected) <= ATOL
    symbolic = [(None, *s[1:]) for s in shapes]
    assert ours.compute_output_shape(symbolic) == tuple(keras_layer.compute_output_shape(symbolic))
    assert ours.count_params() == keras_layer.count_params() == 0
    # Inside a model the layer runs on engine-layout tensors.
    inputs = [convolve.Input(s[1:]) for s in shapes]
    model = convolve.Model(inputs, type(ours)(**_kwargs(ours))(inputs))
    assert model.output_shape == tuple(keras_layer.compute_output_shape(symbolic))
    got = model.predict(arrays, verbose=0)
    assert max_abs_diff(got, expected) <= ATOL


def _kwargs(layer: merging.Merge) -> dict:
    return {"axis": layer.axis} if isinstance(layer, merging.Concatenate) else {}


@pytest.mark.parity
@pytest.mark.parametrize(("name", "shapes"), ELEMENTWISE_CASES, ids=_case_id)
def test_elementwise_parity(name: str, shapes: list[tuple]) -> None:
    _check(getattr(keras.layers, name)(), getattr(merging, name)(), shapes)


@pytest.mark.parity
@pytest.mark.parametrize(("axis", "shapes"), CONCAT_CASES, ids=_case_id)
def test_concatenate_parity(axis: int, shapes: list[tuple]) -> None:
    _check(keras.layers.Concatenate(axis=axis), merging.Concatenate(axis=axis), shapes)


@pytest.mark.parity
@pytest.mark.parametrize(
    "shapes",
    [
        [(None, None, None, 3), (None, 5, None, 3)],
        [(None, 3), (None, None, None, 3)],
        [(4, 1, 3), (None, 5, 3)],
    ],
    ids=_case_id,
)
def test_output_shapes_with_unknown_sizes(shapes: list[tuple]) -> None:
    for name in ELEMENTWISE:
        assert getattr(merging, name)().compute_output_shape(shapes) == tuple(
            getattr(keras.layers, name)().compute_output_shape(shapes)
        )


@pytest.mark.parity
def test_concatenate_output_shapes_with_unknown_sizes() -> None:
    for axis, shapes in [
        (-1, [(None, None, 4, 3), (None, 5, 4, 2)]),
        (1, [(None, None, 3), (None, 2, 3)]),
        (-1, [(None, 2, 3), (None, 2, None)]),
    ]:
        expected = tuple(keras.layers.Concatenate(axis=axis).compute_output_shape(shapes))
        assert merging.Concatenate(axis=axis).compute_output_shape(shapes) == expected


def test_values_against_numpy() -> None:
    a, b, c = (random_array((2, 3, 4, 5), i) for i in range(3))
    tensors = [torch.from_numpy(v) for v in (a, b, c)]
    references = {
        "Add": a + b + c,
        "Multiply": a * b * c,
        "Average": (a + b + c) / 3,
        "Maximum": np.maximum(np.maximum(a, b), c),
        "Minimum": np.minimum(np.minimum(a, b), c),
    }
    for name, reference in references.items():
        got = to_numpy(getattr(merging, name)()(tensors))
        assert max_abs_diff(got, reference) <= ATOL, name
    got = to_numpy(merging.Subtract()(tensors[:2]))
    assert max_abs_diff(got, a - b) <= ATOL
    got = to_numpy(merging.Concatenate(axis=2)(tensors))
    np.testing.assert_array_equal(got, np.concatenate([a, b, c], axis=2))


def test_functional_forms() -> None:
    x = [convolve.Input((4, 4, 3), name=f"in_{i}") for i in range(2)]
    for fn, cls in [
        (merging.add, merging.Add),
        (merging.subtract, merging.Subtract),
        (merging.multiply, merging.Multiply),
        (merging.average, merging.Average),
        (merging.maximum, merging.Maximum),
        (merging.minimum, merging.Minimum),
    ]:
        y = fn(x, name=f"{cls.__name__.lower()}_fn")
        assert y.shape == (None, 4, 4, 3)
        layer = y._keras_history.layer
        assert type(layer) is cls and layer.name == f"{cls.__name__.lower()}_fn"
    y = merging.concatenate(x, axis=1)
    assert y.shape == (None, 8, 4, 3)
    assert y._keras_history.layer.axis == 1
    eager = merging.add([torch.ones(2, 3), torch.ones(2, 3)])
    assert eager.tolist() == [[2.0] * 3] * 2


def test_gradients_flow_to_every_input() -> None:
    a = torch.randn(2, 3, 3, 4, requires_grad=True)
    b = torch.randn(2, 4, requires_grad=True)
    merging.Multiply()([a, b]).sum().backward()
    expected_b = a.detach().sum(dim=(1, 2))  # b broadcasts over height and width
    torch.testing.assert_close(b.grad, expected_b)
    torch.testing.assert_close(a.grad, b.detach()[:, None, None, :].expand(2, 3, 3, 4))


def test_configs() -> None:
    layer = merging.Concatenate(axis=2, name="cat")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["axis"] == 2 and config["name"] == "cat"
    assert merging.Concatenate.from_config(config).get_config() == layer.get_config()
    add = merging.Add(name="plus")
    assert merging.Add.from_config(add.get_config()).name == "plus"
    assert set(add.get_config()) == {"name", "trainable", "dtype"}


# --------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("make", "shapes", "message"),
    [
        (
            merging.Add,
            [(None, 5), (None, 4)],
            "'bad' (Add): inputs have incompatible shapes (None, 5), (None, 4)",
        ),
        (merging.Maximum, [(None, 4, 4, 3), (None, 4, 2, 3)], "(None, 4, 4, 3), (None, 4, 2, 3)"),
        (merging.Multiply, [(None, 5), (None, 5, 4)], "incompatible shapes"),
        (
            merging.Subtract,
            [(None, 3)] * 3,
            "'bad' (Subtract) must be called on exactly 2 inputs, received 3",
        ),
        (merging.Average, [(2, 3), (4, 3)], "different batch sizes"),
        (
            merging.Concatenate,
            [(None, 4, 4, 3), (None, 4, 5, 3)],
            "'bad' (Concatenate): the sizes of axis 2 differ (4, 5)",
        ),
        (
            merging.Concatenate,
            [(None, 4, 3), (None, 4, 4, 3)],
            "all inputs must have the same rank",
        ),
        (merging.Add, (None, 4), "must be called on a list of at least one input"),
    ],  # fmt: skip
)
def test_shape_errors_name_the_layer_and_shapes(make, shapes, message: str) -> None:
    layer = make(name="bad")
    with pytest.raises(ValueError) as info:
        layer.compute_output_shape(shapes)
    assert message in str(info.value)
    if isinstance(shapes, list):  # the same error when called on symbolic inputs
        with pytest.raises(ValueError) as info:
            make(name="bad")([convolve.Input(batch_shape=s) for s in shapes])
        assert message in str(info.value)


def test_eager_errors() -> None:
    with pytest.raises(ValueError, match="'add_eager' \\(Add\\).*incompatible shapes"):
        merging.Add(name="add_eager")([torch.zeros(2, 3), torch.zeros(2, 4)])
    with pytest.raises(ValueError, match="must be called on a list"):
        merging.Add()(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="axis=4 is out of range for inputs of rank 3"):
        merging.Concatenate(axis=4)([torch.zeros(2, 3, 1), torch.zeros(2, 3, 1)])
    with pytest.raises(ValueError, match="Concatenate: axis must be an integer"):
        merging.Concatenate(axis="last")
