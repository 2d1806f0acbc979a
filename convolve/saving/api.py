"""`save_model` / `load_model` and `save_weights` / `load_weights`.

Model files (`.keras`) are Keras 3's format exactly: a model saved here opens in Keras
(`keras.saving.load_model`) and one saved by Keras opens here, when it uses layers convolve
has. The same holds for Keras's legacy HDF5 model files (`.h5`, see `legacy_h5`). Weight
files are Keras's `.weights.h5`, convolve's `.safetensors` (see `safetensors_format`), and,
for reading, Keras 2's `.h5`.

A model file is data, never code: nothing is unpickled, classes come from an allowlist
(see `objects`), and every size the file declares is checked against what it stores before
memory is allocated for it. All files are written atomically (see `atomic`).
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import warnings
from collections.abc import Callable, Mapping
from typing import IO, Any

import torch

from convolve.saving import archive, assets, legacy_h5, objects, serialization, weights
from convolve.saving.atomic import check_overwrite, previous_generation, write_bytes_atomic
from convolve.saving.errors import ModelFileError, ModelFileNotFoundError, UnsafeModelError
from convolve.saving.h5safe import HDF5_SIGNATURE, H5Reader, ShapeMismatch, write_h5
from convolve.saving.objects import Context
from convolve.saving.safetensors_format import FORMAT, FORMAT_VERSION, SafetensorsFile, dumps

_CONFIG_LIMIT = 64 << 20
_METADATA_LIMIT = 1 << 20
_WEIGHTS_LIMIT = 1 << 40


def _version() -> str:
    from convolve import __version__

    return __version__


# ===================================================================== models
def save_model(
    model: Any, filepath: str | os.PathLike | IO[bytes], overwrite: bool = True, **kwargs: Any
) -> None:
    """Saves a model to a `.keras` file in Keras 3's format, atomically.

    The file holds the architecture (`config.json`), the compile settings, the weights and
    the optimizer state (`model.weights.h5`), so that `load_model` gives back a model that
    predicts the same and continues training where it stopped. A path ending in `.h5` or
    `.hdf5` gets Keras's legacy HDF5 model file instead (with a warning, as in Keras),
    holding the same.

    Args:
        model: a Sequential or functional model (or a registered subclass).
        filepath: where to write; must end in `.keras` (or `.h5` / `.hdf5`). A binary file
            object works too (a `.keras` archive, written directly, so not atomically).
        overwrite: replace an existing file (else raise `FileExistsError`).
        **kwargs: `zipped=True` and `include_optimizer=True` are accepted for Keras
            compatibility; anything else is an error.

    Example:
        >>> import os, tempfile
        >>> from convolve import layers, models
        >>> model = models.Sequential([layers.Input((4,)), layers.Dense(2)])
        >>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
        >>> save_model(model, path)
        >>> load_model(path).output_shape
        (None, 2)
    """
    include_optimizer = kwargs.pop("include_optimizer", True)
    zipped = kwargs.pop("zipped", None)
    _check_save_format(filepath, kwargs.pop("save_format", None))
    if kwargs:
        raise ValueError(f"save_model: unrecognized arguments {sorted(kwargs)}")
    if zipped is False:
        raise ValueError("save_model: only zipped .keras files are supported (zipped=False).")
    if hasattr(filepath, "write"):
        filepath.write(_model_bytes(model, include_optimizer))
        return
    path = os.fspath(filepath)
    legacy = path.endswith((".h5", ".hdf5"))
    if legacy:
        warnings.warn(legacy_h5.SAVE_WARNING, stacklevel=2)
    elif not path.endswith(".keras"):
        raise ValueError(
            "save_model: the filepath must end in .keras (or .h5 for Keras's legacy HDF5 "
            f"format). Received filepath={path}"
        )
    if not model.built:
        warnings.warn(
            f"Saving model '{model.name}', which is not built yet: it has no weights.",
            stacklevel=2,
        )
    check_overwrite(path, overwrite)
    if legacy:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)  # as Keras does
        data = legacy_h5.model_bytes(model, include_optimizer)
    else:
        data = _model_bytes(model, include_optimizer)
    _write_file(path, data, "model file")


def _check_save_format(filepath: Any, save_format: Any) -> None:
    """Keras 3's rule for the Keras 2 `save_format` argument: a warning where the file's
    extension decides the format anyway, else an error."""
    if not save_format:
        return
    message = (
        "The `save_format` argument is deprecated in Keras 3. "
        f"Received: save_format={save_format!r}"
    )
    if str(getattr(filepath, "name", filepath)).endswith((".h5", ".hdf5", ".keras")):
        warnings.warn(
            f"{message}. It can be left out: the file's extension gives the format.",
            stacklevel=3,
        )
        return
    raise ValueError(
        f"{message}. Remove it and pass a file path ending in .keras or .h5; received "
        f"filepath={filepath}"
    )


def _write_file(path: str, data: bytes, what: str) -> None:
    """Writes atomically; a failure names the file (not the temporary one) and the cause.

    Nothing is left behind: the temporary file is removed and an earlier file at `path`
    keeps its contents.
    """
    try:
        write_bytes_atomic(path, data, keep_previous=True)
    except OSError as err:
        cause = err.strerror or str(err)
        raise type(err)(
            err.errno, f"Cannot write the {what} ({len(data)} bytes): {cause}", path
        ) from err


def _model_bytes(model: Any, include_optimizer: bool) -> bytes:
    config = serialization.serialize_model(model)
    metadata = {
        "keras_version": "3",
        "convolve_version": _version(),
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
    }
    h5 = write_h5(weights.keras_tree(model, include_optimizer=include_optimizer))
    return archive.write_archive(
        [
            (archive.METADATA, json.dumps(metadata).encode()),
            (archive.CONFIG, json.dumps(config).encode()),
            (archive.WEIGHTS, h5),
            *assets.asset_members(model),  # e.g. a lookup layer's learned vocabulary
        ]
    )


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except IsADirectoryError:
        raise ModelFileError(path, None, "is a directory, not a model file") from None
    except FileNotFoundError:
        raise ModelFileNotFoundError(path, None, "no such file or directory") from None


def _parse_json(data: bytes, path: str, member: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ModelFileError(path, member, f"not valid JSON: {err}") from None


def _guarded(path: str, action: str, fn: Any) -> Any:
    """Runs `fn()`; any failure other than the library's own becomes a ModelFileError."""
    try:
        return fn()
    except ModelFileError:
        raise
    except Exception as err:
        raise ModelFileError(path, None, f"cannot {action}: {type(err).__name__}: {err}") from err


