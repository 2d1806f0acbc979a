"""Bounding box utilities, as `keras.utils.bounding_boxes`: format conversion, clipping,
cropping, padding, affine transforms, IoU and CIoU, and anchor delta encoding.

Boxes are arrays or tensors of shape `(n, 4)` or `(batch, n, 4)`; NumPy arrays, nested lists
and torch tensors are accepted, and results are torch tensors (what Keras returns on its torch
backend). Torch inputs keep their device.

Formats (case-insensitive):

- `"xyxy"`: `[left, top, right, bottom]`
- `"yxyx"`: `[top, left, bottom, right]`
- `"xywh"`: `[left, top, width, height]`
- `"center_xywh"`: `[center_x, center_y, width, height]`
- `"center_yxhw"`: `[center_y, center_x, height, width]`
- `"rel_xyxy"`, `"rel_yxyx"`, `"rel_xywh"`, `"rel_center_xywh"`: the same with
  coordinates divided by the image width (x) and height (y).

Example:
    >>> import numpy as np
    >>> from convolve.utils import bounding_boxes
    >>> boxes = np.array([[10, 20, 30, 40]])
    >>> bounding_boxes.convert_format(boxes, source="xyxy", target="xywh").tolist()
    [[10.0, 20.0, 20.0, 20.0]]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from convolve import config
from convolve.ops._dtypes import to_torch_dtype

__all__ = [
    "SUPPORTED_FORMATS",
    "affine_transform",
    "clip_to_image_size",
    "compute_ciou",
    "compute_iou",
    "convert_format",
    "crop",
    "decode_deltas_to_boxes",
    "encode_box_to_deltas",
    "pad",
]

SUPPORTED_FORMATS = (
    "xyxy",
    "yxyx",
    "xywh",
    "center_xywh",
    "center_yxhw",
    "rel_xyxy",
    "rel_yxyx",
    "rel_xywh",
    "rel_center_xywh",
)


# ----------------------------------------------------------------------------- checks


def as_tensor(value: Any, function: str, name: str) -> torch.Tensor:
    """`value` (tensor, array, list or number) as a torch tensor; torch tensors as they are."""
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{function}(): {name} must be an array or tensor of numbers; received "
            f"{name} of type {type(value).__name__}"
        ) from error


def check_format(value: Any, function: str, name: str) -> str:
    """The lower-cased box format `value`, or one ValueError naming `name` and the value."""
    if not isinstance(value, str) or value.lower() not in SUPPORTED_FORMATS:
        raise ValueError(
            f"{function}(): {name} must be one of {SUPPORTED_FORMATS} (case-insensitive); "
            f"received {name}={value!r}"
        )
    return value.lower()


def _boxes(value: Any, function: str, name: str = "boxes") -> torch.Tensor:
    """Boxes as a tensor whose last axis has 4 entries."""
    boxes = as_tensor(value, function, name)
    if boxes.ndim == 0 or boxes.shape[-1] != 4:
        raise ValueError(
            f"{function}(): {name} must have a last dimension of 4, e.g. shape (n, 4) or "
            f"(batch, n, 4); received {name}.shape={tuple(boxes.shape)}"
        )
    return boxes


def _box_dict(value: Any, function: str, name: str) -> dict:
    if not isinstance(value, dict) or "boxes" not in value:
        received = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise ValueError(
            f"{function}(): {name} must be a dict with the key 'boxes' (and usually "
            f"'labels'); received {received}"
        )
    return value


def _only_xyxy(bounding_box_format: Any, function: str, allowed: tuple[str, ...]) -> None:
    if bounding_box_format not in allowed:
        raise NotImplementedError(
            f"{function}() supports bounding_box_format in {allowed} only, as Keras does; "
            f"received bounding_box_format={bounding_box_format!r}. Convert the boxes "
            "first with convert_format()."
        )


def _image_hw(image_shape: Any, function: str) -> tuple[Any, Any]:
    if image_shape is None:
        return None, None
    try:
        height, width, _ = image_shape
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{function}(): image_shape must be (height, width, channels); received "
            f"image_shape={image_shape!r}"
        ) from error
    return height, width


def _variance(variance: Any, function: str, like: torch.Tensor) -> torch.Tensor | None:
    if variance is None:
        return None
    value = as_tensor(variance, function, "variance").to(torch.float32)
    if value.ndim == 0 or value.shape[-1] != 4:
        raise ValueError(
            f"{function}(): variance must have 4 entries; received variance={variance!r}"
        )
    return value.to(like.device)


# ----------------------------------------------------------------------------- formats


def _split(boxes: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(boxes[..., i : i + 1] for i in range(4))


def _join(*parts: torch.Tensor) -> torch.Tensor:
    return torch.cat(parts, dim=-1)


def _to_xyxy(fmt: str, boxes: torch.Tensor, height: Any, width: Any) -> torch.Tensor:
    a, b, c, d = _split(boxes)
    if fmt == "xyxy":
        return boxes
    if fmt == "yxyx":
        return _join(b, a, d, c)
    if fmt == "xywh":
        return _join(a, b, a + c, b + d)
    if fmt in ("center_xywh", "center_yxhw"):
        cx, cy, w, h = (a, b, c, d) if fmt == "center_xywh" else (b, a, d, c)
        return _join(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)
    if fmt == "rel_xyxy":
        return _join(a * width, b * height, c * width, d * height)
    if fmt == "rel_yxyx":
        return _join(b * width, a * height, d * width, c * height)
    if fmt == "rel_xywh":
        return _join(a * width, b * height, (a + c) * width, (b + d) * height)
    # rel_center_xywh
    return _join(
        (a - c / 2.0) * width, (b - d / 2.0) * height,
        (a + c / 2.0) * width, (b + d / 2.0) * height,
    )  # fmt: skip


def _from_xyxy(fmt: str, boxes: torch.Tensor, height: Any, width: Any) -> torch.Tensor:
    x1, y1, x2, y2 = _split(boxes)
    if fmt == "xyxy":
        return boxes
    if fmt == "yxyx":
        return _join(y1, x1, y2, x2)
    w, h = x2 - x1, y2 - y1
    if fmt == "xywh":
        return _join(x1, y1, w, h)
    cx, cy = x1 + w / 2.0, y1 + h / 2.0
    if fmt == "center_xywh":
        return _join(cx, cy, w, h)
    if fmt == "center_yxhw":
        return _join(cy, cx, h, w)
    if fmt == "rel_xyxy":
        return _join(x1 / width, y1 / height, x2 / width, y2 / height)
    if fmt == "rel_yxyx":
        return _join(y1 / height, x1 / width, y2 / height, x2 / width)
    if fmt == "rel_xywh":
        return _join(x1 / width, y1 / height, w / width, h / height)
    # rel_center_xywh
    return _join(cx / width, cy / height, w / width, h / height)


def convert_format(
    boxes: Any,
    source: str,
    target: str,
    height: Any = None,
    width: Any = None,
    dtype: Any = "float32",
) -> Any:
    """Converts bounding boxes between formats.

    Args:
        boxes: boxes of shape `(..., 4)`, or a dict with a `"boxes"` entry (converted in
            place and the dict returned, as Keras does).
        source: the format of `boxes` (see the module docstring).
        target: the format to convert to.
        height: the image height, needed when exactly one of the formats is relative.
        width: the image width, likewise.
        dtype: the dtype of the result.

    Returns:
        A tensor of the boxes in `target` format (or the dict holding it).

    Raises:
        ValueError: For an unknown format, boxes whose last axis is not 4, or a relative
            conversion without `height` and `width`.

    Example:
        >>> convert_format([[10, 20, 30, 40]], "xyxy", "rel_xyxy", height=200, width=100)
        tensor([[0.1000, 0.1000, 0.3000, 0.2000]])
    """
    if isinstance(boxes, dict):
        boxes["boxes"] = convert_format(boxes["boxes"], source, target, height, width, dtype)
        return boxes
    fn = "convert_format"
    tensor = _boxes(boxes, fn)
    source, target = check_format(source, fn, "source"), check_format(target, fn, "target")
    relative = source.startswith("rel_") or target.startswith("rel_")
    if relative and (height is None or width is None):
        raise ValueError(
            f"convert_format(): converting from source={source!r} to target={target!r} "
            f"needs the image size; received height={height!r} and width={width!r}"
        )
    torch_dtype = to_torch_dtype(dtype)
    tensor = tensor.to(torch_dtype)
    if source == target:
        return tensor
    if width is not None:
        width = as_tensor(width, fn, "width").to(torch_dtype).to(tensor.device)
    if height is not None:
        height = as_tensor(height, fn, "height").to(torch_dtype).to(tensor.device)
    if source.startswith("rel_") and target.startswith("rel_"):
        source, target = source[4:], target[4:]
    return _from_xyxy(target, _to_xyxy(source, tensor, height, width), height, width)


# ----------------------------------------------------------------------------- geometry


def _area(x1: torch.Tensor, y1: torch.Tensor, x2: torch.Tensor, y2: torch.Tensor):
    return (x2 - x1) * (y2 - y1)


def clip_to_image_size(
    bounding_boxes: dict,
    height: Any = None,
    width: Any = None,
    bounding_box_format: str = "xyxy",
) -> dict:
    """Clips boxes to the image; boxes left with no area get the label -1.

    Args:
        bounding_boxes: a dict with `"boxes"` `(n, 4)` or `(batch, n, 4)` and, optionally,
            `"labels"` `(n,)` or `(batch, n)`.
        height: the image height (needed for `"xyxy"`).
        width: the image width (needed for `"xyxy"`).
        bounding_box_format: `"xyxy"` (clipped to `[0, width] x [0, height]`) or
            `"rel_xyxy"` (clipped to `[0, 1]`).

    Returns:
        A new dict (a shallow copy of the input) with the clipped boxes and labels.

    Example:
        >>> out = clip_to_image_size(
        ...     {"boxes": [[-10.0, -20.0, 150.0, 160.0]], "labels": [3]}, height=100, width=120
        ... )
        >>> out["boxes"].tolist(), out["labels"].tolist()
        ([[0.0, 0.0, 120.0, 100.0]], [3])
    """
    fn = "clip_to_image_size"
    _only_xyxy(bounding_box_format, fn, ("xyxy", "rel_xyxy"))
    if bounding_box_format == "xyxy" and (height is None or width is None):
        raise ValueError(
            f"{fn}(): height and width must be given for bounding_box_format='xyxy'; "
            f"received height={height!r} and width={width!r}"
        )
    _box_dict(bounding_boxes, fn, "bounding_boxes")
    boxes = _boxes(bounding_boxes["boxes"], fn, "bounding_boxes['boxes']")
    labels = bounding_boxes.get("labels")
    if bounding_box_format == "xyxy":
        w = as_tensor(width, fn, "width").to(boxes.dtype).to(boxes.device)
        h = as_tensor(height, fn, "height").to(boxes.dtype).to(boxes.device)
    else:
        w = h = torch.ones((), dtype=boxes.dtype, device=boxes.device)
    zero = torch.zeros((), dtype=boxes.dtype, device=boxes.device)
    x1, y1, x2, y2 = _split(boxes)
    x1, x2 = (torch.minimum(torch.maximum(v, zero), w) for v in (x1, x2))
    y1, y2 = (torch.minimum(torch.maximum(v, zero), h) for v in (y1, y2))
    result = dict(bounding_boxes)
    result["boxes"] = _join(x1, y1, x2, y2)
    if labels is not None:
        labels = as_tensor(labels, fn, "bounding_boxes['labels']").to(boxes.device)
        keep = _area(x1, y1, x2, y2).squeeze(-1) > 0
        result["labels"] = torch.where(keep, labels, torch.tensor(-1, dtype=labels.dtype))
    return result


def _scalar_or_tensor(value: Any, fn: str, name: str, like: torch.Tensor) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return as_tensor(value, fn, name).to(like.device)


def crop(
    boxes: Any,
    top: Any,
    left: Any,
    height: Any,
    width: Any,
    bounding_box_format: str = "xyxy",
) -> torch.Tensor:
    """Moves `"xyxy"` boxes into the crop window at (`top`, `left`) and clips them to it.

    Args:
        boxes: `(n, 4)` or `(batch, n, 4)` boxes in `"xyxy"` format.
        top: the window's top offset.
        left: the window's left offset.
        height: the window height (None: no clipping at the bottom).
        width: the window width (None: no clipping at the right).
        bounding_box_format: must be `"xyxy"`, as in Keras.

    Returns:
        The cropped boxes, a tensor of the input dtype.

    Example:
        >>> crop([[10, 20, 50, 60]], top=10, left=20, height=40, width=30).tolist()
        [[0, 10, 30, 40]]
    """
    fn = "crop"
    _only_xyxy(bounding_box_format, fn, ("xyxy",))
    boxes = _boxes(boxes, fn)
    top, left = (_scalar_or_tensor(v, fn, n, boxes) for v, n in ((top, "top"), (left, "left")))
    x1, y1, x2, y2 = _split(boxes)
    x1, x2 = x1 - left, x2 - left
    y1, y2 = y1 - top, y2 - top
    x1, x2 = (_clip(v, width, fn, "width") for v in (x1, x2))
    y1, y2 = (_clip(v, height, fn, "height") for v in (y1, y2))
    return _join(x1, y1, x2, y2)


def _clip(values: torch.Tensor, upper: Any, fn: str, name: str) -> torch.Tensor:
    values = torch.clamp(values, min=0)
    if upper is None:
        return values
    upper = _scalar_or_tensor(upper, fn, name, values)
    if isinstance(upper, torch.Tensor):
        return torch.minimum(values, upper.to(values.dtype))
    return torch.clamp(values, max=upper)


def pad(
    boxes: Any,
    top: Any,
    left: Any,
    height: Any = None,
    width: Any = None,
    bounding_box_format: str = "xyxy",
) -> torch.Tensor:
    """Shifts `"xyxy"` boxes by `top` and `left`, for an image padded at the top and left.

    `height` and `width` are accepted, as in Keras, and not used.

    Example:
        >>> pad([[10, 20, 50, 60]], top=10, left=20).tolist()
        [[30, 30, 70, 70]]
    """
    fn = "pad"
    _only_xyxy(bounding_box_format, fn, ("xyxy",))
    boxes = _boxes(boxes, fn)
    top, left = (_scalar_or_tensor(v, fn, n, boxes) for v, n in ((top, "top"), (left, "left")))
    x1, y1, x2, y2 = _split(boxes)
    return _join(x1 + left, y1 + top, x2 + left, y2 + top)


def _per_image(value: Any, fn: str, name: str, dtype: torch.dtype, device: Any) -> torch.Tensor:
    tensor = as_tensor(value, fn, name).to(dtype=dtype, device=device)
    if tensor.ndim > 1:
        raise ValueError(
            f"{fn}(): {name} must be a number or a vector with one value per image; "
            f"received {name} of shape {tuple(tensor.shape)}"
        )
    return tensor.reshape(-1)


def affine_transform(
    boxes: Any,
    angle: Any,
    translate_x: Any,
    translate_y: Any,
    scale: Any,
    shear_x: Any,
    shear_y: Any,
    height: Any,
    width: Any,
    center_x: Any = None,
    center_y: Any = None,
    bounding_box_format: str = "xyxy",
) -> torch.Tensor:
    """Applies an affine transform (rotation, translation, scale, shear) to `"xyxy"` boxes.

    The transform is the one Keras's `RandomAffine`-style image layers apply: each box's four
    corners are mapped and the result is their enclosing box.

    Args:
        boxes: `(batch, n, 4)` boxes (or `(n, 4)`, treated as one image).
        angle: rotation in degrees, one value per image (or one for all).
        translate_x: horizontal translation, a fraction of the width.
        translate_y: vertical translation, a fraction of the height.
        scale: scale factor.
        shear_x: shear angle along x, in degrees.
        shear_y: shear angle along y, in degrees.
        height: the image height.
        width: the image width.
        center_x: the transform centre as a fraction of the width (default 0.5).
        center_y: the transform centre as a fraction of the height (default 0.5).
        bounding_box_format: must be `"xyxy"`, as in Keras.

    Returns:
        The transformed boxes, same shape as `boxes`, in the dtype of `angle` when it is a
        floating array or tensor (float32 otherwise).
    """
    fn = "affine_transform"
    _only_xyxy(bounding_box_format, fn, ("xyxy",))
    boxes = _boxes(boxes, fn)
    if boxes.ndim not in (2, 3):
        raise ValueError(
            f"{fn}(): boxes must have shape (n, 4) or (batch, n, 4); received "
            f"boxes.shape={tuple(boxes.shape)}"
        )
    unbatched = boxes.ndim == 2
    angle_t = as_tensor(angle, fn, "angle")
    dtype = angle_t.dtype if angle_t.is_floating_point() else torch.float32
    device = boxes.device
    params = {
        "angle": angle, "translate_x": translate_x, "translate_y": translate_y,
        "scale": scale, "shear_x": shear_x, "shear_y": shear_y,
        "center_x": 0.5 if center_x is None else center_x,
        "center_y": 0.5 if center_y is None else center_y,
    }  # fmt: skip
    p = {name: _per_image(value, fn, name, dtype, device) for name, value in params.items()}
    size = torch.broadcast_shapes(*(v.shape for v in p.values()))
    if unbatched and size[0] != 1:
        raise ValueError(
            f"{fn}(): unbatched boxes of shape {tuple(boxes.shape)} take one value per "
            f"transform argument; received {size[0]} values"
        )
    matrix = _inverse_affine_matrix(p, height, width)  # (b, 2, 3)
    boxes = boxes.to(dtype)
    if unbatched:
        boxes = boxes[None]
    x1, y1, x2, y2 = boxes.unbind(-1)
    corners = torch.stack(
        [torch.stack(c, dim=-1) for c in ((x1, y1), (x2, y1), (x2, y2), (x1, y2))], dim=2
    )  # (b, n, 4, 2)
    corners = torch.cat([corners, torch.ones_like(corners[..., :1])], dim=-1)
    mapped = torch.einsum("bnxy,byz->bnxz", corners, matrix.transpose(1, 2))
    out = torch.cat([mapped.amin(dim=2), mapped.amax(dim=2)], dim=-1)
    return out[0] if unbatched else out


def _inverse_affine_matrix(p: dict[str, torch.Tensor], height: Any, width: Any) -> torch.Tensor:
    """The `(b, 2, 3)` matrix Keras's affine image layers use (TF's inverse affine form)."""
    deg = 1.0 / 180.0 * math.pi
    cx = p["center_x"] * (width - 1)
    cy = p["center_y"] * (height - 1)
    rot = -p["angle"] * deg
    tx = -p["translate_x"] * (width - 1)
    ty = -p["translate_y"] * (height - 1)
    sx = -p["shear_x"] * deg
    sy = -p["shear_y"] * deg
    cos_sy, tan_sx = torch.cos(sy), torch.tan(sx)
    a = torch.cos(rot - sy) / cos_sy
    b = a * tan_sx + torch.sin(rot)
    c = -torch.sin(rot - sy) / cos_sy
    d = torch.cos(rot) - c * tan_sx
    scale = p["scale"]
    a0, a1, b0, b1 = d * scale, -b * scale, -c * scale, a * scale
    a2 = cx - a0 * (cx + tx) - a1 * (cy + ty)
    b2 = cy - b0 * (cx + tx) - b1 * (cy + ty)
    rows = torch.broadcast_tensors(a0, a1, a2, b0, b1, b2)
    return torch.stack(rows, dim=-1).reshape(-1, 2, 3)


# ----------------------------------------------------------------------------- IoU


def _check_rank(boxes: torch.Tensor, fn: str, name: str) -> None:
    if boxes.ndim not in (2, 3):
        raise ValueError(
            f"{fn}(): {name} must have shape (n, 4) or (batch, n, 4); received "
            f"{name}.shape={tuple(boxes.shape)}"
        )


def compute_iou(
    boxes1: Any,
    boxes2: Any,
    bounding_box_format: str,
    use_masking: bool = False,
    mask_val: float = -1,
    image_shape: Any = None,
) -> torch.Tensor:
    """The pairwise IoU of two sets of boxes.

    `(m, 4)` and `(n, 4)` give `(m, n)`; if either is batched, `(batch, m, 4)` or
    `(batch, n, 4)`, the result is `(batch, m, n)`.

    Args:
        boxes1: the first boxes.
        boxes2: the second boxes.
        bounding_box_format: their format (see the module docstring).
        use_masking: set the IoU of pairs where a box has all coordinates below 0 (padding)
            to `mask_val`.
        mask_val: the value for masked pairs.
        image_shape: `(height, width, channels)`, needed for relative formats.

    Example:
        >>> round(float(compute_iou([[0, 0, 2, 2]], [[1, 0, 3, 2]], "xyxy")[0, 0]), 4)
        0.3333
    """
    fn = "compute_iou"
    boxes1, boxes2 = _boxes(boxes1, fn, "boxes1"), _boxes(boxes2, fn, "boxes2")
    _check_rank(boxes1, fn, "boxes1")
    _check_rank(boxes2, fn, "boxes2")
    fmt = check_format(bounding_box_format, fn, "bounding_box_format")
    if fmt.startswith("rel_") and image_shape is None:
        raise ValueError(
            f"{fn}(): bounding_box_format={bounding_box_format!r} is relative and needs "
            "image_shape=(height, width, channels); received image_shape=None"
        )
    height, width = _image_hw(image_shape, fn)
    boxes1 = convert_format(boxes1, fmt, "yxyx", height, width)
    boxes2 = convert_format(boxes2, fmt, "yxyx", height, width)
    # (…, m, 1, 4) against (…, 1, n, 4) broadcasts to (…, m, n)
    a, b = _split(boxes1.unsqueeze(-2).to(boxes2.device)), _split(boxes2.unsqueeze(-3))
    ymin1, xmin1, ymax1, xmax1 = (v.squeeze(-1) for v in a)
    ymin2, xmin2, ymax2, xmax2 = (v.squeeze(-1) for v in b)
    zero = torch.zeros((), dtype=boxes1.dtype, device=boxes2.device)
    inter_h = torch.maximum(zero, torch.minimum(ymax1, ymax2) - torch.maximum(ymin1, ymin2))
    inter_w = torch.maximum(zero, torch.minimum(xmax1, xmax2) - torch.maximum(xmin1, xmin2))
    intersection = inter_h * inter_w
    union = (ymax1 - ymin1) * (xmax1 - xmin1) + (ymax2 - ymin2) * (xmax2 - xmin2)
    iou = intersection / (union - intersection + config.epsilon())
    if not use_masking:
        return iou
    padding1 = boxes1.to(boxes2.device).amax(dim=-1).unsqueeze(-1) < 0  # (…, m, 1)
    padding2 = boxes2.amax(dim=-1).unsqueeze(-2) < 0  # (…, 1, n)
    fill = torch.tensor(mask_val, dtype=iou.dtype, device=iou.device)
    return torch.where(padding1 | padding2, fill, iou)


def compute_ciou(
    boxes1: Any, boxes2: Any, bounding_box_format: str, image_shape: Any = None
) -> torch.Tensor:
    """The Complete IoU of matching boxes (`boxes1[..., i]` with `boxes2[..., i]`).

    CIoU is IoU less the normalised squared centre distance and an aspect-ratio term; the
    result has the shape of the boxes without their last axis. Relative formats are refused,
    as in Keras.

    Example:
        >>> round(float(compute_ciou([[0, 0, 2, 2]], [[0, 0, 2, 2]], "xyxy")[0]), 4)
        1.0
    """
    fn = "compute_ciou"
    fmt = check_format(bounding_box_format, fn, "bounding_box_format")
    if fmt.startswith("rel_"):
        raise ValueError(
            f"{fn}() does not take relative formats (as in Keras): convert the boxes to an "
            f"absolute format first; received bounding_box_format={bounding_box_format!r}"
        )
    boxes1, boxes2 = _boxes(boxes1, fn, "boxes1"), _boxes(boxes2, fn, "boxes2")
    height, width = _image_hw(image_shape, fn)
    boxes1 = convert_format(boxes1, fmt, "xyxy", height, width)
    boxes2 = convert_format(boxes2, fmt, "xyxy", height, width).to(boxes1.device)
    eps = config.epsilon()
    xmin1, ymin1, xmax1, ymax1 = _split(boxes1)
    xmin2, ymin2, xmax2, ymax2 = _split(boxes2)
    w1, h1 = xmax1 - xmin1, ymax1 - ymin1 + eps
    w2, h2 = xmax2 - xmin2, ymax2 - ymin2 + eps
    inter = torch.clamp(torch.minimum(xmax1, xmax2) - torch.maximum(xmin1, xmin2), min=0)
    inter = inter * torch.clamp(torch.minimum(ymax1, ymax2) - torch.maximum(ymin1, ymin2), min=0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = (inter / (union + eps)).squeeze(-1)
    hull_w = torch.maximum(xmax1, xmax2) - torch.minimum(xmin1, xmin2)
    hull_h = torch.maximum(ymax1, ymax2) - torch.minimum(ymin1, ymin2)
    diagonal = (hull_w**2 + hull_h**2 + eps).squeeze(-1)
    centres = (
        ((xmin1 + xmax1) / 2 - (xmin2 + xmax2) / 2) ** 2
        + ((ymin1 + ymax1) / 2 - (ymin2 + ymax2) / 2) ** 2
    ).squeeze(-1)
    v = ((4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)) ** 2).squeeze(-1)
    alpha = v / (v - iou + (1 + eps))
    return iou - (centres / diagonal + v * alpha)


# ----------------------------------------------------------------------------- deltas


def _check_encoding(value: Any, fn: str, name: str) -> str:
    if value not in ("center_xywh", "center_yxhw"):
        raise ValueError(
            f"{fn}(): {name} must be 'center_xywh' or 'center_yxhw'; received {name}={value!r}"
        )
    return value


def encode_box_to_deltas(
    anchors: Any,
    boxes: Any,
    anchor_format: str,
    box_format: str,
    encoding_format: str = "center_yxhw",
    variance: Any = None,
    image_shape: Any = None,
) -> torch.Tensor:
    """Encodes boxes as offsets from anchors (centre shift over anchor size, log size ratio).

    Args:
        anchors: `(n, 4)` anchor boxes in `anchor_format`.
        boxes: `(n, 4)` or `(batch, n, 4)` boxes in `box_format`.
        anchor_format: the anchors' format.
        box_format: the boxes' format.
        encoding_format: `"center_yxhw"` or `"center_xywh"`, the order of the deltas.
        variance: 4 factors the deltas are divided by.
        image_shape: `(height, width, channels)`, for relative formats.

    Returns:
        The deltas, shaped like `boxes`.
    """
    fn = "encode_box_to_deltas"
    _check_encoding(encoding_format, fn, "encoding_format")
    height, width = _image_hw(image_shape, fn)
    anchors = convert_format(anchors, anchor_format, encoding_format, height, width)
    boxes = convert_format(boxes, box_format, encoding_format, height, width)
    variance = _variance(variance, fn, boxes)
    anchors = anchors.to(boxes.device)
    eps = config.epsilon()
    anchor_size = torch.clamp(anchors[..., 2:], min=eps)
    box_size = torch.clamp(boxes[..., 2:], min=eps)
    deltas = torch.cat(
        [(boxes[..., :2] - anchors[..., :2]) / anchor_size, torch.log(box_size / anchor_size)],
        dim=-1,
    )
    return deltas / variance if variance is not None else deltas


def decode_deltas_to_boxes(
    anchors: Any,
    boxes_delta: Any,
    anchor_format: str,
    box_format: str,
    encoded_format: str = "center_yxhw",
    variance: Any = None,
    image_shape: Any = None,
) -> Any:
    """Applies deltas (from `encode_box_to_deltas`) to anchors, giving boxes in `box_format`.

    Args:
        anchors: `(n, 4)` anchors, or a dict of them keyed by feature level.
        boxes_delta: `(n, 4)` or `(batch, n, 4)` deltas, or a dict with the same keys.
        anchor_format: the anchors' format.
        box_format: the format of the returned boxes.
        encoded_format: `"center_yxhw"` or `"center_xywh"`, the order of the deltas.
        variance: 4 factors the deltas are multiplied by.
        image_shape: `(height, width, channels)`, for relative formats.

    Returns:
        The boxes (a dict of them when dicts were given).
    """
    fn = "decode_deltas_to_boxes"
    _check_encoding(encoded_format, fn, "encoded_format")
    height, width = _image_hw(image_shape, fn)

    def decode(anchor: Any, delta: Any) -> torch.Tensor:
        anchor = convert_format(anchor, anchor_format, encoded_format, height, width)
        delta = as_tensor(delta, fn, "boxes_delta").to(anchor.device)
        scale = _variance(variance, fn, delta)
        if scale is not None:
            delta = delta * scale
        centre = delta[..., :2] * anchor[..., 2:] + anchor[..., :2]
        size = torch.exp(delta[..., 2:]) * anchor[..., 2:]
        box = torch.cat([centre, size], dim=-1)
        return convert_format(box, encoded_format, box_format, height, width)

    if isinstance(anchors, dict) and isinstance(boxes_delta, dict):
        missing = sorted(set(anchors) - set(boxes_delta), key=str)
        if missing:
            raise ValueError(
                f"{fn}(): boxes_delta must have the keys of anchors; missing {missing}"
            )
        return {level: decode(anchor, boxes_delta[level]) for level, anchor in anchors.items()}
    return decode(anchors, boxes_delta)
