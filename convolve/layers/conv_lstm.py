"""Convolutional LSTM layers: `ConvLSTM1D`, `ConvLSTM2D` and `ConvLSTM3D`.

An LSTM whose input and recurrent transformations are convolutions: sequences of
feature maps `(batch, time, *spatial, channels)` in, one map per step (or the last one)
out, `(batch, [time,] *new_spatial, filters)`. The arithmetic is Keras's: the input
convolution takes the layer's `strides`, `padding` and `dilation_rate`; the recurrent
convolution runs over the state with stride 1 and "same" padding (the odd pixel at the
end); gates in the order input, forget, cell, output.

Weights live in the `cell` sublayer and cross to Keras as `kernel (*kernel_size, channels,
4 * filters)`, `recurrent_kernel (*kernel_size, filters, 4 * filters)` and
`bias (4 * filters,)`, in that order, as `keras.layers.ConvLSTM2D.get_weights()` lists them.

The input convolution of every time step runs at once, before the recurrence; the step
loop, masks, initial and stateful states are those of `RNN` (see `recurrent.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from convolve import activations, constraints, initializers, regularizers
from convolve.layers import _conv_utils as cu
from convolve.layers import activation_util, layout
from convolve.layers.base import Layer
from convolve.layers.recurrent import RNN
from convolve.layers.rnn_cells import _DropoutCell, maybe_serialize

_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _check_arguments(owner: str, rank: int, values: dict[str, Any]) -> dict[str, Any]:
    """Validates the cell's arguments at once (one error listing all) and normalises them."""
    check = cu.ArgumentErrors(owner)
    out: dict[str, Any] = {
        "filters": check.positive_int("filters", values["filters"]),
        "kernel_size": check.int_tuple("kernel_size", values["kernel_size"], rank),
        "strides": check.int_tuple("strides", values["strides"], rank),
        "padding": check.padding(values["padding"], ("valid", "same")),
        "data_format": check.data_format(values["data_format"]),
        "dilation_rate": check.int_tuple("dilation_rate", values["dilation_rate"], rank),
        "activation": check.activation(values["activation"]),
        "use_bias": check.boolean("use_bias", values["use_bias"]),
        "unit_forget_bias": check.boolean("unit_forget_bias", values["unit_forget_bias"]),
    }
    try:
        out["recurrent_activation"] = activations.get(values["recurrent_activation"])
    except ValueError as err:
        check.add(
            f"recurrent_activation: {err} Received "
            f"recurrent_activation={values['recurrent_activation']!r}"
        )
    for prefix in ("kernel", "recurrent", "bias"):
        out[f"{prefix}_initializer"] = check.initializer(
            f"{prefix}_initializer", values[f"{prefix}_initializer"]
        )
        out[f"{prefix}_regularizer"] = check.regularizer(
            f"{prefix}_regularizer", values[f"{prefix}_regularizer"]
        )
        out[f"{prefix}_constraint"] = check.constraint(
            f"{prefix}_constraint", values[f"{prefix}_constraint"]
        )
    for name in ("dropout", "recurrent_dropout"):
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            check.add(f"{name} must be a number, received {name}={value!r}")
            value = 0.0
        out[name] = min(1.0, max(0.0, float(value)))  # Keras clips the rate into [0, 1]
    seed = values["seed"]
    if seed is not None and not cu.is_int(seed):
        check.add(f"seed must be an int or None, received seed={seed!r}")
    out["seed"] = seed
    strides, dilation = out["strides"], out["dilation_rate"]
    if strides and dilation and max(strides) > 1 and max(dilation) > 1:
        check.add(
            "strides > 1 is not compatible with dilation_rate > 1, received "
            f"strides={values['strides']!r} and dilation_rate={values['dilation_rate']!r}"
        )
    check.raise_if_any()
    return out


