"""Atomic writes: a failure in the middle of a save leaves the previous file untouched."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
from saving_models import build

from convolve import saving
from convolve.saving import atomic


def _half_then_full_disk(f, data):
    f.write(data[: len(data) // 2])
    raise OSError(errno.ENOSPC, "No space left on device")


def _save(model, path):
    if path.name.endswith(".keras"):
        model.save(path)
    elif path.name.endswith((".pt2", ".pt")):
        model.export(path, format="torch_export" if path.suffix == ".pt2" else "torchscript")
    else:
        model.save_weights(path)


CASES = [("m.keras", failure) for failure in ("write", "fsync", "replace", "interrupt")] + [
    (name, "write") for name in ("m.weights.h5", "m.safetensors", "m.pt2", "m.pt")
]


@pytest.mark.parametrize("filename, failure", CASES)
def test_failed_save_keeps_the_previous_file(filename, failure, tmp_path, monkeypatch):
    path = tmp_path / filename
    _save(build("conv2d", seed=0), path)
    original = path.read_bytes()
    changed = build("conv2d", seed=1)

    if failure == "write":
        monkeypatch.setattr(atomic, "_copy_into", _half_then_full_disk)
    elif failure == "fsync":

        def fsync(fd):
            raise OSError(errno.EIO, "I/O error")

        monkeypatch.setattr(atomic.os, "fsync", fsync)
    elif failure == "replace":

        def replace(src, dst):
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(atomic.os, "replace", replace)
    else:

        def interrupted(f, data):
            f.write(data[:100])
            raise KeyboardInterrupt

        monkeypatch.setattr(atomic, "_copy_into", interrupted)

    with pytest.raises((OSError, KeyboardInterrupt)):
        _save(changed, path)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == [filename]  # no temporary file left behind


def test_successful_save_replaces_and_keeps_permissions(tmp_path):
    path = tmp_path / "m.keras"
    _save(build("mlp", seed=0), path)
    os.chmod(path, 0o640)
    model = build("mlp", seed=1)
    _save(model, path)
    assert os.stat(path).st_mode & 0o777 == 0o640
    loaded = saving.load_model(path)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert sorted(os.listdir(tmp_path)) == [".previous-m.keras", "m.keras"]


# A flipped byte is caught by the zip's CRC-32 (.keras) and the SHA-256 (.safetensors);
# Keras's .weights.h5 format carries no checksum, so there only truncation is detectable.
@pytest.mark.parametrize(
    "filename, damage",
    [("m.keras", "truncate"), ("m.keras", "flip"), ("m.safetensors", "truncate"),
     ("m.safetensors", "flip"), ("m.weights.h5", "truncate")],
)  # fmt: skip
def test_a_damaged_file_falls_back_to_its_previous_generation(filename, damage, tmp_path):
    path = tmp_path / filename
    first, second = build("conv2d", seed=0), build("conv2d", seed=1)
    _save(first, path)
    _save(second, path)
    previous = tmp_path / f".previous-{filename}"
    assert previous.read_bytes() != path.read_bytes()
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) * 2 // 3]
    else:
        data[len(data) * 2 // 3] ^= 0x55
    path.write_bytes(bytes(data))
    target = build("conv2d", seed=2)
    with pytest.warns(UserWarning, match=r"cannot be read .*loaded the previous generation"):
        if filename.endswith(".keras"):
            target = saving.load_model(path)
        else:
            target.load_weights(path)
    for a, b in zip(first.get_weights(), target.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_without_a_previous_generation_the_damage_is_reported(tmp_path):
    path = tmp_path / "m.keras"
    _save(build("conv2d"), path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(saving.ModelFileError, match=r"m\.keras"):
        saving.load_model(path)


def test_new_files_get_ordinary_permissions(tmp_path):
    path = tmp_path / "w.safetensors"
    build("mlp").save_weights(path)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
