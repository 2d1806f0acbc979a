"""Decoding one image file into a resized array, the way Keras's loader does.

Every failure a file can cause (missing, unreadable, empty, not an image, truncated, a
decompression bomb) becomes one `BadImageError` that names the file and the reason, so the
loader can skip the file or stop with a clear message.

Resizing reproduces Keras, which resizes with TensorFlow's `tf.image.resize` (no
antialiasing):

* "bilinear": TensorFlow's half-pixel bilinear, bit for bit, by the C kernel in
  `_bilinear.c`. Where it could not be built (no C compiler at install time), torch's
  `interpolate(mode="bilinear", antialias=False)` in float32, within 1e-3 of Keras.
* "nearest": torch `interpolate(mode="nearest-exact")`, identical to TensorFlow.
* "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic": TensorFlow's
  kernels re-implemented in `convolve.data.resize`, float32 (within 1e-3 of Keras).

Decoding itself matches TensorFlow's for PNG, BMP and GIF (16-bit images keep their high
byte, as TensorFlow's uint8 decode does; colour PNGs read as greyscale take libpng's
integer weights, as TensorFlow's do), and for ordinary colour and greyscale JPEGs, which
`convolve.data.jpeg` decodes with TensorFlow's libjpeg settings. The JPEGs left to Pillow
(CMYK, EXIF-rotated, four channels asked for) differ by a few levels (at most 5 in the
tests): Pillow uses libjpeg's accurate IDCT, TensorFlow the fast integer one.

Unlike Keras, the EXIF orientation of a photo is applied. With `jpeg_draft=True`, JPEGs at
least twice the target size are decoded at 1/2, 1/4 or 1/8 scale by the JPEG decoder itself
(`PIL.Image.Image.draft`): 3 to 5 times faster for large photos, but the pixels then differ
from Keras's, which decodes at full size and resizes without antialiasing (see
`image_dataset_from_directory`).
"""

from __future__ import annotations

import io
import math
import os
import stat
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from convolve.data import jpeg, resize

try:
    from convolve.data import _bilinear
except ImportError:  # built where a C compiler was at hand; see `_resize`
    _bilinear = None

# Importing the plugins registers them; `Image.open(formats=...)` needs them registered.
_PLUGINS = (
    BmpImagePlugin,
    GifImagePlugin,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

# The containers the loader opens. Everything else is refused before a decoder runs. (The
# JPEG opener also returns the multi-picture JPEGs of many cameras, as format "MPO".)
PIL_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF")

INTERPOLATIONS = (
    "bilinear",
    "nearest",
    "bicubic",
    "area",
    "lanczos3",
    "lanczos5",
    "gaussian",
    "mitchellcubic",
)

_TORCH_MODES = {"bilinear": "bilinear", "nearest": "nearest-exact"}
# The same kernels as `F.interpolate` in those modes, in the form that writes into a given
# tensor (see `_resize`).
_RESIZE_INTO = {
    "bilinear": lambda x, size, out: torch.ops.aten.upsample_bilinear2d.out(
        x, size, False, None, None, out=out
    ),
    "nearest": lambda x, size, out: torch.ops.aten._upsample_nearest_exact2d.out(
        x, size, None, None, out=out
    ),
}


def output_dtype(interpolation: str) -> np.dtype:
    """uint8 for "nearest", whose results are pixels of the image; float32 for the others."""
    return np.dtype(np.uint8 if interpolation == "nearest" else np.float32)


# EXIF orientation tag value -> the transposition that shows the image upright.
_ORIENTATION = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}
_EXIF_ORIENTATION_TAG = 0x0112

