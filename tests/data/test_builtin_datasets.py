"""Built-in datasets: downloads from a local server, hashes, caching, offline errors.

The files served are small synthetic copies in the real formats (an .npz for MNIST and
Boston, gzipped IDX for Fashion-MNIST, the CIFAR python tarballs); the pinned hashes are
overridden with theirs through `REMOTE_FILES`, as a user pointing at a mirror would.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import importlib.util
import io
import os
import pickle
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest
from http_server import Server, closed_port_url

import convolve.datasets as datasets
from convolve.data import builtin


def _idx(array: np.ndarray) -> bytes:
    header = (
        b"\x00\x00\x08"
        + bytes([array.ndim])
        + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    )
    return gzip.compress(header + array.tobytes())


def _pickled(d: dict) -> bytes:
    # Byte-string keys, as in the real (Python 2) files; protocol 4 needs no codecs import.
    return pickle.dumps({k.encode(): v for k, v in d.items()}, protocol=4)


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _make_files(root: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 12, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 5, dtype=np.uint8),
    }
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (root / "mnist.npz").write_bytes(buf.getvalue())
    (root / "train-images-idx3-ubyte.gz").write_bytes(_idx(arrays["x_train"]))
    (root / "train-labels-idx1-ubyte.gz").write_bytes(_idx(arrays["y_train"]))
    (root / "t10k-images-idx3-ubyte.gz").write_bytes(_idx(arrays["x_test"]))
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(_idx(arrays["y_test"]))

    cifar = {}
    for i in range(1, 6):
        cifar[f"cifar-10-batches-py/data_batch_{i}"] = _pickled(
            {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [i] * 4}
        )
    arrays["c10_test"] = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    cifar["cifar-10-batches-py/test_batch"] = _pickled(
        {"data": arrays["c10_test"], "labels": [7, 8, 9]}
    )
    (root / "cifar-10-python.tar.gz").write_bytes(_tar(cifar))
    c100 = {
        "cifar-100-python/train": _pickled(
            {"data": rng.integers(0, 256, (6, 3072), dtype=np.uint8),
             "fine_labels": [10, 20, 30, 40, 50, 99], "coarse_labels": [1, 2, 3, 4, 5, 19]}
        ),
        "cifar-100-python/test": _pickled(
            {"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8),
             "fine_labels": [0, 1], "coarse_labels": [0, 0]}
        ),
    }  # fmt: skip
    (root / "cifar-100-python.tar.gz").write_bytes(_tar(c100))
    buf = io.BytesIO()
    np.savez(buf, x=rng.normal(size=(50, 13)), y=rng.normal(size=50))
    (root / "boston_housing.npz").write_bytes(buf.getvalue())
    return arrays


@pytest.fixture
def served(tmp_path, monkeypatch):
    files = tmp_path / "server"
    files.mkdir()
    arrays = _make_files(files)
    server = Server(files)
    home = tmp_path / "home"
    monkeypatch.setenv("CONVOLVE_HOME", str(home))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("CONVOLVE_DATASETS_URL", server.url + "/")
    for key, remote in list(builtin.REMOTE_FILES.items()):
        digest = hashlib.sha256((files / remote.filename).read_bytes()).hexdigest()
        monkeypatch.setitem(builtin.REMOTE_FILES, key, dataclasses.replace(remote, sha256=digest))
    yield server, home / "datasets", arrays
    server.close()


def test_mnist_shapes_and_cache_reuse(served):
    server, cache, arrays = served
    (x_train, y_train), (x_test, y_test) = datasets.mnist.load_data()
    assert x_train.dtype == np.uint8 and x_train.shape == (12, 28, 28)
    assert y_train.dtype == np.uint8 and y_test.shape == (5,)
    np.testing.assert_array_equal(x_test, arrays["x_test"])
    assert server.requests == ["/mnist.npz"]
    assert (cache / "mnist.npz").is_file()
    datasets.mnist.load_data()
    assert server.requests == ["/mnist.npz"]  # the second call made no request


def test_fashion_mnist(served):
    server, cache, arrays = served
    (x_train, y_train), (x_test, y_test) = datasets.fashion_mnist.load_data()
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])
    assert x_train.dtype == y_train.dtype == np.uint8
    assert len(server.requests) == 4 and (cache / "fashion-mnist").is_dir()


def test_cifar10_layout_dtypes_and_order(served):
    _, _, arrays = served
    (x_train, y_train), (x_test, y_test) = datasets.cifar10.load_data()
    assert x_train.shape == (20, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (20, 1) and y_train.dtype == np.uint8
    assert y_train[:, 0].tolist() == [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4
    assert x_test.shape == (3, 32, 32, 3) and y_test.dtype == np.uint8
    # Channels-last view of CIFAR's channel-planar rows.
    expected = arrays["c10_test"].reshape(3, 3, 32, 32).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(x_test, expected)


def test_cifar100_label_modes(served):
    (_, fine), _ = datasets.cifar100.load_data()
    (_, coarse), (_, coarse_test) = datasets.cifar100.load_data(label_mode="coarse")
    assert fine.shape == (6, 1) and fine[:, 0].tolist() == [10, 20, 30, 40, 50, 99]
    assert coarse[:, 0].tolist() == [1, 2, 3, 4, 5, 19] and coarse_test.shape == (2, 1)
    with pytest.raises(ValueError, match="label_mode='medium'"):
        datasets.cifar100.load_data(label_mode="medium")


def test_boston_housing_split_matches_keras_rule(served):
    (x_train, y_train), (x_test, y_test) = datasets.boston_housing.load_data(
        test_split=0.2, seed=113
    )
    assert x_train.shape == (40, 13) and x_test.shape == (10, 13)
    assert x_train.dtype == np.float64 and y_train.shape == (40,)
    (a, _), _ = datasets.boston_housing.load_data(test_split=0.2, seed=113)
    np.testing.assert_array_equal(a, x_train)
    with pytest.raises(ValueError, match="test_split=1.0"):
        datasets.boston_housing.load_data(test_split=1.0)


def test_hash_mismatch_deletes_the_download(served, monkeypatch):
    server, cache, _ = served
    remote = builtin.REMOTE_FILES["mnist"]
    monkeypatch.setitem(builtin.REMOTE_FILES, "mnist", dataclasses.replace(remote, sha256="0" * 64))
    with pytest.raises(datasets.ChecksumError) as info:
        datasets.mnist.load_data()
    assert "mnist.npz" in str(info.value) and "0" * 64 in str(info.value)
    assert list(cache.iterdir()) == []  # nothing half-written or unverified is kept


def test_corrupted_cache_is_fetched_again(served):
    server, cache, _ = served
    datasets.mnist.load_data()
    (cache / "mnist.npz").write_bytes(b"damaged")
    datasets.mnist.load_data()
    assert server.requests == ["/mnist.npz", "/mnist.npz"]


@pytest.mark.parametrize(
    "load, keras_path",
    [
        (lambda: datasets.mnist.load_data(), "mnist.npz"),
        (lambda: datasets.fashion_mnist.load_data(), "fashion-mnist/*"),
        (lambda: datasets.cifar10.load_data(), "cifar-10-batches-py-target_archive"),
        (lambda: datasets.cifar100.load_data(), "cifar-100-python-target_archive"),
        (lambda: datasets.boston_housing.load_data(), "boston_housing.npz"),
    ],
)
def test_files_in_keras_cache_are_used_without_a_download(served, tmp_path, load, keras_path):
    server, cache, _ = served
    expected = load()
    assert server.requests  # fetched once, into convolve's cache
    keras_datasets = tmp_path / "keras" / "datasets"
    for fetched in cache.rglob("*"):  # the same files, where and as Keras names them
        if fetched.is_file():
            name = keras_path.replace("*", fetched.name)
            (keras_datasets / name).parent.mkdir(parents=True, exist_ok=True)
            (keras_datasets / name).write_bytes(fetched.read_bytes())
    for fetched in cache.rglob("*"):
        if fetched.is_file():
            fetched.unlink()
    server.requests.clear()
    got = load()
    assert server.requests == []
    for (x, y), (want_x, want_y) in zip(got, expected, strict=True):  # train, test
        np.testing.assert_array_equal(x, want_x)
        np.testing.assert_array_equal(y, want_y)
    assert not [p for p in cache.rglob("*") if p.is_file()]  # used in place, not copied


def test_a_damaged_file_in_keras_cache_is_ignored(served, tmp_path):
    server, cache, arrays = served
    keras_datasets = tmp_path / "keras" / "datasets"
    keras_datasets.mkdir(parents=True)
    (keras_datasets / "mnist.npz").write_bytes(b"truncated")
    (_, _), (x_test, _) = datasets.mnist.load_data()
    np.testing.assert_array_equal(x_test, arrays["x_test"])
    assert server.requests == ["/mnist.npz"]
    assert (keras_datasets / "mnist.npz").read_bytes() == b"truncated"  # left as it was


def test_offline_error_names_url_file_and_folder(tmp_path, monkeypatch):
    url = closed_port_url()
    monkeypatch.setenv("CONVOLVE_HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("CONVOLVE_DATASETS_URL", url)
    with pytest.raises(datasets.DownloadError) as info:
        datasets.cifar10.load_data()
    message = str(info.value)
    assert f"{url}/cifar-10-python.tar.gz" in message
    assert "cifar-10-python.tar.gz" in message and str(tmp_path / "datasets") in message
    assert list((tmp_path / "datasets").iterdir()) == []


def test_cache_folder_follows_convolve_home(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVOLVE_HOME", str(tmp_path / "h"))
    assert datasets.cache_dir() == tmp_path / "h" / "datasets"
    monkeypatch.delenv("CONVOLVE_HOME")
    assert datasets.cache_dir() == Path(os.path.expanduser("~")) / ".convolve" / "datasets"


def test_pinned_hashes_are_the_ones_keras_pins():
    spec = importlib.util.find_spec("keras")  # located, not imported (that is slow)
    source = Path(spec.submodule_search_locations[0]) / "src" / "datasets"
    for key, module in [
        ("mnist", "mnist.py"),
        ("cifar10", "cifar10.py"),
        ("cifar100", "cifar100.py"),
        ("boston_housing", "boston_housing.py"),
    ]:
        text = (source / module).read_text()
        assert builtin.REMOTE_FILES[key].sha256 in re.findall(r"[0-9a-f]{64}", text)
        assert builtin.REMOTE_FILES[key].filename in text


def test_mnist_digits_offline_sample():
    (x_train, y_train), (x_test, y_test) = datasets.mnist_digits()
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert x_train.max() == 255 and x_train.min() == 0
    assert np.bincount(y_test).tolist() == [100] * 10  # stratified
    (again, _), _ = datasets.mnist_digits()
    np.testing.assert_array_equal(again, x_train)
    train_rows = {r.tobytes() for r in x_train.reshape(len(x_train), -1)}
    assert not any(r.tobytes() in train_rows for r in x_test.reshape(len(x_test), -1))
    (_, y_small), (x_small, _) = datasets.mnist_digits(test_split=0.5, seed=3)
    assert len(y_small) == len(x_small) == 2500
