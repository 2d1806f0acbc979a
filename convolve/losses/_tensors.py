"""Tensor conversion, shape alignment and shape errors shared by losses and metrics."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch

from convolve.optimizers._checks import ArgumentChecker, is_int

#: Keras's `backend.epsilon()`: the clip bound for probabilities and the floor of divisors.
EPSILON = 1e-7


def auto_name(class_name: str) -> str:
    # Shares the process-wide counter with layers, as Keras does: `precision`, `precision_1`.
    from convolve.layers.naming import to_snake_case, unique_name

    return unique_name(to_snake_case(class_name))


def torch_dtype(dtype: Any) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    name = getattr(dtype, "name", dtype)  # numpy dtypes and dtype-like objects
    resolved = getattr(torch, str(name), None)
    if not isinstance(resolved, torch.dtype):
        raise ValueError(f"Invalid dtype: expected a torch dtype or its name; received {dtype!r}.")
    return resolved


_POLICY_COMPUTE_DTYPES = {"mixed_float16": torch.float16, "mixed_bfloat16": torch.bfloat16}


def compute_dtype(dtype: Any) -> torch.dtype:
    """The dtype a loss or metric computes in: `dtype` itself, or a dtype policy's compute dtype.

    Accepts what `torch_dtype` accepts, plus policy names (`"mixed_float16"`) and policy
    objects (anything with a `compute_dtype`), as Keras's losses and metrics do.
    """
    policy_dtype = getattr(dtype, "compute_dtype", None)
    if isinstance(policy_dtype, str):
        return torch_dtype(policy_dtype)
    if isinstance(dtype, str) and dtype in _POLICY_COMPUTE_DTYPES:
        return _POLICY_COMPUTE_DTYPES[dtype]
    return torch_dtype(dtype)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def to_tensor(x: Any, dtype: torch.dtype | None = None, like: torch.Tensor | None = None):
    """`x` as a tensor (cast to `dtype` if given) on the device of `like`."""
    if isinstance(x, torch.Tensor):
        if like is not None and x.device != like.device:
            x = x.to(like.device)
        return x if dtype is None or x.dtype == dtype else x.to(dtype)
    device = like.device if like is not None else None
    if isinstance(x, np.ndarray) and any(stride < 0 for stride in x.strides):
        # torch cannot view reversed arrays (`y[::-1]`, `np.flip(y)`); only those are copied.
        x = x.copy()
    if isinstance(x, np.ndarray) or dtype is not None:
        return torch.as_tensor(x, dtype=dtype, device=device)
    return torch.as_tensor(x, device=device)


def float_tensor(x: Any, like: torch.Tensor | None = None) -> torch.Tensor:
    """A tensor that keeps a floating dtype, promoting integers and booleans to float32."""
    t = to_tensor(x, like=like)
    return t if t.is_floating_point() else t.to(torch.float32)


def divide_no_nan(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # Keras's divide_no_nan: 0 where the divisor is 0, with a safe divisor so gradients stay finite.
    zero = y == 0
    return torch.where(zero, 0.0, x / torch.where(zero, torch.ones_like(y), y))


def shape_of(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def squeeze_or_expand_to_same_rank(
    x1: torch.Tensor, x2: torch.Tensor, expand_rank_1: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Aligns ranks that differ by one through a trailing axis of size 1, as Keras does.

    Args:
        x1: First tensor.
        x2: Second tensor.
        expand_rank_1: If the other tensor is rank 1, expand it instead of squeezing.

    Returns:
        The two tensors, with equal ranks where a size-1 trailing axis allowed it.
    """
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2.unsqueeze(-1)
        else:
            x1 = x1.squeeze(-1)
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1.unsqueeze(-1)
        else:
            x2 = x2.squeeze(-1)
    return x1, x2


def clip_probabilities(p: torch.Tensor) -> torch.Tensor:
    return torch.clip(p, EPSILON, 1.0 - EPSILON)


def shape_error(loss: str, expected: str, y_true: torch.Tensor, y_pred: torch.Tensor, hint=""):
    message = (
        f"{loss}: expected {expected}; received y_true.shape={shape_of(y_true)}, "
        f"y_pred.shape={shape_of(y_pred)}."
    )
    return ValueError(f"{message} {hint}".rstrip())


def check_same_shape(loss: str, y_true: torch.Tensor, y_pred: torch.Tensor) -> None:
    if y_true.shape == y_pred.shape:
        return
    hint = ""
    if (
        y_pred.ndim >= 1
        and y_pred.shape[-1] > 1
        and shape_of(y_true)
        in (
            shape_of(y_pred)[:-1],
            shape_of(y_pred)[:-1] + (1,),
        )
    ):
        hint = (
            "y_true looks like integer class labels; use sparse_categorical_crossentropy "
            "for integer labels, or one-hot encode them."
        )
    raise shape_error(loss, "y_true and y_pred of the same shape", y_true, y_pred, hint)


def check_broadcastable(loss: str, y_true: torch.Tensor, y_pred: torch.Tensor) -> None:
    try:
        torch.broadcast_shapes(y_true.shape, y_pred.shape)
    except RuntimeError:
        raise shape_error(
            loss,
            "y_true and y_pred of the same (or broadcastable) shape",
            y_true,
            y_pred,
        ) from None


def no_autocast(t: torch.Tensor):
    # F.binary_cross_entropy refuses to run under autocast; compute it in full precision there.
    device_type = t.device.type
    if torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def sparse_inputs(
    name: str, y_true: torch.Tensor, y_pred: torch.Tensor, axis: int
) -> tuple[torch.Tensor, int]:
    """Squeezes a trailing label axis of size 1 and checks shapes; returns labels, class axis."""
    if y_pred.ndim < 1:
        raise shape_error(name, "y_pred of rank >= 1 (..., num_classes)", y_true, y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = y_true.squeeze(axis)
    class_axis = axis % y_pred.ndim
    expected = shape_of(y_pred)[:class_axis] + shape_of(y_pred)[class_axis + 1 :]
    if shape_of(y_true) != expected:
        hint = ""
        if y_true.shape == y_pred.shape:
            hint = "y_true looks one-hot encoded; use categorical_crossentropy for one-hot labels."
        raise shape_error(
            name,
            f"integer labels of shape {expected} (y_pred's shape without the class axis)",
            y_true,
            y_pred,
            hint,
        )
    return y_true, class_axis


def regression_inputs(y_true: Any, y_pred: Any, name: str):
    y_pred = float_tensor(y_pred)
    y_true = to_tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    check_broadcastable(name, y_true, y_pred)
    return y_true, y_pred


def l2_normalize(x: torch.Tensor, axis: int) -> torch.Tensor:
    # Keras's form: x * min(rsqrt(sum(x**2)), 1 / EPSILON).
    inv_norm = torch.rsqrt(torch.square(x).sum(dim=axis, keepdim=True))
    return x * torch.clamp(inv_norm, max=1.0 / EPSILON)


def check_axis(check: ArgumentChecker, axis: Any, *, several: bool = False) -> None:
    if several:
        ok = axis is None or is_int(axis)
        if isinstance(axis, list | tuple):
            ok = all(is_int(a) for a in axis)
        if not ok:
            check.fail("axis", axis, "must be None, an int or a tuple of ints")
    elif not is_int(axis):
        check.fail("axis", axis, "must be an int")
