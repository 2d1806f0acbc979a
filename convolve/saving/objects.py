"""Objects a config may name, and the allowlist that decides which ones it may.

A Keras config names objects as `{"module", "class_name", "config", "registered_name"}`
dicts. Here such a reference resolves only through fixed tables: convolve's own classes and
functions (under their Keras names), or what the user registered or passed as
`custom_objects`. Nothing named by a file is ever imported or looked up in a module.

`audit` walks a whole config before anything is built and refuses, naming the entry:
references to anything else (`os.system`, `subprocess.Popen`, `builtins.eval` ...), Python
bytecode (`__lambda__`) and Lambda layers unless `safe_mode=False`.
"""

from __future__ import annotations

import functools
import inspect
import marshal
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from convolve import config
from convolve.saving import registration
from convolve.saving.errors import ModelFileError, UnsafeModelError

# Special entries Keras writes for plain data.
_DATA_CLASSES = {"__keras_tensor__", "__numpy__", "__tensor__", "__bytes__", "__ellipsis__",
                 "__slice__"}  # fmt: skip
_DTYPE_POLICIES = ("DTypePolicy", "FloatDTypePolicy")
_MAX_DEPTH = 256


@dataclass
class Context:
    """Where a config comes from and what it may name; builds errors that say so."""

    path: Any = None  # the file, for error messages
    member: str | None = None  # the part of the file holding the config, e.g. "config.json"
    custom_objects: Mapping[str, Any] = field(default_factory=dict)
    safe_mode: bool = True

    def __post_init__(self) -> None:
        # As in Keras, enable_unsafe_deserialization() overrides every call's safe_mode.
        if config.is_unsafe_deserialization_enabled():
            self.safe_mode = False

    def where(self, entry: str) -> str:
        return f"{self.member}: {entry}" if self.member else entry

    def error(self, entry: str, problem: str) -> ModelFileError:
        return ModelFileError(self.path or "<config>", self.where(entry), problem)

    def unsafe(self, entry: str, problem: str) -> UnsafeModelError:
        return UnsafeModelError(self.path or "<config>", self.where(entry), problem)

    def lookup(self, name: Any) -> Any:
        return registration.get_registered_object(name, self.custom_objects)


def is_keras_module(module: Any) -> bool:
    """Whether `module` is a namespace whose classes convolve itself provides."""
    if module is None:
        return True  # legacy configs carry no module
    if not isinstance(module, str):
        return False
    return any(module == p or module.startswith(p + ".") for p in ("keras", "convolve"))


# --------------------------------------------------------------------- tables
def _public_subclasses(module: Any, base: type) -> dict[str, type]:
    return {
        name: obj
        for name, obj in vars(module).items()
        if not name.startswith("_") and isinstance(obj, type) and issubclass(obj, base)
    }


@functools.cache
def _static_tables() -> dict[str, dict[str, Any]]:
    from convolve import initializers, losses, metrics, optimizers, regularizers
    from convolve.optimizers import schedules

    metric_classes = _public_subclasses(metrics, metrics.Metric)
    loss_classes = _public_subclasses(losses, losses.Loss)
    return {
        "initializer": _public_subclasses(initializers, initializers.Initializer),
        "regularizer": _public_subclasses(regularizers, regularizers.Regularizer),
        # OptimizerMap is no Optimizer, but a MultiOptimizer's file holds one
        "optimizer": {
            **_public_subclasses(optimizers, optimizers.Optimizer),
            "OptimizerMap": optimizers.OptimizerMap,
        },
        "schedule": _public_subclasses(schedules, schedules.LearningRateSchedule),
        "loss": loss_classes,
        "metric": metric_classes,
    }


def layer_classes() -> dict[str, type]:
    """convolve's layer and model classes by Keras class name (aliases included)."""
    from convolve import layers
    from convolve.layers.base import Layer
    from convolve.models import Functional, Sequential

    table = _public_subclasses(layers, Layer)
    table.pop("Layer", None)
    table.update({"Sequential": Sequential, "Functional": Functional, "Model": Functional})
    return table


@functools.cache
def constraint_classes() -> dict[str, type]:
    try:
        from convolve import constraints  # type: ignore[attr-defined]
    except ImportError:
        return {}
    base = getattr(constraints, "Constraint", object)
    return _public_subclasses(constraints, base)


def tables() -> dict[str, dict[str, Any]]:
    """Every family of built-in classes, by Keras class name."""
    return {**_static_tables(), "layer": layer_classes(), "constraint": constraint_classes()}


