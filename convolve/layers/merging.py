"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum and Concatenate.

Each takes a list of tensors. Elementwise merges broadcast as Keras does: shapes are
aligned from the right (batch excluded) and size-1 axes stretch; an input of lower rank
first gets size-1 axes inserted after the batch axis. Inputs of equal rank are held in the
same engine layout, so they broadcast there directly; only lower-rank inputs are reshaped.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch

from convolve.layers import _conv_utils as cu
from convolve.layers import layout
from convolve.layers.base import Layer


def _shape_list(layer: Layer, input_shape: Any) -> list[tuple]:
    """The input shapes as a list of tuples; raises unless it is a non-empty list."""
    if (
        not isinstance(input_shape, list | tuple)
        or not input_shape
        or not all(isinstance(s, list | tuple) for s in input_shape)
    ):
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) must be called on a list of at "
            f"least one input. Received input shape: {input_shape}"
        )
    return [tuple(s) for s in input_shape]


class Merge(Layer):
    """Base of the elementwise merges; subclasses define `_merge(tensors)`."""

    _hands_on_masks = True
    _engine_layout = True
    _exact_inputs: int | None = None  # Subtract takes exactly two

    def _merge(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def _broadcast_shape(self, shapes: list[tuple]) -> tuple:
        """Keras's output shape without the batch axis; raises on incompatible shapes."""
        result: tuple = shapes[0][1:]
        for shape in shapes[1:]:
            a, b = result, shape[1:]
            if len(a) < len(b):
                a, b = b, a
            merged = list(a[: len(a) - len(b)])
            for i, j in zip(a[len(a) - len(b) :], b, strict=True):
                if i is None or j is None:
                    merged.append(None)
                elif i == 1 or j == 1:
                    merged.append(j if i == 1 else i)
                elif i != j:
                    raise ValueError(
                        f"Layer '{self.name}' ({type(self).__name__}): inputs have incompatible "
                        f"shapes {', '.join(map(str, shapes))}; after the batch axis they must "
                        "be equal or broadcastable (sizes equal or 1, aligned from the right)."
                    )
                else:
                    merged.append(i)
            result = tuple(merged)
        return result

    def _validate(self, input_shape: Any) -> list[tuple]:
        shapes = _shape_list(self, input_shape)
        if self._exact_inputs is not None and len(shapes) != self._exact_inputs:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) must be called on exactly "
                f"{self._exact_inputs} inputs, received {len(shapes)} with shapes {shapes}"
            )
        batch_sizes = {s[0] for s in shapes if s} - {None}
        if len(batch_sizes) > 1:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): cannot merge tensors with "
                f"different batch sizes. Received shapes {shapes}"
            )
        return shapes

    def build(self, input_shape: Any) -> None:
        self._broadcast_shape(self._validate(input_shape))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shapes = self._validate(input_shape)
        batch_sizes = {s[0] for s in shapes if s} - {None}
        batch = batch_sizes.pop() if batch_sizes else None
        return (batch, *self._broadcast_shape(shapes))

    def call(
        self, inputs: Sequence[torch.Tensor], training: bool = False, mask: Any = None
    ) -> torch.Tensor:
        if not isinstance(inputs, list | tuple):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) must be called on a list of "
                f"inputs, received a single {type(inputs).__name__}."
            )
        tensors = list(inputs)
        rank = max(t.ndim for t in tensors)
        if any(t.ndim != rank for t in tensors):
            tensors = [_expand_to_rank(t, rank) for t in tensors]
        if mask is not None:
            # A mask covers every axis but the features (engine dim 1).
            return self._masked_merge(tensors, [_feature_broadcast(m) for m in mask])
        return self._merge(tensors)

    def _masked_merge(self, tensors: list[torch.Tensor], masks: list) -> torch.Tensor:
        """The merge of masked inputs; the sum and its kin ignore the masks, as Keras."""
        return self._merge(tensors)

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        """The union of the inputs' masks, when every input has one (as Keras)."""
        if mask is None or any(m is None for m in mask):
            return None
        return functools.reduce(torch.logical_or, mask)


def _feature_broadcast(mask: torch.Tensor | None) -> torch.Tensor | None:
    """A mask `(batch, *steps)` as a boolean that broadcasts over engine tensors."""
    return None if mask is None else mask.bool().unsqueeze(1)


