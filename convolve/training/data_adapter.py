"""Turning what users pass to fit/evaluate/predict into batches of tensors.

Arrays that fit in memory are converted once: to torch, to the model's device, and to the
engine's channels-first layout. A batch is then a slice (or an index) of those tensors,
handed to the step as a free channels-last view, so that the model's boundary conversion
finds it already laid out and copies nothing.

In a data-parallel job (`shard` given), `batch_size` is the global batch size: each
process takes its part of every global batch (see `convolve.distribute.Shard`), and the
adapter records the global batch's size (`global_size`) and whether the local part is
padding (`padding`) for the step that consumes it.
"""

from __future__ import annotations

import itertools
import math
import types
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from convolve import _tree, config
from convolve.data.data_tensor import from_array, plain
from convolve.data.py_dataset import EpochsOf, PyDataset
from convolve.distribute import Shard
from convolve.layers import layout
from convolve.layers.base import is_string_array

Batch = tuple[Any, Any, Any]  # (x, y, sample_weight); y and sample_weight may be None
_END = object()  # what `next` returns when an iterator is exhausted
_REPLAYED_ITEMS = 2  # a generator's items read ahead and yielded again by each new pass


def _is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray | torch.Tensor) or (
        hasattr(x, "__array__") and not isinstance(x, dict | list | tuple)
    )


def is_array_structure(x: Any) -> bool:
    leaves = _tree.flatten(x)
    return bool(leaves) and all(_is_array(leaf) for leaf in leaves)


# NumPy dtype kinds that hold no numbers: objects, strings, bytes, dates, records.
_NON_NUMERIC = {"O": "Python objects", "U": "strings", "S": "bytes", "M": "datetimes",
                "m": "timedeltas", "V": "records"}  # fmt: skip


def non_numeric_error(name: str, array: np.ndarray) -> ValueError:
    """The error for data `name` given as an array that is not numeric."""
    return ValueError(
        f"`{name}` must be a numeric array; received an array of "
        f"{_NON_NUMERIC[array.dtype.kind]} (dtype {array.dtype}) with shape {array.shape}."
    )


def _to_tensor(value: Any, name: str, device: torch.device, float_dtype: torch.dtype):
    """`value` as a tensor on `device`; inputs (`x`) of text stay NumPy arrays of strings,
    for models whose first layers take them (`Input(dtype="string")`)."""
    if isinstance(value, torch.Tensor):
        t = plain(value)  # a dataset's DataTensor would route every op through Python
    else:
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as error:  # ragged nested lists
            raise ValueError(
                f"`{name}` must be a numeric array; received a {type(value).__name__} that "
                f"does not convert to one ({error})"
            ) from None
        if name == "x" and is_string_array(array) and _holds_text(array):
            return array
        if array.dtype.kind in _NON_NUMERIC:
            raise non_numeric_error(name, array)
        if array.dtype.kind == "f" and array.dtype != np.float32:
            array = array.astype(np.float32)
        t = from_array(array)
    if t.is_complex():
        raise ValueError(
            f"`{name}` must hold real numbers; received dtype {t.dtype} with shape "
            f"{tuple(t.shape)}. Pass the real part (or the magnitude) instead."
        )
    if t.dtype == torch.bool:  # 0/1 values, as Keras casts them for its float inputs
        t = t.to(float_dtype)
    if t.is_floating_point() and t.dtype != float_dtype:
        t = t.to(float_dtype)
    return t.to(device)


def _holds_text(array: np.ndarray) -> bool:
    """Whether an array of strings, bytes or Python objects holds only text."""
    if array.dtype.kind in "US":
        return True
    return all(isinstance(v, str | bytes) for v in array.reshape(-1).tolist())


def _text_from_lists(x: Any) -> np.ndarray | None:
    """Nested Python lists (or tuples) of strings as one NumPy array of text, else None."""
    if not isinstance(x, list | tuple) or not x:
        return None
    leaves = _tree.flatten(x)
    if not leaves or not all(isinstance(v, str | bytes) for v in leaves):
        return None
    try:
        array = np.asarray(x)
    except ValueError:  # ragged lists
        return None
    return array if array.dtype.kind in "US" else None


