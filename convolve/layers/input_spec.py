"""`InputSpec`: the rank, dtype and shape a layer accepts, checked when it is called.

A layer that sets `self.input_spec = InputSpec(...)` (or a list of them, one per input)
gets Keras's error, naming the layer, the expectation and the shape or dtype received, when
it is called on an incompatible input, eagerly or on a symbolic `Input`.

Example:
    >>> import torch
    >>> from convolve.layers.input_spec import InputSpec, assert_input_compatibility
    >>> spec = InputSpec(ndim=4, axes={-1: 3})
    >>> assert_input_compatibility(spec, torch.zeros(2, 8, 8, 3), "conv")
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from convolve import _tree

__all__ = ["InputSpec", "assert_input_compatibility"]


def _dtype_name(dtype: Any) -> str:
    if isinstance(dtype, torch.dtype):
        return str(dtype).removeprefix("torch.")
    if isinstance(dtype, str):
        return {"float": "float32", "int": "int64", "double": "float64"}.get(dtype, dtype)
    return np.dtype(dtype).name


def _shape(shape: Any) -> tuple:
    return tuple(None if d is None else int(d) for d in shape)


class InputSpec:
    """Specifies the rank, dtype and shape of every input to a layer.

    Args:
        dtype: Expected dtype of the input.
        shape: Expected shape, batch included (`None` matches any size).
        ndim: Expected rank.
        max_ndim: Maximum rank.
        min_ndim: Minimum rank.
        axes: Dict mapping integer axes to their required sizes.
        allow_last_axis_squeeze: Accept rank N+1 inputs whose last axis is 1, and rank N-1
            inputs when the spec's last axis is 1.
        name: Key of this input when inputs come as a dict.
        optional: Whether the input may be `None`.
    """

    def __init__(
        self,
        dtype: Any = None,
        shape: Any = None,
        ndim: int | None = None,
        max_ndim: int | None = None,
        min_ndim: int | None = None,
        axes: dict[int, int] | None = None,
        allow_last_axis_squeeze: bool = False,
        name: str | None = None,
        optional: bool = False,
    ) -> None:
        self.dtype = _dtype_name(dtype) if dtype is not None else None
        if shape is not None:
            self.shape = _shape(shape)
            self.ndim = len(shape)
        else:
            self.ndim = ndim
            self.shape = None
        self.max_ndim = max_ndim
        self.min_ndim = min_ndim
        self.name = name
        self.optional = optional
        self.allow_last_axis_squeeze = allow_last_axis_squeeze
        try:
            axes = axes or {}
            self.axes = {int(k): axes[k] for k in axes}
        except (ValueError, TypeError):
            raise TypeError(
                f"Argument `axes` must be a dict with integer keys. Received: axes={axes}"
            ) from None
        if self.axes and (self.ndim is not None or self.max_ndim is not None):
            max_dim = (self.ndim if self.ndim else self.max_ndim) - 1
            max_axis = max(self.axes)
            if max_axis > max_dim:
                raise ValueError(
                    f"Axis {max_axis} is greater than the maximum allowed value: {max_dim}"
                )

    def __repr__(self) -> str:
        parts = [
            f"dtype={self.dtype}" if self.dtype else "",
            f"shape={self.shape}" if self.shape else "",
            f"ndim={self.ndim}" if self.ndim else "",
            f"max_ndim={self.max_ndim}" if self.max_ndim else "",
            f"min_ndim={self.min_ndim}" if self.min_ndim else "",
            f"axes={self.axes}" if self.axes else "",
        ]
        return f"InputSpec({', '.join(p for p in parts if p)})"

    def get_config(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype,
            "shape": self.shape,
            "ndim": self.ndim,
            "max_ndim": self.max_ndim,
            "min_ndim": self.min_ndim,
            "axes": self.axes,
            "optional": self.optional,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> InputSpec:
        return cls(**config)


def _flat_specs(input_spec: Any) -> list[Any]:
    if isinstance(input_spec, InputSpec):
        return [input_spec]
    if isinstance(input_spec, dict):
        return [s for key in sorted(input_spec) for s in _flat_specs(input_spec[key])]
    if isinstance(input_spec, list | tuple):
        return [s for item in input_spec for s in _flat_specs(item)]
    return [input_spec]


def assert_input_compatibility(input_spec: Any, inputs: Any, layer_name: str) -> None:
    """Raises Keras's `ValueError` when `inputs` do not satisfy `input_spec`.

    Args:
        input_spec: An `InputSpec`, a (nested) list of them, or `None`.
        inputs: Tensors (eager or symbolic), or a nested structure of them.
        layer_name: The layer's name, for the message.
    """
    if not input_spec:
        return
    specs = _flat_specs(input_spec)
    if isinstance(inputs, dict):
        names = [getattr(spec, "name", None) for spec in specs]
        if all(names):
            for name in names:
                if name not in inputs:
                    raise ValueError(
                        f'Missing data for input "{name}". You passed a data dictionary with '
                        f"keys {list(inputs.keys())}. Expected the following keys: {names}"
                    )
            inputs = [inputs[name] for name in names]
    flat = _tree.flatten(inputs)
    if len(flat) != len(specs):
        raise ValueError(
            f'Layer "{layer_name}" expects {len(specs)} input(s), but it received '
            f"{len(flat)} input tensors. Inputs received: {flat}"
        )
    for index, (x, spec) in enumerate(zip(flat, specs, strict=True)):
        if spec is None or (x is None and spec.optional):
            continue
        if not hasattr(x, "shape"):
            raise ValueError(
                f"Inputs to a layer should be tensors. Got '{x}' (of type {type(x)}) as input "
                f"for layer '{layer_name}'."
            )
        shape = _shape(x.shape)
        ndim = len(shape)
        where = f"Input {index} with name '{spec.name}' of layer '{layer_name}'"
        if spec.ndim is not None and not spec.allow_last_axis_squeeze and ndim != spec.ndim:
            raise ValueError(
                f"{where} is incompatible with the layer: expected ndim={spec.ndim}, "
                f"found ndim={ndim}. Full shape received: {shape}"
            )
        if spec.max_ndim is not None and ndim > spec.max_ndim:
            raise ValueError(
                f"{where} is incompatible with the layer: expected max_ndim={spec.max_ndim}, "
                f"found ndim={ndim}"
            )
        if spec.min_ndim is not None and ndim < spec.min_ndim:
            raise ValueError(
                f"{where} is incompatible with the layer: expected min_ndim={spec.min_ndim}, "
                f"found ndim={ndim}. Full shape received: {shape}"
            )
        if spec.dtype is not None:
            dtype = _dtype_name(x.dtype)
            if dtype != spec.dtype:
                raise ValueError(
                    f"{where} is incompatible with the layer: expected dtype={spec.dtype}, "
                    f"found dtype={dtype}"
                )
        for axis, value in spec.axes.items():
            if value is not None and shape[axis] not in {value, None}:
                raise ValueError(
                    f"{where} is incompatible with the layer: expected axis {axis} of input "
                    f"shape to have value {value}, but received input with shape {shape}"
                )
        if spec.shape is not None:
            spec_shape = spec.shape
            if spec.allow_last_axis_squeeze:
                if shape and shape[-1] == 1:
                    shape = shape[:-1]
                if spec_shape and spec_shape[-1] == 1:
                    spec_shape = spec_shape[:-1]
            for spec_dim, dim in zip(spec_shape, shape, strict=False):
                if spec_dim is not None and dim is not None and spec_dim != dim:
                    raise ValueError(
                        f"{where} is incompatible with the layer: expected "
                        f"shape={spec.shape}, found shape={shape}"
                    )
