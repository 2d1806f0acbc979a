"""Operation nodes (`x + 3.0`, `x[:, 1:]`, `ops.mean(x)`) in model configs, as Keras writes them.

Keras 3 writes an operation applied to symbolic tensors in a functional model as a layer
entry of its operation class, e.g.
`{"module": "keras.src.ops.numpy", "class_name": "Mean", "config": {"name": "mean",
"axis": -1, "keepdims": true}, "registered_name": "Mean", "name": "mean", "inbound_nodes":
[{"args": [<tensor>], "kwargs": {}}]}`: the operation's constructor arguments (the static
ones: axes, shapes, flags) go into `config`, and what its `call` takes (the tensors, and
numbers or arrays standing in for tensors) into the node's `args`.

`OPERATIONS` maps each operation class convolve reads and writes to its module under
`keras.src.ops`, the `convolve.ops` function that computes it, and the split of that
function's arguments between the two places. It is the allowlist too: a config naming any
other class under `keras.src.ops` is refused. Operations not in it cannot be saved
(`NotImplementedError` naming the operation).
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import numpy as np
import torch

# class name: (module under keras.src.ops, convolve.ops function, config arguments,
# call arguments in order; "*name" takes the rest positionally).
OPERATIONS: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    "Absolute": ("numpy", "abs", (), ("x",)),
    "AdaptiveAveragePool": (
        "nn",
        "adaptive_average_pool",
        ("output_size", "data_format"),
        ("inputs",),
    ),
    "AdaptiveMaxPool": ("nn", "adaptive_max_pool", ("output_size", "data_format"), ("inputs",)),
    "Add": ("numpy", "add", (), ("x1", "x2")),
    "AffineTransform": (
        "image",
        "image.affine_transform",
        ("interpolation", "fill_mode", "fill_value", "data_format"),
        ("images", "transform"),
    ),
    "All": ("numpy", "all", ("axis", "keepdims"), ("x",)),
    "Amax": ("numpy", "amax", ("axis", "keepdims"), ("x",)),
    "Amin": ("numpy", "amin", ("axis", "keepdims"), ("x",)),
    "Any": ("numpy", "any", ("axis", "keepdims"), ("x",)),
    "Append": ("numpy", "append", ("axis",), ("x1", "x2")),
    "Arccos": ("numpy", "arccos", (), ("x",)),
    "Arccosh": ("numpy", "arccosh", (), ("x",)),
    "Arcsin": ("numpy", "arcsin", (), ("x",)),
    "Arcsinh": ("numpy", "arcsinh", (), ("x",)),
    "Arctan": ("numpy", "arctan", (), ("x",)),
    "Arctan2": ("numpy", "arctan2", (), ("x1", "x2")),
    "Arctanh": ("numpy", "arctanh", (), ("x",)),
    "Argmax": ("numpy", "argmax", ("axis", "keepdims"), ("x",)),
    "Argmin": ("numpy", "argmin", ("axis", "keepdims"), ("x",)),
    "Argsort": ("numpy", "argsort", ("axis",), ("x",)),
    "ArraySplit": ("numpy", "array_split", ("indices_or_sections", "axis"), ("x",)),
    "Average": ("numpy", "average", ("axis",), ("x", "weights")),
    "AveragePool": (
        "nn",
        "average_pool",
        ("pool_size", "strides", "padding", "data_format"),
        ("inputs",),
    ),
    "BroadcastTo": ("numpy", "broadcast_to", ("shape",), ("x",)),
    "Cast": ("core", "cast", ("dtype",), ("x",)),
    "Ceil": ("numpy", "ceil", (), ("x",)),
    "Celu": ("nn", "celu", ("alpha",), ("x",)),
    "Clip": ("numpy", "clip", ("x_min", "x_max"), ("x",)),
    "Concatenate": ("numpy", "concatenate", ("axis",), ("xs",)),
    "Copy": ("numpy", "copy", (), ("x",)),
    "Cos": ("numpy", "cos", (), ("x",)),
    "Cosh": ("numpy", "cosh", (), ("x",)),
    "CountNonzero": ("numpy", "count_nonzero", ("axis",), ("x",)),
    "CropImages": (
        "image",
        "image.crop_images",
        (
            "top_cropping",
            "left_cropping",
            "bottom_cropping",
            "right_cropping",
            "target_height",
            "target_width",
            "data_format",
        ),
        ("images",),
    ),
    "Cumprod": ("numpy", "cumprod", ("axis", "dtype"), ("x",)),
    "Cumsum": ("numpy", "cumsum", ("axis", "dtype"), ("x",)),
    "Deg2rad": ("numpy", "deg2rad", (), ("x",)),
    "DepthToSpace": ("nn", "depth_to_space", ("block_size", "data_format"), ("x",)),
    "Diff": ("numpy", "diff", ("n", "axis"), ("a",)),
    "Divide": ("numpy", "divide", (), ("x1", "x2")),
    "DivideNoNan": ("numpy", "divide_no_nan", (), ("x1", "x2")),
    "Dot": ("numpy", "dot", (), ("x1", "x2")),
    "Dsplit": ("numpy", "dsplit", ("indices_or_sections",), ("x",)),
    "Dstack": ("numpy", "dstack", (), ("xs",)),
    "Einsum": ("numpy", "einsum", ("subscripts",), ("*operands",)),
    "Elu": ("nn", "elu", ("alpha",), ("x",)),
    "Equal": ("numpy", "equal", (), ("x1", "x2")),
    "Erf": ("math", "erf", (), ("x",)),
    "Erfc": ("math", "erfc", (), ("x",)),
    "Erfinv": ("math", "erfinv", (), ("x",)),
    "Exp": ("numpy", "exp", (), ("x",)),
    "Exp2": ("numpy", "exp2", (), ("x",)),
    "ExpandDims": ("numpy", "expand_dims", ("axis",), ("x",)),
    "Expm1": ("numpy", "expm1", (), ("x",)),
    "ExtractPatches": (
        "image",
        "image.extract_patches",
        ("size", "strides", "dilation_rate", "padding", "data_format"),
        ("images",),
    ),
    "Fabs": ("numpy", "fabs", (), ("x",)),
    "Flip": ("numpy", "flip", ("axis",), ("x",)),
    "Fliplr": ("numpy", "fliplr", (), ("x",)),
    "Flipud": ("numpy", "flipud", (), ("x",)),
    "Floor": ("numpy", "floor", (), ("x",)),
    "FloorDivide": ("numpy", "floor_divide", (), ("x1", "x2")),
    "Fmax": ("numpy", "fmax", (), ("x1", "x2")),
    "Fmin": ("numpy", "fmin", (), ("x1", "x2")),
    "Fmod": ("numpy", "fmod", (), ("x1", "x2")),
    "FullLike": ("numpy", "full_like", ("dtype",), ("x", "fill_value")),
    "GaussianBlur": (
        "image",
        "image.gaussian_blur",
        ("kernel_size", "sigma", "data_format"),
        ("images",),
    ),
    "Gelu": ("nn", "gelu", ("approximate",), ("x",)),
    "GetItem": ("numpy", "get_item", (), ("x", "key")),
    "Glu": ("nn", "glu", ("axis",), ("x",)),
    "Greater": ("numpy", "greater", (), ("x1", "x2")),
    "GreaterEqual": ("numpy", "greater_equal", (), ("x1", "x2")),
    "HardShrink": ("nn", "hard_shrink", ("threshold",), ("x",)),
    "HardSigmoid": ("nn", "hard_sigmoid", (), ("x",)),
    "HardSilu": ("nn", "hard_silu", (), ("x",)),
    "HardTanh": ("nn", "hard_tanh", (), ("x",)),
    "Hsplit": ("numpy", "hsplit", ("indices_or_sections",), ("x",)),
    "Hstack": ("numpy", "hstack", (), ("xs",)),
    "Hypot": ("numpy", "hypot", (), ("x1", "x2")),
    "Inner": ("numpy", "inner", (), ("x1", "x2")),
    "Isclose": ("numpy", "isclose", ("equal_nan",), ("x1", "x2", "rtol", "atol")),
    "Isfinite": ("numpy", "isfinite", (), ("x",)),
    "Isinf": ("numpy", "isinf", (), ("x",)),
    "Isnan": ("numpy", "isnan", (), ("x",)),
    "Isneginf": ("numpy", "isneginf", (), ("x",)),
    "Isposinf": ("numpy", "isposinf", (), ("x",)),
    "LeakyRelu": ("nn", "leaky_relu", ("negative_slope",), ("x",)),
    "Less": ("numpy", "less", (), ("x1", "x2")),
    "LessEqual": ("numpy", "less_equal", (), ("x1", "x2")),
    "Log": ("numpy", "log", (), ("x",)),
    "Log10": ("numpy", "log10", (), ("x",)),
    "Log1p": ("numpy", "log1p", (), ("x",)),
    "Log2": ("numpy", "log2", (), ("x",)),
    "LogSigmoid": ("nn", "log_sigmoid", (), ("x",)),
    "LogSoftmax": ("nn", "log_softmax", ("axis",), ("x",)),
    "Logaddexp": ("numpy", "logaddexp", (), ("x1", "x2")),
    "Logaddexp2": ("numpy", "logaddexp2", (), ("x1", "x2")),
    "LogicalAnd": ("numpy", "logical_and", (), ("x1", "x2")),
    "LogicalNot": ("numpy", "logical_not", (), ("x",)),
    "LogicalOr": ("numpy", "logical_or", (), ("x1", "x2")),
    "LogicalXor": ("numpy", "logical_xor", (), ("x1", "x2")),
    "Logsumexp": ("math", "logsumexp", ("axis", "keepdims"), ("x",)),
    "Matmul": ("numpy", "matmul", (), ("x1", "x2")),
    "Max": ("numpy", "max", ("axis", "keepdims", "initial"), ("x",)),
    "MaxPool": ("nn", "max_pool", ("pool_size", "strides", "padding", "data_format"), ("inputs",)),
    "Maximum": ("numpy", "maximum", (), ("x1", "x2")),
    "Mean": ("numpy", "mean", ("axis", "keepdims"), ("x",)),
    "Median": ("numpy", "median", ("axis", "keepdims"), ("x",)),
    "Min": ("numpy", "min", ("axis", "keepdims", "initial"), ("x",)),
    "Minimum": ("numpy", "minimum", (), ("x1", "x2")),
    "Mod": ("numpy", "mod", (), ("x1", "x2")),
    "Moveaxis": ("numpy", "moveaxis", ("source", "destination"), ("x",)),
    "Multiply": ("numpy", "multiply", (), ("x1", "x2")),
    "NanToNum": ("numpy", "nan_to_num", ("nan", "posinf", "neginf"), ("x",)),
    "Nanargmax": ("numpy", "nanargmax", ("axis", "keepdims"), ("x",)),
    "Nanargmin": ("numpy", "nanargmin", ("axis", "keepdims"), ("x",)),
    "Nancumprod": ("numpy", "nancumprod", ("axis", "dtype"), ("x",)),
    "Nancumsum": ("numpy", "nancumsum", ("axis", "dtype"), ("x",)),
    "Nanmax": ("numpy", "nanmax", ("axis", "keepdims"), ("x",)),
    "Nanmean": ("numpy", "nanmean", ("axis", "keepdims"), ("x",)),
    "Nanmin": ("numpy", "nanmin", ("axis", "keepdims"), ("x",)),
    "Nanprod": ("numpy", "nanprod", ("axis", "keepdims"), ("x",)),
    "Nanstd": ("numpy", "nanstd", ("axis", "keepdims"), ("x",)),
    "Nansum": ("numpy", "nansum", ("axis", "keepdims"), ("x",)),
    "Nanvar": ("numpy", "nanvar", ("axis", "keepdims"), ("x",)),
    "Negative": ("numpy", "negative", (), ("x",)),
    "Normalize": ("nn", "normalize", ("axis", "order", "epsilon"), ("x",)),
    "NotEqual": ("numpy", "not_equal", (), ("x1", "x2")),
    "OneHot": ("nn", "one_hot", ("num_classes", "axis", "dtype", "sparse"), ("x",)),
    "OnesLike": ("numpy", "ones_like", ("dtype",), ("x",)),
    "Outer": ("numpy", "outer", (), ("x1", "x2")),
    "Pad": ("numpy", "pad", ("pad_width", "mode"), ("x", "constant_values")),
    "PadImages": (
        "image",
        "image.pad_images",
        (
            "top_padding",
            "left_padding",
            "bottom_padding",
            "right_padding",
            "target_height",
            "target_width",
            "data_format",
        ),
        ("images",),
    ),
    "Power": ("numpy", "power", (), ("x1", "x2")),
    "Prod": ("numpy", "prod", ("axis", "keepdims", "dtype"), ("x",)),
    "Ptp": ("numpy", "ptp", ("axis", "keepdims"), ("x",)),
    "Rad2deg": ("numpy", "rad2deg", (), ("x",)),
    "Ravel": ("numpy", "ravel", (), ("x",)),
    "Reciprocal": ("numpy", "reciprocal", (), ("x",)),
    "Relu": ("nn", "relu", (), ("x",)),
    "Relu6": ("nn", "relu6", (), ("x",)),
    "Repeat": ("numpy", "repeat", ("repeats", "axis"), ("x",)),
    "Reshape": ("numpy", "reshape", ("newshape",), ("x",)),
    "Resize": (
        "image",
        "image.resize",
        (
            "size",
            "interpolation",
            "antialias",
            "crop_to_aspect_ratio",
            "pad_to_aspect_ratio",
            "fill_mode",
            "fill_value",
            "data_format",
        ),
        ("images",),
    ),
    "Roll": ("numpy", "roll", ("shift", "axis"), ("x",)),
    "Rot90": ("numpy", "rot90", ("k", "axes"), ("array",)),
    "Round": ("numpy", "round", ("decimals",), ("x",)),
    "Rsqrt": ("math", "rsqrt", (), ("x",)),
    "Selu": ("nn", "selu", (), ("x",)),
    "Sigmoid": ("nn", "sigmoid", (), ("x",)),
    "Sign": ("numpy", "sign", (), ("x",)),
    "Signbit": ("numpy", "signbit", (), ("x",)),
    "Silu": ("nn", "silu", (), ("x",)),
    "Sin": ("numpy", "sin", (), ("x",)),
    "Sinh": ("numpy", "sinh", (), ("x",)),
    "SobelEdges": ("image", "image.sobel_edges", ("data_format",), ("images",)),
    "SoftShrink": ("nn", "soft_shrink", ("threshold",), ("x",)),
    "Softmax": ("nn", "softmax", ("axis",), ("x",)),
    "Softplus": ("nn", "softplus", (), ("x",)),
    "Softsign": ("nn", "softsign", (), ("x",)),
    "Sort": ("numpy", "sort", ("axis",), ("x",)),
    "SpaceToDepth": ("nn", "space_to_depth", ("block_size", "data_format"), ("x",)),
    "SparsePlus": ("nn", "sparse_plus", (), ("x",)),
    "SparseSigmoid": ("nn", "sparse_sigmoid", (), ("x",)),
    "Sparsemax": ("nn", "sparsemax", ("axis",), ("x",)),
    "Split": ("numpy", "split", ("indices_or_sections", "axis"), ("x",)),
    "Sqrt": ("numpy", "sqrt", (), ("x",)),
    "Square": ("numpy", "square", (), ("x",)),
    "Squareplus": ("nn", "squareplus", ("b",), ("x",)),
    "Squeeze": ("numpy", "squeeze", ("axis",), ("x",)),
    "Stack": ("numpy", "stack", ("axis",), ("x",)),
    "Std": ("numpy", "std", ("axis", "keepdims"), ("x",)),
    "StopGradient": ("core", "stop_gradient", (), ("variable",)),
    "Subtract": ("numpy", "subtract", (), ("x1", "x2")),
    "Sum": ("numpy", "sum", ("axis", "keepdims"), ("x",)),
    "Swapaxes": ("numpy", "swapaxes", ("axis1", "axis2"), ("x",)),
    "Take": ("numpy", "take", ("axis",), ("x", "indices")),
    "TakeAlongAxis": ("numpy", "take_along_axis", ("axis",), ("x", "indices")),
    "Tan": ("numpy", "tan", (), ("x",)),
    "Tanh": ("numpy", "tanh", (), ("x",)),
    "TanhShrink": ("nn", "tanh_shrink", (), ("x",)),
    "Tensordot": ("numpy", "tensordot", ("axes",), ("x1", "x2")),
    "Threshold": ("nn", "threshold", ("threshold", "default_value"), ("x",)),
    "Tile": ("numpy", "tile", ("repeats",), ("x",)),
    "Transpose": ("numpy", "transpose", ("axes",), ("x",)),
    "Tril": ("numpy", "tril", ("k",), ("x",)),
    "Triu": ("numpy", "triu", ("k",), ("x",)),
    "TrueDivide": ("numpy", "true_divide", (), ("x1", "x2")),
    "Trunc": ("numpy", "trunc", (), ("x",)),
    "Var": ("numpy", "var", ("axis", "keepdims"), ("x",)),
    "Vdot": ("numpy", "vdot", (), ("x1", "x2")),
    "Vsplit": ("numpy", "vsplit", ("indices_or_sections",), ("x",)),
    "Vstack": ("numpy", "vstack", (), ("xs",)),
    "Where": ("numpy", "where", (), ("condition", "x1", "x2")),
    "ZerosLike": ("numpy", "zeros_like", ("dtype",), ("x",)),
}

_PREFIX = "keras.src.ops."


def is_op_reference(entry: Any) -> bool:
    """Whether a config entry names a class under `keras.src.ops` (an operation node)."""
    module = entry.get("module") if isinstance(entry, dict) else None
    return isinstance(module, str) and (module + ".").startswith(_PREFIX)


def is_allowed(module: Any, class_name: Any) -> bool:
    """Whether `module.class_name` is an operation in `OPERATIONS`, under its own module."""
    spec = OPERATIONS.get(class_name) if isinstance(class_name, str) else None
    return spec is not None and module == _PREFIX + spec[0]


def _function(spec_name: str) -> Any:
    """The (graph-building) `convolve.ops` function called `spec_name`."""
    from convolve import ops

    if spec_name.startswith("image."):
        return getattr(ops.image, spec_name[len("image.") :])
    return getattr(ops, spec_name)


def _raw_functions() -> dict[int, str]:
    """The class name of each function an operation node may hold, by the function's id."""
    from convolve import ops
    from convolve.layers.op_layer import _get_item
    from convolve.ops import _symbolic

    found = {id(_get_item): "GetItem"}
    for module, names in ((ops, ops.__all__), (ops.image, ops.image.__all__)):
        for name in names:
            fn = getattr(module, name)
            raw = getattr(fn, "__wrapped__", fn)
            found.setdefault(id(raw), _symbolic.class_name(name))
    return found


