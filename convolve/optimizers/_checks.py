"""Argument checks shared by optimizers and schedules.

Every problem found in a constructor call is collected first and reported in one
`ValueError`, so a user fixes all bad arguments in one pass.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch


def is_real(value: Any) -> bool:
    """True for Python and NumPy real numbers, excluding booleans."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def is_int(value: Any) -> bool:
    """True for Python and NumPy integers, excluding booleans."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def looks_like_parameters(value: Any) -> bool:
    """True for what `model.parameters()` returns, or a list of tensors."""
    if isinstance(value, torch.Tensor):
        return value.numel() != 1
    if hasattr(value, "__next__"):
        return True
    if isinstance(value, list | tuple) and value:
        return all(isinstance(v, torch.Tensor) for v in value)
    return False


class ArgumentChecker:
    """Collects argument problems for one constructor call.

    Args:
        owner: Class name shown at the start of the error message.
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.problems: list[str] = []

    def fail(self, name: str, value: Any, requirement: str) -> None:
        """Records that argument `name` with `value` does not meet `requirement`."""
        self.problems.append(f"`{name}` {requirement}; received {name}={value!r}")

    def note(self, text: str) -> None:
        """Records a problem that involves several arguments."""
        self.problems.append(text)

    def real(
        self,
        name: str,
        value: Any,
        *,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
        high_open: bool = False,
        optional: bool = False,
    ) -> None:
        """Checks that `value` is a finite real number inside the given bounds."""
        if value is None and optional:
            return
        ok = is_real(value) and math.isfinite(float(value))
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value < high if high_open else value <= high
        if not ok:
            self.fail(name, value, _describe_range(low, high, low_open, high_open, optional))

    def integer(self, name: str, value: Any, *, low: int, optional: bool = False) -> None:
        """Checks that `value` is an integer `>= low` (or None when optional)."""
        if value is None and optional:
            return
        if not (is_int(value) and value >= low):
            suffix = " or None" if optional else ""
            self.fail(name, value, f"must be an integer >= {low}{suffix}")

    def boolean(self, name: str, value: Any) -> None:
        """Checks that `value` is a boolean."""
        if not isinstance(value, bool | np.bool_):
            self.fail(name, value, "must be a boolean")

    def string(self, name: str, value: Any, *, optional: bool = False) -> None:
        """Checks that `value` is a string (or None when optional)."""
        if value is None and optional:
            return
        if not isinstance(value, str):
            self.fail(name, value, "must be a string" + (" or None" if optional else ""))

    def raise_if_any(self) -> None:
        """Raises one ValueError listing every recorded problem."""
        if self.problems:
            details = "; ".join(self.problems)
            raise ValueError(f"Invalid argument(s) for {self.owner}: {details}.")


def _describe_range(
    low: float | None, high: float | None, low_open: bool, high_open: bool, optional: bool
) -> str:
    if low is not None and high is not None:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        text = f"must be a float in {left}{low:g}, {high:g}{right}"
    elif low is not None:
        text = f"must be a finite float {'>' if low_open else '>='} {low:g}"
    elif high is not None:
        text = f"must be a finite float {'<' if high_open else '<='} {high:g}"
    else:
        text = "must be a finite float"
    return text + (" or None" if optional else "")
