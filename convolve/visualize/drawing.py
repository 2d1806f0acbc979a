"""Drawing on image batches, as `keras.visualization`: bounding boxes and segmentation masks.

Both functions take a batch `(batch, height, width, channels)` (NumPy array or tensor) and
return the annotated batch as a NumPy `uint8` array. Box outlines are rasterised exactly as
OpenCV's `cv2.rectangle` draws them (square-ended edges, rounded outer corners for lines
thicker than 1), without needing OpenCV; labels are written with Pillow's default font.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from convolve import config
from convolve.utils.bounding_boxes import as_tensor, check_format, convert_format

__all__ = ["draw_bounding_boxes", "draw_segmentation_masks"]


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _check_images(images: Any, fn: str) -> np.ndarray:
    images = _numpy(images)
    if images.ndim != 4:
        raise ValueError(
            f"{fn}(): images must be a batch of shape (batch, height, width, channels); "
            f"received images.shape={images.shape}"
        )
    return images


def _check_data_format(data_format: Any, fn: str) -> str:
    data_format = data_format or config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"{fn}(): data_format must be 'channels_last' or 'channels_first'; received "
            f"data_format={data_format!r}"
        )
    return data_format


# ----------------------------------------------------------------------------- boxes


def _circle_rows(radius: int) -> list[tuple[int, int]]:
    """(row offset, half width) pairs of OpenCV's filled midpoint circle of `radius`."""
    rows: dict[int, int] = {}
    err, dx, dy, plus, minus = 0, radius, 0, 1, 2 * radius - 1
    while dx >= dy:
        for offset, half in ((dy, dx), (-dy, dx), (dx, dy), (-dx, dy)):
            rows[offset] = max(rows.get(offset, -1), half)
        dy += 1
        err += plus
        plus += 2
        mask = 0 if err <= 0 else -1
        err -= minus & mask
        dx += mask
        minus -= mask & 2
    return sorted(rows.items())


def _fill(image: np.ndarray, y0: int, y1: int, x0: int, x1: int, color: np.ndarray) -> None:
    """Paints rows y0..y1 and columns x0..x1 (inclusive), clipped to the image."""
    height, width = image.shape[:2]
    y0, x0 = max(y0, 0), max(x0, 0)
    y1, x1 = min(y1, height - 1), min(x1, width - 1)
    if y0 <= y1 and x0 <= x1:
        image[y0 : y1 + 1, x0 : x1 + 1] = color


def rectangle(
    image: np.ndarray, x1: int, y1: int, x2: int, y2: int, color: np.ndarray, thickness: int
) -> None:
    """Draws an axis-aligned rectangle outline in place, pixel for pixel as `cv2.rectangle`.

    A negative thickness fills the rectangle; 0 or 1 draws a one-pixel outline; a thickness
    `t` of 2 or more draws edges `(t + 1) // 2` pixels to each side of the outline, with
    OpenCV's round caps (its filled midpoint circle) at the corners.
    """
    left, right = min(x1, x2), max(x1, x2)
    top, bottom = min(y1, y2), max(y1, y2)
    if thickness < 0:
        _fill(image, top, bottom, left, right, color)
        return
    if thickness <= 1:
        for y in (top, bottom):
            _fill(image, y, y, left, right, color)
        for x in (left, right):
            _fill(image, top, bottom, x, x, color)
        return
    half = (thickness + 1) // 2
    if right > left:
        for y in (top, bottom):
            _fill(image, y - half, y + half, left, right, color)
    if bottom > top:
        for x in (left, right):
            _fill(image, top, bottom, x - half, x + half, color)
    caps = _circle_rows(half)
    for cx, cy in ((left, top), (right, top), (left, bottom), (right, bottom)):
        for dy, dx in caps:
            _fill(image, cy + dy, cy + dy, cx - dx, cx + dx, color)


def _text_location(x: int, y: int, font_scale: float, thickness: int) -> tuple[int, int]:
    """Where a label's baseline starts: above the box when it fits there, else inside it."""
    font_height = int(font_scale * 12)
    if y - 8 - 2 * font_height > 0:
        return x, y - 8
    return x + 3, y + 2 * font_height + thickness + 3


