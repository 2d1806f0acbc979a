"""California housing prices, as `keras.datasets.california_housing`."""

from __future__ import annotations

import numpy as np

from convolve.data.download import RemoteFile, fetch
from convolve.datasets._text import TF_KERAS

# The source and the hash Keras pins; replace it to use another copy.
REMOTE_FILE = RemoteFile(
    TF_KERAS + "california_housing.npz",
    "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f",
)

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def load_data(
    version: str = "large",
    path: str = "california_housing.npz",
    test_split: float = 0.2,
    seed: int = 113,
) -> Split:
    """California districts from the 1990 census: 8 features and the median house value.

    Args:
        version: `"large"` (20,640 samples) or `"small"` (the first 600 of them).
        path: File name to cache the data under, inside the datasets cache folder.
        test_split: Fraction of the samples for the test set, in [0, 1).
        seed: Seed for the shuffle before the split.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: features `(n, 8)` and targets `(n,)`, with
        the dtypes of the file.
    """
    fn = "california_housing.load_data"
    if version not in ("small", "large"):
        raise ValueError(
            f"{fn}: Argument `version` must be one of 'small', 'large'. Received: "
            f"version={version!r}"
        )
    if isinstance(test_split, bool) or not isinstance(test_split, int | float | np.floating):
        raise ValueError(
            f"{fn}: `test_split` must be a number in [0, 1). Received: test_split={test_split!r}"
        )
    if not 0 <= test_split < 1:
        raise ValueError(
            f"{fn}: Invalid `test_split` argument: {test_split}. It must be between 0 and 1 "
            f"(exclusive of 1). Received: test_split={test_split!r}"
        )
    with np.load(fetch(REMOTE_FILE, fname=path), allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    if version == "small":
        x, y = x[:600], y[:600]
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    n = int(len(x) * (1 - test_split))
    return (np.array(x[:n]), np.array(y[:n])), (np.array(x[n:]), np.array(y[n:]))


__all__ = ["load_data"]
