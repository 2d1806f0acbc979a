"""`serialize_keras_object` and `deserialize_keras_object`, as in `keras.saving`.

They turn one object (a layer, initializer, regularizer, constraint, optimizer, schedule,
loss, metric or activation, or lists and dicts of them) into Keras's reference dict and
back, with the rules the model files use: custom classes come from `custom_objects` or
the registry, and `safe_mode` refuses Python bytecode. Custom layers call them in
`get_config` / `from_config` for nested objects.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

from convolve.saving import objects, serialization
from convolve.saving.objects import Context

_PLAIN = (str, int, float, bool)
# The family of a class by the package that defines it (convolve's, or Keras's names).
_FAMILIES = {
    "layers": "layer",
    "models": "layer",
    "initializers": "initializer",
    "regularizers": "regularizer",
    "constraints": "constraint",
    "optimizers": "optimizer",
    "losses": "loss",
    "metrics": "metric",
    "activations": "activation",
}


def _family_path(module: Any) -> list[str]:
    """`convolve.losses.probabilistic` or `keras.src.losses.losses` -> `["losses", ...]`."""
    parts = str(module or "").split(".")
    return [p for p in parts[1:] if p != "src"] if parts[0] in ("convolve", "keras") else []


def _family(module: Any) -> str | None:
    path = _family_path(module)
    if path[:2] == ["optimizers", "schedules"]:
        return "schedule"
    return _FAMILIES.get(path[0]) if path else None


def serialize_keras_object(obj: Any) -> Any:
    """Keras's serialized form of `obj`: a reference dict, a name for built-in functions,
    plain values as they are, lists and dicts item by item."""
    from convolve.layers.base import Layer

    if obj is None or isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, list | tuple):
        return [serialize_keras_object(item) for item in obj]
    if isinstance(obj, dict):
        return {key: serialize_keras_object(value) for key, value in obj.items()}
    if isinstance(obj, Layer):
        return serialization.serialize_layer(obj)
    if isinstance(obj, types.FunctionType | types.BuiltinFunctionType):
        serialized = objects.serialize_function(obj)
        if isinstance(serialized, str):  # a built-in: Keras writes it out in full here
            return {"module": "builtins", "class_name": "function", "config": serialized,
                    "registered_name": "function"}  # fmt: skip
        return serialized
    path = _family_path(type(obj).__module__)
    keras_module = "keras." + ".".join(
        path[:2] if path[:2] == ["optimizers", "schedules"] else path[:1]
    )
    return objects.serialize_object(obj, keras_module)


def deserialize_keras_object(
    config: Any,
    custom_objects: Mapping[str, Any] | None = None,
    safe_mode: bool = True,
    **kwargs: Any,
) -> Any:
    """The object `config` describes (the inverse of `serialize_keras_object`).

    Args:
        config: A reference dict (as Keras or `serialize_keras_object` writes it), a plain
            value, or a list or dict of them.
        custom_objects: Classes and functions the config may name besides the built-in
            and registered ones, by name.
        safe_mode: Refuse Python bytecode (lambdas) and Lambda layers.
        **kwargs: Accepted for compatibility (Keras's `module_objects`, `printable_module_name`).

    Raises:
        UnsafeModelError: The config names something outside the allowlist.
        ModelFileError: The config is malformed or names a class that is not known.
    """
    ctx = Context(custom_objects=dict(custom_objects or {}), safe_mode=safe_mode)
    return _deserialize(config, ctx, "$")


def _deserialize(config: Any, ctx: Context, where: str) -> Any:
    if config is None or isinstance(config, _PLAIN):
        return config
    if isinstance(config, list | tuple):
        return [_deserialize(item, ctx, f"{where}[{i}]") for i, item in enumerate(config)]
    if not isinstance(config, dict):
        raise ctx.error(where, f"expected a serialized object, found {config!r:.100}")
    if "class_name" not in config or "config" not in config:
        return {key: _deserialize(value, ctx, f"{where}.{key}") for key, value in config.items()}
    objects.audit(config, ctx)
    if config["class_name"] == "function":
        return objects.resolve_function(config, ("activation", "loss", "metric"), ctx, where)
    family = _family(config.get("module"))
    if family == "layer":
        return serialization.layer_from_config(config, ctx, where)
    if family is None:  # a user's class: from custom_objects or the registry only
        for key in (config.get("registered_name"), config["class_name"]):
            cls = ctx.lookup(key)
            if cls is not None:
                return objects.instantiate(cls, config["config"] or {}, ctx, where, False)
        raise ctx.error(where, f"unknown class {config['class_name']!r}; pass it in custom_objects")
    return objects.deserialize_object(config, family, ctx, where)
