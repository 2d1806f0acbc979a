"""`clone_model`: the same architecture with freshly initialized weights, as in Keras."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from convolve import _tree
from convolve.layers import Input, KerasTensor, Layer
from convolve.models.functional import Functional, keras_run_order, topological_nodes
from convolve.models.model import Model
from convolve.models.sequential import Sequential


def _default_clone(layer: Layer) -> Layer:
    return layer.__class__.from_config(layer.get_config())


def _replay_operation(op: Any, node: Any, args: Any) -> Any:
    """A new node for an operation on symbolic tensors (`x + y`) applied to `args`, which
    stand where the original node's inputs stood (Keras clones operations too)."""
    from convolve.layers.op_layer import _output_specs, _Spec, record_node

    constants = list(op.buffers(recurse=False))  # in registration order: constant_0, ...
    new_op = type(op)(op.fn, op._template, constants, op._num_inputs, op.op_name, name=op.name)
    inputs = _tree.flatten(args)
    if [t.shape for t in inputs] == [t.shape for t in node.input_tensors]:
        same = [_Spec(t.shape, t.dtype) for t in node.output_tensors]
        specs = _tree.pack_like(node.outputs, same)
    else:
        specs = _output_specs(op.fn, op._template, inputs, constants, op.op_name)
    return record_node(new_op, args, specs)


def clone_model(
    model: Model,
    input_tensors: Any = None,
    clone_function: Callable[[Layer], Layer] | None = None,
    call_function: Callable[..., Any] | None = None,
    recursive: bool = False,
    **kwargs: Any,
) -> Model:
    """A new Sequential or functional model like `model`, with new weights.

    Weights are not copied (use `new.set_weights(model.get_weights())` for that); layer
    and model names are kept, and a compiled model's clone is compiled the same way.

    Args:
        model: A Sequential or functional model.
        input_tensors: Symbolic inputs to build the clone on (one `Input(...)` for a
            Sequential model; the structure of `model.input` for a functional one).
            New inputs like the model's by default.
        clone_function: `fn(layer) -> layer`, applied to each layer except inputs; by
            default `layer.__class__.from_config(layer.get_config())`.
        call_function: `fn(layer, *args, **kwargs) -> outputs`, which makes each call of
            a cloned layer in a functional model (and may add layers around it); by
            default `layer(*args, **kwargs)`.
        recursive: Whether nested Sequential and functional models are cloned layer by
            layer, with `clone_function` (and `call_function`) applied inside them too,
            rather than passed whole to `clone_function`.

    Returns:
        The new model.

    Raises:
        ValueError: For a subclassed model with `clone_function` or `input_tensors`, one
            whose `get_config()` cannot rebuild it, a Sequential model with
            `call_function`, or an unknown keyword argument.

    Example:
        >>> import convolve
        >>> from convolve import layers
        >>> model = convolve.Sequential([layers.Input((4,)), layers.Dense(2)])
        >>> clone = convolve.models.clone_model(model)
        >>> clone.layers[0] is model.layers[0], clone.output_shape
        (False, (None, 2))
    """
    cache: dict[int, Layer] | None = kwargs.pop("cache", None)  # shared by nested clones
    if cache is None:
        cache = {}
    if kwargs:
        raise ValueError(f"Unexpected keyword argument(s): {tuple(kwargs.keys())}")
    for name, fn in (("clone_function", clone_function), ("call_function", call_function)):
        if fn is not None and not callable(fn):
            raise ValueError(
                f"Expected `{name}` argument to be a callable. Received: {name}={fn!r}"
            )
    if call_function is not None and isinstance(model, Sequential):
        raise ValueError(
            "`call_function` argument is not supported with Sequential models: their "
            "layers are listed, not called, when the model is made. Use `call_function` "
            f"with functional models only. Received model '{model.name}' of type "
            f"'{type(model).__name__}', with call_function={call_function!r}"
        )

    def clone(layer: Layer) -> Layer:
        if id(layer) in cache:  # a shared layer stays shared in the clone
            return cache[id(layer)]
        if recursive and isinstance(layer, Sequential | Functional):
            inner_call = call_function if isinstance(layer, Functional) else None
            new_layer: Layer = clone_model(
                layer, clone_function=clone_function, call_function=inner_call,
                recursive=True, cache=cache,
            )  # fmt: skip
        else:
            new_layer = (clone_function or _default_clone)(layer)
        cache[id(layer)] = new_layer
        return new_layer

    if isinstance(model, Sequential):
        new: Model = _clone_sequential(model, clone, input_tensors)
    elif isinstance(model, Functional):
        new = _clone_functional(model, clone, input_tensors, call_function)
    elif clone_function is not None or input_tensors is not None:
        raise ValueError(
            "Arguments `clone_function` and `input_tensors` are only supported for "
            "Sequential models or Functional models. Received model of type "
            f"'{type(model).__name__}', with clone_function={clone_function} and "
            f"input_tensors={input_tensors}"
        )
    else:
        try:
            return model.__class__.from_config(model.get_config())
        except (TypeError, NotImplementedError) as err:
            raise ValueError(
                f"clone_model: cannot clone the subclassed model '{model.name}' of type "
                f"'{type(model).__name__}': its get_config() does not rebuild it ({err}). "
                "Implement get_config() (and from_config()) returning its constructor "
                "arguments."
            ) from None
    if getattr(model, "compiled", False):
        from convolve.saving.objects import Context
        from convolve.saving.serialization import compile_config, compile_from_config

        compile_from_config(new, compile_config(model), Context(), "$")
    return new


