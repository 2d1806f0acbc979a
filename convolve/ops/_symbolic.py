"""`convolve.ops` functions on symbolic tensors build graph nodes, as `keras.ops` does.

Each public function is wrapped once (in `convolve/ops/__init__.py`): called with a
`KerasTensor` anywhere among its arguments (also inside lists, such as `concatenate`'s), it
records a node that applies the function when the model runs (see
`convolve/layers/op_layer.py`); called with anything else, it computes as before.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from convolve.layers.symbolic import KerasTensor

# Keras's operation class for the functions whose name does not spell it.
_CLASS_NAMES = {"abs": "Absolute", "allclose": "AllClose", "swish": "Silu"}

# Functions about a tensor rather than on it: they answer for a symbolic tensor directly
# (`shape` gives its shape with None for unknown sizes) or refuse it (`convert_to_numpy`).
_NOT_NODES = frozenset({"convert_to_numpy", "dtype", "is_tensor", "shape"})


def class_name(name: str) -> str:
    """Keras's operation class name for the function `name`: `expand_dims` -> `ExpandDims`."""
    return _CLASS_NAMES.get(name) or "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def any_symbolic(values: Iterable[Any]) -> bool:
    """Whether a `KerasTensor` is among `values` or inside a list, tuple or dict of them."""
    for value in values:
        if isinstance(value, KerasTensor):
            return True
        if isinstance(value, list | tuple) and any_symbolic(value):
            return True
        if isinstance(value, dict) and any_symbolic(value.values()):
            return True
    return False


def symbolic_dispatch(
    fn: Callable[..., Any], name: str | None = None, op_class: str | None = None
) -> Callable[..., Any]:
    """`fn`, building a graph node instead of computing when given a symbolic tensor.

    Args:
        fn: a function on tensors (the result of calling it on symbolic tensors comes from
            running it on placeholders, and the node runs it on the real tensors, in the
            user's channels-last layout).
        name: the public name (`fn.__name__` if None); it names Keras's operation class.
        op_class: the node's class name, if not the one `name` gives.

    Returns:
        The wrapped function, with `fn`'s name, docstring and signature.
    """
    name = name or fn.__name__
    if name in _NOT_NODES:
        return fn
    if name == "ndim":

        @functools.wraps(fn)
        def rank(x: Any) -> Any:
            return x.ndim if isinstance(x, KerasTensor) else fn(x)

        return rank
    op_class = op_class or class_name(name)

    @functools.wraps(fn)
    def op(*args: Any, **kwargs: Any) -> Any:
        if any_symbolic(args) or (kwargs and any_symbolic(kwargs.values())):
            from convolve.layers.op_layer import symbolic_op

            return symbolic_op(fn, args, kwargs, op_class, op_name=name)
        return fn(*args, **kwargs)

    return op
