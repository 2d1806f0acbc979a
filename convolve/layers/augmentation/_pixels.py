"""Pixel-value operations shared by the colour layers, on `(batch, channels, height, width)`
float images, computed as Keras's torch backend computes them."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def rescale(images: torch.Tensor, source: Sequence[float], target: Sequence[float]) -> torch.Tensor:
    """Maps values linearly from the `source` range onto the `target` range, as Keras's
    `_transform_value_range` does (and, like it, returns equal ranges untouched)."""
    if source[0] == target[0] and source[1] == target[1]:
        return images
    unit = (images - float(source[0])) / (float(source[1]) - float(source[0]))
    return unit * (float(target[1]) - float(target[0])) + float(target[0])


def check_channels(images: torch.Tensor, layer: str, gray_too: bool = False) -> None:
    """Raises for images that are not RGB (or, with `gray_too`, single-channel)."""
    channels = images.shape[1]
    if channels == 3 or (gray_too and channels == 1):
        return
    wanted = "RGB images (3 channels)" + (" or grayscale ones (1 channel)" if gray_too else "")
    raise ValueError(f"{layer} expects {wanted}; received images with {channels} channels")


def grayscale(images: torch.Tensor, layer: str) -> torch.Tensor:
    """`(batch, 1, height, width)` luminance of RGB images (ITU-R 601 weights, as torchvision
    and Keras use); one-channel images are returned as they are."""
    check_channels(images, layer, gray_too=True)
    if images.shape[1] == 1:
        return images
    red, green, blue = images.unbind(1)
    return (0.2989 * red + 0.587 * green + 0.114 * blue)[:, None]


def rgb_to_hsv(images: torch.Tensor, layer: str) -> torch.Tensor:
    """Hue, saturation and value planes of RGB images, hue and saturation in [0, 1], value
    in the images' own scale."""
    check_channels(images, layer)
    eps = torch.finfo(images.dtype).eps
    images = torch.where(images.abs() < eps, 0.0, images)
    red, green, blue = images.unbind(1)
    value = torch.maximum(torch.maximum(red, green), blue)
    spread = value - torch.minimum(torch.minimum(red, green), blue)
    saturation = torch.where(value > 0, spread / torch.where(value > 0, value, 1.0), 0.0)
    norm = 1.0 / (6.0 * torch.where(spread > 0, spread, 1.0))
    hue = torch.where(
        value == green, norm * (blue - red) + 2.0 / 6.0, norm * (red - green) + 4.0 / 6.0
    )
    hue = torch.where(value == red, norm * (green - blue), hue)
    hue = torch.where(spread > 0, hue, 0.0) + (hue < 0.0).to(hue.dtype)
    return torch.stack([hue, saturation, value], dim=1)


def hsv_to_rgb(images: torch.Tensor) -> torch.Tensor:
    hue, saturation, value = images.unbind(1)
    sector = torch.remainder(hue, 1.0) * 6.0
    red = torch.clamp(torch.abs(sector - 3.0) - 1.0, 0.0, 1.0)
    green = torch.clamp(2.0 - torch.abs(sector - 2.0), 0.0, 1.0)
    blue = torch.clamp(2.0 - torch.abs(sector - 4.0), 0.0, 1.0)
    grey = 1.0 - saturation
    return torch.stack([value * (grey + saturation * c) for c in (red, green, blue)], dim=1)
