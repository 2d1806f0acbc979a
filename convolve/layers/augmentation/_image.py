"""The base of image layers and the batched image operations they share.

Every image layer takes a batch of channels-last images, a single image (rank 3, as Keras
allows), or Keras's dict `{"images": ..., "labels": ..., "bounding_boxes": {"boxes": ...,
"labels": ...}, "segmentation_masks": ...}` (every key but "images" optional). Each part goes
through the same random draw: labels change in the layers that mix images (`MixUp`,
`CutMix`); boxes and masks follow the geometry of the layers that move pixels (masks
resampled with nearest interpolation) and pass through the others unchanged. Inside, images
and masks are engine-layout tensors `(batch, channels, height, width)`.

Random layers draw all of a batch's parameters at once, on the images' device: from their own
`torch.Generator` when given a `seed`, otherwise from torch's global generator (so
`convolve.utils.set_random_seed` makes a run repeatable).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from convolve import random
from convolve.layers import _conv_utils as cu
from convolve.layers import layout
from convolve.layers.base import Layer, is_shape, torch_dtype
from convolve.layers.symbolic import is_symbolic

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")
DICT_KEYS = ("images", "labels", "bounding_boxes", "segmentation_masks")


# --------------------------------------------------------------------- argument checks
def choice(check: cu.ArgumentErrors, name: str, value: Any, options: Sequence[str]) -> str:
    if isinstance(value, str) and value in options:
        return value
    listing = ", ".join(repr(o) for o in options)
    check.add(f"{name} must be one of {listing}, received {name}={value!r}")
    return options[0]


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def number(check: cu.ArgumentErrors, name: str, value: Any) -> float:
    if is_number(value):
        return float(value)
    check.add(f"{name} must be a number, received {name}={value!r}")
    return 0.0


def seed_value(check: cu.ArgumentErrors, value: Any) -> int | None:
    if value is None or cu.is_int(value):
        return None if value is None else int(value)
    check.add(f"seed must be None or an integer, received seed={value!r}")
    return None


def number_pair(check: cu.ArgumentErrors, name: str, value: Any) -> tuple[float, float] | None:
    """A sequence of exactly two numbers."""
    ok = isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2
    if ok and all(is_number(v) for v in value):
        return float(value[0]), float(value[1])
    check.add(f"{name} must be a list or tuple of two numbers, received {name}={value!r}")
    return None


def value_range(check: cu.ArgumentErrors, value: Any) -> tuple[float, float]:
    """Keras's `value_range`: two different numbers, the `(low, high)` range of the inputs,
    returned sorted."""
    pair = number_pair(check, "value_range", value)
    if pair is not None and pair[0] == pair[1]:
        check.add(f"value_range must hold two different numbers, received value_range={value!r}")
    return (0.0, 255.0) if pair is None else (min(pair), max(pair))


def factor_range(
    check: cu.ArgumentErrors,
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
) -> tuple[float, float]:
    """Keras's `factor` rule: a pair means `sorted(pair)`, a number `f` means
    `(max(-|f|, low), |f|)`: `(-f, f)` for symmetric bounds, `(0, f)` for bounds from 0.

    Every number given must lie in `[low, high]` (`(low, high]` with `low_open`).
    """

    def inside(v: Any) -> bool:
        if not is_number(v):
            return False
        return (v > low if low_open else v >= low) and v <= high

    # Numbers keep their type, as in Keras's configs: `0.2` gives `(0, 0.2)`, `1` gives `(-1, 1)`.
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) == 2 and all(inside(v) for v in value):
            lower, upper = sorted(value)
            return lower, upper
    elif inside(value):
        f = abs(value)
        return (-f if -f > low else _plain_number(low)), f
    interval = f"{'(' if low_open else '['}{low}, {high}]"
    check.add(
        f"{name} must be a number or a pair of numbers, each in {interval}, "
        f"received {name}={value!r}"
    )
    return 0.0, 0.0


def _plain_number(value: float) -> float:
    """A whole bound as an int (`0.0` as `0`), as Keras's integer bounds print."""
    return int(value) if float(value).is_integer() else value


