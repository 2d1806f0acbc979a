"""Image functions (`keras.ops.image`): resizing, cropping, padding, geometric transforms,
colour spaces, blurs and patches.

Images are `(height, width, channels)` or batches `(batch, height, width, channels)`
(channels first where `data_format="channels_first"`), as NumPy arrays, torch tensors or
lists; results are torch tensors with Keras's dtypes. The resampling code is the one the
image layers use (`convolve/layers/augmentation`), so `ops.image.resize` and `Resizing` agree.

Example:
    >>> from convolve import ops
    >>> ops.image.resize(ops.ones((2, 8, 8, 3)), (4, 6)).shape
    torch.Size([2, 4, 6, 3])
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from convolve.layers.augmentation import _image as im
from convolve.layers.augmentation import _pixels
from convolve.layers.augmentation.perspective import homography, perspective_grid
from convolve.ops import nn
from convolve.ops._dtypes import result_type, standardize_dtype
from convolve.ops.core import as_tensor, cast, tensors

__all__ = [
    "affine_transform", "crop_images", "elastic_transform", "extract_patches",
    "extract_patches_3d", "gaussian_blur", "hsv_to_rgb", "map_coordinates", "pad_images",
    "perspective_transform", "resize", "rgb_to_grayscale", "rgb_to_hsv", "scale_and_translate",
    "sobel_edges", "ssim",
]  # fmt: skip

_INTEGERS = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _images(images: Any, fn: str, ranks: tuple[int, ...] = (3, 4)) -> torch.Tensor:
    x = as_tensor(images)
    if x.ndim not in ranks:
        raise ValueError(
            f"{fn}: invalid images rank: expected rank 3 (single image) or rank 4 (batch of "
            f"images). Received input with shape: images.shape={tuple(x.shape)}"
        )
    return x


def _engine(x: torch.Tensor, data_format: str) -> tuple[torch.Tensor, bool]:
    """`(batch, channels, height, width)` and whether a batch axis was added."""
    single = x.ndim == 3
    if single:
        x = x.unsqueeze(0)
    return (x.permute(0, 3, 1, 2) if data_format == "channels_last" else x), single


def _surface(x: torch.Tensor, data_format: str, single: bool) -> torch.Tensor:
    if data_format == "channels_last":
        x = x.permute(0, 2, 3, 1)
    return x.squeeze(0) if single else x


def _float_dtype(x: torch.Tensor, fn: str) -> None:
    if not x.dtype.is_floating_point:
        raise ValueError(
            f"{fn}: invalid images dtype: expected float dtype. "
            f"Received: images.dtype={standardize_dtype(x.dtype)}"
        )


def _choice(value: Any, name: str, options: Sequence[str], fn: str) -> str:
    if value not in options:
        raise ValueError(
            f"{fn}: invalid value for argument `{name}`. Expected one of {sorted(options)}. "
            f"Received: {name}={value!r}"
        )
    return value


# --------------------------------------------------------------------- colour
def rgb_to_grayscale(images: Any, data_format: str | None = None) -> torch.Tensor:
    """Luminance (ITU-R 601 weights) of RGB images, keeping a channel axis of size 1;
    one-channel images come back as a copy."""
    fn = "rgb_to_grayscale"
    data_format = nn._data_format(data_format, fn)
    x, single = _engine(_images(images, fn), data_format)
    _pixels.check_channels(x, fn, gray_too=True)
    out = x.clone() if x.shape[1] == 1 else _pixels.grayscale(x, fn).to(x.dtype)
    return _surface(out, data_format, single)


def rgb_to_hsv(images: Any, data_format: str | None = None) -> torch.Tensor:
    """Hue, saturation and value of float RGB images, hue and saturation in [0, 1]."""
    fn = "rgb_to_hsv"
    data_format = nn._data_format(data_format, fn)
    x = _images(images, fn)
    _float_dtype(x, fn)
    x, single = _engine(x, data_format)
    return _surface(_pixels.rgb_to_hsv(x, fn), data_format, single)


def hsv_to_rgb(images: Any, data_format: str | None = None) -> torch.Tensor:
    """RGB images from hue, saturation and value (the inverse of `rgb_to_hsv`)."""
    fn = "hsv_to_rgb"
    data_format = nn._data_format(data_format, fn)
    x = _images(images, fn)
    _float_dtype(x, fn)
    x, single = _engine(x, data_format)
    _pixels.check_channels(x, fn)
    return _surface(_pixels.hsv_to_rgb(x), data_format, single)


# --------------------------------------------------------------------- resizing
def resize(
    images: Any, size: tuple[int, int], interpolation: str = "bilinear", antialias: bool = False,
    crop_to_aspect_ratio: bool = False, pad_to_aspect_ratio: bool = False,
    fill_mode: str = "constant", fill_value: float = 0.0, data_format: str | None = None,
) -> torch.Tensor:  # fmt: skip
    """Resizes images to `size` = `(height, width)`.

    Args:
        images: one image (rank 3) or a batch (rank 4).
        size: the output `(height, width)`.
        interpolation: "bilinear", "nearest" or "bicubic" (half-pixel centres, as Keras's
            torch backend; the Lanczos kernels are not available there either).
        antialias: low-pass filter when downsampling ("bilinear" and "bicubic" only).
        crop_to_aspect_ratio: first crop the largest centred window of the target aspect.
        pad_to_aspect_ratio: first pad evenly with `fill_value` to the target aspect.
        fill_mode: only "constant".
        fill_value: the padding value.
        data_format: "channels_last" (default) or "channels_first".

    Integer images are resized in float32, rounded and cast back.
    """
    fn = "resize"
    data_format = nn._data_format(data_format, fn)
    if interpolation in ("lanczos3", "lanczos5"):
        raise ValueError(
            f"{fn}: resizing with Lanczos interpolation is not supported. "
            f"Received: interpolation={interpolation}"
        )
    _choice(interpolation, "interpolation", ("bilinear", "nearest", "bicubic"), fn)
    if fill_mode != "constant":
        raise ValueError(
            f"{fn}: invalid value for argument `fill_mode`. Only 'constant' is supported. "
            f"Received: fill_mode={fill_mode!r}"
        )
    if pad_to_aspect_ratio and crop_to_aspect_ratio:
        raise ValueError(
            f"{fn}: only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be True."
        )
    if len(size) != 2:
        raise ValueError(
            f"{fn}: argument `size` must be a tuple of two elements (height, width). "
            f"Received: size={size}"
        )
    size = (int(size[0]), int(size[1]))
    x = _images(images, fn)
    dtype = x.dtype
    x, single = _engine(x, data_format)
    if dtype not in (torch.float32, torch.float64):
        x = x.float()
    if crop_to_aspect_ratio:
        x = im.crop_to_aspect(x, size)
    elif pad_to_aspect_ratio:
        x = im.pad_to_aspect(x, size, fill_value)
    out = im.resize(x, size, interpolation, antialias)
    if out is x:
        out = x.clone()
    if interpolation == "bicubic" and dtype == torch.uint8:
        out = out.clamp(0, 255)
    if out.dtype != dtype:
        out = (torch.round(out) if dtype in _INTEGERS else out).to(dtype)
    return _surface(out, data_format, single)


def scale_and_translate(
    images: Any, output_shape: Sequence[int], scale: Any, translation: Any,
    spatial_dims: Sequence[int], method: str, antialias: bool = True,
) -> torch.Tensor:  # fmt: skip
    """Resamples `images` along `spatial_dims` to `output_shape`: output coordinate `o`
    reads input `(o + 0.5 - translation) / scale - 0.5` through the `method` kernel
    ("linear", "cubic", "lanczos3", "lanczos5" and their aliases), widened when
    downsampling with `antialias`, as `jax.image.scale_and_translate`."""
    fn = "scale_and_translate"
    methods = ("linear", "bilinear", "trilinear", "cubic", "bicubic", "tricubic",
               "lanczos3", "lanczos5")  # fmt: skip
    _choice(method, "method", methods, fn)
    kernel = _KERNELS["linear" if "linear" in method else "cubic" if "cubic" in method else method]
    x = as_tensor(images)
    scale, translation = tensors(scale, translation)
    dtype = result_type(scale.dtype, translation.dtype)
    scale, translation = cast(scale, dtype).to(x.device), cast(translation, dtype).to(x.device)
    if not spatial_dims:
        return x
    rounding = not x.dtype.is_floating_point
    out = x.float() if rounding else x.clone()
    for i, d in enumerate(spatial_dims):
        d = d % x.ndim
        weights = _weight_matrix(
            x.shape[d], output_shape[d], scale[i], translation[i], kernel, antialias
        )
        out = torch.tensordot(out, weights.to(out.dtype), dims=([d], [0])).movedim(-1, d)
    if rounding:
        out = torch.clip(torch.round(out), torch.min(x), torch.max(x)).to(x.dtype)
    return out


def _triangle(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(1 - torch.abs(x), min=0)


def _keys_cubic(x: torch.Tensor) -> torch.Tensor:
    out = ((1.5 * x - 2.5) * x) * x + 1.0
    out = torch.where(x >= 1.0, ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0, out)
    return torch.where(x >= 2.0, 0.0, out)


def _lanczos(radius: float) -> Callable[[torch.Tensor], torch.Tensor]:
    def kernel(x: torch.Tensor) -> torch.Tensor:
        y = radius * torch.sin(torch.pi * x) * torch.sin(torch.pi * x / radius)
        safe = torch.where(x != 0, torch.pi**2 * x**2, 1)
        out = torch.where(x > 1e-3, y / safe, 1)
        return torch.where(x > radius, 0.0, out)

    return kernel


_KERNELS = {"linear": _triangle, "cubic": _keys_cubic, "lanczos3": _lanczos(3.0),
            "lanczos5": _lanczos(5.0)}  # fmt: skip


def _weight_matrix(
    in_size: int, out_size: int, scale: torch.Tensor, translation: torch.Tensor,
    kernel: Callable, antialias: bool,
) -> torch.Tensor:  # fmt: skip
    """`(in_size, out_size)`: the weight of each input sample in each output sample."""
    inv_scale = 1.0 / scale
    widen = torch.clamp(inv_scale, min=1.0) if antialias else 1.0
    positions = torch.arange(out_size, dtype=scale.dtype, device=scale.device)
    sample = (positions + 0.5) * inv_scale - translation * inv_scale - 0.5
    source = torch.arange(in_size, dtype=scale.dtype, device=scale.device)
    weights = kernel(torch.abs(sample[None, :] - source[:, None]) / widen)
    total = torch.sum(weights, dim=0, keepdim=True)
    eps = 1000.0 * torch.finfo(torch.float32).eps
    weights = torch.where(torch.abs(total) > eps, weights / torch.where(total != 0, total, 1), 0)
    inside = (sample >= -0.5) & (sample <= in_size - 0.5)
    return torch.where(inside[None, :], weights, 0)


# --------------------------------------------------------------------- crop and pad
def _check_two_of(names: Sequence[str], values: Sequence[Any], fn: str) -> None:
    if list(values).count(None) != 1:
        given = ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=True))
        raise ValueError(f"{fn}: must specify exactly two of {', '.join(names)}. Received: {given}")
    for name, value in zip(names, values, strict=True):
        if value is not None and value < 0:
            raise ValueError(f"{fn}: {name} must be >= 0. Received: {name}={value}")


def _hw(x: torch.Tensor, data_format: str) -> tuple[int, int]:
    return tuple(x.shape[-3:-1]) if data_format == "channels_last" else tuple(x.shape[-2:])


def _margins(
    fn: str, names: Sequence[str], values: Sequence[Any], size: int, padding: bool
) -> tuple[int, int, int]:
    """Resolves two of (before, after, target) along one axis: padding grows `size` to the
    target, cropping keeps the target out of `size`; the third follows, none negative."""
    _check_two_of(names, values, fn)
    before, after, target = values
    outer, inner = (target, size) if padding else (size, target)
    if before is None:
        before = outer - after - inner
    elif after is None:
        after = outer - before - inner
    elif inner is None:
        inner = outer - before - after
    for name, value in zip(names, (before, after, inner), strict=True):
        if value < 0:
            raise ValueError(f"{fn}: {name} must be >= 0. Received: {name}={value}")
    return before, after, inner


def pad_images(
    images: Any, top_padding: int | None = None, left_padding: int | None = None,
    bottom_padding: int | None = None, right_padding: int | None = None,
    target_height: int | None = None, target_width: int | None = None,
    data_format: str | None = None,
) -> torch.Tensor:  # fmt: skip
    """Zero-pads images; give two of (top, bottom, target height) and two of (left, right,
    target width)."""
    fn = "pad_images"
    data_format = nn._data_format(data_format, fn)
    x = _images(images, fn)
    height, width = _hw(x, data_format)
    top, bottom, _ = _margins(
        fn,
        ("top_padding", "bottom_padding", "target_height"),
        (top_padding, bottom_padding, target_height),
        height,
        True,
    )
    left, right, _ = _margins(
        fn,
        ("left_padding", "right_padding", "target_width"),
        (left_padding, right_padding, target_width),
        width,
        True,
    )
    pads = (left, right, top, bottom)
    if data_format == "channels_last":
        pads = (0, 0, *pads)
    return F.pad(x, pads)


def crop_images(
    images: Any, top_cropping: int | None = None, left_cropping: int | None = None,
    bottom_cropping: int | None = None, right_cropping: int | None = None,
    target_height: int | None = None, target_width: int | None = None,
    data_format: str | None = None,
) -> torch.Tensor:  # fmt: skip
    """Crops images; give two of (top, bottom, target height) and two of (left, right,
    target width)."""
    fn = "crop_images"
    data_format = nn._data_format(data_format, fn)
    x = _images(images, fn)
    height, width = _hw(x, data_format)
    top, _, rows = _margins(
        fn,
        ("top_cropping", "bottom_cropping", "target_height"),
        (top_cropping, bottom_cropping, target_height),
        height,
        False,
    )
    left, _, cols = _margins(
        fn,
        ("left_cropping", "right_cropping", "target_width"),
        (left_cropping, right_cropping, target_width),
        width,
        False,
    )
    if data_format == "channels_last":
        return x[..., top : top + rows, left : left + cols, :]
    return x[..., top : top + rows, left : left + cols]


# --------------------------------------------------------------------- patches
def _patches(
    images: Any, size: Any, strides: Any, dilation_rate: Any, padding: str, data_format: Any,
    rank: int, fn: str,
) -> torch.Tensor:  # fmt: skip
    data_format = nn._data_format(data_format, fn)
    x = as_tensor(images)
    if x.ndim not in (rank + 1, rank + 2):
        raise ValueError(
            f"{fn}: expected rank {rank + 1} (single) or {rank + 2} (batch) inputs. "
            f"Received: shape={tuple(x.shape)}"
        )
    window = nn._int_tuple(size, rank, "size", fn)
    channels = x.shape[-1] if data_format == "channels_last" else x.shape[-rank - 1]
    depth = channels * int(torch.tensor(window).prod())
    # A convolution with an identity kernel copies each window into the channels, in
    # (row, column, channel) order.
    kernel = torch.eye(depth, dtype=x.dtype, device=x.device).reshape(*window, channels, depth)
    single = x.ndim == rank + 1
    out = nn.conv(x.unsqueeze(0) if single else x, kernel, strides or size, padding,
                  data_format, dilation_rate)  # fmt: skip
    return out.squeeze(0) if single else out


def extract_patches(
    images: Any, size: int | tuple[int, ...], strides: int | tuple[int, ...] | None = None,
    dilation_rate: int | tuple[int, ...] = 1, padding: str = "valid",
    data_format: str | None = None,
) -> torch.Tensor:  # fmt: skip
    """Each `size` window of the images as a vector along the channel axis; `size` of
    three ints extracts volume patches (as `extract_patches_3d`)."""
    if not isinstance(size, int) and len(size) == 3:
        return extract_patches_3d(images, size, strides, dilation_rate, padding, data_format)
    if not isinstance(size, int) and len(size) != 2:
        raise TypeError(
            "extract_patches: invalid `size` argument. Expected an int or a tuple of length 2. "
            f"Received: size={size}"
        )
    return _patches(
        images, size, strides, dilation_rate, padding, data_format, 2, "extract_patches"
    )


def extract_patches_3d(
    volumes: Any, size: int | tuple[int, int, int], strides: Any = None,
    dilation_rate: int | tuple[int, int, int] = 1, padding: str = "valid",
    data_format: str | None = None,
) -> torch.Tensor:  # fmt: skip
    """Each `size` window of volumes `(batch, depth, height, width, channels)` as a vector
    along the channel axis."""
    return _patches(
        volumes, size, strides, dilation_rate, padding, data_format, 3, "extract_patches_3d"
    )


# --------------------------------------------------------------------- resampling
def _mirror(index: torch.Tensor, size: int) -> torch.Tensor:
    s = size - 1
    return torch.abs((index + s) % (2 * s) - s)


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    return torch.floor_divide(_mirror(2 * index + 1, 2 * size + 1) - 1, 2)


_FIX_INDEX = {
    "constant": lambda index, size: torch.clip(index, 0, size - 1),
    "nearest": lambda index, size: torch.clip(index, 0, size - 1),
    "wrap": lambda index, size: index % size,
    "mirror": _mirror,
    "reflect": _reflect,
}


def map_coordinates(
    inputs: Any, coordinates: Any, order: int, fill_mode: str = "constant", fill_value: float = 0
) -> torch.Tensor:
    """Samples `inputs` at `coordinates` (one array of positions per input axis) with
    nearest (`order=0`) or linear (`order=1`) interpolation.

    Outside the input, `fill_mode` "constant" reads `fill_value`, "nearest" the edge,
    "wrap" wraps around, "mirror" reflects about the edge pixel's centre (`d c b | a b c d`)
    and "reflect" about its edge (`c b a | a b c d`). Integer inputs give rounded integers.
    """
    fn = "map_coordinates"
    x = as_tensor(inputs)
    coordinates = [as_tensor(c, device=x.device) for c in coordinates]
    if len(coordinates) != x.ndim:
        raise ValueError(
            f"{fn}: first dim of `coordinates` must be the same as the rank of `inputs`. "
            f"Received inputs with shape: {tuple(x.shape)} and coordinate leading dim of "
            f"{len(coordinates)}"
        )
    if coordinates[0].ndim < 1:
        raise ValueError(
            f"{fn}: invalid coordinates rank: expected at least rank 2. Received input with "
            f"shape: {(len(coordinates), *coordinates[0].shape)}"
        )
    _choice(fill_mode, "fill_mode", tuple(_FIX_INDEX), fn)
    if order not in (0, 1):
        raise NotImplementedError(
            f"{fn}: only order 0 and 1 are supported. Received: order={order}"
        )
    integer = not (x.dtype.is_floating_point or x.dtype.is_complex)
    if integer and isinstance(fill_value, int | float):
        fill_value = int(fill_value)
    per_axis = []
    for coordinate, size in zip(coordinates, x.shape, strict=True):
        if order == 0:
            rounded = coordinate if not coordinate.is_floating_point() else torch.round(coordinate)
            nodes = [(rounded.to(torch.int32), 1)]
        else:
            lower = torch.floor(coordinate)
            upper_weight = coordinate - lower
            index = lower.to(torch.int32)
            nodes = [(index, 1 - upper_weight), (index + 1, upper_weight)]
        per_axis.append(
            [(_FIX_INDEX[fill_mode](i, size), (0 <= i) & (i < size), w) for i, w in nodes]
        )
    result = None
    for items in itertools.product(*per_axis):
        indices, valid, weights = zip(*items, strict=True)
        value = x[tuple(i.long() for i in indices)]
        if fill_mode == "constant":
            value = torch.where(functools.reduce(operator.and_, valid), value, fill_value)
        term = functools.reduce(operator.mul, weights) * value
        result = term if result is None else result + term
    if integer and result.is_floating_point():
        result = torch.round(result)
    return result.to(x.dtype)


_AFFINE_FILLS = ("constant", "nearest", "wrap", "mirror", "reflect")


def affine_transform(
    images: Any, transform: Any, interpolation: str = "bilinear", fill_mode: str = "constant",
    fill_value: float = 0, data_format: str | None = None,
) -> torch.Tensor:  # fmt: skip
    """Resamples images through affine maps `[a0, a1, a2, b0, b1, b2, c0, c1]` (one per
    image, or one for all): output pixel `(x, y)` reads the input at
    `(a0 x + a1 y + a2, b0 x + b1 y + b2)`; `c0, c1` must be 0.

    `interpolation` is "nearest" or "bilinear"; `fill_mode` one of "constant", "nearest",
    "wrap", "mirror", "reflect" (see `map_coordinates`).
    """
    fn = "affine_transform"
    data_format = nn._data_format(data_format, fn)
    _choice(interpolation, "interpolation", ("nearest", "bilinear"), fn)
    _choice(fill_mode, "fill_mode", _AFFINE_FILLS, fn)
    x = _images(images, fn)
    transform = as_tensor(transform, device=x.device)
    if transform.ndim not in (1, 2):
        raise ValueError(
            f"{fn}: invalid transform rank: expected rank 1 (single transform) or rank 2 "
            "(batch of transforms). Received input with shape: "
            f"transform.shape={tuple(transform.shape)}"
        )
    x, single = _engine(x, data_format)
    if transform.ndim == 1:
        transform = transform.unsqueeze(0)
    if transform.shape[0] == 1 and x.shape[0] > 1:
        transform = transform.expand(x.shape[0], -1)
    if x.dtype.is_floating_point and fill_mode != "mirror" and interpolation == "bilinear":
        # The image layers' batched grid_sample resampling. (Nearest sampling goes through
        # map_coordinates: grid_sample's normalised coordinates can round a position of
        # exactly half a pixel the other way.)
        out = im.affine_transform(x.contiguous(), transform, interpolation, fill_mode, fill_value)
        return _surface(out.to(x.dtype), data_format, single)
    # Channels-last per image: coordinates (row, column, channel) for map_coordinates,
    # through one matrix product as Keras computes them, so that a position at exactly half
    # a pixel rounds the same way (a product with or without fused multiply-adds does not).
    _, channels, height, width = x.shape
    t = transform.to(torch.float32 if not transform.is_floating_point() else transform.dtype)
    grid = torch.meshgrid(
        *(torch.arange(n, dtype=t.dtype, device=x.device) for n in (height, width, channels)),
        indexing="ij",
    )
    indices = torch.stack(grid, dim=-1).unsqueeze(-2)  # (h, w, c, 1, 3)
    a0, a1, a2, b0, b1, b2 = t[:, :6].unbind(1)
    zero = torch.zeros_like(a0)
    matrices = torch.stack(
        [torch.stack(row, 1) for row in ((b1, a1, zero), (b0, a0, zero), (zero, zero, zero + 1))],
        1,
    )  # (batch, 3, 3): rows of (y, x, channel) per input axis
    offsets = torch.stack([b2, a2, zero], 1)
    outputs = []
    for image, matrix, offset in zip(x.permute(0, 2, 3, 1), matrices, offsets, strict=True):
        coords = torch.einsum("hwcij,jk->hwcik", indices, matrix).squeeze(-2)
        coords = coords.moveaxis(-1, 0) + offset[:, None, None, None]
        outputs.append(map_coordinates(image, coords, int(interpolation == "bilinear"),
                                       fill_mode, fill_value))  # fmt: skip
    out = torch.stack(outputs).permute(0, 3, 1, 2)
    return _surface(out, data_format, single)


def perspective_transform(
    images: Any, start_points: Any, end_points: Any, interpolation: str = "bilinear",
    fill_value: float = 0, data_format: str | None = None,
) -> torch.Tensor:  # fmt: skip
    """Warps images so that the four `start_points` (`(4, 2)` or `(batch, 4, 2)`, `(x, y)`
    pixels) move to `end_points`; outside the input reads `fill_value`."""
    fn = "perspective_transform"
    data_format = nn._data_format(data_format, fn)
    _choice(interpolation, "interpolation", ("nearest", "bilinear"), fn)
    x = _images(images, fn)
    start = as_tensor(start_points, x.dtype, x.device)
    end = as_tensor(end_points, x.dtype, x.device)
    for name, points in (("start_points", start), ("end_points", end)):
        if tuple(points.shape[-2:]) != (4, 2) or points.ndim not in (2, 3):
            raise ValueError(
                f"{fn}: invalid {name} shape: expected (4, 2) for a single image or "
                f"(N, 4, 2) for a batch. Received shape: {tuple(points.shape)}"
            )
    if start.shape != end.shape:
        raise ValueError(
            f"{fn}: start_points and end_points must have the same shape. Received "
            f"start_points.shape={tuple(start.shape)}, end_points.shape={tuple(end.shape)}"
        )
    _float_dtype(x, fn)
    x, single = _engine(x, data_format)
    if start.ndim == 2:
        start, end = start[None], end[None]
    matrix = homography(start, end).to(x.dtype)
    if matrix.shape[0] == 1 and x.shape[0] > 1:
        matrix = matrix.expand(x.shape[0], -1)
    grid = perspective_grid(matrix, x.shape[2], x.shape[3])
    out = im.sample_filled(x.contiguous(), grid, interpolation, "zeros", float(fill_value))
    return _surface(out, data_format, single)


def elastic_transform(
    images: Any, alpha: float = 20.0, sigma: float = 5.0, interpolation: str = "bilinear",
    fill_mode: str = "reflect", fill_value: float = 0.0, seed: Any = None,
    data_format: str | None = None,
) -> torch.Tensor:  # fmt: skip
    """Displaces every pixel by Gaussian noise blurred with `sigma` and scaled by `alpha`.

    The noise comes from torch's global generator, drawn as Keras's torch backend draws it
    (so a run after `torch.manual_seed` repeats Keras's); a `seed` is not supported.
    """
    fn = "elastic_transform"
    if seed is not None:
        raise NotImplementedError(f"{fn}: a `seed` is not supported. Received: seed={seed!r}")
    data_format = nn._data_format(data_format, fn)
    _choice(interpolation, "interpolation", ("nearest", "bilinear"), fn)
    _choice(fill_mode, "fill_mode", _AFFINE_FILLS, fn)
    x = _images(images, fn)
    _float_dtype(x, fn)
    x, single = _engine(x, data_format)
    batch, channels, height, width = x.shape
    size = int(6 * sigma) | 1
    shifts = []
    for _ in range(2):
        noise = torch.normal(0.0, 1.0, (batch, height, width), dtype=x.dtype, device=x.device)
        blurred = gaussian_blur(noise[:, None] * sigma, (size, size), (sigma, sigma),
                                "channels_first")  # fmt: skip
        shifts.append(alpha * blurred[:, 0])
    rows = torch.arange(height, device=x.device)[None, :, None] + shifts[1]
    cols = torch.arange(width, device=x.device)[None, None, :] + shifts[0]
    order = int(interpolation == "bilinear")
    out = torch.stack([
        torch.stack([map_coordinates(x[b, c], [rows[b], cols[b]], order, fill_mode, fill_value)
                     for c in range(channels)])
        for b in range(batch)
    ])  # fmt: skip
    return _surface(out.to(x.dtype), data_format, single)


# --------------------------------------------------------------------- filters
def _gaussian(size: int, sigma: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    sigma = torch.as_tensor(sigma, device=device)
    offsets = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / torch.sum(kernel)


def gaussian_blur(
    images: Any, kernel_size: tuple[int, int] = (3, 3), sigma: tuple[float, float] = (1.0, 1.0),
    data_format: str | None = None,
) -> torch.Tensor:  # fmt: skip
    """Blurs each channel with a normalised Gaussian of `kernel_size` and `sigma` per axis,
    zero-padded to keep the size."""
    fn = "gaussian_blur"
    data_format = nn._data_format(data_format, fn)
    x = _images(images, fn)
    x, single = _engine(x, data_format)
    kh, kw = (int(k) for k in kernel_size)
    sigma = [s.item() if isinstance(s, torch.Tensor) else s for s in (sigma[0], sigma[1])]
    along_y = _gaussian(kw, sigma[1], x.dtype, x.device)
    along_x = _gaussian(kh, sigma[0], x.dtype, x.device)
    # Keras's torch backend lays the outer product out as (kernel_size[0], kernel_size[1])
    # and pads both axes by kernel_size[0] // 2; the same here for equal results.
    kernel = torch.outer(along_y, along_x).reshape(1, 1, kh, kw)
    channels = x.shape[1]
    out = F.conv2d(x, kernel.expand(channels, 1, kh, kw), padding=kh // 2, groups=channels)
    return _surface(out, data_format, single)


def sobel_edges(images: Any, data_format: str | None = None) -> torch.Tensor:
    """Vertical and horizontal Sobel gradients of a batch `(batch, h, w, c)`, stacked
    last: `(batch, h, w, c, 2)` (`[..., 0]` along rows, `[..., 1]` along columns)."""
    fn = "sobel_edges"
    data_format = nn._data_format(data_format, fn)
    x = _images(images, fn, (4,))
    if data_format == "channels_last":
        x = x.permute(0, 3, 1, 2)
    channels = x.shape[1]
    along_x = torch.tensor([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=x.dtype, device=x.device)
    kernels = torch.stack([along_x.T, along_x])[:, None].repeat(channels, 1, 1, 1)
    out = F.conv2d(x, kernels, padding=1, groups=channels)
    out = out.reshape(x.shape[0], channels, 2, *x.shape[2:]).movedim(2, -1)
    return out.permute(0, 2, 3, 1, 4) if data_format == "channels_last" else out


def ssim(
    image1: Any, image2: Any, max_val: float = 1.0, filter_size: int = 11,
    filter_sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03,
    data_format: str | None = None,
) -> torch.Tensor:  # fmt: skip
    """Structural similarity of two images (or batches), averaged over pixels and channels:
    local statistics from a `filter_size` Gaussian window (valid positions only), with
    `c1 = (k1 * max_val)^2` and `c2 = (k2 * max_val)^2`. One value per image."""
    fn = "ssim"
    data_format = nn._data_format(data_format, fn)
    x1, x2 = tensors(image1, image2)
    dtype = x1.dtype
    compute = result_type(x1.dtype, float)
    x1, x2 = cast(x1, compute), cast(x2, compute)
    for name, value in (("image1", x1), ("image2", x2)):
        if value.ndim not in (3, 4):
            raise ValueError(
                f"{fn}: invalid {name} rank: expected rank 3 (single image) or rank 4 (batch "
                f"of images). Received input with shape: {name}.shape={tuple(value.shape)}"
            )
    (x1, single), (x2, _) = _engine(x1, data_format), _engine(x2, data_format)
    batch, channels, height, width = x1.shape
    gauss = _gaussian(filter_size, float(filter_sigma), x1.dtype, x1.device)
    kernel = torch.outer(gauss, gauss)[None, None]
    x1 = x1.reshape(-1, 1, height, width)
    x2 = x2.reshape(-1, 1, height, width)

    def window_mean(v: torch.Tensor) -> torch.Tensor:
        return F.conv2d(v, kernel)

    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    mu1, mu2 = window_mean(x1), window_mean(x2)
    sigma1 = window_mean(x1 * x1) - mu1 * mu1
    sigma2 = window_mean(x2 * x2) - mu2 * mu2
    sigma12 = window_mean(x1 * x2) - mu1 * mu2
    numerator = (2.0 * mu1 * mu2 + c1) * (2.0 * sigma12 + c2)
    denominator = (mu1 * mu1 + mu2 * mu2 + c1) * (sigma1 + sigma2 + c2)
    per_image = torch.mean(numerator / denominator, dim=(1, 2, 3)).reshape(batch, channels)
    out = torch.mean(per_image, dim=-1)
    return cast(out.squeeze(0) if single else out, dtype)


# Called on symbolic tensors (in a functional model definition), each function builds a
# graph node instead of computing, as keras.ops.image does.
def _dispatch() -> None:
    from convolve.ops import _symbolic

    for name in __all__:
        globals()[name] = _symbolic.symbolic_dispatch(globals()[name], name)


_dispatch()
