"""One rate at a constraint on another: sensitivity at specificity, precision at recall, ...

Each metric counts true/false positives/negatives at `num_thresholds` evenly spaced
thresholds over `[0, 1]` (the counting is `confusion.update_confusion_matrix`, bucketed) and
reports the best value of one rate among the thresholds where the other rate reaches the
requested value, as Keras does.
"""

from __future__ import annotations

from typing import Any

import torch

from convolve.losses._tensors import divide_no_nan
from convolve.metrics.base import Metric, no_grad
from convolve.metrics.confusion import _FN, _FP, _TN, _TP, _Constants, update_confusion_matrix

__all__ = [
    "PrecisionAtRecall",
    "RecallAtPrecision",
    "SensitivityAtSpecificity",
    "SpecificityAtSensitivity",
]

_KEYS = (_TP, _FP, _TN, _FN)


class _SensitivitySpecificityBase(Metric):
    """Confusion counts over evenly spaced thresholds; subclasses pick the two rates."""

    _constraint = ""  # the argument naming the constrained rate

    def __init__(
        self,
        value: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            raise ValueError(
                f"Argument `{self._constraint}` must be in the range [0, 1]. "
                f"Received: {self._constraint}={value}"
            )
        if not isinstance(num_thresholds, int) or num_thresholds <= 0:
            raise ValueError(
                "Argument `num_thresholds` must be an integer > 0. "
                f"Received: num_thresholds={num_thresholds}"
            )
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        self.value = value
        self.num_thresholds = num_thresholds
        self.class_id = class_id
        if num_thresholds == 1:
            self.thresholds = [0.5]
            self._evenly = False
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds = [0.0, *inner, 1.0]
            self._evenly = True
        self._threshold_values = _Constants(self.thresholds)
        for key in _KEYS:
            self.add_variable(shape=(len(self.thresholds),), name=key)

    @no_grad
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Accumulates the confusion counts of a batch at every threshold."""
        y_pred = torch.as_tensor(y_pred) if not isinstance(y_pred, torch.Tensor) else y_pred
        state = self._state_on(y_pred.device)
        update_confusion_matrix(
            state,
            _KEYS,
            y_true,
            y_pred,
            self._threshold_values,
            self._evenly,
            class_id=self.class_id,
            sample_weight=sample_weight,
        )

    def _rates(self) -> dict[str, torch.Tensor]:
        s = self._state_on(None)
        return {
            "sensitivity": divide_no_nan(s[_TP], s[_TP] + s[_FN]),
            "specificity": divide_no_nan(s[_TN], s[_TN] + s[_FP]),
            "precision": divide_no_nan(s[_TP], s[_TP] + s[_FP]),
        }

    def _best(self, constrained: torch.Tensor, dependent: torch.Tensor) -> torch.Tensor:
        feasible = constrained >= self.value
        return torch.where(feasible, dependent, 0.0).max().clamp_min(0.0)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "class_id": self.class_id,
            "num_thresholds": self.num_thresholds,
            self._constraint: self.value,
        }


class SensitivityAtSpecificity(_SensitivitySpecificityBase):
    """Best sensitivity (recall) among thresholds whose specificity is >= `specificity`.

    Args:
        specificity: The required specificity, in `[0, 1]`.
        num_thresholds: Number of thresholds evenly spaced over `[0, 1]`; default 200.
        class_id: Only this class (index on the last axis) is evaluated.
        name: Name of the metric.
        dtype: Dtype of the state.
    """

    _constraint = "specificity"

    def __init__(
        self,
        specificity: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(specificity, num_thresholds, class_id, name, dtype)
        self.specificity = specificity

    def result(self) -> torch.Tensor:
        rates = self._rates()
        return self._best(rates["specificity"], rates["sensitivity"])


class SpecificityAtSensitivity(_SensitivitySpecificityBase):
    """Best specificity among thresholds whose sensitivity (recall) is >= `sensitivity`.

    Args:
        sensitivity: The required sensitivity, in `[0, 1]`.
        num_thresholds: Number of thresholds evenly spaced over `[0, 1]`; default 200.
        class_id: Only this class (index on the last axis) is evaluated.
        name: Name of the metric.
        dtype: Dtype of the state.
    """

    _constraint = "sensitivity"

    def __init__(
        self,
        sensitivity: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)
        self.sensitivity = sensitivity

    def result(self) -> torch.Tensor:
        rates = self._rates()
        return self._best(rates["sensitivity"], rates["specificity"])


class PrecisionAtRecall(_SensitivitySpecificityBase):
    """Best precision among thresholds whose recall is >= `recall`.

    Args:
        recall: The required recall, in `[0, 1]`.
        num_thresholds: Number of thresholds evenly spaced over `[0, 1]`; default 200.
        class_id: Only this class (index on the last axis) is evaluated.
        name: Name of the metric.
        dtype: Dtype of the state.
    """

    _constraint = "recall"

    def __init__(
        self,
        recall: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(recall, num_thresholds, class_id, name, dtype)
        self.recall = recall

    def result(self) -> torch.Tensor:
        rates = self._rates()
        return self._best(rates["sensitivity"], rates["precision"])


class RecallAtPrecision(_SensitivitySpecificityBase):
    """Best recall among thresholds whose precision is >= `precision`.

    Args:
        precision: The required precision, in `[0, 1]`.
        num_thresholds: Number of thresholds evenly spaced over `[0, 1]`; default 200.
        class_id: Only this class (index on the last axis) is evaluated.
        name: Name of the metric.
        dtype: Dtype of the state.
    """

    _constraint = "precision"

    def __init__(
        self,
        precision: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(precision, num_thresholds, class_id, name, dtype)
        self.precision = precision

    def result(self) -> torch.Tensor:
        rates = self._rates()
        return self._best(rates["precision"], rates["sensitivity"])
