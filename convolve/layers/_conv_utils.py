"""Argument checks and window arithmetic shared by convolution, pooling and padding layers.

Keras normalises `kernel_size`, `strides`, `padding` and friends the same way across layer
families; doing it in one place keeps the error messages and the "same" padding rule
identical everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch.nn.functional as F

from convolve import activations, constraints, initializers, regularizers
from convolve.layers.base import Layer


class SpatialLayer(Layer):
    """A built-in layer over `(batch, *spatial, channels)` inputs with `rank` spatial axes.

    Subclasses set `rank`; the exact input rank the base checks follows from it.
    """

    rank: int = 0
    _engine_layout = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "rank" in cls.__dict__:
            cls.input_ndim = cls.rank + 2

    def _window_output(
        self,
        input_shape: tuple,
        argument: str,
        windows: tuple[int, ...],
        strides: tuple[int, ...],
        dilations: tuple[int, ...],
        padding: str,
    ) -> tuple[int | None, ...]:
        """Output spatial sizes of a sliding window; raises naming the layer if none fits."""
        sizes = tuple(
            output_length(n, k, s, d, padding)
            for n, k, s, d in zip(input_shape[1:-1], windows, strides, dilations, strict=True)
        )
        if any(size is not None and size <= 0 for size in sizes):
            dilated = f" with dilation_rate={dilations}" if any(d > 1 for d in dilations) else ""
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): {argument}={windows}{dilated} "
                f"is larger than the input with padding='{padding}'; the output spatial size "
                f"would be {sizes}. Input shape received: {tuple(input_shape)}"
            )
        return sizes


def is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


class ArgumentErrors:
    """Collects every invalid constructor argument so that one error reports them all.

    Args:
        owner: the class name that prefixes the message, e.g. `"Conv2D"`.
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.problems: list[str] = []

    def add(self, problem: str) -> None:
        self.problems.append(problem)

    def raise_if_any(self) -> None:
        """Raises one ValueError listing every problem found, if any."""
        if not self.problems:
            return
        if len(self.problems) == 1:
            raise ValueError(f"{self.owner}: {self.problems[0]}")
        listing = "\n".join(f"  - {p}" for p in self.problems)
        raise ValueError(f"{self.owner}: {len(self.problems)} invalid arguments:\n{listing}")

    # ------------------------------------------------------------------ scalars
    def positive_int(self, name: str, value: Any) -> int | None:
        if is_int(value) and value > 0:
            return int(value)
        self.add(f"{name} must be a positive integer, received {name}={value!r}")
        return None

    def boolean(self, name: str, value: Any) -> bool:
        if isinstance(value, bool | np.bool_):
            return bool(value)
        self.add(f"{name} must be True or False, received {name}={value!r}")
        return False

    def number(self, name: str, value: Any, *, low: float, high: float | None = None) -> float:
        """A real number in `[low, high]` (`high` open-ended when None)."""
        ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool
        )
        if ok and value == value and value >= low and (high is None or value <= high):
            return float(value)
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        self.add(f"{name} must be a number {bounds}, received {name}={value!r}")
        return float(low)

    # ------------------------------------------------------------------ tuples
    def int_tuple(
        self, name: str, value: Any, n: int, *, allow_zero: bool = False
    ) -> tuple[int, ...] | None:
        """An int or a sequence of `n` ints, each positive (or >= 0 with `allow_zero`)."""
        if is_int(value):
            items: tuple[Any, ...] = (value,) * n
        elif isinstance(value, Sequence) and not isinstance(value, str):
            items = tuple(value)
        else:
            items = ()
        lowest = 0 if allow_zero else 1
        if len(items) != n or not all(is_int(v) and v >= lowest for v in items):
            what = "non-negative" if allow_zero else "positive"
            shape = "an integer" if n == 1 else f"an integer or a tuple of {n} integers"
            self.add(f"{name} must be {shape}, all {what}, received {name}={value!r}")
            return None
        return tuple(int(v) for v in items)

    # ------------------------------------------------------------------ strings
    def padding(self, value: Any, allowed: tuple[str, ...]) -> str:
        if isinstance(value, str) and value.lower() in allowed:
            return value.lower()
        choices = ", ".join(repr(a) for a in allowed)
        self.add(f"padding must be one of {choices} (any case), received padding={value!r}")
        return allowed[0]

    def data_format(self, value: Any) -> str:
        """Accepts None or "channels_last"; "channels_first" is refused explicitly."""
        if value is None:
            return "channels_last"
        lowered = value.lower() if isinstance(value, str) else None
        if lowered == "channels_last":
            return "channels_last"
        if lowered == "channels_first":
            self.add(
                "data_format='channels_first' is not supported yet; inputs are channels-last "
                "(batch, *spatial, channels), received data_format='channels_first'"
            )
        else:
            self.add(f"data_format must be 'channels_last' or None, received data_format={value!r}")
        return "channels_last"

    # ------------------------------------------------------------------ objects
    def activation(self, value: Any) -> Callable:
        try:
            return activations.get(value)
        except ValueError as e:
            self.add(f"activation: {e} Received activation={value!r}")
            return activations.linear

    def initializer(self, name: str, value: Any) -> initializers.Initializer:
        try:
            return initializers.get(value)
        except (ValueError, TypeError) as e:
            self.add(f"{name}: {e} Received {name}={value!r}")
            return initializers.Zeros()

    def regularizer(self, name: str, value: Any) -> Any:
        try:
            return regularizers.get(value)
        except (ValueError, TypeError) as e:
            self.add(f"{name}: {e} Received {name}={value!r}")
            return None

    def constraint(self, name: str, value: Any) -> Any:
        try:
            return constraints.get(value)
        except ValueError:
            self.add(
                f"{name} must be None, a constraint name (e.g. 'non_neg', 'max_norm'), a "
                f"config or a callable, received {name}={value!r}"
            )
            return None


