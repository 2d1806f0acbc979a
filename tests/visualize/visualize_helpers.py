"""Data, models and image checks shared by the visualize tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

SIZE, SIDE = 32, 8  # image side and bright-square side, in pixels
MARGIN = 2  # squares keep off the border, where zero padding makes its own edges


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Tiny models train fastest on one thread (and far faster on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def bright_squares(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noise images, every other one with a bright square: images, labels, square corners.

    Returns images `(n, SIZE, SIZE, 1)` in [0, 1], labels (1 = square) and each square's
    top-left `(row, col)` (-1 for images without one).
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.5, (n, SIZE, SIZE, 1)).astype(np.float32)
    y = np.arange(n) % 2
    corners = np.full((n, 2), -1)
    for i in np.flatnonzero(y):
        r, c = rng.integers(MARGIN, SIZE - SIDE - MARGIN + 1, 2)
        x[i, r : r + SIDE, c : c + SIDE] = rng.uniform(0.85, 1.0)
        corners[i] = (r, c)
    return x, y, corners


def png_pixels(path: Path, min_size: tuple[int, int] = (100, 100)) -> np.ndarray:
    """Opens `path` as a PNG, checks its size and that it is not blank; returns its pixels."""
    with Image.open(path) as image:
        assert image.format == "PNG", f"{path} is {image.format}, not PNG"
        width, height = image.size
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert width >= min_size[0] and height >= min_size[1], (width, height)
    # A blank (or single-colour) image has no variance; a plot has lines, text and images.
    assert pixels.std() > 15.0, f"{path} looks blank: pixel std {pixels.std():.2f}"
    return pixels


def image_axes(fig) -> list:
    """The axes of a figure that show an image."""
    return [ax for ax in fig.axes if ax.images]
