"""Hostile files: nothing in a model file runs, every bad file fails with the library's error.

Each malicious payload tries to create a marker file; the tests check it never appears.
"""

from __future__ import annotations

import base64
import io
import json
import marshal
import os
import pickle
import random
import re
import resource
import struct
import time
import zipfile

import h5py
import numpy as np
import pytest
import torch
from sample_files import small_saved_model

from convolve import layers, saving
from convolve.saving import ModelFileError, UnsafeModelError

# A load that takes longer than this is treated as a hang.
_SECONDS = 10.0


class _Exploit:
    """Unpickling this creates the marker file (what a malicious checkpoint would do)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "MARKER"
    yield str(path)
    assert not path.exists(), "a payload from a model file was executed"


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """A valid model and its files: .keras, .weights.h5, .safetensors."""
    root = tmp_path_factory.mktemp("valid")
    model = small_saved_model()
    saving.save_model(model, root / "m.keras")
    saving.save_weights(model, root / "m.weights.h5")
    saving.save_weights(model, root / "m.safetensors")
    files = {s: (root / f"m{s}").read_bytes() for s in (".keras", ".weights.h5", ".safetensors")}
    return model, files


def _check(fn, error=ModelFileError):
    """Runs one load; it must fail with `error` quickly, without a memory blow-up."""
    start = time.perf_counter()
    with pytest.raises(error) as caught:
        fn()
    assert time.perf_counter() - start < _SECONDS
    assert isinstance(caught.value, ValueError)
    return caught.value


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _zip(members: dict[str, bytes], path, tweak=None) -> None:
    """A plain zip (no integrity comment), as Keras would write it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            if tweak:
                tweak(info)
            zf.writestr(info, data)
    path.write_bytes(buffer.getvalue())


def _with_config(files, path, edit) -> None:
    members = _members(files[".keras"])
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    _zip(members, path)


def _with_h5(files, path, edit) -> None:
    members = _members(files[".keras"])
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "a") as f:
        edit(f)
    members["model.weights.h5"] = buffer.getvalue()
    _zip(members, path)


# --------------------------------------------------------------------- pickles
@pytest.mark.parametrize("suffix", [".keras", ".h5", ".safetensors", ".weights.h5"])
def test_pickles_never_load(suffix, tmp_path, marker, valid):
    model, _ = valid
    path = tmp_path / f"evil{suffix}"
    path.write_bytes(pickle.dumps(_Exploit(marker)))
    error = _check(lambda: saving.load_weights(model, path), UnsafeModelError)
    assert "pickle" in str(error) and path.name in str(error)
    _check(lambda: saving.load_model(path), ModelFileError)


def test_torch_checkpoint_renamed_keras_is_refused(tmp_path, marker):
    path = tmp_path / "evil.keras"
    torch.save({"payload": _Exploit(marker)}, path)
    error = _check(lambda: saving.load_model(path), UnsafeModelError)
    assert "pickle" in str(error)


# --------------------------------------------------------------------- configs
def _layer(config):
    return config["config"]["layers"][1]


@pytest.mark.parametrize(
    "module, class_name",
    [("os", "system"), ("subprocess", "Popen"), ("builtins", "eval"), ("posix", "system")],
)
def test_config_naming_arbitrary_classes_is_refused(module, class_name, tmp_path, valid):
    def edit(config):
        _layer(config).update(module=module, class_name=class_name, registered_name=None)
        _layer(config)["config"] = {"command": "touch MARKER"}

    _with_config(valid[1], tmp_path / "evil.keras", edit)
    error = _check(lambda: saving.load_model(tmp_path / "evil.keras"), UnsafeModelError)
    assert f"{module}.{class_name}" in str(error) and "evil.keras" in str(error)
    assert "config.json: $.config.layers[1]" in str(error)


