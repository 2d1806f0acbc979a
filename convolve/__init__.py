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
    distillation,
    distribute,
    dtype_policies,
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
    tree,
    utils,
    visualization,
    visualize,
)
from convolve.dtype_policies import DTypePolicy, FloatDTypePolicy
from convolve.initializers import Initializer
from convolve.layers import Input, KerasTensor, Layer
from convolve.layers.input_spec import InputSpec
from convolve.losses import Loss
from convolve.metrics import Metric
from convolve.models import Model, Sequential
from convolve.optimizers import Optimizer
from convolve.regularizers import Regularizer
from convolve.variables import Variable, device, name_scope

__version__ = "0.1.0"


def version() -> str:
    """The installed convolve version, as `keras.version()` returns Keras's."""
    return __version__
