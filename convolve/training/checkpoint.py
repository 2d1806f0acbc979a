"""The `ModelCheckpoint` callback."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import torch

from convolve.training.console import print_msg
from convolve.training.logs import pythonify_logs, to_float
from convolve.training.monitor import MonitorCallback

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint(MonitorCallback):
    """Saves the model or its weights during training.

    Args:
        filepath: Where to save. It may contain `str.format` fields filled with `epoch`
            (from 1), `batch` (from 1, when saving every few batches) and any name in the
            logs, e.g. `"ckpt/{epoch:02d}-{val_loss:.2f}.keras"`. It must end in
            `.weights.h5` when `save_weights_only=True`, else in `.keras` or `.h5` (Keras's
            legacy HDF5 model format); anything else is refused before training starts.
        monitor: Quantity compared when `save_best_only=True`.
        verbose: 0 is silent; 1 prints a message at each save decision.
        save_best_only: Save only when the monitored quantity improves on the best seen.
            Without format fields in `filepath`, the file is overwritten by each new best.
        save_weights_only: Save with `model.save_weights` instead of `model.save`.
        mode: `"auto"`, `"min"` or `"max"`: whether the monitored quantity should
            decrease or increase.
        save_freq: `"epoch"` to save after each epoch, or an integer number of training
            batches between saves.
        initial_value_threshold: Initial best value when `save_best_only=True`: nothing is
            saved until the quantity beats it.

    Raises:
        ValueError: If `save_freq` is neither `"epoch"` nor an integer, or if the file
            extension does not match `save_weights_only`.

    Example:
        >>> checkpoint = ModelCheckpoint(
        ...     "best.keras", monitor="val_accuracy", mode="max", save_best_only=True)
        >>> # model.fit(x, y, validation_split=0.1, callbacks=[checkpoint])
    """

    takes_tensor_logs = True  # reads batch values itself, only when it needs them

    _backup_attributes = ("best", "_batches_seen_since_last_saving", "_last_batch_seen")

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__(monitor, mode, initial_value_threshold)
        self.verbose = verbose
        self.filepath = os.fspath(filepath)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen: int | None = None
        self._current_epoch = 0

        if save_freq != "epoch" and (not isinstance(save_freq, int) or isinstance(save_freq, bool)):
            raise ValueError(
                f"Unrecognized save_freq: {save_freq}. "
                "Expected save_freq are 'epoch' or integer values"
            )
        if save_weights_only:
            if not self.filepath.endswith(".weights.h5"):
                raise ValueError(
                    "When using `save_weights_only=True` in `ModelCheckpoint`, the filepath "
                    "provided must end in `.weights.h5` (Keras weights format). Received: "
                    f"filepath={self.filepath}"
                )
        elif not self.filepath.endswith((".keras", ".h5")):
            raise ValueError(
                "The filepath provided must end in `.keras` (Keras model format). Received: "
                f"filepath={self.filepath}"
            )

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._should_save_on_batch(batch):
            self._save_model(epoch=self._current_epoch, batch=batch, logs=logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save_model(epoch=epoch, batch=None, logs=logs)

    def _should_save_on_batch(self, batch: int) -> bool:
        if self.save_freq == "epoch":
            return False
        if self._last_batch_seen is None or batch <= self._last_batch_seen:
            # A new epoch started: batch indices restart from 0.
            added = batch + 1
        else:
            added = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += added
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _should_save_model(self, epoch: int, logs: dict[str, Any], filepath: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True

        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        if isinstance(current, torch.Tensor | np.ndarray) and current.ndim > 0:
            warnings.warn(
                f"Can save best model only when `monitor` is a scalar value. Received: "
                f"{current}. Falling back to `save_best_only=False`.",
                stacklevel=3,
            )
            return True
        if self.monitor_op is None:
            # Saving every few batches can come before the first epoch end.
            self._set_monitor_op()
        current = to_float(current)
        best_str = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print_msg(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to "
                    f"{current:.5f}, saving model to {filepath}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}")
        return False

    def _save_model(self, epoch: int, batch: int | None, logs: dict[str, Any] | None) -> None:
        # Batch-level values may still be on the device; one read per save is fine.
        logs = pythonify_logs(logs)
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save_model(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise OSError(
                "Please specify a non-directory filepath for ModelCheckpoint. "
                f"Filepath used is an existing directory: {filepath}"
            )
        if has_nonfinite_weights(self.model):
            warnings.warn(
                f"ModelCheckpoint: not saving {filepath}: the model's weights contain NaN "
                "or infinity.",
                stacklevel=3,
            )
            return
        dirname = os.path.dirname(filepath)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    def _get_file_path(self, epoch: int, batch: int | None, logs: dict[str, Any]) -> str:
        """Fills the format fields of `filepath` for this epoch (and batch)."""
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". Reason: {e}'
            ) from e


def has_nonfinite_weights(model: Any) -> bool:
    """Whether a weight or buffer of `model` holds NaN or infinity (never checkpointed)."""
    if not isinstance(model, torch.nn.Module):
        return False
    tensors = [*model.parameters(), *model.buffers()]
    return not all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())
