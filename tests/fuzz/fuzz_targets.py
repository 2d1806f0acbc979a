"""Fuzzing targets: image decoding, model files, and fit/evaluate/predict input checks.

Each target takes one plain description of an input (bytes and a file extension, a mutated
model file, or a JSON-able description of a `fit` call), runs the library on it, and
returns the outcome. The only acceptable outcomes are success or one of `ALLOWED_ERRORS`
whose message names what was wrong (the file, or the argument) and the value received;
anything else raises `FuzzFailure`: another exception type leaking, an unclear message,
or a hang (an example running longer than `HANG_SECONDS`).

`KNOWN_ISSUES` lists failures that are understood but not fixed yet (none at present);
they are reported as known instead of failing, and `test_fuzz.py` checks that each one
still reproduces, so that the entry is removed once it is fixed.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import math
import os
import random
import re
import shutil
import signal
import struct
import tempfile
import traceback
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sample_files import small_saved_model

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
IMAGE_EXTENSIONS = (".jpg", ".png", ".gif", ".bmp", ".webp", ".tif")

#: The one place that says which exceptions a bad input may raise. `ValueError` covers the
#: library's own `ModelFileError`, `UnsafeModelError` and `BadImageError`.
ALLOWED_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, OSError)

#: An example running longer than this is a hang.
HANG_SECONDS = 20


class FuzzFailure(AssertionError):
    """A bad input produced something other than success or a clear library error."""


class Hang(BaseException):  # noqa: N818 - a BaseException, so `except Exception` cannot eat it
    """Raised by the alarm when one example runs past `HANG_SECONDS`."""


@dataclass(frozen=True)
class KnownIssue:
    """A failure that is understood but not fixed yet.

    It matches an error of type `error` whose message matches `message`, or, when `frame`
    is set, any such error raised inside the library function named `frame`.
    """

    target: str
    error: type[BaseException] | tuple[type[BaseException], ...]
    message: str  # regex searched in str(error)
    where: str  # the library function to fix, and what is wrong
    frame: str | None = None


KNOWN_ISSUES: tuple[KnownIssue, ...] = ()


def _frames(error: BaseException) -> set[str]:
    names = set()
    tb = error.__traceback__
    while tb is not None:
        names.add(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    return names


def known_issue(target: str, error: BaseException) -> KnownIssue | None:
    for issue in KNOWN_ISSUES:
        if issue.target != target or not isinstance(error, issue.error):
            continue
        if issue.frame is not None:
            if issue.frame in _frames(error):
                return issue
        elif re.search(issue.message, str(error)):
            return issue
    return None


@contextlib.contextmanager
def time_limit(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Raises `Hang` in the main thread after `seconds` (no-op off the main thread)."""

    def on_alarm(signum, frame):
        raise Hang(f"no result after {seconds} s")

    try:
        previous = signal.signal(signal.SIGALRM, on_alarm)
    except ValueError:  # not the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _value_marker(message: str) -> bool:
    """Whether a message shows the value received (a quoted value, number, shape or dtype)."""
    return bool(
        re.search(r"receiv|found|got|holds|declares|both|\d|'[^']*'|\"[^\"]*\"|dtype", message)
    )


