"""Elastic augmentation: each image warped by its own smooth random displacement field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from convolve.layers import _conv_utils as cu
from convolve.layers.augmentation import _image as im

ELASTIC_FILL_MODES = ("reflect", "mirror", "wrap", "constant", "nearest")


def _blur(noise: torch.Tensor, sigma: float, size: int) -> torch.Tensor:
    """Gaussian blur of `(batch, height, width)` fields: a `size`-tap kernel of standard
    deviation `sigma` along each axis, zero padding, as Keras's `gaussian_blur` (done as
    two one-dimensional passes rather than one square kernel)."""
    offsets = torch.arange(size, dtype=noise.dtype, device=noise.device) - (size - 1) / 2
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    fields = noise[:, None]
    fields = F.conv2d(fields, kernel.reshape(1, 1, size, 1), padding=(size // 2, 0))
    fields = F.conv2d(fields, kernel.reshape(1, 1, 1, size), padding=(0, size // 2))
    return fields[:, 0]


def sample_at(
    images: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    interpolation: str,
    fill_mode: str,
    fill_value: float,
) -> torch.Tensor:
    """Reads `(batch, channels, height, width)` images at the pixel coordinates `x`, `y`
    (`(batch, height, width)`, pixel centres at integers), as Keras's `map_coordinates`
    reads them, with its fill modes: "reflect" (about the edge), "mirror" (about the edge
    pixel's centre), "wrap", "nearest" or "constant" (`fill_value`)."""
    height, width = images.shape[-2:]
    padding = "border"
    if fill_mode == "wrap":
        images = F.pad(images, (0, 1, 0, 1), mode="circular")
        x, y = torch.remainder(x, width), torch.remainder(y, height)
        extent_x, extent_y = width + 1, height + 1
    else:
        extent_x, extent_y = width, height
        if fill_mode == "mirror":
            x, y = _mirror(x, width), _mirror(y, height)
        elif fill_mode == "reflect":
            padding = "reflection"
        elif fill_mode == "constant":
            padding = "zeros"
    grid = torch.stack([(2.0 * x + 1.0) / extent_x - 1.0, (2.0 * y + 1.0) / extent_y - 1.0], -1)
    fill = float(fill_value) if fill_mode == "constant" else 0.0
    return im.sample_filled(images, grid.to(images.dtype), interpolation, padding, fill)


def _mirror(coordinate: torch.Tensor, size: int) -> torch.Tensor:
    """Folds coordinates into `[0, size - 1]`, mirrored about the edge pixels' centres."""
    if size == 1:
        return torch.zeros_like(coordinate)
    period = size - 1
    return torch.abs(torch.remainder(coordinate + period, 2 * period) - period)


class RandomElasticTransform(im.RandomImageLayer):
    """Warps some images in training by a smooth random displacement field.

    Each image draws a probability in `factor` and is warped when a uniform draw falls
    below it. A distortion `d` is drawn once per batch in `scale`, as in Keras; it sets
    `sigma = 0.05 * d * min(height, width)` and `alpha = 0.1 * d * max(height, width)`.
    Each image draws two fields of standard normal noise (one per axis), scaled by
    `sigma` and blurred by a Gaussian of standard deviation `sigma` (`int(6 * sigma) | 1`
    taps, zero padding), and output pixel `(x, y)` reads the input at
    `(x + alpha * dx, y + alpha * dy)`. Outputs are clipped to `value_range`.

    Args:
        factor: `f` (meaning `(0, f)`) or `(lower, upper)`, each in [0, 1]: the range of
            each image's probability of being warped.
        scale: `s` (meaning `(0, s)`) or `(lower, upper)`, each in [0, 1]: the range of
            the distortion `d`.
        interpolation: `"bilinear"` or `"nearest"`.
        fill_mode: how points outside the image are read: `"reflect"`
            (`d c b a | a b c d | d c b a`), `"mirror"` (`c d c b | a b c d | c b a b`),
            `"wrap"`, `"nearest"` or `"constant"` (`fill_value`).
        fill_value: the value outside the image with `fill_mode="constant"`.
        value_range: the `(low, high)` range of the input values.
        seed: makes the draws repeatable.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomElasticTransform
        >>> x = torch.full((2, 16, 16, 3), 100.0)
        >>> out = RandomElasticTransform(scale=0.5, seed=0)(x, training=True)
        >>> torch.allclose(out, x)  # a flat image stays flat, wherever it is read
        True
    """

    _config_keys = ("factor", "scale", "interpolation", "fill_mode", "fill_value", "value_range")

    def __init__(
        self, factor: float | Sequence[float] = 1.0, scale: float | Sequence[float] = 1.0,
        interpolation: str = "bilinear", fill_mode: str = "reflect", fill_value: float = 0.0,
        value_range: Sequence[float] = (0, 255), seed: int | None = None,
        data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        factor = im.factor_range(check, "factor", factor, 0.0, 1.0)
        scale = im.factor_range(check, "scale", scale, 0.0, 1.0)
        interpolation = im.choice(check, "interpolation", interpolation, im.INTERPOLATIONS)
        fill_mode = im.choice(check, "fill_mode", fill_mode, ELASTIC_FILL_MODES)
        im.number(check, "fill_value", fill_value)
        self._range = im.value_range(check, value_range)
        seed = im.seed_value(check, seed)
        self.data_format = check.data_format(data_format)
        check.raise_if_any()
        super().__init__(seed=seed, **kwargs)
        self.factor, self.scale = factor, scale
        self.interpolation, self.fill_mode, self.fill_value = interpolation, fill_mode, fill_value
        self.value_range = value_range

    def get_random_transformation(self, images, training=True):
        """`apply_transform` `(batch,)`, `distortion_factor` (a number, drawn on the host:
        it sets the blur's size) and the raw noise fields `dx`, `dy` `(batch, height,
        width)`."""
        if not training or self.scale[1] == 0 or self.factor[1] == 0:
            return None
        batch, _, height, width = images.shape
        device = images.device
        chosen = self._chosen(batch, self.factor, device)
        distortion = float(self._uniform((), *self.scale, torch.device("cpu")))
        noise = [  # two draws, each from its own generator, as Keras's two normal draws
            torch.normal(
                0.0, 1.0, (batch, height, width), generator=self.generator(device), device=device
            )
            for _ in range(2)
        ]
        return {
            "apply_transform": chosen,
            "distortion_factor": distortion,
            "dx": noise[0],
            "dy": noise[1],
        }

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        height, width = images.shape[-2:]
        distortion = float(transformation["distortion_factor"])
        alpha = max(height, width) * (0.1 * distortion)
        sigma = min(height, width) * (0.05 * distortion)
        if sigma <= 0.0:
            warped = images  # no displacement at all
        else:
            size = int(6 * sigma) | 1
            fields = [
                _blur(transformation[key].to(images.dtype) * sigma, sigma, size)
                for key in ("dx", "dy")
            ]
            xs = torch.arange(width, dtype=images.dtype, device=images.device)
            ys = torch.arange(height, dtype=images.dtype, device=images.device)
            x = xs + alpha * fields[0]
            y = ys[:, None] + alpha * fields[1]
            warped = sample_at(
                images, x, y, self.interpolation, self.fill_mode, float(self.fill_value)
            )
        chosen = transformation["apply_transform"].to(images.device)[:, None, None, None]
        return torch.clamp(torch.where(chosen, warped, images), *self._range)