@pytest.mark.parametrize(
    "where",
    ["activation", "kernel_initializer", "compile_loss", "compile_optimizer", "registered"],
)
def test_nested_references_to_builtins_are_refused(where, tmp_path, valid):
    evil = {"module": "builtins", "class_name": "function", "config": "eval",
            "registered_name": "function"}  # fmt: skip

    def edit(config):
        conv = _layer(config)["config"]
        if where == "activation":
            conv["activation"] = evil
        elif where == "kernel_initializer":
            conv["kernel_initializer"] = {"module": "os", "class_name": "system", "config": {}}
        elif where == "compile_loss":
            config["compile_config"]["loss"] = {**evil, "config": "exec"}
        elif where == "compile_optimizer":
            config["compile_config"]["optimizer"] = {"module": "subprocess", "class_name": "run",
                                                     "config": {}}  # fmt: skip
        else:
            _layer(config)["registered_name"] = "os>system"
            _layer(config)["module"] = "os"

    _with_config(valid[1], tmp_path / "evil.keras", edit)
    _check(lambda: saving.load_model(tmp_path / "evil.keras"), UnsafeModelError)


def _lambda_entry(marker: str) -> dict:
    """A Lambda layer whose function writes the marker file when it runs."""
    code = (lambda x, path=None: open(path, "w").write("pwned") and x).__code__  # noqa: E731
    raw = base64.b64encode(marshal.dumps(code)).decode()
    function = {"class_name": "__lambda__",
                "config": {"code": raw, "defaults": [marker], "closure": None}}  # fmt: skip
    return {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {"name": "lam", "function": function, "output_shape": [48]},
        "registered_name": None,
    }


def test_lambda_bytecode_is_refused_in_safe_mode(tmp_path, marker, valid):
    _with_config(valid[1], tmp_path / "evil.keras",
                 lambda c: c["config"]["layers"].insert(1, _lambda_entry(marker)))  # fmt: skip
    error = _check(lambda: saving.load_model(tmp_path / "evil.keras"), UnsafeModelError)
    assert "Lambda" in str(error) or "bytecode" in str(error)
    with pytest.raises(UnsafeModelError, match="bytecode"):
        saving.deserialize_layer(
            {
                "class_name": "Dense",
                "config": {
                    "units": 2,
                    "activation": {"class_name": "__lambda__", "config": {"value": "AA=="}},
                },
            }
        )


def test_lambda_layers_load_only_with_safe_mode_off(tmp_path, marker, valid):
    _with_config(valid[1], tmp_path / "lam.keras",
                 lambda c: c["config"]["layers"].insert(3, _lambda_entry(marker)))  # fmt: skip
    if not hasattr(layers, "Lambda"):
        with pytest.raises(ModelFileError, match="Lambda"):
            saving.load_model(tmp_path / "lam.keras", safe_mode=False)
        return
    model = saving.load_model(tmp_path / "lam.keras", safe_mode=False)
    assert type(model.layers[2]).__name__ == "Lambda"
    assert not os.path.exists(marker)  # loading runs nothing; calling the model would


def test_huge_layer_in_config_fails_before_allocating(tmp_path, valid):
    def edit(config):
        _layer(config)["config"]["filters"] = 2**40  # terabytes of kernel if built for real

    _with_config(valid[1], tmp_path / "evil.keras", edit)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    error = _check(lambda: saving.load_model(tmp_path / "evil.keras"))
    # Caught by the weights-against-file check, or earlier, when the next layer's input
    # no longer fits what it was built for; either way before anything is allocated.
    assert re.search(r"layers/conv2d/vars|expected axis -1 .* 1099511627776", str(error))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


def test_malformed_configs(tmp_path, valid):
    cases = [
        lambda c: c.update(class_name="Nonexistent"),
        lambda c: c["config"].update(layers="not a list"),
        lambda c: _layer(c)["config"].update(filters="three"),
        lambda c: _layer(c)["config"].update(quantization_config={"mode": "int8"}),
        lambda c: _layer(c).update(config=[1, 2]),
        lambda c: c["config"]["layers"].__setitem__(1, {"class_name": "Dense", "config": None}),
    ]
    for i, edit in enumerate(cases):
        _with_config(valid[1], tmp_path / f"bad{i}.keras", edit)
        _check(lambda i=i: saving.load_model(tmp_path / f"bad{i}.keras"))
    members = _members(valid[1][".keras"])
    for i, config in enumerate([b"{", b"[]", b"\xff\xfe", b"[" * 100_000]):
        _zip({**members, "config.json": config}, tmp_path / f"json{i}.keras")
        _check(lambda i=i: saving.load_model(tmp_path / f"json{i}.keras"))


