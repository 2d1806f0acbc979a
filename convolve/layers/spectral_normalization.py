"""SpectralNormalization: a wrapper that keeps a layer's kernel at spectral norm 1 (GANs)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from convolve import initializers
from convolve.layers import _args
from convolve.layers.base import Layer, WeightSpec, _keras_view
from convolve.layers.layer_serialization import deserialize_child

_NORMALIZE_EPSILON = 1e-7  # Keras's backend epsilon, the floor of a vector's norm


def _unit(x: torch.Tensor) -> torch.Tensor:
    """`x` over its L2 norm (all axes), as Keras's `normalize(x, axis=None)` computes it."""
    inverse_norm = torch.rsqrt(torch.sum(x * x))
    return x * torch.clamp(inverse_norm, max=1.0 / _NORMALIZE_EPSILON)


class SpectralNormalization(Layer):
    """Performs spectral normalization on the kernel of the wrapped layer.

    In training, each call first runs `power_iterations` steps of the power method on the
    kernel (seen in Keras's layout as a `(-1, units)` matrix), starting from the
    non-trainable `vector_u`, then divides the kernel, in place, by its estimated largest
    singular value and stores the new `vector_u`; the wrapped layer then runs with that
    kernel. Outside training the layer runs as it is. This controls the Lipschitz constant
    of the layer, which stabilises the training of GANs (Miyato et al., 2018).

    The weights are Keras's: the wrapped layer's kernel (also held by the wrapper, as in
    Keras), `vector_u`, then the wrapped layer's other weights.

    Args:
        layer: a layer with a `kernel` (Dense, Conv2D, ...) or `embeddings` (Embedding).
        power_iterations: the number of power-method steps per training call.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Example:
        >>> import torch
        >>> from convolve.layers import Conv2D, SpectralNormalization
        >>> layer = SpectralNormalization(Conv2D(2, 2))
        >>> tuple(layer(torch.zeros(1, 10, 10, 1)).shape)
        (1, 9, 9, 2)
        >>> [w.shape for w in layer.get_weights()]
        [(2, 2, 1, 2), (1, 2), (2,)]
    """

    _engine_layout = True

    def __init__(self, layer: Any, power_iterations: int = 1, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            raise _args.fail("SpectralNormalization", "layer", layer, "a layer instance")
        if (
            isinstance(power_iterations, bool)
            or not isinstance(power_iterations, int)
            or power_iterations <= 0
        ):
            raise _args.fail(
                "SpectralNormalization", "power_iterations", power_iterations, "an integer > 0"
            )
        super().__init__(**kwargs)
        self.layer = layer
        self.power_iterations = power_iterations
        self._kernel_spec: WeightSpec | None = None

    def _casts_integer_inputs(self) -> bool:
        return self.layer._casts_integer_inputs()  # token ids stay ids for an Embedding

    def build(self, input_shape: Any) -> None:
        self.layer.build_for(input_shape)
        specs = {spec.name: spec for spec in self.layer._weight_specs}
        spec = specs.get("kernel") or specs.get("embeddings")
        if spec is None:
            raise ValueError(
                f"SpectralNormalization: {type(self.layer).__name__} object has no attribute "
                "'kernel' nor 'embeddings'"
            )
        # The wrapper holds the kernel too (as Keras's does); its penalty stays the layer's.
        self._kernel_spec = dataclasses.replace(spec, regularizer=None, constraint=None)
        units = _keras_view(spec, self.kernel).shape[-1]
        self.vector_u = self.add_weight(
            (1, units),
            initializers.TruncatedNormal(stddev=0.02),
            dtype=self.kernel.dtype,
            trainable=False,
            name="vector_u",
        )

    @property
    def kernel(self) -> torch.Tensor:
        """The wrapped layer's kernel (or embeddings), in torch's layout."""
        spec = self._kernel_spec
        if spec is None:
            specs = [s for s in self.layer._weight_specs if s.name in ("kernel", "embeddings")]
            if not specs:
                raise AttributeError(f"Layer '{self.name}' is not built yet: no kernel")
            spec = specs[0]
        return getattr(self.layer, spec.attr)

    def _own_weights(self, trainable: bool | None = None) -> list[tuple[WeightSpec, torch.Tensor]]:
        own = super()._own_weights()
        if self._kernel_spec is not None:
            own = [(self._kernel_spec, self.kernel), *own]
        return [(s, t) for s, t in own if trainable is None or s.trainable == trainable]

    def normalized_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next `vector_u` and the kernel divided by its spectral norm (torch layout)."""
        with torch.no_grad():
            kernel = self.kernel.detach()
            keras_kernel = _keras_view(self._kernel_spec, kernel)
            weights = keras_kernel.reshape(-1, keras_kernel.shape[-1])
            vector_u = self.vector_u
            for _ in range(self.power_iterations):
                vector_v = _unit(vector_u @ weights.T)
                vector_u = _unit(vector_v @ weights)
            sigma = (vector_v @ weights) @ vector_u.T
            return vector_u.to(self.vector_u.dtype), (kernel / sigma).to(kernel.dtype)

    def call(self, inputs: Any, training: bool = False) -> Any:
        if training:
            kernel = self.kernel
            if not bool(torch.all(kernel == 0)):
                vector_u, new_kernel = self.normalized_weights()
                with torch.no_grad():
                    self.vector_u.copy_(vector_u)
                    kernel.copy_(new_kernel)
        outputs = self.layer.engine_call(inputs, training=training)
        if isinstance(inputs, torch.Tensor) and isinstance(outputs, torch.Tensor):
            outputs = outputs.to(inputs.dtype) if inputs.is_floating_point() else outputs
        return outputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.layer.compute_output_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        from convolve.saving import serialize_keras_object

        return {
            **super().get_config(),
            "layer": serialize_keras_object(self.layer),
            "power_iterations": self.power_iterations,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SpectralNormalization:
        config = dict(config)
        layer = deserialize_child(config.pop("layer"))
        return cls(layer, **config)
