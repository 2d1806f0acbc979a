"""Learning rate schedules with Keras 3's formulas, arguments and configs.

A schedule is called with the optimizer's iteration count and returns the learning
rate as a 0-d float32 tensor. The arithmetic follows Keras op for op in float32, so
values agree with Keras bit for bit on CPU.

Example:
    >>> from convolve.optimizers import SGD, schedules
    >>> lr = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    >>> round(float(lr(10)), 6)
    0.05
    >>> opt = SGD(learning_rate=lr)
"""

from __future__ import annotations

import math
from typing import Any

import torch

from convolve.optimizers._checks import ArgumentChecker, is_real

__all__ = [
    "LearningRateSchedule",
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "InverseTimeDecay",
    "CosineDecay",
    "CosineDecayRestarts",
    "serialize",
    "deserialize",
]

_F32 = torch.float32


def _const(value: float, like: torch.Tensor | None = None) -> torch.Tensor:
    device = like.device if like is not None else None
    return torch.tensor(float(value), dtype=_F32, device=device)


def _step_f32(step: Any) -> torch.Tensor:
    """The step as a float32 scalar tensor, like Keras's `ops.cast(step, "float32")`."""
    if isinstance(step, torch.Tensor):
        return step.detach().to(_F32)
    return torch.tensor(step, dtype=_F32)


class LearningRateSchedule:
    """Base class of learning rate schedules.

    Subclasses implement `__call__(step)`, returning the learning rate at optimizer
    step `step` (an int or a scalar tensor), and `get_config()` to be serialisable.

    Example:
        >>> class InverseStep(LearningRateSchedule):
        ...     def __init__(self, initial):
        ...         self.initial = initial
        ...     def __call__(self, step):
        ...         return self.initial / (step + 1)
        ...     def get_config(self):
        ...         return {"initial": self.initial}
        >>> InverseStep(1.0)(3)
        0.25
    """

    def __call__(self, step: Any) -> Any:
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `__call__(self, step)`."
        )

    def get_config(self) -> dict[str, Any]:
        """Returns the constructor arguments as a JSON-serialisable dict."""
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `get_config()` "
            "in order to be serializable."
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        """Creates a schedule from the output of `get_config()`."""
        return cls(**config)

    def __repr__(self) -> str:
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


def _check_common(
    check: ArgumentChecker, initial_learning_rate: Any, steps_name: str, steps: Any
) -> None:
    check.real("initial_learning_rate", initial_learning_rate)
    if not (is_real(steps) and steps > 0):
        check.fail(steps_name, steps, "must be > 0")


