"""The `History` callback, which `fit` returns."""

from __future__ import annotations

from typing import Any

from convolve.training.callback import Callback

__all__ = ["History"]


class History(Callback):
    """Records the epoch-level logs of training.

    `fit` adds one automatically and returns it; it is also set as `model.history`.

    Attributes:
        history: Dict mapping each log name to the list of its values, one per epoch.
        epoch: List of the epoch indices that ran (from 0).
        params: The training parameters (`verbose`, `epochs`, `steps`).

    Example:
        >>> h = History()
        >>> class M:
        ...     pass
        >>> h.set_model(M())
        >>> h.on_train_begin()
        >>> h.on_epoch_end(0, {"loss": 0.5})
        >>> h.on_epoch_end(1, {"loss": 0.25})
        >>> h.history
        {'loss': [0.5, 0.25]}
        >>> h.epoch
        [0, 1]
    """

    _backup_attributes = ("history", "epoch")

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # As in Keras, `epoch` restarts with each `fit` while `history` keeps growing
        # when the same instance is reused.
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        # Refresh after every epoch so that an interrupted `fit` still leaves it set.
        if self.model is not None:
            self.model.history = self
