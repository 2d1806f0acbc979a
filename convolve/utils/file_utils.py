"""`get_file`: Keras's cached download (with hash check and archive extraction)."""

from __future__ import annotations

import inspect
import os
import shutil
import tarfile
import tempfile
import urllib.parse
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from convolve.data import download as _download
from convolve.training.console import print_msg


def get_file(
    fname: str | os.PathLike | None = None,
    origin: str | None = None,
    untar: bool = False,
    md5_hash: str | None = None,
    file_hash: str | None = None,
    cache_subdir: str = "datasets",
    hash_algorithm: str = "auto",
    extract: bool = False,
    archive_format: str | list[str] | None = "auto",
    cache_dir: str | os.PathLike | None = None,
    force_download: bool = False,
) -> str:
    """Downloads a file from a URL if it is not already in the cache, as Keras does.

    The file at `origin` is saved as `<cache_dir>/<cache_subdir>/<fname>`. A cached file is
    used as is, unless `file_hash` is given and does not match (then it is downloaded
    again) or `force_download` is set. With `extract=True` a tar (plain, gz, bz2, xz) or
    zip archive is unpacked; the folder names follow Keras: without `fname`, origin
    `.../flower_photos.tgz` is saved as `flower_photos.tgz_archive` and extracted to
    `flower_photos.tgz`; `fname="data.tar.gz"` extracts to `data_extracted`; `fname="data"`
    saves `data_archive` and extracts to `data`. Archive members that would land outside
    the extraction folder (`../x`, absolute paths, links leading out) are skipped with a
    warning.

    Differences from Keras, on purpose:

    - The default `cache_dir` is convolve's home, `$CONVOLVE_HOME` (default `~/.convolve`),
      so files land in `~/.convolve/datasets` beside the built-in datasets. A file that
      Keras has already downloaded into its default cache (`~/.keras`, same sub-folder and
      name, passing `file_hash`; with `extract`, also extracted there) is returned from
      there instead of being downloaded again.
    - A download goes to a hidden temporary file in the same folder and is renamed into
      place only after its hash matches: no partial or unverified file is ever left at the
      target. A hash mismatch deletes it and raises `ChecksumError` (a `ValueError`) naming
      the URL and both hashes; a failed download raises `DownloadError` (a
      `ConnectionError`) naming the URL and the path to place the file at to work offline.
    - Extraction goes to a temporary folder renamed into place (never a half-extracted
      folder), and happens only when the archive was downloaded by this call or the
      folder is missing (Keras unpacks again on every call).

    Example:
        >>> path = get_file(origin="https://example.com/flower_photos.tgz", extract=True)
        ... # doctest: +SKIP

    Args:
        fname: Local file name (default: the last part of `origin`'s path). Must not
            contain a path separator; use `cache_dir` for the folder.
        origin: URL of the file.
        untar: Deprecated alias of `extract=True` with `archive_format="tar"`.
        md5_hash: Deprecated; an MD5 `file_hash`.
        file_hash: Expected SHA-256 or MD5 of the file (hex).
        cache_subdir: Sub-folder of `cache_dir` (an absolute path is used as is).
        hash_algorithm: `"sha256"`, `"md5"` or `"auto"` (SHA-256 for a 64-character hash,
            else MD5).
        extract: Whether to extract the archive.
        archive_format: `"auto"` (tar then zip), `"tar"`, `"zip"`, a list of those, or
            None (no extraction).
        cache_dir: Base cache folder (default `$CONVOLVE_HOME`, `~/.convolve`). If it is not
            writable, `<temp dir>/.convolve` is used, as Keras falls back to `/tmp/.keras`.
        force_download: Download even if the file is cached.

    Returns:
        The path of the file, or of the extraction folder when extracting.

    Raises:
        ValueError: `origin` is missing, no file name can be derived, or `fname` holds a
            path separator.
        DownloadError: The file cannot be downloaded.
        ChecksumError: The downloaded file does not have `file_hash`.
    """
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    datadir = _writable_datadir(cache_dir, cache_subdir)

    provided_fname = fname
    fname = os.fspath(fname) if fname is not None else None
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(
                f"Can't parse the file name from the origin provided: '{origin}'. "
                "Please specify the `fname` argument."
            )
    elif os.sep in fname:
        raise ValueError(
            "Paths are no longer accepted as the `fname` argument. To specify the file's "
            f"parent directory, use the `cache_dir` argument. Received: fname={fname}"
        )

    # Keras's naming rules, kept exactly so that paths match between the two.
    extraction_dir = None
    if extract or untar:
        if provided_fname and "." in fname:
            download_target = os.path.join(datadir, fname)
            extraction_dir = os.path.join(datadir, f"{fname[: fname.find('.')]}_extracted")
        else:
            extraction_dir = os.path.join(datadir, fname)
            download_target = os.path.join(datadir, f"{fname}_archive")
    else:
        download_target = os.path.join(datadir, fname)

    algorithm = _download.resolve_algorithm(hash_algorithm, file_hash)
    if cache_dir is None and not force_download and not os.path.exists(download_target):
        kept_by_keras = _keras_copy(
            cache_subdir, download_target, extraction_dir, file_hash, algorithm
        )
        if kept_by_keras is not None:
            return kept_by_keras
    download = force_download or not os.path.exists(download_target)
    if not download and file_hash is not None:
        if _download.hash_file(download_target, algorithm) != file_hash.lower():
            print_msg(
                "A local file was found, but it seems to be incomplete or outdated because "
                f"the {algorithm} file hash does not match the original value of {file_hash} "
                "so we will re-download the data."
            )
            download = True
    if download:
        _download.download(origin, Path(download_target), file_hash, algorithm)

    if extraction_dir is None:
        return download_target
    if download or not os.path.isdir(extraction_dir):
        fmt = "tar" if untar else archive_format
        if not _extract_archive(download_target, extraction_dir, fmt):
            warnings.warn("Could not extract archive.", stacklevel=2)
    return extraction_dir