def _or_previous_generation(path_arg: int) -> Any:
    """Wraps a loader so that a damaged file falls back to its previous generation.

    Saving keeps the file it replaces as `<file>.previous` (see `atomic_path`). When the
    file itself cannot be read (truncated, corrupt) but that one can, it is loaded instead,
    with a warning. Unsafe content and a model that does not match are never retried.
    """

    def decorate(load: Any) -> Any:
        @functools.wraps(load)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return load(*args, **kwargs)
            except (UnsafeModelError, ShapeMismatch):
                raise
            except ModelFileError as error:
                positional = len(args) > path_arg
                path = args[path_arg] if positional else kwargs.get("filepath")
                if not isinstance(path, str | os.PathLike):
                    raise
                previous = previous_generation(path)
                if not os.path.isfile(previous):
                    raise
                retry, retry_kwargs = list(args), dict(kwargs)
                if positional:
                    retry[path_arg] = previous
                else:
                    retry_kwargs["filepath"] = previous
                try:
                    result = load(*retry, **retry_kwargs)
                except ModelFileError:
                    raise error from None
                warnings.warn(
                    f"{os.fspath(path)} cannot be read ({error}); loaded the previous "
                    f"generation {previous} instead.",
                    stacklevel=2,
                )
                return result

        return wrapper

    return decorate


@_or_previous_generation(path_arg=0)
def load_model(
    filepath: str | os.PathLike | IO[bytes],
    custom_objects: Mapping[str, Any] | None = None,
    compile: bool = True,
    safe_mode: bool = True,
) -> Any:
    """Loads a model saved by `save_model` or by Keras 3 (`.keras`, or legacy `.h5`).

    Args:
        filepath: the `.keras` or `.h5` / `.hdf5` file (or a binary file object holding
            one).
        custom_objects: classes or functions the file may name besides convolve's own and
            the registered ones, by name.
        compile: compile the model as it was saved and restore the optimizer state.
        safe_mode: refuse Python bytecode (lambdas) and Lambda layers.

    Returns:
        The model, with its weights (and, with `compile`, its optimizer state).

    Raises:
        UnsafeModelError: the file asks for something a data file must never do.
        ModelFileError: the file is malformed, damaged, or does not describe a model
            convolve can build.
    """
    if hasattr(filepath, "read"):
        path, data = str(getattr(filepath, "name", "<file object>")), filepath.read()
    else:
        path = os.fspath(filepath)
        data = _read_file(path)
    legacy = data.startswith(HDF5_SIGNATURE) or path.endswith((".h5", ".hdf5"))
    load = _load_legacy_h5 if legacy else _load_archive

    def run() -> Any:
        return load(data, path, custom_objects, compile, safe_mode)

    return _guarded(path, "load the model", run)


def _open_archive(data: bytes, path: str) -> tuple[archive.ArchiveReader, Any]:
    reader = archive.ArchiveReader(data, path)
    if not reader.has(archive.CONFIG):
        if any(info.filename.endswith(".pkl") for info in reader.infos):
            raise UnsafeModelError(
                path, None, "a pickle-based checkpoint (torch.save?), not a .keras model; "
                "convolve never unpickles"
            )  # fmt: skip
        raise ModelFileError(path, archive.CONFIG, "missing: not a .keras model archive")
    config = _parse_json(reader.read(archive.CONFIG, _CONFIG_LIMIT), path, archive.CONFIG)
    if not isinstance(config, dict):
        raise ModelFileError(path, archive.CONFIG, "the config is not a JSON object")
    if reader.has(archive.METADATA):
        _parse_json(reader.read(archive.METADATA, _METADATA_LIMIT), path, archive.METADATA)
    return reader, config


def _weights_member(reader: archive.ArchiveReader, path: str) -> bytes:
    if not reader.has(archive.WEIGHTS):
        problem = "missing"
        if reader.has("model.weights.npz"):
            problem = "missing (the .npz weights variant is not supported)"
        raise ModelFileError(path, archive.WEIGHTS, problem)
    return reader.read(archive.WEIGHTS, _WEIGHTS_LIMIT)


def _load_archive(
    data: bytes, path: str, custom_objects: Any, compile: bool, safe_mode: bool
) -> Any:
    reader, config = _open_archive(data, path)
    ctx = Context(path, archive.CONFIG, dict(custom_objects or {}), safe_mode)
    objects.audit(config, ctx)
    with H5Reader(_weights_member(reader, path), path, archive.WEIGHTS) as h5:
        dry_load = functools.partial(weights.load_keras_h5, reader=h5, config=config, dry_run=True)
        _check_against_file(config, ctx, dry_load)
        model = serialization.model_from_config(config, ctx, compile, audit=False)
        weights.load_keras_h5(model, h5, config=config)
        assets.load_assets(model, reader, config)
        if compile:
            weights.load_optimizer_h5(model, h5)
    return model


def _load_legacy_h5(
    data: bytes, path: str, custom_objects: Any, compile: bool, safe_mode: bool
) -> Any:
    """A legacy HDF5 model file: `model_config`, `model_weights`, then `training_config`."""
    custom_objects = dict(custom_objects or {})
    with H5Reader(data, path) as h5:
        config = legacy_h5.read_model_config(h5)
        ctx = Context(path, legacy_h5.MODEL_CONFIG, custom_objects, safe_mode)
        objects.audit(config, ctx)
        dry_load = functools.partial(
            weights.load_legacy_h5, reader=h5, by_name=False, skip_mismatch=False, dry_run=True
        )
        _check_against_file(config, ctx, dry_load)
        model = serialization.model_from_config(config, ctx, compile=False, audit=False)
        weights.load_legacy_h5(model, h5, by_name=False, skip_mismatch=False)
        if compile:
            ctx = Context(path, legacy_h5.TRAINING_CONFIG, custom_objects, safe_mode)
            legacy_h5.compile_as_saved(model, h5, ctx)
    return model


def _check_against_file(config: Any, ctx: Context, dry_load: Callable[[Any], None]) -> None:
    """Builds the model on the meta device (no memory) and checks the file holds it.

    A config can describe layers of any size; building them for real would allocate
    before the weights file is even looked at. On the meta device nothing is allocated,
    so `dry_load(skeleton)` checks every weight's shape and stored size first.
    """
    from convolve.layers import naming

    # The skeleton's layers must not use up automatic names: the loaded model's layers get
    # the names Keras gives them (`dense_4` after `dense_3`, not `dense_8`).
    try:
        with naming.names_kept(), torch.device("meta"):
            skeleton = serialization.layer_from_config(config, ctx, "$")
    except (NotImplementedError, RuntimeError) as err:
        if "meta" not in str(err).lower():
            raise
        return  # a user layer that cannot be built without data; checked while loading
    dry_load(skeleton)


# ===================================================================== weights
def _weight_keys(path: str, layer: Any) -> list[tuple[str, Any, torch.Tensor]]:
    used: dict[str, int] = {}
    keys = []
    for spec, tensor in layer._own_weights():
        name = weights._unique(spec.name, used)
        keys.append((f"{path}/{name}" if path else name, spec, tensor))
    return keys


def save_weights(
    model: Any,
    filepath: str | os.PathLike,
    overwrite: bool = True,
    max_shard_size: float | None = None,
) -> None:
    """Saves the weights (and optimizer state) to `.weights.h5` or `.safetensors`, atomically.

    `.weights.h5` is Keras 3's format (Keras's `model.load_weights` reads it);
    `.safetensors` is convolve's flat layout described in `safetensors_format`.

    Example:
        >>> import os, tempfile
        >>> from convolve import layers, models
        >>> model = models.Sequential([layers.Input((4,)), layers.Dense(2)])
        >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> save_weights(model, path)
        >>> load_weights(model, path)
    """
    path = os.fspath(filepath)
    if max_shard_size is not None:
        raise ValueError("save_weights: sharded weights (max_shard_size) are not supported.")
    if not model.built:
        raise ValueError(
            f"Model '{model.name}' is not built yet, so it has no weights to save. Call it "
            "on data or build it with an input shape first."
        )
    if path.endswith(".weights.h5"):
        data = write_h5(weights.keras_tree(model))
    elif path.endswith(".safetensors"):
        data = _safetensors_bytes(model)
    else:
        raise ValueError(
            "save_weights: the filename must end in `.weights.h5` (Keras's format) or "
            f"`.safetensors`. Received filepath={path}"
        )
    check_overwrite(path, overwrite)
    _write_file(path, data, "weights file")


def _safetensors_bytes(model: Any) -> bytes:
    from convolve.layers.base import _to_keras_array

    tensors = {}
    for path, layer in weights.saveables(model):
        for key, spec, tensor in _weight_keys(path, layer):
            tensors[key] = torch.from_numpy(_to_keras_array(spec, tensor))
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "layout": "keras"}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        metadata["optimizer"] = optimizer.name
        for i, array in enumerate(weights.optimizer_arrays(model)):
            tensors[f"optimizer/{i}"] = torch.from_numpy(array)
    return dumps(tensors, metadata)


