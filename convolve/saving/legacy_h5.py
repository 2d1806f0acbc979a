"""Keras's legacy HDF5 model file (`model.save("m.h5")`), written and read as Keras 3 does.

Keras 3 still writes and reads the single-file layout of Keras 2:

- root attributes `keras_version`, `backend`, `model_config` (JSON: the model's class
  and config, its layers in the legacy form, without `module`, `registered_name` or
  `build_config`) and, for a compiled model saved with its optimizer, `training_config`
  (JSON: the compile arguments, the optimizer as `optimizer_config`);
- the group `model_weights`: the attribute `layer_names` (the model's layers in order)
  and one group per layer whose attribute `weight_names` lists its weights, trainable
  ones first, each a dataset at that name, in Keras's layout;
- the group `optimizer_weights`: the attribute `weight_names` and the optimizer's
  variables in Keras's order.

Only the format lives here; `api` reads such files through the same checked HDF5 reader,
allowlist and legacy weight loader (`weights.load_legacy_h5`) as every other file.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from convolve.layers.base import _to_keras_array
from convolve.saving import objects, serialization, weights
from convolve.saving.h5safe import H5Reader
from convolve.saving.objects import Context

MODEL_CONFIG = "model_config"
TRAINING_CONFIG = "training_config"
MODEL_WEIGHTS = "model_weights"
OPTIMIZER_WEIGHTS = "optimizer_weights"

SAVE_WARNING = (
    "You are saving your model as an HDF5 file via `model.save()` or "
    "`convolve.saving.save_model(model)`. This file format is considered legacy. We "
    "recommend using instead the native Keras format, e.g. `model.save('my_model.keras')` "
    "or `convolve.saving.save_model(model, 'my_model.keras')`."
)
NOT_COMPILED_WARNING = (
    "No training configuration found in the save file, so the model was *not* compiled. "
    "Compile it manually."
)

# An HDF5 object header holds at most this many bytes of attributes; longer name lists
# are split into `<name>0`, `<name>1` ... as Keras splits them.
_HEADER_LIMIT = 64512
# Keys of a Keras 3 layer entry that the legacy form leaves out.
_KERAS3_ONLY = ("module", "registered_name", "build_config")


# ===================================================================== configs
def _each_layer(entry: Any, fn: Callable[[dict], dict]) -> Any:
    """`fn` applied to a layer entry and, for models, to every layer entry inside it."""
    if not isinstance(entry, dict):
        return entry
    entry = fn(entry)
    config = entry.get("config")
    if isinstance(config, dict) and isinstance(config.get("layers"), list):
        layers = [_each_layer(layer, fn) for layer in config["layers"]]
        entry = {**entry, "config": {**config, "layers": layers}}
    return entry


def _legacy_reference(entry: dict) -> dict:
    """A Keras 3 object reference in the legacy form: registered name as the class name."""
    legacy = {key: value for key, value in entry.items() if key not in _KERAS3_ONLY}
    legacy["class_name"] = entry.get("registered_name") or entry["class_name"]
    return legacy


def model_config(model: Any) -> dict[str, Any]:
    """The `model_config` attribute: the model's config with its layers in the legacy form."""
    return _each_layer(
        serialization.serialize_model(model, include_compile=False), _legacy_reference
    )


def _single_axis(entry: dict) -> dict:
    """Keras 2 wrote a layer's `axis` as a one-item list; Keras 3 reads it as an integer."""
    config = entry.get("config")
    axis = config.get("axis") if isinstance(config, dict) else None
    if "module" in entry or not (isinstance(axis, list) and len(axis) == 1):
        return entry
    return {**entry, "config": {**config, "axis": axis[0]}}


def read_model_config(reader: H5Reader) -> dict[str, Any]:
    """The `model_config` attribute, parsed, in the form the `.keras` loader reads."""
    config = json_attribute(reader, MODEL_CONFIG)
    if config is None:
        raise reader.error(
            MODEL_CONFIG, "missing: not a Keras model file (a weights file? load it into a "
            "model built in code with model.load_weights)"
        )  # fmt: skip
    if not isinstance(config, dict):
        raise reader.error(MODEL_CONFIG, "the config is not a JSON object")
    return _each_layer(config, _single_axis)


def _legacy_objects(value: Any) -> Any:
    """Losses and metrics as Keras's legacy serializer writes them (functions by name)."""
    if isinstance(value, list):
        return [_legacy_objects(v) for v in value]
    if not isinstance(value, dict):
        return value
    if value.get("class_name") == "function":
        return value.get("config")
    if "class_name" in value:
        return {"class_name": _legacy_reference(value)["class_name"], "config": value["config"]}
    return {key: _legacy_objects(v) for key, v in value.items()}


def training_config(model: Any) -> dict[str, Any] | None:
    """The `training_config` attribute of a compiled model (None when not compiled)."""
    compiled = serialization.compile_config(model)
    if not compiled:
        return None
    optimizer = compiled.pop("optimizer")
    config = {key: _legacy_objects(value) for key, value in compiled.items()}
    config["optimizer_config"] = _legacy_objects(optimizer)
    return config


def _custom_names(value: Any, ctx: Context) -> Any:
    """Names of custom or registered functions as references `compile_from_config` resolves."""
    if isinstance(value, str) and ctx.lookup(value) is not None:
        return {"class_name": "function", "config": value, "registered_name": value}
    if isinstance(value, list):
        return [_custom_names(v, ctx) for v in value]
    if isinstance(value, dict) and "class_name" not in value:
        return {key: _custom_names(v, ctx) for key, v in value.items()}
    return value


