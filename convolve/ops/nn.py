"""Neural-network functions: activations, softmax, one-hot encoding, crossentropies, moments.

The crossentropies are Keras's per-sample functions (no reduction): probabilities are clipped
to `[1e-7, 1 - 1e-7]`, and categorical probabilities renormalised along `axis` before the log.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from convolve.ops._dtypes import EPSILON, FLOATX, standardize_dtype
from convolve.ops.core import as_tensor, cast, tensors

__all__ = [
    "binary_crossentropy", "categorical_crossentropy", "elu", "gelu", "hard_sigmoid",
    "leaky_relu", "log_sigmoid", "log_softmax", "moments", "multi_hot", "normalize", "one_hot",
    "relu", "relu6", "selu", "sigmoid", "silu", "softmax", "softplus", "softsign",
    "sparse_categorical_crossentropy", "swish",
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
