"""Confusion-matrix metrics: true/false positive/negative counts, Precision, Recall and AUC.

Counts are accumulated per threshold as in Keras. When thresholds are evenly spaced over
`[0, 1]` (AUC's default), predictions are bucketed and counted with one scatter and a
cumulative sum instead of comparing every prediction with every threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from convolve.losses._tensors import (
    EPSILON,
    divide_no_nan,
    squeeze_or_expand_to_same_rank,
    to_tensor,
)
from convolve.metrics.base import Metric, no_grad

__all__ = [
    "TruePositives",
    "FalsePositives",
    "TrueNegatives",
    "FalseNegatives",
    "Precision",
    "Recall",
    "AUC",
]

#: Score given to predictions outside the top k, so that no threshold counts them positive.
NEG_INF = -1e10

_TP, _FP, _TN, _FN = "true_positives", "false_positives", "true_negatives", "false_negatives"


def _parse_thresholds(thresholds: Any, default: float) -> list[float]:
    if thresholds is None:
        return [default]
    values = list(thresholds) if isinstance(thresholds, list | tuple) else [thresholds]
    invalid = [t for t in values if t is None or t < 0 or t > 1]
    if invalid:
        raise ValueError(f"Threshold values must be in [0, 1]; received {invalid}.")
    return [float(t) for t in values]


def _evenly_distributed(thresholds: list[float] | np.ndarray) -> bool:
    count = len(thresholds)
    if count < 3:
        return False
    even = np.arange(count, dtype=np.float32) / (count - 1)
    return bool(np.allclose(thresholds, even, atol=EPSILON))


def _filter_top_k(x: torch.Tensor, k: int) -> torch.Tensor:
    top_k_mask = torch.zeros_like(x).scatter_(-1, torch.topk(x, k).indices, 1.0)
    return x * top_k_mask + NEG_INF * (1 - top_k_mask)


class _Constants:
    """Per-device copies of constant tensors, so that no step copies them from the host."""

    def __init__(self, values: Any) -> None:
        self.values = None if values is None else np.asarray(values, dtype=np.float32)
        self._cache: dict[torch.device, torch.Tensor] = {}

    def on(self, device: torch.device) -> torch.Tensor | None:
        if self.values is None:
            return None
        if device not in self._cache:
            self._cache[device] = torch.as_tensor(self.values, device=device)
        return self._cache[device]


def update_confusion_matrix(
    state: dict[str, torch.Tensor],
    keys: tuple[str, ...],
    y_true: Any,
    y_pred: Any,
    thresholds: _Constants,
    evenly: bool,
    top_k: int | None = None,
    class_id: int | None = None,
    sample_weight: Any = None,
    multi_label: bool = False,
    label_weights: torch.Tensor | None = None,
) -> None:
    """Adds this batch's per-threshold confusion counts to the state tensors named in `keys`.

    Args:
        state: The metric's state tensors.
        keys: Which of true/false positives/negatives to update.
        y_true: Binary labels (any non-zero value counts as positive).
        y_pred: Scores in `[0, 1]`.
        thresholds: The thresholds, as float32 constants.
        evenly: Whether the thresholds are evenly spaced over `[0, 1]`.
        top_k: Keep only the top-k scores of each sample before thresholding.
        class_id: Only count this class (last axis index).
        sample_weight: Optional per-sample weights.
        multi_label: Keep labels (last axis) apart instead of flattening them.
        label_weights: Optional per-label weights (not with `multi_label`).
    """
    dtype = state[keys[0]].dtype
    y_pred = to_tensor(y_pred, dtype=dtype)
    y_true = to_tensor(y_true, dtype=dtype, like=y_pred)
    device = y_pred.device
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if sample_weight is not None:
        sample_weight = to_tensor(sample_weight, dtype=dtype, like=y_pred).unsqueeze(-1)
        _, sample_weight = squeeze_or_expand_to_same_rank(
            y_true, sample_weight, expand_rank_1=False
        )
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError(
                "When class_id is given, y_pred must have shape (num_samples, num_classes); "
                f"received y_pred.shape={tuple(y_pred.shape)}."
            )
        y_true = y_true[..., class_id, None]
        y_pred = y_pred[..., class_id, None]
    if evenly:
        values = thresholds.values
        with_epsilon = bool(values[0] < 0.0 or values[-1] > 1.0)
        counts = _bucketed_counts(
            y_true,
            y_pred,
            len(values),
            with_epsilon,
            multi_label,
            sample_weight,
            label_weights,
            keys,
        )
    else:
        counts = _compared_counts(
            y_true, y_pred, thresholds.on(device), multi_label, sample_weight, label_weights, keys
        )
    for key in keys:
        state[key].add_(counts[key])


def _segment_sum(data: torch.Tensor, segments: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Sums `data` into `num_segments` bins along the last axis; out-of-range ids are dropped."""
    in_range = (segments >= 0) & (segments < num_segments)
    segments = torch.where(in_range, segments, num_segments).long()  # spare bin, dropped below
    rows = data.shape[0] if data.ndim == 2 else 1
    if data.ndim == 2:
        offsets = torch.arange(rows, device=data.device).unsqueeze(1) * (num_segments + 1)
        segments = segments + offsets
    result = torch.zeros(rows * (num_segments + 1), dtype=data.dtype, device=data.device)
    result = result.scatter_reduce(0, segments.reshape(-1), data.reshape(-1), "sum")
    result = result.reshape(rows, num_segments + 1)[:, :num_segments]
    return result if data.ndim == 2 else result[0]


