"""Minimal nested-structure helpers (lists, tuples, dicts) for layer inputs and outputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def flatten(structure: Any) -> list[Any]:
    if isinstance(structure, list | tuple):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in flatten(structure[key])]
    return [structure]


def map_structure(fn: Callable[[Any], Any], structure: Any) -> Any:
    if isinstance(structure, list):
        return [map_structure(fn, item) for item in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, item) for item in structure)
    if isinstance(structure, dict):
        return {key: map_structure(fn, value) for key, value in structure.items()}
    return fn(structure)


def pack_like(structure: Any, flat: list[Any]) -> Any:
    """Rebuilds `structure` with the leaves of `flat`, in `flatten`'s order."""
    leaves = iter(flat)

    def take(_):
        return next(leaves)

    if isinstance(structure, dict):
        # flatten walks dict keys in sorted order; rebuild in that order.
        rebuilt = {}
        for key in sorted(structure):
            n = len(flatten(structure[key]))
            rebuilt[key] = pack_like(structure[key], [next(leaves) for _ in range(n)])
        return {key: rebuilt[key] for key in structure}
    return map_structure(take, structure)


def is_nested(structure: Any) -> bool:
    return isinstance(structure, list | tuple | dict)