def _put_text(
    image: np.ndarray,
    text: str,
    origin: tuple[int, int],
    color: tuple,
    font_scale: float,
    thickness: int,
) -> None:
    """Writes `text` with its baseline starting at `origin` (as OpenCV's `putText` places it)."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.load_default(size=max(1, round(30 * font_scale)))
    except (TypeError, ValueError, OSError):  # Pillow without FreeType
        font = ImageFont.load_default()
    # a bilevel mask: solid colour without antialiasing, as OpenCV draws its text
    mask = Image.new("1", (image.shape[1], image.shape[0]), 0)
    ImageDraw.Draw(mask).text(
        origin, text, fill=1, font=font, anchor="ls", stroke_width=(thickness - 1) // 2
    )
    paint = (*color, 0, 0, 0, 0)[: image.shape[-1]]
    image[np.asarray(mask, dtype=bool)] = np.asarray(paint, dtype=image.dtype)


def draw_bounding_boxes(
    images: Any,
    bounding_boxes: dict,
    bounding_box_format: str,
    class_mapping: dict | None = None,
    color: tuple = (128, 128, 128),
    line_thickness: int = 2,
    text_thickness: int = 1,
    font_scale: float = 1.0,
    data_format: str | None = None,
) -> np.ndarray:
    """Draws bounding boxes (and class labels) on a batch of images.

    Float images are scaled to `[0, 255]` (clipped; values all at most 1 are taken as
    `[0, 1]`) and cast to `uint8`, as Keras does. Boxes whose label is -1 are skipped.

    Args:
        images: `(batch, height, width, channels)` images.
        bounding_boxes: a dict with `"boxes"` `(batch, n, 4)` and `"labels"` `(batch, n)`,
            optionally `"confidences"` `(batch, n)` (shown after the class name).
        bounding_box_format: the boxes' format, e.g. `"xyxy"` (see
            `convolve.utils.bounding_boxes.convert_format`).
        class_mapping: class id to name; labels of classes in it are written by the box.
        color: the RGB colour of boxes and text.
        line_thickness: the outline thickness in pixels.
        text_thickness: the text thickness (falls back to `line_thickness` when 0 or None).
        font_scale: the text size, 1.0 being about 21 pixels for a capital letter.
        data_format: `"channels_last"` (default) or `"channels_first"`; the result has the
            layout of the input.

    Returns:
        A `uint8` NumPy array shaped like `images`.

    Example:
        >>> import numpy as np
        >>> out = draw_bounding_boxes(
        ...     np.zeros((1, 8, 8, 3)), {"boxes": [[[1, 1, 6, 6]]], "labels": [[0]]},
        ...     "xyxy", color=(255, 0, 0), line_thickness=1,
        ... )
        >>> out[0, 1, 1].tolist(), out[0, 3, 3].tolist()
        ([255, 0, 0], [0, 0, 0])
    """
    fn = "draw_bounding_boxes"
    class_mapping = class_mapping or {}
    text_thickness = text_thickness or line_thickness
    data_format = _check_data_format(data_format, fn)
    images = _check_images(images, fn)
    if not isinstance(bounding_boxes, dict):
        raise TypeError(
            f"{fn}(): bounding_boxes must be a dict with 'boxes' and 'labels'; received "
            f"bounding_boxes of type {type(bounding_boxes).__name__}"
        )
    if "boxes" not in bounding_boxes or "labels" not in bounding_boxes:
        raise ValueError(
            f"{fn}(): bounding_boxes must be a dict with 'boxes' and 'labels'; received "
            f"keys {sorted(bounding_boxes)}"
        )
    check_format(bounding_box_format, fn, "bounding_box_format")
    if data_format == "channels_first":
        images = images.transpose(0, 2, 3, 1)
    height, width = images.shape[1:3]
    boxes = convert_format(
        as_tensor(bounding_boxes["boxes"], fn, "bounding_boxes['boxes']"),
        bounding_box_format, "xyxy", height, width,
    )  # fmt: skip
    boxes, labels = _numpy(boxes), _numpy(bounding_boxes["labels"])
    confidences = bounding_boxes.get("confidences")
    confidences = None if confidences is None else _numpy(confidences)
    if boxes.ndim != 3 or labels.shape != boxes.shape[:2] or len(boxes) != len(images):
        raise ValueError(
            f"{fn}(): expected boxes of shape (batch, n, 4) and labels of shape (batch, n) "
            f"for {len(images)} images; received boxes of shape {boxes.shape} and labels "
            f"of shape {labels.shape}"
        )

    if images.dtype.kind == "f" and images.size > 0:
        images = np.clip(images, 0, 1) * 255 if images.max() <= 1.0 else np.clip(images, 0, 255)
    images = images.astype("uint8")  # a copy: the input is never drawn on
    paint = np.asarray((*color, 0, 0, 0, 0)[: images.shape[-1]], dtype=np.uint8)
    for i, image in enumerate(images):
        for j, box in enumerate(boxes[i]):
            c = int(labels[i, j].astype("int32"))
            if c == -1:
                continue
            x1, y1, x2, y2 = (int(v) for v in box.astype("int32"))
            rectangle(image, x1, y1, x2, y2, paint, int(line_thickness))
            if c in class_mapping:
                label = str(class_mapping[c])
                if confidences is not None:
                    label = f"{label} | {confidences[i][j]:.2f}"
                origin = _text_location(x1, y1, font_scale, text_thickness)
                _put_text(image, label, origin, color, font_scale, text_thickness)
    if data_format == "channels_first":
        images = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    return images


# ----------------------------------------------------------------------------- masks


def _palette(num_classes: int) -> list[list[int]]:
    """Keras's default class colours: class `i` gets `i * (2**25-1, 2**15-1, 2**21-1) % 255`."""
    base = np.array([2**25 - 1, 2**15 - 1, 2**21 - 1])
    return [((i * base) % 255).tolist() for i in range(num_classes)]


