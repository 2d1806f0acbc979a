"""`Layer`: a `torch.nn.Module` with Keras's build/call/shape/config contract.

Built-in layers compute in the engine layout (channels-first for tensors of rank >= 3, see
`layout.py`) and declare it with `_engine_layout = True`. A user's own `Layer` subclass
receives Keras-layout tensors in `call`, exactly as in Keras; the model converts around it.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import math
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from convolve import _masks as masks
from convolve import _tree, constraints, initializers, regularizers
from convolve.data.data_tensor import from_array, plain
from convolve.layers import auto_config, layout, naming, tf_data, tracking
from convolve.layers.input_spec import assert_input_compatibility
from convolve.layers.layout import engine_memory_format as _engine_memory_format
from convolve.layers.naming import to_snake_case, unique_name
from convolve.layers.symbolic import KerasHistory, KerasTensor, Node, is_symbolic

_DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    # Integer and boolean layers: inputs of token ids or masks (`Input(dtype="int32")`).
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
}


# Mixed policies and the dtype their layers keep weights in.
_MIXED_POLICIES = {"mixed_float16": "float32", "mixed_bfloat16": "float32"}


def _unwrap_policy(dtype: Any) -> Any:
    """A dtype policy's name from its serialized dict (Keras's get_config form) or object."""
    if isinstance(dtype, dict) and dtype.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
        return (dtype.get("config") or {}).get("name", dtype)
    return getattr(dtype, "name", dtype) if type(dtype).__name__.endswith("DTypePolicy") else dtype


def standardize_dtype(dtype: Any) -> str:
    """Returns the Keras name of a dtype given as name, torch or numpy dtype; for a dtype
    policy (name, object or serialized dict), the dtype its weights are kept in."""
    if dtype is None:
        return "float32"
    dtype = _unwrap_policy(dtype)
    if isinstance(dtype, torch.dtype):
        for name, value in _DTYPES.items():
            if value is dtype:
                return name
    name = getattr(dtype, "name", dtype)
    if isinstance(name, str) and name in _DTYPES:
        return name
    if isinstance(name, str) and name in _MIXED_POLICIES:
        return _MIXED_POLICIES[name]
    raise ValueError(f"Unsupported dtype {dtype!r}; use one of {', '.join(_DTYPES)}.")


def policy_name(dtype: Any) -> str:
    """The name of the dtype policy a layer made with `dtype` follows: a dtype name or a
    mixed policy's; None is the global policy, read when the layer is made (as in Keras)."""
    if dtype is None:
        from convolve import mixed_precision  # imports the optimizers, which import this

        return mixed_precision.global_policy().name
    name = _unwrap_policy(dtype)
    return name if isinstance(name, str) and name in _MIXED_POLICIES else standardize_dtype(dtype)


def policy_config(name: str, class_name: str = "DTypePolicy") -> dict[str, Any]:
    """Keras's serialized dtype policy of dtype `name`, which `standardize_dtype` reads back
    (any dtype: integer layers write theirs too)."""
    return {
        "module": "keras",
        "class_name": class_name,
        "config": {"name": name},
        "registered_name": None,
    }


def torch_dtype(name: str) -> torch.dtype:
    return _DTYPES[name]


def is_string_dtype(dtype: Any) -> bool:
    """Whether `dtype` names Keras's `"string"` dtype (also given as `str`, or a NumPy
    str/bytes dtype): inputs of text, held as NumPy arrays, never as tensors."""
    if dtype is str or dtype is bytes:
        return True
    if isinstance(dtype, np.dtype):
        return dtype.kind in "US"
    return getattr(dtype, "name", dtype) in ("string", "str")


def is_string_array(x: Any) -> bool:
    """A NumPy array of text: `str`, `bytes`, or Python objects (strings)."""
    return isinstance(x, np.ndarray) and x.dtype.kind in "OUS"


@dataclass
class WeightSpec:
    """How one Keras variable is held: its attribute, torch layout and penalties."""

    name: str
    attr: str
    trainable: bool
    layout: tuple[int, ...] | None  # permutation from Keras order to torch storage order
    regularizer: Any = None
    constraint: Any = None
    path: str | None = None  # Keras's path (the layers it was built in, then its name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "regularizer" and value is not None:
            _note_loss_source()
        object.__setattr__(self, name, value)


# Set while a model builds by running its `call` once (`stateless`): Keras builds on symbolic
# tensors, where a layer's `assign_add` in `call` changes nothing.
_STATELESS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "convolve_stateless", default=False
)


@contextlib.contextmanager
def stateless() -> Iterator[None]:
    """Weights' `assign`, `assign_add` and `assign_sub` change nothing inside (their values
    are still checked), as variable updates in Keras's symbolic build pass."""
    token = _STATELESS.set(True)
    try:
        yield
    finally:
        _STATELESS.reset(token)


class Weight(nn.Parameter):
    """A layer's weight: a plain `nn.Parameter` to torch (a buffer when not trainable), with
    the surface of Keras's Variable (`value`, `name`, `path`, `numpy()`, `assign`), so that
    code written for Keras's torch backend (`v.value.grad` in a custom `train_step`,
    `layer.kernel.numpy()`) runs as it is. `numpy()` and `assign` use Keras's axis order,
    as `get_weights` does; the tensor itself (and its `shape`) keeps torch's."""

    @property
    def value(self) -> nn.Parameter:
        """The tensor itself, in torch's layout (gradients live on it)."""
        return self

    @property
    def name(self) -> str | None:
        """Keras's name: `kernel`, `bias`, ..."""
        return self.__dict__.get("_keras_name")

    @property
    def trainable(self) -> bool:
        """Whether training updates it."""
        return self.__dict__.get("_trainable", self.requires_grad)

    @property
    def path(self) -> str | None:
        """Keras's path: the layers (and name scopes) it was built in, then its name."""
        return self.__dict__.get("_keras_path", self.name)

    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The value as a NumPy array in Keras's axis order (copied to the host)."""
        del force
        return keras_view(self.detach().cpu(), self.__dict__.get("_keras_layout")).numpy()

    def _coerce(self, value: Any) -> torch.Tensor:
        if isinstance(value, torch.Tensor):
            value = value.detach()
        tensor = torch.as_tensor(value, dtype=self.dtype, device=self.device)
        layout = self.__dict__.get("_keras_layout")
        keras_shape = tuple(keras_view(self, layout).shape)
        if tuple(tensor.shape) != keras_shape:
            raise ValueError(
                f"The shape of the target variable and the shape of the target value in "
                f"`variable.assign(value)` must match. variable.shape={keras_shape}, "
                f"Received: value.shape={tuple(tensor.shape)}. Target variable: {self.name}"
            )
        return tensor if layout is None else tensor.permute(*layout)

    def assign(self, value: Any) -> Weight:
        """Overwrites the value in place (`value` in Keras's axis order)."""
        value = self._coerce(value)
        if not _STATELESS.get():
            with torch.no_grad():
                self.copy_(value)
        return self

    def assign_add(self, value: Any) -> Weight:
        """Adds `value` in place."""
        value = self._coerce(value)
        if not _STATELESS.get():
            with torch.no_grad():
                self.add_(value)
        return self

    def assign_sub(self, value: Any) -> Weight:
        """Subtracts `value` in place."""
        value = self._coerce(value)
        if not _STATELESS.get():
            with torch.no_grad():
                self.sub_(value)
        return self

    def __repr__(self) -> str:
        value = self.numpy()
        return (
            f"<Variable path={self.path}, shape={value.shape}, "
            f"dtype={standardize_dtype(self.dtype)}, value={value}>"
        )

    def __deepcopy__(self, memo: dict) -> Weight:
        copy = super().__deepcopy__(memo)
        copy.__dict__.update(self.__dict__)  # Keras's name, path and layout
        return copy


