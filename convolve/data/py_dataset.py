"""`PyDataset` (also `Sequence`): batches written as Python code, as in `keras.utils`.

A subclass defines `__len__` (or `num_batches`) and `__getitem__(index)`, which returns
one batch: `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)`. `fit` reads the batches of an
epoch in index order, or in a shuffled order when `shuffle=True` (drawn from Python's
`random`, which `set_random_seed` seeds), and calls `on_epoch_begin` / `on_epoch_end`
once around each epoch (Keras also calls `on_epoch_end` when `fit` or `evaluate`
starts). With `workers > 1`, that many threads fetch the next batches ahead, at most
`max_queue_size` of them, and hand them on in order; `use_multiprocessing` is accepted
for compatibility, and threads are used then too (NumPy and image decoding release the
GIL, and a dataset needs no pickling).
"""

from __future__ import annotations

import itertools
import random
import warnings
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["PyDataset", "Sequence"]

_DEFAULTS = {"_workers": 1, "_use_multiprocessing": False, "_max_queue_size": 10}


class PyDataset:
    """Base class for a dataset of batches defined by `__getitem__` and `__len__`.

    Args:
        workers: Threads fetching batches ahead (1: fetched when needed).
        use_multiprocessing: Accepted as in Keras; batches are fetched by threads.
        max_queue_size: Most batches fetched ahead when `workers > 1`.

    Example:
        >>> import numpy as np
        >>> class Squares(PyDataset):
        ...     def __len__(self):
        ...         return 3
        ...     def __getitem__(self, index):
        ...         x = np.full((2, 1), index, "float32")
        ...         return x, x**2
        >>> [float(y[0, 0]) for _, y in Squares()]
        [0.0, 1.0, 4.0]
    """

    def __init__(
        self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10
    ) -> None:
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _setting(self, name: str, default: Any) -> Any:
        if not hasattr(self, name):
            # All three at once: Keras warns once, not once per setting read.
            for attr, value in _DEFAULTS.items():
                if not hasattr(self, attr):
                    setattr(self, attr, value)
            warnings.warn(
                f"{type(self).__name__} should call `super().__init__(**kwargs)` in its "
                "constructor; `**kwargs` can include `workers`, `use_multiprocessing` and "
                "`max_queue_size`.",
                stacklevel=3,
            )
            setattr(self, name, default)
        return getattr(self, name)

    @property
    def workers(self) -> int:
        return self._setting("_workers", 1)

    @workers.setter
    def workers(self, value: int) -> None:
        self._workers = value

    @property
    def use_multiprocessing(self) -> bool:
        return self._setting("_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value: bool) -> None:
        self._use_multiprocessing = value

    @property
    def max_queue_size(self) -> int:
        return self._setting("_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value: int) -> None:
        self._max_queue_size = value

    def __getitem__(self, index: int) -> Any:
        """The batch at position `index`."""
        raise NotImplementedError

    @property
    def num_batches(self) -> int | None:
        """Batches per epoch (`len(self)`); None for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            f"{type(self).__name__} must define `__len__` or the `num_batches` property."
        )

    def __iter__(self) -> Iterator[Any]:
        count = self.num_batches
        for index in range(count) if count is not None else itertools.count():
            yield self[index]

    def on_epoch_begin(self) -> None:
        """Called before the first batch of every epoch."""

    def on_epoch_end(self) -> None:
        """Called after the last batch of every epoch."""


Sequence = PyDataset  # Keras 2's name, kept by Keras 3


class EpochsOf:
    """What `fit` iterates for a `PyDataset`: each pass is in index order or shuffled (the
    loop calls the dataset's epoch hooks around each epoch, as Keras)."""

    def __init__(self, dataset: PyDataset, shuffle: bool) -> None:
        self.dataset = dataset
        self.shuffle = bool(shuffle)

    def __len__(self) -> int:
        count = self.dataset.num_batches
        if count is None:
            raise TypeError("an endless PyDataset has no length")
        return count

    def __iter__(self) -> Iterator[Any]:
        ds = self.dataset
        count = ds.num_batches
        if count is None:
            indices: Any = itertools.count()
        else:
            indices = list(range(count))
            if self.shuffle:
                random.shuffle(indices)
        if ds.workers > 1 or ds.use_multiprocessing:
            ahead = max(ds.max_queue_size, 1)
            yield from _fetched_ahead(ds, iter(indices), max(ds.workers, 1), ahead)
        else:
            for index in indices:
                yield ds[index]


def _fetched_ahead(
    dataset: PyDataset, indices: Iterator[int], workers: int, queue_size: int
) -> Iterator[Any]:
    """`dataset[i]` for each index, in order, with up to `queue_size` fetched ahead."""
    with ThreadPoolExecutor(workers, thread_name_prefix="py_dataset") as pool:
        pending: deque = deque(
            pool.submit(dataset.__getitem__, i) for i in itertools.islice(indices, queue_size)
        )
        while pending:
            batch = pending.popleft().result()
            for i in itertools.islice(indices, 1):
                pending.append(pool.submit(dataset.__getitem__, i))
            yield batch