def _bucketed_counts(
    y_true, y_pred, num_thresholds, with_epsilon, multi_label, sample_weight, label_weights, keys
):
    weights = None
    if sample_weight is not None:
        weights = sample_weight.to(y_pred.dtype).broadcast_to(y_pred.shape)
    if label_weights is not None:
        per_label = label_weights.unsqueeze(0).broadcast_to(y_pred.shape)
        weights = per_label if weights is None else weights * per_label
    y_pred = torch.clip(y_pred, 0.0, 1.0)
    y_true = y_true.bool().to(y_true.dtype)
    if not multi_label:
        y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
        if weights is not None:
            weights = weights.reshape(-1)
    true_labels = y_true if weights is None else y_true * weights.to(y_true.dtype)
    false_labels = 1.0 - y_true if weights is None else (1.0 - y_true) * weights.to(y_true.dtype)
    buckets = torch.ceil(y_pred * (float(num_thresholds) - 1)) - 1
    if with_epsilon:
        buckets = torch.relu(buckets)
    buckets = buckets.to(torch.int32)
    if multi_label:
        # (labels, samples) so that each label gets its own row of buckets.
        true_labels, false_labels, buckets = true_labels.T, false_labels.T, buckets.T
    counts = {}
    sums = {}
    if _TP in keys or _FN in keys:
        tp = _segment_sum(true_labels, buckets, num_thresholds).flip(-1).cumsum(-1).flip(-1)
        sums[_TP] = tp
    if _FP in keys or _TN in keys:
        fp = _segment_sum(false_labels, buckets, num_thresholds).flip(-1).cumsum(-1).flip(-1)
        sums[_FP] = fp
    if _TP in keys:
        counts[_TP] = sums[_TP]
    if _FP in keys:
        counts[_FP] = sums[_FP]
    if _TN in keys:
        counts[_TN] = false_labels.sum(dim=-1, keepdim=multi_label) - sums[_FP]
    if _FN in keys:
        counts[_FN] = true_labels.sum(dim=-1, keepdim=multi_label) - sums[_TP]
    if multi_label:
        counts = {key: value.T for key, value in counts.items()}
    return counts


