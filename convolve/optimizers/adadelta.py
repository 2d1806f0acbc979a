"""Adadelta: steps scaled by the ratio of running RMS of updates to that of gradients."""

from __future__ import annotations

from typing import Any

import torch

from convolve.optimizers._checks import ArgumentChecker
from convolve.optimizers.base import LearningRate, Optimizer, Tensor, _select

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012), as in Keras 3.

    `acc_g = rho * acc_g + (1 - rho) * g**2`,
    `delta = -sqrt(acc_dx + epsilon) / sqrt(acc_g + epsilon) * g`,
    `acc_dx = rho * acc_dx + (1 - rho) * delta**2`, then `w += lr * delta`. Keras keeps
    a learning rate (default 0.001, far smaller than the paper's implicit 1.0); pass
    `learning_rate=1.0` for the original method.

    Args:
        learning_rate: Float, `LearningRateSchedule` or callable. Defaults to 0.001.
        rho: Decay rate of both running averages. Defaults to 0.95.
        epsilon: Added inside both square roots. Defaults to 1e-7.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.zeros(1))
        >>> opt = Adadelta(learning_rate=1.0)
        >>> opt.apply([torch.ones(1)], [w])
        >>> round(w.item(), 6)
        -0.001414
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        rho: float = 0.95,
        epsilon: float = 1e-7,
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
        self.rho = rho
        self.epsilon = epsilon
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
        self._accumulated_grads: list[Tensor] = []
        self._accumulated_delta_vars: list[Tensor] = []

    def _check_hyperparameters(self, check: ArgumentChecker) -> None:
        check.real("rho", self.rho, low=0, high=1)
        check.real("epsilon", self.epsilon, low=0)

    def _build_slots(self, params: list[Tensor]) -> None:
        self._accumulated_grads, self._accumulated_delta_vars = self.add_optimizer_variables(
            params, ["accumulated_grad", "accumulated_delta_var"]
        )

    def _update_step(
        self, params: list[Tensor], grads: list[Tensor], idx: list[int] | None, lr: float
    ) -> None:
        rho = self.rho
        accumulated_grads = _select(self._accumulated_grads, idx)
        accumulated_deltas = _select(self._accumulated_delta_vars, idx)
        torch._foreach_mul_(accumulated_grads, rho)
        squares = self._fresh("a", idx, "mul", grads, grads)
        torch._foreach_add_(accumulated_grads, squares, alpha=1 - rho)
        # delta = -(rms(acc_dx) * g) / rms(acc_g), with rms(x) = sqrt(x + epsilon).
        deltas = self._fresh("a", idx, "add", accumulated_deltas, self.epsilon)
        torch._foreach_sqrt_(deltas)
        torch._foreach_mul_(deltas, grads)
        denominators = self._fresh("b", idx, "add", accumulated_grads, self.epsilon)
        torch._foreach_sqrt_(denominators)
        torch._foreach_div_(deltas, denominators)
        torch._foreach_neg_(deltas)
        torch._foreach_mul_(accumulated_deltas, rho)
        squares = self._fresh("b", idx, "mul", deltas, deltas)
        torch._foreach_add_(accumulated_deltas, squares, alpha=1 - rho)
        torch._foreach_add_(params, deltas, alpha=lr)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"rho": self.rho, "epsilon": self.epsilon})
        return config
