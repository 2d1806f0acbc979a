"""Built-in datasets, as in `keras.datasets`: `mnist.load_data()` and friends.

Files are cached in `$CONVOLVE_HOME/datasets` (default `~/.convolve/datasets`) and checked
against pinned SHA-256 hashes (MD5 for the two word-index files, the only hash published for
them); files Keras has downloaded into `~/.keras/datasets` are used
from there. `mnist_digits()` returns 5,000 real MNIST digits that need no download.
"""

from convolve.data.builtin import REMOTE_FILES, mnist_digits
from convolve.data.download import ChecksumError, DownloadError, cache_dir
from convolve.datasets import (
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)

__all__ = [
    "REMOTE_FILES",
    "ChecksumError",
    "DownloadError",
    "boston_housing",
    "cache_dir",
    "california_housing",
    "cifar10",
    "cifar100",
    "fashion_mnist",
    "imdb",
    "mnist",
    "mnist_digits",
    "reuters",
]
