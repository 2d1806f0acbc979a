"""Models: Sequential, functional and subclassed."""

from convolve.models.functional import Functional
from convolve.models.model import Model
from convolve.models.sequential import Sequential

__all__ = ["Functional", "Model", "Sequential"]