def builtin_function(name: Any, families: tuple[str, ...] = ("activation", "loss", "metric")):
    """The built-in function called `name` in Keras (activations, losses, metrics), or None."""
    from convolve import activations, losses
    from convolve.metrics import lookup

    if not isinstance(name, str):
        return None
    if "activation" in families:
        try:
            return activations.get(name)
        except ValueError:
            pass
    if "loss" in families and name in losses.STRING_LOSSES:
        obj = losses.deserialize(name)
        if not inspect.isclass(obj):
            return obj
    if "metric" in families:
        try:
            return lookup.deserialize_function(name)
        except ValueError:
            pass
    return None


def is_builtin(obj: Any) -> bool:
    """Whether `obj` is one of convolve's own classes (which files name as Keras's)."""
    cls = obj if isinstance(obj, type) else type(obj)
    return any(table.get(cls.__name__) is cls for table in tables().values())


# --------------------------------------------------------------------- audit
def reference_name(entry: Mapping[str, Any]) -> str:
    module = entry.get("module")
    name = entry.get("class_name")
    if name == "function" and isinstance(entry.get("config"), str):
        name = entry["config"]
    return f"{module}.{name}" if module else str(name)


def audit(config: Any, ctx: Context, entry: str = "") -> None:
    """Checks every object a config names before anything is built.

    Raises:
        UnsafeModelError: for a reference outside the allowlist, Python bytecode, or a
            Lambda layer in safe mode.
        ModelFileError: for a malformed entry or a Keras class convolve does not have.
    """
    known = set(_DTYPE_POLICIES).union(*tables().values())
    _audit(config, ctx, entry or "$", 0, known)


def _audit(value: Any, ctx: Context, entry: str, depth: int, known: set[str]) -> None:
    if depth > _MAX_DEPTH:
        raise ctx.error(entry, f"the config nests deeper than {_MAX_DEPTH} levels")
    if isinstance(value, list):
        for i, item in enumerate(value):
            _audit(item, ctx, f"{entry}[{i}]", depth + 1, known)
        return
    if not isinstance(value, dict):
        return
    if "class_name" in value:
        _audit_reference(value, ctx, entry, known)
    for key, item in value.items():
        if not isinstance(key, str):
            raise ctx.error(entry, f"config keys must be strings, found {key!r}")
        _audit(item, ctx, f"{entry}.{key}", depth + 1, known)


def _audit_reference(ref: dict[str, Any], ctx: Context, entry: str, known: set[str]) -> None:
    class_name = ref["class_name"]
    module = ref.get("module")
    if not isinstance(class_name, str) or not isinstance(module, str | None):
        raise ctx.error(entry, f"malformed object reference {ref!r:.200}")
    if class_name in _DATA_CLASSES:
        return
    if isinstance(module, str) and (module + ".").startswith("keras.src.ops."):
        from convolve.saving import op_nodes

        if not op_nodes.is_allowed(module, class_name):  # only the operations convolve has
            raise ctx.error(
                entry,
                f"operation '{module}.{class_name}' is not supported in convolve model files",
            )
        return
    if class_name == "__lambda__":
        if ctx.safe_mode:
            raise ctx.unsafe(
                entry,
                "the config holds Python bytecode (a lambda); loading it would run code "
                "from the file. Pass safe_mode=False only if you trust the file.",
            )
        return
    if class_name == "function":
        name = ref.get("config")
        if ctx.lookup(name) is not None or ctx.lookup(ref.get("registered_name")) is not None:
            return
        if (module in ("builtins", None) or is_keras_module(module)) and builtin_function(name):
            return
        _refuse(ref, ctx, entry, "function")
        return
    if class_name == "Lambda" and ctx.safe_mode and ctx.lookup(ref.get("registered_name")) is None:
        raise ctx.unsafe(
            entry,
            "Lambda layers hold Python code; convolve refuses them in safe mode "
            "(pass safe_mode=False only if you trust the file).",
        )
    if ctx.lookup(ref.get("registered_name")) is not None or ctx.lookup(class_name) is not None:
        return
    if is_keras_module(module) and class_name in known:
        return
    _refuse(ref, ctx, entry, "class")


def _refuse(ref: dict[str, Any], ctx: Context, entry: str, kind: str) -> None:
    name = reference_name(ref)
    if is_keras_module(ref.get("module")):
        raise ctx.error(
            entry,
            f"{kind} '{name}' is not available in convolve (nor registered with "
            "register_keras_serializable or passed in custom_objects)",
        )
    raise ctx.unsafe(
        entry,
        f"refusing {kind} '{name}': it is neither a convolve class nor a registered or "
        "custom object. A model file cannot name arbitrary Python objects.",
    )


