"""Keras's image utilities: `load_img`, `img_to_array`, `array_to_img`, `save_img`,
`smart_resize`, with Keras's signatures and results."""

from __future__ import annotations

import io
import os
import pathlib
import tempfile
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from convolve.data.decode import PIL_FORMATS, BadImageError, read_file

PIL_INTERPOLATION_METHODS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "hamming": Image.Resampling.HAMMING,
    "box": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
}

# Keras on its torch backend resizes with these torch modes.
_TORCH_RESIZE = {"bilinear": "bilinear", "nearest": "nearest-exact", "bicubic": "bicubic"}


def default_data_format() -> str:
    """`convolve.config.image_data_format()`, the default of every `data_format=None`."""
    try:
        from convolve.config import image_data_format
    except ImportError:
        return "channels_last"
    return image_data_format()


def _data_format(data_format: str | None) -> str:
    if data_format is None:
        return default_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "`data_format` must be 'channels_last', 'channels_first' or None; received "
            f"data_format={data_format!r}"
        )
    return data_format


def array_to_img(
    x: Any, data_format: str | None = None, scale: bool = True, dtype: str | None = None
) -> Image.Image:
    """Converts a 3D array (height, width, channels) to a PIL image.

    Args:
        x: Array-like (NumPy array or torch tensor) of rank 3.
        data_format: "channels_last" (default) or "channels_first".
        scale: Rescale so that the minimum is 0 and the maximum 255.
        dtype: Float dtype used for the computation; defaults to "float32".

    Returns:
        A PIL image: "RGBA", "RGB", or "L" (or "I" for grey values above 255).

    Example:
        >>> import numpy as np
        >>> array_to_img(np.random.random((8, 6, 3))).size
        (6, 8)
    """
    data_format = _data_format(data_format)
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(
            f"Expected an image array of rank 3 (a single image); received shape {x.shape}"
        )
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x /= x_max
        x *= 255
    channels = x.shape[2]
    if channels == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if channels == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if channels == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported number of channels: {channels} (expected 1, 3 or 4)")


def img_to_array(img: Image.Image, data_format: str | None = None, dtype: str | None = None):
    """Converts a PIL image to a 3D NumPy array (height, width, channels).

    Example:
        >>> from PIL import Image
        >>> img_to_array(Image.new("L", (5, 4))).shape
        (4, 5, 1)
    """
    data_format = _data_format(data_format)
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 3:
        if data_format == "channels_first":
            x = x.transpose(2, 0, 1)
    elif x.ndim == 2:
        x = x[None] if data_format == "channels_first" else x[:, :, None]
    else:
        raise ValueError(f"Unsupported image shape: {x.shape}")
    return x


