"""Keras's `keras.backend` helpers that tutorials call: `clear_session`, `floatx`, ...

The settings are `convolve.config`'s own functions under their `keras.backend` names.

Example:
    >>> import convolve
    >>> convolve.backend.clear_session()
    >>> convolve.Sequential().name
    'sequential'
    >>> convolve.backend.backend(), convolve.backend.image_data_format()
    ('torch', 'channels_last')
"""

from __future__ import annotations

import gc
import sys
from typing import Any

from convolve import config, mixed_precision, random
from convolve.layers import naming
from convolve.layers.naming import reset_names
from convolve.layers.symbolic import KerasTensor
from convolve.ops._dtypes import result_type, standardize_dtype

__all__ = [
    "backend",
    "clear_session",
    "epsilon",
    "floatx",
    "get_uid",
    "image_data_format",
    "is_float_dtype",
    "is_int_dtype",
    "is_keras_tensor",
    "result_type",
    "set_epsilon",
    "set_floatx",
    "set_image_data_format",
    "standardize_dtype",
]

backend = config.backend
epsilon = config.epsilon
floatx = config.floatx
image_data_format = config.image_data_format
set_epsilon = config.set_epsilon
set_floatx = config.set_floatx
set_image_data_format = config.set_image_data_format


def clear_session(free_memory: bool = True) -> None:
    """Resets global state, as `keras.backend.clear_session()` does.

    Automatic names start over (the next model is `sequential` again, its first dense layer
    `dense`), the global dtype policy returns to `"float32"`, interactive logging, traceback
    filtering and safe deserialization return to their defaults, and `torch.compile`'s
    caches are dropped when compilation was used. `epsilon` and the `fit` caps stay set.

    Args:
        free_memory: Also run Python's garbage collector (Keras's default).
    """
    reset_names()
    random.reset_global_seed_generator()
    mixed_precision.set_global_policy(None)
    config.reset_session_settings()
    if "torch._dynamo" in sys.modules:
        sys.modules["torch._dynamo"].reset()
    if free_memory:
        gc.collect()


def is_keras_tensor(x: Any) -> bool:
    """Whether `x` is a symbolic tensor, such as the output of `Input()` or of a layer
    called on one."""
    return isinstance(x, KerasTensor)


def get_uid(prefix: str = "") -> int:
    """A counter per `prefix`, shared with automatic names: 1, 2, 3, ...

    After `Dense()` has been named `dense`, `get_uid("dense")` returns 2, as in Keras.
    """
    naming._counters[prefix] += 1
    return naming._counters[prefix]


def is_float_dtype(dtype: Any) -> bool:
    """Whether `dtype` (a name, NumPy or torch dtype) is a floating-point dtype."""
    name = standardize_dtype(dtype)
    return name.startswith("float") or name.startswith("bfloat")


def is_int_dtype(dtype: Any) -> bool:
    """Whether `dtype` (a name, NumPy or torch dtype) is a signed or unsigned integer dtype."""
    name = standardize_dtype(dtype)
    return name.startswith("int") or name.startswith("uint")
