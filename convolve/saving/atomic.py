"""Atomic file writes: a crash or a full disk never leaves a half-written file behind.

Every file goes to a temporary file in the destination's directory (so that the final
rename stays on one filesystem), is flushed and fsynced, and then replaces the
destination with `os.replace`, which is atomic on POSIX and Windows. On any error the
temporary file is removed and the previous file, if any, is left untouched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import IO, Any


def _current_umask() -> int:
    # Reading the umask means setting it; done once, at import, before threads start.
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


_UMASK = _current_umask()


def _fsync_directory(directory: str) -> None:
    """Makes the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_overwrite(path: Any, overwrite: bool) -> str:
    """The path as a string; raises if it exists and `overwrite` is False."""
    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"'{path}' already exists and overwrite=False.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"'{path}' is a directory; expected a file path.")
    return path


def previous_generation(path: Any) -> str:
    """Where a write with `keep_previous=True` keeps the file it replaced.

    A hidden file beside it with the same extension (so the same loader reads it):
    `run/model.keras` keeps `run/.previous-model.keras`.
    """
    directory, name = os.path.split(os.fspath(path))
    return os.path.join(directory, f".previous-{name}")


@contextlib.contextmanager
def atomic_path(path: Any, keep_previous: bool = False) -> Iterator[str]:
    """A temporary path next to `path`; on success the file there atomically becomes `path`.

    For writers that want a file name rather than a file object. With `keep_previous`,
    the file being replaced stays available as `previous_generation(path)`: at every
    moment, even if the process is killed, both names hold complete files.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if os.path.exists(path):
            # Keep the permissions the existing file had.
            with contextlib.suppress(OSError):
                os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o666 & ~_UMASK)
        if keep_previous and os.path.isfile(path):
            _link_atomically(path, previous_generation(path), directory)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _link_atomically(source: str, target: str, directory: str) -> None:
    """Makes `target` name the file `source` names, replacing any `target` in one step."""
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    os.close(fd)
    os.unlink(tmp)
    try:
        try:
            os.link(source, tmp)
        except OSError:  # no hard links on this filesystem: copy instead
            shutil.copy2(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: Any) -> Iterator[IO[bytes]]:
    """Opens a temporary file next to `path`; on success it atomically becomes `path`.

    Example:
        >>> import os, tempfile
        >>> target = os.path.join(tempfile.mkdtemp(), "data.bin")
        >>> with atomic_write(target) as f:
        ...     _ = f.write(b"hello")
        >>> open(target, "rb").read()
        b'hello'
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        yield f
        f.flush()


_CHUNK = 1 << 20


def _copy_into(f: IO[bytes], data: bytes) -> None:
    view = memoryview(data)
    for start in range(0, len(view), _CHUNK):
        f.write(view[start : start + _CHUNK])


def write_bytes_atomic(path: Any, data: bytes, keep_previous: bool = False) -> None:
    """Writes `data` to `path` atomically (see `atomic_path` for `keep_previous`)."""
    with atomic_path(path, keep_previous) as tmp, open(tmp, "wb") as f:
        _copy_into(f, data)
        f.flush()
