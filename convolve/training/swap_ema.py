"""`SwapEMAWeights`: evaluate (and optionally checkpoint) with the EMA of the weights."""

from __future__ import annotations

from typing import Any

import torch

from convolve.training.callback import Callback

__all__ = ["SwapEMAWeights"]


class SwapEMAWeights(Callback):
    """Puts the optimizer's moving average of the weights (`use_ema=True`) into the model
    for evaluation and prediction, and the trained weights back afterwards.

    The two sets are exchanged in place, so no memory is added.

    Args:
        swap_on_epoch: Also hold the averages in the model between `on_epoch_end` and the
            next `on_epoch_begin`, so that callbacks after this one (ModelCheckpoint)
            see them. After the last epoch the averages are set to the weights, so the
            model keeps them.

    Raises:
        ValueError: When the optimizer does not keep averages (`use_ema=False`).

    Example:
        >>> # model.compile(optimizer=SGD(use_ema=True), loss="mse")
        >>> # model.fit(x, y, validation_split=0.1, callbacks=[SwapEMAWeights()])
    """

    def __init__(self, swap_on_epoch: bool = False) -> None:
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _optimizer(self) -> Any:
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        if not getattr(optimizer, "use_ema", False):
            raise ValueError(
                "SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. "
                f"Received: use_ema={getattr(optimizer, 'use_ema', None)}"
            )
        return optimizer

    @torch.no_grad()
    def _swap(self) -> None:
        optimizer = self._optimizer()
        for weight, average in zip(optimizer._params, optimizer._ema_averages, strict=True):
            held = weight.detach().clone()
            weight.copy_(average)
            average.copy_(held)
        self._ema_weights_in_model = not self._ema_weights_in_model

    @torch.no_grad()
    def _averages_follow_weights(self) -> None:
        optimizer = self._optimizer()
        torch._foreach_copy_(optimizer._ema_averages, optimizer._params)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.swap_on_epoch and self._ema_weights_in_model:
            self._swap()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap()
            if epoch == self.params["epochs"] - 1:
                self._averages_follow_weights()

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self._ema_weights_in_model:
            self._swap()

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._ema_weights_in_model:
            self._swap()

    on_predict_begin = on_test_begin
    on_predict_end = on_test_end
