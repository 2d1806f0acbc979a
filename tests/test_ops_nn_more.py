"""convolve.ops.nn's convolution, pooling, normalization, attention, CTC and activation
functions against keras.ops (Keras 3.15.1 on its torch backend).

Each case runs on the same inputs in both libraries (NumPy arrays, torch tensors, lists) with
several shapes, strides, dilations, paddings and both data formats. Results must have the same
type, shape and dtype; integer values must be equal and floating values agree within
rtol = atol = 1e-5 (both sides run torch kernels, differences are float32 rounding).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import ops

RTOL = ATOL = 1e-5
RNG = np.random.default_rng(3)


def rand(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape).astype("float32")


def _same(ours: Any, theirs: Any, where: str = "result") -> None:
    if isinstance(theirs, tuple | list):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _same(a, b, f"{where}[{i}]")
        return
    assert isinstance(ours, torch.Tensor), f"{where}: {type(ours)}"
    assert ours.dtype == theirs.dtype, f"{where}: dtype {ours.dtype} != {theirs.dtype}"
    assert ours.shape == theirs.shape, f"{where}: shape {ours.shape} != {theirs.shape}"
    a, b = ours.detach().cpu(), theirs.detach().cpu()
    if a.dtype.is_floating_point or a.dtype.is_complex:
        np.testing.assert_allclose(a.numpy(), b.numpy(), RTOL, ATOL, err_msg=where)
    else:
        assert torch.equal(a, b), where


IMG = rand(2, 8, 8, 3)
X1 = rand(2, 9, 3)
X2 = rand(2, 7, 8, 3)
X2F = rand(2, 3, 7, 8)
X3 = rand(1, 5, 6, 4, 2)
K1 = rand(3, 3, 4)
K2 = rand(3, 2, 3, 4)
K2G = rand(3, 3, 1, 6)  # groups = 3
K3 = rand(2, 3, 2, 2, 3)
DK2 = rand(3, 3, 3, 2)
PK2 = rand(1, 1, 6, 4)
TK2 = rand(3, 3, 4, 3)  # transposed: (kh, kw, out, in)
TK1 = rand(4, 2, 3)

CASES = [
    # conv: shapes, strides, dilation, padding, groups, channels_first
    ("conv", (X1, K1), {}),
    ("conv", (X1, K1), {"strides": 2, "padding": "same"}),
    ("conv", (X1, K1), {"dilation_rate": 2, "padding": "same"}),
    ("conv", (X2, K2), {}),
    ("conv", (X2, K2), {"padding": "same"}),
    ("conv", (X2, K2), {"strides": 2, "padding": "SAME"}),
    ("conv", (X2, K2), {"strides": (2, 3), "padding": "same"}),
    ("conv", (X2, K2), {"dilation_rate": (2, 1), "padding": "same"}),
    ("conv", (X2, K2G), {"padding": "same"}),
    ("conv", (X2F, K2), {"strides": 2, "padding": "same", "data_format": "channels_first"}),
    ("conv", (X3, K3), {"padding": "same", "strides": 2}),
    ("conv", (torch.tensor(X2), torch.tensor(K2)), {"padding": "valid"}),
    # depthwise / separable
    ("depthwise_conv", (X2, DK2), {}),
    ("depthwise_conv", (X2, DK2), {"strides": 2, "padding": "same"}),
    ("depthwise_conv", (X2, DK2), {"dilation_rate": 2, "padding": "same"}),
    ("depthwise_conv", (X2F, DK2), {"padding": "same", "data_format": "channels_first"}),
    ("separable_conv", (X2, DK2, PK2), {}),
    ("separable_conv", (X2, DK2, PK2), {"strides": 2, "padding": "same"}),
    ("separable_conv", (X2F, DK2, PK2), {"data_format": "channels_first"}),
    # transposed
    ("conv_transpose", (X2, TK2), {}),
    ("conv_transpose", (X2, TK2), {"strides": 2}),
    ("conv_transpose", (X2, TK2), {"strides": 2, "padding": "same"}),
    ("conv_transpose", (X2, TK2), {"strides": (2, 3), "padding": "same"}),
    ("conv_transpose", (X2, TK2), {"strides": 2, "padding": "same", "output_padding": 1}),
    ("conv_transpose", (X2, TK2), {"strides": 3, "padding": "valid", "output_padding": 1}),
    ("conv_transpose", (X2, TK2), {"dilation_rate": 2, "padding": "same"}),
    ("conv_transpose", (X2F, TK2), {"strides": 2, "data_format": "channels_first"}),
    ("conv_transpose", (X1, TK1), {"strides": 2, "padding": "same"}),
    # pooling
    ("max_pool", (X2, 2), {}),
    ("max_pool", (X2, 3), {"strides": 2, "padding": "same"}),
    ("max_pool", (X2, (2, 3), (1, 2), "same"), {}),
    ("max_pool", (X2F, 2), {"padding": "same", "data_format": "channels_first"}),
    ("max_pool", (X1, 2), {"padding": "same"}),
    ("max_pool", (X3, 2), {"padding": "same"}),
    ("average_pool", (X2, 2), {}),
    ("average_pool", (X2, 3), {"strides": 1, "padding": "same"}),
    ("average_pool", (X2, 2), {"strides": 1, "padding": "same"}),
    ("average_pool", (X2, 3), {"strides": 2, "padding": "same"}),
    ("average_pool", (X2F, (2, 3), None, "same", "channels_first"), {}),
    ("average_pool", (X1, 4), {"strides": 3, "padding": "same"}),
    ("average_pool", (X3, 2), {"padding": "same"}),
    ("adaptive_average_pool", (X2, 3), {}),
    ("adaptive_average_pool", (X2, (3, 5)), {}),
    ("adaptive_average_pool", (X2F, (2, 3)), {"data_format": "channels_first"}),
    ("adaptive_average_pool", (X1, 4), {}),
    ("adaptive_max_pool", (X2, (3, 5)), {}),
    ("adaptive_max_pool", (X3, 2), {}),
    # normalization
    ("batch_normalization", (X2, rand(3), np.abs(rand(3)), -1), {}),
    ("batch_normalization", (X2, rand(3), np.abs(rand(3)), 3, rand(3), rand(3), 0.01), {}),
    ("batch_normalization", (X2F, rand(3), np.abs(rand(3)), 1), {"scale": rand(3)}),
    ("layer_normalization", (X2,), {}),
    ("layer_normalization", (X2, rand(3), rand(3)), {"epsilon": 1e-3}),
    ("layer_normalization", (X2, rand(8, 3), rand(8, 3)), {"axis": (-2, -1)}),
    ("layer_normalization", (X2, rand(7, 3)), {"axis": (1, 3)}),
    ("rms_normalization", (X2,), {}),
    ("rms_normalization", (X2, rand(3)), {"epsilon": 1e-3}),
    ("rms_normalization", (X2, rand(8, 3)), {"axis": (2, 3)}),
    # activations
    *[
        (name, (rand(3, 4),), {})
        for name in (
            "celu",
            "glu",
            "hard_silu",
            "hard_swish",
            "hard_tanh",
            "hard_shrink",
            "soft_shrink",
            "tanh_shrink",
            "sparsemax",
            "squareplus",
            "sparse_plus",
            "sparse_sigmoid",
        )
    ],  # fmt: skip
    ("celu", (rand(3, 4),), {"alpha": 0.5}),
    ("glu", (rand(4, 3),), {"axis": 0}),
    ("hard_shrink", (rand(3, 4),), {"threshold": 0.2}),
    ("soft_shrink", (rand(3, 4),), {"threshold": 0.8}),
    ("sparsemax", (rand(3, 4, 5),), {"axis": 1}),
    ("squareplus", (rand(3, 4),), {"b": 2}),
    ("threshold", (rand(3, 4), 0.1, -2.0), {}),
    ("sparse_sigmoid", ([-2.0, -1.0, 0.3, 1.0, 4.0],), {}),
    # rearrangements
    ("depth_to_space", (rand(2, 3, 4, 8), 2), {}),
    ("depth_to_space", (rand(2, 8, 3, 4), 2), {"data_format": "channels_first"}),
    ("space_to_depth", (rand(2, 6, 4, 3), 2), {}),
    ("space_to_depth", (rand(2, 3, 6, 4), 2), {"data_format": "channels_first"}),
    # Keras's unfold and fold take torch tensors only.
    ("unfold", (torch.tensor(rand(2, 3, 6, 5)), 3), {}),
    ("unfold", (torch.tensor(rand(2, 3, 6, 5)), (2, 3)), {"padding": 1, "stride": 2}),
    ("fold", (torch.tensor(rand(2, 12, 12)), (4, 5), 2), {}),
    ("fold", (torch.tensor(rand(1, 12, 12)), (5, 6), 2), {"stride": 2, "padding": 1}),
    # others
    ("psnr", (rand(2, 4, 4, 3), rand(2, 4, 4, 3), 1.0), {}),
    ("psnr", (rand(3, 4), rand(3, 4), 255.0), {}),
    ("polar", (np.abs(rand(2, 3)), rand(2, 3)), {}),
]


# The functions compared with Keras here: the cases above and the dedicated tests below.
COMPARED = sorted({case[0] for case in CASES} | {"dot_product_attention", "ctc_loss", "ctc_decode"})


@pytest.mark.parametrize(("name", "args", "kwargs"), CASES, ids=lambda v: str(v)[:30])
def test_matches_keras(name: str, args: tuple, kwargs: dict) -> None:
    theirs = getattr(keras.ops, name)(*args, **kwargs)
    ours = getattr(ops, name)(*args, **kwargs)
    _same(ours, theirs, name)
    assert getattr(ops.nn, name) is not None


def _attention_inputs(q_heads: int = 4, kv_heads: int = 4, qlen: int = 5, klen: int = 6):
    return rand(2, qlen, q_heads, 8), rand(2, klen, kv_heads, 8), rand(2, klen, kv_heads, 8)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"is_causal": True},
        {"scale": 0.3},
        {"mask": RNG.random((2, 4, 5, 6)) > 0.3},
        {"mask": RNG.random((2, 4, 5, 6)) > 0.3, "is_causal": True},
        {"bias": rand(2, 4, 5, 6)},
    ],
)
def test_dot_product_attention_matches_keras(kwargs: dict) -> None:
    q, k, v = _attention_inputs()
    _same(
        ops.dot_product_attention(q, k, v, **kwargs),
        keras.ops.dot_product_attention(q, k, v, **kwargs),
    )


@pytest.mark.parametrize("kv_heads", [1, 2])
def test_grouped_query_attention_matches_keras(kv_heads: int) -> None:
    q, k, v = _attention_inputs(kv_heads=kv_heads)
    _same(ops.dot_product_attention(q, k, v), keras.ops.dot_product_attention(q, k, v))


def test_ctc_loss_matches_keras() -> None:
    target = np.array([[1, 2, 2, 0], [3, 1, 0, 0]], "int32")
    output = rand(2, 7, 5)
    target_length = np.array([3, 2], "int32")
    output_length = np.array([7, 5], "int32")
    for mask_index in (0, 4):
        args = (target if mask_index == 0 else target + 0, output, target_length, output_length)
        _same(
            ops.ctc_loss(*args, mask_index=mask_index),
            keras.ops.ctc_loss(*args, mask_index=mask_index),
        )


@pytest.mark.parametrize(
    "kwargs", [{}, {"merge_repeated": False}, {"mask_index": None}, {"mask_index": 2}]
)
def test_ctc_decode_greedy_matches_keras(kwargs: dict) -> None:
    logits = rand(3, 8, 4)
    logits[0, 1:4] = logits[0, 1]  # repeats to merge
    lengths = np.array([8, 5, 3], "int32")
    _same(
        ops.ctc_decode(logits, lengths, **kwargs), keras.ops.ctc_decode(logits, lengths, **kwargs)
    )


# Beam-search decoding is compared with Keras in tests/test_ops_ctc_beam.py.


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "match"),
    [
        ("conv", (X2, K2), {"padding": "full"}, "padding"),
        ("conv", (X2, K2), {"padding": "causal"}, "padding"),
        ("conv", (X2, K2), {"strides": 0}, "strides"),
        ("conv", (X2, rand(3, 3, 2, 4)), {}, "channels"),
        ("conv", (X2, K2), {"data_format": "nhwc"}, "data_format"),
        ("depthwise_conv", (X2, rand(3, 3, 2, 2)), {}, "channels"),
        ("max_pool", (rand(2, 3), 2), {}, "rank"),
        ("average_pool", (X2, (2, 2, 2)), {}, "pool_size"),
        ("depth_to_space", (rand(1, 2, 2, 6), 2), {}, "divisible"),
        ("space_to_depth", (rand(1, 3, 2, 6), 2), {}, "divisible"),
        ("unfold", (rand(3, 6, 5), 3), {}, "4D"),
        ("psnr", (rand(3, 4), rand(4, 3), 1.0), {}, "match"),
        ("glu", (rand(3, 5),), {}, "even"),
    ],
)
def test_bad_arguments_raise_naming_them(name: str, args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        getattr(ops, name)(*args, **kwargs)


def test_signatures_match_keras() -> None:
    import inspect

    for name in sorted({c[0] for c in CASES} | {"dot_product_attention", "ctc_loss", "ctc_decode"}):
        ours = inspect.signature(getattr(ops.nn, name))
        theirs = inspect.signature(getattr(keras.ops.nn, name))
        assert list(ours.parameters) == list(theirs.parameters), name
        for p in theirs.parameters.values():
            assert ours.parameters[p.name].default == p.default, (name, p.name)


def test_every_keras_nn_function_exists() -> None:
    missing = [n for n in dir(keras.ops.nn) if not n.startswith("_") and not hasattr(ops.nn, n)]
    assert missing == []


def test_symbolic_use_in_a_functional_model() -> None:
    kernel = rand(3, 3, 3, 4)
    results = []
    for lib in (keras, convolve):
        inputs = lib.Input((8, 8, 3))
        x = lib.ops.conv(inputs, kernel, strides=2, padding="same")
        x = lib.ops.max_pool(x, 2, padding="same")
        x = lib.ops.layer_normalization(x)
        x = lib.ops.hard_silu(x)
        model = lib.Model(inputs, x)
        assert tuple(model.output_shape) == (None, 2, 2, 4)
        results.append(model.predict(IMG, verbose=0))
    np.testing.assert_allclose(np.asarray(results[1]), np.asarray(results[0]), RTOL, ATOL)


def test_gradients_flow_through_conv_and_pool() -> None:
    x = torch.tensor(X2, requires_grad=True)
    ops.average_pool(ops.conv(x, K2, strides=2, padding="same"), 2, padding="same").sum().backward()
    xk = torch.tensor(X2, requires_grad=True)
    keras.ops.average_pool(
        keras.ops.conv(xk, K2, strides=2, padding="same"), 2, padding="same"
    ).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xk.grad.numpy(), RTOL, ATOL)
