"""JPEG decoding with TensorFlow's settings, through libjpeg-turbo (simplejpeg).

Keras decodes JPEGs with TensorFlow, which asks libjpeg for its fast integer IDCT and
"fancy" chroma upsampling. simplejpeg with `fastdct=True, fastupsample=False` makes the same
calls, so the pixels are Keras's bit for bit; it also takes about 30% less CPU than Pillow,
which decodes with the accurate IDCT into four-byte pixels that then have to be repacked.

Only the common case goes this way: YCbCr or greyscale files, not rotated by EXIF, within
Pillow's pixel limit. For everything else (CMYK, rotated, oversized, damaged, four
channels asked for) `decode` returns None and the caller decodes with Pillow, which also
words the errors.
"""

from __future__ import annotations

import io

import numpy as np
import simplejpeg
from PIL import Image

_START = b"\xff\xd8\xff"
_EXIF = b"Exif\x00\x00"
_ORIENTATION_TAG = 0x0112


def is_jpeg(data: bytes) -> bool:
    return data[:3] == _START


def decode(data: bytes, num_channels: int) -> np.ndarray | None:
    """A `(height, width, 1 or 3)` uint8 array, or None where Pillow must decode instead.

    With `num_channels=3`, a greyscale file comes back with one channel, to be resized once
    and repeated afterwards (as the Pillow path does).
    """
    if num_channels not in (1, 3) or not is_jpeg(data):
        return None
    try:
        height, width, colourspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    limit = Image.MAX_IMAGE_PIXELS
    if colourspace not in ("YCbCr", "Gray") or (limit and height * width > limit):
        return None
    if _has_exif(data) and not _is_upright(data):
        return None
    out = "GRAY" if num_channels == 1 or colourspace == "Gray" else "RGB"
    try:
        return simplejpeg.decode_jpeg(data, out, fastdct=True, fastupsample=False)
    except ValueError:  # truncated or corrupt: Pillow's path reports it
        return None


def _has_exif(data: bytes) -> bool:
    """Whether an APP1 "Exif" segment comes before the image data."""
    pos = 2
    while pos + 10 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if not (0xE0 <= marker <= 0xEF or marker == 0xFE):  # past the APPn and COM segments
            return False
        if marker == 0xE1 and data[pos + 4 : pos + 10] == _EXIF:
            return True
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return False


def _is_upright(data: bytes) -> bool:
    try:
        value = Image.open(io.BytesIO(data)).getexif().get(_ORIENTATION_TAG, 1)
        return int(value) not in range(2, 9)  # 1, or a value Pillow's path also ignores
    except Exception:  # malformed EXIF: Pillow's path decides what it means
        return False
