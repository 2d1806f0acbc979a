"""`timeseries_dataset_from_array`: sliding windows over an array, as a `Dataset`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from convolve.data.data_tensor import from_array, plain
from convolve.data.pipeline import Dataset

_NAME = "timeseries_dataset_from_array"


def _as_tensor(name: str, value: Any) -> torch.Tensor:
    """`value` as a torch tensor with the dtype tf.data would give it (Python lists of
    numbers become int32/float32, as TensorFlow converts them; arrays keep their dtype)."""
    if isinstance(value, torch.Tensor):
        return plain(value)
    was_list = isinstance(value, list | tuple)
    array = np.asarray(value)
    if array.ndim == 0:
        raise ValueError(
            f"{_NAME}: `{name}` must be an array with time along its first axis; received a "
            f"scalar {name}={value!r:.80}"
        )
    if array.dtype.kind not in "biufc":
        raise ValueError(
            f"{_NAME}: `{name}` must hold numbers (or booleans); received an array of dtype "
            f"{array.dtype}"
        )
    if was_list and array.dtype == np.float64:
        array = array.astype(np.float32)
    elif was_list and array.dtype == np.int64 and np.abs(array).max(initial=0) < 2**31:
        array = array.astype(np.int32)
    return from_array(array)


def _check_int(name: str, value: Any, minimum: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(
            f"{_NAME}: `{name}` must be {what}{' or None' if allow_none else ''}. Received: "
            f"{name}={value!r}"
        )


class TimeseriesDataset(Dataset):
    """The windows of `timeseries_dataset_from_array`, gathered a whole batch at a time.

    Each pass yields `(windows, targets)` batches of torch tensors (or `windows` alone
    without targets): `windows[b]` is `data[start + p, start + p + rate, ...]` for the
    window starting at `p`. With shuffling, the window order is permuted once (NumPy's
    `RandomState(seed)`, as Keras does) and then shuffled again at every pass through a
    buffer of `8 * batch_size` windows (1024 without batching), as `tf.data` does.
    """

    def __init__(
        self,
        data: torch.Tensor,
        targets: torch.Tensor | None,
        positions: np.ndarray,
        sequence_length: int,
        sampling_rate: int,
        batch_size: int | None,
        shuffle_buffer: int,
        seed: int,
    ) -> None:
        super().__init__()
        self._data = data
        self._targets = targets
        self._positions = torch.from_numpy(positions.astype(np.int64))
        self._offsets = torch.arange(sequence_length, dtype=torch.int64) * sampling_rate
        self._batch_size = batch_size
        self._shuffle_buffer = shuffle_buffer
        self._seed = seed
        self._epoch = 0

    def cardinality(self) -> int:
        n = len(self._positions)
        return n if self._batch_size is None else -(-n // self._batch_size)

    def _order(self) -> torch.Tensor:
        """The window start positions for this pass."""
        if not self._shuffle_buffer:
            return self._positions
        rng = np.random.default_rng([self._seed, self._epoch])
        self._epoch += 1
        source = self._positions.tolist()
        draws = rng.random(len(source)).tolist()  # one uniform draw per output, in bulk
        size = self._shuffle_buffer
        buffer, source = source[:size], source[size:]
        order: list[int] = []
        for p, u in zip(source, draws, strict=False):  # a buffer shuffle, as tf.data's
            i = int(u * size)
            order.append(buffer[i])
            buffer[i] = p
        for u in draws[len(source) :]:
            i = int(u * len(buffer))
            buffer[i], buffer[-1] = buffer[-1], buffer[i]
            order.append(buffer.pop())
        return torch.tensor(order, dtype=torch.int64)

    def _element(self, starts: torch.Tensor) -> Any:
        windows = self._data[starts[..., None] + self._offsets]
        if self._targets is None:
            return windows
        return windows, self._targets[starts]

    def _iterate(self) -> Iterator[Any]:
        order = self._order()
        if self._batch_size is None:
            for p in order:
                yield self._element(p)
            return
        for i in range(0, len(order), self._batch_size):
            yield self._element(order[i : i + self._batch_size])


def timeseries_dataset_from_array(
    data: Any,
    targets: Any,
    sequence_length: int,
    sequence_stride: int = 1,
    sampling_rate: int = 1,
    batch_size: int | None = 128,
    shuffle: bool = False,
    seed: int | None = None,
    start_index: int | None = None,
    end_index: int | None = None,
    format: str = "tf",
) -> TimeseriesDataset:
    """A dataset of sliding windows over a timeseries, as Keras's function of this name.

    Window `k` starts at `p = k * sequence_stride` (counted from `start_index`) and holds
    the timesteps `p, p + sampling_rate, ..., p + (sequence_length - 1) * sampling_rate`
    of `data[start_index:end_index]`; its target is `targets[start_index:end_index][p]`.
    Windows that would run past `end_index` (or past the end of `targets`) are dropped.

    Args:
        data: An array or tensor with time along axis 0. Arrays keep their dtype.
        targets: The target for the window starting at each timestep, or None to yield
            the windows alone.
        sequence_length: Timesteps per window.
        sequence_stride: Timesteps between the starts of consecutive windows.
        sampling_rate: Timesteps between consecutive steps inside a window.
        batch_size: Windows per batch (the last may be smaller), or None for single
            windows.
        shuffle: Whether to shuffle the windows (instead of chronological order).
        seed: Seed for the shuffle.
        start_index: Timesteps before it are not used (default 0).
        end_index: Timesteps from it on are not used (default: all).
        format: `"tf"`: the dataset type of this library, the counterpart of the
            `tf.data.Dataset` Keras returns (`"grain"` is not supported).

    Returns:
        A `convolve.data.Dataset` (with `map`, `take`, `batch`, ...) that `fit` accepts,
        yielding `(windows, targets)` torch tensors, or `windows` when `targets` is None.

    Example:
        >>> import numpy as np
        >>> ds = timeseries_dataset_from_array(
        ...     np.arange(10), np.arange(10) * 10, sequence_length=3, batch_size=4)
        >>> x, y = next(iter(ds))
        >>> x.tolist(), y.tolist()
        ([[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]], [0, 10, 20, 30])
    """
    if format == "grain":
        raise NotImplementedError(
            f'{_NAME}: format="grain" is not supported; use format="tf" (the default), '
            "which returns this library's dataset type. Received: format='grain'"
        )
    if format != "tf":
        raise ValueError(
            f'{_NAME}: `format` should be either "tf" or "grain". Received: format={format!r}'
        )
    data = _as_tensor("data", data)
    n_data = len(data)
    _check_int("sequence_length", sequence_length, 1)
    _check_int("start_index", start_index, 0, allow_none=True)
    _check_int("end_index", end_index, 1, allow_none=True)
    if start_index and start_index >= n_data:
        raise ValueError(
            f"{_NAME}: `start_index` must be lower than the length of the data. Received: "
            f"start_index={start_index}, for data of length {n_data}"
        )
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(
                f"{_NAME}: `end_index` must be higher than `start_index`. Received: "
                f"start_index={start_index}, and end_index={end_index}"
            )
        if end_index >= n_data:
            raise ValueError(
                f"{_NAME}: `end_index` must be lower than the length of the data. Received: "
                f"end_index={end_index}, for data of length {n_data}"
            )
    for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        _check_int(name, value, 1)
        if value >= n_data:
            raise ValueError(
                f"{_NAME}: `{name}` must be lower than the length of the data. Received: "
                f"{name}={value}, for data of length {n_data}"
            )
    _check_int("batch_size", batch_size, 1, allow_none=True)
    _check_int("seed", seed, 0, allow_none=True)
    if not isinstance(shuffle, bool | np.bool_):
        raise ValueError(f"{_NAME}: `shuffle` must be True or False. Received: shuffle={shuffle!r}")

    start = int(start_index or 0)
    end = n_data if end_index is None else int(end_index)
    num_windows = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = _as_tensor("targets", targets)
        num_windows = min(num_windows, len(targets))
    positions = np.arange(0, num_windows, sequence_stride, dtype=np.int64)
    if targets is not None:
        targets = targets[start:end]
        if len(positions) and positions[-1] >= len(targets):
            raise ValueError(
                f"{_NAME}: `targets` is too short: the window starting at timestep "
                f"{start + int(positions[-1])} has no target (targets has length "
                f"{len(targets) + start}, start_index={start_index})"
            )
    if seed is None and shuffle:
        seed = int(np.random.randint(1e6))  # as Keras draws it: `set_random_seed` fixes it
    if shuffle:
        np.random.RandomState(seed).shuffle(positions)
    return TimeseriesDataset(
        data[start:end],
        targets,
        positions,
        int(sequence_length),
        int(sampling_rate),
        None if batch_size is None else int(batch_size),
        0 if not shuffle else (1024 if batch_size is None else 8 * int(batch_size)),
        0 if seed is None else int(seed),
    )


__all__ = ["TimeseriesDataset", "timeseries_dataset_from_array"]
