"""An optimizer's learning rate and iteration count as numbers with Keras's Variable surface.

In Keras these are Variables, so user code (custom callbacks above all) writes
`optimizer.learning_rate.assign(x)`, `optimizer.learning_rate.numpy()` or
`optimizer.iterations.numpy()`. Here they stay host numbers (the update reads them with
no device round trip); these subclasses of `float` and `int` add that surface, and
`assign` writes through to the optimizer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class _VariableSurface:
    """`assign`, `numpy`, `value`, `dtype` and `shape` on a Python number."""

    _number: type  # the number type the subclass also derives from
    dtype: str  # Keras's dtype of the variable
    shape = ()

    def __new__(cls, value: Any, setter: Callable[[Any], None], path: str | None = None) -> Any:
        obj = super().__new__(cls, value)  # type: ignore[call-arg]
        obj._setter = setter
        obj._path = path
        return obj

    def __repr__(self) -> str:
        """Keras's Variable repr (printing the rate or the count shows it, as in Keras);
        formatting with a spec (`f"{lr:.4f}"`) formats the number."""
        value = self._number(self.numpy())
        return f"<Variable path={self._path}, shape=(), dtype={self.dtype}, value={value}>"

    __str__ = __repr__

    def __reduce__(self) -> tuple:
        return self._number, (self._number(self),)  # copies and pickles are plain numbers

    def assign(self, value: Any) -> None:
        self._setter(self._number(np.asarray(value)))

    def numpy(self) -> np.ndarray:
        """The value as a 0-d array of Keras's dtype, as `Variable.numpy()` gives it."""
        return np.asarray(self._number(self), dtype=self.dtype)

    @property
    def value(self) -> Any:
        return self._number(self)


class LearningRateValue(_VariableSurface, float):
    """The learning rate as a float; `assign(x)` sets the optimizer's rate."""

    _number, dtype = float, "float32"


class IterationsValue(_VariableSurface, int):
    """The iteration count as an int; `assign(n)` sets the optimizer's count."""

    _number, dtype = int, "int32"
