"""Sample weighting, masks and reductions: how per-sample losses become one number."""

from __future__ import annotations

from typing import Any

import torch

from convolve.losses._tensors import (
    divide_no_nan,
    shape_of,
    squeeze_or_expand_to_same_rank,
    to_tensor,
)

#: Accepted values of the `reduction` argument.
REDUCTIONS = (
    "sum_over_batch_size",
    "sum",
    "mean",
    "mean_with_sample_weight",
    "none",
    None,
)


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
        mask_weight = divide_no_nan(torch.full_like(valid, total), valid)
        float_mask = torch.where(mask.bool(), mask_weight, 0.0)
    else:
        float_mask = mask.to(dtype)
    if sample_weight is None:
        return float_mask
    sample_weight = sample_weight.to(dtype)
    float_mask, sample_weight = squeeze_or_expand_to_same_rank(float_mask, sample_weight)
    check_weight_shape(float_mask, sample_weight)
    return sample_weight * float_mask


def check_weight_shape(values: torch.Tensor, sample_weight: torch.Tensor) -> None:
    try:
        torch.broadcast_shapes(values.shape, sample_weight.shape)
    except RuntimeError:
        per_sample = shape_of(values)[:1] + (1,) * (values.ndim - 1)
        raise ValueError(
            f"sample_weight of shape {shape_of(sample_weight)} does not broadcast against the "
            f"per-sample losses of shape {shape_of(values)}; give one weight per sample with "
            f"trailing axes of size 1, {per_sample}, or one weight per entry, {shape_of(values)}."
        ) from None


def reduce_values(
    values: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    reduction: str | None = "sum_over_batch_size",
) -> torch.Tensor:
    """Reduces (already weighted) per-sample losses to a scalar."""
    if reduction is None or reduction == "none" or values.ndim == 0 or shape_of(values) == (0,):
        return values
    loss = values.sum()
    if reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
        if reduction == "mean_with_sample_weight" and sample_weight is not None:
            loss = divide_no_nan(loss, sample_weight.sum().to(loss.dtype))
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
    if dtype is not None and values.dtype != dtype:
        values = values.to(dtype)
    dtype = values.dtype
    if sample_weight is not None:
        sample_weight = to_tensor(sample_weight, dtype=dtype, like=values)
    sample_weight = apply_mask(sample_weight, mask, dtype, reduction)
    if sample_weight is not None:
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        check_weight_shape(values, sample_weight)
        values = values * sample_weight
    return reduce_values(values, sample_weight, reduction)
