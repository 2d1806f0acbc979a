"""Preprocessing layers that live inside a model: Rescaling, Resizing, CenterCrop, Normalization."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from convolve.layers import _conv_utils as cu
from convolve.layers import layout
from convolve.layers.augmentation import _image as im
from convolve.layers.base import Layer, torch_dtype

EPSILON = 1e-7  # Keras's backend epsilon, the floor of Normalization's standard deviation


class Rescaling(Layer):
    """Multiplies inputs by `scale` and adds `offset` (e.g. `1/255` to map pixels to [0, 1]).

    `scale` and `offset` may be per-channel sequences; they broadcast on the channel axis.
    """

    _hands_on_masks = True
    _engine_layout = True

    def __init__(
        self, scale: float | Sequence[float], offset: float | Sequence[float] = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        for argument, value in (("scale", scale), ("offset", offset)):
            try:
                torch.as_tensor(value, dtype=torch.float32)
            except (TypeError, ValueError):
                raise ValueError(
                    f"Rescaling: `{argument}` must be a number or a sequence of numbers, "
                    f"received {argument}={value!r}"
                ) from None
        self.scale, self.offset = scale, offset

    def _channel_constant(self, value: Any, x: torch.Tensor) -> torch.Tensor | float:
        if isinstance(value, int | float):
            return float(value)
        t = torch.as_tensor(value, dtype=x.dtype, device=x.device)
        if x.ndim >= 3 and t.ndim == 1:
            t = t.reshape(-1, *([1] * (x.ndim - 2)))
        return t

    def call(self, inputs, training=False):
        if not inputs.is_floating_point():
            inputs = inputs.to(torch.float32)
        return inputs * self._channel_constant(self.scale, inputs) + self._channel_constant(
            self.offset, inputs
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


# --------------------------------------------------------------------- image size
class _SizedImageLayer(im.FixedSizeOutput, im.ImageLayer):
    """An image layer whose output is `(height, width)`."""

    def _size_args(self, check: cu.ArgumentErrors, height: Any, width: Any, data_format: Any):
        self.height = check.positive_int("height", height)
        self.width = check.positive_int("width", width)
        self.data_format = check.data_format(data_format)

    @property
    def _size(self) -> tuple[int, int]:
        return self.height, self.width


class Resizing(_SizedImageLayer):
    """Resizes images to `(height, width)`, as Keras's torch backend does.

    Float images come out in the layer's dtype; integer images keep their dtype (the
    resized values are rounded, as in Keras).

    Args:
        height: the output height.
        width: the output width.
        interpolation: `"bilinear"` (half-pixel centres), `"nearest"` or `"bicubic"`.
            (Keras's `"lanczos3"`/`"lanczos5"` are not available on its torch backend
            either.)
        crop_to_aspect_ratio: first crop the largest centred window of the target aspect
            ratio, so that the image is not distorted.
        pad_to_aspect_ratio: first pad the short side evenly with `fill_value` to the
            target aspect ratio.
        fill_mode: how `pad_to_aspect_ratio` fills; only `"constant"`.
        fill_value: the padding value.
        antialias: low-pass filter when downsampling ("bilinear" and "bicubic").
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.preprocessing import Resizing
        >>> Resizing(1, 2)(torch.tensor([[[[0.0], [2.0], [4.0], [6.0]]]])).flatten().tolist()
        [1.0, 5.0]
    """

    _float_images = False  # integer images stay integers, as in Keras

    def __init__(
        self, height: int, width: int, interpolation: str = "bilinear",
        crop_to_aspect_ratio: bool = False, pad_to_aspect_ratio: bool = False,
        fill_mode: str = "constant", fill_value: float = 0.0, antialias: bool = False,
        data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        self._size_args(check, height, width, data_format)
        self.interpolation = im.choice(
            check, "interpolation", interpolation, ("bilinear", "nearest", "bicubic")
        )
        self.crop_to_aspect_ratio = check.boolean("crop_to_aspect_ratio", crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = check.boolean("pad_to_aspect_ratio", pad_to_aspect_ratio)
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            check.add(
                "only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True, "
                "received crop_to_aspect_ratio=True, pad_to_aspect_ratio=True"
            )
        self.fill_mode = im.choice(check, "fill_mode", fill_mode, ("constant",))
        self.fill_value = im.number(check, "fill_value", fill_value)
        self.antialias = check.boolean("antialias", antialias)
        check.raise_if_any()
        super().__init__(**kwargs)

    def transform_images(self, images, transformation, training=True):
        dtype = images.dtype
        x = images if images.is_floating_point() else images.to(torch.float32)
        out = self._warp(x, transformation, self.interpolation)
        if dtype.is_floating_point:
            return out
        if self.interpolation == "bicubic" and dtype == torch.uint8:
            out = out.clamp(0, 255)
        return torch.round(out).to(dtype)

    def _warp(self, x: torch.Tensor, transformation: Any, interpolation: str) -> torch.Tensor:
        if self.crop_to_aspect_ratio:
            x = im.crop_to_aspect(x, self._size)
        elif self.pad_to_aspect_ratio:
            x = im.pad_to_aspect(x, self._size, self.fill_value)
        return im.resize(x, self._size, interpolation, self.antialias)

    def _transform_masks(self, masks, transformation, training):
        return self._warped_masks(masks, transformation)

    def _transform_boxes_xyxy(self, boxes, transformation, training, height, width):
        # Keras's box arithmetic for each mode (a scale and an offset per axis); padding
        # boxes (all 0 or all -1) come out as zeros, as in Keras.
        out_h, out_w = self._size
        if self.pad_to_aspect_ratio:
            sx = sy = min(out_h / height, out_w / width)
            dx, dy = (out_w - width * sx) // 2, (out_h - height * sy) // 2
        elif self.crop_to_aspect_ratio:
            source, target = width / height, out_w / out_h
            new_w, new_h = (out_h * source, out_h) if source > target else (out_w, out_w / source)
            sx, sy = new_w / width, new_h / height
            dx, dy = -((new_w - out_w) // 2), -((new_h - out_h) // 2)
        else:
            sx, sy, dx, dy = out_w / width, out_h / height, 0.0, 0.0
        padding = (boxes == 0).all(-1, keepdim=True) | (boxes == -1).all(-1, keepdim=True)
        scale = boxes.new_tensor([sx, sy, sx, sy])
        offset = boxes.new_tensor([dx, dy, dx, dy])
        return torch.where(padding, 0.0, boxes * scale + offset), self._size

    def get_config(self):
        return {
            **super().get_config(),
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
            "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "antialias": self.antialias,
        }


class CenterCrop(_SizedImageLayer):
    """Crops the centre `(height, width)` of each image.

    An image smaller than the target in either dimension is instead cropped to the largest
    centred window of the target aspect ratio and resized (bilinear), as Keras does. When
    the margins are odd, the extra row or column is left out at the bottom or right.

    Args:
        height: the output height.
        width: the output width.
        data_format: `None` or `"channels_last"`.
        **kwargs: base layer arguments.

    Example:
        >>> import torch
        >>> from convolve.layers.preprocessing import CenterCrop
        >>> x = torch.arange(16.0).reshape(1, 4, 4, 1)
        >>> CenterCrop(2, 2)(x)[0, ..., 0].tolist()
        [[5.0, 6.0], [9.0, 10.0]]
    """

    def __init__(
        self, height: int, width: int, data_format: str | None = None, **kwargs: Any
    ) -> None:
        check = cu.ArgumentErrors(type(self).__name__)
        self._size_args(check, height, width, data_format)
        check.raise_if_any()
        super().__init__(**kwargs)

    def transform_images(self, images, transformation, training=True):
        return self._cropped(images, im.smart_resize)

    def _cropped(self, x: torch.Tensor, resize: Any) -> torch.Tensor:
        top, left = self._window(*x.shape[-2:])
        if top is None:
            return resize(x, self._size)
        return x[..., top : top + self.height, left : left + self.width]

    def _window(self, height: int, width: int) -> tuple[int | None, int | None]:
        """The top left corner of the centre crop, or Nones where the image is smaller."""
        if height >= self.height and width >= self.width:
            return (height - self.height) // 2, (width - self.width) // 2
        return None, None

    def _transform_masks(self, masks, transformation, training):
        return self._cropped(masks, im.aspect_masks)

    def _transform_boxes_xyxy(self, boxes, transformation, training, height, width):
        top, left = self._window(height, width)
        if top is None:
            return im.aspect_boxes(boxes, height, width, self._size)
        return im.window_boxes(boxes, top, left, self.height, self.width, self._size)


# --------------------------------------------------------------------- Normalization
class Normalization(Layer):
    """Shifts and scales inputs to mean 0 and variance 1: `(x - mean) / sqrt(variance)`.

    The mean and variance are given, or learned from data with `adapt()`. They are kept per
    index of the `axis` axes (channels by default) and shared over the others.

    Args:
        axis: the axis or axes (of the channels-last input) that keep separate statistics;
            `None` for one scalar mean and variance.
        mean: the mean, a number or an array that broadcasts to the kept axes. Given
            with `variance`; the layer then has no weights.
        variance: the variance, like `mean`.
        invert: apply the inverse, `mean + x * sqrt(variance)`, turning normalized values
            back into data.
        **kwargs: base layer arguments.

    The standard deviation is floored at 1e-7, as in Keras. An adapted layer has Keras's
    weights: `mean`, `variance` and `count` (int32, kept at 0 as Keras does).

    Example:
        >>> import numpy as np
        >>> from convolve.layers.preprocessing import Normalization
        >>> layer = Normalization(axis=None)
        >>> layer.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0], dtype="float32"))
        >>> [round(v, 4) for v in layer(np.array([1.0, 2.0, 3.0], dtype="float32")).tolist()]
        [-1.4142, -0.7071, 0.0]
    """

    _hands_on_masks = True
    _checks_own_input_shape = True  # names the shape it was built or adapted for

    _engine_layout = True

    def __init__(
        self, axis: int | Sequence[int] | None = -1, mean: Any = None, variance: Any = None,
        invert: bool = False, **kwargs: Any,
    ) -> None:  # fmt: skip
        check = cu.ArgumentErrors(type(self).__name__)
        if axis is None:
            axes: tuple[int, ...] = ()
        elif cu.is_int(axis):
            axes = (int(axis),)
        elif (
            isinstance(axis, Sequence)
            and not isinstance(axis, str)
            and all(cu.is_int(a) for a in axis)
        ):
            axes = tuple(int(a) for a in axis)
        else:
            check.add(f"axis must be an integer, a tuple of integers or None, received {axis=!r}")
            axes = (-1,)
        invert = check.boolean("invert", invert)
        if (mean is None) != (variance is None):
            check.add(
                "mean and variance must be given together, received "
                f"mean={mean!r}, variance={variance!r}"
            )
        elif mean is not None:
            _check_stats(check, axes, mean, variance)
        check.raise_if_any()
        super().__init__(**kwargs)
        self.axis, self.invert = axes, invert
        self.input_mean, self.input_variance = mean, variance

    # ----------------------------------------------------------------- building
    def build(self, input_shape):
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ValueError(
                f"Layer '{self.name}' (Normalization): every axis must be in [-{ndim}, {ndim}) "
                f"for inputs of rank {ndim}; received axis={self.axis}, input shape "
                f"{tuple(input_shape)}"
            )
        keep = tuple(sorted(a % ndim for a in self.axis))
        unknown = [a for a in keep if input_shape[a] is None]
        if unknown:
            raise ValueError(
                f"Layer '{self.name}' (Normalization): the kept axes {keep} must have known "
                f"sizes; axis {unknown[0]} of input shape {tuple(input_shape)} is unknown"
            )
        self._keep_axis = keep
        self._reduce_axis = tuple(d for d in range(ndim) if d not in keep)
        self._broadcast_shape = tuple(input_shape[d] if d in keep else 1 for d in range(ndim))
        self._stats_shape = tuple(input_shape[d] for d in keep)
        if self.input_mean is None:
            self.add_weight(self._stats_shape, "zeros", trainable=False, name="mean")
            self.add_weight(self._stats_shape, "ones", trainable=False, name="variance")
            self.add_weight((), "zeros", "int32", trainable=False, name="count")  # as Keras
        else:
            dtype = torch_dtype(self._dtype)
            mean = self._broadcast_given(self.input_mean, ndim).to(dtype)
            variance = self._broadcast_given(self.input_variance, ndim).to(dtype)
            self.register_buffer("_given_mean", mean, persistent=False)
            self.register_buffer("_given_variance", variance, persistent=False)

    def _broadcast_given(self, value: Any, ndim: int) -> torch.Tensor:
        """A given mean or variance aligned to the kept axes, from the last one backwards."""
        t = torch.as_tensor(np.asarray(value, dtype=np.float64))
        shape = [1] * ndim
        for i in range(1, t.ndim + 1):
            shape[self._keep_axis[-i]] = t.shape[-i]
        try:
            return t.reshape(shape).expand(self._broadcast_shape).clone()
        except RuntimeError:
            raise ValueError(
                f"Layer '{self.name}' (Normalization): mean of shape {tuple(t.shape)} does not "
                f"broadcast to the kept axes of shape {self._stats_shape}"
            ) from None

    # ----------------------------------------------------------------- calling
    def _statistics(self, ndim: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance shaped to broadcast over an engine-layout input."""
        if self.input_mean is not None:
            mean, variance = self._given_mean, self._given_variance
        else:
            mean = self.mean.reshape(self._broadcast_shape)
            variance = self.variance.reshape(self._broadcast_shape)
        if mean.ndim < ndim:  # built for fewer axes: broadcast from the last, as Keras does
            lead = (1,) * (ndim - mean.ndim)
            mean, variance = (
                mean.reshape(*lead, *mean.shape),
                variance.reshape(*lead, *variance.shape),
            )
        if ndim >= 3:
            mean, variance = layout.to_engine(mean), layout.to_engine(variance)
        return mean, variance

    def call(self, inputs, training=False):
        dtype = torch_dtype(self._dtype)
        x = inputs if inputs.dtype == dtype else inputs.to(dtype)
        mean, variance = self._statistics(x.ndim)
        std = torch.clamp(torch.sqrt(variance.to(dtype)), min=EPSILON)
        if self.invert:
            return mean.to(dtype) + x * std
        return (x - mean.to(dtype)) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    # ----------------------------------------------------------------- adapt
    def adapt(self, data: Any) -> None:
        """Computes the mean and variance of `data` along the axes that are not kept.

        Args:
            data: a NumPy array, a tensor (also another library's, such as a TensorFlow
                tensor), or an iterable of batches (arrays or tensors, or `(x, y)` /
                `(x, y, sample_weight)` tuples, of which `x` is used), such as a `convolve`
                or `tf.data` dataset. A dataset of single vectors is batched by 128 first,
                as Keras does. Batches are merged with Keras's running update.
        """
        if self.input_mean is not None:
            raise ValueError(
                f"Layer '{self.name}' (Normalization) was given mean and variance; adapt() "
                "learns them instead. Create the layer without mean and variance to adapt it."
            )
        if _is_foreign_array(data):
            data = np.array(data)  # a TensorFlow or JAX array, say: one array, not batches
        elif _is_unbatched_vector_dataset(data):
            data = data.batch(128)  # a dataset of single vectors, batched as Keras does
        if isinstance(data, np.ndarray | torch.Tensor):
            # In slices of about 4M values, so that a large uint8 array is never held in
            # float64 at once; the merge below is exact, so slicing changes nothing.
            step = max(1, (1 << 22) // max(1, math.prod(data.shape[1:])))
            batches: Iterable[Any] = (data[i : i + step] for i in range(0, len(data), step))
            first = data
        elif hasattr(data, "__iter__") and not isinstance(data, str | bytes | dict):
            iterator = iter(data)
            first = next(iterator, None)
            if first is None:
                raise ValueError(
                    f"Layer '{self.name}' (Normalization): adapt() received no batches."
                )
            first = _batch_inputs(first)
            batches = _chain(first, iterator)
        else:
            raise TypeError(
                f"Layer '{self.name}' (Normalization): adapt() takes a NumPy array, a tensor or "
                f"an iterable of batches; received {type(data).__name__}"
            )
        if not hasattr(first, "shape"):
            raise TypeError(
                f"Layer '{self.name}' (Normalization): adapt() needs arrays or tensors with a "
                f"`shape`; received a batch of type {type(first).__name__}"
            )
        shape = tuple(first.shape)
        self.build_for((None, *shape[1:]))
        total_mean = total_var = None
        total_count = 0
        for batch in batches:
            x = batch if isinstance(batch, torch.Tensor) else torch.from_numpy(np.array(batch))
            x = x.detach().to("cpu", torch.float64)
            self._check_adapt_shape(tuple(x.shape))
            if not self._reduce_axis:  # torch would reduce every axis for dim=()
                raise ValueError(
                    f"Layer '{self.name}' (Normalization): axis={self.axis} keeps every axis, "
                    "so there is nothing to compute a mean over"
                )
            var, mean = torch.var_mean(x, dim=self._reduce_axis, correction=0)
            count = math.prod(x.shape[d] for d in self._reduce_axis)
            if total_mean is None:
                total_mean, total_var, total_count = mean, var, count
                continue
            # Keras's merge of a batch's statistics into the running ones.
            total_count += count
            weight = count / total_count
            new_mean = total_mean * (1.0 - weight) + mean * weight
            total_var = (total_var + (total_mean - new_mean) ** 2) * (1.0 - weight) + (
                var + (mean - new_mean) ** 2
            ) * weight
            total_mean = new_mean
        with torch.no_grad():
            self.mean.copy_(total_mean.reshape(self._stats_shape))
            self.variance.copy_(total_var.reshape(self._stats_shape))

    def _check_adapt_shape(self, shape: tuple) -> None:
        expected = self._build_input_shape
        if len(shape) != len(expected) or any(shape[d] != expected[d] for d in self._keep_axis):
            raise ValueError(
                f"Layer '{self.name}' (Normalization) was built for inputs of shape {expected}, "
                f"but adapt() received data of shape {shape}"
            )

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "invert": self.invert,
            "mean": np.array(self.input_mean).tolist(),
            "variance": np.array(self.input_variance).tolist(),
        }


