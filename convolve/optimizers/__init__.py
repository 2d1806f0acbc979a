"""Keras 3 optimizers over torch parameters.

Each optimizer has Keras's arguments, defaults and update rule, and also the
interface a PyTorch loop expects (`build(model.parameters())`, `step()`,
`zero_grad()`, `state_dict()`).

Example:
    >>> import torch
    >>> from convolve import optimizers
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = optimizers.get("adam")
    >>> opt.build(model.parameters())
    >>> model(torch.ones(2, 3)).sum().backward()
    >>> opt.step()
    >>> opt.iterations
    1
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from convolve.optimizers import schedules
from convolve.optimizers.adadelta import Adadelta
from convolve.optimizers.adafactor import Adafactor
from convolve.optimizers.adam import Adam, Adamax, AdamW, Nadam
from convolve.optimizers.base import Optimizer
from convolve.optimizers.ftrl import Ftrl
from convolve.optimizers.lamb import Lamb
from convolve.optimizers.lion import Lion
from convolve.optimizers.multi_optimizer import MultiOptimizer, OptimizerMap
from convolve.optimizers.muon import Muon
from convolve.optimizers.rmsprop import Adagrad, RMSprop
from convolve.optimizers.schedule_free_adamw import ScheduleFreeAdamW
from convolve.optimizers.sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "Adagrad",
    "RMSprop",
    "Nadam",
    "Adamax",
    "Adadelta",
    "Lion",
    "Ftrl",
    "Lamb",
    "Adafactor",
    "Muon",
    "ScheduleFreeAdamW",
    "MultiOptimizer",
    "OptimizerMap",
    "LossScaleOptimizer",
    "schedules",
    "get",
    "serialize",
    "deserialize",
]

_BUILTIN: dict[str, type[Optimizer]] = {
    cls.__name__.lower(): cls
    for cls in (
        SGD, Adam, AdamW, Adagrad, RMSprop, Nadam, Adamax, Adadelta, Lion, Ftrl, Lamb, Adafactor,
        Muon, ScheduleFreeAdamW, MultiOptimizer,
    )
}  # fmt: skip


def __getattr__(name: str) -> Any:
    # `convolve.mixed_precision` builds on this package, so its class is fetched on use.
    if name == "LossScaleOptimizer":
        from convolve.mixed_precision import LossScaleOptimizer

        return LossScaleOptimizer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "LossScaleOptimizer"})


def _builtin_class(name: str) -> type[Optimizer] | None:
    """The built-in optimizer class for a (case-insensitive) name, or None."""
    key = name.lower()
    if key == "lossscaleoptimizer":
        from convolve.mixed_precision import LossScaleOptimizer

        return LossScaleOptimizer
    return _BUILTIN.get(key)


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """Returns an optimizer's config in Keras's serialized form.

    Args:
        optimizer: The optimizer.

    Returns:
        A JSON-serialisable dict with `module`, `class_name`, `config` and
        `registered_name`, as Keras writes it in model files.
    """
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"`serialize` expects an Optimizer; received optimizer={optimizer!r}")
    cls = type(optimizer)
    builtin = _builtin_class(cls.__name__) is cls
    return {
        "module": "keras.optimizers" if builtin else schedules._module_of(cls),
        "class_name": cls.__name__,
        "config": optimizer.get_config(),
        "registered_name": (
            None if builtin else schedules._registration().get_registered_name(cls)
        ),
    }


def deserialize(
    config: Mapping[str, Any], custom_objects: Mapping[str, type] | None = None
) -> Optimizer:
    """Creates an optimizer from `serialize()` output or `{"class_name", "config"}`.

    Built-in class names are matched case-insensitively, as in Keras.

    Args:
        config: The serialized optimizer.
        custom_objects: Extra optimizer or schedule classes by name.

    Returns:
        A new, unbuilt optimizer.
    """
    if not isinstance(config, Mapping) or "class_name" not in config:
        raise ValueError(
            "A serialized optimizer must be a dict with 'class_name' and 'config'; "
            f"received config={config!r}"
        )
    custom = dict(custom_objects or {})
    name = config["class_name"]
    cls = schedules._find_custom(dict(config), custom)
    if cls is None and isinstance(name, str):
        cls = _builtin_class(name)
    if cls is None:
        known = sorted([*_BUILTIN, "lossscaleoptimizer"])
        raise ValueError(
            f"Unknown optimizer class_name={name!r}; known: {known}. Pass custom "
            "classes with `custom_objects`, or register them with "
            "`register_keras_serializable`."
        )
    return cls.from_config(dict(config.get("config") or {}), custom_objects=custom)


def get(identifier: str | Mapping[str, Any] | Optimizer | None) -> Optimizer | None:
    """Returns an optimizer from a name, a serialized config or an instance.

    Args:
        identifier: A name such as "adam" (case-insensitive, default arguments), a
            dict from `serialize()`, an `Optimizer` (returned as is), or None.

    Returns:
        The optimizer, or None for None.

    Example:
        >>> get("SGD").get_config()["momentum"]
        0.0
    """
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, Mapping):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _BUILTIN.get(identifier.lower())
        if cls is None:
            raise ValueError(
                f"Could not interpret optimizer identifier: {identifier!r}; known names: "
                f"{sorted(_BUILTIN)}."
            )
        return cls()
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")