class ConvLSTMCell(_DropoutCell, Layer):
    """One step of a convolutional LSTM over `(batch, *spatial, channels)` inputs.

    The cell of `ConvLSTM1D/2D/3D`; its arguments are theirs (see `ConvLSTM2D`) plus
    `rank`, the number of spatial axes. States are `[h, c]`, each
    `(batch, *output_spatial, filters)`.
    """

    def __init__(
        self,
        rank: int,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
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
        if rank not in (1, 2, 3):
            raise ValueError(
                f"ConvLSTMCell: `rank` must be 1, 2 or 3 (convolutions of other ranks are not "
                f"implemented), received rank={rank!r}"
            )
        owner = kwargs.pop("_owner", "ConvLSTMCell")
        self._draw_keras_seed(seed)  # Keras draws before making its initializers
        args = _check_arguments(owner, rank, dict(locals()))
        super().__init__(**kwargs)
        self.rank = rank
        for key, value in args.items():
            setattr(self, key, value)
        self._generators: dict[str, torch.Generator] = {}
        self.dropout_mask_count = 4  # Keras draws one dropout mask per gate
        self.input_ndim = rank + 2
        self.spatial_dims: tuple[int, ...] | None = None
        self.input_dim: int | None = None

    # ------------------------------------------------------------- shapes
    def _output_spatial(self, spatial: Sequence[int | None], input_shape: Any) -> tuple:
        sizes = tuple(
            cu.output_length(n, k, s, d, self.padding)
            for n, k, s, d in zip(
                spatial, self.kernel_size, self.strides, self.dilation_rate, strict=True
            )
        )
        if any(size is not None and size <= 0 for size in sizes):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): kernel_size={self.kernel_size} "
                f"(dilation_rate={self.dilation_rate}) is larger than the input with "
                f"padding='{self.padding}'; the output spatial size would be {sizes}. Input "
                f"shape received: {tuple(input_shape)}"
            )
        return sizes

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = tuple(input_shape)
        out = (shape[0], *self._output_spatial(shape[1:-1], shape), self.filters)
        return out, [out, out]

    @property
    def state_size(self) -> Any:
        """`[h_shape, c_shape]` without the batch axis once built (-1 before, as Keras)."""
        if self.spatial_dims is None:
            return -1
        out = (*self._output_spatial(self.spatial_dims, self.spatial_dims), self.filters)
        return [out, out]

    @property
    def output_size(self) -> Any:
        size = self.state_size
        return size if size == -1 else size[0]

    # ------------------------------------------------------------- weights
    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        spatial = shape[1:-1]
        if any(d is None for d in spatial):
            raise ValueError(
                f"Layer '{self.name}': ConvLSTM layers only support static input shapes for "
                f"the spatial dimensions, received input shape {shape}"
            )
        channels = shape[-1]
        if channels is None:
            raise ValueError(
                f"Layer '{self.name}': the channel dimension of the inputs (last axis) must be "
                f"known, received input shape {shape}"
            )
        self._output_spatial(spatial, shape)
        self.spatial_dims, self.input_dim = tuple(spatial), channels
        rank, filters = self.rank, self.filters
        torch_order = (rank + 1, rank, *range(rank))  # Keras (*k, in, out) -> (out, in, *k)
        self.add_weight(
            (*self.kernel_size, channels, 4 * filters),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
            layout=torch_order,
        )
        self.add_weight(
            (*self.kernel_size, filters, 4 * filters),
            self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
            name="recurrent_kernel",
            layout=torch_order,
        )
        if self.use_bias:
            self.add_weight(
                (4 * filters,),
                self._bias_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )
        else:
            self.bias = None

    def _bias_initializer(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, filters = self.bias_initializer, self.filters

        def init(shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
            ones = torch.ones(filters, dtype=dtype)
            return torch.cat(
                [base((filters,), dtype=dtype), ones, base((2 * filters,), dtype=dtype)]
            )

        return init

    # ------------------------------------------------------------- computing
    def _input_conv(self, x: torch.Tensor, kernel: torch.Tensor, bias: Any) -> torch.Tensor:
        """The input convolution of Keras-layout `x` (N, *spatial, C) -> (N, out, *spatial')."""
        x = layout.feature_map_format(x.movedim(-1, 1))
        padding: Any = 0
        if self.padding == "same":
            pads = cu.window_padding(
                x.shape[2:], self.kernel_size, self.strides, self.dilation_rate
            )
            if all(before == after for before, after in pads):
                padding = tuple(before for before, _ in pads)
            else:
                x = cu.pad_spatial(x, pads)
        return _CONV_FN[self.rank](x, kernel, bias, self.strides, padding, self.dilation_rate)

    def _recurrent_conv(self, h: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        """Stride 1, "same" padding (the odd pixel at the end), on channels-first `h`."""
        pads = cu.window_padding(h.shape[2:], self.kernel_size, (1,) * self.rank)
        if all(before == after for before, after in pads):
            return _CONV_FN[self.rank](h, kernel, None, 1, tuple(b for b, _ in pads))
        return _CONV_FN[self.rank](cu.pad_spatial(h, pads), kernel)

    def _gate_slices(self, weight: torch.Tensor | None) -> list[Any]:
        if weight is None:
            return [None] * 4
        return list(weight.split(self.filters, dim=0))

    def input_convolutions(self, seq: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """The input convolutions of every step of `seq` (B, T, *spatial, C) at once:
        `(B, T, *spatial', 4 * filters)`; `mask` is the per-gate input dropout mask."""
        batch, steps = seq.shape[:2]
        flat = seq.reshape(batch * steps, *seq.shape[2:])
        if mask is None:
            z = self._input_conv(flat, self.kernel, self.bias)
        else:
            per_step = mask.unsqueeze(2).expand(4, batch, steps, *mask.shape[2:])
            per_step = per_step.reshape(4, batch * steps, *mask.shape[2:])
            kernels, biases = self._gate_slices(self.kernel), self._gate_slices(self.bias)
            z = torch.cat(
                [self._input_conv(flat * per_step[g], kernels[g], biases[g]) for g in range(4)],
                dim=1,
            )
        z = z.movedim(1, -1)
        return z.reshape(batch, steps, *z.shape[1:])

    def recurrent_step(
        self, z_x: torch.Tensor, states: Sequence[torch.Tensor], mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One step from the step's input convolutions `z_x` and the Keras-layout states."""
        h_prev = states[0].movedim(-1, 1)
        c_prev = states[1].movedim(-1, 1)
        if mask is None:
            z_h = self._recurrent_conv(h_prev, self.recurrent_kernel)
        else:
            kernels = self._gate_slices(self.recurrent_kernel)
            z_h = torch.cat(
                [
                    self._recurrent_conv(h_prev * mask[g].movedim(-1, 1), kernels[g])
                    for g in range(4)
                ],
                dim=1,
            )
        z_i, z_f, z_c, z_o = (z_x.movedim(-1, 1) + z_h).split(self.filters, dim=1)
        i = activation_util.apply(self.recurrent_activation, z_i)
        f = activation_util.apply(self.recurrent_activation, z_f)
        c = f * c_prev + i * activation_util.apply(self.activation, z_c)
        o = activation_util.apply(self.recurrent_activation, z_o)
        h = (o * activation_util.apply(self.activation, c)).movedim(1, -1)
        return h, [h, c.movedim(1, -1)]

    def call(self, inputs: torch.Tensor, states: Any, training: bool = False) -> Any:
        """One step on Keras-layout `inputs` (B, *spatial, C) and states `[h, c]`."""
        dp, rec_dp = self.dropout_masks(inputs, states[0], training)
        z_x = self.input_convolutions(inputs.unsqueeze(1), dp)[:, 0]
        return self.recurrent_step(z_x, states, rec_dp)

    def get_initial_state(self, batch_size: int | None = None) -> list[torch.Tensor]:
        """Zero states `[h, c]` for a batch of `batch_size`."""
        if self.spatial_dims is None:
            raise ValueError(f"Layer '{self.name}' is not built yet, so its state shape is unknown")
        shape = (batch_size or 1, *self.state_size[0])
        return [torch.zeros(shape, dtype=self.kernel.dtype) for _ in range(2)]

    # ------------------------------------------------------------- config
    def _arguments_config(self) -> dict[str, Any]:
        return {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_regularizer": maybe_serialize(self.kernel_regularizer, regularizers),
            "recurrent_regularizer": maybe_serialize(self.recurrent_regularizer, regularizers),
            "bias_regularizer": maybe_serialize(self.bias_regularizer, regularizers),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rank": self.rank, **self._arguments_config()}


_FORWARDED = (
    "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
    "activation", "recurrent_activation", "use_bias", "kernel_initializer",
    "recurrent_initializer", "bias_initializer", "unit_forget_bias", "kernel_regularizer",
    "recurrent_regularizer", "bias_regularizer", "kernel_constraint", "recurrent_constraint",
    "bias_constraint", "dropout", "recurrent_dropout", "seed",
)  # fmt: skip


class ConvLSTM(RNN):
    """What `ConvLSTM1D/2D/3D` share; subclasses set `rank`."""

    rank = 0

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
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
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        flags = {"return_sequences": return_sequences, "return_state": return_state,
                 "go_backwards": go_backwards, "stateful": stateful}  # fmt: skip
        check = cu.ArgumentErrors(owner)
        for key, value in flags.items():
            check.boolean(key, value)
        check.regularizer("activity_regularizer", activity_regularizer)
        check.raise_if_any()
        cell = ConvLSTMCell(
            rank=self.rank, filters=filters, kernel_size=kernel_size, strides=strides,
            padding=padding, data_format=data_format, dilation_rate=dilation_rate,
            activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed, name="conv_lstm_cell",
            dtype=kwargs.get("dtype"), trainable=kwargs.get("trainable", True), _owner=owner,
        )  # fmt: skip
        super().__init__(cell, **flags, activity_regularizer=activity_regularizer, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name in _FORWARDED and "cell" in self.__dict__.get("_modules", {}):
            return getattr(self._modules["cell"], name)
        return super().__getattr__(name)

    # ------------------------------------------------------------- shapes
    def _check_sequence_shape(self, shape: tuple) -> None:
        if len(shape) != self.rank + 3:
            raise ValueError(
                f"Input of layer '{self.name}' ({type(self).__name__}) is incompatible with "
                f"the layer: expected rank {self.rank + 3} (batch, time, "
                f"{', '.join(['...'] * self.rank)}, channels), found rank {len(shape)}. "
                f"Full shape received: {shape}"
            )

    def build(self, input_shape: Any) -> None:
        self._check_sequence_shape(self._sequence_shape(input_shape))
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = self._sequence_shape(input_shape)
        self._check_sequence_shape(shape)
        batch = shape[0]
        state = self.cell.compute_output_shape((batch, *shape[2:]))[0]
        output = (batch, shape[1], *state[1:]) if self.return_sequences else state
        if self.return_state:
            return (output, state, state)
        return output

    # ------------------------------------------------------------- running
    def call(
        self,
        inputs: Any,
        initial_state: Any = None,
        mask: torch.Tensor | None = None,
        training: bool = False,
    ) -> Any:
        sequences = inputs[0] if isinstance(inputs, list | tuple) else inputs
        seq_shape = tuple(layout.to_user(sequences).shape)
        built = self.cell.spatial_dims
        if built is not None and tuple(seq_shape[2:-1]) != built:
            raise ValueError(
                f"Input of layer '{self.name}' ({type(self).__name__}) is incompatible with "
                f"the layer: it was built for steps of spatial shape {built}, received input "
                f"shape {seq_shape}"
            )
        return super().call(inputs, initial_state=initial_state, mask=mask, training=training)

    def _steps(self, seq: torch.Tensor, states: list[torch.Tensor], training: bool) -> Any:
        cell = self.cell
        dp, rec_dp = cell.dropout_masks(seq[:, 0], states[0], training)
        return (
            cell.input_convolutions(seq, dp),
            lambda z_x, s: cell.recurrent_step(z_x, s, rec_dp),
        )

    # ------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        base = Layer.get_config(self)  # holds activity_regularizer here when set, as Keras
        arguments = self.cell._arguments_config()
        ordered: dict[str, Any] = {}
        for key, value in arguments.items():
            if key == "kernel_constraint":  # Keras lists it after the weight regularizers
                ordered["activity_regularizer"] = maybe_serialize(
                    self.activity_regularizer, regularizers
                )
            ordered[key] = value
        return {**base, **self._rnn_config(), **ordered}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ConvLSTM:
        config = dict(config)
        config.pop("cell", None)
        return cls(**config)


class ConvLSTM1D(ConvLSTM):
    """1D convolutional LSTM over sequences of `(steps, channels)` maps.

    Inputs `(batch, time, steps, channels)`; outputs `(batch, [time,] new_steps, filters)`.
    Arguments as `ConvLSTM2D`, with one spatial axis.

    Example:
        >>> import torch
        >>> from convolve.layers import ConvLSTM1D
        >>> layer = ConvLSTM1D(4, 3, padding="same", return_sequences=True)
        >>> tuple(layer(torch.zeros(2, 5, 10, 3)).shape), layer.count_params()
        ((2, 5, 10, 4), 352)
    """

    rank = 1


class ConvLSTM2D(ConvLSTM):
    """2D convolutional LSTM (Shi et al. 2015) over sequences of images.

    Inputs `(batch, time, rows, cols, channels)`; outputs
    `(batch, [time,] new_rows, new_cols, filters)`.

    Args:
        filters: number of output channels (each gate has `filters` maps).
        kernel_size: int or tuple of 2 ints, the convolution window.
        strides: int or tuple of 2 ints, the input convolution's strides; `strides > 1`
            cannot be combined with `dilation_rate > 1`.
        padding: `"valid"` or `"same"` (the odd pixel at the end), case-insensitive.
        data_format: `"channels_last"` or None; `"channels_first"` is not supported.
        dilation_rate: int or tuple of 2 ints, the input convolution's dilation.
        activation: activation of the cell input and of the output (`"tanh"`).
        recurrent_activation: activation of the gates (`"sigmoid"`).
        use_bias: whether the gates have a bias.
        kernel_initializer: initializer of `kernel` (`"glorot_uniform"`).
        recurrent_initializer: initializer of `recurrent_kernel` (`"orthogonal"`).
        bias_initializer: initializer of `bias` (`"zeros"`).
        unit_forget_bias: start the forget gate's bias at one.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: weight penalties.
        activity_regularizer: penalty on the layer's output.
        kernel_constraint, recurrent_constraint, bias_constraint: weight projections.
        dropout: fraction of the inputs dropped (one mask per gate and sequence).
        recurrent_dropout: fraction of the state dropped before the recurrent convolution.
        seed: seed of the dropout masks.
        return_sequences: return every step's output, not only the last.
        return_state: also return the final states `h` and `c`.
        go_backwards: process the sequence in reverse.
        stateful: keep the final states of a batch as the initial states of the next.

    Example:
        >>> import torch
        >>> from convolve.layers import ConvLSTM2D
        >>> layer = ConvLSTM2D(3, 2, padding="same", return_sequences=True)
        >>> tuple(layer(torch.zeros(2, 4, 5, 5, 2)).shape), layer.count_params()
        ((2, 4, 5, 5, 3), 252)
    """

    rank = 2


class ConvLSTM3D(ConvLSTM):
    """3D convolutional LSTM over sequences of volumes.

    Inputs `(batch, time, depth, rows, cols, channels)`; outputs
    `(batch, [time,] new_depth, new_rows, new_cols, filters)`. Arguments as `ConvLSTM2D`,
    with three spatial axes.

    Example:
        >>> import torch
        >>> from convolve.layers import ConvLSTM3D
        >>> tuple(ConvLSTM3D(2, 3)(torch.zeros(1, 3, 5, 5, 5, 1)).shape)
        (1, 3, 3, 3, 2)
    """

    rank = 3


__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]