def keras_key_order(config: dict[str, Any], trailing: Sequence[str]) -> dict[str, Any]:
    """`config` with the keys in `trailing` moved to its end, in that order: Keras's order."""
    for key in trailing:
        if key in config:
            config[key] = config.pop(key)
    return config


# --------------------------------------------------------------------- image operations
def resize(
    images: torch.Tensor,
    size: tuple[int, int],
    interpolation: str = "bilinear",
    antialias: bool = False,
) -> torch.Tensor:
    """Resizes `(batch, channels, height, width)` float images as Keras's torch backend does.

    "bilinear" and "bicubic" use half-pixel centres (`align_corners=False`); "nearest" is
    torch's "nearest-exact". `antialias` applies to "bilinear" and "bicubic" only.
    """
    if tuple(images.shape[-2:]) == tuple(size) and not antialias:
        # Half-pixel resampling to the same size reads every pixel at its centre.
        if interpolation in ("bilinear", "nearest"):
            return images
    mode = {"bilinear": "bilinear", "nearest": "nearest-exact", "bicubic": "bicubic"}
    smooth = interpolation in ("bilinear", "bicubic")
    return F.interpolate(
        images,
        size=tuple(size),
        mode=mode[interpolation],
        align_corners=False if smooth else None,
        antialias=bool(antialias) and smooth,
    )


