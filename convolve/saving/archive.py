"""The `.keras` zip archive: written as Keras writes it, read without trusting it.

A `.keras` file is a zip with `metadata.json`, `config.json` and `model.weights.h5`,
stored uncompressed. convolve adds an archive comment, `convolve-sha256:<hex>`, the SHA-256
of every byte before the comment; Keras ignores it, and convolve uses it to detect any
change to a file it wrote (a flipped bit anywhere, a truncation). Archives without it (those
written by Keras) get the structural checks only.

Reading refuses, before decompressing anything: members with absolute paths, `..`,
backslashes or drive letters; symlinks and other special files; duplicate names;
encrypted members; members whose declared size exceeds what the archive stores or whose
compression ratio marks a zip bomb; members that overlap, leave gaps or hide data between
them (the layout used by overlapping-entry zip bombs); and anything that is not a zip,
such as a pickle renamed `.keras`.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import zipfile
from typing import Any

from convolve.saving.errors import ModelFileError, UnsafeModelError, refuse_pickle

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS = "model.weights.h5"
_PREFIX = b"convolve-sha256:"
_RECORD = len(_PREFIX) + 64
_DATE = (1980, 1, 1, 0, 0, 0)
_MAX_MEMBERS = 10_000
_MAX_RATIO = 200  # DEFLATE reaches ~1000:1 only on degenerate data such as bombs
_RATIO_FLOOR = 1 << 20  # small members may compress better than the ratio
_LOCAL = struct.Struct("<4sHHHHHLLLHH")


def write_archive(members: list[tuple[str, bytes]]) -> bytes:
    """A `.keras` archive (as bytes) holding `members`, stored, with the integrity comment."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
        zf.comment = _PREFIX + b"0" * 64
    raw = bytearray(buffer.getvalue())
    raw[-64:] = hashlib.sha256(raw[:-_RECORD]).hexdigest().encode()
    return bytes(raw)


