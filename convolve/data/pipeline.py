"""`Dataset`: an iterable input pipeline with the `tf.data` methods that Keras code uses.

Each `iter(dataset)` is one pass (one epoch). Transformations return new datasets and run
lazily, in the process that iterates, on whatever the source yields: for
`image_dataset_from_directory` that is batches of torch tensors, so `map` functions receive
and return torch tensors.
"""

from __future__ import annotations

import itertools
import operator
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch

from convolve.data.data_tensor import as_data_tensor, from_array, plain

AUTOTUNE = -1
"""Pass to `prefetch` (or `num_parallel_calls`) to let the dataset choose; as `tf.data`."""

INFINITE_CARDINALITY = -1
UNKNOWN_CARDINALITY = -2


# ----------------------------------------------------------------------------- structures
def _map_leaves(fn: Callable[[Any], Any], element: Any) -> Any:
    if isinstance(element, tuple):
        return tuple(_map_leaves(fn, e) for e in element)
    if isinstance(element, list):
        return [_map_leaves(fn, e) for e in element]
    if isinstance(element, dict):
        return {k: _map_leaves(fn, v) for k, v in element.items()}
    return fn(element)


def _leaves(element: Any) -> list[Any]:
    if isinstance(element, tuple | list):
        return [leaf for e in element for leaf in _leaves(e)]
    if isinstance(element, dict):
        return [leaf for k in element for leaf in _leaves(element[k])]
    return [element]


def _pack(structure: Any, leaves: Iterator[Any]) -> Any:
    return _map_leaves(lambda _: next(leaves), structure)


def _stack(elements: list[Any]) -> Any:
    """Stacks a list of same-structured elements along a new first axis."""
    columns = list(zip(*(_leaves(e) for e in elements), strict=True))

    def stack(column: tuple) -> Any:
        first = column[0]
        if isinstance(first, torch.Tensor):
            return torch.stack(column)
        if _is_string(first):
            return _stack_strings(column)
        if isinstance(first, np.ndarray | np.generic | int | float | bool):
            return torch.as_tensor(np.stack(column))
        return list(column)

    return _pack(elements[0], iter([stack(c) for c in columns]))


# ----------------------------------------------------------------------------- strings
# As in `tf.data`, a string component is one tensor of dtype string: its elements come out
# as `bytes` (str encoded as UTF-8) and its batches as NumPy object arrays of `bytes`,
# which is what `as_numpy_iterator()` yields from a TensorFlow dataset.
def _is_string(value: Any) -> bool:
    if isinstance(value, str | bytes):
        return True
    if not isinstance(value, np.ndarray):
        return False
    if value.dtype.kind == "O":
        return value.size > 0 and isinstance(value.flat[0], str | bytes)
    return value.dtype.kind in "SU"


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", errors="surrogateescape")
    raise ValueError(
        "A string component must hold only str or bytes values (as in tf.data); received "
        f"a value {value!r:.80} of type {type(value).__name__}"
    )


def _string_array(array: np.ndarray) -> Any:
    """A str/bytes/object array as a NumPy object array of `bytes` (a 0-d one as `bytes`)."""
    if array.dtype.kind == "S" and array.ndim == 0:
        return bytes(array.item())
    flat = [_as_bytes(v) for v in array.reshape(-1).tolist()]
    if array.ndim == 0:
        return flat[0]
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(array.shape)


def _stack_strings(column: tuple) -> np.ndarray:
    """Stacks string elements (bytes, str, or arrays of them) into an object array."""
    parts = [_string_array(np.asarray(v, dtype=object)) for v in column]
    shapes = {np.shape(p) for p in parts}
    if len(shapes) != 1:
        raise ValueError(
            f"Cannot batch string elements of different shapes {sorted(shapes)}; batch "
            "elements must all have the same shape."
        )
    out = np.empty((len(parts), *shapes.pop()), dtype=object)
    for i, part in enumerate(parts):
        out[i] = part
    return out


_NUMBERS = (bool, int, float)  # Python's own; NumPy scalars keep their dtypes