def _compared_counts(y_true, y_pred, thresholds, multi_label, sample_weight, label_weights, keys):
    num_thresholds = thresholds.shape[0]
    if multi_label:
        predictions = y_pred.unsqueeze(0)  # (1, N, L)
        labels = y_true.bool().unsqueeze(0)
        pred_is_pos = predictions > thresholds.reshape(num_thresholds, 1, 1)
        weights = None
        if sample_weight is not None:
            weights = sample_weight.broadcast_to(y_pred.shape).unsqueeze(0)
    else:
        predictions = y_pred.reshape(1, -1)
        labels = y_true.bool().reshape(1, -1)
        pred_is_pos = predictions > thresholds.reshape(num_thresholds, 1)
        weights = None
        if sample_weight is not None:
            weights = sample_weight.broadcast_to(y_pred.shape).reshape(1, -1)
        if label_weights is not None:
            per_label = label_weights.unsqueeze(0).broadcast_to(y_pred.shape).reshape(1, -1)
            weights = per_label if weights is None else weights * per_label
    pred_is_neg = ~pred_is_pos
    label_is_neg = ~labels
    conditions = {
        _TP: (labels, pred_is_pos),
        _FN: (labels, pred_is_neg),
        _FP: (label_is_neg, pred_is_pos),
        _TN: (label_is_neg, pred_is_neg),
    }
    counts = {}
    for key in keys:
        label, pred = conditions[key]
        both = label & pred
        if weights is not None:
            values = torch.where(both, weights.to(y_pred.dtype), 0.0)
        else:
            values = both.to(y_pred.dtype)
        counts[key] = values.sum(dim=1)
    return counts


class _ConfusionCount(Metric):
    """Weighted count of one confusion-matrix cell, per threshold."""

    _key = ""

    def __init__(self, thresholds: Any = None, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = _parse_thresholds(thresholds, default=0.5)
        self._evenly = _evenly_distributed(self.thresholds)
        self._threshold_values = _Constants(self.thresholds)
        self.add_variable(shape=(len(self.thresholds),), name="accumulator")

    @no_grad
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Counts this batch's entries of the cell, optionally weighted."""
        y_pred = to_tensor(y_pred)
        state = self._state_on(y_pred.device)
        cell = {self._key: state["accumulator"]}
        update_confusion_matrix(
            cell,
            (self._key,),
            y_true,
            y_pred,
            self._threshold_values,
            self._evenly,
            sample_weight=sample_weight,
        )

    def result(self) -> torch.Tensor:
        accumulator = self._state_on(None)["accumulator"]
        return accumulator[0].clone() if len(self.thresholds) == 1 else accumulator.clone()

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionCount):
    """Weighted number of true positives (label positive, score above the threshold).

    Args:
        thresholds: A threshold or list of thresholds in `[0, 1]`; default 0.5.
        name: Name of the metric.
        dtype: Dtype of the state.
    """

    _key = _TP


class FalsePositives(_ConfusionCount):
    """Weighted number of false positives (label negative, score above the threshold).

    Args:
        thresholds: A threshold or list of thresholds in `[0, 1]`; default 0.5.
        name: Name of the metric.
        dtype: Dtype of the state.
    """

    _key = _FP


class TrueNegatives(_ConfusionCount):
    """Weighted number of true negatives (label negative, score at most the threshold).

    Args:
        thresholds: A threshold or list of thresholds in `[0, 1]`; default 0.5.
        name: Name of the metric.
        dtype: Dtype of the state.
    """

    _key = _TN


class FalseNegatives(_ConfusionCount):
    """Weighted number of false negatives (label positive, score at most the threshold).

    Args:
        thresholds: A threshold or list of thresholds in `[0, 1]`; default 0.5.
        name: Name of the metric.
        dtype: Dtype of the state.
    """

    _key = _FN


