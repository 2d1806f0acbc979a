"""Control flow, functional transforms and index updates (`keras.ops` core functions).

On torch these run eagerly: `cond`, `switch`, `while_loop` and `fori_loop` are Python
control flow, `scan` and `map` loop over the leading axis, `vectorized_map` uses
`torch.vmap`. `scatter`, `scatter_update`, `slice` and `slice_update` return new tensors and
leave their inputs unchanged.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils import _pytree as pytree

from convolve.ops._dtypes import standardize_dtype
from convolve.ops.core import as_tensor, cast, tensors

__all__ = [
    "associative_scan", "cond", "custom_gradient", "fori_loop", "map", "saturate_cast", "scan",
    "scatter", "scatter_update", "slice", "slice_update", "switch", "vectorize",
    "vectorized_map", "while_loop",
]  # fmt: skip


def _callable(fn: Any, name: str, arg: str) -> None:
    if not callable(fn):
        raise TypeError(f"{name}: `{arg}` must be callable. Received: {arg}={fn!r}")


def cond(pred: Any, true_fn: Callable[[], Any], false_fn: Callable[[], Any]) -> Any:
    """`true_fn()` if `pred` holds, else `false_fn()`.

    Example:
        >>> from convolve import ops
        >>> ops.cond(ops.convert_to_tensor(True), lambda: 1, lambda: 2)
        1
    """
    _callable(true_fn, "cond", "true_fn")
    _callable(false_fn, "cond", "false_fn")
    return true_fn() if bool(pred) else false_fn()


def switch(index: Any, branches: list[Callable[..., Any]], *operands: Any) -> Any:
    """`branches[index](*operands)`, with `index` clamped to the valid range."""
    if not branches:
        raise ValueError("switch: `branches` must not be empty.")
    position = int(as_tensor(index, dtype="int32"))
    return branches[builtins.min(builtins.max(position, 0), len(branches) - 1)](*operands)


def while_loop(
    cond: Callable[..., Any],
    body: Callable[..., Any],
    loop_vars: Any,
    maximum_iterations: int | None = None,
) -> Any:
    """Runs `loop_vars = body(*loop_vars)` while `cond(*loop_vars)` holds.

    A tuple or list of loop variables is unpacked into `cond` and `body`; the result has the
    same form (a tuple for a list).
    """
    _callable(cond, "while_loop", "cond")
    _callable(body, "while_loop", "body")
    is_sequence = isinstance(loop_vars, tuple | list)
    values = tuple(loop_vars) if is_sequence else (loop_vars,)
    values = tuple(pytree.tree_map(as_tensor, list(values)))
    count = 0
    while (maximum_iterations is None or count < maximum_iterations) and bool(cond(*values)):
        values = body(*values)
        values = tuple(values) if isinstance(values, tuple | list) else (values,)
        count += 1
    return values if is_sequence else values[0]


def fori_loop(lower: int, upper: int, body_fun: Callable[[int, Any], Any], init_val: Any) -> Any:
    """`val = body_fun(i, val)` for `i` from `lower` to `upper - 1`, starting at `init_val`."""
    _callable(body_fun, "fori_loop", "body_fun")
    value = init_val
    for i in range(int(lower), int(upper)):
        value = body_fun(i, value)
    return value


def scan(
    f: Callable[[Any, Any], Any],
    init: Any,
    xs: Any = None,
    length: int | None = None,
    reverse: bool = False,
    unroll: int | bool = 1,
) -> tuple[Any, Any]:
    """`carry, y = f(carry, x)` over the leading axis of `xs`; returns `(carry, stacked ys)`.

    `xs` and `init` may be nested lists, tuples or dicts of tensors; with `xs=None`, `f` gets
    `None` `length` times.
    """
    _callable(f, "scan", "f")
    if not isinstance(unroll, bool) and (not isinstance(unroll, int) or unroll < 1):
        raise ValueError(f"scan: `unroll` must be a positive int or a bool. Received: {unroll}")
    if xs is None and length is None:
        raise ValueError("scan: got no `xs` to scan over and no `length`.")
    if xs is None:
        leaves, spec, n = [], None, int(length)
    else:
        leaves, spec = pytree.tree_flatten(xs)
        leaves = [as_tensor(leaf) for leaf in leaves]
        n = int(length) if length is not None else leaves[0].shape[0]
    init_leaves, init_spec = pytree.tree_flatten(init)
    carry = pytree.tree_unflatten([as_tensor(v) for v in init_leaves], init_spec)
    ys = []
    steps = range(n - 1, -1, -1) if reverse else range(n)
    for i in steps:
        x = pytree.tree_unflatten([leaf[i] for leaf in leaves], spec) if leaves else None
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys.reverse()
    if not ys or ys[0] is None:
        zeros = [torch.zeros_like(v) for v in pytree.tree_leaves(carry)]
        stacked = [torch.stack([z] * n) for z in zeros]
        return carry, stacked
    y_leaves = [pytree.tree_flatten(y)[0] for y in ys]
    y_spec = pytree.tree_flatten(ys[0])[1]
    columns = [
        torch.stack([as_tensor(row[j]) for row in y_leaves]) for j in range(len(y_leaves[0]))
    ]
    return carry, pytree.tree_unflatten(columns, y_spec)


def map(f: Callable[[Any], Any], xs: Any) -> Any:
    """`f` applied to each slice of `xs` along the leading axis, the results stacked."""
    _callable(f, "map", "f")
    return scan(lambda carry, x: (carry, f(x)), (), xs)[1]


def associative_scan(
    f: Callable[[Any, Any], Any], elems: Any, reverse: bool = False, axis: int = 0
) -> Any:
    """Inclusive scan with an associative `f` along `axis` (e.g. `f=add` gives `cumsum`).

    `elems` may be a nested structure of tensors of equal length along `axis`; `f` combines
    two such structures of slices.
    """
    _callable(f, "associative_scan", "f")
    leaves, spec = pytree.tree_flatten(elems)
    leaves = [as_tensor(leaf) for leaf in leaves]
    n = leaves[0].shape[axis]
    if any(leaf.shape[axis] != n for leaf in leaves[1:]):
        raise ValueError(
            "associative_scan: inputs must have the same length along `axis`. Received shapes "
            f"{[tuple(leaf.shape) for leaf in leaves]}"
        )
    if reverse:
        leaves = [torch.flip(leaf, (axis,)) for leaf in leaves]
    outputs = []
    running = None
    for i in range(n):
        item = pytree.tree_unflatten([leaf.select(axis, i) for leaf in leaves], spec)
        running = item if running is None else f(running, item)
        outputs.append([as_tensor(v) for v in pytree.tree_flatten(running)[0]])
    if n == 0:
        return elems
    columns = [torch.stack([row[j] for row in outputs], dim=axis) for j in range(len(leaves))]
    if reverse:
        columns = [torch.flip(c, (axis,)) for c in columns]
    return pytree.tree_unflatten(columns, spec)


def vectorized_map(function: Callable[[Any], Any], elements: Any) -> Any:
    """`function` applied to each slice of `elements` along the leading axis (`torch.vmap`)."""
    _callable(function, "vectorized_map", "function")
    elements = pytree.tree_map(as_tensor, elements)
    return torch.vmap(function)(elements)


def vectorize(
    pyfunc: Callable[..., Any], *, excluded: Any = None, signature: str | None = None
) -> Callable[..., Any]:
    """A function that applies `pyfunc` elementwise over broadcast tensor arguments.

    Without `signature`, `pyfunc` takes and returns scalars; with a NumPy-style signature
    such as `"(n),(n)->()"`, it takes the given core shapes and maps over the leading axes.
    """
    if not callable(pyfunc):
        raise ValueError(f"vectorize: `pyfunc` must be callable. Received: pyfunc={pyfunc!r}")
    excluded = set(excluded or ())
    if signature is not None:
        inputs, _ = _parse_signature(signature)

    def wrapped(*args: Any) -> Any:
        mapped = [i for i in range(len(args)) if i not in excluded]
        values = list(args)
        for i in mapped:
            values[i] = as_tensor(values[i])
        cores = inputs if signature is not None else [()] * len(mapped)
        if len(cores) != len(mapped):
            raise TypeError(
                f"vectorize: the signature {signature!r} names {len(cores)} inputs, "
                f"got {len(mapped)}"
            )
        batch_shapes = [
            values[i].shape[: values[i].ndim - len(core)]
            for i, core in zip(mapped, cores, strict=True)
        ]
        batch = torch.broadcast_shapes(*batch_shapes) if batch_shapes else ()
        for i, core in zip(mapped, cores, strict=True):
            core_shape = values[i].shape[values[i].ndim - len(core) :]
            values[i] = values[i].expand(batch + core_shape)

        def call(*mapped_args: Any) -> Any:
            full = list(values)
            for i, value in zip(mapped, mapped_args, strict=True):
                full[i] = value
            return pyfunc(*full)

        fn = call
        for _ in range(len(batch)):
            fn = torch.vmap(fn)
        return fn(*(values[i] for i in mapped))

    return wrapped


def _parse_signature(signature: str) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    try:
        left, right = signature.replace(" ", "").split("->")

        def groups(text: str) -> list[tuple[str, ...]]:
            parts = text[1:-1].split("),(") if text else []
            return [tuple(p for p in part.split(",") if p) for part in parts]

        return groups(left), groups(right)
    except ValueError:
        raise ValueError(f"vectorize: invalid signature {signature!r}") from None


def _dtype_range(name: str) -> tuple[Any, Any]:
    if name == "bool":
        return 0, 1
    if "int" in name:
        info = np.iinfo(name)
    elif name == "bfloat16":
        info = torch.finfo(torch.bfloat16)
    else:
        info = np.finfo(name)
    return info.min, info.max


def saturate_cast(x: Any, dtype: Any) -> torch.Tensor:
    """Casts to `dtype` after clipping to its range, so that values saturate, not wrap.

    Example:
        >>> from convolve import ops
        >>> ops.saturate_cast([-1.0, 300.0], "uint8").tolist()
        [0, 255]
    """
    x = as_tensor(x)
    dtype = standardize_dtype(dtype)
    in_name = standardize_dtype(x.dtype)
    in_min, in_max = _dtype_range(in_name)
    out_min, out_max = _dtype_range(dtype)
    np_in = "float32" if in_name == "bfloat16" else in_name
    low = np.asarray(builtins.max(in_min, out_min)).astype(np_in)
    if low < out_min:
        low = np.nextafter(low, np.asarray(0, np_in))
    high = np.asarray(builtins.min(in_max, out_max)).astype(np_in)
    if high > out_max:
        high = np.nextafter(high, np.asarray(0, np_in))
    if x.dtype == torch.bool:
        x = x.int()
    x = torch.clip(x, min=low.item(), max=high.item())
    return cast(x, dtype)


def _index_rows(indices: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(indices.reshape(-1, indices.shape[-1]).long().unbind(-1))


def scatter(indices: Any, values: Any, shape: Any) -> torch.Tensor:
    """A zero tensor of `shape` with `values` added at `indices` (duplicates are summed).

    `indices` has shape `(..., k)`: each row indexes the first `k` axes of the output.
    """
    values = as_tensor(values)
    indices = as_tensor(indices, device=values.device)
    shape = tuple(int(s) for s in (shape.tolist() if isinstance(shape, torch.Tensor) else shape))
    k = indices.shape[-1]
    out = torch.zeros(shape, dtype=values.dtype, device=values.device)
    rows = values.reshape((-1, *shape[k:]))
    return out.index_put(_index_rows(indices), rows, accumulate=True)


def scatter_update(inputs: Any, indices: Any, updates: Any, reduction: str | None = None) -> Any:
    """A copy of `inputs` with `updates` written (or combined by `reduction`) at `indices`.

    `reduction` is None (overwrite), "add", "max", "min" or "mul".
    """
    if reduction not in (None, "add", "max", "min", "mul"):
        raise ValueError(
            "scatter_update: `reduction` must be None, 'add', 'max', 'min' or 'mul'. "
            f"Received: reduction={reduction!r}"
        )
    inputs = as_tensor(inputs)
    indices = as_tensor(indices, dtype="int64", device=inputs.device)
    updates = as_tensor(updates, dtype=inputs.dtype, device=inputs.device)
    index = tuple(indices.long().unbind(-1))
    out = torch.clone(inputs)
    if reduction is None:
        out[index] = updates
    elif reduction == "add":
        out.index_put_(index, updates, accumulate=True)
    else:
        combine = {"max": torch.maximum, "min": torch.minimum, "mul": torch.mul}[reduction]
        for row, update in zip(
            indices.reshape(-1, indices.shape[-1]),
            updates.reshape((-1, *updates.shape[indices.ndim - 1 :])),
            strict=True,
        ):
            where = tuple(row.tolist())
            out[where] = combine(out[where], update)
    return out


def _ints(value: Any) -> list[int]:
    if isinstance(value, torch.Tensor):
        return [int(v) for v in value.tolist()]
    return [int(v) for v in value]


def slice(inputs: Any, start_indices: Any, shape: Any) -> torch.Tensor:
    """The block of `inputs` of size `shape` starting at `start_indices`.

    Example:
        >>> from convolve import ops
        >>> ops.slice(ops.arange(10), [2], [3]).tolist()
        [2, 3, 4]
    """
    inputs = as_tensor(inputs)
    starts, sizes = _ints(start_indices), _ints(shape)
    if len(starts) != len(sizes) or len(starts) > inputs.ndim:
        raise ValueError(
            "slice: `start_indices` and `shape` must have one entry per leading axis. "
            f"Received: start_indices={starts}, shape={sizes}, inputs.shape={tuple(inputs.shape)}"
        )
    out = inputs
    for axis, (start, size) in enumerate(zip(starts, sizes, strict=True)):
        out = out.narrow(axis, start, size)
    return out


def slice_update(inputs: Any, start_indices: Any, updates: Any) -> torch.Tensor:
    """A copy of `inputs` with the block at `start_indices` replaced by `updates`."""
    inputs, updates = tensors(inputs, updates)
    starts = _ints(start_indices)
    if len(starts) != updates.ndim:
        raise ValueError(
            "slice_update: `start_indices` must have one entry per axis of `updates`. "
            f"Received: start_indices={starts}, updates.shape={tuple(updates.shape)}"
        )
    out = torch.clone(inputs)
    block = tuple(builtins.slice(s, s + n) for s, n in zip(starts, updates.shape, strict=True))
    out[block] = updates.to(out.dtype)
    return out


class _CustomGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, forward_fn: Callable[..., Any], *args: Any) -> Any:
        ctx.save_for_backward(*args)
        output, ctx.grad_fn = forward_fn(*args)
        return output

    @staticmethod
    def backward(ctx: Any, upstream: Any) -> Any:
        grads = ctx.grad_fn(*ctx.saved_tensors, upstream=upstream)
        return (None, *(grads if isinstance(grads, tuple) else (grads,)))


def custom_gradient(f: Callable[..., Any]) -> Callable[..., Any]:
    """Decorates `f(*args) -> (output, grad_fn)` to use `grad_fn` as its gradient.

    As on Keras's torch backend, `grad_fn(*args, upstream=...)` receives the inputs and the
    gradient of the output, and returns the gradients of the inputs.
    """
    _callable(f, "custom_gradient", "f")

    def wrapper(*args: Any) -> Any:
        return _CustomGradient.apply(f, *args)

    return wrapper
