"""ZeroPadding1D/2D/3D: parity with Keras, argument forms, errors and configs."""

from __future__ import annotations

import json

import pytest
import torch
from parity_grid import Case, check_parity, zero_padding_cases

from convolve.layers.reshaping import ZeroPadding1D, ZeroPadding2D, ZeroPadding3D

# Keras 3.15.1 converts its tensors with a NumPy 1 idiom that NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.mark.parity
@pytest.mark.parametrize("case", list(zero_padding_cases()), ids=lambda c: c.id)
def test_zero_padding_parity(case: Case) -> None:
    check_parity(case)


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        (ZeroPadding1D(), ((1, 1),)),
        (ZeroPadding1D((2, 0)), ((2, 0),)),
        (ZeroPadding2D(), ((1, 1), (1, 1))),
        (ZeroPadding2D((1, 2)), ((1, 1), (2, 2))),
        (ZeroPadding2D([[1, 0], [0, 3]]), ((1, 0), (0, 3))),
        (ZeroPadding3D(2), ((2, 2), (2, 2), (2, 2))),
        (ZeroPadding3D((0, (1, 2), 3)), ((0, 0), (1, 2), (3, 3))),
    ],
)
def test_padding_forms(layer, expected) -> None:
    assert layer.padding == expected


def test_values_and_placement() -> None:
    x = torch.arange(1.0, 5.0).reshape(1, 2, 2, 1)
    y = ZeroPadding2D(((1, 0), (0, 2)))(x)
    assert y.shape == (1, 3, 4, 1)
    assert y[0, :, :, 0].tolist() == [[0, 0, 0, 0], [1, 2, 0, 0], [3, 4, 0, 0]]


def test_config_round_trip() -> None:
    for layer in (ZeroPadding1D((0, 2)), ZeroPadding2D((1, 2)), ZeroPadding3D(1)):
        config = json.loads(json.dumps(layer.get_config()))
        clone = type(layer).from_config(config)
        assert clone.padding == layer.padding
        assert clone.get_config() == layer.get_config()
    assert ZeroPadding1D((0, 2)).get_config()["padding"] == (0, 2)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ZeroPadding1D(-1), "ZeroPadding1D: padding must be"),
        (lambda: ZeroPadding1D((1, 2, 3)), "padding=(1, 2, 3)"),
        (lambda: ZeroPadding2D((1, 2, 3)), "ZeroPadding2D: padding must be an int, a tuple of 2"),
        (lambda: ZeroPadding2D(((1, -1), 0)), "padding[0]=(1, -1)"),
        (lambda: ZeroPadding3D("same"), "padding='same'"),
        (lambda: ZeroPadding2D(data_format="channels_first"), "channels_first"),
    ],
)
def test_constructor_errors(make, message: str) -> None:
    with pytest.raises(ValueError) as info:
        make()
    assert message in str(info.value)


def test_wrong_input_rank_names_the_layer() -> None:
    with pytest.raises(ValueError, match="'pad' \\(ZeroPadding3D\\).*expected rank 5"):
        ZeroPadding3D(name="pad")(torch.zeros(1, 4, 4, 1))