class _PrecisionRecall(Metric):
    """Shared machinery of Precision and Recall: true positives plus one error count."""

    _other = ""

    def __init__(
        self,
        thresholds: Any = None,
        top_k: int | None = None,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        # With top_k, every kept score counts as positive unless thresholds say otherwise.
        self.thresholds = _parse_thresholds(thresholds, default=0.5 if top_k is None else NEG_INF)
        self._evenly = _evenly_distributed(self.thresholds)
        self._threshold_values = _Constants(self.thresholds)
        self.add_variable(shape=(len(self.thresholds),), name=_TP)
        self.add_variable(shape=(len(self.thresholds),), name=self._other)

    @no_grad
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Accumulates true positives and the error count from a batch."""
        y_pred = to_tensor(y_pred)
        state = self._state_on(y_pred.device)
        update_confusion_matrix(
            state,
            (_TP, self._other),
            y_true,
            y_pred,
            self._threshold_values,
            self._evenly,
            top_k=self.top_k,
            class_id=self.class_id,
            sample_weight=sample_weight,
        )

    def result(self) -> torch.Tensor:
        state = self._state_on(None)
        tp = state[_TP]
        value = divide_no_nan(tp, tp + state[self._other])
        return value[0] if len(self.thresholds) == 1 else value

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


class Precision(_PrecisionRecall):
    """Precision, `tp / (tp + fp)`, of thresholded scores.

    Args:
        thresholds: A threshold or list of thresholds in `[0, 1]` above which a score counts
            as positive; default 0.5 (or every top-k score with `top_k`).
        top_k: Only the `k` highest scores of each sample can count as positive.
        class_id: Only this class (index on the last axis) is evaluated.
        name: Name of the metric; defaults to `precision`, made unique.
        dtype: Dtype of the state.
    """

    _other = _FP


class Recall(_PrecisionRecall):
    """Recall, `tp / (tp + fn)`, of thresholded scores.

    Args:
        thresholds: A threshold or list of thresholds in `[0, 1]` above which a score counts
            as positive; default 0.5 (or every top-k score with `top_k`).
        top_k: Only the `k` highest scores of each sample can count as positive.
        class_id: Only this class (index on the last axis) is evaluated.
        name: Name of the metric; defaults to `recall`, made unique.
        dtype: Dtype of the state.
    """

    _other = _FN


_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = ("interpolation", "majoring", "minoring")


class AUC(Metric):
    """Area under the ROC or precision-recall curve, from per-threshold confusion counts.

    Args:
        num_thresholds: Number of thresholds, evenly spaced over `[0, 1]` (> 1).
        curve: `"ROC"`, `"PR"` or `"PRGAIN"`.
        summation_method: `"interpolation"` (trapezoids; for PR, Davis & Goadrich's
            interpolation), `"majoring"` or `"minoring"`.
        name: Name of the metric; defaults to `auc`, made unique.
        dtype: Dtype of the state.
        thresholds: Explicit thresholds in `[0, 1]` instead of `num_thresholds`.
        multi_label: Compute one curve per label (last axis) and average them.
        num_labels: Number of labels with `multi_label`, to create the state up front.
        label_weights: Per-label weights of the average (or of the counts without
            `multi_label`).
        from_logits: Whether scores are logits (a sigmoid is applied).
    """

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype: Any = None,
        thresholds: Any = None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights: Any = None,
        from_logits: bool = False,
    ) -> None:
        self._direction = "up"
        if str(curve).lower() not in _CURVES:
            raise ValueError(
                f'Invalid AUC curve value: "{curve}". Expected one of ["ROC", "PR", "PRGAIN"].'
            )
        if str(summation_method).lower() not in _SUMMATIONS:
            raise ValueError(
                f'Invalid AUC summation method value: "{summation_method}". Expected one of '
                f"{list(_SUMMATIONS)}."
            )
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            inner = sorted(float(t) for t in thresholds)
            self._evenly = _evenly_distributed(np.array([0.0, *inner, 1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError(
                    "Argument `num_thresholds` must be an integer > 1. "
                    f"Received: num_thresholds={num_thresholds}"
                )
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        # The end points sit just outside [0, 1] so that scores of exactly 0 and 1 count.
        self._thresholds = np.array([0.0 - EPSILON, *inner, 1.0 + EPSILON])
        self._threshold_values = _Constants(self._thresholds)
        self.curve = _CURVES[str(curve).lower()]
        self.summation_method = str(summation_method).lower()
        super().__init__(name=name, dtype=dtype)
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else [float(w) for w in label_weights]
        self._label_weights = _Constants(
            None if label_weights is None else np.asarray(self.label_weights, np.float32)
        )
        self._from_logits = from_logits
        self._built = False
        if multi_label:
            if num_labels:
                self._build((None, num_labels))
        else:
            if num_labels:
                raise ValueError("`num_labels` is needed only when `multi_label` is True.")
            self._build(None)

    @property
    def thresholds(self) -> list[float]:
        """The thresholds, including the two just outside `[0, 1]`."""
        return list(self._thresholds)

    def _build(self, shape: tuple[int | None, ...] | None) -> None:
        if self.multi_label:
            if len(shape) != 2:
                raise ValueError(
                    "`y_pred` must have rank 2 when `multi_label=True`. Found rank "
                    f"{len(shape)}. Full shape received for `y_pred`: {tuple(shape)}"
                )
            self._num_labels = shape[1]
            variable_shape: tuple[int, ...] = (self.num_thresholds, self._num_labels)
        else:
            variable_shape = (self.num_thresholds,)
        for key in (_TP, _FP, _TN, _FN):
            self.add_variable(shape=variable_shape, name=key)
        self._built = True

    @no_grad
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Accumulates the per-threshold confusion counts of a batch."""
        y_pred = to_tensor(y_pred)
        if not self._built:
            self._build(tuple(y_pred.shape))
        state = self._state_on(y_pred.device)
        if self._from_logits:
            y_pred = torch.sigmoid(y_pred)
        update_confusion_matrix(
            state,
            (_TP, _TN, _FP, _FN),
            y_true,
            y_pred,
            self._threshold_values,
            self._evenly,
            sample_weight=sample_weight,
            multi_label=self.multi_label,
            label_weights=None if self.multi_label else self._label_weights.on(y_pred.device),
        )

    def _average_labels(self, by_threshold: torch.Tensor) -> torch.Tensor:
        if not self.multi_label:
            return by_threshold.sum()
        by_label = by_threshold.sum(dim=0)
        weights = self._label_weights.on(by_label.device)
        if weights is None:
            return by_label.mean()
        return divide_no_nan((by_label * weights).sum(), weights.sum())

    def _interpolate_pr_auc(self, tp, fp, fn) -> torch.Tensor:
        # Davis & Goadrich (2006): precision interpolated between thresholds.
        n = self.num_thresholds
        dtp = tp[: n - 1] - tp[1:]
        p = tp + fp
        dp = p[: n - 1] - p[1:]
        prec_slope = divide_no_nan(dtp, torch.clamp(dp, min=0))
        intercept = tp[1:] - prec_slope * p[1:]
        safe_p_ratio = torch.where(
            (p[: n - 1] > 0) & (p[1:] > 0),
            divide_no_nan(p[: n - 1], torch.clamp(p[1:], min=0)),
            torch.ones_like(p[1:]),
        )
        increments = divide_no_nan(
            prec_slope * (dtp + intercept * torch.log(safe_p_ratio)),
            torch.clamp(tp[1:] + fn[1:], min=0),
        )
        return self._average_labels(increments)

    def interpolate_pr_auc(self) -> torch.Tensor:
        """The PR-AUC of the accumulated counts with Davis & Goadrich's interpolation.

        This is what `result()` returns for `curve="PR"` with the default
        `summation_method="interpolation"`, whatever this metric's own settings.
        """
        state = self._state_on(None)
        if not self._built:
            return torch.zeros((), dtype=self._dtype)
        return self._interpolate_pr_auc(state[_TP], state[_FP], state[_FN])

    def result(self) -> torch.Tensor:
        state = self._state_on(None)
        if not self._built:
            return torch.zeros((), dtype=self._dtype)
        tp, fp, tn, fn = state[_TP], state[_FP], state[_TN], state[_FN]
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc(tp, fp, fn)
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, divide_no_nan(tp, tp + fp)
        else:
            scaling = divide_no_nan(tp + fn, tn + fp)
            recall_gain = 1.0 - scaling * divide_no_nan(fn, tp)
            precision_gain = 1.0 - scaling * divide_no_nan(fp, tp)
            recall_gain = torch.where(tp == 0, 0.0, recall_gain)
            precision_gain = torch.where(tp == 0, 1.0, precision_gain)
            x, y = torch.clamp(recall_gain, min=0.0), precision_gain
        n = self.num_thresholds
        if self.summation_method == "interpolation":
            heights = (y[: n - 1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = torch.minimum(y[: n - 1], y[1:])
        else:
            heights = torch.maximum(y[: n - 1], y[1:])
        return self._average_labels((x[: n - 1] - x[1:]) * heights)

    def reset_state(self) -> None:
        if self._built:
            super().reset_state()

    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": self.label_weights,
            "from_logits": self._from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = [float(t) for t in self._thresholds[1:-1]]
        return config
