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


class LearningRateValue(float):
    """The learning rate as a float; `assign(x)` sets the optimizer's rate."""

    def __new__(cls, value: float, setter: Callable[[Any], None]) -> LearningRateValue:
        obj = super().__new__(cls, value)
        obj._setter = setter
        return obj

    def __reduce__(self) -> tuple:
        return float, (float(self),)  # copies and pickles are plain numbers

    def assign(self, value: Any) -> None:
        self._setter(float(np.asarray(value)))

    def numpy(self) -> np.float32:
        return np.float32(self)

    @property
    def value(self) -> float:
        return float(self)

    dtype = "float32"
    shape = ()


class IterationsValue(int):
    """The iteration count as an int; `assign(n)` sets the optimizer's count."""

    def __new__(cls, value: int, setter: Callable[[int], None]) -> IterationsValue:
        obj = super().__new__(cls, value)
        obj._setter = setter
        return obj

    def __reduce__(self) -> tuple:
        return int, (int(self),)

    def assign(self, value: Any) -> None:
        self._setter(int(np.asarray(value)))

    def numpy(self) -> np.int64:
        return np.int64(self)

    @property
    def value(self) -> int:
        return int(self)

    dtype = "int64"
    shape = ()
