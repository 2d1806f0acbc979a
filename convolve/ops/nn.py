"""Neural-network functions: activations, convolutions, pooling, normalization, attention,
softmax, one-hot encoding, crossentropies, CTC and moments.

Spatial functions take channels-last data by default (`data_format`) and kernels in Keras's
layout (a conv kernel is `(*window, in_channels, out_channels)`); "same" padding follows Keras
(the odd pixel at the end).


The crossentropies are Keras's per-sample functions (no reduction): probabilities are clipped
to `[1e-7, 1 - 1e-7]`, and categorical probabilities renormalised along `axis` before the log.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from convolve import config
from convolve.layers import _conv_utils as cu
from convolve.layers.convolution_variants import transpose_crops
from convolve.ops._dtypes import EPSILON, FLOATX, result_type, standardize_dtype
from convolve.ops.core import as_tensor, cast, tensors

__all__ = [
    "adaptive_average_pool", "adaptive_max_pool", "average_pool", "batch_normalization",
    "binary_crossentropy", "categorical_crossentropy", "celu", "conv", "conv_transpose",
    "ctc_decode", "ctc_loss", "depth_to_space", "depthwise_conv", "dot_product_attention",
    "elu", "fold", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish",
    "hard_tanh", "layer_normalization", "leaky_relu", "log_sigmoid", "log_softmax", "max_pool",
    "moments", "multi_hot", "normalize", "one_hot", "polar", "psnr", "relu", "relu6",
    "rms_normalization", "selu", "separable_conv", "sigmoid", "silu", "soft_shrink", "softmax",
    "softplus", "softsign", "space_to_depth", "sparse_categorical_crossentropy", "sparse_plus",
    "sparse_sigmoid", "sparsemax", "squareplus", "swish", "tanh_shrink", "threshold", "unfold",
]  # fmt: skip


def _activation(name: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[Any], Any]:
    def op(x: Any) -> torch.Tensor:
        return fn(as_tensor(x))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"The `{name}` activation, elementwise, as `keras.ops.{name}`."
    return op


relu = _activation("relu", F.relu)
relu6 = _activation("relu6", F.relu6)
sigmoid = _activation("sigmoid", torch.sigmoid)
softplus = _activation("softplus", F.softplus)
softsign = _activation("softsign", F.softsign)
silu = _activation("silu", F.silu)
swish = _activation("swish", F.silu)
selu = _activation("selu", F.selu)
hard_sigmoid = _activation("hard_sigmoid", F.hardsigmoid)
log_sigmoid = _activation("log_sigmoid", F.logsigmoid)


def elu(x: Any, alpha: float = 1.0) -> torch.Tensor:
    """`x` if positive, else `alpha * (exp(x) - 1)`."""
    return F.elu(as_tensor(x), alpha)


def leaky_relu(x: Any, negative_slope: float = 0.2) -> torch.Tensor:
    """`x` if positive, else `negative_slope * x`."""
    return F.leaky_relu(as_tensor(x), negative_slope)


def gelu(x: Any, approximate: bool = True) -> torch.Tensor:
    """Gaussian error linear unit; the tanh approximation unless `approximate=False`."""
    return F.gelu(as_tensor(x), approximate="tanh" if approximate else "none")


def _over_axes(fn: Callable[..., torch.Tensor], x: torch.Tensor, axis: Any) -> torch.Tensor:
    dtype = x.dtype
    if x.device.type == "cpu" and dtype == torch.float16:
        x = x.float()
    if axis is None:
        out = fn(x.reshape(-1), dim=-1).reshape(x.shape)
    elif isinstance(axis, tuple | list):
        # Move the axes last and flatten them into one.
        axes = [a % x.ndim for a in axis]
        keep = [a for a in range(x.ndim) if a not in axes]
        moved = x.permute(*keep, *axes)
        out = fn(moved.reshape(*moved.shape[: len(keep)], -1), dim=-1).reshape(moved.shape)
        inverse = sorted(range(x.ndim), key=[*keep, *axes].__getitem__)
        out = out.permute(*inverse)
    else:
        out = fn(x, dim=axis)
    return out.to(dtype)


def softmax(x: Any, axis: int | tuple[int, ...] | None = -1) -> torch.Tensor:
    """`exp(x) / sum(exp(x))` along `axis` (all axes if None, or several as a tuple).

    Example:
        >>> from convolve import ops
        >>> [round(v, 4) for v in ops.softmax([0.0, 1.0]).tolist()]
        [0.2689, 0.7311]
    """
    x = as_tensor(x)
    if isinstance(axis, int) and -x.ndim <= axis < x.ndim and x.shape[axis] == 1:
        warnings.warn(
            f"You are using a softmax over axis {axis} of a tensor of shape {tuple(x.shape)}. "
            "This axis has size 1. The softmax operation will always return the value 1, "
            "which is likely not what you intended. Did you mean to use a sigmoid instead?",
            stacklevel=2,
        )
    return _over_axes(F.softmax, x, axis)


def log_softmax(x: Any, axis: int | tuple[int, ...] | None = -1) -> torch.Tensor:
    """`x - logsumexp(x)` along `axis`, computed stably."""
    return _over_axes(F.log_softmax, as_tensor(x), axis)


def one_hot(
    x: Any, num_classes: int, axis: int = -1, dtype: Any = None, sparse: bool = False
) -> torch.Tensor:
    """One-hot encodes integer labels along a new `axis`; negative labels give all zeros.

    Example:
        >>> from convolve import ops
        >>> ops.one_hot([2, -1], 3).tolist()
        [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    """
    if sparse:
        raise ValueError(f"one_hot: sparse=True is not supported. Received: sparse={sparse}")
    x = as_tensor(x, dtype="int64")
    out = F.one_hot(x.clamp(min=0), num_classes) * (x >= 0).unsqueeze(-1)
    out = cast(out, dtype or FLOATX)
    if axis not in (-1, out.ndim - 1):
        out = torch.movedim(out, -1, axis)
    return out


def multi_hot(
    inputs: Any,
    num_classes: int | None = None,
    axis: int = -1,
    dtype: Any = None,
    sparse: bool = False,
    **kwargs: Any,
) -> torch.Tensor:
    """Encodes each row of integer labels as one vector with a 1 at every label present."""
    num_classes = kwargs.pop("num_tokens", None) if num_classes is None else num_classes
    if num_classes is None:
        raise ValueError("multi_hot: argument `num_classes` must be specified.")
    x = as_tensor(inputs)
    encoded = one_hot(cast(x, "int32"), num_classes, axis=axis, dtype=dtype, sparse=sparse)
    return torch.amax(encoded, dim=1 if x.ndim > 1 else 0)


def normalize(x: Any, axis: int = -1, order: int = 2, epsilon: float | None = None) -> torch.Tensor:
    """`x` divided by its `order`-norm along `axis` (the norm floored at `epsilon`)."""
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"Argument `order` must be an int >= 1. Received: order={order}")
    x = as_tensor(x)
    if x.ndim == 0:
        x = x.unsqueeze(0)
    epsilon = EPSILON if epsilon is None else epsilon
    if order == 2:
        square = torch.square(x.int() if x.dtype == torch.bool else x)
        inv_norm = torch.rsqrt(torch.sum(square, dim=axis, keepdim=True))
        return x * torch.clamp(inv_norm, max=1.0 / epsilon)
    x = cast(x, FLOATX) if not x.dtype.is_floating_point else x
    norm = torch.linalg.norm(x, ord=order, dim=axis, keepdim=True)
    return x / torch.clamp(norm, min=epsilon)


def _same_shape(target: torch.Tensor, output: torch.Tensor) -> None:
    if target.shape != output.shape:
        raise ValueError(
            "Arguments `target` and `output` must have the same shape. "
            f"Received: target.shape={tuple(target.shape)}, output.shape={tuple(output.shape)}"
        )


def binary_crossentropy(target: Any, output: Any, from_logits: bool = False) -> torch.Tensor:
    """Elementwise binary crossentropy between labels in [0, 1] and probabilities (or logits)."""
    target, output = tensors(target, output)
    _same_shape(target, output)
    if from_logits:
        return F.binary_cross_entropy_with_logits(output, target, reduction="none")
    output = torch.clip(output, EPSILON, 1.0 - EPSILON)
    return F.binary_cross_entropy(output, target, reduction="none")


def categorical_crossentropy(
    target: Any, output: Any, from_logits: bool = False, axis: int = -1
) -> torch.Tensor:
    """Crossentropy between one-hot (or soft) labels and class probabilities along `axis`."""
    target, output = tensors(target, output)
    _same_shape(target, output)
    if target.ndim < 1:
        raise ValueError(
            "Arguments `target` and `output` must be at least rank 1. "
            f"Received: target.shape={tuple(target.shape)}"
        )
    if from_logits:
        log_prob = F.log_softmax(output, dim=axis)
    else:
        output = output / torch.sum(output, dim=axis, keepdim=True)
        log_prob = torch.log(torch.clip(output, EPSILON, 1.0 - EPSILON))
    return -torch.sum(target * log_prob, dim=axis)


def sparse_categorical_crossentropy(
    target: Any, output: Any, from_logits: bool = False, axis: int = -1
) -> torch.Tensor:
    """Crossentropy between integer labels and class probabilities along `axis`."""
    output = as_tensor(output)
    if output.ndim < 1:
        raise ValueError(f"Argument `output` must be at least rank 1. Received: {output.shape}")
    target = as_tensor(target, dtype="int64", device=output.device)
    if target.ndim == output.ndim and target.shape[axis] == 1:
        target = target.squeeze(axis)
    expected = list(output.shape)
    del expected[axis]
    if list(target.shape) != expected:
        raise ValueError(
            "Arguments `target` and `output` must have the same shape up until the last "
            f"dimension: target.shape={tuple(target.shape)}, output.shape={tuple(output.shape)}"
        )
    single = output.ndim == 1
    if single:
        output, target = output.unsqueeze(0), target.unsqueeze(0)
    else:
        output = output.movedim(axis % output.ndim, 1)
    if from_logits:
        loss = F.cross_entropy(output, target, reduction="none")
    else:
        output = output / torch.sum(output, dim=1, keepdim=True)
        log_prob = torch.log(torch.clip(output, EPSILON, 1.0 - EPSILON))
        loss = F.nll_loss(log_prob, target, reduction="none")
    return loss.squeeze(0) if single else loss


def moments(
    x: Any, axes: int | list[int] | tuple[int, ...], keepdims: bool = False,
    synchronized: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Mean and (population) variance of `x` over `axes`, as `E[x^2] - E[x]^2`."""
    if synchronized:
        raise NotImplementedError("moments: synchronized=True is not supported.")
    x = as_tensor(x)
    dtype = standardize_dtype(x.dtype)
    if dtype == "float16":
        x = x.float()  # float16 has too little range for the statistics
    dims = (axes,) if isinstance(axes, int) else tuple(axes)
    mean = torch.mean(x, dim=dims, keepdim=True)
    variance = torch.mean(torch.square(x), dim=dims, keepdim=True) - torch.square(mean)
    if not keepdims:
        mean, variance = mean.squeeze(dims), variance.squeeze(dims)
    if dtype == "float16":
        limit = torch.finfo(torch.float16).max
        mean, variance = (cast(torch.clip(v, -limit, limit), dtype) for v in (mean, variance))
    return mean, variance


# --------------------------------------------------------------------- more activations
def celu(x: Any, alpha: float = 1.0) -> torch.Tensor:
    """`x` if positive, else `alpha * (exp(x / alpha) - 1)`."""
    return F.celu(as_tensor(x), alpha=alpha)


def glu(x: Any, axis: int = -1) -> torch.Tensor:
    """Gated linear unit: `a * sigmoid(b)` for the two halves `a, b` of `x` along `axis`."""
    x = as_tensor(x)
    if x.shape[axis] % 2:
        raise ValueError(
            "glu: axis `axis` of `x` must have an even size to be split in halves. "
            f"Received: axis={axis}, x.shape={tuple(x.shape)}"
        )
    return F.glu(x, dim=axis)


hard_silu = _activation("hard_silu", F.hardswish)
hard_swish = hard_silu
tanh_shrink = _activation("tanh_shrink", F.tanhshrink)


def hard_tanh(x: Any) -> torch.Tensor:
    """`x` clipped to `[-1, 1]`."""
    return F.hardtanh(as_tensor(x), min_val=-1.0, max_val=1.0)


def hard_shrink(x: Any, threshold: float = 0.5) -> torch.Tensor:
    """`x` where `|x| > threshold`, else 0."""
    return F.hardshrink(as_tensor(x), lambd=threshold)


def soft_shrink(x: Any, threshold: float = 0.5) -> torch.Tensor:
    """`x - threshold` above `threshold`, `x + threshold` below `-threshold`, else 0."""
    return F.softshrink(as_tensor(x), lambd=threshold)


def threshold(x: Any, threshold: float, default_value: float) -> torch.Tensor:
    """`x` where `x > threshold`, else `default_value`."""
    return F.threshold(as_tensor(x), threshold=threshold, value=default_value)


def squareplus(x: Any, b: float = 4) -> torch.Tensor:
    """`(x + sqrt(x^2 + b)) / 2`, a smooth ReLU."""
    x = as_tensor(x)
    return (x + torch.sqrt(x**2 + as_tensor(b, device=x.device))) / 2


def sparse_plus(x: Any) -> torch.Tensor:
    """0 below -1, `(x + 1)^2 / 4` on `(-1, 1)`, `x` from 1 on."""
    x = as_tensor(x)
    return torch.where(x <= -1, torch.zeros_like(x), torch.where(x < 1, 0.25 * (x + 1) ** 2, x))


def sparse_sigmoid(x: Any) -> torch.Tensor:
    """0 up to -1, `(x + 1) / 2` on `(-1, 1)`, 1 from 1 on."""
    x = as_tensor(x)
    zero, one = x.new_tensor(0.0), x.new_tensor(1.0)
    return torch.where(x <= -1, zero, torch.where(x >= 1, one, 0.5 * (x + 1)))


def sparsemax(x: Any, axis: int = -1) -> torch.Tensor:
    """The Euclidean projection of `x` onto the probability simplex along `axis`.

    Example:
        >>> from convolve import ops
        >>> ops.sparsemax([1.0, 0.0, 3.0]).tolist()
        [0.0, 0.0, 1.0]
    """
    x = as_tensor(x)
    ordered = torch.sort(x, dim=axis, descending=True).values
    cumulative = torch.cumsum(ordered, dim=axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    ranks = torch.arange(1, x.shape[axis] + 1, device=x.device, dtype=x.dtype).view(shape)
    support = ordered - (cumulative - 1) / ranks > 0
    count = torch.sum(support, dim=axis, keepdim=True)
    total = torch.sum(torch.where(support, cumulative, x.new_tensor(0.0)), dim=axis, keepdim=True)
    return torch.clamp(x - (total - 1) / count, min=0.0)


# --------------------------------------------------------------------- argument helpers
def _data_format(value: Any, fn: str) -> str:
    if value is None:
        return config.image_data_format()
    lowered = str(value).lower()
    if lowered not in ("channels_first", "channels_last"):
        raise ValueError(
            f"{fn}: the `data_format` argument must be one of {{'channels_first', "
            f"'channels_last'}}. Received: data_format={value!r}"
        )
    return lowered


def _int_tuple(value: Any, n: int, name: str, fn: str, allow_zero: bool = False) -> tuple:
    items = (value,) * n if cu.is_int(value) else value
    try:
        items = tuple(items)
    except TypeError:
        items = ()
    lowest = 0 if allow_zero else 1
    if len(items) != n or not all(cu.is_int(v) and v >= lowest for v in items):
        raise ValueError(
            f"{fn}: the `{name}` argument must be an int or a tuple of {n} "
            f"{'non-negative' if allow_zero else 'positive'} ints. Received: {name}={value!r}"
        )
    return tuple(int(v) for v in items)


def _padding(value: Any, fn: str) -> str:
    lowered = value.lower() if isinstance(value, str) else None
    if lowered not in ("valid", "same"):
        raise ValueError(
            f"{fn}: the `padding` argument must be 'valid' or 'same'. Received: padding={value!r}"
        )
    return lowered


def _spatial_rank(x: torch.Tensor, fn: str, what: str = "inputs") -> int:
    if x.ndim not in (3, 4, 5):
        raise ValueError(
            f"{fn}: `{what}` must have rank 3, 4 or 5 (batch, spatial axes and channels). "
            f"Received: {what}.shape={tuple(x.shape)}"
        )
    return x.ndim - 2


def _to_first(x: torch.Tensor, data_format: str) -> torch.Tensor:
    return x.movedim(-1, 1) if data_format == "channels_last" else x


def _from_first(x: torch.Tensor, data_format: str) -> torch.Tensor:
    return x.movedim(1, -1) if data_format == "channels_last" else x


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
_ADAPTIVE_AVG = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}
_ADAPTIVE_MAX = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}


