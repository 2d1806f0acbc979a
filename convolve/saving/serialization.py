"""Layer and model configs in Keras 3's format, both ways.

A layer is written as Keras writes it, e.g.
`{"module": "keras.layers", "class_name": "Conv2D", "config": {...}, "registered_name": None,
"build_config": {"input_shape": [...]}}`, so that a `config.json` written here opens in
Keras and one written by Keras opens here. Functional models list their layers with
`inbound_nodes` (calls on `__keras_tensor__` references) and name their `input_layers` and
`output_layers` as `[layer_name, node_index, tensor_index]`, as Keras does.

Layers nested in a layer's config (`Bidirectional`'s `layer` and `backward_layer`,
`TimeDistributed`'s `layer`, `RNN`'s `cell`, `StackedRNNCells`'s `cells`) are written and
read as Keras does: each is a full layer entry, rebuilt here like the model's own layers
before the wrapper's `from_config` receives it.

Reading goes through the allowlist of `objects.py`: classes resolve only to convolve's own
layers or to what the user registered, and every reference is checked before anything is
built.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from convolve import _tree
from convolve.layers.base import policy_config
from convolve.saving import objects, op_nodes, registration
from convolve.saving.errors import ModelFileError
from convolve.saving.objects import Context

_FUNCTIONAL_MODULE = "keras.src.models.functional"
# Arguments convolve writes that the Keras layer of the same name does not take.
_NOT_IN_KERAS = {
    "SpatialDropout1D": ("data_format", "trainable"),
    "SpatialDropout2D": ("trainable",),
    "SpatialDropout3D": ("trainable",),
}


# ===================================================================== writing
def serialize_layer(layer: Any) -> dict[str, Any]:
    """A layer (or model) as Keras 3 serializes it.

    Args:
        layer: a convolve layer, a Sequential or functional model, or a registered user layer.

    Returns:
        A JSON-serialisable dict with `module`, `class_name`, `config` and
        `registered_name` (and `build_config` for built layers).

    Example:
        >>> from convolve import layers
        >>> entry = serialize_layer(layers.Dense(3, name="d"))
        >>> entry["module"], entry["class_name"], entry["config"]["units"]
        ('keras.layers', 'Dense', 3)
    """
    from convolve.models import Functional, Model, Sequential

    cls = type(layer)
    if cls is Sequential:
        config = sequential_config(layer)
    elif cls is Functional:
        config = functional_config(layer)
    else:
        config = _keras_layer_config(layer, layer.get_config())
    builtin = objects.layer_classes().get(cls.__name__) is cls
    if cls is Functional:
        module, registered = _FUNCTIONAL_MODULE, "Functional"
    elif builtin:
        module, registered = "keras" if cls is Sequential else "keras.layers", None
    else:
        module, registered = cls.__module__, registration.get_registered_name(cls)
    entry = {"module": module, "class_name": cls.__name__, "config": config,
             "registered_name": registered}  # fmt: skip
    build = _build_config(layer)
    if build is not None:
        entry["build_config"] = build
    if isinstance(layer, Model):  # Keras writes every model's, nested too ({}: uncompiled)
        entry["compile_config"] = compile_config(layer)
    return entry


def _keras_layer_config(layer: Any, config: dict[str, Any]) -> dict[str, Any]:
    """A layer's `get_config()` with nested objects in Keras's reference form."""
    config = dict(config)
    modules = {"initializer": "keras.initializers", "regularizer": "keras.regularizers",
               "constraint": "keras.constraints", "activation": "keras.layers"}  # fmt: skip
    for key, value in config.items():
        family = objects.value_family(key)
        if family is None or value is None:
            continue
        live = getattr(layer, key, None)
        if family == "activation" and callable(live):
            config[key] = objects.serialize_function(live)
        elif live is not None and not isinstance(live, str | int | float):
            config[key] = objects.serialize_object(live, modules[family])
    if isinstance(config.get("dtype"), str) and type(layer).__name__ != "InputLayer":
        config["dtype"] = policy_config(config["dtype"])
    for key in _NOT_IN_KERAS.get(type(layer).__name__, ()):
        config.pop(key, None)
    # Values JSON lacks (arrays, tensors, nested layers in a user layer's config) take
    # Keras's entries; tuples stay tuples, as in Keras's `get_config` (a file makes them lists).
    return _with_entries(config, _keras_entry_of(layer))


def _with_entries(value: Any, entry: Callable[[Any], Any]) -> Any:
    """`value` with every leaf JSON cannot hold replaced by `entry(leaf)`, recursively."""
    if isinstance(value, dict):
        return {key: _with_entries(item, entry) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_with_entries(item, entry) for item in value)
    if value is None or isinstance(value, str | bool | int | float):
        return value
    return _with_entries(entry(value), entry)


def _keras_entry_of(layer: Any) -> Callable[[Any], Any]:
    def entry(value: Any) -> Any:
        from convolve.saving.keras_objects import serialize_keras_object

        try:
            return serialize_keras_object(value)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"Layer '{layer.name}' ({type(layer).__name__}): its get_config() holds "
                f"{value!r:.80} of type {type(value).__name__}, which cannot be saved: {err}"
            ) from None

    return entry


def _shape_tuple(shape: Any) -> Any:
    if isinstance(shape, tuple | list):
        return tuple(_shape_tuple(s) for s in shape)
    return shape


def _build_config(layer: Any) -> dict[str, Any] | None:
    from convolve.models import Functional, Sequential

    if isinstance(layer, Sequential):
        layer_in = layer._input_layer
        return None if layer_in is None else {"input_shape": _shape_tuple(layer_in.batch_shape)}
    if isinstance(layer, Functional):
        return {"input_shape": None}
    if layer._built_at_init or layer._build_input_shape is None:
        return None
    if hasattr(layer, "keras_build_config"):  # layers of several inputs (attention)
        config = layer.keras_build_config()
        if "shapes_dict" in config:
            return {"shapes_dict": {k: _shape_tuple(v) for k, v in config["shapes_dict"].items()}}
        return {"input_shape": [_shape_tuple(shape) for shape in config["input_shape"]]}
    shapes = layer.__dict__.get("_build_shapes_dict")
    if shapes is not None and len(shapes) != 1:  # `build(self, a_shape, b_shape)`
        return {"shapes_dict": {k: _shape_tuple(v) for k, v in shapes.items()}}
    return {"input_shape": _shape_tuple(layer._build_input_shape)}


def _node_entry(layer: Any, node: Any, encode: Any) -> dict[str, Any]:
    """One call of `layer` as Keras writes it: positional and keyword arguments. Layers
    of several tensor arguments (attention) hold them packed and say how Keras passes them."""
    if hasattr(layer, "keras_node"):
        args, tensor_kwargs = layer.keras_node(node.args)
        return {"args": tuple(encode(args)), "kwargs": encode({**tensor_kwargs, **node.kwargs})}
    from convolve.models import Functional, Sequential

    kwargs = dict(node.kwargs)
    if isinstance(layer, Sequential | Functional):
        kwargs.setdefault("mask", None)  # Keras records the mask its models' `call` takes
    # One entry per positional argument: `layer(a, b)` is `"args": [a, b]`, as in Keras.
    return {"args": tuple(encode(arg) for arg in node.call_args), "kwargs": encode(kwargs)}


def sequential_config(model: Any) -> dict[str, Any]:
    """`Sequential.get_config()` in Keras's format (InputLayer first, when there is one)."""
    entries = [serialize_layer(layer) for layer in model.layers]
    if model._input_layer is not None:
        entries.insert(0, serialize_layer(model._input_layer))
    config: dict[str, Any] = {
        "name": model.name,
        "trainable": model.trainable,
        "dtype": policy_config(model.dtype),
        "layers": entries,
    }
    if model._input_layer is not None:
        config["build_input_shape"] = _shape_tuple(model._input_layer.batch_shape)
    return config


