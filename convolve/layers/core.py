"""Core layers: Input, Dense, Flatten, Dropout, Activation, Reshape, Permute and friends."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from convolve import activations, constraints, initializers, random, regularizers
from convolve.layers import _args, activation_util, layout
from convolve.layers.base import Layer, is_string_dtype
from convolve.layers.symbolic import KerasHistory, KerasTensor, Node


class InputLayer(Layer):
    """The entry point of a model: holds the shape of one batch of inputs."""

    def __init__(
        self,
        shape: Sequence[int | None] | None = None,
        batch_size: int | None = None,
        dtype: Any = None,
        sparse: bool | None = None,
        ragged: bool | None = None,
        batch_shape: Sequence[int | None] | None = None,
        input_tensor: KerasTensor | None = None,
        optional: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if "input_shape" in kwargs and shape is None:
            shape = kwargs.pop("input_shape")
        if "batch_input_shape" in kwargs and batch_shape is None:
            batch_shape = kwargs.pop("batch_input_shape")
        text = is_string_dtype(dtype)
        super().__init__(name=name or _input_name(), dtype=None if text else dtype, **kwargs)
        if text:  # text inputs: NumPy arrays of strings, for a StringLookup or the like
            self._dtype = "string"
        for argument, value in (("sparse", sparse), ("ragged", ragged)):
            if value:
                raise ValueError(
                    f"InputLayer: {argument} inputs are not supported, received {argument}={value}"
                )
        if shape is not None and batch_shape is not None:
            raise ValueError(
                "InputLayer: pass `shape` or `batch_shape`, not both. "
                f"Received shape={shape}, batch_shape={batch_shape}"
            )
        if batch_shape is None:
            if shape is None:
                raise ValueError("InputLayer: a `shape` is required, received shape=None")
            if isinstance(shape, int):
                shape = (shape,)
            batch_shape = (batch_size, *tuple(shape))
        for d in batch_shape[1:]:
            if d is not None and (not isinstance(d, int) or d <= 0):
                raise ValueError(
                    f"InputLayer: every dimension must be a positive int or None, "
                    f"received shape={tuple(batch_shape[1:])}"
                )
        self.batch_shape = tuple(batch_shape)
        self.sparse = self.ragged = False
        self.optional = optional
        self.built = True
        if input_tensor is None:
            input_tensor = KerasTensor(self.batch_shape, self._dtype, name=self.name)
        input_tensor._keras_history = KerasHistory(self, 0, 0)
        self._inbound_nodes.append(Node(self, (), {}, input_tensor))
        self.output_tensor = input_tensor

    def call(self, inputs, training=False):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            "batch_shape": self.batch_shape,
            "dtype": self._dtype,
            "sparse": self.sparse,
            "ragged": self.ragged,
            "name": self.name,
            "optional": self.optional,
        }


def _input_name() -> str:
    from convolve.layers.naming import unique_name

    return unique_name("input_layer")


def Input(  # noqa: N802 - Keras's public name
    shape: Sequence[int | None] | None = None,
    batch_size: int | None = None,
    dtype: Any = None,
    sparse: bool | None = None,
    ragged: bool | None = None,
    batch_shape: Sequence[int | None] | None = None,
    name: str | None = None,
    tensor: KerasTensor | None = None,
    optional: bool = False,
) -> KerasTensor:
    """A symbolic input of `shape` (one sample, without the batch axis).

    Example:
        >>> import convolve
        >>> x = convolve.Input(shape=(28, 28, 1))
        >>> x.shape
        (None, 28, 28, 1)
    """
    layer = InputLayer(
        shape=shape,
        batch_size=batch_size,
        dtype=dtype,
        sparse=sparse,
        ragged=ragged,
        batch_shape=batch_shape,
        name=name,
        input_tensor=tensor,
        optional=optional,
    )
    return layer.output_tensor


class _EngineLayer(Layer):
    _engine_layout = True


class Dense(_EngineLayer):
    """Densely connected layer on the last axis: `activation(inputs @ kernel + bias)`."""

    _hands_on_masks = True
    min_input_ndim = 2

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        lora_rank: int | None = None,
        lora_alpha: float | None = None,
        quantization_config: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if quantization_config is not None:
            raise ValueError(
                "Dense: quantization is not supported, received "
                f"quantization_config={quantization_config!r}"
            )
        self.units = _args.positive_int("Dense", "units", units)
        self.activation = _args.activation("Dense", activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        if lora_rank:
            raise ValueError(f"Dense: LoRA is not supported, received lora_rank={lora_rank}")

    def build(self, input_shape):
        in_features = input_shape[-1]
        if in_features is None:
            raise ValueError(
                f"Layer '{self.name}' (Dense): the last axis of its input must be known, "
                f"received input shape {input_shape}"
            )
        # Kept in Keras's (in, out) layout: `x @ kernel` is one GEMM, as fast as torch's.
        self.add_weight(
            (in_features, self.units),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        if self.use_bias:
            self.add_weight(
                (self.units,),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )

    def call(self, inputs, training=False):
        channels_first = inputs.ndim >= 3
        x = layout.to_user(inputs) if channels_first else inputs
        if self.use_bias and x.ndim == 2:
            y = torch.addmm(self.bias, x, self.kernel)
        else:
            y = x @ self.kernel
            if self.use_bias:
                y = y + self.bias
        return activation_util.apply(self.activation, layout.to_engine(y) if channels_first else y)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _maybe_serialize(self.kernel_regularizer),
            "bias_regularizer": _maybe_serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "quantization_config": None,
        }


def _maybe_serialize(regularizer: Any) -> Any:
    return None if regularizer is None else regularizers.serialize(regularizer)


class Flatten(_EngineLayer):
    """Flattens each sample in Keras's (H, W, C) order, so Dense weights match Keras."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = _args.data_format("Flatten", data_format)

    def call(self, inputs, training=False):
        return layout.to_user(inputs).reshape(inputs.shape[0], -1)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Dropout(_EngineLayer):
    """Zeroes a `rate` fraction of inputs in training and scales the rest by 1/(1-rate)."""

    _hands_on_masks = True
    _built_at_init = True

    def __init__(
        self, rate: float, noise_shape: Sequence[int | None] | None = None, seed: int | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.rate = _args.rate(type(self).__name__, "rate", rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        if self.rate > 0:
            # As in Keras; without a seed, making it draws one from Python's `random`,
            # which keeps the seeds of the initializers made after it in step with Keras's.
            self.seed_generator = random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        noise_shape = self._noise_shape(inputs)
        if self.seed is None and noise_shape is None:
            return F.dropout(inputs, self.rate, training=True)  # Keras's unseeded path
        # Seeded, or with a noise shape: Keras's mask, drawn on the channels-last view.
        user = layout.to_user(inputs)
        dropped = random.dropout(user, self.rate, noise_shape, self.seed_generator)
        return layout.to_engine(dropped)

    def _noise_shape(self, inputs: torch.Tensor) -> tuple | None:
        """The mask's shape in Keras layout for engine-layout `inputs` (None: one draw per
        value)."""
        return self.noise_shape

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "seed": self.seed,
            "noise_shape": self.noise_shape,
        }


class _SpatialDropout(Dropout):
    """Drops whole channels: on the engine's (N, C, ...) layout that is torch's dropoutNd."""

    rank = 0

    def __init__(self, rate: float, data_format: str | None = None, seed=None, **kwargs: Any):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = _args.data_format(type(self).__name__, data_format)
        self.input_ndim = self.rank + 2

    def _noise_shape(self, inputs: torch.Tensor) -> tuple:
        # One keep/drop per sample and channel (axis 1 of the engine layout), drawn from
        # the layer's generator (seeded or not), as Keras draws it.
        return (inputs.shape[0], *([1] * self.rank), inputs.shape[1])

    def get_config(self):
        # Keras's keys and order: no `trainable`, and `data_format` only from 2D up.
        config = {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": self._dtype}
        if self.rank > 1:
            config["data_format"] = self.data_format
        return config


class SpatialDropout1D(_SpatialDropout):
    rank = 1


class SpatialDropout2D(_SpatialDropout):
    rank = 2


class SpatialDropout3D(_SpatialDropout):
    rank = 3


class Activation(_EngineLayer):
    """Applies an activation function, given by Keras name or callable."""

    _hands_on_masks = True
    _built_at_init = True

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = _args.activation("Activation", activation)

    def call(self, inputs, training=False):
        return activation_util.apply(self.activation, inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class ReLU(_EngineLayer):
    _hands_on_masks = True
    _built_at_init = True

    def __init__(
        self, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise _args.fail("ReLU", "max_value", max_value, "None or >= 0")
        if negative_slope is None or negative_slope < 0:
            raise _args.fail("ReLU", "negative_slope", negative_slope, ">= 0")
        if threshold is None or threshold < 0:
            raise _args.fail("ReLU", "threshold", threshold, ">= 0")
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def call(self, inputs, training=False):
        return activations.relu(inputs, self.negative_slope, self.max_value, self.threshold)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(_EngineLayer):
    _hands_on_masks = True
    _built_at_init = True

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise _args.fail("LeakyReLU", "negative_slope", negative_slope, ">= 0")
        self.negative_slope = float(negative_slope)

    def call(self, inputs, training=False):
        return F.leaky_relu(inputs, self.negative_slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_EngineLayer):
    _hands_on_masks = True
    _built_at_init = True

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = alpha  # as given: Keras's config keeps an int an int

    def call(self, inputs, training=False):
        return F.elu(inputs, float(self.alpha))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        return {"name": config.pop("name"), "alpha": self.alpha, **config}  # Keras's key order


class Softmax(_EngineLayer):
    _hands_on_masks = True
    _built_at_init = True

    def __init__(self, axis: int | Sequence[int] = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs, mask=None, training=False):
        if mask is not None:
            return layout.to_engine(self._masked_softmax(layout.to_user(inputs), mask))
        axes = [self.axis] if isinstance(self.axis, int) else list(self.axis)
        dims = [layout.engine_axis(a, inputs.ndim) for a in axes]
        if len(dims) == 1:
            return activations.softmax(inputs, axis=dims[0])  # Keras's kernel path, see there
        return torch.exp(inputs - torch.logsumexp(inputs, dim=dims, keepdim=True))

    def _masked_softmax(self, x: torch.Tensor, mask: Any) -> torch.Tensor:
        """Keras's masked softmax on Keras-layout `x`: masked positions (the mask
        broadcasts against `x`, aligned from the right) get probability 0."""
        mask = torch.as_tensor(mask, device=x.device)
        if mask.ndim > x.ndim or any(
            m not in (1, i) for m, i in zip(reversed(mask.shape), reversed(x.shape), strict=False)
        ):
            raise ValueError(
                f"Layer '{self.name}' (Softmax): the `mask` must be broadcastable to `inputs` "
                "(each mask dimension 1 or equal to the input's, aligned from the right). "
                f"Received: inputs.shape={tuple(x.shape)}, mask.shape={tuple(mask.shape)}"
            )
        keep = mask if mask.dtype == torch.bool else mask > 0.5
        negative = -3e4 if x.dtype == torch.float16 else -1e9
        x = torch.where(keep, x, torch.tensor(negative, dtype=x.dtype, device=x.device))
        axes = [self.axis] if isinstance(self.axis, int) else list(self.axis)
        if len(axes) == 1:
            out = torch.softmax(x, dim=axes[0])
        else:
            out = torch.exp(x - torch.logsumexp(x, dim=axes, keepdim=True))
        return torch.where(keep, out, torch.zeros((), dtype=out.dtype, device=out.device))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Reshape(_EngineLayer):
    """Reshapes each sample to `target_shape` (Keras layout; one entry may be -1)."""

    _built_at_init = True

    def __init__(self, target_shape: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        target_shape = tuple(target_shape)
        if sum(d == -1 for d in target_shape) > 1 or any(
            not isinstance(d, int) or (d <= 0 and d != -1) for d in target_shape
        ):
            raise _args.fail(
                "Reshape", "target_shape", target_shape, "positive ints with at most one -1"
            )
        self.target_shape = target_shape

    def call(self, inputs, training=False):
        out = layout.to_user(inputs).reshape(inputs.shape[0], *self.target_shape)
        return layout.to_engine(out)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if -1 not in self.target_shape:
            if None not in rest and math.prod(rest) != math.prod(self.target_shape):
                raise self._size_error(input_shape)
            return (input_shape[0], *self.target_shape)
        if None in rest:
            return (input_shape[0], *(None if d == -1 else d for d in self.target_shape))
        known = -math.prod(self.target_shape)
        if math.prod(rest) % known:
            raise self._size_error(input_shape)
        missing = math.prod(rest) // known
        return (input_shape[0], *(missing if d == -1 else d for d in self.target_shape))

    def _size_error(self, input_shape) -> ValueError:
        return ValueError(
            f"Layer '{self.name}' (Reshape): cannot reshape an input of shape {input_shape} "
            f"to target_shape={self.target_shape}: the sizes differ."
        )

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(_EngineLayer):
    """Permutes the non-batch axes; `dims` is 1-indexed, as in Keras."""

    def __init__(self, dims: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        dims = tuple(dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise _args.fail("Permute", "dims", dims, f"a permutation of 1..{len(dims)}")
        self.dims = dims
        self.input_ndim = len(dims) + 1

    def call(self, inputs, training=False):
        out = layout.to_user(inputs).permute(0, *self.dims)
        return layout.to_engine(out)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


class Identity(_EngineLayer):
    _hands_on_masks = True
    _built_at_init = True

    def call(self, inputs, training=False):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape
