"""Graph models: layers connected by calls on symbolic tensors."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from convolve import _tree
from convolve.layers.base import Layer
from convolve.layers.core import InputLayer
from convolve.layers.symbolic import KerasTensor, Node
from convolve.models import pool_first
from convolve.models.model import Model


def _producing_node(tensor: KerasTensor) -> Node:
    history = tensor._keras_history
    if history is None:
        raise ValueError(
            f"{tensor!r} was not produced by a layer call; model inputs must come from "
            "convolve.Input(...) and outputs from layers called on them."
        )
    return history.layer._inbound_nodes[history.node_index]


def topological_nodes(
    inputs: list[KerasTensor], outputs: list[KerasTensor]
) -> tuple[list[Node], dict[int, int]]:
    """Nodes between `inputs` and `outputs`, each after the nodes it consumes.

    Also returns, per layer id, the order in which the depth-first walk first met it,
    which Keras uses to order layers of equal depth.
    """
    input_ids = {id(t) for t in inputs}
    order: list[Node] = []
    first_seen: dict[int, int] = {}
    done: set[int] = set()
    visiting: set[int] = set()

    def visit(tensor: KerasTensor) -> None:
        node = _producing_node(tensor)
        if id(node) in done:
            return
        if id(tensor) not in input_ids and isinstance(node.layer, InputLayer):
            raise ValueError(
                f"Output depends on input '{node.layer.name}', which is not among the "
                "model's inputs."
            )
        if id(node) in visiting:
            raise ValueError(f"The graph has a cycle through layer '{node.layer.name}'.")
        first_seen.setdefault(id(node.layer), len(first_seen))
        visiting.add(id(node))
        if id(tensor) not in input_ids:
            for parent in node.input_tensors:
                visit(parent)
        visiting.discard(id(node))
        done.add(id(node))
        order.append(node)

    for tensor in outputs:
        visit(tensor)
    for tensor in inputs:  # inputs that no output uses still belong to the model
        visit(tensor)
    return order, first_seen


def _node_depths(nodes: list[Node]) -> tuple[dict[int, int], dict[int, int]]:
    """Per node id and per layer id, the depth counted from the outputs, as Keras's
    `map_graph` counts it; the node dict keeps Keras's insertion order (a node enters when
    it is first met, itself or as a parent), which orders the nodes of equal depth."""
    depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    in_graph = {id(n) for n in nodes}
    for node in reversed(nodes):
        d = max(depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = d
        depth[id(node)] = d
        for parent in node.parent_nodes:
            if id(parent) in in_graph:
                depth[id(parent)] = max(d + 1, depth.get(id(parent), 0))
    return depth, layer_depth


def keras_layer_order(nodes: list[Node], first_seen: dict[int, int]) -> list[Layer]:
    """Layers ordered as Keras lists them: by depth from the inputs, then by first visit."""
    _, layer_depth = _node_depths(nodes)
    layers: list[Layer] = []
    for node in nodes:
        if node.layer not in layers:
            layers.append(node.layer)
    return sorted(layers, key=lambda layer: (-layer_depth[id(layer)], first_seen[id(layer)]))


def keras_run_order(nodes: list[Node]) -> list[Node]:
    """`nodes` (from `topological_nodes`) in the order Keras runs a graph when it replays
    it (`clone_model`): deepest first, then in Keras's order within a depth. Cloned layers
    build, and draw their seeded initial weights, in this order."""
    depth, _ = _node_depths(nodes)
    by_id = {id(node): node for node in nodes}
    return [by_id[key] for key in sorted(depth, key=lambda key: -depth[key])]


def sole_consumers(nodes: list[Node], outputs: list[KerasTensor]) -> dict[int, Node]:
    """`{id(node): consumer}` where a node's one output is the whole input of one other node,
    used nowhere else and not a model output: pairs whose intermediate nobody else sees."""
    uses: dict[int, list[Node]] = {}
    for node in nodes:
        for tensor in node.input_tensors:
            uses.setdefault(id(tensor), []).append(node)
    output_ids = {id(t) for t in outputs}
    pairs = {}
    for node in nodes:
        if len(node.output_tensors) != 1 or set(node.kwargs) - {"training"} or node.extra_args:
            continue
        tensor = node.output_tensors[0]
        users = uses.get(id(tensor), [])
        if id(tensor) in output_ids or len(users) != 1:
            continue
        consumer = users[0]
        if (
            consumer.args is tensor
            and not consumer.extra_args
            and not set(consumer.kwargs) - {"training"}
        ):
            pairs[id(node)] = consumer
    return pairs


def _sorted_dicts(structure: Any) -> Any:
    """`structure` with every dict's keys in sorted order, as Keras returns a model's dict
    outputs (its tree utilities rebuild dicts sorted by key)."""
    if isinstance(structure, dict):
        return {key: _sorted_dicts(structure[key]) for key in sorted(structure)}
    if isinstance(structure, list | tuple):
        return type(structure)(_sorted_dicts(item) for item in structure)
    return structure


_FUNCTIONAL_SUBCLASSES: dict[type, type] = {}


def functional_subclass(cls: type) -> type:
    """`cls` (a `Model` subclass) made functional: its own methods (`train_step`, ...)
    first, then the functional model's, with `cls`'s name, so isinstance still holds."""
    if issubclass(cls, Functional):
        return cls
    if cls not in _FUNCTIONAL_SUBCLASSES:
        _FUNCTIONAL_SUBCLASSES[cls] = type(
            cls.__name__, (cls, Functional), {"__module__": cls.__module__}
        )
    return _FUNCTIONAL_SUBCLASSES[cls]


class Functional(Model):
    """A model defined by its input and output symbolic tensors (Keras's functional API)."""

    _engine_layout = True

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self._init_graph(inputs, outputs)

    def _init_graph(self, inputs: Any, outputs: Any) -> None:
        flat_inputs = _tree.flatten(inputs)
        flat_outputs = _tree.flatten(outputs)
        for t in flat_inputs + flat_outputs:
            if not isinstance(t, KerasTensor):
                raise ValueError(
                    f"Model inputs and outputs must be symbolic tensors; received {t!r}."
                )
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self._input_tensors, self._output_tensors = flat_inputs, flat_outputs
        nodes, first_seen = topological_nodes(flat_inputs, flat_outputs)
        self._nodes = [n for n in nodes if not isinstance(n.layer, InputLayer)]
        self._sole_consumers = sole_consumers(self._nodes, flat_outputs)
        ordered = keras_layer_order(nodes, first_seen)
        names = [layer.name for layer in ordered]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise ValueError(
                f"Layer names must be unique within a model; '{duplicate}' is used twice."
            )
        self._layer_list = nn.ModuleList(ordered)
        # A plain attribute, as in Keras: the names of the layers that produce the outputs.
        self.output_names = [t._keras_history.layer.name for t in flat_outputs]
        self.built = True
        self._build_input_shape = _tree.map_structure(lambda t: t.shape, inputs)

    @property
    def layers(self) -> list[Layer]:
        # Operation nodes (`x + y`, `ops.mean(x)`) are not layers to Keras; summaries list them.
        return [layer for layer in self._layer_list if not getattr(layer, "is_operation", False)]

    def _standardize_inputs(self, inputs: Any) -> list:
        """The call's inputs as a flat list in the order of `model.inputs`.

        As in Keras, a dict keyed by input names feeds a model built on a list (or one
        tensor) of inputs.
        """
        struct = self._inputs_struct
        if isinstance(inputs, dict) and not isinstance(struct, dict):
            names = [t.name for t in self._input_tensors]
            missing = [n for n in names if n not in inputs]
            if missing:
                raise ValueError(
                    f"Model '{self.name}' takes inputs named {names}; the dict passed has "
                    f"keys {sorted(inputs)} (missing: {missing})."
                )
            return [inputs[n] for n in names]
        return _tree.flatten(inputs)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        flat = self._standardize_inputs(inputs)
        if len(flat) != len(self._input_tensors):
            raise ValueError(
                f"Model '{self.name}' expects {len(self._input_tensors)} input(s), "
                f"received {len(flat)}."
            )
        values = {id(t): v for t, v in zip(self._input_tensors, flat, strict=True)}

        def value_of(t: Any) -> Any:  # a graph tensor's value; constants as they are
            return values[id(t)] if isinstance(t, KerasTensor) else t

        done: set[int] = set()
        for node, one_input, kwargs, built_training, consumer in self._call_plan():
            if done and id(node) in done:
                continue
            if one_input is not None:  # the node's input is one tensor
                args = values[id(one_input)]
            else:
                args = _tree.pack_like(node.args, [value_of(t) for t in _tree.flatten(node.args)])
            # As in Keras, a model called with `training` (fit: True, predict and evaluate:
            # False) overrides the flag a layer was given when the graph was built.
            node_training = built_training if training is None else training
            if consumer is not None and pool_first.pools_first(node.layer, consumer.layer):
                consumer_training = (
                    consumer.kwargs.get("training") if training is None else training
                )
                out = pool_first.run_pool_first(node.layer, consumer.layer, args, consumer_training)
                done.add(id(consumer))
                node = consumer  # what was computed is the consumer's output
            elif node.extra_args:  # `layer(a, b)`: several positional arguments
                extra = tuple(_tree.map_structure(value_of, arg) for arg in node.extra_args)
                out = node.layer.engine_call(args, node_training, extra_args=extra, **kwargs)
            else:
                out = node.layer.engine_call(args, node_training, **kwargs)
            outputs_of_node = node.output_tensors
            if len(outputs_of_node) == 1 and isinstance(out, torch.Tensor):
                values[id(outputs_of_node[0])] = out
            else:
                for tensor, value in zip(outputs_of_node, _tree.flatten(out), strict=True):
                    values[id(tensor)] = value
        outputs = _tree.pack_like(
            self._outputs_struct, [values[id(t)] for t in self._output_tensors]
        )
        if isinstance(outputs, list | tuple) and len(outputs) == 1:
            return outputs[0]  # as Keras's call returns `outputs=[x]`: the tensor itself
        return _sorted_dicts(outputs)

    def _call_plan(self) -> list[tuple]:
        """Per node, what `call` needs that does not change between calls: the node, its
        one input tensor (None for other arguments; the tensor, not its id, so that a
        copied model's plan names its own tensors), its keyword arguments
        without `training`, the `training` it was given when the graph was built, and the
        node it may fuse with. Worked out again when the node list is replaced."""
        found = self.__dict__
        plan = found.get("_call_plan_cache")
        nodes = self._nodes
        if plan is not None and plan[0] is nodes and plan[1] == len(nodes):
            return plan[2]
        steps = []
        for node in nodes:
            one_input = node.args if isinstance(node.args, KerasTensor) else None
            kwargs = {k: v for k, v in node.kwargs.items() if k != "training"}
            consumer = self._sole_consumers.get(id(node))
            steps.append((node, one_input, kwargs, node.kwargs.get("training"), consumer))
        found["_call_plan_cache"] = (nodes, len(nodes), steps)
        return steps

    def compute_output_shape(self, input_shape: Any) -> Any:
        return _tree.map_structure(lambda t: t.shape, self._outputs_struct)

    def _output_names(self) -> list[str]:
        # As in Keras, compile names a list of outputs by `output_names`, which users
        # may set; a dict of outputs is named by its keys.
        names = getattr(self, "output_names", None)
        if names is None or self._dict_outputs():
            return super()._output_names()
        return list(names)

    @property
    def inputs(self) -> list[KerasTensor]:
        return list(self._input_tensors)

    @property
    def outputs(self) -> list[KerasTensor]:
        return list(self._output_tensors)

    def add_loss(self, loss: Any) -> None:
        """Refused, as in Keras: a functional model takes no symbolic losses; add them in a
        layer's `call()` instead."""
        raise NotImplementedError(
            f"Model '{self.name}': add_loss() on a functional model is not supported (as in "
            f"Keras); call it inside a layer's call(). Received loss={loss!r}"
        )

    @property
    def input(self) -> Any:
        """The inputs in the structure the model was built with (a dict stays a dict)."""
        return self._inputs_struct

    @property
    def output(self) -> Any:
        """The outputs in the structure the model was built with (a dict stays a dict)."""
        return self._outputs_struct

    def get_config(self) -> dict[str, Any]:
        from convolve.saving import functional_config

        return functional_config(self)
