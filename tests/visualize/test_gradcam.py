"""Grad-CAM: the heatmap finds the bright square, and matches a plain-torch computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from visualize_helpers import SIDE, png_pixels

import convolve
from convolve import activations, layers
from convolve.visualize import gradcam, plot_gradcam


def test_peak_lies_inside_the_square(trained):
    model = trained.model
    accuracy = (model.predict(trained.x_test, verbose=0).argmax(1) == trained.y_test).mean()
    assert accuracy >= 0.95  # the model has learned the task
    positives = np.flatnonzero(trained.y_test == 1)
    heatmaps = gradcam(model, trained.x_test[positives])
    hits = 0
    for heatmap, (row, col) in zip(heatmaps, trained.corners_test[positives], strict=True):
        r, c = np.unravel_index(heatmap.argmax(), heatmap.shape)
        hits += row <= r < row + SIDE and col <= c < col + SIDE
    rate = hits / len(positives)
    print(f"Grad-CAM peak inside the square: {hits}/{len(positives)} = {rate:.0%}")
    assert rate >= 0.9


def oracle(model, image: np.ndarray, class_index: int) -> np.ndarray:
    """Grad-CAM on conv_b written in plain torch from the model's weights."""

    def conv(t, layer):
        kernel, bias = (torch.as_tensor(w) for w in model.get_layer(layer).get_weights())
        return F.relu(F.conv2d(t, kernel.permute(3, 2, 0, 1), bias, padding=1))

    x = torch.as_tensor(image[None]).permute(0, 3, 1, 2)
    maps = conv(F.max_pool2d(conv(x, "conv_a"), 2), "conv_b").detach().requires_grad_(True)
    kernel, bias = (torch.as_tensor(w) for w in model.get_layer("out").get_weights())
    logits = maps.mean(dim=(2, 3)) @ kernel + bias  # before the softmax
    (grads,) = torch.autograd.grad(logits[0, class_index], maps)
    cam = F.relu((grads.mean(dim=(2, 3), keepdim=True) * maps).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=image.shape[:2], mode="bilinear", align_corners=False)[0, 0]
    return (cam / cam.max()).detach().numpy()


def test_matches_plain_torch(trained):
    image = trained.x_test[1]
    heatmap = gradcam(trained.model, image)
    assert heatmap.shape == (32, 32) and heatmap.dtype == np.float32
    assert heatmap.min() >= 0.0 and heatmap.max() == pytest.approx(1.0)
    np.testing.assert_allclose(heatmap, oracle(trained.model, image, 1), atol=1e-5)
    np.testing.assert_allclose(
        gradcam(trained.model, image, class_index=0, layer="conv_b"),
        np.nan_to_num(oracle(trained.model, image, 0)),
        atol=1e-5,
    )


def test_output_activation_restored(trained):
    model = trained.model
    before = model.predict(trained.x_test[:4], verbose=0)
    gradcam(model, trained.x_test[:4])
    assert model.get_layer("out").activation is activations.softmax
    np.testing.assert_array_equal(model.predict(trained.x_test[:4], verbose=0), before)


def test_single_sigmoid_unit():
    model = convolve.Sequential(
        [
            layers.Input((16, 16, 3)),
            layers.Conv2D(4, 3, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    images = np.random.default_rng(0).uniform(0, 1, (3, 16, 16, 3)).astype("float32")
    positive, negative = gradcam(model, images, class_index=1), gradcam(model, images, 0)
    assert positive.shape == negative.shape == (3, 16, 16)
    with pytest.raises(ValueError, match="class_index must be in 0..1"):
        gradcam(model, images, class_index=2)


def test_plot(trained, tmp_path):
    path = tmp_path / "gradcam.png"
    fig = plot_gradcam(
        trained.model, trained.x_test[:3], class_names=["noise", "square"], path=path
    )
    png_pixels(path, min_size=(400, 500))
    assert len(fig.axes) == 9  # image, heatmap, overlay per image
    assert fig.axes[1].get_title() == "Grad-CAM: noise"  # x_test[0] is noise, [1] a square
    assert fig.axes[4].get_title() == "Grad-CAM: square"
    assert fig.axes[3].get_title().startswith("predicted square (")


def test_needs_a_conv_layer():
    model = convolve.Sequential([layers.Input((4, 4, 1)), layers.Flatten(), layers.Dense(2)])
    with pytest.raises(ValueError, match="has no 2-D convolution layer"):
        gradcam(model, np.zeros((4, 4, 1), "float32"))
