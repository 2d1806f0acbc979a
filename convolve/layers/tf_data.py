"""Layers called inside a tf.data pipeline: `dataset.map(lambda x, y: (layer(x), y))`.

Keras's preprocessing layers run there on any backend, as keras.io's image examples use them
(resizing, rescaling and augmenting batches in `map`). There the layer receives graph
tensors, which hold no values. The call becomes one `tf.py_function` that runs the layer on
the values (as NumPy arrays) when the pipeline produces them, so each element goes through
the same torch code as an eager call. The output's structure and dtypes, which the graph
needs before any value exists, come from calling the layer once on a small zero input of
the same dtypes and rank; its static shape from `compute_output_shape`.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np
import torch

# tf.data runs a map's calls on several threads; a layer builds on its first call and its
# random layers advance a seed counter, so calls run one at a time.
_LOCK = threading.RLock()


def _tf() -> Any:
    return sys.modules.get("tensorflow")


def holds_graph_tensor(args: tuple, kwargs: dict) -> bool:
    """Whether a call's arguments hold a TensorFlow graph tensor (a `map` function's input)."""
    tf = _tf()
    if tf is None:  # TensorFlow never imported: no tf.data pipeline can be running
        return False
    return any(
        _is_graph_tensor(tf, leaf)
        for leaf in tf.nest.flatten((args, kwargs), expand_composites=False)
    )


def _is_graph_tensor(tf: Any, value: Any) -> bool:
    return (
        not isinstance(value, torch.Tensor) and tf.is_tensor(value) and tf.is_symbolic_tensor(value)
    )


def call_in_graph(layer: Any, args: tuple, kwargs: dict) -> Any:
    """Calls `layer(*args, **kwargs)` on graph tensors as one `tf.py_function`."""
    tf = _tf()
    leaves = tf.nest.flatten((args, kwargs))
    tensor_positions = [i for i, leaf in enumerate(leaves) if _is_graph_tensor(tf, leaf)]
    graph_tensors = [leaves[i] for i in tensor_positions]

    def run(arrays: list) -> Any:
        filled = list(leaves)
        for i, array in zip(tensor_positions, arrays, strict=True):
            filled[i] = array
        call_args, call_kwargs = tf.nest.pack_sequence_as((args, kwargs), filled)
        with _LOCK:
            return layer(*call_args, **call_kwargs)

    # The output's structure and dtypes, from a call on zeros of the inputs' dtypes and ranks.
    sample = run([_zeros_like_spec(t) for t in graph_tensors])
    sample_leaves = tf.nest.flatten(sample)
    out_dtypes = [tf.as_dtype(_to_numpy(leaf).dtype) for leaf in sample_leaves]

    def eager(*values: Any) -> list:
        out = run([_from_tf(v) for v in values])
        return [_to_numpy(leaf) for leaf in tf.nest.flatten(out)]

    flat_out = tf.py_function(eager, graph_tensors, Tout=out_dtypes)
    shapes = _static_shapes(layer, args, kwargs, sample_leaves, tf)
    for tensor, shape in zip(flat_out, shapes, strict=True):
        tensor.set_shape(shape)
    return tf.nest.pack_sequence_as(sample, flat_out)


def _zeros_like_spec(tensor: Any) -> np.ndarray:
    # Unknown sizes become 1 in the first axis (the batch, where there is one) and 8 in the
    # others, so that layers that crop or pool small images still run.
    shape = [
        size if size is not None else (1 if axis == 0 else 8)
        for axis, size in enumerate(tensor.shape.as_list())
    ]
    dtype = tensor.dtype
    if dtype.name == "string":
        return np.full(shape, b"", dtype=object)
    return np.zeros(shape, dtype=dtype.as_numpy_dtype)


def _from_tf(value: Any) -> np.ndarray:
    array = value.numpy()
    return array if isinstance(array, np.ndarray) else np.asarray(array)


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:  # NumPy has no bfloat16
            value = value.float()
        return value.numpy()
    return np.asarray(value)


def _static_shapes(layer: Any, args: tuple, kwargs: dict, sample_leaves: list, tf: Any) -> list:
    """The outputs' static shapes: the layer's `compute_output_shape` for a call on one
    argument (a tensor or a dict of them) where it answers with a shape per output, else
    the ranks alone."""
    ranks = [tf.TensorShape([None] * np.ndim(_to_numpy(leaf))) for leaf in sample_leaves]
    if len(args) != 1 or holds_graph_tensor((), kwargs):
        return ranks
    input_shapes = tf.nest.map_structure(lambda t: tuple(t.shape.as_list()), args[0])
    try:
        shapes = _shape_leaves(layer.compute_output_shape(input_shapes))
    except Exception:  # a layer that cannot say: the ranks are still right
        return ranks
    if shapes is None or len(shapes) != len(ranks):
        return ranks
    return [
        tf.TensorShape(list(shape)) if len(shape) == rank.rank else rank
        for shape, rank in zip(shapes, ranks, strict=True)
    ]


def _is_shape(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and all(
        size is None or isinstance(size, int) for size in value
    )


def _shape_leaves(structure: Any) -> list | None:
    """The shapes in a `compute_output_shape` answer, in `tf.nest`'s order (dict keys
    sorted); None where it holds something other than shapes."""
    if _is_shape(structure):
        return [tuple(structure)]
    if isinstance(structure, dict):
        items = [structure[key] for key in sorted(structure)]
    elif isinstance(structure, (tuple, list)):
        items = list(structure)
    else:
        return None
    leaves: list = []
    for item in items:
        found = _shape_leaves(item)
        if found is None:
            return None
        leaves.extend(found)
    return leaves