# ===================================================================== writing
def _unsupported(layer: Any, why: str) -> NotImplementedError:
    return NotImplementedError(
        f"Node '{layer.name}' ({type(layer).__name__}) applies the operation "
        f"`{layer.op_name}` to symbolic tensors, and convolve cannot save it in a model file: "
        f"{why}. Use a layer for it (e.g. layers.Lambda), or save the weights alone with "
        "model.save_weights()."
    )


def _bound_arguments(layer: Any, node: Any) -> tuple[tuple, dict[str, Any]]:
    """The operation's class entry and its function's arguments in `node`, by name (symbolic
    tensors where the node's inputs go, constant arrays as tensors)."""
    from convolve.layers.op_layer import _fill

    class_name = type(layer).__name__
    spec = OPERATIONS.get(class_name)
    if spec is None:
        raise _unsupported(layer, f"operation {class_name} has no entry in Keras's format here")
    if _raw_functions().get(id(layer.fn)) != class_name:
        raise _unsupported(layer, "it holds a function other than convolve.ops's")
    values = [node.args] if layer._num_inputs == 1 else list(node.args)
    args, kwargs = _fill(
        layer._template, values, lambda attr, _: getattr(layer, attr).detach().cpu(), None
    )
    signature = inspect.signature(layer.fn)
    bound = signature.bind(*args, **kwargs)
    written = set(spec[2]) | {p.lstrip("*") for p in spec[3]}
    for name, value in bound.arguments.items():
        param = signature.parameters[name]
        if name in written:
            continue
        if param.kind is param.VAR_KEYWORD and not value:
            continue
        if param.default is not param.empty and _same(value, param.default):
            continue
        raise _unsupported(layer, f"Keras's {class_name} has no argument {name}={value!r:.60}")
    bound.apply_defaults()
    return spec, dict(bound.arguments)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a is b or a == b)
    except Exception:  # noqa: BLE001 - arrays and tensors compare elementwise
        return False


