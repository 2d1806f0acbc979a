"""Symbolic tensors and graph nodes: what `Input(...)` and calls on it produce."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from convolve import _tree

if TYPE_CHECKING:
    from convolve.layers.base import Layer


@dataclass(frozen=True)
class KerasHistory:
    """Where a symbolic tensor came from: output `tensor_index` of `layer`'s node."""

    layer: Layer
    node_index: int
    tensor_index: int

    @property
    def operation(self) -> Layer:
        return self.layer


class KerasTensor:
    """A placeholder with a Keras shape (batch as None) and a dtype, but no values."""

    # Always dense: Keras's flags, kept so that code reading them (and the repr) agree.
    sparse = False
    ragged = False

    def __init__(self, shape: tuple, dtype: str = "float32", name: str | None = None) -> None:
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype
        self.name = name
        self._keras_history: KerasHistory | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return (
            f"<KerasTensor shape={self.shape}, dtype={self.dtype}, "
            f"sparse={self.sparse}, ragged={self.ragged}, name={self.name}>"
        )

    def __len__(self) -> int:
        raise TypeError(
            "A symbolic tensor has no length; it stands for a batch that does not exist yet."
        )

    def __iter__(self) -> Any:
        raise NotImplementedError("Iterating over a symbolic KerasTensor is not supported.")

    def __bool__(self) -> bool:
        raise TypeError("A symbolic KerasTensor cannot be used as a boolean.")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(
            "A KerasTensor is symbolic: it is a placeholder for a shape and a dtype, with no "
            "values, so it cannot become a NumPy array. In a functional model, apply layers, "
            "operators or convolve.ops functions to it; wrap other code in a layer."
        )

    # NumPy operators give way to ours, so `array + x` builds a node as `x + array` does.
    __array_ufunc__ = None

    # ------------------------------------------------------------ operations (as in Keras)
    # Each builds a graph node applying the `convolve.ops` function of the same meaning, named
    # as Keras names it (`x + y` -> `add (Add)`); see convolve/layers/op_layer.py.
    def __add__(self, other: Any) -> Any:
        return _op("add", self, other)

    def __radd__(self, other: Any) -> Any:
        return _op("add", other, self)

    def __sub__(self, other: Any) -> Any:
        return _op("subtract", self, other)

    def __rsub__(self, other: Any) -> Any:
        return _op("subtract", other, self)

    def __mul__(self, other: Any) -> Any:
        return _op("multiply", self, other)

    def __rmul__(self, other: Any) -> Any:
        return _op("multiply", other, self)

    def __matmul__(self, other: Any) -> Any:
        return _op("matmul", self, other)

    def __rmatmul__(self, other: Any) -> Any:
        return _op("matmul", other, self)

    def __truediv__(self, other: Any) -> Any:
        return _op("true_divide", self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return _op("true_divide", other, self)

    def __floordiv__(self, other: Any) -> Any:
        return _op("floor_divide", self, other)

    def __rfloordiv__(self, other: Any) -> Any:
        return _op("floor_divide", other, self)

    def __mod__(self, other: Any) -> Any:
        return _op("mod", self, other)

    def __rmod__(self, other: Any) -> Any:
        return _op("mod", other, self)

    def __pow__(self, other: Any) -> Any:
        return _op("power", self, other)

    def __rpow__(self, other: Any) -> Any:
        return _op("power", other, self)

    def __neg__(self) -> Any:
        return _op("negative", self)

    def __abs__(self) -> Any:
        return _op("absolute", self)

    def __round__(self, ndigits: int | None = None) -> Any:
        return _op("round", self, decimals=ndigits or 0)

    def __lt__(self, other: Any) -> Any:
        return _op("less", self, other)

    def __le__(self, other: Any) -> Any:
        return _op("less_equal", self, other)

    def __gt__(self, other: Any) -> Any:
        return _op("greater", self, other)

    def __ge__(self, other: Any) -> Any:
        return _op("greater_equal", self, other)

    # `==` stays identity, as in Keras (graphs key tensors by identity); `!=` is an op.
    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return _op("not_equal", self, other)

    __hash__ = object.__hash__

    def __and__(self, other: Any) -> Any:
        return _op("logical_and", self, other)

    def __rand__(self, other: Any) -> Any:
        return _op("logical_and", other, self)

    def __or__(self, other: Any) -> Any:
        return _op("logical_or", self, other)

    def __ror__(self, other: Any) -> Any:
        return _op("logical_or", other, self)

    def __xor__(self, other: Any) -> Any:
        return _op("logical_xor", self, other)

    def __rxor__(self, other: Any) -> Any:
        return _op("logical_xor", other, self)

    def __invert__(self) -> Any:
        return _op("logical_not", self)

    def __getitem__(self, key: Any) -> Any:
        from convolve.layers.op_layer import get_item

        return get_item(self, key)

    def reshape(self, newshape: Any) -> Any:
        return _op("reshape", self, newshape)

    def squeeze(self, axis: Any = None) -> Any:
        return _op("squeeze", self, axis)


@dataclass(eq=False)
class Node:
    """One call of a layer on symbolic tensors."""

    layer: Layer
    args: Any  # the structure passed as `inputs` (the first positional argument)
    kwargs: dict[str, Any] = field(default_factory=dict)
    outputs: Any = None
    # The positional arguments after the first, as in `CTCLayer()(labels, logits)`; empty
    # for the usual one-argument call.
    extra_args: tuple = ()

    @property
    def call_args(self) -> tuple:
        """Every positional argument of the call, in order."""
        return (self.args, *self.extra_args)

    @property
    def input_tensors(self) -> list[KerasTensor]:
        structure = self.args if not self.extra_args else self.call_args
        return [t for t in _tree.flatten(structure) if isinstance(t, KerasTensor)]

    @property
    def output_tensors(self) -> list[KerasTensor]:
        return _tree.flatten(self.outputs)

    @property
    def parent_nodes(self) -> list[Node]:
        parents = []
        for t in self.input_tensors:
            history = t._keras_history
            if history is not None:
                parents.append(history.layer._inbound_nodes[history.node_index])
        return parents


def _op(name: str, *args: Any, **kwargs: Any) -> Any:
    """`convolve.ops.<name>(*args)`, which builds a node when an argument is symbolic."""
    from convolve import ops

    return getattr(ops, name)(*args, **kwargs)


def is_symbolic(structure: Any) -> bool:
    return any(isinstance(t, KerasTensor) for t in _tree.flatten(structure))
