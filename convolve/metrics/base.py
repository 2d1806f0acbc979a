"""The metric base class and the streaming reductions `Mean`, `Sum` and `MeanMetricWrapper`.

Metric state is a set of torch tensors created lazily, on the device of the first inputs and in
the metric's dtype (float32 unless told otherwise, as in Keras). Updates are in-place tensor
ops under `torch.no_grad()`; nothing reads values on the host, so `update_state` never
synchronises host and device. `result()` returns a tensor; converting it to a Python number is
the caller's choice.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from convolve import initializers, losses
from convolve._masks import get_mask
from convolve._named_state import NamedState
from convolve.losses import apply_mask
from convolve.losses._tensors import (
    auto_name,
    compute_dtype,
    dtype_name,
    squeeze_or_expand_to_same_rank,
    to_tensor,
    torch_dtype,
)


class MetricState(NamedState):
    """A metric's state tensor, with Keras's variable `name` and `path` (`"mean/total"`).

    The metric updates it in place. `Metric.variables` lists these.
    """

    def __reduce_ex__(self, protocol: int) -> Any:
        return (MetricState.wrap, (self._plain(), self.name, self.path))


def no_grad(method: Callable[..., Any]) -> Callable[..., Any]:
    """`torch.no_grad()` as a decorator, without its cost where gradients are already off
    (`evaluate`, `predict`): a metric's update runs at every step."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not torch.is_grad_enabled():
            return method(*args, **kwargs)
        with torch.no_grad():
            return method(*args, **kwargs)

    return wrapper


class MetricVariable:
    """A handle on one piece of metric state with Keras's `Variable` surface.

    It reads and writes the metric's state tensor (`value`), can be passed to torch
    functions and arithmetic like a tensor, and updates in place with `assign`,
    `assign_add` and `assign_sub`. Writing a tensor from another device moves the state
    there first, so custom metrics follow their inputs as the built-in ones do.
    """

    def __init__(self, metric: Metric, name: str) -> None:
        self._metric = metric
        self.name = name

    @property
    def path(self) -> str:
        """The metric's name and the variable's, e.g. `"mean/total"`."""
        return self._metric._paths.get(self.name, self.name)

    @property
    def value(self) -> torch.Tensor:
        """The state tensor."""
        return self._metric._state_on(None)[self.name]

    @property
    def shape(self) -> torch.Size:
        return self.value.shape

    @property
    def dtype(self) -> torch.dtype:
        return self.value.dtype

    def _target(self, value: Any) -> tuple[torch.Tensor, torch.Tensor]:
        device = value.device if isinstance(value, torch.Tensor) else None
        state = self._metric._state_on(device)[self.name]
        return state, to_tensor(value, dtype=state.dtype, like=state)

    @no_grad
    def assign(self, value: Any) -> MetricVariable:
        """Overwrites the state in place."""
        state, value = self._target(value)
        state.copy_(value.broadcast_to(state.shape))
        return self

    @no_grad
    def assign_add(self, value: Any) -> MetricVariable:
        """Adds to the state in place."""
        state, value = self._target(value)
        state.add_(value)
        return self

    @no_grad
    def assign_sub(self, value: Any) -> MetricVariable:
        """Subtracts from the state in place."""
        state, value = self._target(value)
        state.sub_(value)
        return self

    def numpy(self) -> Any:
        """The state as a NumPy array (copies it to the host)."""
        return self.value.detach().cpu().numpy()

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        def unwrap(x: Any) -> Any:
            if isinstance(x, MetricVariable):
                return x.value
            if isinstance(x, list | tuple):
                return type(x)(unwrap(item) for item in x)
            return x

        return func(*unwrap(args), **{key: unwrap(v) for key, v in (kwargs or {}).items()})

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def __getitem__(self, index: Any) -> torch.Tensor:
        return self.value[index]

    def __float__(self) -> float:
        return float(self.value)

    def __repr__(self) -> str:
        return f"<MetricVariable {self._metric.name}/{self.name} value={self.value}>"


def _delegate(op: str) -> Any:
    def method(self: MetricVariable, *args: Any) -> Any:
        return getattr(self.value, op)(
            *(a.value if isinstance(a, MetricVariable) else a for a in args)
        )

    method.__name__ = op
    return method


for _op in (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
    "__rtruediv__", "__pow__", "__neg__", "__abs__", "__lt__", "__le__", "__gt__", "__ge__",
):  # fmt: skip
    setattr(MetricVariable, _op, _delegate(_op))


