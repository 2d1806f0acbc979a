"""Files and models that several test folders build the same way.

Importable from any test (the tests folder is on `sys.path` under pytest, through its
`conftest.py`); scripts under `tests/` put it there themselves.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any


def png_bytes(width: int, height: int, bit_depth: int, color_type: int, raw: bytes) -> bytes:
    """A PNG written by hand, for the kinds Pillow does not write (16-bit RGB, bombs)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def small_saved_model() -> Any:
    """The compiled model the model-file tests save and load (and the fuzz seeds hold)."""
    from convolve import layers
    from convolve.models import Sequential

    model = Sequential(
        [
            layers.Input((6, 6, 2)),
            layers.Conv2D(3, 3, activation="relu"),
            layers.BatchNormalization(),
            layers.Flatten(),
            layers.Dense(4),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    return model
