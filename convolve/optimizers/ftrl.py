"""FTRL-Proximal: "Follow The Regularized Leader", with L1, L2 and shrinkage terms."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from convolve.optimizers._checks import ArgumentChecker
from convolve.optimizers.base import LearningRate, Optimizer, Tensor, _select

__all__ = ["Ftrl"]


class Ftrl(Optimizer):
    """FTRL-Proximal (McMahan et al., 2013), as in Keras 3.

    Per element, with accumulator `n` (starting at `initial_accumulator_value`) and
    linear term `z` (starting at 0)::

        g_s = g + 2 * l2_shrinkage_regularization_strength * w
        n_new = n + g**2
        z += g_s - (n_new**-p - n**-p) / lr * w        # p = learning_rate_power
        q = n_new**-p / lr + 2 * (l2 + beta / (2 * lr))
        w = (clip(z, -l1, l1) - z) / q
        n = n_new

    so `w` is 0 wherever `|z| <= l1`. Best suited to shallow models with large,
    sparse inputs.

    Args:
        learning_rate: Float, `LearningRateSchedule` or callable. Defaults to 0.001.
        learning_rate_power: How the per-element rate falls as gradients accumulate;
            <= 0, and 0 keeps it fixed. Defaults to -0.5.
        initial_accumulator_value: Starting value of the accumulators, >= 0.
            Defaults to 0.1.
        l1_regularization_strength: L1 strength, >= 0. Defaults to 0.0.
        l2_regularization_strength: L2 (stabilisation) strength, >= 0. Defaults to 0.0.
        l2_shrinkage_regularization_strength: L2 penalty on the weights' magnitude,
            added to the gradient, >= 0. Defaults to 0.0.
        beta: The paper's beta, >= 0; adds `beta / lr` to the denominator. Defaults
            to 0.0.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> opt = Ftrl(learning_rate=0.1, l1_regularization_strength=0.5)
        >>> opt.apply([torch.tensor([1.0, -0.2])], [w])
        >>> [round(v, 6) for v in w.tolist()]
        [-0.047673, 0.0]
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        l2_shrinkage_regularization_strength: float = 0.0,
        beta: float = 0.0,
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
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta
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
        self._linears: list[Tensor] = []
        self._exponents: dict[tuple[torch.device, torch.dtype], Tensor] = {}

    def _check_hyperparameters(self, check: ArgumentChecker) -> None:
        check.real("learning_rate_power", self.learning_rate_power, high=0)
        check.real("initial_accumulator_value", self.initial_accumulator_value, low=0)
        check.real("l1_regularization_strength", self.l1_regularization_strength, low=0)
        check.real("l2_regularization_strength", self.l2_regularization_strength, low=0)
        check.real(
            "l2_shrinkage_regularization_strength",
            self.l2_shrinkage_regularization_strength,
            low=0,
        )
        check.real("beta", self.beta, low=0)

    def _build_slots(self, params: list[Tensor]) -> None:
        # Interleaved per parameter (accumulator, linear), in Keras's variable order.
        for p in params:
            self._accumulators_sq.append(
                self.add_variable_from_reference(
                    p, "accumulator", float(self.initial_accumulator_value)
                )
            )
            self._linears.append(self.add_variable_from_reference(p, "linear", "zeros"))

    def _exponent(self, like: Tensor) -> Tensor:
        # A 0-d tensor exponent, as Keras passes it: torch's scalar-exponent path (sqrt
        # for 0.5) rounds differently. Made once per device and dtype.
        key = (like.device, like.dtype)
        exponent = self._exponents.get(key)
        if exponent is None:
            exponent = torch.tensor(-self.learning_rate_power, dtype=like.dtype, device=like.device)
            self._exponents[key] = exponent
        return exponent

    def _update_step(
        self, params: list[Tensor], grads: list[Tensor], idx: list[int] | None, lr: float
    ) -> None:
        # Host scalars in float32, in Keras's order: l2 + beta * (1 / (2 * lr)).
        with np.errstate(divide="ignore", invalid="ignore"):
            two_lr = np.float32(2.0) * np.float32(lr)
            l2_reg = np.float32(self.l2_regularization_strength) + (
                (np.float32(1.0) / two_lr) * np.float32(self.beta)
            )
            quadratic_shift = float(np.float32(2.0) * l2_reg)
        l1 = self.l1_regularization_strength
        shrinkage = self.l2_shrinkage_regularization_strength
        accumulators = _select(self._accumulators_sq, idx)
        linears = _select(self._linears, idx)
        exponents = [self._exponent(p) for p in params]

        if shrinkage:
            adjusted = self._fresh("a", idx, "mul", params, float(np.float32(2 * shrinkage)))
            torch._foreach_add_(adjusted, grads)
        else:
            adjusted = grads
        new_accumulators = self._fresh("b", idx, "mul", grads, grads)
        torch._foreach_add_(new_accumulators, accumulators)
        new_powers = torch._foreach_pow(new_accumulators, exponents)
        # sigma * w = (n_new**-p - n**-p) / lr * w, built in the old accumulators, which
        # take their new values at the end.
        sigma_w = accumulators
        torch._foreach_pow_(sigma_w, exponents)
        torch._foreach_neg_(sigma_w)
        torch._foreach_add_(sigma_w, new_powers)
        torch._foreach_div_(sigma_w, lr)
        torch._foreach_mul_(sigma_w, params)
        torch._foreach_neg_(sigma_w)
        torch._foreach_add_(sigma_w, adjusted)
        torch._foreach_add_(linears, sigma_w)
        quadratics = new_powers
        torch._foreach_div_(quadratics, lr)
        torch._foreach_add_(quadratics, quadratic_shift)
        clipped = self._fresh("a", idx, "clamp_min", linears, -l1)
        torch._foreach_clamp_max_(clipped, l1)
        torch._foreach_sub_(clipped, linears)
        torch._foreach_div_(clipped, quadratics)
        torch._foreach_copy_(params, clipped)
        torch._foreach_copy_(accumulators, new_accumulators)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": (self.l2_shrinkage_regularization_strength),
                "beta": self.beta,
            }
        )
        return config
