"""Keras's legacy HDF5 model files (`model.save("m.h5")`) move between convolve and Keras 3."""

from __future__ import annotations

import errno
import json
import os
import shutil

import h5py
import keras
import numpy as np
import pytest
import torch
from saving_models import build, inputs_for, predict, randomize

import convolve
from convolve import layers, optimizers, saving
from convolve.callbacks import ModelCheckpoint
from convolve.models import Sequential
from convolve.saving import atomic, legacy_h5
from convolve.saving import weights as saving_weights

pytestmark = pytest.mark.parity

# One model's predictions in the two libraries: the same weights through different kernels.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}
# Weights after one more training epoch in each library, from the same state.
TRAINING_TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def _keras_predict(model, data):
    out = model.predict(data[0] if len(data) == 1 else data, verbose=0)
    return [np.asarray(o) for o in out] if isinstance(out, list | tuple) else [np.asarray(out)]


def _close(a, b, tolerance=TOLERANCE):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, **tolerance)


def _assert_includes(ours, theirs):
    """`ours` holds everything `theirs` does (convolve's SparseCategoricalCrossentropy
    config also names its `axis`)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(theirs) <= set(ours), (ours, theirs)
        for key, value in theirs.items():
            _assert_includes(ours[key], value)
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), (ours, theirs)
        for a, b in zip(ours, theirs, strict=True):
            _assert_includes(a, b)
    else:
        assert ours == theirs


def _attribute(path, name):
    with h5py.File(path, "r") as f:
        return json.loads(f.attrs[name]) if name in f.attrs else None


def _rewrite_attribute(path, name, value):
    with h5py.File(path, "a") as f:
        f.attrs[name] = value


# --------------------------------------------------------------------- Keras's models
def _keras_convnet(dropout=0.3):
    """A small Dogs vs Cats convnet, as in the tutorials that save it to .h5."""
    from keras import layers as kl

    return keras.Sequential(
        [
            kl.Input((16, 16, 3)),
            kl.Conv2D(8, 3, activation="relu"),
            kl.MaxPooling2D(2),
            kl.BatchNormalization(),
            kl.Conv2D(8, 3, activation="relu", padding="same"),
            kl.MaxPooling2D(2),
            kl.Dropout(dropout),
            kl.Flatten(),
            kl.Dense(16, activation="relu"),
            kl.Dense(1, activation="sigmoid"),
        ],
        name="cats_and_dogs",
    )


def _keras_functional():
    from keras import layers as kl

    image = keras.Input((12, 12, 3), name="image")
    x = kl.Conv2D(6, 3, padding="same", activation="relu")(image)
    x = kl.BatchNormalization()(x)
    x = kl.GlobalAveragePooling2D()(x)
    hidden = kl.Dense(8, activation="relu")(x)
    classes = kl.Dense(3, activation="softmax", name="classes")(hidden)
    score = kl.Dense(1, name="score")(hidden)
    return keras.Model(image, [classes, score], name="two_heads")


def _compile_and_data(model):
    """Compiles a Keras model as its tutorial would and returns training data for it."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, *model.inputs[0].shape[1:])).astype(np.float32)
    if len(model.outputs) == 1:
        model.compile(
            optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
            loss="binary_crossentropy",
            metrics=["accuracy"],
        )
        return x, (rng.uniform(size=(16, 1)) > 0.5).astype(np.float32)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss=[keras.losses.SparseCategoricalCrossentropy(), "mean_squared_error"],
        loss_weights=[1.0, 0.5],
        metrics=[["accuracy"], ["mae"]],
    )
    return x, [rng.integers(0, 3, 16), rng.normal(size=(16, 1)).astype(np.float32)]


def _trained_keras(builder):
    keras.utils.set_random_seed(0)
    model = builder()
    x, y = _compile_and_data(model)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    return model, x, y


