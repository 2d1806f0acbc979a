"""Loss functions and classes with Keras 3 names, defaults and numerics.

Every loss takes `y_true` and `y_pred` as torch tensors in Keras's layout (channels last) and
reproduces Keras's arithmetic: probabilities are clipped to `[EPSILON, 1 - EPSILON]` with
`EPSILON = 1e-7`, categorical probabilities are renormalised before the log, and reductions
divide the summed loss by the number of loss elements (`"sum_over_batch_size"`).

Nothing here reads tensor values on the host, so losses never synchronise host and device.
Checks that need values (class labels in range) live in `check_targets`, which a training loop
calls once on its first batch.

Example:
    >>> import torch
    >>> from convolve import losses
    >>> loss = losses.SparseCategoricalCrossentropy()
    >>> y_true = torch.tensor([1, 2])
    >>> y_pred = torch.tensor([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    >>> round(float(loss(y_true, y_pred)), 4)
    1.1769
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from convolve.optimizers._checks import ArgumentChecker, is_int, is_real

__all__ = [
    "EPSILON",
    "REDUCTIONS",
    "Loss",
    "LossFunctionWrapper",
    "SparseCategoricalCrossentropy",
    "CategoricalCrossentropy",
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalFocalCrossentropy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "Huber",
    "LogCosh",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "KLDivergence",
    "Poisson",
    "CosineSimilarity",
    "Dice",
    "Tversky",
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "huber",
    "log_cosh",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "kl_divergence",
    "poisson",
    "cosine_similarity",
    "dice",
    "tversky",
    "mse",
    "mae",
    "mape",
    "msle",
    "kld",
    "logcosh",
    "get",
    "serialize",
    "deserialize",
    "resolve_loss",
    "check_targets",
]

#: Keras's `backend.epsilon()`: the clip bound for probabilities and the floor of divisors.
EPSILON = 1e-7

#: Accepted values of the `reduction` argument.
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)

# float32(log(2)) exactly as torch computes it, so log_cosh subtracts the same constant as Keras.
_LOG2 = float(torch.log(torch.tensor(2.0)))


# ----------------------------------------------------------------------------- helpers


def _auto_name(class_name: str) -> str:
    # Shares the process-wide counter with layers, as Keras does: `precision`, `precision_1`.
    from convolve.layers.naming import to_snake_case, unique_name

    return unique_name(to_snake_case(class_name))


def _torch_dtype(dtype: Any) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    name = getattr(dtype, "name", dtype)  # numpy dtypes and dtype-like objects
    resolved = getattr(torch, str(name), None)
    if not isinstance(resolved, torch.dtype):
        raise ValueError(f"Invalid dtype: expected a torch dtype or its name; received {dtype!r}.")
    return resolved


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _tensor(x: Any, dtype: torch.dtype | None = None, like: torch.Tensor | None = None):
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


def _float_tensor(x: Any, like: torch.Tensor | None = None) -> torch.Tensor:
    """A tensor that keeps a floating dtype, promoting integers and booleans to float32."""
    t = _tensor(x, like=like)
    return t if t.is_floating_point() else t.to(torch.float32)


def _divide_no_nan(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # Keras's divide_no_nan: 0 where the divisor is 0, with a safe divisor so gradients stay finite.
    zero = y == 0
    return torch.where(zero, 0.0, x / torch.where(zero, torch.ones_like(y), y))


def _shape(t: torch.Tensor) -> tuple[int, ...]:
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


def standardize_reduction(reduction: str | None) -> str | None:
    """Validates `reduction` and returns it unchanged."""
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"Invalid value for argument `reduction`: expected one of {list(REDUCTIONS)}; "
            f"received reduction={reduction!r}."
        )
    return reduction


def apply_mask(
    sample_weight: torch.Tensor | None,
    mask: torch.Tensor | None,
    dtype: torch.dtype,
    reduction: str | None,
) -> torch.Tensor | None:
    """Folds a boolean mask of valid loss entries into the sample weights, as Keras does.

    For mean reductions the valid entries get weight `total / valid`, so that dividing by the
    number of entries later yields the mean over valid entries only.
    """
    if mask is None:
        return sample_weight
    if reduction in ("mean", "sum_over_batch_size"):
        total = float(mask.numel())
        valid = mask.to(dtype).sum()
        mask_weight = _divide_no_nan(torch.full_like(valid, total), valid)
        float_mask = torch.where(mask.bool(), mask_weight, 0.0)
    else:
        float_mask = mask.to(dtype)
    if sample_weight is None:
        return float_mask
    sample_weight = sample_weight.to(dtype)
    float_mask, sample_weight = squeeze_or_expand_to_same_rank(float_mask, sample_weight)
    _check_weight_shape(float_mask, sample_weight)
    return sample_weight * float_mask


def _check_weight_shape(values: torch.Tensor, sample_weight: torch.Tensor) -> None:
    try:
        torch.broadcast_shapes(values.shape, sample_weight.shape)
    except RuntimeError:
        per_sample = _shape(values)[:1] + (1,) * (values.ndim - 1)
        raise ValueError(
            f"sample_weight of shape {_shape(sample_weight)} does not broadcast against the "
            f"per-sample losses of shape {_shape(values)}; give one weight per sample with "
            f"trailing axes of size 1, {per_sample}, or one weight per entry, {_shape(values)}."
        ) from None


def reduce_values(
    values: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    reduction: str | None = "sum_over_batch_size",
) -> torch.Tensor:
    """Reduces (already weighted) per-sample losses to a scalar."""
    if reduction is None or reduction == "none" or values.ndim == 0 or _shape(values) == (0,):
        return values
    loss = values.sum()
    if reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
        if reduction == "mean_with_sample_weight" and sample_weight is not None:
            loss = _divide_no_nan(loss, sample_weight.sum().to(loss.dtype))
        else:
            count = values.numel()
            # Keras divides by the element count cast to the loss dtype (exact below 2**24).
            loss = loss / float(count) if count else torch.zeros_like(loss)
    return loss


def reduce_weighted_values(
    values: torch.Tensor,
    sample_weight: Any = None,
    mask: torch.Tensor | None = None,
    reduction: str | None = "sum_over_batch_size",
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Weights per-sample losses (sample weights broadcast like Keras) and reduces them.

    Args:
        values: Per-sample losses.
        sample_weight: Optional weights; a trailing size-1 axis is squeezed or added to
            match the rank of `values`, then they broadcast.
        mask: Optional boolean mask of valid entries (from `ignore_class`).
        reduction: One of `REDUCTIONS`.
        dtype: Dtype of the computation; defaults to that of `values`.

    Returns:
        The reduced loss (a 0-dim tensor unless `reduction` is `None`/`"none"`).
    """
    reduction = standardize_reduction(reduction)
    dtype = dtype or values.dtype
    values = values.to(dtype)
    if sample_weight is not None:
        sample_weight = _tensor(sample_weight, dtype=dtype, like=values)
    sample_weight = apply_mask(sample_weight, mask, dtype, reduction)
    if sample_weight is not None:
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        _check_weight_shape(values, sample_weight)
        values = values * sample_weight
    return reduce_values(values, sample_weight, reduction)


