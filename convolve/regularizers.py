"""Weight and activity regularizers with Keras's names and defaults."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class Regularizer:
    """Base class: `regularizer(tensor)` returns a scalar penalty added to the loss."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments. A subclass that is saved (or whose layer's config is
        asked for) must define it; the base refuses, as Keras's does."""
        raise NotImplementedError(f"{self} does not implement get_config()")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        return cls(**config)


def _factor(owner: str, name: str, value: Any) -> float:
    value = 0.0 if value is None else value
    if not isinstance(value, int | float) or value < 0 or value != value:
        raise ValueError(f"{owner}: `{name}` must be a non-negative number, got {name}={value!r}")
    return float(value)


class L1L2(Regularizer):
    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _factor("L1L2", "l1", l1)
        self.l2 = _factor("L1L2", "l2", l2)

    def __call__(self, x):
        penalty = x.new_zeros(())
        if self.l1:
            penalty = penalty + self.l1 * x.abs().sum()
        if self.l2:
            penalty = penalty + self.l2 * x.square().sum()
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


def _as_float32(factor: float) -> float:
    """Keras's L1 and OrthogonalRegularizer hold their factor as a float32 tensor, so their
    configs report it rounded to float32 (0.01 as 0.009999999776482582)."""
    return float(np.float32(factor))


class L1(Regularizer):
    def __init__(self, l1: float = 0.01) -> None:
        self.l1 = _factor("L1", "l1", l1)

    def __call__(self, x):
        return self.l1 * x.abs().sum()

    def get_config(self):
        return {"l1": _as_float32(self.l1)}


class L2(Regularizer):
    def __init__(self, l2: float = 0.01) -> None:
        self.l2 = _factor("L2", "l2", l2)

    def __call__(self, x):
        return self.l2 * x.square().sum()

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Penalises non-orthogonal rows (or columns) of a 2D weight."""

    def __init__(self, factor: float = 0.01, mode: str = "rows") -> None:
        self.factor = _factor("OrthogonalRegularizer", "factor", factor)
        if mode not in ("rows", "columns"):
            raise ValueError(
                f"OrthogonalRegularizer: `mode` must be 'rows' or 'columns', got {mode!r}"
            )
        self.mode = mode

    def __call__(self, x):
        if x.ndim != 2:
            raise ValueError(
                f"OrthogonalRegularizer: needs a rank-2 weight, got shape {tuple(x.shape)}"
            )
        dim = 1 if self.mode == "rows" else 0
        x = x / x.norm(dim=dim, keepdim=True).clamp_min(1e-12)
        product = x @ x.T if self.mode == "rows" else x.T @ x
        size = product.shape[0]
        off_diagonal = product * (1.0 - torch.eye(size, dtype=x.dtype, device=x.device))
        return self.factor * 0.5 * off_diagonal.abs().sum() / (size * (size - 1.0) / 2.0)

    def get_config(self):
        return {"factor": _as_float32(self.factor), "mode": self.mode}


l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer
_BY_NAME = {
    "l1": L1, "l2": L2, "l1l2": L1L2, "l1_l2": L1L2,
    "orthogonal_regularizer": OrthogonalRegularizer,
    "L1": L1, "L2": L2, "L1L2": L1L2, "OrthogonalRegularizer": OrthogonalRegularizer,
}  # fmt: skip


def get(identifier: Any) -> Regularizer | None:
    """Resolves a regularizer by name (Keras's defaults), config dict, or instance."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier)
        if cls is None:
            raise ValueError(f"Unknown regularizer {identifier!r}. Known: l1, l2, l1l2.")
        return cls()
    if isinstance(identifier, dict):
        cls = _BY_NAME.get(identifier.get("class_name", ""))
        if cls is None:
            raise ValueError(f"Unknown regularizer config: {identifier!r}")
        return cls.from_config(identifier.get("config", {}))
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret regularizer: {identifier!r}")


def serialize(regularizer: Regularizer) -> dict[str, Any]:
    """Keras's entry for a regularizer: module, class name, config and registered name."""
    from convolve.saving.objects import serialize_object  # the saving package imports this

    return serialize_object(regularizer, "keras.regularizers")


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None):
    """Rebuilds a regularizer from `serialize`'s (or Keras's) `{"class_name", "config"}`.

    Args:
        config: The serialised regularizer, or a name such as `"l2"`.
        custom_objects: Extra names to regularizer classes.

    Returns:
        A `Regularizer`.
    """
    custom = dict(custom_objects or {})
    if isinstance(config, str):
        return custom[config]() if config in custom else get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "Cannot deserialize regularizer: expected a name or a dict with 'class_name'; "
            f"received config={config!r}"
        )
    name = config["class_name"]
    cls = (
        custom.get(config.get("registered_name") or name) or custom.get(name) or _BY_NAME.get(name)
    )
    if cls is None:
        raise ValueError(
            f"Unknown regularizer class_name={name!r}; known: {sorted(_BY_NAME)}. Pass "
            "custom classes with `custom_objects`."
        )
    return cls.from_config(dict(config.get("config") or {}))
