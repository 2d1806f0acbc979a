"""The coefficient of determination, `R2Score`, streamed per output column as in Keras 3.

Weighted sums of the targets, of their squares and of the squared residuals are accumulated
per column; `result()` forms `1 - SS_res / SS_tot` from them, so batches can arrive in any
number of pieces.

Example:
    >>> import torch
    >>> from convolve import metrics
    >>> m = metrics.R2Score()
    >>> m.update_state(torch.tensor([[1.0], [4.0], [3.0]]), torch.tensor([[2.0], [4.0], [4.0]]))
    >>> round(float(m.result()), 5)
    0.57143
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import torch

from convolve.losses._tensors import squeeze_or_expand_to_same_rank, to_tensor
from convolve.metrics.base import Metric, no_grad

__all__ = ["R2Score"]

_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")


class R2Score(Metric):
    """R² (coefficient of determination), optionally adjusted for the number of regressors.

    `R2 = 1 - sum((y_true - y_pred)²) / sum((y_true - mean(y_true))²)` per output column
    (the last axis of `(batch_size, output_dim)` inputs). 1 is a perfect fit; 0 is no better
    than predicting the mean; it is negative for worse fits.

    Args:
        class_aggregation: How column scores are combined: `"uniform_average"` (mean),
            `"variance_weighted_average"` (weighted by each column's variance) or `None`
            (one score per column).
        num_regressors: Number of independent regressors, for the adjusted R²; 0 gives the
            standard score.
        name: Name of the metric.
        dtype: Dtype of the state and result.
    """

    def __init__(
        self,
        class_aggregation: str | None = "uniform_average",
        num_regressors: int = 0,
        name: str = "r2_score",
        dtype: Any = None,
    ) -> None:
        problems = []
        if class_aggregation not in _AGGREGATIONS:
            problems.append(
                f"`class_aggregation` must be one of {list(_AGGREGATIONS)}; "
                f"received {class_aggregation=!r}"
            )
        if (
            not isinstance(num_regressors, numbers.Integral)
            or isinstance(num_regressors, bool)
            or num_regressors < 0
        ):
            problems.append(
                f"`num_regressors` must be an integer >= 0; received {num_regressors=!r}"
            )
        if problems:
            raise ValueError(f"Invalid arguments for R2Score: {'; '.join(problems)}.")
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        self.class_aggregation = class_aggregation
        self.num_regressors = int(num_regressors)
        self.add_variable(shape=(), name="num_samples")
        # The sample count again, on the host, to choose the formula without reading the state.
        self._samples_seen = 0
        self._built = False

    def _build(self, y_true_shape: tuple[int, ...], y_pred_shape: tuple[int, ...]) -> None:
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError(
                "R2Score expects 2D inputs with shape (batch_size, output_dim); received "
                f"y_pred.shape={y_pred_shape} and y_true.shape={y_true_shape}."
            )
        columns = (y_pred_shape[-1],)
        for key in ("squared_sum", "sum", "residual", "count"):
            self.add_variable(shape=columns, name=key)
        self._built = True

    @property
    def total_mse(self) -> Any:
        """The accumulated weighted squared residuals per column (Keras's attribute name)."""
        return self.residual

    @no_grad
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Accumulates the weighted sums of a batch."""
        # Arrays and lists go to the state's device; tensors bring the state to theirs.
        y_pred = to_tensor(self._values_and_state(y_pred)[0], dtype=self._dtype)
        y_true = to_tensor(y_true, dtype=self._dtype, like=y_pred)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if not self._built:
            self._build(tuple(y_true.shape), tuple(y_pred.shape))
        if y_true.shape != y_pred.shape or y_true.ndim != 2:
            raise ValueError(
                "R2Score expects y_true and y_pred of the same shape (batch_size, output_dim); "
                f"received y_true.shape={tuple(y_true.shape)} and "
                f"y_pred.shape={tuple(y_pred.shape)}."
            )
        state = self._state_on(y_pred.device)
        if sample_weight is None:
            weight = torch.ones_like(y_true)
            weighted_y_true = y_true
        else:
            weight = to_tensor(sample_weight, dtype=self._dtype, like=y_true)
            if weight.ndim == 1:
                weight = weight.unsqueeze(1)
            try:
                weight = weight.broadcast_to(y_true.shape)
            except RuntimeError:
                raise ValueError(
                    "R2Score expects sample weights broadcastable to y_true; received "
                    f"sample_weight.shape={tuple(weight.shape)} and "
                    f"y_true.shape={tuple(y_true.shape)}."
                ) from None
            weighted_y_true = y_true * weight
        state["sum"].add_(weighted_y_true.sum(dim=0))
        state["squared_sum"].add_((y_true * weighted_y_true).sum(dim=0))
        state["residual"].add_(((y_true - y_pred) ** 2 * weight).sum(dim=0))
        state["count"].add_(weight.sum(dim=0))
        state["num_samples"].add_(y_true.numel())
        self._samples_seen += y_true.numel()

    def result(self) -> torch.Tensor:
        if not self._built:
            return torch.zeros((), dtype=self._dtype)
        state = self._state_on(None)
        total_sum = state["sum"]
        mean = total_sum / state["count"]
        total = state["squared_sum"] - total_sum * mean
        raw_scores = 1 - state["residual"] / total
        raw_scores = torch.where(torch.isinf(raw_scores), 0.0, raw_scores)
        if self.class_aggregation == "uniform_average":
            score = raw_scores.mean()
        elif self.class_aggregation == "variance_weighted_average":
            score = (total * raw_scores).sum() / total.sum()
        else:
            score = raw_scores
        if self.num_regressors == 0:
            return score
        if self.num_regressors > self._samples_seen - 1:
            warnings.warn(
                "More independent predictors than datapoints in adjusted R2 score. "
                "Falling back to standard R2 score.",
                stacklevel=2,
            )
            return score
        if self.num_regressors == self._samples_seen - 1:
            warnings.warn(
                "Division by zero in Adjusted R2 score. Falling back to standard R2 score.",
                stacklevel=2,
            )
            return score
        n = state["num_samples"].to(torch.float32)
        return 1.0 - (1.0 - score) * (n - 1.0) / (n - float(self.num_regressors) - 1.0)

    def reset_state(self) -> None:
        super().reset_state()
        self._samples_seen = 0

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "class_aggregation": self.class_aggregation,
            "num_regressors": self.num_regressors,
        }