# --------------------------------------------------------------------- archives
@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/evil.txt", "assets/../../evil", "C:/evil"])
def test_path_traversal_members_are_refused(name, tmp_path, valid):
    members = {**_members(valid[1][".keras"]), name: b"x"}
    _zip(members, tmp_path / "evil.keras")
    error = _check(lambda: saving.load_model(tmp_path / "evil.keras"), UnsafeModelError)
    assert name in str(error)


def test_symlink_member_is_refused(tmp_path, valid):
    members = _members(valid[1][".keras"])

    def tweak(info):
        if info.filename == "config.json":
            info.external_attr = 0o120777 << 16

    _zip(members, tmp_path / "evil.keras", tweak)
    error = _check(lambda: saving.load_model(tmp_path / "evil.keras"), UnsafeModelError)
    assert "symbolic link" in str(error)


def test_zip_bombs_are_refused(tmp_path, valid):
    members = _members(valid[1][".keras"])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr("assets/padding.bin", bytes(16 << 20))  # 16 MiB of zeros: ratio ~1000
    (tmp_path / "ratio.keras").write_bytes(buffer.getvalue())
    error = _check(lambda: saving.load_model(tmp_path / "ratio.keras"), UnsafeModelError)
    assert "zip bomb" in str(error)

    # A stored member whose central directory entry claims 4 GiB.
    data = bytearray(valid[1][".keras"])
    start = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 1)  # config.json's entry
    assert data[start + 46 : start + 57] == b"config.json"
    struct.pack_into("<L", data, start + 24, 0xFFFFFFF0)  # uncompressed size
    struct.pack_into("<L", data, start + 20, 0xFFFFFFF0)  # compressed size
    (tmp_path / "declared.keras").write_bytes(bytes(data))
    _check(lambda: saving.load_model(tmp_path / "declared.keras"))


def test_overlapping_members_are_refused(tmp_path, valid):
    """Two central entries pointing at one local header: the overlapping-entry bomb shape."""
    data = bytearray(valid[1][".keras"])
    eocd = data.rfind(b"PK\x05\x06")
    central = struct.unpack_from("<L", data, eocd + 16)[0]
    first_offset = struct.unpack_from("<L", data, central + 42)[0]
    second = central + 46 + struct.unpack_from("<H", data, central + 28)[0]
    struct.pack_into("<L", data, second + 42, first_offset)
    data = data[: -(16 + 64)]  # drop the integrity record so only the layout check applies
    struct.pack_into("<H", data, eocd + 20, 0)
    (tmp_path / "overlap.keras").write_bytes(bytes(data))
    _check(lambda: saving.load_model(tmp_path / "overlap.keras"))


# --------------------------------------------------------------------- HDF5
def test_hdf5_external_link_is_refused(tmp_path, valid):
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["data"] = np.ones((3, 3, 2, 3), np.float32)

    def edit(f):
        del f["layers/conv2d/vars/0"]
        f["layers/conv2d/vars/0"] = h5py.ExternalLink(str(secret), "/data")

    _with_h5(valid[1], tmp_path / "evil.keras", edit)
    error = _check(lambda: saving.load_model(tmp_path / "evil.keras"), UnsafeModelError)
    assert "external link" in str(error)
    model = valid[0]
    buffer = io.BytesIO(valid[1][".weights.h5"])
    with h5py.File(buffer, "a") as f:
        edit(f)
    (tmp_path / "evil.weights.h5").write_bytes(buffer.getvalue())
    _check(lambda: saving.load_weights(model, tmp_path / "evil.weights.h5"), UnsafeModelError)


