"""Decoded and resized pixels against Keras's own loader (TensorFlow decode + resize).

Measured bounds (max |convolve - keras| over all pixels, values in 0..255):

* PNG/BMP/GIF, "nearest" and "bilinear": 0 (identical; bilinear through the C kernel).
  Without the kernel, torch's float bilinear: <= 1e-3 (it computes the weights another way).
* Colour PNGs read as greyscale: 0 (libpng's integer weights, as TensorFlow asks for them).
* PNG/BMP/GIF, "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic":
  <= 2e-3 (float32 rounding; the kernels are re-implemented from TensorFlow's).
* The same with `crop_to_aspect_ratio` and `pad_to_aspect_ratio`.
* JPEG (colour and greyscale files, baseline and progressive): 0 with "nearest", as
  `convolve.data.jpeg` makes TensorFlow's libjpeg calls; also 0 with "bilinear".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convolve.data import image_dataset_from_directory

pytestmark = pytest.mark.parity

INTERPOLATIONS = ["bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5"]
BOUND = {"nearest": 0.0, "bilinear": 0.0}  # the others: float32 rounding, 2e-3


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory) -> Path:
    """Lossless images of several sizes (up- and down-scaling) and modes."""
    root = tmp_path_factory.mktemp("pixels")
    rng = np.random.default_rng(1)
    sizes = [(37, 53), (80, 60), (20, 31), (96, 96), (11, 70)]
    (root / "c").mkdir()
    for i, (h, w) in enumerate(sizes):
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(rgb).save(root / "c" / f"{i}_rgb.png")
        Image.fromarray(rgb[:, :, 0]).save(root / "c" / f"{i}_gray.png")
        rgba = np.dstack([rgb, rng.integers(0, 256, (h, w), dtype=np.uint8)])
        Image.fromarray(rgba, "RGBA").save(root / "c" / f"{i}_rgba.png")
        Image.fromarray(rgb).quantize(64).save(root / "c" / f"{i}_palette.png")
        Image.fromarray(rgb).save(root / "c" / f"{i}_rgb.bmp")
        Image.fromarray(rgb).quantize(200).save(root / "c" / f"{i}_frame.gif")
    return root


@pytest.fixture(scope="module")
def jpeg_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("jpegs")
    (root / "c").mkdir()
    yy, xx = np.mgrid[0:90, 0:120]
    for i in range(4):
        rgb = np.stack(
            [127 + 100 * np.sin(xx / (5 + i) + yy / 9), 127 + 90 * np.cos(yy / (4 + i)),
             127 + 80 * np.sin((xx - yy) / 7)], axis=-1,
        ).astype(np.uint8)  # fmt: skip
        image = Image.fromarray(rgb)
        image.save(root / "c" / f"{i}.jpg", quality=90, progressive=i == 1, subsampling=i % 3)
        image.convert("L").save(root / "c" / f"{i}_gray.jpg", quality=85)
    return root


def _pair(root, color_mode="rgb", **kwargs):
    import keras

    common = dict(shuffle=False, batch_size=64, verbose=False, color_mode=color_mode, **kwargs)
    theirs = keras.utils.image_dataset_from_directory(str(root), **common)
    ours = image_dataset_from_directory(str(root), num_workers=0, **common)
    assert ours.file_paths == list(theirs.file_paths)
    # Keras yields uint8 for "nearest" (TensorFlow keeps the dtype there); convolve always
    # yields float32, as Keras documents.
    want = np.concatenate([np.asarray(x) for x, _ in theirs]).astype(np.float32)
    got = np.concatenate([x.numpy() for x, _ in ours])
    assert got.shape == want.shape and got.dtype == np.float32
    return np.abs(got - want)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("aspect", ["stretch", "crop", "pad"])
def test_rgb_pixels_match_keras(png_folder, interpolation, aspect):
    diff = _pair(
        png_folder,
        image_size=(33, 47),
        interpolation=interpolation,
        crop_to_aspect_ratio=aspect == "crop",
        pad_to_aspect_ratio=aspect == "pad",
    )
    print(f"{interpolation}/{aspect}: max {diff.max():.5f} mean {diff.mean():.5f}")
    assert diff.max() <= BOUND.get(interpolation, 2e-3)


@pytest.mark.parametrize("interpolation", ["gaussian", "mitchellcubic"])
def test_scale_and_translate_kernels_match_keras(png_folder, interpolation):
    # Keras's crop/pad paths do not accept these two, so only plain resizing is compared.
    diff = _pair(png_folder, image_size=(40, 29), interpolation=interpolation)
    assert diff.max() <= 2e-3


@pytest.mark.parametrize("interpolation", ["bilinear", "area"])
def test_rgba_pixels_match_keras(tmp_path, interpolation):
    # TensorFlow decodes neither GIF nor BMP to four channels: PNGs only here.
    rng = np.random.default_rng(3)
    (tmp_path / "c").mkdir()
    for i, (h, w) in enumerate([(30, 44), (70, 20)]):
        rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        rgba[: h // 3, :, 3] = 0  # fully transparent rows keep their colour, as in Keras
        Image.fromarray(rgba, "RGBA").save(tmp_path / "c" / f"{i}_rgba.png")
        Image.fromarray(rgba[:, :, :3]).save(tmp_path / "c" / f"{i}_rgb.png")
        Image.fromarray(rgba[:, :, 0]).save(tmp_path / "c" / f"{i}_gray.png")
    diff = _pair(tmp_path, color_mode="rgba", image_size=(50, 25), interpolation=interpolation)
    assert diff.max() <= BOUND.get(interpolation, 2e-3)


def test_grayscale_and_16_bit_pixels_match_keras(tmp_path):
    # TensorFlow decodes only PNG and JPEG to one channel, so this folder holds PNGs.
    rng = np.random.default_rng(2)
    (tmp_path / "c").mkdir()
    for i, (h, w) in enumerate([(30, 40), (64, 50)]):
        gray = rng.integers(0, 256, (h, w), dtype=np.uint8)
        Image.fromarray(gray).save(tmp_path / "c" / f"{i}_gray.png")
        Image.fromarray(gray).convert("P").save(tmp_path / "c" / f"{i}_palette.png")
        deep = rng.integers(0, 65536, (h, w), dtype=np.uint16)
        Image.fromarray(deep).save(tmp_path / "c" / f"{i}_gray16.png")
    for color_mode in ("grayscale", "rgb"):
        diff = _pair(tmp_path, color_mode=color_mode, image_size=(21, 21), interpolation="nearest")
        print(f"gray/16-bit as {color_mode}: max {diff.max()}")
        assert diff.max() == 0.0
    # Colour to grey: libpng's integer weights, exactly. (Pillow's own weights and rounding
    # come out one level higher for about half the pixels, which this catches.)
    colour = tmp_path / "colour"
    (colour / "c").mkdir(parents=True)
    rgb = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    rgb[:5] = rgb[:5, :, :1]  # grey pixels in a colour file stay as they are
    Image.fromarray(rgb).save(colour / "c" / "rgb.png")
    Image.fromarray(np.dstack([rgb, rgb[:, :, 1]]), "RGBA").save(colour / "c" / "rgba.png")
    Image.fromarray(rgb).quantize(64).save(colour / "c" / "palette.png")
    for interpolation in ("nearest", "bilinear"):
        diff = _pair(
            colour, color_mode="grayscale", image_size=(30, 40), interpolation=interpolation
        )
        assert diff.max() == 0.0
    diff = _pair(colour, color_mode="grayscale", image_size=(17, 23))
    assert diff.max() == 0.0


@pytest.mark.parametrize("color_mode", ["rgb", "grayscale"])
def test_jpeg_pixels_match_keras(jpeg_folder, color_mode):
    diff = _pair(jpeg_folder, color_mode=color_mode, image_size=(90, 120), interpolation="nearest")
    assert diff.max() == 0.0
    diff = _pair(jpeg_folder, color_mode=color_mode, image_size=(45, 70))
    print(f"jpeg {color_mode} bilinear: max {diff.max()} mean {diff.mean():.3f}")
    assert diff.max() == 0.0


@pytest.mark.parametrize("aspect", ["stretch", "crop", "pad"])
def test_torch_bilinear_without_the_c_kernel(png_folder, jpeg_folder, aspect, monkeypatch):
    # Where no C compiler was at hand at install time, torch's float kernel resizes.
    from convolve.data import decode

    monkeypatch.setattr(decode, "_bilinear", None)
    for root in (png_folder, jpeg_folder):
        diff = _pair(
            root,
            image_size=(33, 47),
            crop_to_aspect_ratio=aspect == "crop",
            pad_to_aspect_ratio=aspect == "pad",
        )
        assert 0 < diff.max() <= 1e-3
