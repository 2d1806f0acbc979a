"""Activation layers with weights: PReLU."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F

from convolve.layers import _conv_utils as cu
from convolve.layers.base import Layer


class PReLU(Layer):
    """Parametric ReLU: `x` for `x >= 0`, `alpha * x` below, with `alpha` learned.

    `alpha` has the shape of one sample (Keras layout, channels last), with size 1 along
    each of `shared_axes`: `PReLU(shared_axes=[1, 2])` on images learns one slope per
    channel.

    Args:
        alpha_initializer: initializer of the slopes (zeros by default, so the layer starts
            as a ReLU).
        alpha_regularizer: penalty on the slopes, added to the loss.
        alpha_constraint: projection applied to the slopes after each optimizer step.
        shared_axes: Keras axes (1-based, channels last) along which the slopes are shared.

    Example:
        >>> import numpy as np
        >>> from convolve import layers
        >>> layer = layers.PReLU(alpha_initializer="ones", shared_axes=[1, 2])
        >>> layer(np.zeros((2, 4, 4, 3), "float32")).shape
        torch.Size([2, 4, 4, 3])
        >>> [w.shape for w in layer.get_weights()]
        [(1, 1, 3)]
    """

    _hands_on_masks = True
    _engine_layout = True

    def __init__(
        self,
        alpha_initializer: Any = "Zeros",
        alpha_regularizer: Any = None,
        alpha_constraint: Any = None,
        shared_axes: int | Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check = cu.ArgumentErrors("PReLU")
        self.alpha_initializer = check.initializer("alpha_initializer", alpha_initializer)
        self.alpha_regularizer = check.regularizer("alpha_regularizer", alpha_regularizer)
        self.alpha_constraint = check.constraint("alpha_constraint", alpha_constraint)
        if shared_axes is None:
            self.shared_axes: list[int] | None = None
        else:
            axes = list(shared_axes) if isinstance(shared_axes, list | tuple) else [shared_axes]
            if not all(cu.is_int(a) and a >= 1 for a in axes):
                check.add(
                    "shared_axes must be None, an axis >= 1 or a list of them (Keras axes of "
                    f"a channels-last input), received shared_axes={shared_axes!r}"
                )
            self.shared_axes = [int(a) for a in axes if cu.is_int(a)]
        check.raise_if_any()

    def _alpha_shape(self, input_shape: tuple) -> list[int | None]:
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if axis >= len(input_shape):
                raise ValueError(
                    f"Layer '{self.name}' (PReLU): shared_axes={self.shared_axes} names axis "
                    f"{axis}, but the input has rank {len(input_shape)}. Input shape "
                    f"received: {tuple(input_shape)}"
                )
            shape[axis - 1] = 1
        return shape

    def build(self, input_shape):
        shape = self._alpha_shape(input_shape)
        if any(d is None for d in shape):
            raise ValueError(
                f"Layer '{self.name}' (PReLU): every axis of the input that is not in "
                f"shared_axes must be known to size alpha, received input shape "
                f"{tuple(input_shape)} with shared_axes={self.shared_axes}"
            )
        rank = len(shape)
        # Keras order (*spatial, channels); the engine holds (channels, *spatial) so that
        # alpha broadcasts against (batch, channels, *spatial).
        order = (rank - 1, *range(rank - 1)) if rank >= 2 else None
        self.add_weight(
            shape,
            self.alpha_initializer,
            regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint,
            name="alpha",
            layout=order,
        )
        self.input_ndim = len(input_shape)

    def _check_built_shape(self, shape: Any) -> None:
        """Later inputs must match the build shape on every axis alpha is not shared on,
        as Keras's input spec demands."""
        built = self._build_input_shape
        if not isinstance(shape, tuple) or not isinstance(built, tuple) or len(shape) != len(built):
            return
        shared = set(self.shared_axes or ())
        for axis in range(1, len(built)):
            if axis in shared or built[axis] is None or shape[axis] is None:
                continue
            if built[axis] != shape[axis]:
                raise ValueError(
                    f"Input of layer '{self.name}' is incompatible with the layer: expected "
                    f"axis {axis} of input shape to have value {built[axis]}, but received "
                    f"input with shape {tuple(shape)}."
                )

    def call(self, inputs, training=False):
        alpha = self.alpha
        if alpha.dtype != inputs.dtype:
            alpha = alpha.to(inputs.dtype)
        # Keras's formula, so that values and gradients (0 at x == 0) match exactly.
        return F.relu(inputs) + (-alpha) * F.relu(-inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": cu.serialize_initializer(self.alpha_initializer),
            "alpha_regularizer": cu.serialize_regularizer(self.alpha_regularizer),
            "alpha_constraint": cu.serialize_constraint(self.alpha_constraint),
            "shared_axes": self.shared_axes,
        }
