"""Intersection-over-union metrics: `IoU`, `MeanIoU`, `BinaryIoU`, `OneHotIoU`, `OneHotMeanIoU`.

As in Keras 3, each accumulates a `(num_classes, num_classes)` confusion matrix (rows are
true classes, columns predicted ones) in the metric's dtype, which defaults to int32: labels,
predictions and sample weights are cast to it, so fractional weights need a float dtype.
Labels outside `[0, num_classes)`, predictions outside it and pixels of `ignore_class` are
skipped. `result()` is the mean, over the target classes that occur, of
`tp / (tp + fp + fn)`, as a float32 scalar.

Example:
    >>> import torch
    >>> from convolve import metrics
    >>> m = metrics.MeanIoU(num_classes=2)
    >>> m.update_state(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1]))
    >>> round(float(m.result()), 4)
    0.3333
"""

from __future__ import annotations

import numbers
import operator
import warnings
from collections.abc import Sequence
from typing import Any

import torch

from convolve.losses._tensors import EPSILON, to_tensor
from convolve.metrics.base import Metric, no_grad

__all__ = ["IoU", "MeanIoU", "BinaryIoU", "OneHotIoU", "OneHotMeanIoU"]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_arguments(
    owner: str,
    num_classes: Any,
    target_class_ids: Any,
    ignore_class: Any,
    sparse_y_true: Any,
    sparse_y_pred: Any,
    axis: Any,
) -> list[int]:
    """Validates the constructor arguments at once; returns the target ids as a list."""
    problems = []
    if not _is_int(num_classes) or num_classes < 1:
        problems.append(f"`num_classes` must be an integer >= 1; received {num_classes=!r}")
    ids: list[int] = []
    if isinstance(target_class_ids, Sequence) and not isinstance(target_class_ids, str):
        ids = list(target_class_ids)
    if not ids or not all(_is_int(i) for i in ids):
        problems.append(
            "`target_class_ids` must be a non-empty list or tuple of integers; "
            f"received {target_class_ids=!r}"
        )
    elif _is_int(num_classes) and num_classes >= 1 and not all(0 <= i < num_classes for i in ids):
        problems.append(
            f"`target_class_ids` must lie in [0, {num_classes}) (num_classes={num_classes}); "
            f"received {target_class_ids=!r}"
        )
    if ignore_class is not None and not _is_int(ignore_class):
        problems.append(f"`ignore_class` must be None or an integer; received {ignore_class=!r}")
    for arg, value in (("sparse_y_true", sparse_y_true), ("sparse_y_pred", sparse_y_pred)):
        if not isinstance(value, bool):
            problems.append(f"`{arg}` must be True or False; received {arg}={value!r}")
    if not _is_int(axis):
        problems.append(f"`axis` must be an integer; received {axis=!r}")
    if problems:
        raise ValueError(f"Invalid arguments for {owner}: {'; '.join(problems)}.")
    return [operator.index(i) for i in ids]


def _per_label(weight: torch.Tensor, label_shape: tuple[int, ...], owner: str) -> torch.Tensor:
    """Flat weights, one per label: a scalar, one per label, or one per sample (leading axes)."""
    count = 1
    for size in label_shape:
        count *= size
    if weight.numel() in (1, count):
        return weight.reshape(-1).broadcast_to((count,))
    leading = tuple(weight.shape)
    while leading and leading[-1] == 1:
        leading = leading[:-1]
    if leading and label_shape[: len(leading)] == leading:
        weight = weight.reshape(leading + (1,) * (len(label_shape) - len(leading)))
        return weight.broadcast_to(label_shape).reshape(-1)
    raise ValueError(
        f"{owner} expects a scalar sample weight, one per sample or one per label; received "
        f"sample_weight.shape={tuple(weight.shape)} for labels of shape {label_shape}."
    )


