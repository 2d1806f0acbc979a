"""Losses by name: `get`, `serialize`, `deserialize`, and `compile`'s `resolve_loss`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

from convolve.losses.base import Loss, LossFunctionWrapper
from convolve.losses.hinge import (
    CategoricalHinge,
    Hinge,
    SquaredHinge,
    categorical_hinge,
    hinge,
    squared_hinge,
)
from convolve.losses.overlap import Dice, Tversky, dice, tversky
from convolve.losses.probabilistic import (
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalCrossentropy,
    CategoricalFocalCrossentropy,
    KLDivergence,
    Poisson,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    kl_divergence,
    poisson,
    sparse_categorical_crossentropy,
)
from convolve.losses.regression import (
    CosineSimilarity,
    Huber,
    LogCosh,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    cosine_similarity,
    huber,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
)
from convolve.losses.specialized import (
    CTC,
    CategoricalGeneralizedCrossEntropy,
    Circle,
    categorical_generalized_cross_entropy,
    circle,
    ctc,
)

BUILTIN_CLASSES: tuple[type[Loss], ...] = (
    SparseCategoricalCrossentropy,
    CategoricalCrossentropy,
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalFocalCrossentropy,
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    Huber,
    LogCosh,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    KLDivergence,
    Poisson,
    CosineSimilarity,
    Dice,
    Tversky,
    CTC,
    Circle,
    CategoricalGeneralizedCrossEntropy,
)
BUILTIN_FUNCTIONS: tuple[Callable[..., torch.Tensor], ...] = (
    sparse_categorical_crossentropy,
    categorical_crossentropy,
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_focal_crossentropy,
    mean_squared_error,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_logarithmic_error,
    huber,
    log_cosh,
    hinge,
    squared_hinge,
    categorical_hinge,
    kl_divergence,
    poisson,
    cosine_similarity,
    dice,
    tversky,
    ctc,
    circle,
    categorical_generalized_cross_entropy,
)
_OBJECTS: dict[str, Any] = {obj.__name__: obj for obj in (*BUILTIN_CLASSES, *BUILTIN_FUNCTIONS)}
_OBJECTS.update(
    {
        "bce": binary_crossentropy,
        "BCE": binary_crossentropy,
        "kld": kl_divergence,
        "KLD": kl_divergence,
        "mae": mean_absolute_error,
        "MAE": mean_absolute_error,
        "mse": mean_squared_error,
        "MSE": mean_squared_error,
        "mape": mean_absolute_percentage_error,
        "MAPE": mean_absolute_percentage_error,
        "msle": mean_squared_logarithmic_error,
        "MSLE": mean_squared_logarithmic_error,
    }
)

#: Names `get` resolves although Keras's `get` does not know them (Keras exports them but
#: leaves them out of its name table); they stay out of `STRING_LOSSES`.
_NOT_IN_KERAS_TABLE = frozenset(
    {"CategoricalGeneralizedCrossEntropy", "categorical_generalized_cross_entropy"}
)

#: Strings accepted by `get` (class names return instances, the rest functions).
STRING_LOSSES: tuple[str, ...] = tuple(sorted(set(_OBJECTS) - _NOT_IN_KERAS_TABLE))


def serialize(loss: Loss | Callable[..., torch.Tensor]) -> dict[str, Any]:
    """Serialises a loss in Keras's format (`module`, `class_name`, `config`).

    Args:
        loss: A `Loss` instance or a loss function.

    Returns:
        A JSON-serialisable dict that `deserialize` (and Keras) can read.
    """
    if isinstance(loss, Loss):
        builtin = type(loss) in BUILTIN_CLASSES
        return {
            "module": "keras.losses" if builtin else type(loss).__module__,
            "class_name": type(loss).__name__,
            "config": loss.get_config(),
            "registered_name": None if builtin else type(loss).__name__,
        }
    if callable(loss) and hasattr(loss, "__name__"):
        return {
            "module": "builtins",
            "class_name": "function",
            "config": loss.__name__,
            "registered_name": "function",
        }
    raise ValueError(f"Cannot serialize loss: expected a Loss or a function; received {loss!r}.")


def deserialize(name: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """Rebuilds a loss from `serialize` output, a name, or a `{"class_name", "config"}` dict.

    Args:
        name: The serialised loss (Keras's name for this argument).
        custom_objects: Extra names to classes or functions.

    Returns:
        A `Loss` instance or a loss function.
    """
    config = name
    objects = {**_OBJECTS, **(custom_objects or {})}
    if isinstance(config, str):
        if config not in objects:
            raise ValueError(_unknown(config, "loss"))
        return objects[config]
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"Cannot deserialize loss: expected a name or a dict with 'class_name'; "
            f"received {config!r}."
        )
    class_name, inner = config["class_name"], config.get("config")
    if class_name == "function":
        return deserialize(inner, custom_objects)
    cls = objects.get(class_name) or objects.get(config.get("registered_name") or "")
    if not (inspect.isclass(cls) and issubclass(cls, Loss)):
        raise ValueError(_unknown(class_name, "loss"))
    return cls.from_config(inner or {})


def _unknown(identifier: Any, kind: str) -> str:
    return (
        f"Could not interpret {kind} identifier: {identifier!r}. Expected one of "
        f"{list(STRING_LOSSES)}, a dict config, a callable or a Loss instance."
    )


def get(identifier: Any) -> Any:
    """Resolves a loss identifier as Keras's `losses.get` does.

    Args:
        identifier: `None`, a string (`"mse"`, `"sparse_categorical_crossentropy"`,
            `"CategoricalCrossentropy"`, ...; see `STRING_LOSSES`), a config dict, a loss
            class, a function or a `Loss` instance.

    Returns:
        A function for function names, an instance for class names, classes and configs,
        the identifier itself for callables; `None` for `None`.

    Raises:
        ValueError: If the identifier cannot be interpreted.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        if identifier not in _OBJECTS:
            raise ValueError(_unknown(identifier, "loss"))
        obj = _OBJECTS[identifier]
    else:
        obj = identifier
    if inspect.isclass(obj):
        return obj()
    if callable(obj):
        return obj
    raise ValueError(_unknown(identifier, "loss"))


def is_binary_or_sparse(y_true: torch.Tensor, y_pred: torch.Tensor) -> tuple[bool, bool]:
    """Keras's shape rule: binary if one output unit; sparse if labels lack the class axis."""
    is_binary = y_pred.shape[-1] == 1
    is_sparse = y_true.ndim < y_pred.ndim or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1)
    return is_binary, is_sparse


