"""Pooling layers: parity with Keras, "same" padding semantics, errors and configs."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import torch
from parity_grid import (
    ATOL,
    Case,
    check_parity,
    global_pooling_cases,
    has_uneven_same_padding,
    max_abs_diff,
    numpy_average_pool_same,
    pooling_cases,
    to_numpy,
)

from convolve.layers import pooling
from convolve.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling2D,
    GlobalMaxPooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)

# Keras 3.15.1 converts its tensors with a NumPy 1 idiom that NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

POOLING_GRID = list(pooling_cases())


def _tuple(value, rank):
    return (value,) * rank if isinstance(value, int) else tuple(value)


def _average_same_reference(case: Case):
    rank = len(case.input_shape) - 2
    pool = _tuple(case.kwargs["pool_size"], rank)
    strides = _tuple(case.kwargs["strides"] or pool, rank)
    return lambda x: numpy_average_pool_same(x, pool, strides)


@pytest.mark.parity
@pytest.mark.parametrize("case", POOLING_GRID, ids=lambda c: c.id)
def test_pooling_parity(case: Case) -> None:
    average_same = case.layer.startswith("Average") and case.kwargs["padding"] == "same"
    if not average_same:
        check_parity(case)
        return
    # Keras 3.15.1's torch backend pads uneven "same" windows by repeating edge values and
    # counts them in the average, unlike its TensorFlow and JAX backends (and its docs);
    # there the values are compared with the NumPy reference of the documented behaviour.
    check_parity(
        case,
        reference=_average_same_reference(case),
        compare_keras_values=not has_uneven_same_padding(case),
    )


def test_grid_exercises_uneven_and_even_same_padding() -> None:
    same = [c for c in POOLING_GRID if c.kwargs["padding"] == "same"]
    uneven = [c for c in same if has_uneven_same_padding(c)]
    assert 0 < len(uneven) < len(same)
    assert {len(c.input_shape) - 2 for c in uneven} == {1, 2, 3}


@pytest.mark.parity
def test_numpy_reference_is_what_keras_computes_for_even_padding() -> None:
    # Guards the reference: where Keras pads evenly its averages are the documented ones.
    x = np.random.default_rng(3).standard_normal((2, 9, 8, 3)).astype(np.float32)
    keras_out = keras.layers.AveragePooling2D(3, strides=1, padding="same")(x)
    reference = numpy_average_pool_same(x, (3, 3), (1, 1))
    assert max_abs_diff(to_numpy(keras_out), reference) <= ATOL


def test_uneven_same_average_excludes_padding() -> None:
    x = torch.tensor([10.0, 20.0]).reshape(1, 2, 1)
    # pool 3, stride 2 on length 2: one pixel of padding, after the input.
    y = AveragePooling1D(3, strides=2, padding="same")(x)
    assert y.flatten().tolist() == [15.0]
    x2 = torch.arange(16.0).reshape(1, 4, 4, 1)
    y2 = AveragePooling2D(4, strides=1, padding="same")(x2)
    # Top-left window covers rows 0-2 and columns 0-2 (one pad before, two after).
    assert y2[0, 0, 0, 0].item() == pytest.approx(x2[0, :3, :3, 0].mean().item())


def test_same_max_pool_never_picks_padding() -> None:
    x = -torch.ones(1, 3, 3, 2) * 5.0
    y = MaxPooling2D(2, padding="same")(x)
    assert y.shape == (1, 2, 2, 2)
    assert (y == -5.0).all()
    y3 = MaxPooling3D(3, strides=2, padding="same")(-torch.ones(1, 4, 4, 4, 1))
    assert (y3 == -1.0).all()


@pytest.mark.parity
@pytest.mark.parametrize("case", list(global_pooling_cases()), ids=lambda c: c.id)
def test_global_pooling_parity(case: Case) -> None:
    check_parity(case)


def test_pooling_gradients_flow() -> None:
    x = torch.randn(2, 5, 5, 3, requires_grad=True)
    AveragePooling2D(2, padding="same")(x).sum().backward()
    # Every input position lies in exactly one window (stride = pool): gradient 1/count.
    assert torch.all(x.grad > 0)


def test_defaults_and_config_round_trip() -> None:
    layer = MaxPooling2D()
    assert (layer.pool_size, layer.strides, layer.padding) == ((2, 2), (2, 2), "valid")
    layer = AveragePooling1D(pool_size=3, strides=1, padding="SAME", name="avg")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["pool_size"] == [3] and config["strides"] == [1] and config["padding"] == "same"
    assert AveragePooling1D.from_config(config).get_config() == layer.get_config()
    glob = GlobalAveragePooling2D(keepdims=True)
    config = glob.get_config()
    assert config["keepdims"] is True and config["data_format"] == "channels_last"
    assert GlobalAveragePooling2D.from_config(config).keepdims


def test_global_pooling_shapes() -> None:
    x = torch.randn(2, 4, 5, 6, 3)
    assert GlobalMaxPooling3D()(x).shape == (2, 3)
    assert GlobalMaxPooling3D(keepdims=True)(x).shape == (2, 1, 1, 1, 3)
    torch.testing.assert_close(GlobalMaxPooling3D()(x), x.amax(dim=(1, 2, 3)))


def test_aliases() -> None:
    for rank in (1, 2, 3):
        assert getattr(pooling, f"MaxPool{rank}D") is getattr(pooling, f"MaxPooling{rank}D")
        assert getattr(pooling, f"AvgPool{rank}D") is getattr(pooling, f"AveragePooling{rank}D")
        assert getattr(pooling, f"GlobalMaxPool{rank}D") is getattr(
            pooling, f"GlobalMaxPooling{rank}D"
        )
        assert getattr(pooling, f"GlobalAvgPool{rank}D") is getattr(
            pooling, f"GlobalAveragePooling{rank}D"
        )


# --------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(pool_size=0), "pool_size must be an integer or a tuple of 2 integers"),
        (dict(pool_size=(2, 2, 2)), "pool_size=(2, 2, 2)"),
        (dict(strides=0), "strides=0"),
        (dict(strides=-1), "strides=-1"),
        (dict(padding="causal"), "padding='causal'"),
        (dict(data_format="channels_first"), "channels_first"),
    ],
)
def test_constructor_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match="^MaxPooling2D: ") as info:
        MaxPooling2D(**kwargs)
    assert message in str(info.value)


def test_global_pooling_constructor_errors() -> None:
    with pytest.raises(ValueError, match="GlobalAveragePooling2D: keepdims must be True or False"):
        GlobalAveragePooling2D(keepdims="yes")


def test_pool_larger_than_valid_input_names_the_layer() -> None:
    with pytest.raises(ValueError) as info:
        MaxPooling1D(5, name="wide_pool")(torch.zeros(1, 3, 2))
    text = str(info.value)
    assert "Layer 'wide_pool' (MaxPooling1D)" in text and "pool_size=(5,)" in text
    assert "(None, 3, 2)" in text
    assert MaxPooling1D(5, padding="same")(torch.zeros(1, 3, 2)).shape == (1, 1, 2)


def test_wrong_input_rank_names_the_layer() -> None:
    with pytest.raises(ValueError, match="'pool' \\(MaxPooling2D\\).*expected rank 4"):
        MaxPooling2D(name="pool")(torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match="'gap' \\(GlobalAveragePooling2D\\).*expected rank 4"):
        GlobalAveragePooling2D(name="gap")(torch.zeros(1, 4, 4, 4, 1))
