"""How a classifier does on labelled data: confusion matrix, worst mistakes, predictions."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from convolve.visualize._figures import (
    PathLike,
    finish,
    image_grid,
    new_figure,
    show_image,
    value_range,
)
from convolve.visualize._model import (
    as_image_batch,
    class_label,
    collect,
    load_image_files,
    probabilities,
)


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """Counts `[true, predicted]` of integer labels.

    Example:
        >>> confusion_matrix([0, 1, 1], [0, 1, 0]).tolist()
        [[1, 0], [1, 1]]
    """
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def _names(class_names: Sequence[str] | None, data_names: Sequence[str] | None, n: int):
    names = class_names if class_names is not None else data_names
    if names is not None and len(names) != n:
        raise ValueError(
            f"class_names has {len(names)} names but the model predicts {n} classes: {list(names)}"
        )
    return list(names) if names is not None else [str(i) for i in range(n)]


def plot_confusion_matrix(
    model: Any,
    data: Any,
    class_names: Sequence[str] | None = None,
    normalize: bool = False,
    path: PathLike = None,
) -> Any:
    """Predicts `data` and shows how often each true class got each predicted class.

    Args:
        model: a classifier (softmax output, or one sigmoid unit for two classes).
        data: `(images, labels)` arrays or a dataset of `(images, labels)` batches; labels
            are integers or one-hot.
        class_names: names of the classes; the dataset's `class_names` by default.
        normalize: show each row as fractions of its true class instead of counts.
        path: where to save the figure (.png, .svg or .pdf); None returns the Figure.

    Returns:
        The matplotlib Figure (the matrix panel and its colour bar).
    """
    x, y, data_names = collect(data, "plot_confusion_matrix")
    probs = probabilities(model, x)
    n = probs.shape[1]
    names = _names(class_names, data_names, n)
    matrix = confusion_matrix(y, probs.argmax(axis=1), n)
    totals = matrix.sum(axis=1, keepdims=True)
    shown = matrix / np.maximum(totals, 1) if normalize else matrix
    size = max(4.0, 0.55 * n + 2.5)
    fig, axes = new_figure(path, figsize=(size + 1.0, size))
    ax = axes[0, 0]
    image = ax.imshow(shown, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if n <= 30:
        threshold = shown.max() / 2 if shown.max() > 0 else 1
        for i in range(n):
            for j in range(n):
                text = f"{shown[i, j]:.2f}" if normalize else str(matrix[i, j])
                colour = "white" if shown[i, j] > threshold else "black"
                ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=8)
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"Confusion matrix: {len(y)} images, accuracy {accuracy:.1%}", fontsize=10)
    fig.tight_layout()
    return finish(fig, path)


def sample_losses(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy of each sample: `-log p[true class]`."""
    picked = probs[np.arange(len(labels)), labels]
    return -np.log(np.clip(picked, 1e-12, 1.0))


def plot_top_losses(
    model: Any,
    data: Any,
    k: int = 9,
    class_names: Sequence[str] | None = None,
    path: PathLike = None,
) -> Any:
    """Shows the `k` images the model gets most wrong (highest cross-entropy).

    Each panel is titled with predicted / true class, the loss, and the probability given
    to the true class.

    Args:
        model: a classifier (softmax output, or one sigmoid unit for two classes).
        data: `(images, labels)` arrays or a dataset of `(images, labels)` batches.
        k: how many images to show.
        class_names: names of the classes; the dataset's `class_names` by default.
        path: where to save the figure (.png, .svg or .pdf); None returns the Figure.

    Returns:
        The matplotlib Figure, one panel per image, worst first.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"plot_top_losses: k must be a positive integer; received k={k!r}")
    x, y, data_names = collect(data, "plot_top_losses")
    probs = probabilities(model, x)
    names = _names(class_names, data_names, probs.shape[1])
    if y.min() < 0 or y.max() >= probs.shape[1]:
        raise ValueError(
            f"plot_top_losses: labels range over {y.min()}..{y.max()} but the model predicts "
            f"{probs.shape[1]} classes."
        )
    losses = sample_losses(probs, y)
    worst = np.argsort(-losses, kind="stable")[:k]
    limits = value_range(x)
    fig, axes = image_grid(path, len(worst), panel=2.4, extra_height=0.5)
    for ax, i in zip(axes, worst, strict=True):
        predicted = int(probs[i].argmax())
        title = (
            f"{class_label(predicted, names)} / {class_label(int(y[i]), names)}\n"
            f"loss {losses[i]:.2f}, p(true) {probs[i, y[i]]:.2f}"
        )
        show_image(ax, x[i], title, limits)
        ax.title.set_color("firebrick" if predicted != y[i] else "black")
    fig.suptitle("Top losses (predicted / true)", fontsize=10)
    fig.tight_layout()
    return finish(fig, path)


def _load_images(model: Any, images: Any) -> tuple[np.ndarray, list[str] | None]:
    """Arrays as they are; file paths loaded at the model's input size and colour mode."""
    if isinstance(images, str | os.PathLike) or (
        isinstance(images, list | tuple)
        and images
        and all(isinstance(p, str | os.PathLike) for p in images)
    ):
        files = [images] if isinstance(images, str | os.PathLike) else list(images)
        x = load_image_files(model, files, "plot_predictions")
        return x, [os.path.basename(os.fspath(f)) for f in files]
    return as_image_batch(images, "plot_predictions"), None


def plot_predictions(
    model: Any,
    images: Any,
    class_names: Sequence[str] | None = None,
    labels: Any = None,
    path: PathLike = None,
) -> Any:
    """Shows images with the predicted class and its probability.

    Args:
        model: a classifier (softmax output, or one sigmoid unit for two classes).
        images: a batch of images `(n, height, width, channels)` scaled as the model
            expects, or image file paths, loaded at the model's input size as 0-255 pixel
            values (as `load_img` and `img_to_array` give them, for models that rescale).
        class_names: names of the classes.
        labels: optional true labels; wrong predictions are then titled in red.
        path: where to save the figure (.png, .svg or .pdf); None returns the Figure.

    Returns:
        The matplotlib Figure, one panel per image.
    """
    x, files = _load_images(model, images)
    probs = probabilities(model, x)
    names = _names(class_names, None, probs.shape[1])
    truth = None if labels is None else np.asarray(labels).reshape(-1)
    if truth is not None and len(truth) != len(x):
        raise ValueError(
            f"plot_predictions: {len(x)} images but {len(truth)} labels; pass one per image."
        )
    fig, axes = image_grid(path, len(x), panel=2.2)
    limits = value_range(x)
    for i, ax in enumerate(axes):
        predicted = int(probs[i].argmax())
        title = f"{class_label(predicted, names)} ({probs[i, predicted]:.0%})"
        if files is not None:
            title = f"{files[i]}\n{title}"
        show_image(ax, x[i], title, limits)
        if truth is not None:
            ax.title.set_color("forestgreen" if predicted == int(truth[i]) else "firebrick")
    fig.tight_layout()
    return finish(fig, path)