def box_masks(
    x0: torch.Tensor, x1: torch.Tensor, y0: torch.Tensor, y1: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """`(batch, 1, height, width)`: True at the pixels `(x, y)` with `x0 <= x < x1` and
    `y0 <= y < y1`, for each image's own box (Keras's whole-pixel membership)."""
    xs = torch.arange(width, device=x0.device, dtype=torch.float32)
    ys = torch.arange(height, device=x0.device, dtype=torch.float32)
    inside_x = (xs >= x0[:, None]) & (xs < x1[:, None])
    inside_y = (ys >= y0[:, None]) & (ys < y1[:, None])
    return inside_y[:, None, :, None] & inside_x[:, None, None, :]


def aspect_crop_box(height: int, width: int, target: tuple[int, int]) -> tuple[int, int, int, int]:
    """Keras's largest centred window of the target aspect ratio: (top, left, rows, cols)."""
    target_h, target_w = target
    rows = max(min(height, int(float(width * target_h) / target_w)), 1)
    cols = max(min(width, int(float(height * target_w) / target_h)), 1)
    return int(float(height - rows) / 2), int(float(width - cols) / 2), rows, cols


def crop_to_aspect(images: torch.Tensor, target: tuple[int, int]) -> torch.Tensor:
    top, left, rows, cols = aspect_crop_box(images.shape[-2], images.shape[-1], target)
    return images[..., top : top + rows, left : left + cols]


def window_boxes(
    boxes: torch.Tensor, top: Any, left: Any, rows: Any, cols: Any, size: tuple[int, int]
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pixel "xyxy" boxes of the window at `(top, left)` of size `(rows, cols)` (numbers or
    one per image), stretched onto an output of `size`; returns them with `size`."""

    def per_image(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return v.to(device=boxes.device, dtype=boxes.dtype)[:, None]
        return v

    top, left, rows, cols = (per_image(v) for v in (top, left, rows, cols))
    x1, y1, x2, y2 = boxes.unbind(-1)
    sx, sy = size[1] / cols, size[0] / rows
    moved = [(x1 - left) * sx, (y1 - top) * sy, (x2 - left) * sx, (y2 - top) * sy]
    return torch.stack(moved, dim=-1), size


def aspect_boxes(
    boxes: torch.Tensor, height: int, width: int, size: tuple[int, int]
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Boxes through `smart_resize`: the centred window of the target aspect ratio, resized."""
    return window_boxes(boxes, *aspect_crop_box(height, width, size), size)


def aspect_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Masks through `smart_resize`, with nearest interpolation; they keep their dtype."""
    return smart_resize(masks.to(torch.float32), size, "nearest").to(masks.dtype)


def pad_to_aspect(images: torch.Tensor, target: tuple[int, int], value: float) -> torch.Tensor:
    """Pads evenly on the short side to the target aspect ratio, as Keras does."""
    height, width = images.shape[-2:]
    target_h, target_w = target
    rows = max(height, int(float(width * target_h) / target_w))
    cols = max(width, int(float(height * target_w) / target_h))
    top, left = int(float(rows - height) / 2), int(float(cols - width) / 2)
    if top == 0 and left == 0:
        return images
    return F.pad(images, (left, left, top, top), value=float(value))


def smart_resize(images: torch.Tensor, size: tuple[int, int], interpolation: str = "bilinear"):
    """Crops the largest centred window of the target aspect ratio, then resizes it."""
    return resize(crop_to_aspect(images, size), size, interpolation)


@functools.lru_cache(maxsize=32)
def _pixel_centres(size: int, device: torch.device) -> torch.Tensor:
    return torch.arange(size, dtype=torch.float32, device=device)


def _coordinate_planes(rows: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """`(batch, 2, height, width)`: plane `k` holds `rows[:, k] @ [x, y, 1]` at every pixel.

    One outer sum of a per-row and a per-column term. Planes, rather than `(x, y)` pairs
    interleaved in the last axis, keep that sum's inner loop the length of an image row,
    many times faster on CPU; `grid_sample` reads the permuted view at the same speed.
    """
    xs = _pixel_centres(width, rows.device)
    ys = _pixel_centres(height, rows.device)
    along_x = xs * rows[:, :, 0, None]  # (batch, 2, width)
    along_y = ys * rows[:, :, 1, None] + rows[:, :, 2, None]  # (batch, 2, height)
    return along_y[:, :, :, None] + along_x[:, :, None, :]


def _writes_columns(rows: torch.Tensor, images: torch.Tensor) -> bool:
    """Whether to resample through transposed views, writing the output column by column.

    On CPU, `grid_sample` gathers the input for consecutive output pixels at once, and (as
    measured on an AVX-512 AMD EPYC) runs up to twice as slow when those reads follow a line
    slightly slanted against the input's rows in memory (a small rotation) than when they
    follow a row exactly or cross rows steeply. Each image's map says which way its output
    rows and columns run through the input; the batch is written along whichever of the
    two is slanted for fewer images, by rows when equal. The choice only reorders float
    operations (results agree to float32 rounding) and depends on nothing but the map and
    the layout, so seeded runs repeat exactly.
    """
    if images.device.type != "cpu" or torch.compiler.is_compiling():
        return False  # no host read on a GPU, no graph break in a compiled step
    fast, slow = (0, 1) if images.stride(-1) <= images.stride(-2) else (1, 0)
    steps = rows.detach().abs()  # [:, k, j]: input axis k per output step along axis j

    def slanted(out_axis: int) -> int:
        along, across = steps[:, fast, out_axis], steps[:, slow, out_axis]
        return int(((across > 0) & (across < along)).sum())

    return slanted(1) < slanted(0)


_PADDING = {"constant": "zeros", "nearest": "border", "reflect": "reflection", "wrap": "border"}


def affine_transform(
    images: torch.Tensor,
    transform: torch.Tensor,
    interpolation: str = "bilinear",
    fill_mode: str = "constant",
    fill_value: float = 0.0,
    output_size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Resamples each image of a batch through its own affine map, with Keras's fill modes.

    `transform` holds one row `[a0, a1, a2, b0, b1, b2, c0, c1]` per image (Keras's layout;
    `c0, c1` must be 0): output pixel `(x, y)` (column, row) reads the input at
    `(a0*x + a1*y + a2, b0*x + b1*y + b2)`, in pixel units with pixel centres at integers.
    Points outside the input are filled as Keras's `fill_mode` says: "reflect" (about the
    edge, `d c b a | a b c d | d c b a`), "wrap", "nearest" (edge pixel) or "constant"
    (`fill_value`, weighted into the interpolation as Keras does). One `grid_sample` call
    does the whole batch. The result is channels-first memory, rows or columns contiguous
    (see `_writes_columns`).
    """
    batch, _, height, width = images.shape
    out_h, out_w = output_size or (height, width)
    rows = transform.to(device=images.device, dtype=torch.float32)[:, :6].reshape(batch, 2, 3)
    size = torch.tensor([width, height], dtype=torch.float32, device=images.device)
    if fill_mode == "wrap":
        # Wrap pixel coordinates into [0, size), then sample an image extended by its first
        # row and column, so that the neighbour of the last pixel is the first one.
        images = F.pad(images, (0, 1, 0, 1), mode="circular")
    columns = _writes_columns(rows, images)
    if fill_mode != "wrap":
        # Fold the pixel -> [-1, 1] normalisation (align_corners=False) into the map.
        rows = rows * (2.0 / size)[None, :, None]
        rows[:, :, 2] += 1.0 / size - 1.0
    if columns:
        # The same resampling of the transposed images: x and y swap on both sides of the
        # map, and the output is the transpose of what grid_sample writes.
        rows = rows.flip(1)[:, :, [1, 0, 2]]
        size, images, (out_h, out_w) = size.flip(0), images.transpose(-1, -2), (out_w, out_h)
    planes = _coordinate_planes(rows, out_h, out_w)
    if fill_mode == "wrap":
        size = size[None, :, None, None]
        planes = (2.0 * torch.remainder(planes, size) + 1.0) / (size + 1.0) - 1.0
    grid = planes.permute(0, 2, 3, 1).to(
        images.dtype if images.is_floating_point() else torch.float32
    )
    fill = float(fill_value) if fill_mode == "constant" else 0.0
    out = sample_filled(images, grid, interpolation, _PADDING[fill_mode], fill)
    # Left in grid_sample's channels-first memory: a following affine layer picks its write
    # order for whichever layout it gets, and convolution and pooling convert what they
    # receive (`layout.feature_map_format`), so a stack of these layers costs one copy.
    return out.transpose(-1, -2) if columns else out


def sample_filled(
    images: torch.Tensor, grid: torch.Tensor, interpolation: str, padding: str, fill: float
) -> torch.Tensor:
    """`grid_sample` (half-pixel centres) that reads `fill` outside the image where
    `padding` is "zeros": outside neighbours weigh in as `fill`, as in Keras's
    interpolation with a constant fill."""
    source = images - fill if fill else images
    out = F.grid_sample(source, grid, mode=interpolation, padding_mode=padding, align_corners=False)
    return out + fill if fill else out


# --------------------------------------------------------------------- layers
class ImageLayer(Layer):
    """Base of layers that take images, optionally in Keras's dict with labels, bounding
    boxes and segmentation masks.

    Subclasses implement `transform_images` (and `transform_labels` when they change
    labels), and `get_random_transformation` when they draw random parameters. Layers that
    move pixels implement `_transform_boxes_xyxy` (boxes in pixel `"xyxy"` coordinates) and
    `_transform_masks`; layers that only change pixel values set `_keeps_geometry`, and
    boxes and masks pass through them. A call with `training` left unset takes it from the
    call it runs in, else uses `_default_training`: True for random layers, as in Keras,
    where calling an augmentation layer directly augments; models pass `training`
    explicitly (True in `fit`, False in `predict` and `evaluate`).

    Args:
        bounding_box_format: the format of the boxes of dict inputs (e.g. `"xyxy"`, see
            `convolve.utils.bounding_boxes`); needed, as in Keras, when the input holds
            `"bounding_boxes"`.
    """

    _engine_layout = True
    _default_training = False
    _float_images = True  # outputs are floats of the layer's dtype, as Keras's are
    _keeps_geometry = False  # pixel-value layers: boxes and masks pass through unchanged
    _config_keys: tuple[str, ...] = ()  # constructor arguments that get_config reports as set

    def __init__(self, *args: Any, bounding_box_format: str | None = None, **kwargs: Any):
        if bounding_box_format is not None:
            from convolve.utils import bounding_boxes as bbox

            fmt = bounding_box_format
            if not isinstance(fmt, str) or fmt.lower() not in bbox.SUPPORTED_FORMATS:
                raise ValueError(
                    f"{type(self).__name__}: bounding_box_format must be None or one of "
                    f"{bbox.SUPPORTED_FORMATS}; received bounding_box_format={fmt!r}"
                )
        super().__init__(*args, **kwargs)
        self.bounding_box_format = bounding_box_format

    def _image_shape(self, input_shape: Any) -> Any:
        if isinstance(input_shape, dict):
            if "images" not in input_shape:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}): a dict input needs an "
                    f"'images' entry; received keys {sorted(input_shape)}"
                )
            unknown = sorted(set(input_shape) - set(DICT_KEYS))
            if unknown:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}): dict inputs may hold "
                    "'images', 'labels', 'bounding_boxes' and 'segmentation_masks' only; "
                    f"received keys {sorted(input_shape)}"
                )
            return input_shape["images"]
        return input_shape

    def build_for(self, input_shape: Any) -> None:
        shape = self._image_shape(input_shape)
        if not is_shape(shape) or len(shape) != 4:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects images of shape "
                "(batch, height, width, channels) or one image (height, width, channels); "
                f"received shape {shape}"
            )
        super().build_for(input_shape)

    def forward(self, inputs: Any, *args: Any, training: Any = None, **kwargs: Any) -> Any:
        training = None if training is None else bool(training)  # None: see Layer._invoke
        if is_symbolic(inputs):
            return super().forward(inputs, *args, training=training, **kwargs)
        if isinstance(inputs, dict):
            self._image_shape(inputs)  # checks the keys
            inputs = dict(inputs)  # Keras mutates the caller's dict; this does not
        images = inputs["images"] if isinstance(inputs, dict) else inputs
        rank = np.ndim(images)
        if isinstance(inputs, dict):
            if "bounding_boxes" in inputs:
                inputs["bounding_boxes"] = self._dense_boxes(inputs["bounding_boxes"], rank)
            if "segmentation_masks" in inputs:
                self._check_masks(inputs["segmentation_masks"], rank)
        if rank != 3:
            return super().forward(inputs, *args, training=training, **kwargs)
        # One image: add a batch axis around the call, as Keras does.
        batched = _map_batch_axis(inputs, lambda t: t[None])
        out = super().forward(batched, *args, training=training, **kwargs)
        return _map_batch_axis(out, lambda t: t[0])

    def _dense_boxes(self, value: Any, image_rank: int) -> dict[str, Any]:
        """Keras's `densify_bounding_boxes`: a dict of `"boxes"` and `"labels"` tensors,
        ragged inputs (lists of per-image lists, ragged tensors) padded with boxes of 0 and
        labels of -1."""
        where = f"Layer '{self.name}' ({type(self).__name__})"
        if not isinstance(value, dict) or "boxes" not in value or "labels" not in value:
            received = sorted(value) if isinstance(value, dict) else type(value).__name__
            raise ValueError(
                f"{where}: 'bounding_boxes' must be a dict with the keys 'boxes' and "
                f"'labels'; received {received}"
            )
        boxes, labels = value["boxes"], value["labels"]
        if hasattr(boxes, "to_tensor") and hasattr(labels, "to_tensor"):  # ragged tensors
            boxes = np.asarray(boxes.to_tensor(default_value=0))
            labels = np.asarray(labels.to_tensor(default_value=-1))
        elif image_rank == 4 and _is_ragged(boxes):
            boxes, labels = _pad_ragged(boxes, labels, where)
        out = dict(value)
        out["boxes"] = boxes if isinstance(boxes, torch.Tensor) else _as_array(boxes, where)
        out["labels"] = labels if isinstance(labels, torch.Tensor) else _as_array(labels, where)
        box_rank = image_rank - 1
        shape, label_shape = tuple(np.shape(out["boxes"])), tuple(np.shape(out["labels"]))
        if len(shape) != box_rank or shape[-1] != 4 or label_shape[: box_rank - 1] != shape[:-1]:
            expected = "(batch, n, 4) and (batch, n)" if image_rank == 4 else "(n, 4) and (n,)"
            raise ValueError(
                f"{where}: bounding boxes for images of rank {image_rank} need 'boxes' and "
                f"'labels' of shapes {expected}; received {shape} and {label_shape}"
            )
        return out

    def _check_masks(self, masks: Any, image_rank: int) -> None:
        if np.ndim(masks) != image_rank:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): 'segmentation_masks' must have "
                f"the images' rank {image_rank}, with a channel axis last (e.g. (batch, "
                f"height, width, 1)); received shape {tuple(np.shape(masks))}"
            )

    def call(self, inputs: Any, training: bool = False) -> Any:
        images = inputs["images"] if isinstance(inputs, dict) else inputs
        if self._float_images:
            images = self._to_float(images)
        transformation = self.get_random_transformation(images, training=training)
        out_images = self.transform_images(images, transformation, training=training)
        if not isinstance(inputs, dict):
            return out_images
        out = dict(inputs)
        out["images"] = out_images
        if "bounding_boxes" in inputs:
            out["bounding_boxes"] = self._call_boxes(
                inputs["bounding_boxes"], transformation, training, tuple(images.shape[-2:])
            )
        if "labels" in inputs:
            out["labels"] = self.transform_labels(inputs["labels"], transformation, training)
        if "segmentation_masks" in inputs:
            out["segmentation_masks"] = self.transform_segmentation_masks(
                inputs["segmentation_masks"], transformation, training=training
            )
        return out

    def _require_box_format(self) -> None:
        """Boxes need `bounding_box_format`, as in Keras."""
        if not self.bounding_box_format:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) received an input with a "
                "'bounding_boxes' key but no bounding box format: pass one, e.g. "
                f"{type(self).__name__}(..., bounding_box_format='xyxy')"
            )

    def _call_boxes(
        self, given: dict, transformation: Any, training: bool, image_size: tuple[int, int]
    ) -> dict:
        self._require_box_format()
        # Boxes came through the engine-layout conversion with the images: undo it here.
        boxes = layout.to_user(given["boxes"]).to(torch.float32)
        result = self.transform_bounding_boxes(
            {**given, "boxes": boxes}, transformation, training=training, image_size=image_size
        )
        return {**result, "boxes": layout.to_engine(result["boxes"])}

    def _to_float(self, x: torch.Tensor) -> torch.Tensor:
        dtype = torch_dtype(self._dtype)
        return x if x.dtype == dtype else x.to(dtype)

    def get_random_transformation(self, images: torch.Tensor, training: bool = True) -> Any:
        """The random parameters for one batch of engine-layout images (None: nothing)."""
        return None

    def transform_images(
        self, images: torch.Tensor, transformation: Any, training: bool = True
    ) -> torch.Tensor:
        raise NotImplementedError

    def transform_labels(
        self, labels: torch.Tensor, transformation: Any, training: bool = True
    ) -> torch.Tensor:
        return labels

    def transform_bounding_boxes(
        self,
        bounding_boxes: dict,
        transformation: Any,
        training: bool = True,
        image_size: tuple[int, int] | None = None,
    ) -> dict:
        """Moves `{"boxes": (batch, n, 4), "labels": (batch, n)}` (float boxes in
        `bounding_box_format`) as `transformation` moves the images of size `image_size`.

        Moved boxes are clipped to the output image, and those left with no area get the
        label -1, as in Keras. Layers that keep the geometry return the boxes unchanged.
        """
        if self._keeps_geometry:
            return dict(bounding_boxes)
        from convolve.utils import bounding_boxes as bbox

        if image_size is None:
            raise ValueError(
                f"{type(self).__name__}.transform_bounding_boxes() needs image_size, the "
                "(height, width) of the images the boxes belong to"
            )
        height, width = image_size
        fmt = self.bounding_box_format
        boxes = bbox.convert_format(bounding_boxes["boxes"], fmt, "xyxy", height, width)
        moved = self._transform_boxes_xyxy(boxes, transformation, training, height, width)
        if moved is None:  # the layer leaves these images as they are
            return dict(bounding_boxes)
        boxes, (out_h, out_w) = moved
        out = bbox.clip_to_image_size(
            {**bounding_boxes, "boxes": boxes}, out_h, out_w, bounding_box_format="xyxy"
        )
        out["boxes"] = bbox.convert_format(out["boxes"], "xyxy", fmt, out_h, out_w)
        return out

    def _transform_boxes_xyxy(
        self, boxes: torch.Tensor, transformation: Any, training: bool, height: int, width: int
    ) -> tuple[torch.Tensor, tuple[int, int]] | None:
        """`(moved boxes, (output height, output width))`, in pixel "xyxy" coordinates, or
        None where the images are left as they are."""
        raise NotImplementedError(
            f"Layer '{self.name}' ({type(self).__name__}) does not transform bounding boxes; "
            "pass its inputs without a 'bounding_boxes' entry"
        )

    def transform_segmentation_masks(
        self, segmentation_masks: torch.Tensor, transformation: Any, training: bool = True
    ) -> torch.Tensor:
        """Moves engine-layout masks `(batch, channels, height, width)` as `transformation`
        moves the images, with nearest interpolation; the masks keep their dtype."""
        if self._keeps_geometry:
            return segmentation_masks
        return self._transform_masks(segmentation_masks, transformation, training)

    def _warped_masks(self, masks: torch.Tensor, transformation: Any) -> torch.Tensor:
        """Masks through the layer's `_warp(x, transformation, interpolation)`, the
        resampling its images go through, with nearest interpolation so that class ids stay
        whole; they keep their dtype."""
        return self._warp(masks.to(torch.float32), transformation, "nearest").to(masks.dtype)

    def _transform_masks(
        self, masks: torch.Tensor, transformation: Any, training: bool
    ) -> torch.Tensor:
        raise NotImplementedError(
            f"Layer '{self.name}' ({type(self).__name__}) does not transform segmentation "
            "masks; pass its inputs without a 'segmentation_masks' entry"
        )

    def _output_image_shape(self, shape: tuple) -> tuple:
        return shape

    def compute_output_shape(self, input_shape: Any) -> Any:
        if isinstance(input_shape, dict):
            out = dict(input_shape)
            out["images"] = self._output_image_shape(tuple(input_shape["images"]))
            if "segmentation_masks" in input_shape:
                masks = tuple(input_shape["segmentation_masks"])
                out["segmentation_masks"] = self._output_image_shape(masks)
            return out
        return self._output_image_shape(tuple(input_shape))

    def get_config(self) -> dict[str, Any]:
        arguments = {key: getattr(self, key) for key in self._config_keys}
        config = {**super().get_config(), "data_format": "channels_last", **arguments}
        if self.bounding_box_format is not None:
            config["bounding_box_format"] = self.bounding_box_format
        return config


