"""`serialize` and `deserialize` of layers, as `keras.layers.serialize` / `deserialize`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def serialize(layer: Any) -> dict[str, Any]:
    """A layer's serialized form: Keras's reference dict (module, class name, config).

    Example:
        >>> import convolve
        >>> convolve.layers.serialize(convolve.layers.Dense(3))["class_name"]
        'Dense'
    """
    from convolve.layers.base import Layer
    from convolve.saving.keras_objects import serialize_keras_object

    if not isinstance(layer, Layer):
        raise ValueError(
            f"convolve.layers.serialize: `layer` must be a Layer, received {type(layer).__name__}"
        )
    return serialize_keras_object(layer)


def deserialize(config: Any, custom_objects: Mapping[str, Any] | None = None) -> Any:
    """The layer `config` describes (the inverse of `serialize`).

    Args:
        config: a reference dict as `serialize` (or Keras) writes it.
        custom_objects: user classes the config may name, by name.
    """
    from convolve.saving.keras_objects import deserialize_keras_object

    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "convolve.layers.deserialize: `config` must be a dict with 'class_name' and "
            f"'config', received {config!r:.200}"
        )
    if "module" not in config:  # a short form, {"class_name": "Dense", "config": {...}}
        config = {**config, "module": "keras.layers"}
    return deserialize_keras_object(config, custom_objects=custom_objects)


def deserialize_child(value: Any) -> Any:
    """A nested layer (a wrapper's, a cell's, a pipeline's) given live, as the model-file
    loader hands it over, or as a Keras config."""
    from convolve.layers.base import Layer

    if isinstance(value, Layer):
        return value
    from convolve.saving import deserialize_keras_object

    return deserialize_keras_object(value)
