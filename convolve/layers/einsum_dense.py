"""EinsumDense: a dense layer whose contraction is an einsum equation."""

from __future__ import annotations

import re
from typing import Any

import torch

from convolve import activations, constraints, initializers, regularizers
from convolve.layers import activation_util, layout
from convolve.layers.base import Layer


def _serialize_regularizer(regularizer: Any) -> Any:
    return None if regularizer is None else regularizers.serialize(regularizer)


def analyze_equation(
    equation: str, bias_axes: str | None, input_shape: tuple, output_shape: tuple
) -> tuple[list, list | None, list, list[int], list[int]]:
    """Kernel shape, bias shape, full output shape, and the kernel's input and output axes.

    Equations take the forms `X,Y->Z`, `...X,Y->...Z` and `X...,Y->Z...`, as in Keras.
    """
    replaced = re.sub(r"\.\.\.", "0", equation)
    left_elided = False
    match = re.fullmatch("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", replaced)
    if match is None:
        match = re.fullmatch("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", replaced)
        left_elided = match is not None
    if match is None:
        match = re.fullmatch("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", replaced)
    if match is None:
        raise ValueError(
            f"EinsumDense: invalid einsum equation {equation!r}. Equations must be in the "
            "form [X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]...."
        )
    input_spec, weight_spec, output_spec = match.groups()
    input_shape = tuple(input_shape)
    elided = len(input_shape) - len(input_spec)
    full = [input_shape[0], *output_shape]
    if elided > 0 and left_elided:
        for i in range(1, elided):
            full.insert(1, input_shape[i])
    elif elided > 0:
        full.extend(input_shape[len(input_shape) - elided :])
    if left_elided:
        input_map = {d: i + elided - len(input_shape) for i, d in enumerate(input_spec)}
        output_map = {d: i + elided for i, d in enumerate(output_spec)}
    else:
        input_map = {d: i for i, d in enumerate(input_spec)}
        output_map = {d: i for i, d in enumerate(output_spec)}
    for dim in input_spec:
        if dim in output_map:
            size_in, size_out = input_shape[input_map[dim]], full[output_map[dim]]
            if size_out is not None and size_out != size_in:
                raise ValueError(
                    f"EinsumDense: input shape and output shape do not match at shared "
                    f"dimension '{dim}'. Input shape is {size_in}, and output shape is "
                    f"{size_out}."
                )
    for dim in output_spec:
        if dim not in input_spec and dim not in weight_spec:
            raise ValueError(
                f"EinsumDense: dimension '{dim}' was specified in the output '{output_spec}' "
                f"but has no corresponding dim in the input spec '{input_spec}' or weight "
                f"spec '{weight_spec}'"
            )
    kernel_shape, input_axes, output_axes = [], [], []
    for i, dim in enumerate(weight_spec):
        if dim in output_map:
            kernel_shape.append(full[output_map[dim]])
            output_axes.append(i)
        elif dim in input_map:
            kernel_shape.append(input_shape[input_map[dim]])
            input_axes.append(i)
        else:
            raise ValueError(
                f"EinsumDense: weight dimension '{dim}' did not have a match in either the "
                f"input spec '{input_spec}' or the output spec '{output_spec}'. For this "
                "layer, the weight must be fully specified."
            )
    bias_shape = None
    if bias_axes is not None:
        offset = elided if left_elided else 0
        sizes = {c: full[i + offset] for i, c in enumerate(output_spec)}
        for c in bias_axes:
            if c not in output_spec:
                raise ValueError(
                    f"EinsumDense: bias dimension '{c}' was requested, but is not part of "
                    f"the output spec '{output_spec}'"
                )
        first = min(output_spec.find(c) for c in bias_axes)
        bias_shape = [sizes[c] if c in bias_axes else 1 for c in output_spec[first:]]
        if not left_elided:
            bias_shape.extend([1] * max(elided, 0))
    return kernel_shape, bias_shape, full, input_axes, output_axes


