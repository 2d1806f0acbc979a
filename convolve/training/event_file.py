"""Writing TensorBoard event files without TensorFlow.

An event file is a sequence of TFRecords, each holding one serialized `tensorflow.Event`
protocol buffer. A record is::

    uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)

(little-endian, CRC-32C with TensorFlow's rotation mask). The few protobuf messages needed
(`Event`, `Summary`, `Summary.Value`, `SummaryMetadata`, `TensorProto`) are encoded here
by hand, field numbers as in TensorFlow's `event.proto`, `summary.proto` and
`tensor.proto`.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time

__all__ = ["EventFileWriter", "masked_crc32c", "scalar_value", "string_value"]


def _make_crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _make_crc32c_table()


def crc32c(data: bytes) -> int:
    """Returns the CRC-32C (Castagnoli) checksum of `data`."""
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """Returns the CRC-32C of `data` masked as TFRecord framing requires."""
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF  # Negative int64 values use ten bytes of two's complement.
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def _int_field(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def _bytes_field(field: int, value: bytes | str) -> bytes:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return _key(field, 2) + _varint(len(value)) + value


def _double_field(field: int, value: float) -> bytes:
    return _key(field, 1) + struct.pack("<d", value)


# TensorFlow's DataType and SummaryMetadata.DataClass enum values.
_DT_FLOAT = 1
_DT_STRING = 7
_DATA_CLASS_SCALAR = 1


def _summary_metadata(plugin_name: str, content: bytes = b"", data_class: int = 0) -> bytes:
    plugin_data = _bytes_field(1, plugin_name)
    if content:
        plugin_data += _bytes_field(2, content)
    message = _bytes_field(1, plugin_data)
    if data_class:
        message += _int_field(4, data_class)
    return message


def scalar_value(tag: str, value: float, with_metadata: bool = True) -> bytes:
    """Encodes a `Summary.Value` holding a float32 scalar, as `tf.summary.scalar` does.

    Args:
        tag: Name of the series.
        value: The number.
        with_metadata: Include the `scalars` plugin metadata (needed on the first value of
            each tag in a file; TensorFlow omits it afterwards).

    Returns:
        The serialized `Summary.Value`.
    """
    # TensorProto: dtype, an empty (scalar) shape, and one packed float_val.
    tensor = (
        _int_field(1, _DT_FLOAT) + _bytes_field(2, b"") + _bytes_field(5, struct.pack("<f", value))
    )
    message = _bytes_field(1, tag)
    if with_metadata:
        message += _bytes_field(9, _summary_metadata("scalars", data_class=_DATA_CLASS_SCALAR))
    return message + _bytes_field(8, tensor)


def string_value(tag: str, text: str, plugin_name: str, content: bytes = b"") -> bytes:
    """Encodes a `Summary.Value` holding a scalar string tensor for a given plugin."""
    tensor = _int_field(1, _DT_STRING) + _bytes_field(2, b"") + _bytes_field(8, text)
    return (
        _bytes_field(1, tag)
        + _bytes_field(9, _summary_metadata(plugin_name, content))
        + _bytes_field(8, tensor)
    )


def _event(
    wall_time: float, step: int = 0, *, file_version: str = "", summary: bytes = b""
) -> bytes:
    message = _double_field(1, wall_time)
    if step:
        message += _int_field(2, step)
    if file_version:
        message += _bytes_field(3, file_version)
    if summary:
        message += _bytes_field(5, summary)
    return message


_file_counter = itertools.count()


class EventFileWriter:
    """Appends events to a new event file in a directory.

    The file is named like TensorFlow's
    (`events.out.tfevents.<time>.<host>.<pid>.<n>.v2`) and starts with the
    `brain.Event:2` version record.

    Args:
        log_dir: Directory for the file; created if missing.
    """

    def __init__(self, log_dir: str | os.PathLike) -> None:
        os.makedirs(log_dir, exist_ok=True)
        # The counter is zero-padded so that files of one process created within the same
        # second sort (and so are read by TensorBoard) in creation order.
        name = (
            f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
            f"{os.getpid()}.{next(_file_counter):06d}.v2"
        )
        self.path = os.path.join(os.fspath(log_dir), name)
        self._file = open(self.path, "wb")  # noqa: SIM115
        self._tags_with_metadata: set[str] = set()
        self._write_record(_event(time.time(), file_version="brain.Event:2"))
        self.flush()

    def _write_record(self, data: bytes) -> None:
        header = struct.pack("<Q", len(data))
        self._file.write(header + struct.pack("<I", masked_crc32c(header)))
        self._file.write(data + struct.pack("<I", masked_crc32c(data)))

    def add_scalars(self, values: dict[str, float], step: int) -> None:
        """Writes one event holding a scalar for each `tag: value` pair."""
        summary = b""
        for tag, value in values.items():
            first = tag not in self._tags_with_metadata
            self._tags_with_metadata.add(tag)
            summary += _bytes_field(1, scalar_value(tag, value, with_metadata=first))
        if summary:
            self._write_record(_event(time.time(), step, summary=summary))

    def add_summary_value(self, value: bytes, step: int) -> None:
        """Writes one event holding an already encoded `Summary.Value`."""
        self._write_record(_event(time.time(), step, summary=_bytes_field(1, value)))

    def flush(self) -> None:
        """Pushes written events to the operating system, so readers can see them."""
        self._file.flush()

    def close(self) -> None:
        """Flushes and closes the file."""
        if not self._file.closed:
            self._file.close()

    @property
    def closed(self) -> bool:
        """Whether the file has been closed."""
        return self._file.closed
