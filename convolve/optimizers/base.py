"""The `Optimizer` base class: Keras 3's optimizer contract over torch parameters.

The base class owns everything the concrete optimizers share, in Keras's order of
operations for one update: unscale by `loss_scale_factor`, accumulate gradients
(`gradient_accumulation_steps`), clip (`clipnorm`, `global_clipnorm` or `clipvalue`),
decay weights (`weight_decay`), apply the optimizer's own rule, update the moving
average of the weights (`use_ema`), apply parameter constraints, count the iteration.

The iteration count, a float learning rate and other scalar state live on the host as
Python numbers, so a step never waits for the device.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from convolve.layers.naming import to_snake_case, unique_name
from convolve.optimizers import schedules
from convolve.optimizers._checks import ArgumentChecker, is_real, looks_like_parameters
from convolve.optimizers._host_values import IterationsValue, LearningRateValue
from convolve.optimizers._scalars import f32
from convolve.optimizers._state import OptimizerVariable, reference_label

__all__ = ["Optimizer"]

Tensor = torch.Tensor
LearningRate = float | schedules.LearningRateSchedule | Callable[[], Any]

#: Elements of all the weights together (128 KiB of float32, glibc's smallest threshold
#: for serving a block by a fresh mapping) from which CPU updates reuse scratch buffers.
_SCRATCH_MIN_NUMEL = 2**15


def _select(values: list[Tensor], idx: list[int] | None) -> list[Tensor]:
    return values if idx is None else [values[i] for i in idx]


# Out-of-place and in-place forms of the multi-tensor ops used for temporaries.
_FOREACH = {
    "mul": (torch._foreach_mul, torch._foreach_mul_),
    "div": (torch._foreach_div, torch._foreach_div_),
    "add": (torch._foreach_add, torch._foreach_add_),
    "sqrt": (torch._foreach_sqrt, torch._foreach_sqrt_),
    "abs": (torch._foreach_abs, torch._foreach_abs_),
    "clamp_min": (torch._foreach_clamp_min, torch._foreach_clamp_min_),
}


class Optimizer:
    """Base class of all optimizers, with Keras 3's arguments and update order.

    Subclasses create their per-parameter state in `_build_slots(params)` and apply
    their rule in `_update_step(params, grads, idx, learning_rate)`. Keras-style
    subclasses that override `build(var_list)` and `update_step(gradient, variable,
    learning_rate)` work too, one parameter at a time.

    Args:
        learning_rate: A float, a `LearningRateSchedule`, or a callable taking no
            arguments and returning the rate.
        weight_decay: If set, each step first scales weights by `1 - weight_decay * lr`.
        clipnorm: If set, clips each gradient to this L2 norm.
        clipvalue: If set, clips each gradient element to `[-clipvalue, clipvalue]`.
        global_clipnorm: If set, clips all gradients together to this global L2 norm.
        use_ema: Whether to keep an exponential moving average of the weights.
        ema_momentum: Momentum of that moving average.
        ema_overwrite_frequency: If set with `use_ema`, copies the average into the
            weights every this many iterations.
        loss_scale_factor: If set, `scale_loss` multiplies the loss by it and updates
            divide the gradients by it.
        gradient_accumulation_steps: If set (>= 2), weights change every this many
            steps, using the mean of the gradients received since the last change.
        name: Name of the optimizer; defaults to the snake-cased class name.
        **kwargs: `decay` is accepted and ignored with a warning, as in Keras; any
            other keyword is an error.

    Example:
        >>> import torch
        >>> from convolve.optimizers import SGD
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt = SGD(learning_rate=0.5)
        >>> opt.build([w])
        >>> w.grad = torch.ones(2)
        >>> opt.step()
        >>> w.tolist(), opt.iterations
        ([0.5, 0.5], 1)
    """

    def __init__(
        self,
        learning_rate: LearningRate,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        check = ArgumentChecker(owner)
        if kwargs.pop("decay", None) is not None:
            warnings.warn(
                "Argument `decay` is no longer supported and will be ignored.", stacklevel=2
            )
        if kwargs:
            check.note(f"argument(s) not recognized: {kwargs}")
        learning_rate = self._coerce_learning_rate(learning_rate, check)
        check.real("weight_decay", weight_decay, low=0, optional=True)
        check.real("clipnorm", clipnorm, low=0, optional=True)
        check.real("clipvalue", clipvalue, low=0, optional=True)
        check.real("global_clipnorm", global_clipnorm, low=0, optional=True)
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            check.note(
                "only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set; "
                f"received clipnorm={clipnorm!r}, clipvalue={clipvalue!r}, "
                f"global_clipnorm={global_clipnorm!r}"
            )
        check.boolean("use_ema", use_ema)
        check.real("ema_momentum", ema_momentum, low=0, high=1)
        check.integer("ema_overwrite_frequency", ema_overwrite_frequency, low=1, optional=True)
        check.real("loss_scale_factor", loss_scale_factor, low=0, low_open=True, optional=True)
        check.integer(
            "gradient_accumulation_steps", gradient_accumulation_steps, low=2, optional=True
        )
        check.string("name", name, optional=True)
        self._check_hyperparameters(check)
        check.raise_if_any()

        # Keras's names, `adam` then `adam_1`, counted with the layers' (clear_session resets)
        self.name = name if name is not None else unique_name(to_snake_case(owner))
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = bool(use_ema)
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps

        self._learning_rate: LearningRate = learning_rate
        self._iterations = 0
        self.built = False
        self._params: list[Tensor] = []
        self._param_names: list[str | None] = []
        self._index: dict[int, int] = {}
        self._tracked: list[tuple[str, Tensor]] = []
        self._ema_averages: list[Tensor] = []
        self._accumulators: list[Tensor] = []
        self._decay_flags: list[bool] = []
        self._decayed: list[Tensor] = []
        self._constrained: list[int] = []
        self._exclude_ids: set[int] = set()
        self._exclude_pattern: re.Pattern[str] | None = None
        self._pending_state: Mapping[str, Any] | None = None
        self._scratch: dict[str, list[Tensor]] | None = None

    # ----------------------------------------------------------------- arguments

    def _check_hyperparameters(self, check: ArgumentChecker) -> None:
        """Validates subclass hyperparameters (set before `super().__init__`)."""

    def _coerce_learning_rate(self, value: Any, check: ArgumentChecker) -> LearningRate:
        if isinstance(value, schedules.LearningRateSchedule):
            return value
        if isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point():
            value = float(value)
        if is_real(value):
            check.real("learning_rate", value, low=0)
            return f32(value)
        if callable(value):
            return value
        hint = ""
        if looks_like_parameters(value):
            hint = " (parameters go to `build(params)`, `apply(grads, params)` or `step()`)"
        check.fail(
            "learning_rate",
            value,
            "must be a non-negative float, a LearningRateSchedule or a callable" + hint,
        )
        return 0.0

    # ------------------------------------------------------------ learning rate

    @property
    def learning_rate(self) -> float:
        """The learning rate the next update will use, as a Python float.

        Assigning a float changes it (as callbacks such as ReduceLROnPlateau do);
        assigning a schedule or callable replaces it. Like Keras, a float rate is
        stored in float32, and an optimizer built on a schedule refuses a float. As
        with Keras's Variable, `learning_rate.assign(x)` and `.numpy()` work too.
        """
        return LearningRateValue(
            self._current_learning_rate(),
            lambda v: setattr(self, "learning_rate", v),
            f"{self.name}/learning_rate",
        )

    @learning_rate.setter
    def learning_rate(self, value: LearningRate) -> None:
        if isinstance(self._learning_rate, schedules.LearningRateSchedule) and not callable(value):
            raise TypeError(
                f"{type(self).__name__} was created with a LearningRateSchedule as its "
                "`learning_rate`, so its learning rate is not settable to a number. Create "
                "the optimizer with a float `learning_rate` to change it later."
            )
        check = ArgumentChecker(type(self).__name__)
        value = self._coerce_learning_rate(value, check)
        check.raise_if_any()
        self._learning_rate = value

    def _current_learning_rate(self) -> float:
        lr = self._learning_rate
        if isinstance(lr, float):
            return lr
        if isinstance(lr, schedules.LearningRateSchedule):
            return f32(float(lr(self._iterations)))
        return f32(float(lr()))

    @property
    def iterations(self) -> int:
        """Number of updates applied (steps divided by `gradient_accumulation_steps`);
        `iterations.assign(n)` and `.numpy()` work as on Keras's Variable."""
        steps = self.gradient_accumulation_steps or 1
        return IterationsValue(
            self._iterations // steps, self._set_iterations, f"{self.name}/iteration"
        )

    def _set_iterations(self, value: int) -> None:
        self._iterations = value * (self.gradient_accumulation_steps or 1)

    # -------------------------------------------------------------------- build

    def _as_param_list(self, variables: Any) -> tuple[list[Tensor], list[str | None]]:
        if isinstance(variables, torch.Tensor):
            variables = [variables]
        params: list[Tensor] = []
        names: list[str | None] = []
        for item in variables:
            if isinstance(item, torch.Tensor):
                params.append(item)
                # A Keras Variable or layer weight carries its Keras name ("kernel", "bias").
                name = getattr(item, "name", None)
                names.append(name if isinstance(name, str) else None)
            elif (
                isinstance(item, tuple)
                and len(item) == 2
                and isinstance(item[0], str)
                and isinstance(item[1], torch.Tensor)
            ):
                names.append(item[0])
                params.append(item[1])
            else:
                raise ValueError(
                    f"{type(self).__name__} expects torch tensors such as "
                    "`model.parameters()`, or (name, tensor) pairs such as "
                    f"`model.named_parameters()`; received an item {item!r} of type "
                    f"{type(item).__name__}."
                )
        return params, names

    def build(self, variables: Iterable[Tensor] | Iterable[tuple[str, Tensor]]) -> None:
        """Creates the optimizer state for `variables`.

        Calling it again with the same (or a subset of the) parameters does nothing.

        Args:
            variables: The parameters to train, e.g. `model.parameters()`, or
                `model.named_parameters()` (names are used by
                `exclude_from_weight_decay(var_names=...)`).
        """
        params, names = self._as_param_list(variables)
        if self.built:
            unknown = [i for i, p in enumerate(params) if id(p) not in self._index]
            if unknown:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}' was built on {len(self._params)} "
                    f"parameters; received {len(unknown)} new one(s) (positions {unknown}). "
                    "Create a new optimizer for a new set of parameters."
                )
            return
        seen: set[int] = set()
        for p, n in zip(params, names, strict=True):
            if id(p) not in seen:
                seen.add(id(p))
                self._params.append(p)
                self._param_names.append(n)
        self._index = {id(p): i for i, p in enumerate(self._params)}
        if self.use_ema:
            self._ema_averages = self.add_optimizer_variables(self._params, "average")
        if self.gradient_accumulation_steps:
            self._accumulators = self.add_optimizer_variables(self._params, "gradient_accumulator")
        self._build_slots(self._params)
        self._decay_flags = [self._use_weight_decay(i) for i in range(len(self._params))]
        self._decayed = [p for p, d in zip(self._params, self._decay_flags, strict=True) if d]
        self._constrained = [
            i for i, p in enumerate(self._params) if callable(getattr(p, "constraint", None))
        ]
        if all(p.device.type == "cpu" for p in self._params) and (
            sum(p.numel() for p in self._params) >= _SCRATCH_MIN_NUMEL
        ):
            self._scratch = {}
        self.built = True
        pending = self._pending_state
        # A Keras-style subclass adds its state after this method returns; its pending
        # state is then restored at the first update instead.
        if pending is not None and set(pending.get("variables", {})) == {
            n for n, _ in self._tracked
        }:
            self._load_now(pending)

    def _build_slots(self, params: list[Tensor]) -> None:
        """Creates the optimizer-specific state for `params`."""

    def add_variable(
        self,
        shape: Sequence[int],
        initializer: str | float | Callable[..., Tensor] = "zeros",
        dtype: torch.dtype | None = None,
        name: str | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Creates a state tensor tracked in `variables` and `state_dict()`.

        Args:
            shape: Shape of the tensor.
            initializer: "zeros", "ones", a number to fill with, or a callable
                `(shape, dtype) -> Tensor`.
            dtype: Defaults to float32.
            name: Name used in `state_dict()`.
            device: Defaults to the device of the first parameter, else CPU.

        Returns:
            The new tensor.
        """
        dtype = dtype or torch.float32
        if device is None and self._params:
            device = self._params[0].device
        value = self._initial_value(initializer, tuple(shape), dtype, device)
        return self._track(name or "variable", value)

    def add_variable_from_reference(
        self,
        reference_variable: Tensor,
        name: str | None = None,
        initializer: str | float | Callable[..., Tensor] = "zeros",
    ) -> Tensor:
        """Creates a state tensor shaped like a parameter (same dtype, device, layout).

        Args:
            reference_variable: The parameter the state belongs to.
            name: Name of the state, e.g. "momentum".
            initializer: As in `add_variable`.

        Returns:
            The new tensor.
        """
        name = name or "var"
        ref = reference_variable
        if initializer == "zeros":
            value = torch.zeros_like(ref, memory_format=torch.preserve_format)
        elif initializer == "ones":
            value = torch.ones_like(ref, memory_format=torch.preserve_format)
        elif is_real(initializer):
            value = torch.full_like(ref, float(initializer), memory_format=torch.preserve_format)
        else:
            value = self._initial_value(initializer, tuple(ref.shape), ref.dtype, ref.device)
        index = self._index.get(id(ref))
        fallback = None if index is None else self._param_names[index]
        label = f"{reference_label(ref, fallback)}_{name}"
        return self._track(name if index is None else f"{index}/{name}", value, label)

    def add_optimizer_variables(
        self,
        trainable_variables: Sequence[Tensor],
        name: str | Sequence[str],
        initializer: str | float | Callable[..., Tensor] = "zeros",
    ) -> Any:
        """Creates one state tensor per parameter and per name, interleaved as in Keras.

        Args:
            trainable_variables: The parameters.
            name: One name, or several names for several states per parameter.
            initializer: As in `add_variable`.

        Returns:
            A list of tensors for one name; a tuple of lists for several names.
        """
        names = [name] if isinstance(name, str) else list(name)
        lists: tuple[list[Tensor], ...] = tuple([] for _ in names)
        for variable in trainable_variables:
            for slot_list, slot_name in zip(lists, names, strict=True):
                slot_list.append(self.add_variable_from_reference(variable, slot_name, initializer))
        return lists[0] if isinstance(name, str) else lists

    @staticmethod
    def _initial_value(
        initializer: Any, shape: tuple[int, ...], dtype: torch.dtype, device: Any
    ) -> Tensor:
        if initializer == "zeros":
            return torch.zeros(shape, dtype=dtype, device=device)
        if initializer == "ones":
            return torch.ones(shape, dtype=dtype, device=device)
        if is_real(initializer):
            return torch.full(shape, float(initializer), dtype=dtype, device=device)
        if callable(initializer):
            return torch.as_tensor(initializer(shape, dtype), dtype=dtype, device=device)
        raise ValueError(
            f"Unsupported optimizer variable initializer; received initializer={initializer!r}"
        )

    def _track(self, name: str, value: Tensor, label: str | None = None) -> Tensor:
        """Records a state tensor under a unique `state_dict()` key; returns it named
        `label` (default `name`) as Keras names the variable."""
        taken = {n for n, _ in self._tracked}
        unique, k = name, 1
        while unique in taken:
            unique, k = f"{name}_{k}", k + 1
        label = label or name
        state = OptimizerVariable.wrap(value, label, f"{self.name}/{label}")
        self._tracked.append((unique, state))
        return state

    def _get_variable_index(self, variable: Tensor) -> int:
        return self._index[id(variable)]

    def _fresh(
        self, slot: str, idx: list[int] | None, op: str, first: list[Tensor], *args: Any
    ) -> list[Tensor]:
        """`torch._foreach_<op>(first, *args)`, as tensors the caller may overwrite.

        On CPU, newly allocated memory costs a page fault per page on first write,
        which outweighs the arithmetic of an update several times over; there the
        result goes into buffers kept per `slot` and reused every step. On other
        devices the caching allocator already recycles memory, and on CPU so does
        malloc for small blocks (weights under `_SCRATCH_MIN_NUMEL` elements in all),
        so there the op allocates, saving the copy's kernel launch.
        """
        out_of_place, in_place = _FOREACH[op]
        if self._scratch is None:
            return out_of_place(first, *args)
        buffers = self._scratch.get(slot)
        if buffers is None:
            buffers = [torch.empty_like(p) for p in self._params]
            self._scratch[slot] = buffers
        buffers = _select(buffers, idx)
        torch._foreach_copy_(buffers, first)
        in_place(buffers, *args)
        return buffers

    # ------------------------------------------------------------- weight decay

    def exclude_from_weight_decay(
        self, var_list: Iterable[Tensor] | None = None, var_names: Iterable[str] | None = None
    ) -> None:
        """Excludes parameters from weight decay.

        Each call replaces the previous exclusions. As in Keras, it also takes effect
        when called after the optimizer is built.

        Args:
            var_list: Parameters to exclude.
            var_names: Substrings (regular expressions); a parameter whose name contains
                one is excluded. The name is the Keras name of a `Variable` or layer
                weight (`kernel`, `bias`, `gamma` ...), or the name given with
                `build(model.named_parameters())`.
        """
        if isinstance(var_names, str):
            raise ValueError(
                "`exclude_from_weight_decay` expects `var_names` to be a list of strings; "
                f"received var_names={var_names!r}"
            )
        self._exclude_ids = {id(v) for v in var_list or []}
        names = sorted(set(var_names or []))
        self._exclude_pattern = re.compile("|".join(names)) if names else None
        if self.built:
            self._decay_flags = [self._use_weight_decay(i) for i in range(len(self._params))]
            self._decayed = [p for p, d in zip(self._params, self._decay_flags, strict=True) if d]

    def _use_weight_decay(self, index: int) -> bool:
        if id(self._params[index]) in self._exclude_ids:
            return False
        name = self._param_names[index]
        if self._exclude_pattern is not None and name is not None:
            return self._exclude_pattern.search(name) is None
        return True

    # ------------------------------------------------------------------ updates

    def _begin_step(self, closure: Callable[[], Any] | None) -> Any:
        """Runs `closure` (with gradients on) and checks the optimizer is built; the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if not self.built:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' has no parameters yet; call "
                "`build(model.parameters())` before `step()`."
            )
        return loss

    # Kept out of `torch.compile` graphs: the step reads host-side counters that change
    # every call, which would recompile the graph each step; eager foreach ops are fast
    # and keep Keras's exact rounding.
    @torch.compiler.disable
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Applies one update from each built parameter's `.grad`.

        Parameters whose `.grad` is None are left alone. Runs under `torch.no_grad()`
        and never waits for the device. Inside a `torch.compile`d function it runs
        eagerly (a graph break).

        Args:
            closure: Optional, as in `torch.optim`: re-evaluates the model and returns
                the loss, which `step` returns.

        Returns:
            The closure's loss, or None.
        """
        loss = self._begin_step(closure)
        grads: list[Tensor | None] = [p.grad for p in self._params]
        idx = None
        if any(g is None for g in grads):
            idx = [i for i, g in enumerate(grads) if g is not None]
            if not idx:
                raise ValueError("No gradients provided for any variable.")
            grads = [grads[i] for i in idx]
        with torch.no_grad():
            self._apply_update(grads, idx)  # type: ignore[arg-type]
        return loss

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Tensor | None, Tensor]]) -> int:
        """Applies `(gradient, parameter)` pairs, building the optimizer if needed.

        Returns:
            The iteration count after the update.
        """
        pairs = list(grads_and_vars)
        if not pairs:
            return self._iterations
        grads, variables = zip(*pairs, strict=True)
        self.apply(list(grads), list(variables))
        return self._iterations

    def _require_built_for_bare_grads(self) -> None:
        """`apply(grads)` without variables needs the parameters of an earlier build."""
        if not self.built:
            raise ValueError(
                "When passing `grads` without `variables`, the optimizer must already "
                "be built on a list of variables. Call `optimizer.build(params)` first."
            )

    @torch.compiler.disable
    def apply(
        self, grads: Sequence[Tensor | None], trainable_variables: Iterable[Tensor] | None = None
    ) -> None:
        """Applies gradients to parameters, building the optimizer on first use.

        Args:
            grads: One gradient (or None) per parameter.
            trainable_variables: The parameters, in the order of `grads`. If omitted,
                `grads` must match the parameters the optimizer was built with.
        """
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            self._require_built_for_bare_grads()
            if len(grads) != len(self._params):
                raise ValueError(
                    f"Received {len(grads)} gradients, but {type(self).__name__} "
                    f"'{self.name}' was built on {len(self._params)} parameters."
                )
            positions = list(range(len(grads)))
        else:
            params, names = self._as_param_list(trainable_variables)
            if len(params) != len(grads):
                raise ValueError(
                    f"Received {len(grads)} gradients for {len(params)} parameters; they "
                    "must match one to one."
                )
            if not self.built:
                self.build([p if n is None else (n, p) for n, p in zip(names, params, strict=True)])
            positions = []
            for p in params:
                if id(p) not in self._index:
                    raise ValueError(
                        f"Unknown variable of shape {tuple(p.shape)}: {type(self).__name__} "
                        f"'{self.name}' can only update the parameters it was built with. "
                        "Create a new optimizer for a new set of parameters."
                    )
                positions.append(self._index[id(p)])
        kept = [(g, i) for g, i in zip(grads, positions, strict=True) if g is not None]
        if not kept:
            raise ValueError("No gradients provided for any variable.")
        if len(kept) < len(grads):
            missing = [
                self._param_names[i] or f"#{i}"
                for g, i in zip(grads, positions, strict=True)
                if g is None
            ]
            warnings.warn(
                f"Gradients do not exist for variables {missing} when minimizing the loss.",
                stacklevel=2,
            )
        tensors = []
        for g, i in kept:
            p = self._params[i]
            if not isinstance(g, torch.Tensor):
                g = torch.as_tensor(g, dtype=p.dtype, device=p.device)
            if g.shape != p.shape:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': the gradient for variable "
                    f"{self._param_names[i] or f'#{i}'} of shape {tuple(p.shape)} has shape "
                    f"{tuple(g.shape)}; received a gradient of the wrong shape."
                )
            tensors.append(g)
        idx: list[int] | None = [i for _, i in kept]
        if idx == list(range(len(self._params))):
            idx = None
        with torch.no_grad():
            self._apply_update(tensors, idx)

    def _apply_update(self, grads: list[Tensor], idx: list[int] | None) -> None:
        """One call of Keras's `apply`, on gradients for the parameters at `idx`."""
        self._flush_pending()
        owned = False  # True once `grads` are temporaries that may be overwritten
        if self.loss_scale_factor is not None:
            grads = self._fresh("grad", idx, "div", grads, self.loss_scale_factor)
            owned = True
        steps = self.gradient_accumulation_steps
        if steps:
            accumulators = _select(self._accumulators, idx)
            if (self._iterations + 1) % steps == 0:
                grads = self._fresh("grad", idx, "add", grads, accumulators)
                torch._foreach_div_(grads, steps)
                self._clip_decay_update(grads, idx, owned=True)
                torch._foreach_mul_(self._accumulators, 0.0)
            else:
                torch._foreach_add_(accumulators, grads, alpha=1.0)
        else:
            self._clip_decay_update(grads, idx, owned)
        if self.use_ema:
            self._update_moving_average()
        for i in self._constrained:
            if idx is None or i in idx:
                p = self._params[i]
                p.copy_(p.constraint(p))  # type: ignore[attr-defined]
        self._iterations += 1

    def _clip_decay_update(self, grads: list[Tensor], idx: list[int] | None, owned: bool) -> None:
        grads = self._clip_gradients(grads, idx, owned)
        lr = self._current_learning_rate()
        if self.weight_decay is not None:
            if idx is None:
                decayed = self._decayed
            else:
                decayed = [self._params[i] for i in idx if self._decay_flags[i]]
            if decayed:
                # Keras's torch backend form: one multiply by float32(1 - wd * lr).
                torch._foreach_mul_(decayed, f32(1 - f32(f32(self.weight_decay) * lr)))
        self._update_step(_select(self._params, idx), grads, idx, lr)

    def _clip_gradients(
        self, grads: list[Tensor], idx: list[int] | None, owned: bool
    ) -> list[Tensor]:
        def apply(op: str, *args: Any) -> list[Tensor]:
            if owned:
                _FOREACH[op][1](grads, *args)
                return grads
            return self._fresh("grad", idx, op, grads, *args)

        if self.clipnorm and self.clipnorm > 0:
            norms = torch._foreach_norm(grads)
            torch._foreach_clamp_min_(norms, self.clipnorm)
            clipped = apply("mul", self.clipnorm)
            torch._foreach_div_(clipped, norms)
            return clipped
        if self.global_clipnorm and self.global_clipnorm > 0:
            clip = self.global_clipnorm
            total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            scale = clip * torch.clamp_max(1.0 / total, 1.0 / clip)
            # Adding (total - total) turns the scale into NaN when the norm is not finite.
            scale = scale + (total - total)
            return apply("mul", scale)
        if self.clipvalue and self.clipvalue > 0:
            clipped = apply("clamp_min", -self.clipvalue)
            torch._foreach_clamp_max_(clipped, self.clipvalue)
            return clipped
        return grads

    def _update_step(
        self, params: list[Tensor], grads: list[Tensor], idx: list[int] | None, lr: float
    ) -> None:
        """Applies the optimizer's rule; the default calls `update_step` per parameter."""
        for g, p in zip(grads, params, strict=True):
            self.update_step(g, p, lr)

    def update_step(self, gradient: Tensor, variable: Tensor, learning_rate: float) -> None:
        """Keras-style single-parameter update, for subclasses that override it."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement `update_step` or `_update_step`."
        )

    def assign(self, variable: Tensor, value: Tensor) -> None:
        """Writes `value` into `variable` in place."""
        variable.copy_(value)

    def assign_add(self, variable: Tensor, value: Tensor) -> None:
        """Adds `value` to `variable` in place."""
        variable.add_(value)

    def assign_sub(self, variable: Tensor, value: Tensor) -> None:
        """Subtracts `value` from `variable` in place."""
        variable.sub_(value)

    def scale_loss(self, loss: Tensor) -> Tensor:
        """Multiplies the loss by `loss_scale_factor` when one is set."""
        if self.loss_scale_factor is not None:
            return loss * self.loss_scale_factor
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears the `.grad` of every built parameter, as `torch.optim` does."""
        for p in self._params:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_()
                p.grad.zero_()

    # ---------------------------------------------------------------------- EMA

    def _update_moving_average(self) -> None:
        momentum = f32(self.ema_momentum) if self.iterations != 0 else 0.0
        torch._foreach_mul_(self._ema_averages, momentum)
        weighted = self._fresh("ema", None, "mul", self._params, f32(1 - momentum))
        torch._foreach_add_(self._ema_averages, weighted)
        frequency = self.ema_overwrite_frequency
        if frequency and (self.iterations + 1) % frequency == 0:
            torch._foreach_copy_(self._params, self._ema_averages)

    def finalize_variable_values(self, var_list: Sequence[Tensor] | None = None) -> None:
        """With `use_ema`, copies the moving averages into the parameters.

        Args:
            var_list: The parameters, in build order; defaults to the built ones.
        """
        if not self.use_ema:
            return
        params = self._params if var_list is None else list(var_list)
        if len(params) != len(self._ema_averages):
            raise ValueError(
                f"Received {len(params)} variables, but {type(self).__name__} "
                f"'{self.name}' holds {len(self._ema_averages)} moving averages."
            )
        with torch.no_grad():
            torch._foreach_copy_(params, self._ema_averages)

    # -------------------------------------------------------------------- state

    def _host_scalars(self) -> list[tuple[str, Callable[[], float], Callable[[float], None]]]:
        """Scalar state kept on the host, listed after the tensors (name, get, set)."""
        return []

    def _handles(self) -> list[tuple[str, Callable[[], Tensor], Callable[[Any], None]]]:
        """Every variable in Keras's order: iteration, learning rate, tensors, scalars."""

        def set_iterations(v: Any) -> None:
            self._iterations = int(v)

        handles: list[tuple[str, Callable[[], Tensor], Callable[[Any], None]]] = [
            ("iteration", lambda: torch.tensor(self._iterations, dtype=torch.int32), set_iterations)
        ]
        if isinstance(self._learning_rate, float):

            def set_lr(v: Any) -> None:
                self._learning_rate = f32(float(v))

            handles.append(("learning_rate", lambda: torch.tensor(self._learning_rate), set_lr))
        for name, tensor in self._tracked:

            def set_tensor(v: Any, t: Tensor = tensor) -> None:
                with torch.no_grad():
                    t.copy_(torch.as_tensor(v))

            handles.append((name, lambda t=tensor: t, set_tensor))
        for name, get, put in self._host_scalars():
            handles.append((name, lambda get=get: torch.tensor(get(), dtype=torch.float32), put))
        return handles

    @property
    def variables(self) -> list[OptimizerVariable]:
        """All optimizer variables, in Keras's order and count.

        The iteration count (int32), a float learning rate (float32) and host scalars
        such as Nadam's momentum product appear as 0-d tensor copies (their `assign`
        writes through); the per-parameter state tensors are the live ones. Each has
        Keras's `name` and `path`, e.g. `"adam/sequential_dense_kernel_momentum"`.
        """
        self._flush_pending()
        variables = []
        for name, get, put in self._handles():
            value = get()
            if not isinstance(value, OptimizerVariable):
                value = OptimizerVariable.wrap(value, name, f"{self.name}/{name}", put)
            variables.append(value)
        return variables

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Sets all variables from arrays in the order of `variables`."""
        if not self.built:
            raise ValueError(
                "You are calling `set_weights()` on an optimizer that has not yet been "
                "built. Call `optimizer.build(params)` first."
            )
        handles = self._handles()
        if len(weights) != len(handles):
            raise ValueError(
                f"{type(self).__name__} '{self.name}' has {len(handles)} variables; "
                f"received {len(weights)} weights."
            )
        for (name, get, _), w in zip(handles, weights, strict=True):
            if tuple(get().shape) != tuple(getattr(w, "shape", ())):
                raise ValueError(
                    f"Optimizer variable {name!r} has shape {tuple(get().shape)}; received "
                    f"a weight of shape {tuple(getattr(w, 'shape', ()))}."
                )
        self._pending_state = None
        for (_, _, put), w in zip(handles, weights, strict=True):
            put(w)

    def save_own_variables(self, store: dict[str, Any]) -> None:
        """Writes the variables as NumPy arrays under keys "0", "1", ... (Keras format)."""
        for i, v in enumerate(self.variables):
            store[str(i)] = v.detach().cpu().numpy()

    def load_own_variables(self, store: Mapping[str, Any]) -> None:
        """Reads variables written by `save_own_variables` (or by Keras)."""
        handles = self._handles()
        if len(store.keys()) != len(handles):
            warnings.warn(
                f"Skipping variable loading for optimizer '{self.name}', because it has "
                f"{len(handles)} variables whereas the saved optimizer has "
                f"{len(store.keys())} variables.",
                stacklevel=2,
            )
            return
        self.set_weights([store[str(i)] for i in range(len(handles))])

    def state_dict(self) -> dict[str, Any]:
        """The training state: iteration count, learning rate and per-parameter state.

        The tensors are the live state, not copies (as in `torch.optim`): save or clone
        them before the next step.

        Returns:
            A dict with "class_name", "iterations", "learning_rate" (None when the rate
            comes from a schedule), "variables" (name to tensor, in Keras's order) and
            any host scalars (e.g. Nadam's "u_product").
        """
        if self._pending_state is not None and not self.built:
            return dict(self._pending_state)
        self._flush_pending()
        lr = self._learning_rate
        state: dict[str, Any] = {
            "class_name": type(self).__name__,
            "iterations": self._iterations,
            "learning_rate": lr if isinstance(lr, float) else None,
            "variables": dict(self._tracked),
        }
        for name, get, _ in self._host_scalars():
            state[name] = get()
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores a `state_dict()`, so training resumes exactly where it stopped.

        Before `build`, the iteration count and learning rate are restored at once and
        the tensors when the optimizer is built.
        """
        owner = type(self).__name__
        if not isinstance(state_dict, Mapping) or "iterations" not in state_dict:
            keys = list(state_dict) if isinstance(state_dict, Mapping) else None
            raise ValueError(
                f"{owner}.load_state_dict expects the output of `state_dict()`; received "
                f"a {type(state_dict).__name__} with keys {keys}."
            )
        saved_class = state_dict.get("class_name")
        if saved_class is not None and saved_class != owner:
            raise ValueError(
                f"Cannot load a {saved_class} state into {owner} '{self.name}'; received "
                f"class_name={saved_class!r}."
            )
        self._iterations = int(state_dict["iterations"])
        lr = state_dict.get("learning_rate")
        if lr is not None and isinstance(self._learning_rate, float):
            self._learning_rate = f32(float(lr))
        if self.built:
            self._load_now(state_dict)
        else:
            self._pending_state = state_dict

    def _flush_pending(self) -> None:
        if self._pending_state is not None and self.built:
            self._load_now(self._pending_state)

    def _load_now(self, state: Mapping[str, Any]) -> None:
        self._pending_state = None
        saved = state.get("variables", {})
        ours = dict(self._tracked)
        if set(saved) != set(ours):
            raise ValueError(
                f"{type(self).__name__} '{self.name}' state does not match: expected "
                f"variables {sorted(ours)}, received {sorted(saved)}."
            )
        for name, tensor in ours.items():
            value = saved[name]
            if tuple(value.shape) != tuple(tensor.shape):
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': variable {name!r} has shape "
                    f"{tuple(tensor.shape)}; received shape {tuple(value.shape)}."
                )
        with torch.no_grad():
            for name, tensor in ours.items():
                tensor.copy_(torch.as_tensor(saved[name]))
        for name, _, put in self._host_scalars():
            if name in state:
                put(state[name])

    # ------------------------------------------------------------ serialization

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-serialisable, as Keras returns them."""
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            learning_rate: Any = schedules.serialize(lr)
        elif isinstance(lr, float):
            learning_rate = lr
        else:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' has a callable learning rate {lr!r}, "
                "which cannot be serialized; use a float or a LearningRateSchedule."
            )
        return {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], custom_objects: Mapping[str, type] | None = None
    ) -> Optimizer:
        """Creates an optimizer from `get_config()` output (without its state)."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(
                config["learning_rate"], custom_objects=dict(custom_objects or {})
            )
        return cls(**config)

    def __getstate__(self) -> dict[str, Any]:
        # State tensors pickle as plain tensors (so `torch.load(weights_only=True)` reads
        # a saved `state_dict()`); their Keras names travel beside them.
        state = self.__dict__.copy()
        state["_tracked_labels"] = [
            (t.name, t.path) if isinstance(t, OptimizerVariable) else None for _, t in self._tracked
        ]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        labels = state.pop("_tracked_labels", None)
        self.__dict__.update(state)
        if labels is not None and len(labels) == len(self._tracked):
            self._tracked = [
                (key, OptimizerVariable.wrap(t, *label))
                if label is not None and not isinstance(t, OptimizerVariable)
                else (key, t)
                for (key, t), label in zip(self._tracked, labels, strict=True)
            ]

    def __repr__(self) -> str:
        lr = self._learning_rate
        shown = f"{lr:g}" if isinstance(lr, float) else repr(lr)
        return f"<{type(self).__name__} name={self.name!r} learning_rate={shown}>"
