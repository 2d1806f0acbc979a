"""Layers kept in plain lists and dicts, tracked as Keras tracks them.

Keras finds the layers a layer or model holds in list and dict attributes
(`self.blocks = [Dense(4), Dense(4)]`, or an empty list filled later with `append`), so
their weights are the owner's weights and train with it. torch only sees modules held in
`nn.ModuleList` or `nn.ModuleDict`. A list or dict assigned to a public attribute of a
layer therefore becomes a `TrackedList` or `TrackedDict`: still a `list` or `dict` to the
user's code, which keeps an `nn.ModuleList` of the modules in it (nested lists, tuples and
dicts included) registered under the same name, in step with every change to it.
"""

from __future__ import annotations

from typing import Any

from torch import nn


def modules_in(value: Any) -> list[nn.Module]:
    """The modules in a (nested) list, tuple or dict, in order."""
    if isinstance(value, nn.Module):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [m for item in value for m in modules_in(item)]
    return []


def track(owner: nn.Module, name: str, value: Any) -> Any:
    """What to store as `owner.<name> = value`; registers the modules in it with `owner`."""
    if type(value) is list:
        value = TrackedList(value)
    elif type(value) is dict:
        value = TrackedDict(value)
    if isinstance(value, TrackedList | TrackedDict):
        value._owner, value._name = owner, name
    register(owner, name, value)
    return value


def register(owner: nn.Module, name: str, value: Any) -> None:
    """Registers the modules in `value` under `name` (or drops the entry when none)."""
    modules = modules_in(value)
    if modules:
        owner._modules[name] = nn.ModuleList(modules)
    else:
        owner._modules.pop(name, None)


class _Tracked:
    """Re-registers the container's modules with its owner after each change."""

    _owner: nn.Module | None = None
    _name = ""

    def _sync(self) -> None:
        # An owner being copied (deepcopy fills this container before the owner's own
        # state) already holds the copied registration.
        if self._owner is not None and "_modules" in vars(self._owner):
            register(self._owner, self._name, self)


def _syncing(method_name: str, base: type) -> Any:
    method = getattr(base, method_name)

    def changed(self, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        self._sync()
        return result

    changed.__name__ = method_name
    return changed


class TrackedList(_Tracked, list):
    """A `list` whose modules are registered with the layer that holds it."""


class TrackedDict(_Tracked, dict):
    """A `dict` whose modules are registered with the layer that holds it."""


for _name in ("append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse"):
    setattr(TrackedList, _name, _syncing(_name, list))
for _name in ("__setitem__", "__delitem__", "__iadd__", "__imul__"):
    setattr(TrackedList, _name, _syncing(_name, list))
for _name in ("__setitem__", "__delitem__", "update", "pop", "popitem", "clear", "setdefault"):
    setattr(TrackedDict, _name, _syncing(_name, dict))