# --------------------------------------------------------------------- Keras -> convolve
@pytest.mark.parametrize("builder", [_keras_convnet, _keras_functional])
def test_keras_h5_loads_with_its_predictions_and_compile_state(builder, tmp_path):
    theirs, x, _ = _trained_keras(builder)
    path = tmp_path / "keras.h5"
    theirs.save(path)

    ours = saving.load_model(path)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    for a, b in zip(theirs.get_weights(), ours.get_weights(), strict=True):
        np.testing.assert_array_equal(np.asarray(a), b)
    _close(_keras_predict(theirs, [x]), predict(ours, [x]))

    assert ours.compiled
    assert type(ours.optimizer).__name__ == type(theirs.optimizer).__name__
    assert ours.optimizer.get_config() == theirs.optimizer.get_config()
    # The loss, loss weights and metrics come back as Keras wrote them.
    _assert_includes(legacy_h5.training_config(ours), _attribute(path, "training_config"))
    assert ours.optimizer.iterations == int(theirs.optimizer.iterations) == 4
    keras_state = [np.asarray(v) for v in theirs.optimizer.variables]
    our_state = saving_weights.optimizer_arrays(ours)
    assert len(keras_state) == len(our_state) > 2
    for a, b in zip(keras_state, our_state, strict=True):
        np.testing.assert_array_equal(a, b)


def _keras_convnet_without_dropout():
    return _keras_convnet(dropout=0.0)  # the two libraries draw different dropout masks


@pytest.mark.parametrize("builder", [_keras_convnet_without_dropout, _keras_functional])
def test_training_resumes_from_a_keras_h5_where_keras_stopped(builder, tmp_path):
    theirs, x, y = _trained_keras(builder)
    theirs.save(tmp_path / "keras.h5")
    ours = saving.load_model(tmp_path / "keras.h5")
    # Keras's own reloaded model keeps only the iteration count and learning rate (it
    # builds the optimizer for the model's top-level variables, of which there are none)
    # and then refuses to train, so the original model is the reference.
    theirs.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    ours.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    assert ours.optimizer.iterations == int(theirs.optimizer.iterations) == 5
    _close([np.asarray(w) for w in theirs.get_weights()], ours.get_weights(), TRAINING_TOLERANCE)


