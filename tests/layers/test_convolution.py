"""Conv1D/2D/3D: parity with Keras, argument and shape errors, config round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from parity_grid import ATOL, Case, build_pair, check_parity, conv_cases, max_abs_diff, to_numpy

from convolve import regularizers
from convolve.layers import convolution
from convolve.layers.convolution import Conv1D, Conv2D, Conv3D

# Keras 3.15.1 converts its tensors with a NumPy 1 idiom that NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

DEFAULT_GRID = list(conv_cases(full=False))
FULL_GRID = list(conv_cases(full=True))


@pytest.mark.parity
@pytest.mark.parametrize("case", DEFAULT_GRID, ids=lambda c: c.id)
def test_conv_parity(case: Case) -> None:
    check_parity(case)


@pytest.mark.parity
@pytest.mark.slow
@pytest.mark.parametrize("case", FULL_GRID, ids=lambda c: c.id)
def test_conv_parity_full_grid(case: Case) -> None:
    check_parity(case)


def test_default_grid_covers_every_axis_of_variation() -> None:
    seen = {key: set() for key in ("groups", "use_bias", "activation", "padding")}
    for case in DEFAULT_GRID:
        for key, values in seen.items():
            values.add(case.kwargs[key])
    assert seen["groups"] == {1, 2}
    assert seen["use_bias"] == {True, False}
    assert seen["activation"] == {None, "relu", "softmax"}
    assert seen["padding"] == {"valid", "same", "causal"}
    assert {c.layer for c in DEFAULT_GRID} == {"Conv1D", "Conv2D", "Conv3D"}


@pytest.mark.parity
def test_gradients_match_keras() -> None:
    case = Case(
        "Conv2D",
        dict(filters=3, kernel_size=(4, 3), strides=2, padding="same", activation="tanh"),
        (2, 7, 6, 4),
    )
    keras_layer, ours = build_pair(case)
    x = np.random.default_rng(0).standard_normal(case.input_shape).astype(np.float32)
    grads = []
    for layer in (keras_layer, ours):
        xt = torch.from_numpy(x).requires_grad_(True)
        y = layer(xt)
        (torch.as_tensor(y) ** 2).sum().backward()
        grads.append(xt.grad.numpy())
    assert max_abs_diff(grads[0], grads[1]) <= 1e-4
    # The kernel gradient, in Keras's layout, matches the one Keras computes.
    keras_kernel_grad = keras_layer.kernel.value.grad.numpy()
    ours_kernel_grad = ours.kernel.grad.permute(2, 3, 1, 0).numpy()
    assert max_abs_diff(keras_kernel_grad, ours_kernel_grad) <= 1e-4


def test_kernel_layouts() -> None:
    layer = Conv2D(8, (3, 2), groups=2)
    layer.build_for((None, 10, 10, 4))
    assert layer.kernel.shape == (8, 2, 3, 2)  # torch's (out, in / groups, kh, kw)
    assert [w.shape for w in layer.get_weights()] == [(3, 2, 2, 8), (8,)]  # Keras's HWIO
    kernel = np.arange(3 * 2 * 2 * 8, dtype=np.float32).reshape(3, 2, 2, 8)
    layer.set_weights([kernel, np.zeros(8, np.float32)])
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)
    assert layer.kernel[5, 1, 2, 0].item() == kernel[2, 0, 1, 5]


def test_same_padding_odd_total_goes_at_the_end() -> None:
    # Kernel 2, stride 1: one pixel of padding, after the input (Keras/TensorFlow rule).
    layer = Conv1D(1, 2, padding="same", use_bias=False)
    layer.build_for((None, 3, 1))
    layer.set_weights([np.array([[[1.0]], [[10.0]]], np.float32)])
    y = layer(torch.tensor([[[1.0], [2.0], [3.0]]]))
    assert y.flatten().tolist() == [21.0, 32.0, 3.0]


def test_causal_padding_sees_only_the_past() -> None:
    layer = Conv1D(1, 3, padding="causal", dilation_rate=2, use_bias=False)
    layer.build_for((None, 6, 1))
    layer.set_weights([np.ones((3, 1, 1), np.float32)])
    x = torch.arange(1.0, 7.0).reshape(1, 6, 1)
    y = layer(x).flatten().tolist()
    # y[t] = x[t] + x[t-2] + x[t-4], zeros before the start.
    assert y == [1.0, 2.0, 4.0, 6.0, 9.0, 12.0]


def test_softmax_acts_over_channels() -> None:
    layer = Conv2D(5, 1, activation="softmax")
    y = layer(torch.randn(2, 3, 4, 2))
    torch.testing.assert_close(y.sum(-1), torch.ones(2, 3, 4))


def test_padding_is_case_insensitive_and_normalized() -> None:
    layer = Conv2D(2, 3, padding="SAME", data_format="channels_last")
    assert layer.padding == "same"
    assert layer(torch.zeros(1, 5, 5, 1)).shape == (1, 5, 5, 2)


def test_symbolic_call_and_unknown_spatial_size() -> None:
    layer = Conv2D(4, 3, strides=2)
    assert layer.compute_output_shape((None, None, 9, 3)) == (None, None, 4, 4)
    # A layer built on unknown spatial sizes runs on any size that fits.
    layer.build_for((None, None, None, 3))
    assert layer(torch.zeros(1, 7, 9, 3)).shape == (1, 3, 4, 4)


def test_config_round_trip() -> None:
    layer = Conv3D(
        6,
        (3, 2, 1),
        strides=(1, 2, 1),
        padding="same",
        groups=2,
        activation="relu",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=regularizers.L2(0.01),
        activity_regularizer="l1",
        name="my_conv",
    )
    config = json.loads(json.dumps(layer.get_config()))
    assert config["kernel_size"] == [3, 2, 1]
    assert config["activation"] == "relu"
    assert config["kernel_initializer"]["class_name"] == "HeNormal"
    clone = Conv3D.from_config(config)
    assert clone.get_config() == layer.get_config()
    assert clone.kernel_regularizer.l2 == pytest.approx(0.01)


def test_default_initializers_and_names() -> None:
    layer = Conv2D(16, 3)
    layer.build_for((None, 8, 8, 3))
    kernel, bias = layer.get_weights()
    limit = np.sqrt(6.0 / (3 * 3 * 3 + 3 * 3 * 16))  # Glorot uniform with Keras's fans
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.8 * limit
    assert not bias.any()
    assert [name for name, _ in layer.named_parameters()] == ["kernel", "bias"]


def test_regularizer_penalty_uses_keras_layout() -> None:
    layer = Conv2D(3, 2, kernel_regularizer=regularizers.L1(0.5), use_bias=False)
    layer.build_for((None, 4, 4, 2))
    kernel = layer.get_weights()[0]
    assert layer.losses[0].item() == pytest.approx(0.5 * np.abs(kernel).sum(), rel=1e-6)


def test_aliases() -> None:
    assert convolution.Convolution1D is Conv1D
    assert convolution.Convolution2D is Conv2D
    assert convolution.Convolution3D is Conv3D


# --------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            dict(filters=0, kernel_size=3),
            "Conv2D: filters must be a positive integer, received filters=0",
        ),
        (dict(filters=4, kernel_size=-1), "kernel_size=-1"),
        (dict(filters=4, kernel_size=(3, 0)), "kernel_size=(3, 0)"),
        (dict(filters=4, kernel_size=(3, 3, 3)), "kernel_size=(3, 3, 3)"),
        (dict(filters=4, kernel_size=3, strides=0), "strides=0"),
        (dict(filters=4, kernel_size=3, padding="full"), "padding='full'"),
        (dict(filters=4, kernel_size=3, padding="causal"), "padding='causal'"),
        (dict(filters=4, kernel_size=3, groups=3), "filters=4 and groups=3"),
        (dict(filters=4, kernel_size=3, groups=0), "groups=0"),
        (
            dict(filters=4, kernel_size=3, strides=2, dilation_rate=2),
            "strides > 1 is not supported in conjunction with dilation_rate > 1",
        ),
        (dict(filters=4, kernel_size=3, data_format="channels_first"), "channels_first"),
        (dict(filters=4, kernel_size=3, data_format="nhwc"), "data_format='nhwc'"),
        (dict(filters=4, kernel_size=3, activation="nope"), "activation='nope'"),
        (dict(filters=4, kernel_size=3, kernel_initializer="nope"), "kernel_initializer='nope'"),
        (dict(filters=4, kernel_size=3, use_bias="yes"), "use_bias='yes'"),
    ],
)
def test_constructor_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match="^Conv2D: ") as info:
        Conv2D(**kwargs)
    assert message in str(info.value)


def test_all_bad_arguments_reported_at_once() -> None:
    with pytest.raises(ValueError) as info:
        Conv2D(0, -1, padding="full", strides=2, dilation_rate=2)
    text = str(info.value)
    assert text.startswith("Conv2D: 4 invalid arguments")
    for part in ("filters=0", "kernel_size=-1", "padding='full'", "dilation_rate > 1"):
        assert part in text


def test_causal_padding_is_accepted_by_conv1d_only() -> None:
    assert Conv1D(2, 3, padding="Causal").padding == "causal"
    with pytest.raises(ValueError, match="Conv3D: padding must be one of 'valid', 'same'"):
        Conv3D(2, 3, padding="causal")


def test_kernel_larger_than_valid_input_names_the_layer() -> None:
    layer = Conv2D(4, 5, name="too_big")
    with pytest.raises(ValueError) as info:
        layer(torch.zeros(1, 4, 6, 3))
    text = str(info.value)
    assert "Layer 'too_big' (Conv2D)" in text and "kernel_size=(5, 5)" in text
    assert "(None, 4, 6, 3)" in text
    assert not layer.built
    # "same" padding makes any kernel fit; dilation counts in the effective size.
    assert Conv2D(4, 5, padding="same")(torch.zeros(1, 4, 6, 3)).shape == (1, 4, 6, 4)
    with pytest.raises(ValueError, match="dilation_rate=\\(3,\\)"):
        Conv1D(2, 3, dilation_rate=3, name="dilated")(torch.zeros(1, 6, 1))


def test_wrong_input_rank_names_the_layer() -> None:
    with pytest.raises(ValueError, match="'rank_check' \\(Conv2D\\).*expected rank 4.*rank 3"):
        Conv2D(4, 3, name="rank_check")(torch.zeros(2, 8, 3))


def test_channels_not_divisible_by_groups() -> None:
    with pytest.raises(ValueError) as info:
        Conv2D(4, 3, groups=2, name="grouped")(torch.zeros(1, 5, 5, 3))
    text = str(info.value)
    assert "Layer 'grouped' (Conv2D)" in text and "groups=2" in text and "3 channels" in text


def test_unknown_channels_cannot_build() -> None:
    with pytest.raises(ValueError, match="channel dimension of the input must be known"):
        Conv2D(4, 3).build_for((None, 5, 5, None))


def test_set_weights_checks_keras_shapes() -> None:
    layer = Conv2D(4, 3)
    layer.build_for((None, 5, 5, 2))
    with pytest.raises(ValueError, match="kernel.*\\(3, 3, 2, 4\\).*\\(4, 2, 3, 3\\)"):
        layer.set_weights([np.zeros((4, 2, 3, 3)), np.zeros(4)])


def test_float64_layer_matches_float32_oracle() -> None:
    case = Case("Conv1D", dict(filters=3, kernel_size=3, dtype="float64"), (2, 9, 2))
    keras_layer, ours = build_pair(case)
    x = np.random.default_rng(1).standard_normal(case.input_shape)
    got = to_numpy(ours(torch.from_numpy(x)))
    assert got.dtype == np.float64
    assert max_abs_diff(got, to_numpy(keras_layer(x))) <= ATOL
