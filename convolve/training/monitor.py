"""Callbacks that watch a metric: `EarlyStopping` and `ReduceLROnPlateau`."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from convolve.training.callback import Callback
from convolve.training.console import print_msg
from convolve.training.logs import to_float

__all__ = ["MonitorCallback", "EarlyStopping", "ReduceLROnPlateau"]

# Default names of Keras's metrics (and the aliases accepted in `compile`) by the direction
# in which they improve, so that `mode="auto"` can decide without asking the metric.
_HIGHER_IS_BETTER = frozenset(
    {
        "acc",
        "accuracy",
        "auc",
        "binary_accuracy",
        "binary_io_u",
        "categorical_accuracy",
        "concordance_correlation",
        "cosine_similarity",
        "f1_score",
        "fbeta_score",
        "io_u",
        "mean_io_u",
        "one_hot_io_u",
        "one_hot_mean_io_u",
        "pearson_correlation",
        "precision",
        "precision_at_recall",
        "r2_score",
        "recall",
        "recall_at_precision",
        "sensitivity_at_specificity",
        "sparse_categorical_accuracy",
        "sparse_top_k_categorical_accuracy",
        "specificity_at_sensitivity",
        "top_k_categorical_accuracy",
    }
)
_LOWER_IS_BETTER = frozenset(
    {
        "loss",
        "binary_crossentropy",
        "binary_focal_crossentropy",
        "categorical_crossentropy",
        "categorical_focal_crossentropy",
        "categorical_hinge",
        "hinge",
        "huber",
        "kl_divergence",
        "kld",
        "logcosh",
        "log_cosh",
        "mae",
        "mape",
        "mean_absolute_error",
        "mean_absolute_percentage_error",
        "mean_squared_error",
        "mean_squared_logarithmic_error",
        "mse",
        "msle",
        "poisson",
        "root_mean_squared_error",
        "sparse_categorical_crossentropy",
        "squared_hinge",
    }
)


def _less(a: float, b: float) -> bool:
    # Keras compares through `ops.less`, i.e. in float32; doing the same makes the
    # improvement decisions (and so the stopping epoch) identical on near-ties.
    return bool(np.float32(a) < np.float32(b))


def _greater(a: float, b: float) -> bool:
    return bool(np.float32(a) > np.float32(b))


class MonitorCallback(Callback):
    """Base for callbacks that track whether a monitored quantity improves.

    Args:
        monitor: Name of the quantity in the epoch logs.
        mode: `"min"`, `"max"`, or `"auto"` to infer the direction from the name
            (losses and errors decrease, accuracies and scores increase).
        baseline: Initial best value; `None` takes the first value seen.
        min_delta: Smallest change that counts as an improvement.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        baseline: float | None = None,
        min_delta: float = 0,
    ) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.",
                stacklevel=3,
            )
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op = None

    def _set_monitor_op(self) -> None:
        if self.mode == "min":
            self.monitor_op = _less
        elif self.mode == "max":
            self.monitor_op = _greater
        else:
            name = self.monitor.removeprefix("val_")
            direction = _metric_direction(self.model, name)
            if direction is None:
                raise ValueError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but "
                    "it is not possible to determine automatically whether that metric "
                    "should be maximized or minimized. Pass `mode='max'` in order to "
                    "monitor based on the highest metric value, or pass `mode='min'` in "
                    "order to use the lowest value."
                )
            self.monitor_op = _greater if direction == "up" else _less
        if self.monitor_op is _less:
            self.min_delta *= -1

    def _scalar(self, value: Any) -> float:
        """The monitored value as a float; a metric with several values is refused."""
        if isinstance(value, torch.Tensor | np.ndarray) and value.ndim > 0:
            raise ValueError(
                f"{type(self).__name__} can only monitor a scalar value, but "
                f"monitor={self.monitor!r} has shape {tuple(value.shape)}: {value}. "
                "Monitor a metric with one value (e.g. F1Score(average='macro'))."
            )
        return to_float(value)

    def _is_improvement(self, monitor_value: float, reference_value: float | None) -> bool:
        if reference_value is None:
            return True
        return self.monitor_op(monitor_value - self.min_delta, reference_value)


def _metric_direction(model: Any, name: str) -> str | None:
    """Returns `"up"`, `"down"` or `None` for a metric name."""
    if name == "loss":
        return "down"
    # A metric object on the model that states its direction wins over the name table;
    # as in Keras, the last one of that name counts.
    found = None
    present = False
    for metric in _flat_metrics(model):
        if getattr(metric, "name", None) != name:
            continue
        present = True
        direction = getattr(metric, "_direction", None)
        if direction in ("up", "down"):
            found = direction
    if found is not None:
        return found
    if not present and isinstance(getattr(model, "metrics", None), list | tuple):
        # As in Keras, a name that is no metric of the model (`"val_acc"` when the metric
        # is called `"accuracy"`) has no direction, even if it reads like one.
        return None
    if name in _HIGHER_IS_BETTER:
        return "up"
    if name in _LOWER_IS_BETTER or name.endswith("_loss"):
        return "down"
    return None


