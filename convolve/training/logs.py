"""Helpers for the `logs` dictionaries that callbacks receive.

Epoch-level logs hold Python floats. Batch-level logs may hold 0-dim torch tensors that still
live on the accelerator: reading one forces the host to wait for the device, so a callback
converts a value with `to_float` only at the moment it really needs the number (for example
when the progress bar redraws), never eagerly on every step.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["to_float", "flatten_logs", "pythonify_logs"]


def to_float(value: Any) -> float:
    """Returns `value` as a Python float, synchronising with the device if needed.

    Tensors and arrays with more than one element are averaged, as Keras's progress bar
    does with non-scalar metric values.

    Args:
        value: A Python number, a NumPy scalar or array, or a torch tensor.

    Returns:
        The value as a `float`.

    Raises:
        TypeError: If `value` cannot be read as a number.

    Example:
        >>> to_float(torch.tensor(0.5))
        0.5
        >>> to_float(np.array([1.0, 2.0]))
        1.5
    """
    if isinstance(value, float):
        return float(value)  # a plain float, also for the optimizer's learning rate
    if isinstance(value, torch.Tensor):
        value = value.detach()
        if value.numel() != 1:
            value = value.float().mean()
        return float(value.item())
    if isinstance(value, np.ndarray) and value.size != 1:
        return float(np.mean(value))
    if isinstance(value, numbers.Real | np.ndarray | np.generic):
        return float(value)
    raise TypeError(
        f"Expected a number or a tensor in the logs, received {type(value).__name__}: {value!r}"
    )


def flatten_logs(logs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Flattens nested dictionaries and sorts the keys, leaving values untouched.

    This is what the callback list does to batch-level logs: the key order (alphabetical,
    as in Keras) is fixed here, and no tensor is read, so no host synchronisation happens.

    Args:
        logs: A possibly nested mapping of names to values, or `None`.

    Returns:
        A new flat `dict` with sorted keys.
    """
    result: dict[str, Any] = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, Mapping):
            result.update(flatten_logs(value))
        else:
            result[key] = value
    return result


def pythonify_logs(logs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Flattens, sorts and converts every numeric value to a Python float.

    Tensors with one or more dimensions become NumPy arrays; other values that are not numbers
    (strings) are kept as they are, as in Keras. Used for epoch-, train- and test-level
    logs, where one synchronisation per epoch costs nothing.

    Args:
        logs: A possibly nested mapping of names to values, or `None`.

    Returns:
        A new flat `dict` with sorted keys.
    """
    result = flatten_logs(logs)
    for key, value in result.items():
        if isinstance(value, torch.Tensor):
            value = value.detach()
            if value.ndim == 0:
                result[key] = float(value.item())
            else:
                # A metric with several values (F1Score(average=None)), or one value of
                # shape (1,), is a NumPy array in Keras's logs; bfloat16 has no NumPy dtype.
                if value.dtype == torch.bfloat16:
                    value = value.float()
                result[key] = value.cpu().numpy()
        elif isinstance(value, str):
            continue
        else:
            try:
                result[key] = float(value)
            except (TypeError, ValueError):
                pass
    return result
