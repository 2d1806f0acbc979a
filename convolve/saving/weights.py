"""Weights in Keras's layout: where each layer's variables live in a file, and moving them.

Keras 3 stores a model's state by walking it: the model at "", its layers under
"layers/<class name in snake case>" (`conv2d`, `conv2d_1`, ... numbered per class, in the
order of `model.layers`), nested models the same way below their own path, and the
optimizer under "optimizer". Each object's own variables are the datasets "0", "1", ...
of the group "<path>/vars" (trainable ones first), in Keras's layout: conv kernels as
`(*kernel_size, in, out)`. Weights cross between torch's layout and Keras's only here.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from convolve.layers.base import Layer, _inverse, _to_keras_array
from convolve.layers.naming import to_snake_case
from convolve.saving.h5safe import H5Reader


def _name_key(name: str) -> str:
    return f"~{name}" if name.startswith("_") else name  # private attributes last, as Keras


def _unique(name: str, used: dict[str, int]) -> str:
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def _config_order(model: Any, entry: Any) -> tuple[list[Layer], list[Any]]:
    """A model's layers in the order its saved config lists them (the order paths follow)."""
    from convolve.models import Sequential

    layers = list(model.layers)
    entries = (entry or {}).get("config", {}).get("layers") if isinstance(entry, dict) else None
    if not isinstance(entries, list):
        return layers, [None] * len(layers)
    if isinstance(model, Sequential):
        entries = [
            e for e in entries if isinstance(e, dict) and e.get("class_name") != "InputLayer"
        ]
    by_name = {layer.name: layer for layer in layers}
    names = [e.get("name") or (e.get("config") or {}).get("name") for e in entries]
    if sorted(map(str, names)) != sorted(by_name):
        return layers, [None] * len(layers)
    return [by_name[n] for n in names], entries


def saveables(model: Layer, config: Any = None) -> list[tuple[str, Layer]]:
    """`(path, layer)` for the model and every layer below it, in Keras's walk order.

    Args:
        model: the model (or layer) at the root, path "".
        config: the model's saved config entry, whose layer order the paths then follow.
    """
    found: list[tuple[str, Layer]] = []
    visited: set[int] = set()

    def join(path: str, name: str) -> str:
        return f"{path}/{name}" if path else name

    def container(items: list[tuple[Any, Any]], path: str) -> None:
        used: dict[str, int] = {}
        for item, sub_config in items:
            if isinstance(item, Layer):
                # Keras files a layer under its Python class's name, which for a few
                # exported aliases differs from the public one (GroupQueryAttention).
                kind = getattr(type(item), "_keras_class_name", type(item).__name__)
                visit(item, join(path, _unique(to_snake_case(kind), used)), sub_config)
            elif isinstance(item, nn.ModuleList | nn.ModuleDict | nn.Sequential):
                children = item.values() if isinstance(item, nn.ModuleDict) else item
                container([(c, None) for c in children], join(path, _unique("container", used)))

    def visit(layer: Layer, path: str, entry: Any) -> None:
        if id(layer) in visited:
            return
        visited.add(id(layer))
        found.append((path, layer))
        if _is_graph_model(layer):
            ordered, entries = _config_order(layer, entry)
            container(list(zip(ordered, entries, strict=True)), join(path, "layers"))
            return
        for attr, child in sorted(layer._modules.items(), key=lambda kv: _name_key(kv[0])):
            if isinstance(child, Layer):
                visit(child, join(path, attr), None)
            elif isinstance(child, nn.ModuleList | nn.ModuleDict | nn.Sequential):
                children = child.values() if isinstance(child, nn.ModuleDict) else child
                container([(c, None) for c in children], join(path, attr))

    visit(model, "", config)
    return found


def _is_graph_model(layer: Any) -> bool:
    from convolve.models import Functional, Sequential

    return isinstance(layer, Sequential | Functional)


def _own(layer: Layer) -> list[tuple[Any, torch.Tensor]]:
    return list(layer._own_weights())


def _keras_shape(spec: Any, tensor: torch.Tensor) -> tuple[int, ...]:
    shape = tuple(tensor.shape)
    return shape if spec.layout is None else tuple(shape[i] for i in _inverse(spec.layout))


def _assign(layer: Layer, values: list[torch.Tensor]) -> None:
    """Sets a layer's own weights from Keras-layout tensors (all or nothing)."""
    with torch.no_grad():
        for (spec, tensor), value in zip(_own(layer), values, strict=True):
            if spec.layout is not None:
                value = value.permute(*spec.layout)
            tensor.copy_(value.to(dtype=tensor.dtype, device=tensor.device))


# --------------------------------------------------------------------- optimizer
def _optimizer_layouts(model: Any) -> list[tuple[int, ...] | None]:
    """For each optimizer variable, the layout of the parameter it belongs to (or None)."""
    opt = model.optimizer
    if not opt.built:
        return [None] * len(opt.variables)
    layouts = {id(t): spec.layout for _, spec, t in model._weight_entries()}
    params = list(getattr(opt, "_params", model.trainable_weights))
    names = {id(t): name for name, t in opt.state_dict()["variables"].items()}
    result = []
    for variable in opt.variables:
        index = re.match(r"(\d+)/", names.get(id(variable), ""))
        param = params[int(index.group(1))] if index and int(index.group(1)) < len(params) else None
        result.append(None if param is None else layouts.get(id(param)))
    return result