def _model_nodes(model: Any) -> set[int]:
    from convolve.models.functional import topological_nodes

    nodes, _ = topological_nodes(model._input_tensors, model._output_tensors)
    return {id(node) for node in nodes}


def functional_config(model: Any) -> dict[str, Any]:
    """A functional model's config in Keras's format (layers with `inbound_nodes`)."""
    from convolve.models import Functional

    own = _model_nodes(model)
    index: dict[int, int] = {}  # a node's position among its layer's nodes in this model
    for layer in model._layer_list:
        kept = [node for node in layer._inbound_nodes if id(node) in own]
        index.update({id(node): i for i, node in enumerate(kept)})

    def reference(tensor: Any, endpoint: bool = False) -> list[Any]:
        history = tensor._keras_history
        node = history.layer._inbound_nodes[history.node_index]
        # Keras counts one extra node for nested functional models in input_layers and
        # output_layers (not in inbound_nodes); so does its reader.
        offset = 1 if endpoint and isinstance(history.layer, Functional) else 0
        return [history.layer.name, index[id(node)] + offset, history.tensor_index]

    def encode(value: Any) -> Any:
        from convolve.layers.symbolic import KerasTensor

        if isinstance(value, KerasTensor):
            config = {"shape": tuple(value.shape), "dtype": value.dtype,
                      "keras_history": reference(value)}  # fmt: skip
            return {"class_name": "__keras_tensor__", "config": config}
        if isinstance(value, list | tuple):
            return type(value)(encode(v) for v in value)
        if isinstance(value, dict):
            return {k: encode(v) for k, v in value.items()}
        if isinstance(value, torch.Tensor | np.ndarray):  # a constant call argument
            from convolve.saving.keras_objects import _serialize_data

            return _serialize_data(value)
        return value

    entries = []
    for layer in model._layer_list:
        nodes = [node for node in layer._inbound_nodes if id(node) in own and node.input_tensors]
        if getattr(layer, "is_operation", False):  # `x + y`, `x[:, 1:]`, `ops.mean(x)`
            entries.append(op_nodes.op_entry(layer, nodes, encode))
            continue
        entry = serialize_layer(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [_node_entry(layer, node, encode) for node in nodes]
        entries.append(entry)
    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": entries,
        "input_layers": _tree.map_structure(lambda t: reference(t, True), model._inputs_struct),
        "output_layers": _tree.map_structure(lambda t: reference(t, True), model._outputs_struct),
    }


