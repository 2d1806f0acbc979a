"""`plot_feature_maps`: what each convolution layer sees in one image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from convolve.visualize._figures import PathLike, finish, grid_shape, minmax, new_figure
from convolve.visualize._model import as_image_batch, conv_layers, extractor, get_layer


def _chosen_layers(model: Any, layers: Sequence[Any] | Any | None, what: str) -> list[Any]:
    if layers is None:
        chosen = conv_layers(model)
        if not chosen:
            raise ValueError(
                f"{what}: model '{model.name}' has no 2-D convolution layer; pass layers=[...] "
                "with the names of the layers to show."
            )
        return chosen
    if isinstance(layers, str | int) or not isinstance(layers, Sequence):
        layers = [layers]
    chosen = [get_layer(model, layer) for layer in layers]
    if not chosen:
        raise ValueError(f"{what}: layers=[] names no layer to show.")
    return chosen


def feature_maps(
    model: Any, image: Any, layers: Sequence[Any] | Any | None = None
) -> dict[str, np.ndarray]:
    """The activations of `layers` (every Conv layer by default) for one image.

    Built, as in Keras, from a feature-extraction model `Model(model.inputs, [layer.output
    ...])` that shares `model`'s weights; it runs in inference mode.

    Args:
        model: a Sequential or functional model taking images.
        image: one image `(height, width, channels)`, scaled as the model expects.
        layers: layer names, indices or layers; every 2-D convolution by default.

    Returns:
        A dict from layer name to its output for the image, channels last
        (`(height, width, channels)` for a convolution).

    Example:
        >>> import numpy as np
        >>> from convolve import layers, models
        >>> from convolve.visualize import feature_maps
        >>> model = models.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(4, 3, name="c")])
        >>> feature_maps(model, np.zeros((8, 8, 1)))["c"].shape
        (6, 6, 4)
    """
    chosen = _chosen_layers(model, layers, "feature_maps")
    batch = as_image_batch(image, "feature_maps")
    if len(batch) != 1:
        raise ValueError(f"feature_maps takes one image; received a batch of {len(batch)}.")
    outputs = extractor(model, chosen, "feature_maps").predict(batch, verbose=0)
    if len(chosen) == 1 and not isinstance(outputs, list):
        outputs = [outputs]
    return {layer.name: np.asarray(out)[0] for layer, out in zip(chosen, outputs, strict=True)}


def plot_feature_maps(
    model: Any,
    image: Any,
    layers: Sequence[Any] | Any | None = None,
    max_channels: int = 16,
    path: PathLike = None,
    cmap: str = "viridis",
) -> Any:
    """Shows the activations of each convolution layer for `image` as grids of channels.

    Each layer gets a block of panels, one per channel (the first `max_channels`), each
    scaled to its own range, so that the pattern shows even where activations are small.

    Args:
        model: a Sequential or functional model taking images.
        image: one image `(height, width, channels)`, scaled as the model expects.
        layers: layer names, indices or layers; every 2-D convolution by default.
        max_channels: the most channels shown per layer.
        path: where to save the figure (.png, .svg or .pdf); None returns the Figure.
        cmap: the matplotlib colormap of the maps.

    Returns:
        The matplotlib Figure: one sub-figure per layer, titled with the layer's name.
    """
    if not isinstance(max_channels, int) or isinstance(max_channels, bool) or max_channels < 1:
        raise ValueError(f"max_channels must be a positive integer; received {max_channels!r}")
    maps = feature_maps(model, image, layers)
    blocks = []
    for name, value in maps.items():
        if value.ndim != 3:
            raise ValueError(
                f"plot_feature_maps shows spatial maps (height, width, channels); layer "
                f"'{name}' outputs shape {(None, *value.shape)}."
            )
        shown = min(max_channels, value.shape[-1])
        blocks.append((name, value, shown, grid_shape(shown, max_cols=8)))
    heights = [1.15 * rows + 0.45 for *_, (rows, _) in blocks]
    width = max(3.5, 1.15 * max(cols for *_, (_, cols) in blocks))
    fig, _ = new_figure(path, 0, 0, figsize=(width, sum(heights)))
    subfigures = fig.subfigures(len(blocks), 1, height_ratios=heights, squeeze=False)[:, 0]
    for subfig, (name, value, shown, (rows, cols)) in zip(subfigures, blocks, strict=True):
        axes = subfig.subplots(rows, cols, squeeze=False).ravel()
        for channel, ax in enumerate(axes):
            if channel >= shown:
                ax.remove()
                continue
            ax.imshow(minmax(value[..., channel]), cmap=cmap, vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(str(channel), fontsize=7)
        height, width, channels = value.shape
        layer = model.get_layer(name)
        subfig.suptitle(
            f"{name} ({type(layer).__name__}): {height}x{width}x{channels}, "
            f"showing {shown} of {channels} channels",
            fontsize=9,
        )
    return finish(fig, path)
