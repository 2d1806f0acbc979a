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

from convolve import config, mixed_precision
from convolve.layers.naming import reset_names
from convolve.layers.symbolic import KerasTensor
from convolve.ops._dtypes import result_type, standardize_dtype

__all__ = [
    "backend",
    "clear_session",
    "epsilon",
    "floatx",
    "image_data_format",
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
