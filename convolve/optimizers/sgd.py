"""Stochastic gradient descent, with optional (Nesterov) momentum."""

from __future__ import annotations

from typing import Any

import torch

from convolve.optimizers._checks import ArgumentChecker
from convolve.optimizers.base import LearningRate, Optimizer, Tensor, _select

__all__ = ["SGD"]


class SGD(Optimizer):
    """Gradient descent with optional momentum, as in Keras 3.

    Without momentum: `w -= lr * g`. With momentum:
    `velocity = momentum * velocity - lr * g`, then `w += velocity`, or with
    `nesterov=True`, `w += momentum * velocity - lr * g`.

    Args:
        learning_rate: Float, `LearningRateSchedule` or callable. Defaults to 0.01.
        momentum: Float in [0, 1]. Defaults to 0.0 (no momentum state is kept).
        nesterov: Whether to use Nesterov momentum.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.zeros(1))
        >>> opt = SGD(learning_rate=0.1, momentum=0.9)
        >>> for _ in range(2):
        ...     opt.apply([torch.ones(1)], [w])
        >>> round(w.item(), 6)
        -0.29
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.momentum = momentum
        self.nesterov = nesterov
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        self.momentum = float(momentum)
        self._momentums: list[Tensor] = []

    def _check_hyperparameters(self, check: ArgumentChecker) -> None:
        check.real("momentum", self.momentum, low=0, high=1)
        check.boolean("nesterov", self.nesterov)

    def _build_slots(self, params: list[Tensor]) -> None:
        if self.momentum != 0:
            self._momentums = self.add_optimizer_variables(params, "momentum")

    def _update_step(
        self, params: list[Tensor], grads: list[Tensor], idx: list[int] | None, lr: float
    ) -> None:
        if self.momentum == 0:
            torch._foreach_add_(params, grads, alpha=-lr)
            return
        velocities = _select(self._momentums, idx)
        torch._foreach_mul_(velocities, self.momentum)
        torch._foreach_add_(velocities, grads, alpha=-lr)
        if self.nesterov:
            torch._foreach_add_(params, grads, alpha=-lr)
            torch._foreach_add_(params, velocities, alpha=self.momentum)
        else:
            torch._foreach_add_(params, velocities)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config
