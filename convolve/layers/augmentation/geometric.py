"""Geometric augmentation: flips, rotations, zooms, translations, shears and random crops."""

from __future__ import annotations

import math
import random as python_random
from collections.abc import Sequence
from typing import Any

import torch

from convolve.layers import _conv_utils as cu
from convolve.layers.augmentation import _image as im

HORIZONTAL, VERTICAL, BOTH = "horizontal", "vertical", "horizontal_and_vertical"


class RandomFlip(im.RandomImageLayer):
    """Flips images left-right and/or top-bottom in training; identity at inference.

    Each image gets its own draw, flipped with probability 1/2. As in Keras 3, with
    `mode="horizontal_and_vertical"` one draw decides both flips, so an image is either
    left as it is or turned by 180 degrees.

    Args:
        mode: `"horizontal"`, `"vertical"` or `"horizontal_and_vertical"`.
        seed: makes the draws repeatable (see `RandomImageLayer`).
        data_format: `None` or `"channels_last"` (images are channels-last).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomFlip
        >>> x = torch.arange(6.0).reshape(1, 2, 3, 1)
        >>> torch.equal(RandomFlip()(x, training=False), x)
        True
    """

    def __init__(
        self, mode: str = BOTH, seed: int | None = None, data_format: str | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        mode = im.choice(check, "mode", mode, (HORIZONTAL, VERTICAL, BOTH))
        seed = im.seed_value(check, seed)
        self.data_format = check.data_format(data_format)
        check.raise_if_any()
        super().__init__(seed=seed, **kwargs)
        self.mode = mode

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        return {"flips": self._rand((images.shape[0], 1, 1, 1), images.device) <= 0.5}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        dims = {HORIZONTAL: (-1,), VERTICAL: (-2,), BOTH: (-2, -1)}[self.mode]
        flips = transformation["flips"]
        if images.device.type == "cpu" and not torch.compiler.is_compiling():
            # Image by image, each either copied or flipped into the output: half the passes
            # over memory of a flip and a select, and reading the draws costs no device
            # synchronisation on the CPU (a compiled step keeps the select: no graph break).
            out = torch.empty_like(images)
            for i, flip in enumerate(flips.reshape(-1).tolist()):
                out[i].copy_(images[i].flip(dims) if flip else images[i])
            return out
        return torch.where(flips, images.flip(dims), images)

    def _transform_boxes_xyxy(self, boxes, transformation, training, height, width):
        if not training or transformation is None:
            return None
        flips = transformation["flips"].reshape(-1, 1).to(boxes.device)
        x1, y1, x2, y2 = boxes.unbind(-1)
        if self.mode in (HORIZONTAL, BOTH):
            x1, x2 = torch.where(flips, width - x2, x1), torch.where(flips, width - x1, x2)
        if self.mode in (VERTICAL, BOTH):
            y1, y2 = torch.where(flips, height - y2, y1), torch.where(flips, height - y1, y2)
        return torch.stack([x1, y1, x2, y2], dim=-1), (height, width)

    def _transform_masks(self, masks, transformation, training):
        return self.transform_images(masks, transformation, training=training)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


# Where Keras's configs of zoom, translation and shear put the shared arguments: last.
_AFFINE_TRAILING = ("fill_mode", "interpolation", "seed", "fill_value")


class _AffineLayer(im.RandomImageLayer):
    """Shared by rotation, zoom and translation: one affine map per image, Keras's fills."""

    def _init_affine(
        self, check: cu.ArgumentErrors, fill_mode: Any, interpolation: Any, seed: Any,
        fill_value: Any, data_format: Any,
    ) -> dict[str, Any]:  # fmt: skip
        return {
            "fill_mode": im.choice(check, "fill_mode", fill_mode, im.FILL_MODES),
            "interpolation": im.choice(check, "interpolation", interpolation, im.INTERPOLATIONS),
            "seed": im.seed_value(check, seed),
            "fill_value": im.number(check, "fill_value", fill_value),
            "data_format": check.data_format(data_format),
        }

    def _set_affine(self, args: dict[str, Any]) -> None:
        self.fill_mode = args["fill_mode"]
        self.interpolation = args["interpolation"]
        self.fill_value = args["fill_value"]
        self.data_format = args["data_format"]

    def _matrix(self, transformation: dict[str, Any], height: int, width: int) -> torch.Tensor:
        raise NotImplementedError

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        return self._warp(images, transformation, self.interpolation)

    def _warp(self, x: torch.Tensor, transformation: Any, interpolation: str) -> torch.Tensor:
        matrix = self._matrix(transformation, x.shape[-2], x.shape[-1])
        return im.affine_transform(x, matrix, interpolation, self.fill_mode, self.fill_value)

    def _transform_masks(self, masks, transformation, training):
        if not training or transformation is None:
            return masks
        return self._warped_masks(masks, transformation)

    def get_config(self):
        return {
            **super().get_config(),
            "fill_mode": self.fill_mode,
            "interpolation": self.interpolation,
            "fill_value": self.fill_value,
        }


def _rows(*columns: torch.Tensor) -> torch.Tensor:
    """Stacks per-image columns `a0 a1 a2 b0 b1 b2` into Keras's `(batch, 8)` rows."""
    zeros = torch.zeros_like(columns[0])
    return torch.stack([*columns, zeros, zeros], dim=1)


def rotation_matrix(angle: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Keras's rotation about the image centre by `angle` degrees (counter-clockwise)."""
    radians = angle * (math.pi / 180.0)
    cos, sin = torch.cos(radians), torch.sin(radians)
    cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
    return _rows(cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos)


class RandomRotation(_AffineLayer):
    """Rotates each image by its own random angle in training; identity at inference.

    Args:
        factor: a fraction of a full turn: `f` draws angles in `[-f * 360, f * 360]`
            degrees, `(lower, upper)` in `[lower * 360, upper * 360]`. Positive angles turn
            counter-clockwise. Each bound lies in [-1, 1].
        fill_mode: how points outside the image are filled: `"reflect"`
            (`d c b a | a b c d | d c b a`), `"wrap"` (`a b c d | a b c d`), `"constant"`
            (`fill_value`) or `"nearest"` (`a a | a b c d | d d`).
        interpolation: `"bilinear"` or `"nearest"`.
        seed: makes the draws repeatable.
        fill_value: the value outside the image with `fill_mode="constant"`.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomRotation
        >>> x = torch.arange(9.0).reshape(1, 3, 3, 1)
        >>> quarter = RandomRotation((0.25, 0.25))  # always 90 degrees counter-clockwise
        >>> quarter(x, training=True)[0, ..., 0].round().tolist()
        [[2.0, 5.0, 8.0], [1.0, 4.0, 7.0], [0.0, 3.0, 6.0]]
    """

    def __init__(
        self, factor: float | Sequence[float], fill_mode: str = "reflect",
        interpolation: str = "bilinear", seed: int | None = None, fill_value: float = 0.0,
        data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        factor = im.factor_range(check, "factor", factor, -1.0, 1.0)
        args = self._init_affine(check, fill_mode, interpolation, seed, fill_value, data_format)
        check.raise_if_any()
        super().__init__(seed=args["seed"], **kwargs)
        self.factor = factor
        self._set_affine(args)

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        lower, upper = self.factor[0] * 360.0, self.factor[1] * 360.0
        angle = self._uniform((images.shape[0],), lower, upper, images.device)
        height, width = images.shape[-2:]
        return {"angle": angle, "rotation_matrix": rotation_matrix(angle, height, width)}

    def _matrix(self, transformation, height, width):
        return transformation["rotation_matrix"]

    def _transform_boxes_xyxy(self, boxes, transformation, training, height, width):
        if not training or transformation is None:
            return None
        from convolve.utils import bounding_boxes as bbox  # convolve.utils imports layers

        angle = transformation["angle"].to(boxes.device)
        zeros, ones = torch.zeros_like(angle), torch.ones_like(angle)
        moved = bbox.affine_transform(
            boxes, angle, zeros, zeros, ones, zeros, zeros, height=height, width=width
        )
        return moved, (height, width)

    def get_config(self):
        config = {**super().get_config(), "factor": self.factor}
        return im.keras_key_order(config, ("fill_mode", "fill_value", "interpolation", "seed"))


class RandomZoom(_AffineLayer):
    """Zooms each image in or out by its own random amount in training.

    Args:
        height_factor: a fraction: `f` draws vertical zooms in `[-f, f]`, `(lower, upper)`
            in `[lower, upper]`; each in (-1, 1]. Positive values zoom out (the image
            shrinks by that fraction), negative ones zoom in.
        width_factor: the same for the horizontal axis; `None` (default) zooms both axes
            by the vertical draw, keeping the aspect ratio.
        fill_mode: as in `RandomRotation` (default `"reflect"`).
        interpolation: `"bilinear"` or `"nearest"`.
        seed: makes the draws repeatable.
        fill_value: the value outside the image with `fill_mode="constant"`.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomZoom
        >>> x = torch.ones(1, 4, 4, 1)
        >>> out = RandomZoom((1.0, 1.0), fill_mode="constant")(x, training=True)
        >>> out[0, :, :, 0].tolist()  # zoomed out to half size, in a frame of zeros
        [[0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """

    def __init__(
        self, height_factor: float | Sequence[float],
        width_factor: float | Sequence[float] | None = None, fill_mode: str = "reflect",
        interpolation: str = "bilinear", seed: int | None = None, fill_value: float = 0.0,
        data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        heights = im.factor_range(check, "height_factor", height_factor, -1.0, 1.0, low_open=True)
        widths = None
        if width_factor is not None:
            widths = im.factor_range(check, "width_factor", width_factor, -1.0, 1.0, low_open=True)
        args = self._init_affine(check, fill_mode, interpolation, seed, fill_value, data_format)
        check.raise_if_any()
        super().__init__(seed=args["seed"], **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_lower, self.height_upper = heights
        self._width_range = widths
        self._set_affine(args)

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        shape, device = (images.shape[0], 1), images.device
        height_zoom = self._uniform(shape, 1.0 + self.height_lower, 1.0 + self.height_upper, device)
        width_zoom = height_zoom
        if self._width_range is not None:
            lower, upper = self._width_range
            width_zoom = self._uniform(shape, 1.0 + lower, 1.0 + upper, device)
        return {"height_zoom": height_zoom, "width_zoom": width_zoom}

    def _matrix(self, transformation, height, width):
        zx, zy = transformation["width_zoom"][:, 0], transformation["height_zoom"][:, 0]
        zeros = torch.zeros_like(zx)
        return _rows(
            zx, zeros, (width - 1) / 2.0 * (1.0 - zx), zeros, zy, (height - 1) / 2.0 * (1.0 - zy)
        )

    def _transform_boxes_xyxy(self, boxes, transformation, training, height, width):
        if not training or transformation is None:
            return None
        # The input window the output shows, `[start, start + zoom * size]` along each axis,
        # stretched onto the output, as Keras maps boxes.
        zx = transformation["width_zoom"].to(boxes.device)
        zy = transformation["height_zoom"].to(boxes.device)
        x_start, y_start = (width - 1) / 2.0 * (1.0 - zx), (height - 1) / 2.0 * (1.0 - zy)
        x_end, y_end = zx * width + x_start, zy * height + y_start
        x1, y1, x2, y2 = boxes.unbind(-1)

        def onto(v, start, end, size):
            return (torch.minimum(torch.maximum(v, start), end) - start) / (end - start) * size

        moved = [
            onto(x1, x_start, x_end, width), onto(y1, y_start, y_end, height),
            onto(x2, x_start, x_end, width), onto(y2, y_start, y_end, height),
        ]  # fmt: skip
        return torch.stack(moved, dim=-1), (height, width)

    def get_config(self):
        config = {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
        }
        return im.keras_key_order(config, _AFFINE_TRAILING)


class RandomTranslation(_AffineLayer):
    """Shifts each image by its own random offset in training.

    Args:
        height_factor: a fraction of the height: `f` draws vertical shifts in
            `[-f * height, f * height]`, `(lower, upper)` in `[lower * height, upper * height]`;
            each in [-1, 1]. Positive values shift down.
        width_factor: the same for horizontal shifts (positive values shift right).
        fill_mode: as in `RandomRotation` (default `"reflect"`).
        interpolation: `"bilinear"` or `"nearest"`.
        seed: makes the draws repeatable.
        fill_value: the value outside the image with `fill_mode="constant"`.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomTranslation
        >>> x = torch.arange(4.0).reshape(1, 1, 4, 1)
        >>> shift = RandomTranslation(0.0, (0.25, 0.25), fill_mode="constant")
        >>> shift(x, training=True)[0, 0, :, 0].tolist()  # one pixel to the right
        [0.0, 0.0, 1.0, 2.0]
    """

    def __init__(
        self, height_factor: float | Sequence[float], width_factor: float | Sequence[float],
        fill_mode: str = "reflect", interpolation: str = "bilinear", seed: int | None = None,
        fill_value: float = 0.0, data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        heights = im.factor_range(check, "height_factor", height_factor, -1.0, 1.0)
        widths = im.factor_range(check, "width_factor", width_factor, -1.0, 1.0)
        args = self._init_affine(check, fill_mode, interpolation, seed, fill_value, data_format)
        check.raise_if_any()
        super().__init__(seed=args["seed"], **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_lower, self.height_upper = heights
        self.width_lower, self.width_upper = widths
        self._set_affine(args)

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        batch, _, height, width = images.shape
        device = images.device
        dy = self._uniform((batch, 1), self.height_lower, self.height_upper, device) * height
        dx = self._uniform((batch, 1), self.width_lower, self.width_upper, device) * width
        return {"translations": torch.cat([dx, dy], dim=1)}

    def _matrix(self, transformation, height, width):
        dx, dy = transformation["translations"].unbind(1)
        ones, zeros = torch.ones_like(dx), torch.zeros_like(dx)
        return _rows(ones, zeros, -dx, zeros, ones, -dy)

    def _transform_boxes_xyxy(self, boxes, transformation, training, height, width):
        if not training or transformation is None:
            return None
        dx, dy = transformation["translations"].to(boxes.device).unbind(1)
        shift = torch.stack([dx, dy, dx, dy], dim=-1)[:, None, :]
        return boxes + shift, (height, width)

    def get_config(self):
        config = {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
        }
        return im.keras_key_order(config, _AFFINE_TRAILING)


def _shear_range(check: cu.ArgumentErrors, name: str, value: Any) -> tuple[float, float]:
    """Keras's shear factors: a number `f` in [0, 1] means `(-f, f)`. A pair may reach down
    to -1 (Keras's allows [0, 1] only), so that the `(-f, f)` its config holds rebuilds."""
    if im.is_number(value):
        upper = im.factor_range(check, name, value, 0.0, 1.0)[1]
        return -upper, upper
    return im.factor_range(check, name, value, -1.0, 1.0)


class RandomShear(_AffineLayer):
    """Shears each image by its own random amount in training.

    Each image draws a horizontal shear `sx` and a vertical one `sy`, and one sign for
    both; output pixel `(x, y)` reads the input at `(x + sx * y, y + sy * x)`, about the
    top-left corner, as in Keras.

    Args:
        x_factor: `f` in [0, 1], meaning `(-f, f)`, or `(lower, upper)`, each in [-1, 1]:
            the range of `sx` before its sign.
        y_factor: the same for `sy`.
        interpolation: `"bilinear"` or `"nearest"`.
        fill_mode: as in `RandomRotation` (default `"reflect"`).
        fill_value: the value outside the image with `fill_mode="constant"`.
        data_format: `None` or `"channels_last"`.
        seed: makes the draws repeatable.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomShear
        >>> x = torch.arange(9.0).reshape(1, 3, 3, 1)
        >>> shear = RandomShear(x_factor=(1.0, 1.0), fill_mode="constant", seed=0)
        >>> shear(x, training=True)[0, ..., 0].round().tolist()  # row y moved by y (this seed)
        [[0.0, 1.0, 2.0], [4.0, 5.0, 0.0], [8.0, 0.0, 0.0]]
    """

    def __init__(
        self, x_factor: float | Sequence[float] = 0.0, y_factor: float | Sequence[float] = 0.0,
        interpolation: str = "bilinear", fill_mode: str = "reflect", fill_value: float = 0.0,
        data_format: str | None = None, seed: int | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        x_range = _shear_range(check, "x_factor", x_factor)
        y_range = _shear_range(check, "y_factor", y_factor)
        args = self._init_affine(check, fill_mode, interpolation, seed, fill_value, data_format)
        check.raise_if_any()
        super().__init__(seed=args["seed"], **kwargs)
        self.x_factor, self.y_factor = x_range, y_range
        self._set_affine(args)

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        shape, device = (images.shape[0], 1), images.device
        sign = self._signs(shape, device)
        shear_y = self._uniform(shape, *self.y_factor, device)
        shear_x = self._uniform(shape, *self.x_factor, device)
        return {"shear_factor": torch.cat([shear_x, shear_y], dim=1) * sign}

    def _matrix(self, transformation, height, width):
        shear_x, shear_y = transformation["shear_factor"].unbind(1)
        ones, zeros = torch.ones_like(shear_x), torch.zeros_like(shear_x)
        return _rows(ones, shear_x, zeros, shear_y, ones, zeros)

    def _transform_boxes_xyxy(self, boxes, transformation, training, height, width):
        if not training or transformation is None:
            return None
        # Keras's box shear: each edge moves with the far or near end of the box, by the
        # sign of the shear, the vertical shear using the horizontally sheared edges. Keras
        # computes it on relative coordinates, which agrees with this pixel form on square
        # images only; the pixel form is the one that follows the image.
        sx, sy = transformation["shear_factor"].to(boxes.device).unbind(1)
        sx, sy = sx[:, None], sy[:, None]
        x1, y1, x2, y2 = boxes.unbind(-1)
        x1 = torch.where(sx < 0, x1 - sx * y1, x1 - sx * y2)
        x2 = torch.where(sx < 0, x2 - sx * y2, x2 - sx * y1)
        y1 = torch.where(sy > 0, y1 - sy * x2, y1 - sy * x1)
        y2 = torch.where(sy > 0, y2 - sy * x1, y2 - sy * x2)
        return torch.stack([x1, y1, x2, y2], dim=-1), (height, width)

    def get_config(self):
        config = {**super().get_config(), "x_factor": self.x_factor, "y_factor": self.y_factor}
        return im.keras_key_order(config, _AFFINE_TRAILING)


class _CropLayer(im.FixedSizeOutput, im.RandomImageLayer):
    """Random crops to a fixed `(height, width)`."""

    def _crop_args(self, check: cu.ArgumentErrors, height: Any, width: Any) -> None:
        self.height = check.positive_int("height", height)
        self.width = check.positive_int("width", width)


class RandomCrop(_CropLayer):
    """Crops the images at a random location in training.

    In training, when the images are larger than `(height, width)` in both dimensions, the
    batch is cropped at one location drawn for it, as Keras draws it. At
    inference, and in training when the images are not larger in both dimensions, the
    layer does what Keras documents: it crops the largest centred window of the target
    aspect ratio and resizes it (bilinear) to `(height, width)`, as `Resizing(height,
    width, crop_to_aspect_ratio=True)` does.

    Args:
        height: the output height.
        width: the output width.
        seed: makes the draws repeatable.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomCrop
        >>> x = torch.arange(16.0).reshape(1, 4, 4, 1)
        >>> RandomCrop(2, 2)(x, training=False)[0, ..., 0].tolist()  # the whole image, resized
        [[2.5, 4.5], [10.5, 12.5]]
        >>> RandomCrop(2, 2, seed=0)(x, training=True).shape  # a random 2x2 window
        torch.Size([1, 2, 2, 1])
    """

    def __init__(
        self, height: int, width: int, seed: int | None = None, data_format: str | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        self._crop_args(check, height, width)
        seed = im.seed_value(check, seed)
        self.data_format = check.data_format(data_format)
        check.raise_if_any()
        # Keras's RandomCrop picks a seed for its config first, then makes its generator
        # from the seed given: two draws from Python's `random` when there is none.
        kept_seed = python_random.randint(1, int(1e9)) if seed is None else seed
        super().__init__(seed=seed, **kwargs)
        self.seed = kept_seed

    def get_random_transformation(self, images, training=True):
        batch, _, height, width = images.shape
        if not (training and height > self.height and width > self.width):
            return None
        device = images.device
        # One window for the whole batch, drawn as Keras's layer draws it.
        top = self._uniform((), 0.0, float(height - self.height + 1), device)
        left = self._uniform((), 0.0, float(width - self.width + 1), device)
        return {"top": top.long().expand(batch), "left": left.long().expand(batch)}

    def transform_images(self, images, transformation, training=True):
        if transformation is None:
            return im.smart_resize(images, (self.height, self.width))
        top, left = transformation["top"], transformation["left"]
        return _crop_each(images, top, left, self.height, self.width)

    def _transform_boxes_xyxy(self, boxes, transformation, training, height, width):
        size = (self.height, self.width)
        if transformation is None:
            return im.aspect_boxes(boxes, height, width, size)
        top, left = transformation["top"], transformation["left"]
        return im.window_boxes(boxes, top, left, self.height, self.width, size)

    def _transform_masks(self, masks, transformation, training):
        if transformation is None:
            return im.aspect_masks(masks, (self.height, self.width))
        top, left = transformation["top"], transformation["left"]
        return _crop_each(masks, top, left, self.height, self.width)

    def get_config(self):
        return im.keras_key_order(super().get_config(), ("seed",))


def _crop_each(
    images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """Crops image `i` at `(top[i], left[i])`, all at once, by gathering pixel indices."""
    batch, channels, _, full_width = images.shape
    rows = top[:, None] + torch.arange(height, device=images.device)
    cols = left[:, None] + torch.arange(width, device=images.device)
    index = (rows[:, :, None] * full_width + cols[:, None, :]).reshape(batch, 1, height * width)
    flat = images.reshape(batch, channels, -1)
    out = torch.gather(flat, 2, index.expand(batch, channels, height * width))
    return out.reshape(batch, channels, height, width)


class RandomResizedCrop(_CropLayer):
    """Crops a random area of random aspect ratio from each image and resizes it.

    The crop is drawn as torchvision's `RandomResizedCrop` draws it: an area fraction
    uniform in `scale`, an aspect ratio (width / height) log-uniform in `ratio`, rounded to
    whole pixels, at a uniform location; ten tries per image, then a centre crop with the
    ratio clamped into `ratio`. All images are drawn and resampled at once: one
    `grid_sample` reads the image through each box with half-pixel centres, as a resize of
    the crop would, except that at the box's edges it may blend in the pixels just outside
    it (never more than half a pixel's worth), and without antialiasing. At inference the
    layer resizes the largest centred window of the target aspect ratio to
    `(height, width)`, as `Resizing(height, width, crop_to_aspect_ratio=True)` does.

    Args:
        height: the output height.
        width: the output width.
        scale: `(min, max)` fraction of the image area to crop, in (0, 1].
        ratio: `(min, max)` aspect ratio (width / height) of the crop, positive.
        interpolation: `"bilinear"`, `"nearest"` or `"bicubic"`.
        seed: makes the draws repeatable.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomResizedCrop
        >>> layer = RandomResizedCrop(8, 8, scale=(0.25, 1.0), seed=0)
        >>> tuple(layer(torch.rand(2, 32, 24, 3), training=True).shape)
        (2, 8, 8, 3)
    """

    _TRIES = 10

    def __init__(
        self, height: int, width: int, scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3.0 / 4.0, 4.0 / 3.0), interpolation: str = "bilinear",
        seed: int | None = None, data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        self._crop_args(check, height, width)
        scale = im.number_pair(check, "scale", scale)
        if scale is not None and not 0.0 < scale[0] <= scale[1] <= 1.0:
            check.add(f"scale must satisfy 0 < min <= max <= 1, received scale={scale!r}")
        ratio = im.number_pair(check, "ratio", ratio)
        if ratio is not None and not 0.0 < ratio[0] <= ratio[1]:
            check.add(f"ratio must satisfy 0 < min <= max, received ratio={ratio!r}")
        interpolation = im.choice(
            check, "interpolation", interpolation, ("bilinear", "nearest", "bicubic")
        )
        seed = im.seed_value(check, seed)
        self.data_format = check.data_format(data_format)
        check.raise_if_any()
        super().__init__(seed=seed, **kwargs)
        self.scale, self.ratio, self.interpolation = scale, ratio, interpolation

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        batch, _, height, width = images.shape
        device, tries = images.device, (images.shape[0], self._TRIES)
        area = self._uniform(tries, *self.scale, device) * (height * width)
        log_ratio = self._uniform(tries, math.log(self.ratio[0]), math.log(self.ratio[1]), device)
        aspect = torch.exp(log_ratio)
        crop_w = torch.round(torch.sqrt(area * aspect))
        crop_h = torch.round(torch.sqrt(area / aspect))
        fits = (crop_w > 0) & (crop_w <= width) & (crop_h > 0) & (crop_h <= height)
        first = torch.argmax(fits.to(torch.uint8), dim=1, keepdim=True)
        found = fits.any(dim=1)
        # Fallback: the whole image, narrowed to the nearest allowed aspect ratio.
        fallback_h, fallback_w = self._fallback_size(height, width)
        crop_h = torch.where(found, crop_h.gather(1, first)[:, 0], fallback_h)
        crop_w = torch.where(found, crop_w.gather(1, first)[:, 0], fallback_w)
        u = self._rand((batch, 2), device)
        top = torch.where(
            found, torch.floor(u[:, 0] * (height - crop_h + 1)), (height - crop_h) // 2
        )
        left = torch.where(
            found, torch.floor(u[:, 1] * (width - crop_w + 1)), (width - crop_w) // 2
        )
        return {"boxes": torch.stack([top, left, crop_h, crop_w], dim=1)}

    def _fallback_size(self, height: int, width: int) -> tuple[float, float]:
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            return float(round(width / self.ratio[0])), float(width)
        if in_ratio > self.ratio[1]:
            return float(height), float(round(height * self.ratio[1]))
        return float(height), float(width)

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return im.smart_resize(images, (self.height, self.width), self.interpolation)
        return self._warp(images, transformation, self.interpolation)

    def _warp(self, x: torch.Tensor, transformation: Any, interpolation: str) -> torch.Tensor:
        top, left, crop_h, crop_w = transformation["boxes"].unbind(1)
        # Output pixel (x, y) reads the crop at half-pixel-centred positions, as a resize does.
        sx, sy = crop_w / self.width, crop_h / self.height
        zeros = torch.zeros_like(sx)
        matrix = _rows(sx, zeros, left + 0.5 * sx - 0.5, zeros, sy, top + 0.5 * sy - 0.5)
        return im.affine_transform(
            x, matrix, interpolation, "nearest", output_size=(self.height, self.width)
        )

    def _transform_boxes_xyxy(self, boxes, transformation, training, height, width):
        size = (self.height, self.width)
        if not training or transformation is None:
            return im.aspect_boxes(boxes, height, width, size)
        top, left, crop_h, crop_w = transformation["boxes"].unbind(1)
        return im.window_boxes(boxes, top, left, crop_h, crop_w, size)

    def _transform_masks(self, masks, transformation, training):
        if not training or transformation is None:
            return im.aspect_masks(masks, (self.height, self.width))
        return self._warped_masks(masks, transformation)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": list(self.scale),
            "ratio": list(self.ratio),
            "interpolation": self.interpolation,
        }