_SIXTEEN_BIT_GRAY = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class BadImageError(ValueError, OSError):
    """An image file that cannot be loaded; names the file and the reason.

    Also an `OSError`, which is what Keras's loaders raise (Pillow's `UnidentifiedImageError`
    for a file that is not an image), and a `FileNotFoundError` for a missing file; see
    `image_error`.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"Cannot load image file {path!r}: {reason}")
        self.path = path
        self.reason = reason

    def __reduce__(self):  # crosses process boundaries from loader workers
        return (image_error, (self.path, self.reason))


class MissingImageError(BadImageError, FileNotFoundError):
    """An image file that does not exist (or a symbolic link to nothing)."""


_MISSING = ("file not found", "broken symbolic link")


def image_error(path: str, reason: str) -> BadImageError:
    """The error for `path` and `reason`: a `MissingImageError` when the file is missing."""
    return (MissingImageError if reason in _MISSING else BadImageError)(path, reason)


class BadImageWarning(UserWarning):
    """Issued once for each image file that a dataset skipped."""


@dataclass(frozen=True)
class DecodeSpec:
    """How to turn a file into an array: channels, size and resizing rules."""

    num_channels: int = 3
    image_size: tuple[int, int] | None = (256, 256)  # (height, width); None keeps the size
    interpolation: str = "bilinear"
    crop_to_aspect_ratio: bool = False
    pad_to_aspect_ratio: bool = False
    jpeg_draft: bool = False


def _access_error(path: str, e: OSError) -> BadImageError:
    if isinstance(e, FileNotFoundError):
        return image_error(path, _MISSING[1] if os.path.islink(path) else _MISSING[0])
    if isinstance(e, PermissionError):
        return BadImageError(path, "permission denied")
    return BadImageError(path, f"cannot read file ({e.strerror or e})")


def read_file(path: str) -> bytes:
    """The bytes of an image file, or `BadImageError` if it is not a readable file.

    One read into memory: Pillow then parses from a buffer instead of issuing dozens of
    small reads, which is measurably cheaper per image.
    """
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)
    # Non-blocking, so that opening a FIFO returns at once (and fails the check below).
    flags |= getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise _access_error(path, e) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadImageError(path, "not a regular file")
        if st.st_size == 0:
            raise BadImageError(path, "empty file (0 bytes)")
        chunks = []
        while chunk := os.read(fd, max(st.st_size, 1 << 16)):
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except OSError as e:
        raise _access_error(path, e) from None
    finally:
        os.close(fd)


def decode_image(path: str, spec: DecodeSpec, out: np.ndarray | None = None) -> np.ndarray:
    """Reads, converts and resizes one image file.

    Args:
        path: The file.
        spec: Channels, target size and resizing rules.
        out: An array of the result's shape and dtype that the common paths (a plain or
            cropping resize) write into, saving a copy; the result is `out` when they did.

    Returns:
        An array of shape `(height, width, spec.num_channels)`: uint8, or float32 for the
        interpolations whose results are not integers (see `output_dtype`).

    Raises:
        BadImageError: The file cannot be loaded; the message names it and says why.
    """
    return decode_bytes(read_file(path), spec, path, out)


def decode_bytes(
    data: bytes, spec: DecodeSpec, path: str = "<bytes>", out: np.ndarray | None = None
) -> np.ndarray:
    """`decode_image` for file contents already in memory; `path` names it in errors."""
    if not spec.jpeg_draft:
        array = jpeg.decode(data, spec.num_channels)
        if array is not None:
            return _sized(array, spec, out)
    with warnings.catch_warnings():
        # Pillow only warns between 1x and 2x its pixel limit; both are refused here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=PIL_FORMATS)
        except UnidentifiedImageError:
            raise BadImageError(
                path, f"not a recognised image (readable formats: {', '.join(PIL_FORMATS)})"
            ) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise BadImageError(path, f"refused as a possible decompression bomb: {e}") from None
        except Exception as e:  # Pillow raises many types on malformed headers
            raise BadImageError(
                path, f"corrupt or truncated image header ({_describe(e)})"
            ) from None
        with img:
            try:
                return _decode_opened(img, spec)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
                raise BadImageError(
                    path, f"refused as a possible decompression bomb: {e}"
                ) from None
            except Exception as e:  # truncated or corrupt data, in any of Pillow's codecs
                raise BadImageError(path, f"corrupt or truncated image ({_describe(e)})") from None


def _describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _decode_opened(img: Image.Image, spec: DecodeSpec) -> np.ndarray:
    orientation = _orientation(img)
    if spec.jpeg_draft and img.format in ("JPEG", "MPO"):
        _draft(img, spec, swap=orientation in (5, 6, 7, 8))
    elif spec.num_channels == 1 and img.format in ("JPEG", "MPO"):
        img.draft("L", None)  # decode luma only, as TensorFlow does for one channel
    img.load()
    if spec.num_channels == 1 and img.format == "PNG":
        img = _png_to_gray(img)
    img = _to_channels(img, spec.num_channels)
    for method in _ORIENTATION.get(orientation, ()):
        img = img.transpose(method)
    return _sized(_as_array(img), spec)


def _sized(array: np.ndarray, spec: DecodeSpec, out: np.ndarray | None = None) -> np.ndarray:
    if spec.image_size is None:
        return _expand_channels(array, spec.num_channels)
    return resize_image(array, spec, out)


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(_EXIF_ORIENTATION_TAG, 1)
        return int(value) if int(value) in _ORIENTATION else 1
    except Exception:  # a malformed EXIF block must not make the image unreadable
        return 1


def _draft(img: Image.Image, spec: DecodeSpec, swap: bool) -> None:
    """Asks the JPEG decoder for the smallest power-of-two scale still >= the target."""
    mode = "L" if spec.num_channels == 1 else None
    if spec.image_size is None:
        if mode:
            img.draft(mode, None)
        return
    target_h, target_w = spec.image_size
    w, h = img.size
    if swap:
        w, h = h, w
    region_h, region_w = h, w
    if spec.crop_to_aspect_ratio:
        region_h, region_w, _, _ = _crop_box(h, w, target_h, target_w)
    elif spec.pad_to_aspect_ratio:
        target_h, target_w, _, _ = _pad_geometry(h, w, target_h, target_w)
    need_w = math.ceil(target_w * w / region_w)
    need_h = math.ceil(target_h * h / region_h)
    if swap:
        need_w, need_h = need_h, need_w
    img.draft(mode, (max(need_w, 1), max(need_h, 1)))


def _to_channels(img: Image.Image, num_channels: int) -> Image.Image:
    """Converts any Pillow mode to L, RGB or RGBA (L is kept when colour is asked for)."""
    mode = img.mode
    if mode in _SIXTEEN_BIT_GRAY:
        # 16-bit (and 32-bit integer) grey keeps its high byte: 65535 -> 255, as
        # TensorFlow's uint8 decode does.
        wide = np.asarray(img).astype(np.int64)
        img = Image.fromarray((np.clip(wide, 0, 65535) >> 8).astype(np.uint8), "L")
    elif mode == "F":
        img = Image.fromarray(np.clip(np.asarray(img), 0, 255).astype(np.uint8), "L")
    elif mode in ("P", "PA"):
        img = _unpaletted(img)
    elif mode == "1":
        img = img.convert("L")
    mode = img.mode
    if num_channels == 1:
        target = "L"
    elif mode == "L":
        return img  # resized as one channel, then repeated: same result, a third of the work
    else:
        target = "RGB" if num_channels == 3 else "RGBA"
    if mode == target:
        return img
    try:
        return img.convert(target)
    except ValueError:  # modes such as LAB convert to L only by way of RGB
        return img.convert("RGB").convert(target)


def _unpaletted(img: Image.Image) -> Image.Image:
    """A palette image as RGB, or RGBA when its palette has transparency; others as they are."""
    if img.mode not in ("P", "PA"):
        return img
    return img.convert("RGBA" if img.mode == "PA" or "transparency" in img.info else "RGB")


def _png_to_gray(img: Image.Image) -> Image.Image:
    """A colour PNG's grey levels as TensorFlow's decoder makes them.

    TensorFlow asks libpng for grey (`png_set_rgb_to_gray` with weights 0.299 and 0.587),
    which weighs the 8-bit channels by 9797, 19234 and 3737 out of 32768 and truncates, and
    leaves pixels whose channels are equal as they are; Pillow's `convert("L")` rounds other
    weights and comes out up to one level higher. Alpha is dropped first.
    """
    img = _unpaletted(img)
    if img.mode not in ("RGB", "RGBA"):
        return img  # grey already, or a mode that `_to_channels` converts
    rgb = np.asarray(img)[..., :3]
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    gray = ((9797 * r + 19234 * g + 3737 * b) >> 15).astype(np.uint8)
    gray = np.where((r == g) & (g == b), rgb[..., 0], gray)
    return Image.fromarray(np.ascontiguousarray(gray), "L")


def _as_array(img: Image.Image) -> np.ndarray:
    array = np.asarray(img)
    return array[:, :, None] if array.ndim == 2 else array


def _expand_channels(array: np.ndarray, num_channels: int) -> np.ndarray:
    channels = array.shape[2]
    if channels == num_channels:
        return array
    if channels == 1 and num_channels == 3:
        return np.repeat(array, 3, axis=2)
    if channels == 1 and num_channels == 4:
        alpha = np.full(array.shape, 255, dtype=array.dtype)
        return np.concatenate([np.repeat(array, 3, axis=2), alpha], axis=2)
    raise AssertionError(f"unexpected channel count {channels} for {num_channels}")


def _crop_box(h: int, w: int, target_h: int, target_w: int) -> tuple[int, int, int, int]:
    """Keras's `smart_resize` crop: the largest centred window with the target's aspect."""
    crop_h = max(min(h, int(float(w * target_h) / target_w)), 1)
    crop_w = max(min(w, int(float(h * target_w) / target_h)), 1)
    return crop_h, crop_w, int(float(h - crop_h) / 2), int(float(w - crop_w) / 2)


def _pad_geometry(h: int, w: int, target_h: int, target_w: int) -> tuple[int, int, int, int]:
    """TensorFlow's `resize_with_pad` geometry, in its float32 arithmetic."""
    f32 = np.float32
    ratio = max(f32(w) / f32(target_w), f32(h) / f32(target_h))
    resized_h_f = f32(h) / ratio
    resized_w_f = f32(w) / ratio
    pad_top = max(0, int(math.floor((f32(target_h) - resized_h_f) / f32(2))))
    pad_left = max(0, int(math.floor((f32(target_w) - resized_w_f) / f32(2))))
    resized_h = max(int(math.floor(resized_h_f)), 1)
    resized_w = max(int(math.floor(resized_w_f)), 1)
    return resized_h, resized_w, pad_top, pad_left


