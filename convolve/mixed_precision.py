"""Mixed precision, as in `keras.mixed_precision`: dtype policies and loss scaling.

With the global policy `"mixed_bfloat16"` or `"mixed_float16"`, weights stay float32 and a
model's forward pass computes in the half-precision type under `torch.autocast`; the
model's outputs, the loss and the metrics are float32. With `"mixed_float16"`, `compile`
wraps the optimizer in a `LossScaleOptimizer` (as Keras does) so that small gradients do
not underflow.

The policy is read when a model is created (`Sequential(...)`, `Model(...)`): set it
before building the model, as in Keras. It applies to the whole model. Layers take the
global policy when made, or the one given as `dtype` (`Dense(..., dtype="mixed_float16")`),
and report and save it as Keras's do (`dtype_policy`, `compute_dtype`, `get_config`), so
that models trained under mixed precision load anywhere; but a layer whose policy differs
from its model's computes under the model's.

Example:
    >>> from convolve import mixed_precision
    >>> mixed_precision.set_global_policy("mixed_bfloat16")
    >>> policy = mixed_precision.global_policy()
    >>> policy.compute_dtype, policy.variable_dtype
    ('bfloat16', 'float32')
    >>> mixed_precision.set_global_policy("float32")
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from convolve.optimizers import Optimizer
from convolve.optimizers import deserialize as _deserialize_optimizer
from convolve.optimizers import serialize as _serialize_optimizer

__all__ = [
    "DTypePolicy",
    "LossScaleOptimizer",
    "Policy",
    "dtype_policy",
    "global_policy",
    "set_dtype_policy",
    "set_global_policy",
]

_FLOATS = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}
# Policies of non-float layers (lookups, hashing) compute in their own dtype, as in Keras.
_OTHER_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "bool", "string")
# What the training loop can run: float32 weights, computed in float32 or under autocast.
_SUPPORTED_GLOBAL = ("float32", "mixed_float16", "mixed_bfloat16")


class DTypePolicy:
    """A dtype policy: the dtype weights are stored in and the dtype layers compute in.

    Args:
        name: `"float32"`, `"mixed_float16"` (compute in float16, weights float32),
            `"mixed_bfloat16"` (compute in bfloat16, weights float32), or any float dtype
            name (`"float16"`, `"bfloat16"`, `"float64"`: both dtypes that one). None means
            the current global policy.

    Raises:
        TypeError: If `name` is not a string.
        ValueError: If `name` names no policy.

    Example:
        >>> policy = DTypePolicy("mixed_float16")
        >>> policy
        <DTypePolicy "mixed_float16">
        >>> policy.compute_dtype, policy.variable_dtype
        ('float16', 'float32')
    """

    def __init__(self, name: str | None = None) -> None:
        if name is None:
            name = global_policy().name
        if not isinstance(name, str):
            raise TypeError(
                "'name' must be a string, such as 'mixed_float16'. "
                f"Received: name={name!r} (of type {type(name).__name__})"
            )
        if name == "mixed_float16":
            dtypes = ("float16", "float32")
        elif name == "mixed_bfloat16":
            dtypes = ("bfloat16", "float32")
        elif name in _FLOATS or name in _OTHER_DTYPES:
            dtypes = (name, name)
        else:
            raise ValueError(
                f"Cannot convert '{name}' to a mixed precision DTypePolicy. Valid policies "
                "include 'mixed_float16', 'mixed_bfloat16', and the name of any float dtype "
                "such as 'float32'."
            )
        self._name = name
        self._compute_dtype, self._variable_dtype = dtypes

    @property
    def name(self) -> str:
        """The policy's name."""
        return self._name

    @property
    def compute_dtype(self) -> str:
        """The dtype layers compute in, e.g. `"float16"`."""
        return self._compute_dtype

    @property
    def variable_dtype(self) -> str:
        """The dtype weights are stored in, e.g. `"float32"`."""
        return self._variable_dtype

    @property
    def quantization_mode(self) -> None:
        """Always None: quantized policies are not supported."""
        return None

    @property
    def is_mixed(self) -> bool:
        """Whether computation runs in a lower precision than the weights."""
        return self._compute_dtype != self._variable_dtype

    @property
    def torch_compute_dtype(self) -> torch.dtype:
        """`compute_dtype` as a `torch.dtype`."""
        return _FLOATS[self._compute_dtype]

    def get_config(self) -> dict[str, Any]:
        """`{"name": name}`, as Keras serialises a policy."""
        return {"name": self._name}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DTypePolicy:
        """Rebuilds a policy from `get_config()`."""
        return cls(**config)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DTypePolicy) and other.name == self._name

    def __hash__(self) -> int:
        return hash(self._name)

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self._name}">'