def _engine_resident(t: torch.Tensor) -> torch.Tensor:
    """Stores inputs channels-first once, so every batch slice is already in engine layout."""
    if t.ndim >= 3 and isinstance(t, torch.Tensor) and t.is_floating_point():
        return layout.engine_memory_format(layout.to_engine(t))
    return t


def _user_view(t: torch.Tensor) -> torch.Tensor:
    if t.ndim >= 3 and isinstance(t, torch.Tensor) and t.is_floating_point():
        return layout.to_user(t)
    return t


def _per_output(sample_weight: Any) -> Any:
    """Weights one array per output (a list, tuple or dict of arrays, as Keras takes for
    models of several outputs) as that structure; anything else as one array."""
    if isinstance(sample_weight, dict) or (
        isinstance(sample_weight, list | tuple)
        and sample_weight
        and all(hasattr(w, "shape") for w in sample_weight)
    ):
        return sample_weight
    return np.asarray(sample_weight) if isinstance(sample_weight, list | tuple) else sample_weight


def _num_samples(structure: Any, name: str) -> int:
    for leaf in _tree.flatten(structure):
        if leaf.ndim == 0:
            raise ValueError(
                f"`{name}` must be an array whose first axis is the samples; received a "
                f"scalar ({leaf.dtype}, shape ())."
            )
    sizes = {int(leaf.shape[0]) for leaf in _tree.flatten(structure)}
    if len(sizes) != 1:
        raise ValueError(
            f"All arrays in `{name}` must have the same number of samples; got {sizes}."
        )
    return sizes.pop()


class _ShardState:
    """What a sharded adapter knows about the batch it yielded last."""

    shard: Shard | None = None
    global_size: int | None = None  # samples in the global batch; None when unknown
    padding: bool = False  # the local part repeats a sample only to keep processes in step


@dataclass
class EpochPlan:
    """One pass over arrays: sample order (None: as stored) and batch order; an epoch
    runs it from batch `offset` (past the epochs before, when `steps_per_epoch` is
    shorter than the pass), and starts at its step `first_step` (after an interruption)."""

    order: torch.Tensor | None
    starts: list[int]
    first_step: int = 0
    offset: int = 0


def _global_int64() -> int:
    """One int64 from torch's global generator, drawn as torch's data loading draws it."""
    return int(torch.empty((), dtype=torch.int64).random_().item())


def _loader_seed_draw() -> None:
    """The draw a torch DataLoader iterator takes from the global generator when it is made
    (its workers' base seed). Keras's torch backend makes one per pass over arrays; taking
    the same draws keeps torch's global stream, which dropout and shuffling use, in step
    with Keras's after `set_random_seed`."""
    _global_int64()


