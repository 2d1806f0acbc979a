"""Configs for user-written layers and models that do not write `get_config`, as Keras's.

Keras records the arguments each layer is constructed with. When a class leaves
`get_config` to the base class, the config is those arguments (with their defaults), so a
model holding the layer saves and reloads with the values it was built with. Only plain
values qualify (strings, numbers, booleans, None, and lists, tuples and dicts of them);
other arguments, and positional-only or extra positional ones, make `get_config` raise,
naming the class. convolve's own layers write their configs and skip this.
"""

from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass
from typing import Any

_PLAIN = (str, int, float, bool, type(None))

_EXAMPLE = """
    class CustomLayer(keras.layers.Layer):
        def __init__(self, arg1, arg2, **kwargs):
            super().__init__(**kwargs)
            self.arg1 = arg1
            self.arg2 = arg2

        def get_config(self):
            config = super().get_config()
            config.update({"arg1": self.arg1, "arg2": self.arg2})
            return config
"""


@dataclass(frozen=True)
class Captured:
    """The constructor's arguments as a config, or why there is none."""

    arguments: dict[str, Any] | None
    positional: bool = False  # refused because of positional-only or `*args` arguments


_BUILT_IN = Captured(None)
_BASE_MODULE = "convolve.layers.base"  # where the base `Layer.__init__` lives


def default_config(method: Any) -> Any:
    """Marks a base class's `get_config`: a class that inherits it gets the auto config."""
    method.is_default_config = True
    return method


def capture(cls: type, args: tuple, kwargs: dict) -> Captured:
    """Keras's `Operation.__new__` rules for the arguments of `cls(*args, **kwargs)`."""
    if cls.__module__.split(".")[0] == "convolve":
        return _BUILT_IN
    try:
        signature = inspect.signature(cls.__init__)
        spec = inspect.getfullargspec(cls.__init__)
        bound = signature.bind(None, *args, **kwargs)
    except (TypeError, ValueError):
        return Captured(None)
    others = [p for name, p in signature.parameters.items() if name != spec.args[0]]
    if any(p.kind == inspect.Parameter.POSITIONAL_ONLY for p in others):
        return Captured(None, positional=True)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    if spec.varkw is not None:
        arguments |= arguments.pop(spec.varkw, {})
    arguments.pop(spec.args[0])
    arguments.pop("name", None)  # the base config has it
    if spec.varargs is not None and arguments.pop(spec.varargs):
        return Captured(None, positional=True)
    if cls.__init__.__qualname__ == "Layer.__init__" and cls.__init__.__module__ == _BASE_MODULE:
        # A class without its own `__init__`: Keras records its base `Layer.__init__`'s
        # arguments, which lack convolve's input-shape shortcuts (Keras refuses some).
        arguments = {
            "activity_regularizer": arguments.get("activity_regularizer"),
            "trainable": arguments.get("trainable", True),
            "dtype": arguments.get("dtype"),
            "autocast": arguments.get("autocast", True),
        }
    if not _plain(arguments):
        return Captured(None)
    return Captured(arguments)


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return isinstance(value, _PLAIN)


def uses_auto_config(layer: Any) -> bool:
    """Whether `layer`'s class is a user's that leaves `get_config` to the base class."""
    captured = getattr(layer, "_auto_config", _BUILT_IN)
    inherited = getattr(type(layer).get_config, "is_default_config", False)
    return captured is not _BUILT_IN and inherited


def config_of(layer: Any, base: dict[str, Any]) -> dict[str, Any]:
    """`base` (name, trainable, dtype) with the captured arguments, in Keras's order."""
    captured: Captured = layer._auto_config
    if captured.arguments is None:
        raise NotImplementedError(_refusal(type(layer).__name__, captured.positional))
    config = {"name": base["name"], **captured.arguments}
    parameters = inspect.signature(type(layer).__init__).parameters
    # Keras keeps the name only for an `__init__` taking `name`, or taking `**kwargs` under
    # exactly that name (`**kw` drops it, as in Keras).
    takes_kwargs = any(
        p.kind == inspect.Parameter.VAR_KEYWORD and p.name == "kwargs" for p in parameters.values()
    )
    if "name" not in parameters and not takes_kwargs:
        config.pop("name")
    return {**config, **{k: v for k, v in base.items() if k != "name"}}


def _refusal(class_name: str, positional: bool) -> str:
    if positional:
        reason = (
            "was created by passing positional-only or variadic positional arguments (e.g. "
            "`*args`) to `__init__()`, which the automatic config cannot record. Remove them "
            "from `__init__()`, or override `get_config()` and `from_config()`"
        )
    else:
        reason = (
            "was created by passing argument values other than strings, numbers, booleans, "
            "None and lists or dicts of them to `__init__()`, so it must override "
            "`get_config()`"
        )
    return f"Object {class_name} {reason} to be serializable. For example:\n" + textwrap.dedent(
        _EXAMPLE
    )
