"""Recurrent cells: `SimpleRNNCell`, `LSTMCell`, `GRUCell` and `StackedRNNCells`.

A cell computes one time step: `cell(inputs, states) -> (output, new_states)`, with inputs
of shape `(batch, features)` and a list of states of shape `(batch, units)`. The `RNN`
layer (see `recurrent.py`) runs a cell over the time axis. Weights use Keras's names,
layout and gate order, so `get_weights()`/`set_weights()` move them to and from Keras:

- `SimpleRNNCell`: `kernel (input_dim, units)`, `recurrent_kernel (units, units)`,
  `bias (units,)`.
- `LSTMCell`: `kernel (input_dim, 4 * units)`, `recurrent_kernel (units, 4 * units)`,
  `bias (4 * units,)`, gates in the order input, forget, cell, output.
- `GRUCell`: `kernel (input_dim, 3 * units)`, `recurrent_kernel (units, 3 * units)`,
  gates in the order update (z), reset (r), candidate (h); `bias (2, 3 * units)` (input
  and recurrent biases) with `reset_after=True`, `(3 * units,)` otherwise.

Dropout (`dropout` on the inputs, `recurrent_dropout` on the previous output) uses one
mask per sequence, as Keras does, drawn from torch's generator (or the cell's own when a
`seed` is given): the same rates as Keras, not the same random numbers.
"""

from __future__ import annotations

import random as python_random
from collections.abc import Sequence
from typing import Any

import torch

from convolve import activations, constraints, initializers, regularizers
from convolve.layers import _args
from convolve.layers import _conv_utils as cu
from convolve.layers.base import Layer
from convolve.layers.layer_serialization import deserialize_child
from convolve.layers.seeding import SeededDraws


def maybe_serialize(value: Any, module: Any) -> Any:
    return None if value is None else module.serialize(value)


