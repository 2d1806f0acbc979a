"""Regularization layers: GaussianNoise, GaussianDropout, AlphaDropout and
ActivityRegularization.

The noise layers change their input only in training (`fit`, or a call with
`training=True`); in inference they return it unchanged. As in Keras, each draws from its
own `SeedGenerator`, made with the layer (without a `seed`, it takes one from Python's
`random`, which `convolve.utils.set_random_seed` seeds), and draws Keras's values: the noise
is drawn in the channels-last shape Keras draws it in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from convolve import random, regularizers
from convolve.layers import _conv_utils as cu
from convolve.layers import layout
from convolve.layers.base import Layer


class _NoiseLayer(Layer):
    """A weightless, shape-preserving layer that draws random numbers in training."""

    _engine_layout = True
    _built_at_init = True

    seed: int | None = None

    def _check_seed(self, check: cu.ArgumentErrors, seed: Any) -> int | None:
        if seed is None or cu.is_int(seed):
            return None if seed is None else int(seed)
        check.add(f"seed must be None or an integer, received seed={seed!r}")
        return None

    def _make_seed_generator(self, amount: float) -> None:
        # Keras makes the generator only for a layer that draws (a positive rate/stddev).
        if amount > 0:
            self.seed_generator = random.SeedGenerator(self.seed)

    def _normal_like(self, x: torch.Tensor, mean: float, stddev: float) -> torch.Tensor:
        shape = tuple(layout.to_user(x).shape)
        noise = random.normal(shape, mean, stddev, dtype=x.dtype, seed=self.seed_generator)
        return layout.to_engine(noise.to(x.device))

    def compute_output_shape(self, input_shape):
        return input_shape


class GaussianNoise(_NoiseLayer):
    """Adds zero-mean Gaussian noise of standard deviation `stddev`, in training only.

    Args:
        stddev: standard deviation of the noise, in [0, 1].
        seed: makes the draws repeatable.

    Example:
        >>> import numpy as np
        >>> from convolve import layers
        >>> x = np.ones((2, 3), "float32")
        >>> bool((layers.GaussianNoise(0.1)(x) == 1).all())  # inference: unchanged
        True
    """

    _hands_on_masks = True

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check = cu.ArgumentErrors("GaussianNoise")
        self.stddev = check.number("stddev", stddev, low=0.0, high=1.0)
        self.seed = self._check_seed(check, seed)
        check.raise_if_any()
        self._make_seed_generator(self.stddev)

    def call(self, inputs, training=False):
        if training and self.stddev > 0:
            return inputs + self._normal_like(inputs, 0.0, self.stddev)
        return inputs

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_NoiseLayer):
    """Multiplies inputs by Gaussian noise of mean 1 and standard deviation
    `sqrt(rate / (1 - rate))`, in training only.

    Args:
        rate: drop probability of the equivalent Dropout, in [0, 1).
        seed: makes the draws repeatable.
    """

    _hands_on_masks = True

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check = cu.ArgumentErrors("GaussianDropout")
        self.rate = check.number("rate", rate, low=0.0, high=1.0)
        self.seed = self._check_seed(check, seed)
        check.raise_if_any()
        self._make_seed_generator(self.rate)

    def call(self, inputs, training=False):
        if training and self.rate > 0:
            stddev = math.sqrt(self.rate / (1.0 - self.rate))
            return inputs * self._normal_like(inputs, 1.0, stddev)
        return inputs

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


# SELU's constants, as Keras writes them.
_ALPHA = 1.6732632423543772848170429916717
_SCALE = 1.0507009873554804934193349852946


class AlphaDropout(_NoiseLayer):
    """Dropout that keeps SELU's self-normalizing mean and variance, in training only.

    Dropped values are set to SELU's negative saturation value, then an affine map restores
    the mean and variance of the inputs.

    Args:
        rate: probability of dropping each value, in [0, 1).
        noise_shape: shape of the drop mask in Keras layout (None entries take the input's
            size), e.g. `(None, 1, 1, None)` to drop whole channels of an image alike.
        seed: makes the draws repeatable.
    """

    _hands_on_masks = True

    def __init__(
        self,
        rate: float,
        noise_shape: Sequence[int | None] | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check = cu.ArgumentErrors("AlphaDropout")
        self.rate = check.number("rate", rate, low=0.0, high=1.0)
        self.seed = self._check_seed(check, seed)
        self.noise_shape = None
        if noise_shape is not None:
            items = tuple(noise_shape) if isinstance(noise_shape, Sequence) else None
            if items is None or not all(d is None or (cu.is_int(d) and d > 0) for d in items):
                check.add(
                    "noise_shape must be None or a sequence of positive ints and None, "
                    f"received noise_shape={noise_shape!r}"
                )
            else:
                self.noise_shape = tuple(None if d is None else int(d) for d in items)
        check.raise_if_any()
        self._make_seed_generator(self.rate)

    def _mask_shape(self, inputs: torch.Tensor) -> tuple[int, ...]:
        """The mask's shape in Keras layout: the input's, or `noise_shape` filled in."""
        user = tuple(layout.to_user(inputs).shape)
        if self.noise_shape is None:
            return user
        if len(self.noise_shape) != len(user):
            raise ValueError(
                f"Layer '{self.name}' (AlphaDropout): noise_shape={self.noise_shape} must "
                f"have the input's rank {len(user)}; input shape received: {user}"
            )
        return tuple(
            full if want is None else want
            for want, full in zip(self.noise_shape, user, strict=True)
        )

    def call(self, inputs, training=False):
        if not (training and self.rate > 0):
            return inputs
        uniform = random.uniform(self._mask_shape(inputs), seed=self.seed_generator)
        uniform = layout.to_engine(uniform.to(inputs.device))
        alpha_p = -_ALPHA * _SCALE
        kept = (uniform >= self.rate).to(inputs.dtype)
        a = ((1 - self.rate) * (1 + self.rate * alpha_p**2)) ** -0.5
        b = -a * alpha_p * self.rate
        x = inputs * kept + alpha_p * (1 - kept)
        return a * x + b

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "seed": self.seed,
            "noise_shape": self.noise_shape,
        }


class ActivityRegularization(Layer):
    """Returns its input unchanged and adds `l1 * sum(|x|) + l2 * sum(x**2)` (divided by
    the batch size, as Keras does) to the training loss.

    Args:
        l1: L1 regularization factor.
        l2: L2 regularization factor.
    """

    _hands_on_masks = True
    _engine_layout = True
    _built_at_init = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs: Any) -> None:
        if "activity_regularizer" in kwargs:
            raise TypeError(
                "ActivityRegularization: pass `l1` and `l2`; the layer sets its own "
                f"activity_regularizer, received activity_regularizer="
                f"{kwargs['activity_regularizer']!r}"
            )
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1 = l1
        self.l2 = l2

    def call(self, inputs, training=False):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "l1": self.l1, "l2": self.l2}
