"""Schedule-Free AdamW: AdamW steps on an interpolation of iterates and their average."""

from __future__ import annotations

from typing import Any

import torch

from convolve.optimizers._checks import ArgumentChecker
from convolve.optimizers._scalars import f32, pow_f32
from convolve.optimizers.base import LearningRate, Optimizer, Tensor

__all__ = ["ScheduleFreeAdamW"]


class ScheduleFreeAdamW(Optimizer):
    """Schedule-Free AdamW (Defazio et al., 2024), as in Keras 3.

    The optimizer keeps a `momentum` sequence `z` that takes RMSprop-style steps
    `z -= lr * g / (sqrt(v / (1 - beta_2**t)) + epsilon)`, and sets the weights to
    `(1 - beta_1) * z + beta_1 * x`, where `x` is the running average of `z`
    (recovered from the weights at each step, as Keras's torch backend does). No
    learning-rate schedule is needed; `warmup_steps` ramps the rate linearly from 0.

    Args:
        learning_rate: Float, `LearningRateSchedule` or callable. Defaults to 0.0025.
        beta_1: Interpolation between `z` and its average. Defaults to 0.9.
        beta_2: Decay rate of the second moment. Defaults to 0.999.
        epsilon: Added to the root of the corrected second moment. Defaults to 1e-8.
        warmup_steps: Number of steps of linear learning-rate warmup. Defaults to 0.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.zeros(1))
        >>> opt = ScheduleFreeAdamW(learning_rate=0.1)
        >>> opt.apply([torch.ones(1)], [w])
        >>> round(w.item(), 4)
        -0.1
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.0025,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        warmup_steps: int = 0,
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
        self.warmup_steps = warmup_steps
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
        check.real("beta_1", self.beta_1, low=0, high=1, low_open=True)
        check.real("beta_2", self.beta_2, low=0, high=1, high_open=True)
        check.real("epsilon", self.epsilon, low=0)
        check.integer("warmup_steps", self.warmup_steps, low=0)

    def _build_slots(self, params: list[Tensor]) -> None:
        self._momentums, self._velocities = self.add_optimizer_variables(
            params, ["momentum", "velocity"]
        )
        with torch.no_grad():
            torch._foreach_copy_(self._momentums, [p.detach() for p in params])

    def _update_step(
        self, params: list[Tensor], grads: list[Tensor], idx: list[int] | None, lr: float
    ) -> None:
        step = f32(self.iterations + 1)
        if self.warmup_steps > 0:
            lr = f32(lr * min(f32(step / f32(self.warmup_steps)), 1.0))
        beta_1 = f32(self.beta_1)
        beta_2 = f32(self.beta_2)
        (beta_2_power,) = pow_f32([beta_2], [step])
        bias_correction_2 = f32(1 - beta_2_power)
        one_minus_beta_1 = f32(1 - beta_1)
        weight = f32(1.0 / step)
        positions = range(len(self._params)) if idx is None else idx
        for i, p, g in zip(positions, params, grads, strict=True):
            z = self._momentums[i]
            v = self._velocities[i]
            g = g.to(p.dtype)
            v.add_(g.square().sub_(v).mul_(f32(1 - beta_2)))
            denominator = v.div(bias_correction_2).sqrt_().add_(f32(self.epsilon))
            z.sub_(g.mul(lr).div_(denominator))
            # Keras reads the momentum after its in-place update here (torch backend).
            x_old = p.sub(z.mul(one_minus_beta_1)).div_(beta_1)
            x_new = x_old.mul_(f32(1 - weight)).add_(z.mul(weight))
            p.copy_(z.mul(one_minus_beta_1).add_(x_new.mul_(beta_1)))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "warmup_steps": self.warmup_steps,
            }
        )
        return config
