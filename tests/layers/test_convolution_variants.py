"""Depthwise, separable and transposed convolutions: parity with Keras, gradients, errors."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import numpy as np
import parity_grid
import pytest
import torch
from parity_grid import (
    BATCH,
    CHANNELS,
    FILTERS,
    SPATIAL,
    Case,
    build_pair,
    check_parity,
    max_abs_diff,
    random_array,
    to_numpy,
)

from convolve import regularizers
from convolve.layers import convolution_variants as cv
from convolve.layers.base import _keras_view
from convolve.layers.convolution_variants import (
    Conv1DTranspose,
    Conv2DTranspose,
    Conv3DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
    transpose_crops,
)

# Keras 3.15.1 converts its tensors with a NumPy 1 idiom that NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

GRAD_ATOL = 1e-4  # max abs difference allowed between Keras's and convolve's gradients


def _cycle(index: int, options: list) -> object:
    return options[index % len(options)]


# --------------------------------------------------------------------- grids
_KERNELS = {1: [3, 4], 2: [3, (4, 2)], 3: [2, (3, 1, 2)]}
# (strides, dilation_rate), per-axis strides included; Keras refuses both > 1 for
# transposes but allows it for depthwise and separable convolutions.
_STEPS = {
    1: [(1, 1), (2, 1), (3, 1), (1, 2)],
    2: [(1, 1), (2, 1), ((1, 3), 1), (1, (2, 1))],
    3: [(1, 1), (2, 1), ((2, 1, 3), 1), (1, (1, 2, 1))],
}


def transpose_cases(full: bool) -> Iterator[Case]:
    """Conv1D/2D/3DTranspose over kernels, strides, dilations, paddings and output_padding.

    The default grid takes every (rank, kernel, strides/dilation, padding) and cycles
    output_padding, bias and activation; the full one also tries every output_padding.
    """
    index = 0
    for rank in (1, 2, 3):
        kernels = [1, 2, 3, 4, 5] if full else _KERNELS[rank]
        for kernel, (strides, dilation), padding in itertools.product(
            kernels, _STEPS[rank], ["valid", "same"]
        ):
            steps = (strides,) * rank if isinstance(strides, int) else strides
            paddings: list = [None] + [
                tuple(min(p, s - 1) for s in steps) for p in range(max(steps))
            ]
            chosen = paddings if full else [_cycle(index, paddings)]
            for output_padding in chosen:
                index += 1
                yield Case(
                    f"Conv{rank}DTranspose",
                    dict(
                        filters=FILTERS,
                        kernel_size=kernel,
                        strides=strides,
                        padding=padding,
                        output_padding=output_padding,
                        dilation_rate=dilation,
                        use_bias=_cycle(index // 2, [True, False]),
                        activation=_cycle(index, [None, "relu", "softmax"]),
                    ),
                    (BATCH, *SPATIAL[rank], CHANNELS),
                )


def depthwise_cases(full: bool) -> Iterator[Case]:
    """Depthwise and separable 1D/2D convolutions, depth_multiplier 1-3, strides x dilation.

    The default grid takes every (rank, family, strides/dilation, padding) and cycles the
    kernel, depth_multiplier, bias and activation; the full one tries every kernel and
    depth_multiplier.
    """
    index = 0
    steps = {1: [*_STEPS[1], (2, 2)], 2: [*_STEPS[2], (2, 2)]}
    for rank, family in itertools.product((1, 2), ("DepthwiseConv", "SeparableConv")):
        for (strides, dilation), padding in itertools.product(steps[rank], ["valid", "same"]):
            kernels = _KERNELS[rank] if full else [_cycle(index, _KERNELS[rank])]
            multipliers = [1, 2, 3] if full else [_cycle(index, [1, 2, 3])]
            for kernel, depth_multiplier in itertools.product(kernels, multipliers):
                index += 1
                kwargs = dict(
                    kernel_size=kernel,
                    strides=strides,
                    padding=padding,
                    dilation_rate=dilation,
                    depth_multiplier=depth_multiplier,
                    use_bias=_cycle(index // 3, [True, False]),
                    activation=_cycle(index, [None, "relu", "softmax"]),
                )
                if family == "SeparableConv":
                    kwargs["filters"] = FILTERS
                yield Case(f"{family}{rank}D", kwargs, (BATCH, *SPATIAL[rank], CHANNELS))


TRANSPOSE_GRID = list(transpose_cases(full=False))
DEPTHWISE_GRID = list(depthwise_cases(full=False))


@pytest.mark.parity
@pytest.mark.parametrize("case", TRANSPOSE_GRID, ids=lambda c: c.id)
def test_transpose_parity(case: Case) -> None:
    check_parity(case)


@pytest.mark.parity
@pytest.mark.parametrize("case", DEPTHWISE_GRID, ids=lambda c: c.id)
def test_depthwise_and_separable_parity(case: Case) -> None:
    check_parity(case)


@pytest.mark.parity
@pytest.mark.slow
@pytest.mark.parametrize(
    "case", [*transpose_cases(full=True), *depthwise_cases(full=True)], ids=lambda c: c.id
)
def test_parity_full_grid(case: Case) -> None:
    check_parity(case)


def test_default_grids_cover_every_axis_of_variation() -> None:
    layers = {c.layer for c in TRANSPOSE_GRID + DEPTHWISE_GRID}
    assert layers == {
        "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "DepthwiseConv1D",
        "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
    }  # fmt: skip
    paddings = {c.kwargs["output_padding"] for c in TRANSPOSE_GRID}
    assert None in paddings and len(paddings) >= 4
    assert {c.kwargs["depth_multiplier"] for c in DEPTHWISE_GRID} == {1, 2, 3}
    assert {c.kwargs["padding"] for c in DEPTHWISE_GRID + TRANSPOSE_GRID} == {"valid", "same"}
    assert any(c.kwargs["dilation_rate"] != 1 for c in TRANSPOSE_GRID)
    # Both ways of computing a transposed convolution are exercised.
    plans = {_uses_slices(c) for c in TRANSPOSE_GRID}
    assert plans == {True, False}


def _uses_slices(case: Case) -> bool:
    layer = parity_grid.convolve_class(case.layer)(**case.kwargs)
    return layer._slices is not None


@pytest.mark.parity
@pytest.mark.parametrize(
    "case",
    [
        Case(
            "DepthwiseConv2D", dict(kernel_size=(3, 2), strides=2, depth_multiplier=2), (2, 7, 6, 3)
        ),
        Case(
            "SeparableConv2D",
            dict(filters=4, kernel_size=3, padding="same", depth_multiplier=2, activation="tanh"),
            (2, 7, 6, 3),
        ),
        Case("SeparableConv1D", dict(filters=4, kernel_size=3, dilation_rate=2), (2, 11, 3)),
        # "same" with stride 2 and an odd kernel: torch's output is sliced.
        Case(
            "Conv2DTranspose",
            dict(filters=3, kernel_size=3, strides=2, padding="same", activation="tanh"),
            (2, 5, 4, 3),
        ),
        # torch's own padding/output_padding express Keras's window.
        Case(
            "Conv2DTranspose",
            dict(filters=3, kernel_size=(4, 2), strides=(2, 3), output_padding=(1, 2)),
            (2, 5, 4, 3),
        ),
        Case(
            "Conv1DTranspose",
            dict(filters=2, kernel_size=3, dilation_rate=2, padding="same"),
            (2, 7, 3),
        ),
        Case(
            "Conv3DTranspose",
            dict(filters=2, kernel_size=(3, 2, 3), strides=(2, 1, 2), padding="same"),
            (1, 3, 4, 3, 2),
        ),
    ],  # fmt: skip
    ids=lambda c: c.id,
)
def test_gradients_match_keras(case: Case) -> None:
    """Input and weight gradients (in Keras's layout) against Keras's, within GRAD_ATOL."""
    keras_layer, ours = build_pair(case)
    x = random_array(case.input_shape, 3)
    target = random_array(tuple(keras_layer.compute_output_shape(case.input_shape)), 4)
    grads = []
    for layer in (keras_layer, ours):
        xt = torch.from_numpy(x).requires_grad_(True)
        y = torch.as_tensor(layer(xt))
        (y * torch.from_numpy(target)).sum().backward()
        grads.append(xt.grad.numpy())
    assert max_abs_diff(grads[0], grads[1]) <= GRAD_ATOL
    keras_grads = [w.value.grad.numpy() for w in keras_layer.weights]
    ours_grads = [_keras_view(s, t.grad).numpy() for _, s, t in ours._weight_entries()]
    assert len(keras_grads) == len(ours_grads) >= 2
    for name, a, b in zip(
        [w.path for w in keras_layer.weights], keras_grads, ours_grads, strict=True
    ):
        assert a.shape == b.shape, name
        assert max_abs_diff(a, b) <= GRAD_ATOL, name


# --------------------------------------------------------------------- values and layouts
def test_depthwise_kernel_layout_and_channel_order() -> None:
    layer = DepthwiseConv2D(1, depth_multiplier=2, use_bias=False)
    layer.build_for((None, 1, 1, 3))
    assert [name for name, _ in layer.named_parameters()] == ["kernel"]
    assert layer.kernel.shape == (3, 2, 1, 1)  # (in, depth_multiplier, kh, kw)
    kernel = np.arange(1, 7, dtype=np.float32).reshape(1, 1, 3, 2)
    layer.set_weights([kernel])
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)
    y = layer(torch.tensor([[[[1.0, 10.0, 100.0]]]]))
    # Output channel c * depth_multiplier + m is input c times kernel[..., c, m].
    assert y.flatten().tolist() == [1.0, 2.0, 30.0, 40.0, 500.0, 600.0]


def test_separable_weights_names_and_shapes() -> None:
    layer = SeparableConv2D(5, (3, 2), depth_multiplier=2)
    layer.build_for((None, 8, 8, 3))
    assert [name for name, _ in layer.named_parameters()] == [
        "depthwise_kernel", "pointwise_kernel", "bias",
    ]  # fmt: skip
    assert [w.shape for w in layer.get_weights()] == [(3, 2, 3, 2), (1, 1, 6, 5), (5,)]
    assert layer.count_params() == 3 * 2 * 3 * 2 + 6 * 5 + 5


def test_transpose_kernel_layout() -> None:
    layer = Conv2DTranspose(4, (3, 2))
    layer.build_for((None, 5, 5, 6))
    assert layer.kernel.shape == (6, 4, 3, 2)  # torch's (in, out, kh, kw)
    assert [w.shape for w in layer.get_weights()] == [(3, 2, 4, 6), (4,)]  # Keras's


def test_transpose_is_the_adjoint_of_the_convolution() -> None:
    """<conv(x), y> == <x, conv_transpose(y)> with the same kernel, as a reference."""
    from convolve.layers.convolution import Conv2D

    conv = Conv2D(3, (3, 2), strides=2, use_bias=False)
    conv.build_for((None, 9, 8, 4))
    transpose = Conv2DTranspose(4, (3, 2), strides=2, use_bias=False)
    transpose.build_for((None, 4, 4, 3))
    kernel = random_array((3, 2, 4, 3), 0)  # Conv2D: (kh, kw, in=4, out=3)
    conv.set_weights([kernel])
    transpose.set_weights([kernel])  # Conv2DTranspose: (kh, kw, out=4, in=3)
    x, y = random_array((1, 9, 8, 4), 1), random_array((1, 4, 4, 3), 2)
    left = (to_numpy(conv(torch.from_numpy(x))) * y).sum()
    right = (x[:, :9, :8] * to_numpy(transpose(torch.from_numpy(y)))[:, :9, :8]).sum()
    assert left == pytest.approx(right, rel=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "crops"),
    [
        (dict(kernel=3, stride=2, dilation=1, padding="same", output_padding=None), (0, 1)),
        (dict(kernel=4, stride=2, dilation=1, padding="same", output_padding=None), (1, 1)),
        (dict(kernel=1, stride=3, dilation=1, padding="valid", output_padding=None), (0, -2)),
        (dict(kernel=3, stride=1, dilation=2, padding="valid", output_padding=0), (0, 0)),
    ],
)
def test_transpose_crops(kwargs: dict, crops: tuple[int, int]) -> None:
    assert transpose_crops(**kwargs) == crops


@pytest.mark.parametrize(
    ("layer", "shape", "expected"),
    [
        (Conv1DTranspose(2, 3, strides=2), (None, 5, 1), (None, 11, 2)),
        (Conv1DTranspose(2, 3, strides=2, padding="same"), (None, 5, 1), (None, 10, 2)),
        (Conv1DTranspose(2, 2, strides=3), (None, 5, 1), (None, 15, 2)),  # max(k, s)
        (Conv1DTranspose(2, 3, strides=2, output_padding=1), (None, 5, 1), (None, 12, 2)),
        (
            Conv1DTranspose(2, 3, strides=2, padding="same", output_padding=0),
            (None, 5, 1),
            (None, 9, 2),
        ),
        (Conv2DTranspose(2, 3, dilation_rate=2), (None, None, 4, 1), (None, None, 8, 2)),
    ],  # fmt: skip
)
def test_transpose_output_sizes(layer, shape, expected) -> None:
    assert layer.compute_output_shape(shape) == expected


def test_config_round_trips() -> None:
    layers = [
        DepthwiseConv2D(
            (3, 2), strides=2, depth_multiplier=3, padding="same", activation="relu",
            depthwise_regularizer=regularizers.L2(0.1), name="dw",
        ),
        SeparableConv1D(4, 3, depth_multiplier=2, pointwise_initializer="he_normal"),
        Conv3DTranspose(2, 3, strides=2, output_padding=1, use_bias=False),
        Conv2DTranspose(2, 3),
    ]  # fmt: skip
    for layer in layers:
        config = json.loads(json.dumps(layer.get_config()))
        clone = type(layer).from_config(config)
        assert clone.get_config() == layer.get_config()
    config = layers[0].get_config()
    assert config["depthwise_regularizer"]["config"]["l2"] == pytest.approx(0.1)
    assert "groups" not in config and "filters" not in config
    assert layers[2].get_config()["output_padding"] == (1, 1, 1)
    assert layers[3].get_config()["output_padding"] is None


def test_config_keys_match_keras() -> None:
    import keras

    pairs = [
        (DepthwiseConv2D(3), keras.layers.DepthwiseConv2D(3)),
        (SeparableConv2D(2, 3), keras.layers.SeparableConv2D(2, 3)),
        (Conv1DTranspose(2, 3), keras.layers.Conv1DTranspose(2, 3)),
    ]
    for ours, theirs in pairs:
        # The base layer records activity_regularizer only when one is set.
        assert set(ours.get_config()) | {"activity_regularizer"} == set(theirs.get_config())


def test_keras_positional_argument_orders() -> None:
    # Conv3DTranspose puts data_format before output_padding; the 2D one does not.
    assert Conv3DTranspose(2, 3, 2, "valid", None, 1).output_padding == (1, 1, 1)
    assert Conv2DTranspose(2, 3, 2, "valid", 1).output_padding == (1, 1)
    assert DepthwiseConv2D(3, 1, "valid", 4).depth_multiplier == 4
    assert SeparableConv2D(2, 3, 1, "valid", None, 1, 5).depth_multiplier == 5


def test_aliases() -> None:
    assert cv.Convolution2DTranspose is Conv2DTranspose
    assert cv.SeparableConvolution1D is SeparableConv1D


def test_functional_use_and_unknown_sizes() -> None:
    import convolve

    x = convolve.Input((None, None, 3))
    y = SeparableConv2D(4, 3, padding="same")(x)
    y = Conv2DTranspose(2, 3, strides=2, padding="same")(y)
    model = convolve.Model(x, y)
    assert model.output_shape == (None, None, None, 2)
    assert model.predict(np.zeros((1, 5, 7, 3), np.float32), verbose=0).shape == (1, 10, 14, 2)


# --------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier=0"),
        (lambda: DepthwiseConv2D((3, 3, 3)), "kernel_size=(3, 3, 3)"),
        (lambda: DepthwiseConv1D(3, padding="causal"), "padding='causal'"),
        (lambda: SeparableConv2D(0, 3), "filters=0"),
        (
            lambda: SeparableConv2D(2, 3, pointwise_initializer="nope"),
            "pointwise_initializer='nope'",
        ),
        (
            lambda: Conv2DTranspose(2, 3, strides=2, output_padding=2),
            "output_padding=2 and strides=2",
        ),
        (lambda: Conv2DTranspose(2, 3, output_padding=(1, -1)), "output_padding=(1, -1)"),
        (lambda: Conv2DTranspose(2, 3, strides=2, dilation_rate=2), "dilation_rate > 1"),
        (lambda: Conv1DTranspose(2, 3, data_format="channels_first"), "channels_first"),
    ],  # fmt: skip
)
def test_constructor_errors(make, message: str) -> None:
    with pytest.raises(ValueError) as info:
        make()
    assert message in str(info.value)


def test_all_bad_arguments_reported_at_once() -> None:
    with pytest.raises(ValueError) as info:
        SeparableConv2D(0, -1, padding="full", depth_multiplier=0)
    text = str(info.value)
    assert text.startswith("SeparableConv2D: 4 invalid arguments")
    for part in ("filters=0", "kernel_size=-1", "padding='full'", "depth_multiplier=0"):
        assert part in text


def test_shape_errors_name_the_layer() -> None:
    with pytest.raises(ValueError, match="'dw' \\(DepthwiseConv2D\\): kernel_size=\\(5, 5\\)"):
        DepthwiseConv2D(5, name="dw")(torch.zeros(1, 4, 6, 3))
    with pytest.raises(ValueError, match="'sep' \\(SeparableConv1D\\).*expected rank 3"):
        SeparableConv1D(2, 3, name="sep")(torch.zeros(1, 4, 6, 3))
    with pytest.raises(ValueError, match="channel dimension of the input must be known"):
        Conv2DTranspose(2, 3).build_for((None, 4, 4, None))
    with pytest.raises(ValueError, match="'tr' \\(Conv1DTranspose\\): the output spatial size"):
        Conv1DTranspose(2, 2, padding="same", output_padding=0, name="tr").compute_output_shape(
            (None, 1, 3)
        )
