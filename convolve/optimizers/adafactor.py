"""Adafactor: second moments factored into row and column statistics."""

from __future__ import annotations

from typing import Any

import torch

from convolve.layers.base import keras_view
from convolve.optimizers._checks import ArgumentChecker
from convolve.optimizers.base import LearningRate, Optimizer, Tensor, _select

__all__ = ["Adafactor"]


def _rms(x: Tensor) -> Tensor:
    return torch.sqrt(torch.mean(torch.square(x)))


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern, 2018), as in Keras 3.

    For weights of rank >= 2 the second moment is kept as running means over the last axis
    (`r`) and the second-to-last axis (`c`) of the squared gradients, in Keras's axis order
    (a convolution kernel factors over its input and output channels, as in Keras); smaller
    weights keep a full second moment. The step is clipped to an RMS of `clip_threshold`
    and scaled by `max(epsilon_2, rms(w)) * min(lr, 1 / sqrt(t))`.

    Args:
        learning_rate: Float, `LearningRateSchedule` or callable. Defaults to 0.001.
        beta_2_decay: Exponent of the second moment's decay, `1 - t ** beta_2_decay`.
            Defaults to -0.8.
        epsilon_1: Added to the squared gradients. Defaults to 1e-30.
        epsilon_2: Floor of the weights' RMS in the step size. Defaults to 1e-3.
        clip_threshold: RMS threshold of the unscaled step. Defaults to 1.0.
        relative_step: Cap a constant learning rate at `1 / sqrt(t)`. Defaults to True.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.ones(2, 2))
        >>> Adafactor(learning_rate=0.1).apply([torch.ones(2, 2)], [w])
        >>> [round(v, 4) for v in w.flatten().tolist()]
        [0.9, 0.9, 0.9, 0.9]
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_2_decay: float = -0.8,
        epsilon_1: float = 1e-30,
        epsilon_2: float = 1e-3,
        clip_threshold: float = 1.0,
        relative_step: bool = True,
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
        self.beta_2_decay = beta_2_decay
        self.epsilon_1 = epsilon_1
        self.epsilon_2 = epsilon_2
        self.clip_threshold = clip_threshold
        self.relative_step = relative_step
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
        self._r: list[Tensor] = []
        self._c: list[Tensor] = []
        self._v: list[Tensor] = []

    def _check_hyperparameters(self, check: ArgumentChecker) -> None:
        check.real("beta_2_decay", self.beta_2_decay)
        check.real("epsilon_1", self.epsilon_1, low=0)
        check.real("epsilon_2", self.epsilon_2, low=0)
        check.real("clip_threshold", self.clip_threshold, low=0, low_open=True)

    def _build_slots(self, params: list[Tensor]) -> None:
        self._r, self._c, self._v = [], [], []
        for i, p in enumerate(params):
            shape = tuple(keras_view(p, getattr(p, "_keras_layout", None)).shape)
            if len(shape) < 2:
                # Placeholders, as Keras keeps (int32 scalars) to hold every list aligned.
                r = self.add_variable((), dtype=torch.int32, name="r", device=p.device)
                c = self.add_variable((), dtype=torch.int32, name="c", device=p.device)
            else:
                r = self.add_variable(shape[:-1], dtype=p.dtype, name="r", device=p.device)
                c_shape = (*shape[:-2], shape[-1])
                c = self.add_variable(c_shape, dtype=p.dtype, name="c", device=p.device)
            # Keras names both factors after the weight's own name ("kernel"); its
            # placeholders are created outside the optimizer's scope.
            name = getattr(p, "name", None)
            label = name if isinstance(name, str) else (self._param_names[i] or "variable")
            for state in (r, c):
                state._relabel(label, None if len(shape) < 2 else self.name)
            self._r.append(r)
            self._c.append(c)
            self._v.append(self.add_variable_from_reference(p, "velocity"))

    def _update_step(
        self, params: list[Tensor], grads: list[Tensor], idx: list[int] | None, lr: float
    ) -> None:
        rs, cs, vs = _select(self._r, idx), _select(self._c, idx), _select(self._v, idx)
        step = float(self._iterations // (self.gradient_accumulation_steps or 1) + 1)
        relative = self.relative_step and not callable(self._learning_rate)
        for p, g, r, c, v in zip(params, grads, rs, cs, vs, strict=True):
            layout = getattr(p, "_keras_layout", None)
            w, g, v = (
                keras_view(p, layout),
                keras_view(g.to(p.dtype), layout),
                keras_view(v, layout),
            )
            scalar = {"dtype": p.dtype, "device": p.device}
            t = torch.tensor(step, **scalar)
            rate = torch.tensor(lr, **scalar)
            if relative:
                rate = torch.minimum(rate, 1 / torch.sqrt(t))
            rho = torch.minimum(rate, 1 / torch.sqrt(t))
            alpha = torch.maximum(torch.tensor(self.epsilon_2, **scalar), _rms(w)) * rho
            squared = torch.square(g) + self.epsilon_1
            beta_2_t = 1 - torch.pow(t, self.beta_2_decay)
            if w.ndim >= 2:
                r.copy_(beta_2_t * r + (1 - beta_2_t) * torch.mean(squared, dim=-1))
                c.copy_(beta_2_t * c + (1 - beta_2_t) * torch.mean(squared, dim=-2))
                v.copy_(
                    torch.unsqueeze(r / torch.mean(r, dim=-1, keepdim=True), -1)
                    * torch.unsqueeze(c, -2)
                )
            else:
                v.copy_(beta_2_t * v + (1 - beta_2_t) * squared)
            u = g / torch.sqrt(v)
            u_hat = u / torch.maximum(torch.ones((), **scalar), _rms(u) / self.clip_threshold)
            w.sub_(alpha * u_hat)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "beta_2_decay": self.beta_2_decay,
                "epsilon_1": self.epsilon_1,
                "epsilon_2": self.epsilon_2,
                "clip_threshold": self.clip_threshold,
                "relative_step": self.relative_step,
            }
        )
        return config