def _clamped_rate(value: Any, owner: str, argument: str) -> float:
    """Keras clips dropout rates into [0, 1]; anything that is not a number is refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _args.fail(owner, argument, value, "a number")
    return min(1.0, max(0.0, float(value)))


class _DropoutCell(SeededDraws):
    """Per-sequence dropout masks, as Keras's `DropoutRNNCell`."""

    dropout: float
    recurrent_dropout: float
    dropout_mask_count: int | None = None

    @staticmethod
    def _draw_keras_seed(seed: int | None) -> None:
        """Takes the draw from Python's `random` that Keras's cell makes when it creates its
        seed generator without a seed, so that the initializers made after it get Keras's
        seeds (`set_random_seed` then gives Keras's weights). The masks come from
        `generator`."""
        if seed is None:
            python_random.randint(1, int(1e9))

    def _mask(self, like: torch.Tensor, rate: float) -> torch.Tensor | None:
        if not 0.0 < rate < 1.0:
            return None
        count = self.dropout_mask_count
        shape = (count, *like.shape) if count else tuple(like.shape)
        keep = torch.empty(shape, dtype=like.dtype, device=like.device)
        keep.bernoulli_(1.0 - rate, generator=self.generator(like.device))
        return keep / (1.0 - rate)

    def dropout_masks(
        self, step_input: torch.Tensor, state: torch.Tensor, training: bool
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Masks for the inputs and the recurrent state of one sequence (None: no dropout)."""
        if not training:
            return None, None
        return self._mask(step_input, self.dropout), self._mask(state, self.recurrent_dropout)


class _Cell(_DropoutCell, Layer):
    """What the three built-in cells share: arguments, weights and config."""

    _gates = 1
    _seed_drawn_first = False  # Keras's SimpleRNNCell draws before its initializers

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        kwargs.pop("implementation", None)  # Keras's choice of kernel; the result is the same
        check = cu.ArgumentErrors(owner)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            check.add(f"`units` must be a positive integer, received units={units!r}")
        for name, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                check.add(f"`{name}` must be a number, received {name}={value!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            check.add(f"`seed` must be an int or None, received seed={seed!r}")
        check.raise_if_any()
        super().__init__(**kwargs)
        if self._seed_drawn_first:
            self._draw_keras_seed(seed)
        self.units = units
        self.activation = _args.activation(owner, activation)
        self.recurrent_activation = _args.activation(owner, recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = _clamped_rate(dropout, owner, "dropout")
        self.recurrent_dropout = _clamped_rate(recurrent_dropout, owner, "recurrent_dropout")
        if not self._seed_drawn_first:
            self._draw_keras_seed(seed)
        self.seed = seed
        self._generators: dict[str, torch.Generator] = {}
        # Keras draws one mask per gate when recurrent dropout is on ("implementation 1").
        self.dropout_mask_count = (
            self._gates if self.recurrent_dropout and self._gates > 1 else None
        )

    @property
    def state_size(self) -> Any:
        return self.units

    @property
    def output_size(self) -> int:
        return self.units

    def _bias_initializer(self) -> Any:
        return self.bias_initializer

    def _bias_shape(self) -> tuple[int, ...]:
        return (self._gates * self.units,)

    def build(self, input_shape: Any) -> None:
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): the last axis of its input "
                f"must be known, received input shape {input_shape}"
            )
        self.add_weight(
            (input_dim, self._gates * self.units),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        self.add_weight(
            (self.units, self._gates * self.units),
            self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
            name="recurrent_kernel",
        )
        if self.use_bias:
            self.add_weight(
                self._bias_shape(),
                self._bias_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )

    def get_initial_state(self, batch_size: int | None = None) -> list[torch.Tensor]:
        """Zero states for a batch of `batch_size`."""
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [torch.zeros(batch_size or 1, s, dtype=self.kernel.dtype) for s in sizes]

    def call(self, inputs: torch.Tensor, states: Any, training: bool = False) -> Any:
        single = isinstance(states, torch.Tensor)
        state_list = [states] if single else list(states)
        masks = self.dropout_masks(inputs, state_list[0], training)
        output, new_states = self.step(inputs, state_list, masks)
        return output, (new_states[0] if single else new_states)

    def step(self, x: torch.Tensor, states: list[torch.Tensor], masks: tuple) -> Any:
        raise NotImplementedError

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], self.units)

    def _common_config(self) -> dict[str, Any]:
        return {
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": maybe_serialize(self.kernel_regularizer, regularizers),
            "recurrent_regularizer": maybe_serialize(self.recurrent_regularizer, regularizers),
            "bias_regularizer": maybe_serialize(self.bias_regularizer, regularizers),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
        }


def _gate_inputs(x: torch.Tensor, mask: torch.Tensor | None, gates: int) -> list[torch.Tensor]:
    """The input of each gate after dropout (one mask per gate, or one shared mask)."""
    if mask is None:
        return [x] * gates
    if mask.ndim == x.ndim:
        return [x * mask] * gates
    return [x * mask[g] for g in range(gates)]


def _per_gate_matmul(inputs: list[torch.Tensor], kernel: torch.Tensor, units: int) -> torch.Tensor:
    if all(t is inputs[0] for t in inputs):
        return inputs[0] @ kernel
    return torch.cat(
        [t @ kernel[:, g * units : (g + 1) * units] for g, t in enumerate(inputs)], dim=-1
    )


class SimpleRNNCell(_Cell):
    """The cell of `SimpleRNN`: `output = activation(x @ kernel + h @ recurrent_kernel + bias)`.

    Example:
        >>> import torch
        >>> from convolve.layers import SimpleRNNCell
        >>> cell = SimpleRNNCell(4)
        >>> out, state = cell(torch.ones(2, 3), [torch.zeros(2, 4)])
        >>> tuple(out.shape), tuple(state[0].shape)
        ((2, 4), (2, 4))
    """

    _seed_drawn_first = True

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units, activation, None, use_bias, kernel_initializer, recurrent_initializer,
            bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
            kernel_constraint, recurrent_constraint, bias_constraint, dropout,
            recurrent_dropout, seed, **kwargs,
        )  # fmt: skip

    def step(self, x, states, masks):
        dp, rec_dp = masks
        h_prev = states[0]
        if dp is not None:
            x = x * dp
        h = x @ self.kernel
        if self.use_bias:
            h = h + self.bias
        if rec_dp is not None:
            h_prev = h_prev * rec_dp
        output = self.activation(h + h_prev @ self.recurrent_kernel)
        return output, [output]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **self._common_config(),
            "seed": self.seed,
        }


class LSTMCell(_Cell):
    """The cell of `LSTM` (Hochreiter 1997), with Keras's gate order i, f, c, o.

    With `unit_forget_bias=True` (the default) the forget gate's bias starts at one.

    Example:
        >>> import torch
        >>> from convolve.layers import LSTMCell
        >>> cell = LSTMCell(4)
        >>> out, (h, c) = cell(torch.ones(2, 3), [torch.zeros(2, 4), torch.zeros(2, 4)])
        >>> tuple(out.shape), [w.shape for w in cell.get_weights()]
        ((2, 4), [(3, 16), (4, 16), (16,)])
    """

    _gates = 4

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        unit_forget_bias: bool = True,
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units, activation, recurrent_activation, use_bias, kernel_initializer,
            recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
            bias_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
            recurrent_dropout, seed, **kwargs,
        )  # fmt: skip
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self) -> list[int]:
        return [self.units, self.units]

    def _bias_initializer(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, units = self.bias_initializer, self.units

        def init(shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
            ones = torch.ones(units, dtype=dtype)
            return torch.cat([base((units,), dtype=dtype), ones, base((2 * units,), dtype=dtype)])

        return init

    def step(self, x, states, masks):
        dp, rec_dp = masks
        h_prev, c_prev = states
        units = self.units
        z = _per_gate_matmul(_gate_inputs(x, dp, 4), self.kernel, units)
        z = z + _per_gate_matmul(_gate_inputs(h_prev, rec_dp, 4), self.recurrent_kernel, units)
        if self.use_bias:
            z = z + self.bias
        z_i, z_f, z_c, z_o = z.split(units, dim=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c_prev + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "unit_forget_bias": self.unit_forget_bias,
            **self._common_config(),
            "seed": self.seed,
        }


class GRUCell(_Cell):
    """The cell of `GRU` (Cho 2014), with Keras's gate order z, r, h.

    `reset_after=True` (the default, as in Keras and cuDNN) applies the reset gate after
    the recurrent matrix multiplication and keeps separate input and recurrent biases.

    Example:
        >>> import torch
        >>> from convolve.layers import GRUCell
        >>> cell = GRUCell(4)
        >>> out, h = cell(torch.ones(2, 3), [torch.zeros(2, 4)])
        >>> [w.shape for w in cell.get_weights()]
        [(3, 12), (4, 12), (2, 12)]
    """

    _gates = 3

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        reset_after: bool = True,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units, activation, recurrent_activation, use_bias, kernel_initializer,
            recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
            bias_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
            recurrent_dropout, seed, **kwargs,
        )  # fmt: skip
        self.reset_after = bool(reset_after)

    def _bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def step(self, x, states, masks):
        dp, rec_dp = masks
        h_prev = states[0]
        units = self.units
        if self.use_bias:
            input_bias, recurrent_bias = (
                (self.bias[0], self.bias[1]) if self.reset_after else (self.bias, None)
            )
        matrix_x = _per_gate_matmul(_gate_inputs(x, dp, 3), self.kernel, units)
        if self.use_bias:
            matrix_x = matrix_x + input_bias
        x_z, x_r, x_h = matrix_x.split(units, dim=-1)
        h_gates = _gate_inputs(h_prev, rec_dp, 3)
        if self.reset_after:
            inner = _per_gate_matmul(h_gates, self.recurrent_kernel, units)
            if self.use_bias:
                inner = inner + recurrent_bias
            rec_z, rec_r, rec_h = inner.split(units, dim=-1)
        else:
            inner = _per_gate_matmul(h_gates[:2], self.recurrent_kernel[:, : 2 * units], units)
            rec_z, rec_r = inner.split(units, dim=-1)
        z = self.recurrent_activation(x_z + rec_z)
        r = self.recurrent_activation(x_r + rec_r)
        if self.reset_after:
            rec_h = r * rec_h
        else:
            rec_h = (r * h_gates[2]) @ self.recurrent_kernel[:, 2 * units :]
        hh = self.activation(x_h + rec_h)
        h = z * h_prev + (1 - z) * hh
        return h, [h]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            **self._common_config(),
            "reset_after": self.reset_after,
            "seed": self.seed,
        }


class StackedRNNCells(Layer):
    """Runs several cells one after the other at each time step, as one cell.

    Example:
        >>> from convolve.layers import LSTMCell, RNN, StackedRNNCells
        >>> import torch
        >>> rnn = RNN(StackedRNNCells([LSTMCell(4), LSTMCell(5)]))
        >>> tuple(rnn(torch.zeros(2, 7, 3)).shape)
        (2, 5)
    """

    def __init__(self, cells: Sequence[Any], **kwargs: Any) -> None:
        cells = list(cells) if isinstance(cells, list | tuple) else cells
        if not isinstance(cells, list) or not cells:
            raise _args.fail("StackedRNNCells", "cells", cells, "a non-empty list of cells")
        for cell in cells:
            if not hasattr(cell, "state_size") or not callable(getattr(cell, "call", None)):
                raise ValueError(
                    "StackedRNNCells: every cell needs a `call` method and a `state_size` "
                    f"attribute, received cell={cell!r}"
                )
        super().__init__(**kwargs)
        self.cells = cells

    @property
    def state_size(self) -> list[Any]:
        return [c.state_size for c in self.cells]

    @property
    def output_size(self) -> int:
        last = self.cells[-1]
        size = getattr(last, "output_size", None)
        if size is not None:
            return size
        state = last.state_size
        return state[0] if isinstance(state, list | tuple) else state

    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        for cell in self.cells:
            if isinstance(cell, Layer):
                cell.build_for(shape)
            size = getattr(cell, "output_size", None)
            if size is None:
                state = cell.state_size
                size = state[0] if isinstance(state, list | tuple) else state
            shape = (shape[0], size)

    def get_initial_state(self, batch_size: int | None = None) -> list[Any]:
        out = []
        for cell in self.cells:
            sizes = cell.state_size if isinstance(cell.state_size, list) else [cell.state_size]
            out.append([torch.zeros(batch_size or 1, s) for s in sizes])
        return out

    def call(self, inputs: torch.Tensor, states: Any, training: bool = False) -> Any:
        new_states = []
        x = inputs
        for cell, state in zip(self.cells, states, strict=True):
            single = not isinstance(cell.state_size, list | tuple)
            x, new = run_cell(cell, x, state[0] if single and isinstance(state, list) else state,
                              training)  # fmt: skip
            new_states.append([new] if isinstance(new, torch.Tensor) else list(new))
        return x, new_states

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], self.output_size)

    def get_config(self):
        from convolve.saving import serialize_keras_object

        return {
            **super().get_config(),
            "cells": [serialize_keras_object(cell) for cell in self.cells],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> StackedRNNCells:
        config = dict(config)
        config["cells"] = [deserialize_child(c) for c in config["cells"]]
        return cls(**config)


def run_cell(cell: Any, x: torch.Tensor, states: Any, training: bool) -> Any:
    """One step of any cell, a built-in one or a user's Keras-style cell."""
    if isinstance(cell, Layer):
        if cell._call_takes_training:
            return cell.call(x, states, training=training)
        return cell.call(x, states)
    return cell(x, states)


__all__ = ["GRUCell", "LSTMCell", "SimpleRNNCell", "StackedRNNCells"]
