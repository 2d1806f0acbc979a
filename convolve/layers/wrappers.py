"""Layers around user code: `Lambda` (a function) and `TorchModuleWrapper` (a torch module).

Neither can be rebuilt from its config without running stored code (Python bytecode or a
pickled module), so `from_config` accepts only a live function or module; the configs
still record what Keras records, for inspection.
"""

from __future__ import annotations

import base64
import codecs
import inspect
import io
import marshal
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from convolve import _tree
from convolve.layers import _conv_utils as cu
from convolve.layers import layout
from convolve.layers.base import Layer, WeightSpec, map_shapes, stateless, torch_dtype

# Sizes given to unknown (None) axes when an output shape is found by running the layer;
# an output axis whose size differs between the two runs is reported as unknown.
_PROBE_SIZES = (32, 33)
_PROBE_BATCH = 2


def traced_output_shape(layer: Layer, input_shape: Any) -> Any:
    """The Keras output shape(s) of `layer` found by running it on zeros.

    Unknown axes are tried at two sizes; axes of the output that follow them come back as
    None. The batch axis is None unless the input's batch size is known.
    """
    leaves: list[tuple] = []
    map_shapes(leaves.append, input_shape)
    batch = next((s[0] for s in leaves if s and s[0] is not None), None)
    unknown = any(d is None for s in leaves for d in s[1:])
    runs = [_run_on_zeros(layer, input_shape, size, batch) for size in _PROBE_SIZES[: 1 + unknown]]
    flat = [_tree.flatten(run) for run in runs]

    def merge(index: int) -> tuple:
        shapes = [tuple(run[index].shape) for run in flat]
        if len({len(s) for s in shapes}) != 1:
            raise ValueError(f"the output rank depends on the input size: {shapes}")
        columns = list(zip(*shapes, strict=True))[1:]
        return (batch, *(sizes[0] if len(set(sizes)) == 1 else None for sizes in columns))

    merged = [merge(i) for i in range(len(flat[0]))]
    return _tree.pack_like(runs[0], merged)


def _run_on_zeros(layer: Layer, input_shape: Any, size: int, batch: int | None) -> Any:
    dtype = torch_dtype(layer.dtype)

    def zeros(shape: tuple) -> torch.Tensor:
        dims = [batch or _PROBE_BATCH] + [size if d is None else d for d in shape[1:]]
        return torch.zeros(dims, dtype=dtype)

    inputs = layer._place(map_shapes(zeros, input_shape))
    if layer._engine_layout:
        inputs = _tree.map_structure(layout.to_engine, inputs)
    with torch.no_grad(), stateless():  # Keras traces on symbolic tensors: no state moves
        out = layer._invoke(inputs, (), {}, False)
    return _tree.map_structure(layout.to_user, out) if layer._engine_layout else out


def _cannot_infer(layer: Layer, err: Exception) -> NotImplementedError:
    error = NotImplementedError(
        f"Layer '{layer.name}' ({type(layer).__name__}): could not infer the output shape by "
        f"running the layer ({type(err).__name__}: {err}). Pass `output_shape`."
    )
    error.__cause__ = err
    return error


def _serialize_function(fn: Callable) -> dict[str, Any]:
    """Keras's config of a function: the bytecode of a lambda, the name of a named one."""
    if isinstance(fn, types.LambdaType) and fn.__name__ == "<lambda>":
        code = codecs.encode(marshal.dumps(fn.__code__), "base64").decode("ascii")
        closure = (
            [_serialize_captured(c.cell_contents) for c in fn.__closure__]
            if fn.__closure__
            else None
        )
        defaults = [_serialize_captured(d) for d in fn.__defaults__] if fn.__defaults__ else None
        return {
            "class_name": "__lambda__",
            "config": {"code": code, "defaults": defaults, "closure": closure},
        }
    name = getattr(fn, "__name__", type(fn).__name__)
    return {
        "module": getattr(fn, "__module__", None),
        "class_name": "function",
        "config": name,
        "registered_name": name,
    }


