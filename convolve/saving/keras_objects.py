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
    if isinstance(obj, list | tuple):  # a tuple stays a tuple, as in Keras
        items = [serialize_keras_object(item) for item in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return {key: serialize_keras_object(value) for key, value in obj.items()}
    data = _serialize_data(obj)
    if data is not _NOT_DATA:
        return data
    if isinstance(obj, Layer):
        # values JSON lacks in its config (arrays, nested layers) take Keras's entries
        return _main_module_as_none(serialization.serialize_layer(obj))
    if isinstance(obj, types.FunctionType | types.BuiltinFunctionType):
        # Keras writes every named function alike: its registered name (or `__name__`)
        # under the `function` class of `builtins`.
        serialized = objects.serialize_function(obj)
        name = serialized if isinstance(serialized, str) else serialized["config"]
        return {"module": "builtins", "class_name": "function", "config": name,
                "registered_name": "function"}  # fmt: skip
    if not hasattr(obj, "get_config") and not callable(getattr(obj, "fn", None)):
        raise TypeError(
            f"Cannot serialize object {obj!r} of type {type(obj)}. To be serializable, a "
            "class must implement the `get_config()` method."
        )
    path = _family_path(type(obj).__module__)
    keras_module = "keras." + ".".join(
        path[:2] if path[:2] == ["optimizers", "schedules"] else path[:1]
    )
    serialized = objects.serialize_object(obj, keras_module)
    if isinstance(serialized, dict) and isinstance(serialized.get("config"), dict):
        # nested objects in a custom object's config, in their serialized form as Keras
        serialized["config"] = serialize_keras_object(serialized["config"])
    return _main_module_as_none(serialized)


_NOT_DATA = object()


def _serialize_data(obj: Any) -> Any:
    """Keras's entries for plain data (arrays, tensors, bytes, slices, `...`), or
    `_NOT_DATA` for anything else."""
    import numpy as np
    import torch

    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, slice):
        config = {key: serialize_keras_object(getattr(obj, key)) for key in ("start", "stop",
                  "step")}  # fmt: skip
        return {"class_name": "__slice__", "config": config}
    if obj is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(obj, torch.Tensor):
        array = obj.detach().cpu().numpy()
        return {"class_name": "__tensor__",
                "config": {"value": array.tolist(), "dtype": str(array.dtype)}}  # fmt: skip
    if type(obj).__module__ == np.__name__:
        if isinstance(obj, np.ndarray) and obj.ndim > 0:
            return {"class_name": "__numpy__",
                    "config": {"value": obj.tolist(), "dtype": str(obj.dtype)}}  # fmt: skip
        return obj.item()  # a NumPy scalar (or 0-d array) as a Python number
    return _NOT_DATA


def _main_module_as_none(entry: Any) -> Any:
    """Keras writes no module for a class defined in the running script (`__main__`)."""
    if isinstance(entry, dict) and entry.get("module") == "__main__":
        entry["module"] = None
    return entry


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
    if isinstance(config, str):
        # A name given in custom_objects, a scope or the registry is that object, as Keras.
        found = ctx.lookup(config)
        if found is not None:
            return found
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
    data = _deserialize_data(config, ctx, where)
    if data is not _NOT_DATA:
        return data
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


def _deserialize_data(config: dict[str, Any], ctx: Context, where: str) -> Any:
    """The value of one of Keras's plain-data entries, or `_NOT_DATA` for other entries."""
    import numpy as np
    import torch

    name, inner = config["class_name"], config["config"] or {}
    if name not in ("__numpy__", "__tensor__", "__bytes__", "__slice__", "__ellipsis__",
                    "__lambda__"):  # fmt: skip
        return _NOT_DATA
    if name == "__lambda__":
        return objects.load_lambda(config, ctx, where)  # refused in safe mode
    if not isinstance(inner, dict):
        raise ctx.error(where, f"malformed {name} entry: its config is {inner!r:.100}")
    if name == "__numpy__":
        return np.array(inner.get("value"), dtype=inner.get("dtype"))
    if name == "__tensor__":
        return torch.as_tensor(np.array(inner.get("value"), dtype=inner.get("dtype")))
    if name == "__bytes__":
        return str(inner.get("value", "")).encode("utf-8")
    if name == "__ellipsis__":
        return Ellipsis
    parts = [_deserialize(inner.get(key), ctx, f"{where}.config.{key}")
             for key in ("start", "stop", "step")]  # fmt: skip
    return slice(*parts)
