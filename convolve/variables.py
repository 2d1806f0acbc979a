"""`Variable`: Keras's variable, as a torch parameter.

A `Variable` is an `nn.Parameter` (so torch optimizers, `state_dict` and DDP take it as it
is) with Keras's surface: `assign`, `assign_add`, `assign_sub`, `value`, `numpy()`,
`trainable`, `name` and `path`. Weights that layers create with `add_weight` count as
Variables too (`isinstance(layer.kernel, Variable)` holds), and a Variable set as a layer
attribute becomes one of the layer's weights, as in Keras.

Example:
    >>> import convolve as keras
    >>> v = keras.Variable([1.0, 2.0], name="v")
    >>> _ = v.assign_add([0.5, 0.5])
    >>> v.numpy().tolist(), v.trainable
    ([1.5, 2.5], True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from convolve.layers import naming
from convolve.layers.base import Weight
from convolve.losses._tensors import auto_name, dtype_name, torch_dtype

__all__ = ["Variable", "current_path", "device", "name_scope"]

_AGGREGATIONS = (None, "none", "mean", "sum", "only_first_replica")
_SYNCHRONIZATIONS = (None, "none", "on_read", "on_write", "auto")


class _VariableMeta(type(nn.Parameter)):
    def __instancecheck__(cls, instance: Any) -> bool:
        # A layer's weights (`add_weight`) are Keras Variables as far as user code can tell.
        if cls is Variable and isinstance(instance, Weight):
            return True
        return super().__instancecheck__(instance)


def _initial_value(initializer: Any, shape: Any, dtype: Any) -> torch.Tensor:
    from convolve import initializers

    if isinstance(initializer, str) or (
        callable(initializer) and not isinstance(initializer, torch.Tensor | np.ndarray)
    ):
        if shape is None:
            raise ValueError(
                "When creating a Variable from an initializer, the `shape` argument should "
                f"be specified. Received: initializer={initializer} and shape={shape}"
            )
        init = initializers.get(initializer)
        value = init(tuple(int(d) for d in shape), dtype=torch_dtype(dtype))
        return torch.as_tensor(value, dtype=torch_dtype(dtype))
    if isinstance(initializer, torch.Tensor):
        value = initializer.detach().clone()
    else:
        array = np.asarray(initializer)
        if dtype is None and array.dtype == np.float64 and not isinstance(initializer, np.ndarray):
            array = array.astype(np.float32)  # Python floats become floatx, as in Keras
        value = torch.as_tensor(array).clone()
    if dtype is not None:
        value = value.to(torch_dtype(dtype))
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise ValueError(
            f"Variable: initial value has shape {tuple(value.shape)}, which does not match "
            f"shape={tuple(shape)}."
        )
    return value


class Variable(Weight, metaclass=_VariableMeta):
    """A Keras variable: a tensor that keeps its identity while its value changes.

    Args:
        initializer: Initial value (array, tensor, number) or an initializer (name,
            instance or callable `(shape, dtype)`), which then needs `shape`.
        shape: The shape; required with an initializer.
        dtype: Dtype name; defaults to the value's dtype, or float32 for an initializer.
        trainable: Whether training updates it (whether it takes gradients).
        autocast: Accepted for Keras compatibility.
        aggregation: `"none"`, `"mean"`, `"sum"` or `"only_first_replica"`.
        synchronization: `"none"`, `"on_read"`, `"on_write"` or `"auto"`.
        name: Its name; defaults to `variable`, made unique.

    `dtype` is the torch dtype (a `torch.dtype`, whose `str` is `"torch.float32"`), since a
    Variable is a tensor; `dtype_name` gives Keras's string.
    """

    def __new__(
        cls,
        initializer: Any,
        shape: Sequence[int] | None = None,
        dtype: Any = None,
        trainable: bool = True,
        autocast: bool = True,
        aggregation: str | None = "none",
        synchronization: str | None = "auto",
        name: str | None = None,
        **kwargs: Any,
    ) -> Variable:
        kwargs.pop("layout", None)
        if kwargs:
            raise TypeError(f"Variable: unrecognized keyword arguments: {sorted(kwargs)}")
        if name is not None and (not isinstance(name, str) or "/" in name):
            raise ValueError(
                "Argument `name` must be a string and cannot contain character `/`. "
                f"Received: name={name}"
            )
        if aggregation not in _AGGREGATIONS:
            raise ValueError(
                "Invalid value for argument `aggregation`. Expected one of `None`, `'none'`, "
                f"`'mean'`, `'sum'`, `'only_first_replica'`. Received: aggregation={aggregation}"
            )
        if synchronization not in _SYNCHRONIZATIONS:
            raise ValueError(
                "Invalid value for argument `synchronization`. Expected one of `None`, "
                "`'none'`, `'on_read'`, `'on_write'`, `'auto'`. "
                f"Received: synchronization={synchronization}"
            )
        value = _initial_value(initializer, shape, dtype)
        trainable = bool(trainable)
        grad = trainable and (value.is_floating_point() or value.is_complex())
        variable = super().__new__(cls, value, requires_grad=grad)
        variable._keras_name = name or auto_name("Variable")
        variable._keras_path = "/".join([*naming.SCOPES, variable._keras_name])
        variable._trainable = trainable
        variable._autocast = bool(autocast)
        variable._aggregation = aggregation or "none"
        variable._synchronization = synchronization or "none"
        return variable

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass  # everything happens in __new__ (a tensor's data is fixed at creation)

    def __deepcopy__(self, memo: dict) -> Variable:
        copy = Variable(
            self.detach().clone(),
            trainable=self.trainable,
            name=self.name,
            aggregation=self.aggregation,
            synchronization=self.synchronization,
        )
        memo[id(self)] = copy
        return copy

    def __reduce_ex__(self, protocol: int) -> Any:
        return (
            _rebuild,
            (self.detach().cpu().numpy(), self.trainable, self.name, self.aggregation),
        )

    # ----------------------------------------------------------------- Keras surface
    @Weight.trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        if self.is_floating_point() or self.is_complex():
            self.requires_grad_(self._trainable)

    @property
    def aggregation(self) -> str:
        return self.__dict__.get("_aggregation", "none")

    @property
    def synchronization(self) -> str:
        return self.__dict__.get("_synchronization", "none")

    @property
    def dtype_name(self) -> str:
        """Keras's name of the dtype, e.g. `"float32"`."""
        return dtype_name(self.dtype)