def _check_stats(check: cu.ArgumentErrors, axes: tuple, mean: Any, variance: Any) -> None:
    try:
        mean_shape, var_shape = (
            np.shape(np.asarray(mean, float)),
            np.shape(np.asarray(variance, float)),
        )
    except (TypeError, ValueError):
        check.add(f"mean and variance must be numbers or arrays, received {mean=!r}, {variance=!r}")
        return
    if mean_shape != var_shape:
        check.add(
            f"mean and variance must have the same shape, received shapes {mean_shape} and "
            f"{var_shape}"
        )
    elif len(mean_shape) > len(axes):
        check.add(
            f"mean may have at most as many dimensions as axis has axes ({len(axes)}), "
            f"received mean of shape {mean_shape} for axis={axes}"
        )


def _is_foreign_array(data: Any) -> bool:
    """Whether `data` is an array of another library (it has a shape and converts to NumPy)."""
    return (
        not isinstance(data, np.ndarray | torch.Tensor)
        and hasattr(data, "__array__")
        and hasattr(data, "shape")
        and hasattr(data, "dtype")
    )


def _is_unbatched_vector_dataset(data: Any) -> bool:
    """Whether `data` is a dataset (it has `batch`) whose elements are single vectors."""
    if isinstance(data, np.ndarray | torch.Tensor | list | tuple) or not callable(
        getattr(data, "batch", None)
    ):
        return False
    spec = getattr(data, "element_spec", None)
    if spec is None:  # a convolve dataset: look at its first element
        spec = next(iter(data), None)
    spec = _batch_inputs(spec)
    return len(getattr(spec, "shape", ())) == 1


def _batch_inputs(batch: Any) -> Any:
    """The inputs of a batch given as `(x, y)` or `(x, y, sample_weight)`."""
    return batch[0] if isinstance(batch, tuple | list) and batch else batch


def _chain(first: Any, rest: Iterable[Any]) -> Iterable[Any]:
    yield first
    for batch in rest:
        yield _batch_inputs(batch)