def compile_config(model: Any) -> dict[str, Any]:
    """What `compile()` received, in Keras's `compile_config` format ({} if not compiled)."""
    from convolve import losses, metrics, optimizers

    raw = getattr(model, "_compile_config", None)
    if not getattr(model, "compiled", False) or raw is None:
        return {}

    def each(value: Any, fn: Any) -> Any:
        if value is None or isinstance(value, str | int | float | bool):
            return value
        if isinstance(value, list | tuple):
            return [each(v, fn) for v in value]
        if isinstance(value, dict):
            return {k: each(v, fn) for k, v in value.items()}
        return fn(value)

    def loss(obj: Any) -> Any:
        if isinstance(obj, losses.Loss) and objects.is_builtin(obj):
            return losses.serialize(obj)
        return objects.serialize_object(obj, "keras.losses")

    def metric(obj: Any) -> Any:
        if isinstance(obj, metrics.Metric) and objects.is_builtin(obj):
            return metrics.serialize(obj)
        return objects.serialize_object(obj, "keras.metrics")

    optimizer = optimizers.serialize(model.optimizer)
    if not objects.is_builtin(model.optimizer):
        optimizer["registered_name"] = registration.get_registered_name(type(model.optimizer))
    return {
        "optimizer": optimizer,
        "loss": each(raw.get("loss"), loss),
        "loss_weights": raw.get("loss_weights"),
        "metrics": each(raw.get("metrics"), metric),
        "weighted_metrics": each(raw.get("weighted_metrics"), metric),
        "run_eagerly": bool(raw.get("run_eagerly", False)),
        "steps_per_execution": 1,
        "jit_compile": raw.get("jit_compile", False) is True,
    }


def serialize_model(model: Any, include_compile: bool = True) -> dict[str, Any]:
    """A whole model as Keras writes it in `config.json`."""
    entry = serialize_layer(model)
    if not include_compile:
        entry.pop("compile_config", None)
    return entry