def save_img(
    path: str | os.PathLike | Any,
    x: Any,
    data_format: str | None = None,
    file_format: str | None = None,
    scale: bool = True,
    **kwargs: Any,
) -> None:
    """Saves an image array to a path (written atomically) or a file object.

    Args:
        path: Path or writable binary file object.
        x: Array of rank 3.
        data_format: "channels_last" (default) or "channels_first".
        file_format: Format such as "png" or "jpeg"; inferred from the file name if None
            (required for file objects).
        scale: Rescale values to span 0..255.
        **kwargs: Passed to `PIL.Image.Image.save`.
    """
    data_format = _data_format(data_format)
    is_path = isinstance(path, str | os.PathLike)
    if file_format is None and is_path:
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    if not file_format:
        raise ValueError(
            f"Cannot tell the image format of path={path!r}; pass `file_format` (e.g. 'png')"
        )
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format.lower() == "jpeg":
        warnings.warn(
            "The JPEG format does not support RGBA images, converting to RGB.", stacklevel=2
        )
        img = img.convert("RGB")
    if not is_path:
        img.save(path, format=file_format, **kwargs)
        return
    # Write next to the target and rename, so a failed save never leaves a partial file.
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix="-" + os.path.basename(target))
    try:
        with os.fdopen(fd, "wb") as f:
            img.save(f, format=file_format, **kwargs)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_img(
    path: str | os.PathLike | io.BytesIO,
    color_mode: str = "rgb",
    target_size: tuple[int, int] | None = None,
    interpolation: str = "nearest",
    keep_aspect_ratio: bool = False,
) -> Image.Image:
    """Loads an image file into a PIL image, as Keras does (plus EXIF orientation).

    Args:
        path: Path to the image file, or a `BytesIO`.
        color_mode: "grayscale", "rgb" or "rgba". As in Keras, "grayscale" keeps 16- and
            32-bit grey images as they are (mode "I;16" or "I").
        target_size: None (original size) or `(height, width)`.
        interpolation: Pillow filter for resizing: "nearest", "bilinear", "bicubic",
            "hamming", "box" or "lanczos".
        keep_aspect_ratio: Resize without distortion by cropping the centre first.

    Returns:
        A PIL image.

    Raises:
        BadImageError: The file is missing, unreadable or not an image.

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> path = os.path.join(tempfile.mkdtemp(), "x.png")
        >>> Image.new("RGB", (30, 20)).save(path)
        >>> load_img(path, target_size=(10, 15)).size
        (15, 10)
    """
    if color_mode not in ("grayscale", "rgb", "rgba"):
        raise ValueError(
            f"`color_mode` must be 'grayscale', 'rgb' or 'rgba'; received color_mode={color_mode!r}"
        )
    if target_size is not None and interpolation not in PIL_INTERPOLATION_METHODS:
        raise ValueError(
            f"`interpolation` must be one of {tuple(PIL_INTERPOLATION_METHODS)}; received "
            f"interpolation={interpolation!r}"
        )
    if isinstance(path, io.BytesIO):
        name, source = "<BytesIO>", path
    elif isinstance(path, str | bytes | os.PathLike):
        name = os.fsdecode(path)
        source = io.BytesIO(read_file(name))
    else:
        raise TypeError(f"path should be path-like or io.BytesIO, not {type(path)}")
    try:
        img = Image.open(source, formats=PIL_FORMATS)
        img.load()
        img = ImageOps.exif_transpose(img)
    except UnidentifiedImageError:
        raise BadImageError(name, "not a recognised image") from None
    except Exception as e:
        raise BadImageError(name, f"corrupt or truncated image ({type(e).__name__}: {e})") from e

    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif color_mode == "rgba":
        if img.mode != "RGBA":
            img = img.convert("RGBA")
    elif img.mode != "RGB":
        img = img.convert("RGB")
    if target_size is None:
        return img
    width_height = (int(target_size[1]), int(target_size[0]))
    if img.size == width_height:
        return img
    resample = PIL_INTERPOLATION_METHODS[interpolation]
    if not keep_aspect_ratio:
        return img.resize(width_height, resample)
    width, height = img.size
    target_width, target_height = width_height
    crop_height = min(height, (width * target_height) // target_width)
    crop_width = min(width, (height * target_width) // target_height)
    top = (height - crop_height) // 2
    left = (width - crop_width) // 2
    box = (left, top, left + crop_width, top + crop_height)
    return img.resize(width_height, resample, box=box)


def smart_resize(
    x: Any,
    size: tuple[int, int],
    interpolation: str = "bilinear",
    data_format: str = "channels_last",
) -> Any:
    """Resizes images to `size` without distortion: crop the largest centred window with
    the target aspect ratio, then resize it (Keras's `smart_resize`).

    Args:
        x: Image `(height, width, channels)` or batch `(batch, height, width, channels)`,
            a NumPy array or a torch tensor.
        size: `(height, width)`.
        interpolation: "bilinear", "nearest", "bicubic" (torch's kernels, as Keras uses on
            its torch backend) or "area".
        data_format: "channels_last" or "channels_first".

    Returns:
        The resized images, of the same type as `x` (integer inputs are rounded back).

    Example:
        >>> import numpy as np
        >>> smart_resize(np.zeros((340, 500, 3)), (200, 200)).shape
        (200, 200, 3)
    """
    if len(size) != 2:
        raise ValueError(f"Expected `size` to be a tuple of 2 integers, but got: {size}.")
    if interpolation not in (*_TORCH_RESIZE, "area"):
        raise ValueError(
            "`interpolation` must be 'bilinear', 'nearest', 'bicubic' or 'area'; received "
            f"interpolation={interpolation!r}"
        )
    data_format = _data_format(data_format)
    is_numpy = not isinstance(x, torch.Tensor)
    img = torch.as_tensor(np.asarray(x)) if is_numpy else x
    if img.ndim not in (3, 4):
        raise ValueError(
            "Expected an image array with shape `(height, width, channels)`, or `(batch_size, "
            f"height, width, channels)`, but got input with incorrect rank, of shape {x.shape}."
        )
    height, width = (
        (img.shape[-3], img.shape[-2])
        if data_format == "channels_last"
        else (
            img.shape[-2],
            img.shape[-1],
        )
    )
    target_height, target_width = int(size[0]), int(size[1])
    crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
    top = int(float(height - crop_height) / 2)
    left = int(float(width - crop_width) / 2)

    squeeze = img.ndim == 3
    batch = img[None] if squeeze else img
    if data_format == "channels_last":
        batch = batch.permute(0, 3, 1, 2)
    batch = batch[:, :, top : top + crop_height, left : left + crop_width]
    out_dtype = batch.dtype
    if not batch.is_floating_point():
        batch = batch.to(torch.float32)
    mode = _TORCH_RESIZE.get(interpolation, "area")
    align = False if mode in ("bilinear", "bicubic") else None
    size_hw = (target_height, target_width)
    resized = F.interpolate(batch, size=size_hw, mode=mode, align_corners=align)
    if not out_dtype.is_floating_point:
        if interpolation == "bicubic" and out_dtype == torch.uint8:
            resized = resized.clamp(0, 255)
        resized = torch.round(resized).to(out_dtype)
    if data_format == "channels_last":
        resized = resized.permute(0, 2, 3, 1)
    if squeeze:
        resized = resized[0]
    return resized.numpy() if is_numpy else resized
