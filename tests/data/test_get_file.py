"""`convolve.utils.get_file` against a local server, with Keras's own `get_file` as the
oracle for file and folder names; and the other `keras.utils` names convolve exports."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from http_server import Server, closed_port_url

import convolve
from convolve.data import download
from convolve.data.download import ChecksumError, DownloadError
from convolve.utils import get_file

PAYLOAD = b"convolve get_file test payload\n" * 100
MEMBERS = {"top/a.txt": b"alpha", "top/sub/b.txt": b"beta"}


def _tar(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _tree(folder: str | Path) -> dict[str, bytes]:
    """Relative path -> content of every file under `folder`."""
    root = Path(folder)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def served(tmp_path, monkeypatch):
    # Keras's cache, looked at when no cache_dir is given: empty unless a test fills it.
    monkeypatch.setattr(download, "keras_homes", lambda: [tmp_path / "cache" / "keras"])
    files = tmp_path / "server"
    files.mkdir()
    (files / "payload.bin").write_bytes(PAYLOAD)
    (files / "arch.tar.gz").write_bytes(_tar(MEMBERS))
    (files / "arch.zip").write_bytes(_zip(MEMBERS))
    server = Server(files)
    yield server, tmp_path / "cache"
    server.close()


def test_download_then_cache_hit(served, capsys):
    server, cache = served
    url = f"{server.url}/payload.bin"
    path = get_file(origin=url, cache_dir=cache)
    assert isinstance(path, str) and path == str(cache / "datasets" / "payload.bin")
    assert Path(path).read_bytes() == PAYLOAD
    assert f"Downloading data from {url}" in capsys.readouterr().out
    assert get_file(origin=url, cache_dir=cache) == path
    assert server.requests == ["/payload.bin"]  # the second call was a cache hit
    assert os.listdir(cache / "datasets") == ["payload.bin"]  # no temporary file left


def test_fname_and_default_cache_dir(served, monkeypatch):
    server, cache = served
    monkeypatch.setenv("CONVOLVE_HOME", str(cache / "home"))
    path = get_file(origin=f"{server.url}/payload.bin")  # fname from the URL
    assert path == str(cache / "home" / "datasets" / "payload.bin")
    named = get_file("other.bin", f"{server.url}/payload.bin", cache_subdir="sub")
    assert named == str(cache / "home" / "sub" / "other.bin")
    assert Path(named).read_bytes() == PAYLOAD


@pytest.mark.parametrize("extract", [False, True])
def test_files_keras_downloaded_are_not_downloaded_again(served, monkeypatch, extract):
    import keras

    server, cache = served
    monkeypatch.setenv("CONVOLVE_HOME", str(cache / "home"))
    url = f"{server.url}/arch.tar.gz"
    digest = hashlib.sha256((server.root / "arch.tar.gz").read_bytes()).hexdigest()
    (cache / "keras").mkdir(parents=True)
    theirs = keras.utils.get_file(origin=url, extract=extract, cache_dir=str(cache / "keras"))
    assert server.requests == ["/arch.tar.gz"]
    assert get_file(origin=url, extract=extract) == theirs
    assert get_file(origin=url, extract=extract, file_hash=digest) == theirs
    assert server.requests == ["/arch.tar.gz"]  # no second download
    assert not [p for p in (cache / "home").rglob("*") if p.is_file()]  # nothing stored
    # A copy that fails the hash is left alone, and the file downloaded into convolve's cache.
    archive = Path(theirs + "_archive" if extract else theirs)
    archive.write_bytes(b"damaged")
    ours = get_file(origin=url, extract=extract, file_hash=digest)
    assert ours == str(cache / "home" / "datasets" / Path(theirs).name)
    assert server.requests == ["/arch.tar.gz"] * 2 and archive.read_bytes() == b"damaged"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"file_hash": hashlib.sha256(PAYLOAD).hexdigest()},
        {"file_hash": hashlib.sha256(PAYLOAD).hexdigest().upper(), "hash_algorithm": "sha256"},
        {"file_hash": hashlib.md5(PAYLOAD).hexdigest()},  # "auto": 32 characters -> MD5
        {"md5_hash": hashlib.md5(PAYLOAD).hexdigest()},
    ],
)
def test_good_hashes(served, kwargs):
    server, cache = served
    path = get_file(origin=f"{server.url}/payload.bin", cache_dir=cache, **kwargs)
    assert Path(path).read_bytes() == PAYLOAD


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_bad_hash_keeps_nothing(served, algorithm):
    server, cache = served
    url = f"{server.url}/payload.bin"
    wrong = hashlib.new(algorithm, b"something else").hexdigest()
    with pytest.raises(ChecksumError) as info:
        get_file(origin=url, file_hash=wrong, cache_dir=cache)
    message = str(info.value)
    assert url in message and wrong in message
    assert hashlib.new(algorithm, PAYLOAD).hexdigest() in message
    assert isinstance(info.value, ValueError)  # what Keras raises
    assert os.listdir(cache / "datasets") == []  # neither the target nor a temporary file


def test_stale_cached_file_is_downloaded_again(served):
    server, cache = served
    url = f"{server.url}/payload.bin"
    target = cache / "datasets" / "payload.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"stale")
    # Without a hash the cached file is trusted, as in Keras.
    assert Path(get_file(origin=url, cache_dir=cache)).read_bytes() == b"stale"
    assert server.requests == []
    get_file(origin=url, cache_dir=cache, file_hash=hashlib.sha256(PAYLOAD).hexdigest())
    assert target.read_bytes() == PAYLOAD and server.requests == ["/payload.bin"]


def test_force_download(served):
    server, cache = served
    url = f"{server.url}/payload.bin"
    get_file(origin=url, cache_dir=cache)
    get_file(origin=url, cache_dir=cache, force_download=True)
    assert server.requests == ["/payload.bin", "/payload.bin"]


@pytest.mark.parametrize("archive", ["arch.tar.gz", "arch.zip"])
@pytest.mark.parametrize("fname", [None, "data.tar.gz", "data"])
@pytest.mark.parametrize("archive_format", ["auto", ["zip", "tar"]])
def test_extract_names_match_keras(served, archive, fname, archive_format):
    import keras

    server, cache = served
    url = f"{server.url}/{archive}"
    (cache / "keras").mkdir(parents=True)  # Keras falls back to /tmp/.keras if it is missing
    kwargs = dict(extract=True, archive_format=archive_format)
    ours = get_file(fname, url, cache_dir=cache / "ours", **kwargs)
    theirs = keras.utils.get_file(fname, url, cache_dir=str(cache / "keras"), **kwargs)
    assert Path(ours).relative_to(cache / "ours") == Path(theirs).relative_to(cache / "keras")
    # The same entries in the cache folder (archive and extraction folder) and the same files.
    assert sorted(os.listdir(cache / "ours" / "datasets")) == sorted(
        os.listdir(cache / "keras" / "datasets")
    )
    assert _tree(ours) == _tree(theirs) == MEMBERS
    # A second call uses the cache and the folder already extracted (not unpacked again).
    inode = os.stat(ours).st_ino
    assert get_file(fname, url, cache_dir=cache / "ours", **kwargs) == ours
    assert os.stat(ours).st_ino == inode
    assert server.requests == [f"/{archive}"] * 2 and _tree(ours) == MEMBERS


def test_untar(served):
    server, cache = served
    path = get_file("arch", f"{server.url}/arch.tar.gz", untar=True, cache_dir=cache)
    assert path == str(cache / "datasets" / "arch") and _tree(path) == MEMBERS
    assert sorted(os.listdir(cache / "datasets")) == ["arch", "arch_archive"]
    (Path(path) / "extra.txt").write_bytes(b"x")
    # A new download replaces the whole folder, leaving no temporary or old folder behind.
    get_file("arch", f"{server.url}/arch.tar.gz", untar=True, cache_dir=cache, force_download=True)
    assert _tree(path) == MEMBERS and len(server.requests) == 2
    assert sorted(os.listdir(cache / "datasets")) == ["arch", "arch_archive"]


def test_archive_of_another_format_warns(served):
    server, cache = served
    with pytest.warns(UserWarning, match="Could not extract archive"):
        path = get_file(origin=f"{server.url}/arch.zip", cache_dir=cache, extract=True, untar=True)
    assert not os.path.exists(path)


@pytest.mark.parametrize("kind", ["member", "symlink"])
def test_members_outside_the_folder_are_refused(served, kind):
    server, cache = served
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        ok = tarfile.TarInfo("ok.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        if kind == "member":
            evil = tarfile.TarInfo("../evil")
            evil.size = 4
            tar.addfile(evil, io.BytesIO(b"evil"))
        else:
            evil = tarfile.TarInfo("evil")
            evil.type, evil.linkname = tarfile.SYMTYPE, "../../outside"
            tar.addfile(evil)
    (server.root / "evil.tar.gz").write_bytes(buf.getvalue())
    with pytest.warns(UserWarning, match="Skipping invalid path.*evil"):
        path = get_file(origin=f"{server.url}/evil.tar.gz", cache_dir=cache, extract=True)
    assert _tree(path) == {"ok.txt": b"ok"} and not os.path.lexists(Path(path) / "evil")
    assert sorted(os.listdir(cache / "datasets")) == ["evil.tar.gz", "evil.tar.gz_archive"]
    assert not any(p.name == "evil" for p in cache.parent.rglob("*"))


def test_offline_error_names_the_url(tmp_path):
    url = f"{closed_port_url()}/payload.bin"
    with pytest.raises(DownloadError) as info:
        get_file(origin=url, cache_dir=tmp_path)
    message = str(info.value)
    assert url in message and str(tmp_path / "datasets" / "payload.bin") in message
    assert isinstance(info.value, ConnectionError)
    assert os.listdir(tmp_path / "datasets") == []


def test_missing_file_on_the_server(served):
    server, cache = served
    with pytest.raises(DownloadError, match="missing.bin"):
        get_file(origin=f"{server.url}/missing.bin", cache_dir=cache)
    assert os.listdir(cache / "datasets") == []


def test_bad_arguments(served):
    server, cache = served
    with pytest.raises(ValueError, match="Paths are no longer accepted"):
        get_file(os.path.join("a", "b.bin"), f"{server.url}/payload.bin", cache_dir=cache)
    with pytest.raises(ValueError, match="origin"):
        get_file("b.bin")
    with pytest.raises(ValueError, match="fname"):
        get_file(origin=f"{server.url}/", cache_dir=cache)


def test_keras_utils_names(capsys):
    import keras

    for name in [
        "get_file",
        "Progbar",
        "register_keras_serializable",
        "custom_object_scope",
        "CustomObjectScope",
        "get_registered_name",
        "get_registered_object",
        "pack_x_y_sample_weight",
        "unpack_x_y_sample_weight",
    ]:
        assert hasattr(keras.utils, name) and callable(getattr(convolve.utils, name)), name
    bar = convolve.utils.Progbar(10, verbose=0)
    for step in range(1, 11):
        bar.update(step, [("loss", 1.0 / step)])
    assert bar._seen_so_far == 10 and capsys.readouterr().out == ""  # verbose=0: silent


def test_pack_and_unpack_match_keras():
    import keras

    x, y, w = np.ones((4, 2)), np.zeros(4), np.full(4, 0.5)

    def same(a, b):
        assert type(a) is type(b)
        if isinstance(a, tuple):
            assert len(a) == len(b) and all(u is v for u, v in zip(a, b, strict=True))
        else:
            assert a is b

    for args in [(x,), ([x, y],), ((x, y),), (x, y), (x, y, w), (x, None, w)]:
        same(
            convolve.utils.pack_x_y_sample_weight(*args),
            keras.utils.pack_x_y_sample_weight(*args),
        )
    for data in [x, (x,), [x, y], (x, y), (x, y, w), [x, y, w]]:
        same(
            convolve.utils.unpack_x_y_sample_weight(data),
            keras.utils.unpack_x_y_sample_weight(data),
        )
    for bad in [(x, y, w, w), ()]:
        with pytest.raises(ValueError):
            keras.utils.unpack_x_y_sample_weight(bad)
        with pytest.raises(ValueError):
            convolve.utils.unpack_x_y_sample_weight(bad)