Policy = DTypePolicy  # Keras's legacy name

_global_policy = DTypePolicy("float32")


def global_policy() -> DTypePolicy:
    """The policy that models created from now on use (`"float32"` by default)."""
    return _global_policy


def set_global_policy(policy: str | DTypePolicy | None) -> None:
    """Sets the policy of the models created from now on.

    Args:
        policy: `"float32"`, `"mixed_float16"`, `"mixed_bfloat16"`, a `DTypePolicy` with
            one of those names, or None for `"float32"`.

    Raises:
        ValueError: For other policies (weights stay float32 in this library).
    """
    global _global_policy
    if policy is None:
        policy = "float32"
    if isinstance(policy, str):
        policy = DTypePolicy(policy)
    if not isinstance(policy, DTypePolicy):
        raise ValueError(
            "set_global_policy expects a policy name or a DTypePolicy; received "
            f"{policy!r} of type {type(policy).__name__}."
        )
    if policy.name not in _SUPPORTED_GLOBAL:
        raise ValueError(
            f"set_global_policy: {policy.name!r} is not supported; use one of "
            f"{', '.join(repr(n) for n in _SUPPORTED_GLOBAL)} (weights stay float32)."
        )
    _global_policy = policy


dtype_policy = global_policy  # Keras 3's names
set_dtype_policy = set_global_policy


def call_mixed(policy: DTypePolicy, device: torch.device, fn: Callable[[], Any]) -> Any:
    """Calls `fn()` under `policy`'s autocast; floating outputs come back float32.

    The outputs are cast only by the outermost mixed call: inner models hand their
    half-precision activations on unchanged.
    """
    if not policy.is_mixed or torch.is_autocast_enabled(device.type):
        return fn()
    with torch.autocast(device.type, dtype=policy.torch_compute_dtype):
        outputs = fn()
    return _cast_floats(outputs, _FLOATS[policy.variable_dtype])


def _cast_floats(structure: Any, dtype: torch.dtype) -> Any:
    if isinstance(structure, torch.Tensor):
        return structure.to(dtype) if structure.is_floating_point() else structure
    if isinstance(structure, list | tuple):
        return type(structure)(_cast_floats(s, dtype) for s in structure)
    if isinstance(structure, dict):
        return {k: _cast_floats(v, dtype) for k, v in structure.items()}
    return structure