def _static(layer: Any, name: str, value: Any) -> Any:
    """A config argument as JSON (tuples as lists, dtypes as names)."""
    if name == "dtype" and value is not None:
        from convolve.ops._dtypes import standardize_dtype

        return standardize_dtype(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list):
        return [_static(layer, name, v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise _unsupported(layer, f"its argument {name} is a {type(value).__name__}, not a constant")


def _encode(value: Any, encode_tensor: Any) -> Any:
    """A call argument as Keras writes it: tensors as references, arrays as `__numpy__`,
    slices as `__slice__`, Ellipsis as `__ellipsis__`."""
    from convolve.layers.symbolic import KerasTensor

    if isinstance(value, KerasTensor):
        return encode_tensor(value)
    if isinstance(value, torch.Tensor | np.ndarray):
        from convolve.ops._dtypes import standardize_dtype

        array = value.numpy() if isinstance(value, torch.Tensor) else value
        if array.ndim == 0:
            return array.item()
        config = {"value": array.tolist(), "dtype": standardize_dtype(array.dtype)}
        return {"class_name": "__numpy__", "config": config}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, slice):
        bounds = {k: _encode(getattr(value, k), encode_tensor) for k in ("start", "stop", "step")}
        return {"class_name": "__slice__", "config": bounds}
    if value is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(value, list | tuple):
        return [_encode(v, encode_tensor) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v, encode_tensor) for k, v in value.items()}
    return value