@_or_previous_generation(path_arg=1)
def load_weights(
    model: Any, filepath: str | os.PathLike, skip_mismatch: bool = False, **kwargs: Any
) -> None:
    """Loads weights saved by `save_weights`, by Keras 3, or by Keras 2 (`.h5`).

    Args:
        model: a built model.
        filepath: a `.weights.h5`, `.safetensors`, `.keras`, or legacy `.h5`/`.hdf5` file.
        skip_mismatch: warn about, and skip, layers whose weights do not fit, instead of
            raising.
        **kwargs: `by_name=True` matches legacy `.h5` weights to layers by name.
    """
    path = os.fspath(filepath)
    by_name = kwargs.pop("by_name", None)
    if kwargs:
        raise ValueError(f"load_weights: unrecognized arguments {sorted(kwargs)}")
    legacy = path.endswith((".h5", ".hdf5")) and not path.endswith(".weights.h5")
    if by_name is not None and not legacy:
        raise ValueError(
            f"load_weights: `by_name` only applies to legacy .h5 files. Received {path}"
        )
    if not path.endswith((".h5", ".hdf5", ".safetensors", ".keras")):
        raise ValueError(
            "load_weights: expected a .weights.h5, .safetensors, .keras or legacy .h5 file. "
            f"Received filepath={path}"
        )
    if not model.built:
        raise ValueError(
            f"Model '{model.name}' is not built yet; build it before loading weights into it."
        )
    data = _read_file(path)

    def run() -> None:
        if path.endswith(".safetensors"):
            _load_safetensors(model, SafetensorsFile(data, path), skip_mismatch)
        elif path.endswith(".keras"):
            reader, config = _open_archive(data, path)
            with H5Reader(_weights_member(reader, path), path, archive.WEIGHTS) as h5:
                weights.load_keras_h5(model, h5, skip_mismatch, config=config)
                weights.load_optimizer_h5(model, h5)
        else:
            with H5Reader(data, path) as h5:
                if legacy:
                    weights.load_legacy_h5(model, h5, bool(by_name), skip_mismatch)
                else:
                    weights.load_keras_h5(model, h5, skip_mismatch)
                    weights.load_optimizer_h5(model, h5)

    _guarded(path, "load the weights", run)


def _load_safetensors(model: Any, st: SafetensorsFile, skip_mismatch: bool) -> None:
    st.check_format()
    mismatches = weights._Mismatches(st, skip_mismatch)
    used = set()
    for path, layer in weights.saveables(model):
        keys = _weight_keys(path, layer)
        values = []
        for key, spec, tensor in keys:
            entry = st.entries.get(key)
            expected = weights._keras_shape(spec, tensor)
            if entry is None:
                mismatches.add(key, f"missing from the file (layer '{layer.name}')")
            elif entry.shape != expected:
                mismatches.add(key, f"the file holds shape {entry.shape}, the model expects "
                                    f"{expected}")  # fmt: skip
            else:
                values.append(st.tensor(key))
            used.add(key)
        if len(values) == len(keys):
            weights._assign(layer, values)
    extra = sorted(k for k in st.entries if k not in used and not k.startswith("optimizer/"))
    if extra:
        mismatches.add(extra[0], f"{len(extra)} weight(s) in the file match no layer")
    mismatches.raise_if_any()
    optimizer = getattr(model, "optimizer", None)
    count = sum(1 for k in st.entries if k.startswith("optimizer/"))
    if optimizer is None or not count:
        return

    def read(i: int, shape: tuple[int, ...]) -> torch.Tensor:
        key = f"optimizer/{i}"
        entry = st.entries.get(key)
        if entry is None or entry.shape != shape:
            raise st.error(key, f"missing or not of shape {shape}")
        return st.tensor(key)

    weights.set_optimizer_arrays(model, count, read, lambda m: warnings.warn(m, stacklevel=4))