class ArchiveReader:
    """Validates a `.keras` archive held in memory and reads members from it.

    Args:
        data: the whole file.
        path: the file name, for error messages.
    """

    def __init__(self, data: bytes, path: Any) -> None:
        self.path = path
        self.data = data
        if not data.startswith(b"PK\x03\x04"):
            refuse_pickle(data, path)
            raise ModelFileError(path, None, "not a .keras archive (no zip signature)")
        self.signed = self._verify_integrity()
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error) as err:
            raise ModelFileError(path, None, f"damaged zip archive: {err}") from None
        if self.zip.comment and not self.signed:
            raise ModelFileError(path, None, "unrecognized archive comment (damaged file?)")
        self.infos = self.zip.infolist()
        self._check_members()
        self._check_layout()

    def _verify_integrity(self) -> bool:
        data = self.data
        record = data[-_RECORD:]
        if len(data) < _RECORD + 22 or not record.startswith(_PREFIX):
            return False
        eocd = len(data) - _RECORD - 22
        if data[eocd : eocd + 4] != b"PK\x05\x06" or data[eocd + 20 : eocd + 22] != struct.pack(
            "<H", _RECORD
        ):
            return False
        digest = record[len(_PREFIX) :]
        if hashlib.sha256(data[:-_RECORD]).hexdigest().encode() != digest:
            raise ModelFileError(
                self.path, None, "integrity check failed: the file was modified or damaged"
            )
        return True

    # ----------------------------------------------------------------- checks
    def unsafe(self, entry: str | None, problem: str) -> UnsafeModelError:
        return UnsafeModelError(self.path, entry, problem)

    def error(self, entry: str | None, problem: str) -> ModelFileError:
        return ModelFileError(self.path, entry, problem)

    def _check_members(self) -> None:
        if len(self.infos) > _MAX_MEMBERS:
            raise self.unsafe(None, f"{len(self.infos)} members; at most {_MAX_MEMBERS} allowed")
        seen: set[str] = set()
        total = 0
        for info in self.infos:
            name = info.filename
            if (
                not name
                or len(name) > 1024
                or "\x00" in name
                or "\\" in name
                or name.startswith("/")
                or re.match(r"^[A-Za-z]:", name)
                or any(part in ("..", ".") for part in name.split("/"))
            ):
                raise self.unsafe(name, "member path escapes the archive (absolute or '..')")
            if name in seen:
                raise self.unsafe(name, "the archive holds two members with this name")
            seen.add(name)
            kind = (info.external_attr >> 16) & 0o170000
            if kind == 0o120000:
                raise self.unsafe(name, "symbolic link member refused")
            if kind not in (0, 0o100000, 0o040000):
                raise self.unsafe(name, f"special file member (mode {kind:o}) refused")
            if info.flag_bits & 0x1:
                raise self.error(name, "encrypted members are not supported")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise self.error(name, f"unsupported compression method {info.compress_type}")
            if info.compress_size > len(self.data):
                raise self.error(
                    name,
                    f"declares {info.compress_size} stored bytes in a {len(self.data)}-byte file",
                )
            if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
                raise self.unsafe(
                    name, f"stored member declares {info.file_size} bytes but holds "
                    f"{info.compress_size}"
                )  # fmt: skip
            if info.file_size > max(_MAX_RATIO * info.compress_size, _RATIO_FLOOR):
                raise self.unsafe(
                    name, f"zip bomb: {info.compress_size} bytes would expand to {info.file_size}"
                )
            total += info.file_size
        if total > max(_MAX_RATIO * len(self.data), _RATIO_FLOOR):
            raise self.unsafe(None, f"zip bomb: members expand to {total} bytes in all")

    def _check_layout(self) -> None:
        """Members must tile the archive: no overlaps, gaps or hidden data between them."""
        position = 0
        for info in sorted(self.infos, key=lambda i: i.header_offset):
            name = info.filename
            if info.header_offset != position:
                raise self.unsafe(name, "member overlaps another or hides data before it")
            header = self.data[position : position + _LOCAL.size]
            if len(header) < _LOCAL.size:
                raise self.error(name, "truncated local header")
            sig, _, flags, method, _, _, crc, csize, usize, nlen, elen = _LOCAL.unpack(header)
            start = position + _LOCAL.size
            if sig != b"PK\x03\x04" or self.data[start : start + nlen] != info.orig_filename.encode(
                "utf-8" if info.flag_bits & 0x800 else "cp437", "replace"
            ):
                raise self.error(name, "local header does not match the central directory")
            if flags != info.flag_bits or method != info.compress_type:
                raise self.error(name, "local header does not match the central directory")
            descriptor = bool(flags & 0x8)
            if not descriptor and 0xFFFFFFFF not in (csize, usize):
                if (crc, csize, usize) != (info.CRC, info.compress_size, info.file_size):
                    raise self.error(name, "local header does not match the central directory")
            position = start + nlen + elen + info.compress_size
            if descriptor:
                gap = self._next_offset(info) - position
                if not 12 <= gap <= 24:
                    raise self.unsafe(name, "malformed data descriptor")
                position += gap
        if position != self.zip.start_dir:
            raise self.unsafe(None, "data hidden between the members and the central directory")

    def _next_offset(self, info: zipfile.ZipInfo) -> int:
        later = [i.header_offset for i in self.infos if i.header_offset > info.header_offset]
        return min(later) if later else self.zip.start_dir

    # ----------------------------------------------------------------- reading
    def has(self, name: str) -> bool:
        return any(info.filename == name for info in self.infos)

    def read(self, name: str, limit: int) -> bytes:
        """A member's bytes (CRC checked), refusing members larger than `limit`."""
        info = next((i for i in self.infos if i.filename == name), None)
        if info is None:
            raise self.error(name, "missing from the archive")
        if info.file_size > limit:
            raise self.unsafe(name, f"{info.file_size} bytes exceeds the {limit}-byte limit")
        try:
            with self.zip.open(info) as member:
                content = member.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error) as err:
            raise self.error(name, f"damaged member: {err}") from None
        if len(content) != info.file_size:
            raise self.error(name, "member size differs from its declared size")
        return content
