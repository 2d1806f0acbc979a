"""`model.summary()`: Keras's table, plus optional forward FLOPs and activation memory."""

from __future__ import annotations

import functools
import math
import re
import shutil
from typing import Any

import rich.console
import rich.markup
import rich.table
import torch

from convolve import _tree, config
from convolve.layers.base import Layer, is_shape, map_shapes
from convolve.training.console import print_msg

_DTYPE_BITS = {"float16": 16, "bfloat16": 16, "float32": 32, "float64": 64}


def readable_memory_size(size: float) -> str:
    """Bytes as Keras prints them: 1024-based units, two decimals."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _weights_bytes(weights: list[torch.Tensor]) -> float:
    unique = {id(w): w for w in weights}.values()
    return sum(w.numel() * w.element_size() for w in unique)


def _number(x: Any) -> str:
    return f"[color(45)]{x}[/]" if x is None else f"[color(34)]{x}[/]"


def _bold(text: str, color: int | None = None) -> str:
    return f"[bold][color({color})]{text}[/][/]" if color else f"[bold]{text}[/]"


def _format_shape(shape: tuple) -> str:
    return f"({', '.join(_number(d) for d in shape)})"


def _layer_output_shape(layer: Layer) -> str:
    if layer._inbound_nodes:
        outputs = layer._inbound_nodes[-1].outputs
        shapes = [_format_shape(t.shape) for t in _tree.flatten(outputs)]
        return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"
    # Keras records no build shape for layers it marks built at construction (pooling,
    # Flatten ...), so, called outside a graph (a subclassed model), their shape is unknown.
    if not layer.built or layer._build_input_shape is None or layer._built_at_init:
        return "?"
    try:
        shapes = layer.compute_output_shape(layer._build_input_shape)
    except NotImplementedError:
        return "?"
    if is_shape(shapes):
        return _format_shape(shapes)
    flat: list[str] = []
    map_shapes(lambda s: flat.append(_format_shape(s)), shapes)
    return "[" + ", ".join(flat) + "]"


def _is_sequential_like(model: Any) -> bool:
    nodes = getattr(model, "_nodes", None)
    if nodes is None:
        return True
    seen_layers: set[int] = set()
    previous = None
    for node in nodes:
        inputs = node.input_tensors
        if len(inputs) != 1 or id(node.layer) in seen_layers:
            return False
        seen_layers.add(id(node.layer))
        parent = inputs[0]._keras_history.layer
        if previous is not None and parent is not previous:
            return False
        previous = node.layer
    return True


def _connections(layer: Layer, model_nodes: list) -> str:
    parts = []
    for node in layer._inbound_nodes:
        if node not in model_nodes:
            continue
        for tensor in node.input_tensors:
            history = tensor._keras_history
            parts.append(
                f"{history.layer.name}[{_number(history.node_index)}]"
                f"[{_number(history.tensor_index)}]"
            )
    return ", ".join(parts) or "-"


def _layer_range_bounds(layers: list[Layer], layer_range: Any) -> tuple[int, int]:
    if layer_range is None:
        return 0, len(layers)
    if len(layer_range) != 2 or not all(isinstance(n, str) for n in layer_range):
        raise ValueError(
            f"layer_range must be a list of two layer-name patterns, received {layer_range!r}"
        )
    lower = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    upper = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not lower or not upper:
        raise ValueError(
            f"layer_range {layer_range!r} does not match the layer names in the model."
        )
    if min(lower) > max(upper):
        return min(upper), max(lower) + 1
    return min(lower), max(upper) + 1


def print_summary(
    model: Any,
    line_length: int | None = None,
    positions: list[float] | None = None,
    print_fn: Any = None,
    expand_nested: bool = False,
    show_trainable: bool = False,
    layer_range: list[str] | None = None,
    show_cost: bool = False,
) -> None:
    """Prints `model`'s summary as Keras does, to stdout or through `print_fn`.

    With interactive logging disabled and no `print_fn`, it goes to the `"convolve"` logger.
    """
    if not print_fn and not config.is_interactive_logging_enabled():
        print_fn = functools.partial(print_msg, line_break=False)
    sequential_like = _is_sequential_like(model)
    if sequential_like:
        default_length, default_positions = 88, [0.45, 0.80, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #"]
        alignment = ["left", "left", "right"]
    else:
        default_length, default_positions = 108, [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        alignment = ["left", "left", "right", "left"]
    positions = positions or default_positions
    if show_trainable:
        default_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        alignment.append("center")
    default_length = min(default_length, shutil.get_terminal_size().columns - 4)
    line_length = line_length or default_length

    widths, current = [], 0
    for pos in positions:
        width = int(pos * line_length) - current
        if width < 4:
            raise ValueError("Insufficient console width to print summary.")
        widths.append(width)
        current += width
    columns = [
        rich.table.Column(name, justify=alignment[i], width=widths[i])
        for i, name in enumerate(header)
    ]
    table = rich.table.Table(*columns, width=line_length, show_lines=True)
    model_nodes = list(getattr(model, "_nodes", []))

    def fields(layer: Layer, prefix: str = "") -> list[str]:
        name = rich.markup.escape(f"{prefix}{layer.name}")
        name += f" ([color(33)]{rich.markup.escape(type(layer).__name__)}[/])"
        if not layer.built:
            params = f"{_number(0)} (unbuilt)"
        else:
            params = _number(f"{layer.count_params():,}")
        row = [name, _layer_output_shape(layer), params]
        if not sequential_like:
            row.append(_connections(layer, model_nodes))
        if show_trainable:
            if layer.weights:
                row.append(_bold("Y", 34) if layer.trainable else _bold("N", 9))
            else:
                row.append(_bold("-"))
        return row

    def rows_for(layer: Layer, level: int = 0) -> list[list[str]]:
        prefix = "   " * level + "└ " if level else ""
        rows = [fields(layer, prefix)]
        nested = getattr(layer, "layers", None) if expand_nested else None
        for sub in nested or []:
            rows.extend(rows_for(sub, level + 1))
        return rows

    layers = list(getattr(model, "_layer_list", model.layers))  # operation nodes included
    start, stop = _layer_range_bounds(layers, layer_range)
    for layer in layers[start:stop]:
        for row in rows_for(layer):
            table.add_row(*row)

    trainable, non_trainable = model.trainable_weights, model.non_trainable_weights
    counts = [
        ("Trainable params", sum(w.numel() for w in trainable), _weights_bytes(trainable)),
        (
            "Non-trainable params",
            sum(w.numel() for w in non_trainable),
            _weights_bytes(non_trainable),
        ),
    ]
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "built", False) and optimizer.variables:
        variables = optimizer.variables
        counts.append(
            ("Optimizer params", sum(v.numel() for v in variables), _weights_bytes(variables))
        )
    total = ("Total params", sum(c[1] for c in counts), sum(c[2] for c in counts))
    lines = [total, *counts]

    if print_fn:
        console = rich.console.Console(highlight=False, force_terminal=False, color_system=None)
        console.begin_capture()
    else:
        console = rich.console.Console(highlight=False)
    console.print(_bold(f'Model: "{rich.markup.escape(model.name)}"'))
    console.print(table)
    for label, count, size in lines:
        console.print(
            _bold(f" {label}: ") + _number(f"{count:,}") + f" ({readable_memory_size(size)})"
        )
    if show_cost:
        flops, activation_bytes = forward_cost(model)
        console.print(_bold(" Forward FLOPs per sample: ") + _number(f"{flops:,}"))
        console.print(
            _bold(" Activation memory per sample: ") + readable_memory_size(activation_bytes)
        )
    if print_fn:
        print_fn(console.end_capture())


def forward_cost(model: Any) -> tuple[int, float]:
    """Forward FLOPs (multiply and add counted apart) and activation bytes for one sample."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        input_shapes = [t.shape for t in model.inputs]
    except AttributeError:
        raise ValueError(
            f"Model '{model.name}' has no known input shape, so its cost cannot be computed."
        ) from None
    if any(d is None for shape in input_shapes for d in shape[1:]):
        raise ValueError(
            f"Model '{model.name}' has inputs with unknown dimensions {input_shapes}; "
            "FLOPs need a fixed input shape."
        )
    samples = [torch.zeros((1, *shape[1:])) for shape in input_shapes]
    counter = FlopCounterMode(display=False)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), counter:
            model(samples[0] if len(samples) == 1 else samples)
    finally:
        model.train(was_training)
    activation_bytes = 0.0
    for layer in model.layers:
        for node in layer._inbound_nodes[-1:]:
            for tensor in node.output_tensors:
                size = math.prod(d for d in tensor.shape[1:] if d is not None)
                activation_bytes += size * _DTYPE_BITS.get(tensor.dtype, 32) / 8
    return int(counter.get_total_flops()), activation_bytes