def resize_image(image: np.ndarray, spec: DecodeSpec, out: np.ndarray | None = None) -> np.ndarray:
    """Resizes a `(height, width, channels)` array with Keras's crop or pad rules.

    The result is uint8 for "nearest", float32 for the other methods; see `decode_image`
    for `out`.
    """
    assert spec.image_size is not None
    target_h, target_w = (int(v) for v in spec.image_size)
    h, w = image.shape[:2]
    if image.shape[2] != spec.num_channels:
        out = None  # channels are added after resizing
    if spec.crop_to_aspect_ratio:
        crop_h, crop_w, top, left = _crop_box(h, w, target_h, target_w)
        box = (top, left, top + crop_h, left + crop_w)
        resized = _resize(image, box, target_h, target_w, spec, out)
        return _expand_channels(resized, spec.num_channels)
    if spec.pad_to_aspect_ratio:
        resized_h, resized_w, top, left = _pad_geometry(h, w, target_h, target_w)
        inner = _resize(image, (0, 0, h, w), resized_h, resized_w, spec)
        inner = _expand_channels(inner, spec.num_channels)  # before padding: alpha is 0 there
        out = np.zeros((target_h, target_w, inner.shape[2]), dtype=inner.dtype)
        out[top : top + resized_h, left : left + resized_w] = inner
        return out
    resized = _resize(image, (0, 0, h, w), target_h, target_w, spec, out)
    return _expand_channels(resized, spec.num_channels)


