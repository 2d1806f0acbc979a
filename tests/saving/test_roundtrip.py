"""Save and load within convolve: models, weights files, configs and training state."""

from __future__ import annotations

import json
import warnings
import zipfile

import h5py
import numpy as np
import pytest
import torch
from saving_models import MODEL_NAMES, build, inputs_for, predict, randomize

import convolve
from convolve import layers, saving
from convolve.models import Sequential


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


def test_catalog_covers_the_core_families():
    always = {"mlp", "conv2d", "conv1d", "conv3d", "reshaping", "functional", "pooling",
              "grouped_conv", "activations", "frozen"}  # fmt: skip
    assert always <= set(MODEL_NAMES)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_keras_file_round_trip_is_bit_exact(name, tmp_path):
    model = build(name)
    data = inputs_for(model)
    before = predict(model, data)
    model.save(tmp_path / "m.keras")
    loaded = saving.load_model(tmp_path / "m.keras")
    assert type(loaded) is type(model)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert [layer.trainable for layer in loaded.layers] == [l.trainable for l in model.layers]
    _same(before, predict(loaded, data))
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("suffix", [".weights.h5", ".safetensors", ".keras"])
@pytest.mark.parametrize("name", ["conv2d", "functional"])
def test_weights_files_round_trip_is_bit_exact(name, suffix, tmp_path):
    model = build(name, seed=0)
    target = build(name, seed=1)
    data = inputs_for(model)
    path = tmp_path / f"w{suffix}"
    if suffix == ".keras":
        model.save(path)
    else:
        model.save_weights(path)
    assert not all(
        np.array_equal(a, b)
        for a, b in zip(predict(model, data), predict(target, data), strict=True)
    )
    target.load_weights(path)
    _same(predict(model, data), predict(target, data))


def test_h5_layout_is_keras_layout(tmp_path):
    model = build("conv2d")
    model.save_weights(tmp_path / "w.weights.h5")
    conv = model.get_layer("conv2d")
    with h5py.File(tmp_path / "w.weights.h5") as f:
        kernel = f["layers/conv2d/vars/0"][()]
        assert f["layers/conv2d/vars"].attrs["name"] == "conv2d"
        assert f["layers/conv2d_1/vars/0"].shape == (2, 2, 4, 6)
        assert sorted(f["layers/batch_normalization/vars"]) == ["0", "1", "2", "3"]
        assert "vars" in f and f["vars"].attrs["name"] == model.name
    np.testing.assert_array_equal(kernel, conv.get_weights()[0])
    assert kernel.shape == (3, 3, 3, 4)  # (*kernel_size, in, out), never torch's layout


def test_safetensors_layout_is_documented_flat_keras_map(tmp_path):
    from safetensors.numpy import load_file

    model = build("conv2d")
    model.compile(optimizer="sgd", loss="mse")
    model.save_weights(tmp_path / "w.safetensors")
    tensors = load_file(tmp_path / "w.safetensors")  # a plain safetensors reader opens it
    conv, bn = model.get_layer("conv2d"), model.get_layer("batch_normalization")
    np.testing.assert_array_equal(tensors["layers/conv2d/kernel"], conv.get_weights()[0])
    np.testing.assert_array_equal(tensors["layers/batch_normalization/moving_variance"],
                                  bn.get_weights()[3])  # fmt: skip
    assert tensors["optimizer/0"].dtype == np.int32  # the iteration count
    from safetensors import safe_open

    with safe_open(tmp_path / "w.safetensors", "np") as f:
        meta = f.metadata()
    assert meta["format"] == "convolve.weights" and meta["layout"] == "keras"
    assert len(meta["sha256"]) == 64


def test_skip_mismatch_loads_what_fits_and_warns(tmp_path):
    model = build("mlp")
    model.save_weights(tmp_path / "w.weights.h5")
    other = Sequential([layers.Input((12,)), layers.Dense(16, activation="relu"), layers.Dense(7)])
    with pytest.raises(saving.ModelFileError, match="layers/dense_1/vars"):
        other.load_weights(tmp_path / "w.weights.h5")
    with pytest.warns(UserWarning, match="Skipping"):
        other.load_weights(tmp_path / "w.weights.h5", skip_mismatch=True)
    np.testing.assert_array_equal(
        other.layers[0].get_weights()[0], model.layers[0].get_weights()[0]
    )


def test_safetensors_skip_mismatch(tmp_path):
    model = build("mlp")
    model.save_weights(tmp_path / "w.safetensors")
    other = Sequential([layers.Input((12,)), layers.Dense(16), layers.Dense(7)])
    with pytest.raises(saving.ModelFileError, match="layers/dense_1/kernel"):
        other.load_weights(tmp_path / "w.safetensors")
    with pytest.warns(UserWarning, match="Skipping"):
        other.load_weights(tmp_path / "w.safetensors", skip_mismatch=True)
    np.testing.assert_array_equal(
        other.layers[0].get_weights()[1], model.layers[0].get_weights()[1]
    )


