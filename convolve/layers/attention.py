"""Attention layers: MultiHeadAttention, GroupQueryAttention, Attention and AdditiveAttention."""

from __future__ import annotations

import math
import string
from typing import Any

import torch
import torch.nn.functional as F

from convolve import _tree, constraints, initializers, random, regularizers
from convolve._masks import attach as attach_masks
from convolve._masks import get_mask
from convolve.layers import _args, layout
from convolve.layers.base import Layer
from convolve.layers.core import Dropout, Softmax
from convolve.layers.einsum_dense import EinsumDense
from convolve.layers.naming import unique_name
from convolve.layers.symbolic import KerasHistory, KerasTensor, Node, is_symbolic

_MASK_VALUE = -1e9  # what Keras's Softmax puts at masked positions (float32)
_SDPA_MASK_VALUE = -0.7 * 3.38953e38  # what Keras's dot_product_attention adds instead


def _serialize_regularizer(regularizer: Any) -> Any:
    return None if regularizer is None else regularizers.serialize(regularizer)


def _letters(count: int, offset: int = 0) -> str:
    return string.ascii_lowercase[offset : offset + count]


def _projection_equation(free_dims: int, bound_dims: int, output_dims: int) -> tuple[str, str, int]:
    """The einsum equation, bias axes and output rank of one projection, as Keras builds."""
    free = _letters(free_dims)
    bound = _letters(bound_dims, free_dims)
    out = _letters(output_dims, free_dims + bound_dims)
    return f"{free}{bound},{bound}{out}->{free}{out}", out, free_dims + output_dims


def _attention_equations(rank: int, attn_axes: tuple[int, ...]) -> tuple[str, str, int]:
    """Einsum equations of the query-key product and of the value combination."""
    target = _letters(rank)
    batch_dims = tuple(i for i in range(rank) if i not in (*attn_axes, rank - 1))
    source = ""
    offset = rank
    for i in range(rank):
        if i in batch_dims or i == rank - 1:
            source += target[i]
        else:
            source += string.ascii_lowercase[offset]
            offset += 1
    product = "".join(
        [target[i] for i in batch_dims]
        + [target[i] for i in attn_axes]
        + [source[i] for i in attn_axes]
    )
    return f"{source},{target}->{product}", f"{product},{source}->{target}", len(product)


def _partial_shape(rank: int, known: list) -> list:
    return [None] * (rank - len(known)) + list(known)


def _user(t: Any) -> Any:
    return layout.to_user(t) if isinstance(t, torch.Tensor) else t


def _engine(t: Any) -> Any:
    return layout.to_engine(t) if isinstance(t, torch.Tensor) else t


def _causal_mask(q_len: int, v_len: int, device: torch.device) -> torch.Tensor:
    rows = torch.arange(q_len, device=device)[:, None]
    cols = torch.arange(v_len, device=device)[None, :]
    return (rows >= cols)[None]  # (1, T, S): position i sees keys 0..i


def _combined_mask(query, value, query_mask, value_mask, key_mask, attention_mask, causal,
                   sliding_window):  # fmt: skip
    """Keras's attention mask `(B, T, S)` from the masks of the inputs, `attention_mask`,
    the causal mask and a sliding window, all combined with `&` (None if there are none)."""
    auto = None
    if query_mask is not None:
        auto = query_mask.bool().unsqueeze(-1)
    for mask in (value_mask, key_mask):
        if mask is not None:
            mask = mask.bool().unsqueeze(-2)
            auto = mask if auto is None else auto & mask
    if causal:
        mask = _causal_mask(query.shape[1], value.shape[1], query.device)
        auto = mask if auto is None else auto & mask
    if sliding_window is not None:
        rows = torch.arange(query.shape[1], device=query.device)[None, :, None]
        cols = torch.arange(value.shape[1], device=query.device)[None, None, :]
        mask = (rows - cols).abs() < sliding_window
        auto = mask if auto is None else auto & mask
    if attention_mask is not None:
        attention_mask = attention_mask.to(query.device).bool()
    if auto is not None:
        attention_mask = auto if attention_mask is None else attention_mask & auto
    return attention_mask