def _list_as_array(values: list) -> np.ndarray | None:
    """A flat Python list of str/bytes, or of Python numbers, as the array `tf.data` makes
    of it (numbers as int32/float32, as TensorFlow converts them); None for other lists,
    which stay structure."""
    strings = [isinstance(v, str | bytes) for v in values]
    if not values or not all(
        s or type(v) in _NUMBERS for s, v in zip(strings, values, strict=True)
    ):
        return None
    if any(strings) and not all(strings):
        raise ValueError(
            "A list in `tensors` mixes strings with numbers; tf.data cannot make one tensor "
            f"of it. Received: {values!r:.200}"
        )
    if all(strings):
        return _string_array(np.asarray(values, dtype=object))
    array = np.asarray(values)
    if array.dtype.kind == "f":
        return array.astype(np.float32)
    if array.dtype.kind == "i" and np.abs(array).max() < 2**31:
        return array.astype(np.int32)
    return array


def _split(element: Any) -> list[Any]:
    """Splits a batched element into its samples."""
    leaves = _leaves(element)
    sizes = {len(leaf) for leaf in leaves}
    if len(sizes) != 1:
        raise ValueError(f"Cannot unbatch an element whose parts have different sizes {sizes}.")
    n = sizes.pop()
    return [_pack(element, iter([leaf[i] for leaf in leaves])) for i in range(n)]


def _as_data_element(element: Any) -> Any:
    return _map_leaves(as_data_tensor, element)


def _call(fn: Callable, element: Any) -> Any:
    # tf.data passes the parts of a tuple element as separate arguments.
    return fn(*element) if isinstance(element, tuple) else fn(element)


def _check_count(name: str, value: Any, allow_minus_one: bool = True) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"`{name}` must be an integer; received {name}={value!r}")
    if value < (-1 if allow_minus_one else 0):
        raise ValueError(f"`{name}` must be >= {-1 if allow_minus_one else 0}; received {value}")
    return int(value)


