"""Recurrent layers: `RNN`, `SimpleRNN`, `LSTM`, `GRU`, `Bidirectional` and
`TimeDistributed`.

Sequences are `(batch, timesteps, features)` as in Keras. A layer runs its cell (see
`rnn_cells.py`) over the time axis; `LSTM` and `GRU` with Keras's default activations and
no mask or dropout run on torch's fused recurrent kernels (the weights are rearranged on
the fly from Keras's gate order), anything else on a step loop with the same arithmetic.

Masks (see `masking.py`): `Masking` or `Embedding(mask_zero=True)` marks the time steps to
skip; the mask travels with the tensor to the next recurrent layer (directly, or through
`Bidirectional`, `TimeDistributed` and recurrent layers with `return_sequences=True`),
which skips those steps as Keras does: outputs and states carry over from the previous
step. A mask can also be passed explicitly as `layer(x, mask=m)` when calling eagerly.
Other layers between a `Masking` layer and a recurrent layer drop the mask.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch

from convolve import _tree, activations, regularizers
from convolve.layers import _args, layout
from convolve.layers import _conv_utils as cu
from convolve.layers.base import Layer
from convolve.layers.layer_serialization import deserialize_child
from convolve.layers.masking import MaskAware
from convolve.layers.naming import to_snake_case
from convolve.layers.rnn_cells import (
    GRUCell,
    LSTMCell,
    SimpleRNNCell,
    StackedRNNCells,
    _Cell,
    maybe_serialize,
    run_cell,
)
from convolve.layers.wrappers import Wrapper


# --------------------------------------------------------------------- RNN
def _state_sizes(cell: Any) -> list[Any]:
    size = cell.state_size
    return list(size) if isinstance(size, list | tuple) else [size]


def _flat_sizes(cell: Any) -> list[int]:
    return [int(s) for s in _tree.flatten(_state_sizes(cell))]


def _pack_states(cell: Any, flat: list[torch.Tensor]) -> list[Any]:
    """Flat states to the structure `cell.call` takes (a list per cell when stacked)."""
    out, i = [], 0
    for size in _state_sizes(cell):
        if isinstance(size, list | tuple):
            out.append(list(flat[i : i + len(size)]))
            i += len(size)
        else:
            out.append(flat[i])
            i += 1
    return out


def _output_size(cell: Any) -> int:
    size = getattr(cell, "output_size", None)
    return int(size) if size is not None else _flat_sizes(cell)[0]


def _stepper(cell: Any, x0: torch.Tensor, state0: torch.Tensor, training: bool):
    """`step(x, flat_states) -> (output, flat_new_states)`, dropout masks drawn once."""
    if isinstance(cell, _Cell):
        masks = cell.dropout_masks(x0, state0, training)
        return lambda x, s: cell.step(x, s, masks)
    if isinstance(cell, StackedRNNCells):
        steps, counts, width = [], [], x0.shape[-1]
        for sub in cell.cells:
            sample = x0.new_zeros(x0.shape[0], width)
            steps.append(_stepper(sub, sample, state0.new_zeros(state0.shape[0], 1), training))
            counts.append(len(_flat_sizes(sub)))
            width = _output_size(sub)

        def stacked(x: torch.Tensor, flat: list[torch.Tensor]) -> Any:
            new, i = [], 0
            for step, n in zip(steps, counts, strict=True):
                x, states = step(x, flat[i : i + n])
                new.extend(states)
                i += n
            return x, new

        return stacked

    def generic(x: torch.Tensor, flat: list[torch.Tensor]) -> Any:
        out, new = run_cell(cell, x, _pack_states(cell, flat), training)
        return out, list(_tree.flatten(new if isinstance(new, list | tuple) else [new]))

    return generic


class RNN(MaskAware):
    """Runs a recurrent cell (or a list of cells, stacked) over the time axis.

    Args:
        cell: a cell (`LSTMCell`, `GRUCell`, `SimpleRNNCell`, a Keras-style cell with
            `state_size` and `call(inputs, states)`), or a list of cells.
        return_sequences: return the output of every step, not only the last.
        return_state: also return the final states.
        go_backwards: process the sequence in reverse (outputs stay in processing order).
        stateful: keep the final states of one batch as the initial states of the next.
        unroll: accepted for compatibility; the result is the same.
        zero_output_for_mask: masked steps output zeros instead of the previous output.

    Example:
        >>> import torch
        >>> from convolve.layers import RNN, LSTMCell
        >>> out, h, c = RNN(LSTMCell(4), return_sequences=True, return_state=True)(
        ...     torch.zeros(2, 7, 3))
        >>> tuple(out.shape), tuple(h.shape), tuple(c.shape)
        ((2, 7, 4), (2, 4), (2, 4))
    """

    def __init__(
        self,
        cell: Any,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        if isinstance(cell, list | tuple):
            cell = StackedRNNCells(list(cell))
        if not hasattr(cell, "state_size") or not callable(getattr(cell, "call", None)):
            raise ValueError(
                f"{type(self).__name__}: `cell` must have a `call` method and a `state_size` "
                f"attribute, received cell={cell!r}"
            )
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._stateful_states: list[torch.Tensor] | None = None

    # ------------------------------------------------------------- shapes
    @staticmethod
    def _sequence_shape(input_shape: Any) -> tuple:
        if isinstance(input_shape, list) or (
            isinstance(input_shape, tuple) and input_shape and isinstance(input_shape[0], tuple)
        ):
            return tuple(input_shape[0])
        return tuple(input_shape)

    def _step_input_shape(self, shape: tuple) -> tuple:
        return (shape[0], *shape[2:])

    def build(self, input_shape: Any) -> None:
        shape = self._sequence_shape(input_shape)
        if len(shape) < 3:
            raise ValueError(
                f"Input of layer '{self.name}' ({type(self).__name__}) must be a sequence "
                f"(batch, timesteps, features), received input shape {shape}"
            )
        if isinstance(self.cell, Layer):
            self.cell.build_for(self._step_input_shape(shape))
        if self.stateful and shape[0] is not None:
            # As Keras: a stateful layer built for a known batch size starts from zeros.
            self._stateful_states = self._zero_states(shape[0])

    def _zero_states(self, batch: int) -> list[torch.Tensor]:
        tensor = next(iter(self.parameters()), None)
        like = torch.zeros(()) if tensor is None else tensor.new_zeros(())
        return self.get_initial_state(batch, like)

    def _state_shapes(self, batch: Any) -> list[Any]:
        shapes = []
        for size in _state_sizes(self.cell):
            if isinstance(size, list | tuple):
                shapes.append([(batch, *_as_shape(s)) for s in size])
            else:
                shapes.append((batch, *_as_shape(size)))
        return shapes

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = self._sequence_shape(input_shape)
        batch = shape[0]
        out = _as_shape(self._cell_output_size())
        output = (batch, shape[1], *out) if self.return_sequences else (batch, *out)
        if self.return_state:  # a tuple, as Keras returns
            return (output, *self._state_shapes(batch))
        return output

    def _cell_output_size(self) -> Any:
        return _output_size(self.cell)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask if self.return_sequences else None

    # ------------------------------------------------------------- running
    def get_initial_state(self, batch_size: int, like: torch.Tensor) -> list[torch.Tensor]:
        return [like.new_zeros((batch_size, *_as_shape(s))) for s in _flat_sizes_any(self.cell)]

    def reset_state(self) -> None:
        """Zeroes the states kept by a stateful layer."""
        if self._stateful_states is not None:
            self._stateful_states = [torch.zeros_like(s) for s in self._stateful_states]

    reset_states = reset_state

    @property
    def states(self) -> list[torch.Tensor] | None:
        return self._stateful_states

    def call(
        self,
        inputs: Any,
        initial_state: Any = None,
        mask: torch.Tensor | None = None,
        training: bool = False,
    ) -> Any:
        if isinstance(inputs, list | tuple):
            sequences, given = inputs[0], [layout.to_user(s) for s in inputs[1:]]
            initial_state = given or initial_state
        else:
            sequences = inputs
        seq = layout.to_user(sequences)
        batch = seq.shape[0]
        if initial_state is not None and not isinstance(initial_state, list):
            initial_state = list(_tree.flatten(initial_state))
        expected = len(_flat_sizes_any(self.cell))
        if initial_state is None and self.stateful and self._stateful_states is not None:
            if self._stateful_states[0].shape[0] != batch:
                raise ValueError(
                    f"Layer '{self.name}': a stateful RNN needs the same batch size in every "
                    f"call; its states have batch size {self._stateful_states[0].shape[0]}, "
                    f"received inputs of batch size {batch}."
                )
            initial_state = self._stateful_states
        if initial_state is None:
            states = self.get_initial_state(batch, seq)
        else:
            if len(initial_state) != expected:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) expects {expected} initial "
                    f"state tensor(s), received {len(initial_state)}."
                )
            states = [s.to(seq.dtype) for s in initial_state]
        if mask is not None:
            mask = mask.to(device=seq.device)
            if mask.ndim != 2 or tuple(mask.shape) != tuple(seq.shape[:2]):
                raise ValueError(
                    f"Layer '{self.name}': the mask must have shape (batch, timesteps) = "
                    f"{tuple(seq.shape[:2])}, received a mask of shape {tuple(mask.shape)}."
                )
        outputs, last, final = self._run(seq, states, mask, bool(training))
        if self.stateful:
            self._stateful_states = [s.detach() for s in final]
        output = outputs if self.return_sequences else last
        output = layout.to_engine(output)
        if not self.return_state:
            return output
        final = [layout.to_engine(s) for s in final]
        if isinstance(self.cell, StackedRNNCells):
            return (output, *_pack_states(self.cell, final))
        return (output, *final)

    def _run(self, seq: torch.Tensor, states: list[torch.Tensor], mask: Any, training: bool):
        """(all outputs (B, T, ...), last output, final states) in processing order."""
        fused = self._fused(seq, states, mask, training)
        if fused is not None:
            return fused
        if self.go_backwards:
            seq = seq.flip(1)
            mask = None if mask is None else mask.flip(1)
        steps = seq.shape[1]
        if steps == 0:
            raise ValueError(f"Layer '{self.name}': the input sequence has no time steps.")
        seq, step = self._steps(seq, states, training)
        outputs: list[torch.Tensor] = []
        prev = None
        for t in range(steps):
            out, new = step(seq[:, t], states)
            if mask is not None:
                if prev is None:
                    prev = torch.zeros_like(out)
                keep = mask[:, t].reshape(-1, *([1] * (out.ndim - 1)))
                out = torch.where(keep, out, torch.zeros_like(out) if self.zero_output_for_mask
                                  else prev)  # fmt: skip
                new = [
                    torch.where(mask[:, t].reshape(-1, *([1] * (n.ndim - 1))), n, s)
                    for n, s in zip(new, states, strict=True)
                ]
                prev = out
            states = list(new)
            if self.return_sequences or t == steps - 1:
                outputs.append(out)
        last = outputs[-1]
        stacked = torch.stack(outputs, dim=1) if self.return_sequences else None
        return stacked, last, states

    def _fused(self, seq: torch.Tensor, states: list[torch.Tensor], mask: Any, training: bool):
        return None

    def _steps(self, seq: torch.Tensor, states: list[torch.Tensor], training: bool) -> Any:
        """The per-step inputs (indexed `[:, t]`) and `step(x_t, states) -> (output,
        states)`; a layer whose cell can transform all inputs at once (ConvLSTM) overrides
        it to do so before the loop."""
        return seq, _stepper(self.cell, seq[:, 0], states[0], training)

    # ------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        from convolve.saving import serialize_keras_object

        return {  # in Keras's key order: the flags, then the cell
            **super().get_config(),
            **self._rnn_config(),
            "cell": serialize_keras_object(self.cell),
        }

    def _rnn_config(self) -> dict[str, Any]:
        return {
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RNN:
        config = dict(config)
        cell = config.pop("cell")
        cell = (
            [deserialize_child(c) for c in cell]
            if isinstance(cell, list)
            else deserialize_child(cell)
        )
        return cls(cell, **config)


def _as_shape(size: Any) -> tuple:
    if isinstance(size, int):
        return (size,)
    return tuple(size)


def _flat_sizes_any(cell: Any) -> list[Any]:
    """Flat state sizes; an entry may itself be a shape (a convolutional cell's state)."""
    out: list[Any] = []
    for size in _state_sizes(cell):
        if isinstance(size, list) or (
            isinstance(size, tuple) and isinstance(cell, StackedRNNCells)
        ):
            out.extend(_flat_sizes_any_entry(s) for s in size)
        else:
            out.append(size)
    return out


def _flat_sizes_any_entry(size: Any) -> Any:
    return size


# --------------------------------------------------------------------- the three layers
# The cell's arguments, in the order Keras's layer configs list them.
_CELL_ARGUMENTS = (
    "units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
    "recurrent_initializer", "bias_initializer", "unit_forget_bias", "kernel_regularizer",
    "recurrent_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
    "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout", "reset_after",
    "seed",
)  # fmt: skip


class _CellLayer(RNN):
    """A recurrent layer that owns its cell: the cell's arguments are the layer's."""

    _cell_class: type = _Cell

    def __init__(self, cell_kwargs: dict[str, Any], rnn_kwargs: dict[str, Any], **kwargs):
        name = type(self).__name__
        check = cu.ArgumentErrors(name)
        for key in ("return_sequences", "return_state", "go_backwards", "stateful", "unroll"):
            if not isinstance(rnn_kwargs[key], bool | int):
                check.add(f"`{key}` must be a bool, received {key}={rnn_kwargs[key]!r}")
        check.raise_if_any()
        cell = self._cell_class(
            **cell_kwargs,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name=to_snake_case(self._cell_class.__name__),
        )
        super().__init__(cell, **rnn_kwargs, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name in _CELL_ARGUMENTS and "cell" in self.__dict__.get("_modules", {}):
            return getattr(self._modules["cell"], name)
        return super().__getattr__(name)

    def get_config(self) -> dict[str, Any]:
        config = {k: v for k, v in Layer.get_config(self).items() if k != "activity_regularizer"}
        config.update(self._rnn_config())
        cell_config = self.cell.get_config()
        activity = self.activity_regularizer
        cell_config["activity_regularizer"] = maybe_serialize(activity, regularizers)
        for key in _CELL_ARGUMENTS:
            if key in cell_config:
                config[key] = cell_config[key]
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RNN:
        config = dict(config)
        config.pop("zero_output_for_mask", None)
        config.pop("cell", None)
        layer = cls(**config)
        return layer


def _rnn_kwargs(return_sequences, return_state, go_backwards, stateful, unroll):
    return {
        "return_sequences": return_sequences,
        "return_state": return_state,
        "go_backwards": go_backwards,
        "stateful": stateful,
        "unroll": unroll,
    }


class SimpleRNN(_CellLayer):
    """Fully connected RNN: `h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + b)`.

    Example:
        >>> import torch
        >>> from convolve.layers import SimpleRNN
        >>> tuple(SimpleRNN(4)(torch.zeros(2, 7, 3)).shape)
        (2, 4)
    """

    _cell_class = SimpleRNNCell

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
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        cell_kwargs = dict(
            units=units, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed,
        )  # fmt: skip
        rnn = _rnn_kwargs(return_sequences, return_state, go_backwards, stateful, unroll)
        super().__init__(cell_kwargs, rnn, activity_regularizer=activity_regularizer, **kwargs)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("seed", None)  # Keras's SimpleRNN config leaves the seed out
        return config


def _is_default_gates(cell: Any) -> bool:
    return cell.activation is activations.get("tanh") and (
        cell.recurrent_activation is activations.get("sigmoid")
    )


def _fusable(layer: RNN, mask: Any, training: bool) -> bool:
    cell = layer.cell
    if mask is not None or not _is_default_gates(cell):
        return False
    if training and (cell.dropout or cell.recurrent_dropout):
        return False
    return cell.kernel.dtype in (torch.float32, torch.float64) and cell.kernel.shape[0] > 0


def _fused_result(layer: RNN, output: torch.Tensor, states: list[torch.Tensor]):
    return (output if layer.return_sequences else None), output[:, -1], states


class LSTM(_CellLayer):
    """Long Short-Term Memory layer (Hochreiter 1997), as `keras.layers.LSTM`.

    Weights (in the `cell` sublayer): `kernel (input_dim, 4 * units)`,
    `recurrent_kernel (units, 4 * units)`, `bias (4 * units,)`, gates i, f, c, o.

    Example:
        >>> import torch
        >>> from convolve.layers import LSTM
        >>> out, h, c = LSTM(4, return_sequences=True, return_state=True)(torch.zeros(2, 7, 3))
        >>> tuple(out.shape), tuple(h.shape), tuple(c.shape)
        ((2, 7, 4), (2, 4), (2, 4))
    """

    _cell_class = LSTMCell

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
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        use_cudnn: Any = "auto",
        **kwargs: Any,
    ) -> None:
        cell_kwargs = dict(
            units=units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed,
        )  # fmt: skip
        rnn = _rnn_kwargs(return_sequences, return_state, go_backwards, stateful, unroll)
        super().__init__(cell_kwargs, rnn, activity_regularizer=activity_regularizer, **kwargs)
        self.use_cudnn = use_cudnn

    def _fused(self, seq, states, mask, training):
        if not _fusable(self, mask, training):
            return None
        cell = self.cell
        bias = cell.bias if cell.use_bias else torch.zeros_like(cell.kernel[0])
        params = [cell.kernel.T, cell.recurrent_kernel.T, bias, torch.zeros_like(bias)]
        x = seq.flip(1) if self.go_backwards else seq
        h0, c0 = (s.unsqueeze(0) for s in states)
        output, h, c = torch._VF.lstm(x, (h0, c0), params, True, 1, 0.0, False, False, True)
        return _fused_result(self, output, [h[0], c[0]])


class GRU(_CellLayer):
    """Gated Recurrent Unit layer (Cho 2014), as `keras.layers.GRU`.

    Weights (in the `cell` sublayer): `kernel (input_dim, 3 * units)`,
    `recurrent_kernel (units, 3 * units)`, gates z, r, h; `bias (2, 3 * units)` with
    `reset_after=True` (the default), `(3 * units,)` otherwise.

    Example:
        >>> import torch
        >>> from convolve.layers import GRU
        >>> tuple(GRU(4, return_sequences=True)(torch.zeros(2, 7, 3)).shape)
        (2, 7, 4)
    """

    _cell_class = GRUCell

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
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        reset_after: bool = True,
        use_cudnn: Any = "auto",
        **kwargs: Any,
    ) -> None:
        cell_kwargs = dict(
            units=units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, reset_after=reset_after,
            seed=seed,
        )  # fmt: skip
        rnn = _rnn_kwargs(return_sequences, return_state, go_backwards, stateful, unroll)
        super().__init__(cell_kwargs, rnn, activity_regularizer=activity_regularizer, **kwargs)
        self.use_cudnn = use_cudnn

    def _fused(self, seq, states, mask, training):
        cell = self.cell
        if not cell.reset_after or not _fusable(self, mask, training):
            return None
        units = cell.units

        def torch_order(w: torch.Tensor) -> torch.Tensor:  # Keras z, r, h -> torch r, z, n
            return torch.cat([w[..., units : 2 * units], w[..., :units], w[..., 2 * units :]], -1)

        params = [torch_order(cell.kernel).T, torch_order(cell.recurrent_kernel).T]
        if cell.use_bias:
            params += [torch_order(cell.bias[0]), torch_order(cell.bias[1])]
        x = seq.flip(1) if self.go_backwards else seq
        output, h = torch._VF.gru(
            x, states[0].unsqueeze(0), params, cell.use_bias, 1, 0.0, False, False, True
        )
        return _fused_result(self, output, [h[0]])