class _MultiInputLayer(Layer):
    """A layer called with several tensors as separate arguments (`layer(query, value)`).

    The tensors travel as one dict (the node's inputs in a functional model); options
    such as `use_causal_mask` travel as keyword arguments.
    """

    _engine_layout = True
    _hands_on_masks = True
    _tensor_args: tuple[str, ...] = ()
    # The mask arguments filled from the tensors' own masks, and the tensor of each.
    _masks_from = (("query_mask", "query"), ("value_mask", "value"), ("key_mask", "key"))

    def _call_packed(self, tensors: dict, options: dict, training: Any) -> Any:
        if is_symbolic(tensors):
            return self._symbolic_packed(tensors, options, training)
        tensors = {k: self._as_arg_tensor(k, v) for k, v in tensors.items()}
        self._build_packed({k: (None, *tuple(v.shape[1:])) for k, v in tensors.items()})
        tensors = self._place(tensors)
        self._clear_activity_losses()
        engine = {k: _engine(v) for k, v in tensors.items()}
        out = self._invoke(engine, (), options, training)
        return _tree.map_structure(_user, out)

    def engine_call(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        tensors = self._with_input_masks(inputs)
        return self._masked_output(super().engine_call(tensors, training, **kwargs), tensors)

    def _with_input_masks(self, tensors: dict) -> dict:
        """The call's tensors with the masks the inputs carry filled in where none is
        given, as Keras fills the mask arguments from the tensors."""
        filled = {}
        for mask_name, name in self._masks_from:
            tensor = tensors.get(name, tensors["value"] if name == "key" else None)
            mask = get_mask(tensor)
            if mask is not None and tensors.get(mask_name) is None:
                filled[mask_name] = mask
        return {**tensors, **filled} if filled else tensors

    @staticmethod
    def _masked_output(out: Any, tensors: dict) -> Any:
        # The output carries the query's mask, as Keras hands it on.
        attach_masks(out[0] if isinstance(out, tuple) else out, tensors.get("query_mask"))
        return out

    def keras_node(self, tensors: dict) -> tuple[list, dict]:
        """A node's packed tensors as Keras writes the call in a model file: its positional
        arguments and the tensors it passes by keyword."""
        raise NotImplementedError

    def _as_arg_tensor(self, name: str, value: Any) -> torch.Tensor:
        if name.endswith("mask"):
            return torch.as_tensor(value) if not isinstance(value, torch.Tensor) else value
        return self._as_input_tensor(value)

    def _symbolic_packed(self, tensors: dict, options: dict, training: Any) -> Any:
        # A constant mask (an array or tensor, as Keras programs pass a fixed
        # `attention_mask`) is kept in the node, in engine layout like the values the
        # model hands the layer when it runs.
        tensors = {
            k: _engine(self._as_arg_tensor(k, v))
            if k.endswith("mask") and not isinstance(v, KerasTensor)
            else v
            for k, v in tensors.items()
        }
        for name, value in tensors.items():
            if not isinstance(value, KerasTensor) and not name.endswith("mask"):
                raise ValueError(
                    f"Layer '{self.name}': in a functional model `{name}` must be a symbolic "
                    f"tensor like the other inputs, received {type(value).__name__}"
                )
        shapes = {k: tuple(v.shape) for k, v in tensors.items()}
        self._build_packed(shapes)
        output_shapes = self._packed_output_shapes(shapes, options)
        node_index = len(self._inbound_nodes)
        outputs = [KerasTensor(s, self._dtype, name=self.name) for s in output_shapes]
        for i, tensor in enumerate(outputs):
            tensor._keras_history = KerasHistory(self, node_index, i)
        kwargs = dict(options)
        if training is not None:
            kwargs["training"] = training
        result = outputs[0] if len(outputs) == 1 else tuple(outputs)
        self._inbound_nodes.append(Node(self, tensors, kwargs, result))
        return result

    def build_for(self, input_shape: Any) -> None:
        """Builds from saved shapes: a dict of them by argument name, or one shape."""
        if isinstance(input_shape, dict):
            shapes = {k.removesuffix("_shape"): tuple(v) for k, v in input_shape.items() if v}
        elif input_shape and all(isinstance(s, list | tuple) for s in input_shape):
            names = ("query", "value", "key")
            shapes = {k: tuple(v) for k, v in zip(names, input_shape, strict=False)}
        else:
            shapes = {"query": tuple(input_shape), "value": tuple(input_shape)}
        self._build_packed(shapes)

    def _build_packed(self, shapes: dict) -> None:
        if not self.built:
            self._build_from_shapes(shapes)
            self._build_input_shape = shapes
            self.built = True

    def _build_from_shapes(self, shapes: dict) -> None:
        raise NotImplementedError

    def _packed_output_shapes(self, shapes: dict, options: dict) -> list[tuple]:
        raise NotImplementedError


class _QueryValueKey(_MultiInputLayer):
    """A layer called as `layer(query, value, key=None, ...)`, built from the three shapes."""

    def _build_from_shapes(self, shapes):
        self.build(shapes["query"], shapes["value"], shapes.get("key"))

    def keras_node(self, tensors: dict) -> tuple[list, dict]:
        rest = {k: v for k, v in tensors.items() if k not in ("query", "value")}
        return [tensors["query"], tensors["value"]], rest

    def keras_build_config(self) -> dict:
        """Keras's build config: the shapes by argument (`query_shape`, ...)."""
        shapes = self._build_input_shape
        return {"shapes_dict": {f"{k}_shape": list(v) for k, v in shapes.items() if k in
                                ("query", "value", "key")}}  # fmt: skip

    def build_from_config(self, config: dict) -> None:
        shapes = config.get("shapes_dict") or {}
        self._build_packed(
            {
                "query": tuple(shapes["query_shape"]),
                "value": tuple(shapes["value_shape"]),
                **({"key": tuple(shapes["key_shape"])} if shapes.get("key_shape") else {}),
            }
        )

    def forward(
        self,
        query: Any,
        value: Any = None,
        key: Any = None,
        query_mask: Any = None,
        value_mask: Any = None,
        key_mask: Any = None,
        attention_mask: Any = None,
        return_attention_scores: bool = False,
        training: bool | None = None,
        use_causal_mask: bool = False,
    ) -> Any:
        if isinstance(query, dict):  # the packed inputs of a saved graph's node
            tensors = dict(query)
        else:
            if value is None:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) takes `query` and `value` "
                    "(and optionally `key`), received value=None"
                )
            tensors = {"query": query, "value": value, "key": key, "query_mask": query_mask,
                       "value_mask": value_mask, "key_mask": key_mask,
                       "attention_mask": attention_mask}  # fmt: skip
            tensors = {k: v for k, v in tensors.items() if v is not None}
        options = {
            "return_attention_scores": bool(return_attention_scores),
            "use_causal_mask": bool(use_causal_mask),
        }
        if is_symbolic(tensors):
            return self._call_packed(tensors, options, training)
        tensors = self._with_input_masks(tensors)
        return self._masked_output(self._call_packed(tensors, options, training), tensors)