def model_to_json(model: Any, **kwargs: Any) -> str:
    """`model.to_json()`: the model's config (Keras's format) as a JSON string."""
    return json.dumps(serialize_model(model), **kwargs)


# ===================================================================== reading
def deserialize_layer(
    config: Mapping[str, Any],
    custom_objects: Mapping[str, Any] | None = None,
    safe_mode: bool = True,
) -> Any:
    """Rebuilds a layer (or model) from its Keras-format config.

    Args:
        config: a dict as written by `serialize_layer` or by Keras.
        custom_objects: extra classes or functions the config may name.
        safe_mode: refuse Python bytecode (lambdas) and Lambda layers.

    Returns:
        The layer; models come back built, layers with a `build_config` too.

    Raises:
        UnsafeModelError: the config names something outside the allowlist.
        ModelFileError: the config is malformed or names a class convolve lacks.

    Example:
        >>> from convolve import layers
        >>> dense = deserialize_layer(serialize_layer(layers.Dense(3, name="d")))
        >>> type(dense).__name__, dense.units
        ('Dense', 3)
    """
    ctx = Context(custom_objects=dict(custom_objects or {}), safe_mode=safe_mode)
    objects.audit(config, ctx)
    return layer_from_config(config, ctx, "$")


def layer_from_config(entry: Any, ctx: Context, where: str) -> Any:
    """One layer entry to a layer; `entry` was audited already."""
    from convolve.models import Functional, Sequential

    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ctx.error(where, f"expected a layer entry with a 'class_name', found {entry!r:.100}")
    if op_nodes.is_op_reference(entry):
        raise ctx.error(
            where,
            f"operation '{objects.reference_name(entry)}' is a node of a functional model, "
            "not a layer",
        )
    cls = objects.resolve_class(entry, "layer", ctx, where)
    inner = entry.get("config")
    if not isinstance(inner, dict):
        raise ctx.error(f"{where}.config", f"expected a dict, found {inner!r:.100}")
    if cls is Sequential:
        layer = _sequential_from_config(inner, ctx, f"{where}.config")
    elif cls is Functional:
        layer = _functional_from_config(inner, ctx, f"{where}.config")
    else:
        builtin = objects.layer_classes().get(cls.__name__) is cls
        inner = _convolve_layer_config(inner, ctx, f"{where}.config", builtin)
        layer = objects.instantiate(cls, inner, ctx, f"{where}.config", builtin)
    build = entry.get("build_config")
    if isinstance(build, dict) and build.get("input_shape") is not None and not layer.built:
        try:
            layer.build_for(_shape_tuple(build["input_shape"]))
        except (TypeError, ValueError) as err:
            raise ctx.error(f"{where}.build_config", str(err)) from None
    return layer


def sequential_from_config(
    config: Mapping[str, Any],
    custom_objects: Mapping[str, Any] | None = None,
    safe_mode: bool = True,
) -> Any:
    """`Sequential.from_config`: a Sequential model from `sequential_config()` output."""
    ctx = Context(custom_objects=dict(custom_objects or {}), safe_mode=safe_mode)
    objects.audit(config, ctx)
    return _sequential_from_config(dict(config), ctx, "$")


def functional_from_config(
    config: Mapping[str, Any],
    custom_objects: Mapping[str, Any] | None = None,
    safe_mode: bool = True,
) -> Any:
    """`Model.from_config`: a functional model from `functional_config()` output (or Keras's).

    Example:
        >>> import convolve
        >>> from convolve import layers
        >>> x = convolve.Input((3,))
        >>> model = convolve.Model(x, layers.Dense(2)(x))
        >>> functional_from_config(functional_config(model)).output_shape
        (None, 2)
    """
    ctx = Context(custom_objects=dict(custom_objects or {}), safe_mode=safe_mode)
    objects.audit(config, ctx)
    return _functional_from_config(dict(config), ctx, "$")


def _shape_tuple(shape: Any) -> Any:
    if isinstance(shape, list | tuple):
        if all(d is None or isinstance(d, int) for d in shape):
            return tuple(shape)
        return [_shape_tuple(s) for s in shape]
    return shape


