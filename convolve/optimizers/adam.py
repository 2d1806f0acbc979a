"""The Adam family: Adam (with AMSGrad), AdamW, Nadam and Adamax.

Each update mirrors Keras's torch implementation operation for operation, so the
weights agree with Keras on CPU to the last bit in float32.
"""

from __future__ import annotations

from typing import Any

import torch

from convolve.optimizers._checks import ArgumentChecker
from convolve.optimizers._scalars import f32, pow_f32, sqrt_f32
from convolve.optimizers.base import LearningRate, Optimizer, Tensor, _select

__all__ = ["Adam", "AdamW", "Nadam", "Adamax"]


class _MomentsOptimizer(Optimizer):
    """Shared arguments of the Adam family: `beta_1`, `beta_2` and `epsilon`."""

    def __init__(
        self,
        learning_rate: LearningRate,
        beta_1: float,
        beta_2: float,
        epsilon: float,
        **kwargs: Any,
    ) -> None:
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        super().__init__(learning_rate=learning_rate, **kwargs)

    def _check_hyperparameters(self, check: ArgumentChecker) -> None:
        check.real("beta_1", self.beta_1, low=0, high=1, high_open=True)
        check.real("beta_2", self.beta_2, low=0, high=1, high_open=True)
        check.real("epsilon", self.epsilon, low=0)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config


class Adam(_MomentsOptimizer):
    """Adam, with Keras's "epsilon hat" form and optional AMSGrad.

    `m = b1 * m + (1 - b1) * g`, `v = b2 * v + (1 - b2) * g**2`, then
    `w -= lr * sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(v) + epsilon)`. Because
    epsilon is added after the bias correction, Keras's default `epsilon=1e-7` is not
    PyTorch's `eps=1e-8` in disguise: results differ from `torch.optim.Adam`.

    Args:
        learning_rate: Float, `LearningRateSchedule` or callable. Defaults to 0.001.
        beta_1: Decay rate of the first moment. Defaults to 0.9.
        beta_2: Decay rate of the second moment. Defaults to 0.999.
        epsilon: Added to `sqrt(v)`. Defaults to 1e-7.
        amsgrad: Whether to divide by the running maximum of `v` (AMSGrad).
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.zeros(1))
        >>> opt = Adam(learning_rate=0.1)
        >>> opt.apply([torch.ones(1)], [w])
        >>> round(w.item(), 5)
        -0.1
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
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
        self.amsgrad = amsgrad
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
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
        self._velocity_hats: list[Tensor] = []

    def _check_hyperparameters(self, check: ArgumentChecker) -> None:
        super()._check_hyperparameters(check)
        check.boolean("amsgrad", self.amsgrad)

    def _build_slots(self, params: list[Tensor]) -> None:
        self._momentums, self._velocities = self.add_optimizer_variables(
            params, ["momentum", "velocity"]
        )
        if self.amsgrad:
            self._velocity_hats = self.add_optimizer_variables(params, "velocity_hat")

    def _update_step(
        self, params: list[Tensor], grads: list[Tensor], idx: list[int] | None, lr: float
    ) -> None:
        beta_1_power, beta_2_power = pow_f32([self.beta_1, self.beta_2], [self.iterations + 1] * 2)
        alpha = f32(f32(lr * sqrt_f32(f32(1 - beta_2_power))) / f32(1 - beta_1_power))
        m = _select(self._momentums, idx)
        v = _select(self._velocities, idx)
        torch._foreach_mul_(m, self.beta_1)
        torch._foreach_add_(m, grads, alpha=1 - self.beta_1)
        torch._foreach_mul_(v, self.beta_2)
        squares = self._fresh("a", idx, "mul", grads, grads)
        torch._foreach_add_(v, squares, alpha=1 - self.beta_2)
        if self.amsgrad:
            v_hat = _select(self._velocity_hats, idx)
            torch._foreach_maximum_(v_hat, v)
            v = v_hat
        denominators = self._fresh("a", idx, "sqrt", v)
        torch._foreach_add_(denominators, self.epsilon)
        updates = self._fresh("b", idx, "mul", m, alpha)
        torch._foreach_div_(updates, denominators)
        torch._foreach_add_(params, updates, alpha=-1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["amsgrad"] = self.amsgrad
        return config


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as in Keras 3.

    Identical to `Adam(weight_decay=...)`: each step first scales the weights by
    `1 - weight_decay * lr`, then applies the Adam update.

    Args:
        learning_rate: Float, `LearningRateSchedule` or callable. Defaults to 0.001.
        weight_decay: Decoupled weight decay; required. Defaults to 0.004.
        beta_1, beta_2, epsilon, amsgrad: See `Adam`.
        clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
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
        self._weight_decay_arg = weight_decay
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
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

    def _check_hyperparameters(self, check: ArgumentChecker) -> None:
        super()._check_hyperparameters(check)
        if self._weight_decay_arg is None:
            check.fail("weight_decay", None, "must be a float for AdamW")


class Nadam(_MomentsOptimizer):
    """Adam with Nesterov momentum (Dozat, 2015), with Keras's momentum schedule.

    Args:
        learning_rate: Float, `LearningRateSchedule` or callable. Defaults to 0.001.
        beta_1: Decay rate of the first moment. Defaults to 0.9.
        beta_2: Decay rate of the second moment. Defaults to 0.999.
        epsilon: Added to the root of the corrected second moment. Defaults to 1e-7.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
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
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
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
        # Running product of the momentum schedule, a float32 variable in Keras.
        self._u_product = 1.0

    def _build_slots(self, params: list[Tensor]) -> None:
        self._momentums, self._velocities = self.add_optimizer_variables(
            params, ["momentum", "velocity"]
        )

    def _host_scalars(self) -> list[tuple[str, Any, Any]]:
        def put(value: Any) -> None:
            self._u_product = f32(float(value))

        return [("u_product", lambda: self._u_product, put)]

    def _update_step(
        self, params: list[Tensor], grads: list[Tensor], idx: list[int] | None, lr: float
    ) -> None:
        step = self.iterations
        decay_power, next_decay_power, beta_2_power = pow_f32(
            [0.96, 0.96, self.beta_2], [step + 1, step + 2, step + 1]
        )
        beta_1 = f32(self.beta_1)
        u_t = f32(beta_1 * f32(1.0 - f32(0.5 * decay_power)))
        u_t_1 = f32(beta_1 * f32(1.0 - f32(0.5 * next_decay_power)))
        u_product_t = f32(self._u_product * u_t)
        u_product_t_1 = f32(u_product_t * u_t_1)
        self._u_product = u_product_t

        m = _select(self._momentums, idx)
        v = _select(self._velocities, idx)
        torch._foreach_mul_(m, self.beta_1)
        torch._foreach_add_(m, grads, alpha=1 - self.beta_1)
        torch._foreach_mul_(v, self.beta_2)
        squares = self._fresh("a", idx, "mul", grads, grads)
        torch._foreach_add_(v, squares, alpha=1 - self.beta_2)

        m_hat = self._fresh("b", idx, "mul", m, u_t_1)
        torch._foreach_div_(m_hat, f32(1 - u_product_t_1))
        g_part = self._fresh("a", idx, "mul", grads, f32(1 - u_t))
        torch._foreach_div_(g_part, f32(1 - u_product_t))
        torch._foreach_add_(m_hat, g_part)
        denominators = self._fresh("a", idx, "div", v, f32(1 - beta_2_power))
        torch._foreach_sqrt_(denominators)
        torch._foreach_add_(denominators, self.epsilon)
        torch._foreach_mul_(m_hat, lr)
        torch._foreach_div_(m_hat, denominators)
        torch._foreach_add_(params, m_hat, alpha=-1)