class ArrayBatches(_ShardState):
    """Batches over in-memory arrays (NumPy or torch), optionally shuffled each epoch.

    With a `shard`, a shuffled order comes from a generator seeded with `shard.seed`
    (the same on every process) and each process takes its part of each global batch.
    """

    def __init__(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        batch_size: int | None = 32,
        shuffle: bool | str = False,
        device: torch.device | str = "cpu",
        float_dtype: torch.dtype = torch.float32,
        steps: int | None = None,
        shard: Shard | None = None,
        class_weight: dict | None = None,
    ) -> None:
        device = torch.device(device)
        if class_weight is not None:
            sample_weight = class_weights_to_sample_weights(class_weight, y, sample_weight)
        self.weighs_classes = class_weight is not None  # weights for training only
        self.shard = shard
        self._generator: torch.Generator | None = None
        self.x = _tree.map_structure(
            lambda v: _engine_resident(_to_tensor(v, "x", device, float_dtype)), x
        )
        self.y = (
            None
            if y is None
            else _tree.map_structure(lambda v: _to_tensor(v, "y", device, float_dtype), y)
        )
        self.sample_weight = (
            None
            if sample_weight is None
            else _tree.map_structure(
                lambda v: _to_tensor(v, "sample_weight", device, float_dtype),
                _per_output(sample_weight),
            )
        )
        self.num_samples = _num_samples(self.x, "x")
        if self.num_samples == 0:
            shapes = [tuple(t.shape) for t in _tree.flatten(self.x)]
            raise ValueError(
                f"`x` holds no samples: received {shapes[0] if len(shapes) == 1 else shapes}; "
                "pass at least one sample."
            )
        if self.y is not None:
            n_y = _num_samples(self.y, "y")
            if n_y != self.num_samples:
                raise ValueError(
                    f"x and y must have the same number of samples; received x with "
                    f"{self.num_samples} samples and y with {n_y}."
                )
        for weights in [] if sample_weight is None else _tree.flatten(self.sample_weight):
            if weights.ndim == 0 or weights.shape[0] != self.num_samples:
                raise ValueError(
                    f"sample_weight must have one weight per sample ({self.num_samples}); "
                    f"received shape {tuple(weights.shape)}."
                )
        if batch_size is None:
            batch_size = 32
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"`batch_size` must be a positive integer, received {batch_size!r}")
        _check_steps(steps)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.steps = steps
        self.loader_draws = True  # takes Keras's DataLoader draws (see `_loader_seed_draw`)
        self._loader_drawn = False  # the next pass's loader draw was taken already
        self.epoch_plan: EpochPlan | None = None  # the current (or last) epoch's
        self.carried_plan: EpochPlan | None = None  # where the next epoch goes on
        self._resume_plan: EpochPlan | None = None

    def __len__(self) -> int:
        full = math.ceil(self.num_samples / self.batch_size)
        return full if self.steps is None else min(self.steps, full)

    def __iter__(self) -> Iterator[Batch]:
        """One epoch. With `steps_per_epoch` shorter than the data, as in Keras, the next
        epoch goes on where this one stopped, and a new pass (a new shuffle) begins once
        one has run all its batches."""
        # One process: torch's global stream as Keras's (not for `*_on_batch`, which Keras
        # runs without a loader).
        keras_stream = self.shard is None and self.loader_draws
        resumed = self._resume_plan is not None  # the saved global state is mid-epoch
        if keras_stream and not (resumed or self.carried_plan or self._loader_drawn):
            _loader_seed_draw()  # Keras's pass begins: a DataLoader iterator is made
        self._loader_drawn = False
        plan = self._resume_plan or self.carried_plan or self._draw_plan()
        self._resume_plan = self.carried_plan = None
        self.epoch_plan = plan
        n, bs = self.num_samples, self.batch_size
        total = len(plan.starts)
        end = total if self.steps is None else min(total, plan.offset + self.steps)
        shuffle_within = self.shuffle == "batch" and self.shard is None
        for step in range(plan.first_step, end - plan.offset):
            b = plan.starts[plan.offset + step]
            lo, hi = b * bs, min((b + 1) * bs, n)
            self.global_size = hi - lo
            if self.shard is not None:
                lo, hi, self.padding = self.shard.part(lo, hi)
            if shuffle_within:  # Keras's "batch" shuffle: the samples of each batch, in turn
                idx = (torch.randperm(hi - lo) + lo).to(_device_of(self.x))
                take = lambda t, idx=idx: t[_index_for(t, idx)]  # noqa: E731
            elif plan.order is None:
                pick = slice(lo, hi)
                take = lambda t, pick=pick: t[pick]  # noqa: E731 - a view, no copy
            else:
                idx = plan.order[lo:hi]
                # Indexing keeps channels_last strides; index_select would not.
                take = lambda t, idx=idx: t[_index_for(t, idx)]  # noqa: E731
            yield self._batch(take)
        if keras_stream and end == total:
            # Keras makes the next pass's iterator as soon as a pass has run all its
            # batches; without `steps`, each epoch then makes its own as well.
            _loader_seed_draw()
            self._loader_drawn = self.steps is not None
        if end < total:
            self.carried_plan = EpochPlan(plan.order, plan.starts, offset=end)
        elif self.steps is not None and plan.offset + self.steps > total:
            _warn_ran_out(
                f"after {end - plan.offset} of steps_per_epoch={self.steps} steps "
                f"({total} batches of {bs} in all)"
            )

    def start_over(self) -> None:
        """Makes the next epoch begin a new pass (evaluation always does, as in Keras)."""
        self.carried_plan = None
        self._loader_drawn = False

    def take_build_draws(self) -> None:
        """The draws Keras's first `fit` or `evaluate` after `compile` makes when it reads
        one batch to build the model and the compiled losses and metrics: the iterator's,
        then the first batch's shuffle."""
        if self.shard is not None:
            return
        _loader_seed_draw()
        if self.shuffle == "batch":
            torch.randperm(min(self.batch_size, self.num_samples))
        elif self.shuffle:
            _global_int64()  # the sampler's seed

    def peek(self) -> Batch | None:
        """The first batch of the stored data, drawing no shuffle and moving nothing."""
        return self._batch(lambda t: t[: self.batch_size])

    def _batch(self, take: Callable[[torch.Tensor], torch.Tensor]) -> Batch:
        """The samples `take` picks: inputs as user-layout views, targets, weights."""
        x = _tree.map_structure(lambda t: _user_view(take(t)), self.x)
        y = None if self.y is None else _tree.map_structure(take, self.y)
        sw = None if self.sample_weight is None else _tree.map_structure(take, self.sample_weight)
        return x, y, sw

    def _draw_plan(self) -> EpochPlan:
        """This epoch's sample order and batch order (drawn from torch's generator)."""
        n, bs = self.num_samples, self.batch_size
        batches = math.ceil(n / bs)
        if self.shuffle == "batch" and self.shard is not None:
            # Shuffled in batch-sized chunks: the batch order, shared by all processes.
            starts = torch.randperm(batches, generator=self._shared()).tolist()
            return EpochPlan(None, starts)
        if self.shuffle and self.shuffle != "batch":
            # As torch's RandomSampler draws it in Keras's loader: a seed from the global
            # generator, then a permutation from a generator seeded with it.
            generator = self._shared() or torch.Generator().manual_seed(_global_int64())
            order = torch.randperm(n, generator=generator).to(_device_of(self.x))
            return EpochPlan(order, list(range(batches)))
        return EpochPlan(None, list(range(batches)))

    def resume(self, plan: EpochPlan) -> None:
        """Makes the next pass follow `plan` (an interrupted epoch's), from its first step."""
        if plan.order is not None and plan.order.numel() != self.num_samples:
            raise ValueError(
                f"Cannot resume: the interrupted epoch ordered {plan.order.numel()} samples, "
                f"but the data now has {self.num_samples}."
            )
        order = None if plan.order is None else plan.order.to(_device_of(self.x))
        self._resume_plan = EpochPlan(order, list(plan.starts), plan.first_step, plan.offset)

    def _shared(self) -> torch.Generator | None:
        """The generator all processes share, created once so epochs draw new orders."""
        if self.shard is None or self.shard.seed is None:
            return None
        if self._generator is None:
            self._generator = torch.Generator().manual_seed(self.shard.seed)
        return self._generator

    def split(self, validation_split: float) -> tuple[ArrayBatches, ArrayBatches]:
        """Keras's `validation_split`: the last fraction of samples, taken before shuffling."""
        split_at = int(self.num_samples * (1.0 - validation_split))
        if split_at == 0 or split_at == self.num_samples:
            raise ValueError(
                f"validation_split={validation_split} leaves no samples for training or for "
                f"validation with {self.num_samples} samples."
            )
        parts = []
        for pick in (slice(0, split_at), slice(split_at, None)):
            part = object.__new__(ArrayBatches)
            part.__dict__.update(self.__dict__)
            part.x = _tree.map_structure(lambda t, pick=pick: t[pick], self.x)
            part.y = (
                None
                if self.y is None
                else _tree.map_structure(lambda t, pick=pick: t[pick], self.y)
            )
            part.sample_weight = (
                None
                if self.sample_weight is None
                else _tree.map_structure(lambda t, pick=pick: t[pick], self.sample_weight)
            )
            part.num_samples = _num_samples(part.x, "x")
            parts.append(part)
        if self.weighs_classes:  # class weights are for training only, as in Keras
            parts[1].sample_weight, parts[1].weighs_classes = None, False
        return parts[0], parts[1]


