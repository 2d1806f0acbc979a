"""Correlation metrics: Pearson's and Lin's concordance correlation, per sample."""

from __future__ import annotations

from typing import Any

import torch

from convolve import config
from convolve.losses._tensors import regression_inputs
from convolve.metrics.base import _FixedMeanMetric

__all__ = [
    "ConcordanceCorrelation",
    "PearsonCorrelation",
    "concordance_correlation",
    "pearson_correlation",
]


def pearson_correlation(y_true: Any, y_pred: Any, axis: int = -1) -> torch.Tensor:
    """Pearson correlation of labels and predictions along `axis` (population moments).

    Example:
        >>> import torch
        >>> value = pearson_correlation(torch.tensor([[1.0, 2.0, 3.0]]),
        ...                             torch.tensor([[2.0, 4.0, 6.0]]))
        >>> round(float(value[0]), 5)
        1.0
    """
    y_true, y_pred = regression_inputs(y_true, y_pred, "pearson_correlation")
    true_centred = y_true - y_true.mean(dim=axis, keepdim=True)
    pred_centred = y_pred - y_pred.mean(dim=axis, keepdim=True)
    true_centred = true_centred / true_centred.std(dim=axis, keepdim=True, correction=0)
    pred_centred = pred_centred / pred_centred.std(dim=axis, keepdim=True, correction=0)
    return (true_centred * pred_centred).mean(dim=axis)


def concordance_correlation(y_true: Any, y_pred: Any, axis: int = -1) -> torch.Tensor:
    """Lin's concordance correlation coefficient along `axis`, in Keras's form.

    Keras centres both factors of the covariance term on the mean of `y_pred`; this
    function does the same, so that values match Keras's.
    """
    y_true, y_pred = regression_inputs(y_true, y_pred, "concordance_correlation")
    true_mean = y_true.mean(dim=axis, keepdim=True)
    pred_mean = y_pred.mean(dim=axis, keepdim=True)
    true_var = (y_true - true_mean).var(dim=axis, keepdim=True, correction=0)
    pred_var = (y_pred - pred_mean).var(dim=axis, keepdim=True, correction=0)
    covariance = (y_true - pred_mean) * (y_pred - pred_mean)
    norm = true_var + pred_var + torch.square(true_mean - pred_mean)
    return (2 * covariance / (norm + config.epsilon())).mean(dim=axis)


class PearsonCorrelation(_FixedMeanMetric):
    """Streaming mean of per-sample Pearson correlations.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
        axis: The axis along which the correlation is computed.
    """

    _config_keys = ("axis",)

    def __init__(self, name: str = "pearson_correlation", dtype: Any = None, axis: int = -1):
        super().__init__(pearson_correlation, name=name, dtype=dtype, axis=axis)
        self._direction = "up"


class ConcordanceCorrelation(_FixedMeanMetric):
    """Streaming mean of per-sample concordance correlations.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
        axis: The axis along which the correlation is computed.
    """

    _config_keys = ("axis",)

    def __init__(
        self, name: str = "concordance_correlation", dtype: Any = None, axis: int = -1
    ) -> None:
        super().__init__(concordance_correlation, name=name, dtype=dtype, axis=axis)
        self._direction = "up"
