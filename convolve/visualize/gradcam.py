"""Grad-CAM: where in the image the evidence for a class lies.

The gradient of the class score with respect to a convolution layer's output, averaged over
the map, weighs each channel; the weighted sum of the channels, rectified, is the heatmap
(Selvaraju et al., 2017). The score is taken before the output's softmax or sigmoid, as in
Keras's Grad-CAM example, so that a confident prediction still has a gradient.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from convolve.layers import layout
from convolve.visualize._figures import PathLike, finish, new_figure, show_image, value_range
from convolve.visualize._model import (
    as_image_batch,
    class_label,
    extractor,
    get_layer,
    last_conv_layer,
    probabilities,
)


@contextlib.contextmanager
def _scores_before_activation(model: Any) -> Iterator[None]:
    """Runs the model's output layer without its softmax/sigmoid, restoring it after."""
    from convolve import activations

    output_layer = model.outputs[0]._keras_history.layer
    activation = getattr(output_layer, "activation", None)
    if activation not in (activations.softmax, activations.sigmoid):
        yield
        return
    output_layer.activation = activations.linear
    try:
        yield
    finally:
        output_layer.activation = activation


def _class_indices(class_index: Any, scores: torch.Tensor) -> torch.Tensor:
    n, classes = scores.shape
    if class_index is None:
        if classes == 1:
            return (scores[:, 0] > 0).long()
        return scores.argmax(dim=1)
    indices = torch.as_tensor(np.broadcast_to(np.asarray(class_index), (n,)).copy()).long()
    limit = 2 if classes == 1 else classes
    if indices.min() < 0 or indices.max() >= limit:
        raise ValueError(
            f"gradcam: class_index must be in 0..{limit - 1} for this model; "
            f"received class_index={class_index!r}"
        )
    return indices.to(scores.device)


def gradcam(
    model: Any, image: Any, class_index: int | Sequence[int] | None = None, layer: Any = None
) -> np.ndarray:
    """The Grad-CAM heatmap of `image` for `class_index`, at the image's resolution.

    Args:
        model: a Sequential or functional classifier taking images.
        image: one image `(height, width, channels)` or a batch of them, scaled as the
            model expects.
        class_index: the class to explain (one for all images, or one per image); the
            predicted class by default. For a single sigmoid unit, 1 is the positive class.
        layer: the convolution layer (name, index or layer); the last one by default.

    Returns:
        The heatmap, `(height, width)` for one image or `(batch, height, width)`, in [0, 1]
        (1 at each image's strongest evidence; all zeros where there is none).

    Example:
        >>> import numpy as np
        >>> from convolve import layers, models
        >>> from convolve.visualize import gradcam
        >>> model = models.Sequential([layers.Input((16, 16, 1)), layers.Conv2D(4, 3),
        ...     layers.GlobalAveragePooling2D(), layers.Dense(2, activation="softmax")])
        >>> gradcam(model, np.random.rand(16, 16, 1)).shape
        (16, 16)
    """
    batch = as_image_batch(image, "gradcam")
    target = last_conv_layer(model, "gradcam") if layer is None else get_layer(model, layer)
    grad_model = extractor(model, [target], "gradcam", extra=model.outputs[:1])
    device = next(iter(model.parameters()), torch.zeros(())).device
    # The model runs on engine-layout tensors (channels first) so that the gradient is taken
    # with respect to the very tensor the scores were computed from.
    x = layout.to_engine(torch.as_tensor(batch, device=device)).contiguous()
    with _scores_before_activation(model), torch.enable_grad():
        maps, scores = grad_model.engine_call(x, training=False)
        scores = scores.reshape(len(x), -1)
        if maps.ndim != 4:
            raise ValueError(
                f"gradcam needs a layer with spatial output (batch, height, width, channels); "
                f"layer '{target.name}' outputs {tuple(layout.to_user(maps).shape)}."
            )
        indices = _class_indices(class_index, scores)
        if scores.shape[1] == 1:  # one sigmoid unit: class 0 is evidence against it
            chosen = scores[:, 0] * (2.0 * indices - 1.0)
        else:
            chosen = scores.gather(1, indices.view(-1, 1))[:, 0]
        (grads,) = torch.autograd.grad(chosen.sum(), maps)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * maps).sum(dim=1)).detach()
    cam = F.interpolate(cam[:, None], size=batch.shape[1:3], mode="bilinear", align_corners=False)
    cam = cam[:, 0].clamp_min(0.0)
    peak = cam.flatten(1).amax(dim=1).view(-1, 1, 1)
    cam = torch.where(peak > 0, cam / peak.clamp_min(1e-12), torch.zeros_like(cam))
    heatmaps = cam.cpu().numpy().astype(np.float32)
    return heatmaps[0] if np.ndim(image) == 3 else heatmaps


def plot_gradcam(
    model: Any,
    image: Any,
    class_index: int | Sequence[int] | None = None,
    layer: Any = None,
    class_names: Sequence[str] | None = None,
    alpha: float = 0.45,
    path: PathLike = None,
) -> Any:
    """Shows each image, its Grad-CAM heatmap, and the heatmap laid over the image.

    Args:
        model: a Sequential or functional classifier taking images.
        image: one image `(height, width, channels)` or a batch of them.
        class_index: the class to explain; the predicted class by default.
        layer: the convolution layer; the last one by default.
        class_names: names for the class indices, for the titles.
        alpha: the heatmap's opacity in the overlay.
        path: where to save the figure (.png, .svg or .pdf); None returns the Figure.

    Returns:
        The matplotlib Figure: one row of three panels per image.
    """
    batch = as_image_batch(image, "plot_gradcam")
    heatmaps = gradcam(model, batch, class_index, layer)
    probs = probabilities(model, batch)
    if class_index is None:
        explained = probs.argmax(axis=1)
    else:
        explained = np.broadcast_to(np.asarray(class_index), (len(batch),))
    fig, axes = new_figure(path, len(batch), 3, figsize=(7.5, 2.6 * len(batch)))
    limits = value_range(batch)
    for row, (picture, heatmap, p, c) in enumerate(
        zip(batch, heatmaps, probs, explained, strict=True)
    ):
        predicted = int(p.argmax())
        show_image(
            axes[row, 0],
            picture,
            f"predicted {class_label(predicted, class_names)} ({p[predicted]:.0%})",
            limits,
        )
        axes[row, 1].imshow(heatmap, cmap="jet", vmin=0.0, vmax=1.0)
        axes[row, 1].set_xticks([])
        axes[row, 1].set_yticks([])
        axes[row, 1].set_title(f"Grad-CAM: {class_label(int(c), class_names)}", fontsize=8)
        show_image(axes[row, 2], picture, "overlay", limits)
        axes[row, 2].imshow(heatmap, cmap="jet", alpha=alpha, vmin=0.0, vmax=1.0)
    fig.tight_layout()
    return finish(fig, path)
