"""Tone augmentation: maps of pixel values (grayscale, inversion, solarization,
posterization, auto-contrast, histogram equalization), per image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from convolve.layers import _conv_utils as cu
from convolve.layers.augmentation import _image as im
from convolve.layers.augmentation import _pixels as px
from convolve.layers.augmentation.color import _ColorLayer

_BYTE = (0.0, 255.0)  # the range Keras computes these maps in


class RandomGrayscale(im.RandomImageLayer):
    """Turns each image grayscale with probability `factor` in training.

    A chosen image gets its luminance (`0.2989 R + 0.587 G + 0.114 B`) in every channel;
    the others are left as they are. Images have 3 channels (RGB) or 1.

    Args:
        factor: the probability that an image turns grayscale, in [0, 1].
        data_format: `None` or `"channels_last"`.
        seed: makes the draws repeatable. As in Keras, it is not part of `get_config`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomGrayscale
        >>> x = torch.tensor([[[[255.0, 0.0, 0.0]]]])  # one red pixel
        >>> RandomGrayscale(factor=1.0)(x, training=True).round().flatten().tolist()
        [76.0, 76.0, 76.0]
    """

    _keeps_geometry = True  # boxes and masks pass through, as in Keras

    _config_keys = ("factor",)

    def __init__(
        self, factor: float = 0.5, data_format: str | None = None, seed: int | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        check.number("factor", factor, low=0.0, high=1.0)
        self.data_format = check.data_format(data_format)
        seed = im.seed_value(check, seed)
        check.raise_if_any()
        super().__init__(seed=seed, **kwargs)
        self.factor = factor

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        chosen = self._rand((images.shape[0],), images.device) < self.factor  # as Keras
        return {"should_apply": chosen[:, None, None, None]}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        gray = px.grayscale(images, type(self).__name__)
        return torch.where(transformation["should_apply"], gray, images)

    def get_config(self):
        config = super().get_config()
        del config["seed"]  # Keras leaves it out
        return config


class RandomInvert(_ColorLayer):
    """Inverts the values of some images in training: `x` becomes `low + high - x`.

    Each image draws a probability in `factor`, and is inverted when a uniform draw falls
    below it. Keras computes `high - x`, which is the same for ranges from 0, such as
    `(0, 255)` and `(0, 1)`, and leaves the range otherwise.

    Args:
        factor: `f` (meaning `(0, f)`) or `(lower, upper)`, each in [0, 1]: the range of
            each image's probability of inversion. The default inverts half the images.
        value_range: the `(low, high)` range of the input values.
        seed: makes the draws repeatable.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomInvert
        >>> x = torch.tensor([[[[0.0], [200.0]]]])
        >>> RandomInvert(factor=(1.0, 1.0))(x, training=True).flatten().tolist()
        [255.0, 55.0]
    """

    _sorts_range = False

    def __init__(
        self, factor: float | Sequence[float] = 1.0, value_range: Sequence[float] = (0, 255),
        seed: int | None = None, data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(factor, value_range, data_format, seed, **kwargs)

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        return {"apply_inversion": self._chosen(images.shape[0], self.factor, images.device)}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        inverted = (self._range[0] + self._range[1]) - images
        return torch.where(transformation["apply_inversion"][:, None, None, None], inverted, images)


class Solarization(im.RandomImageLayer):
    """Solarizes images in training: values at or above a random threshold are inverted.

    Computed on the `(0, 255)` scale: each image draws an addition `a` and a threshold `t`;
    `x + a` is clipped to `[0, 255]`, then every value `v >= t` becomes `255 - v`. With the
    defaults (`a = t = 0`) every value is inverted.

    Args:
        addition_factor: `f` (meaning `(0, f)`) or `(lower, upper)`, each in [0, 1]: the
            range of `a`, as a fraction of 255. Keras draws `a` in `[lower, upper * 255]`,
            which differs from the documented `[lower * 255, upper * 255]` only when
            `lower > 0`; this layer draws what Keras documents.
        threshold_factor: the same for `t`.
        value_range: the `(low, high)` range of the input values.
        seed: makes the draws repeatable.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import Solarization
        >>> x = torch.tensor([[[[10.0], [200.0]]]])
        >>> Solarization(threshold_factor=(0.5, 0.5))(x, training=True).flatten().tolist()
        [10.0, 55.0]
    """

    _keeps_geometry = True  # boxes and masks pass through, as in Keras

    _config_keys = ("value_range", "addition_factor", "threshold_factor")

    def __init__(
        self, addition_factor: float | Sequence[float] = 0.0,
        threshold_factor: float | Sequence[float] = 0.0, value_range: Sequence[float] = (0, 255),
        seed: int | None = None, data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        additions = im.factor_range(check, "addition_factor", addition_factor, 0.0, 1.0)
        thresholds = im.factor_range(check, "threshold_factor", threshold_factor, 0.0, 1.0)
        self._range = im.value_range(check, value_range)
        self.data_format = check.data_format(data_format)
        seed = im.seed_value(check, seed)
        check.raise_if_any()
        super().__init__(seed=seed, **kwargs)
        self.addition_factor, self.threshold_factor = additions, thresholds
        self.value_range = sorted(value_range)

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        shape, device = (images.shape[0], 1, 1, 1), images.device
        low, high = self.addition_factor
        additions = self._uniform(shape, low * 255.0, high * 255.0, device)
        low, high = self.threshold_factor
        return {
            "additions": additions,
            "thresholds": self._uniform(shape, low * 255.0, high * 255.0, device),
        }

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        values = px.rescale(images, self._range, _BYTE)
        values = torch.clamp(values + transformation["additions"].to(images.dtype), *_BYTE)
        thresholds = transformation["thresholds"].to(images.dtype)
        values = torch.where(values < thresholds, values, 255.0 - values)
        return px.rescale(values, _BYTE, self._range)


class RandomPosterization(_ColorLayer):
    """Keeps only the top bits of each 8-bit value, a random number of bits per image.

    Values are mapped to `(0, 255)`, truncated to integers, cut to their `b` most
    significant bits, and mapped back. As in Keras, `b` is drawn from `lower` up to but
    not including `upper`, unless the two are equal.

    Args:
        factor: `f` (meaning `(1, f)`) or `(lower, upper)`: integers in [1, 8], bits to keep.
        value_range: the `(low, high)` range of the input values.
        data_format: `None` or `"channels_last"`.
        seed: makes the draws repeatable.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import RandomPosterization
        >>> x = torch.tensor([[[[37.0], [255.0]]]])
        >>> RandomPosterization(factor=(2, 2))(x, training=True).flatten().tolist()
        [0.0, 192.0]
    """

    def _check_factor(self, check, factor):
        bits = im.factor_range(check, "factor", factor, 1.0, 8.0)
        if not all(float(b).is_integer() for b in bits):
            check.add(f"factor must hold whole numbers of bits, received factor={factor!r}")
        return int(bits[0]), int(bits[1])

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        low, high = (int(f) for f in self.factor)
        batch, device = images.shape[0], images.device
        if low != high:  # Keras's draw: integers in [low, high)
            generator = self.generator(device)
            bits = torch.randint(low, high, (batch,), generator=generator, device=device)
        else:
            bits = torch.full((batch,), low, device=device)
        return {"shift_factor": (8 - bits).to(torch.uint8)}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        shift = transformation["shift_factor"].reshape(-1, 1, 1, 1)
        values = torch.clamp(px.rescale(images, self._range, _BYTE), *_BYTE).to(torch.uint8)
        values = (values >> shift) << shift
        return px.rescale(values.to(images.dtype), _BYTE, self._range)


class AutoContrast(im.ImageLayer):
    """Stretches each channel of each image to fill `value_range`, in training and at
    inference alike.

    A channel whose values are all equal is left as it is.

    Args:
        value_range: the `(low, high)` range of the input values.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import AutoContrast
        >>> x = torch.tensor([[[[0.25], [0.5]]]])
        >>> AutoContrast(value_range=(0, 1))(x).flatten().tolist()
        [0.0, 1.0]
    """

    _keeps_geometry = True  # boxes and masks pass through, as in Keras

    _config_keys = ("value_range",)

    def __init__(
        self, value_range: Sequence[float] = (0, 255), data_format: str | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        self._range = im.value_range(check, value_range)
        self.data_format = check.data_format(data_format)
        check.raise_if_any()
        super().__init__(**kwargs)
        self.value_range = sorted(value_range)

    def transform_images(self, images, transformation, training=True):
        values = px.rescale(images, self._range, _BYTE)
        low = values.amin(dim=(-2, -1), keepdim=True)
        high = values.amax(dim=(-2, -1), keepdim=True)
        scale = 255.0 / (high - low)
        stretched = torch.clamp(values * scale - low * scale, *_BYTE)
        stretched = px.rescale(stretched, _BYTE, self._range)
        # A flat channel divides by zero: NaN everywhere in it, where the input stays.
        return torch.where(torch.isnan(stretched), images, stretched)


def _equalize(values: torch.Tensor, bins: int) -> torch.Tensor:
    """Histogram equalization of each channel, values on the 0..255 scale, as Keras's
    `Equalization` computes it: one histogram per channel over the whole batch."""
    channels_first = values.transpose(0, 1)
    flat = channels_first.reshape(channels_first.shape[0], -1)
    bin_of = torch.clamp((flat * (bins - 1) / 255.0).to(torch.int32), 0, bins - 1)
    counts = torch.zeros(flat.shape[0], bins, dtype=torch.int64, device=flat.device)
    counts.scatter_add_(1, bin_of.long(), torch.ones_like(bin_of, dtype=torch.int64))
    cdf = counts.cumsum(dim=1)
    cdf_min = cdf.gather(1, torch.argmax((cdf > 0).to(torch.uint8), dim=1, keepdim=True))
    spread = cdf[:, -1:] - cdf_min
    lookup = (cdf - cdf_min) * 255 / torch.where(spread == 0, 1, spread)
    lookup = torch.clamp(torch.round(lookup), *_BYTE).to(values.dtype)
    # The lookup reads the bin a second way, (x / 255) * (bins - 1), as Keras does.
    entry = torch.clamp(flat / 255.0 * (bins - 1), 0, bins - 1).to(torch.int32)
    equalized = lookup.gather(1, entry.long())
    flat_channel = (counts > 0).sum(dim=1, keepdim=True) <= 1  # nothing to spread
    return torch.where(flat_channel, flat, equalized).reshape(channels_first.shape).transpose(0, 1)


class Equalization(im.ImageLayer):
    """Equalizes the histogram of each channel, in training.

    Values are mapped to `(0, 255)` and binned into `bins` bins; each value becomes its
    bin's place in the channel's cumulative histogram, stretched to `[0, 255]` and
    rounded, and is mapped back. A channel with a single occupied bin stays as it is.
    As in Keras, the histogram of a channel is taken over the whole batch (so an image's
    result depends on the others in its batch; call the layer on one image at a time for
    PIL's and torchvision's per-image `equalize`), and the layer returns its input at
    inference.

    Args:
        value_range: the `(low, high)` range of the input values.
        bins: the number of histogram bins, a positive integer.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import Equalization
        >>> x = torch.tensor([[[[10.0], [10.0], [20.0], [30.0]]]])
        >>> Equalization()(x, training=True).flatten().tolist()
        [0.0, 0.0, 128.0, 255.0]
    """

    _keeps_geometry = True  # boxes and masks pass through, as in Keras

    _default_training = True  # like a random layer: it equalizes when called directly
    _config_keys = ("bins", "value_range")

    def __init__(
        self, value_range: Sequence[float] = (0, 255), bins: int = 256,
        data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        self._range = im.value_range(check, value_range)
        check.positive_int("bins", bins)
        self.data_format = check.data_format(data_format)
        check.raise_if_any()
        super().__init__(**kwargs)
        self.value_range, self.bins = sorted(value_range), bins

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        values = px.rescale(images, self._range, _BYTE)
        return px.rescale(_equalize(values, self.bins), _BYTE, self._range)