# ----------------------------------------------------------------------------- the base
class Dataset:
    """An input pipeline: iterate it for one pass, transform it with `tf.data`'s methods.

    Datasets made by `image_dataset_from_directory` yield `(images, labels)` batches of
    torch tensors and carry `class_names`, `file_paths` and `skipped_files`; every dataset
    derived from them (by `map`, `cache`, ...) carries the same attributes.

    Example:
        >>> import numpy as np
        >>> ds = Dataset.from_tensor_slices((np.arange(10.0), np.arange(10) % 2))
        >>> ds = ds.shuffle(10, seed=1).batch(4).map(lambda x, y: (x * 2, y))
        >>> len(ds)
        3
        >>> [tuple(x.shape) for x, y in ds]
        [(4,), (4,), (2,)]
    """

    def __init__(self, parent: Dataset | None = None) -> None:
        self._parent = parent
        self._meta: dict[str, Any] = dict(parent._meta) if parent is not None else {}

    # Attributes that Keras users reach for on a directory dataset.
    @property
    def class_names(self) -> list[str] | None:
        """Class names in label order, or None when the dataset has no labels."""
        return self._meta.get("class_names")

    @property
    def file_paths(self) -> list[str] | None:
        """The image files, in the (seeded) order the split was taken from."""
        return self._meta.get("file_paths")

    @property
    def skipped_files(self) -> dict[str, str]:
        """Files that could not be loaded so far, mapped to the reason; grows while iterating."""
        return self._meta.setdefault("skipped_files", {})

    # Subclasses implement these two.
    def _iterate(self) -> Iterator[Any]:
        raise NotImplementedError

    def cardinality(self) -> int:
        """Number of elements per pass; -1 if infinite, -2 if unknown (as `tf.data`)."""
        return UNKNOWN_CARDINALITY

    def __iter__(self) -> Iterator[Any]:
        """One pass. Tensors come as `DataTensor`s: torch tensors that NumPy's reductions
        (`np.min(batch)`) also take, as they take the TensorFlow tensors Keras's datasets
        yield. Datasets built on this one read the plain elements (`_iterate`)."""
        return map(_as_data_element, self._iterate())

    def __len__(self) -> int:
        n = self.cardinality()
        if n == INFINITE_CARDINALITY:
            raise TypeError("The dataset is infinite.")
        if n == UNKNOWN_CARDINALITY:
            raise TypeError("The dataset length is unknown.")
        return n

    def __repr__(self) -> str:
        n = self.cardinality()
        size = {INFINITE_CARDINALITY: "infinite", UNKNOWN_CARDINALITY: "unknown"}.get(n, n)
        return f"<{type(self).__name__} cardinality={size}>"

    # ------------------------------------------------------------------ transformations
    def map(
        self,
        map_func: Callable[..., Any],
        num_parallel_calls: int | None = None,
        deterministic: bool | None = None,
    ) -> Dataset:
        """Applies `map_func` to each element (tuple elements are passed as arguments).

        `num_parallel_calls` and `deterministic` are accepted for compatibility; the function
        runs in the iterating process, in order (image decoding is already parallel).
        """
        if not callable(map_func):
            raise ValueError(f"`map_func` must be callable; received {map_func!r}")
        return _Map(self, map_func)

    def filter(self, predicate: Callable[..., Any]) -> Dataset:
        """Keeps the elements for which `predicate` returns true."""
        if not callable(predicate):
            raise ValueError(f"`predicate` must be callable; received {predicate!r}")
        return _Filter(self, predicate)

    def cache(self, filename: str = "") -> Dataset:
        """Keeps the elements of the first complete pass in memory and replays them.

        Only in-memory caching is supported; a `filename` raises ValueError. A pass that
        stops early caches nothing.
        """
        if filename:
            raise ValueError(
                "Only in-memory caching is supported; received "
                f"filename={filename!r}. Call cache() without a filename."
            )
        return _Cache(self)

    def prefetch(self, buffer_size: int = AUTOTUNE) -> Dataset:
        """Prepares up to `buffer_size` elements ahead in a background thread.

        `AUTOTUNE` (-1) means 2. The thread overlaps the pipeline's work in this process
        (receiving batches, `map` functions) with the training step.
        """
        buffer_size = _check_count("buffer_size", buffer_size)
        return _Prefetch(self, 2 if buffer_size in (AUTOTUNE, 0) else buffer_size)

    def take(self, count: int) -> Dataset:
        """The first `count` elements (all of them if `count` is -1)."""
        return _Take(self, _check_count("count", count))

    def skip(self, count: int) -> Dataset:
        """All but the first `count` elements (none if `count` is -1)."""
        return _Skip(self, _check_count("count", count))

    def repeat(self, count: int | None = None) -> Dataset:
        """Repeats the dataset `count` times (forever if None or -1)."""
        return _Repeat(self, -1 if count is None else _check_count("count", count))

    def shuffle(
        self,
        buffer_size: int,
        seed: int | None = None,
        reshuffle_each_iteration: bool = True,
    ) -> Dataset:
        """Shuffles elements through a buffer of `buffer_size`, like `tf.data`."""
        buffer_size = _check_count("buffer_size", buffer_size, allow_minus_one=False)
        if buffer_size == 0:
            raise ValueError("`buffer_size` must be greater than zero; received 0")
        if seed is not None:
            seed = _check_count("seed", seed, allow_minus_one=False)
        return _Shuffle(self, buffer_size, seed, reshuffle_each_iteration)

    def batch(self, batch_size: int, drop_remainder: bool = False) -> Dataset:
        """Stacks consecutive elements into batches of `batch_size` (torch tensors)."""
        batch_size = _check_count("batch_size", batch_size, allow_minus_one=False)
        if batch_size == 0:
            raise ValueError("`batch_size` must be a positive integer; received 0")
        return _Batch(self, batch_size, drop_remainder)

    def unbatch(self) -> Dataset:
        """Splits each batch into its samples."""
        return _Unbatch(self)

    def as_numpy_iterator(self) -> Iterator[Any]:
        """Iterates with every tensor converted to a NumPy array."""

        def to_numpy(leaf: Any) -> Any:
            return leaf.numpy() if isinstance(leaf, torch.Tensor) else leaf

        for element in self._iterate():
            yield _map_leaves(to_numpy, element)

    def concatenate(self, dataset: Dataset) -> Dataset:
        """This dataset's elements, then `dataset`'s."""
        if not isinstance(dataset, Dataset):
            raise ValueError(f"`dataset` must be a Dataset; received {type(dataset).__name__}")
        return _Concatenate(self, dataset)

    def enumerate(self, start: int = 0) -> Dataset:
        """Pairs each element with its index: `(index, element)`, counting from `start`."""
        return _Enumerate(self, _check_count("start", start, allow_minus_one=False))

    def flat_map(self, map_func: Callable[..., Dataset]) -> Dataset:
        """Maps each element to a dataset and chains their elements."""
        if not callable(map_func):
            raise ValueError(f"`map_func` must be callable; received {map_func!r}")
        return _FlatMap(self, map_func)

    def reduce(self, initial_state: Any, reduce_func: Callable[[Any, Any], Any]) -> Any:
        """Folds the elements into one value: `state = reduce_func(state, element)`."""
        if not callable(reduce_func):
            raise ValueError(f"`reduce_func` must be callable; received {reduce_func!r}")
        state = initial_state
        for element in self._iterate():
            state = reduce_func(state, element)
        return state

    @staticmethod
    def zip(*datasets: Any) -> Dataset:
        """Elements of several datasets side by side, until the shortest ends.

        Takes datasets as arguments or one (nested) tuple or dict of them, as `tf.data`.
        """
        structure = datasets[0] if len(datasets) == 1 else datasets
        if isinstance(structure, Dataset):
            structure = (structure,)
        parts = _leaves(structure)
        if not parts or not all(isinstance(d, Dataset) for d in parts):
            kinds = [type(d).__name__ for d in parts]
            raise ValueError(f"`datasets` must hold datasets only; received {kinds}")
        return _Zip(structure, parts)

    @staticmethod
    def range(*args: int) -> Dataset:
        """The integers of Python's `range(*args)`, as int64 tensors."""
        try:
            if not 1 <= len(args) <= 3:
                raise TypeError
            numbers = range(*(operator.index(a) for a in args))  # ints, integer scalars
        except TypeError:
            raise ValueError(
                f"range takes 1 to 3 integers (stop, or start, stop[, step]); received {args}"
            ) from None
        return _TensorSlices(torch.arange(numbers.start, numbers.stop, numbers.step))

    @staticmethod
    def from_tensors(tensors: Any) -> Dataset:
        """A dataset of one element: `tensors` as they are (no slicing)."""

        def one(leaf: Any) -> Any:
            if isinstance(leaf, torch.Tensor):
                return plain(leaf)[None]
            return np.asarray(leaf)[None]

        return _TensorSlices(_map_leaves(one, tensors))

    @staticmethod
    def from_tensor_slices(tensors: Any) -> Dataset:
        """A dataset of the slices of `tensors` along their first axis.

        Numeric arrays come out as torch tensors. A NumPy array of strings (str, bytes, or
        objects holding them) is one string component, as in `tf.data`: its elements are
        `bytes` (str encoded as UTF-8) and its batches NumPy object arrays of `bytes`,
        which a `StringLookup` takes. A Python list of strings or of numbers is one
        component too (numbers as int32/float32, as TensorFlow converts them); other
        lists are structure, as tuples are.

        Args:
            tensors: An array or tensor, or a tuple/list/dict of them with equal first axes.

        Example:
            >>> import numpy as np
            >>> ds = Dataset.from_tensor_slices((np.arange(3.0), np.array(["a", "b", "a"])))
            >>> [y for _, y in ds.as_numpy_iterator()]
            [b'a', b'b', b'a']
            >>> next(ds.batch(2).as_numpy_iterator())[1]
            array([b'a', b'b'], dtype=object)
        """
        return _TensorSlices(tensors)