def _convolve_layer_config(inner: dict, ctx: Context, where: str, builtin: bool) -> dict:
    """A Keras layer config as the convolve class's constructor takes it."""
    out = {}
    for key, value in inner.items():
        entry = f"{where}.{key}"
        family = objects.value_family(key)
        if key == "dtype":
            out[key] = objects.dtype_name(value, ctx, entry)
        elif family is not None:
            out[key] = objects.deserialize_object(value, family, ctx, entry)
        elif builtin and _holds_layers(value, ctx):
            out[key] = _nested_layers(value, ctx, entry)
        elif builtin:
            out[key] = objects.plain_value(value, ctx, entry)
        else:
            out[key] = value  # a user's class rebuilds its own nested objects
    return out


def _holds_layers(value: Any, ctx: Context) -> bool:
    """Whether a config value is a nested layer entry (a wrapper's `layer`, an RNN's
    `cell`) or a non-empty list of them (`StackedRNNCells`'s `cells`)."""
    if isinstance(value, list):
        return bool(value) and all(_holds_layers(item, ctx) for item in value)
    return isinstance(value, dict) and objects.is_layer_reference(value, ctx)


def _nested_layers(value: Any, ctx: Context, where: str) -> Any:
    """Nested layer entries rebuilt as layers, through the same (audited) path as the
    model's own layers; the wrapper's `from_config` then receives live layers."""
    if isinstance(value, list):
        return [_nested_layers(item, ctx, f"{where}[{i}]") for i, item in enumerate(value)]
    return layer_from_config(value, ctx, where)


def _sequential_from_config(config: dict, ctx: Context, where: str) -> Any:
    from convolve.models import Sequential

    entries = config.get("layers")
    if not isinstance(entries, list):
        raise ctx.error(f"{where}.layers", "a Sequential config needs a list of layers")
    layers = [layer_from_config(e, ctx, f"{where}.layers[{i}]") for i, e in enumerate(entries)]
    try:
        model = Sequential(layers, trainable=config.get("trainable", True), name=config.get("name"))
        if model._input_layer is not None:
            # Keras adds the layers one at a time, rebuilding after each: one automatic
            # "functional" name per layer (the constructor used up one).
            from convolve.models.sequential import _count_functional_build

            for _ in range(len(model.layers) - 1):
                _count_functional_build()
        shape = config.get("build_input_shape")
        if model._input_layer is None and isinstance(shape, list):
            model.build(_shape_tuple(shape))
    except (TypeError, ValueError) as err:
        raise ctx.error(where, f"cannot rebuild the Sequential model: {err}") from None
    return model


def _is_reference(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], str)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value[1:])
    )


