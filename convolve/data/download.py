"""Fetching dataset files into a local cache, checked against pinned SHA-256 hashes.

Files live in `$CONVOLVE_HOME/datasets` (default `~/.convolve/datasets`). A file that Keras
has already downloaded into its own cache (`$KERAS_HOME/datasets`, default
`~/.keras/datasets`) is used from there when its hash matches, so nothing is fetched twice
and a machine that ran the Keras version of a program works offline. A download is
written to a temporary file in the same folder and renamed into place only after its hash
matches, so the cache never holds a partial or unverified file. Setting
`CONVOLVE_DATASETS_URL` fetches every file from that base URL instead of its canonical
source (a mirror, or a local server).

`download` is the one download-verify-rename step, shared with `convolve.utils.get_file`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from convolve.training.console import print_msg

_CHUNK = 1 << 20


class DownloadError(ConnectionError):
    """A file could not be downloaded; says which file to place where instead."""


class ChecksumError(ValueError):
    """A downloaded file does not have the expected hash (it was not kept)."""


@dataclass(frozen=True)
class RemoteFile:
    """A file to fetch: where it comes from and what it must hash to.

    Attributes:
        url: Canonical download URL.
        sha256: Expected SHA-256 of the file, lowercase hex.
        subdir: Sub-folder of the datasets cache folder to keep it in ("" for none); Keras
            uses the same one.
        keras_filename: The file's name in Keras's cache, where Keras names it differently
            ("" for the same name).
    """

    url: str
    sha256: str
    subdir: str = ""
    keras_filename: str = ""

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def cache_dir() -> Path:
    """The datasets cache folder: `$CONVOLVE_HOME/datasets`, default `~/.convolve/datasets`."""
    home = os.environ.get("CONVOLVE_HOME") or os.path.join("~", ".convolve")
    return Path(home).expanduser() / "datasets"


def source_url(remote: RemoteFile) -> str:
    """The URL actually used: the canonical one, or `$CONVOLVE_DATASETS_URL/<file name>`."""
    base = os.environ.get("CONVOLVE_DATASETS_URL")
    if base:
        return base.rstrip("/") + "/" + remote.filename
    return remote.url


def resolve_algorithm(algorithm: str, file_hash: str | None = None) -> str:
    """Keras's rule: `"sha256"`, or `"auto"` with a 64-character hash, is SHA-256; anything
    else is MD5 (kept for old hashes)."""
    if algorithm == "sha256" or (
        algorithm == "auto" and file_hash is not None and len(file_hash) == 64
    ):
        return "sha256"
    return "md5"


def hash_file(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """The `"sha256"` or `"md5"` hash of a file, as lowercase hex."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, as lowercase hex."""
    return hash_file(path, "sha256")


def _label(algorithm: str) -> str:
    return {"sha256": "SHA-256", "md5": "MD5"}.get(algorithm, algorithm)


def download(
    url: str,
    target: Path,
    expected: str | None = None,
    algorithm: str = "sha256",
    timeout: float = 60.0,
) -> Path:
    """Downloads `url` to `target`, which appears only complete and verified.

    The bytes go to a hidden file in `target`'s folder (so the final rename stays on one
    filesystem), hashed on the way; that file replaces `target` only if its hash equals
    `expected` (when given), and is deleted otherwise.

    Args:
        url: What to download.
        target: Where to put it; its folder is created if needed.
        expected: The hash it must have (hex, any case), or None for no check.
        algorithm: `"sha256"` or `"md5"`.
        timeout: Seconds to wait for the server before giving up.

    Raises:
        DownloadError: The server cannot be reached or the transfer fails; the message
            names the URL and where to place the file by hand.
        ChecksumError: The download's hash differs from `expected` (nothing is kept).
    """
    from convolve.training.progbar import Progbar  # only when downloading: keeps imports light

    target = Path(target)
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    expected = expected.lower() if expected is not None else None
    # `open(..., "xb")` rather than mkstemp: the file gets the umask's permissions (not 0600),
    # as any other file in a shared cache.
    tmp = folder / f".{target.name}.{os.urandom(4).hex()}.part"
    digest = hashlib.new(algorithm)
    print_msg(f"Downloading data from {url}")
    try:
        try:
            with open(tmp, "xb") as out, urllib.request.urlopen(url, timeout=timeout) as r:
                size = r.headers.get("Content-Length")
                bar = Progbar(int(size) if size and size.isdigit() else None)
                done = 0
                while chunk := r.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    done += len(chunk)
                    bar.update(done)
                if bar.target is None or done < bar.target:
                    bar.update(done, finalize=True)
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", None) or e
            pin = f"; it must have {_label(algorithm)} {expected}" if expected else ""
            raise DownloadError(
                f"Could not download {url} ({reason}). To work offline, download that file "
                f"yourself and save it as {target} (file {target.name} in folder "
                f"{folder}){pin}."
            ) from e
        got = digest.hexdigest()
        if expected is not None and got != expected:
            raise ChecksumError(
                f"The file downloaded from {url} has {_label(algorithm)} {got}, but "
                f"{expected} was expected; it was deleted. The download may be corrupted or "
                f"the source may have changed; retry, or place a verified copy at {target}."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def fetch(remote: RemoteFile, fname: str | None = None, timeout: float = 60.0) -> Path:
    """Returns the local path of `remote`, downloading and verifying it if needed.

    Args:
        remote: What to fetch.
        fname: File name to store it under (default: the URL's file name).
        timeout: Seconds to wait for the server before giving up.

    Raises:
        DownloadError: The file is not cached and cannot be downloaded (e.g. offline); the
            message names the URL and the path to place the file at by hand.
        ChecksumError: The downloaded file's SHA-256 differs from the pinned one (nothing
            is kept).
    """
    name = fname or remote.filename
    target = cache_dir() / remote.subdir / name
    # A stale or damaged copy is fetched again; it stays until the new one is verified.
    if target.is_file() and sha256_of(target) == remote.sha256.lower():
        return target
    relative = Path("datasets", remote.subdir, remote.keras_filename or name)
    kept = next(keras_copies(relative, remote.sha256), None)
    if kept is not None:
        return kept
    return download(source_url(remote), target, remote.sha256, "sha256", timeout)


def keras_copies(
    relative: str | os.PathLike, file_hash: str | None, algorithm: str = "sha256"
) -> Iterator[Path]:
    """The copies of the file at `relative` in Keras's cache folders (see `keras_homes`)
    that have `file_hash` (all of them when it is None), to be used in place."""
    for home in keras_homes():
        path = home / relative
        if not path.is_file():
            continue
        if file_hash is None or hash_file(path, algorithm) == file_hash.lower():
            yield path


def keras_homes() -> list[Path]:
    """Where Keras keeps what it downloads: `$KERAS_HOME` (default `~/.keras`), and
    `/tmp/.keras`, Keras's folder when its home is not writable."""
    home = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    temp = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
    return [Path(home).expanduser(), Path(temp) / ".keras"]