def resolve_loss(identifier: Any, y_true: torch.Tensor, y_pred: torch.Tensor) -> Loss | None:
    """Turns a `compile(loss=...)` identifier into a `Loss` as Keras's compile does.

    `"crossentropy"`/`"ce"` become binary, sparse categorical or categorical crossentropy
    from the shapes of `y_true` and `y_pred` (one output unit: binary; labels without the
    class axis: sparse; otherwise categorical). Functions are wrapped in a
    `LossFunctionWrapper` named after the string identifier, or the function's name.

    Args:
        identifier: Anything `get` accepts, or `"crossentropy"`/`"ce"`.
        y_true: A batch of targets (only the shape is read).
        y_pred: A batch of predictions (only the shape is read).

    Returns:
        A `Loss` instance, or `None` if `identifier` is `None`.
    """
    if identifier is None:
        return None
    if str(identifier).lower() in ("crossentropy", "ce"):
        is_binary, is_sparse = is_binary_or_sparse(y_true, y_pred)
        if is_binary:
            obj: Any = binary_crossentropy
        elif is_sparse:
            obj = sparse_categorical_crossentropy
        else:
            obj = categorical_crossentropy
    else:
        obj = get(identifier)
    if isinstance(obj, Loss):
        return obj
    if isinstance(identifier, str):
        name = identifier
    else:
        from convolve.layers.naming import to_snake_case

        name = getattr(obj, "name", None) or to_snake_case(
            getattr(obj, "__name__", type(obj).__name__)
        )
    return LossFunctionWrapper(obj, name=name)