# ----------------------------------------------------------------------------- stages
class _TensorSlices(Dataset):
    def __init__(self, tensors: Any) -> None:
        super().__init__()

        def to_tensor(leaf: Any) -> Any:
            if isinstance(leaf, torch.Tensor):
                return plain(leaf)
            array = np.asarray(leaf)
            if array.dtype.kind in "biuf":
                return from_array(array)
            if array.ndim == 0:
                raise ValueError(
                    "Every part of `tensors` must have a first axis to slice along; received "
                    f"a scalar {leaf!r:.80}"
                )
            if array.dtype.kind in "SUO":
                return _string_array(array)  # one string component, as tf.data has it
            if array.dtype.kind == "c":
                return from_array(array)
            raise ValueError(
                f"`tensors` holds an array of dtype {array.dtype}, which a dataset cannot "
                "slice; use numbers or strings."
            )

        def convert(node: Any) -> Any:
            if isinstance(node, tuple):
                return tuple(convert(n) for n in node)
            if isinstance(node, dict):
                return {k: convert(v) for k, v in node.items()}
            if isinstance(node, list):
                array = _list_as_array(node)
                return [convert(n) for n in node] if array is None else to_tensor(array)
            return to_tensor(node)

        self._tensors = convert(tensors)
        sizes = {len(leaf) for leaf in _leaves(self._tensors)}
        if len(sizes) != 1:
            raise ValueError(
                f"All parts of `tensors` must have the same length; received lengths {sizes}"
            )
        self._n = sizes.pop()

    def __getitem__(self, index: int) -> Any:
        return _pack(self._tensors, iter([leaf[index] for leaf in _leaves(self._tensors)]))

    def cardinality(self) -> int:
        return self._n

    def _iterate(self) -> Iterator[Any]:
        for i in range(self._n):
            yield self[i]


