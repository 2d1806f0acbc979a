"""Lion: steps of fixed size per element, in the sign of an interpolated momentum."""

from __future__ import annotations

from typing import Any

import torch

from convolve.optimizers._checks import ArgumentChecker
from convolve.optimizers.base import LearningRate, Optimizer, Tensor, _select

__all__ = ["Lion"]


class Lion(Optimizer):
    """Lion (Chen et al., 2023), as in Keras 3.

    `w -= lr * sign(beta_1 * m + (1 - beta_1) * g)`, then
    `m = beta_2 * m + (1 - beta_2) * g`. Every element moves by exactly `lr`, so
    suitable rates are typically 3-10x smaller than Adam's, and weight decay 3-10x
    larger.

    Args:
        learning_rate: Float, `LearningRateSchedule` or callable. Defaults to 0.001.
        beta_1: Weight of the momentum in the step's direction, in (0, 1].
            Defaults to 0.9.
        beta_2: Decay rate of the momentum. Defaults to 0.99.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> opt = Lion(learning_rate=0.1)
        >>> opt.apply([torch.tensor([3.0, -1e-4])], [w])
        >>> [round(v, 6) for v in w.tolist()]
        [-0.1, 0.1]
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.99,
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
        self.beta_1 = beta_1
        self.beta_2 = beta_2
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
        self._momentums: list[Tensor] = []

    def _check_hyperparameters(self, check: ArgumentChecker) -> None:
        # beta_1 = 0 would make Lion plain SignSGD; Keras refuses it too.
        check.real("beta_1", self.beta_1, low=0, high=1, low_open=True)
        check.real("beta_2", self.beta_2, low=0, high=1)

    def _build_slots(self, params: list[Tensor]) -> None:
        self._momentums = self.add_optimizer_variables(params, "momentum")

    def _update_step(
        self, params: list[Tensor], grads: list[Tensor], idx: list[int] | None, lr: float
    ) -> None:
        momentums = _select(self._momentums, idx)
        steps = self._fresh("a", idx, "mul", momentums, self.beta_1)
        torch._foreach_add_(steps, grads, alpha=1 - self.beta_1)
        torch._foreach_sign_(steps)
        torch._foreach_mul_(steps, lr)
        torch._foreach_add_(params, steps, alpha=-1)
        torch._foreach_mul_(momentums, self.beta_2)
        torch._foreach_add_(momentums, grads, alpha=1 - self.beta_2)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2})
        return config
