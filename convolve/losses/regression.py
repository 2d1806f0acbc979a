"""Regression losses: squared, absolute, percentage and log errors, Huber, log-cosh, cosine."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from convolve.losses._tensors import EPSILON, l2_normalize, regression_inputs
from convolve.losses.base import BuiltinLoss, reduction_only_loss

# float32(log(2)) exactly as torch computes it, so log_cosh subtracts the same constant as Keras.
_LOG2 = float(torch.log(torch.tensor(2.0)))


def mean_squared_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Mean of `(y_true - y_pred) ** 2` over the last axis."""
    y_true, y_pred = regression_inputs(y_true, y_pred, "mean_squared_error")
    return torch.square(y_true - y_pred).mean(dim=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Mean of `|y_true - y_pred|` over the last axis."""
    y_true, y_pred = regression_inputs(y_true, y_pred, "mean_absolute_error")
    return torch.abs(y_true - y_pred).mean(dim=-1)


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """`100 * mean(|y_true - y_pred| / max(|y_true|, EPSILON))` over the last axis."""
    y_true, y_pred = regression_inputs(y_true, y_pred, "mean_absolute_percentage_error")
    diff = torch.abs((y_true - y_pred) / torch.clamp(torch.abs(y_true), min=EPSILON))
    return 100.0 * diff.mean(dim=-1)


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Mean of `(log(max(y_pred, EPSILON) + 1) - log(max(y_true, EPSILON) + 1)) ** 2`."""
    y_true, y_pred = regression_inputs(y_true, y_pred, "mean_squared_logarithmic_error")
    first_log = torch.log(torch.clamp(y_pred, min=EPSILON) + 1.0)
    second_log = torch.log(torch.clamp(y_true, min=EPSILON) + 1.0)
    return torch.square(first_log - second_log).mean(dim=-1)


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> torch.Tensor:
    """Negative cosine similarity along `axis` (-1 means identical directions)."""
    y_true, y_pred = regression_inputs(y_true, y_pred, "cosine_similarity")
    return -(l2_normalize(y_true, axis) * l2_normalize(y_pred, axis)).sum(dim=axis)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> torch.Tensor:
    """Huber loss: quadratic for `|error| <= delta`, linear beyond; mean over the last axis."""
    y_true, y_pred = regression_inputs(y_true, y_pred, "huber")
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
    y_true, y_pred = regression_inputs(y_true, y_pred, "log_cosh")
    x = y_pred - y_true
    return (x + F.softplus(x * -2.0) - _LOG2).mean(dim=-1)


mse = mean_squared_error
mae = mean_absolute_error
mape = mean_absolute_percentage_error
msle = mean_squared_logarithmic_error
logcosh = log_cosh


class MeanSquaredError(reduction_only_loss(mean_squared_error, "mean_squared_error")):
    """Mean of squared errors over the last axis; see `mean_squared_error`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class MeanAbsoluteError(reduction_only_loss(mean_absolute_error, "mean_absolute_error")):
    """Mean of absolute errors over the last axis; see `mean_absolute_error`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class MeanAbsolutePercentageError(
    reduction_only_loss(mean_absolute_percentage_error, "mean_absolute_percentage_error")
):
    """Mean absolute percentage error; see `mean_absolute_percentage_error`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class MeanSquaredLogarithmicError(
    reduction_only_loss(mean_squared_logarithmic_error, "mean_squared_logarithmic_error")
):
    """Mean squared logarithmic error; see `mean_squared_logarithmic_error`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class LogCosh(reduction_only_loss(log_cosh, "log_cosh")):
    """Logarithm of the hyperbolic cosine of the error; see `log_cosh`.

    Args:
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """


class Huber(BuiltinLoss):
    """Huber loss; see `huber`.

    Args:
        delta: Where the loss turns from quadratic to linear.
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """

    _keras_omits = {"delta": 1.0}

    def __init__(
        self,
        delta: float = 1.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "huber_loss",
        dtype: Any = None,
    ) -> None:
        super().__init__(huber, name=name, reduction=reduction, dtype=dtype, delta=delta)


class CosineSimilarity(BuiltinLoss):
    """Negative cosine similarity; see `cosine_similarity`.

    Args:
        axis: The axis along which similarity is computed.
        reduction: See `Loss`.
        name: Name of the loss.
        dtype: Dtype of the computation.
    """

    _keras_omits = {"axis": -1}

    def __init__(
        self,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "cosine_similarity",
        dtype: Any = None,
    ) -> None:
        super().__init__(cosine_similarity, name=name, reduction=reduction, dtype=dtype, axis=axis)