class _Concatenate(Dataset):
    def __init__(self, first: Dataset, second: Dataset) -> None:
        super().__init__(first)
        self._second = second

    def cardinality(self) -> int:
        a, b = self._parent.cardinality(), self._second.cardinality()
        if INFINITE_CARDINALITY in (a, b):
            return INFINITE_CARDINALITY
        return UNKNOWN_CARDINALITY if min(a, b) < 0 else a + b

    def _iterate(self) -> Iterator[Any]:
        yield from self._parent._iterate()
        yield from self._second._iterate()


class _Enumerate(Dataset):
    def __init__(self, parent: Dataset, start: int) -> None:
        super().__init__(parent)
        self._start = start

    def cardinality(self) -> int:
        return self._parent.cardinality()

    def _iterate(self) -> Iterator[Any]:
        for i, element in enumerate(self._parent._iterate(), self._start):
            yield torch.tensor(i), element


class _FlatMap(Dataset):
    def __init__(self, parent: Dataset, fn: Callable) -> None:
        super().__init__(parent)
        self._fn = fn

    def _iterate(self) -> Iterator[Any]:
        for element in self._parent._iterate():
            inner = _call(self._fn, element)
            if not isinstance(inner, Dataset):
                raise ValueError(
                    f"flat_map's `map_func` must return a Dataset; it returned a "
                    f"{type(inner).__name__}"
                )
            yield from inner._iterate()


class _Zip(Dataset):
    def __init__(self, structure: Any, parts: list[Dataset]) -> None:
        super().__init__(parts[0])
        self._structure = structure
        self._parts = parts

    def cardinality(self) -> int:
        sizes = [d.cardinality() for d in self._parts]
        finite = [n for n in sizes if n >= 0]
        if finite:
            return min(finite)
        return UNKNOWN_CARDINALITY if UNKNOWN_CARDINALITY in sizes else INFINITE_CARDINALITY

    def _iterate(self) -> Iterator[Any]:
        for elements in zip(*(d._iterate() for d in self._parts), strict=False):  # shortest
            yield _pack(self._structure, iter(elements))


class _Map(Dataset):
    def __init__(self, parent: Dataset, fn: Callable) -> None:
        super().__init__(parent)
        self._fn = fn

    def cardinality(self) -> int:
        return self._parent.cardinality()

    def _iterate(self) -> Iterator[Any]:
        for element in self._parent._iterate():
            yield _call(self._fn, element)


class _Filter(Dataset):
    def __init__(self, parent: Dataset, predicate: Callable) -> None:
        super().__init__(parent)
        self._predicate = predicate

    def cardinality(self) -> int:
        n = self._parent.cardinality()
        return INFINITE_CARDINALITY if n == INFINITE_CARDINALITY else UNKNOWN_CARDINALITY

    def _iterate(self) -> Iterator[Any]:
        for element in self._parent._iterate():
            if bool(_call(self._predicate, element)):
                yield element


class _Cache(Dataset):
    def __init__(self, parent: Dataset) -> None:
        super().__init__(parent)
        self._elements: list[Any] | None = None

    def cardinality(self) -> int:
        if self._elements is not None:
            return len(self._elements)
        return self._parent.cardinality()

    def _iterate(self) -> Iterator[Any]:
        if self._elements is not None:
            yield from self._elements
            return
        filling = []
        for element in self._parent._iterate():
            filling.append(element)
            yield element
        self._elements = filling  # only a complete pass is kept


class _Take(Dataset):
    def __init__(self, parent: Dataset, count: int) -> None:
        super().__init__(parent)
        self._count = count

    def cardinality(self) -> int:
        n = self._parent.cardinality()
        if self._count == -1:
            return n
        if n == INFINITE_CARDINALITY:
            return self._count
        if n == UNKNOWN_CARDINALITY:
            return UNKNOWN_CARDINALITY
        return min(n, self._count)

    def _iterate(self) -> Iterator[Any]:
        if self._count == -1:
            yield from self._parent._iterate()
            return
        if self._count == 0:
            return
        it = self._parent._iterate()
        try:
            for i, element in enumerate(it):
                yield element
                if i + 1 >= self._count:
                    break  # stop before asking the source for more
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()


class _Skip(Dataset):
    def __init__(self, parent: Dataset, count: int) -> None:
        super().__init__(parent)
        self._count = count

    def cardinality(self) -> int:
        n = self._parent.cardinality()
        if n < 0:
            return n
        return 0 if self._count == -1 else max(0, n - self._count)

    def _iterate(self) -> Iterator[Any]:
        if self._count == -1:
            return
        yield from itertools.islice(self._parent._iterate(), self._count, None)