# --------------------------------------------------------------------- resolving
def resolve_class(ref: Mapping[str, Any], family: str, ctx: Context, entry: str) -> type:
    """The class a reference names: a user's registered or custom one, else a built-in."""
    for key in (ref.get("registered_name"), ref.get("class_name")):
        custom = ctx.lookup(key)
        if custom is not None:
            return custom
    table = tables()[family]
    cls = table.get(ref.get("class_name")) if is_keras_module(ref.get("module")) else None
    if cls is None:
        _refuse(dict(ref), ctx, entry, "class")
    return cls


def is_layer_reference(ref: Mapping[str, Any], ctx: Context) -> bool:
    """Whether `ref` names a layer class: a built-in one under a Keras or convolve module,
    or a layer class the user registered or passed in `custom_objects`."""
    from convolve.layers.base import Layer

    class_name = ref.get("class_name")
    if not isinstance(class_name, str) or not isinstance(ref.get("config"), dict):
        return False
    for key in (ref.get("registered_name"), class_name):
        custom = ctx.lookup(key)
        if custom is not None:
            return isinstance(custom, type) and issubclass(custom, Layer)
    return is_keras_module(ref.get("module")) and class_name in layer_classes()


def resolve_function(ref: Mapping[str, Any], families: tuple[str, ...], ctx: Context, entry: str):
    """The function a `{"class_name": "function", ...}` reference (or a name) names."""
    if isinstance(ref, str):
        ref = {"module": "builtins", "class_name": "function", "config": ref}
    name = ref.get("config")
    for key in (name, ref.get("registered_name")):
        custom = ctx.lookup(key)
        if custom is not None:
            return custom
    fn = builtin_function(name, families)
    if fn is None:
        _refuse(dict(ref), ctx, entry, "function")
    return fn


def load_lambda(ref: Mapping[str, Any], ctx: Context, entry: str) -> Callable:
    """Rebuilds a serialized lambda (Keras's format); only ever reached with safe_mode=False."""
    if ctx.safe_mode:  # audit refuses first; this guards direct callers
        raise ctx.unsafe(entry, "refusing Python bytecode in safe mode")
    import base64
    import builtins
    import codecs

    import torch

    config = ref.get("config") or {}
    code, defaults, closure = config.get("code"), config.get("defaults"), config.get("closure")
    if code is None:  # serialization_lib's form: {"value": code or (code, defaults, closure)}
        code = config.get("value")
        if isinstance(code, list | tuple) and len(code) == 3:
            code, defaults, closure = code
    try:
        raw = codecs.decode(code.encode("ascii"), "base64")
        function = marshal.loads(raw)
    except (AttributeError, ValueError, TypeError, EOFError, base64.binascii.Error) as err:
        raise ctx.error(entry, f"malformed lambda bytecode: {err}") from None
    if not isinstance(function, types.CodeType):
        raise ctx.error(entry, "the lambda's payload is not Python bytecode")
    namespace = {"__builtins__": builtins, "torch": torch}
    try:
        cells = None if closure is None else tuple(types.CellType(v) for v in closure)
        return types.FunctionType(
            function, namespace, None, None if defaults is None else tuple(defaults), cells
        )
    except (TypeError, ValueError) as err:
        raise ctx.error(entry, f"the lambda cannot be rebuilt: {err}") from None


def accepted_arguments(cls: type) -> set[str]:
    """Keyword arguments `cls(...)` accepts, following `**kwargs` up the MRO."""
    from torch import nn

    names: set[str] = set()
    for klass in cls.__mro__:
        if klass in (object, nn.Module):
            break
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters
        names.update(
            p
            for p, spec in params.items()
            if p != "self" and spec.kind not in (spec.VAR_POSITIONAL, spec.VAR_KEYWORD)
        )
        if not any(spec.kind == spec.VAR_KEYWORD for spec in params.values()):
            break
    return names


def filter_arguments(cls: type, config: dict[str, Any], ctx: Context, entry: str) -> dict:
    """Drops Keras-only arguments that are unset; refuses those that are set.

    Keras writes a few arguments convolve has no use for (`quantization_config=None`,
    `ragged=False`, `autocast=True` ...). They are dropped when they hold their neutral
    value; anything else would change the model, so it is an error.
    """
    accepted = accepted_arguments(cls)
    kept = {}
    for key, value in config.items():
        if key in accepted or key == "autocast":
            kept[key] = value
        elif value not in (None, False) and value != {} and value != []:
            raise ctx.error(
                f"{entry}.{key}",
                f"{cls.__name__} in convolve has no argument '{key}' (received "
                f"{key}={value!r:.100}); the model cannot be rebuilt faithfully",
            )
    return kept


