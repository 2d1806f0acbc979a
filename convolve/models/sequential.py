"""`Sequential`: a plain stack of layers, each feeding the next."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from convolve.layers import naming
from convolve.layers.base import Layer
from convolve.layers.core import InputLayer
from convolve.layers.symbolic import KerasTensor
from convolve.models import pool_first
from convolve.models.model import Model


class Sequential(Model):
    """A linear stack of layers.

    Example:
        >>> from convolve import layers, models
        >>> model = models.Sequential([
        ...     layers.Input((28, 28, 1)),
        ...     layers.Conv2D(32, 3, activation="relu"),
        ...     layers.Flatten(),
        ...     layers.Dense(10),
        ... ])
        >>> model.output_shape
        (None, 10)
    """

    _engine_layout = True

    def __init__(
        self,
        layers: Sequence[Layer | KerasTensor] | None = None,
        trainable: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(trainable=trainable, name=name)
        self._input_layer: InputLayer | None = None
        self._layer_list = nn.ModuleList()
        self._outputs_tensor: KerasTensor | None = None
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._build_graph()

    @property
    def layers(self) -> list[Layer]:
        return list(self._layer_list)

    def add(self, layer: Layer | KerasTensor, rebuild: bool = True) -> None:
        """Appends a layer (or sets the input, for `Input(...)` / `InputLayer`)."""
        if isinstance(layer, KerasTensor):
            history = layer._keras_history
            if history is None or not isinstance(history.layer, InputLayer):
                raise ValueError(
                    "Sequential.add takes layers or the result of Input(...); received a "
                    f"symbolic tensor produced by another layer: {layer!r}"
                )
            layer = history.layer
        if not isinstance(layer, Layer):
            raise ValueError(
                f"Sequential.add takes Layer instances; received {layer!r} "
                f"of type {type(layer).__name__}."
            )
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or len(self._layer_list):
                raise ValueError(
                    f"Sequential model '{self.name}': an InputLayer can only be the first "
                    f"layer; received '{layer.name}' after other layers."
                )
            self._input_layer = layer
        else:
            if any(existing.name == layer.name for existing in self._layer_list):
                raise ValueError(
                    f"Sequential model '{self.name}' already has a layer named '{layer.name}'; "
                    "layer names must be unique within a model."
                )
            if self._input_layer is None and not len(self._layer_list):
                declared = layer._declared_input_shape
                if declared is None:
                    declared = _model_input_shape(layer)
                if declared is not None:
                    self._input_layer = InputLayer(batch_shape=declared, dtype=layer._dtype)
            self._layer_list.append(layer)
            self._activity_layers = None
            if rebuild and self._outputs_tensor is not None:
                self._outputs_tensor = layer(self._outputs_tensor)
                _count_functional_build()
                return
        if rebuild:
            self._build_graph()

    def pop(self, rebuild: bool = True) -> Layer:
        """Removes and returns the last layer."""
        if not len(self._layer_list):
            raise IndexError(f"Sequential model '{self.name}' has no layers to pop.")
        layer = self._layer_list[-1]
        del self._layer_list[-1]
        if rebuild:
            self._build_graph()
        return layer

    def build(self, input_shape: Any = None) -> None:
        """Builds every layer for inputs of `input_shape` (batch axis included)."""
        if input_shape is not None and self._input_layer is None:
            self._input_layer = InputLayer(batch_shape=tuple(input_shape))
        if self._input_layer is None:
            raise ValueError(
                f"Sequential model '{self.name}' cannot be built without an input shape: "
                "start it with layers.Input(shape), pass input_shape= to its first layer, "
                "or call model.build((None, ...))."
            )
        self._build_graph()

    def _build_graph(self) -> None:
        """Runs the layers on the symbolic input: builds weights and records shapes."""
        self._activity_layers = None
        if self._input_layer is None:
            return
        x = self._input_layer.output_tensor
        with naming.scope(self.name, owner=self):  # weight paths `sequential/dense/kernel`
            for layer in self._layer_list:
                x = layer(x)
        self._outputs_tensor = x
        self.built = True
        self._build_input_shape = self._input_layer.batch_shape
        if len(self._layer_list):
            _count_functional_build()

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = inputs
        if isinstance(x, list | tuple) and len(x) == 1:  # `[x]`, as Keras accepts
            x = x[0]
        layers = list(self._layer_list)
        i = 0
        while i < len(layers):
            if i + 1 < len(layers) and pool_first.pools_first(layers[i], layers[i + 1]):
                x = pool_first.run_pool_first(layers[i], layers[i + 1], x, training)
                i += 2
            else:
                x = layers[i].engine_call(x, training)
                i += 1
        return x

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = input_shape
        for layer in self._layer_list:
            shape = layer.compute_output_shape(shape)
        return shape

    @property
    def inputs(self) -> list[KerasTensor]:
        if self._input_layer is None:
            raise AttributeError(
                f"Sequential model '{self.name}' has no input yet: it is not built."
            )
        return [self._input_layer.output_tensor]

    @property
    def outputs(self) -> list[KerasTensor]:
        if self._outputs_tensor is None:
            raise AttributeError(f"Sequential model '{self.name}' is not built yet.")
        return [self._outputs_tensor]

    def get_config(self) -> dict[str, Any]:
        from convolve.saving import sequential_config

        return sequential_config(self)

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Sequential:
        from convolve.saving import sequential_from_config

        return sequential_from_config(config, custom_objects)


def _count_functional_build() -> None:
    """Uses up one automatic "functional" name, as Keras's Sequential does each time it
    (re)builds its inner functional model, so that the functional models a program makes
    next get Keras's names (`functional_3`, ...)."""
    naming.unique_name("functional")


def _model_input_shape(layer: Layer) -> tuple | None:
    """The batch shape a built model with one input takes, as Keras reads a nested model's
    `input_shape` (a Sequential of augmentation layers in front of a classifier)."""
    if not isinstance(layer, Model) or not layer.built:
        return None
    try:
        inputs = layer.inputs
    except (AttributeError, ValueError):  # subclassed models have no symbolic inputs
        return None
    return tuple(inputs[0].shape) if len(inputs) == 1 else None