class MultiHeadAttention(_QueryValueKey):
    """Multi-head attention as in "Attention is all you need" (Vaswani et al., 2017).

    `query`, `key` and `value` are projected per head by `EinsumDense` sublayers named
    `query`, `key`, `value`; the heads' outputs are projected back by `attention_output`.
    Weights, their order and their Keras names match Keras's layer.

    Args:
        num_heads: number of attention heads.
        key_dim: size of each head for query and key.
        value_dim: size of each head for value (`key_dim` by default).
        dropout: dropout rate on the attention probabilities.
        use_bias: whether the projections have biases.
        output_shape: the output shape besides batch and sequence axes; by default the
            query's last dimension.
        attention_axes: the axes attention runs over; by default all but batch, heads and
            features.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, bias_constraint: for the projections.
        seed: seed of the dropout.

    Call arguments:
        query: `(B, T, dim)`; value: `(B, S, dim)`; key: `(B, S, dim)` (`value` if None).
        value_mask, key_mask: boolean masks `(B, S)` of the valid positions.
        attention_mask: boolean mask `(B, T, S)`: which keys each query may attend to.
        return_attention_scores: also return the scores `(B, num_heads, T, S)`.
        use_causal_mask: position i attends only to positions up to i.

    Example:
        >>> import convolve
        >>> x = convolve.Input(shape=(16, 32))
        >>> convolve.layers.MultiHeadAttention(num_heads=4, key_dim=8)(x, x).shape
        (None, 16, 32)
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: Any = None,
        attention_axes: Any = None,
        sliding_window: int | None = None,
        flash_attention: bool | None = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        use_gate: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        super().__init__(**kwargs)
        self._num_heads = _args.positive_int(owner, "num_heads", num_heads)
        self._key_dim = _args.positive_int(owner, "key_dim", key_dim)
        if value_dim is not None:
            _args.positive_int(owner, "value_dim", value_dim)
        self._value_dim = value_dim if value_dim else key_dim
        self._dropout = _args.rate(owner, "dropout", dropout)
        self._use_bias = bool(use_bias)
        if use_gate:
            raise NotImplementedError(
                f"{owner}: gated attention is not supported, received use_gate={use_gate!r}"
            )
        self._use_gate = False
        if flash_attention:
            raise NotImplementedError(
                f"{owner}: flash attention is not supported, received "
                f"flash_attention={flash_attention!r}"
            )
        if output_shape:
            if isinstance(output_shape, int):
                output_shape = (output_shape,)
            try:
                output_shape = tuple(output_shape)
            except TypeError:
                raise _args.fail(
                    owner, "output_shape", output_shape, "an int, list or tuple"
                ) from None
            if not all(isinstance(d, int) and d > 0 for d in output_shape):
                raise _args.fail(owner, "output_shape", output_shape, "positive ints")
        self._output_shape = output_shape or None
        if isinstance(attention_axes, int) and not isinstance(attention_axes, bool):
            attention_axes = (attention_axes,)
        elif attention_axes is not None and not isinstance(attention_axes, list | tuple):
            raise _args.fail(owner, "attention_axes", attention_axes, "an int, list or tuple")
        self._attention_axes = None if attention_axes is None else tuple(attention_axes)
        if sliding_window is not None:
            _args.positive_int(owner, "sliding_window", sliding_window)
        self._sliding_window = sliding_window
        self._kernel_initializer = initializers.get(kernel_initializer)
        self._bias_initializer = initializers.get(bias_initializer)
        self._kernel_regularizer = regularizers.get(kernel_regularizer)
        self._bias_regularizer = regularizers.get(bias_regularizer)
        self._activity_regularizer = regularizers.get(activity_regularizer)
        self._kernel_constraint = constraints.get(kernel_constraint)
        self._bias_constraint = constraints.get(bias_constraint)
        self.seed = seed
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(self._key_dim))

    num_heads = property(lambda self: self._num_heads)
    key_dim = property(lambda self: self._key_dim)
    value_dim = property(lambda self: self._value_dim)
    dropout = property(lambda self: self._dropout)
    use_bias = property(lambda self: self._use_bias)
    attention_axes = property(lambda self: self._attention_axes)

    # ------------------------------------------------------------------ building
    def _sublayer_kwargs(self) -> dict[str, Any]:
        def fresh(init):
            return type(init).from_config(init.get_config())

        return {
            "kernel_initializer": fresh(self._kernel_initializer),
            "bias_initializer": fresh(self._bias_initializer),
            "kernel_regularizer": self._kernel_regularizer,
            "bias_regularizer": self._bias_regularizer,
            "activity_regularizer": self._activity_regularizer,
            "kernel_constraint": self._kernel_constraint,
            "bias_constraint": self._bias_constraint,
            "dtype": self._dtype,
        }

    def _projection(self, rank: int, known: list, name: str, bound: int = 1) -> EinsumDense:
        equation, bias_axes, out_rank = _projection_equation(rank - 1, bound, len(known))
        return EinsumDense(
            equation,
            output_shape=_partial_shape(out_rank - 1, known),
            bias_axes=bias_axes if self._use_bias else None,
            name=name,
            **self._sublayer_kwargs(),
        )

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        query_shape, value_shape, key_shape = map(tuple, (query_shape, value_shape, key_shape))
        if value_shape[1:-1] != key_shape[1:-1]:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): all dimensions of `value` and "
                f"`key`, except the last one, must be equal. Received: "
                f"value_shape={value_shape} and key_shape={key_shape}"
            )
        heads = self._num_heads
        self.query_dense = self._projection(len(query_shape), [heads, self._key_dim], "query")
        self.query_dense.build_for(query_shape)
        self.key_dense = self._projection(len(key_shape), [heads, self._key_dim], "key")
        self.key_dense.build_for(key_shape)
        self.value_dense = self._projection(len(value_shape), [heads, self._value_dim], "value")
        self.value_dense.build_for(value_shape)
        rank = len(value_shape) + 1  # rank of the projected tensors
        if self._attention_axes is None:
            self._attention_axes = tuple(range(1, rank - 2))
        else:
            self._attention_axes = tuple(
                a if a >= 0 else (rank - 1) + a for a in self._attention_axes
            )
        self._dot_product_equation, self._combine_equation, scores_rank = _attention_equations(
            rank, self._attention_axes
        )
        self._norm_axes = tuple(range(scores_rank - len(self._attention_axes), scores_rank))
        # Weightless, as in Keras; they keep the saved file's paths identical to Keras's.
        self._softmax = Softmax(axis=self._norm_axes, dtype=self._dtype)
        self._dropout_layer = Dropout(rate=self._dropout, dtype=self._dtype, seed=self.seed)
        output_shape = list(self._output_shape or [query_shape[-1]])
        self.output_dense = self._projection(len(query_shape), output_shape, "attention_output", 2)
        dense_input = list(self.query_dense.compute_output_shape(query_shape))
        dense_input[-1] = self._value_dim
        self.output_dense.build_for(tuple(dense_input))

    # ------------------------------------------------------------------ calling
    def forward(
        self,
        query: Any,
        value: Any = None,
        key: Any = None,
        query_mask: Any = None,
        value_mask: Any = None,
        key_mask: Any = None,
        attention_mask: Any = None,
        return_attention_scores: bool = False,
        training: bool | None = None,
        use_causal_mask: bool = False,
    ) -> Any:
        return super().forward(
            query, value, key, query_mask, value_mask, key_mask, attention_mask,
            return_attention_scores, training, use_causal_mask,
        )  # fmt: skip

    def _with_input_masks(self, tensors: dict) -> dict:
        # Keras's MultiHeadAttention takes the query's mask from the query tensor only (an
        # explicit `query_mask` is ignored). Its eager call also removes the inputs' masks,
        # but in a model the layers after it still see them (Keras computes masks with the
        # graph), which is what convolve does everywhere.
        return super()._with_input_masks({k: v for k, v in tensors.items() if k != "query_mask"})

    def _packed_output_shapes(self, shapes, options):
        out = self.compute_output_shape(shapes["query"], shapes["value"], shapes.get("key"))
        if not options.get("return_attention_scores"):
            return [out]
        q, v = shapes["query"], shapes["value"]
        axes = self._attention_axes
        scores = (q[0], *[q[i] for i in range(1, len(q) - 1) if i not in axes], self._num_heads,
                  *[q[i] for i in axes], *[v[i] for i in axes])  # fmt: skip
        return [out, scores]

    def _attention_mask(self, query, value, query_mask, value_mask, key_mask, attention_mask,
                        causal):  # fmt: skip
        return _combined_mask(query, value, query_mask, value_mask, key_mask, attention_mask,
                              causal, self._sliding_window)  # fmt: skip

    def _project(self, dense: EinsumDense, x: torch.Tensor) -> torch.Tensor:
        y = dense.apply(x)
        if dense.activity_regularizer is not None:
            dense._activity_losses.append(dense.activity_regularizer(y) / y.shape[0])
        return y

    def call(self, inputs, training=None, return_attention_scores=False, use_causal_mask=False):
        tensors = {k: _user(v) for k, v in inputs.items()}
        query, value = tensors["query"], tensors["value"]
        key = tensors.get("key", value)
        value_mask, key_mask = tensors.get("value_mask"), tensors.get("key_mask")
        query_mask = tensors.get("query_mask")
        attention_mask = tensors.get("attention_mask")
        # A subclass that overrides `_compute_attention` (as Keras programs do for custom
        # attention) gets the combined mask, as in Keras, never the causal-only shortcut.
        causal_only = (
            use_causal_mask
            and query_mask is None
            and value_mask is None
            and key_mask is None
            and attention_mask is None
            and self._sliding_window is None
            and type(self)._compute_attention is MultiHeadAttention._compute_attention
        )
        if causal_only:
            attention_mask = None
        else:
            attention_mask = self._attention_mask(
                query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask
            )
        q = self._project(self.query_dense, query)
        k = self._project(self.key_dense, key)
        v = self._project(self.value_dense, value)
        extra = {"use_causal_mask": True} if causal_only else {}
        out, scores = self._compute_attention(
            q, k, v, attention_mask, training, return_attention_scores, **extra
        )
        out = self._project(self.output_dense, out)
        if return_attention_scores:
            return _engine(out), _engine(scores)
        return _engine(out)

    def _compute_attention(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        training: bool | None = None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attention on the projected heads, as Keras's overridable method.

        Args:
            query: projected query `(B, T, N, key_dim)`; key: `(B, S, N, key_dim)`;
                value: `(B, S, N, value_dim)` (Keras layout).
            attention_mask: boolean `(B, T, S)` of the allowed positions, or None.
            training: whether dropout applies.
            return_attention_scores: whether the scores are needed.
            use_causal_mask: set (with no mask) only when causal masking is all there is.

        Returns:
            The heads' outputs `(B, T, N, value_dim)` and the attention scores (None when
            the fused kernel computed the output).
        """
        fused = not (self._dropout > 0 or return_attention_scores or query.ndim != 4)
        if fused:
            # Keras's torch backend runs scaled_dot_product_attention here, with an
            # additive mask (a fully masked row averages the values, as it does there).
            bias = None
            if attention_mask is not None:
                mask = attention_mask.bool()
                while mask.ndim < 4:
                    mask = mask.unsqueeze(-3)
                bias = torch.where(mask, 0.0, _SDPA_MASK_VALUE).to(query.dtype)
            out = F.scaled_dot_product_attention(
                query.transpose(1, 2),
                key.transpose(1, 2),
                value.transpose(1, 2),
                attn_mask=bias,
                is_causal=bool(use_causal_mask) and attention_mask is None,
                scale=self._inverse_sqrt_key_dim,
            ).transpose(1, 2)
            return out, None
        if use_causal_mask:
            causal = _causal_mask(query.shape[1], value.shape[1], query.device)
            attention_mask = causal if attention_mask is None else attention_mask.bool() & causal
        query = query * self._inverse_sqrt_key_dim
        logits = torch.einsum(self._dot_product_equation, key, query)
        scores = self._masked_softmax(logits, attention_mask)
        dropping = bool(training) and self._dropout > 0
        probs = F.dropout(scores, self._dropout, training=True) if dropping else scores
        out = torch.einsum(self._combine_equation, probs, value)
        return out, scores

    def _masked_softmax(self, logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if mask is not None:
            if mask.dtype != torch.bool:  # as Keras's Softmax reads a non-boolean mask
                mask = mask > 0.5
            expand_at = -len(self._attention_axes) * 2 - 1
            while mask.ndim < logits.ndim:
                mask = mask.unsqueeze(expand_at)
            logits = torch.where(mask, logits, _MASK_VALUE)
        axes = self._norm_axes
        if len(axes) == 1:
            probs = torch.softmax(logits, dim=axes[0])
        else:
            probs = torch.exp(logits - torch.logsumexp(logits, dim=axes, keepdim=True))
        if mask is not None:
            probs = torch.where(mask, probs, 0.0)  # a fully masked row gives zeros
        return probs

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        query_shape = tuple(query_shape)
        value_shape = query_shape if value_shape is None else tuple(value_shape)
        key_shape = value_shape if key_shape is None else tuple(key_shape)
        if value_shape[1:-1] != key_shape[1:-1]:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): all dimensions of `value` and "
                f"`key`, except the last one, must be equal. Received: "
                f"value_shape={value_shape} and key_shape={key_shape}"
            )
        if self._output_shape:
            return query_shape[:-1] + tuple(self._output_shape)
        return query_shape

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {
            **config,
            "num_heads": self._num_heads,
            "key_dim": self._key_dim,
            "value_dim": self._value_dim,
            "dropout": self._dropout,
            "use_bias": self._use_bias,
            "use_gate": self._use_gate,
            "output_shape": self._output_shape,
            "attention_axes": self._attention_axes,
            "sliding_window": self._sliding_window,
            "kernel_initializer": initializers.serialize(self._kernel_initializer),
            "bias_initializer": initializers.serialize(self._bias_initializer),
            "kernel_regularizer": _serialize_regularizer(self._kernel_regularizer),
            "bias_regularizer": _serialize_regularizer(self._bias_regularizer),
            "activity_regularizer": _serialize_regularizer(self._activity_regularizer),
            "kernel_constraint": constraints.serialize(self._kernel_constraint),
            "bias_constraint": constraints.serialize(self._bias_constraint),
            "seed": self.seed,
        }


