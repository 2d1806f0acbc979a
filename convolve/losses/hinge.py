"""Hinge losses for labels in {-1, 1} (or {0, 1}, mapped to {-1, 1})."""

from __future__ import annotations

from typing import Any

import torch

from convolve.losses._tensors import check_broadcastable, float_tensor, to_tensor
from convolve.losses.base import reduction_only_loss


def _hinge_labels(y_true: torch.Tensor) -> torch.Tensor:
    # Keras maps {0, 1} labels to {-1, 1} when every label is 0 or 1; a where() on the device
    # decides without reading the values on the host.
    is_binary = ((y_true == 0) | (y_true == 1)).all()
    return torch.where(is_binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Mean of `max(1 - y_true * y_pred, 0)`; labels in {0, 1} are mapped to {-1, 1}."""
    y_pred = float_tensor(y_pred)
    y_true = _hinge_labels(to_tensor(y_true, dtype=y_pred.dtype, like=y_pred))
    check_broadcastable("hinge", y_true, y_pred)
    return torch.clamp(1.0 - y_true * y_pred, min=0.0).mean(dim=-1)


def squared_hinge(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Mean of `max(1 - y_true * y_pred, 0) ** 2`; labels in {0, 1} are mapped to {-1, 1}."""
    y_pred = float_tensor(y_pred)
    y_true = _hinge_labels(to_tensor(y_true, dtype=y_pred.dtype, like=y_pred))
    check_broadcastable("squared_hinge", y_true, y_pred)
    return torch.square(torch.clamp(1.0 - y_true * y_pred, min=0.0)).mean(dim=-1)


def categorical_hinge(y_true: Any, y_pred: Any) -> torch.Tensor:
    """`max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)` over the last axis."""
    y_pred = float_tensor(y_pred)
    y_true = to_tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    check_broadcastable("categorical_hinge", y_true, y_pred)
    pos = (y_true * y_pred).sum(dim=-1)
    neg = ((1.0 - y_true) * y_pred).amax(dim=-1)
    return torch.clamp(neg - pos + 1.0, min=0.0)


class Hinge(reduction_only_loss(hinge, "hinge")):
    """Hinge loss; see `hinge`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class SquaredHinge(reduction_only_loss(squared_hinge, "squared_hinge")):
    """Squared hinge loss; see `squared_hinge`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class CategoricalHinge(reduction_only_loss(categorical_hinge, "categorical_hinge")):
    """Categorical hinge loss; see `categorical_hinge`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """
