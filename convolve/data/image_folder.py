"""The dataset behind `image_dataset_from_directory`: parallel decoding into torch batches.

Files are decoded in worker processes (a torch `DataLoader` over whole batches, with
persistent workers and prefetching), so decoding overlaps whatever the main process does
with the batches. Each worker decodes with two threads: Pillow and torch release the GIL
for the pixel work, so one image's Python bookkeeping overlaps another's decoding.

Workers write each batch into one of a few shared-memory buffers made before they start
and send back only the buffer's number, which files were kept and which failed; the main
process converts the buffer to a fresh float32 tensor in one pass. Sending the pixels
themselves through torch's queues costs a new shared-memory segment (and its page faults)
per batch, which on small machines costs as much CPU as decoding.

Images are yielded with Keras's shape, `(batch, height, width, channels)`, in contiguous
memory: that is the channels_last memory format a model keeps images in, so a model takes a
batch without converting it, and it is the layout torch's resize returns, so each image is
written into its batch by a straight copy.

A file that cannot be decoded is dropped from its batch, so that batch is smaller than
`batch_size`; a batch whose files all fail is left out, so a pass can have fewer batches
than `len(dataset)`.
"""

from __future__ import annotations

import gc
import math
import os
import sys
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler
from torch.utils.data import Dataset as TorchDataset

from convolve.data.decode import (
    BadImageError,
    BadImageWarning,
    DecodeSpec,
    decode_image,
    image_error,
    output_dtype,
)
from convolve.data.pipeline import Dataset

_DECODE_CHUNK = 32  # files per worker task when the dataset yields single images
_THREADS_PER_WORKER = 2
_WORKER_THREADS: ThreadPoolExecutor | None = None  # created inside each worker process
_PREFETCH_FACTOR = 2  # batches in flight per worker
_MAX_RING_BYTES = 512 * 2**20  # above this the buffers are not preallocated