class EinsumDense(Layer):
    """A dense layer of any rank: `activation(einsum(equation, inputs, kernel) + bias)`.

    Args:
        equation: the einsum equation, e.g. `"ab,bc->ac"` or `"...b,bc->...c"`.
        output_shape: the output shape without the batch axis (and without the elided
            axes); `None` for a dimension taken from the input.
        activation: activation applied to the output.
        bias_axes: letters of the output to which a bias is added (none by default).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: as in `Dense`.

    Example:
        >>> import convolve
        >>> layer = convolve.layers.EinsumDense("abc,cd->abd", output_shape=(None, 64))
        >>> layer(convolve.Input(shape=(32, 128))).shape  # a None in output_shape stays None
        (None, None, 64)
    """

    _engine_layout = True

    def __init__(
        self,
        equation: str,
        output_shape: Any,
        activation: Any = None,
        bias_axes: str | None = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        lora_rank: int | None = None,
        lora_alpha: float | None = None,
        gptq_unpacked_column_size: int | None = None,
        quantization_config: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(equation, str):
            raise ValueError(
                f"EinsumDense: `equation` must be a string, received equation={equation!r}"
            )
        if lora_rank:
            raise ValueError(f"EinsumDense: LoRA is not supported, received lora_rank={lora_rank}")
        if quantization_config is not None or gptq_unpacked_column_size:
            raise ValueError(
                "EinsumDense: quantization is not supported, received "
                f"quantization_config={quantization_config!r}"
            )
        if bias_axes is not None and not isinstance(bias_axes, str):
            raise ValueError(
                f"EinsumDense: `bias_axes` must be a string or None, received "
                f"bias_axes={bias_axes!r}"
            )
        self.equation = equation
        try:
            shape = (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
        except TypeError:
            raise ValueError(
                "EinsumDense: `output_shape` must be an int or a tuple, received "
                f"output_shape={output_shape!r}"
            ) from None
        if not all(d is None or (isinstance(d, int) and d > 0) for d in shape):
            raise ValueError(
                "EinsumDense: `output_shape` entries must be positive ints or None, "
                f"received output_shape={output_shape!r}"
            )
        self.partial_output_shape = shape
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.lora_rank = None
        self.lora_alpha = None

    def build(self, input_shape):
        kernel_shape, bias_shape, _, input_axes, output_axes = analyze_equation(
            self.equation, self.bias_axes, tuple(input_shape), self.partial_output_shape
        )
        if any(d is None for d in kernel_shape):
            raise ValueError(
                f"Layer '{self.name}' (EinsumDense): the kernel shape {tuple(kernel_shape)} "
                f"is not fully known for input shape {tuple(input_shape)}"
            )
        init = self.kernel_initializer
        if isinstance(init, initializers.VarianceScaling) and (
            init.input_axes is None or init.output_axes is None
        ):
            # Fans come from the kernel's input and output axes, as Keras computes them; the
            # copy keeps the seed the initializer drew, as Keras's does.
            config = {
                **init.get_config(),
                "seed": init.seed,
                "input_axes": input_axes,
                "output_axes": output_axes,
            }
            init = type(init).from_config(config)
        self.add_weight(
            tuple(kernel_shape),
            init,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        if bias_shape is not None:
            self.add_weight(
                tuple(bias_shape),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """The computation on a Keras-layout tensor (what other layers call directly)."""
        y = torch.einsum(self.equation, x, self.kernel)
        if self.bias_axes is not None:
            y = y + self.bias
        if activation_util.builtin_name(self.activation) == "linear":
            return y
        return self.activation(y)  # the Keras layout, so axis-wise activations see it

    def call(self, inputs, training=None):
        y = self.apply(layout.to_user(inputs))
        return layout.to_engine(y)

    def compute_output_shape(self, input_shape):
        _, _, full, _, _ = analyze_equation(
            self.equation, self.bias_axes, tuple(input_shape), self.partial_output_shape
        )
        return tuple(full)

    def get_config(self):
        return {
            **super().get_config(),
            "output_shape": self.partial_output_shape,
            "equation": self.equation,
            "activation": activations.serialize(self.activation),
            "bias_axes": self.bias_axes,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _serialize_regularizer(self.kernel_regularizer),
            "bias_regularizer": _serialize_regularizer(self.bias_regularizer),
            "activity_regularizer": _serialize_regularizer(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "quantization_config": None,
        }
