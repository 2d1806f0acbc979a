"""Keras layers running on torch."""

from convolve.layers.base import Layer
from convolve.layers.core import (
    ELU,
    Activation,
    Dense,
    Dropout,
    Flatten,
    Identity,
    Input,
    InputLayer,
    LeakyReLU,
    Permute,
    ReLU,
    Reshape,
    Softmax,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
)
from convolve.layers.preprocessing import Rescaling
from convolve.layers.symbolic import KerasTensor