def _select_merge(op: Any, tensors: list[torch.Tensor], masks: list) -> torch.Tensor:
    """Keras's merge of masked inputs for the maximum and minimum: a masked position of
    one input takes the other's value, so only unmasked values compete."""
    output, output_mask = tensors[0], masks[0]
    for x, mask in zip(tensors[1:], masks[1:], strict=True):
        if mask is not None:
            x = torch.where(mask, x, output)
        if output_mask is not None:
            output = torch.where(output_mask, output, x)
        output_mask = None if mask is None or output_mask is None else output_mask | mask
        output = op(output, x)
    return output


def _expand_to_rank(t: torch.Tensor, rank: int) -> torch.Tensor:
    """Keras inserts size-1 axes after the batch axis; done on the Keras view of `t`."""
    if t.ndim == rank:
        return t
    user = layout.to_user(t)
    for _ in range(rank - t.ndim):
        user = user.unsqueeze(1)
    return layout.to_engine(user)


class Add(Merge):
    """Adds a list of inputs elementwise.

    Example:
        >>> import torch
        >>> from convolve.layers.merging import Add
        >>> Add()([torch.ones(2, 3), torch.full((2, 3), 2.0)]).tolist()
        [[3.0, 3.0, 3.0], [3.0, 3.0, 3.0]]
    """

    def _merge(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        return functools.reduce(torch.add, tensors)


class Subtract(Merge):
    """Subtracts the second of exactly two inputs from the first.

    Example:
        >>> import torch
        >>> from convolve.layers.merging import Subtract
        >>> Subtract()([torch.ones(1, 2), torch.full((1, 2), 3.0)]).tolist()
        [[-2.0, -2.0]]
    """

    _exact_inputs = 2

    def _merge(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        return tensors[0] - tensors[1]


class Multiply(Merge):
    """Multiplies a list of inputs elementwise.

    Example:
        >>> import torch
        >>> from convolve.layers.merging import Multiply
        >>> Multiply()([torch.full((1, 2), 2.0), torch.full((1, 2), 3.0)]).tolist()
        [[6.0, 6.0]]
    """

    def _merge(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        return functools.reduce(torch.mul, tensors)

    def _masked_merge(self, tensors: list[torch.Tensor], masks: list) -> torch.Tensor:
        # Keras: masked positions count as 1, and where every input is masked the product
        # is 0 (only when every input has a mask).
        ones = [
            x if m is None else torch.where(m, x, 1.0) for x, m in zip(tensors, masks, strict=True)
        ]
        output = functools.reduce(torch.mul, ones)
        if all(m is not None for m in masks):
            output = torch.where(functools.reduce(torch.logical_or, masks), output, 0.0)
        return output


class Average(Merge):
    """Averages a list of inputs elementwise.

    Example:
        >>> import torch
        >>> from convolve.layers.merging import Average
        >>> Average()([torch.zeros(1, 2), torch.ones(1, 2)]).tolist()
        [[0.5, 0.5]]
    """

    def _merge(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        return functools.reduce(torch.add, tensors) / len(tensors)


class Maximum(Merge):
    """The elementwise maximum of a list of inputs.

    Example:
        >>> import torch
        >>> from convolve.layers.merging import Maximum
        >>> Maximum()([torch.tensor([[1.0, 5.0]]), torch.tensor([[3.0, 2.0]])]).tolist()
        [[3.0, 5.0]]
    """

    def _merge(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        return functools.reduce(torch.maximum, tensors)

    def _masked_merge(self, tensors: list[torch.Tensor], masks: list) -> torch.Tensor:
        return _select_merge(torch.maximum, tensors, masks)


class Minimum(Merge):
    """The elementwise minimum of a list of inputs.

    Example:
        >>> import torch
        >>> from convolve.layers.merging import Minimum
        >>> Minimum()([torch.tensor([[1.0, 5.0]]), torch.tensor([[3.0, 2.0]])]).tolist()
        [[1.0, 2.0]]
    """

    def _merge(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        return functools.reduce(torch.minimum, tensors)

    def _masked_merge(self, tensors: list[torch.Tensor], masks: list) -> torch.Tensor:
        return _select_merge(torch.minimum, tensors, masks)


class Concatenate(Merge):
    """Concatenates a list of inputs along `axis` (a Keras axis: -1 is the channels).

    All inputs must have the same rank and the same sizes on every other axis (unknown
    sizes are accepted).

    Args:
        axis: the axis to concatenate along, in the channels-last layout users see.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:
        >>> import torch
        >>> from convolve.layers.merging import Concatenate
        >>> Concatenate()([torch.zeros(2, 4, 4, 3), torch.ones(2, 4, 4, 5)]).shape
        torch.Size([2, 4, 4, 8])
        >>> Concatenate(axis=1).compute_output_shape([(None, 2, 5), (None, 3, 5)])
        (None, 5, 5)
    """

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        if not cu.is_int(axis):
            raise ValueError(f"Concatenate: axis must be an integer, received axis={axis!r}")
        super().__init__(**kwargs)
        self.axis = int(axis)

    def _check_shapes(self, input_shape: Any) -> list[tuple]:
        shapes = _shape_list(self, input_shape)
        rank = len(shapes[0])
        problem = None
        if any(len(s) != rank for s in shapes):
            problem = "all inputs must have the same rank"
        elif not -rank <= self.axis < rank:
            problem = f"axis={self.axis} is out of range for inputs of rank {rank}"
        else:
            axis = self.axis % rank
            for i in range(rank):
                known = {s[i] for s in shapes} - {None}
                if i != axis and len(known) > 1:
                    problem = (
                        f"the sizes of axis {i} differ ({', '.join(map(str, sorted(known)))}); "
                        f"only the concatenation axis ({self.axis}) may differ"
                    )
                    break
        if problem:
            raise ValueError(
                f"Layer '{self.name}' (Concatenate): {problem}. Received input shapes "
                f"{', '.join(map(str, shapes))}"
            )
        return shapes

    def build(self, input_shape: Any) -> None:
        self._check_shapes(input_shape)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shapes = self._check_shapes(input_shape)
        axis = self.axis % len(shapes[0])
        sizes = [s[axis] for s in shapes]
        output = list(shapes[0])  # Keras takes the other sizes from the first input
        output[axis] = None if None in sizes else sum(sizes)
        return tuple(output)

    def call(self, inputs: Sequence[torch.Tensor], training: bool = False) -> torch.Tensor:
        rank = inputs[0].ndim
        return torch.cat(list(inputs), dim=layout.engine_axis(self.axis, rank))

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        """Keras's rule: the inputs' masks (all-true for an unmasked input) spread over
        the features, concatenated, then any over the last axis."""
        if mask is None or all(m is None for m in mask):
            return None
        full = [
            torch.ones_like(x, dtype=torch.bool)
            if m is None
            else (m.bool().unsqueeze(-1).expand_as(x) if m.ndim < x.ndim else m.bool())
            for x, m in zip(inputs, mask, strict=True)
        ]
        return torch.any(torch.cat(full, dim=self.axis), dim=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


def add(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Add(**kwargs)(inputs)`: the sum of `inputs`."""
    return Add(**kwargs)(inputs)


def subtract(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Subtract(**kwargs)(inputs)`: `inputs[0] - inputs[1]`."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Multiply(**kwargs)(inputs)`: the product of `inputs`."""
    return Multiply(**kwargs)(inputs)


def average(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Average(**kwargs)(inputs)`: the mean of `inputs`."""
    return Average(**kwargs)(inputs)


def maximum(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Maximum(**kwargs)(inputs)`: the elementwise maximum of `inputs`."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Minimum(**kwargs)(inputs)`: the elementwise minimum of `inputs`."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs: Sequence[Any], axis: int = -1, **kwargs: Any) -> Any:
    """Functional form of `Concatenate`: `Concatenate(axis=axis, **kwargs)(inputs)`.

    Example:
        >>> import convolve
        >>> from convolve.layers.merging import concatenate
        >>> a, b = convolve.Input((4, 4, 3)), convolve.Input((4, 4, 5))
        >>> concatenate([a, b]).shape
        (None, 4, 4, 8)
    """
    return Concatenate(axis=axis, **kwargs)(inputs)