def _index_for(t: Any, idx: torch.Tensor) -> Any:
    """`idx` as `t` takes it: NumPy arrays of text take NumPy indices."""
    return idx.cpu().numpy() if isinstance(t, np.ndarray) else idx


def _device_of(structure: Any) -> torch.device:
    for leaf in _tree.flatten(structure):
        if isinstance(leaf, torch.Tensor):
            return leaf.device
    return torch.device("cpu")  # text only: NumPy arrays


class IterableBatches(_ShardState):
    """Batches from an iterable of `(x, y)` / `(x, y, sample_weight)` / `x` items.

    With a `shard`, every process must iterate the same global batches (seed any
    shuffling identically), and each takes its part of each one. A `DataLoader` whose
    sampler is a `DistributedSampler` already yields this process's part: its batches are
    used as they come.

    A one-shot iterator (a Python generator) cannot start over. As Keras does, its first
    two items are read ahead and kept: every new pass (the next epoch once it has run
    out, each validation) yields those two again, then whatever the iterator has left.

    Passes begin where Keras's epoch iterator begins them, each with the draw of the
    DataLoader Keras reads them through (see `_loader_seed_draw`), so that a seeded run
    draws dropout masks and a shuffled DataLoader's orders as Keras does; a `PyDataset`'s
    `on_epoch_begin`/`on_epoch_end` run around each epoch, and `on_epoch_end` again where
    Keras resets its iterator (as fit and each evaluation start).
    """

    def __init__(
        self,
        data: Iterable,
        device: torch.device | str = "cpu",
        float_dtype: torch.dtype = torch.float32,
        steps: int | None = None,
        shard: Shard | None = None,
        class_weight: dict | None = None,
    ) -> None:
        self.data = data
        self.class_weight = class_weight  # applied to each batch's labels
        self.device = torch.device(device)
        self.float_dtype = float_dtype
        self.steps = steps
        self.loader_draws = shard is None  # one process: Keras's stream (see class doc)
        self.shard = None if shard is None or _is_presharded(data) else shard
        self.build_read = False  # the next `peek` reads a batch as Keras's model build does
        self._skip = 0
        self._iterator: Iterator | None = None  # the pass in progress
        self._head: list[Any] = []  # items read ahead of the pass (by `peek`)
        self._seen = 0  # steps the pass has begun (Keras's count, a failed read included)
        self._fresh = False  # the pass was begun by `peek` for the next epoch to use
        self._num_batches = self._data_length()  # Keras's, learnt when a pass runs out
        self._replayed: list[Any] | None = None  # a one-shot iterator's first items
        if isinstance(data, Iterator) and iter(data) is data:
            self._replayed = list(itertools.islice(data, _REPLAYED_ITEMS))

    def __len__(self) -> int:
        if self.steps is not None:
            return self.steps
        length = self._data_length()
        if length is None:
            raise TypeError("unknown length")
        return length

    def known_length(self) -> int | None:
        try:
            return len(self)
        except TypeError:
            return None

    def __iter__(self) -> Iterator[Batch]:
        """One epoch, as Keras's epoch iterator runs it. Without `steps` each epoch is a
        new pass over the data; with `steps` an epoch takes the next `steps` items of the
        pass in progress, and a new pass begins once one has handed out all its items."""
        skip, self._skip = self._skip, 0
        self._hook("on_epoch_begin")
        if skip or self._iterator is None or self.steps is None:
            self._begin_pass()
        count = self.steps or self._num_batches
        step = 0
        while count is None or step < count:
            if self._num_batches and self._seen >= self._num_batches:
                if self.steps is not None:
                    _warn_ran_out(f"after {step} of steps_per_epoch={self.steps} steps")
                break
            self._seen += 1
            item = self._next_item()
            if item is _END:
                if self._num_batches is None:
                    self._num_batches = self._seen
                _warn_ran_out(f"after {step} steps")
                self._iterator = None
                self._hook("on_epoch_end")
                return
            if step >= skip:  # earlier ones were consumed before an interruption
                yield self._batch(item)
            step += 1
        if self._num_batches and self._seen >= self._num_batches:
            if self.loader_draws:
                self._begin_pass(force=True)  # Keras makes the next pass's iterator now
            else:  # a sampler told its epoch later must not have begun its order
                self._iterator = None
        self._hook("on_epoch_end")

    def peek(self) -> Batch | None:
        """A first batch. With `build_read`, as Keras reads one to build the model: from a
        pass of its own, which then ends; otherwise from the next epoch's pass, kept for it
        (a generator is read once)."""
        if self.build_read:
            self.build_read = False
            self._hook("on_epoch_begin")
            self._begin_pass(force=True)
            item = self._next_item()
            self._iterator, self._head = None, []  # `start_over` follows, as in Keras
            return None if item is _END else self._batch(item)
        if not self._fresh:
            self._begin_pass(force=True)
            self._fresh = True
        if not self._head:
            item = next(self._iterator, _END)  # type: ignore[arg-type]
            if item is _END:
                self._iterator, self._fresh = None, False
                return None
            self._head.append(item)
        return self._batch(self._head[0])

    def start_over(self) -> None:
        """Keras's reset of its epoch iterator (evaluation always starts with one, as does
        fit): the next epoch begins a new pass."""
        if not self._fresh:
            self._iterator, self._head = None, []
        self._seen = 0
        self._num_batches = self._data_length()
        self._hook("on_epoch_end")

    def _begin_pass(self, force: bool = False) -> None:
        """Begins a new pass, unless `peek` began one for this epoch."""
        if self._fresh and not force:
            self._fresh = False
            return
        if self.loader_draws and not _is_dataloader(self.data):
            _loader_seed_draw()  # Keras reads the data through a DataLoader it makes
        if self._replayed is None:
            self._iterator = iter(self.data)
        else:
            self._iterator = itertools.chain(self._replayed, self.data)
        self._head, self._seen, self._fresh = [], 0, False

    def _next_item(self) -> Any:
        if self._iterator is None:
            self._begin_pass()
        self._fresh = False
        return self._head.pop(0) if self._head else next(self._iterator, _END)  # type: ignore[arg-type]

    def _hook(self, name: str) -> None:
        """A PyDataset's epoch hook, called where Keras calls it."""
        if isinstance(self.data, EpochsOf):
            getattr(self.data.dataset, name)()

    def _data_length(self) -> int | None:
        try:
            return len(self.data)  # type: ignore[arg-type]
        except TypeError:
            return None

    def _batch(self, item: Any) -> Batch:
        x, y, sw = unpack(item)
        if self.shard is not None:
            x, y, sw = self._local_part(x, y, sw)
        x = _tree.map_structure(lambda v: self._convert(v, "x"), x)
        y = None if y is None else _tree.map_structure(lambda v: self._convert(v, "y"), y)
        if self.class_weight is not None:  # as Keras does for datasets and generators
            sw = class_weights_to_sample_weights(self.class_weight, y, sw)
        sw = None if sw is None else self._convert(sw, "sample_weight")
        return x, y, sw

    def resume(self, first_step: int) -> None:
        """Makes the next pass start at `first_step`, drawing and dropping earlier batches.

        Exact when the iterable yields the same batches for the same epoch (a seeded
        order per epoch), since the batches before `first_step` are read again.
        """
        self._skip = first_step

    def set_epoch(self, epoch: int) -> None:
        """Tells a `DistributedSampler` the epoch, so that each epoch has its own order."""
        for sampler in _samplers(self.data):
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
                if self._fresh:  # a pass begun by `peek` drew its order too early
                    self._iterator, self._head, self._fresh = None, [], False

    def _local_part(self, x: Any, y: Any, sw: Any) -> Batch:
        size = int(np.shape(_tree.flatten(x)[0])[0])
        lo, hi, self.padding = self.shard.part(0, size)  # type: ignore[union-attr]
        self.global_size = size

        def take(structure: Any) -> Any:
            return None if structure is None else _tree.map_structure(lambda v: v[lo:hi], structure)

        return take(x), take(y), take(sw)

    def _convert(self, value: Any, name: str) -> torch.Tensor:
        return _to_tensor(value, name, self.device, self.float_dtype)


