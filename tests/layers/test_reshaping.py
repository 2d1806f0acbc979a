"""ZeroPadding, Cropping and UpSampling in 1-3D: parity with Keras, forms, errors, configs."""

from __future__ import annotations

import json

import pytest
import torch
from parity_grid import BATCH, CHANNELS, SPATIAL, Case, check_parity, zero_padding_cases

from convolve.layers.reshaping import (
    Cropping1D,
    Cropping2D,
    Cropping3D,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
)

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


# --------------------------------------------------------------------- cropping
def cropping_cases() -> list[Case]:
    croppings = {
        1: [1, (0, 2), (3, 1), 0],
        2: [1, (1, 2), ((1, 0), (2, 3)), ((0, 0), (0, 4))],
        3: [1, (1, 2, 0), ((1, 0), (0, 2), (3, 1))],
    }
    return [
        Case(f"Cropping{rank}D", dict(cropping=c), (BATCH, *SPATIAL[rank], CHANNELS))
        for rank in (1, 2, 3)
        for c in croppings[rank]
    ]


@pytest.mark.parity
@pytest.mark.parametrize("case", cropping_cases(), ids=lambda c: c.id)
def test_cropping_parity(case: Case) -> None:
    check_parity(case)


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        (Cropping1D(), ((1, 1),)),
        (Cropping1D(2), ((2, 2),)),
        (Cropping2D(), ((0, 0), (0, 0))),
        (Cropping2D((1, 2)), ((1, 1), (2, 2))),
        (Cropping2D([[1, 0], [0, 3]]), ((1, 0), (0, 3))),
        (Cropping3D(), ((1, 1), (1, 1), (1, 1))),
        (Cropping3D((0, (1, 2), 3)), ((0, 0), (1, 2), (3, 3))),
    ],
)
def test_cropping_forms(layer, expected) -> None:
    assert layer.cropping == expected


def test_cropping_values() -> None:
    x = torch.arange(12.0).reshape(1, 3, 4, 1)
    y = Cropping2D(((1, 0), (1, 2)))(x)
    assert y[0, :, :, 0].tolist() == [[5.0], [9.0]]


def test_cropping_configs_match_keras() -> None:
    import keras

    for ours, theirs in [
        (Cropping1D((0, 2)), keras.layers.Cropping1D((0, 2))),
        (Cropping2D(((1, 0), (2, 3))), keras.layers.Cropping2D(((1, 0), (2, 3)))),
        (Cropping3D(1), keras.layers.Cropping3D(1)),
    ]:
        config = ours.get_config()
        assert config["cropping"] == theirs.get_config()["cropping"]
        assert set(config) == set(theirs.get_config())
        clone = type(ours).from_config(json.loads(json.dumps(config)))
        assert clone.get_config() == config


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Cropping1D(-1), "Cropping1D: cropping must be"),
        (lambda: Cropping2D((1, 2, 3)), "Cropping2D: cropping must be an int, a tuple of 2"),
        (lambda: Cropping3D(((1, -1), 0, 0)), "cropping[0]=(1, -1)"),
        (lambda: Cropping2D(data_format="channels_first"), "channels_first"),
    ],
)
def test_cropping_constructor_errors(make, message: str) -> None:
    with pytest.raises(ValueError) as info:
        make()
    assert message in str(info.value)


def test_cropping_larger_than_input_names_layer_and_values() -> None:
    layer = Cropping2D(((2, 2), (0, 0)), name="crop")
    with pytest.raises(ValueError) as info:
        layer.compute_output_shape((None, 4, 6, 3))
    text = str(info.value)
    assert "Layer 'crop' (Cropping2D): cropping=((2, 2), (0, 0))" in text
    assert "(4, 6)" in text and "(None, 4, 6, 3)" in text
    with pytest.raises(ValueError, match="'crop1' \\(Cropping1D\\): cropping=\\(3, 3\\)"):
        Cropping1D(3, name="crop1")(torch.zeros(1, 5, 2))
    # Built for unknown sizes, the check happens on the actual input.
    late = Cropping1D(2, name="late")
    late.build_for((None, None, 2))
    with pytest.raises(ValueError, match="'late'.*spatial sizes are \\(3,\\)"):
        late(torch.zeros(1, 3, 2))


# --------------------------------------------------------------------- upsampling
def upsampling_cases() -> list[Case]:
    cases = [Case("UpSampling1D", dict(size=s), (BATCH, *SPATIAL[1], CHANNELS)) for s in (1, 2, 3)]
    for size, interpolation in [
        (2, "nearest"), ((1, 3), "nearest"), ((3, 2), "nearest"),
        (2, "bilinear"), ((1, 3), "bilinear"), ((3, 2), "bilinear"),
        (2, "bicubic"), ((2, 1), "bicubic"), (2, "Bilinear"),
    ]:  # fmt: skip
        cases.append(
            Case(
                "UpSampling2D",
                dict(size=size, interpolation=interpolation),
                (BATCH, *SPATIAL[2], CHANNELS),
            )
        )
    for size in (2, (1, 2, 3)):
        cases.append(Case("UpSampling3D", dict(size=size), (BATCH, *SPATIAL[3], CHANNELS)))
    return cases


@pytest.mark.parity
@pytest.mark.parametrize("case", upsampling_cases(), ids=lambda c: c.id)
def test_upsampling_parity(case: Case) -> None:
    check_parity(case)


def test_nearest_upsampling_repeats_values() -> None:
    x = torch.randn(2, 3, 4, 5)
    y = UpSampling2D((3, 7))(x)
    expected = x.repeat_interleave(3, dim=1).repeat_interleave(7, dim=2)
    assert torch.equal(y, expected)
    v = torch.randn(1, 2, 3, 2, 4)
    expected = v.repeat_interleave(2, 1).repeat_interleave(5, 2).repeat_interleave(1, 3)
    assert torch.equal(UpSampling3D((2, 5, 1))(v), expected)


def test_upsampling_configs_match_keras() -> None:
    import keras

    bilinear = dict(size=(1, 2), interpolation="BILINEAR")
    for ours, theirs in [
        (UpSampling1D(3), keras.layers.UpSampling1D(3)),
        (UpSampling2D(**bilinear), keras.layers.UpSampling2D(**bilinear)),
        (UpSampling3D(2), keras.layers.UpSampling3D(2)),
    ]:
        config = ours.get_config()
        theirs_config = theirs.get_config()
        assert set(config) == set(theirs_config)
        for key in ("size", "interpolation"):
            assert config.get(key) == theirs_config.get(key)
        clone = type(ours).from_config(json.loads(json.dumps(config)))
        assert clone.get_config() == config


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: UpSampling1D(0), "UpSampling1D: size must be"),
        (lambda: UpSampling1D((2,)), "UpSampling1D: size must be an integer"),
        (lambda: UpSampling2D((2, 2, 2)), "size=(2, 2, 2)"),
        (lambda: UpSampling2D(interpolation="lanczos3"), "interpolation='lanczos3'"),
        (lambda: UpSampling3D(data_format="channels_first"), "channels_first"),
    ],
)
def test_upsampling_constructor_errors(make, message: str) -> None:
    with pytest.raises(ValueError) as info:
        make()
    assert message in str(info.value)


def test_upsampling_wrong_rank_names_the_layer() -> None:
    with pytest.raises(ValueError, match="'up' \\(UpSampling2D\\).*expected rank 4"):
        UpSampling2D(name="up")(torch.zeros(1, 4, 4))