def _flat_metrics(model: Any) -> list[Any]:
    """The model's metric objects, with the compiled-metrics container (one entry of
    `model.metrics` holding every metric given to `compile`) replaced by its contents."""
    flat = []
    for metric in getattr(model, "metrics", None) or ():
        inner = getattr(metric, "metrics", None)
        if isinstance(inner, list | tuple):
            flat.extend(inner)
        else:
            flat.append(metric)
    return flat


class EarlyStopping(MonitorCallback):
    """Stops training when a monitored metric has stopped improving.

    At the end of every epoch from `start_from_epoch` on, the monitored value is compared
    with the best so far. After `patience` epochs in a row without an improvement larger
    than `min_delta`, `model.stop_training` is set and `fit` ends after that epoch.

    Args:
        monitor: Quantity to monitor. Defaults to `"val_loss"`.
        min_delta: Minimum absolute change that counts as an improvement.
        patience: Number of epochs without improvement after which training stops.
        verbose: 0 is silent; 1 prints a message when stopping or restoring weights.
        mode: `"auto"`, `"min"` or `"max"`: whether the quantity should decrease or
            increase (`"auto"` infers it from the name).
        baseline: Value the quantity must beat. While no epoch beats it, the patience
            counter is not reset, so training stops after `patience` epochs.
        restore_best_weights: Whether to restore, at the end of training, the weights from
            the epoch with the best monitored value. The best epoch is restored even if it
            did not beat `baseline`. If `False`, the last weights are kept.
        start_from_epoch: Number of warm-up epochs during which the quantity is not
            monitored.

    Example:
        >>> callback = EarlyStopping(monitor="loss", patience=3)
        >>> # model.fit(x, y, epochs=100, callbacks=[callback])
    """

    _backup_attributes = ("wait", "stopped_epoch", "best", "best_weights", "best_epoch")

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights: list[Any] | None = None
        self.best_epoch = 0
        self.start_from_epoch = start_from_epoch

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # Reset so that one instance can serve several `fit` calls.
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Nothing recorded yet: the current weights are the best known.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch

        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # Patience restarts only when the baseline is beaten as well.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return

        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_msg(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs: dict[str, Any] | None) -> float | None:
        """Returns the monitored value from `logs`, warning when it is missing."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not "
                f"available. Available metrics are: {','.join(logs.keys())}",
                stacklevel=2,
            )
            return None
        return self._scalar(value)


class ReduceLROnPlateau(MonitorCallback):
    """Reduces the learning rate when a metric has stopped improving.

    After `patience` epochs without an improvement larger than `min_delta`, the
    optimizer's learning rate is multiplied by `factor` (never below `min_lr`), then the
    callback waits `cooldown` epochs before counting again. The current learning rate is
    added to the epoch logs as `"learning_rate"`.

    Args:
        monitor: Quantity to monitor.
        factor: Factor by which the learning rate is reduced: `new_lr = lr * factor`.
        patience: Number of epochs without improvement before reducing.
        verbose: 0 is quiet; 1 prints a message at each reduction.
        mode: `"auto"`, `"min"` or `"max"`.
        min_delta: Threshold for a change to count as an improvement.
        cooldown: Epochs to wait after a reduction before counting again.
        min_lr: Lower bound on the learning rate.

    Raises:
        ValueError: If `factor >= 1.0`.

    Example:
        >>> reduce_lr = ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5,
        ...                               min_lr=0.001)
        >>> # model.fit(x, y, callbacks=[reduce_lr])
    """

    _backup_attributes = ("wait", "cooldown_counter", "best")

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        **kwargs: Any,
    ) -> None:
        if kwargs:  # Keras accepts and ignores these (Keras 2 code passes `epsilon`)
            warnings.warn(
                "ReduceLROnPlateau ignores the keyword arguments "
                f"{', '.join(f'{k}={v!r}' for k, v in kwargs.items())}"
                + (" (use min_delta instead of epsilon)" if "epsilon" in kwargs else ""),
                stacklevel=2,
            )
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}"
            )
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def _reset(self) -> None:
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        # Written into the shared logs so that later callbacks (History, the progress
        # bar, CSVLogger) see the learning rate too.
        logs = logs if logs is not None else {}
        logs["learning_rate"] = to_float(self.model.optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is "
                f"not available. Available metrics are: {','.join(logs.keys())}.",
                stacklevel=2,
            )
            return
        current = self._scalar(current)
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0

        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce_lr(epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def _reduce_lr(self, epoch: int) -> bool:
        optimizer = self.model.optimizer
        old_lr = to_float(optimizer.learning_rate)
        # Compared against float32 `min_lr` as Keras does: a rate already clamped to
        # `min_lr` stops reducing even after a float32 round trip.
        if old_lr > np.float32(self.min_lr):
            new_lr = max(old_lr * self.factor, self.min_lr)
            optimizer.learning_rate = new_lr
            if self.verbose > 0:
                print_msg(
                    f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}."
                )
            return True
        return False

    def in_cooldown(self) -> bool:
        """Whether the callback is waiting out its cooldown after a reduction."""
        return self.cooldown_counter > 0