def _same_pads(
    x: torch.Tensor, windows: tuple, strides: tuple, dilations: tuple | None = None
) -> tuple[list[tuple[int, int]], bool]:
    """Keras's "same" padding of a channels-first tensor; whether it is symmetric."""
    pads = cu.window_padding(x.shape[2:], windows, strides, dilations)
    return pads, all(before == after for before, after in pads)


# --------------------------------------------------------------------- convolutions
def conv(
    inputs: Any, kernel: Any, strides: int | tuple[int, ...] = 1, padding: str = "valid",
    data_format: str | None = None, dilation_rate: int | tuple[int, ...] = 1,
) -> torch.Tensor:  # fmt: skip
    """N-D convolution (1 to 3 spatial axes) with a kernel in Keras's layout.

    Args:
        inputs: `(batch, *spatial, channels)` (or channels first per `data_format`).
        kernel: `(*window, in_channels // groups, out_channels)`; grouped when the input has
            a multiple of `kernel.shape[-2]` channels.
        strides: int or one int per spatial axis.
        padding: "valid" or "same" (Keras's rule: the odd pixel of padding goes at the end).
        data_format: "channels_last" or "channels_first"; None uses the configured default.
        dilation_rate: int or one int per spatial axis.

    Example:
        >>> from convolve import ops
        >>> ops.conv(ops.ones((1, 5, 5, 1)), ops.ones((3, 3, 1, 2)), padding="same").shape
        torch.Size([1, 5, 5, 2])
    """
    fn = "conv"
    data_format = _data_format(data_format, fn)
    padding = _padding(padding, fn)
    x, kernel = tensors(inputs, kernel)
    rank = _spatial_rank(x, fn)
    if kernel.ndim != rank + 2:
        raise ValueError(
            f"{fn}: `kernel` must have rank {rank + 2} for inputs of rank {x.ndim}. "
            f"Received: kernel.shape={tuple(kernel.shape)}"
        )
    strides = _int_tuple(strides, rank, "strides", fn)
    dilation = _int_tuple(dilation_rate, rank, "dilation_rate", fn)
    x = _to_first(x, data_format)
    weight = kernel.permute(rank + 1, rank, *range(rank))
    channels = x.shape[1]
    if channels % weight.shape[1]:
        raise ValueError(
            f"{fn}: the input channels ({channels}) must be divisible by the kernel's input "
            f"channels ({weight.shape[1]}). Received: inputs.shape={tuple(inputs.shape)}, "
            f"kernel.shape={tuple(kernel.shape)}"
        )
    torch_padding: Any = 0
    if padding == "same":
        pads, symmetric = _same_pads(x, tuple(weight.shape[2:]), strides, dilation)
        if symmetric:
            torch_padding = tuple(before for before, _ in pads)
        else:
            x = cu.pad_spatial(x, pads)
    groups = channels // weight.shape[1]
    out = _CONV[rank](x, weight, None, strides, torch_padding, dilation, groups)
    return _from_first(out, data_format)


