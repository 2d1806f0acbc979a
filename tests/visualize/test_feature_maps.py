"""plot_feature_maps and feature_maps: activations of conv layers, checked against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from visualize_helpers import image_axes, png_pixels

from convolve.visualize import feature_maps, plot_feature_maps


def conv_relu(x: np.ndarray, layer) -> np.ndarray:
    """The oracle: a 'same' 3x3 convolution and ReLU in plain torch, channels last."""
    kernel, bias = layer.get_weights()
    t = torch.as_tensor(x).permute(0, 3, 1, 2)
    w = torch.as_tensor(kernel).permute(3, 2, 0, 1)
    y = F.relu(F.conv2d(t, w, torch.as_tensor(bias), padding=1))
    return y.permute(0, 2, 3, 1).numpy()


def test_values_match_plain_torch(trained):
    model, image = trained.model, trained.x_test[1]
    maps = feature_maps(model, image)
    assert list(maps) == ["conv_a", "conv_b"]  # every Conv layer, in order
    a = conv_relu(image[None], model.get_layer("conv_a"))
    np.testing.assert_allclose(maps["conv_a"], a[0], rtol=1e-5, atol=1e-5)
    pooled = F.max_pool2d(torch.as_tensor(a).permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)
    b = conv_relu(pooled.numpy(), model.get_layer("conv_b"))
    np.testing.assert_allclose(maps["conv_b"], b[0], rtol=1e-5, atol=1e-5)


def test_plot_grids_per_layer(trained, tmp_path):
    path = tmp_path / "maps.png"
    fig = plot_feature_maps(trained.model, trained.x_test[1], path=path)
    png_pixels(path, min_size=(400, 300))
    assert [len(sub.axes) for sub in fig.subfigs] == [8, 16]  # conv_a: 8, conv_b: 16 channels
    assert fig.subfigs[0]._suptitle.get_text().startswith("conv_a (Conv2D): 32x32x8")
    shown = image_axes(fig)[0].images[0].get_array()
    expected = feature_maps(trained.model, trained.x_test[1])["conv_a"][..., 0]
    span = expected.max() - expected.min()
    np.testing.assert_allclose(shown, (expected - expected.min()) / span, atol=1e-5)


def test_max_channels_and_named_layers_on_functional(branched):
    image = np.random.default_rng(0).uniform(0, 1, (32, 32, 3)).astype("float32")
    fig = plot_feature_maps(branched, image, layers=["stem", "join"], max_channels=4)
    assert [len(sub.axes) for sub in fig.subfigs] == [4, 4]
    assert "showing 4 of 12 channels" in fig.subfigs[1]._suptitle.get_text()
    maps = feature_maps(branched, image, layers="res_add")
    stem = feature_maps(branched, image, layers="stem")["stem"]
    conv2 = feature_maps(branched, image, layers="res_conv2")["res_conv2"]
    np.testing.assert_allclose(maps["res_add"], stem + conv2, rtol=1e-5, atol=1e-5)


def test_errors(trained):
    image = trained.x_test[0]
    with pytest.raises(ValueError, match="No layer named 'nope' in model 'square_finder'"):
        plot_feature_maps(trained.model, image, layers=["nope"])
    with pytest.raises(ValueError, match="layer 'out' outputs shape \\(None, 2\\)"):
        plot_feature_maps(trained.model, image, layers=["out"])
    with pytest.raises(ValueError, match="max_channels must be a positive integer"):
        plot_feature_maps(trained.model, image, max_channels=0)
    with pytest.raises(ValueError, match="takes one image; received a batch of 2"):
        feature_maps(trained.model, trained.x_test[:2])
