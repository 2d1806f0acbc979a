"""Pretrained weight files: download into a cache, verify a pinned hash, load by layer name.

Files are cached in `$CONVOLVE_HOME/models` (default `~/.convolve/models`); a file Keras has
already downloaded into `~/.keras/models` is used from there if it passes. A download is
streamed into a temporary file next to its destination, hashed on the way, and renamed into
place only once the hash matches the pin, so the cache never holds a partial or unverified
file. Setting `CONVOLVE_MODELS_URL` fetches every file from that base URL instead of its
canonical location (a mirror or a local server); `get_file(..., base_url=...)` does the same
for one call.

Pins are the hashes Keras pins (MD5 for most ImageNet files: 32 hex digits are read as MD5,
64 as SHA-256, as Keras does); `pin_hash` replaces a pin, e.g. with a SHA-256 you verified.

The weight files are Keras's HDF5 (`.h5`) files: a `layer_names` attribute, and one group per
layer whose `weight_names` attribute orders its arrays. `load_weights` matches the model's
layers to those groups by name, checks every array against the model before it changes
anything, and then sets the weights in Keras's layout.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convolve.data.download import (
    ChecksumError,
    DownloadError,
    download,
    hash_file,
    keras_copies,
)
from convolve.saving.errors import ModelFileError

__all__ = [
    "ChecksumError",
    "DownloadError",
    "WeightFile",
    "get_file",
    "hash_file",
    "load_weights",
    "models_dir",
    "pin_hash",
    "pinned_hash",
]

BASE_URL_ENV = "CONVOLVE_MODELS_URL"
KERAS_APPLICATIONS = "https://storage.googleapis.com/tensorflow/keras-applications/"
_pins: dict[str, str | None] = {}  # file name -> hash, overriding the pin a module declares


@dataclass(frozen=True)
class WeightFile:
    """One published weights file.

    Attributes:
        fname: the file name, also its name in the cache.
        origin: the canonical URL.
        file_hash: the pinned hash (MD5 if 32 hex digits, SHA-256 if 64), or None where
            Keras pins none.
    """

    fname: str
    origin: str
    file_hash: str | None


def models_dir() -> Path:
    """The weights cache folder: `$CONVOLVE_HOME/models`, default `~/.convolve/models`."""
    home = os.environ.get("CONVOLVE_HOME") or os.path.join("~", ".convolve")
    return Path(home).expanduser() / "models"


def pin_hash(fname: str, file_hash: str | None) -> None:
    """Replaces the pinned hash of the weight file `fname` (None removes the check).

    Args:
        fname: the file name, e.g. `"vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"`.
        file_hash: a SHA-256 (64 hex digits) or MD5 (32 hex digits), or None.

    Example:
        >>> from convolve.applications import weights
        >>> weights.pin_hash("my_weights.h5", "0" * 64)
        >>> weights.pinned_hash("my_weights.h5", None)
        '0000000000000000000000000000000000000000000000000000000000000000'
        >>> weights.pin_hash("my_weights.h5", None)
    """
    if file_hash is not None:
        _algorithm(file_hash)
        file_hash = file_hash.lower()
    _pins[fname] = file_hash


def pinned_hash(fname: str, default: str | None) -> str | None:
    """The hash `fname` must have: the one set with `pin_hash`, else `default`."""
    return _pins.get(fname, default)


def _algorithm(file_hash: str) -> str:
    if re.fullmatch(r"[0-9a-fA-F]{64}", file_hash):
        return "sha256"
    if re.fullmatch(r"[0-9a-fA-F]{32}", file_hash):
        return "md5"
    raise ValueError(
        f"A file hash must be a SHA-256 (64 hex digits) or an MD5 (32 hex digits); "
        f"received {file_hash!r}"
    )


def get_file(
    fname: str,
    origin: str,
    file_hash: str | None = None,
    base_url: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """The local path of a weight file, downloaded and verified if it is not cached yet.

    Args:
        fname: the name to cache the file under.
        origin: its canonical URL.
        file_hash: the pinned hash (overridden by `pin_hash(fname, ...)`); None skips the check.
        base_url: fetch `base_url/fname` instead of `origin`; default `$CONVOLVE_MODELS_URL`.
        timeout: seconds to wait for the server.

    Raises:
        DownloadError: the file is not cached and cannot be downloaded (for instance without
            network access); the message names the URL, the file and the folder to put it in.
        ChecksumError: the downloaded file does not have the pinned hash; nothing is saved.
    """
    expected = pinned_hash(fname, file_hash)
    algorithm = _algorithm(expected) if expected else None
    folder = models_dir()
    target = folder / fname
    stale = None
    if target.is_file():
        if expected is None:
            return target
        stale = hash_file(target, algorithm)
        if stale == expected.lower():
            return target
        # A damaged or outdated copy: fetch it again; it stays until a good one replaces it.
    kept = next(keras_copies(Path("models", fname), expected, algorithm or "sha256"), None)
    if kept is not None:  # the copy Keras keeps in its own cache (`~/.keras/models`)
        return kept
    base = base_url or os.environ.get(BASE_URL_ENV)
    url = base.rstrip("/") + "/" + fname if base else origin
    try:
        return download(url, target, expected, algorithm or "sha256", timeout)
    except DownloadError as e:  # the server could not be reached
        raise _offline_error(url, target, expected, stale, e.__cause__ or e) from e.__cause__
    except ChecksumError as e:
        raise ChecksumError(
            f"{e} (The folder {folder} is unchanged.) If the published file has changed, "
            f"check it and pin its hash with "
            f"convolve.applications.weights.pin_hash({fname!r}, <hash>)."
        ) from None
    except OSError as e:  # the cache folder itself cannot be written
        raise DownloadError(
            f"Could not write {target} ({e}); set CONVOLVE_HOME to a writable folder."
        ) from e


def _offline_error(
    url: str, target: Path, expected: str | None, stale: str | None, error: Exception
) -> DownloadError:
    reason = getattr(error, "reason", None) or error
    cached = (
        f" The cached copy {target} has hash {stale}, not the pinned {expected}."
        if stale is not None
        else ""
    )
    pin = f" It must have {_algorithm(expected)} {expected}." if expected else ""
    return DownloadError(
        f"Could not download {url} ({reason}).{cached} To work offline, download that file "
        f"elsewhere and place it in the folder {target.parent} as {target.name} (that is, "
        f"{target}), or pass weights=<path to the file>.{pin}"
    )


# --------------------------------------------------------------------- loading
def _h5py() -> Any:
    try:
        import h5py
    except ImportError as e:  # pragma: no cover - h5py is a dependency
        raise ImportError("Reading Keras .h5 weight files needs the h5py package.") from e
    return h5py


def _string_list(group: Any, name: str) -> list[str]:
    """A list-of-strings attribute, also when HDF5's header limit split it into chunks."""
    if name in group.attrs:
        values = list(group.attrs[name])
    else:
        values, chunk = [], 0
        while f"{name}{chunk}" in group.attrs:
            values.extend(group.attrs[f"{name}{chunk}"])
            chunk += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _auto_base(name: str) -> str:
    """`normalization_3` -> `normalization`: the prefix of an automatically numbered name."""
    return re.sub(r"_\d+$", "", name)