def _legacy_h5(path, model, prefix=""):
    """A Keras 2 weights file: layer_names, weight_names, `<layer>/<layer>/kernel:0`."""
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if prefix else f
        root.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        root.attrs["backend"] = b"tensorflow"
        root.attrs["keras_version"] = b"2.15.0"
        for layer in model.layers:
            group = root.create_group(layer.name)
            names = [f"{layer.name}/{s.name}:0" for _, s, _ in layer._weight_entries()]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for name, value in zip(names, layer.get_weights(), strict=True):
                group[name] = value


@pytest.mark.parametrize("prefix", ["", "model_weights"])
def test_legacy_h5_loads_in_order_and_by_name(prefix, tmp_path):
    model = build("conv2d", seed=0)
    _legacy_h5(tmp_path / "old.h5", model, prefix)
    data = inputs_for(model)
    target = build("conv2d", seed=1)
    target.load_weights(tmp_path / "old.h5")
    _same(predict(model, data), predict(target, data))
    wrong = Sequential([layers.Input((12, 12, 3)), layers.Conv2D(5, 3, name="conv2d")])
    with pytest.raises(saving.ModelFileError, match="conv2d"):
        wrong.load_weights(tmp_path / "old.h5", by_name=True)  # 5 filters, the file has 4
    renamed = Sequential(
        [
            layers.Input((12, 12, 3)),
            layers.Conv2D(4, 3, strides=2, padding="same", name="conv2d"),
            layers.Conv2D(2, 1, name="other"),
        ]
    )
    before = renamed.layers[1].get_weights()
    renamed.load_weights(tmp_path / "old.h5", by_name=True)
    np.testing.assert_array_equal(
        renamed.layers[0].get_weights()[0], model.get_layer("conv2d").get_weights()[0]
    )
    np.testing.assert_array_equal(renamed.layers[1].get_weights()[0], before[0])


def test_by_name_is_only_for_legacy_files(tmp_path):
    model = build("mlp")
    model.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match="by_name"):
        model.load_weights(tmp_path / "w.weights.h5", by_name=True)


@pytest.mark.parametrize(
    "optimizer",
    [
        lambda: convolve.optimizers.Adam(learning_rate=0.01),
        lambda: convolve.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
        lambda: convolve.optimizers.RMSprop(learning_rate=0.01, momentum=0.5),
    ],
    ids=["adam", "sgd", "rmsprop"],
)
def test_resumed_training_matches_uninterrupted_training(optimizer, tmp_path):
    convolve.utils.set_random_seed(0)
    model = Sequential(
        [
            layers.Input((8, 8, 2)),
            layers.Conv2D(3, 3, activation="relu"),
            layers.BatchNormalization(),
            layers.Flatten(),
            layers.Dropout(0.2),
            layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 8, 8, 2)).astype(np.float32)
    y = rng.integers(0, 4, 40)
    model.save(tmp_path / "start.keras")

    def fit(m, epochs, seed_state):
        # Dropout draws from torch's generator; its state is the caller's to carry over.
        torch.set_rng_state(seed_state)
        m.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)
        return torch.get_rng_state()

    torch.manual_seed(1)
    seed = torch.get_rng_state()
    straight = saving.load_model(tmp_path / "start.keras")
    fit(straight, 2, seed)

    first = saving.load_model(tmp_path / "start.keras")
    state = fit(first, 1, seed)
    first.save(tmp_path / "middle.keras")
    resumed = saving.load_model(tmp_path / "middle.keras")
    assert resumed.optimizer.iterations == first.optimizer.iterations == 5
    # A loaded model's first run builds its compiled losses and metrics, drawing from the
    # global generator as Keras's does; the straight run drew that at its start.
    resumed.evaluate(x, y, verbose=0)
    fit(resumed, 1, state)

    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(straight.optimizer.variables, resumed.optimizer.variables, strict=True):
        assert torch.equal(a, b)


def test_optimizer_state_round_trips_through_weights_files(tmp_path):
    model = build("conv2d")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = inputs_for(model, batch=8)[0]
    model.fit(x, np.arange(8) % 5, epochs=1, verbose=0)
    for suffix in (".weights.h5", ".safetensors"):
        model.save_weights(tmp_path / f"w{suffix}")
        other = build("conv2d", seed=3)
        other.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        other.load_weights(tmp_path / f"w{suffix}")
        assert other.optimizer.iterations == model.optimizer.iterations == 1
        for a, b in zip(model.optimizer.variables, other.optimizer.variables, strict=True):
            assert torch.equal(a, b)


