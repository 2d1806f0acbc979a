"""Reuters newswires labelled over 46 topics, as `keras.datasets.reuters`."""

from __future__ import annotations

import numpy as np

from convolve.data.download import RemoteFile, fetch
from convolve.datasets import _text

# The source and the hash Keras pins; replace it to use another copy.
REMOTE_FILE = RemoteFile(
    _text.TF_KERAS + "reuters.npz",
    "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916",
)
# Keras pins the word index by MD5 only: (URL, MD5); replace it to use another copy.
WORD_INDEX_FILE = (_text.TF_KERAS + "reuters_word_index.json", "4d44cc38712099c9e383dc6e5f11a921")

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

_LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing",
    "money-supply", "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass",
    "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum",
    "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi",
    "iron-steel", "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem",
    "dlr", "gas", "silver", "wpi", "hog", "lead",
)  # fmt: skip


def load_data(
    path: str = "reuters.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    test_split: float = 0.2,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
) -> Split:
    """11,228 newswires as lists of word indices, with topic labels 0..45.

    The newswires are shuffled with `seed`, processed as in `imdb.load_data` (shift by
    `index_from`, `start_char` first, `maxlen` filter, `oov_char` for words outside
    `[skip_top, num_words)`), then split: the last `test_split` of them are the test set.

    Args:
        path: File name to cache the data under, inside the datasets cache folder.
        num_words: Keep only indices below this (after shifting); None or 0 for all.
        skip_top: Indices below this (after shifting) become `oov_char` too.
        maxlen: Drop newswires of `maxlen` words or more; None or 0 keeps all.
        test_split: Fraction of the newswires for the test set, in [0, 1].
        seed: Seed for the shuffle.
        start_char: Index that marks the start of each newswire; None for no marker.
        oov_char: Index for words cut by `num_words`/`skip_top`; None to drop them.
        index_from: Offset added to every word index.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: `x_*` are NumPy object arrays of lists of
        ints, `y_*` integer arrays of labels.
    """
    fn = "reuters.load_data"
    _text.check_index_arguments(
        fn, num_words, skip_top, maxlen, seed, start_char, oov_char, index_from
    )
    if isinstance(test_split, bool) or not isinstance(test_split, int | float | np.floating):
        raise ValueError(
            f"{fn}: `test_split` must be a number. Received: test_split={test_split!r}"
        )
    if not 0 <= test_split <= 1:
        raise ValueError(
            f"{fn}: `test_split` must be between 0 and 1. Received: test_split={test_split!r}"
        )
    arrays = _text.load_npz(fetch(REMOTE_FILE, fname=path))
    xs, labels = _text.shuffled(np.random.RandomState(seed), arrays["x"], arrays["y"])
    xs = _text.shift(xs, start_char, index_from)
    xs, labels = _text.drop_long(maxlen, xs, labels)
    if not xs:
        raise ValueError(
            f"{fn}: After filtering for sequences shorter than maxlen={maxlen}, no "
            "sequence was kept. Increase maxlen."
        )
    xs = _text.limit_words(xs, num_words, skip_top, oov_char)
    n = int(len(xs) * (1 - test_split))
    x_train, y_train = np.array(xs[:n], dtype=object), np.array(labels[:n])
    x_test, y_test = np.array(xs[n:], dtype=object), np.array(labels[n:])
    return (x_train, y_train), (x_test, y_test)


def get_word_index(path: str = "reuters_word_index.json") -> dict[str, int]:
    """The word-to-index dictionary of `load_data`'s raw indices (add `index_from` to
    match its sequences).

    Args:
        path: File name to cache the JSON file under, inside the datasets cache folder.
    """
    return _text.load_word_index(WORD_INDEX_FILE, path)


def get_label_names() -> tuple[str, ...]:
    """The 46 topic names, indexed by label."""
    return _LABEL_NAMES


__all__ = ["get_label_names", "get_word_index", "load_data"]
