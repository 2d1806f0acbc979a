"""`plot_filters`: what a convolution layer's filters respond to.

The first layer's kernels act on pixels, so they are shown as images themselves. A deeper
filter acts on other filters' outputs; it is shown as the input pattern that maximises its
mean activation, found by gradient ascent in input space from seeded noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from convolve.visualize._figures import PathLike, finish, image_grid, minmax, show_image
from convolve.visualize._model import (
    conv_layers,
    extractor,
    get_layer,
    image_input_shape,
    is_conv,
)

_METHODS = ("auto", "kernels", "maximize")


def _conv_layer(model: Any, layer: Any, what: str) -> Any:
    if layer is None:
        layers = conv_layers(model)
        if not layers:
            raise ValueError(f"{what}: model '{model.name}' has no 2-D convolution layer.")
        return layers[0]
    found = get_layer(model, layer)
    if not is_conv(found):
        raise ValueError(
            f"{what}: layer '{found.name}' ({type(found).__name__}) is not a 2-D convolution."
        )
    return found


def kernels(layer: Any) -> np.ndarray:
    """A `Conv2D`'s kernels as images: `(filters, kernel_h, kernel_w, in_channels)`.

    Example:
        >>> from convolve import layers, models
        >>> from convolve.visualize.filters import kernels
        >>> model = models.Sequential([layers.Input((8, 8, 3)), layers.Conv2D(4, 3)])
        >>> kernels(model.layers[0]).shape
        (4, 3, 3, 3)
    """
    from convolve.layers.convolution import BaseConv

    if not isinstance(layer, BaseConv):
        raise ValueError(
            f"kernels are shown as images for Conv2D layers; layer '{layer.name}' is a "
            f"{type(layer).__name__}: use method='maximize'."
        )
    return np.moveaxis(np.asarray(layer.get_weights()[0]), -1, 0)


def _filter_count(layer: Any) -> int:
    return int(layer._inbound_nodes[0].output_tensors[0].shape[-1])


def filter_patterns(
    model: Any,
    layer: Any,
    filters: Sequence[int] | None = None,
    steps: int = 40,
    step_size: float = 0.02,
    seed: int = 0,
    input_range: tuple[float, float] = (0.0, 1.0),
    image_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Input images that maximise the mean activation of each filter of `layer`.

    Gradient ascent in input space, all filters at once: from the same seeded noise around
    the middle of `input_range`, each step moves every pixel by about `step_size` of the
    range along the normalised gradient of the filter's mean activation (away from the
    border, where padding dominates), then clips to the range.

    Args:
        model: a Sequential or functional model taking images.
        layer: the convolution layer (name, index or layer).
        filters: which filters (output channels); all by default.
        steps: the number of ascent steps.
        step_size: the size of one step as a fraction of the input range.
        seed: the seed of the starting noise; the same seed gives the same images.
        input_range: the range of pixel values the model takes, e.g. (0, 255) for a model
            that starts with `Rescaling(1/255)`.
        image_size: `(height, width)` for models whose input size is not fixed.

    Returns:
        An array `(len(filters), height, width, channels)` in `input_range`.
    """
    target = _conv_layer(model, layer, "filter_patterns")
    height, width, channels = image_input_shape(model, "filter_patterns")
    if image_size is not None:
        height, width = image_size
    if height is None or width is None or channels is None:
        raise ValueError(
            f"filter_patterns: model '{model.name}' takes images of unknown size "
            f"{(height, width, channels)}; pass image_size=(height, width)."
        )
    count = _filter_count(target)
    filters = list(range(count)) if filters is None else [int(f) for f in filters]
    if not filters or not all(0 <= f < count for f in filters):
        raise ValueError(
            f"filter_patterns: layer '{target.name}' has filters 0..{count - 1}; "
            f"received filters={filters}"
        )
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"filter_patterns: steps must be a positive integer; received {steps!r}")
    low, high = (float(v) for v in input_range)
    if not high > low:
        raise ValueError(f"input_range must be (low, high) with low < high; received {input_range}")
    span = high - low
    features = extractor(model, [target], "filter_patterns")
    device = next(iter(model.parameters()), torch.zeros(())).device
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand((1, height, width, channels), generator=generator) - 0.5
    x = (low + span * (0.5 + 0.2 * noise)).repeat(len(filters), 1, 1, 1).to(device)
    index = torch.tensor(filters, device=device)
    for _ in range(steps):
        x.requires_grad_(True)
        with torch.enable_grad():
            out = features(x, training=False)  # one output: the tensor itself, as Keras
            h, w = out.shape[1:3]
            # The border of a map sees padding, not the image: leave it out of the objective.
            bh, bw = (h // 8, w // 8) if min(h, w) >= 8 else (0, 0)
            inner = out[:, bh : h - bh, bw : w - bw, :]
            chosen = inner.gather(-1, index.view(-1, 1, 1, 1).expand(*inner.shape[:3], 1))
            (grad,) = torch.autograd.grad(chosen.mean(dim=(1, 2, 3)).sum(), x)
        scale = grad.flatten(1).std(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        x = (x.detach() + step_size * span * grad / scale).clamp(low, high)
    return x.detach().cpu().numpy()


def plot_filters(
    model: Any,
    layer: Any = None,
    max_filters: int = 16,
    method: str = "auto",
    steps: int = 40,
    seed: int = 0,
    input_range: tuple[float, float] = (0.0, 1.0),
    path: PathLike = None,
) -> Any:
    """Shows the filters of a convolution layer (the first one by default).

    With `method="auto"`, the model's first convolution on RGB or grayscale images shows its
    kernels as images; any other layer shows, per filter, the input pattern that maximises
    its activation (see `filter_patterns`).

    Args:
        model: a Sequential or functional model taking images.
        layer: the convolution layer (name, index or layer); the first one by default.
        max_filters: the most filters shown (the first ones).
        method: `"auto"`, `"kernels"` or `"maximize"`.
        steps: gradient-ascent steps for `"maximize"`.
        seed: the seed of the starting noise for `"maximize"`.
        input_range: the range of pixel values the model takes (for `"maximize"`).
        path: where to save the figure (.png, .svg or .pdf); None returns the Figure.

    Returns:
        The matplotlib Figure, one panel per filter.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; received method={method!r}")
    if not isinstance(max_filters, int) or isinstance(max_filters, bool) or max_filters < 1:
        raise ValueError(f"max_filters must be a positive integer; received {max_filters!r}")
    from convolve.layers.convolution import BaseConv

    target = _conv_layer(model, layer, "plot_filters")
    if method == "auto":
        on_pixels = conv_layers(model)[0] is target and isinstance(target, BaseConv)
        colours = target._inbound_nodes[0].input_tensors[0].shape[-1]
        method = "kernels" if on_pixels and colours in (1, 3) else "maximize"
    shown = list(range(min(max_filters, _filter_count(target))))
    if method == "kernels":
        weights = kernels(target)
        if weights.shape[-1] not in (1, 3):
            weights = weights.mean(axis=-1, keepdims=True)  # many inputs: their mean
        images = [minmax(weights[f]) for f in shown]
        what = f"kernels {weights.shape[1]}x{weights.shape[2]}"
    else:
        images = list(filter_patterns(model, target, shown, steps, 0.02, seed, input_range))
        images = [minmax(image) for image in images]
        what = f"input patterns that maximise each filter ({steps} ascent steps, seed {seed})"
    fig, axes = image_grid(path, len(shown), panel=1.5, max_cols=8, extra_height=0.5)
    for f, (ax, image) in enumerate(zip(axes, images, strict=True)):
        show_image(ax, image, title=f"filter {f}", interpolation="nearest")
    fig.suptitle(f"{target.name} ({type(target).__name__}): {what}", fontsize=9)
    return finish(fig, path)
