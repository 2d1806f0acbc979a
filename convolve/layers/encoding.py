"""Encoding of integer and continuous features: CategoryEncoding and Discretization."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from convolve.layers import _args
from convolve.layers.base import Layer, torch_dtype


def _encode(
    indices: torch.Tensor,
    output_mode: str,
    depth: int,
    dtype: torch.dtype,
    count_weights: torch.Tensor | None = None,
    owner: str = "",
) -> torch.Tensor:
    """Keras's categorical encoding of integer `indices` into `depth` classes.

    Negative indices encode as all zeros; `multi_hot` and `count` reduce axis 1 (the
    sample's values) of inputs of rank 2 or more, as Keras's torch backend does.
    """
    if output_mode == "int":
        return indices.to(dtype)
    if indices.ndim == 0:
        indices = indices.unsqueeze(-1)
    indices = indices.long()
    if indices.numel() and int(indices.max()) >= depth:
        raise ValueError(
            f"{owner}: input values must be in the range 0 <= value < {depth}, received a "
            f"value of {int(indices.max())}"
        )
    if output_mode == "one_hot" and indices.ndim > 1 and indices.shape[-1] == 1:
        indices = indices.squeeze(-1)
    if count_weights is not None:
        dtype = count_weights.dtype
    valid = (indices >= 0).unsqueeze(-1)
    encoded = torch.nn.functional.one_hot(indices.clamp(min=0), depth)
    encoded = torch.where(valid, encoded, 0).to(dtype)
    if output_mode == "one_hot":
        return encoded
    axis = 1 if indices.ndim > 1 else 0
    if output_mode == "multi_hot":
        return encoded.amax(dim=axis)
    if count_weights is not None:
        encoded = encoded * count_weights.unsqueeze(-1)
    return encoded.sum(dim=axis)


class CategoryEncoding(Layer):
    """Encodes integer features of known range as one-hot, multi-hot or count vectors.

    Args:
        num_tokens: the number of tokens; inputs must lie in `0 <= value < num_tokens`
            (negative values encode as zeros, as in Keras).
        output_mode: `"multi_hot"` (a 1 for each token present in a sample, the last
            axis being the sample), `"one_hot"` (each value encoded on a new last axis, or
            on the last axis if it has size 1) or `"count"` (how often each token appears,
            weighted by `count_weights` if given). `"binary"` is read as `"multi_hot"`.
        sparse: only False (sparse tensors are not supported, as on Keras's torch backend).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: integer tensor of rank 0, 1 or 2 (any rank for `"one_hot"`).
        count_weights: weights of the same shape as `inputs`, for `"count"` mode only.

    Example:
        >>> from convolve.layers import CategoryEncoding
        >>> CategoryEncoding(num_tokens=4, output_mode="one_hot")([3, 2, 0, 1]).tolist()
        [[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]
        >>> CategoryEncoding(num_tokens=4)([[0, 1], [0, 0], [1, 2], [3, 1]]).tolist()
        [[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]]
    """

    _built_at_init = True

    def __init__(
        self,
        num_tokens: int | None = None,
        output_mode: str = "multi_hot",
        sparse: bool = False,
        **kwargs: Any,
    ) -> None:
        owner = "CategoryEncoding"
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode not in ("count", "one_hot", "multi_hot"):
            raise _args.fail(owner, "output_mode", output_mode,
                             "one of 'multi_hot', 'one_hot', 'count'")  # fmt: skip
        if num_tokens is None:
            raise ValueError(
                f"{owner}: `num_tokens` must be set to use this layer, received "
                "num_tokens=None. If the number of tokens is not known beforehand, use the "
                "IntegerLookup layer instead."
            )
        if isinstance(num_tokens, bool) or not isinstance(num_tokens, int) or num_tokens < 1:
            raise _args.fail(owner, "num_tokens", num_tokens, "an integer >= 1")
        if sparse:
            raise ValueError(
                f"{owner}: sparse outputs are not supported (as on Keras's torch backend), "
                f"received sparse={sparse!r}"
            )
        super().__init__(**kwargs)
        self.num_tokens = num_tokens
        self.output_mode = output_mode
        self.sparse = bool(sparse)

    def forward(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(inputs, list | tuple | int | float):  # values, not a list of inputs
            inputs = np.asarray(inputs)
        return super().forward(inputs, *args, **kwargs)

    def call(self, inputs: torch.Tensor, count_weights: Any = None) -> torch.Tensor:
        owner = f"Layer '{self.name}' (CategoryEncoding)"
        if count_weights is not None:
            if self.output_mode != "count":
                raise ValueError(
                    f"{owner}: `count_weights` is not used when `output_mode` is not 'count'. "
                    f"Received count_weights={count_weights!r:.200}"
                )
            count_weights = torch.as_tensor(
                np.asarray(count_weights) if not isinstance(count_weights, torch.Tensor)
                else count_weights, dtype=torch_dtype(self._dtype), device=inputs.device,
            )  # fmt: skip
        if self.output_mode != "one_hot" and inputs.ndim > 2:
            raise ValueError(
                f"{owner}: output_mode={self.output_mode!r} takes inputs of rank 2 at most "
                f"(batch, values), received shape {tuple(inputs.shape)}"
            )
        dtype = torch_dtype(self._dtype)
        return _encode(inputs, self.output_mode, self.num_tokens, dtype, count_weights, owner)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        input_shape = tuple(input_shape)
        if len(input_shape) == 0:
            return (self.num_tokens,)
        if self.output_mode == "one_hot" and len(input_shape) > 1 and input_shape[-1] == 1:
            return (*input_shape[:-1], self.num_tokens)
        if self.output_mode == "one_hot":
            return (*input_shape, self.num_tokens)
        return (*input_shape[:-1], self.num_tokens)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_tokens": self.num_tokens,
            "output_mode": self.output_mode,
        }


# ------------------------------------------------------------ quantile summaries
# Keras's approximate quantiles: a summary is a (2, n) float32 array of values and the
# weights (counts) they stand for; batches are summarised, merged and compressed.
def _summarize(values: np.ndarray, epsilon: float) -> np.ndarray:
    ordered = np.sort(np.reshape(values, [-1]))
    step = max(np.size(ordered) / (1.0 / epsilon), 1)
    picked = ordered[int(step - 1) :: int(step)]
    return np.stack([picked, np.ones_like(picked) * step])


def _compress(summary: np.ndarray, epsilon: float) -> np.ndarray:
    if summary.shape[1] * epsilon < 1:
        return summary
    targets = epsilon + np.arange(0.0, 1.0, epsilon)
    cumulative = summary[1].cumsum()
    fractions = cumulative / cumulative[-1]
    values = np.interp(targets, fractions, summary[0])
    cumulative = np.interp(targets, fractions, cumulative)
    weights = np.diff(cumulative, prepend=0.0)
    return np.stack((values, weights)).astype("float32")


def _merge(first: np.ndarray, second: np.ndarray, epsilon: float) -> np.ndarray:
    merged = np.concatenate((first, second), axis=1)
    return _compress(np.take(merged, np.argsort(merged[0]), axis=1), epsilon)


class Discretization(Layer):
    """Buckets continuous features by ranges, as `keras.layers.Discretization`.

    Args:
        bin_boundaries: sorted boundaries; `[0., 1., 2.]` makes the bins `(-inf, 0)`,
            `[0, 1)`, `[1, 2)` and `[2, inf)`. Not with `num_bins`.
        num_bins: the number of bins whose boundaries `adapt()` learns from data.
        epsilon: the error tolerance of the approximate quantiles `adapt()` computes
            (Keras's summary algorithm, reproduced exactly).
        output_mode: `"int"` (bin indices, int32), `"one_hot"`, `"multi_hot"` or `"count"`
            (encoded as `CategoryEncoding` does, over `len(bin_boundaries) + 1` bins).
        sparse: only False (sparse tensors are not supported on Keras's torch backend).
        dtype: the dtype of the encoded outputs; inputs are read as float32.
        name: the layer's name.

    Example:
        >>> import numpy as np
        >>> from convolve.layers import Discretization
        >>> x = np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]])
        >>> Discretization(bin_boundaries=[0.0, 1.0, 2.0])(x).tolist()
        [[0, 2, 3, 1], [1, 3, 2, 1]]
        >>> layer = Discretization(num_bins=4, epsilon=0.01)
        >>> layer.adapt(x)
        >>> layer(x).tolist()
        [[0, 2, 3, 2], [1, 3, 3, 1]]
    """

    _built_at_init = True

    def __init__(
        self,
        bin_boundaries: Any = None,
        num_bins: int | None = None,
        epsilon: float = 0.01,
        output_mode: str = "int",
        sparse: bool = False,
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        owner = "Discretization"
        if sparse:
            raise ValueError(
                f"{owner}: `sparse=True` cannot be used with convolve (as with Keras's torch "
                f"backend). Received: sparse={sparse!r}"
            )
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise _args.fail(owner, "output_mode", output_mode,
                             "one of 'int', 'one_hot', 'multi_hot', 'count'")  # fmt: skip
        if num_bins is not None and (
            isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 0
        ):
            raise _args.fail(owner, "num_bins", num_bins, "an integer >= 0")
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError(
                f"{owner}: both `num_bins` and `bin_boundaries` should not be set. Received: "
                f"num_bins={num_bins!r} and bin_boundaries={bin_boundaries!r}"
            )
        if num_bins is None and bin_boundaries is None:
            raise ValueError(
                f"{owner}: you need to set either `num_bins` or `bin_boundaries`, received neither."
            )
        if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or epsilon <= 0:
            raise _args.fail(owner, "epsilon", epsilon, "a positive number")
        super().__init__(name=name, dtype=dtype)
        if bin_boundaries is not None:
            bin_boundaries = list(bin_boundaries)
        self.bin_boundaries = bin_boundaries
        self.num_bins = num_bins
        self.epsilon = epsilon
        self.output_mode = output_mode
        self.sparse = bool(sparse)
        self.summary = None if bin_boundaries else np.array([[], []], dtype="float32")

    @property
    def input_dtype(self) -> str:
        return "float32"

    @property
    def output_dtype(self) -> str:
        return "int32" if self.output_mode == "int" else self._dtype

    def forward(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(inputs, list | tuple | int | float):  # values, not a list of inputs
            inputs = np.asarray(inputs)
        return super().forward(inputs, *args, **kwargs)

    # --------------------------------------------------------------- adapt
    def adapt(self, data: Any, steps: int | None = None) -> None:
        """Learns `bin_boundaries` from the approximate quantiles of `data`, as Keras does.

        Args:
            data: a NumPy array or tensor, or an iterable of batches (arrays or tensors).
            steps: with an iterable, the most batches to read (None: all of them).
        """
        owner = f"Layer '{self.name}' (Discretization)"
        if self.num_bins is None:
            raise ValueError(
                f"{owner}: cannot adapt a Discretization layer that has been initialized "
                "with `bin_boundaries`, use `num_bins` instead."
            )
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)):
            raise _args.fail("Discretization.adapt", "steps", steps, "an integer or None")
        self.reset_state()
        if isinstance(data, np.ndarray | torch.Tensor):
            batches: Iterable[Any] = [data]
        elif hasattr(data, "__iter__") and not isinstance(data, str | bytes | dict):
            batches = data
        else:
            raise TypeError(
                f"{owner}: adapt() takes a NumPy array, a tensor or an iterable of batches; "
                f"received {type(data).__name__}"
            )
        for batch in itertools.islice(batches, steps):  # all batches for steps=None
            self.update_state(batch)
        self.finalize_state()

    def update_state(self, data: Any) -> None:
        """Merges the summary of one batch into the running summary."""
        if isinstance(data, torch.Tensor):
            data = data.detach().cpu().numpy()
        data = np.array(data).astype("float32")
        self.summary = _merge(_summarize(data, self.epsilon), self.summary, self.epsilon)

    def finalize_state(self) -> None:
        """Sets `bin_boundaries` from the summary (a no-op for a layer given boundaries)."""
        if self.num_bins is None:
            return
        boundaries = _compress(self.summary, 1.0 / self.num_bins)[0, :-1]
        self.bin_boundaries = boundaries.tolist()

    def reset_state(self) -> None:
        """Forgets the data seen by `update_state`."""
        if self.num_bins is None:
            return
        self.summary = np.array([[], []], dtype="float32")

    # --------------------------------------------------------------- calling
    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.bin_boundaries is None:
            raise ValueError(
                f"Layer '{self.name}' (Discretization): you need to either pass the "
                "`bin_boundaries` argument at construction time or call `adapt(dataset)` "
                "before you can start using the layer."
            )
        x = inputs if inputs.is_floating_point() else inputs.to(torch.float32)
        boundaries = torch.as_tensor(self.bin_boundaries, dtype=x.dtype, device=x.device)
        indices = torch.bucketize(x, boundaries, right=True).to(torch.int32)
        return _encode(
            indices,
            self.output_mode,
            len(self.bin_boundaries) + 1,
            torch_dtype(self.output_dtype),
            owner=f"Layer '{self.name}' (Discretization)",
        )

    def compute_output_shape(self, input_shape: Any) -> tuple:
        input_shape = tuple(input_shape)
        if self.output_mode == "int":
            return input_shape
        depth = len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else self.num_bins
        if self.output_mode == "one_hot":
            if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
                return (*input_shape[:-1], depth)
            return (*input_shape, depth)
        if len(input_shape) >= 2:
            return (input_shape[0], *input_shape[2:], depth)
        return (depth,)

    def get_config(self) -> dict[str, Any]:
        return {
            "bin_boundaries": self.bin_boundaries,
            "num_bins": self.num_bins,
            "epsilon": self.epsilon,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
            "name": self.name,
            "dtype": self._dtype,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Discretization:
        """Rebuilds the layer; an adapted layer's config holds both boundaries and bins."""
        config = dict(config)
        if isinstance(config.get("dtype"), dict):  # a dtype policy as Keras writes it
            config["dtype"] = (config["dtype"].get("config") or {}).get("name")
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            boundaries = config.pop("bin_boundaries")
            layer = cls(**config)
            layer.bin_boundaries = list(boundaries)
            return layer
        return cls(**config)
