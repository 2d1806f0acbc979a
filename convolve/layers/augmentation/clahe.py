"""Contrast-limited adaptive histogram equalization (CLAHE), per tile of each image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from convolve.layers import _conv_utils as cu
from convolve.layers.augmentation import _image as im
from convolve.layers.augmentation import _pixels as px

_BINS = 256


def clahe(values: torch.Tensor, clip_limit: float, grid: tuple[int, int]) -> torch.Tensor:
    """CLAHE of `(batch, channels, height, width)` float values on the 0..255 scale, as
    Keras computes it.

    The image is padded at the bottom and right (edge rows and columns repeated) to
    whole tiles of a `grid[0] x grid[1]` grid; each tile of each channel gets a 256-bin
    histogram of its truncated values, clipped at `int(clip_limit * tile_area / 256)` (a
    whole count, as Keras computes it) with the excess spread evenly over all bins; each
    tile's normalized cumulative histogram is its lookup table, and each pixel blends the
    tables of its four nearest tile centres bilinearly.
    """
    batch, channels, height, width = values.shape
    grid_h, grid_w = grid
    tile_h, tile_w = -(-height // grid_h), -(-width // grid_w)
    padded_h, padded_w = tile_h * grid_h, tile_w * grid_w
    device = values.device
    if (padded_h, padded_w) != (height, width):
        # The last row and column repeated, as Keras's torch backend pads ("symmetric"
        # padding there is edge replication).
        rows = torch.clamp(torch.arange(padded_h, device=device), max=height - 1)
        cols = torch.clamp(torch.arange(padded_w, device=device), max=width - 1)
        values = values[:, :, rows][..., cols]
    pixels = torch.clamp(values.to(torch.int32), 0, _BINS - 1).long()

    # One histogram per (image, channel, tile row, tile column).
    tiles = pixels.reshape(batch, channels, grid_h, tile_h, grid_w, tile_w)
    tiles = tiles.permute(0, 1, 2, 4, 3, 5).reshape(-1, tile_h * tile_w)
    offsets = torch.arange(tiles.shape[0], device=device)[:, None] * _BINS
    counts = torch.bincount((tiles + offsets).flatten(), minlength=tiles.shape[0] * _BINS)
    hists = counts.reshape(batch, channels, grid_h, grid_w, _BINS)
    area = float(tile_h * tile_w)
    if clip_limit > 0:
        # Counts are whole numbers, and so is the limit (truncated), as in Keras.
        limit = int(clip_limit * area / 256.0)
        clipped = torch.clamp(hists, 0, limit)
        excess = (hists - clipped).sum(dim=-1, keepdim=True)
        hists = clipped.to(torch.float32) + excess.to(torch.float32) / 256.0
    hists = hists.to(torch.float32)
    cdf = hists.cumsum(dim=-1)
    cdf_min = cdf.amin(dim=-1, keepdim=True)
    spread = area - cdf_min
    spread = torch.where(spread == 0, torch.ones_like(spread), spread)
    tables = torch.clamp((cdf - cdf_min) * 255.0 / spread, 0.0, 255.0)
    # Edge tiles repeated once around the grid, so that every pixel has four neighbours.
    tables = torch.cat([tables[:, :, :1], tables, tables[:, :, -1:]], dim=2)
    tables = torch.cat([tables[:, :, :, :1], tables, tables[:, :, :, -1:]], dim=3)

    def axis(size: int, tile: int, count: int) -> tuple[torch.Tensor, ...]:
        position = (torch.arange(size, dtype=torch.float32, device=device) - tile / 2.0) / tile
        position = position + 1.0
        low = torch.floor(position)
        weight = position - low
        low_index = torch.clamp(low, 0, count + 1).long()
        high_index = torch.clamp(low + 1.0, 0, count + 1).long()
        return low_index, high_index, weight

    y0, y1, wy = axis(padded_h, tile_h, grid_h)
    x0, x1, wx = axis(padded_w, tile_w, grid_w)
    flat = tables.reshape(-1)
    stride_x = _BINS
    stride_y = stride_x * (grid_w + 2)
    stride_c = stride_y * (grid_h + 2)
    base = torch.arange(batch * channels, device=device).reshape(batch, channels, 1, 1) * stride_c
    base = base + pixels
    rows0, rows1 = (y0 * stride_y)[:, None], (y1 * stride_y)[:, None]
    cols0, cols1 = x0 * stride_x, x1 * stride_x
    north_west, north_east = flat[base + rows0 + cols0], flat[base + rows0 + cols1]
    south_west, south_east = flat[base + rows1 + cols0], flat[base + rows1 + cols1]
    wx, wy = wx[None, None, None, :], wy[None, None, :, None]
    top = north_west * (1.0 - wx) + north_east * wx
    bottom = south_west * (1.0 - wx) + south_east * wx
    out = top * (1.0 - wy) + bottom * wy
    return out[:, :, :height, :width]


class ContrastLimitedAdaptiveHistogramEqualization(im.ImageLayer):
    """Contrast-limited adaptive histogram equalization (CLAHE), in training and at
    inference alike (as in Keras).

    Each channel of each image is equalized tile by tile, over a `tile_grid_size` grid of
    tiles, with histograms clipped at `clip_limit` times the mean bin count (truncated to
    a whole count, as Keras computes it: tiles of fewer than `256 / clip_limit` pixels
    come out unchanged) so that contrast in flat regions is not amplified too far; the
    tiles' mappings are blended
    bilinearly between tile centres. Values are equalized on the 0..255 scale (truncated
    to whole levels for the histograms), mapped from and back to `value_range`. As in
    Keras, the output has the input's dtype (8-bit images stay 8-bit, truncated).

    Args:
        value_range: the `(low, high)` range of the input values.
        clip_limit: the histogram clip, in multiples of the mean bin count; 0 or less
            turns clipping off (plain adaptive equalization).
        tile_grid_size: `(rows, columns)` of tiles, positive integers.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.augmentation import ContrastLimitedAdaptiveHistogramEqualization
        >>> x = (torch.arange(64.0).reshape(1, 8, 8, 1) % 8) * 4 + 100  # a low-contrast ramp
        >>> out = ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(1, 1))(x)
        >>> float(out.max() - out.min()) > float(x.max() - x.min())  # contrast stretched
        True
    """

    _keeps_geometry = True  # pixel values only: boxes and masks pass through
    _float_images = False
    _config_keys = ("value_range", "clip_limit", "tile_grid_size")

    def __init__(
        self, value_range: Sequence[float] = (0, 255), clip_limit: float = 4.0,
        tile_grid_size: Sequence[int] = (8, 8), data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        im.value_range(check, value_range)
        im.number(check, "clip_limit", clip_limit)
        ok = isinstance(tile_grid_size, Sequence) and len(tile_grid_size) == 2
        if not (ok and all(cu.is_int(v) and v > 0 for v in tile_grid_size)):
            check.add(
                "tile_grid_size must be a tuple of two positive integers, "
                f"received tile_grid_size={tile_grid_size!r}"
            )
        self.data_format = check.data_format(data_format)
        check.raise_if_any()
        super().__init__(**kwargs)
        self.value_range, self.clip_limit = value_range, clip_limit
        self.tile_grid_size = tile_grid_size

    def transform_images(self, images, transformation, training=True):
        dtype = images.dtype
        source = tuple(float(v) for v in self.value_range)
        values = px.rescale(images.to(torch.float32), source, (0.0, 255.0))
        grid = (int(self.tile_grid_size[0]), int(self.tile_grid_size[1]))
        values = clahe(values, float(self.clip_limit), grid)
        return px.rescale(values, (0.0, 255.0), source).to(dtype)