def op_config(layer: Any, node: Any = None) -> dict[str, Any]:
    """The operation's `config` as Keras writes it: its name and the static arguments of
    `node` (its first call by default)."""
    spec, arguments = _bound_arguments(layer, node or layer._inbound_nodes[0])
    config = {"name": layer.name}
    for name in spec[2]:
        config[name] = _static(layer, name, arguments[name])
    return json.loads(json.dumps(config))


def op_entry(layer: Any, nodes: list[Any], encode_tensor: Any) -> dict[str, Any]:
    """An operation node's layer entry in a functional config, with its calls `nodes`."""
    class_name = type(layer).__name__
    inbound = []
    for node in nodes:
        spec, arguments = _bound_arguments(layer, node)
        args: list[Any] = []
        for name in spec[3]:
            if name.startswith("*"):
                args.extend(arguments[name[1:]])
            else:
                args.append(arguments[name])
        inbound.append({"args": tuple(_encode(args, encode_tensor)), "kwargs": {}})
    return {
        "module": _PREFIX + OPERATIONS[class_name][0],
        "class_name": class_name,
        "config": op_config(layer, nodes[0] if nodes else None),
        "registered_name": class_name,
        "name": layer.name,
        "inbound_nodes": inbound,
    }


# ===================================================================== reading
def decode_value(value: Any, ctx: Any, where: str) -> Any:
    """A non-tensor call argument as written by Keras (slices, Ellipsis, arrays)."""
    from convolve.saving import objects

    if not isinstance(value, dict) or "class_name" not in value:
        return objects.plain_value(value, ctx, where)
    name = value.get("class_name")
    config = value.get("config") or {}
    if name == "__ellipsis__":
        return Ellipsis
    if name == "__slice__" and isinstance(config, dict):
        parts = [
            decode_value(config.get(k), ctx, f"{where}.{k}") for k in ("start", "stop", "step")
        ]
        if not all(p is None or (isinstance(p, int) and not isinstance(p, bool)) for p in parts):
            raise ctx.error(where, f"slice bounds must be integers or null, found {parts}")
        return slice(*parts)
    if name in ("__numpy__", "__tensor__") and isinstance(config, dict):
        try:
            return np.array(config.get("value"), dtype=config.get("dtype"))
        except (TypeError, ValueError) as err:
            raise ctx.error(where, f"malformed array: {err}") from None
    return objects.plain_value(value, ctx, where)


