"""Embedding: integer ids to dense vectors (token and patch-position embeddings)."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from convolve import constraints, initializers, regularizers
from convolve.layers import layout
from convolve.layers.masking import MaskAware


class Embedding(MaskAware):
    """Turns non-negative integer ids into dense vectors of size `output_dim`.

    Args:
        input_dim: size of the vocabulary (largest id + 1).
        output_dim: size of each embedding vector.
        embeddings_initializer: initializer of the table (`"uniform"`: uniform in
            [-0.05, 0.05], as in Keras).
        embeddings_regularizer: penalty on the table.
        embeddings_constraint: constraint on the table.
        mask_zero: whether id 0 is padding; `compute_mask` then marks the other ids.
        weights: an initial table `(input_dim, output_dim)` (or a list holding it).

    Example:
        >>> import convolve
        >>> layer = convolve.layers.Embedding(1000, 64)
        >>> layer(convolve.Input(shape=(10,))).shape
        (None, 10, 64)
    """

    _engine_layout = True

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        weights: Any = None,
        lora_rank: int | None = None,
        lora_alpha: float | None = None,
        quantization_config: Any = None,
        **kwargs: Any,
    ) -> None:
        for argument, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(
                    f"Embedding: `{argument}` must be a positive integer. Received: "
                    f"{argument}={value!r} (of type {type(value).__name__})."
                )
        if kwargs.pop("input_length", None) is not None:
            warnings.warn("Argument `input_length` is deprecated. Just remove it.", stacklevel=2)
        super().__init__(**kwargs)
        if lora_rank:
            raise ValueError(f"Embedding: LoRA is not supported, received lora_rank={lora_rank}")
        if quantization_config is not None:
            raise ValueError(
                "Embedding: quantization is not supported, received "
                f"quantization_config={quantization_config!r}"
            )
        self.input_dim = input_dim
        self.output_dim = output_dim
        if embeddings_initializer == "uniform":  # Keras's alias: uniform in [-0.05, 0.05]
            embeddings_initializer = initializers.RandomUniform()
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = mask_zero
        self.supports_masking = mask_zero
        self.lora_rank = None
        if weights is not None:
            self.build(None)
            self.built = True
            if not (isinstance(weights, list) and len(weights) == 1):
                weights = [weights]
            self.set_weights(weights)

    def build(self, input_shape=None):
        if self._weight_specs:
            return
        self.add_weight(
            (self.input_dim, self.output_dim),
            self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
            constraint=self.embeddings_constraint,
            name="embeddings",
        )

    def _casts_integer_inputs(self) -> bool:
        return False  # ids stay integers

    def call(self, inputs, training=False, mask=None):
        ids = layout.to_user(inputs)
        if ids.dtype not in (torch.int32, torch.int64):
            ids = ids.to(torch.int32)  # Keras casts other dtypes (floats truncate)
        out = torch.nn.functional.embedding(ids, self.embeddings)
        return layout.to_engine(out)

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        """`inputs != 0` when `mask_zero` (the valid positions), else None."""
        if not self.mask_zero:
            return None
        return torch.as_tensor(inputs) != 0

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape), self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        reg = self.embeddings_regularizer
        activity = self.activity_regularizer
        return {
            **config,
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": None if reg is None else regularizers.serialize(reg),
            "activity_regularizer": None if activity is None else regularizers.serialize(activity),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
            "quantization_config": None,
        }
