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

    def __init__(self, shape: tuple, dtype: str = "float32", name: str | None = None) -> None:
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype
        self.name = name
        self._keras_history: KerasHistory | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __len__(self) -> int:
        raise TypeError(
            "A symbolic tensor has no length; it stands for a batch that does not exist yet."
        )


@dataclass(eq=False)
class Node:
    """One call of a layer on symbolic tensors."""

    layer: Layer
    args: Any  # the structure passed as `inputs`
    kwargs: dict[str, Any] = field(default_factory=dict)
    outputs: Any = None

    @property
    def input_tensors(self) -> list[KerasTensor]:
        return [t for t in _tree.flatten(self.args) if isinstance(t, KerasTensor)]

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


def is_symbolic(structure: Any) -> bool:
    return any(isinstance(t, KerasTensor) for t in _tree.flatten(structure))
