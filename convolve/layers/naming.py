"""Keras-style automatic names: `conv2d`, `conv2d_1`, ..."""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from collections.abc import Iterator

_counters: defaultdict[str, int] = defaultdict(int)


def to_snake_case(name: str) -> str:
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix: str) -> str:
    """`prefix` the first time, then `prefix_1`, `prefix_2`, ... (per process)."""
    count = _counters[prefix]
    _counters[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def reset_names() -> None:
    """Restarts numbering, as `keras.backend.clear_session()` does."""
    _counters.clear()


@contextlib.contextmanager
def names_kept() -> Iterator[None]:
    """Whatever is created inside uses up no automatic names: the numbering afterwards
    goes on as if it had not been."""
    saved = dict(_counters)
    try:
        yield
    finally:
        _counters.clear()
        _counters.update(saved)


# The name scopes open now: the layers being built (outermost first) and `name_scope`s.
SCOPES: list[str] = []
_OWNERS: list[object] = []  # who opened each scope, so a layer's nested build opens one


@contextlib.contextmanager
def scope(name: str, owner: object = None) -> Iterator[None]:
    """Opens a name scope for what is created inside (weights get it in their path); a
    scope its `owner` already has open (a subclass's build calling its parent's) is kept."""
    if owner is not None and _OWNERS[-1:] == [owner]:
        yield
        return
    SCOPES.append(name)
    _OWNERS.append(owner)
    try:
        yield
    finally:
        SCOPES.pop()
        _OWNERS.pop()


def weight_path(layer_name: str, weight_name: str) -> str:
    """Keras's path of a layer's weight: the open scopes (the layer's own among them when
    it is building), then the weight's name; a layer that makes weights outside its build
    still puts its own name first."""
    scopes = SCOPES if SCOPES[-1:] == [layer_name] else [*SCOPES, layer_name]
    return "/".join([*scopes, weight_name])
