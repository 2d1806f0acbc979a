"""The engine's memory layout: channels_last images and kernels, whatever the channel count."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import convolve as keras
from convolve.layers import layout


@pytest.mark.parametrize("shape", [(5, 1, 7, 6), (5, 3, 7, 6), (2, 1, 3, 4, 5), (0, 2, 3, 3)])
def test_engine_memory_format_gives_exact_channels_last_strides(shape) -> None:
    x = torch.randn(shape)  # standard contiguous strides
    out = layout.engine_memory_format(x)
    fmt = torch.channels_last if len(shape) == 4 else torch.channels_last_3d
    assert out.stride() == torch.empty(shape).clone(memory_format=fmt).stride()
    assert torch.equal(out, x)


def test_nhwc_user_tensor_crosses_the_boundary_without_a_copy() -> None:
    user = torch.randn(4, 9, 9, 3)
    engine = layout.engine_memory_format(layout.to_engine(user))
    assert engine.data_ptr() == user.data_ptr()


def _layer_strides(model, x, training=False):
    seen = {}
    for layer in model.layers:
        call = layer.call

        def spy(inputs, *args, _call=call, _name=layer.name, **kwargs):
            out = _call(inputs, *args, **kwargs)
            seen[_name] = (inputs, out)
            return out

        layer.call = spy
    model(x, training=training)
    return seen


@pytest.mark.parametrize("channels", [1, 3])
def test_feature_maps_stay_channels_last_through_a_convnet(channels) -> None:
    model = keras.Sequential(
        [
            keras.Input((12, 12, channels)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(5, 3),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    kernels = [p for p in model.parameters() if p.ndim == 4]
    assert len(kernels) == 2
    assert all(k.is_contiguous(memory_format=torch.channels_last) for k in kernels)
    seen = _layer_strides(model, np.random.rand(3, 12, 12, channels).astype("float32"))
    conv, pool, conv_1, flatten, _ = (seen[layer.name] for layer in model.layers)
    for name, (inputs, out) in {"conv": conv, "pool": pool, "conv_1": conv_1}.items():
        for t in (inputs, out):
            assert t.stride() == layout.channels_last_strides(t.shape), (name, t.stride())
    flat_in, flat_out = flatten
    assert flat_out.data_ptr() == flat_in.data_ptr()  # Flatten in H, W, C order is a view


@pytest.mark.parametrize("after", ["conv", "pool", "depthwise", "transpose"])
def test_convolution_and_pooling_restore_channels_last_after_augmentation(after) -> None:
    # Geometric augmentation hands on grid_sample's channels-first memory; the next
    # convolution or pooling layer must return channels_last maps with unchanged values.
    follower = {
        "conv": keras.layers.Conv2D(4, 3),
        "pool": keras.layers.MaxPooling2D(),
        "depthwise": keras.layers.DepthwiseConv2D(3),
        "transpose": keras.layers.Conv2DTranspose(4, 3),
    }[after]
    rotate = keras.layers.RandomRotation(0.1, seed=1)
    model = keras.Sequential([keras.Input((10, 10, 3)), rotate, follower])
    x = np.random.default_rng(0).random((2, 10, 10, 3)).astype("float32")
    seen = _layer_strides(model, x, training=True)
    rotated, out = seen[rotate.name][1], seen[follower.name][1]
    # Channels-first memory, as grid_sample writes it (by rows or by columns).
    assert rotated.stride()[1] == rotated.shape[2] * rotated.shape[3]
    assert out.stride() == layout.channels_last_strides(out.shape)
    expected = follower(layout.to_user(rotated).contiguous())
    np.testing.assert_allclose(layout.to_user(out).detach(), expected.detach(), atol=1e-6)
