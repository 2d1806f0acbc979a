"""Overlap losses for segmentation masks: Dice and Tversky."""

from __future__ import annotations

from typing import Any

import torch

from convolve.losses._tensors import (
    EPSILON,
    check_axis,
    check_broadcastable,
    float_tensor,
    to_tensor,
)
from convolve.losses.base import BuiltinLoss
from convolve.optimizers._checks import ArgumentChecker


def _check_overlap_arguments(owner: str, axis: Any, **coefficients: Any) -> None:
    check = ArgumentChecker(owner)
    for key, value in coefficients.items():
        check.real(key, value, low=0)
    check_axis(check, axis, several=True)
    check.raise_if_any()


def _overlap_inputs(y_true: Any, y_pred: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    y_pred = float_tensor(y_pred)
    y_true = to_tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    check_broadcastable(name, y_true, y_pred)
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


class Dice(BuiltinLoss):
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


class Tversky(BuiltinLoss):
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
            tversky,
            name=name,
            reduction=reduction,
            dtype=dtype,
            alpha=alpha,
            beta=beta,
            axis=axis,
        )