class Metric:
    """Base class of metrics: `update_state` accumulates, `result` reads, `reset_state` zeroes.

    Subclasses create their state in `__init__` with Keras's
    `self.total = self.add_variable(shape=(), initializer="zeros", name="total")` and
    update it with `self.total.assign_add(...)` (or use the tensor `self.total.value`).
    State tensors are created when first used, on the device of the tensor that first
    touches them (normally the batch passed to `update_state`).

    Args:
        dtype: Dtype of the state; defaults to float32. A dtype policy name
            (`"mixed_float16"`) means its compute dtype, as in Keras.
        name: Name of the metric; defaults to the snake-case class name, made unique.
    """

    def __init__(self, dtype: Any = None, name: str | None = None) -> None:
        self.name = name or auto_name(type(self).__name__)
        self._dtype = compute_dtype(dtype)
        self._specs: dict[str, tuple[tuple[int, ...], torch.dtype, Any]] = {}
        self._state: dict[str, torch.Tensor] = {}
        self._paths: dict[str, str] = {}
        self._device: torch.device | None = None

    @property
    def dtype(self) -> str:
        """The state dtype's name, e.g. `"float32"`."""
        return dtype_name(self._dtype)

    def add_variable(
        self,
        shape: tuple[int, ...] | list[int] = (),
        initializer: Any = "zeros",
        dtype: Any = None,
        aggregation: str = "sum",
        name: str | None = None,
    ) -> MetricVariable:
        """Declares a state tensor, created on first use, and returns a handle on it.

        Args:
            shape: Its shape.
            initializer: `"zeros"` (default), `"ones"`, another initializer name or
                initializer, or a callable `(shape, dtype)` returning a tensor.
                `reset_state` sets every variable to zero, as Keras does.
            dtype: Its dtype; defaults to the metric's dtype.
            aggregation: Accepted for Keras compatibility (state is summed across replicas).
            name: Its name, unique within the metric.

        Returns:
            A `MetricVariable` handle.
        """
        del aggregation
        name = name or f"variable_{len(self._specs)}"
        try:
            shape = tuple(int(d) for d in shape)
            if any(d < 0 for d in shape):
                raise ValueError
        except (TypeError, ValueError):
            raise ValueError(
                f"Invalid shape for metric variable {name!r}: expected a tuple of "
                f"non-negative ints; received shape={shape!r}."
            ) from None
        if initializer not in (None, "zeros", "ones") and not callable(initializer):
            try:
                initializer = initializers.get(initializer)
            except ValueError:
                raise ValueError(
                    f"Invalid initializer for metric variable {name!r}: expected an "
                    f"initializer name ('zeros', 'ones', 'glorot_uniform', ...), an "
                    f"initializer or a callable (shape, dtype); received {initializer!r}."
                ) from None
        self._specs[name] = (shape, torch_dtype(dtype or self._dtype), initializer)
        self._paths[name] = f"{self.name.replace('/', '>')}/{name}"
        self._state.pop(name, None)
        return MetricVariable(self, name)

    def add_weight(
        self,
        shape: tuple[int, ...] | list[int] = (),
        initializer: Any = None,
        dtype: Any = None,
        name: str | None = None,
    ) -> MetricVariable:
        """Alias of `add_variable`, as in Keras."""
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

    def _state_on(self, device: torch.device | str | None) -> dict[str, torch.Tensor]:
        """The state tensors on `device`, creating or moving them once as needed."""
        state = self._state
        if (
            self._device is not None
            and (device is None or device == self._device)
            and len(state) == len(self._specs)
        ):
            return state  # every step's case: all made, on the right device
        device = torch.device(device) if device is not None else self._device
        device = device or torch.device("cpu")
        if device != self._device:
            self._state = {key: value.to(device) for key, value in self._state.items()}
            self._device = device
        for key, (shape, dtype, initializer) in self._specs.items():
            if key not in self._state:
                if initializer in (None, "zeros"):
                    value = torch.zeros(shape, dtype=dtype, device=device)
                elif initializer == "ones":
                    value = torch.ones(shape, dtype=dtype, device=device)
                else:
                    value = torch.as_tensor(initializer(shape, dtype=dtype), dtype=dtype)
                    value = value.to(device)
                self._state[key] = value
        return self._state

    def _named_view(self, key: str, value: torch.Tensor) -> MetricState:
        """`value` (the state, a plain tensor: compiled steps trace plain tensors) seen as
        a `MetricState` sharing its memory; one view per state tensor, made again when
        the state is new (moved to a device) or the view is a copy's (a copied metric)."""
        views = self.__dict__.setdefault("_views", {})
        view = views.get(key)
        if view is None or view.data_ptr() != value.data_ptr():
            view = views[key] = MetricState.wrap(value, key, self._paths.get(key, key))
        return view

    def _values_and_state(self, values: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        # Tensors bring the state to their device; numbers and arrays go to the state's.
        if isinstance(values, torch.Tensor):
            return values, self._state_on(values.device)
        state = self._state_on(None)
        return to_tensor(values, like=next(iter(state.values()), None)), state

    def __getattr__(self, name: str) -> Any:
        specs = self.__dict__.get("_specs")
        if specs is not None and name in specs:
            return MetricVariable(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def variables(self) -> list[torch.Tensor]:
        """The state tensors (as `MetricState`, with `name` and `path`), in declaration order."""
        state = self._state_on(None)
        return [self._named_view(key, state[key]) for key in self._specs]

    def reset_state(self) -> None:
        """Zeroes the state in place (it stays on its device)."""
        for value in self._state.values():
            value.zero_()

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        """Accumulates statistics from a batch; implemented by subclasses."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_state().")

    def result(self) -> torch.Tensor:
        """The metric value from the accumulated state; implemented by subclasses."""
        raise NotImplementedError(f"{type(self).__name__} must implement result().")

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Updates the state with a batch and returns the new result."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable."""
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        """Rebuilds a metric from `get_config()`."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def reduce_to_samplewise_values(
    values: torch.Tensor,
    sample_weight: Any,
    reduce_fn: Callable[..., torch.Tensor],
    dtype: torch.dtype,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Reduces values to one per sample and applies sample weights, as Keras's metrics do.

    Values with more axes than the weights are reduced over the extra axes first; weights
    are then broadcast to the values, and any remaining non-batch axes reduced.

    Returns:
        The weighted per-sample values and the (reduced) weights, or `None`.
    """
    if mask is None:
        mask = get_mask(values)  # values that carry a mask, as Keras reads them
    if values.dtype != dtype:
        values = values.to(dtype)
    if sample_weight is not None:
        sample_weight = to_tensor(sample_weight, dtype=dtype, like=values)
        if mask is not None:
            sample_weight = apply_mask(sample_weight, mask, dtype=dtype, reduction="sum")
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim, values_ndim = sample_weight.ndim, values.ndim
        if values_ndim > weight_ndim:
            values = reduce_fn(values, dim=list(range(weight_ndim, values_ndim)))
        sample_weight = sample_weight.broadcast_to(values.shape)
        values = values * sample_weight
        if weight_ndim > 1:
            sample_weight = reduce_fn(sample_weight, dim=list(range(1, weight_ndim)))
    if values.ndim > 1:
        values = reduce_fn(values, dim=list(range(1, values.ndim)))
    return values, sample_weight


class Sum(Metric):
    """Streaming weighted sum of the values passed to `update_state`.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
    """

    def __init__(self, name: str = "sum", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.add_variable(name="total")

    @no_grad
    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        """Adds the (weighted) sum of `values`."""
        values, state = self._values_and_state(values)
        values, _ = reduce_to_samplewise_values(values, sample_weight, torch.sum, self._dtype)
        state["total"].add_(values.sum())

    def result(self) -> torch.Tensor:
        return self._state_on(None)["total"].clone()


class Mean(Metric):
    """Streaming weighted mean of the values passed to `update_state`.

    Per-sample values are averaged over their non-batch axes; with sample weights the
    result is `sum(w * v) / sum(w)`, else the mean over samples.

    Args:
        name: Name of the metric.
        dtype: Dtype of the state.
    """

    def __init__(self, name: str = "mean", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.add_variable(name="total")
        self.add_variable(name="count")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        """Accumulates `values`, optionally weighted by `sample_weight`."""
        if _is_weighted_scalar(values, sample_weight, self._dtype):
            # A batch's mean weighted by its size (the loss trackers, at every step): the
            # same arithmetic as the general path, without its conversions, and without
            # `no_grad` (a few microseconds), as nothing here requires a gradient.
            state = self._state_on(values.device)
            if values.dtype != self._dtype:
                values = values.to(self._dtype)
            state["total"].add_(values * sample_weight)
            state["count"].add_(sample_weight)
            return
        with torch.no_grad():
            self._update_mean(self._values_and_state(values)[0], sample_weight)

    def _update_mean(
        self, values: torch.Tensor, sample_weight: Any, mask: torch.Tensor | None = None
    ) -> None:
        state = self._state_on(values.device)
        values, sample_weight = reduce_to_samplewise_values(
            values, sample_weight, torch.mean, self._dtype, mask
        )
        state["total"].add_(values.sum())
        if sample_weight is not None:
            state["count"].add_(sample_weight.sum().to(self._dtype))
        else:
            state["count"].add_(values.shape[0] if values.ndim >= 1 else 1)

    def result(self) -> torch.Tensor:
        state = self._state_on(None)
        return mean_of(state["total"], state["count"])


def mean_of(total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """`total / count`, or 0 where `count` is 0: `divide_no_nan`'s values in two kernels
    instead of five (a metric's result needs no gradient, so no safe divisor)."""
    return (total / count).masked_fill_(count == 0, 0.0)


def _is_weighted_scalar(values: Any, sample_weight: Any, dtype: torch.dtype) -> bool:
    """Whether `values` is one unmasked number and `sample_weight` a Python int exact in
    float32 (as `model.fit` passes a batch's loss and size); then the weighted sum needs
    no reduction and no conversion of the weight to a tensor."""
    return (
        type(sample_weight) is int
        and -(2**24) <= sample_weight <= 2**24
        and dtype in (torch.float32, torch.float64)
        and isinstance(values, torch.Tensor)
        and values.ndim == 0
        and values.is_floating_point()
        and not values.requires_grad
        and get_mask(values) is None
    )


class MeanMetricWrapper(Mean):
    """The streaming mean of a per-sample function `fn(y_true, y_pred, **kwargs)`.

    Args:
        fn: Function returning per-sample values.
        name: Name of the metric; defaults to `mean_metric_wrapper`, made unique.
        dtype: Dtype of the state.
        **kwargs: Extra keyword arguments for `fn`.
    """

    def __init__(
        self,
        fn: Callable[..., torch.Tensor],
        name: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, dtype=dtype)  # None: named after the class
        self._fn = fn
        self._fn_kwargs = kwargs
        self._direction = "down" if _is_builtin_loss(fn) else None

    def _values(self, y_true: Any, y_pred: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self._fn(y_true, y_pred, **self._fn_kwargs), None

    @no_grad
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Accumulates `fn(y_true, y_pred)`, optionally weighted by `sample_weight`; the
        masked steps of a prediction that carries a mask count for nothing, as in Keras."""
        in_mask = get_mask(y_pred)
        values, mask = self._values(y_true, y_pred)
        if in_mask is not None:
            if sample_weight is not None:
                sample_weight = to_tensor(sample_weight, dtype=self._dtype, like=values)
            sample_weight = apply_mask(sample_weight, in_mask, dtype=self._dtype, reduction="sum")
        self._update_mean(values, sample_weight, mask)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["fn"] = losses.serialize(self._fn)
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        from convolve.metrics.lookup import deserialize_function

        config = dict(config)
        if "fn" in config:
            fn = config.pop("fn")
            return cls(fn if callable(fn) else deserialize_function(fn), **config)
        return cls(**config)


def _is_builtin_loss(fn: Any) -> bool:
    return fn in losses.lookup.BUILTIN_FUNCTIONS or type(fn) in losses.lookup.BUILTIN_CLASSES


class _FixedMeanMetric(MeanMetricWrapper):
    """A `MeanMetricWrapper` over a fixed function whose config lists its own arguments."""

    _config_keys: tuple[str, ...] = ()
    # Arguments Keras leaves out of the config, with their defaults: written only when set
    # to something else, so that the config equals Keras's and a save still keeps them.
    _keras_omits: dict[str, Any] = {}

    def get_config(self) -> dict[str, Any]:
        config = Metric.get_config(self)
        config.update({key: self._fn_kwargs[key] for key in self._config_keys})
        for key, default in self._keras_omits.items():
            if self._fn_kwargs[key] != default:
                config[key] = self._fn_kwargs[key]
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)

    def __getattr__(self, name: str) -> Any:
        kwargs = self.__dict__.get("_fn_kwargs", {})
        if name in kwargs:
            return kwargs[name]
        return super().__getattr__(name)
