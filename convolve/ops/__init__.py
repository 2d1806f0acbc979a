"""`keras.ops` on torch: the functions custom losses, metrics, Lambda layers and callbacks use.

They take torch tensors, NumPy arrays, Python numbers or nested lists, and return torch
tensors with Keras's dtypes (Python numbers are weakly typed, integer means are float32,
argmax is int32 ...). A name of `keras.ops` that is not here raises AttributeError naming it.
Called on symbolic tensors in a functional model definition (`ops.mean(features, axis=-1)`),
they build graph nodes that apply them when the model runs, as `keras.ops` does.

Example:
    >>> import convolve as keras
    >>> def my_loss(y_true, y_pred):
    ...     return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)
    >>> my_loss(keras.ops.ones((2, 3)), keras.ops.zeros((2, 3))).tolist()
    [1.0, 1.0]
"""

from convolve.ops import (
    _symbolic,
    control_flow,
    core,
    creation,
    einops,
    linalg,
    logic,
    manipulation,
    math,
    nn,
    reduction,
    spectral,
)
from convolve.ops.control_flow import *  # noqa: F403
from convolve.ops.core import *  # noqa: F403
from convolve.ops.creation import *  # noqa: F403
from convolve.ops.einops import *  # noqa: F403
from convolve.ops.linalg import *  # noqa: F403
from convolve.ops.logic import *  # noqa: F403
from convolve.ops.manipulation import *  # noqa: F403
from convolve.ops.math import *  # noqa: F403
from convolve.ops.nn import *  # noqa: F403
from convolve.ops.reduction import *  # noqa: F403
from convolve.ops.spectral import *  # noqa: F403

__all__ = sorted(
    name
    for module in (
        control_flow,
        core,
        creation,
        einops,
        linalg,
        logic,
        manipulation,
        math,
        nn,
        reduction,
        spectral,
    )
    for name in module.__all__
)

# Called on symbolic tensors (in a functional model definition), each function builds a
# graph node instead of computing, as keras.ops does; see _symbolic.py.
_wrapped: dict[int, object] = {}
for _name in __all__:
    _fn = globals()[_name]
    if id(_fn) not in _wrapped:  # aliases (abs = absolute) stay one function
        _wrapped[id(_fn)] = _symbolic.symbolic_dispatch(_fn, _name)
    globals()[_name] = _wrapped[id(_fn)]
del _wrapped, _name, _fn

# `convolve.ops.linalg` and `convolve.ops.numpy` mirror `keras.ops.linalg` and
# `keras.ops.numpy`, with the same (graph-building) functions as `convolve.ops`.
for _name in linalg.KERAS_LINALG:
    setattr(linalg, _name, globals()[_name])
del _name
from convolve.ops import image, numpy  # noqa: E402


def __getattr__(name: str) -> object:
    raise AttributeError(
        f"convolve.ops has no function {name!r}: keras.ops.{name} is not implemented here. "
        "convolve.ops.__all__ lists the functions that are."
    )
