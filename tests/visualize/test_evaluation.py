"""Confusion matrix, top losses and predictions on the trained square finder."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from visualize_helpers import image_axes, png_pixels

import convolve
from convolve import layers
from convolve.data import Dataset
from convolve.visualize import (
    confusion_matrix,
    plot_confusion_matrix,
    plot_predictions,
    plot_top_losses,
)

NAMES = ["noise", "square"]


def cell_texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def test_confusion_matrix_counts():
    matrix = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], num_classes=4)
    expected = [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    assert matrix.tolist() == expected


def test_plot_confusion_matrix(trained, tmp_path):
    x, y = trained.x_test, trained.y_test
    # Make a known number of mistakes: invert 5 square images into plain noise.
    x = x.copy()
    flipped = np.flatnonzero(y == 1)[:5]
    x[flipped] = np.random.default_rng(5).uniform(0, 0.5, x[flipped].shape)
    predicted = trained.model.predict(x, verbose=0).argmax(1)
    expected = confusion_matrix(y, predicted, 2)
    assert expected[1, 0] >= 5
    path = tmp_path / "confusion.png"
    fig = plot_confusion_matrix(trained.model, (x, y), NAMES, path=path)
    png_pixels(path, min_size=(250, 250))
    assert cell_texts(fig) == [str(v) for v in expected.ravel()]
    accuracy = np.trace(expected) / len(y)
    assert fig.axes[0].get_title() == f"Confusion matrix: 100 images, accuracy {accuracy:.1%}"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == NAMES
    # The same data as a dataset of batches, with one-hot labels, gives the same matrix.
    one_hot = np.eye(2, dtype="float32")[y]
    batches = Dataset.from_tensor_slices((x, one_hot)).batch(16)
    again = plot_confusion_matrix(trained.model, batches, NAMES, normalize=True)
    rows = expected / expected.sum(axis=1, keepdims=True)
    assert cell_texts(again) == [f"{v:.2f}" for v in rows.ravel()]


def test_top_losses(trained, tmp_path):
    x, y = trained.x_test, 1 - trained.y_test  # wrong labels: every image is a mistake
    probs = trained.model.predict(x, verbose=0)
    losses = -np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1))
    worst = np.argsort(-losses, kind="stable")[:9]
    path = tmp_path / "top.png"
    fig = plot_top_losses(trained.model, (x, y), k=9, class_names=NAMES, path=path)
    png_pixels(path, min_size=(300, 300))
    axes = image_axes(fig)
    assert len(axes) == 9
    for ax, i in zip(axes, worst, strict=True):
        assert f"loss {losses[i]:.2f}" in ax.get_title()
        np.testing.assert_allclose(ax.images[0].get_array(), np.clip(x[i, ..., 0], 0, 1))
    assert len(image_axes(plot_top_losses(trained.model, (x[:4], y[:4]), k=9))) == 4


def test_predictions_from_arrays_and_files(trained, tmp_path):
    x, y = trained.x_test[:6], trained.y_test[:6]
    fig = plot_predictions(trained.model, x, NAMES, labels=y, path=tmp_path / "p.png")
    png_pixels(tmp_path / "p.png", min_size=(200, 200))
    titles = [ax.get_title() for ax in image_axes(fig)]
    assert len(titles) == 6
    assert [t.split(" (")[0] for t in titles] == [NAMES[v] for v in y]  # all correct here
    files = []
    for i in range(2):
        files.append(tmp_path / f"img{i}.png")
        Image.fromarray((x[i, ..., 0] * 255).astype(np.uint8), "L").save(files[i])
    # Files load as 0-255 pixels, as load_img gives them: the model rescales first.
    rescaled = convolve.Sequential(
        [layers.Input((32, 32, 1)), layers.Rescaling(1 / 255), trained.model]
    )
    fig = plot_predictions(rescaled, [str(f) for f in files], NAMES)
    titles = [ax.get_title() for ax in image_axes(fig)]
    assert titles[0].startswith("img0.png\nnoise (") and titles[1].startswith("img1.png\nsquare")


def test_errors(trained):
    data = (trained.x_test[:4], trained.y_test[:4])
    with pytest.raises(ValueError, match="class_names has 3 names but the model predicts 2"):
        plot_confusion_matrix(trained.model, data, ["a", "b", "c"])
    with pytest.raises(ValueError, match="k must be a positive integer; received k=0"):
        plot_top_losses(trained.model, data, k=0)
    with pytest.raises(ValueError, match="takes data as \\(images, labels\\) arrays"):
        plot_confusion_matrix(trained.model, 3)
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        plot_predictions(trained.model, data[0], labels=[0, 1, 0])
