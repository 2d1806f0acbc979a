"""Metric identifiers: `get`, (de)serialisation, and the resolution Keras's `compile` applies.

`compile(metrics=[...])` strings are resolved by `resolve_metric`. As in Keras 3:

* `"accuracy"` and `"acc"` (any case) become `BinaryAccuracy` when the model has one output
  unit, `SparseCategoricalAccuracy` when the labels lack the class axis (or have a last axis
  of 1 against several outputs), else `CategoricalAccuracy`. The loss plays no part.
* Every other string names a metric class, by class name (`"AUC"`), its snake case
  (`"auc"`, `"mean_squared_error"`) or an alias (`"mse"`, `"mae"`, `"mape"`, `"msle"`,
  `"bce"`, upper case too); see `STRING_METRICS`. `"crossentropy"`/`"ce"` are loss
  shorthands only and are rejected as metrics, as in Keras 3.
* The metric is named after the string exactly as written, so `history.history` has keys
  `"acc"`, `"mse"`, `"mean_squared_error"`, `"AUC"` ... Metric instances keep their
  name; functions are wrapped in `MeanMetricWrapper` named after the function.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from convolve import losses as L
from convolve.metrics import accuracy_metrics as A
from convolve.metrics import confusion as C
from convolve.metrics import correlation as K
from convolve.metrics import f_score as F
from convolve.metrics import iou as I
from convolve.metrics import r2
from convolve.metrics import regression as R
from convolve.metrics import sensitivity as S
from convolve.metrics.base import Mean, MeanMetricWrapper, Metric, Sum

__all__ = [
    "STRING_METRICS",
    "get",
    "serialize",
    "deserialize",
    "resolve_metric",
    "result_names",
]

_CLASSES: tuple[type[Metric], ...] = (
    Mean,
    Sum,
    R.MeanSquaredError,
    R.RootMeanSquaredError,
    R.MeanAbsoluteError,
    R.MeanAbsolutePercentageError,
    R.MeanSquaredLogarithmicError,
    R.CosineSimilarity,
    R.LogCoshError,
    C.AUC,
    C.FalseNegatives,
    C.FalsePositives,
    C.Precision,
    C.Recall,
    C.TrueNegatives,
    C.TruePositives,
    R.Hinge,
    R.SquaredHinge,
    R.CategoricalHinge,
    R.KLDivergence,
    R.Poisson,
    R.BinaryCrossentropy,
    R.CategoricalCrossentropy,
    R.SparseCategoricalCrossentropy,
    A.Accuracy,
    A.BinaryAccuracy,
    A.CategoricalAccuracy,
    A.SparseCategoricalAccuracy,
    A.TopKCategoricalAccuracy,
    A.SparseTopKCategoricalAccuracy,
    F.F1Score,
    F.FBetaScore,
    r2.R2Score,
    I.IoU,
    I.BinaryIoU,
    I.MeanIoU,
    I.OneHotIoU,
    I.OneHotMeanIoU,
    K.PearsonCorrelation,
    K.ConcordanceCorrelation,
    S.SensitivityAtSpecificity,
    S.SpecificityAtSensitivity,
    S.PrecisionAtRecall,
    S.RecallAtPrecision,
)


def _snake(name: str) -> str:
    from convolve.layers.naming import to_snake_case

    return to_snake_case(name)


_OBJECTS: dict[str, type[Metric]] = {cls.__name__: cls for cls in _CLASSES}
_OBJECTS.update({_snake(cls.__name__): cls for cls in _CLASSES})
_OBJECTS.update(
    {
        "bce": R.BinaryCrossentropy,
        "BCE": R.BinaryCrossentropy,
        "mse": R.MeanSquaredError,
        "MSE": R.MeanSquaredError,
        "mae": R.MeanAbsoluteError,
        "MAE": R.MeanAbsoluteError,
        "mape": R.MeanAbsolutePercentageError,
        "MAPE": R.MeanAbsolutePercentageError,
        "msle": R.MeanSquaredLogarithmicError,
        "MSLE": R.MeanSquaredLogarithmicError,
    }
)


def _needs_arguments(cls: type[Metric]) -> bool:
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]  # after self
    return any(p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters)


#: Every string `compile(metrics=...)` accepts (`"accuracy"`/`"acc"` in any case as well).
#: Classes that need arguments (`"MeanIoU"` needs `num_classes`) are left out: their names
#: only deserialise configs.
STRING_METRICS: tuple[str, ...] = (
    "accuracy",
    "acc",
    *sorted(
        name for name, cls in _OBJECTS.items() if name != "accuracy" and not _needs_arguments(cls)
    ),
)

# Functions a serialised MeanMetricWrapper may name; metric functions win over loss functions
# of the same name (cosine_similarity is positive as a metric, negative as a loss).
_FUNCTIONS: dict[str, Any] = {fn.__name__: fn for fn in L.lookup.BUILTIN_FUNCTIONS}
_FUNCTIONS.update(
    {
        fn.__name__: fn
        for fn in (
            A.accuracy,
            A.binary_accuracy,
            A.categorical_accuracy,
            A.sparse_categorical_accuracy,
            A.top_k_categorical_accuracy,
            A.sparse_top_k_categorical_accuracy,
            R.cosine_similarity,
            K.pearson_correlation,
            K.concordance_correlation,
        )
    }
)


def _unknown(identifier: Any) -> str:
    return (
        f"Could not interpret metric identifier: {identifier!r}. Expected one of "
        f"{list(STRING_METRICS)}, a dict config, a metric class or instance, or a function."
    )


def serialize(metric: Metric | Any) -> dict[str, Any]:
    """Serialises a metric in Keras's format (`module`, `class_name`, `config`).

    Args:
        metric: A `Metric` instance or a metric function.

    Returns:
        A JSON-serialisable dict that `deserialize` (and Keras) can read.
    """
    if isinstance(metric, Metric):
        builtin = type(metric) in _CLASSES or type(metric) is MeanMetricWrapper
        return {
            "module": "keras.metrics" if builtin else type(metric).__module__,
            "class_name": type(metric).__name__,
            "config": metric.get_config(),
            "registered_name": None if builtin else type(metric).__name__,
        }
    return L.serialize(metric)


def deserialize_function(config: Any) -> Any:
    """The metric or loss function that a serialised function (or its name) refers to."""
    name = config.get("config") if isinstance(config, dict) else config
    if name not in _FUNCTIONS:
        raise ValueError(f"Unknown metric function: {name!r}.")
    return _FUNCTIONS[name]


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """Rebuilds a metric from `serialize` output, a name or a `{"class_name", "config"}` dict.

    Args:
        config: The serialised metric.
        custom_objects: Extra names to classes or functions.

    Returns:
        A `Metric` instance (a function for a serialised function).
    """
    objects: dict[str, Any] = {**_OBJECTS, "MeanMetricWrapper": MeanMetricWrapper}
    objects.update(custom_objects or {})
    if isinstance(config, str):
        if config not in objects:
            raise ValueError(_unknown(config))
        obj = objects[config]
        return obj() if inspect.isclass(obj) else obj
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"Cannot deserialize metric: expected a name or a dict with 'class_name'; "
            f"received {config!r}."
        )
    if config["class_name"] == "function":
        inner = config.get("config")
        return (custom_objects or {}).get(inner) or deserialize_function(inner)
    cls = objects.get(config["class_name"]) or objects.get(config.get("registered_name") or "")
    if not (inspect.isclass(cls) and issubclass(cls, Metric)):
        raise ValueError(_unknown(config["class_name"]))
    return cls.from_config(config.get("config") or {})


def get(identifier: Any) -> Any:
    """Resolves a metric identifier as Keras's `metrics.get` does.

    Args:
        identifier: `None`, a string from `STRING_METRICS` (except `"acc"`), a config dict,
            a metric class, a `Metric` instance or a function.

    Returns:
        A `Metric` instance for names, classes and configs; callables unchanged; `None` for
        `None`.

    Raises:
        ValueError: If the identifier cannot be interpreted.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        if identifier not in _OBJECTS:
            raise ValueError(_unknown(identifier))
        obj = _OBJECTS[identifier]
    else:
        obj = identifier
    if inspect.isclass(obj):
        return obj()
    if callable(obj):
        return obj
    raise ValueError(_unknown(identifier))