def _check_kernel_channels(
    x: torch.Tensor, kernel: torch.Tensor, data_format: str, fn: str
) -> None:
    channels = x.shape[-1] if data_format == "channels_last" else x.shape[1]
    if kernel.ndim != x.ndim or channels != kernel.shape[-2]:
        raise ValueError(
            f"{fn}: the number of input channels must match the kernel's input channels "
            f"(kernel.shape[-2]) and the kernel must have the inputs' rank. Received: "
            f"inputs.shape={tuple(x.shape)}, kernel.shape={tuple(kernel.shape)}, "
            f"data_format='{data_format}'"
        )


def depthwise_conv(
    inputs: Any, kernel: Any, strides: int | tuple[int, ...] = 1, padding: str = "valid",
    data_format: str | None = None, dilation_rate: int | tuple[int, ...] = 1,
) -> torch.Tensor:  # fmt: skip
    """Depthwise convolution: each input channel convolved with its own
    `kernel[..., c, :]` filters (kernel `(*window, in_channels, depth_multiplier)`); output
    channel `c * depth_multiplier + m`."""
    fn = "depthwise_conv"
    data_format = _data_format(data_format, fn)
    x, kernel = tensors(inputs, kernel)
    _spatial_rank(x, fn)
    _check_kernel_channels(x, kernel, data_format, fn)
    kernel = kernel.reshape(*kernel.shape[:-2], 1, kernel.shape[-2] * kernel.shape[-1])
    return conv(x, kernel, strides, padding, data_format, dilation_rate)


