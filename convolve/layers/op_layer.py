"""Graph nodes for operations on symbolic tensors: `x + shortcut`, `x[..., 0]`, `ops.mean(x)`.

In a functional model definition, Python operators on symbolic tensors (`KerasTensor`) and
`convolve.ops` functions called with one record a node instead of computing, as Keras's
operation nodes do: a weightless layer that holds the function and its other arguments
(numbers, axes, constant arrays). Its class is named after Keras's operation (`Add`,
`GetItem`, `Mean`) and so is the node (`add`, `get_item_1`), so that `model.summary()` reads
as Keras's does.

At run time the node applies the same function to the real tensors in the user's layout
(channels last), so `ops.mean(x, axis=-1)` on a feature map averages its channels, as in
Keras. Output shapes and dtypes come from running the function on placeholder tensors (on
the meta device, which allocates nothing): an output dimension that changes with the size
given to the inputs' unknown (`None`) dimensions is unknown too. Indexing follows Keras's
shape rule, in which slicing an unknown dimension leaves it unknown.

Model files hold such nodes as Keras writes them (`convolve/saving/op_nodes.py` lists the
operations and how their arguments are written); saving a model with an operation outside
that list raises `NotImplementedError` naming the operation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from convolve import _tree
from convolve.layers.base import Layer
from convolve.layers.naming import to_snake_case, unique_name
from convolve.layers.symbolic import KerasHistory, KerasTensor, Node
from convolve.ops._dtypes import standardize_dtype, to_torch_dtype

# The sizes given to unknown dimensions in the two placeholder runs: even and small, so
# that halving, indexing near the start and reshaping to common sizes work on them.
_TRACE_SIZES = (6, 12)


@dataclass(frozen=True)
class _Slot:
    """Where the `index`-th symbolic input goes in the arguments."""

    index: int


@dataclass(frozen=True)
class _Constant:
    """Where a constant array (kept as buffer `attr`) goes in the arguments."""

    attr: str


class OpLayer(Layer):
    """A node applying one operation to symbolic tensors (see the module docstring).

    Subclasses named after Keras's operations (`Add`, `Mean` ...) are made by `op_class`;
    instances are made by `symbolic_op`, one per call, as Keras makes one operation per call.
    """

    _engine_layout = False  # the function sees channels-last tensors, as in Keras
    _built_at_init = True
    is_operation = True  # not a layer in Keras's sense: a Keras model's `layers` omits it

    def __init__(
        self,
        fn: Callable[..., Any],
        template: tuple[tuple, dict],
        constants: Sequence[torch.Tensor],
        num_inputs: int,
        op_name: str,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name or unique_name(to_snake_case(type(self).__name__)))
        self.fn = fn
        self.op_name = op_name
        self._template = template
        self._num_inputs = num_inputs
        for i, value in enumerate(constants):
            # Not persistent: constants are part of the graph, not weights or state.
            self.register_buffer(f"constant_{i}", value, persistent=False)

    def call(self, inputs: Any) -> Any:
        values = [inputs] if self._num_inputs == 1 else list(inputs)
        device = values[0].device if values and isinstance(values[0], torch.Tensor) else None
        args, kwargs = _fill(self._template, values, self._constant, device)
        return self.fn(*args, **kwargs)

    def _constant(self, attr: str, device: torch.device | None) -> torch.Tensor:
        value = getattr(self, attr)
        return value if device is None or value.device == device else value.to(device)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return _tree.map_structure(lambda t: t.shape, self._inbound_nodes[0].outputs)

    def get_config(self) -> dict[str, Any]:
        """The operation's config as Keras writes it (its name and static arguments).

        Raises:
            NotImplementedError: for an operation model files cannot hold.
        """
        from convolve.saving.op_nodes import op_config

        return op_config(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, operation={self.op_name}>"


_CLASSES: dict[str, type[OpLayer]] = {}


def op_class(class_name: str) -> type[OpLayer]:
    """The `OpLayer` subclass named `class_name` (Keras's operation name), made once."""
    cls = _CLASSES.get(class_name)
    if cls is None:
        cls = type(class_name, (OpLayer,), {"__module__": __name__, "__qualname__": class_name})
        _CLASSES[class_name] = cls
    return cls


def __getattr__(name: str) -> type[OpLayer]:
    # `convolve.layers.op_layer.Add` names the class, so that pickle finds it (torch.save
    # of a whole model), in this process or another.
    if name[:1].isupper() and name.isidentifier():
        return op_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------- building nodes
_NEXT_NAME: list[str | None] = [None]


@contextmanager
def named_node(name: str) -> Iterator[None]:
    """The next node `symbolic_op` records is called `name` (a model file's node name)."""
    _NEXT_NAME[0] = name
    try:
        yield
    finally:
        _NEXT_NAME[0] = None


def symbolic_op(
    fn: Callable[..., Any],
    args: Sequence[Any],
    kwargs: dict[str, Any],
    class_name: str,
    op_name: str | None = None,
    output_shape: Callable[[list[tuple]], tuple] | None = None,
) -> Any:
    """Records `fn(*args, **kwargs)`, where some arguments are symbolic tensors, as a node.

    Args:
        fn: the function, applied at run time to real tensors in the user's layout.
        args: positional arguments; symbolic tensors may be anywhere in them, also inside
            lists, tuples and dicts.
        kwargs: keyword arguments, likewise.
        class_name: Keras's operation class name (`"Add"`), which names the node.
        op_name: the operation as the user wrote it, for messages (`fn.__name__` if None).
        output_shape: Keras's shape rule, given the inputs' shapes, when it differs from
            what running `fn` on placeholders shows (indexing).

    Returns:
        The symbolic output(s), in the structure `fn` returns.
    """
    op_name = op_name or getattr(fn, "__name__", class_name)
    inputs: list[KerasTensor] = []
    constants: list[torch.Tensor] = []

    def encode(leaf: Any) -> Any:
        if isinstance(leaf, KerasTensor):
            inputs.append(leaf)
            return _Slot(len(inputs) - 1)
        value = _as_constant(leaf)
        if value is None:
            return leaf
        constants.append(value)
        return _Constant(f"constant_{len(constants) - 1}")

    template = (_tree.map_structure(encode, tuple(args)), _tree.map_structure(encode, kwargs))
    specs = _output_specs(fn, template, inputs, constants, op_name)
    if output_shape is not None:
        shape = output_shape([t.shape for t in inputs])
        specs = _Spec(shape, specs.dtype)
    name, _NEXT_NAME[0] = _NEXT_NAME[0], None
    layer = op_class(class_name)(fn, template, constants, len(inputs), op_name, name=name)
    return record_node(layer, inputs[0] if len(inputs) == 1 else list(inputs), specs)


def record_node(layer: Layer, node_args: Any, specs: Any) -> Any:
    """The symbolic outputs of operation node `layer` called on `node_args`, one for each
    `_Spec` in `specs` (in its structure), with the graph node that records the call."""
    outputs = _tree.map_structure(
        lambda spec: KerasTensor(spec.shape, spec.dtype, name=layer.name), specs
    )
    for i, tensor in enumerate(_tree.flatten(outputs)):
        tensor._keras_history = KerasHistory(layer, 0, i)
    layer._build_input_shape = _tree.map_structure(lambda t: t.shape, node_args)
    layer._inbound_nodes.append(Node(layer, node_args, {}, outputs))
    return outputs


def _as_constant(value: Any) -> torch.Tensor | None:
    """A constant array argument as the tensor the function would make of it, else None.

    Numbers (NumPy scalars too), axes and other plain values stay in the arguments as they
    are: Python numbers are weakly typed in `ops`, so converting them would change result
    dtypes. A tensor that requires gradients stays too, so that they reach it.
    """
    if isinstance(value, torch.Tensor):
        return None if value.requires_grad else value.detach()
    if isinstance(value, np.ndarray):
        from convolve.ops.core import as_tensor

        return as_tensor(value, device=torch.device("cpu"))
    return None


def _fill(
    template: tuple[tuple, dict],
    values: Sequence[Any],
    constant: Callable[[str, Any], Any],
    device: Any,
) -> tuple[tuple, dict]:
    def decode(leaf: Any) -> Any:
        if isinstance(leaf, _Slot):
            return values[leaf.index]
        if isinstance(leaf, _Constant):
            return constant(leaf.attr, device)
        return leaf

    args, kwargs = template
    return _tree.map_structure(decode, args), _tree.map_structure(decode, kwargs)


# --------------------------------------------------------------------- output specs
@dataclass(frozen=True)
class _Spec:
    shape: tuple
    dtype: str


class _TraceError(Exception):
    pass


def _output_specs(
    fn: Callable[..., Any],
    template: tuple[tuple, dict],
    inputs: list[KerasTensor],
    constants: list[torch.Tensor],
    op_name: str,
) -> Any:
    """Output shapes and dtypes of `fn` on the symbolic inputs, found by running it on
    placeholders twice, with different sizes for the unknown dimensions."""
    shapes = [list(t.shape) for t in inputs]
    plans = [shapes]
    unified = _unify_unknown_dims(shapes, shapes + [list(c.shape) for c in constants])
    if unified != shapes:
        plans.append(unified)  # unknown dims broadcast against known ones take their size
    error: BaseException | None = None
    for plan in plans:
        try:
            first = _trace(fn, template, inputs, plan, constants, _TRACE_SIZES[0])
            if not any(d is None for shape in plan for d in shape):
                return first
            second = _trace(fn, template, inputs, plan, constants, _TRACE_SIZES[1])
            return _merge(first, second)
        except _TraceError as err:
            error = error or err.__cause__ or err
    if any(d is None for shape in shapes for d in shape):
        # Last, unknown sizes as 1, which broadcasts to any shape an argument names
        # (`broadcast_to(x, (3, 4))` on a batch of unknown size gives (3, 4), as in Keras).
        try:
            return _trace(fn, template, inputs, shapes, constants, 1)
        except _TraceError:
            pass
    shown = ", ".join(str(t.shape) for t in inputs)
    raise ValueError(
        f"`{op_name}` cannot be applied to symbolic tensors of shapes {shown}: {error}"
    ) from error


def _unify_unknown_dims(shapes: list[list], all_shapes: list[list]) -> list[list]:
    """Each unknown dimension that lines up (from the right, as in broadcasting) with a known
    size other than 1 in another argument takes that size, as Keras's broadcasting rule
    gives it; the others stay unknown."""
    unified = []
    for shape in shapes:
        new = list(shape)
        for i, d in enumerate(shape):
            if d is not None:
                continue
            offset = len(shape) - i
            for other in all_shapes:
                if len(other) >= offset:
                    size = other[len(other) - offset]
                    if size is not None and size != 1:
                        new[i] = size
                        break
        unified.append(new)
    return unified


def _trace(
    fn: Callable[..., Any],
    template: tuple[tuple, dict],
    inputs: list[KerasTensor],
    shapes: list[list],
    constants: list[torch.Tensor],
    size: int,
) -> Any:
    """`fn` on placeholder tensors: a `_Spec` for each tensor in the structure it returns.

    It runs on the meta device first (no memory, no arithmetic); a function that cannot run
    there runs on CPU zeros.
    """
    errors: list[Exception] = []
    for device in (torch.device("meta"), torch.device("cpu")):
        values = [
            torch.zeros(
                [size if d is None else d for d in shape],
                dtype=to_torch_dtype(t.dtype),
                device=device,
            )
            for t, shape in zip(inputs, shapes, strict=True)
        ]
        moved = {f"constant_{i}": c.to(device) for i, c in enumerate(constants)}
        args, kwargs = _fill(template, values, lambda attr, _, m=moved: m[attr], device)
        try:
            with torch.no_grad():
                out = fn(*args, **kwargs)
            return _tree.map_structure(_leaf_spec, out)
        except Exception as err:  # noqa: BLE001 - any failure: try the next device
            errors.append(err)
    raise _TraceError(str(errors[-1])) from errors[-1]


def _leaf_spec(value: Any) -> _Spec:
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"it returns {type(value).__name__} values rather than tensors, which a graph "
            "node cannot hold"
        )
    return _Spec(tuple(value.shape), standardize_dtype(value.dtype))


