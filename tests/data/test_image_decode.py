"""Decoding single files: modes, bit depths, orientation, resizing rules, bad files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from convolve.data.decode import BadImageError, DecodeSpec, decode_image, output_dtype
from convolve.data.resize import resize

# EXIF orientation -> how the stored pixels must be turned to show upright.
UPRIGHT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, k=-1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, k=1),
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path, orientation):
    stored = np.random.default_rng(orientation).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"
    Image.fromarray(stored).save(path, exif=exif)
    expected = UPRIGHT[orientation](stored)
    got = decode_image(str(path), DecodeSpec(3, expected.shape[:2], "nearest"))
    np.testing.assert_array_equal(got, expected)


def test_orientation_matches_pillows_exif_transpose(tmp_path):
    from PIL import ImageOps

    stored = np.random.default_rng(0).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        path = tmp_path / f"{orientation}.png"
        Image.fromarray(stored).save(path, exif=exif)
        reference = np.asarray(ImageOps.exif_transpose(Image.open(path)))
        got = decode_image(str(path), DecodeSpec(3, None))
        np.testing.assert_array_equal(got, reference)


def test_sixteen_bit_grey_keeps_the_high_byte(tmp_path):
    values = np.array([[0, 255, 256, 32768], [40000, 65280, 65534, 65535]], np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(values).save(path)
    got = decode_image(str(path), DecodeSpec(1, None))
    np.testing.assert_array_equal(got[:, :, 0], values >> 8)
    rgb = decode_image(str(path), DecodeSpec(3, None))
    np.testing.assert_array_equal(rgb, np.repeat((values >> 8)[:, :, None], 3, axis=2))


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)
    got = decode_image(str(path), DecodeSpec(3, None)).reshape(-1, 3).mean(0)
    np.testing.assert_allclose(got, [255, 0, 0], atol=6)


def test_palette_transparency_and_grey_alpha_in_rgba(tmp_path):
    pal = Image.new("P", (4, 2))
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    pal.putpixel((0, 0), 1)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "p.png")
    got = decode_image(str(tmp_path / "p.png"), DecodeSpec(4, None))
    assert tuple(got[0, 0]) == (0, 255, 0, 255)
    assert tuple(got[1, 3]) == (255, 0, 0, 0)
    Image.new("LA", (3, 3), (70, 20)).save(tmp_path / "la.png")
    assert tuple(decode_image(str(tmp_path / "la.png"), DecodeSpec(4, None))[1, 1]) == (
        70, 70, 70, 20,
    )  # fmt: skip
    assert tuple(decode_image(str(tmp_path / "la.png"), DecodeSpec(3, None))[1, 1]) == (70,) * 3


def test_grey_as_rgba_is_opaque_but_padding_is_transparent(tmp_path):
    Image.new("L", (10, 4), 99).save(tmp_path / "g.png")
    plain = decode_image(str(tmp_path / "g.png"), DecodeSpec(4, (4, 10), "bilinear"))
    assert (plain[..., 3] == 255).all() and (plain[..., :3] == 99).all()
    padded = decode_image(
        str(tmp_path / "g.png"), DecodeSpec(4, (10, 10), "bilinear", pad_to_aspect_ratio=True)
    )
    assert padded.shape == (10, 10, 4)
    assert (padded[:3, :, 3] == 0).all() and (padded[4:7, :, 3] == 255).all()


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (5, 5), c).convert("P") for c in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=40)
    got = decode_image(str(tmp_path / "a.gif"), DecodeSpec(3, None))
    assert tuple(got[2, 2]) == (255, 0, 0)


def test_crop_takes_the_centred_window(tmp_path):
    array = np.zeros((10, 30, 3), np.uint8)
    array[:, 10:20] = 200  # the centre third
    Image.fromarray(array).save(tmp_path / "wide.png")
    got = decode_image(
        str(tmp_path / "wide.png"), DecodeSpec(3, (5, 5), "nearest", crop_to_aspect_ratio=True)
    )
    assert (got == 200).all()


def test_output_dtype_follows_the_interpolation(tmp_path):
    Image.new("RGB", (9, 9), (1, 2, 3)).save(tmp_path / "x.png")
    for method in ("bilinear", "nearest", "area", "lanczos3"):
        got = decode_image(str(tmp_path / "x.png"), DecodeSpec(3, (4, 5), method))
        assert got.dtype == output_dtype(method) and got.shape == (4, 5, 3)
        np.testing.assert_allclose(got.reshape(-1, 3).mean(0), [1, 2, 3], atol=1e-3)


def test_resize_kernels_preserve_constants_and_shapes():
    flat = np.full((13, 17, 2), 77, np.uint8)
    for method in ("bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic"):
        for out in [(5, 6), (30, 40), (13, 17), (1, 1)]:
            got = resize(flat, *out, method)
            assert got.shape == (*out, 2) and got.dtype == np.float32
            np.testing.assert_allclose(got, 77, atol=1e-3)


@pytest.mark.parity
@pytest.mark.parametrize(
    "method", ["bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic"]
)
def test_resize_kernels_match_tensorflow(method):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for _ in range(12):
        h, w, out_h, out_w = (int(v) for v in rng.integers(1, 90, 4))
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        want = tf.image.resize(image, (out_h, out_w), method=method).numpy()
        np.testing.assert_allclose(resize(image, out_h, out_w, method), want, atol=2e-3)


def test_jpeg_draft_is_faithful_on_smooth_photos(tmp_path, smooth):
    # Downscaling a 1200 x 1600 photo-like JPEG to 180 x 180 with draft decoding (1/4 scale
    # in the decoder) against the full decode. Measured: mean |diff| 2.9, max 12.
    Image.fromarray(smooth(1200, 1600)).save(tmp_path / "big.jpg", quality=92)
    full = decode_image(str(tmp_path / "big.jpg"), DecodeSpec(3, (180, 180)))
    fast = decode_image(str(tmp_path / "big.jpg"), DecodeSpec(3, (180, 180), jpeg_draft=True))
    diff = np.abs(full.astype(float) - fast.astype(float))
    assert diff.mean() < 4 and diff.max() <= 16


def test_grayscale_jpeg_decodes_luma_directly(tmp_path, smooth):
    Image.fromarray(smooth(40, 60)).save(tmp_path / "c.jpg", quality=95)
    got = decode_image(str(tmp_path / "c.jpg"), DecodeSpec(1, None))
    reference = np.asarray(Image.open(tmp_path / "c.jpg").convert("L"))
    assert got.shape == (40, 60, 1)
    assert np.abs(got[:, :, 0].astype(int) - reference).mean() < 2


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty file"),
        (b"hello", "not a recognised image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "corrupt or truncated"),
    ],
)
def test_bad_files_raise_one_clear_error(tmp_path, content, reason):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(BadImageError) as info:
        decode_image(str(path), DecodeSpec())
    assert reason in str(info.value) and str(path) in str(info.value)
    assert info.value.path == str(path)


def test_missing_file(tmp_path):
    with pytest.raises(BadImageError, match="file not found"):
        decode_image(str(tmp_path / "nope.png"), DecodeSpec())