class LossScaleOptimizer(Optimizer):
    """Dynamic loss scaling around another optimizer, for float16 training (Keras's).

    The training step multiplies the loss by the current scale (`scale_loss`) before
    `backward()`. `step()` (or `apply`) then divides the gradients by the scale and:

    - if every gradient is finite, lets the inner optimizer update the weights; after
      `dynamic_growth_steps` such steps in a row the scale doubles;
    - otherwise skips the update and halves the scale.

    Deciding whether to skip reads one flag from the device, so a float16 training step
    waits for the device once (bfloat16 and float32 training never do).

    Args:
        inner_optimizer: The optimizer that updates the weights.
        initial_scale: The first loss scale; large, because too large a scale falls
            quickly while too small a scale rises slowly.
        dynamic_growth_steps: Finite steps in a row after which the scale doubles.
        name: Name of the optimizer; `loss_scale_optimizer` by default.
        **kwargs: Keras's `dynamic=True` is accepted; base optimizer arguments are
            refused (set them on the inner optimizer).

    Example:
        >>> import torch
        >>> from convolve.optimizers import SGD
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt = LossScaleOptimizer(SGD(learning_rate=0.5), initial_scale=4.0)
        >>> opt.build([w])
        >>> opt.scale_loss(w.sum()).backward()  # gradients are 4.0
        >>> opt.step()
        >>> w.tolist(), opt.dynamic_scale
        ([0.5, 0.5], 4.0)
        >>> w.grad = torch.tensor([float("inf"), 1.0])
        >>> opt.step()  # skipped: the scale halves, the weights stay
        >>> w.tolist(), opt.dynamic_scale, opt.iterations
        ([0.5, 0.5], 2.0, 1)
    """

    def __init__(
        self,
        inner_optimizer: Optimizer,
        initial_scale: float = 2.0**15,
        dynamic_growth_steps: int = 2000,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not kwargs.pop("dynamic", True):
            raise ValueError(
                "LossScaleOptimizer no longer supports `dynamic=False`. Instead, simply set "
                "`loss_scale_factor` directly on the `inner_optimizer`."
            )
        problems = []
        if not isinstance(inner_optimizer, Optimizer):
            problems.append(f"inner_optimizer must be an Optimizer, received {inner_optimizer!r}")
        if (
            isinstance(initial_scale, bool)
            or not isinstance(initial_scale, int | float)
            or not math.isfinite(initial_scale)
            or initial_scale <= 0
        ):
            problems.append(f"initial_scale must be a positive number, received {initial_scale!r}")
        if (
            isinstance(dynamic_growth_steps, bool)
            or not isinstance(dynamic_growth_steps, int)
            or dynamic_growth_steps < 1
        ):
            problems.append(
                "dynamic_growth_steps must be a positive integer, received "
                f"{dynamic_growth_steps!r}"
            )
        if kwargs:
            problems.append(
                f"arguments {sorted(kwargs)} are not supported; set them on the inner optimizer"
            )
        if problems:
            raise ValueError("LossScaleOptimizer: " + "; ".join(problems) + ".")
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = inner_optimizer
        self.initial_scale = float(initial_scale)
        self.dynamic_growth_steps = dynamic_growth_steps
        self.dynamic_scale = float(initial_scale)
        self.step_counter = 0
        # Scaling twice would be wrong: the inner optimizer must not rescale.
        self.inner_optimizer.loss_scale_factor = None

    # ----------------------------------------------------------- delegation
    @property
    def learning_rate(self) -> float:
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        self.inner_optimizer.learning_rate = value

    @property
    def iterations(self) -> int:
        return self.inner_optimizer.iterations

    def build(self, variables: Any) -> None:
        """Builds the inner optimizer on `variables`."""
        params, names = self._as_param_list(variables)
        self.inner_optimizer.build(
            [p if n is None else (n, p) for p, n in zip(params, names, strict=True)]
        )
        self._params = list(self.inner_optimizer._params)
        self.built = True

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.inner_optimizer.zero_grad(set_to_none)

    def finalize_variable_values(self, var_list: Any = None) -> None:
        self.inner_optimizer.finalize_variable_values(var_list)

    # ----------------------------------------------------------- scaling
    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """Multiplies the loss by the current loss scale."""
        return loss * self.dynamic_scale

    def _unscale_and_check(self, grads: list[torch.Tensor]) -> bool:
        """Divides `grads` by the scale in place; True when all of them are finite."""
        found: list[torch.Tensor] = []
        groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
        for g in grads:
            groups.setdefault((g.device, g.dtype), []).append(g)
        for (device, _), group in groups.items():
            flag = torch.zeros(1, device=device)
            inverse = torch.full((1,), 1.0 / self.dynamic_scale, device=device)
            torch._amp_foreach_non_finite_check_and_unscale_(group, flag, inverse)
            found.append(flag.cpu() if device.type != "cpu" else flag)
        # The one host synchronisation of a float16 step: skip or apply.
        return not any(bool(flag.item()) for flag in found)

    def _after(self, finite: bool) -> None:
        if not finite:
            self.step_counter = 0
            self.dynamic_scale *= 0.5
        elif self.step_counter == self.dynamic_growth_steps - 1:
            self.step_counter = 0
            self.dynamic_scale *= 2.0
        else:
            self.step_counter += 1

    @torch.compiler.disable
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Unscales the `.grad`s and updates the weights unless one is not finite."""
        loss = self._begin_step(closure)
        grads = [p.grad for p in self._params if p.grad is not None]
        if not grads:
            raise ValueError("No gradients provided for any variable.")
        with torch.no_grad():
            finite = self._unscale_and_check(grads)
        if finite:
            self.inner_optimizer.step()
        self._after(finite)
        return loss

    @torch.compiler.disable
    def apply(self, grads: Any, trainable_variables: Any = None) -> None:
        """Keras's `apply`: unscales `grads` (copies) and applies them when all are finite."""
        grads = list(grads)
        if not self.built:
            if trainable_variables is None:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer must already "
                    "be built on a list of variables. Call `optimizer.build(params)` first."
                )
            self.build(trainable_variables)
        present = [g for g in grads if g is not None]
        with torch.no_grad():
            unscaled = [g.detach().clone() for g in present]
            finite = self._unscale_and_check(unscaled) if unscaled else True
        if finite:
            it = iter(unscaled)
            self.inner_optimizer.apply(
                [None if g is None else next(it) for g in grads], trainable_variables
            )
        self._after(finite)

    # ----------------------------------------------------------- state
    def _host_scalars(self) -> list[tuple[str, Callable[[], float], Callable[[float], None]]]:
        def put_counter(v: Any) -> None:
            self.step_counter = int(v)

        def put_scale(v: Any) -> None:
            self.dynamic_scale = float(v)

        return [
            ("step_counter", lambda: float(self.step_counter), put_counter),
            ("dynamic_scale", lambda: self.dynamic_scale, put_scale),
        ]

    def _handles(self) -> list[Any]:
        # Keras's order: this optimizer's own variables, then the inner optimizer's.
        return super()._handles() + self.inner_optimizer._handles()

    def state_dict(self) -> dict[str, Any]:
        """The loss-scale state and the inner optimizer's `state_dict()`."""
        return {
            "class_name": "LossScaleOptimizer",
            "iterations": self.inner_optimizer.iterations,
            "step_counter": self.step_counter,
            "dynamic_scale": self.dynamic_scale,
            "inner_optimizer": self.inner_optimizer.state_dict(),
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores a `state_dict()`."""
        if not isinstance(state_dict, Mapping) or "inner_optimizer" not in state_dict:
            raise ValueError(
                "LossScaleOptimizer.load_state_dict expects the output of `state_dict()`; "
                f"received {type(state_dict).__name__}."
            )
        self.step_counter = int(state_dict["step_counter"])
        self.dynamic_scale = float(state_dict["dynamic_scale"])
        self.inner_optimizer.load_state_dict(state_dict["inner_optimizer"])

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inner_optimizer": _serialize_optimizer(self.inner_optimizer),
            "initial_scale": self.initial_scale,
            "dynamic_growth_steps": self.dynamic_growth_steps,
        }

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], custom_objects: Mapping[str, type] | None = None
    ) -> LossScaleOptimizer:
        config = dict(config)
        inner = config.pop("inner_optimizer")
        if isinstance(inner, Mapping):
            inner = _deserialize_optimizer(inner, custom_objects=custom_objects)
        return cls(inner, **config)

    def __repr__(self) -> str:
        return (
            f"<LossScaleOptimizer name={self.name!r} inner={self.inner_optimizer!r} "
            f"dynamic_scale={self.dynamic_scale:g}>"
        )
