"""Model and weights files move between convolve and real Keras 3, both ways."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from saving_models import MODEL_NAMES, available, build, inputs_for, predict

from convolve import saving
from convolve.saving import weights as saving_weights

pytestmark = pytest.mark.parity

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def _keras_predict(model, data):
    out = model.predict(data[0] if len(data) == 1 else data, verbose=0)
    return list(out) if isinstance(out, list | tuple) else [out]


def _close(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, **TOLERANCE)


def test_enough_models_cover_the_families():
    assert len(MODEL_NAMES) >= 10
    families = {"mlp", "conv1d", "conv2d", "conv3d", "reshaping", "functional", "pooling"}
    assert families <= set(MODEL_NAMES)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_convolve_file_opens_in_keras_and_back(name, tmp_path):
    model = build(name)
    data = inputs_for(model)
    ours = predict(model, data)
    model.save(tmp_path / "ours.keras")

    theirs = keras.saving.load_model(tmp_path / "ours.keras")
    assert [layer.name for layer in theirs.layers] == [layer.name for layer in model.layers]
    assert [layer.trainable for layer in theirs.layers] == [l.trainable for l in model.layers]
    for a, b in zip(model.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
    _close(ours, _keras_predict(theirs, data))

    theirs.save(tmp_path / "keras.keras")  # written by Keras itself
    back = saving.load_model(tmp_path / "keras.keras")
    assert type(back) is type(model)
    assert [layer.trainable for layer in back.layers] == [l.trainable for l in model.layers]
    _close(_keras_predict(theirs, data), predict(back, data))
    np.testing.assert_array_equal(
        np.concatenate([w.ravel() for w in model.get_weights()]),
        np.concatenate([w.ravel() for w in back.get_weights()]),
    )


@pytest.mark.parametrize("name", ["conv2d", "functional"])
def test_weights_h5_moves_both_ways(name, tmp_path):
    model = build(name, seed=0)
    model.save(tmp_path / "m.keras")
    theirs = keras.saving.load_model(tmp_path / "m.keras")
    data = inputs_for(model)

    other = build(name, seed=5)
    other.save_weights(tmp_path / "ours.weights.h5")
    theirs.load_weights(tmp_path / "ours.weights.h5")
    _close(predict(other, data), _keras_predict(theirs, data))

    fresh = build(name, seed=9)
    for layer in theirs.layers:
        if layer.weights:
            layer.set_weights([np.asarray(w) * 0.5 for w in layer.get_weights()])
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    fresh.load_weights(tmp_path / "theirs.weights.h5")
    _close(_keras_predict(theirs, data), predict(fresh, data))


def _keras_sequential():
    from keras import layers

    return keras.Sequential(
        [
            layers.Input((10, 10, 3)),
            layers.Rescaling(0.5, offset=0.1),
            layers.Conv2D(6, 3, padding="same", activation="relu"),
            layers.BatchNormalization(momentum=0.8),
            layers.MaxPooling2D(),
            layers.Conv2D(4, 2, strides=2, use_bias=False),
            layers.GlobalAveragePooling2D(),
            layers.Dense(3, activation="softmax"),
        ]
    )


def _keras_functional():
    from keras import layers

    image = keras.Input((9, 9, 2), name="image")
    x = layers.Conv2D(4, 3, name="stem")(image)
    x = layers.ZeroPadding2D(1)(x)
    left = layers.Conv2D(4, 1, activation="relu")(x)
    right = layers.AveragePooling2D(1)(x)
    if available("Add"):
        x = layers.Add()([left, right])
    else:
        x = left
    x = layers.Flatten()(x)
    return keras.Model(image, [layers.Dense(2)(x), layers.Dense(1, activation="sigmoid")(x)])


@pytest.mark.parametrize("builder", [_keras_sequential, _keras_functional])
def test_trained_keras_model_loads_with_its_training_state(builder, tmp_path):
    keras.utils.set_random_seed(0)
    theirs = builder()
    outputs = len(theirs.outputs)
    theirs.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss="mse",
        metrics=["mae"] if outputs == 1 else None,
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, *theirs.inputs[0].shape[1:])).astype(np.float32)
    y = [rng.normal(size=(16, *o.shape[1:])).astype(np.float32) for o in theirs.outputs]
    y = y[0] if outputs == 1 else y
    theirs.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    theirs.save(tmp_path / "trained.keras")

    ours = saving.load_model(tmp_path / "trained.keras")
    _close(_keras_predict(theirs, [x]), predict(ours, [x]))
    assert ours.compiled and type(ours.optimizer).__name__ == "Adam"
    assert ours.optimizer.iterations == int(theirs.optimizer.iterations) == 4
    keras_state = [np.asarray(v) for v in theirs.optimizer.variables]
    our_state = saving_weights.optimizer_arrays(ours)
    assert len(keras_state) == len(our_state)
    for a, b in zip(keras_state, our_state, strict=True):
        np.testing.assert_array_equal(a, b)

    # One more step on each side lands on the same weights.
    theirs.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    ours.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(theirs.get_weights(), ours.get_weights(), strict=True):
        np.testing.assert_allclose(np.asarray(a), b, **TOLERANCE)


def test_convolve_training_state_loads_in_keras(tmp_path):
    model = build("conv2d")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = inputs_for(model, batch=8)[0]
    y = np.arange(8) % 5
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    model.save(tmp_path / "ours.keras")
    theirs = keras.saving.load_model(tmp_path / "ours.keras")
    assert int(theirs.optimizer.iterations) == model.optimizer.iterations == 4
    for a, b in zip(
        theirs.optimizer.variables, saving_weights.optimizer_arrays(model), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), b)
    np.testing.assert_allclose(
        theirs.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), **TOLERANCE
    )


def test_keras_reads_convolve_config_json_exactly(tmp_path):
    """`to_json` output rebuilds in Keras, and Keras's own JSON rebuilds here."""
    model = build("functional")
    theirs = keras.models.model_from_json(model.to_json())
    assert [layer.name for layer in theirs.layers] == [layer.name for layer in model.layers]
    ours = saving.model_from_json(theirs.to_json())
    assert [layer.name for layer in ours.layers] == [layer.name for layer in model.layers]
    assert ours.count_params() == model.count_params() == theirs.count_params()