def test_compile_settings_are_restored(tmp_path):
    model = build("mlp")
    model.compile(
        optimizer=convolve.optimizers.SGD(learning_rate=0.125, momentum=0.5),
        loss=convolve.losses.SparseCategoricalCrossentropy(from_logits=False),
        metrics=["accuracy", convolve.metrics.SparseTopKCategoricalAccuracy(k=2)],
    )
    model.save(tmp_path / "m.keras")
    loaded = saving.load_model(tmp_path / "m.keras")
    assert loaded.compiled
    assert type(loaded.optimizer).__name__ == "SGD"
    assert loaded.optimizer.get_config()["momentum"] == 0.5
    assert loaded.optimizer.learning_rate == pytest.approx(0.125)
    x = inputs_for(model, batch=6)[0]
    y = np.arange(6) % 6
    np.testing.assert_allclose(
        loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6
    )
    assert not saving.load_model(tmp_path / "m.keras", compile=False).compiled


def test_config_format_matches_keras():
    model = build("functional")
    config = json.loads(model.to_json())
    assert config["class_name"] == "Functional"
    assert config["module"] == "keras.src.models.functional"
    inner = config["config"]
    assert inner["input_layers"] == [["image", 0, 0], ["vector", 0, 0]]
    assert inner["output_layers"] == [
        ["head", 0, 0], ["inner", 0, 0], ["shared", 0, 0], ["block", 2, 0]
    ]  # fmt: skip
    head = next(e for e in inner["layers"] if e["name"] == "head")
    assert head["inbound_nodes"][0]["args"][0]["config"]["keras_history"] == ["block", 0, 0]
    shared = next(e for e in inner["layers"] if e["name"] == "shared")
    histories = [n["args"][0]["config"]["keras_history"] for n in shared["inbound_nodes"]]
    assert histories == [["global_average_pooling2d", 0, 0], ["vector", 0, 0]]
    conv = next(e for e in inner["layers"] if e["name"] == "conv")
    assert conv["module"] == "keras.layers" and conv["registered_name"] is None
    assert conv["config"]["dtype"]["class_name"] == "DTypePolicy"
    assert conv["config"]["kernel_initializer"]["module"] == "keras.initializers"
    assert conv["build_config"] == {"input_shape": [None, 10, 10, 3]}


def test_model_from_json_round_trip():
    model = build("conv1d")
    clone = saving.model_from_json(model.to_json())
    assert clone.to_json() == model.to_json()


def test_serialize_and_deserialize_layer():
    dense = layers.Dense(3, activation="relu", kernel_regularizer=convolve.regularizers.L2(0.5),
                         name="d")  # fmt: skip
    entry = saving.serialize_layer(dense)
    assert entry["config"]["kernel_regularizer"] == {
        "module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.5},
        "registered_name": None,
    }  # fmt: skip
    rebuilt = saving.deserialize_layer(entry)
    assert type(rebuilt) is layers.Dense and rebuilt.units == 3
    assert rebuilt.kernel_regularizer.get_config() == {"l2": 0.5}


@saving.register_keras_serializable(package="Tests")
class Scale(convolve.layers.Layer):
    """A user layer with a weight, registered for saving."""

    def __init__(self, factor: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.add_weight((input_shape[-1],), "ones", name="w")

    def call(self, x):
        return x * self.w * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@saving.register_keras_serializable(package="Tests")
def cube(x):
    return x * x * x


def test_registered_custom_layer_and_activation(tmp_path):
    model = Sequential([layers.Input((3,)), Scale(3.0), layers.Dense(2, activation=cube)])
    randomize(model)
    model.save(tmp_path / "m.keras")
    config = json.loads(zipfile.ZipFile(tmp_path / "m.keras").read("config.json"))
    scale, dense = config["config"]["layers"][1:]
    assert scale["registered_name"] == "Tests>Scale"
    assert dense["config"]["activation"]["config"] == "Tests>cube"
    loaded = saving.load_model(tmp_path / "m.keras")
    data = inputs_for(model)
    _same(predict(model, data), predict(loaded, data))
    assert isinstance(loaded.layers[0], Scale) and loaded.layers[0].factor == 3.0


class Unregistered(Scale):
    pass


def test_custom_objects_and_scope(tmp_path):
    model = Sequential([layers.Input((3,)), Unregistered(name="u")])
    model.save(tmp_path / "m.keras")
    with pytest.raises(saving.UnsafeModelError, match="Unregistered"):
        saving.load_model(tmp_path / "m.keras")
    loaded = saving.load_model(tmp_path / "m.keras", custom_objects={"Unregistered": Unregistered})
    assert type(loaded.layers[0]) is Unregistered
    with saving.custom_object_scope({"Unregistered": Unregistered}):
        assert type(saving.load_model(tmp_path / "m.keras").layers[0]) is Unregistered
    with pytest.raises(saving.UnsafeModelError):
        saving.load_model(tmp_path / "m.keras")


def test_unbuilt_and_wrong_extensions(tmp_path):
    model = build("mlp")
    with pytest.raises(ValueError, match=".keras"):
        model.save(tmp_path / "m.pt")
    with pytest.raises(ValueError, match="weights.h5"):
        model.save_weights(tmp_path / "m.h5")
    model.save(tmp_path / "m.keras")
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "m.keras", overwrite=False)
    unbuilt = Sequential([layers.Dense(2)])
    with pytest.raises(ValueError, match="not built"):
        unbuilt.save_weights(tmp_path / "u.weights.h5")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        unbuilt.save(tmp_path / "u.keras")
    assert any("not built" in str(w.message) for w in caught)