def _warn_ran_out(where: str) -> None:
    """Keras's warning when an epoch's data runs out (its text first, so that filters
    written for Keras's match), and where it ran out; the next epoch starts a new pass."""
    warnings.warn(
        "Your input ran out of data; interrupting training. Make sure that your dataset or "
        "generator can generate at least `steps_per_epoch * epochs` batches. You may need "
        "to use the `.repeat()` function when building your dataset. (It ran out "
        f"{where} in this epoch; the next epoch starts a new pass.)",
        stacklevel=3,
    )


def _is_dataloader(data: Any) -> bool:
    from torch.utils.data import DataLoader

    return isinstance(data, DataLoader)


def _samplers(data: Any) -> list[Any]:
    from torch.utils.data import DataLoader

    if not isinstance(data, DataLoader):
        return []
    return [s for s in (data.sampler, getattr(data.batch_sampler, "sampler", None)) if s]


def _is_presharded(data: Any) -> bool:
    """A DataLoader drawing from a `DistributedSampler` yields only this process's part."""
    from torch.utils.data import DistributedSampler

    return any(isinstance(s, DistributedSampler) for s in _samplers(data))


def pack(x: Any, y: Any = None, sample_weight: Any = None) -> Any:
    """What a step receives, as in Keras: `x` alone (or `(x,)` when `x` is a list or
    tuple), `(x, y)`, or `(x, y, sample_weight)`; `unpack` undoes it."""
    if y is None:
        return (x,) if isinstance(x, list | tuple) else x
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def unpack(item: Any) -> Batch:
    """Keras's `unpack_x_y_sample_weight`: lists count as tuples."""
    if isinstance(item, list):
        item = tuple(item)
    if not isinstance(item, tuple):
        return item, None, None
    if len(item) in (1, 2, 3):
        return (*item, None, None)[:3]  # type: ignore[return-value]
    raise ValueError(
        "Each batch must be x, (x,), (x, y) or (x, y, sample_weight); received a tuple "
        f"of {len(item)} items."
    )