def _is_ragged(boxes: Any) -> bool:
    """Per-image lists of boxes of different lengths."""
    if not isinstance(boxes, list | tuple):
        return False
    lengths = {len(b) for b in boxes}
    return len(lengths) > 1


def _pad_ragged(boxes: Any, labels: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(labels, list | tuple) or len(labels) != len(boxes):
        raise ValueError(
            f"{where}: ragged 'boxes' (a list per image) need 'labels' as a list of the same "
            f"length; received {len(boxes)} images of boxes and labels of type "
            f"{type(labels).__name__}"
        )
    most = max(len(b) for b in boxes)
    out_boxes = np.zeros((len(boxes), most, 4), dtype=np.float32)
    out_labels = np.full((len(boxes), most), -1, dtype=np.int64)
    for i, (b, lab) in enumerate(zip(boxes, labels, strict=True)):
        if len(b):
            out_boxes[i, : len(b)] = np.asarray(b, dtype=np.float32).reshape(-1, 4)
            out_labels[i, : len(b)] = np.asarray(lab).reshape(-1)
    return out_boxes, out_labels


def _as_array(value: Any, where: str) -> np.ndarray:
    try:
        return np.asarray(value)
    except ValueError as error:
        raise ValueError(
            f"{where}: bounding boxes must be arrays, tensors or lists of numbers; received "
            f"{type(value).__name__}"
        ) from error


def _map_batch_axis(structure: Any, fn) -> Any:
    if isinstance(structure, dict):
        return {key: _map_batch_axis(value, fn) for key, value in structure.items()}
    if isinstance(structure, torch.Tensor):
        return fn(structure)
    return fn(torch.as_tensor(np.asarray(structure)))


class FixedSizeOutput:
    """For image layers whose output images are `height` x `width` (resizing, cropping)."""

    height: int
    width: int

    def _output_image_shape(self, shape: tuple) -> tuple:
        # A batch or one image, channels last.
        return (*shape[:-3], self.height, self.width, shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height": self.height, "width": self.width}  # type: ignore[misc]


class RandomImageLayer(ImageLayer):
    """An image layer that draws random parameters in training.

    As Keras's layers do, it makes a `SeedGenerator` with the layer: without a `seed`, that
    takes one from Python's `random` (so `set_random_seed` makes runs repeatable, and the
    layers and initializers made after it get Keras's seeds). Each draw comes from a
    generator seeded with the seed plus the number of draws so far, as Keras's torch
    backend draws: the same draws as Keras's layer, and torch's global generator, which
    Keras's dropout and shuffling use, is left alone.

    Args:
        seed: makes the layer's draws repeatable.
    """

    _default_training = True

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = random.SeedGenerator(seed)

    def generator(self, device: torch.device) -> torch.Generator | None:
        """The generator for one draw on `device`; None (torch's global one) for an
        unseeded layer in compiled code, where a generator object would break the graph."""
        if self.seed is None and torch.compiler.is_compiling():
            return None
        return self.seed_generator.generator(device)

    def _rand(self, shape: Sequence[int], device: torch.device) -> torch.Tensor:
        return torch.rand(
            tuple(shape), generator=self.generator(device), device=device, dtype=torch.float32
        )

    def _uniform(
        self, shape: Sequence[int], low: float, high: float, device: torch.device
    ) -> torch.Tensor:
        """Uniform in [low, high), computed as Keras does: `(high - low) * u + low`."""
        return (high - low) * self._rand(shape, device) + low

    def _normal(self, shape: Sequence[int], device: torch.device) -> torch.Tensor:
        return torch.randn(
            tuple(shape), generator=self.generator(device), device=device, dtype=torch.float32
        )

    def _signs(self, shape: Sequence[int], device: torch.device) -> torch.Tensor:
        """-1 or 1 with equal chances, as Keras draws directions."""
        return torch.where(self._rand(shape, device) > 0.5, -1.0, 1.0)

    def _chosen(self, n: int, probability: Sequence[float], device: torch.device) -> torch.Tensor:
        """Which of `n` images to change, as Keras decides it: each image draws its own
        probability in `[low, high]` and is chosen when a uniform draw falls below it."""
        chance = self._uniform((n,), probability[0], probability[1], device)
        return self._rand((n,), device) < chance

    def _draw_with(self, owner: RandomImageLayer) -> None:
        """Draws from `owner`'s seed generator from now on, so that the steps of a
        composite layer take successive draws from one stream, as in Keras."""
        self.seed, self.seed_generator = owner.seed, owner.seed_generator

    def _permutation(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.argsort(self._rand((n,), device))

    def _beta(self, alpha: torch.Tensor | float, n: int, device: torch.device) -> torch.Tensor:
        """`n` draws of Beta(alpha, alpha)."""
        alpha = torch.as_tensor(alpha, dtype=torch.float32, device=device).expand(n, 2)
        pairs = torch._sample_dirichlet(alpha.contiguous(), generator=self.generator(device))
        return pairs[:, 0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}
