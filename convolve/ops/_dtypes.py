"""Keras's dtype names and its type promotion rules, on torch dtypes.

Keras promotes dtypes on a JAX-style lattice where Python `int` and `float` are "weak" (they
take the dtype of the tensor they meet) and 64-bit results are narrowed to 32 bits on the torch
backend. `result_type` reproduces that so that `ops` results have Keras's dtypes.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

FLOATX = "float32"
EPSILON = 1e-7  # Keras's backend.epsilon()

ALLOWED = (
    "bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
    "bfloat16", "float16", "float32", "float64", "complex64", "complex128",
)  # fmt: skip
_PYTHON = {bool: "bool", int: "int32", float: "float32", complex: "complex64", "int": "int32"}
_TORCH = {
    "bool": torch.bool, "uint8": torch.uint8, "int8": torch.int8, "int16": torch.int16,
    "int32": torch.int32, "int64": torch.int64, "bfloat16": torch.bfloat16,
    "float16": torch.float16, "float32": torch.float32, "float64": torch.float64,
    "complex64": torch.complex64, "complex128": torch.complex128,
    # torch has no usable unsigned 16/32-bit types: Keras widens them to the next signed type.
    "uint16": torch.int32, "uint32": torch.int64,
}  # fmt: skip
_NARROW = {"int64": "int32", "uint64": "uint32", "float64": "float32", "complex128": "complex64"}

# Each dtype mapped to the dtypes directly above it; "int" and "float" are the weak types.
_LATTICE = {
    "bool": ["int"],
    "int": ["uint8", "int8", "complex64"],
    "uint8": ["int16", "uint16"],
    "uint16": ["int32", "uint32"],
    "uint32": ["int64", "uint64"],
    "uint64": ["float"],
    "int8": ["int16"],
    "int16": ["int32"],
    "int32": ["int64"],
    "int64": ["float"],
    "float": ["bfloat16", "float16"],
    "bfloat16": ["float32"],
    "float16": ["float32"],
    "float32": ["float64", "complex64"],
    "float64": ["complex128"],
    "complex64": ["complex128"],
    "complex128": [],
}


def _upper_bounds() -> dict[str, frozenset[str]]:
    bounds = {}
    for node in _LATTICE:
        seen, todo = {node}, [node]
        while todo:
            for up in _LATTICE[todo.pop()]:
                if up not in seen:
                    seen.add(up)
                    todo.append(up)
        bounds[node] = frozenset(seen)
    return bounds


_BOUNDS = _upper_bounds()


def standardize_dtype(dtype: Any) -> str:
    """Keras's name for a dtype given as a string, torch/NumPy dtype or Python type."""
    if dtype is None:
        return FLOATX
    name = _PYTHON.get(dtype, dtype)
    if isinstance(name, torch.dtype):
        name = str(name).split(".")[-1]
    elif isinstance(name, np.dtype):
        name = name.name
    elif isinstance(name, type) and issubclass(name, np.generic):
        name = np.dtype(name).name
    if name not in ALLOWED:
        raise ValueError(f"Invalid dtype: {dtype!r}. Expected one of {ALLOWED}.")
    return name


def to_torch_dtype(dtype: Any) -> torch.dtype:
    """The torch dtype for a Keras dtype name (or anything `standardize_dtype` accepts)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    name = standardize_dtype(dtype)
    if name not in _TORCH:
        raise ValueError(f"Unsupported dtype for PyTorch: {dtype!r}")
    return _TORCH[name]


@functools.lru_cache(maxsize=512)
def _least_upper_bound(*nodes: str) -> str:
    common = frozenset.intersection(*(_BOUNDS[n] for n in nodes))
    least = [c for c in common if common <= _BOUNDS[c]]
    if len(least) != 1:
        raise ValueError(f"Input dtypes {nodes} have no implicit promotion path; cast them.")
    return least[0]


def _weak(name: str) -> str:
    if name == "bool":
        return name
    return "float" if "float" in name else "int" if "int" in name else "complex64"


def result_type(*dtypes: Any) -> str:
    """The dtype Keras (torch backend) gives an operation on inputs of these dtypes.

    Python `int` and `float` are weak: `result_type("int8", int)` is `"int8"` and
    `result_type("int32", float)` is `"float32"`. 64-bit results are narrowed to 32 bits.
    """
    if not dtypes:
        return FLOATX
    names = [standardize_dtype(FLOATX if d is None else d) for d in dtypes]
    weak = [d is int or d is float for d in dtypes]
    if len(names) == 1:
        out, out_weak = names[0], weak[0]
    elif len(set(names)) == 1 and not all(weak):
        out, out_weak = names[0], False
    elif all(weak):
        out, out_weak = _least_upper_bound(*sorted(set(names))), True
    else:
        nodes = {_weak(n) if w else n for n, w in zip(names, weak, strict=True)}
        out = _least_upper_bound(*sorted(nodes))
        out_weak = out in ("int", "float")
    if out_weak and out != "bool":
        out = {"i": "int32", "u": "uint32", "b": "bool"}.get(out[0], FLOATX)
    return _NARROW.get(out, out)