def _keras_copy(
    cache_subdir: str,
    download_target: str,
    extraction_dir: str | None,
    file_hash: str | None,
    algorithm: str,
) -> str | None:
    """The same file in Keras's default cache (its extracted folder, when extracting), if
    Keras has downloaded it there and it passes `file_hash`."""
    relative = os.path.join(cache_subdir, os.path.basename(download_target))
    for kept in _download.keras_copies(relative, file_hash, algorithm):
        if extraction_dir is None:
            return str(kept)
        extracted = kept.with_name(os.path.basename(extraction_dir))
        if extracted.is_dir():
            return str(extracted)
    return None


def _writable_datadir(cache_dir: Any, cache_subdir: str) -> str:
    if cache_dir is None:
        cache_dir = _download.cache_dir().parent  # $CONVOLVE_HOME
    base = os.path.expanduser(os.fspath(cache_dir))
    try:
        os.makedirs(base, exist_ok=True)
    except OSError:
        pass
    if not os.access(base, os.W_OK):
        base = os.path.join(tempfile.gettempdir(), ".convolve")
    datadir = os.path.join(base, cache_subdir)
    os.makedirs(datadir, exist_ok=True)
    return datadir


def _extract_archive(file_path: str, path: str, archive_format: Any = "auto") -> bool:
    """Keras's `extract_archive`, unpacking into a temporary folder renamed to `path`.

    Returns whether the file matched one of the formats (and was extracted).
    """
    if archive_format is None:
        return False
    if archive_format == "auto":
        archive_format = ["tar", "zip"]
    if isinstance(archive_format, str):
        archive_format = [archive_format]
    for kind in archive_format:
        if kind == "tar":
            opener, matches = tarfile.open, tarfile.is_tarfile
        elif kind == "zip":
            opener, matches = zipfile.ZipFile, zipfile.is_zipfile
        else:
            raise NotImplementedError(kind)
        if not matches(file_path):
            continue
        parent, name = os.path.split(os.path.abspath(path))
        tmp = os.path.join(parent, f".{name}.{os.urandom(4).hex()}.part")
        os.mkdir(tmp)  # not mkdtemp: the folder gets the umask's permissions, not 0700
        try:
            with opener(file_path) as archive:
                _extract_safely(archive, tmp)
            _replace(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return True
    return False


def _replace(src: str, dst: str) -> None:
    """Puts folder `src` at `dst`, moving an existing `dst` (file or folder) out of the way."""
    old = None
    if os.path.lexists(dst):
        old = f"{dst}.{os.urandom(4).hex()}.old"
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old) if os.path.isdir(old) else os.remove(old)


def _inside(base: str, name: str) -> bool:
    path = os.path.realpath(os.path.join(base, name))
    return os.path.commonpath([path, base]) == base


def _safe_members(archive: Any, base: str) -> Iterator[Any]:
    """Members that stay inside `base`, links included (as Keras checks them); the others
    are skipped with a warning."""
    is_zip = isinstance(archive, zipfile.ZipFile)
    for m in archive.infolist() if is_zip else archive:
        name = m.filename if is_zip else m.name
        ok = _inside(base, name)
        if not is_zip and m.islnk():  # a hard link's target is relative to the root
            ok = ok and _inside(base, m.linkname)
        elif not is_zip and m.issym():  # a symbolic link's, to the link's own folder
            ok = ok and _inside(base, os.path.join(os.path.dirname(name), m.linkname))
        if ok:
            yield m
        else:
            warnings.warn(
                f"Skipping invalid path during archive extraction: '{name}'.", stacklevel=2
            )


def _extract_safely(archive: Any, path: str) -> None:
    base = os.path.realpath(path)
    kwargs = {}
    if not isinstance(archive, zipfile.ZipFile) and (
        "filter" in inspect.signature(archive.extractall).parameters
    ):
        kwargs["filter"] = "data"  # Python >= 3.11.4: also refuses device files and the like
    archive.extractall(path, members=_safe_members(archive, base), **kwargs)
