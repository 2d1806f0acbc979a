"""IMDB movie reviews labelled by sentiment, as `keras.datasets.imdb`."""

from __future__ import annotations

from typing import Any

import numpy as np

from convolve.data.download import RemoteFile, fetch
from convolve.datasets import _text

# The source and the hash Keras pins; replace it to use another copy.
REMOTE_FILE = RemoteFile(
    _text.TF_KERAS + "imdb.npz",
    "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
)
# Keras pins the word index by MD5 only: (URL, MD5); replace it to use another copy.
WORD_INDEX_FILE = (_text.TF_KERAS + "imdb_word_index.json", "bfafd718b763782e994055a2d397834f")

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def load_data(
    path: str = "imdb.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
    **kwargs: Any,
) -> Split:
    """25,000 training and 25,000 test reviews as lists of word indices, with 0/1 labels.

    Words are indexed by frequency (index 1 is the most frequent word in the raw file);
    here every index is shifted by `index_from`, each review starts with `start_char`,
    and words outside `[skip_top, num_words)` become `oov_char` (or are dropped when it is
    None). The train and test sets are each shuffled with `seed`, as Keras does.

    Args:
        path: File name to cache the data under, inside the datasets cache folder.
        num_words: Keep only indices below this (after shifting); None or 0 for all.
        skip_top: Indices below this (after shifting) become `oov_char` too.
        maxlen: Drop reviews of `maxlen` words or more (counting `start_char`); None or 0
            keeps all.
        seed: Seed for the shuffles.
        start_char: Index that marks the start of each review; None for no marker.
        oov_char: Index for words cut by `num_words`/`skip_top`; None to drop them.
        index_from: Offset added to every word index.
        **kwargs: Accepted and ignored, as by Keras.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: `x_*` are NumPy object arrays of lists of
        ints, `y_*` integer arrays of labels.

    Raises:
        ValueError: A bad argument (named with its value), or `maxlen` so small that no
            review is kept.
    """
    del kwargs  # Keras accepts and ignores extra keywords
    fn = "imdb.load_data"
    _text.check_index_arguments(
        fn, num_words, skip_top, maxlen, seed, start_char, oov_char, index_from
    )
    arrays = _text.load_npz(fetch(REMOTE_FILE, fname=path))
    rng = np.random.RandomState(seed)
    x_train, labels_train = _text.shuffled(rng, arrays["x_train"], arrays["y_train"])
    x_test, labels_test = _text.shuffled(rng, arrays["x_test"], arrays["y_test"])
    x_train = _text.shift(x_train, start_char, index_from)
    x_test = _text.shift(x_test, start_char, index_from)
    if maxlen:
        x_train, labels_train = _text.drop_long(maxlen, x_train, labels_train)
        x_test, labels_test = _text.drop_long(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(
                f"{fn}: After filtering for sequences shorter than maxlen={maxlen}, no "
                "sequence was kept. Increase maxlen."
            )
    labels = np.concatenate([labels_train, labels_test])
    xs = _text.limit_words(x_train + x_test, num_words, skip_top, oov_char)
    n = len(x_train)
    x_train, x_test = np.array(xs[:n], dtype=object), np.array(xs[n:], dtype=object)
    return (x_train, labels[:n]), (x_test, labels[n:])


def get_word_index(path: str = "imdb_word_index.json") -> dict[str, int]:
    """The word-to-index dictionary of `load_data`'s raw indices (add `index_from` to
    match its sequences).

    Args:
        path: File name to cache the JSON file under, inside the datasets cache folder.
    """
    return _text.load_word_index(WORD_INDEX_FILE, path)


__all__ = ["get_word_index", "load_data"]