def instantiate(cls: Any, config: Any, ctx: Context, entry: str, builtin: bool) -> Any:
    """`cls.from_config(config)` (or `cls(**config)`), errors naming the entry."""
    if not isinstance(config, dict):
        raise ctx.error(entry, f"expected a dict config, found {config!r:.100}")
    if builtin:
        config = filter_arguments(cls, config, ctx, entry)
    try:
        if hasattr(cls, "from_config"):
            return cls.from_config(config)
        return cls(**config)
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError) as err:
        # The entry is named already: the reason, not `from_config`'s copy of the config.
        reason = err.__cause__ if isinstance(err.__cause__, TypeError | ValueError) else err
        raise ctx.error(entry, f"cannot rebuild {cls.__name__}: {reason}") from None


# --------------------------------------------------------------------- nested values
def dtype_name(value: Any, ctx: Context, entry: str) -> Any:
    """A dtype policy dict (Keras 3) or a name, as the dtype name convolve takes."""
    if isinstance(value, dict):
        if value.get("class_name") not in _DTYPE_POLICIES:
            raise ctx.error(entry, f"unsupported dtype policy {reference_name(value)}")
        value = (value.get("config") or {}).get("name")
    if value is not None and not isinstance(value, str):
        raise ctx.error(entry, f"dtype must be a name, found {value!r:.100}")
    return value


def plain_value(value: Any, ctx: Context, entry: str) -> Any:
    """Unwraps Keras's data entries (`__numpy__`, `__tensor__` ...) into plain values."""
    if isinstance(value, list):
        return [plain_value(v, ctx, f"{entry}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        name = value.get("class_name")
        if name in ("__numpy__", "__tensor__"):
            return (value.get("config") or {}).get("value")
        if name == "__bytes__":
            return str((value.get("config") or {}).get("value", "")).encode()
        if name == "__lambda__":
            return load_lambda(value, ctx, entry)
        if name == "function":
            return resolve_function(value, ("activation", "loss", "metric"), ctx, entry)
        if name is not None:
            raise ctx.error(entry, f"unexpected object {reference_name(value)} in a layer config")
        return {k: plain_value(v, ctx, f"{entry}.{k}") for k, v in value.items()}
    return value


FAMILY_BY_SUFFIX = {
    "_initializer": "initializer",
    "_regularizer": "regularizer",
    "_constraint": "constraint",
}


def value_family(key: str) -> str | None:
    if key == "activation":
        return "activation"
    for suffix, family in FAMILY_BY_SUFFIX.items():
        if key.endswith(suffix):
            return family
    return None


def deserialize_object(value: Any, family: str, ctx: Context, entry: str) -> Any:
    """A nested object (initializer, regularizer, constraint, activation) from its config."""
    if value is None or isinstance(value, str | int | float):
        return value
    if not isinstance(value, dict) or "class_name" not in value:
        raise ctx.error(entry, f"expected a serialized {family}, found {value!r:.100}")
    if value["class_name"] == "__lambda__":
        return load_lambda(value, ctx, entry)
    if value["class_name"] == "function":
        return resolve_function(value, ("activation",), ctx, entry)
    if family == "activation":
        family = "layer"  # Keras accepts an activation layer object here
    cls = resolve_class(value, family, ctx, entry)
    builtin = tables()[family].get(cls.__name__) is cls
    return instantiate(cls, value.get("config") or {}, ctx, f"{entry}.config", builtin)


def serialize_object(obj: Any, keras_module: str) -> Any:
    """Keras's reference dict for a nested object (a name for built-in functions)."""
    if obj is None:
        return None
    cls = type(obj)
    if isinstance(obj, types.FunctionType | types.BuiltinFunctionType):
        return serialize_function(obj)
    wrapped = getattr(obj, "fn", None)
    if callable(wrapped) and not is_builtin(cls) and not registration.is_registered(cls):
        return serialize_function(wrapped)  # an initializer wrapping a plain function
    config = obj.get_config() if hasattr(obj, "get_config") else {}
    if is_builtin(cls):
        return {"module": keras_module, "class_name": cls.__name__, "config": config,
                "registered_name": None}  # fmt: skip
    return {
        "module": cls.__module__,
        "class_name": cls.__name__,
        "config": config,
        "registered_name": registration.get_registered_name(cls),
    }


def serialize_function(fn: Callable) -> Any:
    """A function as Keras writes it: its name when built in, a reference otherwise."""
    name = getattr(fn, "__name__", None)
    if name is not None and builtin_function(name) is fn and not registration.is_registered(fn):
        return name
    registered = registration.get_registered_name(fn)
    return {
        "module": getattr(fn, "__module__", None) or "builtins",
        "class_name": "function",
        "config": registered,
        "registered_name": registered,
    }