class OpCall:
    """An operation entry read from a config: calling it on the decoded node arguments
    records the node (named as in the file) through the `convolve.ops` function."""

    is_operation = True

    def __init__(self, class_name: str, config: dict[str, Any], name: str) -> None:
        self.class_name = class_name
        self.config = config
        self.name = name
        self._layers: list[Any] = []

    @property
    def _inbound_nodes(self) -> list[Any]:
        return [node for layer in self._layers for node in layer._inbound_nodes]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from convolve import _tree
        from convolve.layers.op_layer import named_node
        from convolve.layers.symbolic import KerasTensor

        _, fn_name, _, call_params = OPERATIONS[self.class_name]
        values: dict[str, Any] = {}
        rest: list[Any] = []
        positional = list(args)
        for param in call_params:
            if param.startswith("*"):
                rest, positional = positional, []
                break
            if positional:
                values[param] = positional.pop(0)
        if positional:
            raise TypeError(f"{self.class_name} takes {len(call_params)} arguments")
        for key, value in kwargs.items():
            if key not in call_params or key in values:
                raise TypeError(f"{self.class_name} got an unexpected argument '{key}'")
            values[key] = value
        # Loading may build layers on the meta device; an operation holds no weights, and
        # the constants it makes while tracing its output shape must hold values.
        with named_node(self.name), torch.device("cpu"):
            if self.class_name == "GetItem":
                key = values.get("key")
                out = values["x"][tuple(key) if isinstance(key, list) else key]
            else:
                out = _call(_function(fn_name), {**self.config, **values}, rest)
        tensors = [t for t in _tree.flatten(out) if isinstance(t, KerasTensor)]
        if not tensors or tensors[0]._keras_history is None:
            raise TypeError(f"{self.class_name} was given no symbolic tensor")
        self._layers.append(tensors[0]._keras_history.layer)
        return out