class _Repeat(Dataset):
    def __init__(self, parent: Dataset, count: int) -> None:
        super().__init__(parent)
        self._count = count

    def cardinality(self) -> int:
        n = self._parent.cardinality()
        if self._count == -1:
            return 0 if n == 0 else INFINITE_CARDINALITY
        return n * self._count if n >= 0 else n

    def _iterate(self) -> Iterator[Any]:
        passes: Iterable[int] = itertools.count() if self._count == -1 else range(self._count)
        for _ in passes:
            empty = True
            for element in self._parent._iterate():
                empty = False
                yield element
            if empty:
                return


class _Shuffle(Dataset):
    def __init__(self, parent: Dataset, buffer_size: int, seed: int | None, reshuffle: bool):
        super().__init__(parent)
        self._buffer_size = buffer_size
        self._seed = seed
        self._reshuffle = reshuffle
        self._epoch = 0
        # Without a seed, one drawn from NumPy's global generator: `set_random_seed` fixes it.
        self._fixed_entropy = int(np.random.randint(2**31 - 1))

    def cardinality(self) -> int:
        return self._parent.cardinality()

    def _iterate(self) -> Iterator[Any]:
        base = self._fixed_entropy if self._seed is None else self._seed
        epoch = self._epoch if self._reshuffle else 0
        self._epoch += 1
        rng = np.random.default_rng([base, epoch])
        buffer: list[Any] = []
        for element in self._parent._iterate():
            if len(buffer) < self._buffer_size:
                buffer.append(element)
                continue
            i = int(rng.integers(len(buffer)))
            yield buffer[i]
            buffer[i] = element
        while buffer:
            i = int(rng.integers(len(buffer)))
            buffer[i], buffer[-1] = buffer[-1], buffer[i]
            yield buffer.pop()


class _Batch(Dataset):
    def __init__(self, parent: Dataset, batch_size: int, drop_remainder: bool) -> None:
        super().__init__(parent)
        self._batch_size = batch_size
        self._drop_remainder = drop_remainder

    def cardinality(self) -> int:
        n = self._parent.cardinality()
        if n < 0:
            return n
        if self._drop_remainder:
            return n // self._batch_size
        return -(-n // self._batch_size)

    def _iterate(self) -> Iterator[Any]:
        pending: list[Any] = []
        for element in self._parent._iterate():
            pending.append(element)
            if len(pending) == self._batch_size:
                yield _stack(pending)
                pending = []
        if pending and not self._drop_remainder:
            yield _stack(pending)


class _Unbatch(Dataset):
    def cardinality(self) -> int:
        n = self._parent.cardinality()
        return n if n == INFINITE_CARDINALITY else UNKNOWN_CARDINALITY

    def _iterate(self) -> Iterator[Any]:
        for element in self._parent._iterate():
            yield from _split(element)


_END = object()


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Prefetch(Dataset):
    def __init__(self, parent: Dataset, buffer_size: int) -> None:
        super().__init__(parent)
        self._buffer_size = buffer_size
        self._active: threading.Thread | None = None

    def cardinality(self) -> int:
        return self._parent.cardinality()

    def _iterate(self) -> Iterator[Any]:
        from convolve import config

        if config.is_deterministic():  # in order with the training thread's random draws
            yield from self._parent._iterate()
            return
        if self._active is not None:
            # A previous pass was abandoned: let its thread finish with the source first,
            # since a source (e.g. a worker pool) serves one pass at a time.
            self._active.join()
        q: queue.Queue = queue.Queue(maxsize=self._buffer_size)
        stop = threading.Event()

        def produce() -> None:
            it = self._parent._iterate()
            try:
                for element in it:
                    if not _put(q, element, stop):
                        return
                _put(q, _END, stop)
            except BaseException as e:  # re-raised in the iterating thread
                _put(q, _Raised(e), stop)
            finally:
                close = getattr(it, "close", None)
                if close is not None:
                    close()

        thread = threading.Thread(target=produce, name="convolve-prefetch", daemon=True)
        self._active = thread
        thread.start()
        try:
            while True:
                item = q.get()
                if item is _END:
                    return
                if isinstance(item, _Raised):
                    raise item.error
                yield item
        finally:
            stop.set()
            thread.join()
            self._active = None


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False
