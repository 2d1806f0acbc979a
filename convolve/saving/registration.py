"""Which user classes and functions a model file may name: registration and scopes.

A model file names classes by string. convolve resolves those strings only through
explicit tables, never by importing a module named in the file: its own layers (by Keras
class name), the objects registered with `register_keras_serializable`, the objects of the
active `custom_object_scope`s and the `custom_objects` given to the loading call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

_REGISTERED: dict[str, Any] = {}  # "package>name" -> object
_NAMES: dict[Any, str] = {}  # object -> "package>name"
_scopes = threading.local()


def register_keras_serializable(package: str = "Custom", name: str | None = None) -> Callable:
    """Registers a class or function under `"package>name"` so model files can name it.

    Args:
        package: the namespace of the registered name.
        name: the name within the package; the class's or function's `__name__` by default.

    Returns:
        A decorator that registers its argument and returns it unchanged.

    Example:
        >>> import convolve
        >>> @convolve.saving.register_keras_serializable(package="Doc")
        ... class Scale(convolve.layers.Layer):
        ...     def call(self, x):
        ...         return 2 * x
        >>> convolve.saving.get_registered_name(Scale)
        'Doc>Scale'
    """
    if not isinstance(package, str) or ">" in package:
        raise ValueError(
            f"register_keras_serializable: `package` must be a string without '>', "
            f"received package={package!r}"
        )

    def decorator(obj: T) -> T:
        registered = f"{package}>{name or obj.__name__}"  # type: ignore[attr-defined]
        if isinstance(obj, type) and not callable(getattr(obj, "get_config", None)):
            raise ValueError(
                f"Cannot register {obj!r}: a registered class needs a get_config() method."
            )
        _REGISTERED[registered] = obj
        _NAMES[obj] = registered
        return obj

    return decorator


def get_registered_name(obj: Any) -> str:
    """The name `obj` is registered under, or its `__name__` when it is not registered."""
    return _NAMES.get(obj, getattr(obj, "__name__", type(obj).__name__))


def is_registered(obj: Any) -> bool:
    return obj in _NAMES


def get_custom_objects() -> dict[str, Any]:
    """The global table of registered objects (`"package>name"` to object), editable."""
    return _REGISTERED


class CustomObjectScope:
    """A context in which model files may also name the given objects.

    Args:
        *custom_objects: dicts from the name used in files to the class or function.

    Example:
        >>> import convolve
        >>> def double(x):
        ...     return 2 * x
        >>> with convolve.saving.custom_object_scope({"double": double}):
        ...     convolve.saving.get_registered_object("double") is double
        True
    """

    def __init__(self, *custom_objects: Mapping[str, Any]) -> None:
        merged: dict[str, Any] = {}
        for objects in custom_objects:
            merged.update(objects or {})
        self.custom_objects = merged

    def __enter__(self) -> CustomObjectScope:
        _stack().append(self.custom_objects)
        return self

    def __exit__(self, *exc: Any) -> None:
        _stack().pop()


custom_object_scope = CustomObjectScope


def _stack() -> list[dict[str, Any]]:
    if not hasattr(_scopes, "stack"):
        _scopes.stack = []
    return _scopes.stack


def get_registered_object(
    name: str | None,
    custom_objects: Mapping[str, Any] | None = None,
    module_objects: Mapping[str, Any] | None = None,
) -> Any:
    """The object a file may refer to as `name`, or None.

    Looks in `custom_objects`, then the active scopes (innermost first), then the
    registry, then `module_objects` (a table the caller passes, as in Keras); nothing else.
    """
    if not isinstance(name, str):
        return None
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    for scope in reversed(_stack()):
        if name in scope:
            return scope[name]
    if name in _REGISTERED:
        return _REGISTERED[name]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None