def _merge(first: Any, second: Any) -> Any:
    """Specs from two runs: dimensions that differ between them are unknown."""
    flat_first, flat_second = _tree.flatten(first), _tree.flatten(second)
    if len(flat_first) != len(flat_second):
        raise _TraceError("its number of outputs depends on the unknown dimensions")
    merged = []
    for a, b in zip(flat_first, flat_second, strict=True):
        if len(a.shape) != len(b.shape):
            raise _TraceError("its output rank depends on the unknown dimensions")
        shape = tuple(x if x == y else None for x, y in zip(a.shape, b.shape, strict=True))
        merged.append(_Spec(shape, a.dtype))
    return _tree.pack_like(first, merged)


# --------------------------------------------------------------------- indexing
def _get_item(x: torch.Tensor, key: Any) -> torch.Tensor:
    return x[key]


_get_item.__name__ = "__getitem__"


def get_item(x: KerasTensor, key: Any) -> KerasTensor:
    """`x[key]` on a symbolic tensor: a `GetItem` node, with Keras's output shape."""
    rule = None
    if _basic_key(key):

        def rule(shapes: list[tuple]) -> tuple:
            return _get_item_shape(shapes[0], key)

    return symbolic_op(_get_item, (x, key), {}, "GetItem", output_shape=rule)