def _functional_from_config(config: dict, ctx: Context, where: str) -> Any:
    """Rebuilds a functional model by replaying its layer calls (Keras's algorithm)."""
    from convolve.models import Functional

    entries = config.get("layers")
    if not isinstance(entries, list):
        raise ctx.error(f"{where}.layers", "a functional config needs a list of layers")
    created: dict[str, Any] = {}
    pending: dict[str, list[Any]] = {}
    for i, entry in enumerate(entries):
        at = f"{where}.layers[{i}]"
        if op_nodes.is_op_reference(entry):  # `x + y`, `x[:, 1:]`, `ops.mean(x)` ...
            layer = op_nodes.op_from_entry(entry, ctx, at)
        else:
            layer = layer_from_config(entry, ctx, at)
        name = entry.get("name", layer.name)
        if not isinstance(name, str) or name in created:
            raise ctx.error(at, f"layer names must be unique strings, found {name!r}")
        nodes = entry.get("inbound_nodes", [])
        if not isinstance(nodes, list):
            raise ctx.error(f"{at}.inbound_nodes", "expected a list")
        created[name] = layer
        pending[name] = [(node, f"{at}.inbound_nodes[{j}]") for j, node in enumerate(nodes)]

    def tensor(ref: list[Any], at: str, endpoint: bool = False) -> Any:
        name, node_index, tensor_index = ref
        if name not in created:
            raise ctx.error(at, f"refers to layer '{name}', which the config does not define")
        layer = created[name]
        node_index -= 1 if endpoint and isinstance(layer, Functional) else 0
        if not 0 <= node_index < len(layer._inbound_nodes):
            return None  # not called yet; retried on a later pass
        outputs = layer._inbound_nodes[node_index].output_tensors
        if not 0 <= tensor_index < len(outputs):
            raise ctx.error(at, f"tensor index {tensor_index} out of range for layer '{name}'")
        return outputs[tensor_index]

    def decode(value: Any, at: str, leaf: Any = objects.plain_value) -> Any:
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            history = (value.get("config") or {}).get("keras_history")
            if not _is_reference(history):
                raise ctx.error(at, f"malformed keras_history {history!r:.100}")
            found = tensor(history, at)
            if found is None:
                raise _NotReady
            return found
        if leaf is not objects.plain_value and isinstance(value, dict) and "class_name" in value:
            return leaf(value, ctx, at)  # an operation's slices, Ellipsis, arrays
        if isinstance(value, dict) and value.get("class_name") in ("__numpy__", "__tensor__"):
            return op_nodes.decode_value(value, ctx, at)  # a constant argument, as an array
        if isinstance(value, list | tuple):
            return type(value)(decode(v, f"{at}[{i}]", leaf) for i, v in enumerate(value))
        if isinstance(value, dict):
            return {k: decode(v, f"{at}.{k}", leaf) for k, v in value.items()}
        return leaf(value, ctx, at)

    def call(name: str, node: Any, at: str) -> bool:
        if isinstance(node, list):  # legacy: [[layer, node, tensor, kwargs], ...]
            refs = [{"class_name": "__keras_tensor__", "config": {"keras_history": n[:3]}}
                    for n in node]  # fmt: skip
            kwargs = node[0][3] if node and len(node[0]) > 3 else {}
            args = [refs[0] if len(refs) == 1 else refs]
        elif isinstance(node, dict):
            args, kwargs = node.get("args", []), node.get("kwargs", {})
        else:
            raise ctx.error(at, f"malformed node {node!r:.100}")
        leaf = op_nodes.decode_value if isinstance(created[name], op_nodes.OpCall) else None
        leaf = leaf or objects.plain_value
        try:
            args, kwargs = (
                decode(args, f"{at}.args", leaf),
                decode(kwargs or {}, f"{at}.kwargs", leaf),
            )
        except _NotReady:
            return False
        if not isinstance(args, list | tuple) or not args or not isinstance(kwargs, dict):
            raise ctx.error(at, "expected positional arguments (the layer's inputs)")
        args = list(args)  # a tuple in a config in memory, a list in a file
        kwargs.pop("mask", None)  # masks travel with the tensors, as they did when written
        if kwargs.get("training") is None:
            kwargs.pop("training", None)  # a node called with `training=False` keeps it
        try:
            created[name](*args, **kwargs)
        except (TypeError, ValueError, IndexError) as err:
            raise ctx.error(at, f"calling layer '{name}' failed: {err}") from None
        return True

    while any(pending.values()):
        progressed = False
        for name, queue in pending.items():
            while queue and call(name, queue[0][0], queue[0][1]):
                queue.pop(0)
                progressed = True
        if not progressed:
            stuck = sorted(name for name, queue in pending.items() if queue)
            raise ctx.error(
                f"{where}.layers",
                f"the graph has a cycle or refers to missing nodes; stuck at layers {stuck}",
            )

    def endpoints(key: str) -> Any:
        value = config.get(key)

        def walk(v: Any, at: str) -> Any:
            if _is_reference(v):
                found = tensor(v, at, endpoint=True)
                if found is None:
                    raise ctx.error(at, f"refers to a node that does not exist: {v}")
                return found
            if isinstance(v, list):
                return [walk(x, f"{at}[{i}]") for i, x in enumerate(v)]
            if isinstance(v, dict):
                return {k: walk(x, f"{at}.{k}") for k, x in v.items()}
            raise ctx.error(at, f"malformed tensor reference {v!r:.100}")

        return walk(value, f"{where}.{key}")

    inputs, outputs = endpoints("input_layers"), endpoints("output_layers")
    try:
        return Functional(
            inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True)
        )
    except (TypeError, ValueError) as err:
        raise ctx.error(where, f"cannot rebuild the functional model: {err}") from None


