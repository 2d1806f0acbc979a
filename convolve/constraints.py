"""Weight constraints with Keras's names, defaults and arithmetic.

A constraint is a projection the optimizer applies to a weight after each update
(`kernel_constraint=...`, `bias_constraint=...`). It sees the weight in Keras's layout
(a Conv2D kernel as `(height, width, in, out)`), so `axis` means what it means in Keras,
whatever layout the engine stores the weight in (see `Layer.add_weight`).

Example:
    >>> import torch
    >>> from convolve import constraints
    >>> constraints.NonNeg()(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

_EPSILON = 1e-7  # Keras's backend.epsilon()


class Constraint:
    """Base class: `constraint(w)` returns the projected weight (unchanged here)."""

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return w

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constraint:
        return cls(**config)


def _norms(w: torch.Tensor, axis: Any) -> torch.Tensor:
    dims = list(axis) if isinstance(axis, list | tuple) else axis
    return torch.sqrt(torch.sum(torch.square(w), dim=dims, keepdim=True))


class MaxNorm(Constraint):
    """Scales each weight vector (along `axis`) down to a norm of at most `max_value`.

    Args:
        max_value: The largest norm allowed.
        axis: The axis (or axes) along which norms are taken: 0 for a Dense kernel's
            incoming weights, `[0, 1, 2]` for a Conv2D kernel's filters.
    """

    def __init__(self, max_value: float = 2, axis: Any = 0) -> None:
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = torch.clip(norms, 0, self.max_value)
        return w * (desired / (_EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves each weight vector's norm (along `axis`) into `[min_value, max_value]`.

    Args:
        min_value: The smallest norm allowed.
        max_value: The largest norm allowed.
        rate: How far to move: 1.0 clips the norm, smaller values move it part of the way.
        axis: The axis (or axes) along which norms are taken.
    """

    def __init__(
        self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: Any = 0
    ) -> None:
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        clipped = torch.clip(norms, self.min_value, self.max_value)
        desired = self.rate * clipped + (1 - self.rate) * norms
        return w * (desired / (_EPSILON + norms))

    def get_config(self):
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


class NonNeg(Constraint):
    """Sets negative weights to zero."""

    def __call__(self, w):
        return torch.clamp_min(w, 0)


class UnitNorm(Constraint):
    """Scales each weight vector (along `axis`) to a norm of one.

    Args:
        axis: The axis (or axes) along which norms are taken.
    """

    def __init__(self, axis: Any = 0) -> None:
        self.axis = axis

    def __call__(self, w):
        return w / (_EPSILON + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm
_CLASSES = (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)
_BY_NAME: dict[str, type[Constraint]] = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update(
    {"constraint": Constraint, "max_norm": MaxNorm, "min_max_norm": MinMaxNorm}
    | {"non_neg": NonNeg, "unit_norm": UnitNorm}
)


def get(identifier: Any) -> Any:
    """Resolves a constraint as Keras does: None, a name (`"non_neg"`, `"MaxNorm"`), a
    config dict, a class, or any callable (returned as it is)."""
    if identifier is None:
        return None
    obj = identifier
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = _BY_NAME.get(identifier)
    if inspect.isclass(obj):
        obj = obj()
    if callable(obj):
        return obj
    raise ValueError(
        f"Could not interpret constraint identifier: {identifier!r}. Expected None, one of "
        f"{sorted(_BY_NAME)}, a config dict or a callable."
    )


def serialize(constraint: Any) -> dict[str, Any] | str | None:
    """Keras's config of a constraint; a plain function is named by its `__name__`."""
    if constraint is None:
        return None
    if isinstance(constraint, Constraint):
        builtin = type(constraint) in _CLASSES
        return {
            "module": "keras.constraints" if builtin else type(constraint).__module__,
            "class_name": type(constraint).__name__,
            "config": constraint.get_config(),
            "registered_name": None if builtin else type(constraint).__name__,
        }
    return getattr(constraint, "__name__", repr(constraint))


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Constraint:
    """Rebuilds a constraint from `serialize`'s output (or a name)."""
    objects = {**_BY_NAME, **(custom_objects or {})}
    if isinstance(config, str):
        config = {"class_name": config, "config": {}}
    cls = objects.get(config.get("class_name", "")) if isinstance(config, dict) else None
    if cls is None:
        raise ValueError(
            f"Could not interpret constraint config: {config!r}. Known constraints: "
            f"{sorted(_BY_NAME)}."
        )
    return cls.from_config(config.get("config") or {})