def optimizer_arrays(model: Any) -> list[np.ndarray]:
    """The optimizer's variables in Keras's order and layout."""
    arrays = []
    for variable, layout in zip(model.optimizer.variables, _optimizer_layouts(model), strict=True):
        value = variable.detach()
        if layout is not None:
            value = value.permute(*_inverse(layout))
        if value.dtype == torch.bfloat16:
            value = value.float()
        arrays.append(value.cpu().contiguous().numpy().copy())
    return arrays


def set_optimizer_arrays(
    model: Any, count: int, read: Callable[[int, tuple[int, ...]], torch.Tensor], warn: Callable
) -> None:
    """Restores the optimizer from `count` saved variables; `read(i, keras_shape)` gives one."""
    opt = model.optimizer
    if count > 2 and not opt.built:
        opt.build(model.trainable_weights)  # what fit() would do first
    variables = opt.variables
    if len(variables) != count:
        warn(
            f"Skipping variable loading for optimizer '{opt.name}', because it has "
            f"{len(variables)} variables whereas the saved optimizer has {count} variables."
        )
        return
    if not opt.built:
        return  # only the iteration count and learning rate, both at their initial values
    values = []
    for i, (variable, layout) in enumerate(zip(variables, _optimizer_layouts(model), strict=True)):
        shape = tuple(variable.shape)
        keras_shape = shape if layout is None else tuple(shape[j] for j in _inverse(layout))
        value = read(i, keras_shape)
        values.append(value if layout is None else value.permute(*layout))
    opt.set_weights(values)


# --------------------------------------------------------------------- Keras h5 layout
def keras_tree(model: Any, include_optimizer: bool = True) -> Iterator[tuple[str, dict, list]]:
    """What `write_h5` needs to write a model's state as Keras does."""
    for path, layer in saveables(model):
        arrays: list | dict = [_to_keras_array(spec, tensor) for spec, tensor in _own(layer)]
        hook = getattr(layer, "save_own_variables", None)
        if not arrays and callable(hook):
            store: dict[str, Any] = {}
            hook(store)  # state that is not a weight (a lookup's IDF weights), as Keras
            arrays = {str(k): np.asarray(v) for k, v in store.items()}
        yield path, {"name": layer.name}, arrays
    optimizer = getattr(model, "optimizer", None)
    if include_optimizer and optimizer is not None:
        yield "optimizer", {"name": optimizer.name}, optimizer_arrays(model)


class _Mismatches:
    """Collects mismatches: an error at the end, or warnings with `skip_mismatch`."""

    def __init__(self, reader: H5Reader | Any, skip: bool) -> None:
        self.reader, self.skip, self.problems = reader, skip, []

    def add(self, entry: str, problem: str) -> None:
        if self.skip:
            warnings.warn(f"Skipping '{entry}': {problem}", stacklevel=4)
        else:
            self.problems.append((entry, problem))

    def raise_if_any(self) -> None:
        if self.problems:
            entry, problem = self.problems[0]
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            raise self.reader.error(entry, problem + more)


def load_keras_h5(
    model: Any,
    reader: H5Reader,
    skip_mismatch: bool = False,
    config: Any = None,
    dry_run: bool = False,
) -> None:
    """Loads Keras-layout layer weights from an open `.weights.h5`.

    With `dry_run`, only checks that every weight is present with the right shape and a
    sane size, reading nothing (the model may live on the meta device).
    """
    mismatches = _Mismatches(reader, skip_mismatch)
    for path, layer in saveables(model, config):
        own = _own(layer)
        where = f"{path}/vars" if path else "vars"
        if not own:
            if not dry_run:
                _load_own_variables(layer, reader, where)
            continue
        group = reader.group(where)
        keys = [] if group is None else reader.keys(group, where)
        if sorted(keys, key=_int_key) != [str(i) for i in range(len(own))]:
            mismatches.add(
                where,
                f"layer '{layer.name}' ({type(layer).__name__}) expects {len(own)} variables, "
                f"the file has {len(keys)}",
            )
            continue
        datasets = [reader.dataset(group, str(i), f"{where}/{i}") for i in range(len(own))]
        shapes = [_keras_shape(spec, tensor) for spec, tensor in own]
        wrong = [i for i, ds in enumerate(datasets) if tuple(ds.shape or ()) != shapes[i]]
        if wrong:
            i = wrong[0]
            mismatches.add(
                f"{where}/{i}",
                f"weight '{own[i][0].name}' of layer '{layer.name}' has shape {shapes[i]}, "
                f"the file holds {tuple(datasets[i].shape or ())}",
            )
            continue
        if not dry_run:
            _assign(layer, [reader.read(ds, None, where) for ds in datasets])
    mismatches.raise_if_any()


