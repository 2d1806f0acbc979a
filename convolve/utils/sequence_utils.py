"""`pad_sequences`: ragged sequences as one padded NumPy array, as in `keras.utils`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_SIDES = ("pre", "post")


def _is_string_dtype(dtype: Any) -> bool:
    try:
        return np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    except TypeError:
        return False


def _check_arguments(maxlen: Any, dtype: Any, padding: Any, truncating: Any, value: Any) -> None:
    if maxlen is not None and (
        isinstance(maxlen, bool) or not isinstance(maxlen, int | np.integer) or maxlen < 0
    ):
        raise ValueError(
            f"pad_sequences: `maxlen` must be a non-negative integer or None. Received: "
            f"maxlen={maxlen!r}"
        )
    if padding not in _SIDES:
        raise ValueError(
            f'pad_sequences: Padding type "{padding}" not understood; `padding` must be '
            f'"pre" or "post". Received: padding={padding!r}'
        )
    if truncating not in _SIDES:
        raise ValueError(
            f'pad_sequences: Truncating type "{truncating}" not understood; `truncating` must '
            f'be "pre" or "post". Received: truncating={truncating!r}'
        )
    try:
        np.dtype(dtype)
    except TypeError as e:
        raise ValueError(
            f"pad_sequences: `dtype` must be a NumPy dtype or its name. Received: dtype={dtype!r}"
        ) from e
    if isinstance(value, str) and dtype is not object and not _is_string_dtype(dtype):
        raise ValueError(
            f"pad_sequences: `dtype` {dtype} is not compatible with `value`'s type: "
            f"{type(value)}\nYou should set `dtype=object` for variable length strings. "
            f"Received: dtype={dtype!r}, value={value!r}"
        )


def pad_sequences(
    sequences: Sequence[Any],
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Any = 0.0,
) -> np.ndarray:
    """Pads (and truncates) sequences to one length, as `keras.utils.pad_sequences`.

    The result has shape `(len(sequences), maxlen) + sample_shape`, where `maxlen` is the
    argument or else the longest sequence's length, and `sample_shape` is the shape of the
    elements of the first non-empty sequence (`()` for sequences of numbers). Shorter
    sequences are filled with `value`; longer ones lose values from the start
    (`truncating="pre"`) or the end (`"post"`).

    Args:
        sequences: A list (or anything with a length) of sequences: lists, tuples or arrays.
        maxlen: Length of the output sequences; None for the longest sequence's length.
        dtype: Output dtype (default `"int32"`); `object` or a string dtype for strings.
        padding: `"pre"` or `"post"`: pad before or after each sequence.
        truncating: `"pre"` or `"post"`: drop values at the start or the end of sequences
            longer than `maxlen`.
        value: The padding value (a number, or a string with a string/object `dtype`).

    Returns:
        A NumPy array of `dtype`.

    Raises:
        ValueError: For a bad argument, a non-iterable sequence, or elements whose shape
            differs from the first non-empty sequence's; the message names the value.

    Example:
        >>> pad_sequences([[1], [2, 3], [4, 5, 6]])
        array([[0, 0, 1],
               [0, 2, 3],
               [4, 5, 6]], dtype=int32)
        >>> pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2, padding="post", value=-1)
        array([[ 1, -1],
               [ 2,  3],
               [ 5,  6]], dtype=int32)
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError(
            "pad_sequences: `sequences` must be iterable (a list of sequences). Received: "
            f"sequences of type {type(sequences).__name__}"
        )
    _check_arguments(maxlen, dtype, padding, truncating, value)
    lengths = []
    sample_shape: tuple[int, ...] | None = None
    for position, seq in enumerate(sequences):
        try:
            length = len(seq)
        except TypeError as e:
            raise ValueError(
                "pad_sequences: `sequences` must be a list of iterables. Found non-iterable: "
                f"{seq!r:.80} at position {position}"
            ) from e
        lengths.append(length)
        if sample_shape is None and length:
            sample_shape = np.asarray(seq).shape[1:]
    if maxlen is None:
        if not lengths:
            raise ValueError(
                "pad_sequences: `sequences` is empty, so there is no longest sequence to pad "
                "to; pass `maxlen`. Received: sequences=[] and maxlen=None"
            )
        maxlen = max(lengths)
    maxlen = int(maxlen)
    sample_shape = sample_shape or ()
    out = np.full((len(lengths), maxlen, *sample_shape), value, dtype=dtype)
    if maxlen == 0:
        return out
    for position, (seq, length) in enumerate(zip(sequences, lengths, strict=True)):
        if not length:
            continue
        kept = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        kept = np.asarray(kept, dtype=dtype)
        if kept.ndim == 0:
            raise ValueError(
                "pad_sequences: each sequence must be a list or array of values; the one at "
                f"position {position} is a single value {seq!r:.80} (a string is not split "
                "into characters)"
            )
        if kept.shape[1:] != sample_shape:
            raise ValueError(
                f"pad_sequences: Shape of sample {kept.shape[1:]} of sequence at position "
                f"{position} is different from expected shape {sample_shape}"
            )
        n = len(kept)
        if padding == "post":
            out[position, :n] = kept
        else:
            out[position, maxlen - n :] = kept
    return out


__all__ = ["pad_sequences"]
