"""Local augmentation: sharpening, blurring and erasing, each drawn per image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from convolve.layers import _conv_utils as cu
from convolve.layers.augmentation import _image as im
from convolve.layers.augmentation.color import _ColorLayer

_A, _B = 1.0 / 13.0, 5.0 / 13.0
_SMOOTHING = ((_A, _A, _A), (_A, _B, _A), (_A, _A, _A))  # PIL's SMOOTH filter, as Keras's


def _depthwise(images: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Convolves every channel of image `i` with `kernels[i]` (`(batch, kh, kw)`, odd
    sides), zero-padded to keep the size, in one grouped convolution."""
    batch, channels, height, width = images.shape
    kh, kw = kernels.shape[-2:]
    weight = kernels.to(images.dtype).repeat_interleave(channels, dim=0)[:, None]
    out = F.conv2d(
        images.reshape(1, batch * channels, height, width),
        weight,
        padding=(kh // 2, kw // 2),
        groups=batch * channels,
    )
    return out.reshape(batch, channels, height, width)


class RandomSharpness(_ColorLayer):
    """Sharpens or softens each image by its own random amount in training.

    With `s` twice the drawn factor, an image becomes `x + (1 - s) * (smooth(x) - x)`,
    clipped to `value_range`, where `smooth` is a 3x3 smoothing filter (centre weight 5/13,
    neighbours 1/13, zero padding at the edges, as in Keras): a factor of 0 gives the
    smoothed image, 0.5 the image itself, 1 a sharpened one.

    Args:
        factor: `f` (meaning `(0, f)`) or `(lower, upper)`, each in [0, 1].
        value_range: the `(low, high)` range of the input values.
        data_format: `None` or `"channels_last"`.
        seed: makes the draws repeatable.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomSharpness
        >>> x = torch.full((1, 3, 3, 1), 100.0)
        >>> RandomSharpness((0.5, 0.5))(x, training=True)[0, :, :, 0].tolist()  # unchanged
        [[100.0, 100.0, 100.0], [100.0, 100.0, 100.0], [100.0, 100.0, 100.0]]
    """

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        return {"factor": self._uniform((images.shape[0],), *self.factor, images.device)}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        kernel = torch.tensor(_SMOOTHING, dtype=images.dtype, device=images.device)
        smoothed = _depthwise(images, kernel.expand(images.shape[0], 3, 3))
        weight = 1.0 - 2.0 * transformation["factor"].to(images.dtype).reshape(-1, 1, 1, 1)
        return self._clip(images + weight * (smoothed - images))


def _gaussian_kernels(size: int, sigma: torch.Tensor) -> torch.Tensor:
    """`(batch, size)`: a normalised Gaussian of each image's own `sigma` (`(batch,)`)."""
    offsets = torch.arange(size, dtype=sigma.dtype, device=sigma.device) - (size - 1) / 2
    kernels = torch.exp(-0.5 * (offsets / sigma[:, None]) ** 2)
    return kernels / kernels.sum(dim=1, keepdim=True)


def _odd_sizes(check: cu.ArgumentErrors, value: Any) -> tuple[int, int]:
    items = (value, value) if cu.is_int(value) else value
    if isinstance(items, Sequence) and len(items) == 2:
        if all(cu.is_int(v) and v > 0 and v % 2 == 1 for v in items):
            return int(items[0]), int(items[1])
    check.add(
        "kernel_size must be a positive odd integer or a pair of them, "
        f"received kernel_size={value!r}"
    )
    return 1, 1


class RandomGaussianBlur(im.RandomImageLayer):
    """Blurs some images in training with a random Gaussian.

    Each image draws a probability in `factor` and is blurred when a uniform draw falls
    below it, with standard deviations along each axis drawn in `sigma` once for the
    batch, as Keras draws them. The blur zero-pads the edges, as Keras's does, and the
    result is clipped to `value_range`.

    Args:
        factor: `f` (meaning `(0, f)`) or `(lower, upper)`, each in [0, 1]: the range of
            each image's probability of being blurred.
        kernel_size: the kernel's `(height, width)`, or one number for both; odd.
        sigma: `s` (meaning `(0, s)`) or `(lower, upper)`, each in [0, 1]: the range of
            the standard deviations, in pixels.
        value_range: the `(low, high)` range of the input values.
        data_format: `None` or `"channels_last"`.
        seed: makes the draws repeatable.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomGaussianBlur
        >>> x = torch.zeros(1, 3, 3, 1)
        >>> x[0, 1, 1, 0] = 255.0
        >>> blur = RandomGaussianBlur(factor=(1.0, 1.0), sigma=(1.0, 1.0))
        >>> blur(x, training=True)[0, :, :, 0].round().tolist()  # a point spreads
        [[19.0, 32.0, 19.0], [32.0, 52.0, 32.0], [19.0, 32.0, 19.0]]
    """

    _keeps_geometry = True  # boxes and masks pass through, as in Keras

    _config_keys = ("factor", "kernel_size", "sigma", "value_range")

    def __init__(
        self, factor: float | Sequence[float] = 1.0, kernel_size: int | Sequence[int] = 3,
        sigma: float | Sequence[float] = 1.0, value_range: Sequence[float] = (0, 255),
        data_format: str | None = None, seed: int | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        factor = im.factor_range(check, "factor", factor, 0.0, 1.0)
        kernel_size = _odd_sizes(check, kernel_size)
        sigma = im.factor_range(check, "sigma", sigma, 0.0, 1.0)
        self._range = im.value_range(check, value_range)
        self.data_format = check.data_format(data_format)
        seed = im.seed_value(check, seed)
        check.raise_if_any()
        super().__init__(seed=seed, **kwargs)
        self.factor, self.kernel_size, self.sigma = factor, kernel_size, sigma
        self.value_range = value_range

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        batch, device = images.shape[0], images.device
        return {
            "should_apply_blur": self._chosen(batch, self.factor, device),
            # (sigma along the width, sigma along the height), Keras's order: one pair for
            # the batch, as Keras draws it, given to each image.
            "blur_factor": (self._uniform((2,), *self.sigma, device) + 1e-6).expand(batch, 2),
        }

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        sigma_x, sigma_y = transformation["blur_factor"].to(images.dtype).unbind(1)
        rows = _gaussian_kernels(self.kernel_size[0], sigma_y)
        columns = _gaussian_kernels(self.kernel_size[1], sigma_x)
        blurred = _depthwise(images, rows[:, :, None] * columns[:, None, :])
        chosen = transformation["should_apply_blur"][:, None, None, None]
        return torch.clamp(torch.where(chosen, blurred, images), *self._range)


class RandomErasing(im.RandomImageLayer):
    """Erases a random rectangle of some images in training.

    Each image draws a probability in `factor` and is erased when a uniform draw falls
    below it. Its rectangle has sides `sqrt(a)` times the image's width and `sqrt(b)`
    times its height, `a` and `b` drawn in `scale`, at a uniform position, and is filled
    with `fill_value`, or with Gaussian noise of standard deviation `high` when it is
    `None`; fills are clipped to `value_range`.

    Args:
        factor: `f` (meaning `(0, f)`) or `(lower, upper)`, each in [0, 1]: the range of
            each image's probability of being erased.
        scale: `s` (meaning `(0, s)`) or `(lower, upper)`, each in [0, 1]: the range of
            the rectangle's fractions `a` and `b`.
        fill_value: a number, one number per channel (3), or `None` for noise.
        value_range: the `(low, high)` range of the input values.
        seed: makes the draws repeatable.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomErasing
        >>> x = torch.ones(1, 4, 4, 1)
        >>> erase = RandomErasing(factor=(1.0, 1.0), scale=(0.25, 0.25), fill_value=0, seed=0)
        >>> erase(x, training=True).sum().item()  # a 2 x 2 square erased
        12.0
    """

    _keeps_geometry = True  # boxes and masks pass through, as in Keras

    _config_keys = ("factor", "scale", "fill_value", "value_range")

    def __init__(
        self, factor: float | Sequence[float] = 1.0, scale: float | Sequence[float] = (0.02, 0.33),
        fill_value: float | Sequence[float] | None = None, value_range: Sequence[float] = (0, 255),
        seed: int | None = None, data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        factor = im.factor_range(check, "factor", factor, 0.0, 1.0)
        scale = im.factor_range(check, "scale", scale, 0.0, 1.0)
        fills = [fill_value] if im.is_number(fill_value) else fill_value
        if fill_value is not None and not (
            isinstance(fills, Sequence) and len(fills) in (1, 3) and all(map(im.is_number, fills))
        ):
            check.add(
                "fill_value must be None, a number or a list of 3 numbers, "
                f"received fill_value={fill_value!r}"
            )
        self._range = im.value_range(check, value_range)
        self.data_format = check.data_format(data_format)
        seed = im.seed_value(check, seed)
        check.raise_if_any()
        super().__init__(seed=seed, **kwargs)
        self.factor, self.scale, self.fill_value = factor, scale, fill_value
        self.value_range = value_range

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        batch, _, height, width = images.shape
        device = images.device
        sides = torch.sqrt(self._uniform((batch, 2), *self.scale, device))
        box_w, box_h = sides[:, 0] * width, sides[:, 1] * height
        x0 = self._rand((batch,), device) * (width - box_w)
        y0 = self._rand((batch,), device) * (height - box_h)
        return {
            "apply_erasing": self._chosen(batch, self.factor, device),
            "batch_masks": im.box_masks(x0, x0 + box_w, y0, y0 + box_h, height, width),
            "fill_value": self._fill(images.shape, device),
        }

    def _fill(self, shape: torch.Size, device: torch.device) -> torch.Tensor:
        """The values to erase with: per pixel for noise, else per channel `(1, c, 1, 1)`."""
        if self.fill_value is None:  # drawn in Keras's (batch, height, width, channels) order
            n, c, h, w = shape
            fill = self._normal((n, h, w, c), device).permute(0, 3, 1, 2) * self._range[1]
        else:
            fill = torch.tensor(self.fill_value, dtype=torch.float32, device=device)
            fill = fill.reshape(1, -1, 1, 1).expand(1, shape[1], 1, 1)
        return torch.clamp(fill, *self._range)

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        erased = (
            transformation["apply_erasing"][:, None, None, None] & transformation["batch_masks"]
        )
        return torch.where(erased, transformation["fill_value"].to(images.dtype), images)