def compile_config(training: Any, ctx: Context) -> dict[str, Any]:
    """A `training_config` as the `compile_config` that `compile_from_config` takes."""
    if not isinstance(training, dict) or not isinstance(training.get("optimizer_config"), dict):
        raise ctx.error("$", "expected a JSON object with an 'optimizer_config'")
    config = {key: value for key, value in training.items() if key != "optimizer_config"}
    for key in ("loss", "metrics", "weighted_metrics"):
        config[key] = _custom_names(config.get(key), ctx)
    config["optimizer"] = training["optimizer_config"]
    return config


# ===================================================================== writing
def model_bytes(model: Any, include_optimizer: bool) -> bytes:
    """The whole file, as bytes: configs, layer weights and (optionally) optimizer state."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["keras_version"] = "3"
        f.attrs["backend"] = "torch"
        f.attrs[MODEL_CONFIG] = json.dumps(model_config(model)).encode("utf8")
        training = training_config(model) if include_optimizer else None
        if training is not None:
            f.attrs[TRAINING_CONFIG] = json.dumps(training).encode("utf8")
        _write_layer_weights(f.create_group(MODEL_WEIGHTS), model)
        if include_optimizer and getattr(model, "optimizer", None) is not None:
            _write_optimizer_weights(f, model)
    return buffer.getvalue()


def _write_names(group: Any, attribute: str, names: list[str]) -> None:
    """A list of names as an attribute, split in chunks past the header limit as Keras does."""
    data = [name.encode("utf8") for name in names]
    if any(len(item) > _HEADER_LIMIT for item in data):
        raise ValueError(f"A name in '{attribute}' is longer than {_HEADER_LIMIT} bytes.")
    chunks = np.array_split(np.asarray(data), 1)
    while any(chunk.nbytes > _HEADER_LIMIT for chunk in chunks):
        chunks = np.array_split(np.asarray(data), len(chunks) + 1)
    if len(chunks) == 1:
        group.attrs[attribute] = data
        return
    for i, chunk in enumerate(chunks):
        group.attrs[f"{attribute}{i}"] = chunk


def _write_arrays(group: Any, names: list[str], arrays: list[np.ndarray]) -> None:
    """Datasets at `names` (made unique) and the `weight_names` attribute listing them."""
    used: dict[str, int] = {}
    names = [weights._unique(name, used) for name in names]
    _write_names(group, "weight_names", names)
    for name, array in zip(names, arrays, strict=True):
        group.create_dataset(name, data=array)


def _write_layer_weights(group: Any, model: Any) -> None:
    _write_names(group, "layer_names", [layer.name for layer in model.layers])
    group.attrs["backend"] = b"torch"
    group.attrs["keras_version"] = b"3"
    for layer in model.layers:
        entries = weights._legacy_weights(layer)
        _write_arrays(
            group.create_group(layer.name),
            [f"{owner.name}/{spec.name}" for owner, spec, _ in entries],
            [_to_keras_array(spec, tensor) for _, spec, tensor in entries],
        )
    _write_arrays(group.create_group("top_level_model_weights"), [], [])


def _optimizer_weight_names(model: Any) -> list[str]:
    """Keras's names for the optimizer variables: `adam/iteration`, `adam/dense_bias_momentum`."""
    optimizer = model.optimizer
    params = list(getattr(optimizer, "_params", model.trainable_weights))
    paths = {id(t): f"{owner.name}_{spec.name}" for owner, spec, t in model._weight_entries()}
    names = []
    for name, _, _ in optimizer._handles():
        index, _, slot = name.partition("/")
        if slot and index.isdigit() and int(index) < len(params):
            name = f"{paths.get(id(params[int(index)]), index)}_{slot}"
        names.append(f"{optimizer.name}/{name}")
    return names


def _write_optimizer_weights(f: Any, model: Any) -> None:
    arrays = weights.optimizer_arrays(model)
    if arrays:
        _write_arrays(f.create_group(OPTIMIZER_WEIGHTS), _optimizer_weight_names(model), arrays)


# ===================================================================== reading
def json_attribute(reader: H5Reader, name: str) -> Any:
    """A root attribute holding JSON, parsed (None when the file has no such attribute)."""
    value = reader.attr(reader.group(""), name, "/")
    if value is None:
        return None
    if not isinstance(value, str):
        raise reader.error(name, f"expected a JSON string, found {type(value).__name__}")
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as err:
        raise reader.error(name, f"not valid JSON: {err}") from None


def compile_as_saved(model: Any, reader: H5Reader, ctx: Context) -> None:
    """Compiles as `training_config` says and restores the optimizer state from the file.

    Without a `training_config` the model stays uncompiled, with Keras's warning.
    """
    training = json_attribute(reader, TRAINING_CONFIG)
    if training is None:
        warnings.warn(NOT_COMPILED_WARNING, stacklevel=7)  # at the load_model call
        return
    objects.audit(training, ctx)
    serialization.compile_from_config(model, compile_config(training, ctx), ctx, "$")
    _load_optimizer_weights(model, reader)


def _load_optimizer_weights(model: Any, reader: H5Reader) -> None:
    group = reader.group(OPTIMIZER_WEIGHTS)
    if group is None:
        return
    names = reader.attr(group, "weight_names", OPTIMIZER_WEIGHTS)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise reader.error(OPTIMIZER_WEIGHTS, "malformed weight_names attribute")
    weights.load_optimizer_h5(model, reader, OPTIMIZER_WEIGHTS, names)