def _clip_probabilities(p: torch.Tensor) -> torch.Tensor:
    return torch.clip(p, EPSILON, 1.0 - EPSILON)


def _shape_error(loss: str, expected: str, y_true: torch.Tensor, y_pred: torch.Tensor, hint=""):
    message = (
        f"{loss}: expected {expected}; received y_true.shape={_shape(y_true)}, "
        f"y_pred.shape={_shape(y_pred)}."
    )
    return ValueError(f"{message} {hint}".rstrip())


def _check_same_shape(loss: str, y_true: torch.Tensor, y_pred: torch.Tensor) -> None:
    if y_true.shape == y_pred.shape:
        return
    hint = ""
    if (
        y_pred.ndim >= 1
        and y_pred.shape[-1] > 1
        and _shape(y_true)
        in (
            _shape(y_pred)[:-1],
            _shape(y_pred)[:-1] + (1,),
        )
    ):
        hint = (
            "y_true looks like integer class labels; use sparse_categorical_crossentropy "
            "for integer labels, or one-hot encode them."
        )
    raise _shape_error(loss, "y_true and y_pred of the same shape", y_true, y_pred, hint)


def _check_broadcastable(loss: str, y_true: torch.Tensor, y_pred: torch.Tensor) -> None:
    try:
        torch.broadcast_shapes(y_true.shape, y_pred.shape)
    except RuntimeError:
        raise _shape_error(
            loss, "y_true and y_pred of the same (or broadcastable) shape", y_true, y_pred
        ) from None


def _no_autocast(t: torch.Tensor):
    # F.binary_cross_entropy refuses to run under autocast; compute it in full precision there.
    device_type = t.device.type
    if torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


# ----------------------------------------------------------------------------- functions


