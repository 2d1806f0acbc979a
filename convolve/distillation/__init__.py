"""Knowledge distillation: train a small student model from a larger teacher, as in Keras 3.

Example:
    >>> import convolve as keras
    >>> def net(width, name):
    ...     return keras.Sequential([
    ...         keras.Input((8, 8, 1)), keras.layers.Conv2D(width, 3), keras.layers.Flatten(),
    ...         keras.layers.Dense(3)], name=name)
    >>> distiller = keras.distillation.Distiller(
    ...     teacher=net(8, "teacher"), student=net(2, "student"),
    ...     distillation_losses=keras.distillation.LogitsDistillation(temperature=3.0))
    >>> distiller.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> distiller.name
    'distiller'
"""

from convolve.distillation.distillation_loss import (
    DistillationLoss,
    FeatureDistillation,
    LogitsDistillation,
)
from convolve.distillation.distiller import Distiller

__all__ = ["Distiller", "DistillationLoss", "FeatureDistillation", "LogitsDistillation"]