def _resize(
    image: np.ndarray,
    box: tuple[int, int, int, int],
    out_h: int,
    out_w: int,
    spec: DecodeSpec,
    out: np.ndarray | None = None,
) -> np.ndarray:
    top, left, bottom, right = box
    array = image[top:bottom, left:right]
    mode = _TORCH_MODES.get(spec.interpolation)
    if array.shape[:2] == (out_h, out_w):
        return np.ascontiguousarray(array, dtype=output_dtype(spec.interpolation))
    if mode is None:
        return resize.resize(array, out_h, out_w, spec.interpolation)
    if out is not None and out.dtype != output_dtype(spec.interpolation):
        # A float32 batch taking "nearest" pixels: resize into uint8, the caller converts.
        out = None
    if out is None:
        out = np.empty((out_h, out_w, array.shape[2]), dtype=output_dtype(spec.interpolation))
    if spec.interpolation == "bilinear" and _bilinear is not None:
        _bilinear.resize_into(array, out)
        return out
    with warnings.catch_warnings():
        # Pillow's buffer is read-only; interpolate only reads it.
        warnings.simplefilter("ignore", UserWarning)
        tensor = torch.from_numpy(array)
    if spec.interpolation == "bilinear":
        # Without the compiled kernel. TensorFlow interpolates uint8 pixels in float32 and
        # keeps the fractions; torch's uint8 kernel would round every result to an integer.
        tensor = tensor.float()
    # A channels-last view takes torch's vectorised path. Left to itself torch returns
    # planes (channels-first) and spends a third of the resize repacking its channels-last
    # result into them; given channels-last memory to write into, it skips that.
    resized = torch.from_numpy(out)[None]
    _RESIZE_INTO[spec.interpolation](
        tensor.permute(2, 0, 1)[None], [out_h, out_w], resized.permute(0, 3, 1, 2)
    )
    return out
