"""Builds the same layer in Keras (the oracle, torch backend) and in convolve and compares them.

Every comparison checks, on one random NHWC float32 input and the same weights:
the output shape, `count_params()`, the outputs (max abs difference <= `ATOL` times the
largest output magnitude, at least 1),
`compute_output_shape` (also with unknown spatial sizes) and the shapes of `get_weights()`.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import torch

from convolve import layers

ATOL = 1e-5  # max abs difference allowed between Keras's and convolve's outputs, per unit
# of the output's largest magnitude (float32 rounding grows with it: a 4x4x4 transposed
# convolution sums 256 products into values near 10)
BATCH = 2
CHANNELS = 4
FILTERS = 6
# Spatial sizes mixing odd and even lengths, so "same" padding is sometimes uneven.
SPATIAL = {1: (11,), 2: (9, 8), 3: (6, 5, 7)}


@dataclass(frozen=True)
class Case:
    """One layer configuration and the input shape (batch included) it is called on."""

    layer: str
    kwargs: dict[str, Any] = field(hash=False)
    input_shape: tuple[int, ...]

    @property
    def id(self) -> str:
        args = ",".join(f"{k}={_short(v)}" for k, v in self.kwargs.items())
        return f"{self.layer}({args})@{'x'.join(map(str, self.input_shape[1:]))}"


def _short(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ",".join(_short(v) for v in value) + ")"
    return str(value)


def convolve_class(name: str) -> type:
    if not hasattr(layers, name):
        raise LookupError(f"no convolve layer named {name}")
    return getattr(layers, name)


def random_array(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _seed(case: Case) -> int:
    return zlib.crc32(case.id.encode())


def random_weights(layer: keras.layers.Layer, seed: int) -> list[np.ndarray]:
    """Random values for every weight, positive for variances, so no weight is trivial."""
    rng = np.random.default_rng(seed)
    values = []
    for w in layer.weights:
        shape = tuple(w.shape)
        if w.path.endswith("moving_variance"):
            values.append(rng.uniform(0.5, 1.5, shape).astype(np.float32))
        else:
            values.append((0.5 * rng.standard_normal(shape)).astype(np.float32))
    return values


def build_pair(case: Case, **extra: Any) -> tuple[keras.layers.Layer, Any]:
    """The Keras and convolve layers for `case`, built, with the same random weights."""
    kwargs = {**case.kwargs, **extra}
    keras_layer = getattr(keras.layers, case.layer)(**kwargs)
    ours = convolve_class(case.layer)(**kwargs)
    shape = (None, *case.input_shape[1:])
    keras_layer.build(shape)
    ours.build_for(shape)
    weights = random_weights(keras_layer, _seed(case) + 1)
    keras_layer.set_weights(weights)
    ours.set_weights(weights)
    return keras_layer, ours


def to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return keras.ops.convert_to_numpy(x)


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)), initial=0.0))


def check_static(keras_layer: keras.layers.Layer, ours: Any, case: Case) -> None:
    """count_params, weight shapes and compute_output_shape (known and unknown sizes)."""
    assert ours.count_params() == keras_layer.count_params()
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in keras_layer.get_weights()]
    shape = (None, *case.input_shape[1:])
    assert tuple(ours.compute_output_shape(shape)) == tuple(keras_layer.compute_output_shape(shape))
    if len(shape) >= 3:
        unknown = (None, *(None,) * (len(shape) - 2), shape[-1])
        assert tuple(ours.compute_output_shape(unknown)) == tuple(
            keras_layer.compute_output_shape(unknown)
        )


def check_parity(
    case: Case,
    *,
    reference: Callable[[np.ndarray], np.ndarray] | None = None,
    compare_keras_values: bool = True,
) -> None:
    """Asserts the five parity properties for `case` in inference mode.

    Args:
        case: the layer configuration and input shape.
        reference: an extra NumPy reference the outputs must also match.
        compare_keras_values: False where Keras's own values are known to be wrong (the
            shapes, parameter counts and weights are still compared with Keras).
    """
    keras_layer, ours = build_pair(case)
    x = random_array(case.input_shape, _seed(case))
    expected = to_numpy(keras_layer(x))
    got = to_numpy(ours(torch.from_numpy(x)))
    assert got.shape == expected.shape
    check_static(keras_layer, ours, case)
    tolerance = ATOL * max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    if compare_keras_values:
        diff = max_abs_diff(got, expected)
        assert diff <= tolerance, f"max abs difference {diff:.3g} > {tolerance:.3g}"
    if reference is not None:
        diff = max_abs_diff(got, reference(x))
        message = f"max abs difference to the reference {diff:.3g} > {tolerance:.3g}"
        assert diff <= tolerance, message


# --------------------------------------------------------------------- grids
def _cycle(index: int, options: list[Any]) -> Any:
    return options[index % len(options)]


_CONV_KERNELS = {1: [3, 4], 2: [3, (4, 2)], 3: [3, (2, 3, 2)]}
# (strides, dilation_rate): unit, strided, mixed per-axis strides, dilated.
_CONV_STEPS = {
    1: [(1, 1), (2, 1), (3, 1), (1, 2), (1, 3)],
    2: [(1, 1), (2, 1), (3, 1), ((1, 3), 1), (1, (2, 1))],
    3: [(1, 1), (2, 1), (3, 1), ((2, 1, 3), 1), (1, (1, 2, 1))],
}


def conv_cases(full: bool) -> Iterator[Case]:
    """Conv1D/2D/3D over kernels, strides, dilations, paddings, groups, bias, activations.

    The full grid is the whole product; the default one takes every combination of rank,
    kernel, strides/dilation and padding and cycles groups, use_bias and activation.
    """
    index = 0
    for rank in (1, 2, 3):
        paddings = ["valid", "same", "causal"] if rank == 1 else ["valid", "same"]
        for kernel, (strides, dilation), padding in itertools.product(
            _CONV_KERNELS[rank], _CONV_STEPS[rank], paddings
        ):
            if full:
                extras = itertools.product([1, 2], [True, False], [None, "relu", "softmax"])
            else:
                extras = [
                    (
                        _cycle(index, [1, 2]),
                        _cycle(index // 2, [True, False]),
                        _cycle(index, [None, "relu", "softmax"]),
                    )
                ]
            for groups, use_bias, activation in extras:
                index += 1
                yield Case(
                    f"Conv{rank}D",
                    dict(
                        filters=FILTERS,
                        kernel_size=kernel,
                        strides=strides,
                        padding=padding,
                        dilation_rate=dilation,
                        groups=groups,
                        use_bias=use_bias,
                        activation=activation,
                    ),
                    (BATCH, *SPATIAL[rank], CHANNELS),
                )


_POOL_SIZES = {1: [2, 3], 2: [2, (3, 2)], 3: [2, (3, 2, 2)]}
_POOL_STRIDES = {1: [None, 1, 2, 3], 2: [None, 1, 3, (2, 1)], 3: [None, 1, 3, (1, 2, 3)]}


def pooling_cases() -> Iterator[Case]:
    """Max and average pooling over pool sizes, strides and paddings, ranks 1-3."""
    for rank, kind in itertools.product((1, 2, 3), ("Max", "Average")):
        for pool, strides, padding in itertools.product(
            _POOL_SIZES[rank], _POOL_STRIDES[rank], ["valid", "same"]
        ):
            yield Case(
                f"{kind}Pooling{rank}D",
                dict(pool_size=pool, strides=strides, padding=padding),
                (BATCH, *SPATIAL[rank], CHANNELS),
            )


def global_pooling_cases() -> Iterator[Case]:
    for rank, kind, keepdims in itertools.product((1, 2, 3), ("Max", "Average"), (False, True)):
        yield Case(
            f"Global{kind}Pooling{rank}D",
            dict(keepdims=keepdims),
            (BATCH, *SPATIAL[rank], CHANNELS),
        )


_ZERO_PADDINGS = {
    1: [1, (1, 2), (0, 3)],
    2: [1, (1, 2), ((1, 0), (2, 3))],
    3: [1, (1, 2, 0), ((1, 0), (0, 2), (3, 1))],
}


def zero_padding_cases() -> Iterator[Case]:
    for rank in (1, 2, 3):
        for padding in _ZERO_PADDINGS[rank]:
            yield Case(
                f"ZeroPadding{rank}D", dict(padding=padding), (BATCH, *SPATIAL[rank], CHANNELS)
            )


def batchnorm_cases() -> Iterator[Case]:
    """BatchNormalization over input ranks 2-5, feature axes, center/scale and momenta."""
    shapes = {2: (8, 5), 3: (4, 7, 5), 4: (4, 6, 5, 3), 5: (2, 4, 3, 5, 3)}
    options = [
        dict(),
        dict(center=False),
        dict(scale=False, momentum=0.9),
        dict(center=False, scale=False, epsilon=1e-5),
    ]
    for rank, shape in shapes.items():
        for i, opts in enumerate(options):
            yield Case("BatchNormalization", dict(axis=-1, **opts), shape)
            if rank >= 3 and i < 2:  # a features axis other than the last
                yield Case("BatchNormalization", dict(axis=1, **opts), shape)
    yield Case("BatchNormalization", dict(axis=-2, momentum=0.5), shapes[4])


# --------------------------------------------------------------------- references
def same_padding(length: int, window: int, stride: int) -> tuple[int, int]:
    """Keras's "same" padding along one axis, written independently of the library."""
    out = -(-length // stride)
    total = max(0, (out - 1) * stride + window - length)
    return total // 2, total - total // 2


def numpy_average_pool_same(
    x: np.ndarray, pool_size: tuple[int, ...], strides: tuple[int, ...]
) -> np.ndarray:
    """Average pooling with "same" padding that leaves the padding out of each count.

    This is Keras's documented behaviour (TensorFlow and JAX backends); `x` is NHWC.
    """
    spatial = x.shape[1:-1]
    pads = [same_padding(n, k, s) for n, k, s in zip(spatial, pool_size, strides, strict=True)]
    outs = [-(-n // s) for n, s in zip(spatial, strides, strict=True)]
    result = np.zeros((x.shape[0], *outs, x.shape[-1]), dtype=np.float64)
    for index in itertools.product(*(range(o) for o in outs)):
        window = []
        for axis, o in enumerate(index):
            start = o * strides[axis] - pads[axis][0]
            window.append(slice(max(start, 0), min(start + pool_size[axis], spatial[axis])))
        block = x[(slice(None), *window, slice(None))].astype(np.float64)
        result[(slice(None), *index, slice(None))] = block.reshape(
            x.shape[0], -1, x.shape[-1]
        ).mean(axis=1)
    return result.astype(np.float32)


def has_uneven_same_padding(case: Case) -> bool:
    """Whether "same" pooling pads one side of some axis more than the other."""
    rank = len(case.input_shape) - 2
    pool = case.kwargs["pool_size"]
    pool = (pool,) * rank if isinstance(pool, int) else tuple(pool)
    strides = case.kwargs.get("strides") or pool
    strides = (strides,) * rank if isinstance(strides, int) else tuple(strides)
    pads = [
        same_padding(n, k, s) for n, k, s in zip(case.input_shape[1:-1], pool, strides, strict=True)
    ]
    return any(before != after for before, after in pads)