def test_model_configs_round_trip_through_from_config():
    functional = build("functional")
    rebuilt = saving.functional_from_config(saving.functional_config(functional))
    assert rebuilt.to_json() == functional.to_json()
    sequential = build("conv3d")
    rebuilt = saving.sequential_from_config(saving.sequential_config(sequential))
    assert rebuilt.to_json() == sequential.to_json()


def test_keras_layers_convolve_lacks_are_named_not_called_unsafe():
    # JaxLayer wraps JAX functions: Keras has it, convolve (PyTorch only) never will.
    entry = {"module": "keras.layers", "class_name": "JaxLayer", "config": {}}
    with pytest.raises(saving.ModelFileError, match="keras.layers.JaxLayer") as caught:
        saving.deserialize_layer(entry)
    assert not isinstance(caught.value, saving.UnsafeModelError)
    with pytest.raises(saving.ModelFileError, match="keras.constraints.Frobnicate"):
        saving.deserialize_layer(
            {"class_name": "Dense", "config": {"units": 2, "kernel_constraint": {
                "module": "keras.constraints", "class_name": "Frobnicate", "config": {}}}}
        )  # fmt: skip
    dense = saving.deserialize_layer(
        {"class_name": "Dense", "config": {"units": 2, "kernel_constraint": {
            "module": "keras.constraints", "class_name": "MaxNorm", "config": {"max_value": 3}}}}
    )  # fmt: skip
    assert type(dense.kernel_constraint).__name__ == "MaxNorm"
    assert dense.kernel_constraint.max_value == 3


def test_registration_names_and_requirements():
    assert saving.get_registered_name(Scale) == "Tests>Scale"
    assert saving.get_registered_object("Tests>cube") is cube
    assert saving.get_custom_objects()["Tests>Scale"] is Scale
    with pytest.raises(ValueError, match="package"):
        saving.register_keras_serializable(package="a>b")


def test_file_objects(tmp_path):
    import io

    model = build("mlp")
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    loaded = saving.load_model(buffer)
    data = inputs_for(model)
    _same(predict(model, data), predict(loaded, data))


def test_a_nested_model_called_with_training_false_loads_and_trains_as_keras(tmp_path):
    """The transfer-learning pattern `base(x, training=False)`: the flag is kept in the
    loaded graph (its config equals the saved one), and `fit`'s `training=True` overrides it
    as in Keras 3, so the base's BatchNormalization statistics move as Keras's do."""
    import keras as real_keras

    def build(lib):
        image = lib.Input((6, 6, 2))
        x = lib.layers.BatchNormalization(name="bn")(lib.layers.Conv2D(3, 3, name="c")(image))
        base = lib.Model(image, x, name="base")
        inputs = lib.Input((6, 6, 2))
        pooled = lib.layers.GlobalAveragePooling2D()(base(inputs, training=False))
        return lib.Model(inputs, lib.layers.Dense(1)(pooled))

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 6, 6, 2)).astype("float32"), rng.normal(size=(16, 1))
    original = build(convolve)
    original.save(tmp_path / "m.keras")
    moving_means = []
    for lib in (convolve, real_keras):
        model = lib.models.load_model(tmp_path / "m.keras")
        if lib is convolve:
            assert model.get_config() == original.get_config()
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, y.astype("float32"), batch_size=8, epochs=1, shuffle=False, verbose=0)
        moving_means.append(np.asarray(model.get_layer("base").get_layer("bn").moving_mean))
    assert np.abs(moving_means[1]).max() > 1e-4  # Keras's fit moved them
    np.testing.assert_allclose(moving_means[0], moving_means[1], rtol=1e-5, atol=1e-7)
