"""Keras's `keras.backend` helpers that tutorials call: `clear_session`, `floatx`, ...

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

from convolve import config, mixed_precision
from convolve.layers.naming import reset_names

__all__ = [
    "backend",
    "clear_session",
    "epsilon",
    "floatx",
    "image_data_format",
    "set_epsilon",
    "set_floatx",
    "set_image_data_format",
]

_EPSILON_DEFAULT = 1e-7
_epsilon = _EPSILON_DEFAULT
_KERAS_FLOATX = ("bfloat16", "float16", "float32", "float64")
_KERAS_FORMATS = ("channels_first", "channels_last")

backend = config.backend
image_data_format = config.image_data_format


def clear_session(free_memory: bool = True) -> None:
    """Resets global state, as `keras.backend.clear_session()` does.

    Automatic names start over (the next model is `sequential` again, its first dense layer
    `dense`), the global dtype policy returns to `"float32"`, and `torch.compile`'s caches
    are dropped when compilation was used.

    Args:
        free_memory: Also run Python's garbage collector (Keras's default).
    """
    reset_names()
    mixed_precision.set_global_policy(None)
    if "torch._dynamo" in sys.modules:
        sys.modules["torch._dynamo"].reset()
    if free_memory:
        gc.collect()


def set_image_data_format(data_format: str) -> None:
    """Accepts only `"channels_last"`, the one layout convolve computes in.

    Raises:
        ValueError: For `"channels_first"` (not supported) or an unknown format.
    """
    if data_format not in _KERAS_FORMATS:
        raise ValueError(
            f"The `data_format` argument must be one of {set(_KERAS_FORMATS)}. "
            f"Received: data_format={data_format}"
        )
    if data_format != "channels_last":
        raise ValueError(
            "set_image_data_format: convolve computes channels_last only (inputs are "
            "(batch, height, width, channels)); received data_format='channels_first'."
        )


def floatx() -> str:
    """The default float dtype of weights: `"float32"` (see `convolve.mixed_precision`)."""
    return mixed_precision.global_policy().variable_dtype


def set_floatx(value: str) -> None:
    """Accepts only `"float32"`: convolve keeps weights in float32.

    For float16 or bfloat16 computation use
    `convolve.mixed_precision.set_global_policy("mixed_float16")`.

    Raises:
        ValueError: For any other dtype name.
    """
    if value not in _KERAS_FLOATX:
        raise ValueError(f"Unknown `floatx` value: {value}. Expected one of {set(_KERAS_FLOATX)}")
    if value != "float32":
        raise ValueError(
            f"set_floatx: convolve keeps weights in float32; received {value!r}. For "
            "float16/bfloat16 computation use "
            "convolve.mixed_precision.set_global_policy('mixed_float16' or 'mixed_bfloat16')."
        )


def epsilon() -> float:
    """The fuzz factor `set_epsilon` last set (Keras's default, 1e-7)."""
    return _epsilon


def set_epsilon(value: float) -> None:
    """Sets the value `epsilon()` returns.

    convolve's built-in losses, metrics and layers use Keras's default 1e-7 whatever this
    is set to; the value is for user code that reads `epsilon()`.
    """
    global _epsilon
    _epsilon = float(value)