def _clone_sequential(model: Sequential, clone: Callable, input_tensors: Any) -> Sequential:
    layers: list[Any] = [clone(layer) for layer in model.layers]
    if input_tensors is not None:
        if isinstance(input_tensors, list | tuple):
            if len(input_tensors) != 1:
                raise ValueError("Argument `input_tensors` must contain a single tensor.")
            input_tensors = input_tensors[0]
        if not isinstance(input_tensors, KerasTensor):
            raise ValueError(
                "Argument `input_tensors` must be a KerasTensor. "
                f"Received invalid value: input_tensors={input_tensors}"
            )
        layers.insert(0, input_tensors)
    elif model._input_layer is not None:
        ref = model._input_layer
        layers.insert(0, Input(batch_shape=ref.batch_shape, dtype=ref._dtype, name=ref.name))
    return Sequential(layers, name=model.name, trainable=model.trainable)


def _clone_functional(
    model: Functional, clone: Callable, input_tensors: Any, call_function: Callable | None
) -> Functional:
    if input_tensors is None:

        def new_input(t: KerasTensor) -> KerasTensor:
            ref = t._keras_history.layer
            return Input(batch_shape=ref.batch_shape, dtype=ref._dtype, name=ref.name)

        input_tensors = _tree.map_structure(new_input, model._inputs_struct)
    flat_inputs = _tree.flatten(input_tensors)
    if len(flat_inputs) != len(model._input_tensors) or not all(
        isinstance(t, KerasTensor) for t in flat_inputs
    ):
        raise ValueError(
            "`input_tensors` must be KerasTensors with the same structure as model.input; "
            f"received {input_tensors!r}"
        )
    new: dict[int, Any] = {id(t): v for t, v in zip(model._input_tensors, flat_inputs, strict=True)}

    def swap(value: Any) -> Any:
        return new[id(value)] if isinstance(value, KerasTensor) else value

    graph, _ = topological_nodes(model._input_tensors, model._output_tensors)
    for node in keras_run_order(graph):
        if all(id(t) in new for t in node.output_tensors):
            continue  # it produced a model input (an Input layer)
        args = _tree.map_structure(swap, node.args)
        if getattr(node.layer, "is_operation", False):
            outputs = _replay_operation(node.layer, node, args)
        else:
            kwargs = {k: _tree.map_structure(swap, v) for k, v in node.kwargs.items()}
            extra = [_tree.map_structure(swap, arg) for arg in node.extra_args]
            layer = clone(node.layer)
            if call_function is None:
                outputs = layer(args, *extra, **kwargs)
            else:
                outputs = call_function(layer, args, *extra, **kwargs)
        for old, out in zip(node.output_tensors, _tree.flatten(outputs), strict=True):
            new[id(old)] = out
    outputs = _tree.map_structure(lambda t: new[id(t)], model._outputs_struct)
    return Functional(input_tensors, outputs, name=model.name, trainable=model.trainable)
