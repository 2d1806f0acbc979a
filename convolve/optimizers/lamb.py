"""Lamb: Adam's direction, scaled per tensor by the ratio of weight norm to update norm."""

from __future__ import annotations

from typing import Any

import torch

from convolve.optimizers._checks import ArgumentChecker
from convolve.optimizers.base import LearningRate, Optimizer, Tensor, _select

__all__ = ["Lamb"]


class Lamb(Optimizer):
    """Lamb (You et al., 2019), as in Keras 3.

    Adam's bias-corrected step `m_hat / (sqrt(v_hat) + epsilon)` is rescaled per weight
    tensor by the trust ratio `||w|| / ||step||` (1 when either norm is zero), then
    `w -= ratio * lr * step`.

    Args:
        learning_rate: Float, `LearningRateSchedule` or callable. Defaults to 0.001.
        beta_1: Decay rate of the first moment. Defaults to 0.9.
        beta_2: Decay rate of the second moment. Defaults to 0.999.
        epsilon: Added to the root of the second moment. Defaults to 1e-7.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
        >>> Lamb(learning_rate=0.1).apply([torch.tensor([1.0, 1.0])], [w])
        >>> [round(v, 4) for v in w.tolist()]
        [2.6464, 3.6464]
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
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
        self.beta_1 = beta_1
        self.beta_2 = beta_2
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
        self._momentums: list[Tensor] = []
        self._velocities: list[Tensor] = []

    def _check_hyperparameters(self, check: ArgumentChecker) -> None:
        check.real("beta_1", self.beta_1, low=0, high=1)
        check.real("beta_2", self.beta_2, low=0, high=1)
        check.real("epsilon", self.epsilon, low=0)

    def _build_slots(self, params: list[Tensor]) -> None:
        self._momentums, self._velocities = self.add_optimizer_variables(
            params, ["momentum", "velocity"]
        )

    def _update_step(
        self, params: list[Tensor], grads: list[Tensor], idx: list[int] | None, lr: float
    ) -> None:
        momentums = _select(self._momentums, idx)
        velocities = _select(self._velocities, idx)
        step = float(self._iterations // (self.gradient_accumulation_steps or 1) + 1)
        for p, g, m, v in zip(params, grads, momentums, velocities, strict=True):
            g = g.to(p.dtype)
            scalar = {"dtype": p.dtype, "device": p.device}
            beta_1_power = torch.pow(torch.tensor(self.beta_1, **scalar), step)
            beta_2_power = torch.pow(torch.tensor(self.beta_2, **scalar), step)
            m.add_((g - m) * (1 - self.beta_1))
            v.add_((torch.square(g) - v) * (1 - self.beta_2))
            m_hat = m / (1.0 - beta_1_power)
            v_sqrt = torch.sqrt(v / (1.0 - beta_2_power)) + self.epsilon
            update = m_hat / v_sqrt
            w_norm = torch.sqrt(torch.sum(torch.pow(p, 2)))
            u_norm = torch.sqrt(torch.sum(torch.pow(update, 2)))
            one = torch.ones((), **scalar)
            ratio = torch.where(w_norm > 0, torch.where(u_norm > 0, w_norm / u_norm, one), one)
            p.sub_(ratio * torch.tensor(lr, **scalar) * update)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
