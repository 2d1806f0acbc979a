"""Colour augmentation: random contrast and brightness, per image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from convolve.layers import _conv_utils as cu
from convolve.layers.augmentation import _image as im


class _ColorLayer(im.RandomImageLayer):
    """A per-image random adjustment, clipped to `value_range`."""

    def _init_color(
        self, check: cu.ArgumentErrors, value_range: Any, seed: Any, data_format: Any
    ) -> tuple[Any, int | None]:
        pair = im.number_pair(check, "value_range", value_range)
        seed = im.seed_value(check, seed)
        self.data_format = check.data_format(data_format)
        return pair, seed

    def _clip(self, images: torch.Tensor) -> torch.Tensor:
        return torch.clamp(images, float(self.value_range[0]), float(self.value_range[1]))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomContrast(_ColorLayer):
    """Scales each image's contrast by its own random factor in training.

    Every channel of an image becomes `(x - mean) * c + mean`, with `mean` the channel's
    mean over the image and `c` drawn per image in `[1 - lower, 1 + upper]`; the result is
    clipped to `value_range`. As in Keras 3, a single number `f` means `(lower, upper) =
    (0, f)`, so contrast only rises; pass `(f, f)` for `[1 - f, 1 + f]`.

    Args:
        factor: `f` or `(lower, upper)`, each in [0, 1].
        value_range: the `(low, high)` range of the input values, e.g. `(0, 255)` or
            `(0, 1)`; outputs are clipped to it.
        seed: makes the draws repeatable.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomContrast
        >>> x = torch.tensor([[[[0.2], [0.4]]]])  # one image of two pixels
        >>> out = RandomContrast(0.5, value_range=(0, 1), seed=1)(x, training=True)
        >>> round(out.mean().item(), 4)  # the mean stays, the spread grows
        0.3
        >>> bool(out.max() - out.min() >= 0.2)
        True
    """

    def __init__(
        self, factor: float | Sequence[float], value_range: Sequence[float] = (0, 255),
        seed: int | None = None, data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        factor = im.factor_range(check, "factor", factor, 0.0, 1.0)
        _, seed = self._init_color(check, value_range, seed, data_format)
        check.raise_if_any()
        super().__init__(seed=seed, **kwargs)
        self.factor, self.value_range = factor, value_range

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        shape = (images.shape[0], 1, 1, 1)
        low, high = 1.0 - self.factor[0], 1.0 + self.factor[1]
        return {"contrast_factor": self._uniform(shape, low, high, images.device)}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        mean = images.mean(dim=(-2, -1), keepdim=True)
        factor = transformation["contrast_factor"].to(images.dtype)
        return self._clip((images - mean) * factor + mean)


class RandomBrightness(_ColorLayer):
    """Adds a random offset to each image in training, clipped to `value_range`.

    The offset is drawn per image in `[lower, upper] * (high - low)` of `value_range`: -1
    turns an image black, 1 white.

    Args:
        factor: `f` (meaning `(-f, f)`) or `(lower, upper)`, each in [-1, 1].
        value_range: the `(low, high)` range of the input values (sorted, as Keras does);
            outputs are clipped to it.
        seed: makes the draws repeatable.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomBrightness
        >>> x = torch.full((1, 1, 2, 1), 100.0)
        >>> RandomBrightness((0.1, 0.1))(x, training=True).flatten().tolist()
        [125.5, 125.5]
    """

    def __init__(
        self, factor: float | Sequence[float], value_range: Sequence[float] = (0, 255),
        seed: int | None = None, data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        factor = im.factor_range(check, "factor", factor, -1.0, 1.0)
        _, seed = self._init_color(check, value_range, seed, data_format)
        check.raise_if_any()
        super().__init__(seed=seed, **kwargs)
        self.factor, self.value_range = factor, sorted(value_range)

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        shape = (images.shape[0], 1, 1, 1)
        delta = self._uniform(shape, self.factor[0], self.factor[1], images.device)
        return {"rgb_delta": delta * (self.value_range[1] - self.value_range[0])}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        return self._clip(images + transformation["rgb_delta"].to(images.dtype))