def _serialize_captured(value: Any) -> Any:
    """A value a lambda captures (closure cell or default) as Keras's configs write it: a
    module by its name, a function by its config, an array as `__numpy__`."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, types.ModuleType):
        return {
            "module": "builtins",
            "class_name": "module",
            "config": value.__name__,
            "registered_name": "module",
        }
    if isinstance(value, list | tuple):
        return [_serialize_captured(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _serialize_captured(v) for k, v in value.items()}
    if isinstance(value, torch.Tensor | np.ndarray | np.generic):
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        array = np.asarray(array)
        if array.ndim == 0:
            return array.item()
        return {
            "class_name": "__numpy__",
            "config": {"value": array.tolist(), "dtype": str(array.dtype)},
        }
    if callable(value):
        return _serialize_function(value)
    raise ValueError(
        "Lambda: the function captures a value that cannot be written to a config, "
        f"received {type(value).__name__}: {value!r}. Pass it through `arguments` or use a "
        "Layer subclass."
    )


def _refuse_stored_code(owner: str, argument: str) -> ValueError:
    return ValueError(
        f"{owner}.from_config: `{argument}` is stored as code (bytecode, a name to import "
        "or a pickle), which convolve does not load from configs because loading it could "
        f"run arbitrary code. Construct the layer with the live {argument} instead."
    )


class Lambda(Layer):
    """Wraps a function of tensors as a layer, as `keras.layers.Lambda` does.

    The function receives Keras-layout (channels-last) tensors, exactly as in Keras, and
    returns Keras-layout tensors; inside a model the conversion around it is automatic.
    Prefer a `Layer` subclass for anything reusable: a Lambda cannot be saved to a model
    file without storing code.

    Args:
        function: called as `function(inputs, **arguments)`; it also receives
            `training=` if it has a `training` parameter, and `mask=None` if it has a
            `mask` parameter.
        output_shape: None to infer the output shape by running the function on zeros;
            a shape without the batch axis (e.g. `(10,)`), or a structure of them; or a
            callable from the full input shape to the full output shape.
        mask: the output's mask: a callable `mask(inputs, previous_mask)`, or a tensor
            given as it is. None (the default): the layer drops masks, as in Keras.
        arguments: keyword arguments passed to `function` on every call.
        **kwargs: base layer arguments (`name`, `dtype`, `input_shape`, ...).

    Example:
        >>> import torch
        >>> from convolve.layers.wrappers import Lambda
        >>> layer = Lambda(lambda x, scale: x * scale, arguments={"scale": 3.0})
        >>> layer(torch.ones(1, 2)).tolist()
        [[3.0, 3.0]]
        >>> layer.compute_output_shape((None, 8, 8, 3))
        (None, 8, 8, 3)
    """

    def __init__(
        self,
        function: Callable,
        output_shape: Any = None,
        mask: Any = None,
        arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        check = cu.ArgumentErrors("Lambda")
        if not callable(function):
            check.add(f"function must be callable, received function={function!r}")
        if arguments is not None and not isinstance(arguments, dict):
            check.add(f"arguments must be a dict or None, received arguments={arguments!r}")
        if not (
            output_shape is None or callable(output_shape) or _is_shape_structure(output_shape)
        ):
            check.add(
                "output_shape must be None, a shape (without the batch axis), a structure of "
                f"shapes or a callable, received output_shape={output_shape!r}"
            )
        check.raise_if_any()
        super().__init__(**kwargs)
        self.function = function
        self.arguments = dict(arguments or {})
        self.mask = mask
        self._output_shape = output_shape
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):  # some builtins have no signature
            parameters = {}
        self._fn_expects_training = "training" in parameters
        self._fn_expects_mask = "mask" in parameters
        self.supports_masking = mask is not None

    def call(self, inputs: Any, mask: Any = None, training: bool = False) -> Any:
        kwargs = dict(self.arguments)
        if self._fn_expects_mask:
            kwargs["mask"] = mask
        if self._fn_expects_training:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return self.mask(inputs, mask) if callable(self.mask) else self.mask

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self._output_shape is None:
            try:
                return traced_output_shape(self, input_shape)
            except Exception as err:  # whatever the user's function raised
                raise _cannot_infer(self, err) from err
        if callable(self._output_shape):
            return self._output_shape(input_shape)
        leaves: list[tuple] = []
        map_shapes(leaves.append, input_shape)
        batch = leaves[0][0] if leaves and leaves[0] else None
        return map_shapes(lambda s: (batch, *s), _as_shape_structure(self._output_shape))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["function"] = _serialize_function(self.function)
        if self._output_shape is not None:
            config["output_shape"] = (
                _serialize_function(self._output_shape)
                if callable(self._output_shape)
                else self._output_shape
            )
        if self.mask is not None:
            config["mask"] = _serialize_function(self.mask) if callable(self.mask) else self.mask
        config["arguments"] = dict(self.arguments)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Lambda:
        """Rebuilds a Lambda whose `function` (and callable `output_shape`) are live callables.

        Raises:
            ValueError: if the function or output_shape is a stored config, since loading it
                would mean running stored code.
        """
        config = dict(config)
        if not callable(config.get("function")):
            raise _refuse_stored_code("Lambda", "function")
        output_shape = config.get("output_shape")
        if isinstance(output_shape, dict):
            raise _refuse_stored_code("Lambda", "output_shape")
        if output_shape is not None and not callable(output_shape):
            config["output_shape"] = _as_shape_structure(output_shape)
        return cls(**config)


def _is_dim(value: Any) -> bool:
    return value is None or (cu.is_int(value) and value >= 0)


def _is_shape_structure(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return all(_is_dim(v) for v in value) or all(_is_shape_structure(v) for v in value)
    return False


def _as_shape_structure(value: Any) -> Any:
    """Lists from a JSON round trip back to tuples, for shapes and structures of them."""
    if isinstance(value, list | tuple) and all(_is_dim(v) for v in value):
        return tuple(value)
    return type(value)(_as_shape_structure(v) for v in value)


class Wrapper(Layer):
    """The base of layers that wrap another layer (`layer`) to change what it does, as
    `keras.layers.Wrapper` is: a subclass writes `call` (usually calling `self.layer`).

    The wrapped layer's weights are the wrapper's; `build` builds the wrapped layer for
    the wrapper's input shape, and the config holds the wrapped layer's.

    Args:
        layer: The layer to wrap.
        **kwargs: Base layer arguments.
    """

    def __init__(self, layer: Any, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            raise ValueError(
                f"Layer {layer!r} supplied to Wrapper isn't a supported layer type; the "
                "wrapped layer must be a convolve layer."
            )
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape: Any = None) -> None:
        if not self.layer.built:
            self.layer.build_for(input_shape)
        self.built = True

    def get_config(self) -> dict[str, Any]:
        from convolve.saving import serialize_keras_object

        return {**super().get_config(), "layer": serialize_keras_object(self.layer)}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Wrapper:
        from convolve.saving import deserialize_keras_object

        config = dict(config)
        layer = config.pop("layer")
        if not isinstance(layer, Layer):  # the model-file loader hands over a live layer
            layer = deserialize_keras_object(layer, custom_objects=custom_objects)
        return cls(layer, **config)


class TorchModuleWrapper(Layer):
    """Makes any `torch.nn.Module` a layer, as `keras.layers.TorchModuleWrapper` does.

    The module's parameters become the layer's weights, in `module.parameters()` order:
    they count in `count_params()` and `summary()`, appear in `get_weights()` (torch's own
    layout), and are trained by `fit` (those with `requires_grad=False` when wrapped are
    non-trainable). Buffers (e.g. BatchNorm statistics) stay the module's own, as in Keras.
    The module runs in training mode during `fit` and in eval mode otherwise.

    Layout: a torch module expects channels-first images, so by default
    (`input_layout="channels_first"`) it receives the engine's tensors directly, with no
    conversion: a `(batch, height, width, channels)` model input reaches it as
    `(batch, channels, height, width)`, and an output of rank 3 or more is taken to be
    channels-first too (it is shown to users channels-last). Rank-2 tensors are
    `(batch, features)` either way. With `input_layout="channels_last"` the module receives
    and returns Keras-layout tensors instead, like a user's `Layer` subclass. (In Keras the
    module sees whatever layout the data has; there images are usually channels-last.)

    Args:
        module: the `torch.nn.Module` to wrap; a lazy module must be initialized first.
        name: the layer's name.
        output_shape: the Keras-layout output shape, batch included; None to infer it by
            running the module on zeros.
        input_layout: `"channels_first"` (default) or `"channels_last"`, see above.
        **kwargs: base layer arguments (`dtype`, `trainable`, `input_shape`, ...).

    Example:
        >>> import torch
        >>> from convolve.layers.wrappers import TorchModuleWrapper
        >>> layer = TorchModuleWrapper(torch.nn.Conv2d(3, 8, kernel_size=3))
        >>> layer(torch.zeros(2, 28, 28, 3)).shape  # channels-last in and out
        torch.Size([2, 26, 26, 8])
        >>> layer.compute_output_shape((None, 28, 28, 3))
        (None, 26, 26, 8)
        >>> layer.count_params()
        224
    """

    _built_at_init = True

    def __init__(
        self,
        module: nn.Module,
        name: str | None = None,
        output_shape: Any = None,
        input_layout: str = "channels_first",
        **kwargs: Any,
    ) -> None:
        check = cu.ArgumentErrors("TorchModuleWrapper")
        if not isinstance(module, nn.Module):
            check.add(f"module must be a torch.nn.Module, received module={module!r}")
        elif isinstance(module, nn.modules.lazy.LazyModuleMixin) and (
            module.has_uninitialized_params()
        ):
            check.add(
                "a lazy module must be initialized (called once) before it is wrapped, "
                f"received module={type(module).__name__} with uninitialized parameters"
            )
        if input_layout not in ("channels_first", "channels_last"):
            check.add(
                "input_layout must be 'channels_first' or 'channels_last', received "
                f"input_layout={input_layout!r}"
            )
        if not (output_shape is None or _is_shape_structure(output_shape)):
            check.add(
                f"output_shape must be None or a shape, received output_shape={output_shape!r}"
            )
        check.raise_if_any()
        super().__init__(name=name, **kwargs)
        self.module = module
        self.input_layout = input_layout
        self._engine_layout = input_layout == "channels_first"
        self.output_shape = None if output_shape is None else _as_shape_structure(output_shape)
        self._weight_specs = [
            WeightSpec(path, path, parameter.requires_grad, None)
            for path, parameter in module.named_parameters()
        ]

    def _own_weights(self, trainable: bool | None = None) -> list[tuple[WeightSpec, torch.Tensor]]:
        parameters = dict(self.module.named_parameters())
        pairs = [(s, parameters[s.attr]) for s in self._weight_specs if s.attr in parameters]
        ordered = [p for p in pairs if p[0].trainable] + [p for p in pairs if not p[0].trainable]
        return [p for p in ordered if trainable is None or p[0].trainable == trainable]

    def call(self, inputs: Any, training: bool = False) -> Any:
        if self.module.training != training:
            self.module.train(training)
        return self.module(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self.output_shape is not None:
            return self.output_shape
        try:
            return traced_output_shape(self, input_shape)
        except Exception as err:  # whatever the module raised
            raise _cannot_infer(self, err) from err

    def get_config(self) -> dict[str, Any]:
        """Keras's config: the module pickled by `torch.save`, base64-encoded."""
        buffer = io.BytesIO()
        torch.save(self.module, buffer)
        return {
            **super().get_config(),
            "module": base64.b64encode(buffer.getvalue()).decode("ascii"),
            "output_shape": self.output_shape,
            "input_layout": self.input_layout,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TorchModuleWrapper:
        """Rebuilds the wrapper around a live module; a pickled one is refused.

        Raises:
            ValueError: if `config["module"]` is not a `torch.nn.Module` (a pickle would run
                code when loaded).
        """
        if not isinstance(config.get("module"), nn.Module):
            raise _refuse_stored_code("TorchModuleWrapper", "module")
        return cls(**config)
