"""Programs as Keras image tutorials write them, run in Keras and in convolve with only the
import changed: printed summaries, parameter counts, configs, histories, predictions and
files must agree (tolerances stated per test)."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
from PIL import Image

import convolve


def _keras_order_config(layer):
    """The config without the dtype (Keras writes a policy dict), nested objects reduced to
    their class name and config, so that key order and value types compare."""

    def reduce(value):
        if isinstance(value, dict):
            if "class_name" in value and "config" in value:
                return {"class_name": value["class_name"], "config": reduce(value["config"])}
            return {k: reduce(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(reduce(v) for v in value)
        return value

    config = dict(layer.get_config())
    config.pop("dtype", None)
    config.pop("name", None)
    return reduce(config)


CONFIG_CASES = [
    ("Dropout", (0.25,), {}),
    ("Dropout", (0.5,), {"noise_shape": (None, 1, 1, 8), "seed": 3}),
    ("LayerNormalization", (), {}),
    ("GroupNormalization", (), {"groups": 4}),
    ("ELU", (), {"alpha": 2}),
    ("RandomRotation", (0.1,), {}),
    ("RandomZoom", (0.1,), {}),
    ("RandomTranslation", (0.1, 0.2), {}),
    ("RandomShear", (0.2,), {}),
    ("RandomContrast", (0.2,), {}),
    ("RandomBrightness", (0.2,), {}),
    ("RandomRotation", (1,), {"fill_mode": "nearest"}),
    ("RandomHue", ((0, 1),), {"value_range": (0, 1)}),
    ("Solarization", (), {}),
    ("RandAugment", (), {}),
    ("AugMix", (), {}),
    ("CutMix", (), {}),
    ("MixUp", (), {}),
    ("RandomCrop", (3, 4), {"seed": 5}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), CONFIG_CASES)
def test_printed_layer_configs_match_keras_key_order_and_value_types(name, args, kwargs):
    ours = _keras_order_config(getattr(convolve.layers, name)(*args, **kwargs))
    theirs = _keras_order_config(getattr(keras.layers, name)(*args, **kwargs))
    assert list(ours) == list(theirs)
    assert repr(ours) == repr(theirs)  # what `print(layer.get_config())` shows


def _mnist_cnn(lib):
    from_layers = lib.layers
    model = lib.models.Sequential()
    model.add(from_layers.Input((28, 28, 1)))
    model.add(from_layers.Conv2D(8, (3, 3), activation="relu"))
    model.add(from_layers.MaxPooling2D(pool_size=(2, 2)))
    model.add(from_layers.Conv2D(16, kernel_size=3, activation="relu"))
    model.add(from_layers.MaxPooling2D((2, 2)))
    model.add(from_layers.Flatten())
    model.add(from_layers.Dense(32, activation="relu"))
    model.add(from_layers.Dense(10, activation="softmax"))
    return model


def _summary(model, **kwargs):
    lines = []
    model.summary(print_fn=lambda line, **_: lines.append(line), **kwargs)
    return "\n".join(lines)


def test_mnist_tutorial_cnn_summary_params_introspection_and_training_match_keras():
    keras.backend.clear_session()
    convolve.backend.clear_session()
    theirs, ours = _mnist_cnn(keras), _mnist_cnn(convolve)
    assert _summary(ours) == _summary(theirs)
    assert ours.count_params() == theirs.count_params()
    for a, b in zip(ours.layers, theirs.layers, strict=True):
        assert (a.name, tuple(a.output.shape), a.count_params()) == (
            b.name,
            tuple(b.output.shape),
            b.count_params(),
        )
    rng = np.random.RandomState(0)
    weights = [rng.normal(0, 0.05, w.shape).astype("float32") for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = rng.randint(0, 256, (24, 28, 28, 1)).astype("float32") / 255
    y = keras.utils.to_categorical(rng.randint(0, 10, 24), 10)
    np.testing.assert_array_equal(convolve.utils.to_categorical(np.argmax(y, 1), 10), y)
    histories = []
    for model in (theirs, ours):
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        h = model.fit(x, y, batch_size=8, epochs=2, validation_split=0.25, shuffle=False, verbose=0)
        histories.append(h.history)
    assert list(histories[1]) == list(histories[0])
    for key in histories[0]:
        np.testing.assert_allclose(histories[1][key], histories[0][key], rtol=1e-4, atol=1e-6)
    pred_theirs = theirs.predict(x, verbose=0)
    pred_ours = ours.predict(x, verbose=0)
    np.testing.assert_allclose(pred_ours, pred_theirs, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(pred_ours.argmax(1), pred_theirs.argmax(1))


def _conv1d_model(lib):
    layers = lib.layers
    inputs = lib.Input(shape=(20, 3), name="seq")
    h = layers.Conv1D(8, 5, activation="relu", padding="same")(inputs)
    h = layers.BatchNormalization()(h)
    h = layers.MaxPooling1D(2)(h)
    h = layers.Conv1D(8, 3, strides=2, activation="relu")(h)
    h = layers.AveragePooling1D(pool_size=2, strides=1, padding="same")(h)
    h = layers.GlobalAveragePooling1D()(h)
    outputs = layers.Dense(1, activation="sigmoid")(h)
    return lib.Model(inputs=inputs, outputs=outputs, name="seq_cnn")


def test_conv1d_checkpoint_early_stopping_and_reload_match_keras(tmp_path):
    rng = np.random.RandomState(1)
    x = rng.normal(size=(16, 20, 3)).astype("float32")
    y = (x[:, :, 0].mean(axis=1) > 0).astype("int32")
    results = {}
    for lib in (keras, convolve):
        lib.backend.clear_session()
        model = _conv1d_model(lib)
        weights = np.random.RandomState(2)
        model.set_weights(
            [
                weights.normal(0, 0.2, w.shape).astype("float32") if w.ndim > 1 else w
                for w in model.get_weights()
            ]
        )
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        path = str(tmp_path / f"{lib.__name__}_best.keras")
        callbacks = [
            lib.callbacks.ModelCheckpoint(path, monitor="val_loss", save_best_only=True),
            lib.callbacks.EarlyStopping(monitor="val_loss", patience=1),
        ]
        history = model.fit(
            x, y, epochs=2, batch_size=8, validation_split=0.25, shuffle=False,
            callbacks=callbacks, verbose=0,
        )  # fmt: skip
        reloaded = lib.models.load_model(path)
        results[lib.__name__] = (
            history.history,
            model.evaluate(x, y, verbose=0, return_dict=True),
            reloaded.predict(x[:6], verbose=0),
            _summary(reloaded),
        )
    theirs, ours = results["keras"], results["convolve"]
    for got, expected in zip(ours[:3], theirs[:3], strict=True):
        if isinstance(expected, dict):
            assert list(got) == list(expected)
            got, expected = list(got.values()), list(expected.values())
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-4, atol=1e-6)
    assert ours[3] == theirs[3]


def _image_folder(root):
    rng = np.random.RandomState(3)
    for index, name in enumerate(["roses", "daisy", "tulips"]):
        os.makedirs(root / name)
        for i in range(3 + index):
            array = rng.randint(0, 256, size=(10 + i, 14 - i, 3)).astype("uint8")
            Image.fromarray(array).save(root / name / f"img_{i}.{'png' if i % 2 else 'jpg'}")
    return root


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"label_mode": "categorical", "color_mode": "grayscale"},
        {"label_mode": "binary", "class_names": ["roses", "daisy"]},
        {"crop_to_aspect_ratio": True, "interpolation": "nearest"},
        {"pad_to_aspect_ratio": True},
    ],
)
def test_image_dataset_from_directory_unshuffled_matches_keras(tmp_path, kwargs):
    root = _image_folder(tmp_path / "flowers")
    batches = {}
    for lib in (keras, convolve):
        ds = lib.utils.image_dataset_from_directory(
            str(root), image_size=(8, 12), batch_size=32, shuffle=False, **kwargs
        )
        images, labels = next(iter(ds))
        batches[lib.__name__] = (ds.class_names, np.asarray(images), np.asarray(labels))
    assert batches["convolve"][0] == batches["keras"][0]
    np.testing.assert_allclose(batches["convolve"][1], batches["keras"][1], atol=1e-4)
    np.testing.assert_array_equal(batches["convolve"][2], batches["keras"][2])


def test_saved_model_files_open_in_the_other_library(tmp_path):
    rng = np.random.RandomState(8)
    x = rng.randint(0, 256, (6, 12, 12, 1)).astype("float32")
    predictions = {}
    for lib in (keras, convolve):
        model = lib.models.Sequential(
            [
                lib.layers.Input(shape=(12, 12, 1)),
                lib.layers.Rescaling(1 / 255.0),
                lib.layers.Conv2D(4, 3, activation="relu", padding="same"),
                lib.layers.BatchNormalization(),
                lib.layers.MaxPooling2D(2),
                lib.layers.GlobalAveragePooling2D(),
                lib.layers.Dense(3, activation="softmax"),
            ],
            name="digits",
        )
        weights = np.random.RandomState(9)
        model.set_weights(
            [weights.uniform(0.1, 0.5, w.shape).astype("float32") for w in model.get_weights()]
        )
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.save(tmp_path / f"{lib.__name__}.keras")
        model.save_weights(tmp_path / f"{lib.__name__}.weights.h5")
        predictions[lib.__name__] = model.predict(x, verbose=0)
    np.testing.assert_allclose(predictions["convolve"], predictions["keras"], rtol=1e-5, atol=1e-6)
    ours = convolve.models.load_model(tmp_path / "keras.keras")
    theirs = keras.models.load_model(tmp_path / "convolve.keras")
    for model in (ours, theirs):
        np.testing.assert_allclose(
            model.predict(x, verbose=0), predictions["keras"], rtol=1e-5, atol=1e-6
        )
    ours.load_weights(tmp_path / "keras.weights.h5")
    theirs.load_weights(tmp_path / "convolve.weights.h5")
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), predictions["keras"], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        theirs.predict(x, verbose=0), predictions["keras"], rtol=1e-5, atol=1e-6
    )