def make_batches(
    x: Any,
    y: Any = None,
    sample_weight: Any = None,
    batch_size: int | None = None,
    shuffle: bool | str = False,
    device: torch.device | str = "cpu",
    steps: int | None = None,
    shard: Shard | None = None,
    class_weight: dict | None = None,
    loader_draws: bool = True,
) -> ArrayBatches | IterableBatches:
    """Chooses the adapter for `x`: arrays in memory, or an iterable of batches.

    `shard` (in a data-parallel job) makes every batch this process's part of a global one.
    `loader_draws=False` (the `*_on_batch` calls, which Keras runs without a DataLoader)
    takes none of the draws Keras's loader makes (see `_loader_seed_draw`).
    """
    batches = _adapter(x, y, sample_weight, batch_size, shuffle, device, steps, shard,
                       class_weight)  # fmt: skip
    batches.loader_draws = batches.loader_draws and loader_draws
    return batches


def _adapter(
    x: Any, y: Any, sample_weight: Any, batch_size: int | None, shuffle: bool | str,
    device: torch.device | str, steps: int | None, shard: Shard | None, class_weight: Any,
) -> ArrayBatches | IterableBatches:  # fmt: skip
    if x is None:
        raise ValueError("`x` is required; received x=None.")
    _check_steps(steps)
    steps = capped_steps(steps)
    text = _text_from_lists(x)
    if text is not None:  # `predict([["some text"], ...])` for a model of text
        x = text
    if is_array_structure(x):
        return ArrayBatches(
            x, y, sample_weight, batch_size, shuffle, device, steps=steps, shard=shard,
            class_weight=class_weight,
        )  # fmt: skip
    if isinstance(x, list | tuple | dict) and not _is_batch_source(x):
        leaf = next(v for v in _tree.flatten(x) if not _is_array(v)) if _tree.flatten(x) else None
        raise ValueError(
            "`x` must be a NumPy array, a torch tensor, a list/dict of them, or an iterable "
            f"of batches; received a {type(x).__name__} holding "
            f"{type(leaf).__name__ if leaf is not None else 'nothing'} values. Convert nested "
            "Python lists with np.asarray(x) first."
        )
    if y is not None or sample_weight is not None:
        raise ValueError(
            "When `x` is a dataset, generator or DataLoader it must yield the targets itself; "
            f"do not pass `y` or `sample_weight` (received y of type {type(y).__name__})."
        )
    if shuffle:
        _warn_shuffle_ignored(x)
    if isinstance(x, PyDataset):
        x = EpochsOf(x, shuffle)
    if isinstance(x, Iterable):
        return IterableBatches(x, device, steps=steps, shard=shard, class_weight=class_weight)
    raise ValueError(
        "`x` must be a NumPy array, a torch tensor, a list/dict of them, or an iterable of "
        f"batches; received {type(x).__name__}."
    )