def default_num_workers() -> int:
    """Worker processes used when `num_workers=None`: the usable CPU cores, at most 8.

    One per core keeps every core decoding while the main process waits; more would only
    compete with each other and with the training step.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not available on macOS or Windows
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))


class _BatchPool:
    """Float32 batch arrays, reused once nothing outside the pool refers to them.

    A fresh 10 MB array costs thousands of page faults, as much CPU as decoding a few
    images; a training loop drops each batch before asking for the next, so reusing those
    arrays removes the faults. A handed-out batch is referenced by its torch storage (and
    through it by every view, tensor or NumPy), so an array whose only reference is the pool
    is provably unused.
    """

    def __init__(self, capacity: int = 8) -> None:
        self._arrays: list[np.ndarray] = []
        self._capacity = capacity
        # What getrefcount reports for an array held by nothing but a list, measured the
        # same way `take` measures (the count's details vary across Python versions).
        probe = [np.empty(0)]
        self._idle = sys.getrefcount(probe[0]) if hasattr(sys, "getrefcount") else None

    def __getstate__(self) -> dict:  # workers get an empty pool of their own
        return {"_arrays": [], "_capacity": self._capacity, "_idle": self._idle}

    def take(self, shape: tuple[int, ...]) -> torch.Tensor:
        arrays = self._arrays
        if self._idle is not None:
            for i in range(len(arrays)):
                if arrays[i].shape == shape and sys.getrefcount(arrays[i]) == self._idle:
                    return torch.from_numpy(arrays[i])
        array = np.empty(shape, dtype=np.float32)
        if len(arrays) >= self._capacity:
            arrays.pop(0)
        arrays.append(array)
        return torch.from_numpy(array)


Task = tuple[int | None, list[int]]  # (shared buffer number or None, positions to decode)


class _BatchDecoder(TorchDataset):
    """Map-style dataset whose items are whole batches: `(slot, positions)` in.

    With a slot, the pixels go into `ring[slot]` and `(slot, kept, errors)` comes back;
    without one, a new float32 tensor comes back in place of the slot.
    """

    def __init__(self, paths: list[str], spec: DecodeSpec, ring: torch.Tensor | None) -> None:
        # A NumPy string array is one object, so forked workers do not touch (and copy) one
        # reference count per path.
        self.paths = np.asarray(paths, dtype=str)
        self.spec = spec
        self.ring = ring
        self.pool = _BatchPool()

    def __len__(self) -> int:
        return len(self.paths)

    def _decode_into(self, index: int, path: str, out: np.ndarray) -> tuple[str, str] | None:
        try:
            # Batches are stored (height, width, channels), as decoding returns them, so
            # the resize writes straight into the batch (a transposing copy would cost a
            # tenth of a resize); the paths that cannot, return an array to copy.
            slot = out[index]
            image = decode_image(path, self.spec, slot)
            if image is not slot:
                slot[...] = image
        except BadImageError as e:
            return path, e.reason
        return None

    def _decode_range(self, start: int, paths: list[str], out: np.ndarray) -> list:
        return [self._decode_into(start + i, p, out) for i, p in enumerate(paths)]

    def _decode_all(self, paths: list[str], out: np.ndarray) -> list[tuple[str, str] | None]:
        if torch.utils.data.get_worker_info() is None or len(paths) < 2:
            return self._decode_range(0, paths, out)
        # In a worker, two threads, each on half of the batch: Pillow and torch release the
        # GIL while they decode and resize, so one thread's Python bookkeeping overlaps the
        # other's pixel work.
        global _WORKER_THREADS
        if _WORKER_THREADS is None:
            _WORKER_THREADS = ThreadPoolExecutor(_THREADS_PER_WORKER)
        step = -(-len(paths) // _THREADS_PER_WORKER)
        starts = range(0, len(paths), step)
        parts = _WORKER_THREADS.map(
            self._decode_range, starts, [paths[i : i + step] for i in starts], [out] * len(starts)
        )
        return [result for part in parts for result in part]

    def __getitem__(self, task: Task) -> tuple[Any, list[int], list]:
        slot, positions = task
        assert self.spec.image_size is not None
        h, w = self.spec.image_size
        if slot is None:
            images = self.pool.take((len(positions), h, w, self.spec.num_channels))
        else:
            images = self.ring[slot]
        out = images.numpy()
        paths = [str(self.paths[p]) for p in positions]
        results = self._decode_all(paths, out)
        good = [i for i, error in enumerate(results) if error is None]
        if len(good) < len(positions):  # close the gaps left by skipped files
            out[: len(good)] = out[good]
        kept = [positions[i] for i in good]
        errors = [error for error in results if error is not None]
        result = slot if slot is not None else images[: len(kept)]
        # Plain lists: a tensor here would cost a shared-memory segment per batch.
        return result, kept, errors


class _EpochBatches(Sampler):
    """Yields `(slot, positions)` per batch; a new seeded permutation every epoch.

    Slots go round the ring in order. The loader has at most `in_flight` batches
    dispatched beyond the one being handed out, so a ring of `in_flight + 2` slots is never
    written while its previous batch is still being read.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, slots: int) -> None:
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.slots = slots
        self.epoch = 0
        self._counter = 0

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[Task]:
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        else:
            order = np.arange(self.n)
        for start in range(0, self.n, self.batch_size):
            slot = None
            if self.slots:
                slot = self._counter % self.slots
                self._counter += 1
            yield slot, order[start : start + self.batch_size].tolist()


def _identity(item: Any) -> Any:
    return item


def _init_worker(worker_id: int) -> None:
    # A worker inherits every object the parent had (all of torch's modules); freezing them
    # keeps the collector, which image decoding's many small objects trigger often, from
    # walking them again and again.
    gc.freeze()


def _label_table(labels: np.ndarray, label_mode: str, num_classes: int) -> torch.Tensor:
    if label_mode == "int":
        return torch.from_numpy(labels.astype(np.int32))
    if label_mode == "binary":
        return torch.from_numpy(labels.astype(np.float32)[:, None])
    # One-hot; like tf.one_hot, a label outside [0, num_classes) gives a row of zeros.
    table = np.zeros((len(labels), num_classes), dtype=np.float32)
    valid = (labels >= 0) & (labels < num_classes)
    table[np.nonzero(valid)[0], labels[valid]] = 1.0
    return torch.from_numpy(table)


