"""Muon: momentum orthogonalised by a Newton-Schulz iteration, with AdamW for the rest."""

from __future__ import annotations

import re
from typing import Any

import torch

from convolve.optimizers._checks import ArgumentChecker, is_real
from convolve.optimizers._scalars import f32, pow_f32, sqrt_f32
from convolve.optimizers.base import LearningRate, Optimizer, Tensor, _select

__all__ = ["Muon"]


class Muon(Optimizer):
    """Muon (Jordan et al., 2024), with Moonlight's update scaling, as in Keras 3.

    Each 2-D weight (a `Dense` kernel) takes a Muon step: Nesterov momentum, made
    approximately orthogonal by `ns_steps` iterations of a quintic Newton-Schulz
    polynomial, scaled by `sqrt(max(n, m)) * rms_rate`. Every other weight (biases,
    convolution kernels, normalization scales), every weight whose path contains
    "embedding" when `exclude_embeddings` is True, and every weight whose path matches a
    pattern of `exclude_layers`, takes an AdamW step instead. Keras's advice holds: pass
    the name of the output `Dense` layer in `exclude_layers`.

    Args:
        learning_rate: Float, `LearningRateSchedule` or callable. Defaults to 0.001.
        adam_beta_1: Decay rate of the AdamW first moment. Defaults to 0.9.
        adam_beta_2: Decay rate of the AdamW second moment. Defaults to 0.999.
        adam_weight_decay: Weight decay of the AdamW weights. Defaults to 0.004.
        epsilon: Added to `sqrt(v)` in the AdamW step. Defaults to 1e-7.
        weight_decay: Weight decay of the Muon weights. Defaults to 0.004.
        exclude_layers: Regular expressions; weights whose path matches one take the
            AdamW step. Defaults to None (none).
        exclude_embeddings: Whether weights whose path contains "embedding" take the
            AdamW step. Defaults to True.
        muon_a, muon_b, muon_c: Coefficients of the Newton-Schulz polynomial. Default to
            3.4445, -4.7750 and 2.0315.
        adam_lr_ratio: The AdamW step's learning rate divided by `learning_rate`.
            Defaults to 1.
        momentum: Momentum of the Muon step. Defaults to 0.95.
        ns_steps: Number of Newton-Schulz iterations. Defaults to 5.
        nesterov: Whether the Muon step uses Nesterov momentum. Defaults to True.
        rms_rate: Scale of the Muon update (Liu et al., 2025), or None for no scaling.
            Defaults to 0.2.
        clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.eye(2))
        >>> opt = Muon(learning_rate=0.1, weight_decay=None, rms_rate=None)
        >>> opt.apply([torch.eye(2)], [w])
        >>> w.shape
        torch.Size([2, 2])
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        adam_beta_1: float = 0.9,
        adam_beta_2: float = 0.999,
        adam_weight_decay: float | None = 0.004,
        epsilon: float = 1e-7,
        weight_decay: float | None = 0.004,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        exclude_layers: list[str] | None = None,
        exclude_embeddings: bool = True,
        muon_a: float = 3.4445,
        muon_b: float = -4.7750,
        muon_c: float = 2.0315,
        adam_lr_ratio: float = 1,
        momentum: float = 0.95,
        ns_steps: int = 5,
        nesterov: bool = True,
        rms_rate: float | None = 0.2,
        **kwargs: Any,
    ) -> None:
        self.adam_beta_1 = adam_beta_1
        self.adam_beta_2 = adam_beta_2
        self.epsilon = epsilon
        self.muon_a = muon_a
        self.muon_b = muon_b
        self.muon_c = muon_c
        self.adam_lr_ratio = adam_lr_ratio
        self.momentum = momentum
        self.ns_steps = ns_steps
        self.nesterov = nesterov
        self.exclude_embeddings = exclude_embeddings
        self.exclude_layers = list(exclude_layers) if exclude_layers else []
        self._exclude_layers_arg = exclude_layers
        self.adam_weight_decay = adam_weight_decay
        self.rms_rate = rms_rate
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
        self._velocities: list[Tensor | None] = []

    def _check_hyperparameters(self, check: ArgumentChecker) -> None:
        check.real("adam_beta_1", self.adam_beta_1, low=0, high=1, high_open=True)
        check.real("adam_beta_2", self.adam_beta_2, low=0, high=1, high_open=True)
        check.real("adam_weight_decay", self.adam_weight_decay, low=0, optional=True)
        check.real("epsilon", self.epsilon, low=0)
        for name in ("muon_a", "muon_b", "muon_c"):
            if not is_real(getattr(self, name)):
                check.fail(name, getattr(self, name), "must be a float")
        check.real("adam_lr_ratio", self.adam_lr_ratio, low=0)
        check.real("momentum", self.momentum, low=0, high=1)
        check.integer("ns_steps", self.ns_steps, low=0)
        check.boolean("nesterov", self.nesterov)
        check.boolean("exclude_embeddings", self.exclude_embeddings)
        check.real("rms_rate", self.rms_rate, low=0, optional=True)
        layers = self._exclude_layers_arg
        if layers is not None and (
            isinstance(layers, str)
            or not isinstance(layers, list | tuple)
            or not all(isinstance(k, str) for k in layers)
        ):
            check.fail("exclude_layers", layers, "must be a list of strings (regular expressions)")

    # ------------------------------------------------------------------ routing

    def _path(self, index: int) -> str:
        param = self._params[index]
        path = getattr(param, "path", None)
        if not isinstance(path, str):
            path = self._param_names[index]
        return path or ""

    def _uses_adamw(self, index: int) -> bool:
        """Keras's rule: anything not 2-D, embeddings, and the excluded layers."""
        if self._params[index].dim() != 2:
            return True
        path = self._path(index)
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(keyword, path) for keyword in self.exclude_layers)

    def _build_slots(self, params: list[Tensor]) -> None:
        self._momentums = []
        self._velocities = []
        for i, p in enumerate(params):
            self._momentums.append(self.add_variable_from_reference(p, "momentum"))
            if self._uses_adamw(i):
                self._velocities.append(self.add_variable_from_reference(p, "velocity"))
            else:
                self._velocities.append(None)

    # ------------------------------------------------------------------ updates

    def _clip_decay_update(self, grads: list[Tensor], idx: list[int] | None, owned: bool) -> None:
        # Keras's Muon decays each weight as `w - w * wd * lr`, with `adam_weight_decay`
        # for the AdamW weights and `weight_decay` for the Muon ones.
        grads = self._clip_gradients(grads, idx, owned)
        lr = self._current_learning_rate()
        for i in range(len(self._params)) if idx is None else idx:
            if not self._decay_flags[i]:
                continue
            decay = self.adam_weight_decay if self._velocities[i] is not None else self.weight_decay
            if decay is None:
                continue
            p = self._params[i]
            p.sub_(p.mul(f32(decay)).mul_(lr))
        self._update_step(_select(self._params, idx), grads, idx, lr)

    def _update_step(
        self, params: list[Tensor], grads: list[Tensor], idx: list[int] | None, lr: float
    ) -> None:
        positions = range(len(self._params)) if idx is None else idx
        for i, p, g in zip(positions, params, grads, strict=True):
            v = self._velocities[i]
            if v is not None:
                self._adamw_step(g, p, f32(lr * self.adam_lr_ratio), self._momentums[i], v)
            else:
                self._muon_step(g, p, lr, self._momentums[i])

    def _adamw_step(self, g: Tensor, p: Tensor, lr: float, m: Tensor, v: Tensor) -> None:
        b1_power, b2_power = pow_f32(
            [self.adam_beta_1, self.adam_beta_2], [self.iterations + 1] * 2
        )
        alpha = f32(f32(lr * sqrt_f32(f32(1 - b2_power))) / f32(1 - b1_power))
        g = g.to(p.dtype)
        m.add_(g.sub(m).mul_(1 - self.adam_beta_1))
        v.add_(g.square().sub_(v).mul_(1 - self.adam_beta_2))
        p.sub_(m.mul(alpha).div_(v.sqrt().add_(self.epsilon)))

    def _muon_step(self, g: Tensor, p: Tensor, lr: float, m: Tensor) -> None:
        # A 2-D weight kept transposed in torch's layout is updated in Keras's axis order.
        if tuple(p.__dict__.get("_keras_layout") or ()) == (1, 0):
            g, p, m = g.t(), p.t(), m.t()
        m.add_(g + m * (self.momentum - 1))
        direction = g + self.momentum * m if self.nesterov else m
        update = self.zeropower_via_newtonschulz5(direction, self.ns_steps)
        update = lr * update
        if self.rms_rate is not None:
            update = update * sqrt_f32(float(max(update.shape[0], update.shape[1])))
            update = update * self.rms_rate
        p.sub_(update)

    def zeropower_via_newtonschulz5(self, x: Tensor, steps: int) -> Tensor:
        """Approximately orthogonalises `x` (the `U V^T` of its SVD) by Newton-Schulz.

        Args:
            x: A tensor of rank 2 or more; the last two axes are the matrix.
            steps: Number of iterations of the quintic polynomial.

        Returns:
            A tensor of the shape of `x`.
        """
        if x.dim() < 2:
            raise ValueError(
                "Expected gradient or momentum to have at least 2 dimensions. "
                f"Received: shape={tuple(x.shape)}"
            )
        a, b, c = self.muon_a, self.muon_b, self.muon_c
        tall = x.shape[-2] > x.shape[-1]
        if tall:
            x = x.transpose(-2, -1)
        x = x / (torch.linalg.norm(x, dim=(-2, -1), keepdim=True) + 1e-7)
        for _ in range(steps):
            gram = x @ x.transpose(-2, -1)
            poly = b * gram + (c * gram) @ gram
            x = a * x + poly @ x
        if tall:
            x = x.transpose(-2, -1)
        return x

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "adam_beta_1": self.adam_beta_1,
                "adam_beta_2": self.adam_beta_2,
                "epsilon": self.epsilon,
                "exclude_layers": self.exclude_layers,
                "muon_a": self.muon_a,
                "muon_b": self.muon_b,
                "muon_c": self.muon_c,
                "adam_lr_ratio": self.adam_lr_ratio,
                "momentum": self.momentum,
                "ns_steps": self.ns_steps,
                "nesterov": self.nesterov,
                "exclude_embeddings": self.exclude_embeddings,
                "adam_weight_decay": self.adam_weight_decay,
                "rms_rate": self.rms_rate,
            }
        )
        return config
