"""Nested-structure utilities with `keras.tree`'s names and semantics.

Structures are built from lists, tuples, namedtuples, dicts (walked in sorted key order),
`OrderedDict`s (walked in insertion order) and `defaultdict`s; anything else is a leaf. The
walking is torch's own pytree machinery, so these functions agree with what `torch.compile`
and `torch.func` see.

Example:
    >>> from convolve import tree
    >>> tree.flatten({"b": [1, 2], "a": (3,)})
    [3, 1, 2]
    >>> tree.map_structure(lambda x: x * 10, {"a": 1, "b": [2, 3]})
    {'a': 10, 'b': [20, 30]}
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from torch.utils import _pytree as pytree

__all__ = [
    "MAP_TO_NONE",
    "assert_same_paths",
    "assert_same_structure",
    "flatten",
    "flatten_with_path",
    "is_nested",
    "lists_to_tuples",
    "map_shape_structure",
    "map_structure",
    "map_structure_up_to",
    "pack_sequence_as",
    "traverse",
]


class MAP_TO_NONE:  # noqa: N801 (Keras's name)
    """Special value for `traverse`: replace the sub-tree with `None`."""


def _is_leaf(structure: Any) -> bool:
    return pytree._get_node_type(structure) not in pytree.SUPPORTED_NODES


def _children(structure: Any) -> tuple[list[Any], Any]:
    return pytree.tree_flatten(structure, is_leaf=lambda x: x is not structure)


def _sorted_dicts(structure: Any) -> Any:
    """`structure` with every plain dict (and defaultdict) rebuilt in sorted key order."""
    if type(structure) is dict:
        structure = {key: structure[key] for key in sorted(structure)}
    elif type(structure) is defaultdict:
        structure = defaultdict(
            structure.default_factory, {key: structure[key] for key in sorted(structure)}
        )
    if _is_leaf(structure):
        return structure
    children, spec = _children(structure)
    if spec.num_nodes == 1 and spec.num_leaves == 1:
        return structure
    return pytree.tree_unflatten([_sorted_dicts(child) for child in children], spec)


def is_nested(structure: Any) -> bool:
    """Whether `structure` is a list, tuple, namedtuple, dict or other container node."""
    return not _is_leaf(structure)


def traverse(func: Callable[[Any], Any], structure: Any, top_down: bool = True) -> Any:
    """Applies `func` to every sub-structure, depth first.

    Top down, a non-`None` result replaces the sub-tree and stops the descent; bottom up,
    a non-`None` result replaces the (already traversed) sub-tree. Return `MAP_TO_NONE` to
    put `None` in its place.

    Args:
        func: Called on each sub-structure and leaf.
        structure: The structure to traverse.
        top_down: Visit parents before their children.

    Returns:
        The traversed structure.
    """
    if not callable(func):
        raise TypeError(f"traverse: `func` must be callable; received func={func!r}.")

    def children_done(node: Any) -> Any:
        children, spec = _children(node)
        if spec.num_nodes == 1 and spec.num_leaves == 1:
            return node
        return pytree.tree_unflatten(
            [traverse(func, child, top_down=top_down) for child in children], spec
        )

    structure = _sorted_dicts(structure)
    if top_down:
        result = func(structure)
        if result is None:
            return children_done(structure)
    else:
        done = children_done(structure)
        result = func(done)
        if result is None:
            return done
    return None if result is MAP_TO_NONE else result


def flatten(structure: Any) -> list[Any]:
    """The leaves of `structure` in a deterministic order (dict keys sorted)."""
    leaves, _ = pytree.tree_flatten(_sorted_dicts(structure))
    return leaves


def flatten_with_path(structure: Any) -> list[tuple[tuple[Any, ...], Any]]:
    """`(path, leaf)` pairs: each path lists the indices and keys leading to its leaf."""
    pairs, _ = pytree.tree_flatten_with_path(_sorted_dicts(structure))
    fields = sorted({k.name for keys, _ in pairs for k in keys if isinstance(k, pytree.GetAttrKey)})
    field_index = {name: i for i, name in enumerate(fields)}
    results = []
    for keys, leaf in pairs:
        path = []
        for k in keys:
            if isinstance(k, pytree.SequenceKey):
                path.append(k.idx)
            elif isinstance(k, pytree.MappingKey):
                path.append(k.key)
            elif isinstance(k, pytree.GetAttrKey):
                path.append(field_index[k.name])
        results.append((tuple(path), leaf))
    return results


def map_structure(func: Callable[..., Any], *structures: Any, none_is_leaf: bool = True) -> Any:
    """Applies `func` to the corresponding leaves of structures of the same layout.

    Args:
        func: Takes one argument per structure.
        *structures: Structures of the same layout.
        none_is_leaf: When False, `None` entries are kept as `None` without calling `func`.

    Returns:
        A structure of the same layout holding `func`'s results.
    """
    if not structures:
        raise ValueError("map_structure: must provide at least one structure.")
    if len(structures) == 1 and _is_leaf(structures[0]):
        if structures[0] is None and not none_is_leaf:
            return None
        return func(structures[0])
    fn = func
    if not none_is_leaf:

        def fn(*args: Any) -> Any:
            if args[0] is None:
                if not all(a is None for a in args):
                    raise ValueError(
                        "Structure mismatch: some arguments are None, others are not. "
                        f"Received arguments: {args}."
                    )
                return None
            return func(*args)

    return pytree.tree_map(fn, *structures)


def map_structure_up_to(shallow_structure: Any, func: Callable[..., Any], *structures: Any):
    """Like `map_structure`, descending only as deep as `shallow_structure`.

    Deeper parts of `structures` are passed to `func` whole.
    """
    if not structures:
        raise ValueError("map_structure_up_to: must provide at least one structure.")

    def fn(shallow: Any, *args: Any) -> Any:
        if not _is_leaf(shallow):
            raise ValueError("Structures don't have the same nested structure.")
        return func(*args)

    return pytree.tree_map(fn, shallow_structure, *structures)


def assert_same_structure(a: Any, b: Any, check_types: Any = None) -> None:
    """Raises `ValueError` unless `a` and `b` are nested the same way.

    Args:
        a: A structure.
        b: A structure.
        check_types: Deprecated; has no effect.
    """
    if check_types is not None:
        warnings.warn(
            "The `check_types` argument is deprecated and no longer has any effect.",
            DeprecationWarning,
            stacklevel=2,
        )

    def check(a_leaf: Any, b_leaf: Any) -> None:
        if not _is_leaf(a_leaf) or not _is_leaf(b_leaf):
            raise ValueError("Structures don't have the same nested structure.")

    try:
        pytree.tree_map(check, a, b)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"The two structures don't have the same nested structure.\n{error}"
        ) from None


def assert_same_paths(a: Any, b: Any) -> None:
    """Raises `ValueError` unless `a` and `b` have the same leaf paths (types ignored)."""
    a_paths = {path for path, _ in flatten_with_path(a)}
    b_paths = {path for path, _ in flatten_with_path(b)}
    if a_paths != b_paths:
        message = "`a` and `b` don't have the same paths."
        if a_paths - b_paths:
            message += f"\nPaths in `a` missing in `b`:\n{a_paths - b_paths}"
        if b_paths - a_paths:
            message += f"\nPaths in `b` missing in `a`:\n{b_paths - a_paths}"
        raise ValueError(message)


def pack_sequence_as(structure: Any, flat_sequence: Any) -> Any:
    """Packs `flat_sequence` into the layout of `structure`, in `flatten`'s order."""
    _, spec = pytree.tree_flatten(_sorted_dicts(structure))
    flat_sequence = list(flat_sequence)
    if len(flat_sequence) != spec.num_leaves:
        raise ValueError(
            f"pack_sequence_as: the structure has {spec.num_leaves} leaves but "
            f"flat_sequence has {len(flat_sequence)} elements."
        )
    return pytree.tree_unflatten(flat_sequence, spec)


def lists_to_tuples(structure: Any) -> Any:
    """`structure` with every list turned into a tuple."""
    return traverse(lambda x: tuple(x) if isinstance(x, list) else None, structure, False)


def map_shape_structure(func: Callable[[Any], Any], structure: Any) -> Any:
    """`map_structure` that treats lists and tuples of ints and `None` as leaves (shapes)."""

    def is_shape(x: Any) -> bool:
        return isinstance(x, list | tuple) and all(isinstance(e, int | type(None)) for e in x)

    return pytree.tree_map(func, _sorted_dicts(structure), is_leaf=is_shape)