class ExponentialDecay(LearningRateSchedule):
    """`initial_learning_rate * decay_rate ** (step / decay_steps)`.

    Args:
        initial_learning_rate: The learning rate at step 0.
        decay_steps: Steps per factor of `decay_rate`; must be > 0.
        decay_rate: The decay factor.
        staircase: If True, `step / decay_steps` is floored, so the rate drops in steps.
        name: Name of the schedule.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "ExponentialDecay",
    ) -> None:
        check = ArgumentChecker(type(self).__name__)
        _check_common(check, initial_learning_rate, "decay_steps", decay_steps)
        check.real("decay_rate", decay_rate)
        check.boolean("staircase", staircase)
        check.raise_if_any()
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step: Any) -> torch.Tensor:
        step = _step_f32(step)
        initial = _const(self.initial_learning_rate, step)
        p = step / _const(self.decay_steps, step)
        if self.staircase:
            p = torch.floor(p)
        return initial * torch.pow(_const(self.decay_rate, step), p)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """A constant learning rate per interval of steps.

    The rate is `values[0]` while `step <= boundaries[0]`, `values[i]` while
    `boundaries[i-1] < step <= boundaries[i]`, and `values[-1]` after the last boundary.

    Args:
        boundaries: Strictly increasing step numbers.
        values: One more value than there are boundaries.
        name: Name of the schedule.
    """

    def __init__(
        self,
        boundaries: list[int],
        values: list[float],
        name: str = "PiecewiseConstant",
    ) -> None:
        check = ArgumentChecker(type(self).__name__)
        try:
            n_bounds, n_values = len(boundaries), len(values)
        except TypeError:
            check.fail("boundaries", boundaries, "and `values` must be lists")
            check.raise_if_any()
        if n_bounds != n_values - 1:
            check.fail(
                "boundaries",
                boundaries,
                f"must be 1 shorter than `values` (received {n_values} values)",
            )
        if not all(is_real(b) for b in boundaries) or any(
            b >= c for b, c in zip(boundaries, boundaries[1:], strict=False)
        ):
            check.fail("boundaries", boundaries, "must be strictly increasing numbers")
        if not all(is_real(v) for v in values):
            check.fail("values", values, "must be numbers")
        check.raise_if_any()
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step: Any) -> torch.Tensor:
        if not isinstance(step, torch.Tensor):
            step = torch.tensor(step)
        # Keras casts boundaries to the step's dtype before comparing.
        bounds = [torch.tensor(b).to(dtype=step.dtype, device=step.device) for b in self.boundaries]
        values = [_const(v, step) for v in self.values]
        result = torch.zeros((), dtype=_F32, device=step.device)
        result = result + (step <= bounds[0]).to(_F32) * values[0]
        result = result + (step > bounds[-1]).to(_F32) * values[-1]
        for low, high, value in zip(bounds[:-1], bounds[1:], values[1:-1], strict=True):
            result = result + ((step > low) & (step <= high)).to(_F32) * value
        return result

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """Polynomial decay from `initial_learning_rate` to `end_learning_rate`.

    `(initial - end) * (1 - min(step, decay_steps) / decay_steps) ** power + end`; with
    `cycle=True` the horizon grows to the next multiple of `decay_steps` instead.

    Args:
        initial_learning_rate: The learning rate at step 0.
        decay_steps: Steps to reach `end_learning_rate`; must be > 0.
        end_learning_rate: The final learning rate.
        power: Exponent of the polynomial.
        cycle: Whether to restart after `decay_steps`.
        name: Name of the schedule.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ) -> None:
        check = ArgumentChecker(type(self).__name__)
        _check_common(check, initial_learning_rate, "decay_steps", decay_steps)
        check.real("end_learning_rate", end_learning_rate)
        check.real("power", power)
        check.boolean("cycle", cycle)
        check.raise_if_any()
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step: Any) -> torch.Tensor:
        step = _step_f32(step)
        initial = _const(self.initial_learning_rate, step)
        end = _const(self.end_learning_rate, step)
        power = _const(self.power, step)
        decay_steps = _const(self.decay_steps, step)
        if self.cycle:
            multiplier = torch.where(
                step == 0, _const(1.0, step), torch.ceil(step / self.decay_steps)
            )
            decay_steps = decay_steps * multiplier
        else:
            step = torch.minimum(step, decay_steps)
        p = step / decay_steps
        return (initial - end) * torch.pow(1 - p, power) + end

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class InverseTimeDecay(LearningRateSchedule):
    """`initial_learning_rate / (1 + decay_rate * step / decay_steps)`.

    Args:
        initial_learning_rate: The learning rate at step 0.
        decay_steps: Step scale of the decay; must be > 0.
        decay_rate: The decay rate.
        staircase: If True, `step / decay_steps` is floored.
        name: Name of the schedule.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "InverseTimeDecay",
    ) -> None:
        check = ArgumentChecker(type(self).__name__)
        _check_common(check, initial_learning_rate, "decay_steps", decay_steps)
        check.real("decay_rate", decay_rate)
        check.boolean("staircase", staircase)
        check.raise_if_any()
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step: Any) -> torch.Tensor:
        step = _step_f32(step)
        initial = _const(self.initial_learning_rate, step)
        p = step / _const(self.decay_steps, step)
        if self.staircase:
            p = torch.floor(p)
        denominator = _const(1.0, step) + _const(self.decay_rate, step) * p
        return initial / denominator

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class CosineDecay(LearningRateSchedule):
    """Cosine decay, optionally after a linear warmup.

    Without `warmup_target`, the rate decays from `initial_learning_rate` to
    `initial_learning_rate * alpha` over `decay_steps`. With it, the rate first rises
    linearly from `initial_learning_rate` to `warmup_target` over `warmup_steps`, then
    decays from `warmup_target` to `warmup_target * alpha` over `decay_steps`.

    Args:
        initial_learning_rate: The learning rate at step 0.
        decay_steps: Length of the cosine decay; must be > 0.
        alpha: Final rate as a fraction of the rate the decay starts from.
        name: Name of the schedule.
        warmup_target: Rate reached at the end of the warmup, or None for no warmup.
        warmup_steps: Length of the warmup.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: int = 0,
    ) -> None:
        check = ArgumentChecker(type(self).__name__)
        _check_common(check, initial_learning_rate, "decay_steps", decay_steps)
        check.real("alpha", alpha)
        check.real("warmup_target", warmup_target, optional=True)
        check.real("warmup_steps", warmup_steps, low=0)
        check.raise_if_any()
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_steps = warmup_steps
        self.warmup_target = warmup_target

    def _decay(
        self, step: torch.Tensor, decay_steps: torch.Tensor, start: torch.Tensor
    ) -> torch.Tensor:
        fraction = step / decay_steps
        cosine = 0.5 * (1.0 + torch.cos(_const(math.pi, step) * fraction))
        decayed = (1 - self.alpha) * cosine + self.alpha
        return start * decayed

    def __call__(self, step: Any) -> torch.Tensor:
        step = _step_f32(step)
        initial = _const(self.initial_learning_rate, step)
        decay_steps = _const(self.decay_steps, step)
        if self.warmup_target is None:
            return self._decay(torch.minimum(step, decay_steps), decay_steps, initial)
        target = _const(self.warmup_target, step)
        warmup_steps = _const(self.warmup_steps, step)
        step = torch.minimum(step, decay_steps + warmup_steps)
        if bool(step < warmup_steps):
            return (target - initial) * (step / warmup_steps) + initial
        return self._decay(step - warmup_steps, decay_steps, target)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR).

    The multiplier decays from 1 to `alpha` over `first_decay_steps`, then restarts;
    each period is `t_mul` times longer and starts `m_mul` times lower.

    Args:
        initial_learning_rate: The learning rate at step 0.
        first_decay_steps: Length of the first period; must be > 0.
        t_mul: Growth factor of the period length.
        m_mul: Factor applied to the starting rate at each restart.
        alpha: Final rate of each period as a fraction of `initial_learning_rate`.
        name: Name of the schedule.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: int,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
        name: str = "SGDRDecay",
    ) -> None:
        check = ArgumentChecker(type(self).__name__)
        _check_common(check, initial_learning_rate, "first_decay_steps", first_decay_steps)
        check.real("t_mul", t_mul, low=0, low_open=True)
        check.real("m_mul", m_mul)
        check.real("alpha", alpha)
        check.raise_if_any()
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self._t_mul = t_mul
        self._m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def __call__(self, step: Any) -> torch.Tensor:
        step = _step_f32(step)
        initial = _const(self.initial_learning_rate, step)
        alpha = _const(self.alpha, step)
        t_mul = _const(self._t_mul, step)
        m_mul = _const(self._m_mul, step)
        fraction = step / _const(self.first_decay_steps, step)
        if float(t_mul) == 1.0:
            i_restart = torch.floor(fraction)
            fraction = fraction - i_restart
        else:
            i_restart = torch.floor(torch.log(1.0 - fraction * (1.0 - t_mul)) / torch.log(t_mul))
            sum_r = (1.0 - torch.pow(t_mul, i_restart)) / (1.0 - t_mul)
            fraction = (fraction - sum_r) / torch.pow(t_mul, i_restart)
        m_fac = torch.pow(m_mul, i_restart)
        cosine = 0.5 * m_fac * (1.0 + torch.cos(_const(math.pi, step) * fraction))
        decayed = (1 - alpha) * cosine + alpha
        return initial * decayed

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self._t_mul,
            "m_mul": self._m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


