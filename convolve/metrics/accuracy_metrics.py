"""Accuracy metrics: exact, binary, categorical, sparse categorical and top-k."""

from __future__ import annotations

from typing import Any

import torch

from convolve.losses._tensors import float_tensor, squeeze_or_expand_to_same_rank, to_tensor
from convolve.metrics.base import _FixedMeanMetric

__all__ = [
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
]


def _compare_dtype(y_pred: torch.Tensor) -> torch.dtype:
    # Labels are compared as floats, as in Keras; at least float32 so that class indices
    # stay exact (half precision cannot hold every index above 2048).
    if y_pred.dtype in (torch.float32, torch.float64):
        return y_pred.dtype
    return torch.float32


def accuracy(y_true: Any, y_pred: Any) -> torch.Tensor:
    """1.0 where `y_true == y_pred` exactly, else 0.0."""
    y_pred = float_tensor(y_pred)
    y_true = to_tensor(y_true, dtype=y_pred.dtype, like=y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return (y_true == y_pred).to(torch.float32)


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> torch.Tensor:
    """1.0 where `(y_pred > threshold)` equals `y_true`, else 0.0."""
    y_pred = float_tensor(y_pred)
    y_true = to_tensor(y_true, like=y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    predicted = (y_pred > threshold).to(y_true.dtype)
    return (y_true == predicted).to(torch.float32)


def categorical_accuracy(y_true: Any, y_pred: Any) -> torch.Tensor:
    """1.0 where the argmax of `y_pred` equals the argmax of one-hot `y_true`."""
    y_pred = float_tensor(y_pred)
    y_true = torch.argmax(to_tensor(y_true, like=y_pred), dim=-1)
    original_shape = y_true.shape
    reshape = y_true.ndim == y_pred.ndim
    if reshape:
        y_true = y_true.squeeze(-1)
    matches = (y_true == torch.argmax(y_pred, dim=-1)).to(torch.float32)
    return matches.reshape(original_shape) if reshape else matches


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> torch.Tensor:
    """1.0 where the argmax of `y_pred` equals the integer label `y_true`."""
    y_pred = float_tensor(y_pred)
    dtype = _compare_dtype(y_pred)
    y_true = to_tensor(y_true, like=y_pred)
    # Integer labels meet the class indices as integers: with fewer than 2**24 classes,
    # the comparison as floats (Keras's) gives the same answers, at two more kernels.
    exact = (
        y_pred.ndim > 0
        and y_pred.shape[-1] <= 2**24
        and not (y_true.is_floating_point() or y_true.is_complex())
    )
    if not exact:
        y_true = y_true.to(dtype)
    original_shape = y_true.shape
    reshape = y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1
    if reshape:
        y_true = y_true.squeeze(-1)
    predicted = torch.argmax(y_pred, dim=-1)
    matches = (y_true == (predicted if exact else predicted.to(dtype))).to(torch.float32)
    if reshape:
        matches = matches.reshape(original_shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = matches.squeeze(-1)
    return matches


def _in_top_k(targets: torch.Tensor, predictions: torch.Tensor, k: int) -> torch.Tensor:
    # Ties count as hits: the target's score is compared with the k-th largest score.
    kth_largest = torch.topk(predictions, k).values[..., -1:]
    target_score = torch.take_along_dim(predictions, targets.long()[:, None], dim=-1)
    return (target_score >= kth_largest).squeeze(-1)


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> torch.Tensor:
    """1.0 where the one-hot target class is among the `k` highest predictions."""
    y_pred = float_tensor(y_pred)
    y_true = torch.argmax(to_tensor(y_true, dtype=y_pred.dtype, like=y_pred), dim=-1)
    original_shape = y_true.shape
    if y_pred.ndim > 2:
        y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    matches = _in_top_k(y_true.reshape(-1), y_pred, k).to(torch.float32)
    return matches.reshape(original_shape)


def sparse_top_k_categorical_accuracy(
    y_true: Any, y_pred: Any, k: int = 5, from_sorted_ids: bool = False
) -> torch.Tensor:
    """1.0 where the integer label is among the `k` highest predictions.

    With `from_sorted_ids`, `y_pred` holds class ids sorted by decreasing score and a hit
    is a label among its first `k` columns.
    """
    y_pred = to_tensor(y_pred)
    y_true = to_tensor(y_true, like=y_pred)
    y_true = y_true.to(y_pred.dtype) if from_sorted_ids else y_true.to(torch.int32)
    original_shape = y_true.shape
    if y_pred.ndim > 2:
        y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    y_true = y_true.reshape(-1)
    if from_sorted_ids:
        matches = (y_true[:, None] == y_pred[:, :k]).any(dim=1)
    else:
        matches = _in_top_k(y_true, float_tensor(y_pred), k)
    return matches.to(torch.float32).reshape(original_shape)


class Accuracy(_FixedMeanMetric):
    """How often predictions equal labels exactly.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
    """

    def __init__(self, name: str = "accuracy", dtype: Any = None) -> None:
        super().__init__(accuracy, name=name, dtype=dtype)
        self._direction = "up"


class BinaryAccuracy(_FixedMeanMetric):
    """How often `y_pred > threshold` matches binary labels.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
        threshold: Probability above which a prediction counts as 1.
    """

    _config_keys = ("threshold",)

    def __init__(
        self, name: str = "binary_accuracy", dtype: Any = None, threshold: float = 0.5
    ) -> None:
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self._direction = "up"


class CategoricalAccuracy(_FixedMeanMetric):
    """How often the predicted class (argmax) matches one-hot labels.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
    """

    def __init__(self, name: str = "categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(categorical_accuracy, name=name, dtype=dtype)
        self._direction = "up"


class SparseCategoricalAccuracy(_FixedMeanMetric):
    """How often the predicted class (argmax) matches integer labels.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
    """

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)
        self._direction = "up"


class TopKCategoricalAccuracy(_FixedMeanMetric):
    """How often the one-hot target is among the `k` highest predictions.

    Args:
        k: Number of top predictions to consider.
        name: Name of the metric.
        dtype: Dtype of the state.
    """

    _config_keys = ("k",)

    def __init__(
        self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype: Any = None
    ) -> None:
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self._direction = "up"


class SparseTopKCategoricalAccuracy(_FixedMeanMetric):
    """How often the integer label is among the `k` highest predictions.

    Args:
        k: Number of top predictions to consider.
        name: Name of the metric.
        dtype: Dtype of the state.
        from_sorted_ids: Whether `y_pred` holds class ids sorted by decreasing score.
    """

    def __init__(
        self,
        k: int = 5,
        name: str = "sparse_top_k_categorical_accuracy",
        dtype: Any = None,
        from_sorted_ids: bool = False,
    ) -> None:
        super().__init__(
            sparse_top_k_categorical_accuracy,
            name=name,
            dtype=dtype,
            k=k,
            from_sorted_ids=from_sorted_ids,
        )
        self._direction = "up"

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "k": self._fn_kwargs["k"]}
        if self._fn_kwargs["from_sorted_ids"]:
            config["from_sorted_ids"] = True
        return config