def _warn_shuffle_ignored(x: Any) -> None:
    """Keras's warning that `shuffle=True` (fit's default) leaves `x`'s own order as is."""
    from convolve.data.pipeline import Dataset

    if isinstance(x, PyDataset):
        if x.num_batches is None:
            _warn_ignored(
                "an infinite PyDataset. The PyDataset is expected to already be shuffled."
            )
    elif isinstance(x, Dataset) or _is_tf_dataset(x):
        _warn_ignored(
            "a tf.data.Dataset. The Dataset is expected to already be shuffled (via "
            "`.shuffle(buffer_size)`)."
        )
    elif _is_dataloader(x):
        _warn_ignored("a torch DataLoader. The DataLoader is expected to already be shuffled.")
    elif isinstance(x, types.GeneratorType):
        _warn_ignored("a generator. The generator is expected to yield already-shuffled data.")


def _warn_ignored(what: str) -> None:
    warnings.warn(
        f"`shuffle=True` was passed, but will be ignored since the data `x` was provided as {what}",
        stacklevel=5,
    )


def _is_tf_dataset(x: Any) -> bool:
    return any(
        c.__name__ == "DatasetV2" and c.__module__.startswith("tensorflow.python.")
        for c in type(x).__mro__
    )


def _is_batch_source(x: Any) -> bool:
    """A list or tuple whose items are batches (tuples of arrays), not numbers."""
    return (
        isinstance(x, list | tuple)
        and bool(x)
        and all(isinstance(item, tuple | list) and is_array_structure(item) for item in x)
    )


