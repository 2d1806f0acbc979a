"""`Model`: a layer that owns layers, with Keras's summary, weights and training API."""

from __future__ import annotations

from typing import Any

from convolve import _tree
from convolve.layers.base import Layer, is_string_array
from convolve.layers.naming import to_snake_case, unique_name
from convolve.training.data_adapter import non_numeric_error
from convolve.training.trainer import Trainer


class Model(Trainer, Layer):
    """A group of layers with `compile`, `fit`, `evaluate`, `predict` and `summary`.

    `Model(inputs, outputs)` builds a functional model; subclass `Model` and define
    `call()` for a model written as Python code, as in Keras. A subclass built as
    `Sub(inputs, outputs)`, or whose `__init__` calls `super().__init__(inputs, outputs)`,
    is a functional model that keeps the subclass's methods.
    """

    def __new__(cls, *args: Any, **kwargs: Any):
        if cls is Model and (args or "inputs" in kwargs):
            from convolve.models.functional import Functional

            return super().__new__(Functional, *args, **kwargs)
        if _functional_arguments(args, kwargs):
            from convolve.models.functional import functional_subclass

            # `class CustomModel(Model)` built as CustomModel(inputs, outputs), as in Keras's
            # "customizing fit" guide: a functional model with the subclass's methods.
            return super().__new__(functional_subclass(cls), *args, **kwargs)
        return super().__new__(cls, *args, **kwargs)

    def __init__(self, *args: Any, name: str | None = None, **kwargs: Any) -> None:
        if args or "inputs" in kwargs:
            from convolve.models.functional import Functional, functional_subclass

            # A subclass whose `__init__` calls `super().__init__(inputs, outputs)`: as in
            # Keras, the instance becomes a functional model that keeps the subclass's
            # methods (the functional model checks the arguments).
            self.__class__ = functional_subclass(type(self))
            Functional.__init__(self, *args, name=name, **kwargs)
            return
        default = "functional" if type(self).__name__ == "Functional" else None
        Layer.__init__(
            self, name=name or unique_name(default or to_snake_case(type(self).__name__)), **kwargs
        )
        Trainer.__init__(self)

    @property
    def layers(self) -> list[Layer]:
        return self._sublayers()

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called `name`, or at position `index` of `model.layers`."""
        if index is not None and name is not None:
            raise ValueError(
                f"get_layer: pass a name or an index, not both; received name={name!r}, "
                f"index={index!r}"
            )
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(
                    f"get_layer: index={index} is out of range; model '{self.name}' has "
                    f"{len(self.layers)} layers."
                )
            return self.layers[index]
        if name is not None:
            for layer in self.layers:
                if layer.name == name:
                    return layer
            known = ", ".join(layer.name for layer in self.layers)
            raise ValueError(f"No layer named '{name}' in model '{self.name}'. Layers: {known}.")
        raise ValueError("get_layer: provide a layer name or index.")

    def summary(
        self,
        line_length: int | None = None,
        positions: list[float] | None = None,
        print_fn: Any = None,
        expand_nested: bool = False,
        show_trainable: bool = False,
        layer_range: list[str] | None = None,
        show_cost: bool = False,
    ) -> None:
        """Prints Keras's summary table; `show_cost=True` adds FLOPs and activation memory."""
        from convolve.models.summary import print_summary

        print_summary(
            self,
            line_length=line_length,
            positions=positions,
            print_fn=print_fn,
            expand_nested=expand_nested,
            show_trainable=show_trainable,
            layer_range=layer_range,
            show_cost=show_cost,
        )

    # ------------------------------------------------------------ files
    def save(self, filepath: Any, overwrite: bool = True, **kwargs: Any) -> None:
        """Saves architecture, weights and compile settings as a Keras `.keras` file, or in
        Keras's legacy HDF5 format for a path ending `.h5`/`.hdf5`."""
        from convolve.saving import save_model

        save_model(self, filepath, overwrite=overwrite, **kwargs)

    def save_weights(
        self, filepath: Any, overwrite: bool = True, max_shard_size: Any = None
    ) -> None:
        """Saves weights as `.weights.h5` (Keras's layout) or `.safetensors`."""
        from convolve.saving import save_weights

        save_weights(self, filepath, overwrite=overwrite, max_shard_size=max_shard_size)

    def load_weights(self, filepath: Any, skip_mismatch: bool = False, **kwargs: Any) -> None:
        """Loads weights saved by `save_weights` (or by Keras, or a legacy `.h5`)."""
        from convolve.saving import load_weights

        load_weights(self, filepath, skip_mismatch=skip_mismatch, **kwargs)

    def to_json(self, **kwargs: Any) -> str:
        from convolve.saving import model_to_json

        return model_to_json(self, **kwargs)

    def export(
        self,
        filepath: Any,
        format: str = "torch_export",
        verbose: Any = None,
        input_signature: Any = None,
        dynamic_batch: bool = True,
    ) -> None:
        """Exports to ONNX, TorchScript or a `torch.export` program."""
        from convolve.saving import export_model

        export_model(self, filepath, format, verbose, input_signature, dynamic_batch)

    def to_torch(self, input_signature: Any = None, dynamic_batch: bool = True) -> Any:
        """The model as a plain `torch.nn.Module` (NHWC in, NHWC out)."""
        from convolve.saving import to_torch

        return to_torch(self, input_signature, dynamic_batch)

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Model:
        if "layers" in config and "input_layers" in config:
            from convolve.saving import functional_from_config

            return functional_from_config(config, custom_objects)
        return cls(**config)

    # ------------------------------------------------------------ graph views
    @property
    def inputs(self) -> list:
        raise AttributeError(f"Model '{self.name}' has no symbolic inputs (it is subclassed).")

    @property
    def outputs(self) -> list:
        raise AttributeError(f"Model '{self.name}' has no symbolic outputs (it is subclassed).")

    @property
    def input(self) -> Any:
        inputs = self.inputs
        return inputs[0] if len(inputs) == 1 else inputs

    @property
    def output(self) -> Any:
        outputs = self.outputs
        return outputs[0] if len(outputs) == 1 else outputs

    def _as_input_tensor(self, x: Any) -> Any:
        if is_string_array(x) and not self._takes_strings:
            # The wording `fit`/`predict` used when their data was converted up front.
            raise non_numeric_error("x", x)
        return super()._as_input_tensor(x)

    @property
    def _takes_strings(self) -> bool:
        """A model with an `Input(dtype="string")` takes NumPy arrays of strings."""
        try:
            inputs = self.inputs
        except (AttributeError, ValueError):
            return False
        return any(getattr(t, "dtype", None) == "string" for t in inputs)

    @property
    def input_shape(self) -> Any:
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def build(self, input_shape: Any) -> None:
        """Subclassed models build by running once on zeros of `input_shape`, their weights'
        assignments skipped (Keras runs that call on symbolic tensors)."""
        if self._engine_layout:
            return
        import torch

        from convolve.layers.base import map_shapes, stateless

        def zeros(shape):
            return torch.zeros([1 if d is None else d for d in shape])

        self.built = True  # Layer.forward would otherwise recurse into build
        with torch.no_grad(), stateless():  # counters in `call` must not count this pass
            self.forward(map_shapes(zeros, input_shape))

    def _regularization_losses(self) -> list:
        return _tree.flatten(self.losses)


def _functional_arguments(args: tuple, kwargs: dict) -> bool:
    """Whether a model class is called with symbolic inputs and outputs."""
    from convolve.layers.symbolic import KerasTensor

    inputs = args[0] if args else kwargs.get("inputs")
    outputs = args[1] if len(args) > 1 else kwargs.get("outputs")
    if inputs is None or outputs is None:
        return False
    leaves = _tree.flatten(inputs) + _tree.flatten(outputs)
    return bool(leaves) and all(isinstance(t, KerasTensor) for t in leaves)
