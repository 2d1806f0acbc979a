"""Perspective augmentation: each image seen from its own random viewpoint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from convolve.layers import _conv_utils as cu
from convolve.layers.augmentation import _image as im


def homography(start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """`(batch, 8)`: the projective map taking each image's four `end` points (`(batch, 4,
    2)`, `(x, y)` pixel coordinates) to its `start` points, as Keras's
    `compute_homography_matrix`: `[a0 .. a7]` maps `(x, y)` to
    `((a0 x + a1 y + a2) / d, (a3 x + a4 y + a5) / d)` with `d = a6 x + a7 y + 1`."""
    x, y = end.unbind(-1)  # (batch, 4) each
    u, v = start.unbind(-1)
    ones, zeros = torch.ones_like(x), torch.zeros_like(x)
    rows_u = torch.stack([x, y, ones, zeros, zeros, zeros, -u * x, -u * y], dim=-1)
    rows_v = torch.stack([zeros, zeros, zeros, x, y, ones, -v * x, -v * y], dim=-1)
    coefficients = torch.stack([rows_u, rows_v], dim=2).reshape(-1, 8, 8)  # u1, v1, u2, ...
    targets = torch.stack([u, v], dim=2).reshape(-1, 8, 1)
    return torch.linalg.solve(coefficients.float(), targets.float())[..., 0]


def perspective_grid(matrix: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """`grid_sample`'s `(batch, height, width, 2)` grid for `homography`'s maps."""
    a = matrix[:, :, None, None]
    xs = torch.arange(width, dtype=matrix.dtype, device=matrix.device)[None, None, :]
    ys = torch.arange(height, dtype=matrix.dtype, device=matrix.device)[None, :, None]
    depth = a[:, 6] * xs + a[:, 7] * ys + 1.0
    x_in = (a[:, 0] * xs + a[:, 1] * ys + a[:, 2]) / depth
    y_in = (a[:, 3] * xs + a[:, 4] * ys + a[:, 5]) / depth
    # Pixel coordinates to [-1, 1], pixel centres at half-pixel positions.
    return torch.stack([(2.0 * x_in + 1.0) / width - 1.0, (2.0 * y_in + 1.0) / height - 1.0], -1)


class RandomPerspective(im.RandomImageLayer):
    """Warps some images in training as if seen from another viewpoint.

    Each image draws a probability in `factor` and is warped when a uniform draw falls
    below it. Its corners move to `c + c * d`, with `c` the corner's pixel coordinates and
    `d` drawn for each coordinate of each corner in `[-scale / 2, scale / 2]`, so the
    top-left corner stays (as in Keras); the image is resampled through the projective map
    that takes the moved corners back, reading `fill_value` outside it.

    Args:
        factor: `f` (meaning `(0, f)`) or `(lower, upper)`, each in [0, 1]: the range of
            each image's probability of being warped.
        scale: how far corners may move, a number in [0, 1].
        interpolation: `"bilinear"` or `"nearest"`.
        fill_value: the value read outside the image.
        seed: makes the draws repeatable.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomPerspective
        >>> x = torch.ones(2, 8, 8, 3)
        >>> out = RandomPerspective(factor=(1.0, 1.0), scale=0.5, seed=0)(x, training=True)
        >>> bool(out[:, 0, 0].eq(1.0).all()), bool(out.lt(1.0).any())  # the corner stays
        (True, True)
    """

    _config_keys = ("factor", "scale", "interpolation", "fill_value")

    def __init__(
        self, factor: float | Sequence[float] = 1.0, scale: float = 1.0,
        interpolation: str = "bilinear", fill_value: float = 0.0, seed: int | None = None,
        data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        factor = im.factor_range(check, "factor", factor, 0.0, 1.0)
        check.number("scale", scale, low=0.0, high=1.0)
        interpolation = im.choice(check, "interpolation", interpolation, im.INTERPOLATIONS)
        im.number(check, "fill_value", fill_value)
        seed = im.seed_value(check, seed)
        self.data_format = check.data_format(data_format)
        check.raise_if_any()
        super().__init__(seed=seed, **kwargs)
        self.factor, self.scale, self.interpolation = factor, scale, interpolation
        self.fill_value = fill_value

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        batch, _, height, width = images.shape
        device = images.device
        chosen = self._chosen(batch, self.factor, device)
        half = 0.5 * self.scale
        moves = self._uniform((batch, 4, 2), -half, half, device)
        corners = [[0.0, 0.0], [width - 1, 0.0], [0.0, height - 1], [width - 1, height - 1]]
        start = torch.tensor(corners, device=device).expand(batch, 4, 2)
        return {
            "apply_perspective": chosen,
            "start_points": start,
            "end_points": start + start * moves,
        }

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        return self._warp(images, transformation, self.interpolation)

    def _warp(self, x: torch.Tensor, transformation: Any, interpolation: str) -> torch.Tensor:
        matrix = homography(transformation["start_points"], transformation["end_points"])
        grid = perspective_grid(matrix, *x.shape[-2:]).to(x.dtype)
        warped = im.sample_filled(x, grid, interpolation, "zeros", float(self.fill_value))
        chosen = transformation["apply_perspective"][:, None, None, None]
        return torch.where(chosen, warped, x)

    def _transform_boxes_xyxy(self, boxes, transformation, training, height, width):
        if not training or transformation is None:
            return None
        # The homography reads the input for each output pixel; boxes go the other way,
        # through its inverse, each to the box around its four mapped corners (as Keras).
        matrix = homography(transformation["start_points"], transformation["end_points"])
        full = torch.cat([matrix, torch.ones_like(matrix[:, :1])], dim=1).reshape(-1, 3, 3)
        inverse = torch.linalg.inv(full.to(torch.float32)).to(boxes.device)
        x1, y1, x2, y2 = boxes.unbind(-1)
        corners = torch.stack(
            [torch.stack(c, dim=-1) for c in ((x1, y1), (x2, y2), (x1, y2), (x2, y1))], dim=2
        )  # (batch, n, 4, 2)
        points = torch.cat([corners, torch.ones_like(corners[..., :1])], dim=-1)
        mapped = torch.einsum("bij,bnkj->bnki", inverse, points)
        xy = mapped[..., :2] / mapped[..., 2:]
        moved = torch.cat([xy.amin(dim=2), xy.amax(dim=2)], dim=-1)
        chosen = transformation["apply_perspective"].to(boxes.device)[:, None, None]
        return torch.where(chosen, moved, boxes), (height, width)

    def _transform_masks(self, masks, transformation, training):
        if not training or transformation is None:
            return masks
        return self._warped_masks(masks, transformation)