def _check_steps(steps: Any) -> None:
    if steps is not None and (
        isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1
    ):
        raise ValueError(
            "The number of steps (`steps_per_epoch`, `validation_steps` or `steps`) must "
            f"be a positive integer or None; received {steps!r}"
        )


def capped_steps(steps: int | None) -> int | None:
    """`steps` within `convolve.config.max_steps_per_epoch()`, warning when cut, as Keras."""
    cap = config.max_steps_per_epoch()
    if cap is None or (steps is not None and steps <= cap):
        return steps
    warnings.warn(f"Limiting steps_per_epoch to {cap}", stacklevel=3)
    return cap


def class_weights_to_sample_weights(class_weight: dict, y: Any, sample_weight: Any) -> np.ndarray:
    """Keras's rule: each sample weighs its class's weight (1.0 for classes not listed)."""
    if sample_weight is not None:
        raise ValueError(
            "You cannot pass both `class_weight` and `sample_weight` to fit() (for a dataset "
            "or generator: batches of (x, y, sample_weight))."
        )
    if y is None or not is_array_structure(y) or len(_tree.flatten(y)) != 1:
        raise ValueError(
            "`class_weight` needs one array of labels: `y`, or the second element of each "
            "batch of a dataset or generator; for several outputs, pass sample weights "
            f"instead (received y of type {type(y).__name__})."
        )
    if not isinstance(class_weight, dict) or not class_weight:
        raise ValueError(
            "`class_weight` must be a non-empty dict mapping class indices to weights; "
            f"received {class_weight!r:.100}"
        )
    for cls, weight in class_weight.items():
        # A whole float (1.0) names the class as the int does, as in Keras's lookup.
        whole = isinstance(cls, int | np.integer) or (
            isinstance(cls, float | np.floating) and float(cls).is_integer()
        )
        if isinstance(cls, bool) or not whole or cls < 0:
            raise ValueError(
                f"`class_weight` keys must be class indices (integers >= 0); received key {cls!r}"
            )
        if isinstance(weight, bool) or not isinstance(weight, int | float | np.number):
            raise ValueError(f"`class_weight[{cls}]` must be a number; received {weight!r:.50}")
    if isinstance(y, torch.Tensor):  # NumPy has no bfloat16: read floats as float64
        y = y.detach().cpu()
        y = y.to(torch.float64) if y.is_floating_point() else y
    labels = np.asarray(y)
    if labels.dtype.kind not in "biuf" or labels.size == 0 or not np.isfinite(labels).all():
        raise ValueError(
            "`class_weight` needs finite numeric labels in `y`; received y with dtype "
            f"{labels.dtype} and shape {labels.shape}."
        )
    if labels.ndim > 1:
        labels = labels.argmax(axis=-1) if labels.shape[-1] != 1 else labels.squeeze(-1)
    if labels.size and (labels.min() < 0 or labels.max() >= 2**31):
        raise ValueError(
            "`class_weight` needs class labels >= 0 in `y`; received labels from "
            f"{labels.min()} to {labels.max()}."
        )
    labels = np.round(labels).astype(np.int64)
    lookup = np.ones(max(int(labels.max(initial=0)), *map(int, class_weight)) + 1, np.float32)
    for cls, weight in class_weight.items():
        lookup[int(cls)] = weight
    return lookup[labels]