def _with_keras_surface(weight: Weight, spec: WeightSpec) -> Weight:
    weight._keras_name = spec.name
    weight._keras_path = spec.path
    if spec.layout is not None:  # Keras's axis order: numpy(), assign, Adafactor's axes
        weight._keras_layout = spec.layout
    return weight


class _KerasLayoutConstraint:
    """A constraint applied to a weight seen in Keras's layout (its `axis` is Keras's)."""

    def __init__(self, constraint: Any, layout: tuple[int, ...] | None) -> None:
        self.constraint = constraint
        self.layout = layout
        self.inverse = None if layout is None else _inverse(layout)

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        keras_view = weight if self.inverse is None else weight.permute(*self.inverse)
        projected = torch.as_tensor(self.constraint(keras_view), dtype=weight.dtype)
        return projected if self.layout is None else projected.permute(*self.layout)


class _CallContext:
    """The `training` flag of the outermost layer call, handed down to nested calls."""

    __slots__ = ("training",)

    def __init__(self) -> None:
        self.training: bool | None = None


# Layers holding losses from `add_loss`, cleared when a call that contains them begins
# (empty, the common case, costs nothing per call).
_ADDED_LOSS_HOLDERS: weakref.WeakSet = weakref.WeakSet()

# Whether any layer in the process may ever report a loss: set for good once a weight with
# a regularizer, an activity regularizer, an `add_loss` or a class with its own `losses`
# appears. While it is unset, `Layer.losses` is empty without walking the sublayers.
_LOSS_SOURCES_SEEN = False


def _note_loss_source() -> None:
    global _LOSS_SOURCES_SEEN
    _LOSS_SOURCES_SEEN = True


_CALL_CONTEXT: contextvars.ContextVar[_CallContext | None] = contextvars.ContextVar(
    "convolve_layer_call", default=None
)


def _in_name_scope(build: Callable) -> Callable:
    """`build` as Keras runs it: in the layer's name scope (the weights it creates, and
    those of the sublayers it builds, get Keras's paths, `block/query/kernel`), and
    marking the layer built."""

    @functools.wraps(build)
    def scoped(self: Layer, *args: Any, **kwargs: Any) -> Any:
        with naming.scope(self.name, owner=self):
            result = build(self, *args, **kwargs)
        # Built now, also when user code calls `build` itself: a later call must not build
        # (and create the weights) again.
        if self.__dict__.get("_build_input_shape") is None and args and args[0] is not None:
            self._build_input_shape = args[0]
        self.built = True
        return result

    scoped._in_name_scope = True
    return scoped


