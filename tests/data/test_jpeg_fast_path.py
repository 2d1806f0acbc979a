"""Which JPEGs `convolve.data.jpeg` decodes itself and which it leaves to Pillow.

The fast path must give TensorFlow's pixels exactly (checked against `tf.io.decode_image`)
and must hand every other file to Pillow (None), where orientation, CMYK and errors are
handled; the loader's result for those files must equal the Pillow path's.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from convolve.data import jpeg
from convolve.data.decode import BadImageError, DecodeSpec, decode_bytes

RNG = np.random.default_rng(0)
PHOTO = (RNG.random((48, 64, 3)) * 60 + np.linspace(0, 180, 64)[None, :, None]).astype(np.uint8)


def _jpeg(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, **kwargs)
    return buffer.getvalue()


def _with_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return _jpeg(Image.fromarray(PHOTO), exif=exif.tobytes())


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("channels", [1, 3])
def test_fast_path_gives_tensorflows_pixels(progressive, channels):
    import tensorflow as tf

    data = _jpeg(Image.fromarray(PHOTO), progressive=progressive)
    got = jpeg.decode(data, channels)
    assert got is not None and got.shape == (48, 64, channels) and got.dtype == np.uint8
    want = tf.io.decode_image(data, channels=channels, expand_animations=False).numpy()
    np.testing.assert_array_equal(got, want)


def test_greyscale_file_comes_back_with_one_channel_for_rgb():
    data = _jpeg(Image.fromarray(PHOTO).convert("L"))
    assert jpeg.decode(data, 3).shape == (48, 64, 1)
    assert decode_bytes(data, DecodeSpec(3, None)).shape == (48, 64, 3)


def test_upright_exif_stays_on_the_fast_path():
    data = _with_orientation(1)
    assert jpeg._has_exif(data)
    assert jpeg.decode(data, 3) is not None


@pytest.mark.parametrize(
    "name, data, channels",
    [
        ("rotated by EXIF", _with_orientation(6), 3),
        ("CMYK", _jpeg(Image.fromarray(PHOTO).convert("CMYK")), 3),
        ("four channels asked for", _jpeg(Image.fromarray(PHOTO)), 4),
        ("truncated", _jpeg(Image.fromarray(PHOTO))[:300], 3),
        ("not a JPEG", b"\x89PNG\r\n\x1a\n" + bytes(100), 3),
        ("JPEG start, then garbage", b"\xff\xd8\xff" + bytes(50), 3),
    ],
)
def test_other_files_are_left_to_pillow(name, data, channels):
    assert jpeg.decode(data, channels) is None, name


def test_oversized_files_are_left_to_pillow_which_refuses_them(monkeypatch):
    data = _jpeg(Image.fromarray(PHOTO))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 48 * 64 // 4)
    assert jpeg.decode(data, 3) is None
    with pytest.raises(BadImageError, match="decompression bomb"):
        decode_bytes(data, DecodeSpec(3, (10, 10)), "big.jpg")


def test_rotated_file_is_decoded_upright():
    got = decode_bytes(_with_orientation(6), DecodeSpec(3, None))
    assert got.shape == (64, 48, 3)  # orientation 6: turned a quarter clockwise


def test_truncated_file_is_reported_by_name():
    with pytest.raises(BadImageError, match="cut.jpg"):
        decode_bytes(_jpeg(Image.fromarray(PHOTO))[:300], DecodeSpec(3, (8, 8)), "cut.jpg")