def resolve_metric(
    identifier: Any, y_true: torch.Tensor, y_pred: torch.Tensor, loss: Any = None
) -> Metric:
    """Turns one `compile(metrics=[...])` entry into a named `Metric`, as Keras 3 does.

    Only the shapes of `y_true` and `y_pred` (a batch of targets and the model's output in
    channels-last layout) are read; see the module docstring for the rules.

    Args:
        identifier: A string, class, instance, config dict or function.
        y_true: A batch of targets.
        y_pred: The matching batch of predictions.
        loss: The compiled loss. Keras 3 picks the accuracy variant from the shapes alone
            (tf.keras 2 also looked at the loss), so it does not change the result; it is
            accepted so that callers can pass what they have.

    Returns:
        A `Metric` whose `name` is the key it gets in `history.history`.

    Raises:
        ValueError: If `identifier` is `None` or cannot be interpreted.
    """
    del loss
    if identifier is None:
        raise ValueError("Expected a metric; received None.")
    if str(identifier).lower() in ("accuracy", "acc"):
        is_binary, is_sparse = L.lookup.is_binary_or_sparse(y_true, y_pred)
        if is_binary:
            metric: Any = A.BinaryAccuracy(name=str(identifier))
        elif is_sparse:
            metric = A.SparseCategoricalAccuracy(name=str(identifier))
        else:
            metric = A.CategoricalAccuracy(name=str(identifier))
    else:
        metric = get(identifier)
    if isinstance(identifier, str):
        name = identifier
    elif isinstance(getattr(metric, "name", None), str):
        name = metric.name
    else:
        name = _snake(getattr(metric, "__name__", type(metric).__name__))
    if not isinstance(metric, Metric):
        metric = MeanMetricWrapper(metric)
    metric.name = name
    return metric


def result_names(
    metrics: Sequence[Metric],
    weighted_metrics: Iterable[Metric] = (),
    output_name: str | None = None,
) -> list[str]:
    """The `history` keys of compiled metrics, made unique as Keras's compile does.

    A repeated name gets `_1`, `_2`, ...; a weighted metric whose name is taken becomes
    `weighted_<name>`. With `output_name`, names are prefixed with `<output_name>_`.

    Args:
        metrics: The resolved `compile(metrics=...)` entries, in order.
        weighted_metrics: The resolved `compile(weighted_metrics=...)` entries.
        output_name: The model output they belong to, for multi-output models.

    Returns:
        The names, metrics first, then weighted metrics.
    """
    prefix = f"{output_name}_" if output_name else ""
    counters: dict[str, int] = {}
    names = []
    for metric in metrics:
        name = prefix + metric.name
        if name in counters:
            index = counters[name]
            counters[name] += 1
            name = f"{name}_{index}"
        else:
            counters[name] = 1
        names.append(name)
    for metric in weighted_metrics:
        name = prefix + metric.name
        if name not in counters:
            counters[name] = 1
        else:
            name = f"{prefix}weighted_{metric.name}"
            if name not in counters:
                counters[name] = 1
            else:
                index = counters[name]
                counters[name] += 1
                name = f"{name}_{index}"
        names.append(name)
    return names
