"""Shapes, joins, splits, indexing and sorting: reshape, concatenate, take, top_k ...

Indexing follows NumPy: negative indices count from the end of the indexed axis (of the
flattened tensor when `axis` is None).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import torch

from convolve.ops.core import as_tensor, tensors

__all__ = [
    "argsort", "broadcast_to", "concatenate", "diag", "expand_dims", "flip", "in_top_k",
    "moveaxis", "ndim", "ravel", "repeat", "reshape", "roll", "size", "sort", "split",
    "squeeze", "stack", "swapaxes", "take", "take_along_axis", "tile", "top_k", "transpose",
    "tril", "triu",
]  # fmt: skip


def _axes(axis: int | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    return (axis,) if isinstance(axis, int) else tuple(axis)


def reshape(x: Any, newshape: int | tuple[int, ...] | list[int]) -> torch.Tensor:
    """Gives `x` a new shape with the same number of elements; one entry may be -1."""
    newshape = _axes(newshape) if not isinstance(newshape, torch.Tensor) else newshape.tolist()
    if sum(d == -1 for d in newshape) > 1 or any(d < -1 for d in newshape):
        raise ValueError(
            "reshape: `newshape` may hold one -1 and otherwise non-negative sizes. "
            f"Received: newshape={tuple(newshape)}"
        )
    return torch.reshape(as_tensor(x), tuple(newshape))


def transpose(x: Any, axes: tuple[int, ...] | list[int] | None = None) -> torch.Tensor:
    """Permutes the axes; reverses them when `axes` is None."""
    x = as_tensor(x)
    return x.permute(tuple(range(x.ndim))[::-1] if axes is None else tuple(axes))


def expand_dims(x: Any, axis: int | tuple[int, ...] | list[int]) -> torch.Tensor:
    """Inserts size-1 axes at `axis` (positions in the output)."""
    x = as_tensor(x)
    rank = x.ndim + len(_axes(axis))
    for a in sorted(a + rank if a < 0 else a for a in _axes(axis)):
        x = x.unsqueeze(a)
    return x


def squeeze(x: Any, axis: int | tuple[int, ...] | None = None) -> torch.Tensor:
    """Removes size-1 axes: all of them, or those in `axis` (which must have size 1)."""
    x = as_tensor(x)
    if axis is None:
        return torch.squeeze(x)
    bad = [a for a in _axes(axis) if x.shape[a] != 1]
    if bad:
        raise ValueError(
            f"squeeze: axis {bad[0]} has size {x.shape[bad[0]]}, not 1. "
            f"Received: axis={axis} for shape {tuple(x.shape)}"
        )
    return torch.squeeze(x, dim=_axes(axis))


def concatenate(xs: Any, axis: int | None = 0) -> torch.Tensor:
    """Joins tensors along an existing axis (flattened first if `axis` is None)."""
    xs = tensors(*xs)
    if axis is None:
        return torch.cat([x.flatten() for x in xs])
    return torch.cat(xs, dim=axis)


def stack(x: Any, axis: int = 0) -> torch.Tensor:
    """Joins tensors of one shape along a new axis."""
    return torch.stack(tensors(*x), dim=axis)


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[torch.Tensor]:
    """Splits into equal sections (an int) or at the given indices, as NumPy's `split`."""
    x = as_tensor(x)
    length = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if length % indices_or_sections:
            raise ValueError(
                f"split: x.shape[{axis}]={length} is not divisible by "
                f"indices_or_sections={indices_or_sections}. Full shape: {tuple(x.shape)}"
            )
        return list(torch.split(x, length // indices_or_sections, dim=axis))
    bounds = [0, *(int(i) for i in indices_or_sections), length]
    sizes = [max(0, min(b, length) - min(a, length)) for a, b in pairwise(bounds)]
    return list(torch.split(x, sizes, dim=axis))


def tile(x: Any, repeats: Any) -> torch.Tensor:
    """Repeats the whole tensor `repeats` times along each axis."""
    if isinstance(repeats, torch.Tensor):
        repeats = repeats.tolist()
    return torch.tile(as_tensor(x), _axes(repeats))


def repeat(x: Any, repeats: Any, axis: int | None = None) -> torch.Tensor:
    """Repeats each element `repeats` times along `axis` (of the flattened tensor if None)."""
    x = as_tensor(x)
    if not isinstance(repeats, int):
        repeats = as_tensor(repeats, dtype="int64", device=x.device)
    return torch.repeat_interleave(x, repeats, dim=axis)


def ravel(x: Any) -> torch.Tensor:
    """The elements as a 1-D tensor, in row-major order."""
    return torch.ravel(as_tensor(x))


def flip(x: Any, axis: int | tuple[int, ...] | None = None) -> torch.Tensor:
    """Reverses the order of elements along `axis` (all axes if None)."""
    x = as_tensor(x)
    return torch.flip(x, dims=tuple(range(x.ndim)) if axis is None else _axes(axis))


def roll(
    x: Any, shift: int | tuple[int, ...], axis: int | tuple[int, ...] | None = None
) -> torch.Tensor:
    """Shifts elements cyclically by `shift` along `axis` (of the flattened tensor if None)."""
    return torch.roll(as_tensor(x), shift, dims=axis)


def broadcast_to(x: Any, shape: tuple[int, ...]) -> torch.Tensor:
    """`x` broadcast to `shape` (a view, no copy)."""
    return torch.broadcast_to(as_tensor(x), tuple(shape))


def swapaxes(x: Any, axis1: int, axis2: int) -> torch.Tensor:
    """Exchanges two axes."""
    return torch.swapaxes(as_tensor(x), axis1, axis2)


def moveaxis(x: Any, source: Any, destination: Any) -> torch.Tensor:
    """Moves axes from `source` positions to `destination` positions."""
    return torch.moveaxis(as_tensor(x), source, destination)


def _wrapped(indices: Any, size: int, device: torch.device) -> torch.Tensor:
    indices = as_tensor(indices, device=device).long()
    return torch.where(indices < 0, indices + size, indices)


def take(x: Any, indices: Any, axis: int | None = None) -> torch.Tensor:
    """Elements at `indices` along `axis` (of the flattened tensor if None).

    The result has shape `x.shape[:axis] + indices.shape + x.shape[axis + 1:]`.
    """
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = axis % x.ndim
    indices = _wrapped(indices, x.shape[axis], x.device)
    out = torch.index_select(x, axis, indices.reshape(-1))
    return out.reshape(x.shape[:axis] + indices.shape + x.shape[axis + 1 :])


def take_along_axis(x: Any, indices: Any, axis: int | None = None) -> torch.Tensor:
    """Picks values along `axis` with an index tensor broadcast against `x`."""
    x = as_tensor(x)
    size = x.numel() if axis is None else x.shape[axis]
    return torch.take_along_dim(x, _wrapped(indices, size, x.device), dim=axis)


def sort(x: Any, axis: int | None = -1) -> torch.Tensor:
    """Values sorted ascending along `axis` (the flattened tensor if None)."""
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    if x.dtype == torch.bool:  # no bool sort kernel on CUDA
        return torch.sort(x.to(torch.uint8), dim=axis).values.bool()
    return torch.sort(x, dim=axis).values


def argsort(x: Any, axis: int | None = -1) -> torch.Tensor:
    """Indices (int32) that sort `x` along `axis`, stable for ties."""
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), -1
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    return torch.argsort(x, dim=axis, stable=True).to(torch.int32)


def top_k(x: Any, k: int, sorted: bool = True) -> Any:
    """The `k` largest values along the last axis and their indices, as `(values, indices)`.

    Example:
        >>> from convolve import ops
        >>> values, indices = ops.top_k([1.0, 5.0, 3.0], k=2)
        >>> values.tolist(), indices.tolist()
        ([5.0, 3.0], [1, 2])
    """
    return torch.topk(as_tensor(x), k, sorted=sorted)


def in_top_k(targets: Any, predictions: Any, k: int) -> torch.Tensor:
    """Whether each target class is among the `k` highest predictions of its row."""
    predictions = as_tensor(predictions)
    targets = as_tensor(targets, device=predictions.device).long()[:, None]
    kth = torch.topk(predictions, k).values
    return torch.any(torch.take_along_dim(predictions, targets, dim=-1) >= kth, dim=-1)


def tril(x: Any, k: int = 0) -> torch.Tensor:
    """Zeroes the elements above the `k`-th diagonal."""
    return torch.tril(as_tensor(x), diagonal=k)


def triu(x: Any, k: int = 0) -> torch.Tensor:
    """Zeroes the elements below the `k`-th diagonal."""
    return torch.triu(as_tensor(x), diagonal=k)


def diag(x: Any, k: int = 0) -> torch.Tensor:
    """The `k`-th diagonal of a matrix, or a matrix with a vector on its `k`-th diagonal."""
    return torch.diag(as_tensor(x), diagonal=k)


def ndim(x: Any) -> int:
    """The number of axes."""
    return as_tensor(x).ndim


def size(x: Any) -> torch.Tensor:
    """The number of elements, as a 0-d int64 tensor."""
    x = as_tensor(x)
    return torch.tensor(x.numel(), device=x.device)
