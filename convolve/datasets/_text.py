"""Shared parts of the word-index datasets (IMDB, Reuters): files and index processing.

The `.npz` files store ragged reviews as NumPy object arrays, which NumPy can only save as
a pickle stream; they are read with an unpickler that builds NumPy arrays and plain Python
containers only, so a tampered file cannot run code. The word-index JSON files are pinned
by MD5 (the only hash Keras publishes for them).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from convolve.data.builtin import _ArrayUnpickler
from convolve.data.download import (
    RemoteFile,
    cache_dir,
    download,
    hash_file,
    keras_copies,
    source_url,
)

TF_KERAS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def fetch_md5(url: str, md5: str, fname: str, timeout: float = 60.0) -> Path:
    """Like `convolve.data.download.fetch`, for a file pinned by MD5: the cached copy, a
    matching copy in Keras's cache, or a verified download (the shared `download` step)."""
    target = cache_dir() / fname
    if target.is_file() and hash_file(target, "md5") == md5.lower():
        return target
    kept = next(keras_copies(Path("datasets", fname), md5, "md5"), None)
    if kept is not None:
        return kept
    return download(source_url(RemoteFile(url, "")), target, md5, "md5", timeout)


def load_word_index(source: tuple[str, str], fname: str) -> dict[str, int]:
    """The JSON word index at `source` (URL, MD5), cached as `fname`."""
    url, md5 = source
    with open(fetch_md5(url, md5, fname), encoding="utf-8") as f:
        return json.load(f)


def _read_npy(raw: bytes) -> np.ndarray:
    fp = io.BytesIO(raw)
    try:
        return np.lib.format.read_array(fp, allow_pickle=False)
    except ValueError:  # an object array: its data is a pickle stream after the header
        fp.seek(0)
        version = np.lib.format.read_magic(fp)
        if version[0] == 1:
            np.lib.format.read_array_header_1_0(fp)
        elif version[0] in (2, 3):  # 3.0 differs from 2.0 only in the header's encoding
            np.lib.format.read_array_header_2_0(fp)
        else:
            raise ValueError(f"Unsupported .npy format version {version}") from None
        return _ArrayUnpickler(fp).load()


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an `.npz` file, object arrays included, without running any code."""
    with zipfile.ZipFile(path) as archive:
        return {
            name[: -len(".npy")]: _read_npy(archive.read(name))
            for name in archive.namelist()
            if name.endswith(".npy")
        }


def _check_int(fn: str, name: str, value: Any, minimum: int | None, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    ok = not isinstance(value, bool) and isinstance(value, int | np.integer)
    if not ok or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        none = " or None" if allow_none else ""
        raise ValueError(
            f"{fn}: `{name}` must be an integer{bound}{none}. Received: {name}={value!r}"
        )


def check_index_arguments(
    fn: str,
    num_words: Any,
    skip_top: Any,
    maxlen: Any,
    seed: Any,
    start_char: Any,
    oov_char: Any,
    index_from: Any,
) -> None:
    """Validates the word-index arguments shared by `imdb` and `reuters` before any file
    is read."""
    _check_int(fn, "num_words", num_words, 0, True)
    _check_int(fn, "skip_top", skip_top, 0, False)
    _check_int(fn, "maxlen", maxlen, 0, True)
    _check_int(fn, "seed", seed, 0, True)
    _check_int(fn, "start_char", start_char, None, True)
    _check_int(fn, "oov_char", oov_char, None, True)
    _check_int(fn, "index_from", index_from, 0, False)


def shuffled(rng: np.random.RandomState, *arrays: np.ndarray) -> list[np.ndarray]:
    order = np.arange(len(arrays[0]))
    rng.shuffle(order)
    return [a[order] for a in arrays]


def shift(xs: Any, start_char: int | None, index_from: int) -> list[list[int]]:
    """Offsets word indices by `index_from` and prepends `start_char` (unless None)."""
    head = [] if start_char is None else [start_char]
    return [head + [w + index_from for w in x] for x in xs]


def drop_long(maxlen: int | None, xs: list, labels: Any) -> tuple[list, list]:
    """Keeps the sequences shorter than `maxlen` (all of them when it is 0 or None)."""
    if not maxlen:
        return xs, labels
    kept = [(x, y) for x, y in zip(xs, labels, strict=True) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def limit_words(
    xs: list[list[int]], num_words: int | None, skip_top: int, oov_char: int | None
) -> list[list[int]]:
    """Replaces indices outside `[skip_top, num_words)` by `oov_char`, or drops them when
    `oov_char` is None; `num_words` 0 or None keeps every word (up to the largest index)."""
    if not num_words:
        num_words = max((max(x) for x in xs if len(x)), default=0)
    if oov_char is None:
        return [[w for w in x if skip_top <= w < num_words] for x in xs]
    return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