class GroupQueryAttention(_QueryValueKey):
    """Grouped-query attention (Ainslie et al., 2023), as `keras.layers.GroupQueryAttention`.

    `query` is projected to `num_query_heads` heads and `key` and `value` to
    `num_key_value_heads` heads (one head is multi-query attention; as many as the query's
    is multi-head attention); each key/value head then serves
    `num_query_heads // num_key_value_heads` query heads. The projections are `EinsumDense`
    sublayers named `query`, `key`, (`gate`,) `value` and `attention_output`, with Keras's
    weights in Keras's order.

    Args:
        head_dim: size of each attention head.
        num_query_heads: number of query heads.
        num_key_value_heads: number of key and value heads; must divide `num_query_heads`.
        dropout: dropout rate on the attention probabilities.
        use_bias: whether the projections have biases.
        sliding_window: if set, each query attends only to keys less than this many
            positions away.
        flash_attention: only None or False (flash kernels are not used).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, bias_constraint: for the projections.
        use_gate: gate the attention output with a sigmoid projection of the query.
        seed: seed of the dropout.

    Call arguments:
        query: `(B, T, dim)`; value: `(B, S, dim)`; key: `(B, S, dim)` (`value` if None).
        query_mask: boolean `(B, T)`; value_mask, key_mask: boolean `(B, S)`.
        attention_mask: boolean `(B, T, S)`: which keys each query may attend to.
        return_attention_scores: also return the scores `(B, num_query_heads, T, S)`.
        use_causal_mask: position i attends only to positions up to i.

    Example:
        >>> import convolve
        >>> x = convolve.Input(shape=(16, 32))
        >>> convolve.layers.GroupQueryAttention(8, 4, 2)(x, x).shape
        (None, 16, 32)
    """

    _keras_class_name = "GroupedQueryAttention"  # how Keras's weight files name it

    def __init__(
        self,
        head_dim: int,
        num_query_heads: int,
        num_key_value_heads: int,
        dropout: float = 0.0,
        use_bias: bool = True,
        sliding_window: int | None = None,
        flash_attention: bool | None = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        use_gate: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        if kwargs.get("name") is None:
            kwargs["name"] = unique_name("grouped_query_attention")  # Keras's class name
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.head_dim = _args.positive_int(owner, "head_dim", head_dim)
        self.num_query_heads = _args.positive_int(owner, "num_query_heads", num_query_heads)
        self.num_key_value_heads = _args.positive_int(
            owner, "num_key_value_heads", num_key_value_heads
        )
        if num_query_heads % num_key_value_heads != 0:
            raise ValueError(
                f"{owner}: `num_query_heads` must be divisible by `num_key_value_heads`. "
                f"Received: num_query_heads={num_query_heads}, "
                f"num_key_value_heads={num_key_value_heads}"
            )
        self.num_repeats = num_query_heads // num_key_value_heads
        self.dropout = _args.rate(owner, "dropout", dropout)
        self.use_bias = bool(use_bias)
        self.use_gate = bool(use_gate)
        if sliding_window is not None:
            _args.positive_int(owner, "sliding_window", sliding_window)
        self.sliding_window = sliding_window
        if flash_attention:
            raise NotImplementedError(
                f"{owner}: flash attention is not supported, received "
                f"flash_attention={flash_attention!r}"
            )
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.seed = seed
        self._inverse_sqrt_head_dim = 1.0 / math.sqrt(float(self.head_dim))

    def _dense(self, equation: str, shape: tuple, bias_axes: str, name: str, **extra: Any):
        def fresh(init):
            return type(init).from_config(init.get_config())

        return EinsumDense(
            equation,
            output_shape=shape,
            bias_axes=bias_axes if self.use_bias else None,
            name=name,
            kernel_initializer=fresh(self.kernel_initializer),
            bias_initializer=fresh(self.bias_initializer),
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            activity_regularizer=self.activity_regularizer,
            kernel_constraint=self.kernel_constraint,
            bias_constraint=self.bias_constraint,
            dtype=self._dtype,
            **extra,
        )

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        query_shape, value_shape, key_shape = map(tuple, (query_shape, value_shape, key_shape))
        for argument, shape in (("query", query_shape), ("value", value_shape),
                                ("key", key_shape)):  # fmt: skip
            if len(shape) != 3:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}): `{argument}` must have "
                    f"shape (batch, length, features), received shape {shape}"
                )
        self.feature_dim = query_shape[-1]
        heads, kv_heads, dim = self.num_query_heads, self.num_key_value_heads, self.head_dim
        # Keras's attribute names: model files hold the sublayers under them.
        self._query_dense = self._dense("bqm,muh->bquh", (None, heads, dim), "uh", "query")
        self._query_dense.build_for(query_shape)
        self._key_dense = self._dense("bkm,mvh->bkvh", (None, kv_heads, dim), "vh", "key")
        self._key_dense.build_for(key_shape)
        if self.use_gate:
            self._gate_dense = self._dense(
                "bqm,muh->bquh", (None, heads, dim), "uh", "gate", activation="sigmoid"
            )
            self._gate_dense.build_for(query_shape)
        self._value_dense = self._dense("bkm,mvh->bkvh", (None, kv_heads, dim), "vh", "value")
        self._value_dense.build_for(value_shape)
        self._softmax = Softmax(axis=-1, dtype=self._dtype)
        self._dropout_layer = Dropout(rate=self.dropout, dtype=self._dtype, seed=self.seed)
        self._output_dense = self._dense(
            "bquh,uhm->bqm", (None, self.feature_dim), "m", "attention_output"
        )
        self._output_dense.build_for((None, None, heads, dim))

    def _packed_output_shapes(self, shapes, options):
        q = shapes["query"]
        out = self.compute_output_shape(q, shapes["value"], shapes.get("key"))
        if not options.get("return_attention_scores"):
            return [out]
        source = shapes.get("key", shapes["value"])
        return [out, (q[0], self.num_query_heads, q[1], source[1])]

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        query_shape = tuple(query_shape)
        value_shape = query_shape if value_shape is None else tuple(value_shape)
        key_shape = value_shape if key_shape is None else tuple(key_shape)
        if query_shape[-1] != value_shape[-1]:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): the last dimension of "
                f"`query_shape` and `value_shape` must be equal, but are {query_shape[-1]}, "
                f"{value_shape[-1]}. Received: query_shape={query_shape}, "
                f"value_shape={value_shape}"
            )
        if value_shape[1:-1] != key_shape[1:-1]:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): all dimensions of `value` and "
                f"`key`, except the last one, must be equal. Received: "
                f"value_shape={value_shape} and key_shape={key_shape}"
            )
        return query_shape

    def _project(self, dense: EinsumDense, x: torch.Tensor) -> torch.Tensor:
        y = dense.apply(x)
        if dense.activity_regularizer is not None:
            dense._activity_losses.append(dense.activity_regularizer(y) / y.shape[0])
        return y

    def call(self, inputs, training=None, return_attention_scores=False, use_causal_mask=False):
        from convolve.ops import dot_product_attention

        tensors = {k: _user(v) for k, v in inputs.items()}
        query, value = tensors["query"], tensors["value"]
        key = tensors.get("key", value)
        masks = [tensors.get(k) for k in ("query_mask", "value_mask", "key_mask")]
        attention_mask = tensors.get("attention_mask")
        causal_only = (
            use_causal_mask
            and all(m is None for m in masks)
            and attention_mask is None
            and self.sliding_window is None
        )
        if not causal_only:
            attention_mask = _combined_mask(
                query, value, *masks, attention_mask, use_causal_mask, self.sliding_window
            )
        gate = self._project(self._gate_dense, query) if self.use_gate else None
        q = self._project(self._query_dense, query)
        k = self._project(self._key_dense, key).repeat_interleave(self.num_repeats, dim=2)
        v = self._project(self._value_dense, value).repeat_interleave(self.num_repeats, dim=2)
        scores = None
        if not (self.dropout > 0 or return_attention_scores):
            mask = attention_mask
            if mask is not None:
                while mask.ndim < 4:
                    mask = mask.unsqueeze(-3)
            out = dot_product_attention(
                q, k, v, mask=mask, scale=self._inverse_sqrt_head_dim, is_causal=use_causal_mask
            )
        else:
            if use_causal_mask:
                causal = _causal_mask(q.shape[1], v.shape[1], q.device)
                attention_mask = causal if attention_mask is None else attention_mask & causal
            logits = torch.einsum("bquh,bkuh->buqk", q * self._inverse_sqrt_head_dim, k)
            if attention_mask is not None:
                while attention_mask.ndim < logits.ndim:
                    attention_mask = attention_mask.unsqueeze(-3)
                logits = torch.where(attention_mask, logits, _MASK_VALUE)
            scores = torch.softmax(logits, dim=-1)
            if attention_mask is not None:
                scores = torch.where(attention_mask, scores, 0.0)  # a fully masked row: zeros
            dropping = bool(training) and self.dropout > 0
            probs = F.dropout(scores, self.dropout, training=True) if dropping else scores
            out = torch.einsum("buqk,bkuh->bquh", probs, v)
        if gate is not None:
            out = out * gate
        out = self._project(self._output_dense, out)
        if return_attention_scores:
            return _engine(out), _engine(scores)
        return _engine(out)

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {
            **config,
            "head_dim": self.head_dim,
            "num_query_heads": self.num_query_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "use_bias": self.use_bias,
            "use_gate": self.use_gate,
            "sliding_window": self.sliding_window,
            "dropout": self.dropout,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _serialize_regularizer(self.kernel_regularizer),
            "bias_regularizer": _serialize_regularizer(self.bias_regularizer),
            "activity_regularizer": _serialize_regularizer(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "seed": self.seed,
        }


class Attention(_MultiInputLayer):
    """Dot-product attention (Luong style): `softmax(query @ key^T) @ value`.

    Called on a list `[query, value]` or `[query, value, key]` of shapes `(B, Tq, dim)`,
    `(B, Tv, dim)`, `(B, Tv, dim)`; `mask=[query_mask, value_mask]` are boolean masks
    `(B, Tq)` and `(B, Tv)`.

    Args:
        use_scale: learn a scalar that scales the scores.
        score_mode: `"dot"` (query-key dot product) or `"concat"` (tanh of their sum).
        dropout: dropout rate on the attention probabilities.
        seed: seed of the dropout.
    """

    _masks_from = (("query_mask", "query"), ("value_mask", "value"))

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.use_scale = use_scale
        self.score_mode = _args.choice(
            type(self).__name__, "score_mode", score_mode, ("dot", "concat")
        )
        self.dropout = _args.rate(type(self).__name__, "dropout", dropout)
        self.seed = seed
        if self.dropout > 0:
            self.seed_generator = random.SeedGenerator(seed)  # as Keras's, made with the layer

    def build(self, input_shape):
        if self.use_scale:
            self.add_weight((), "ones", name="scale")
        if self.score_mode == "concat":
            self.add_weight((), "ones", name="concat_score_weight")

    def _build_from_shapes(self, shapes):
        self.build(
            [shapes["query"], shapes["value"], *([shapes["key"]] if "key" in shapes else [])]
        )

    def keras_node(self, tensors: dict) -> tuple[list, dict]:
        inputs = [tensors[k] for k in ("query", "value", "key") if k in tensors]
        masks = [tensors.get("query_mask"), tensors.get("value_mask")]
        return [inputs], ({"mask": masks} if any(m is not None for m in masks) else {})

    def keras_build_config(self) -> dict:
        """Keras's build config: the list of input shapes."""
        shapes = self._build_input_shape
        return {"input_shape": [list(shapes[k]) for k in ("query", "value", "key") if k in shapes]}

    def forward(self, inputs, mask=None, training=None, return_attention_scores=False,
                use_causal_mask=False):  # fmt: skip
        owner = type(self).__name__
        if isinstance(inputs, dict):
            tensors = dict(inputs)
        else:
            if not isinstance(inputs, list | tuple) or not 2 <= len(inputs) <= 3:
                raise ValueError(
                    f"{owner} layer must be called on a list of inputs, namely [query, value] "
                    f"or [query, value, key]. Received: inputs={inputs!r:.200}"
                )
            tensors = dict(zip(("query", "value", "key"), inputs, strict=False))
            if mask is not None:
                if not isinstance(mask, list | tuple) or not 2 <= len(mask) <= 3:
                    raise ValueError(
                        f"{owner} layer mask must be a list, namely [query_mask, value_mask]. "
                        f"Received: mask={mask!r:.200}"
                    )
                for name, m in zip(("query_mask", "value_mask"), mask, strict=False):
                    if m is not None:
                        tensors[name] = m
        options = {
            "return_attention_scores": bool(return_attention_scores),
            "use_causal_mask": bool(use_causal_mask),
        }
        if is_symbolic(tensors):
            return self._call_packed(tensors, options, training)
        if mask is None:  # Keras fills the masks from the tensors only when none is given
            tensors = self._with_input_masks(tensors)
        return self._masked_output(self._call_packed(tensors, options, training), tensors)

    def _packed_output_shapes(self, shapes, options):
        q, v = shapes["query"], shapes["value"]
        k = shapes.get("key", v)
        out = [(*q[:-1], v[-1])]
        if options.get("return_attention_scores"):
            out.append((*q[:-1], k[-2]))
        return out

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape[0])[:-1], tuple(input_shape[1])[-1])

    def _scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        if self.score_mode == "dot":
            scores = query @ key.transpose(-2, -1)
            return scores * self.scale if self.use_scale else scores
        summed = query.unsqueeze(-2) + key.unsqueeze(-3)
        if self.use_scale:
            summed = self.scale * summed
        return self.concat_score_weight * torch.tanh(summed).sum(-1)

    def call(self, inputs, training=False, return_attention_scores=False, use_causal_mask=False):
        tensors = {k: _user(v) for k, v in inputs.items()}
        query, value = tensors["query"], tensors["value"]
        key = tensors.get("key", value)
        q_mask, v_mask = tensors.get("query_mask"), tensors.get("value_mask")
        scores = self._scores(query, key)
        scores_mask = None if v_mask is None else v_mask.bool()
        if use_causal_mask:
            causal = _causal_mask(scores.shape[-2], scores.shape[-1], scores.device)
            scores_mask = causal if scores_mask is None else scores_mask.unsqueeze(-2) & causal
        if scores_mask is not None:
            if scores_mask.ndim == 2:
                scores_mask = scores_mask.unsqueeze(-2)
            scores = torch.where(scores_mask, scores, scores - 1.0e9)
        weights = torch.softmax(scores, dim=-1)
        if training and self.dropout > 0:
            weights = random.dropout(weights, self.dropout, seed=self.seed_generator)
        out = weights @ value
        if q_mask is not None:
            out = torch.where(q_mask.bool().unsqueeze(-1), out, 0.0)
        if return_attention_scores:
            return _engine(out), _engine(weights)
        return _engine(out)

    def get_config(self):
        return {
            **super().get_config(),
            "use_scale": self.use_scale,
            "score_mode": self.score_mode,
            "dropout": self.dropout,
            "seed": self.seed,
        }


class AdditiveAttention(Attention):
    """Additive attention (Bahdanau style): scores are `sum(scale * tanh(query + key))`.

    Called like `Attention`, on `[query, value]` or `[query, value, key]`.

    Args:
        use_scale: learn a per-feature scale of the scores.
        dropout: dropout rate on the attention probabilities.
    """

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, **kwargs: Any) -> None:
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape):
        if self.use_scale:
            self.add_weight((input_shape[0][-1],), "glorot_uniform", name="scale")

    def _scores(self, query, key):
        tanh = torch.tanh(query.unsqueeze(-2) + key.unsqueeze(-3))
        return (self.scale * tanh if self.use_scale else tanh).sum(-1)

    def get_config(self):
        config = super().get_config()
        del config["score_mode"]
        return config