def _call(fn: Any, arguments: dict[str, Any], rest: list[Any]) -> Any:
    """`fn` with `arguments` by name, positionally where its signature needs (`rest` fills
    its `*args`)."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    by_name = False  # after a skipped argument, the later ones go by name
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind is param.VAR_POSITIONAL:
            args.extend(rest)
        elif param.kind is param.VAR_KEYWORD:
            continue
        elif name in arguments:
            if by_name or param.kind is param.KEYWORD_ONLY:
                kwargs[name] = arguments[name]
            else:
                args.append(arguments[name])
        elif param.default is param.empty:
            raise TypeError(f"missing argument '{name}'")
        else:
            by_name = True
    return fn(*args, **kwargs)


def op_from_entry(entry: dict[str, Any], ctx: Any, where: str) -> OpCall:
    """The operation an (audited) layer entry names, ready to be called on its node."""
    from convolve.saving import objects

    class_name, module = entry.get("class_name"), entry.get("module")
    if not is_allowed(module, class_name):
        raise ctx.error(where, f"operation '{module}.{class_name}' is not supported in convolve")
    config = entry.get("config") or {}
    if not isinstance(config, dict):
        raise ctx.error(f"{where}.config", f"expected a dict, found {config!r:.100}")
    static = OPERATIONS[class_name][2]
    values = {}
    for key, value in config.items():
        if key == "name":
            continue
        if key not in static:
            raise ctx.error(
                f"{where}.config.{key}",
                f"{class_name} takes no argument '{key}' (received {key}={value!r:.100})",
            )
        values[key] = objects.plain_value(value, ctx, f"{where}.config.{key}")
    name = entry.get("name", config.get("name"))
    if not isinstance(name, str):
        raise ctx.error(where, f"an operation node needs a name, found {name!r}")
    return OpCall(class_name, values, name)
