"""Crossentropy losses (sparse, categorical, binary, focal), KL divergence and Poisson."""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from convolve.losses._tensors import (
    EPSILON,
    check_axis,
    check_broadcastable,
    check_same_shape,
    clip_probabilities,
    float_tensor,
    no_autocast,
    shape_error,
    shape_of,
    sparse_inputs,
    to_tensor,
)
from convolve.losses.base import INTEGER_LABELS, MASKED_VARIANTS, BuiltinLoss, reduction_only_loss
from convolve.optimizers._checks import ArgumentChecker, is_real


def _sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-sample sparse crossentropy and, with `ignore_class`, the mask of valid entries."""
    y_pred = float_tensor(y_pred)
    y_true = to_tensor(y_true, like=y_pred)
    try:
        return _sparse_crossentropy_values(y_true, y_pred, from_logits, ignore_class, axis)
    except (IndexError, RuntimeError):
        # A label outside [0, num_classes) (found synchronously on the CPU): name it, as
        # `check_targets` does, instead of the kernel's indexing error.
        from convolve.losses.targets import _check_sparse_labels

        _check_sparse_labels(y_true, y_pred, ignore_class, axis)
        raise


def _sparse_crossentropy_values(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    from_logits: bool,
    ignore_class: int | None,
    axis: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    y_true, class_axis = sparse_inputs("sparse_categorical_crossentropy", y_true, y_pred, axis)
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
        probs = clip_probabilities(y_pred / y_pred.sum(dim=class_axis, keepdim=True))
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


MASKED_VARIANTS[sparse_categorical_crossentropy] = _sparse_categorical_crossentropy
INTEGER_LABELS.add(sparse_categorical_crossentropy)


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
    y_pred = float_tensor(y_pred)
    y_true = to_tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    name = "categorical_crossentropy"
    if y_pred.ndim < 1:
        raise shape_error(name, "tensors of rank >= 1", y_true, y_pred)
    check_same_shape(name, y_true, y_pred)
    if y_pred.shape[-1] == 1:
        warnings.warn(
            f"In loss categorical_crossentropy, expected y_pred.shape to be "
            f"(batch_size, num_classes) with num_classes > 1; received y_pred.shape="
            f"{shape_of(y_pred)}. Consider using binary_crossentropy for two classes.",
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
        probs = clip_probabilities(y_pred / y_pred.sum(dim=axis, keepdim=True))
        log_prob = torch.log(probs)
    return -(y_true * log_prob).sum(dim=axis)


@functools.lru_cache(maxsize=64)
def _smoothing_share(label_smoothing: float, num_classes: int) -> float:
    # s / num_classes as Keras evaluates it: a float32 division done by torch on the host.
    return float(label_smoothing / torch.tensor(float(num_classes)))


def _binary_crossentropy_elementwise(
    y_true: torch.Tensor, y_pred: torch.Tensor, from_logits: bool
) -> torch.Tensor:
    with no_autocast(y_pred):
        if from_logits:
            return F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
        # torch's CPU kernel, written out: `F.binary_cross_entropy` refuses values outside
        # [0, 1] (a NaN prediction, a bad target after the first batch) with a RuntimeError,
        # and on CUDA with a device-side assert; this gives NaN as Keras-TensorFlow does.
        p = clip_probabilities(y_pred)
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
    y_pred = float_tensor(y_pred)
    y_true = to_tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    check_same_shape("binary_crossentropy", y_true, y_pred)
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
    y_pred = float_tensor(y_pred)
    y_true = to_tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    check_same_shape("binary_focal_crossentropy", y_true, y_pred)
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


def _check_focal_arguments(
    owner: str,
    alpha: Any,
    gamma: Any,
    from_logits: Any,
    label_smoothing: Any,
    axis: Any,
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
    check_axis(check, axis)
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
    y_pred = float_tensor(y_pred)
    y_true = to_tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    if y_pred.ndim < 1:
        raise shape_error(name, "tensors of rank >= 1", y_true, y_pred)
    check_same_shape(name, y_true, y_pred)
    class_axis = axis % y_pred.ndim if -y_pred.ndim <= axis < y_pred.ndim else None
    if class_axis is None:
        raise shape_error(name, f"a class axis {axis} inside y_pred", y_true, y_pred)
    if y_pred.shape[-1] == 1:
        warnings.warn(
            f"In loss {name}, expected y_pred.shape to be (batch_size, num_classes) with "
            f"num_classes > 1; received y_pred.shape={shape_of(y_pred)}. Consider using "
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
                f"y_pred.shape={shape_of(y_pred)} (axis={axis}); received {len(weights)} "
                f"weights, alpha={list(weights)}."
            )
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + _smoothing_share(
            float(label_smoothing), y_true.shape[-1]
        )
    if from_logits:
        y_pred = F.softmax(y_pred, dim=axis)
    output = clip_probabilities(y_pred / y_pred.sum(dim=axis, keepdim=True))
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


def kl_divergence(y_true: Any, y_pred: Any) -> torch.Tensor:
    """`sum(y_true * log(y_true / y_pred))` with both clipped to `[EPSILON, 1]`."""
    y_pred = float_tensor(y_pred)
    y_true = to_tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    check_broadcastable("kl_divergence", y_true, y_pred)
    y_true = torch.clip(y_true, EPSILON, 1.0)
    y_pred = torch.clip(y_pred, EPSILON, 1.0)
    return (y_true * torch.log(y_true / y_pred)).sum(dim=-1)


def poisson(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Mean of `y_pred - y_true * log(y_pred + EPSILON)` over the last axis."""
    y_pred = float_tensor(y_pred)
    y_true = to_tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    check_broadcastable("poisson", y_true, y_pred)
    return (y_pred - y_true * torch.log(y_pred + EPSILON)).mean(dim=-1)


kld = kl_divergence


class SparseCategoricalCrossentropy(BuiltinLoss):
    """Crossentropy for integer class labels; see `sparse_categorical_crossentropy`.

    Args:
        from_logits: Whether `y_pred` holds logits.
        ignore_class: Label to ignore; its entries are masked out of the mean.
        reduction: See `Loss`.
        axis: The class axis of `y_pred`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """

    _config_keys = ("from_logits", "ignore_class")
    _keras_omits = {"axis": -1}

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


class CategoricalCrossentropy(BuiltinLoss):
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


class BinaryCrossentropy(BuiltinLoss):
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


class BinaryFocalCrossentropy(BuiltinLoss):
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


class CategoricalFocalCrossentropy(BuiltinLoss):
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


class KLDivergence(reduction_only_loss(kl_divergence, "kl_divergence")):
    """Kullback-Leibler divergence; see `kl_divergence`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class Poisson(reduction_only_loss(poisson, "poisson")):
    """Poisson loss; see `poisson`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """
