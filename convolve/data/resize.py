"""TensorFlow's image resizing kernels, which Keras's image loader uses, in NumPy.

Keras resizes decoded images with `tf.image.resize(..., antialias=False)`. For "bilinear"
and "nearest" torch's `interpolate` computes the same thing (see `convolve.data.decode`);
the other methods are reproduced here as separable filters: for every output row (then
column) a short list of input indices and weights, computed in float32 the way
TensorFlow's kernels compute them:

* "bicubic": `ResizeBicubic` with half-pixel centres: Keys cubic (a = -0.5) weights
  from a 1024-entry table, taps outside the image dropped and the rest renormalised.
* "area": `ResizeArea`: each output pixel is the mean of the input area it covers.
* "lanczos3", "lanczos5", "gaussian", "mitchellcubic": `ScaleAndTranslate` with the
  kernel unscaled (no antialiasing), weights renormalised at the borders.

Results are float32 and, for kernels with negative lobes, can fall slightly outside
[0, 255], exactly as in Keras.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_f32 = np.float32
_TABLE_SIZE = 1024


def _lanczos(radius: float) -> Callable[[np.ndarray], np.ndarray]:
    def kernel(x: np.ndarray) -> np.ndarray:
        x = np.abs(x)
        pi = _f32(3.14159265359)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = _f32(radius) * np.sin(pi * x) * np.sin(pi * x / _f32(radius)) / (pi * pi * x * x)
        y = np.where(x <= _f32(1e-3), _f32(1.0), y)
        return np.where(x > _f32(radius), _f32(0.0), y).astype(_f32)

    return kernel


def _gaussian(x: np.ndarray) -> np.ndarray:
    radius, sigma = 1.5, 0.5
    x = np.abs(x)
    y = np.exp(-(x.astype(np.float64) ** 2) / (2.0 * sigma * sigma)).astype(_f32)
    return np.where(x >= _f32(radius), _f32(0.0), y)


def _mitchell(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    far = (((_f32(-7.0 / 18.0) * x + _f32(2.0)) * x - _f32(10.0 / 3.0)) * x) + _f32(16.0 / 9.0)
    near = ((_f32(7.0 / 6.0) * x - _f32(2.0)) * x) * x + _f32(8.0 / 9.0)
    return np.where(x >= 2, _f32(0.0), np.where(x >= 1, far, near)).astype(_f32)


# name -> (kernel, radius) for TensorFlow's ScaleAndTranslate.
_SCALE_AND_TRANSLATE = {
    "lanczos3": (_lanczos(3.0), 3.0),
    "lanczos5": (_lanczos(5.0), 5.0),
    "gaussian": (_gaussian, 1.5),
    "mitchellcubic": (_mitchell, 2.0),
}

Taps = tuple[np.ndarray, np.ndarray]  # (indices, weights), both of shape (out_size, span)


def _scale_and_translate_taps(in_size: int, out_size: int, method: str) -> Taps:
    kernel, radius = _SCALE_AND_TRANSLATE[method]
    scale = _f32(out_size) / _f32(in_size)
    inv_scale = _f32(1.0 / float(scale))
    sample = (np.arange(out_size, dtype=_f32) + _f32(0.5)) * inv_scale
    start = np.ceil(sample - _f32(radius) - _f32(0.5)).astype(np.int64)
    end = np.floor(sample + _f32(radius) - _f32(0.5)).astype(np.int64)
    start = np.clip(start, 0, in_size - 1)
    end = np.clip(end, 0, in_size - 1) + 1
    span = int((end - start).max())
    idx = start[:, None] + np.arange(span)[None, :]
    inside = idx < end[:, None]
    pos = idx.astype(_f32) + _f32(0.5) - sample[:, None]
    weights = np.where(inside, kernel(pos), _f32(0.0)).astype(_f32)
    total = weights.sum(axis=1, keepdims=True, dtype=_f32)
    ok = np.abs(total) >= _f32(1000.0) * np.finfo(_f32).tiny
    weights = np.where(ok, weights / np.where(ok, total, _f32(1.0)), _f32(0.0)).astype(_f32)
    return np.minimum(idx, in_size - 1), weights


def _keys_table() -> np.ndarray:
    a = -0.5
    x = np.arange(_TABLE_SIZE + 1, dtype=np.float64) / _TABLE_SIZE
    near = (((a + 2) * x - (a + 3)) * x * x + 1).astype(_f32)
    x1 = x + 1.0
    far = (((a * x1 - 5 * a) * x1 + 8 * a) * x1 - 4 * a).astype(_f32)
    return np.stack([near, far], axis=1)


_KEYS = _keys_table()


def _bicubic_taps(in_size: int, out_size: int) -> Taps:
    scale = _f32(in_size) / _f32(out_size)
    loc = (np.arange(out_size, dtype=_f32) + _f32(0.5)) * scale - _f32(0.5)
    base = np.floor(loc).astype(np.int64)
    offset = np.rint((loc - base.astype(_f32)) * _f32(_TABLE_SIZE)).astype(np.int64)
    weights = np.stack(
        [
            _KEYS[offset, 1],
            _KEYS[offset, 0],
            _KEYS[_TABLE_SIZE - offset, 0],
            _KEYS[_TABLE_SIZE - offset, 1],
        ],
        axis=1,
    )
    idx = base[:, None] + np.arange(-1, 3)[None, :]
    weights = np.where((idx >= 0) & (idx < in_size), weights, _f32(0.0)).astype(_f32)
    total = weights.sum(axis=1, keepdims=True, dtype=_f32)
    ok = np.abs(total) >= _f32(1000.0) * np.finfo(_f32).tiny
    weights = np.where(ok, weights / np.where(ok, total, _f32(1.0)), weights).astype(_f32)
    return np.clip(idx, 0, in_size - 1), weights


def _area_taps(in_size: int, out_size: int) -> Taps:
    scale = _f32(in_size) / _f32(out_size)
    lo = np.arange(out_size, dtype=_f32) * scale
    hi = np.arange(1, out_size + 1, dtype=_f32) * scale
    start = np.floor(lo).astype(np.int64)
    end = np.ceil(hi).astype(np.int64)
    span = int((end - start).max())
    i = start[:, None] + np.arange(span)[None, :]
    fi = i.astype(_f32)
    lo_, hi_ = lo[:, None], hi[:, None]
    # Length of [i, i + 1) covered by [lo, hi), as TensorFlow computes it.
    covered = np.where(
        fi < lo_,
        np.where(fi + 1 > hi_, scale, fi + 1 - lo_),
        np.where(fi + 1 > hi_, hi_ - fi, _f32(1.0)),
    ).astype(_f32)
    weights = np.where(i < end[:, None], covered / scale, _f32(0.0)).astype(_f32)
    return np.clip(i, 0, in_size - 1), weights


def taps(in_size: int, out_size: int, method: str) -> Taps:
    """Input indices and weights that make each of `out_size` outputs along one axis."""
    if method == "bicubic":
        return _bicubic_taps(in_size, out_size)
    if method == "area":
        return _area_taps(in_size, out_size)
    return _scale_and_translate_taps(in_size, out_size, method)


def resize(array: np.ndarray, out_h: int, out_w: int, method: str) -> np.ndarray:
    """Resizes a `(height, width, channels)` array with a TensorFlow kernel; float32 out.

    Example:
        >>> import numpy as np
        >>> resize(np.ones((4, 6, 3), np.uint8), 2, 3, "area")[0, 0]
        array([1., 1., 1.], dtype=float32)
    """
    x = array.astype(_f32, copy=False)
    row_idx, row_w = taps(x.shape[0], out_h, method)
    col_idx, col_w = taps(x.shape[1], out_w, method)
    # Rows first, then columns, as TensorFlow does; one tap at a time keeps memory small.
    rows = np.zeros((out_h, x.shape[1], x.shape[2]), dtype=_f32)
    for k in range(row_idx.shape[1]):
        rows += row_w[:, k, None, None] * x[row_idx[:, k]]
    out = np.zeros((out_h, out_w, x.shape[2]), dtype=_f32)
    for k in range(col_idx.shape[1]):
        out += col_w[None, :, k, None] * rows[:, col_idx[:, k]]
    return out