class ImageFolderDataset(Dataset):
    """Batches of `(images, labels)` decoded from files; see `image_dataset_from_directory`."""

    def __init__(
        self,
        paths: list[str],
        labels: np.ndarray | None,
        label_mode: str | None,
        num_classes: int,
        spec: DecodeSpec,
        batch_size: int | None,
        shuffle: bool,
        seed: int,
        data_format: str,
        num_workers: int,
        on_error: str,
        class_names: list[str] | None,
    ) -> None:
        super().__init__()
        self._meta.update(class_names=class_names, file_paths=list(paths), skipped_files={})
        chunk = batch_size or _DECODE_CHUNK
        assert spec.image_size is not None
        slots = num_workers * _PREFETCH_FACTOR + 2 if num_workers else 0
        shape = (chunk, *spec.image_size, spec.num_channels)
        dtype = output_dtype(spec.interpolation)
        if slots * math.prod(shape) * dtype.itemsize > _MAX_RING_BYTES:
            slots = 0
        # The shared buffers are made when the workers are, at the first pass.
        self._ring_shape = (slots, *shape)
        self._ring_dtype = torch.from_numpy(np.empty(0, dtype)).dtype
        self._ring: torch.Tensor | None = None
        self._decoder = _BatchDecoder(paths, spec, None)
        self._batches = _EpochBatches(len(paths), chunk, shuffle, seed, slots)
        self._batch_size = batch_size
        self._labels = None
        if label_mode is not None and labels is not None:
            self._labels = _label_table(np.asarray(labels), label_mode, num_classes)
        self._channels_first = data_format == "channels_first"
        self._num_workers = num_workers
        self._on_error = on_error
        self._loader: DataLoader | None = None

    @property
    def num_workers(self) -> int:
        """Worker processes decoding files (0: decoded in the iterating process)."""
        return self._num_workers

    def cardinality(self) -> int:
        if self._batch_size is None:
            return len(self._decoder)
        return len(self._batches)

    def _raw_batches(self) -> Iterator[tuple[Any, list[int], list]]:
        if self._num_workers == 0:
            for task in self._batches:
                yield self._decoder[task]
            return
        if self._loader is None:
            if self._ring_shape[0]:
                ring = torch.empty(self._ring_shape, dtype=self._ring_dtype).share_memory_()
                self._ring = self._decoder.ring = ring
            self._loader = DataLoader(
                self._decoder,
                batch_size=None,
                sampler=self._batches,
                num_workers=self._num_workers,
                collate_fn=_identity,
                persistent_workers=True,
                prefetch_factor=_PREFETCH_FACTOR,
                # Its own generator: decoding draws nothing, and with one the loader leaves
                # torch's global generator (dropout, augmentation) as it would be without
                # workers.
                generator=torch.Generator().manual_seed(0),
                worker_init_fn=_init_worker,
            )
        yield from self._loader

    def _take_images(self, images: Any, count: int) -> torch.Tensor:
        """The batch as a `(batch, height, width, channels)` float32 tensor the caller owns.

        `images` is either that tensor already (decoded in this process) or the number of
        the shared slot a worker decoded into, which is copied out here.
        """
        if isinstance(images, torch.Tensor):
            return images
        assert self._ring is not None
        source = self._ring[images, :count].numpy()
        x = self._decoder.pool.take(source.shape)
        # NumPy converts in one single-threaded pass, leaving the cores to the workers.
        np.copyto(x.numpy(), source, casting="unsafe")
        return x

    def _report(self, errors: list[tuple[str, str]]) -> None:
        skipped = self.skipped_files
        for path, reason in errors:
            if self._on_error == "raise":
                raise image_error(path, reason)
            if path not in skipped:
                skipped[path] = reason
                warnings.warn(
                    f"Skipping image file {path!r}: {reason}", BadImageWarning, stacklevel=3
                )

    def _iterate(self) -> Iterator[Any]:
        self._batches.epoch += 1
        loaded = failed = 0
        for images, positions, errors in self._raw_batches():
            if errors:
                failed += len(errors)
                self._report(errors)
            if len(positions) == 0:
                continue
            loaded += len(positions)
            x = self._take_images(images, len(positions))
            if self._channels_first:
                x = x.permute(0, 3, 1, 2)  # a view: channels_last memory format
            y = None if self._labels is None else self._labels[torch.tensor(positions)]
            if self._batch_size is not None:
                yield x if y is None else (x, y)
            elif y is None:
                yield from x
            else:
                yield from zip(x, y, strict=True)
        if failed and not loaded:
            # Skipping is for the odd bad file; a folder where nothing loads is an error.
            path, reason = next(iter(self.skipped_files.items()))
            raise ValueError(
                f"None of the {failed} image files could be loaded; the first was {path!r}: "
                f"{reason}. See `skipped_files` for all of them."
            )
