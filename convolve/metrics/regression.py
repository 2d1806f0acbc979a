"""Streaming means of per-sample losses: regression, probabilistic and hinge metrics."""

from __future__ import annotations

from typing import Any

import torch

from convolve import losses as L
from convolve.losses._tensors import l2_normalize, regression_inputs, to_tensor
from convolve.metrics.base import Mean, _FixedMeanMetric, no_grad

__all__ = [
    "MeanSquaredError",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "RootMeanSquaredError",
    "CosineSimilarity",
    "LogCoshError",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "KLDivergence",
    "Poisson",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "cosine_similarity",
]


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> torch.Tensor:
    """Cosine similarity along `axis` (1 means identical directions; the loss is its negative)."""
    y_true, y_pred = regression_inputs(y_true, y_pred, "cosine_similarity")
    return (l2_normalize(y_true, axis) * l2_normalize(y_pred, axis)).sum(dim=axis)


def _simple(fn, default_name: str, direction: str | None) -> type[_FixedMeanMetric]:
    """A base class for metrics over `fn` whose only arguments are `name` and `dtype`."""

    def __init__(self: _FixedMeanMetric, name: str = default_name, dtype: Any = None) -> None:
        _FixedMeanMetric.__init__(self, fn, name=name, dtype=dtype)
        self._direction = direction

    return type(f"_{fn.__name__}_base", (_FixedMeanMetric,), {"__init__": __init__})


class MeanSquaredError(_simple(L.mean_squared_error, "mean_squared_error", "down")):
    """Streaming mean of squared errors.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
    """


class MeanAbsoluteError(_simple(L.mean_absolute_error, "mean_absolute_error", "down")):
    """Streaming mean of absolute errors.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
    """


class MeanAbsolutePercentageError(
    _simple(L.mean_absolute_percentage_error, "mean_absolute_percentage_error", "down")
):
    """Streaming mean absolute percentage error.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
    """


class MeanSquaredLogarithmicError(
    _simple(L.mean_squared_logarithmic_error, "mean_squared_logarithmic_error", "down")
):
    """Streaming mean squared logarithmic error.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
    """


class LogCoshError(_simple(L.log_cosh, "logcosh", "down")):
    """Streaming mean of `log(cosh(error))`.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
    """


class KLDivergence(_simple(L.kl_divergence, "kl_divergence", None)):
    """Streaming mean Kullback-Leibler divergence.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
    """


class Poisson(_simple(L.poisson, "poisson", None)):
    """Streaming mean Poisson loss.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
    """


class Hinge(_simple(L.hinge, "hinge", "down")):
    """Streaming mean hinge loss.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
    """


class SquaredHinge(_simple(L.squared_hinge, "squared_hinge", "down")):
    """Streaming mean squared hinge loss.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
    """


class CategoricalHinge(_simple(L.categorical_hinge, "categorical_hinge", "down")):
    """Streaming mean categorical hinge loss.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
    """


class CosineSimilarity(_FixedMeanMetric):
    """Streaming mean cosine similarity between labels and predictions.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
        axis: The axis along which similarity is computed.
    """

    _keras_omits = {"axis": -1}

    def __init__(self, name: str = "cosine_similarity", dtype: Any = None, axis: int = -1) -> None:
        super().__init__(cosine_similarity, name=name, dtype=dtype, axis=axis)
        self._direction = "up"


class RootMeanSquaredError(Mean):
    """Square root of the streaming (weighted) mean of squared errors.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
    """

    def __init__(self, name: str = "root_mean_squared_error", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self._direction = "down"

    @no_grad
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Accumulates squared errors, optionally weighted by `sample_weight`."""
        y_pred = to_tensor(y_pred, dtype=self._dtype)
        y_true = to_tensor(y_true, dtype=self._dtype, like=y_pred)
        y_true, y_pred = L.squeeze_or_expand_to_same_rank(y_true, y_pred)
        self._update_mean(torch.square(y_pred - y_true), sample_weight)

    def result(self) -> torch.Tensor:
        return torch.sqrt(super().result())


class BinaryCrossentropy(_FixedMeanMetric):
    """Streaming mean binary crossentropy.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Label smoothing in `[0, 1]`.
    """

    _config_keys = ("from_logits", "label_smoothing")

    def __init__(
        self,
        name: str = "binary_crossentropy",
        dtype: Any = None,
        from_logits: bool = False,
        label_smoothing: float = 0,
    ) -> None:
        super().__init__(
            L.binary_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
        )
        self._direction = "down"


class CategoricalCrossentropy(_FixedMeanMetric):
    """Streaming mean categorical crossentropy.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Label smoothing in `[0, 1]`.
        axis: The class axis.
    """

    _config_keys = ("from_logits", "label_smoothing", "axis")

    def __init__(
        self,
        name: str = "categorical_crossentropy",
        dtype: Any = None,
        from_logits: bool = False,
        label_smoothing: float = 0,
        axis: int = -1,
    ) -> None:
        super().__init__(
            L.categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self._direction = "down"


class SparseCategoricalCrossentropy(_FixedMeanMetric):
    """Streaming mean sparse categorical crossentropy.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
        from_logits: Whether `y_pred` holds logits.
        ignore_class: Label whose entries are zeroed (and, with sample weights, not counted).
        axis: The class axis.
    """

    _config_keys = ("from_logits", "ignore_class", "axis")

    def __init__(
        self,
        name: str = "sparse_categorical_crossentropy",
        dtype: Any = None,
        from_logits: bool = False,
        ignore_class: int | None = None,
        axis: int = -1,
    ) -> None:
        super().__init__(
            L.sparse_categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )
        self._direction = "down"

    def _values(self, y_true: Any, y_pred: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        return L.base.MASKED_VARIANTS[L.sparse_categorical_crossentropy](
            y_true, y_pred, **self._fn_kwargs
        )
