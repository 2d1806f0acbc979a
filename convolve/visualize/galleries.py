"""Image galleries, as `keras.visualization`: images, images with boxes, images with masks.

Each function lays the images out on a grid of matplotlib axes (pyplot figures, so that
notebooks and `plt.show()` show them) and, like Keras, shows the figure (then closes it)
unless `show=False` or `path=` is given; `path` writes the file (atomically) and closes the
figure. As in Keras, each returns None; with `show=False` the figure stays open as
`plt.gcf()`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from convolve.visualize.drawing import (
    _check_data_format,
    _numpy,
    draw_bounding_boxes,
    draw_segmentation_masks,
)

__all__ = ["plot_bounding_box_gallery", "plot_image_gallery", "plot_segmentation_mask_gallery"]


def _to_0_255(images: np.ndarray, value_range: Any) -> np.ndarray:
    """Maps `value_range` linearly onto (0, 255), in float32 (as is when already 0-255)."""
    low, high = value_range
    if low == 0 and high == 255:
        return images
    images = images.astype(np.float32)
    low, high = np.float32(low), np.float32(high)
    return (images - low) / (high - low) * np.float32(255.0) + np.float32(0.0)


def _image_batch(images: Any, data_format: Any, fn: str) -> tuple[str, np.ndarray]:
    """The checked data format and the images as a 4-D NumPy batch."""
    data_format = _check_data_format(data_format, fn)
    images = _numpy(images)
    if images.ndim != 4:
        raise ValueError(
            f"{fn}(): images must be a batch of shape (batch, height, width, channels); "
            f"received images.shape={images.shape}"
        )
    return data_format, images


def _save(fig: Any, path: Any, transparent: bool, dpi: float) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        fig.savefig(tmp, pad_inches=0, bbox_inches="tight", transparent=transparent, dpi=dpi)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def plot_image_gallery(
    images: Any,
    y_true: Any = None,
    y_pred: Any = None,
    label_map: dict | None = None,
    rows: int | None = None,
    cols: int | None = None,
    value_range: tuple = (0, 255),
    scale: float = 2,
    path: Any = None,
    show: bool | None = None,
    transparent: bool = True,
    dpi: float = 60,
    legend_handles: list | None = None,
    data_format: str | None = None,
) -> None:
    """Shows a batch of images on a grid, optionally titled with labels and predictions.

    Args:
        images: `(batch, height, width, channels)` images.
        y_true: class indices, one per image, shown as `"Label: <name>"`.
        y_pred: predicted class indices, shown as `"Pred: <name>"`.
        label_map: class index to name (needed with `y_true` or `y_pred`).
        rows: grid rows (default `ceil(sqrt(batch))`).
        cols: grid columns (default `batch // rows`, as in Keras).
        value_range: the images' value range, mapped to (0, 255) for display.
        scale: inches per panel.
        path: a file to save the gallery to (then the figure is closed, not shown).
        show: show the figure with `plt.show()` (default: when no `path`).
        transparent: save with a transparent background.
        dpi: the resolution of the saved file.
        legend_handles: matplotlib handles for a legend at the bottom of the figure.
        data_format: `"channels_last"` (default) or `"channels_first"`.


    Raises:
        ValueError: For `path` together with `show=True`, labels without `label_map`,
            images that are not a batch, or a grid with more panels than images.
    """
    import matplotlib.pyplot as plt

    fn = "plot_image_gallery"
    if path is not None and show:
        raise ValueError(
            f"{fn}(): pass either path= (save the figure) or show=True, not both; received "
            f"path={str(path)!r} and show={show!r}"
        )
    if (y_true is not None or y_pred is not None) and label_map is None:
        raise ValueError(f"{fn}(): y_true or y_pred needs label_map; received label_map=None")
    data_format, images = _image_batch(images, data_format, fn)
    show = show if show is not None else path is None
    batch_size = images.shape[0]
    rows = rows or int(math.ceil(math.sqrt(batch_size)))
    cols = cols or int(math.ceil(batch_size // rows))
    if rows * cols > batch_size or rows * cols == 0:
        raise ValueError(
            f"{fn}(): a grid of rows={rows} by cols={cols} needs {rows * cols} images; "
            f"received {batch_size}"
        )
    images = images[: rows * cols]
    if data_format == "channels_first":
        images = images.transpose(0, 2, 3, 1)

    fig, axes = plt.subplots(
        nrows=rows, ncols=cols, figsize=(cols * scale, rows * scale), frameon=False,
        layout="tight", squeeze=False, sharex="row", sharey="col",
    )  # fmt: skip
    fig.subplots_adjust(wspace=0, hspace=0)
    if legend_handles is not None:
        fig.legend(handles=legend_handles, loc="lower center")
    images = _to_0_255(images, value_range)
    y_true = None if y_true is None else _numpy(y_true)
    y_pred = None if y_pred is None else _numpy(y_pred)
    for index, ax in enumerate(axes.reshape(-1)):
        ax.imshow(images[index].astype("uint8"))
        ax.margins(x=0, y=0)
        ax.axis("off")
        title = []
        if y_true is not None and index < len(y_true):
            title.append(f"Label: {label_map.get(y_true[index], 'Unknown')}")
        if y_pred is not None and index < len(y_pred):
            title.append(f"Pred: {label_map.get(y_pred[index], 'Unknown')}")
        if title:
            ax.set_title("  ".join(title), fontsize=8)
    if path is not None:
        _save(fig, path, transparent, dpi)
        plt.close(fig)
    elif show:
        plt.show()
        plt.close(fig)


def plot_bounding_box_gallery(
    images: Any,
    bounding_box_format: str,
    y_true: dict | None = None,
    y_pred: dict | None = None,
    value_range: tuple = (0, 255),
    true_color: tuple = (0, 188, 212),
    pred_color: tuple = (255, 235, 59),
    line_thickness: int = 2,
    font_scale: float = 1.0,
    text_thickness: int | None = None,
    class_mapping: dict | None = None,
    ground_truth_mapping: dict | None = None,
    prediction_mapping: dict | None = None,
    legend: bool = False,
    legend_handles: list | None = None,
    rows: int | None = None,
    cols: int | None = None,
    data_format: str | None = None,
    **kwargs: Any,
) -> None:
    """A gallery of images with their ground-truth and predicted boxes drawn on.

    Args:
        images: `(batch, height, width, channels)` images.
        bounding_box_format: the boxes' format, e.g. `"xyxy"`.
        y_true: ground-truth boxes, a dict as `draw_bounding_boxes` takes.
        y_pred: predicted boxes, likewise.
        value_range: the images' value range.
        true_color: the RGB colour of ground-truth boxes.
        pred_color: the RGB colour of predicted boxes.
        line_thickness: box outline thickness.
        font_scale: label text size.
        text_thickness: label text thickness (default `line_thickness`).
        class_mapping: class id to name, for both kinds of boxes.
        ground_truth_mapping: class names for ground truth (default `class_mapping`).
        prediction_mapping: class names for predictions (default `class_mapping`).
        legend: add a "Ground Truth" / "Prediction" legend.
        legend_handles: your own legend handles (not together with `legend`).
        rows: grid rows.
        cols: grid columns.
        data_format: `"channels_last"` (default) or `"channels_first"`.
        **kwargs: passed on to `plot_image_gallery` (`path`, `show`, `scale`, ...).
    """
    from matplotlib import patches

    fn = "plot_bounding_box_gallery"
    prediction_mapping = prediction_mapping or class_mapping
    ground_truth_mapping = ground_truth_mapping or class_mapping
    data_format, images = _image_batch(images, data_format, fn)
    if legend and legend_handles:
        raise ValueError(f"{fn}(): pass legend=True or legend_handles, not both")
    if data_format == "channels_first":
        images = images.transpose(0, 2, 3, 1)
    drawing = {
        "bounding_box_format": bounding_box_format,
        "line_thickness": line_thickness,
        "text_thickness": text_thickness,
        "font_scale": font_scale,
    }
    if y_true is not None:
        images = draw_bounding_boxes(
            images, y_true, color=true_color, class_mapping=ground_truth_mapping, **drawing
        )
    if y_pred is not None:
        images = draw_bounding_boxes(
            images, y_pred, color=pred_color, class_mapping=prediction_mapping, **drawing
        )
    if legend:
        legend_handles = [
            patches.Patch(color=np.array(true_color) / 255.0, label="Ground Truth"),
            patches.Patch(color=np.array(pred_color) / 255.0, label="Prediction"),
        ]
    plot_image_gallery(
        images, value_range=value_range, legend_handles=legend_handles, rows=rows, cols=cols,
        **kwargs,
    )  # fmt: skip


def plot_segmentation_mask_gallery(
    images: Any,
    num_classes: int,
    value_range: tuple = (0, 255),
    y_true: Any = None,
    y_pred: Any = None,
    color_mapping: dict | None = None,
    blend: bool = True,
    alpha: float = 0.8,
    ignore_index: int = -1,
    data_format: str | None = None,
    **kwargs: Any,
) -> None:
    """A gallery with one row per image: the image, then its true and predicted masks drawn.

    Args:
        images: `(batch, height, width, channels)` images.
        num_classes: the number of classes.
        value_range: the images' value range.
        y_true: ground-truth masks `(batch, height, width[, 1])`.
        y_pred: predicted masks, likewise.
        color_mapping: class index to RGB colour (default: Keras's palette).
        blend: blend the colours with the image.
        alpha: the colour weight when blending.
        ignore_index: the class value that is never drawn.
        data_format: `"channels_last"` (default) or `"channels_first"`.
        **kwargs: passed on to `plot_image_gallery` (`path`, `show`, `scale`, ...).
    """
    fn = "plot_segmentation_mask_gallery"
    data_format, images = _image_batch(images, data_format, fn)
    if data_format == "channels_first":
        images = images.transpose(0, 2, 3, 1)
    drawing = {
        "num_classes": num_classes, "color_mapping": color_mapping, "alpha": alpha,
        "ignore_index": ignore_index, "blend": blend,
    }  # fmt: skip
    columns = [images]
    for masks in (y_true, y_pred):
        if masks is None:
            continue
        masks = _numpy(masks)
        if data_format == "channels_first" and masks.ndim == 4:
            masks = masks.transpose(0, 2, 3, 1)
        drawn = draw_segmentation_masks(images, masks.astype(np.int32), **drawing)
        columns.append(_numpy(drawn))
    gallery = np.stack([column[i] for i in range(len(images)) for column in columns], axis=0)
    plot_image_gallery(
        gallery, value_range=value_range, rows=len(images), cols=len(columns), **kwargs
    )