# --------------------------------------------------------------------- config helpers
def keras_weight_order(config: dict[str, Any]) -> dict[str, Any]:
    """A convolution's config with its weight entries in Keras's order: the initializers,
    the regularizers, `activity_regularizer` (None included, as Keras writes it), then the
    constraints, where the first of them stood."""
    config = dict(config)
    activity = config.pop("activity_regularizer", None)
    kinds = ("_initializer", "_regularizer", "_constraint")
    weights = [k for k in config if k.endswith(kinds)]
    ordered = [k for kind in kinds for k in weights if k.endswith(kind)]
    grouped = {k: config[k] for k in ordered if k.endswith(kinds[:2])}
    grouped["activity_regularizer"] = activity
    grouped.update({k: config[k] for k in ordered if k.endswith(kinds[2])})
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key in grouped:
            if weights and key == weights[0]:
                out.update(grouped)
            continue
        out[key] = value
    return out


def serialize_initializer(value: initializers.Initializer) -> dict[str, Any]:
    return initializers.serialize(value)


def serialize_regularizer(value: Any) -> dict[str, Any] | str | None:
    """A regularizer's config when it is a convolve one, else its name."""
    if value is None:
        return None
    if isinstance(value, regularizers.Regularizer):
        return regularizers.serialize(value)
    return getattr(value, "__name__", repr(value))


def serialize_constraint(value: Any) -> dict[str, Any] | str | None:
    """A constraint's config (Keras's format) when it has one, else its name."""
    return constraints.serialize(value)


# --------------------------------------------------------------------- window arithmetic
def same_padding(length: int, window: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Keras's "same" padding along one axis: the odd pixel goes at the end."""
    effective = (window - 1) * dilation + 1
    out = -(-length // stride)
    total = max(0, (out - 1) * stride + effective - length)
    return total // 2, total - total // 2


def output_length(
    length: int | None, window: int, stride: int, dilation: int, padding: str
) -> int | None:
    """Output size along one axis; None stays None."""
    if length is None:
        return None
    if padding == "valid":
        effective = (window - 1) * dilation + 1
        return (length - effective) // stride + 1
    return (length - 1) // stride + 1  # "same" and "causal"


def window_padding(
    spatial: Sequence[int],
    windows: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int] | None = None,
) -> list[tuple[int, int]]:
    dilations = dilations or (1,) * len(windows)
    return [
        same_padding(n, k, s, d)
        for n, k, s, d in zip(spatial, windows, strides, dilations, strict=True)
    ]


def torch_pad_arg(pads: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """`F.pad`'s argument (last axis first) for per-axis (before, after) pairs."""
    flat: list[int] = []
    for before, after in reversed(pads):
        flat.extend((before, after))
    return tuple(flat)


def pad_spatial(x: Any, pads: Sequence[tuple[int, int]], value: float = 0.0) -> Any:
    """Pads the trailing spatial dims of an engine tensor `(batch, channels, *spatial)`."""
    return F.pad(x, torch_pad_arg(pads), value=value)
