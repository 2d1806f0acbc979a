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
    """Rebuilds `structure` with the leaves of `flat`, in `flatten`'s order (dicts at any
    depth by sorted key, each keeping its own key order)."""
    leaves = iter(flat)

    def rebuild(item: Any) -> Any:
        if isinstance(item, list | tuple):
            parts = [rebuild(part) for part in item]
            return parts if isinstance(item, list) else tuple(parts)
        if isinstance(item, dict):
            rebuilt = {key: rebuild(item[key]) for key in sorted(item)}
            return {key: rebuilt[key] for key in item}
        return next(leaves)

    return rebuild(structure)


def is_nested(structure: Any) -> bool:
    return isinstance(structure, list | tuple | dict)
