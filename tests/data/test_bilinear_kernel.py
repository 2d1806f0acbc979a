"""The C bilinear kernel against `tf.image.resize(antialias=False)`: bit for bit.

The install builds the kernel; this file fails (not skips) where it is missing, so a broken
build does not pass unnoticed as the slower torch fallback.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from convolve.data import _bilinear


def _tf_bilinear(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return tf.image.resize(pixels, size, method="bilinear", antialias=False).numpy()


@pytest.mark.parametrize(
    "in_shape, out_size",
    [
        ((300, 400, 3), (180, 180)),  # downscale, as the loader benchmark
        ((7, 5, 1), (180, 180)),  # large upscale, one channel
        ((1, 1, 3), (3, 4)),  # one pixel
        ((480, 321, 3), (224, 224)),
        ((50, 60, 4), (49, 61)),  # nearly the same size, four channels
        ((33, 17, 2), (33, 17)),
        ((64, 64, 3), (1, 1)),
    ],
)
def test_matches_tensorflow_exactly(in_shape, out_size):
    pixels = np.random.default_rng(sum(in_shape)).integers(0, 256, in_shape, dtype=np.uint8)
    out = np.empty((*out_size, in_shape[2]), np.float32)
    _bilinear.resize_into(pixels, out)
    np.testing.assert_array_equal(out, _tf_bilinear(pixels, out_size))


def test_reads_any_strides():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (90, 120, 4), dtype=np.uint8)
    views = [
        image[10:80, 25:100],  # a crop: strided rows, as the crop_to_aspect_ratio path passes
        image[:, :, :3],  # RGB of RGBA: four bytes per pixel
        np.ascontiguousarray(image[:, :, 0])[:, :, None],  # an added axis of stride 0
        image[::-2, ::3, ::-1],  # reversed and skipping rows, pixels and channels
        np.asfortranarray(image),
    ]
    for pixels in views:
        out = np.empty((45, 61, pixels.shape[2]), np.float32)
        _bilinear.resize_into(pixels, out)
        np.testing.assert_array_equal(out, _tf_bilinear(np.ascontiguousarray(pixels), (45, 61)))


def test_refuses_other_types_and_layouts():
    out = np.empty((4, 4, 3), np.float32)
    with pytest.raises(TypeError, match="uint8 and float32"):
        _bilinear.resize_into(np.zeros((8, 8, 3), np.float32), out)
    with pytest.raises(TypeError, match="uint8 and float32"):
        _bilinear.resize_into(np.zeros((8, 8, 3), np.uint8), out.astype(np.float64))
    with pytest.raises(ValueError, match=r"\(8, 8, 1\) pixels into \(4, 4, 3\)"):
        _bilinear.resize_into(np.zeros((8, 8, 1), np.uint8), out)  # channel counts differ
    with pytest.raises(ValueError, match="pixels into"):
        _bilinear.resize_into(np.zeros((0, 8, 3), np.uint8), out)
    read_only = np.zeros((4, 4, 3), np.float32)
    read_only.flags.writeable = False
    with pytest.raises((BufferError, ValueError), match="read-only|not writable"):
        _bilinear.resize_into(np.zeros((8, 8, 3), np.uint8), read_only)