def _match_groups(layer_names: list[str], file_layers: list[str]) -> dict[str, str]:
    """Model layer name -> file group. Exact names first; then a layer whose automatic
    number differs from the file's (`normalization_3` in this process, `normalization` in
    the file) takes the one unclaimed file layer with the same prefix."""
    matched = {n: n for n in layer_names if n in file_layers}
    unclaimed = [g for g in file_layers if g not in matched]
    for name in layer_names:
        if name in matched:
            continue
        candidates = [g for g in unclaimed if _auto_base(g) == _auto_base(name)]
        if len(candidates) == 1:
            matched[name] = candidates[0]
            unclaimed.remove(candidates[0])
    return matched


def load_weights(model: Any, filepath: str | os.PathLike) -> None:
    """Loads a Keras `.h5` weights file into `model`, matching layers by name.

    Every layer of `model` that has weights must find its group in the file, with as many
    arrays as it has weights, each of the shape Keras gives it; layers of the file that the
    model lacks are ignored (so a file with the classifier loads into a model without it).
    Everything is checked before any weight is assigned: on error the model is unchanged.

    Args:
        model: a functional or sequential model (or any object with `layers`).
        filepath: the `.h5` file (as Keras writes it, or a full-model `.h5` file).

    Raises:
        convolve.saving.errors.ModelFileError: the file is not a Keras weights file, lacks a
            layer, or holds an array whose count or shape does not fit; the message names
            the file and the first weight at fault.
    """
    path = os.fspath(filepath)
    if path.endswith(".weights.h5"):
        # Keras 3's own weights format is organized by object path, not by layer name.
        loader = getattr(model, "load_weights", None)
        if loader is None:
            raise ModelFileError(
                path,
                None,
                "is a Keras 3 '.weights.h5' file; this function reads Keras's '.h5' weight "
                "files (one group per layer name), as the applications publish them",
            )
        loader(path)
        return
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ModelFileError(path, None, f"cannot be read as an HDF5 file ({e})") from e
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        file_layers = _string_list(root, "layer_names")
        if not file_layers:
            raise ModelFileError(
                path, None, "has no 'layer_names' attribute; it is not a Keras .h5 weights file"
            )
        file_layers = [
            g for g in file_layers if g in root and _string_list(root[g], "weight_names")
        ]
        layers = [layer for layer in model.layers if layer.weights]
        matched = _match_groups([layer.name for layer in layers], file_layers)
        plan = []
        for layer in layers:
            group_name = matched.get(layer.name)
            if group_name is None:
                raise ModelFileError(
                    path,
                    None,
                    f"holds no weights for layer '{layer.name}' ({type(layer).__name__}) of "
                    f"model '{model.name}'; no weight was changed. Layers in the file: "
                    f"{', '.join(file_layers[:8])}{' ...' if len(file_layers) > 8 else ''}",
                )
            plan.append((layer, _read_layer(path, root[group_name], group_name, layer)))
    for layer, values in plan:
        layer.set_weights(values)


