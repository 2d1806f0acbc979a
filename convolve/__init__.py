"""convolve: Keras for images, running natively on PyTorch.

Write Keras code, get Keras's shapes, parameter counts, defaults and numerics, running as
plain torch modules::

    from convolve import layers, models
"""

from convolve import (
    activations,
    applications,
    backend,
    callbacks,
    config,
    constraints,
    datasets,
    distribute,
    initializers,
    layers,
    losses,
    metrics,
    mixed_precision,
    models,
    ops,
    optimizers,
    preprocessing,
    random,
    regularizers,
    saving,
    utils,
    visualize,
)
from convolve.layers import Input, KerasTensor, Layer
from convolve.models import Model, Sequential

__version__ = "0.1.0"
