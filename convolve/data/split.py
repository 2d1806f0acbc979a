"""`split_dataset`: Keras's left/right split of arrays or datasets."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import Subset

from convolve.data.image_folder import ImageFolderDataset
from convolve.data.pipeline import Dataset, _Batch, _stack


def _rescale_sizes(left_size: Any, right_size: Any, total: int) -> tuple[int, int]:
    """Keras's rules for turning fractions / counts into two sample counts."""
    for name, value in (("left_size", left_size), ("right_size", right_size)):
        if value is not None and type(value) not in (int, float):
            raise TypeError(
                f"Invalid `{name}` type. Expected: int or float or None; received "
                f"{name}={value!r} of type {type(value).__name__}"
            )
    if left_size is None and right_size is None:
        raise ValueError(
            "At least one of `left_size` or `right_size` must be specified; received "
            "left_size=None and right_size=None"
        )
    if left_size == 0 and right_size == 0:
        raise ValueError(
            "Both `left_size` and `right_size` are zero. At least one must be non-zero."
        )
    for name, value in (("left_size", left_size), ("right_size", right_size)):
        if (type(value) is int and (value <= 0 or value >= total)) or (
            type(value) is float and (value <= 0 or value >= 1)
        ):
            raise ValueError(
                f"`{name}` must be a positive integer smaller than {total} or a float in "
                f"(0, 1); received {name}={value!r}"
            )
    if type(left_size) is float and type(right_size) is float and left_size + right_size > 1:
        raise ValueError(
            "The sum of `left_size` and `right_size` must be at most 1; received "
            f"left_size={left_size} and right_size={right_size}"
        )
    left = round(left_size * total) if type(left_size) is float else left_size
    right = round(right_size * total) if type(right_size) is float else right_size
    if left is None:
        left = total - right
    elif right is None:
        right = total - left
    if left + right > total:
        raise ValueError(
            f"left_size + right_size ({left + right}) must not exceed the dataset length ({total})"
        )
    for side, n in (("left", left), ("right", right)):
        if n == 0:
            raise ValueError(
                f"With a dataset of length {total}, left_size={left} and right_size={right}, "
                f"the {side} split would be empty."
            )
    return int(left), int(right)


def _indices(
    total: int, left: int, right: int, shuffle: bool, seed: int | None, tf_order: bool = False
):
    if shuffle and tf_order:
        # The permutation Keras draws for a `tf.data` dataset (what `Dataset` stands in
        # for): Python's `random.shuffle` after seeding with `seed`, or with a seed drawn
        # from Python's generator. A shuffle's swaps depend only on the length, so shuffling
        # the indices gives the samples' order.
        if seed is None:
            seed = random.randint(0, int(1e6))
        order = list(range(total))
        random.Random(seed).shuffle(order)
        return order[:left], order[total - right :]
    if shuffle:
        # The permutation Keras draws on its torch backend (torch.utils.data.random_split).
        generator = torch.Generator()
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        order = torch.randperm(total, generator=generator).tolist()
        return order[:left], order[left : left + right]
    return list(range(left)), list(range(total - right, total))


def split_dataset(
    dataset: Any,
    left_size: int | float | None = None,
    right_size: int | float | None = None,
    shuffle: bool = False,
    seed: int | None = None,
    preferred_backend: str | None = None,
) -> tuple[Any, Any]:
    """Splits a dataset into a left part and a right part (e.g. train / test).

    Args:
        dataset: A NumPy array, a list/tuple of arrays with the same length, a
            `convolve.data.Dataset` (batched datasets are split by sample and re-batched),
            or a `torch.utils.data.Dataset`.
        left_size: Fraction in (0, 1) or number of samples for the left part; the complement
            of `right_size` if None.
        right_size: Fraction or number of samples for the right part; the complement of
            `left_size` if None.
        shuffle: Shuffle before splitting, with the permutation Keras draws for the same
            seed: that of its torch backend for arrays and torch datasets, that of its
            `tf.data` path (Python's `random`) for a `convolve.data.Dataset`. Without
            shuffling the left part is the first samples and the right part the last.
        seed: Seed for the shuffle.
        preferred_backend: Accepted for compatibility; ignored.

    Returns:
        `(left, right)`: `convolve.data.Dataset`s of samples (torch `Subset`s for a torch
        dataset input).

    Example:
        >>> import numpy as np
        >>> left, right = split_dataset(np.random.random((1000, 4)), left_size=0.8)
        >>> len(left), len(right)
        (800, 200)
    """
    del preferred_backend
    if isinstance(dataset, TorchDataset) and not isinstance(dataset, Dataset):
        total = len(dataset)  # type: ignore[arg-type]
        left, right = _rescale_sizes(left_size, right_size, total)
        lidx, ridx = _indices(total, left, right, shuffle, seed)
        return Subset(dataset, lidx), Subset(dataset, ridx)

    batch_size = None
    if isinstance(dataset, Dataset):
        if isinstance(dataset, ImageFolderDataset):
            batch_size = dataset._batch_size
        elif isinstance(dataset, _Batch):
            batch_size = dataset._batch_size
        samples = list(dataset.unbatch() if batch_size else dataset)
        if not samples:
            raise ValueError("Received an empty dataset; `dataset` must have samples.")
        data = _stack(samples)
    elif isinstance(dataset, np.ndarray | torch.Tensor | list | tuple):
        if isinstance(dataset, list | tuple):
            if len(dataset) == 0:
                raise ValueError("Received an empty list/tuple; pass arrays with samples.")
            lengths = {len(a) for a in dataset}
            if len(lengths) != 1:
                raise ValueError(
                    f"All arrays in `dataset` must have the same length; received {lengths}"
                )
            data = tuple(dataset)
        else:
            data = dataset
    else:
        raise TypeError(
            "`dataset` must be a NumPy array, a list/tuple of arrays, a convolve Dataset or a "
            f"torch Dataset; received {type(dataset).__name__}"
        )
    source = Dataset.from_tensor_slices(data)
    total = source.cardinality()
    left, right = _rescale_sizes(left_size, right_size, total)
    tf_order = isinstance(dataset, Dataset)
    lidx, ridx = _indices(total, left, right, shuffle, seed, tf_order)
    parts = []
    for idx in (lidx, ridx):
        part = Dataset.from_tensor_slices(
            _take_rows(source._tensors, torch.as_tensor(idx, dtype=torch.long))
        )
        if batch_size:
            part = part.batch(batch_size)
        parts.append(part)
    return parts[0], parts[1]


def _take_rows(structure: Any, idx: torch.Tensor) -> Any:
    if isinstance(structure, tuple | list):
        return type(structure)(_take_rows(s, idx) for s in structure)
    if isinstance(structure, dict):
        return {k: _take_rows(v, idx) for k, v in structure.items()}
    if isinstance(structure, torch.Tensor):
        return structure.index_select(0, idx)
    if isinstance(structure, np.ndarray):  # a string component
        return structure[idx.numpy()]
    return [structure[i] for i in idx.tolist()]