class Adamax(_MomentsOptimizer):
    """Adamax, the infinity-norm variant of Adam (Kingma & Ba, section 7).

    Args:
        learning_rate: Float, `LearningRateSchedule` or callable. Defaults to 0.001.
        beta_1: Decay rate of the first moment. Defaults to 0.9.
        beta_2: Decay rate of the infinity norm. Defaults to 0.999.
        epsilon: Added to the norm. Defaults to 1e-7.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
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
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
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
        self._m: list[Tensor] = []
        self._u: list[Tensor] = []

    def _build_slots(self, params: list[Tensor]) -> None:
        self._m, self._u = self.add_optimizer_variables(params, ["momentum", "norm"])

    def _update_step(
        self, params: list[Tensor], grads: list[Tensor], idx: list[int] | None, lr: float
    ) -> None:
        (beta_1_power,) = pow_f32([self.beta_1], [self.iterations + 1])
        m = _select(self._m, idx)
        u = _select(self._u, idx)
        torch._foreach_mul_(m, self.beta_1)
        torch._foreach_add_(m, grads, alpha=1 - self.beta_1)
        torch._foreach_mul_(u, self.beta_2)
        torch._foreach_maximum_(u, self._fresh("a", idx, "abs", grads))
        updates = self._fresh("b", idx, "mul", m, lr)
        denominators = self._fresh("a", idx, "add", u, self.epsilon)
        torch._foreach_mul_(denominators, f32(1 - beta_1_power))
        torch._foreach_div_(updates, denominators)
        torch._foreach_add_(params, updates, alpha=-1)
