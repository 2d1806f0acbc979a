"""Float32 arithmetic on host scalars.

Keras computes an optimizer's per-step coefficients (bias corrections, learning rate)
as float32 scalar tensors. Computing them here on Python floats keeps the update free
of device round trips while giving the same float32 values: every result of `+ - * /`
on float32 inputs, computed in float64 and rounded once to float32, equals the float32
operation exactly. Square roots and powers go through torch's own float32 kernels
(which are not always correctly rounded) so that they match bit for bit too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def f32(value: float) -> float:
    """Rounds a Python number to the nearest float32 value (returned as a float)."""
    return float(np.float32(value))


def sqrt_f32(value: float) -> float:
    """Square root with torch's float32 kernel on a 0-d tensor, as Keras evaluates it."""
    return torch.sqrt(torch.scalar_tensor(value, dtype=torch.float32)).item()


def pow_f32(bases: Sequence[float], exponents: Sequence[float]) -> list[float]:
    """Elementwise `bases ** exponents` with torch's float32 CPU kernel.

    Inputs are few (under eight), so torch takes its scalar path, the same one it
    takes for Keras's 0-d tensors.
    """
    base = torch.tensor(bases, dtype=torch.float32)
    exponent = torch.tensor(exponents, dtype=torch.float32)
    return torch.pow(base, exponent).tolist()