class Layer(nn.Module):
    """Base class of every convolve layer (and of models).

    Args:
        trainable: whether the layer's weights are updated by training.
        name: the layer's name; unique per process by default (`conv2d`, `conv2d_1`, ...).
        dtype: the dtype of weights and computation (`"float32"` by default).
        input_shape: shape of one sample, for the first layer of a Sequential model.
        activity_regularizer: penalty on the layer's output, added to the loss.
    """

    _engine_layout = False  # built-in layers compute on channels-first tensors
    # True: the layer (a lookup, a model with a string Input) takes NumPy arrays of
    # strings, handed to it untouched instead of converted to tensors.
    _takes_strings = False
    _checks_own_input_shape = False  # True: the layer reports a changed input shape itself
    _built_at_init = False  # weightless layers Keras marks as built when constructed
    input_ndim: int | None = None  # exact input rank this layer accepts, if fixed
    min_input_ndim: int | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "losses" in cls.__dict__:
            _note_loss_source()
        build = cls.__dict__.get("build")
        if build is not None and not hasattr(build, "_in_name_scope"):
            cls.build = _in_name_scope(build)

    def __new__(cls, *args: Any, **kwargs: Any) -> Layer:
        layer = super().__new__(cls)
        # Keras records a layer's constructor arguments for the config of user classes
        # that do not write `get_config`; see `auto_config`.
        object.__setattr__(layer, "_auto_config", auto_config.capture(cls, args, kwargs))
        return layer

    def __init__(
        self,
        *,
        trainable: bool = True,
        name: str | None = None,
        dtype: Any = None,
        input_shape: Sequence[int | None] | None = None,
        batch_size: int | None = None,
        input_dim: int | None = None,
        batch_input_shape: Sequence[int | None] | None = None,
        activity_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        kwargs.pop("autocast", None)
        if kwargs:
            raise ValueError(
                f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}"
            )
        if name is not None and not isinstance(name, str):
            raise ValueError(f"{type(self).__name__}: `name` must be a string, got {name!r}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._policy_name = policy_name(dtype)
        self._dtype = standardize_dtype(self._policy_name)  # the weights' dtype
        self._trainable = bool(trainable)
        self.built = self._built_at_init
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._weight_specs: list[WeightSpec] = []
        self._inbound_nodes: list[Node] = []
        self._build_input_shape: Any = None
        self._activity_losses: list[torch.Tensor] = []
        self._activity_layers: list[Layer] | None = None  # found on first call
        call_params = inspect.signature(self.call).parameters
        self._call_takes_training = "training" in call_params
        self._call_takes_mask = "mask" in call_params
        # Keras: a call without `training` uses each layer's own default (augmentation
        # layers augment, Dropout does not).
        default = call_params["training"].default if self._call_takes_training else False
        if not hasattr(type(self), "_default_training"):
            self._default_training = default if isinstance(default, bool | None) else False
        # A shape given on the layer itself makes it the first layer of a Sequential model.
        self._declared_input_shape: tuple | None = None
        if batch_input_shape is not None:
            self._declared_input_shape = tuple(batch_input_shape)
        elif input_shape is not None:
            self._declared_input_shape = (batch_size, *tuple(input_shape))
        elif input_dim is not None:
            self._declared_input_shape = (batch_size, input_dim)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "activity_regularizer" and value is not None:
            _note_loss_source()
        modules = self.__dict__.get("_modules")
        if modules is not None and name in modules and name in self.__dict__:
            del modules[name]  # a tracked container's registration; see below
        if (
            modules is not None
            and not name.startswith("_")
            and isinstance(value, list | tuple | dict)
        ):
            # Layers in lists and dicts are tracked, as in Keras (see `tracking`).
            object.__setattr__(self, name, tracking.track(self, name, value))
            return
        aliases = self.__dict__.get("_weight_aliases")
        if aliases is not None:
            aliases.pop(name, None)
        if isinstance(value, torch.Tensor) and getattr(value, "_keras_name", None):
            held_as = self._held_as(value)
            if held_as is not None and held_as != name:
                # `self.w = self.add_weight(...)`: the layer's own weight under a second name
                # stays one weight (as in Keras), found through its first name, so that
                # moving the layer (which replaces buffers) cannot leave `self.w` behind.
                for registry in (self._parameters, self._buffers, self.__dict__):
                    registry.pop(name, None)
                self.__dict__.setdefault("_weight_aliases", {})[name] = held_as
                return
        super().__setattr__(name, value)
        if isinstance(value, nn.Parameter) and getattr(value, "_keras_name", None):
            # A `convolve.Variable`, or another layer's weight (tied weights), set as an
            # attribute is one of the layer's weights, in its own Keras axis order.
            specs = self.__dict__.get("_weight_specs")
            if (
                specs is not None
                and name in self._parameters
                and name not in {spec.attr for spec in specs}
            ):
                layout = value.__dict__.get("_keras_layout")
                specs.append(WeightSpec(value.name, name, value.trainable, layout))

    def __getattr__(self, name: str) -> Any:
        found = self.__dict__
        aliases = found.get("_weight_aliases")
        if aliases is not None and name in aliases:
            return getattr(self, aliases[name])
        # nn.Module's own lookup (parameters, buffers, modules), without its extra call.
        for registry in ("_parameters", "_buffers", "_modules"):
            held = found.get(registry)
            if held is not None and name in held:
                return held[name]
        return super().__getattr__(name)

    def _held_as(self, tensor: torch.Tensor) -> str | None:
        """The attribute under which this layer registered `tensor` as a weight, if any."""
        for spec in self.__dict__.get("_weight_specs", ()):
            held = self._parameters.get(spec.attr)
            if held is None:
                held = self._buffers.get(spec.attr)
            if held is tensor:
                return spec.attr
        return None

    def __delattr__(self, name: str) -> None:
        aliases = self.__dict__.get("_weight_aliases")
        if aliases is not None and name in aliases:
            del aliases[name]
            return
        if name in self.__dict__ and name in self._modules:
            del self._modules[name]  # a tracked list's registration goes with it
            object.__delattr__(self, name)
            return
        super().__delattr__(name)

    # ----------------------------------------------------------------- contract
    def build(self, input_shape: Any) -> None:
        """Creates the layer's weights for inputs of `input_shape` (Keras layout)."""
        self.built = True  # as Keras's default build, also for a layer without weights

    def call(self, inputs: Any, training: bool = False) -> Any:
        """The computation; built-in layers receive engine-layout tensors."""
        raise NotImplementedError(f"{type(self).__name__} does not implement call().")

    # ----------------------------------------------------------------- masks
    _hands_on_masks = False  # Keras's `supports_masking` for the built-in class

    @property
    def supports_masking(self) -> bool:
        """Whether the layer hands a mask on to its output (through `compute_mask`), as
        Keras's layers do: those that do not drop it, with a warning."""
        value = self.__dict__.get("_supports_masking")
        if value is None:
            return self._hands_on_masks or type(self).compute_mask is not Layer.compute_mask
        return value

    @supports_masking.setter
    def supports_masking(self, value: bool) -> None:
        self.__dict__["_supports_masking"] = bool(value)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """The output's mask, for Keras-layout `inputs` carrying `previous_mask`."""
        return previous_mask

    def _take_mask(self, inputs: Any, kwargs: dict, args: tuple = ()) -> Any:
        """The mask of this call (Keras's `previous_mask`): an explicit `mask=` or the
        masks its first argument carries; handed to `call` when it takes one.

        A call on several tensor arguments (`layer(a, b)`) gets, as in Keras, no automatic
        `mask`: each argument's mask goes to the `<argument>_mask` parameter of `call`
        where there is one, and the first argument's mask is the one handed on."""
        mask = kwargs.pop("mask", None)
        if mask is None:
            if args and self._fill_argument_masks(inputs, args, kwargs):
                return masks.masks_of(inputs)
            mask = masks.masks_of(inputs)
        if mask is not None and self._call_takes_mask:
            kwargs["mask"] = mask
        return mask

    def _fill_argument_masks(self, inputs: Any, args: tuple, kwargs: dict) -> bool:
        """Fills `<argument>_mask` keyword arguments from the masks the positional tensor
        arguments carry; False (nothing done) when fewer than two hold tensors."""
        values = (inputs, *args)
        if sum(1 for value in values if _holds_tensor(value)) < 2:
            return False
        parameters = self._call_signature().parameters
        for name, value in zip(self._positional_names(len(values)), values, strict=True):
            key = f"{name}_mask"
            if name is not None and key in parameters and kwargs.get(key) is None:
                mask = masks.masks_of(value)
                if mask is not None:
                    kwargs[key] = mask
        return True

    def _call_signature(self) -> inspect.Signature:
        signature = self.__dict__.get("_call_signature_cache")
        if signature is None:
            signature = inspect.signature(self.call)
            self.__dict__["_call_signature_cache"] = signature
        return signature

    def _positional_names(self, count: int) -> list[str | None]:
        """The names of `call`'s parameters that `count` positional arguments bind to
        (None for those a `*args` collects)."""
        names: list[str | None] = []
        for parameter in self._call_signature().parameters.values():
            if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
                names.append(parameter.name)
            elif parameter.kind is parameter.VAR_POSITIONAL:
                break
        names = names[:count]
        return names + [None] * (count - len(names))

    def _hand_on_mask(self, inputs: Any, outputs: Any, previous_mask: Any, engine: bool) -> Any:
        """Sets the output mask as Keras does after a call; `inputs` are in the engine's
        layout when `engine`."""
        if previous_mask is None and type(self).compute_mask is Layer.compute_mask:
            return outputs  # nothing to hand on: the common case, kept first
        if not self.supports_masking:
            if masks.any_mask(previous_mask):
                warnings.warn(
                    f"Layer '{self.name}' (of type {type(self).__name__}) was passed an "
                    "input with a mask attached to it. However, this layer does not "
                    "support masking and will therefore destroy the mask information. "
                    "Downstream layers will not see the mask.",
                    stacklevel=2,
                )
            return outputs
        flat = outputs if isinstance(outputs, list | tuple) else [outputs]
        if all(masks.get_mask(x) is not None for x in flat):
            return outputs
        if engine:
            inputs = _tree.map_structure(layout.to_user, inputs)
        masks.attach(outputs, self.compute_mask(inputs, previous_mask))
        return outputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape in Keras layout for `input_shape` (batch as None)."""
        if self._engine_layout or not self.built:
            raise NotImplementedError(
                f"{type(self).__name__} does not implement compute_output_shape()."
            )
        return self._shape_by_tracing(input_shape)

    def get_build_config(self) -> dict[str, Any] | None:
        """The input shape the layer was built for, as Keras records it in model files."""
        from convolve.saving.serialization import _build_config, _shape_tuple

        config = _build_config(self)
        if config and config.get("input_shape") is not None:
            config["input_shape"] = _shape_tuple(config["input_shape"])
        return config

    def build_from_config(self, config: dict[str, Any] | None) -> None:
        """Builds the layer from `get_build_config()`'s record, as Keras's loader does."""
        from convolve.saving.serialization import _shape_tuple

        if config and config.get("input_shape") is not None:
            self.build_for(_shape_tuple(config["input_shape"]))
        elif config and isinstance(config.get("shapes_dict"), dict) and not self.built:
            shapes = {k: _shape_tuple(v) for k, v in config["shapes_dict"].items()}
            self._build_by_shape_names(shapes, next(iter(shapes.values()), None))

    def _build_by_shape_names(self, shapes: dict[str, Any], first_shape: Any) -> None:
        """Builds a `build(self, a_shape, b_shape)` with the shapes by name, as Keras does
        for a call on several arguments; `first_shape` is recorded as the build shape."""
        self.build(**shapes)
        self._build_input_shape = first_shape
        self.__dict__["_build_shapes_dict"] = shapes
        self.built = True

    @auto_config.default_config
    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": policy_config(self._policy_name),
        }
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        if auto_config.uses_auto_config(self):  # a user's class without its own get_config
            return auto_config.config_of(self, config)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        try:
            return cls(**config)
        except (TypeError, ValueError) as err:  # Keras's error, naming class and config
            raise TypeError(
                f"Error when deserializing class '{cls.__name__}' using config={config}.\n\n"
                f"Exception encountered: {err}"
            ) from err

    def add_metric(self, *args: Any, **kwargs: Any) -> None:
        """Refused as in Keras 3, which removed it."""
        raise NotImplementedError(
            "Layer `add_metric()` method is deprecated. Add your metric in "
            "`Model.compile(metrics=[...])`, or create metric trackers in init() or build() "
            "when subclassing the layer or model, then call `metric.update_state()` whenever "
            "necessary."
        )

    # ----------------------------------------------------------------- weights
    def add_weight(
        self,
        shape: Sequence[int] | None = None,
        initializer: Any = None,
        dtype: Any = None,
        trainable: bool = True,
        regularizer: Any = None,
        constraint: Any = None,
        name: str | None = None,
        *,
        layout: tuple[int, ...] | None = None,
        **_: Any,
    ) -> torch.Tensor:
        """Creates a weight the Keras way; `layout` permutes Keras order into torch's.

        Trainable weights become `nn.Parameter`s, non-trainable ones buffers, so that
        `state_dict`, optimizers and DDP treat them as torch users expect.
        """
        shape = tuple(int(d) for d in (shape or ()))
        if any(d < 0 for d in shape):
            raise ValueError(f"Layer '{self.name}': weight '{name}' has a negative shape {shape}")
        init = initializers.get(initializer if initializer is not None else "glorot_uniform")
        value = init(shape, dtype=torch_dtype(standardize_dtype(dtype or self._dtype)))
        if layout is not None:
            value = value.permute(*layout)
        value = _engine_memory_format(value)  # kernels laid out like the maps they meet
        base = name or unique_name("variable")  # Keras numbers unnamed weights per process
        attr = base
        while hasattr(self, attr):
            attr = f"{attr}_"
        constraint = constraints.get(constraint)
        spec = WeightSpec(base, attr, trainable, layout, regularizers.get(regularizer), constraint)
        spec.path = naming.weight_path(self.name, base)
        weight = Weight(value, requires_grad=trainable and self._trainable)
        weight = _with_keras_surface(weight, spec)
        if trainable:
            if constraint is not None:  # applied by the optimizer after each update
                weight.constraint = _KerasLayoutConstraint(constraint, layout)
            self.register_parameter(attr, weight)
        else:
            # A buffer (state_dict, DDP and `.to()` treat it as torch users expect) that is
            # still a Weight, so `model.weights` all answer Keras's Variable surface.
            self.register_buffer(attr, weight)
        self._weight_specs.append(spec)
        return getattr(self, attr)

    def _apply(self, fn: Callable, recurse: bool = True) -> Layer:
        # Moving or casting replaces buffers with plain tensors; give them the surface back.
        super()._apply(fn, recurse)
        for spec in self._weight_specs:
            buffer = self._buffers.get(spec.attr)
            if buffer is not None and not isinstance(buffer, Weight):
                self._buffers[spec.attr] = _with_keras_surface(
                    Weight(buffer, requires_grad=False), spec
                )
        return self

    def _sublayers(self) -> list[Layer]:
        """Direct child layers (models and wrappers have some)."""
        found: list[Layer] = []

        def visit(module: nn.Module) -> None:
            for child in module.children():
                if isinstance(child, Layer):
                    found.append(child)
                elif isinstance(child, nn.ModuleList | nn.ModuleDict | nn.Sequential):
                    visit(child)

        visit(self)
        return found

    def _own_weights(self, trainable: bool | None = None) -> list[tuple[WeightSpec, torch.Tensor]]:
        specs = [s for s in self._weight_specs if s.trainable] + [
            s for s in self._weight_specs if not s.trainable
        ]
        return [
            (s, getattr(self, s.attr))
            for s in specs
            if trainable is None or s.trainable == trainable
        ]

    def _weight_entries(self) -> list[tuple[Layer, WeightSpec, torch.Tensor]]:
        """All weights in Keras's order (own, then sublayers'), deduplicated."""
        seen: set[int] = set()
        entries = []
        for spec, tensor in self._own_weights():
            seen.add(id(tensor))
            entries.append((self, spec, tensor))
        for layer in self._sublayers():
            for owner, spec, tensor in layer._weight_entries():
                if id(tensor) not in seen:
                    seen.add(id(tensor))
                    entries.append((owner, spec, tensor))
        return entries

    @property
    def weights(self) -> list[torch.Tensor]:
        return [t for _, _, t in self._weight_entries()]

    @property
    def trainable_weights(self) -> list[torch.Tensor]:
        if not self.trainable:
            return []
        return [t for owner, s, t in self._weight_entries() if s.trainable and owner.trainable]

    @property
    def non_trainable_weights(self) -> list[torch.Tensor]:
        if not self.trainable:
            return self.weights
        return [
            t for owner, s, t in self._weight_entries() if not (s.trainable and owner.trainable)
        ]

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights
    variables = weights

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        value = bool(value)
        self._trainable = value
        for _, tensor in self._own_weights(trainable=True):
            tensor.requires_grad_(value)
        for layer in self._sublayers():
            layer.trainable = value

    def get_weights(self) -> list[np.ndarray]:
        """Weights as NumPy arrays in Keras's order and layout (conv kernels HWIO)."""
        return [_to_keras_array(s, t) for _, s, t in self._weight_entries()]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Sets weights from arrays in Keras's order and layout."""
        entries = self._weight_entries()
        if len(weights) != len(entries):
            raise ValueError(
                f"Layer '{self.name}' expects {len(entries)} weight arrays "
                f"({', '.join(s.name for _, s, _ in entries) or 'none'}), "
                f"but received {len(weights)}."
            )
        converted = []
        for (owner, spec, tensor), value in zip(entries, weights, strict=True):
            value = torch.as_tensor(np.array(value))  # a copy: any strides, 0-d kept
            if spec.layout is not None:
                value = value.permute(*spec.layout)
            if tuple(value.shape) != tuple(tensor.shape):
                expected = _keras_shape(spec, tensor)
                received = tuple(np.shape(weights[len(converted)]))
                raise ValueError(
                    f"Layer '{owner.name}': weight '{spec.name}' has shape {expected}, "
                    f"but the array received has shape {received}."
                )
            converted.append(value)
        with torch.no_grad():
            for (_, _, tensor), value in zip(entries, converted, strict=True):
                tensor.copy_(value.to(dtype=tensor.dtype, device=tensor.device))

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"Layer '{self.name}' is not built yet, so it has no weights to count. "
                "Call it on an input or build the model with an input shape first."
            )
        return sum(math.prod(t.shape) for t in self.weights)

    # ----------------------------------------------------------------- losses
    def add_loss(self, loss: Any) -> None:
        """Adds a scalar loss (or a list of them) from inside `call()`, as in Keras.

        The losses are the layer's until its next outermost call; `layer.losses` lists them
        and `fit` adds them to the compiled loss.
        """
        values = _tree.flatten(loss)
        for value in values:
            if not isinstance(value, torch.Tensor):
                raise ValueError(
                    f"Layer '{self.name}': `add_loss()` can only be called from inside "
                    f"`build()` or `call()`, on a tensor input. Received invalid value: {value!r}"
                )
        _note_loss_source()
        added = self.__dict__.setdefault("_added_losses", [])
        added.extend(values)
        _ADDED_LOSS_HOLDERS.add(self)

    def _clear_added_losses(self) -> None:
        """Forgets the losses that `add_loss` recorded in this layer and its sublayers."""
        if not _ADDED_LOSS_HOLDERS:
            return
        for module in self.modules():
            if module in _ADDED_LOSS_HOLDERS:
                module.__dict__["_added_losses"] = []
                _ADDED_LOSS_HOLDERS.discard(module)

    @property
    def losses(self) -> list[torch.Tensor]:
        """Losses from `add_loss` and the regularization penalties of this layer and its
        sublayers, for the current weights."""
        if not _LOSS_SOURCES_SEEN:
            return []  # no layer anywhere has a regularizer or has added a loss
        penalties = list(self.__dict__.get("_added_losses", ()))
        penalties.extend(self._activity_losses)
        for spec, tensor in self._own_weights():
            if spec.regularizer is not None and self.trainable:
                penalties.append(spec.regularizer(_keras_view(spec, tensor)))
        for layer in self._sublayers():
            penalties.extend(layer.losses)
        return penalties

    def _has_regularizers(self) -> bool:
        if self.activity_regularizer is not None:
            return True
        if any(s.regularizer is not None for s in self._weight_specs):
            return True
        return any(layer._has_regularizers() for layer in self._sublayers())

    def _clear_activity_losses(self) -> None:
        """Forgets the previous call's activity penalties (each call records its own)."""
        if self._activity_layers is None:
            self._activity_layers = [
                m for m in self.modules() if isinstance(m, Layer) and m.activity_regularizer
            ]
        for layer in self._activity_layers:
            layer._activity_losses = []

    # ----------------------------------------------------------------- building
    def _check_input_rank(self, shape: tuple) -> None:
        rank = len(shape)
        if self.input_ndim is not None and rank != self.input_ndim:
            raise ValueError(
                f"Input of layer '{self.name}' ({type(self).__name__}) is incompatible with "
                f"the layer: expected rank {self.input_ndim} "
                f"(batch, {', '.join(['...'] * (self.input_ndim - 1))}), "
                f"found rank {rank}. Full shape received: {shape}"
            )
        if self.min_input_ndim is not None and rank < self.min_input_ndim:
            raise ValueError(
                f"Input of layer '{self.name}' ({type(self).__name__}) is incompatible with "
                f"the layer: expected rank >= {self.min_input_ndim}, found rank {rank}. "
                f"Full shape received: {shape}"
            )

    def build_for(self, input_shape: Any) -> None:
        """Validates `input_shape` and builds once (what calling the layer does)."""
        found = self.__dict__
        built = found.get("_build_input_shape")
        checked = found.get("_checked_input_shape")
        # The shape the last call passed the checks with, for the same build: the checks
        # depend on nothing else, so they would pass again. Only plain sizes are kept:
        # comparing symbolic ones (export, compile) would pin them to one value.
        plain = _is_shape(input_shape)
        if plain and checked is not None and checked[1] is built and checked[0] == input_shape:
            return
        for shape in _shape_leaves(input_shape):
            self._check_input_rank(shape)
        if self._build_input_shape is not None:
            self._check_built_shape(input_shape)
            if plain:
                found["_checked_input_shape"] = (input_shape, self._build_input_shape)
            return
        if self.built and not self._built_at_init:
            return
        # Layers built at construction still run build() once, to validate the first shape.
        self.build(input_shape)
        self._build_input_shape = input_shape
        self.built = True

    def _casts_integer_inputs(self) -> bool:
        """Integer and boolean inputs become floats for models and layers with weights, as
        Keras casts them; weightless layers such as Resizing keep an integer image so."""
        floating = torch_dtype(self._dtype).is_floating_point
        return (
            floating
            and self._engine_layout
            and (bool(self._weight_specs) or hasattr(type(self), "inputs"))
        )

    def _check_built_shape(self, shape: Any) -> None:
        """A later call must fit the weights: the feature axis (the whole shape, for a
        model with a fixed Input) as at build time, as Keras's input specs check."""
        built = self._build_input_shape
        if not (self._engine_layout and _is_shape(built) and _is_shape(shape)):
            return
        if self._checks_own_input_shape:
            return
        if len(built) != len(shape) or getattr(self, "data_format", None) == "channels_first":
            return
        if hasattr(type(self), "inputs"):
            axes = range(1, len(built))  # a model: every dimension its Input fixes
        elif self._weight_specs:
            axes = range(len(built) - 1, len(built))  # weights fix the feature axis
        else:
            return
        for axis in axes:
            if built[axis] is not None and shape[axis] is not None and built[axis] != shape[axis]:
                raise ValueError(
                    f"Input of layer '{self.name}' is incompatible with the layer: expected "
                    f"axis {axis - len(built)} of input shape to have value {built[axis]}, "
                    f"but received input with shape {tuple(shape)}."
                )

    # ----------------------------------------------------------------- calling
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args and type(args[0]) is not torch.Tensor and tf_data.holds_graph_tensor(args, kwargs):
            return tf_data.call_in_graph(self, args, kwargs)  # inside a tf.data `map`
        if self.__dict__.get("built", False):
            return super().__call__(*args, **kwargs)
        # The first call builds: what it creates (sublayers built inside `call`) gets this
        # layer's path, as Keras calls a layer inside its name scope.
        with naming.scope(self.name, owner=self):
            return super().__call__(*args, **kwargs)

    def forward(self, inputs: Any, *args: Any, training: bool | None = None, **kwargs: Any):
        """Calls the layer on Keras-layout data (tensors or arrays) or symbolic tensors."""
        one_tensor = isinstance(inputs, torch.Tensor)  # the common case, kept cheap
        if (not one_tensor and is_symbolic(inputs)) or (args and is_symbolic(args)):
            return self._symbolic_call(inputs, *args, training=training, **kwargs)
        previous_mask = self._take_mask(inputs, kwargs, args)
        if one_tensor:
            inputs = self._as_input_tensor(inputs)
        else:
            inputs = _tree.map_structure(self._as_input_tensor, inputs)
        if self.__dict__.get("input_spec") is not None:  # a layer's own InputSpec
            assert_input_compatibility(self.input_spec, inputs, self.name)
        if one_tensor:
            self.build_for((None, *inputs.shape[1:]))
        else:
            self.build_for(_tree.map_structure(_keras_shape_of, inputs))
        inputs = self._place(inputs)
        self._clear_activity_losses()
        if not self._engine_layout:
            if args:  # tensors and arrays after the first argument become tensors too
                args = self._place(_tree.map_structure(self._positional_tensor, args))
            out = self._invoke(inputs, args, kwargs, training)
        elif one_tensor:
            out = self._invoke(_to_engine_input(inputs), args, kwargs, training)
            if isinstance(out, torch.Tensor):
                out = _to_user_keeping_mask(out)
            else:
                out = _tree.map_structure(_to_user_keeping_mask, out)
        else:
            engine_in = _tree.map_structure(_to_engine_input, inputs)
            out = self._invoke(engine_in, args, kwargs, training)
            out = _tree.map_structure(_to_user_keeping_mask, out)
        return self._hand_on_mask(inputs, out, previous_mask, engine=False)

    def engine_call(
        self, inputs: Any, training: bool | None = None, *, extra_args: tuple = (), **kwargs: Any
    ) -> Any:
        """Calls the layer on engine-layout tensors, as models do between layers.

        `extra_args` are the positional arguments after the first (`layer(a, b)` in a
        functional model), engine-layout tensors too; empty for the usual call."""
        previous_mask = self._take_mask(inputs, kwargs, extra_args)
        if self._engine_layout:
            out = self._invoke(inputs, extra_args, kwargs, training)
        else:
            user_in = _tree.map_structure(_to_user_keeping_mask, inputs)
            if extra_args:
                extra_args = _tree.map_structure(_to_user_argument, extra_args)
            out = self._invoke(user_in, extra_args, kwargs, training)
            out = _tree.map_structure(_to_engine_keeping_mask, out)
        return self._hand_on_mask(inputs, out, previous_mask, engine=True)

    def _invoke(self, inputs: Any, args: tuple, kwargs: dict, training: bool | None) -> Any:
        # Keras's call context: a layer called without `training` inherits it from the
        # layer (or model) whose call it runs in, else takes its own default; the value is
        # then handed on to the layers it calls (a BatchNormalization inside a custom
        # layer trains in `fit` even when that layer's `call` has no `training`). Compiled
        # code skips it (models pass `training` to each of their layers explicitly), as the
        # context variable cannot be traced.
        if torch.compiler.is_compiling():
            return self._run_call(inputs, args, kwargs, self._resolve_training(training))
        context = _CALL_CONTEXT.get()
        if context is not None:
            training = self._resolve_training(context.training if training is None else training)
            context.training = training
            return self._run_call(inputs, args, kwargs, training)
        context = _CallContext()
        token = _CALL_CONTEXT.set(context)
        self._clear_added_losses()  # an outermost call records its own `add_loss` losses
        try:
            context.training = training = self._resolve_training(training)
            return self._run_call(inputs, args, kwargs, training)
        finally:
            _CALL_CONTEXT.reset(token)

    def _resolve_training(self, training: bool | None) -> bool | None:
        if training is None and self._call_takes_training:
            return self._default_training
        return training

    def _run_call(self, inputs: Any, args: tuple, kwargs: dict, training: bool | None) -> Any:
        if self._call_takes_training and training is not None:
            kwargs = {**kwargs, "training": training}
        if self.__dict__.get("_trace_with_mask") and kwargs.get("mask") is None:
            kwargs = {**kwargs, "mask": _tree.map_structure(_all_true_mask, inputs)}
        outputs = self.call(inputs, *args, **kwargs)
        if self.activity_regularizer is not None:
            for out in _tree.flatten(outputs):
                # Keras divides the activity penalty by the batch size.
                penalty = self.activity_regularizer(out)
                self._activity_losses.append(penalty / out.shape[0])
        return outputs

    def _as_input_tensor(self, x: Any) -> torch.Tensor:
        if isinstance(x, torch.Tensor):
            t = plain(x)  # a dataset's DataTensor would route every op through Python
        else:
            array = np.asarray(x)
            if array.dtype.kind not in "biuf":
                if is_string_array(array) and self._takes_strings:
                    return array  # text stays a NumPy array for the layers that take it
                raise ValueError(
                    f"Layer '{self.name}' takes numeric inputs; received an array of dtype "
                    f"{array.dtype} with shape {array.shape}."
                )
            t = from_array(array)
        dtype = torch_dtype(self._dtype)
        if t.is_complex():
            raise ValueError(
                f"Layer '{self.name}' takes real inputs; received dtype {t.dtype} with shape "
                f"{tuple(t.shape)}."
            )
        if t.is_floating_point() and t.dtype != dtype:
            t = t.to(dtype)
        elif not t.is_floating_point() and self._casts_integer_inputs():
            t = t.to(dtype)
        return t

    def _positional_tensor(self, x: Any) -> Any:
        """A positional argument after the first, converted as Keras converts it: tensors
        and numeric arrays to tensors of the layer's dtype, other values as they are."""
        if isinstance(x, torch.Tensor) or (isinstance(x, np.ndarray) and x.dtype.kind in "biuf"):
            return self._as_input_tensor(x)
        return x

    def _place(self, inputs: Any) -> Any:
        """Moves inputs to the device holding this layer's weights."""
        found = self.__dict__
        if found["_modules"]:  # sublayers: the first weight anywhere in the tree
            tensor = next(iter(self.parameters()), None)
            if tensor is None:
                tensor = next(iter(self.buffers()), None)
        else:  # a leaf layer: its own first weight, without walking modules
            tensor = next((p for p in found["_parameters"].values() if p is not None), None)
            if tensor is None:
                tensor = next((b for b in found["_buffers"].values() if b is not None), None)
        if tensor is None:
            return inputs
        device = tensor.device
        if isinstance(inputs, torch.Tensor):  # the common case: one tensor
            return inputs if inputs.device == device else inputs.to(device, non_blocking=True)
        return _tree.map_structure(
            lambda t: (
                t.to(device, non_blocking=True)
                if isinstance(t, torch.Tensor) and t.device != device
                else t
            ),
            inputs,
        )

    def _symbolic_call(self, inputs: Any, *args: Any, training=None, **kwargs: Any) -> Any:
        input_shapes = _tree.map_structure(_shape_or_value, inputs)
        if self.__dict__.get("input_spec") is not None:  # a layer's own InputSpec
            assert_input_compatibility(self.input_spec, inputs, self.name)
        masked = _symbolically_masked(inputs)
        if args:
            output_shapes = self._positional_output_shapes(inputs, args, kwargs)
        else:
            self.build_for(input_shapes)
            # A layer whose `call` takes `mask` sees one while its output shape is traced
            # when its input will carry one (Keras traces with the symbolic mask).
            self.__dict__["_trace_with_mask"] = masked and self._call_takes_mask
            try:
                output_shapes = self.compute_output_shape(input_shapes)
            finally:
                self.__dict__["_trace_with_mask"] = False
        self._clear_added_losses()  # losses from tracing the output shape are not real
        node_index = len(self._inbound_nodes)
        if _is_shape(output_shapes):
            outputs: Any = KerasTensor(output_shapes, self._dtype, name=self.name)
        else:
            outputs = _map_shapes(lambda s: KerasTensor(s, self._dtype, self.name), output_shapes)
        out_masked = self._output_masked(input_shapes, masked)
        for i, tensor in enumerate(_tree.flatten(outputs)):
            tensor._keras_history = KerasHistory(self, node_index, i)
            tensor._symbolic_mask = out_masked
        if training is not None:  # an explicit flag at graph-building time wins later
            kwargs["training"] = training
        node = Node(self, inputs, dict(kwargs), outputs, tuple(args))
        self._inbound_nodes.append(node)
        return outputs

    def _positional_output_shapes(self, inputs: Any, args: tuple, kwargs: dict) -> Any:
        """Builds the layer and finds its output shape for a symbolic call on several
        positional arguments (`layer(a, b)`), as Keras does: `build` and a user's
        `compute_output_shape` of one parameter receive the first argument's shape, those
        of several receive each shape by name (`a_shape`, `b_shape`); without
        `compute_output_shape`, the shape comes from running `call(a, b)` on zeros."""
        for value in _tree.flatten(args):
            if not (value is None or isinstance(value, KerasTensor | torch.Tensor | np.ndarray)):
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}): only input tensors may be "
                    "passed as positional arguments. The following argument value should be "
                    f"passed as a keyword argument: {value!r} (of type {type(value)})"
                )
        values = (inputs, *args)
        shapes = [_tree.map_structure(_shape_or_value, value) for value in values]
        names = self._positional_names(len(values))
        shapes_dict = {
            f"{name}_shape": shape
            for name, value, shape in zip(names, values, shapes, strict=True)
            if name is not None and is_symbolic(value)
        }
        first_shape = shapes[0]
        build_kwargs = _shape_arguments(self.build, "build", shapes_dict, self)
        if build_kwargs is None or self._build_input_shape is not None or self.built:
            self.build_for(first_shape)
        else:
            for shape in _shape_leaves(first_shape):
                self._check_input_rank(shape)
            self._build_by_shape_names(build_kwargs, first_shape)
        if type(self).compute_output_shape is not Layer.compute_output_shape:
            shape_kwargs = _shape_arguments(
                self.compute_output_shape, "compute_output_shape", shapes_dict, self
            )
            if shape_kwargs is None:  # one parameter: the first argument's shape
                output = self.compute_output_shape(first_shape)
            else:
                output = self.compute_output_shape(**shape_kwargs)
            if (
                isinstance(output, list)
                and output
                and all(d is None or isinstance(d, int) for d in output)
            ):
                output = tuple(output)
            return output
        from convolve.layers.wrappers import traced_output_shape

        options = {k: v for k, v in kwargs.items() if k not in ("training", "mask")}
        if is_symbolic(options):
            raise NotImplementedError(
                f"Layer '{self.name}' ({type(self).__name__}): symbolic tensors passed by "
                f"keyword ({sorted(k for k, v in options.items() if is_symbolic(v))}) together "
                "with several positional tensors are not supported in a functional model; "
                "pass them positionally."
            )
        # Arguments that will carry masks are traced with masks, as Keras traces with the
        # symbolic ones: each to its `<argument>_mask` (`mask` for the only tensor).
        parameters = self._call_signature().parameters
        mask_names = {}
        for i, (name, value) in enumerate(zip(names, values, strict=True)):
            if name is None or not _symbolically_masked(value):
                continue
            if len(shapes_dict) == 1 and self._call_takes_mask:
                mask_names[i] = "mask"
            elif f"{name}_mask" in parameters:
                mask_names[i] = f"{name}_mask"
        return traced_output_shape(_PositionalTrace(self, options, mask_names), shapes)

    def _output_masked(self, input_shapes: Any, masked: bool) -> bool:
        """Whether a symbolic call's outputs will carry a mask at run time."""
        if type(self).compute_mask is Layer.compute_mask:
            return masked and self.supports_masking
        if masked and not self.supports_masking:
            return False

        def zeros(shape: tuple) -> torch.Tensor:
            return torch.zeros([1 if d is None else d for d in shape])

        inputs = _map_shapes(zeros, input_shapes)
        previous = _tree.map_structure(_all_true_mask, inputs) if masked else None
        try:
            with torch.no_grad():
                mask = self.compute_mask(inputs, previous)
        except Exception:  # a mask that needs real values: assume the input's
            return masked
        return any(m is not None for m in _tree.flatten(mask))

    def _shape_by_tracing(self, input_shape: Any) -> Any:
        """Output shape found by running the layer on zeros (for user layers); unknown
        input sizes are tried at two sizes, so the output axes that follow them stay
        unknown (a layer on `Input((None, None, 3))` keeps `None` spatial axes)."""
        from convolve.layers.wrappers import traced_output_shape

        return traced_output_shape(self, input_shape)

    # ----------------------------------------------------------------- graph access
    @property
    def input(self) -> Any:
        if self._inbound_nodes and self._inbound_nodes[0].extra_args:
            return self._inbound_nodes[0].input_tensors  # Keras: every tensor, in a list
        return self._node_attr("args", "input")

    @property
    def output(self) -> Any:
        return self._node_attr("outputs", "output")

    def _node_attr(self, attr: str, what: str) -> Any:
        if not self._inbound_nodes:
            raise AttributeError(
                f"Layer '{self.name}' has never been called on a symbolic input, so it has "
                f"no {what}. Build its model with an input shape first."
            )
        return getattr(self._inbound_nodes[0], attr)

    @property
    def dtype(self) -> str:
        return self._dtype

    @property
    def dtype_policy(self) -> Any:
        """The layer's `DTypePolicy`. A model computes under its own policy as a whole (see
        `convolve.mixed_precision`); a layer's policy is what it reports and saves."""
        from convolve.mixed_precision import DTypePolicy

        return DTypePolicy(self._policy_name)

    @property
    def compute_dtype(self) -> str:
        return self.dtype_policy.compute_dtype

    @property
    def variable_dtype(self) -> str:
        return self._dtype

    @property
    def input_spec_shape(self) -> tuple | None:
        return self._declared_input_shape

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


