"""Shapes, joins, splits, indexing and sorting: reshape, concatenate, take, top_k ...

Indexing follows NumPy: negative indices count from the end of the indexed axis (of the
flattened tensor when `axis` is None).
"""

from __future__ import annotations

import builtins
from itertools import pairwise
from typing import Any

import torch

from convolve.ops._dtypes import result_type, standardize_dtype, to_torch_dtype
from convolve.ops.core import as_tensor, cast, tensors

__all__ = [
    "append", "argpartition", "argsort", "array_split", "broadcast_to", "concatenate", "diag",
    "diagflat", "diagonal", "diff", "digitize", "dsplit", "dstack", "expand_dims", "flip",
    "fliplr", "flipud", "get_item", "hsplit", "hstack", "in_top_k", "meshgrid", "moveaxis",
    "ndim", "nonzero", "pad", "ravel", "repeat", "reshape", "roll", "rot90", "searchsorted",
    "size", "sort", "split", "squeeze", "stack", "swapaxes", "take", "take_along_axis", "tile",
    "top_k", "transpose", "tril", "triu", "unique", "unravel_index", "view", "vsplit", "vstack",
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


def _pad_widths(pad_width: Any, rank: int) -> list[tuple[int, int]]:
    if isinstance(pad_width, torch.Tensor):
        pad_width = pad_width.tolist()
    if isinstance(pad_width, int):
        widths = [(pad_width, pad_width)]
    elif isinstance(pad_width, list | tuple) and pad_width and isinstance(pad_width[0], int):
        widths = [tuple(pad_width) * (2 if len(pad_width) == 1 else 1)]
    else:
        widths = [tuple(w) * (2 if len(w) == 1 else 1) for w in pad_width]
    if any(len(w) != 2 for w in widths) or len(widths) not in (1, rank):
        raise ValueError(
            "pad: `pad_width` must be an int, one (before, after) pair, or one pair per axis "
            f"of `x` (rank {rank}). Received: pad_width={pad_width}"
        )
    widths = [(int(a), int(b)) for a, b in widths]
    if any(a < 0 or b < 0 for a, b in widths):
        raise ValueError(f"pad: `pad_width` must be non-negative. Received: {pad_width}")
    return widths * rank if len(widths) == 1 else widths


_PAD_MODES = ("constant", "reflect", "symmetric", "edge", "wrap", "circular")


def _pad_index(mode: str, n: int, before: int, after: int, device: Any) -> torch.Tensor:
    i = torch.arange(-before, n + after, device=device)
    if mode == "edge":
        return i.clamp(0, n - 1)
    if mode in ("wrap", "circular"):
        return i.remainder(n)
    if mode == "symmetric":
        j = i.remainder(2 * n)
        return torch.where(j < n, j, 2 * n - 1 - j)
    if n == 1:  # reflect
        return torch.zeros_like(i)
    j = i.remainder(2 * n - 2)
    return torch.where(j < n, j, 2 * n - 2 - j)


def pad(
    x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = None
) -> torch.Tensor:
    """Pads `x` with `pad_width = ((before_1, after_1), ..., (before_N, after_N))` values.

    An int or a single `(before, after)` pair applies to every axis, as in NumPy. `mode` is
    `"constant"` (with `constant_values`, default 0), `"reflect"` (mirrored without the edge
    value), `"symmetric"` (mirrored with it), `"edge"` or `"wrap"`/`"circular"`.

    Example:
        >>> from convolve import ops
        >>> ops.pad([[1, 2]], ((0, 0), (1, 1)), constant_values=9).tolist()
        [[9, 1, 2, 9]]
    """
    x = as_tensor(x)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: `mode` must be one of {_PAD_MODES}. Received: mode={mode!r}")
    if constant_values is not None and mode != "constant":
        raise ValueError(
            "pad: `constant_values` can only be given with mode='constant'. "
            f"Received: mode={mode!r}, constant_values={constant_values!r}"
        )
    widths = _pad_widths(pad_width, x.ndim)
    if mode == "constant":
        flat = [w for pair in reversed(widths) for w in pair]
        value = 0 if constant_values is None else constant_values
        if isinstance(value, torch.Tensor):
            value = value.item()
        return torch.nn.functional.pad(x, flat, mode="constant", value=value)
    for axis, (before, after) in enumerate(widths):
        if before or after:
            n = x.shape[axis]
            if n == 0:
                raise ValueError(f"pad: cannot pad an empty axis {axis} in mode {mode!r}.")
            index = _pad_index(mode, n, before, after, x.device)
            x = torch.index_select(x, axis, index)
    return x


def vstack(xs: Any) -> torch.Tensor:
    """Joins tensors along the first axis (1-D tensors become rows)."""
    return torch.vstack(tensors(*xs))


def hstack(xs: Any) -> torch.Tensor:
    """Joins tensors along the second axis (the first for 1-D tensors)."""
    return torch.hstack(tensors(*xs))


def dstack(xs: Any) -> torch.Tensor:
    """Joins tensors along the third axis (made at least 3-D first)."""
    return torch.dstack(tensors(*xs))


def meshgrid(*x: Any, indexing: str = "xy") -> tuple[torch.Tensor, ...]:
    """Coordinate grids from 1-D coordinate vectors (`indexing` "xy" or "ij")."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: `indexing` must be 'xy' or 'ij'. Received: {indexing!r}")
    return torch.meshgrid(tensors(*x), indexing=indexing)


def nonzero(x: Any) -> torch.Tensor:
    """Indices (int32) of the non-zero elements, one row per axis: shape `(ndim, count)`."""
    return torch.nonzero(as_tensor(x)).T.to(torch.int32)


def diff(a: Any, n: int = 1, axis: int = -1) -> torch.Tensor:
    """The `n`-th discrete difference along `axis`."""
    return torch.diff(as_tensor(a), n=n, dim=axis)


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> torch.Tensor:
    """The `offset` diagonal over the plane `(axis1, axis2)`, as the last axis."""
    return torch.diagonal(as_tensor(x), offset=offset, dim1=axis1, dim2=axis2)


def diagflat(x: Any, k: int = 0) -> torch.Tensor:
    """A 2-D tensor with the flattened `x` on its `k`-th diagonal."""
    return torch.diagflat(as_tensor(x), offset=k)


def rot90(array: Any, k: int = 1, axes: tuple[int, int] = (0, 1)) -> torch.Tensor:
    """Rotates by 90 degrees `k` times in the plane of `axes`, from the first toward the second."""
    array = as_tensor(array)
    if array.ndim < 2:
        raise ValueError(f"rot90: `array` must have at least 2 axes. Received ndim={array.ndim}")
    if len(axes) != 2 or axes[0] % array.ndim == axes[1] % array.ndim:
        raise ValueError(f"rot90: `axes` must name two different axes. Received: axes={axes}")
    if not builtins.all(-array.ndim <= a < array.ndim for a in axes):
        raise ValueError(f"rot90: `axes` {axes} out of range for ndim={array.ndim}")
    return torch.rot90(array, k=k, dims=tuple(a % array.ndim for a in axes))


def fliplr(x: Any) -> torch.Tensor:
    """Reverses the second axis (left/right)."""
    return torch.fliplr(as_tensor(x))


def flipud(x: Any) -> torch.Tensor:
    """Reverses the first axis (up/down)."""
    return torch.flipud(as_tensor(x))


def append(x1: Any, x2: Any, axis: int | None = None) -> torch.Tensor:
    """`x2` appended to `x1` along `axis` (both flattened if None)."""
    x1, x2 = tensors(x1, x2)
    if axis is None:
        return torch.cat((x1.flatten(), x2.flatten()))
    return torch.cat((x1, x2), dim=axis)


def _indices_or_sections(value: Any) -> Any:
    if isinstance(value, int):
        return value
    return as_tensor(value).tolist()


def array_split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[torch.Tensor]:
    """`split` that allows unequal sections (the first ones one longer)."""
    x = as_tensor(x)
    return list(torch.tensor_split(x, _indices_or_sections(indices_or_sections), dim=axis))


def hsplit(x: Any, indices_or_sections: Any) -> list[torch.Tensor]:
    """`split` along the second axis (the first for 1-D tensors)."""
    return list(torch.hsplit(as_tensor(x), _indices_or_sections(indices_or_sections)))


def vsplit(x: Any, indices_or_sections: Any) -> list[torch.Tensor]:
    """`split` along the first axis."""
    return list(torch.vsplit(as_tensor(x), _indices_or_sections(indices_or_sections)))


def dsplit(x: Any, indices_or_sections: Any) -> list[torch.Tensor]:
    """`split` along the third axis."""
    return list(torch.dsplit(as_tensor(x), _indices_or_sections(indices_or_sections)))


def argpartition(x: Any, kth: int, axis: int | None = -1) -> torch.Tensor:
    """Indices (int32) that put the `kth` element in its sorted place along `axis`.

    Smaller elements come before it and larger ones after; here both sides come out sorted
    (a stable argsort), which is one valid partition.
    """
    x = as_tensor(x)
    if axis is None:
        x, axis = x.flatten(), 0
    size = x.shape[axis] if x.ndim else 1
    if not -size <= int(kth) < size:
        raise ValueError(f"argpartition: kth={kth} is out of bounds for an axis of size {size}")
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    return torch.argsort(x, dim=axis, stable=True).to(torch.int32)


def searchsorted(sorted_sequence: Any, values: Any, side: str = "left") -> torch.Tensor:
    """Indices (int32) where `values` would be inserted into a 1-D sorted sequence."""
    sorted_sequence, values = tensors(sorted_sequence, values)
    if sorted_sequence.ndim != 1:
        raise ValueError(
            "searchsorted: `sorted_sequence` must be 1-D. "
            f"Received: sorted_sequence.shape={tuple(sorted_sequence.shape)}"
        )
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: `side` must be 'left' or 'right'. Received: {side!r}")
    if sorted_sequence.dtype != values.dtype:
        dtype = torch.promote_types(sorted_sequence.dtype, values.dtype)
        sorted_sequence, values = sorted_sequence.to(dtype), values.to(dtype)
    return torch.searchsorted(sorted_sequence, values, side=side, out_int32=True)


def digitize(x: Any, bins: Any) -> torch.Tensor:
    """Index (int32) of the bin of each element: `i` with `bins[i-1] <= x < bins[i]`."""
    x, bins = tensors(x, bins)
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    if x.dtype != bins.dtype:
        dtype = torch.promote_types(x.dtype, bins.dtype)
        x, bins = x.to(dtype), bins.to(dtype)
    return torch.bucketize(x, bins, right=True).to(torch.int32)


def unique(
    x: Any,
    sorted: bool = True,
    return_index: bool = False,
    return_inverse: bool = False,
    return_counts: bool = False,
    axis: int | None = None,
    size: int | None = None,
    fill_value: Any = None,
) -> Any:
    """The unique elements (or slices along `axis`), sorted.

    With `return_index`, `return_inverse` or `return_counts`, also the index of each unique
    value's first occurrence, the index into the uniques of every element, and the counts
    (int64, as torch gives them), in that order. `size` truncates or pads the uniques (with
    `fill_value`, default 0) to a fixed length.
    """
    x = as_tensor(x)
    out = torch.unique(
        x,
        sorted=sorted,
        return_inverse=return_inverse or return_index,
        return_counts=return_counts,
        dim=axis,
    )
    out = list(out) if isinstance(out, tuple) else [out]
    values = out[0]
    dim = 0 if axis is None else axis % x.ndim
    first = None
    if return_index:
        inverse = out[1].reshape(-1)
        order = torch.arange(inverse.numel(), dtype=inverse.dtype, device=inverse.device)
        empty = inverse.new_empty(values.shape[dim])
        first = empty.scatter_reduce_(0, inverse, order, reduce="min", include_self=False)
    counts = out[-1] if return_counts else None
    if size is not None:
        have = values.shape[dim]
        if have > size:
            values = values.narrow(dim, 0, size)
            counts = None if counts is None else counts[:size]
            first = None if first is None else first[:size]
        elif have < size:
            extra = size - have
            widths = [0, 0] * (values.ndim - 1 - dim) + [0, extra]
            fill = 0 if fill_value is None else fill_value
            values = torch.nn.functional.pad(values, widths, value=fill)
            counts = None if counts is None else torch.nn.functional.pad(counts, [0, extra])
            first = None if first is None else torch.nn.functional.pad(first, [0, extra], value=1)
    result = [values]
    if return_index:
        result.append(first)
    if return_inverse:
        result.append(out[1])
    if return_counts:
        result.append(counts)
    return result[0] if len(result) == 1 else tuple(result)


def unravel_index(indices: Any, shape: Any) -> tuple[torch.Tensor, ...]:
    """Converts flat indices into a tuple of per-axis index tensors for `shape`."""
    indices = as_tensor(indices)
    dtype = result_type(indices.dtype)
    return tuple(cast(i, dtype) for i in torch.unravel_index(indices, tuple(shape)))


def get_item(x: Any, key: Any) -> torch.Tensor:
    """`x[key]`, with NumPy's indexing (ints, slices, None, Ellipsis, index and bool tensors)."""
    return as_tensor(x)[key]


def view(x: Any, dtype: Any = None) -> torch.Tensor:
    """The same memory read as `dtype` (float32 if None); the last axis is rescaled as needed."""
    return as_tensor(x).view(to_torch_dtype(standardize_dtype(dtype)))