def draw_segmentation_masks(
    images: Any,
    segmentation_masks: Any,
    num_classes: int | None = None,
    color_mapping: dict | None = None,
    alpha: float = 0.8,
    blend: bool = True,
    ignore_index: int = -1,
    data_format: str | None = None,
) -> Any:
    """Paints each pixel's class colour over a batch of images.

    Every class `0 .. num_classes - 1` is painted (class 0 too, black in the default
    palette); pixels equal to `ignore_index` keep the image.

    Args:
        images: `(batch, height, width, channels)` images in `[0, 255]`.
        segmentation_masks: integer masks `(batch, height, width, 1)` or
            `(batch, height, width)`.
        num_classes: the number of classes (default: the largest class in the masks + 1).
        color_mapping: class index to RGB colour, for every class in `range(num_classes)`.
        alpha: the weight of the class colour when blending.
        blend: blend colours with the image (`uint8` NumPy result, `ignore_index` pixels
            untouched; negative classes are not drawn). Without blending, the painted
            images are returned as a float32 torch tensor, as Keras does on its torch
            backend.
        ignore_index: the class value that is never drawn.
        data_format: `"channels_last"` (default) or `"channels_first"`; the result is
            channels-last either way, as in Keras.

    Returns:
        The images with masks drawn (see `blend`).

    Raises:
        ValueError: For images that are not a batch, masks of another size, or classes of
            `num_classes` or more (other than `ignore_index`).
        TypeError: For masks that are not integers.

    Example:
        >>> import numpy as np
        >>> out = draw_segmentation_masks(
        ...     np.full((1, 2, 2, 3), 100.0), np.array([[[[0], [1]], [[-1], [1]]]]),
        ...     num_classes=2, color_mapping={0: (0, 0, 0), 1: (200, 0, 0)}, alpha=0.5,
        ... )
        >>> out[0, 0].tolist(), out[0, 1].tolist()
        ([[50, 50, 50], [150, 50, 50]], [[100, 100, 100], [150, 50, 50]])
    """
    fn = "draw_segmentation_masks"
    data_format = _check_data_format(data_format, fn)
    images = _check_images(images, fn)
    masks = as_tensor(segmentation_masks, fn, "segmentation_masks")
    if data_format == "channels_first":
        images = images.transpose(0, 2, 3, 1)
        if masks.ndim == 4:
            masks = masks.permute(0, 2, 3, 1)
    if masks.dtype == torch.bool or masks.is_floating_point() or masks.is_complex():
        raise TypeError(
            f"{fn}(): segmentation_masks must have an integer dtype; received "
            f"segmentation_masks.dtype={str(masks.dtype).split('.')[-1]}"
        )
    if masks.ndim == 3:
        masks = masks[..., None]
    if masks.ndim != 4 or masks.shape[-1] != 1 or tuple(masks.shape[:3]) != images.shape[:3]:
        raise ValueError(
            f"{fn}(): segmentation_masks must have shape (batch, height, width[, 1]) matching "
            f"images of shape {images.shape}; received segmentation_masks.shape="
            f"{tuple(segmentation_masks.shape)}"
        )
    masks = masks[..., 0].cpu().long()
    valid = masks != ignore_index
    if num_classes is None:
        num_classes = int(masks.max()) + 1 if masks.numel() else 0
    drawn_classes = masks[valid]
    if drawn_classes.numel() and drawn_classes.max() >= num_classes:
        raise ValueError(
            f"{fn}(): segmentation_masks holds class {int(drawn_classes.max())}, but "
            f"num_classes={num_classes} allows classes 0 to {num_classes - 1} "
            f"(ignore_index={ignore_index} and negative values are not drawn)"
        )
    if color_mapping is None:
        colors = _palette(num_classes)
    else:
        missing = [i for i in range(num_classes) if i not in color_mapping]
        if missing:
            raise ValueError(
                f"{fn}(): color_mapping must give a colour for every class in "
                f"range(num_classes={num_classes}); missing classes {missing}"
            )
        colors = [color_mapping[i] for i in range(num_classes)]

    image_t = torch.as_tensor(np.asarray(images, dtype=np.float32))
    painted = image_t.clone()
    for k, rgb in enumerate(colors):
        painted[(masks == k) & (masks >= 0)] = torch.as_tensor(rgb, dtype=torch.float32)
    if not blend:
        return painted
    out = image_t * (1 - alpha) + painted * alpha
    out = torch.where(valid[..., None], out, image_t)
    return out.to(torch.uint8).numpy()