# --------------------------------------------------------------------- helpers
class _PositionalTrace:
    """`layer` as the shape tracer sees it when it is called on several positional
    arguments: one argument, the list of them all, spread again for `call`."""

    def __init__(self, layer: Layer, options: dict, mask_names: dict[int, str]) -> None:
        self.layer = layer
        self.options = options
        self.mask_names = mask_names  # argument index -> the `call` parameter of its mask
        self.dtype = layer.dtype
        self._engine_layout = layer._engine_layout

    def _place(self, inputs: Any) -> Any:
        return self.layer._place(inputs)

    def _invoke(self, inputs: Any, args: tuple, kwargs: dict, training: bool | None) -> Any:
        del args, kwargs
        options = dict(self.options)
        for index, key in self.mask_names.items():
            options[key] = _tree.map_structure(_all_true_mask, inputs[index])
        first, *rest = inputs
        return self.layer._invoke(first, tuple(rest), options, training)


def _shape_arguments(fn: Callable, what: str, shapes_dict: dict, layer: Layer) -> dict | None:
    """How Keras hands the shapes of a call on several arguments to `build` or
    `compute_output_shape`: None where `fn` takes one shape (the first argument's),
    else the shapes by parameter name, each `<call argument>_shape`."""
    names = [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if len(names) == 1:
        return None
    call_parameters = layer._call_signature().parameters
    found = {}
    for name in names:
        preamble = (
            f"For a `{what}()` method with more than one argument, all arguments should "
            "have a `_shape` suffix and match an argument from `call()`. E.g. "
            f"`{what}(self, foo_shape, bar_shape)`. For layer '{type(layer).__name__}', "
        )
        if not name.endswith("_shape"):
            raise ValueError(
                f"{preamble}received `{what}()` argument `{name}`, which does not end in `_shape`."
            )
        if name.removesuffix("_shape") not in call_parameters:
            raise ValueError(
                f"{preamble}received `{what}()` argument `{name}`, but `call()` does not "
                f"have argument `{name.removesuffix('_shape')}`."
            )
        if name in shapes_dict:
            found[name] = shapes_dict[name]
    return found


def _shape_or_value(t: Any) -> Any:
    return t.shape if isinstance(t, KerasTensor) else t


def _holds_tensor(value: Any) -> bool:
    """Whether a call argument is a tensor or a structure of them (a tensor argument)."""
    if isinstance(value, torch.Tensor | KerasTensor):
        return True
    return isinstance(value, list | tuple | dict) and any(
        isinstance(t, torch.Tensor | KerasTensor) for t in _tree.flatten(value)
    )


def _to_user_argument(x: Any) -> Any:
    return _to_user_keeping_mask(x) if isinstance(x, torch.Tensor) else x


def _symbolically_masked(inputs: Any) -> bool:
    """Whether a symbolic call's first argument will carry a mask at run time."""
    leaves = inputs if isinstance(inputs, list | tuple) else [inputs]
    return any(getattr(t, "_symbolic_mask", False) for t in leaves)


def _all_true_mask(t: Any) -> Any:
    """A mask keeping every step of `t` (all axes but the features)."""
    if not isinstance(t, torch.Tensor):
        return None
    return torch.ones(t.shape[:-1], dtype=torch.bool, device=t.device)


def _is_shape(value: Any) -> bool:
    return isinstance(value, tuple) and all(d is None or isinstance(d, int) for d in value)


def _shape_leaves(structure: Any) -> list[tuple]:
    if _is_shape(structure):
        return [structure]
    if isinstance(structure, list | tuple):
        return [s for item in structure for s in _shape_leaves(item)]
    if isinstance(structure, dict):
        return [s for item in structure.values() for s in _shape_leaves(item)]
    return []


def _map_shapes(fn, structure: Any) -> Any:
    if _is_shape(structure):
        return fn(structure)
    if isinstance(structure, list | tuple):
        return type(structure)(_map_shapes(fn, s) for s in structure)
    if isinstance(structure, dict):
        return {k: _map_shapes(fn, v) for k, v in structure.items()}
    return structure


def _to_engine_input(t: torch.Tensor) -> torch.Tensor:
    if t.ndim >= 3 and isinstance(t, torch.Tensor):  # text (NumPy arrays) stays as it is
        return layout.engine_memory_format(layout.to_engine(t))
    return t


_to_user_keeping_mask = masks.keeping_mask(layout.to_user)
_to_engine_keeping_mask = masks.keeping_mask(layout.to_engine)


def _keras_shape_of(t: torch.Tensor) -> tuple:
    return (None, *tuple(t.shape[1:]))


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return tuple(inverse)


def keras_view(tensor: torch.Tensor, layout: tuple[int, ...] | None) -> torch.Tensor:
    """A weight (or its gradient or slot) stored in torch's layout, seen in Keras's axis
    order; `layout` is the permutation `add_weight` applied (None: the same)."""
    return tensor if layout is None else tensor.permute(*_inverse(layout))


def _keras_view(spec: WeightSpec, tensor: torch.Tensor) -> torch.Tensor:
    return keras_view(tensor, spec.layout)


def _keras_shape(spec: WeightSpec, tensor: torch.Tensor) -> tuple[int, ...]:
    return tuple(_keras_view(spec, tensor).shape)


def _to_keras_array(spec: WeightSpec, tensor: torch.Tensor) -> np.ndarray:
    value = _keras_view(spec, tensor.detach())
    if value.dtype == torch.bfloat16:
        value = value.float()
    return value.cpu().contiguous().numpy().copy()


map_shapes = _map_shapes
is_shape = _is_shape