_BUILTIN = {
    cls.__name__: cls
    for cls in (
        ExponentialDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        InverseTimeDecay,
        CosineDecay,
        CosineDecayRestarts,
    )
}


def serialize(learning_rate_schedule: LearningRateSchedule) -> dict[str, Any]:
    """Returns a schedule's config in Keras's serialized form.

    Args:
        learning_rate_schedule: The schedule to serialize.

    Returns:
        A JSON-serialisable dict with `module`, `class_name`, `config` and
        `registered_name`, the form Keras writes in model files.
    """
    if not isinstance(learning_rate_schedule, LearningRateSchedule):
        raise ValueError(
            "`serialize` expects a LearningRateSchedule; received "
            f"learning_rate_schedule={learning_rate_schedule!r}"
        )
    cls = type(learning_rate_schedule)
    builtin = _BUILTIN.get(cls.__name__) is cls
    return {
        "module": "keras.optimizers.schedules" if builtin else _module_of(cls),
        "class_name": cls.__name__,
        "config": learning_rate_schedule.get_config(),
        "registered_name": None if builtin else _registration().get_registered_name(cls),
    }


def _registration() -> Any:
    # Imported on use: `convolve.saving` builds on the optimizers.
    from convolve.saving import registration

    return registration


def _module_of(cls: type) -> str | None:
    """A custom class's module as Keras writes it: None for classes defined in a script."""
    return None if cls.__module__ == "__main__" else cls.__module__


def _find_custom(config: dict[str, Any], custom_objects: dict[str, type] | None) -> type | None:
    """A custom class named by a serialized config: from `custom_objects`, the active
    `custom_object_scope`s, or `register_keras_serializable`, as Keras looks them up."""
    find = _registration().get_registered_object
    for key in (config.get("registered_name"), config.get("class_name")):
        found = find(key, custom_objects) if isinstance(key, str) else None
        if found is not None:
            return found
    return None


def deserialize(
    config: dict[str, Any], custom_objects: dict[str, type] | None = None
) -> LearningRateSchedule:
    """Creates a schedule from `serialize()` output or `{"class_name", "config"}`.

    Args:
        config: The serialized schedule.
        custom_objects: Extra schedule classes by name.

    Returns:
        A new schedule.
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "A serialized schedule must be a dict with 'class_name' and 'config'; "
            f"received config={config!r}"
        )
    name = config["class_name"]
    cls = _find_custom(config, custom_objects) or _BUILTIN.get(name)
    if cls is None:
        known = sorted({*_BUILTIN, *(custom_objects or {})})
        raise ValueError(
            f"Unknown learning rate schedule class_name={name!r}; known: {known}. Pass "
            "custom classes with `custom_objects`, or register them with "
            "`register_keras_serializable`."
        )
    return cls.from_config(dict(config.get("config", {})))