def judge(target: str, fn: Callable[[], Any], names: list[str], description: Any) -> str:
    """Runs one example: "ok", "error" (a clear allowed error) or "known"; else FuzzFailure.

    Args:
        target: "images", "models" or "fit".
        fn: the call under test.
        names: regexes of which the message must match at least one (the file name, or the
            argument names and their aliases).
        description: the input, shown in the failure report.
    """
    try:
        with time_limit(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
    except Hang as hang:
        raise FuzzFailure(f"[{target}] hang ({hang}) on {_short(description)}") from None
    except Exception as error:
        if known_issue(target, error) is not None:
            return "known"
        _judge_error(target, error, names, description)
        return "error"
    return "ok"


def _judge_error(target: str, error: Exception, names: list[str], description: Any) -> None:
    """Raises FuzzFailure unless `error` is allowed and names the culprit and the value."""
    message = str(error)
    if not isinstance(error, ALLOWED_ERRORS):
        trace = "".join(traceback.format_exception(error, limit=-4))
        problem = f"{type(error).__name__} leaked: {message}"
        raise FuzzFailure(f"[{target}] {problem} on {_short(description)}\n{trace}") from error
    if not any(re.search(pattern, message, re.IGNORECASE) for pattern in names):
        problem = f"{type(error).__name__} does not name any of {names}: {message!r}"
        raise FuzzFailure(f"[{target}] {problem} on {_short(description)}") from error
    if not _value_marker(message):
        problem = f"{type(error).__name__} does not show the value received: {message!r}"
        raise FuzzFailure(f"[{target}] {problem} on {_short(description)}") from error


def _short(description: Any) -> str:
    text = description if isinstance(description, str) else repr(description)
    return text if len(text) < 400 else text[:400] + "..."


# ===================================================================== mutations
def mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    """Applies byte-level mutations; each op is (kind, position seed, value seed)."""
    buf = bytearray(data)
    for kind, a, b in ops:
        n = len(buf)
        pos = a % n if n else 0
        if kind == "flip" and n:
            buf[pos] ^= 1 << (b % 8)
        elif kind == "byte" and n:
            buf[pos] = b % 256
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "delete" and n:
            del buf[pos : pos + 1 + b % 64]
        elif kind == "insert":
            buf[pos:pos] = random.Random(b).randbytes(1 + b % 64)
        elif kind == "duplicate" and n:
            chunk = buf[pos : pos + 1 + b % 256]
            buf[pos:pos] = chunk
        elif kind == "int32" and n >= 4:
            pos = a % (n - 3)
            value = (0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 0xFFFF, b)[b % 7] & 0xFFFFFFFF
            buf[pos : pos + 4] = struct.pack(random.Random(a).choice("<>") + "I", value)
    return bytes(buf)


def fix_png_crcs(data: bytes) -> bytes:
    """Recomputes every PNG chunk CRC, so that mutations reach the decoder past the checks."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    out, pos = bytearray(data[:8]), 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 8 + length
        if end + 4 > len(data):
            out += data[pos:]
            return bytes(out)
        kind_and_body = data[pos + 4 : end]
        out += data[pos:end] + struct.pack(">I", zlib.crc32(kind_and_body) & 0xFFFFFFFF)
        pos = end + 4
    out += data[pos:]
    return bytes(out)


MUTATION_KINDS = ("flip", "byte", "truncate", "delete", "insert", "duplicate", "int32")


def corpus_files(kind: str) -> list[Path]:
    folder = CORPUS / kind
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


# ===================================================================== images
_COLOR_MODES = ("grayscale", "rgb", "rgba")


def image_target(data: bytes, ext: str, how: int, workdir: str) -> str:
    """Writes `data` as an image file named with `ext` and loads it one way (`how`)."""
    from convolve.data.decode import INTERPOLATIONS, DecodeSpec, decode_bytes, decode_image
    from convolve.utils import load_img

    name = f"fuzz{ext}"
    path = os.path.join(workdir, name)
    with open(path, "wb") as f:
        f.write(data)
    mode = how % 3
    variant = how // 3
    if mode == 0:
        size = (None, (5, 7), (1, 1))[variant % 3]
        interp = ("nearest", "bilinear", "bicubic", "lanczos")[variant % 4]

        def call() -> Any:
            img = load_img(
                path,
                color_mode=_COLOR_MODES[variant % 3],
                target_size=size,
                interpolation=interp,
                keep_aspect_ratio=bool(variant % 2),
            )
            img.load()
    else:
        spec = DecodeSpec(
            num_channels=(1, 3, 4)[variant % 3],
            image_size=((6, 9), None, (3, 3), (1, 17))[variant % 4],
            interpolation=INTERPOLATIONS[variant % len(INTERPOLATIONS)],
            crop_to_aspect_ratio=variant % 5 == 1,
            pad_to_aspect_ratio=variant % 5 == 2,
            jpeg_draft=variant % 2 == 1,
        )
        if mode == 1:

            def call() -> Any:
                return decode_image(path, spec)
        else:

            def call() -> Any:
                return decode_bytes(data, spec, path)

    description = f"image {name} ({len(data)} bytes, how={how}) head={data[:24]!r}"
    return judge("images", call, [re.escape(name)], description)


def image_dataset_target(paths: list[Path], workdir: str, num_workers: int = 0) -> list[str]:
    """Loads a folder of corpus images through `image_dataset_from_directory` (skip mode).

    Returns the names of the files the dataset skipped; the call itself must succeed.
    """
    from convolve.data import image_dataset_from_directory

    folder = Path(workdir) / "dataset" / "only_class"
    folder.mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(paths):
        shutil.copyfile(p, folder / f"{i:03d}_{p.name}")
    skipped: list[str] = []

    def call() -> None:
        ds = image_dataset_from_directory(
            folder.parent,
            image_size=(8, 8),
            batch_size=4,
            shuffle=False,
            num_workers=num_workers,
            verbose=False,
        )
        for _ in ds:
            pass
        skipped.extend(os.path.basename(p) for p in ds.skipped_files)

    outcome = judge("images", call, ["dataset"], f"dataset of {len(paths)} corpus images")
    if outcome != "ok":
        raise FuzzFailure(f"[images] the dataset in skip mode did not load: {outcome}")
    return skipped


# ===================================================================== models
_MODEL_CACHE: dict[str, Any] = {}


def reference_model() -> Any:
    """The architecture every model-file seed holds (convolve's and Keras's alike)."""
    return small_saved_model()


def _members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(info.filename, zf.read(info)) for info in zf.infolist()]


def _rezip(members: list[tuple[str, bytes]], compress: bool) -> bytes:
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point of some mutations
        with zipfile.ZipFile(buffer, "w", compression=method) as zf:
            for name, data in members:
                zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


_JSON_VALUES: tuple[Any, ...] = (
    None, True, 0, -1, 1, 2**31, 10**12, -(10**12), 1.5, float("nan"), float("inf"), "",
    "relu", "Dense", "../../etc/passwd", [], [None], [1, 2], [10**9, 10**9], {}, {"a": 1},
    {"class_name": "Dense", "config": {}}, {"module": "os", "class_name": "system"},
)  # fmt: skip


def _json_paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            paths += _json_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            paths += _json_paths(value, (*prefix, i))
    return paths


def _replace_json(config: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return config


def _mutate_h5(data: bytes, op: int, seed: int) -> bytes:
    """Structural HDF5 edits: huge declared shapes, wrong dtypes, missing or extra entries."""
    import h5py

    buffer = io.BytesIO(data)
    rng = random.Random(seed)
    with h5py.File(buffer, "a") as f:
        datasets: list[str] = []
        groups: list[str] = []
        f.visititems(
            lambda name, obj: (datasets if isinstance(obj, h5py.Dataset) else groups).append(name)
        )
        if not datasets:
            return buffer.getvalue()
        target = rng.choice(datasets)
        kind = op % 8
        old = f[target]
        shape = old.shape
        del f[target]
        if kind == 0:  # a huge declared shape with no data stored
            f.create_dataset(target, shape=(2**20, 2**20), dtype="float32", chunks=(1, 1))
        elif kind == 1:  # wrong dtype
            dtype = rng.choice(["int8", "float16", "complex64", "bool", "uint64", "float64"])
            f.create_dataset(target, data=np.ones(shape, dtype=dtype))
        elif kind == 2:  # strings
            f.create_dataset(target, data=np.array([b"x"] * max(1, math.prod(shape))))
        elif kind == 3:  # wrong shape, right size
            f.create_dataset(target, data=np.zeros((max(1, math.prod(shape)),), "float32"))
        elif kind == 4:  # a group where a dataset should be
            f.create_group(target)
        elif kind == 5:  # scalar
            f.create_dataset(target, data=np.float32(1.0))
        elif kind == 6:  # compressed, with NaN and inf
            values = np.full(shape, np.nan, "float32")
            values.reshape(-1)[::2] = np.inf
            f.create_dataset(target, data=values, compression="gzip")
        else:  # a soft link in its place
            f[target] = h5py.SoftLink("/" + rng.choice(datasets))
        if groups and op % 3 == 0:
            victim = rng.choice(groups)
            if victim in f:
                del f[victim]
    return buffer.getvalue()


def mutate_model_file(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    """Applies model-file mutations: archive-, JSON- and HDF5-level, then raw bytes."""
    raw_ops = []
    for kind, a, b in ops:
        if kind == "member_remove" and data.startswith(b"PK"):
            members = _members(data)
            if members:
                members.pop(a % len(members))
            data = _rezip(members, b % 2 == 1)
        elif kind == "member_duplicate" and data.startswith(b"PK"):
            members = _members(data)
            if members:
                members.append(members[a % len(members)])
            data = _rezip(members, False)
        elif kind == "member_rename" and data.startswith(b"PK"):
            members = _members(data)
            names = ["config.json", "metadata.json", "model.weights.h5", "../x", "a/../../b",
                     "model.weights.npz", "data.pkl", "/abs", ""]  # fmt: skip
            if members:
                i = a % len(members)
                members[i] = (names[b % len(names)], members[i][1])
            data = _rezip(members, False)
        elif kind == "json" and data.startswith(b"PK"):
            members = _members(data)
            for i, (name, content) in enumerate(members):
                if name.endswith(".json"):
                    try:
                        config = json.loads(content)
                    except ValueError:
                        continue
                    paths = _json_paths(config)
                    value = _JSON_VALUES[b % len(_JSON_VALUES)]
                    config = _replace_json(config, paths[a % len(paths)], value)
                    members[i] = (name, json.dumps(config).encode())
                    break
            data = _rezip(members, False)
        elif kind == "h5":
            if data.startswith(b"PK"):
                members = _members(data)
                for i, (name, content) in enumerate(members):
                    if name.endswith(".h5"):
                        with contextlib.suppress(Exception):
                            members[i] = (name, _mutate_h5(content, a, b))
                data = _rezip(members, False)
            else:
                with contextlib.suppress(Exception):
                    data = _mutate_h5(data, a, b)
        else:
            raw_ops.append((kind, a, b))
    return mutate(data, raw_ops)


MODEL_MUTATIONS = (
    *MUTATION_KINDS, "member_remove", "member_duplicate", "member_rename", "json", "h5",
)  # fmt: skip


def model_target(data: bytes, suffix: str, how: int, workdir: str) -> str:
    """Writes a (mutated) model file and loads it: `load_model` or `load_weights`."""
    from convolve import saving

    name = f"fuzz{suffix}"
    path = os.path.join(workdir, name)
    with open(path, "wb") as f:
        f.write(data)
    if "model" not in _MODEL_CACHE:
        _MODEL_CACHE["model"] = reference_model()
    model = _MODEL_CACHE["model"]
    if how % 2 == 0 and suffix == ".keras":

        def call() -> Any:
            return saving.load_model(path, compile=bool(how % 4 == 0))
    else:

        def call() -> Any:
            model.load_weights(path, skip_mismatch=bool(how % 3 == 1))

    description = f"model file {name} ({len(data)} bytes, how={how})"
    return judge("models", call, [re.escape(name)], description)


# ===================================================================== fit
# A fit case is a JSON-able dict; `materialize` turns its array descriptions into data.
FIT_MODELS = ("dense", "conv", "binary", "two_inputs")
FIT_METHODS = ("fit", "evaluate", "predict")
DTYPES = (
    "float32", "float64", "float16", "int8", "int32", "int64", "uint8", "bool", "complex64",
    "str", "bytes", "object", "datetime64[s]", "bfloat16",
)  # fmt: skip
FILLS = ("random", "zeros", "nan", "inf", "-inf", "huge", "labels", "negative")
FORMS = ("array", "tensor", "list", "tuple", "dict", "scalar", "none", "string")


def _fit_model(kind: str) -> Any:
    from convolve import layers
    from convolve.models import Model, Sequential

    if kind == "dense":
        model = Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
    elif kind == "conv":
        model = Sequential(
            [
                layers.Input((5, 5, 2)),
                layers.Conv2D(2, 3),
                layers.GlobalAveragePooling2D(),
                layers.Dense(3, activation="softmax"),
            ]
        )
        model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    elif kind == "binary":
        model = Sequential([layers.Input((4,)), layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    else:
        a, b = layers.Input((4,), name="a"), layers.Input((3,), name="b")
        out = layers.Dense(2)(layers.Concatenate()([a, b]))
        model = Model([a, b], out)
        model.compile(optimizer="adam", loss="mse")
    return model


def fit_model(kind: str) -> Any:
    """A fresh compiled model: compiled metrics resolve from the first targets they see, so
    a model shared between examples would make one example's outcome depend on another's."""
    return _fit_model(kind)


def _array(spec: dict[str, Any], rng: np.random.Generator) -> Any:
    shape = tuple(spec.get("shape", ()))
    dtype = spec.get("dtype", "float32")
    fill = spec.get("fill", "random")
    form = spec.get("form", "array")
    if form == "none":
        return None
    if form == "string":
        return "not an array"
    if dtype == "str":
        array = np.full(shape, "a", dtype="<U3")
    elif dtype == "bytes":
        array = np.full(shape, b"a", dtype="S3")
    elif dtype == "object":
        array = np.empty(shape, dtype=object)
        array.reshape(-1)[:] = [object() if i % 2 else 1.0 for i in range(array.size)]
    elif dtype == "datetime64[s]":
        array = np.zeros(shape, dtype="datetime64[s]")
    else:
        base = {
            "random": lambda: rng.random(shape),
            "zeros": lambda: np.zeros(shape),
            "nan": lambda: np.full(shape, np.nan),
            "inf": lambda: np.full(shape, np.inf),
            "-inf": lambda: np.full(shape, -np.inf),
            "huge": lambda: np.full(shape, 1e30),
            "labels": lambda: rng.integers(0, 3, shape).astype(np.float64),
            "negative": lambda: -rng.integers(1, 5, shape).astype(np.float64),
        }[fill]()
        with np.errstate(all="ignore"):
            if dtype == "bfloat16":
                return torch.from_numpy(base.astype(np.float32)).to(torch.bfloat16)
            array = base.astype(dtype)
    if form == "tensor":
        try:
            return torch.from_numpy(array)
        except TypeError:
            return array
    if form == "list":
        return array.tolist()
    if form == "tuple":
        return (array,)
    if form == "dict":
        return {"a": array}
    if form == "scalar":
        return array.reshape(-1)[0] if array.size else 0.0
    return array


def materialize(case: dict[str, Any]) -> tuple[Any, str, dict[str, Any]]:
    """The model, the method name and the keyword arguments a fit case describes."""
    rng = np.random.default_rng(case.get("seed", 0))
    model = fit_model(case["model"])
    kwargs: dict[str, Any] = {"verbose": 0}
    for name in ("x", "y", "sample_weight", "validation_data"):
        if name not in case:
            continue
        spec = case[name]
        if isinstance(spec, list):  # several inputs
            kwargs[name] = [_array(s, rng) for s in spec]
        elif name == "validation_data":
            kwargs[name] = tuple(_array(s, rng) for s in spec["items"])
        else:
            kwargs[name] = _array(spec, rng)
    for key, value in case.get("kwargs", {}).items():
        if key == "class_weight" and isinstance(value, dict):
            value = {_key(k): v for k, v in value.items()}
        kwargs[key] = value
    # A case may be replayed with another method: keep what that method accepts.
    accepted = inspect.signature(getattr(model, case["method"])).parameters
    kwargs = {k: v for k, v in kwargs.items() if k in accepted}
    return model, case["method"], kwargs


def _key(text: str) -> Any:
    """JSON keys are strings; "int:3" and "float:0.5" stand for numeric class_weight keys."""
    kind, _, raw = text.partition(":")
    return {"int": int, "float": float}.get(kind, lambda v: text)(raw)


# Patterns that name each argument in an error message.
_ALIASES = {
    "x": [r"\bx\b", r"\binputs?\b"],
    "y": [r"\by\b", r"\by_true\b", r"\blabels?\b", r"\btargets?\b"],
    "sample_weight": [r"\bsample_weights?\b"],
    "validation_data": [r"\bvalidation"],
    "batch_size": [r"\bbatch_size\b"],
    "epochs": [r"\bepochs\b"],
    "validation_split": [r"\bvalidation_split\b"],
    # class_weight becomes sample weights, and errors may name those.
    "class_weight": [r"\bclass_weight\b", r"\bsample_weights?\b"],
    "shuffle": [r"\bshuffle\b"],
    "steps_per_epoch": [r"\bsteps_per_epoch\b"],
    "steps": [r"\bsteps\b"],
    "initial_epoch": [r"\binitial_epoch\b"],
}


def fit_target(case: dict[str, Any]) -> str:
    """Runs one described fit/evaluate/predict call."""
    model, method, kwargs = materialize(case)
    names = sorted({alias for key in kwargs for alias in _ALIASES.get(key, [])})

    def call() -> Any:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return getattr(model, method)(**kwargs)

    return judge("fit", call, names, json.dumps(case, sort_keys=True))


def valid_shapes(model: str) -> dict[str, Any]:
    """Per-sample input and target shapes of each fit model."""
    return {
        "dense": {"x": [(4,)], "y": (), "classes": 3},
        "conv": {"x": [(5, 5, 2)], "y": (3,), "classes": 3},
        "binary": {"x": [(4,)], "y": (1,), "classes": 2},
        "two_inputs": {"x": [(4,), (3,)], "y": (2,), "classes": 0},
    }[model]


def temporary_folder() -> Any:
    return tempfile.TemporaryDirectory(prefix="convolve-fuzz-")
