"""Fixtures for the data tests: small image files and folders written on the fly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def smooth_rgb(h: int, w: int, phase: float = 0.0) -> np.ndarray:
    """A smooth colourful uint8 image (photo-like: no pixel noise)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 127 + 100 * np.sin(xx / 7.0 + yy / 11.0 + phase)
    g = 127 + 100 * np.cos(yy / 5.0 - phase)
    b = 127 + 80 * np.sin((xx - yy) / 9.0 + 2 * phase)
    return np.stack([r, g, b], axis=-1).clip(0, 255).astype(np.uint8)


def write_image(path: Path, array: np.ndarray, fmt: str | None = None, **save_kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = {2: "L", 3: None}.get(array.ndim)
    if array.ndim == 3 and array.shape[2] == 4:
        mode = "RGBA"
    if array.ndim == 3 and array.shape[2] == 1:
        array, mode = array[:, :, 0], "L"
    Image.fromarray(array, mode).save(path, format=fmt, **save_kwargs)
    return path


@pytest.fixture
def image_folder(tmp_path: Path) -> Callable[..., Path]:
    """Makes `root/<class>/<i>.png` folders: `image_folder({"cat": 3, "dog": 2})`."""

    def make(counts: dict[str, int], size: tuple[int, int] = (12, 16), ext: str = ".png") -> Path:
        root = tmp_path / "images"
        for c, (name, n) in enumerate(sorted(counts.items())):
            for i in range(n):
                array = smooth_rgb(*size, phase=c + i / 10)
                fmt = {".png": "PNG", ".jpg": "JPEG", ".bmp": "BMP"}[ext]
                write_image(root / name / f"{name}_{i:03d}{ext}", array, fmt)
            (root / name).mkdir(parents=True, exist_ok=True)
        return root

    return make


@pytest.fixture
def smooth() -> Callable[..., np.ndarray]:
    """`smooth(h, w, phase=0.0)`: a photo-like uint8 RGB array."""
    return smooth_rgb


@pytest.fixture
def write() -> Callable[..., Path]:
    """`write(path, array, fmt=None, **save_kwargs)`: saves an array with Pillow."""
    return write_image
