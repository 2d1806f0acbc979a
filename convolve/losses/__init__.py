"""Loss functions and classes with Keras 3 names, defaults and numerics.

Every loss takes `y_true` and `y_pred` as torch tensors in Keras's layout (channels last) and
reproduces Keras's arithmetic: probabilities are clipped to `[EPSILON, 1 - EPSILON]` with
`EPSILON = 1e-7`, categorical probabilities are renormalised before the log, and reductions
divide the summed loss by the number of loss elements (`"sum_over_batch_size"`).

Nothing here reads tensor values on the host, so losses never synchronise host and device.
Checks that need values (class labels in range) live in `check_targets`, which a training loop
calls once on its first batch.

Example:
    >>> import torch
    >>> from convolve import losses
    >>> loss = losses.SparseCategoricalCrossentropy()
    >>> y_true = torch.tensor([1, 2])
    >>> y_pred = torch.tensor([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    >>> round(float(loss(y_true, y_pred)), 4)
    1.1769
"""

from __future__ import annotations

from convolve.losses._reduction import (
    REDUCTIONS,
    apply_mask,
    reduce_values,
    reduce_weighted_values,
    standardize_reduction,
)
from convolve.losses._tensors import EPSILON, squeeze_or_expand_to_same_rank
from convolve.losses.base import Loss, LossFunctionWrapper
from convolve.losses.hinge import (
    CategoricalHinge,
    Hinge,
    SquaredHinge,
    categorical_hinge,
    hinge,
    squared_hinge,
)
from convolve.losses.lookup import (
    STRING_LOSSES,
    deserialize,
    get,
    resolve_loss,
    serialize,
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
    kld,
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
    logcosh,
    mae,
    mape,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    mse,
    msle,
)
from convolve.losses.specialized import (
    CTC,
    CategoricalGeneralizedCrossEntropy,
    Circle,
    categorical_generalized_cross_entropy,
    circle,
    ctc,
)
from convolve.losses.targets import check_targets

__all__ = [
    "EPSILON",
    "REDUCTIONS",
    "STRING_LOSSES",
    "BinaryCrossentropy",
    "ctc",
    "circle",
    "categorical_generalized_cross_entropy",
    "Circle",
    "CategoricalGeneralizedCrossEntropy",
    "CTC",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "Dice",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "Loss",
    "LossFunctionWrapper",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "Tversky",
    "apply_mask",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "check_targets",
    "cosine_similarity",
    "deserialize",
    "dice",
    "get",
    "hinge",
    "huber",
    "kl_divergence",
    "kld",
    "log_cosh",
    "logcosh",
    "mae",
    "mape",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "mse",
    "msle",
    "poisson",
    "reduce_values",
    "reduce_weighted_values",
    "resolve_loss",
    "serialize",
    "sparse_categorical_crossentropy",
    "squared_hinge",
    "squeeze_or_expand_to_same_rank",
    "standardize_reduction",
    "tversky",
]
