"""Models: Sequential, functional and subclassed."""

from convolve.models.cloning import clone_model
from convolve.models.functional import Functional
from convolve.models.model import Model
from convolve.models.sequential import Sequential
from convolve.saving import load_model, model_from_json, save_model

__all__ = [
    "Functional",
    "Model",
    "Sequential",
    "clone_model",
    "load_model",
    "model_from_json",
    "save_model",
]
