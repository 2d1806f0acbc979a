"""Colour augmentation: contrast, brightness, saturation, hue and colour degeneration,
each drawn per image, and `RandomColorJitter`, which chains the first four."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from convolve.layers import _conv_utils as cu
from convolve.layers.augmentation import _image as im
from convolve.layers.augmentation import _pixels as px

_KERAS_EPSILON = 1e-7  # keras.config.epsilon(), which RandomSaturation's draws use


class _ColorLayer(im.RandomImageLayer):
    """A per-image random change of pixel values by a `factor`, for images in `value_range`.

    Its constructor takes Keras's most common order of arguments; layers with another
    order pass theirs on.
    """

    _keeps_geometry = True  # boxes and masks pass through, as in Keras

    _config_keys = ("factor", "value_range")
    _factor_bounds = (0.0, 1.0)  # what each number of `factor` may be (Keras's bounds)
    _sorts_range = True  # whether `value_range` is kept sorted, as Keras keeps it

    def __init__(
        self, factor: Any, value_range: Sequence[float] = (0, 255), data_format: str | None = None,
        seed: int | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        factor = self._check_factor(check, factor)
        self._range = im.value_range(check, value_range)
        self.data_format = check.data_format(data_format)
        seed = im.seed_value(check, seed)
        check.raise_if_any()
        super().__init__(seed=seed, **kwargs)
        self.factor = factor
        self.value_range = sorted(value_range) if self._sorts_range else value_range

    def _check_factor(self, check: cu.ArgumentErrors, factor: Any) -> Any:
        return im.factor_range(check, "factor", factor, *self._factor_bounds)

    def _clip(self, images: torch.Tensor) -> torch.Tensor:
        return torch.clamp(images, *self._range)


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

    _sorts_range = False

    def __init__(
        self, factor: float | Sequence[float], value_range: Sequence[float] = (0, 255),
        seed: int | None = None, data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(factor, value_range, data_format, seed, **kwargs)

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

    _factor_bounds = (-1.0, 1.0)

    def __init__(
        self, factor: float | Sequence[float], value_range: Sequence[float] = (0, 255),
        seed: int | None = None, data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(factor, value_range, data_format, seed, **kwargs)

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        shape = (images.shape[0], 1, 1, 1)
        delta = self._uniform(shape, self.factor[0], self.factor[1], images.device)
        return {"rgb_delta": delta * (self._range[1] - self._range[0])}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        return self._clip(images + transformation["rgb_delta"].to(images.dtype))


class RandomSaturation(_ColorLayer):
    """Scales each image's colour saturation by its own random amount in training.

    Each image draws `f` in `(lower, upper)`; the saturation of every pixel (in HSV) is
    multiplied by `f / (1 - f)` and clipped to [0, 1]: `f = 0.5` leaves the image as it
    is, `f = 0` turns it gray, `f = 1` saturates it fully. As in Keras, a single number `f`
    means `(-f, f)`, and negative draws turn the image gray. Keras clips the scaled
    saturation to `value_range` rather than to [0, 1]; the two agree for
    `value_range=(0, 1)` and wherever the saturation stays within [0, 1], while on
    `(0, 255)` images Keras's oversaturated colours leave the value range.

    Args:
        factor: `f` (meaning `(-f, f)`) or `(lower, upper)`, each in [-1, 1].
        value_range: the `(low, high)` range of the input values.
        data_format: `None` or `"channels_last"`.
        seed: makes the draws repeatable.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomSaturation
        >>> x = torch.tensor([[[[200.0, 100.0, 50.0]]]])
        >>> RandomSaturation((0.0, 0.0))(x, training=True).flatten().tolist()  # gray
        [200.0, 200.0, 200.0]
    """

    _factor_bounds = (-1.0, 1.0)

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        factor = self._uniform((images.shape[0],), *self.factor, images.device)
        return {"factor": factor / (1.0 - factor + _KERAS_EPSILON)}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        hue, saturation, value = px.rgb_to_hsv(images, type(self).__name__).unbind(1)
        scale = transformation["factor"].to(images.dtype)[:, None, None]
        saturation = torch.clamp(saturation * scale, 0.0, 1.0)
        return px.hsv_to_rgb(torch.stack([hue, saturation, value], dim=1))


class RandomHue(_ColorLayer):
    """Turns each image's hue by its own random amount in training.

    Each image draws `f` in `(lower, upper)` and a direction; its hue (in HSV, a full turn
    being 1) moves by `f / 2` that way, so `f = 1` turns it by up to half a turn.

    Args:
        factor: `f` (meaning `(0, f)`) or `(lower, upper)`, each in [0, 1].
        value_range: the `(low, high)` range of the input values.
        data_format: `None` or `"channels_last"`.
        seed: makes the draws repeatable.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomHue
        >>> x = torch.tensor([[[[255.0, 0.0, 0.0]]]])  # red, half a turn from cyan
        >>> RandomHue((1.0, 1.0))(x, training=True).flatten().tolist()
        [0.0, 255.0, 255.0]
    """

    _sorts_range = False

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        batch, device = images.shape[0], images.device
        direction = self._signs((batch,), device)
        return {"factor": direction * self._uniform((batch,), *self.factor, device) * 0.5}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        unit = px.rescale(images, self._range, (0.0, 1.0))
        hue, saturation, value = px.rgb_to_hsv(unit, type(self).__name__).unbind(1)
        hue = hue + transformation["factor"].to(images.dtype)[:, None, None]
        hue = torch.where(hue > 1.0, hue - 1.0, hue)
        hue = torch.where(hue < 0.0, hue + 1.0, hue)
        rgb = px.hsv_to_rgb(torch.stack([hue, saturation, value], dim=1))
        return px.rescale(torch.clamp(rgb, 0.0, 1.0), (0.0, 1.0), self._range)


class RandomColorDegeneration(_ColorLayer):
    """Blends each image with its grayscale version by its own random amount in training.

    An image becomes `x + f * (gray(x) - x)`, clipped to `value_range`, for `f` drawn per
    image: 0 leaves it, 1 turns it gray, negative values push colours further apart.

    Args:
        factor: `f` (meaning `(-f, f)`, as in Keras) or `(lower, upper)`, each in [-1, 1].
        value_range: the `(low, high)` range of the input values.
        data_format: `None` or `"channels_last"`.
        seed: makes the draws repeatable.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomColorDegeneration
        >>> x = torch.tensor([[[[100.0, 100.0, 200.0]]]])
        >>> layer = RandomColorDegeneration((0.5, 0.5))
        >>> layer(x, training=True).round().flatten().tolist()  # halfway to gray
        [106.0, 106.0, 156.0]
    """

    _factor_bounds = (-1.0, 1.0)

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        shape = (images.shape[0], 1, 1, 1)
        return {"factor": self._uniform(shape, *self.factor, images.device)}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        gray = px.grayscale(images, type(self).__name__)
        return self._clip(images + transformation["factor"].to(images.dtype) * (gray - images))


class RandomColorJitter(im.RandomImageLayer):
    """Changes brightness, contrast, saturation and hue, in that order, each by its own
    random amount per image, in training.

    Each factor given adds the step of the layer of that name (`RandomBrightness`,
    `RandomContrast`, `RandomSaturation`, `RandomHue`), with that layer's meaning; a
    factor left `None` skips its step. All steps draw from this layer's seed.

    Args:
        value_range: the `(low, high)` range of the input values.
        brightness_factor: `RandomBrightness`'s `factor`, or `None`.
        contrast_factor: `RandomContrast`'s `factor`, or `None`.
        saturation_factor: `RandomSaturation`'s `factor`, or `None`.
        hue_factor: `RandomHue`'s `factor`, or `None`.
        seed: makes the draws repeatable.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomColorJitter
        >>> x = torch.tensor([[[[100.0, 100.0, 100.0]]]])
        >>> jitter = RandomColorJitter(brightness_factor=(0.2, 0.2), hue_factor=0.5)
        >>> jitter(x, training=True).flatten().tolist()  # brighter; a gray has no hue
        [151.0, 151.0, 151.0]
    """

    _keeps_geometry = True  # boxes and masks pass through, as in Keras

    _config_keys = (
        "value_range", "brightness_factor", "contrast_factor", "saturation_factor", "hue_factor",
    )  # fmt: skip
    _steps = (
        ("brightness", RandomBrightness),
        ("contrast", RandomContrast),
        ("saturation", RandomSaturation),
        ("hue", RandomHue),
    )

    def __init__(
        self, value_range: Sequence[float] = (0, 255), brightness_factor: Any = None,
        contrast_factor: Any = None, saturation_factor: Any = None, hue_factor: Any = None,
        seed: int | None = None, data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        factors = {
            "brightness": brightness_factor,
            "contrast": contrast_factor,
            "saturation": saturation_factor,
            "hue": hue_factor,
        }
        check = cu.ArgumentErrors(type(self).__name__)
        for step, layer in self._steps:
            if factors[step] is not None:
                im.factor_range(check, f"{step}_factor", factors[step], *layer._factor_bounds)
        im.value_range(check, value_range)
        seed = im.seed_value(check, seed)
        self.data_format = check.data_format(data_format)
        check.raise_if_any()
        super().__init__(seed=seed, **kwargs)
        self.value_range = value_range
        for step, layer_class in self._steps:
            setattr(self, f"{step}_factor", factors[step])
            layer = None
            if factors[step] is not None:
                layer = layer_class(factors[step], value_range=value_range)
                layer._draw_with(self)
            setattr(self, f"random_{step}", layer)  # Keras's names for the steps

    def _active_steps(self) -> list[_ColorLayer]:
        steps = (getattr(self, f"random_{step}") for step, _ in self._steps)
        return [layer for layer in steps if layer is not None]

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        # Draws depend on the batch's shape only, so all steps draw before any applies.
        return [layer.get_random_transformation(images) for layer in self._active_steps()]

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        for layer, drawn in zip(self._active_steps(), transformation, strict=True):
            images = layer.transform_images(images, drawn)
        return images