# --------------------------------------------------------------------- convolve -> Keras
def _trained_convolve(name="conv2d"):
    model = build(name)
    model.compile(
        optimizer=optimizers.Adam(learning_rate=3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    x = inputs_for(model, batch=8)[0]
    y = np.arange(8) % 5
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    return model, x, y


def test_convolve_h5_loads_in_keras_with_its_training_state(tmp_path):
    model, x, y = _trained_convolve()
    path = tmp_path / "ours.h5"
    with pytest.warns(UserWarning, match=r"HDF5 file .* considered legacy"):
        model.save(path)

    theirs = keras.models.load_model(path)
    for a, b in zip(model.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
    _close(predict(model, [x]), _keras_predict(theirs, [x]))
    assert type(theirs.optimizer).__name__ == "Adam"
    assert theirs.optimizer.get_config() == model.optimizer.get_config()
    assert int(theirs.optimizer.iterations) == model.optimizer.iterations == 4
    np.testing.assert_allclose(
        theirs.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), **TOLERANCE
    )


@pytest.mark.parametrize("name", ["functional", "frozen", "merging"])
def test_convolve_h5_of_graph_models_loads_in_keras(name, tmp_path):
    model = build(name)
    data = inputs_for(model)
    model.save(tmp_path / "ours.h5")
    theirs = keras.models.load_model(tmp_path / "ours.h5")
    assert [layer.name for layer in theirs.layers] == [layer.name for layer in model.layers]
    assert [layer.trainable for layer in theirs.layers] == [l.trainable for l in model.layers]
    _close(predict(model, data), _keras_predict(theirs, data))


def _layout(path):
    """Everything in a legacy file but the configs' per-layer details and the values."""
    found = {}
    with h5py.File(path, "r") as f:
        found["/"] = sorted(f.attrs)
        found["layer_names"] = [str(n) for n in f["model_weights"].attrs["layer_names"]]

        def visit(name, obj):
            names = obj.attrs.get("weight_names")
            if names is not None:
                found[name] = [str(n) for n in names]
            if isinstance(obj, h5py.Dataset):
                found[name] = (obj.shape, obj.dtype.str)

        f.visititems(visit)
        config = json.loads(f.attrs["model_config"])
    found["layer entries"] = [sorted(entry) for entry in config["config"]["layers"]]
    return found


def test_convolve_writes_the_layout_keras_writes(tmp_path):
    model, _, _ = _trained_convolve()
    model.save(tmp_path / "ours.h5")
    model.save(tmp_path / "ours.keras")
    keras.models.load_model(tmp_path / "ours.keras").save(tmp_path / "keras.h5")

    assert _layout(tmp_path / "ours.h5") == _layout(tmp_path / "keras.h5")
    assert _attribute(tmp_path / "ours.h5", "training_config") == _attribute(
        tmp_path / "keras.h5", "training_config"
    )
    ours = _attribute(tmp_path / "ours.h5", "model_config")
    assert ours["class_name"] == "Sequential" and "module" not in ours
    assert all(set(entry) == {"class_name", "config"} for entry in ours["config"]["layers"])


# --------------------------------------------------------------------- convolve -> convolve
@pytest.mark.parametrize("name", ["conv2d", "functional", "frozen"])
def test_round_trip_is_bit_exact(name, tmp_path):
    model = build(name)
    data = inputs_for(model)
    model.save(tmp_path / "m.h5")
    loaded = saving.load_model(tmp_path / "m.h5", compile=False)
    assert type(loaded) is type(model)
    assert [layer.trainable for layer in loaded.layers] == [l.trainable for l in model.layers]
    for a, b in zip(predict(model, data), predict(loaded, data), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_round_trip_resumes_training_exactly(tmp_path):
    model, x, y = _trained_convolve()
    model.save(tmp_path / "m.hdf5")
    loaded = saving.load_model(tmp_path / "m.hdf5")
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.loss == "sparse_categorical_crossentropy"
    for a, b in zip(
        saving_weights.optimizer_arrays(model), saving_weights.optimizer_arrays(loaded), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    for resumed in (model, loaded):
        torch.manual_seed(1)  # the same dropout masks in both
        for layer in resumed.layers:
            if hasattr(layer, "seed_generator"):  # made afresh by loading, with a new seed
                layer.seed_generator = convolve.random.SeedGenerator(1)
        resumed.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_without_the_optimizer_the_model_loads_uncompiled(tmp_path):
    model, x, _ = _trained_convolve()
    model.save(tmp_path / "m.h5", include_optimizer=False)
    assert _attribute(tmp_path / "m.h5", "training_config") is None
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert sorted(f) == ["model_weights"]
    with pytest.warns(UserWarning, match=r"No training configuration found .* \*not\* compiled"):
        loaded = saving.load_model(tmp_path / "m.h5")
    assert not loaded.compiled
    for a, b in zip(predict(model, [x]), predict(loaded, [x]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_keras_2_config_loads(tmp_path):
    """Keras 2 wrote `batch_input_shape` and one-item `axis` lists; Keras 3 reads both."""
    model = build("conv2d")
    model.save(tmp_path / "m.h5")
    config = _attribute(tmp_path / "m.h5", "model_config")
    entries = config["config"]["layers"]
    entries[0]["config"]["batch_input_shape"] = entries[0]["config"].pop("batch_shape")
    norm = next(e for e in entries if e["class_name"] == "BatchNormalization")
    norm["config"]["axis"] = [3]
    _rewrite_attribute(tmp_path / "m.h5", "model_config", json.dumps(config).encode())
    loaded = saving.load_model(tmp_path / "m.h5")
    data = inputs_for(model)
    for a, b in zip(predict(model, data), predict(loaded, data), strict=True):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------- custom objects
class Doubling(layers.Layer):
    """A user layer that is not registered: files may name it only through custom_objects."""

    def call(self, inputs):
        return inputs * 2.0


def weighted_error(y_true, y_pred):
    return ((y_true - y_pred) ** 2).mean() * 3.0


def test_custom_objects_and_safe_mode_as_for_keras_files(tmp_path):
    model = Sequential([layers.Input((3,)), Doubling(name="twice"), layers.Dense(2)])
    randomize(model)
    model.compile(optimizer="sgd", loss=weighted_error)
    model.save(tmp_path / "m.h5")
    # The legacy form names classes without a module: an unknown name is not available.
    with pytest.raises(saving.ModelFileError, match=r"m\.h5.*'Doubling'.*custom_objects"):
        saving.load_model(tmp_path / "m.h5")
    with pytest.raises(saving.ModelFileError, match=r"m\.h5.*training_config"):
        saving.load_model(tmp_path / "m.h5", custom_objects={"Doubling": Doubling})
    loaded = saving.load_model(
        tmp_path / "m.h5", custom_objects={"Doubling": Doubling, "weighted_error": weighted_error}
    )
    assert type(loaded.layers[0]) is Doubling and loaded.loss is weighted_error
    data = inputs_for(model)
    np.testing.assert_array_equal(predict(model, data)[0], predict(loaded, data)[0])

    config = _attribute(tmp_path / "m.h5", "model_config")
    code = {"class_name": "__lambda__", "config": {"code": "", "defaults": None, "closure": None}}
    config["config"]["layers"][-1]["config"]["activation"] = code
    _rewrite_attribute(tmp_path / "m.h5", "model_config", json.dumps(config).encode())
    with pytest.raises(saving.UnsafeModelError, match=r"m\.h5.*lambda"):
        saving.load_model(tmp_path / "m.h5", custom_objects={"Doubling": Doubling})


# --------------------------------------------------------------------- failures
def test_a_file_that_is_not_hdf5_is_named(tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(b"this is not a model file")
    with pytest.raises(saving.ModelFileError, match=r"model\.h5.*not an HDF5 file"):
        saving.load_model(path)


def test_a_truncated_file_is_named_and_falls_back_to_the_previous_one(tmp_path):
    path = tmp_path / "model.h5"
    first, second = build("conv2d", seed=0), build("conv2d", seed=1)
    first.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(saving.ModelFileError, match=r"model\.h5"):
        saving.load_model(path)

    first.save(path)
    second.save(path)  # keeps the first as the previous generation
    path.write_bytes(path.read_bytes()[: len(data) // 2])
    with pytest.warns(UserWarning, match="loaded the previous generation"):
        loaded = saving.load_model(path)
    for a, b in zip(first.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["w.weights.h5", "w.h5"])
def test_a_weights_file_is_not_a_model_file(name, tmp_path):
    build("mlp").save_weights(tmp_path / "saved.weights.h5")
    shutil.copyfile(tmp_path / "saved.weights.h5", tmp_path / name)
    with pytest.raises(saving.ModelFileError, match=rf"{name}.*model_config.*missing") as caught:
        saving.load_model(tmp_path / name)
    assert "load_weights" in str(caught.value)


@pytest.mark.parametrize(
    "value, problem",
    [(b"{not json", "not valid JSON"), (b"[1, 2]", "the config is not a JSON object")],
)
def test_a_malformed_config_is_named(value, problem, tmp_path):
    path = tmp_path / "m.h5"
    build("mlp").save(path)
    _rewrite_attribute(path, "model_config", value)
    with pytest.raises(saving.ModelFileError, match=rf"m\.h5', entry 'model_config': {problem}"):
        saving.load_model(path)


def test_weights_that_do_not_fit_the_config_are_named(tmp_path):
    path = tmp_path / "m.h5"
    build("mlp").save(path)
    with h5py.File(path, "a") as f:
        del f["model_weights/dense/dense/kernel"]
        f["model_weights/dense/dense/kernel"] = np.zeros((5, 5), np.float32)
    with pytest.raises(saving.ModelFileError, match=r"m\.h5.*dense/dense/kernel.*shape"):
        saving.load_model(path)


def test_a_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "m.h5"
    build("conv2d", seed=0).save(path)
    original = path.read_bytes()

    def half_then_full_disk(f, data):
        f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "_copy_into", half_then_full_disk)
    with pytest.raises(OSError, match="No space left"):
        build("conv2d", seed=1).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["m.h5"]  # no temporary file left behind
    with pytest.raises(FileExistsError):
        build("conv2d", seed=1).save(path, overwrite=False)
    assert path.read_bytes() == original


def test_save_makes_the_directory_as_keras_does(tmp_path):
    path = tmp_path / "new" / "dir" / "m.h5"
    build("mlp").save(path)
    assert saving.load_model(path, compile=False).name == "mlp"


# --------------------------------------------------------------------- weights, checkpoints
def test_weights_functions_are_unchanged_and_read_model_files(tmp_path):
    model = build("conv2d", seed=0)
    data = inputs_for(model)
    model.save(tmp_path / "m.h5")
    for by_name in (False, True):
        target = build("conv2d", seed=3)
        target.load_weights(tmp_path / "m.h5", by_name=by_name)
        np.testing.assert_array_equal(predict(model, data)[0], predict(target, data)[0])
    theirs = keras.models.load_model(tmp_path / "m.h5")
    for layer in theirs.layers:
        if layer.weights:
            layer.set_weights([np.zeros_like(np.asarray(w)) for w in layer.get_weights()])
    theirs.load_weights(tmp_path / "m.h5")
    _close(predict(model, data), _keras_predict(theirs, data))

    model.save_weights(tmp_path / "w.weights.h5")
    target = build("conv2d", seed=4)
    target.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(predict(model, data)[0], predict(target, data)[0])
    with pytest.raises(ValueError, match="weights.h5"):
        model.save_weights(tmp_path / "w.h5")


def test_model_checkpoint_saves_h5_models(tmp_path):
    model, x, y = _trained_convolve()
    checkpoint = ModelCheckpoint(str(tmp_path / "ckpt" / "best.h5"))
    with pytest.warns(UserWarning, match="considered legacy"):
        model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[checkpoint])
    loaded = saving.load_model(tmp_path / "ckpt" / "best.h5")
    assert loaded.compiled and loaded.optimizer.iterations == model.optimizer.iterations == 8
    for a, b in zip(predict(model, [x]), predict(loaded, [x]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_unbuilt_models_save_and_load(tmp_path):
    model = Sequential([layers.Dense(2, name="d")], name="unbuilt")
    with pytest.warns(UserWarning, match="not built"):
        model.save(tmp_path / "u.h5")
    loaded = saving.load_model(tmp_path / "u.h5", compile=False)
    assert loaded.name == "unbuilt" and not loaded.built
    assert isinstance(loaded, convolve.Model)


def test_keras_2_save_format_argument_is_handled_as_keras_3_does(tmp_path):
    for lib in (convolve, keras):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2)])
        model.save(tmp_path / f"{lib.__name__}.h5", save_format="h5")  # Keras 3 only warns
        assert (tmp_path / f"{lib.__name__}.h5").is_file()
        with pytest.raises(ValueError, match="save_format"):
            model.save(tmp_path / f"{lib.__name__}_model", save_format="tf")
        assert not (tmp_path / f"{lib.__name__}_model").exists()
    with pytest.warns(UserWarning, match="save_format='keras'"):
        Sequential([layers.Input((3,)), layers.Dense(2)]).save(
            tmp_path / "m.keras", save_format="keras"
        )