class _NotReady(Exception):
    """A node's inputs come from a call that has not been replayed yet."""


def compile_from_config(model: Any, config: Mapping[str, Any], ctx: Context, where: str) -> None:
    """Calls `model.compile(...)` with what a Keras `compile_config` describes."""
    from convolve import losses, metrics, optimizers

    def optimizer(value: Any, at: str) -> Any:
        if isinstance(value, str) or value is None:
            return value
        if not isinstance(value, dict) or "class_name" not in value:
            raise ctx.error(at, f"malformed optimizer {value!r:.100}")
        cls = objects.resolve_class(value, "optimizer", ctx, at)
        inner = dict(value.get("config") or {})
        if objects.is_builtin(cls):
            return optimizers.deserialize({"class_name": cls.__name__, "config": inner})
        return objects.instantiate(cls, inner, ctx, f"{at}.config", False)

    def each(value: Any, family: str, at: str) -> Any:
        if value is None or isinstance(value, str | int | float | bool):
            return value
        if isinstance(value, list):
            return [each(v, family, f"{at}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict) and "class_name" not in value:
            return {k: each(v, family, f"{at}.{k}") for k, v in value.items()}
        if not isinstance(value, dict):
            raise ctx.error(at, f"malformed {family} {value!r:.100}")
        if value["class_name"] == "function":
            return objects.resolve_function(value, (family,), ctx, at)
        cls = objects.resolve_class(value, family, ctx, at)
        if not objects.is_builtin(cls):
            return objects.instantiate(cls, value.get("config") or {}, ctx, at, False)
        module = losses if family == "loss" else metrics
        inner = {"class_name": cls.__name__, "config": value.get("config") or {}}
        return module.deserialize(inner)

    try:
        model.compile(
            optimizer=optimizer(config.get("optimizer", "rmsprop"), f"{where}.optimizer"),
            loss=each(config.get("loss"), "loss", f"{where}.loss"),
            loss_weights=config.get("loss_weights"),
            metrics=each(config.get("metrics"), "metric", f"{where}.metrics"),
            weighted_metrics=each(config.get("weighted_metrics"), "metric", f"{where}.metrics"),
            run_eagerly=bool(config.get("run_eagerly", False)),
            jit_compile=config.get("jit_compile", False) is True,
        )
    except ModelFileError:
        raise
    except (TypeError, ValueError) as err:
        raise ctx.error(where, f"cannot compile the model as saved: {err}") from None


def model_from_config(
    config: Any, ctx: Context, compile: bool = True, audit: bool = True, where: str = "$"
) -> Any:
    """A whole model (audited, built and optionally compiled) from its Keras config."""
    if audit:
        objects.audit(config, ctx, where)
    model = layer_from_config(config, ctx, where)
    compile_config = config.get("compile_config") if isinstance(config, dict) else None
    if compile and compile_config:
        if not isinstance(compile_config, dict):
            raise ctx.error(f"{where}.compile_config", "expected a dict")
        compile_from_config(model, compile_config, ctx, f"{where}.compile_config")
    return model


def model_from_json(
    json_string: str | bytes,
    custom_objects: Mapping[str, Any] | None = None,
    safe_mode: bool = True,
) -> Any:
    """Rebuilds a model from `model.to_json()` (or Keras's) output, compiled if it was.

    Example:
        >>> from convolve import layers, models
        >>> model = models.Sequential([layers.Input((4,)), layers.Dense(2)])
        >>> clone = model_from_json(model_to_json(model))
        >>> clone.output_shape
        (None, 2)
    """
    ctx = Context(custom_objects=dict(custom_objects or {}), safe_mode=safe_mode)
    try:
        config = json.loads(json_string)
    except (ValueError, RecursionError) as err:
        raise ctx.error("json", f"not valid JSON: {err}") from None
    return model_from_config(config, ctx)