def separable_conv(
    inputs: Any, depthwise_kernel: Any, pointwise_kernel: Any,
    strides: int | tuple[int, ...] = 1, padding: str = "valid",
    data_format: str | None = None, dilation_rate: int | tuple[int, ...] = 1,
) -> torch.Tensor:  # fmt: skip
    """A depthwise convolution followed by a pointwise (1x1) convolution."""
    fn = "separable_conv"
    data_format = _data_format(data_format, fn)
    x, depthwise_kernel, pointwise_kernel = tensors(inputs, depthwise_kernel, pointwise_kernel)
    _spatial_rank(x, fn)
    _check_kernel_channels(x, depthwise_kernel, data_format, fn)
    y = depthwise_conv(x, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return conv(y, pointwise_kernel, 1, "valid", data_format, dilation_rate)


def conv_transpose(
    inputs: Any, kernel: Any, strides: int | tuple[int, ...] = 1, padding: str = "valid",
    output_padding: int | tuple[int, ...] | None = None, data_format: str | None = None,
    dilation_rate: int | tuple[int, ...] = 1,
) -> torch.Tensor:  # fmt: skip
    """Transposed convolution with a kernel `(*window, out_channels, in_channels)`.

    Output sizes follow Keras: `(n - 1) * stride + max(window, stride)` for "valid",
    `n * stride` for "same", and `output_padding` adds values at the end as in Keras.
    """
    fn = "conv_transpose"
    data_format = _data_format(data_format, fn)
    padding = _padding(padding, fn)
    x, kernel = tensors(inputs, kernel)
    rank = _spatial_rank(x, fn)
    channels = x.shape[-1] if data_format == "channels_last" else x.shape[1]
    if kernel.ndim != rank + 2 or kernel.shape[-1] != channels:
        raise ValueError(
            f"{fn}: the kernel must have rank {rank + 2} and its last axis must match the "
            f"input channels ({channels}). Received: inputs.shape={tuple(x.shape)}, "
            f"kernel.shape={tuple(kernel.shape)}"
        )
    strides = _int_tuple(strides, rank, "strides", fn)
    dilation = _int_tuple(dilation_rate, rank, "dilation_rate", fn)
    extras = (
        (None,) * rank
        if output_padding is None
        else _int_tuple(output_padding, rank, "output_padding", fn, allow_zero=True)
    )
    crops = [
        transpose_crops(k, s, d, padding, op)
        for k, s, d, op in zip(kernel.shape[:rank], strides, dilation, extras, strict=True)
    ]
    x = _to_first(x, data_format)
    weight = kernel.permute(rank + 1, rank, *range(rank))
    out = _CONV_T[rank](x, weight, None, strides, 0, 0, 1, dilation)
    window = [slice(max(0, left), n - right if right > 0 else None)
              for (left, right), n in zip(crops, out.shape[2:], strict=True)]  # fmt: skip
    out = out[(slice(None), slice(None), *window)]
    if any(left < 0 or right < 0 for left, right in crops):
        out = cu.pad_spatial(out, [(max(0, -left), max(0, -right)) for left, right in crops])
    return _from_first(out, data_format)


# --------------------------------------------------------------------- pooling
def _pool_arguments(
    inputs: Any, pool_size: Any, strides: Any, padding: Any, data_format: Any, fn: str
) -> tuple[torch.Tensor, tuple, tuple, str, str, int]:
    data_format = _data_format(data_format, fn)
    padding = _padding(padding, fn)
    x = as_tensor(inputs)
    rank = _spatial_rank(x, fn)
    pool_size = _int_tuple(pool_size, rank, "pool_size", fn)
    strides = pool_size if strides is None else _int_tuple(strides, rank, "strides", fn)
    return _to_first(x, data_format), pool_size, strides, padding, data_format, rank


def max_pool(
    inputs: Any, pool_size: int | tuple[int, ...], strides: int | tuple[int, ...] | None = None,
    padding: str = "valid", data_format: str | None = None,
) -> torch.Tensor:  # fmt: skip
    """Max pooling over 1 to 3 spatial axes; `strides` default to `pool_size`.

    Example:
        >>> from convolve import ops
        >>> ops.max_pool(ops.ones((1, 5, 5, 3)), 2, padding="same").shape
        torch.Size([1, 3, 3, 3])
    """
    x, pool_size, strides, padding, data_format, rank = _pool_arguments(
        inputs, pool_size, strides, padding, data_format, "max_pool"
    )
    torch_padding: Any = 0
    if padding == "same":
        pads, symmetric = _same_pads(x, pool_size, strides)
        if symmetric:
            torch_padding = tuple(before for before, _ in pads)
        else:
            x = F.pad(x, cu.torch_pad_arg(pads), mode="replicate")
    return _from_first(_MAX[rank](x, pool_size, strides, torch_padding), data_format)


def average_pool(
    inputs: Any, pool_size: int | tuple[int, ...], strides: int | tuple[int, ...] | None = None,
    padding: str = "valid", data_format: str | None = None,
) -> torch.Tensor:  # fmt: skip
    """Average pooling over 1 to 3 spatial axes; `strides` default to `pool_size`.

    With "same" padding, Keras's torch backend leaves padding out of the averages when it is
    even on both sides, and otherwise pads by repeating the edge values; so does this.
    """
    x, pool_size, strides, padding, data_format, rank = _pool_arguments(
        inputs, pool_size, strides, padding, data_format, "average_pool"
    )
    torch_padding: Any = 0
    if padding == "same":
        pads, symmetric = _same_pads(x, pool_size, strides)
        if symmetric:
            torch_padding = tuple(before for before, _ in pads)
        else:
            x = F.pad(x, cu.torch_pad_arg(pads), mode="replicate")
    out = _AVG[rank](x, pool_size, strides, torch_padding, count_include_pad=False)
    return _from_first(out, data_format)


def _adaptive(inputs: Any, output_size: Any, data_format: Any, fn: str, table: dict) -> Any:
    data_format = _data_format(data_format, fn)
    x = as_tensor(inputs)
    rank = _spatial_rank(x, fn)
    size = _int_tuple(output_size, rank, "output_size", fn)
    out = table[rank](_to_first(x, data_format), size)
    return _from_first(out[0] if isinstance(out, tuple) else out, data_format)


def adaptive_average_pool(
    inputs: Any, output_size: int | tuple[int, ...], data_format: str | None = None
) -> torch.Tensor:
    """Average pooling to a fixed `output_size` (torch's adaptive windows)."""
    return _adaptive(inputs, output_size, data_format, "adaptive_average_pool", _ADAPTIVE_AVG)


def adaptive_max_pool(
    inputs: Any, output_size: int | tuple[int, ...], data_format: str | None = None
) -> torch.Tensor:
    """Max pooling to a fixed `output_size` (torch's adaptive windows)."""
    return _adaptive(inputs, output_size, data_format, "adaptive_max_pool", _ADAPTIVE_MAX)


# --------------------------------------------------------------------- normalization
def batch_normalization(
    x: Any, mean: Any, variance: Any, axis: int, offset: Any = None, scale: Any = None,
    epsilon: float = 1e-3,
) -> torch.Tensor:  # fmt: skip
    """`(x - mean) / sqrt(variance + epsilon) * scale + offset`, the statistics (vectors)
    laid along `axis`."""
    x, mean, variance = tensors(x, mean, variance)
    shape = [1] * x.ndim
    shape[axis] = mean.shape[0]
    mean, variance = mean.reshape(shape), variance.reshape(shape)
    factor = torch.rsqrt(variance + epsilon)
    if scale is not None:
        factor = factor * as_tensor(scale, device=x.device).reshape(shape)
    out = (x - mean) * factor
    if offset is not None:
        out = out + as_tensor(offset, device=x.device).reshape(shape)
    return out


def _normalized_axes(axis: Any, ndim: int) -> list[int]:
    axes = [axis] if isinstance(axis, int) else list(axis)
    return sorted(a % ndim for a in axes)


def _compute_float(x: Any) -> tuple[torch.Tensor, str]:
    x = as_tensor(x)
    dtype = standardize_dtype(x.dtype)
    return cast(x, result_type(dtype, "float32")), dtype


def layer_normalization(
    x: Any, gamma: Any = None, beta: Any = None, axis: int | tuple[int, ...] = -1,
    epsilon: float | None = None, **kwargs: Any,
) -> torch.Tensor:  # fmt: skip
    """Normalizes `x` to zero mean and unit variance over `axis`, then `* gamma + beta`.

    Computed in float32 at least and returned in `x`'s dtype.
    """
    if kwargs.pop("rms_scaling", False):
        raise NotImplementedError(
            "layer_normalization: rms_scaling=True (deprecated in Keras) is not supported; "
            "use rms_normalization."
        )
    if kwargs:
        raise TypeError(f"layer_normalization: unexpected arguments {sorted(kwargs)}")
    epsilon = EPSILON if epsilon is None else epsilon
    x, dtype = _compute_float(x)
    axes = _normalized_axes(axis, x.ndim)
    shape = [x.shape[a] if a in axes else 1 for a in range(x.ndim)]
    gamma = None if gamma is None else as_tensor(gamma, x.dtype, x.device)
    beta = None if beta is None else as_tensor(beta, x.dtype, x.device)
    if axes == list(range(x.ndim - len(axes), x.ndim)):
        normalized = tuple(x.shape[a] for a in axes)
        out = F.layer_norm(x, normalized, gamma, beta, epsilon)
    else:
        mean = torch.mean(x, dim=axes, keepdim=True)
        variance = torch.mean(torch.square(x), dim=axes, keepdim=True) - torch.square(mean)
        inv = torch.rsqrt(variance + epsilon)
        if gamma is not None:
            inv = inv * gamma.reshape(shape)
        shift = -mean * inv
        if beta is not None:
            shift = shift + beta.reshape(shape)
        out = x * inv + shift
    return cast(out, dtype)


def rms_normalization(
    x: Any, scale: Any = None, axis: int | tuple[int, ...] = -1, epsilon: float | None = None
) -> torch.Tensor:
    """`x * rsqrt(mean(x^2 over axis) + epsilon) * scale`, computed in float32 at least."""
    epsilon = EPSILON if epsilon is None else epsilon
    x, dtype = _compute_float(x)
    if x.ndim == 0:
        x = x.unsqueeze(0)
    axes = _normalized_axes(axis, x.ndim)
    scale = None if scale is None else as_tensor(scale, x.dtype, x.device)
    if axes == list(range(x.ndim - len(axes), x.ndim)):
        out = F.rms_norm(x, tuple(x.shape[a] for a in axes), scale, epsilon)
    else:
        out = x * torch.rsqrt(torch.mean(torch.square(x), dim=axes, keepdim=True) + epsilon)
        if scale is not None:
            out = out * scale
    return cast(out, dtype)


# --------------------------------------------------------------------- attention
def dot_product_attention(
    query: Any, key: Any, value: Any, bias: Any = None, mask: Any = None, scale: Any = None,
    is_causal: bool = False, flash_attention: bool | None = None,
    attn_logits_soft_cap: float | None = None,
) -> torch.Tensor:  # fmt: skip
    """Scaled dot-product attention on `(batch, length, heads, head_dim)` tensors.

    `mask` (bool, True = attend) or `bias` (added to the logits), not both; `is_causal`
    masks future keys; fewer key/value heads than query heads are repeated (grouped-query
    attention). `scale` defaults to `1 / sqrt(head_dim)`.
    """
    fn = "dot_product_attention"
    if attn_logits_soft_cap is not None:
        raise NotImplementedError(
            f"{fn}: attn_logits_soft_cap is not supported. "
            f"Received: attn_logits_soft_cap={attn_logits_soft_cap!r}"
        )
    query, key, value = tensors(query, key, value)
    if query.ndim != 4 or key.ndim != 4 or value.ndim != 4:
        raise ValueError(
            f"{fn}: only 4D inputs are supported. Received: query.shape={tuple(query.shape)}, "
            f"key.shape={tuple(key.shape)}, value.shape={tuple(value.shape)}"
        )
    if bias is not None and mask is not None:
        raise ValueError(f"{fn}: only one of `bias` and `mask` can be provided. Received both.")
    dtype = result_type(query.dtype, key.dtype, value.dtype)
    query, key, value = (cast(t, dtype) for t in (query, key, value))
    attn_mask = None
    if mask is not None:
        mask = as_tensor(mask, "bool", query.device)
        if is_causal:
            causal = torch.ones(query.shape[1], key.shape[1], dtype=torch.bool, device=mask.device)
            mask = mask & torch.tril(causal)
        is_causal = False
        large_negative = -0.7 * (65500.0 if dtype == "float16" else 3.38953e38)
        attn_mask = torch.where(mask, 0.0, as_tensor(large_negative, dtype, mask.device))
    if bias is not None:
        attn_mask = as_tensor(bias, dtype, query.device)
    query, key, value = (t.transpose(1, 2) for t in (query, key, value))
    heads, kv_heads = query.shape[1], key.shape[1]
    if heads > kv_heads > 1:
        key = key.repeat_interleave(heads // kv_heads, dim=1)
        value = value.repeat_interleave(heads // kv_heads, dim=1)
    if flash_attention:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        with sdpa_kernel(backends=[SDPBackend.FLASH_ATTENTION]):
            out = F.scaled_dot_product_attention(
                query, key, value, attn_mask=attn_mask, is_causal=is_causal, scale=scale
            )
    else:
        out = F.scaled_dot_product_attention(
            query.contiguous(), key.contiguous(), value.contiguous(),
            attn_mask=None if attn_mask is None else attn_mask.contiguous(),
            is_causal=is_causal, scale=scale,
        )  # fmt: skip
    return out.transpose(1, 2)


# --------------------------------------------------------------------- CTC
def ctc_loss(
    target: Any, output: Any, target_length: Any, output_length: Any, mask_index: int = 0
) -> torch.Tensor:
    """Per-sample CTC loss of logits `output` `(batch, time, classes)` against integer
    labels `target` `(batch, max_label_length)`; `mask_index` is the blank class."""
    output = as_tensor(output)
    target, target_length, output_length = (
        as_tensor(v, device=output.device) for v in (target, target_length, output_length)
    )
    for name, value in (("target", target), ("target_length", target_length),
                        ("output_length", output_length)):  # fmt: skip
        if value.ndim == 0 or value.shape[0] != output.shape[0]:
            raise ValueError(
                f"ctc_loss: `{name}` and `output` must have the same first dimension. "
                f"Received: {name}.shape={tuple(value.shape)}, output.shape={tuple(output.shape)}"
            )
    output = cast(output, result_type(output.dtype, "float32"))
    log_probs = F.log_softmax(output.transpose(0, 1), dim=-1)
    return F.ctc_loss(
        log_probs, target, output_length, target_length, blank=mask_index, reduction="none"
    )


def ctc_decode(
    inputs: Any, sequence_lengths: Any, strategy: str = "greedy", beam_width: int = 100,
    top_paths: int = 1, merge_repeated: bool = True, mask_index: int | None = 0,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Decodes CTC outputs `(batch, time, classes)` greedily (best class per step) or by
    beam search.

    Greedy returns `(decoded, scores)`: `decoded` `(1, batch, time)` int32 labels, blanks and
    repeats removed and the rest padded with -1; `scores` `(batch, 1)`, the negated sum of
    the per-step maxima. `strategy="beam_search"` keeps `beam_width` label prefixes and
    returns the `top_paths` best, `(top_paths, batch, time)`, with their log-probabilities
    `(batch, top_paths)` (repeats are always merged unless a blank separates them).
    """
    if strategy not in ("greedy", "beam_search"):
        raise ValueError(
            "ctc_decode: invalid strategy. Supported values are 'greedy' and 'beam_search'. "
            f"Received: strategy={strategy!r}"
        )
    x = as_tensor(inputs)
    x = cast(x, result_type(x.dtype, "float32"))
    lengths = as_tensor(sequence_lengths, "int32", x.device)
    if strategy == "beam_search":
        from convolve.ops._ctc_beam import ctc_beam_search_decode

        return ctc_beam_search_decode(x, lengths, beam_width, top_paths, mask_index)
    batch, steps, classes = x.shape
    mask_index = classes - 1 if mask_index is None else mask_index
    scores, indices = torch.max(x, dim=-1)
    indices = indices.int()
    beyond = torch.arange(steps, device=x.device)[None, :] >= lengths[:, None]
    indices = torch.where(beyond, mask_index, indices)
    scores = torch.where(beyond, 0.0, scores)
    if merge_repeated:
        repeat = F.pad(indices[:, 1:] == indices[:, :-1], (1, 0))
        indices = torch.where(repeat, mask_index, indices)
    blank = indices == mask_index
    indices = torch.where(blank, -1, indices)
    order = torch.arange(steps, device=x.device).expand(batch, steps)
    order = torch.argsort(torch.where(blank, steps, order), dim=-1, stable=True)
    indices = torch.take_along_dim(indices, order, dim=-1)
    return indices[None], -torch.sum(scores, dim=1)[:, None]


# --------------------------------------------------------------------- others
def psnr(x1: Any, x2: Any, max_val: Any) -> torch.Tensor:
    """Peak signal-to-noise ratio (dB) of `x2` against `x1`, over all elements."""
    x1, x2 = tensors(x1, x2)
    if x1.shape != x2.shape:
        raise ValueError(f"psnr: input shapes {tuple(x1.shape)} and {tuple(x2.shape)} must match.")
    max_val = as_tensor(max_val, x1.dtype, x1.device)
    return 20 * torch.log10(max_val) - 10 * torch.log10(torch.mean((x1 - x2) ** 2))


def polar(abs_: Any, angle: Any) -> torch.Tensor:
    """The complex tensor `abs_ * (cos(angle) + i sin(angle))`."""
    abs_, angle = tensors(abs_, angle)
    real, imaginary = abs_ * torch.cos(angle), abs_ * torch.sin(angle)
    if real.dtype not in (torch.float32, torch.float64):
        real, imaginary = real.float(), imaginary.float()
    return torch.complex(real, imaginary)


def unfold(
    x: Any, kernel_size: int | tuple[int, int], dilation: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0, stride: int | tuple[int, int] = 1,
) -> torch.Tensor:  # fmt: skip
    """Sliding blocks of a channels-first image batch `(N, C, H, W)` as columns
    `(N, C * kh * kw, blocks)` (im2col)."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"unfold: input must be a 4D tensor. Received: x.shape={tuple(x.shape)}")
    return F.unfold(x, kernel_size, dilation=dilation, padding=padding, stride=stride)


def fold(
    x: Any, output_size: int | tuple[int, int], kernel_size: int | tuple[int, int],
    dilation: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
    stride: int | tuple[int, int] = 1,
) -> torch.Tensor:  # fmt: skip
    """Sums columns `(N, C * kh * kw, blocks)` back into images `(N, C, *output_size)`
    (col2im, the adjoint of `unfold`)."""
    x = as_tensor(x)
    if x.ndim != 3:
        raise ValueError(f"fold: input must be a 3D tensor. Received: x.shape={tuple(x.shape)}")
    return F.fold(x, output_size, kernel_size, dilation=dilation, padding=padding, stride=stride)


def _block_arguments(x: Any, block_size: Any, data_format: Any, fn: str) -> tuple:
    data_format = _data_format(data_format, fn)
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"{fn}: requires a 4D input tensor. Received: x.shape={tuple(x.shape)}")
    if not cu.is_int(block_size) or block_size < 1:
        raise ValueError(f"{fn}: block_size must be a positive int. Received: {block_size!r}")
    return x, int(block_size), data_format


def depth_to_space(x: Any, block_size: int, data_format: str = "channels_last") -> torch.Tensor:
    """Moves channel blocks into `block_size x block_size` spatial blocks.

    Channels-last input is read as depth `(block row, block column, channel)` (TensorFlow's
    order); channels-first input as `(channel, block row, block column)`, as Keras's torch
    backend does.
    """
    fn = "depth_to_space"
    x, b, data_format = _block_arguments(x, block_size, data_format, fn)
    last = data_format == "channels_last"
    n, h, w, c = x.shape if last else (x.shape[0], *x.shape[2:], x.shape[1])
    if c % (b * b):
        raise ValueError(
            f"{fn}: the number of channels ({c}) must be divisible by block_size**2 ({b * b})."
        )
    if last:
        out = x.reshape(n, h, w, b, b, c // (b * b)).permute(0, 1, 3, 2, 4, 5)
        return out.reshape(n, h * b, w * b, c // (b * b))
    out = x.reshape(n, c // (b * b), b, b, h, w).permute(0, 1, 4, 2, 5, 3)
    return out.reshape(n, c // (b * b), h * b, w * b)


def space_to_depth(x: Any, block_size: int, data_format: str = "channels_last") -> torch.Tensor:
    """Moves `block_size x block_size` spatial blocks into channels (the inverse of
    `depth_to_space`, with the same channel orders)."""
    fn = "space_to_depth"
    x, b, data_format = _block_arguments(x, block_size, data_format, fn)
    last = data_format == "channels_last"
    n, h, w, c = x.shape if last else (x.shape[0], *x.shape[2:], x.shape[1])
    if h % b or w % b:
        raise ValueError(
            f"{fn}: height ({h}) and width ({w}) must be divisible by block_size ({b})."
        )
    if last:
        out = x.reshape(n, h // b, b, w // b, b, c).permute(0, 1, 3, 2, 4, 5)
        return out.reshape(n, h // b, w // b, c * b * b)
    out = x.reshape(n, c, h // b, b, w // b, b).permute(0, 1, 3, 5, 2, 4)
    return out.reshape(n, c * b * b, h // b, w // b)