class IoU(Metric):
    """Intersection-over-union of the given target classes, averaged over those present.

    `iou = tp / (tp + fp + fn)` per class, from a confusion matrix accumulated over all
    batches; the result is the mean over `target_class_ids` whose denominator is non-zero.

    Args:
        num_classes: Number of classes (the confusion matrix is `num_classes²`).
        target_class_ids: List or tuple of the class ids to average; one id gives that
            class's IoU.
        name: Name of the metric.
        dtype: Dtype of the confusion matrix; defaults to int32 (weights are cast to it).
        ignore_class: A label id (e.g. a "void" class such as -1 or 255) whose pixels are
            skipped.
        sparse_y_true: Whether labels are class ids; if False, the arg-max over `axis`.
        sparse_y_pred: Whether predictions are class ids; if False, the arg-max over `axis`.
        axis: The class axis of dense labels or predictions. Defaults to -1.
    """

    def __init__(
        self,
        num_classes: int,
        target_class_ids: Sequence[int],
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        ids = _check_arguments(
            type(self).__name__,
            num_classes,
            target_class_ids,
            ignore_class,
            sparse_y_true,
            sparse_y_pred,
            axis,
        )
        super().__init__(name=name, dtype=dtype or "int32")
        self._direction = "up"
        self.num_classes = operator.index(num_classes)
        self.target_class_ids = ids
        self.ignore_class = None if ignore_class is None else operator.index(ignore_class)
        self.sparse_y_true = sparse_y_true
        self.sparse_y_pred = sparse_y_pred
        self.axis = operator.index(axis)
        self._ids: dict[torch.device, torch.Tensor] = {}
        self.add_variable(shape=(self.num_classes, self.num_classes), name="total_confusion_matrix")

    @property
    def total_cm(self) -> Any:
        """The accumulated confusion matrix (rows: true classes, columns: predictions)."""
        return self.total_confusion_matrix

    @no_grad
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Adds the batch's (weighted) label/prediction pairs to the confusion matrix."""
        # Arrays and lists go to the state's device; tensors bring the state to theirs.
        y_pred = self._values_and_state(y_pred)[0]
        y_true = to_tensor(y_true, like=y_pred)
        if not self.sparse_y_true:
            y_true = y_true.argmax(dim=self.axis)
        if not self.sparse_y_pred:
            y_pred = y_pred.argmax(dim=self.axis)
        label_shape = tuple(y_true.shape)
        y_true = y_true.to(self._dtype).reshape(-1)
        y_pred = y_pred.to(self._dtype).reshape(-1)
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"{type(self).__name__} expects as many labels as predictions; received "
                f"{y_true.numel()} labels and {y_pred.numel()} predictions."
            )
        state = self._state_on(y_pred.device)
        if sample_weight is None:
            weight = torch.ones_like(y_true)
        else:
            if (
                hasattr(sample_weight, "dtype")
                and "float" in str(sample_weight.dtype)
                and not self._dtype.is_floating_point
            ):
                warnings.warn(
                    f"{type(self).__name__}: sample weights are floats but the metric's dtype "
                    f"is {self.dtype}, so they are truncated to integers; pass integer weights "
                    "or a float dtype.",
                    stacklevel=2,
                )
            weight = to_tensor(sample_weight, dtype=self._dtype, like=y_true)
            weight = _per_label(weight, label_shape, type(self).__name__)
        n = self.num_classes
        keep = (y_true >= 0) & (y_true < n) & (y_pred >= 0) & (y_pred < n)
        if self.ignore_class is not None:
            keep &= y_true != self.ignore_class
        index = torch.where(keep, y_true * n + y_pred, 0).long()
        weight = torch.where(keep, weight, 0)
        state["total_confusion_matrix"].view(-1).index_add_(0, index, weight)

    def _target_ids(self, device: torch.device) -> torch.Tensor:
        if device not in self._ids:
            self._ids[device] = torch.tensor(self.target_class_ids, device=device)
        return self._ids[device]

    def result(self) -> torch.Tensor:
        matrix = self._state_on(None)["total_confusion_matrix"]
        sum_over_row = matrix.sum(dim=0).to(self._dtype)
        sum_over_col = matrix.sum(dim=1).to(self._dtype)
        true_positives = torch.diagonal(matrix).to(self._dtype)
        denominator = sum_over_row + sum_over_col - true_positives
        ids = self._target_ids(matrix.device)
        true_positives = true_positives[ids].to(torch.float32)
        denominator = denominator[ids].to(torch.float32)
        valid = denominator > 1e-9
        iou = torch.where(valid, true_positives / (denominator + EPSILON), 0.0)
        return iou.sum() / (valid.to(torch.float32).sum() + EPSILON)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "target_class_ids": self.target_class_ids,
            "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }


class BinaryIoU(IoU):
    """IoU of classes 0 and/or 1 for thresholded scores: `score >= threshold` is class 1.

    Args:
        target_class_ids: `[0]`, `[1]` or `[0, 1]` (default): the classes averaged.
        threshold: Scores (probabilities or logits) at or above it are predicted as class 1.
        name: Name of the metric.
        dtype: Dtype of the confusion matrix; defaults to int32.
    """

    def __init__(
        self,
        target_class_ids: Sequence[int] = (0, 1),
        threshold: float = 0.5,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        if not isinstance(threshold, numbers.Real) or isinstance(threshold, bool):
            raise ValueError(
                f"Invalid arguments for BinaryIoU: `threshold` must be a number; "
                f"received {threshold=!r}."
            )
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        self.threshold = float(threshold)

    @no_grad
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Thresholds the scores, then adds the batch to the confusion matrix."""
        y_pred = to_tensor(self._values_and_state(y_pred)[0], dtype=torch.float32)
        y_true = to_tensor(y_true, dtype=self._dtype, like=y_pred)
        y_pred = (y_pred >= self.threshold).to(self._dtype)
        super().update_state(y_true, y_pred, sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {
            "target_class_ids": self.target_class_ids,
            "threshold": self.threshold,
            "name": self.name,
            "dtype": self.dtype,
        }


class MeanIoU(IoU):
    """Mean IoU over all `num_classes` classes (those that occur).

    Args:
        num_classes: Number of classes.
        name: Name of the metric.
        dtype: Dtype of the confusion matrix; defaults to int32.
        ignore_class: A label id whose pixels are skipped.
        sparse_y_true: Whether labels are class ids; if False, the arg-max over `axis`.
        sparse_y_pred: Whether predictions are class ids; if False, the arg-max over `axis`.
        axis: The class axis of dense labels or predictions. Defaults to -1.
    """

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        valid = _is_int(num_classes) and num_classes >= 1
        target_class_ids = list(range(num_classes)) if valid else [0]  # its error names num_classes
        super().__init__(
            num_classes=num_classes,
            target_class_ids=target_class_ids,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=sparse_y_true,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "name": self.name,
            "dtype": self.dtype,
            "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }


class OneHotIoU(IoU):
    """IoU of the target classes for one-hot labels (arg-max over `axis` gives the class).

    Args:
        num_classes: Number of classes.
        target_class_ids: List or tuple of the class ids to average.
        name: Name of the metric.
        dtype: Dtype of the confusion matrix; defaults to int32.
        ignore_class: A label id whose pixels are skipped.
        sparse_y_pred: Whether predictions are class ids; if False (default), the arg-max.
        axis: The class axis. Defaults to -1.
    """

    def __init__(
        self,
        num_classes: int,
        target_class_ids: Sequence[int],
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_pred: bool = False,
        axis: int = -1,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            target_class_ids=target_class_ids,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=False,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "target_class_ids": self.target_class_ids,
            "name": self.name,
            "dtype": self.dtype,
            "ignore_class": self.ignore_class,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }


class OneHotMeanIoU(MeanIoU):
    """Mean IoU over all classes for one-hot labels (arg-max over `axis` gives the class).

    Args:
        num_classes: Number of classes.
        name: Name of the metric.
        dtype: Dtype of the confusion matrix; defaults to int32.
        ignore_class: A label id whose pixels are skipped.
        sparse_y_pred: Whether predictions are class ids; if False (default), the arg-max.
        axis: The class axis. Defaults to -1.
    """

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_pred: bool = False,
        axis: int = -1,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=False,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "name": self.name,
            "dtype": self.dtype,
            "ignore_class": self.ignore_class,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }
