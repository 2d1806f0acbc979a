"""A folder full of bad and unusual files: every good image loads, every bad one is
reported once, nothing crashes, in-process and with worker processes."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sample_files import png_bytes

from convolve.data import BadImageError, BadImageWarning, image_dataset_from_directory

H, W = 12, 8  # every good image is (or shows upright as) 12 rows x 8 columns
RED, BLUE = (255, 0, 0), (0, 0, 255)
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def solid(color, mode="RGB", size=(W, H)) -> Image.Image:
    return Image.new(mode, size, color)


def jpeg_bytes(img: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95, **kwargs)
    return buf.getvalue()


def build_folder(root: Path) -> tuple[dict[str, tuple], dict[str, str]]:
    """Writes the folder; returns {good path: expected mean RGB}, {bad path: reason part}."""
    good: dict[str, tuple] = {}
    bad: dict[str, str] = {}
    cls = root / "things"
    cls.mkdir(parents=True)

    def add_good(name: str, data: bytes | Image.Image, expect, fmt: str | None = None) -> Path:
        path = cls / name
        if isinstance(data, Image.Image):
            data.save(path, format=fmt)
        else:
            path.write_bytes(data)
        good[str(path)] = expect
        return path

    def add_bad(name: str, data: bytes, reason: str) -> Path:
        path = cls / name
        path.write_bytes(data)
        bad[str(path)] = reason
        return path

    # Good but unusual.
    add_good("plain.png", solid(RED), RED)
    add_good("upper_case.JPG", jpeg_bytes(solid(RED)), RED)
    add_good("progressive.jpg", jpeg_bytes(solid(BLUE), progressive=True), BLUE)
    add_good("cmyk.jpg", jpeg_bytes(solid((0, 255, 255, 0), "CMYK")), RED)
    add_good("gray16.png", Image.fromarray(np.full((H, W), 40000, np.uint16)), (156,) * 3)
    rgb16 = np.zeros((H, W, 3), ">u2")
    rgb16[..., 0], rgb16[..., 1] = 65535, 32768
    rows = b"".join(b"\x00" + rgb16[r].tobytes() for r in range(H))
    add_good("rgb16.png", png_bytes(W, H, 16, 2, rows), (255, 128, 0))
    rotated = np.zeros((W, H, 3), np.uint8)  # stored 8 x 12, shown upright as 12 x 8
    rotated[:, : H // 2] = 255  # left half white: the top half once turned clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    add_good("exif_rotated.jpg", jpeg_bytes(Image.fromarray(rotated), exif=exif), "top-white")
    frames = [solid(RED).convert("P"), solid(BLUE).convert("P")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    add_good("animated.gif", buf.getvalue(), RED)
    pal = solid(RED).convert("P")
    pal.info["transparency"] = 0
    add_good("palette_transparent.png", pal, RED, "PNG")
    add_good("gray_alpha.png", Image.new("LA", (W, H), (90, 128)), (90,) * 3, "PNG")
    add_good("one_bit.png", Image.new("1", (W, H), 1), (255,) * 3, "PNG")
    add_good("jpeg_named.png", jpeg_bytes(solid(BLUE)), BLUE)
    add_good("lossless.webp", solid(RED), RED, "WEBP")
    add_good("gray16.tiff", Image.fromarray(np.full((H, W), 65535, np.uint16)), (255,) * 3)
    add_good("plain.bmp", solid(BLUE), BLUE, "BMP")
    link = cls / "link_to_good.png"
    os.symlink(cls / "plain.png", link)
    good[str(link)] = RED
    unreadable = add_good("unreadable.png", solid(RED), RED, "PNG")
    os.chmod(unreadable, 0)
    if not IS_ROOT:  # root reads files whatever their mode bits say
        del good[str(unreadable)]
        bad[str(unreadable)] = "permission denied"
    inside = root / "things" / "folder.jpg"  # a directory named like an image
    inside.mkdir()
    solid(BLUE).save(inside / "inside.png")
    good[str(inside / "inside.png")] = BLUE

    # Bad.
    add_bad("zero_bytes.png", b"", "empty file")
    add_bad("truncated.jpg", jpeg_bytes(Image.fromarray(rotated))[:300], "corrupt or truncated")
    whole_png = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
        whole_png, "PNG"
    )
    add_bad("truncated.png", whole_png.getvalue()[:2000], "corrupt or truncated")
    add_bad("text.jpg", b"just some text, not a JPEG\n" * 5, "not a recognised image")
    add_bad("page.gif", b"<html><body>404 Not Found</body></html>", "not a recognised image")
    add_bad("noise.bmp", np.random.default_rng(1).bytes(500), "not a recognised image")
    bomb = png_bytes(30_000, 30_000, 8, 2, b"")
    add_bad("bomb.png", bomb, "decompression bomb")
    near_bomb = png_bytes(10_000, 10_000, 8, 0, b"")  # between 1x and 2x Pillow's limit
    add_bad("near_bomb.png", near_bomb, "decompression bomb")
    add_bad("bad_header.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "")
    broken = cls / "broken_link.jpg"
    os.symlink(cls / "does_not_exist.jpg", broken)
    bad[str(broken)] = "broken symbolic link"
    fifo = cls / "pipe.png"
    os.mkfifo(fifo)  # opening it would block forever
    bad[str(fifo)] = "not a regular file"

    # Ignored: hidden entries, other extensions, an empty class.
    (cls / ".hidden.png").write_bytes((cls / "plain.png").read_bytes())
    (root / "things" / ".ipynb_checkpoints").mkdir()
    solid(RED).save(root / "things" / ".ipynb_checkpoints" / "copy.png")
    (root / ".git").mkdir()
    solid(RED).save(root / ".git" / "object.png")
    (cls / "notes.txt").write_text("hello")
    (cls / "vector.svg").write_text("<svg/>")
    solid(RED).save(cls / "portable.ppm")
    (root / "empty_class").mkdir()
    return good, bad


def _mean_rgb(x: np.ndarray) -> tuple:
    return tuple(float(v) for v in x.reshape(-1, 3).mean(0))


def _check_good(path: str, image: np.ndarray, expect) -> None:
    if expect == "top-white":
        assert image[: H // 2].mean() > 200 and image[H // 2 :].mean() < 55, path
        return
    assert np.allclose(_mean_rgb(image), expect, atol=8), (path, _mean_rgb(image), expect)


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    root = tmp_path_factory.mktemp("messy")
    good, bad = build_folder(root)
    assert len(good) + len(bad) >= 28
    yield root, good, bad
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p) and os.path.exists(p):
                os.chmod(p, 0o644)


@pytest.mark.parametrize("workers", [0, 2])
def test_good_images_load_and_bad_ones_are_reported_once(messy, workers):
    root, good, bad = messy
    ds = image_dataset_from_directory(
        root, image_size=(H, W), interpolation="nearest", shuffle=False, batch_size=5,
        num_workers=workers, verbose=False,
    )  # fmt: skip
    assert ds.class_names == ["empty_class", "things"]
    assert sorted(ds.file_paths) == sorted([*good, *bad])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = {}
        for _ in range(2):  # a second pass reports nothing new
            positions = iter(ds.file_paths)
            for x, y in ds:
                assert x.shape[1:] == (H, W, 3) and len(x) == len(y) <= 5
                for image in x.numpy():
                    path = next(p for p in positions if p not in ds.skipped_files)
                    loaded[path] = image
    messages = [str(w.message) for w in caught if issubclass(w.category, BadImageWarning)]
    assert len(messages) == len(bad)
    for path, reason in bad.items():
        hits = [m for m in messages if repr(path) in m]
        assert len(hits) == 1, (path, hits)
        assert reason in hits[0] and reason in ds.skipped_files[path]
    assert set(ds.skipped_files) == set(bad)
    assert set(loaded) == set(good)
    for path, expect in good.items():
        _check_good(path, loaded[path], expect)


def test_raise_mode_names_the_first_bad_file(messy):
    root, _, bad = messy
    ds = image_dataset_from_directory(
        root, image_size=(H, W), shuffle=False, num_workers=0, verbose=False, on_error="raise"
    )
    with pytest.raises(BadImageError) as info:
        list(ds)
    assert info.value.path in bad and repr(info.value.path) in str(info.value)


def test_raise_mode_from_a_worker_process(messy):
    root, _, bad = messy
    ds = image_dataset_from_directory(
        root, image_size=(H, W), shuffle=False, num_workers=2, verbose=False, on_error="raise"
    )
    with pytest.raises(BadImageError) as info:
        list(ds)
    assert info.value.path in bad


def test_a_folder_where_nothing_loads_is_an_error(tmp_path):
    (tmp_path / "c").mkdir()
    for i in range(3):
        (tmp_path / "c" / f"{i}.jpg").write_text("nope")
    ds = image_dataset_from_directory(tmp_path, num_workers=0, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadImageWarning)
        with pytest.raises(ValueError, match="None of the 3 image files could be loaded"):
            list(ds)