def _read_layer(path: str, group: Any, group_name: str, layer: Any) -> list[np.ndarray]:
    """The file's arrays for `layer`, checked against the shapes the layer has."""
    weight_names = _string_list(group, "weight_names")
    expected = [tuple(w.shape) for w in layer.get_weights()]
    if len(weight_names) != len(expected):
        raise ModelFileError(
            path,
            group_name,
            f"holds {len(weight_names)} weight(s) ({', '.join(weight_names)}) for layer "
            f"'{layer.name}', which has {len(expected)}; no weight was changed",
        )
    values = []
    for i, (weight_name, shape) in enumerate(zip(weight_names, expected, strict=True)):
        if weight_name not in group:
            raise ModelFileError(
                path, f"{group_name}/{weight_name}", "is listed but missing from the file"
            )
        value = np.asarray(group[weight_name])
        if tuple(value.shape) != shape:
            raise ModelFileError(
                path,
                f"{group_name}/{weight_name}",
                f"has shape {tuple(value.shape)}, but weight {i} of layer '{layer.name}' has "
                f"shape {shape}; no weight was changed",
            )
        values.append(value)
    return values


def load_weights_in_order(model: Any, filepath: str | os.PathLike) -> None:
    """Loads a Keras `.h5` weights file into `model`, pairing layers in order as Keras does.

    Keras's Xception and InceptionV3 files were written by Keras 1 and 2, whose automatic
    names (`convolution2d_1`, `conv2d_1`, ...) are neither the names the builders give today
    nor stable from one session to the next, so matching layers by name cannot find them.

    Every array is checked against the model before any is assigned; a file that is not a
    Keras `.h5` weights file, or whose layers do not pair one to one with the model's, is
    loaded by name instead (with `weights.load_weights`'s checks and errors).
    """
    path = os.fspath(filepath)
    plan = _plan_in_order(model, path)
    if plan is None:
        load_weights(model, path)
        return
    for layer, values in plan:
        layer.set_weights(values)


def _plan_in_order(model: Any, path: str) -> list | None:
    """(layer, arrays) for each of the model's layers with weights, or None if they do not
    pair one to one with the file's."""
    if path.endswith(".weights.h5"):
        return None
    try:
        f = _h5py().File(path, "r")
    except OSError:
        return None
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        groups = [
            g
            for g in _string_list(root, "layer_names")
            if g in root and _string_list(root[g], "weight_names")
        ]
        layers = [layer for layer in model.layers if layer.weights]
        if not groups or len(groups) != len(layers):
            return None
        return [
            (layer, _read_layer(path, root[group], group, layer))
            for layer, group in zip(layers, groups, strict=True)
        ]
