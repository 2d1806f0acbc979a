"""Model files: Keras 3's `.keras` format, weights files, export, and their safety rules.

- `save_model` / `load_model`: `.keras` archives that open in Keras 3 and vice versa, and
  Keras's legacy HDF5 model files (`.h5` / `.hdf5`), written and read as Keras 3 does.
- `save_weights` / `load_weights`: `.weights.h5` (Keras), `.safetensors` (convolve's flat
  layout), and legacy Keras 2 `.h5` for reading (`by_name=True` supported).
- `serialize_layer` / `deserialize_layer`, `model_to_json` / `model_from_json`: configs.
- `register_keras_serializable`, `custom_object_scope`: what else a file may name.
- `to_torch`, `export_model`: plain PyTorch for inference (`torch.export`, TorchScript, ONNX).

A model file is data, never code: loading never unpickles, resolves classes only from an
allowlist, and raises `UnsafeModelError` or `ModelFileError` (both `ValueError`s) naming
the file and the entry at fault. Every write is atomic.
"""

from convolve.saving.api import load_model, load_weights, save_model, save_weights
from convolve.saving.errors import ModelFileError, UnsafeModelError
from convolve.saving.export import export_model, to_torch
from convolve.saving.keras_objects import deserialize_keras_object, serialize_keras_object
from convolve.saving.registration import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from convolve.saving.serialization import (
    deserialize_layer,
    functional_config,
    functional_from_config,
    model_from_json,
    model_to_json,
    sequential_config,
    sequential_from_config,
    serialize_layer,
)

__all__ = [
    "CustomObjectScope",
    "ModelFileError",
    "UnsafeModelError",
    "custom_object_scope",
    "deserialize_keras_object",
    "deserialize_layer",
    "export_model",
    "functional_config",
    "functional_from_config",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "load_model",
    "load_weights",
    "model_from_json",
    "model_to_json",
    "register_keras_serializable",
    "save_model",
    "save_weights",
    "sequential_config",
    "sequential_from_config",
    "serialize_keras_object",
    "serialize_layer",
    "to_torch",
]