def test_hdf5_soft_link_and_external_storage_are_refused(tmp_path, valid):
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.ones(3 * 3 * 2 * 3, np.float32).tobytes())

    def soft(f):
        del f["layers/conv2d/vars/0"]
        f["layers/conv2d/vars/0"] = h5py.SoftLink("/layers/conv2d/vars/1")

    def external(f):
        del f["layers/conv2d/vars/0"]
        f["layers/conv2d/vars"].create_dataset(
            "0", shape=(3, 3, 2, 3), dtype="f4", external=[(str(raw), 0, h5py.h5f.UNLIMITED)]
        )

    for i, edit in enumerate((soft, external)):
        _with_h5(valid[1], tmp_path / f"evil{i}.keras", edit)
        _check(lambda i=i: saving.load_model(tmp_path / f"evil{i}.keras"), UnsafeModelError)


def test_hdf5_declared_size_beyond_the_file_is_refused(tmp_path, valid):
    def edit(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", shape=(48, 4), dtype="f4", chunks=(48, 4))

    _with_h5(valid[1], tmp_path / "empty.keras", edit)  # declared, never stored
    error = _check(lambda: saving.load_model(tmp_path / "empty.keras"))
    assert "stores only" in str(error)


# --------------------------------------------------------------------- safetensors
def test_safetensors_with_lying_headers(tmp_path, valid):
    model, files = valid
    good = files[".safetensors"]
    (size,) = struct.unpack("<Q", good[:8])
    header = json.loads(good[8 : 8 + size])
    cases = {
        "long_header": struct.pack("<Q", 1 << 40) + good[8:],
        "huge_tensor": None,
        "outside": None,
        "not_json": struct.pack("<Q", 4) + b"{{{{" + b"\x00" * 16,
    }
    big = json.loads(json.dumps(header))
    big["layers/dense/kernel"]["shape"] = [1 << 20, 1 << 20]
    outside = json.loads(json.dumps(header))
    outside["layers/dense/kernel"]["data_offsets"] = [0, 1 << 40]
    for name, edited in (("huge_tensor", big), ("outside", outside)):
        encoded = json.dumps(edited).encode()
        encoded += b" " * (-len(encoded) % 8)
        cases[name] = struct.pack("<Q", len(encoded)) + encoded + good[8 + size :]
    for name, data in cases.items():
        (tmp_path / f"{name}.safetensors").write_bytes(data)
        _check(lambda name=name: saving.load_weights(model, tmp_path / f"{name}.safetensors"))


# --------------------------------------------------------------------- damage
def _offsets(length: int, count: int, seed: int) -> list[int]:
    return sorted(random.Random(seed).sample(range(1, length), count))


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5", ".safetensors"])
def test_truncations_fail_cleanly(suffix, tmp_path, valid):
    model, files = valid
    data = files[suffix]
    path = tmp_path / f"cut{suffix}"
    load = (lambda: saving.load_model(path)) if suffix == ".keras" else (
        lambda: saving.load_weights(model, path)
    )  # fmt: skip
    for cut in [0, *_offsets(len(data), 99, seed=7)]:
        path.write_bytes(data[:cut])
        _check(load)


def _flips(suffix: str, count: int, tmp_path, valid) -> None:
    model, files = valid
    data = files[suffix]
    path = tmp_path / f"flip{suffix}"
    load = (lambda: saving.load_model(path)) if suffix == ".keras" else (
        lambda: saving.load_weights(model, path)
    )  # fmt: skip
    rng = random.Random(1234)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(count):
        damaged = bytearray(data)
        position = rng.randrange(len(damaged))
        damaged[position] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(damaged))
        _check(load)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


@pytest.mark.parametrize("suffix", [".keras", ".safetensors"])
def test_bit_flips_are_detected(suffix, tmp_path, valid):
    _flips(suffix, 150, tmp_path, valid)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".keras", ".safetensors"])
def test_bit_flips_are_detected_full(suffix, tmp_path, valid):
    _flips(suffix, 1000, tmp_path, valid)
