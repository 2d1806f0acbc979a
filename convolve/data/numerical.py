"""Keras's numerical utilities: `to_categorical` and `normalize`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

_EPSILON = 1e-7  # Keras's backend.epsilon()


class ClassValueError(ValueError, IndexError):
    """A class value outside `[0, num_classes)` (an `IndexError` too, as Keras raises)."""


def to_categorical(x: Any, num_classes: int | None = None) -> Any:
    """Converts a class vector (integers) to a one-hot matrix.

    Args:
        x: Integer class values, from 0 to `num_classes - 1`. A trailing axis of size 1 is
            dropped, as in Keras.
        num_classes: Number of classes; `max(x) + 1` if None.

    Returns:
        A float64 NumPy array (float32 torch tensor for a tensor input) with the class axis
        last.

    Example:
        >>> to_categorical([0, 2, 1], num_classes=3)
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]])
    """
    if isinstance(x, torch.Tensor):
        if x.ndim > 1 and x.shape[-1] == 1:
            x = x.reshape(x.shape[:-1])
        n = int(x.max()) + 1 if num_classes is None else int(num_classes)
        return torch.nn.functional.one_hot(x.long(), n).to(torch.float32)
    x = np.array(x, dtype="int64")
    input_shape = x.shape
    if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
        input_shape = tuple(input_shape[:-1])
    x = x.reshape(-1)
    if not num_classes:
        num_classes = int(np.max(x)) + 1
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise ClassValueError(
            f"Class values must lie in [0, num_classes={num_classes}); received values from "
            f"{x.min()} to {x.max()}"
        )
    categorical = np.zeros((x.shape[0], num_classes))
    categorical[np.arange(x.shape[0]), x] = 1
    return categorical.reshape(input_shape + (num_classes,))


def normalize(x: Any, axis: int = -1, order: int = 2) -> Any:
    """Normalizes an array to unit `order`-norm along `axis`.

    Args:
        x: NumPy array or torch tensor.
        axis: Axis along which to normalize.
        order: Norm order (2 for L2).

    Returns:
        A normalized copy (zero vectors stay zero): a NumPy array for a NumPy array, a
        torch tensor otherwise (float32 for Python lists and numbers, as in Keras).

    Example:
        >>> normalize(np.array([[3.0, 4.0]]))
        array([[0.6, 0.8]])
        >>> normalize([[3.0, 4.0]])
        tensor([[0.6000, 0.8000]])
    """
    if not isinstance(x, np.ndarray | torch.Tensor):
        # Keras takes anything but a NumPy array as a backend tensor of floatx.
        x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if isinstance(x, torch.Tensor):
        if not isinstance(order, int) or order < 1:
            raise ValueError(f"Argument `order` must be an int >= 1. Received: order={order}")
        if x.ndim == 0:
            x = x[None]
        if order == 2:
            # Keras computes L2 as x * min(rsqrt(sum x^2), 1/epsilon).
            inv = torch.rsqrt(torch.sum(x * x, dim=axis, keepdim=True))
            return x * torch.clamp(inv, max=1.0 / _EPSILON)
        norm = torch.linalg.vector_norm(x, ord=order, dim=axis, keepdim=True)
        return x / torch.clamp(norm, min=_EPSILON)
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    # Keras turns axis=0 into -1 here (`axis or -1`); convolve normalises along axis 0.
    return x / np.expand_dims(norm, axis)