def _basic_key(key: Any) -> bool:
    parts = key if isinstance(key, tuple) else (key,)
    return all(
        p is None or p is Ellipsis or isinstance(p, slice) or _is_int(p) for p in parts
    ) and all(
        all(b is None or _is_int(b) for b in (p.start, p.stop, p.step))
        for p in parts
        if isinstance(p, slice)
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _get_item_shape(shape: tuple, key: Any) -> tuple:
    """Keras's shape for `x[key]` (int, slice, None and Ellipsis keys): slicing an unknown
    dimension leaves it unknown, an integer removes it, None adds a dimension of 1."""
    remaining_key = list(key) if isinstance(key, tuple) else [key]
    if sum(k is Ellipsis for k in remaining_key) > 1:
        raise IndexError(f"An index can only have a single ellipsis ('...'); received {key}")
    if Ellipsis not in remaining_key:
        remaining_key.append(Ellipsis)
    remaining_shape = list(shape)
    new_shape: list[int | None] = []
    while remaining_key:
        subkey = remaining_key.pop(0)
        if subkey is Ellipsis:
            needed = len(remaining_key) - sum(k is None for k in remaining_key)
            consumed = len(remaining_shape) - needed
            new_shape += remaining_shape[:consumed]
            remaining_shape = remaining_shape[consumed:]
            continue
        if subkey is None:
            new_shape.append(1)
            continue
        if not remaining_shape:
            raise IndexError(f"Too many indices for a tensor of shape {shape}: {key}")
        length = remaining_shape.pop(0)
        if isinstance(subkey, slice):
            new_shape.append(None if length is None else len(range(*subkey.indices(length))))
    return tuple(new_shape)