# --------------------------------------------------------------------- wrappers
class Bidirectional(MaskAware):
    """Runs a recurrent layer forwards and a copy of it backwards, and merges the two.

    Args:
        layer: the recurrent layer (its copy runs with `go_backwards` flipped).
        merge_mode: `"concat"` (default), `"sum"`, `"mul"`, `"ave"` or None (a list of
            both outputs).
        weights: initial weights, forward layer's first.
        backward_layer: a layer to use backwards instead of a copy of `layer`.

    Example:
        >>> import torch
        >>> from convolve.layers import LSTM, Bidirectional
        >>> tuple(Bidirectional(LSTM(4))(torch.zeros(2, 7, 3)).shape)
        (2, 8)
    """

    def __init__(
        self,
        layer: Any,
        merge_mode: str | None = "concat",
        weights: Sequence[Any] | None = None,
        backward_layer: Any = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(layer, RNN):
            raise _args.fail("Bidirectional", "layer", layer, "a recurrent layer (RNN, LSTM, ...)")
        if backward_layer is not None and not isinstance(backward_layer, RNN):
            raise _args.fail("Bidirectional", "backward_layer", backward_layer, "a recurrent layer")
        if merge_mode not in ("sum", "mul", "ave", "concat", None):
            raise _args.fail(
                "Bidirectional", "merge_mode", merge_mode,
                "one of 'sum', 'mul', 'ave', 'concat' or None",
            )  # fmt: skip
        super().__init__(**kwargs)
        self.forward_layer = _copy_layer(layer, f"forward_{_strip(layer.name, 'forward_')}")
        if backward_layer is None:
            self.backward_layer = _copy_layer(
                layer, f"backward_{_strip(layer.name, 'backward_')}", go_backwards=True
            )
        else:
            self.backward_layer = backward_layer
        forward, backward = self.forward_layer, self.backward_layer
        if forward.go_backwards == backward.go_backwards:
            raise ValueError(
                "Bidirectional: the forward and backward layers must have different "
                f"`go_backwards`, received {forward.go_backwards} for both."
            )
        for attr in ("stateful", "return_sequences", "return_state"):
            if getattr(forward, attr) != getattr(backward, attr):
                raise ValueError(
                    f"Bidirectional: the forward and backward layers must have the same "
                    f"`{attr}`, received {getattr(forward, attr)} and {getattr(backward, attr)}."
                )
        for sub in (forward, backward):
            sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self._initial_weights = list(weights) if weights is not None else None

    def build(self, input_shape: Any) -> None:
        shape = RNN._sequence_shape(input_shape)
        self.forward_layer.build_for(shape)
        self.backward_layer.build_for(shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = RNN._sequence_shape(input_shape)
        out = self.forward_layer.compute_output_shape(shape)
        states: list[Any] = []
        if self.return_state:
            out, states = out[0], list(out[1:])
        if self.merge_mode == "concat":
            out = (*out[:-1], out[-1] * 2)
        outputs = (out, out) if self.merge_mode is None else (out,)
        if self.return_state:
            return (*outputs, *states, *states)
        return outputs if self.merge_mode is None else outputs[0]

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask if self.return_sequences else None

    def call(
        self,
        inputs: Any,
        initial_state: Any = None,
        mask: torch.Tensor | None = None,
        training: bool = False,
    ) -> Any:
        if isinstance(inputs, list | tuple):
            sequences, states = inputs[0], list(inputs[1:])
        else:
            sequences, states = inputs, list(initial_state or [])
        forward_in: Any = sequences
        backward_in: Any = sequences
        if states:
            half = len(states) // 2
            forward_in = [sequences, *states[:half]]
            backward_in = [sequences, *states[half:]]
        y = self.forward_layer._invoke(forward_in, (), {"mask": mask}, training)
        y_rev = self.backward_layer._invoke(backward_in, (), {"mask": mask}, training)
        if self.return_state:
            states_out = [*y[1:], *y_rev[1:]]
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev.flip(2 if y_rev.ndim >= 3 else 1)  # time axis, engine layout
        channel = 1  # the feature axis in engine layout (rank 2 and 3 alike)
        if self.merge_mode == "concat":
            output: Any = torch.cat([y, y_rev], dim=channel)
        elif self.merge_mode == "sum":
            output = y + y_rev
        elif self.merge_mode == "ave":
            output = (y + y_rev) / 2
        elif self.merge_mode == "mul":
            output = y * y_rev
        else:
            output = (y, y_rev)
        if self.return_state:  # tuples, as Keras returns
            return (*(output if self.merge_mode is None else (output,)), *states_out)
        return output

    def get_config(self) -> dict[str, Any]:
        from convolve.saving import serialize_keras_object

        return {
            **super().get_config(),
            "merge_mode": self.merge_mode,
            "layer": serialize_keras_object(self.forward_layer),
            "backward_layer": serialize_keras_object(self.backward_layer),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Bidirectional:
        config = copy.deepcopy(config)
        config["layer"] = deserialize_child(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize_child(config["backward_layer"])
        return cls(**config)


def _strip(name: str, prefix: str) -> str:
    return name[len(prefix) :] if name.startswith(prefix) else name


def _copy_layer(layer: RNN, name: str, go_backwards: bool | None = None) -> RNN:
    """A fresh layer from `layer`'s config (weights are not shared), as Keras makes them."""
    config = layer.get_config()
    config["name"] = name
    if go_backwards:
        config["go_backwards"] = not layer.go_backwards
    return type(layer).from_config(config)


class TimeDistributed(Wrapper, MaskAware):
    """Applies a layer to every time step of a sequence: `(batch, time, ...)` in and out.

    The steps are folded into the batch, so the layer runs once; a layer holding batch
    statistics (BatchNormalization) runs step by step in training, as in Keras, so that
    each step is normalised with its own statistics.

    Example:
        >>> import torch
        >>> from convolve.layers import Conv2D, TimeDistributed
        >>> layer = TimeDistributed(Conv2D(8, 3))
        >>> tuple(layer(torch.zeros(2, 5, 16, 16, 3)).shape)
        (2, 5, 14, 14, 8)
        >>> layer.count_params()
        224
    """

    def __init__(self, layer: Any, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            raise _args.fail("TimeDistributed", "layer", layer, "a layer instance")
        super().__init__(layer, **kwargs)

    @staticmethod
    def _child_shape(input_shape: Any) -> tuple:
        if not isinstance(input_shape, tuple | list) or len(input_shape) < 3:
            raise ValueError(
                "TimeDistributed: the input must have at least 3 dimensions "
                f"(batch, time, ...), received input shape {input_shape}"
            )
        return (input_shape[0], *input_shape[2:])

    def build(self, input_shape: Any) -> None:
        self.layer.build_for(self._child_shape(tuple(input_shape)))

    def compute_output_shape(self, input_shape: Any) -> Any:
        child = self.layer.compute_output_shape(self._child_shape(tuple(input_shape)))
        return (child[0], input_shape[1], *child[1:])

    def _per_step(self, training: bool) -> bool:
        from convolve.layers.normalization import BatchNormalization

        return bool(training) and any(
            isinstance(m, BatchNormalization) for m in self.layer.modules()
        )

    def call(self, inputs: torch.Tensor, mask: Any = None, training: bool = False) -> Any:
        x = layout.to_user(inputs)
        batch, steps = x.shape[0], x.shape[1]
        if self._per_step(training):
            outs = [self._child(x[:, t], training) for t in range(steps)]
            return layout.to_engine(torch.stack(outs, dim=1))
        y = self._child(x.reshape(batch * steps, *x.shape[2:]), training)
        return layout.to_engine(y.reshape(batch, steps, *y.shape[1:]))

    def _child(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        """The wrapped layer on Keras-layout steps, returning Keras layout."""
        engine = layout.engine_memory_format(layout.to_engine(x)) if x.ndim >= 3 else x
        return layout.to_user(self.layer.engine_call(engine, training))

    def get_config(self) -> dict[str, Any]:
        from convolve.saving import serialize_keras_object

        return {**super().get_config(), "layer": serialize_keras_object(self.layer)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TimeDistributed:
        config = dict(config)
        layer = deserialize_child(config.pop("layer"))
        return cls(layer, **config)
