"""The `Loss` base class and the wrapper that turns a per-sample function into a `Loss`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from convolve._masks import get_mask
from convolve.losses._reduction import reduce_weighted_values, standardize_reduction
from convolve.losses._tensors import (
    auto_name,
    compute_dtype,
    dtype_name,
    squeeze_or_expand_to_same_rank,
    to_tensor,
)

#: Loss functions that also have a variant returning `(per-sample losses, mask of valid
#: entries)`: `ignore_class` masks entries out of the mean.
MASKED_VARIANTS: dict[Callable[..., torch.Tensor], Callable[..., tuple]] = {}

#: Loss functions of integer class labels: their wrappers keep integer labels integers
#: (Keras's round trip through a float32 loss dtype is exact for labels below 2**24).
INTEGER_LABELS: set[Callable[..., torch.Tensor]] = set()


class Loss:
    """Base class of losses: per-sample `call`, then sample weighting and reduction.

    Subclasses implement `call(y_true, y_pred)` returning per-sample losses; `__call__`
    casts both inputs to the loss dtype, applies `sample_weight` and reduces.

    Args:
        name: Name of the loss; defaults to the snake-case class name, made unique.
        reduction: `"sum_over_batch_size"` (default) and `"mean"` divide the weighted sum by
            the number of loss elements, `"sum"` sums, `"mean_with_sample_weight"` divides by
            the sum of the sample weights, `None`/`"none"` returns per-sample losses.
        dtype: Dtype of the computation; defaults to float32 (Keras's floatx).
    """

    def __init__(
        self,
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        self.name = name or auto_name(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self._dtype = compute_dtype(dtype)

    @property
    def dtype(self) -> str:
        """The computation dtype's name, e.g. `"float32"`."""
        return dtype_name(self._dtype)

    def _convert_y_true(self, y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
        return to_tensor(y_true, dtype=self._dtype, like=y_pred)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
        """Computes the reduced loss.

        Args:
            y_true: Targets.
            y_pred: Predictions.
            sample_weight: Optional weights, broadcast against the per-sample losses.

        Returns:
            A 0-dim tensor (per-sample losses if the reduction is `None`/`"none"`).
        """
        in_mask = get_mask(y_pred)  # a model's output carries the mask of its steps
        y_pred = to_tensor(y_pred, dtype=self._dtype)
        y_true = self._convert_y_true(y_true, y_pred)
        values, mask = self._call_with_mask(y_true, y_pred)
        if in_mask is not None:
            mask = in_mask if mask is None else in_mask & mask
        return reduce_weighted_values(
            values,
            sample_weight,
            mask=mask,
            reduction=self.reduction,
            dtype=self._dtype,
        )

    def _call_with_mask(
        self, y_true: torch.Tensor, y_pred: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.call(y_true, y_pred), None

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        """Per-sample losses; implemented by subclasses."""
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred).")

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable."""
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        """Rebuilds a loss from `get_config()`."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class LossFunctionWrapper(Loss):
    """Turns a per-sample loss function `fn(y_true, y_pred, **kwargs)` into a `Loss`.

    Before calling `fn`, ranks of `y_true` and `y_pred` that differ by a trailing axis of
    size 1 are aligned, as Keras does.

    Args:
        fn: The loss function.
        reduction: See `Loss`.
        name: See `Loss`.
        dtype: See `Loss`.
        **kwargs: Extra keyword arguments for `fn`.
    """

    def __init__(
        self,
        fn: Callable[..., torch.Tensor],
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def _convert_y_true(self, y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
        if self.fn not in INTEGER_LABELS:
            return super()._convert_y_true(y_true, y_pred)
        t = to_tensor(y_true, like=y_pred)
        return t.to(self._dtype) if t.is_floating_point() else t

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return self._call_with_mask(y_true, y_pred)[0]

    def _call_with_mask(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        masked = MASKED_VARIANTS.get(self.fn)
        if masked is not None:
            return masked(y_true, y_pred, **self._fn_kwargs)
        return self.fn(y_true, y_pred, **self._fn_kwargs), None

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        from convolve.losses.lookup import serialize  # lookup imports every loss class

        config["fn"] = serialize(self.fn)
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LossFunctionWrapper:
        config = dict(config)
        fn = config.pop("fn")
        from convolve.losses.lookup import deserialize

        return cls(deserialize(fn) if not callable(fn) else fn, **config)

    def __repr__(self) -> str:
        fn_name = getattr(self.fn, "__name__", repr(self.fn))
        return f"<LossFunctionWrapper({fn_name}, kwargs={self._fn_kwargs})>"


class BuiltinLoss(LossFunctionWrapper):
    """A wrapper whose config is its constructor arguments (no serialised function)."""

    _config_keys: tuple[str, ...] = ()
    # Arguments Keras leaves out of the config, with their defaults: written only when set
    # to something else, so that the config equals Keras's and a save still keeps them.
    _keras_omits: dict[str, Any] = {}

    def get_config(self) -> dict[str, Any]:
        config = Loss.get_config(self)
        config.update({key: self._fn_kwargs[key] for key in self._config_keys})
        for key, default in self._keras_omits.items():
            if self._fn_kwargs[key] != default:
                config[key] = self._fn_kwargs[key]
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)

    def __getattr__(self, name: str) -> Any:
        # Expose constructor arguments as attributes (`loss.from_logits`), as Keras does.
        kwargs = self.__dict__.get("_fn_kwargs", {})
        if name in kwargs:
            return kwargs[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def reduction_only_loss(fn: Callable[..., torch.Tensor], default_name: str) -> type[Loss]:
    """A base class for losses over `fn` whose only arguments are reduction, name, dtype."""

    def __init__(
        self: BuiltinLoss,
        reduction: str | None = "sum_over_batch_size",
        name: str = default_name,
        dtype: Any = None,
    ) -> None:
        BuiltinLoss.__init__(self, fn, name=name, reduction=reduction, dtype=dtype)

    return type(f"_{fn.__name__}_base", (BuiltinLoss,), {"__init__": __init__})