def _load_own_variables(layer: Layer, reader: H5Reader, where: str) -> None:
    """Hands the datasets of `where` to the layer's `load_own_variables(store)` hook, for
    layers that keep state other than weights (a lookup's IDF weights), as Keras does."""
    hook = getattr(layer, "load_own_variables", None)
    group = reader.group(where) if callable(hook) else None
    if group is None:
        return
    store = {}
    for key in reader.keys(group, where):
        entry = f"{where}/{key}"
        ds = reader.dataset(group, key, entry)
        if ds is not None:
            store[key] = reader.read(ds, None, entry).numpy()
    if store:
        hook(store)


def load_optimizer_h5(
    model: Any, reader: H5Reader, where: str = "optimizer/vars", names: list[str] | None = None
) -> None:
    """Restores the optimizer state saved in the group `where`, if both exist.

    Args:
        model: the compiled model.
        reader: the open file.
        where: the group holding the optimizer's variables.
        names: their dataset names in Keras's order; by default "0", "1", ... (the
            `.keras` layout).
    """
    optimizer = getattr(model, "optimizer", None)
    group = None if optimizer is None else reader.group(where)
    if group is None:
        return
    if names is None:
        names = [str(i) for i in range(len(reader.keys(group, where)))]

    def read(i: int, shape: tuple[int, ...]) -> torch.Tensor:
        entry = f"{where}/{names[i]}"
        ds = reader.dataset(group, names[i], entry)
        if ds is None:
            raise reader.error(entry, "missing optimizer variable")
        return reader.read(ds, shape, entry)

    set_optimizer_arrays(model, len(names), read, lambda msg: warnings.warn(msg, stacklevel=3))


def _int_key(key: str) -> tuple[int, str]:
    return (int(key), key) if key.isdigit() else (1 << 62, key)


# --------------------------------------------------------------------- legacy Keras 2 h5
def _legacy_weights(layer: Layer) -> list[tuple[Layer, Any, torch.Tensor]]:
    """A layer's weights as Keras 2 listed them: trainable, then non-trainable."""
    trainable = {id(t) for t in layer.trainable_weights}
    entries = layer._weight_entries()
    return [e for e in entries if id(e[2]) in trainable] + [
        e for e in entries if id(e[2]) not in trainable
    ]


def load_legacy_h5(
    model: Any, reader: H5Reader, by_name: bool, skip_mismatch: bool, dry_run: bool = False
) -> None:
    """Keras 2 `.h5` weights: `[model_weights/]<layer>/<weight path>` with `weight_names`.

    With `dry_run`, only checks that every weight is present with the right shape and a
    sane size, reading nothing (the model may live on the meta device).
    """
    root = reader.group("")
    base = ""
    if reader.attr(root, "layer_names", "/") is None and reader.group("model_weights") is not None:
        root, base = reader.group("model_weights"), "model_weights/"
    names = reader.attr(root, "layer_names", base or "/")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise reader.error(base or "/", "no 'layer_names' attribute: not a Keras weights file")

    def saved(name: str) -> tuple[Any, list[str]]:
        group = reader.group(base + name)
        if group is None:
            raise reader.error(base + name, "listed in layer_names but missing")
        weight_names = reader.attr(group, "weight_names", base + name) or []
        if not isinstance(weight_names, list):
            raise reader.error(base + name, "malformed weight_names attribute")
        return group, weight_names

    mismatches = _Mismatches(reader, skip_mismatch)

    def assign(layer: Layer, name: str) -> None:
        group, weight_names = saved(name)
        targets = _legacy_weights(layer)
        if len(weight_names) != len(targets):
            mismatches.add(
                base + name,
                f"layer '{layer.name}' expects {len(targets)} weights, the file has "
                f"{len(weight_names)}",
            )
            return
        datasets = []
        for weight_name, (_, spec, tensor) in zip(weight_names, targets, strict=True):
            where = f"{base}{name}/{weight_name}"
            ds = reader.dataset(group, weight_name, where)
            if ds is None:
                raise reader.error(where, "listed in weight_names but missing")
            if tuple(ds.shape or ()) != _keras_shape(spec, tensor):
                mismatches.add(
                    where,
                    f"the file holds shape {tuple(ds.shape or ())}, layer '{layer.name}' "
                    f"expects {_keras_shape(spec, tensor)}",
                )
                return
            datasets.append((ds, where))
        if dry_run:
            return
        values = [reader.read(ds, None, where) for ds, where in datasets]
        with torch.no_grad():
            for (_, spec, tensor), value in zip(targets, values, strict=True):
                if spec.layout is not None:
                    value = value.permute(*spec.layout)
                tensor.copy_(value.to(dtype=tensor.dtype, device=tensor.device))

    if by_name:
        for name in names:
            for layer in model.layers:
                if layer.name == name:
                    assign(layer, name)
    else:
        layers = [layer for layer in model.layers if layer.weights]
        saved_names = [name for name in names if saved(name)[1]]
        if len(layers) != len(saved_names):
            raise reader.error(
                base or "/",
                f"the model has {len(layers)} layers with weights, the file has {len(saved_names)}",
            )
        for layer, name in zip(layers, saved_names, strict=True):
            assign(layer, name)
    mismatches.raise_if_any()
