"""IMDB, Reuters and California housing: downloads from a local server, and processing
equal to Keras's on the same files.

The files served are small synthetic copies in Keras's exact formats (`.npz` files with
the same keys, ragged reviews as object arrays; word-index JSON files). Pinned hashes are
replaced by theirs, as a user pointing at a mirror would. Keras reads the same local files
(its `get_file` is replaced by one returning the local path), so the comparison is of the
processing: index shifting, `num_words`/`skip_top`/`oov_char`, `maxlen`, seeded shuffles
and splits. Everything is exact (integer lists and copied floats).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import io
import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest
from http_server import Server

import convolve.datasets as datasets
from convolve.data import builtin
from convolve.datasets import _text

KERAS_SOURCE = Path(inspect.getfile(keras.datasets.imdb.load_data)).parent


def _ragged(rng: np.random.Generator, n: int, vocab: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    out[:] = [rng.integers(1, vocab, rng.integers(1, 25)).tolist() for _ in range(n)]
    return out


def _npz(path: Path, **arrays: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())


def _make_files(root: Path) -> None:
    rng = np.random.default_rng(0)
    _npz(
        root / "imdb.npz",
        x_train=_ragged(rng, 30, 60),
        y_train=rng.integers(0, 2, 30),
        x_test=_ragged(rng, 20, 60),
        y_test=rng.integers(0, 2, 20),
    )
    _npz(root / "reuters.npz", x=_ragged(rng, 40, 80), y=rng.integers(0, 46, 40))
    _npz(root / "california_housing.npz", x=rng.normal(size=(700, 8)), y=rng.normal(size=700))
    _npz(root / "boston_housing.npz", x=rng.normal(size=(51, 13)), y=rng.normal(size=51))
    words = {f"w{i}": i for i in range(1, 60)}
    (root / "imdb_word_index.json").write_text(json.dumps(words))
    (root / "reuters_word_index.json").write_text(json.dumps({"the": 1, "of": 2, "said": 3}))


@pytest.fixture
def served(tmp_path, monkeypatch):
    files = tmp_path / "server"
    files.mkdir()
    _make_files(files)
    server = Server(files)
    monkeypatch.setenv("CONVOLVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("CONVOLVE_DATASETS_URL", server.url + "/")
    for module in (datasets.imdb, datasets.reuters, datasets.california_housing):
        remote = module.REMOTE_FILE
        digest = hashlib.sha256((files / remote.filename).read_bytes()).hexdigest()
        monkeypatch.setattr(module, "REMOTE_FILE", dataclasses.replace(remote, sha256=digest))
    remote = builtin.REMOTE_FILES["boston_housing"]
    digest = hashlib.sha256((files / remote.filename).read_bytes()).hexdigest()
    monkeypatch.setitem(
        builtin.REMOTE_FILES, "boston_housing", dataclasses.replace(remote, sha256=digest)
    )
    for module in (datasets.imdb, datasets.reuters):
        url, _ = module.WORD_INDEX_FILE
        md5 = hashlib.md5((files / url.rsplit("/", 1)[1]).read_bytes()).hexdigest()
        monkeypatch.setattr(module, "WORD_INDEX_FILE", (url, md5))
    # Keras reads the same files from the server folder.
    for module in ("imdb", "reuters", "california_housing", "boston_housing"):
        target = __import__(f"keras.src.datasets.{module}", fromlist=["get_file"])
        monkeypatch.setattr(
            target,
            "get_file",
            lambda fname=None, origin=None, **_: str(files / origin.rsplit("/", 1)[1]),
        )
    yield server, tmp_path / "home" / "datasets"
    server.close()


def _assert_split_equal(got, want):
    for (x, y), (wx, wy) in zip(got, want, strict=True):  # train, test
        assert type(x) is type(wx) is np.ndarray
        assert x.dtype == wx.dtype and x.shape == wx.shape
        assert [list(s) for s in x] == [list(s) for s in wx]
        assert y.dtype == wy.dtype
        np.testing.assert_array_equal(y, wy)


WORD_ARGS = [
    {},
    {"num_words": 20},
    {"num_words": 20, "skip_top": 5},
    {"skip_top": 10, "oov_char": None},
    {"maxlen": 15},
    {"maxlen": 12, "num_words": 30, "seed": 3},
    {"start_char": None},
    {"start_char": None, "index_from": 0},
    {"start_char": 7, "oov_char": 0, "index_from": 10, "num_words": 40},
    {"seed": 0, "num_words": 0},
]


@pytest.mark.parametrize("kwargs", WORD_ARGS)
def test_imdb_matches_keras(served, kwargs):
    got = datasets.imdb.load_data(**kwargs)
    want = keras.datasets.imdb.load_data(**kwargs)
    _assert_split_equal(got, want)


@pytest.mark.parametrize(
    "kwargs", [*WORD_ARGS, {"test_split": 0.5}, {"test_split": 0.0}, {"test_split": 0.33}]
)
def test_reuters_matches_keras(served, kwargs):
    got = datasets.reuters.load_data(**kwargs)
    want = keras.datasets.reuters.load_data(**kwargs)
    _assert_split_equal(got, want)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"version": "small"},
        {"version": "small", "test_split": 0.5, "seed": 1},
        {"test_split": 0.0},
    ],
)
def test_california_housing_matches_keras(served, kwargs):
    got = datasets.california_housing.load_data(**kwargs)
    want = keras.datasets.california_housing.load_data(**kwargs)
    _assert_arrays_equal(got, want)


@pytest.mark.parametrize("kwargs", [{}, {"test_split": 0.3, "seed": 5}, {"test_split": 0.0}])
def test_boston_housing_matches_keras(served, kwargs):
    got = datasets.boston_housing.load_data(**kwargs)
    want = keras.datasets.boston_housing.load_data(**kwargs)
    _assert_arrays_equal(got, want)


def _assert_arrays_equal(got, want):
    for (x, y), (wx, wy) in zip(got, want, strict=True):
        assert x.dtype == wx.dtype and y.shape == wy.shape
        np.testing.assert_array_equal(x, wx)
        np.testing.assert_array_equal(y, wy)


def test_word_indices_and_label_names_match_keras(served):
    server, cache = served
    assert datasets.imdb.get_word_index() == keras.datasets.imdb.get_word_index()
    assert datasets.reuters.get_word_index() == keras.datasets.reuters.get_word_index()
    assert datasets.reuters.get_label_names() == keras.datasets.reuters.get_label_names()
    assert (cache / "imdb_word_index.json").is_file()
    requests = list(server.requests)
    datasets.imdb.get_word_index()
    assert server.requests == requests  # cached: no second download


def test_download_cache_and_keras_cache_reuse(served, tmp_path):
    server, cache = served
    first = datasets.imdb.load_data()
    assert server.requests == ["/imdb.npz"] and (cache / "imdb.npz").is_file()
    datasets.imdb.load_data(num_words=10)
    assert server.requests == ["/imdb.npz"]
    # A verified copy in Keras's cache is used in place.
    keras_datasets = tmp_path / "keras" / "datasets"
    keras_datasets.mkdir(parents=True)
    (cache / "imdb.npz").rename(keras_datasets / "imdb.npz")
    (cache / "imdb_word_index.json").unlink(missing_ok=True)
    (keras_datasets / "reuters_word_index.json").write_bytes(
        (tmp_path / "server" / "reuters_word_index.json").read_bytes()
    )
    _assert_split_equal(datasets.imdb.load_data(), first)
    assert datasets.reuters.get_word_index() == {"the": 1, "of": 2, "said": 3}
    assert server.requests == ["/imdb.npz"]
    assert not (cache / "imdb.npz").exists()


def test_checksum_mismatch_keeps_nothing(served, monkeypatch):
    server, cache = served
    url, _ = datasets.imdb.WORD_INDEX_FILE
    monkeypatch.setattr(datasets.imdb, "WORD_INDEX_FILE", (url, "0" * 32))
    with pytest.raises(datasets.ChecksumError, match="0" * 32):
        datasets.imdb.get_word_index()
    remote = datasets.reuters.REMOTE_FILE
    monkeypatch.setattr(
        datasets.reuters, "REMOTE_FILE", dataclasses.replace(remote, sha256="1" * 64)
    )
    with pytest.raises(datasets.ChecksumError, match="1" * 64):
        datasets.reuters.load_data()
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_a_tampered_npz_cannot_run_code(tmp_path, monkeypatch):
    class Boom:
        def __reduce__(self):
            return (print, ("executed",))

    bad = np.empty(1, dtype=object)
    bad[0] = Boom()
    _npz(tmp_path / "evil.npz", x=bad)
    with pytest.raises(Exception, match="Refusing to load builtins.print"):
        _text.load_npz(tmp_path / "evil.npz")


@pytest.mark.parametrize(
    "load, kwargs, named",
    [
        (lambda **k: datasets.imdb.load_data(**k), {"num_words": -1}, "num_words=-1"),
        (lambda **k: datasets.imdb.load_data(**k), {"skip_top": 1.5}, "skip_top=1.5"),
        (lambda **k: datasets.imdb.load_data(**k), {"maxlen": "10"}, "maxlen='10'"),
        (lambda **k: datasets.imdb.load_data(**k), {"maxlen": 1}, "maxlen=1"),
        (lambda **k: datasets.reuters.load_data(**k), {"test_split": 1.5}, "test_split=1.5"),
        (lambda **k: datasets.reuters.load_data(**k), {"index_from": -3}, "index_from=-3"),
        (
            lambda **k: datasets.california_housing.load_data(**k),
            {"version": "medium"},
            "version='medium'",
        ),
        (
            lambda **k: datasets.california_housing.load_data(**k),
            {"test_split": 1.0},
            "test_split=1.0",
        ),
    ],
)
def test_bad_arguments_are_one_clear_value_error(served, load, kwargs, named):
    with pytest.raises(ValueError) as info:
        load(**kwargs)
    assert named in str(info.value)


def test_imdb_maxlen_that_keeps_nothing_matches_keras_error(served):
    with pytest.raises(ValueError, match="no sequence was kept") as keras_info:
        keras.datasets.imdb.load_data(maxlen=1)
    with pytest.raises(ValueError, match="no sequence was kept"):
        datasets.imdb.load_data(maxlen=1)
    assert "maxlen=1" in str(keras_info.value)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (datasets.imdb.load_data, keras.datasets.imdb.load_data),
        (datasets.imdb.get_word_index, keras.datasets.imdb.get_word_index),
        (datasets.reuters.load_data, keras.datasets.reuters.load_data),
        (datasets.reuters.get_word_index, keras.datasets.reuters.get_word_index),
        (datasets.reuters.get_label_names, keras.datasets.reuters.get_label_names),
        (datasets.california_housing.load_data, keras.datasets.california_housing.load_data),
        (datasets.boston_housing.load_data, keras.datasets.boston_housing.load_data),
    ],
)
def test_signatures_match_keras(ours, theirs):
    def params(fn):
        return [(p.name, p.default, p.kind) for p in inspect.signature(fn).parameters.values()]

    assert params(ours) == params(theirs)


def test_pinned_hashes_and_urls_are_keras_ones():
    for key in ("imdb", "reuters", "california_housing"):
        text = (KERAS_SOURCE / f"{key}.py").read_text()
        remote = getattr(datasets, key).REMOTE_FILE
        assert remote.sha256 in re.findall(r"[0-9a-f]{64}", text)
        assert remote.url.startswith("https://") and remote.filename in text
        if key != "california_housing":
            url, md5 = getattr(datasets, key).WORD_INDEX_FILE
            assert md5 in re.findall(r"[0-9a-f]{32}", text) and url.rsplit("/", 1)[1] in text
