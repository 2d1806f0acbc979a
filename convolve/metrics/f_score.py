"""F-scores: `FBetaScore` and `F1Score`, per class or averaged, as in Keras 3.

Predictions are binarised (above `threshold`, or the arg-max of each row when `threshold` is
None) and true/false positives and false negatives are summed per class (or over everything
for `average="micro"`) in the metric's dtype. The scores are formed only in `result()`.

Example:
    >>> import torch
    >>> from convolve import metrics
    >>> m = metrics.F1Score(threshold=0.5)
    >>> m.update_state(torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0]]),
    ...                torch.tensor([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]]))
    >>> [round(v, 4) for v in m.result().tolist()]
    [0.5, 0.8, 0.6667]
"""

from __future__ import annotations

import numbers
from typing import Any

import torch

from convolve.losses._tensors import EPSILON, to_tensor
from convolve.metrics.base import Metric, no_grad

__all__ = ["FBetaScore", "F1Score"]

_AVERAGES = (None, "micro", "macro", "weighted")
_KEYS = ("true_positives", "false_positives", "false_negatives", "intermediate_weights")


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class FBetaScore(Metric):
    """F-beta score, `(1 + b²) · precision · recall / (b² · precision + recall)`.

    Works for multi-class and multi-label classification with inputs of shape
    `(batch_size, num_classes)`.

    Args:
        average: `None` (one score per class), `"micro"` (from counts summed over all
            classes), `"macro"` (unweighted mean of the class scores) or `"weighted"` (mean
            weighted by each class's number of true instances).
        beta: Weight of recall in the harmonic mean; must be > 0. Defaults to 1.0.
        threshold: Scores above it count as positive. If `None`, the highest score of each
            row counts as positive (unless it is 0).
        name: Name of the metric.
        dtype: Dtype of the state and result.
    """

    def __init__(
        self,
        average: str | None = None,
        beta: float = 1.0,
        threshold: float | None = None,
        name: str = "fbeta_score",
        dtype: Any = None,
    ) -> None:
        problems = []
        if average not in _AVERAGES:
            problems.append(f"`average` must be one of {list(_AVERAGES)}; received {average=!r}")
        if not _is_real(beta) or not beta > 0:
            problems.append(f"`beta` must be a number > 0; received {beta=!r}")
        if threshold is not None and (not _is_real(threshold) or not 0 < threshold <= 1):
            problems.append(
                f"`threshold` must be None or a number with 0 < threshold <= 1; "
                f"received {threshold=!r}"
            )
        if problems:
            raise ValueError(f"Invalid arguments for {type(self).__name__}: {'; '.join(problems)}.")
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        self.average = average
        self.beta = float(beta)
        self.threshold = None if threshold is None else float(threshold)
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, y_true_shape: tuple[int, ...], y_pred_shape: tuple[int, ...]) -> None:
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError(
                f"{type(self).__name__} expects 2D inputs with shape (batch_size, output_dim); "
                f"received y_pred.shape={y_pred_shape} and y_true.shape={y_true_shape}."
            )
        shape = (y_pred_shape[-1],) if self.average != "micro" else ()
        for key in _KEYS:
            self.add_variable(shape=shape, name=key)
        self._built = True

    @no_grad
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Accumulates the weighted positive and negative counts of a batch."""
        # Arrays and lists go to the state's device; tensors bring the state to theirs.
        y_pred = to_tensor(self._values_and_state(y_pred)[0], dtype=self._dtype)
        y_true = to_tensor(y_true, dtype=self._dtype, like=y_pred)
        if not self._built:
            self._build(tuple(y_true.shape), tuple(y_pred.shape))
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"{type(self).__name__} expects y_true and y_pred of the same shape; received "
                f"y_true.shape={tuple(y_true.shape)} and y_pred.shape={tuple(y_pred.shape)}."
            )
        state = self._state_on(y_pred.device)
        if self.threshold is None:
            top = y_pred.amax(dim=-1, keepdim=True)
            # A row of zeros must not become a row of ones.
            positive = (y_pred >= top) & (y_pred.abs() > 1e-9)
        else:
            positive = y_pred > self.threshold
        y_pred = positive.to(self._dtype)
        weight = None
        if sample_weight is not None:
            weight = to_tensor(sample_weight, dtype=self._dtype, like=y_pred)
            if weight.ndim == 1 or (weight.ndim == 2 and weight.shape[-1] == 1):
                weight = weight.reshape(-1, 1)
            elif weight.ndim != 0:
                raise ValueError(
                    f"{type(self).__name__} expects one sample weight per row; received "
                    f"sample_weight.shape={tuple(weight.shape)} for "
                    f"y_pred.shape={tuple(y_pred.shape)}."
                )

        def weighted_sum(values: torch.Tensor) -> torch.Tensor:
            if weight is not None:
                values = values * weight
            return values.sum() if self.axis is None else values.sum(dim=self.axis)

        state["true_positives"].add_(weighted_sum(y_pred * y_true))
        state["false_positives"].add_(weighted_sum(y_pred * (1 - y_true)))
        state["false_negatives"].add_(weighted_sum((1 - y_pred) * y_true))
        state["intermediate_weights"].add_(weighted_sum(y_true))

    def result(self) -> torch.Tensor:
        if not self._built:
            return torch.zeros((), dtype=self._dtype)
        state = self._state_on(None)
        tp, fp, fn = state["true_positives"], state["false_positives"], state["false_negatives"]
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        b2 = self.beta**2
        score = (precision * recall) / (b2 * precision + recall + EPSILON) * (1 + b2)
        if self.average == "weighted":
            weights = state["intermediate_weights"]
            return (score * (weights / (weights.sum() + EPSILON))).sum()
        if self.average is not None:
            return score.mean()
        return score

    def reset_state(self) -> None:
        if self._built:
            super().reset_state()

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "average": self.average,
            "beta": self.beta,
            "threshold": self.threshold,
        }


class F1Score(FBetaScore):
    """F1 score, the harmonic mean of precision and recall (`FBetaScore` with beta 1).

    Args:
        average: `None` (one score per class), `"micro"`, `"macro"` or `"weighted"`; see
            `FBetaScore`.
        threshold: Scores above it count as positive. If `None`, the highest score of each
            row counts as positive (unless it is 0).
        name: Name of the metric.
        dtype: Dtype of the state and result.
    """

    def __init__(
        self,
        average: str | None = None,
        threshold: float | None = None,
        name: str = "f1_score",
        dtype: Any = None,
    ) -> None:
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["beta"]
        return config