def _sparse_inputs(
    name: str, y_true: torch.Tensor, y_pred: torch.Tensor, axis: int
) -> tuple[torch.Tensor, int]:
    """Squeezes a trailing label axis of size 1 and checks shapes; returns labels, class axis."""
    if y_pred.ndim < 1:
        raise _shape_error(name, "y_pred of rank >= 1 (..., num_classes)", y_true, y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = y_true.squeeze(axis)
    class_axis = axis % y_pred.ndim
    expected = _shape(y_pred)[:class_axis] + _shape(y_pred)[class_axis + 1 :]
    if _shape(y_true) != expected:
        hint = ""
        if y_true.shape == y_pred.shape:
            hint = "y_true looks one-hot encoded; use categorical_crossentropy for one-hot labels."
        raise _shape_error(
            name,
            f"integer labels of shape {expected} (y_pred's shape without the class axis)",
            y_true,
            y_pred,
            hint,
        )
    return y_true, class_axis


def _sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-sample sparse crossentropy and, with `ignore_class`, the mask of valid entries."""
    y_pred = _float_tensor(y_pred)
    y_true = _tensor(y_true, like=y_pred)
    y_true, class_axis = _sparse_inputs("sparse_categorical_crossentropy", y_true, y_pred, axis)
    if y_true.is_floating_point():
        # Keras first casts targets to the loss dtype, then truncates them to integers.
        labels = y_true.to(y_pred.dtype).long()
    else:
        labels = y_true.long()
    valid = None
    if ignore_class is not None:
        valid = labels != ignore_class
        labels = torch.where(valid, labels, 0)
        y_pred = torch.where(valid.unsqueeze(class_axis), y_pred, 0.0)

    if from_logits:
        # Fused log_softmax + nll, which wants the class axis at position 1.
        squeeze = y_pred.ndim == 1
        if squeeze:
            y_pred, labels = y_pred.unsqueeze(0), labels.unsqueeze(0)
        elif class_axis != 1:
            y_pred = y_pred.movedim(class_axis, 1)
        result = F.cross_entropy(y_pred, labels, reduction="none")
        if squeeze:
            result = result.squeeze(0)
    else:
        # Keras's renormalise-clip-log, then the target's term. Gathering along the class
        # axis in place avoids moving it (nll_loss's backward rejects the strided layout).
        probs = _clip_probabilities(y_pred / y_pred.sum(dim=class_axis, keepdim=True))
        picked = probs.gather(class_axis, labels.unsqueeze(class_axis)).squeeze(class_axis)
        result = -torch.log(picked)
    if valid is not None:
        result = torch.where(valid, result, 0.0)
    return result, valid


def sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> torch.Tensor:
    """Crossentropy between integer class labels and predicted class scores.

    Args:
        y_true: Integer labels (integer or float tensor), shape of `y_pred` without the class
            axis, optionally with a trailing axis of size 1.
        y_pred: Class probabilities, or logits if `from_logits`.
        from_logits: Whether `y_pred` holds logits (uses torch's fused log_softmax + nll).
        ignore_class: Label whose entries contribute zero loss (and are masked out of the
            mean in the `SparseCategoricalCrossentropy` class).
        axis: The class axis of `y_pred`.

    Returns:
        Per-sample losses, the shape of `y_true`.

    Raises:
        ValueError: If the shapes of `y_true` and `y_pred` do not fit together. Label values
            are not checked here (that needs a host sync); see `check_targets`.
    """
    return _sparse_categorical_crossentropy(y_true, y_pred, from_logits, ignore_class, axis)[0]


def categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    """Crossentropy between one-hot (or soft) labels and predicted class scores.

    Probabilities are renormalised to sum to one along `axis` and clipped to
    `[EPSILON, 1 - EPSILON]` before the log, as in Keras.

    Args:
        y_true: One-hot or soft labels, same shape as `y_pred`.
        y_pred: Class probabilities, or logits if `from_logits`.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Mixes the labels with the uniform distribution over classes:
            `y * (1 - s) + s / num_classes`.
        axis: The class axis.

    Returns:
        Per-sample losses, `y_pred`'s shape without `axis`.
    """
    if isinstance(axis, bool):
        raise ValueError(f"`axis` must be an int; received axis={axis!r} of type {type(axis)}.")
    y_pred = _float_tensor(y_pred)
    y_true = _tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    name = "categorical_crossentropy"
    if y_pred.ndim < 1:
        raise _shape_error(name, "tensors of rank >= 1", y_true, y_pred)
    _check_same_shape(name, y_true, y_pred)
    if y_pred.shape[-1] == 1:
        warnings.warn(
            f"In loss categorical_crossentropy, expected y_pred.shape to be "
            f"(batch_size, num_classes) with num_classes > 1; received y_pred.shape="
            f"{_shape(y_pred)}. Consider using binary_crossentropy for two classes.",
            SyntaxWarning,
            stacklevel=2,
        )
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + _smoothing_share(
            float(label_smoothing), y_true.shape[-1]
        )
    if from_logits:
        log_prob = F.log_softmax(y_pred, dim=axis)
    else:
        probs = _clip_probabilities(y_pred / y_pred.sum(dim=axis, keepdim=True))
        log_prob = torch.log(probs)
    return -(y_true * log_prob).sum(dim=axis)


@functools.lru_cache(maxsize=64)
def _smoothing_share(label_smoothing: float, num_classes: int) -> float:
    # s / num_classes as Keras evaluates it: a float32 division done by torch on the host.
    return float(label_smoothing / torch.tensor(float(num_classes)))


def _binary_crossentropy_elementwise(
    y_true: torch.Tensor, y_pred: torch.Tensor, from_logits: bool
) -> torch.Tensor:
    with _no_autocast(y_pred):
        if from_logits:
            return F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
        # torch's CPU kernel, written out: `F.binary_cross_entropy` refuses values outside
        # [0, 1] (a NaN prediction, a bad target after the first batch) with a RuntimeError,
        # and on CUDA with a device-side assert; this gives NaN as Keras-TensorFlow does.
        p = _clip_probabilities(y_pred)
        return (y_true - 1) * torch.log1p(-p).clamp_min(-100) - y_true * torch.log(p).clamp_min(
            -100
        )


def binary_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    """Binary crossentropy, averaged over `axis`.

    Args:
        y_true: Targets in `[0, 1]`, same shape as `y_pred`.
        y_pred: Probabilities (clipped to `[EPSILON, 1 - EPSILON]`), or logits.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Squeezes targets towards 0.5: `y * (1 - s) + 0.5 * s`.
        axis: The axis the mean is taken over.

    Returns:
        Per-sample losses, `y_pred`'s shape without `axis`.
    """
    y_pred = _float_tensor(y_pred)
    y_true = _tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    _check_same_shape("binary_crossentropy", y_true, y_pred)
    return _binary_crossentropy_elementwise(y_true, y_pred, from_logits).mean(dim=axis)


def binary_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    """Binary focal crossentropy (Lin et al., 2018), averaged over `axis`.

    Args:
        y_true: Targets in `[0, 1]`, same shape as `y_pred`.
        y_pred: Probabilities, or logits if `from_logits`.
        apply_class_balancing: Weight class 1 by `alpha` and class 0 by `1 - alpha`.
        alpha: Balancing weight of class 1.
        gamma: Focusing exponent of `(1 - p_t)`.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Squeezes targets towards 0.5.
        axis: The axis the mean is taken over.

    Returns:
        Per-sample losses, `y_pred`'s shape without `axis`.
    """
    y_pred = _float_tensor(y_pred)
    y_true = _tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    _check_same_shape("binary_focal_crossentropy", y_true, y_pred)
    if from_logits:
        y_pred = torch.sigmoid(y_pred)
    bce = _binary_crossentropy_elementwise(y_true, y_pred, from_logits=False)
    p_t = y_true * y_pred + (1 - y_true) * (1 - y_pred)
    focal_bce = torch.pow(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal_bce = (y_true * alpha + (1 - y_true) * (1 - alpha)) * focal_bce
    return focal_bce.mean(dim=axis)


def _is_real_number(value: Any) -> bool:
    return is_real(value) and math.isfinite(float(value))


def _alpha_values(alpha: Any) -> float | tuple[float, ...] | None:
    """`alpha` as a float or a tuple of per-class floats (all >= 0); None if invalid."""
    if isinstance(alpha, torch.Tensor):
        alpha = alpha.detach().cpu().numpy()
    if isinstance(alpha, np.ndarray):
        alpha = alpha.item() if alpha.ndim == 0 else alpha.tolist()
    if isinstance(alpha, list | tuple):
        if not alpha or not all(_is_real_number(a) and a >= 0 for a in alpha):
            return None
        return tuple(float(a) for a in alpha)
    if _is_real_number(alpha) and alpha >= 0:
        return float(alpha)
    return None


def _check_axis(check: ArgumentChecker, axis: Any, *, several: bool = False) -> None:
    if several:
        ok = axis is None or is_int(axis)
        if isinstance(axis, list | tuple):
            ok = all(is_int(a) for a in axis)
        if not ok:
            check.fail("axis", axis, "must be None, an int or a tuple of ints")
    elif not is_int(axis):
        check.fail("axis", axis, "must be an int")


def _check_focal_arguments(
    owner: str, alpha: Any, gamma: Any, from_logits: Any, label_smoothing: Any, axis: Any
) -> None:
    check = ArgumentChecker(owner)
    if _alpha_values(alpha) is None:
        check.fail(
            "alpha",
            alpha,
            "must be a float >= 0 or a non-empty list of floats >= 0 (one per class)",
        )
    check.real("gamma", gamma, low=0)
    check.boolean("from_logits", from_logits)
    check.real("label_smoothing", label_smoothing, low=0, high=1)
    _check_axis(check, axis)
    check.raise_if_any()


@functools.lru_cache(maxsize=64)
def _constant(value: float | tuple[float, ...], dtype: torch.dtype, device: torch.device):
    # Built once per device: no host-to-device copy in the per-step path.
    return torch.tensor(value, dtype=dtype, device=device)


def categorical_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    alpha: float | list[float] = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    """Categorical focal crossentropy (Lin et al., 2018), summed over the class axis.

    With `p` the renormalised, clipped probabilities, each class contributes
    `alpha * (1 - p) ** gamma * -y_true * log(p)`, as in Keras.

    Args:
        y_true: One-hot (or soft) labels, same shape as `y_pred`.
        y_pred: Class probabilities, or logits if `from_logits`.
        alpha: Weight of every class, or a list with one weight per class (along `axis`).
        gamma: Focusing exponent of `(1 - p)`; 0 gives alpha-weighted crossentropy.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Mixes the labels with the uniform distribution over classes:
            `y * (1 - s) + s / num_classes`.
        axis: The class axis.

    Returns:
        Per-sample losses, `y_pred`'s shape without `axis`.

    Example:
        >>> y_true = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> y_pred = torch.tensor([[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]])
        >>> categorical_focal_crossentropy(y_true, y_pred)
        tensor([2.6340e-04, 6.7591e-01])
    """
    name = "categorical_focal_crossentropy"
    _check_focal_arguments(name, alpha, gamma, from_logits, label_smoothing, axis)
    y_pred = _float_tensor(y_pred)
    y_true = _tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    if y_pred.ndim < 1:
        raise _shape_error(name, "tensors of rank >= 1", y_true, y_pred)
    _check_same_shape(name, y_true, y_pred)
    class_axis = axis % y_pred.ndim if -y_pred.ndim <= axis < y_pred.ndim else None
    if class_axis is None:
        raise _shape_error(name, f"a class axis {axis} inside y_pred", y_true, y_pred)
    if y_pred.shape[-1] == 1:
        warnings.warn(
            f"In loss {name}, expected y_pred.shape to be (batch_size, num_classes) with "
            f"num_classes > 1; received y_pred.shape={_shape(y_pred)}. Consider using "
            "binary_crossentropy for two classes.",
            SyntaxWarning,
            stacklevel=2,
        )
    weights = _alpha_values(alpha)
    if isinstance(weights, tuple):
        num_classes = y_pred.shape[class_axis]
        if len(weights) not in (1, num_classes):
            raise ValueError(
                f"{name}: `alpha` needs one weight per class, {num_classes} for "
                f"y_pred.shape={_shape(y_pred)} (axis={axis}); received {len(weights)} "
                f"weights, alpha={list(weights)}."
            )
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + _smoothing_share(
            float(label_smoothing), y_true.shape[-1]
        )
    if from_logits:
        y_pred = F.softmax(y_pred, dim=axis)
    output = _clip_probabilities(y_pred / y_pred.sum(dim=axis, keepdim=True))
    cce = -y_true * torch.log(output)
    # A tensor exponent, as Keras passes it: torch's scalar-exponent path rounds differently.
    modulating = torch.pow(1.0 - output, _constant(float(gamma), output.dtype, output.device))
    if isinstance(weights, tuple):
        # Aligned with the class axis (the trailing axes get size 1).
        trailing = (1,) * (y_pred.ndim - class_axis - 1)
        alpha_t = _constant(weights, output.dtype, output.device).reshape(-1, *trailing)
        weighting = modulating * alpha_t
    else:
        weighting = modulating * weights
    return (weighting * cce).sum(dim=axis)


def _regression_inputs(y_true: Any, y_pred: Any, name: str):
    y_pred = _float_tensor(y_pred)
    y_true = _tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    _check_broadcastable(name, y_true, y_pred)
    return y_true, y_pred


def mean_squared_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Mean of `(y_true - y_pred) ** 2` over the last axis."""
    y_true, y_pred = _regression_inputs(y_true, y_pred, "mean_squared_error")
    return torch.square(y_true - y_pred).mean(dim=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Mean of `|y_true - y_pred|` over the last axis."""
    y_true, y_pred = _regression_inputs(y_true, y_pred, "mean_absolute_error")
    return torch.abs(y_true - y_pred).mean(dim=-1)


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """`100 * mean(|y_true - y_pred| / max(|y_true|, EPSILON))` over the last axis."""
    y_true, y_pred = _regression_inputs(y_true, y_pred, "mean_absolute_percentage_error")
    diff = torch.abs((y_true - y_pred) / torch.clamp(torch.abs(y_true), min=EPSILON))
    return 100.0 * diff.mean(dim=-1)


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Mean of `(log(max(y_pred, EPSILON) + 1) - log(max(y_true, EPSILON) + 1)) ** 2`."""
    y_true, y_pred = _regression_inputs(y_true, y_pred, "mean_squared_logarithmic_error")
    first_log = torch.log(torch.clamp(y_pred, min=EPSILON) + 1.0)
    second_log = torch.log(torch.clamp(y_true, min=EPSILON) + 1.0)
    return torch.square(first_log - second_log).mean(dim=-1)


def _l2_normalize(x: torch.Tensor, axis: int) -> torch.Tensor:
    # Keras's form: x * min(rsqrt(sum(x**2)), 1 / EPSILON).
    inv_norm = torch.rsqrt(torch.square(x).sum(dim=axis, keepdim=True))
    return x * torch.clamp(inv_norm, max=1.0 / EPSILON)


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> torch.Tensor:
    """Negative cosine similarity along `axis` (-1 means identical directions)."""
    y_true, y_pred = _regression_inputs(y_true, y_pred, "cosine_similarity")
    return -(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis)).sum(dim=axis)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> torch.Tensor:
    """Huber loss: quadratic for `|error| <= delta`, linear beyond; mean over the last axis."""
    y_true, y_pred = _regression_inputs(y_true, y_pred, "huber")
    # Keras evaluates 0.5 * delta**2 in float32.
    half_delta_sq = float(np.float32(0.5) * np.square(np.float32(delta)))
    error = y_pred - y_true
    abs_error = torch.abs(error)
    return torch.where(
        abs_error <= delta,
        0.5 * torch.square(error),
        delta * abs_error - half_delta_sq,
    ).mean(dim=-1)


def log_cosh(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Mean of `log(cosh(y_pred - y_true))` over the last axis, computed without overflow."""
    y_true, y_pred = _regression_inputs(y_true, y_pred, "log_cosh")
    x = y_pred - y_true
    return (x + F.softplus(x * -2.0) - _LOG2).mean(dim=-1)


def _hinge_labels(y_true: torch.Tensor) -> torch.Tensor:
    # Keras maps {0, 1} labels to {-1, 1} when every label is 0 or 1; a where() on the device
    # decides without reading the values on the host.
    is_binary = ((y_true == 0) | (y_true == 1)).all()
    return torch.where(is_binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Mean of `max(1 - y_true * y_pred, 0)`; labels in {0, 1} are mapped to {-1, 1}."""
    y_pred = _float_tensor(y_pred)
    y_true = _hinge_labels(_tensor(y_true, dtype=y_pred.dtype, like=y_pred))
    _check_broadcastable("hinge", y_true, y_pred)
    return torch.clamp(1.0 - y_true * y_pred, min=0.0).mean(dim=-1)


def squared_hinge(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Mean of `max(1 - y_true * y_pred, 0) ** 2`; labels in {0, 1} are mapped to {-1, 1}."""
    y_pred = _float_tensor(y_pred)
    y_true = _hinge_labels(_tensor(y_true, dtype=y_pred.dtype, like=y_pred))
    _check_broadcastable("squared_hinge", y_true, y_pred)
    return torch.square(torch.clamp(1.0 - y_true * y_pred, min=0.0)).mean(dim=-1)


def categorical_hinge(y_true: Any, y_pred: Any) -> torch.Tensor:
    """`max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)` over the last axis."""
    y_pred = _float_tensor(y_pred)
    y_true = _tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    _check_broadcastable("categorical_hinge", y_true, y_pred)
    pos = (y_true * y_pred).sum(dim=-1)
    neg = ((1.0 - y_true) * y_pred).amax(dim=-1)
    return torch.clamp(neg - pos + 1.0, min=0.0)


def kl_divergence(y_true: Any, y_pred: Any) -> torch.Tensor:
    """`sum(y_true * log(y_true / y_pred))` with both clipped to `[EPSILON, 1]`."""
    y_pred = _float_tensor(y_pred)
    y_true = _tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    _check_broadcastable("kl_divergence", y_true, y_pred)
    y_true = torch.clip(y_true, EPSILON, 1.0)
    y_pred = torch.clip(y_pred, EPSILON, 1.0)
    return (y_true * torch.log(y_true / y_pred)).sum(dim=-1)


def poisson(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Mean of `y_pred - y_true * log(y_pred + EPSILON)` over the last axis."""
    y_pred = _float_tensor(y_pred)
    y_true = _tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    _check_broadcastable("poisson", y_true, y_pred)
    return (y_pred - y_true * torch.log(y_pred + EPSILON)).mean(dim=-1)


def _check_overlap_arguments(owner: str, axis: Any, **coefficients: Any) -> None:
    check = ArgumentChecker(owner)
    for key, value in coefficients.items():
        check.real(key, value, low=0)
    _check_axis(check, axis, several=True)
    check.raise_if_any()


def _overlap_inputs(y_true: Any, y_pred: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    y_pred = _float_tensor(y_pred)
    y_true = _tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    _check_broadcastable(name, y_true, y_pred)
    return y_true, y_pred


def _sum(x: torch.Tensor, axis: Any) -> torch.Tensor:
    """Keras's `ops.sum`: None sums everything, an empty tuple sums nothing."""
    if axis is None:
        return x.sum()
    if isinstance(axis, list | tuple):
        if not axis:
            return x
        return x.sum(dim=tuple(axis))
    return x.sum(dim=axis)


def dice(y_true: Any, y_pred: Any, axis: int | tuple[int, ...] | None = None) -> torch.Tensor:
    """Dice loss: `1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + EPSILON)`.

    Args:
        y_true: Target masks (probabilities in `[0, 1]`).
        y_pred: Predicted masks, broadcastable against `y_true`.
        axis: Axes the sums run over; None (Keras's default) sums over everything,
            batch included, giving one value. For one loss per image of an
            `(N, H, W, C)` batch, use `axis=(1, 2, 3)`.

    Returns:
        The loss, with the summed axes removed.

    Example:
        >>> y_true = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
        >>> y_pred = torch.tensor([[0.0, 1.0, 0.0, 1.0], [0.4, 0.0, 0.0, 0.9]])
        >>> dice(y_true, y_pred, axis=1)
        tensor([0.5000, 0.7576])
    """
    _check_overlap_arguments("dice", axis)
    y_true, y_pred = _overlap_inputs(y_true, y_pred, "dice")
    intersection = _sum(y_true * y_pred, axis)
    union = _sum(y_true, axis) + _sum(y_pred, axis) + EPSILON
    return 1 - (2.0 * intersection) / union


def tversky(
    y_true: Any,
    y_pred: Any,
    alpha: float = 0.5,
    beta: float = 0.5,
    axis: int | tuple[int, ...] | None = None,
) -> torch.Tensor:
    """Tversky loss (Salehi et al., 2017); with `alpha = beta = 0.5` it is the Dice loss.

    Computed as Keras computes it: with `I = sum(y_true * y_pred)`, the loss is
    `1 - I / (I + alpha * sum(y_true * (1 - y_pred)) + beta * sum((1 - y_true) * y_pred)
    + EPSILON)`, so `alpha` weighs missed target pixels and `beta` predicted pixels
    outside the target.

    Args:
        y_true: Target masks (probabilities in `[0, 1]`).
        y_pred: Predicted masks, broadcastable against `y_true`.
        alpha: Weight of `sum(y_true * (1 - y_pred))`.
        beta: Weight of `sum((1 - y_true) * y_pred)`.
        axis: Axes the sums run over; None sums over everything (see `dice`).

    Returns:
        The loss, with the summed axes removed.
    """
    _check_overlap_arguments("tversky", axis, alpha=alpha, beta=beta)
    y_true, y_pred = _overlap_inputs(y_true, y_pred, "tversky")
    intersection = _sum(y_true * y_pred, axis)
    missed = _sum((1 - y_pred) * y_true, axis)
    extra = _sum(y_pred * (1 - y_true), axis)
    return 1 - intersection / (intersection + missed * alpha + extra * beta + EPSILON)


# Short names, as in Keras's string identifiers and tf.keras's module aliases.
mse = mean_squared_error
mae = mean_absolute_error
mape = mean_absolute_percentage_error
msle = mean_squared_logarithmic_error
kld = kl_divergence
logcosh = log_cosh


# ----------------------------------------------------------------------------- classes


class Loss:
    """Base class of losses: per-sample `call`, then sample weighting and reduction.

    Subclasses implement `call(y_true, y_pred)` returning per-sample losses; `__call__`
    casts both inputs to the loss dtype, applies `sample_weight` and reduces.

    Args:
        name: Name of the loss; defaults to the snake-case class name, made unique.
        reduction: `"sum_over_batch_size"` (default) and `"mean"` divide the weighted sum by
            the number of loss elements, `"sum"` sums, `"mean_with_sample_weight"` divides by
            the sum of the sample weights, `None`/`"none"` returns per-sample losses.
        dtype: Dtype of the computation; defaults to float32 (Keras's floatx).
    """

    def __init__(
        self,
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        self.name = name or _auto_name(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self._dtype = _torch_dtype(dtype)

    @property
    def dtype(self) -> str:
        """The computation dtype's name, e.g. `"float32"`."""
        return _dtype_name(self._dtype)

    def _convert_y_true(self, y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
        return _tensor(y_true, dtype=self._dtype, like=y_pred)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
        """Computes the reduced loss.

        Args:
            y_true: Targets.
            y_pred: Predictions.
            sample_weight: Optional weights, broadcast against the per-sample losses.

        Returns:
            A 0-dim tensor (per-sample losses if the reduction is `None`/`"none"`).
        """
        y_pred = _tensor(y_pred, dtype=self._dtype)
        y_true = self._convert_y_true(y_true, y_pred)
        values, mask = self._call_with_mask(y_true, y_pred)
        return reduce_weighted_values(
            values, sample_weight, mask=mask, reduction=self.reduction, dtype=self._dtype
        )

    def _call_with_mask(
        self, y_true: torch.Tensor, y_pred: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.call(y_true, y_pred), None

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        """Per-sample losses; implemented by subclasses."""
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred).")

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable."""
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        """Rebuilds a loss from `get_config()`."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class LossFunctionWrapper(Loss):
    """Turns a per-sample loss function `fn(y_true, y_pred, **kwargs)` into a `Loss`.

    Before calling `fn`, ranks of `y_true` and `y_pred` that differ by a trailing axis of
    size 1 are aligned, as Keras does.

    Args:
        fn: The loss function.
        reduction: See `Loss`.
        name: See `Loss`.
        dtype: See `Loss`.
        **kwargs: Extra keyword arguments for `fn`.
    """

    def __init__(
        self,
        fn: Callable[..., torch.Tensor],
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return self._call_with_mask(y_true, y_pred)[0]

    def _call_with_mask(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if self.fn is sparse_categorical_crossentropy:
            return _sparse_categorical_crossentropy(y_true, y_pred, **self._fn_kwargs)
        return self.fn(y_true, y_pred, **self._fn_kwargs), None

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["fn"] = serialize(self.fn)
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LossFunctionWrapper:
        config = dict(config)
        fn = config.pop("fn")
        return cls(deserialize(fn) if not callable(fn) else fn, **config)

    def __repr__(self) -> str:
        fn_name = getattr(self.fn, "__name__", repr(self.fn))
        return f"<LossFunctionWrapper({fn_name}, kwargs={self._fn_kwargs})>"


class _BuiltinLoss(LossFunctionWrapper):
    """A wrapper whose config is its constructor arguments (no serialised function)."""

    _config_keys: tuple[str, ...] = ()

    def get_config(self) -> dict[str, Any]:
        config = Loss.get_config(self)
        config.update({key: self._fn_kwargs[key] for key in self._config_keys})
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)

    def __getattr__(self, name: str) -> Any:
        # Expose constructor arguments as attributes (`loss.from_logits`), as Keras does.
        kwargs = self.__dict__.get("_fn_kwargs", {})
        if name in kwargs:
            return kwargs[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class SparseCategoricalCrossentropy(_BuiltinLoss):
    """Crossentropy for integer class labels; see `sparse_categorical_crossentropy`.

    Args:
        from_logits: Whether `y_pred` holds logits.
        ignore_class: Label to ignore; its entries are masked out of the mean.
        reduction: See `Loss`.
        axis: The class axis of `y_pred`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """

    _config_keys = ("from_logits", "ignore_class", "axis")

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        axis: int = -1,
        name: str = "sparse_categorical_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            sparse_categorical_crossentropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )

    def _convert_y_true(self, y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
        # Integer labels stay integers (the float round trip Keras takes is exact for them).
        t = _tensor(y_true, like=y_pred)
        return t.to(self._dtype) if t.is_floating_point() else t


class CategoricalCrossentropy(_BuiltinLoss):
    """Crossentropy for one-hot labels; see `categorical_crossentropy`.

    Args:
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Label smoothing in `[0, 1]`.
        axis: The class axis.
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """

    _config_keys = ("from_logits", "label_smoothing", "axis")

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            categorical_crossentropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class BinaryCrossentropy(_BuiltinLoss):
    """Binary crossentropy; see `binary_crossentropy`.

    Args:
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Label smoothing in `[0, 1]`.
        axis: The axis the mean is taken over.
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """

    _config_keys = ("from_logits", "label_smoothing", "axis")

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            binary_crossentropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class BinaryFocalCrossentropy(_BuiltinLoss):
    """Binary focal crossentropy; see `binary_focal_crossentropy`.

    Args:
        apply_class_balancing: Weight classes by `alpha` / `1 - alpha`.
        alpha: Balancing weight of class 1.
        gamma: Focusing exponent.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Label smoothing in `[0, 1]`.
        axis: The axis the mean is taken over.
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """

    _config_keys = (
        "from_logits",
        "label_smoothing",
        "axis",
        "apply_class_balancing",
        "alpha",
        "gamma",
    )

    def __init__(
        self,
        apply_class_balancing: bool = False,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_focal_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            binary_focal_crossentropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            apply_class_balancing=apply_class_balancing,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class CategoricalFocalCrossentropy(_BuiltinLoss):
    """Categorical focal crossentropy; see `categorical_focal_crossentropy`.

    Args:
        alpha: Weight of every class, or a list with one weight per class.
        gamma: Focusing exponent.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Label smoothing in `[0, 1]`.
        axis: The class axis.
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.

    Example:
        >>> y_true = [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
        >>> y_pred = [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]
        >>> round(float(CategoricalFocalCrossentropy()(y_true, y_pred)), 5)
        0.23315
    """

    _config_keys = ("from_logits", "label_smoothing", "axis", "alpha", "gamma")

    def __init__(
        self,
        alpha: float | list[float] = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_focal_crossentropy",
        dtype: Any = None,
    ) -> None:
        _check_focal_arguments(
            type(self).__name__, alpha, gamma, from_logits, label_smoothing, axis
        )
        if isinstance(alpha, np.ndarray | torch.Tensor):
            # Read once here (not per step), and kept JSON-serialisable for the config.
            values = _alpha_values(alpha)
            alpha = list(values) if isinstance(values, tuple) else values
        super().__init__(
            categorical_focal_crossentropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


def _reduction_only_loss(fn: Callable[..., torch.Tensor], default_name: str) -> type[Loss]:
    """A base class for losses over `fn` whose only arguments are reduction, name, dtype."""

    def __init__(
        self: _BuiltinLoss,
        reduction: str | None = "sum_over_batch_size",
        name: str = default_name,
        dtype: Any = None,
    ) -> None:
        _BuiltinLoss.__init__(self, fn, name=name, reduction=reduction, dtype=dtype)

    return type(f"_{fn.__name__}_base", (_BuiltinLoss,), {"__init__": __init__})


class MeanSquaredError(_reduction_only_loss(mean_squared_error, "mean_squared_error")):
    """Mean of squared errors over the last axis; see `mean_squared_error`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class MeanAbsoluteError(_reduction_only_loss(mean_absolute_error, "mean_absolute_error")):
    """Mean of absolute errors over the last axis; see `mean_absolute_error`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class MeanAbsolutePercentageError(
    _reduction_only_loss(mean_absolute_percentage_error, "mean_absolute_percentage_error")
):
    """Mean absolute percentage error; see `mean_absolute_percentage_error`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class MeanSquaredLogarithmicError(
    _reduction_only_loss(mean_squared_logarithmic_error, "mean_squared_logarithmic_error")
):
    """Mean squared logarithmic error; see `mean_squared_logarithmic_error`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class LogCosh(_reduction_only_loss(log_cosh, "log_cosh")):
    """Logarithm of the hyperbolic cosine of the error; see `log_cosh`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class Hinge(_reduction_only_loss(hinge, "hinge")):
    """Hinge loss; see `hinge`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class SquaredHinge(_reduction_only_loss(squared_hinge, "squared_hinge")):
    """Squared hinge loss; see `squared_hinge`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class CategoricalHinge(_reduction_only_loss(categorical_hinge, "categorical_hinge")):
    """Categorical hinge loss; see `categorical_hinge`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class KLDivergence(_reduction_only_loss(kl_divergence, "kl_divergence")):
    """Kullback-Leibler divergence; see `kl_divergence`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class Poisson(_reduction_only_loss(poisson, "poisson")):
    """Poisson loss; see `poisson`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class Huber(_BuiltinLoss):
    """Huber loss; see `huber`.

    Args:
        delta: Where the loss turns from quadratic to linear.
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """

    def __init__(
        self,
        delta: float = 1.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "huber_loss",
        dtype: Any = None,
    ) -> None:
        super().__init__(huber, name=name, reduction=reduction, dtype=dtype, delta=delta)

    def get_config(self) -> dict[str, Any]:
        # Keras leaves `delta` out of the config; keeping it lets from_config rebuild the loss.
        return {**Loss.get_config(self), "delta": self._fn_kwargs["delta"]}


class CosineSimilarity(_BuiltinLoss):
    """Negative cosine similarity; see `cosine_similarity`.

    Args:
        axis: The axis along which similarity is computed.
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """

    _config_keys = ("axis",)

    def __init__(
        self,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "cosine_similarity",
        dtype: Any = None,
    ) -> None:
        super().__init__(cosine_similarity, name=name, reduction=reduction, dtype=dtype, axis=axis)


class Dice(_BuiltinLoss):
    """Dice loss for segmentation masks; see `dice`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        axis: Axes the sums run over; None (the default) gives one value for the batch.
        dtype: Dtype of the computation.

    Example:
        >>> y_true = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
        >>> y_pred = torch.tensor([[0.0, 1.0, 0.0, 1.0], [0.4, 0.0, 0.0, 0.9]])
        >>> round(float(Dice()(y_true, y_pred)), 6)
        0.616438
    """

    _config_keys = ("axis",)

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "dice",
        axis: int | tuple[int, ...] | None = None,
        dtype: Any = None,
    ) -> None:
        _check_overlap_arguments(type(self).__name__, axis)
        super().__init__(dice, name=name, reduction=reduction, dtype=dtype, axis=axis)


class Tversky(_BuiltinLoss):
    """Tversky loss for segmentation masks; see `tversky`.

    Args:
        alpha: Weight of `sum(y_true * (1 - y_pred))`.
        beta: Weight of `sum((1 - y_true) * y_pred)`.
        reduction: See `Loss`.
        name: Name of the loss.
        axis: Axes the sums run over; None (the default) gives one value for the batch.
        dtype: Dtype of the computation.
    """

    _config_keys = ("alpha", "beta", "axis")

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 0.5,
        reduction: str | None = "sum_over_batch_size",
        name: str = "tversky",
        axis: int | tuple[int, ...] | None = None,
        dtype: Any = None,
    ) -> None:
        _check_overlap_arguments(type(self).__name__, axis, alpha=alpha, beta=beta)
        super().__init__(
            tversky, name=name, reduction=reduction, dtype=dtype, alpha=alpha, beta=beta, axis=axis
        )


# ----------------------------------------------------------------------------- lookup

_CLASSES: tuple[type[Loss], ...] = (
    SparseCategoricalCrossentropy,
    CategoricalCrossentropy,
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalFocalCrossentropy,
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    Huber,
    LogCosh,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    KLDivergence,
    Poisson,
    CosineSimilarity,
    Dice,
    Tversky,
)
_FUNCTIONS: tuple[Callable[..., torch.Tensor], ...] = (
    sparse_categorical_crossentropy,
    categorical_crossentropy,
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_focal_crossentropy,
    mean_squared_error,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_logarithmic_error,
    huber,
    log_cosh,
    hinge,
    squared_hinge,
    categorical_hinge,
    kl_divergence,
    poisson,
    cosine_similarity,
    dice,
    tversky,
)
_OBJECTS: dict[str, Any] = {obj.__name__: obj for obj in (*_CLASSES, *_FUNCTIONS)}
_OBJECTS.update(
    {
        "bce": binary_crossentropy,
        "BCE": binary_crossentropy,
        "kld": kl_divergence,
        "KLD": kl_divergence,
        "mae": mean_absolute_error,
        "MAE": mean_absolute_error,
        "mse": mean_squared_error,
        "MSE": mean_squared_error,
        "mape": mean_absolute_percentage_error,
        "MAPE": mean_absolute_percentage_error,
        "msle": mean_squared_logarithmic_error,
        "MSLE": mean_squared_logarithmic_error,
    }
)

#: Strings accepted by `get` (class names return instances, the rest functions).
STRING_LOSSES: tuple[str, ...] = tuple(sorted(_OBJECTS))


def serialize(loss: Loss | Callable[..., torch.Tensor]) -> dict[str, Any]:
    """Serialises a loss in Keras's format (`module`, `class_name`, `config`).

    Args:
        loss: A `Loss` instance or a loss function.

    Returns:
        A JSON-serialisable dict that `deserialize` (and Keras) can read.
    """
    if isinstance(loss, Loss):
        builtin = type(loss) in _CLASSES
        return {
            "module": "keras.losses" if builtin else type(loss).__module__,
            "class_name": type(loss).__name__,
            "config": loss.get_config(),
            "registered_name": None if builtin else type(loss).__name__,
        }
    if callable(loss) and hasattr(loss, "__name__"):
        return {
            "module": "builtins",
            "class_name": "function",
            "config": loss.__name__,
            "registered_name": "function",
        }
    raise ValueError(f"Cannot serialize loss: expected a Loss or a function; received {loss!r}.")


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """Rebuilds a loss from `serialize` output, a name, or a `{"class_name", "config"}` dict.

    Args:
        config: The serialised loss.
        custom_objects: Extra names to classes or functions.

    Returns:
        A `Loss` instance or a loss function.
    """
    objects = {**_OBJECTS, **(custom_objects or {})}
    if isinstance(config, str):
        if config not in objects:
            raise ValueError(_unknown(config, "loss"))
        return objects[config]
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"Cannot deserialize loss: expected a name or a dict with 'class_name'; "
            f"received {config!r}."
        )
    class_name, inner = config["class_name"], config.get("config")
    if class_name == "function":
        return deserialize(inner, custom_objects)
    cls = objects.get(class_name) or objects.get(config.get("registered_name") or "")
    if not (inspect.isclass(cls) and issubclass(cls, Loss)):
        raise ValueError(_unknown(class_name, "loss"))
    return cls.from_config(inner or {})


def _unknown(identifier: Any, kind: str) -> str:
    return (
        f"Could not interpret {kind} identifier: {identifier!r}. Expected one of "
        f"{list(STRING_LOSSES)}, a dict config, a callable or a Loss instance."
    )


def get(identifier: Any) -> Any:
    """Resolves a loss identifier as Keras's `losses.get` does.

    Args:
        identifier: `None`, a string (`"mse"`, `"sparse_categorical_crossentropy"`,
            `"CategoricalCrossentropy"`, ...; see `STRING_LOSSES`), a config dict, a loss
            class, a function or a `Loss` instance.

    Returns:
        A function for function names, an instance for class names, classes and configs,
        the identifier itself for callables; `None` for `None`.

    Raises:
        ValueError: If the identifier cannot be interpreted.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        if identifier not in _OBJECTS:
            raise ValueError(_unknown(identifier, "loss"))
        obj = _OBJECTS[identifier]
    else:
        obj = identifier
    if inspect.isclass(obj):
        return obj()
    if callable(obj):
        return obj
    raise ValueError(_unknown(identifier, "loss"))


def _is_binary_or_sparse(y_true: torch.Tensor, y_pred: torch.Tensor) -> tuple[bool, bool]:
    """Keras's shape rule: binary if one output unit; sparse if labels lack the class axis."""
    is_binary = y_pred.shape[-1] == 1
    is_sparse = y_true.ndim < y_pred.ndim or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1)
    return is_binary, is_sparse


def resolve_loss(identifier: Any, y_true: torch.Tensor, y_pred: torch.Tensor) -> Loss | None:
    """Turns a `compile(loss=...)` identifier into a `Loss` as Keras's compile does.

    `"crossentropy"`/`"ce"` become binary, sparse categorical or categorical crossentropy
    from the shapes of `y_true` and `y_pred` (one output unit: binary; labels without the
    class axis: sparse; otherwise categorical). Functions are wrapped in a
    `LossFunctionWrapper` named after the string identifier, or the function's name.

    Args:
        identifier: Anything `get` accepts, or `"crossentropy"`/`"ce"`.
        y_true: A batch of targets (only the shape is read).
        y_pred: A batch of predictions (only the shape is read).

    Returns:
        A `Loss` instance, or `None` if `identifier` is `None`.
    """
    if identifier is None:
        return None
    if str(identifier).lower() in ("crossentropy", "ce"):
        is_binary, is_sparse = _is_binary_or_sparse(y_true, y_pred)
        if is_binary:
            obj: Any = binary_crossentropy
        elif is_sparse:
            obj = sparse_categorical_crossentropy
        else:
            obj = categorical_crossentropy
    else:
        obj = get(identifier)
    if isinstance(obj, Loss):
        return obj
    if isinstance(identifier, str):
        name = identifier
    else:
        from convolve.layers.naming import to_snake_case

        name = getattr(obj, "name", None) or to_snake_case(
            getattr(obj, "__name__", type(obj).__name__)
        )
    return LossFunctionWrapper(obj, name=name)


# ----------------------------------------------------------------------------- target checks


def _loss_fn_and_kwargs(loss: Any, y_true, y_pred) -> tuple[Any, dict[str, Any], str]:
    if isinstance(loss, str) or isinstance(loss, dict):
        loss = resolve_loss(loss, y_true, y_pred)
    if isinstance(loss, LossFunctionWrapper):
        return loss.fn, loss._fn_kwargs, loss.name
    if isinstance(loss, Loss):
        return None, {}, loss.name
    return loss, {}, getattr(loss, "__name__", repr(loss))


def check_targets(loss: Any, y_true: Any, y_pred: Any) -> None:
    """Checks that a batch of targets suits a loss, with one clear error if not.

    Shape mismatches are also reported by the losses themselves on every call (shapes are
    known on the host for free). This function additionally reads label *values*, which
    synchronises host and device, so a training loop calls it once, on the first batch,
    never per step. For sparse categorical crossentropy it requires integer labels in
    `[0, num_classes)` (apart from `ignore_class`); for the other built-in losses it checks
    that the shapes fit. Custom losses are not checked.

    Args:
        loss: A loss identifier as accepted by `resolve_loss`, a `Loss` or a function.
        y_true: A batch of targets.
        y_pred: The matching batch of predictions (channels-last layout).

    Raises:
        ValueError: Naming the loss, what it expected and what it received.
    """
    if isinstance(y_true, list | tuple | dict):
        name = loss if isinstance(loss, str) else getattr(loss, "name", None)
        raise ValueError(
            f"{name or getattr(loss, '__name__', 'loss')}: expected one array of targets for "
            f"this output; received a {type(y_true).__name__} of {len(y_true)} item(s). Pass y "
            "as a single array (a list or dict of arrays only for a model with several outputs)."
        )
    y_pred = _float_tensor(y_pred)
    y_true = _tensor(y_true, like=y_pred)
    fn, kwargs, name = _loss_fn_and_kwargs(loss, y_true, y_pred)
    if fn is None or fn not in _FUNCTIONS:
        return
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    try:
        if fn is sparse_categorical_crossentropy:
            _check_sparse_labels(y_true, y_pred, kwargs.get("ignore_class"), kwargs.get("axis", -1))
        elif fn in (
            binary_crossentropy,
            binary_focal_crossentropy,
            categorical_crossentropy,
            categorical_focal_crossentropy,
        ):
            _check_same_shape(fn.__name__, y_true, y_pred)
            if fn is binary_focal_crossentropy or (
                fn is binary_crossentropy and not kwargs.get("from_logits", False)
            ):
                _check_binary_targets(fn.__name__, y_true, kwargs.get("label_smoothing", 0.0))
        else:
            _check_broadcastable(fn.__name__, y_true, y_pred)
    except ValueError as error:
        # Name the loss as the user configured it.
        raise ValueError(f"{name}{str(error)[len(fn.__name__) :]}") from None


def _check_binary_targets(name: str, y_true: torch.Tensor, label_smoothing: float) -> None:
    """Probability targets must lie in [0, 1] (torch's binary crossentropy refuses others)."""
    if y_true.numel() == 0:
        return
    targets = y_true.to(torch.float32)
    if label_smoothing:
        targets = targets * (1.0 - label_smoothing) + 0.5 * label_smoothing
    bad = ~((targets >= 0) & (targets <= 1))  # NaN counts as bad
    # One host sync for the three facts.
    any_bad, low, high = torch.stack([bad.any().float(), targets.min(), targets.max()]).tolist()
    if any_bad:
        index = tuple(torch.nonzero(bad)[0].tolist())
        raise ValueError(
            f"{name}: expected targets in [0, 1] (probabilities of the positive class); "
            f"received {_fmt(y_true[index].item())} at y_true{list(index)} (targets range "
            f"from {_fmt(low)} to {_fmt(high)}). Use sparse_categorical_crossentropy for "
            "integer class labels."
        )


def _check_sparse_labels(
    y_true: torch.Tensor, y_pred: torch.Tensor, ignore_class: int | None, axis: int
) -> None:
    name = "sparse_categorical_crossentropy"
    labels, _ = _sparse_inputs(name, y_true, y_pred, axis)
    num_classes = y_pred.shape[axis]
    if labels.numel() == 0:
        return
    valid = torch.ones_like(labels, dtype=torch.bool)
    if ignore_class is not None:
        valid = labels != ignore_class
    fractional = torch.zeros_like(valid)
    if labels.is_floating_point():
        fractional = valid & ~(torch.isfinite(labels) & (labels == torch.trunc(labels)))
    if labels.dtype == torch.bool:
        labels = labels.long()
    out_of_range = valid & ((labels < 0) | (labels >= num_classes))
    low = torch.where(valid, labels, 0).amin()
    high = torch.where(valid, labels, 0).amax()
    # A single host sync for all four facts (float32 works on every device).
    facts = [fractional.any(), out_of_range.any(), low, high]
    any_fractional, any_out, low_value, high_value = torch.stack(
        [fact.to(torch.float32) for fact in facts]
    ).tolist()
    expected = f"integer class labels in [0, {num_classes - 1}]"
    if ignore_class is not None:
        expected += f" (or ignore_class={ignore_class})"
    expected += f" because y_pred.shape={_shape(y_pred)} has {num_classes} classes"
    if any_fractional:
        index = tuple(torch.nonzero(fractional)[0].tolist())
        raise ValueError(
            f"{name}: expected {expected}; received the non-integer label "
            f"{labels[index].item()} at y_true{list(index)}."
        )
    if any_out:
        index = tuple(torch.nonzero(out_of_range)[0].tolist())
        raise ValueError(
            f"{name}: expected {expected}; received label {_fmt(labels[index].item())} at "
            f"y_true{list(index)} (labels range from {_fmt(low_value)} to {_fmt(high_value)})."
        )


def _fmt(x: float) -> str:
    return str(int(x)) if math.isfinite(x) and float(x).is_integer() else str(x)