def _rebuild(array: np.ndarray, trainable: bool, name: str, aggregation: str) -> Variable:
    return Variable(array, trainable=trainable, name=name, aggregation=aggregation)


class name_scope:  # noqa: N801 (Keras's name)
    """Opens a name scope: Variables created inside get paths prefixed with it.

    Args:
        name: The scope's name.
        **kwargs: Keras's `caller`, `deduplicate` and `override_parent` are accepted.

    Example:
        >>> import convolve as keras
        >>> with keras.name_scope("block"):
        ...     v = keras.Variable(1.0, name="w")
        >>> v.path
        'block/w'
    """

    def __init__(self, name: str, **kwargs: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"Argument `name` must be a non-empty string. Received: name={name!r}")
        unknown = set(kwargs) - {"caller", "deduplicate", "override_parent"}
        if unknown:
            raise TypeError(f"name_scope: unrecognized keyword arguments: {sorted(unknown)}")
        self.name = name
        self.override_parent = kwargs.get("override_parent")
        self._saved: list[str] | None = None

    def __enter__(self) -> name_scope:
        self._saved = list(naming.SCOPES)
        if self.override_parent is not None:
            naming.SCOPES[:] = [self.override_parent]
        naming.SCOPES.append(self.name)
        return self

    def __exit__(self, *exc: Any) -> None:
        naming.SCOPES[:] = self._saved or []


def current_path() -> str:
    """The path of the open name scopes, `""` outside any."""
    return "/".join(naming.SCOPES)


class device:  # noqa: N801 (Keras's name)
    """Context manager placing new tensors and Variables on a device.

    Args:
        device_name: `"cpu"`, `"gpu"`, `"cuda"`, `"gpu:1"`, `"cuda:1"`, `"mps"` or a
            `torch.device`.

    Example:
        >>> import convolve as keras
        >>> with keras.device("cpu"):
        ...     v = keras.Variable([1.0])
        >>> v.device.type
        'cpu'
    """

    def __init__(self, device_name: str | torch.device) -> None:
        if isinstance(device_name, torch.device):
            self.device = device_name
        elif isinstance(device_name, str):
            name = device_name.lower().replace("/device:", "")
            kind, _, index = name.partition(":")
            kind = "cuda" if kind == "gpu" else kind
            try:
                self.device = torch.device(f"{kind}:{index}" if index else kind)
            except RuntimeError:
                raise ValueError(
                    f"Invalid value for argument `device_name`: expected 'cpu', 'gpu', "
                    f"'gpu:N', 'cuda:N' or 'mps'. Received: device_name={device_name!r}"
                ) from None
        else:
            raise ValueError(
                "Invalid value for argument `device_name`: expected a string or a "
                f"torch.device. Received: device_name={device_name!r}"
            )
        self._context: Any = None

    def __enter__(self) -> device:
        self._context = self.device
        self._context.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._context.__exit__(*exc)
