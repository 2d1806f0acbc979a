"""Fetching dataset files into a local cache, checked against pinned SHA-256 hashes.

Files live in `$CONVOLVE_HOME/datasets` (default `~/.convolve/datasets`). A download is
written to a temporary file in the same folder and renamed into place only after its hash
matches, so the cache never holds a partial or unverified file. Setting
`CONVOLVE_DATASETS_URL` fetches every file from that base URL instead of its canonical
source (a mirror, or a local server).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20


class DownloadError(ConnectionError):
    """A dataset file could not be downloaded; says which file to place where instead."""


class ChecksumError(ValueError):
    """A downloaded or cached file does not have the pinned SHA-256."""


@dataclass(frozen=True)
class RemoteFile:
    """A file to fetch: where it comes from and what it must hash to.

    Attributes:
        url: Canonical download URL.
        sha256: Expected SHA-256 of the file, lowercase hex.
        subdir: Sub-folder of the datasets cache folder to keep it in ("" for none).
    """

    url: str
    sha256: str
    subdir: str = ""

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


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, as lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


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
    folder = cache_dir() / remote.subdir if remote.subdir else cache_dir()
    target = folder / (fname or remote.filename)
    expected = remote.sha256.lower()
    if target.is_file():
        if sha256_of(target) == expected:
            return target
        # A stale or damaged copy: fetch it again (the old file stays until the new one
        # is verified).
    url = source_url(remote)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        print(f"Downloading data from {url}")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as r:
                while chunk := r.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", None) or e
            raise DownloadError(
                f"Could not download {url} ({reason}). To use this dataset offline, download "
                f"that file yourself and save it as {target} (file {target.name} in folder "
                f"{folder}); it must have SHA-256 {expected}."
            ) from e
        got = digest.hexdigest()
        if got != expected:
            raise ChecksumError(
                f"The file downloaded from {url} has SHA-256 {got}, but {expected} was "
                "expected; it was deleted. The download may be corrupted or the source may "
                "have changed; retry, or place a verified copy at "
                f"{target}."
            )
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target
