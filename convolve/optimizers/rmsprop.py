"""RMSprop and Adagrad: steps scaled by accumulated squared gradients."""

from __future__ import annotations

from typing import Any

import torch

from convolve.optimizers._checks import ArgumentChecker
from convolve.optimizers.base import LearningRate, Optimizer, Tensor, _select

__all__ = ["RMSprop", "Adagrad"]


class RMSprop(Optimizer):
    """RMSprop, with optional momentum and centering, as in Keras 3.

    `v = rho * v + (1 - rho) * g**2`; the step is `lr * g / sqrt(v + epsilon)`, where
    `centered=True` subtracts the squared moving mean of the gradients from `v`.
    With `momentum > 0` the steps accumulate in a velocity that is applied instead.

    Args:
        learning_rate: Float, `LearningRateSchedule` or callable. Defaults to 0.001.
        rho: Decay of the squared-gradient average. Defaults to 0.9.
        momentum: Float in [0, 1]. Defaults to 0.0.
        epsilon: Added inside the square root. Defaults to 1e-7.
        centered: Whether to normalise by the estimated variance of the gradient.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
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
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered
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
        self._velocities: list[Tensor] = []
        self._momentums: list[Tensor] = []
        self._average_gradients: list[Tensor] = []

    def _check_hyperparameters(self, check: ArgumentChecker) -> None:
        check.real("rho", self.rho, low=0, high=1)
        check.real("momentum", self.momentum, low=0, high=1)
        check.real("epsilon", self.epsilon, low=0)
        check.boolean("centered", self.centered)

    def _build_slots(self, params: list[Tensor]) -> None:
        self._velocities = self.add_optimizer_variables(params, "velocity")
        if self.momentum > 0:
            self._momentums = self.add_optimizer_variables(params, "momentum")
        if self.centered:
            self._average_gradients = self.add_optimizer_variables(params, "average_gradient")

    def _update_step(
        self, params: list[Tensor], grads: list[Tensor], idx: list[int] | None, lr: float
    ) -> None:
        rho = self.rho
        velocities = _select(self._velocities, idx)
        torch._foreach_mul_(velocities, rho)
        squares = self._fresh("a", idx, "mul", grads, grads)
        torch._foreach_add_(velocities, squares, alpha=1 - rho)
        denominators = self._fresh("a", idx, "add", velocities, self.epsilon)
        if self.centered:
            averages = _select(self._average_gradients, idx)
            torch._foreach_mul_(averages, rho)
            torch._foreach_add_(averages, grads, alpha=1 - rho)
            mean_squares = self._fresh("b", idx, "mul", averages, averages)
            torch._foreach_add_(denominators, mean_squares, alpha=-1)
        torch._foreach_sqrt_(denominators)
        increments = self._fresh("b", idx, "mul", grads, lr)
        torch._foreach_div_(increments, denominators)
        if self.momentum > 0:
            momentums = _select(self._momentums, idx)
            torch._foreach_mul_(momentums, self.momentum)
            torch._foreach_add_(momentums, increments)
            torch._foreach_add_(params, momentums, alpha=-1)
        else:
            torch._foreach_add_(params, increments, alpha=-1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "rho": self.rho,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "centered": self.centered,
            }
        )
        return config


class Adagrad(Optimizer):
    """Adagrad: steps scaled by the root of all squared gradients seen so far.

    `acc += g**2`, then `w -= lr * g / sqrt(acc + epsilon)`, with `acc` starting at
    `initial_accumulator_value` as in Keras.

    Args:
        learning_rate: Float, `LearningRateSchedule` or callable. Defaults to 0.001.
        initial_accumulator_value: Starting value of the accumulators. Defaults to 0.1.
        epsilon: Added inside the square root. Defaults to 1e-7.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        initial_accumulator_value: float = 0.1,
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
        self.initial_accumulator_value = initial_accumulator_value
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
        self._accumulators_sq: list[Tensor] = []

    def _check_hyperparameters(self, check: ArgumentChecker) -> None:
        check.real("initial_accumulator_value", self.initial_accumulator_value, low=0)
        check.real("epsilon", self.epsilon, low=0)

    def _build_slots(self, params: list[Tensor]) -> None:
        self._accumulators_sq = self.add_optimizer_variables(
            params, "accumulator", initializer=float(self.initial_accumulator_value)
        )

    def _update_step(
        self, params: list[Tensor], grads: list[Tensor], idx: list[int] | None, lr: float
    ) -> None:
        accumulators = _select(self._accumulators_sq, idx)
        torch._foreach_add_(accumulators, self._fresh("a", idx, "mul", grads, grads))
        denominators = self._fresh("a", idx, "add", accumulators, self.epsilon)
        torch._foreach_sqrt_(denominators)
        updates = self._fresh("b", idx, "mul", grads, lr)
        torch._foreach_div_(updates, denominators)
        torch._foreach_add_(params, updates, alpha=-1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon,
            }
        )
        return config
