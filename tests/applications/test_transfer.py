"""Applications as parts of bigger models: feature extraction from inner layers, a given
input tensor, and transfer learning (a frozen base, then fine-tuning its top)."""

import keras
import numpy as np
import pytest
import torch
from app_testing import build_pair, images, keras_outputs, lively_weights

import convolve
from convolve import applications, layers, optimizers
from convolve.layers.naming import reset_names

SMALL = {"alpha": 0.35, "include_top": False, "input_shape": (32, 32, 3)}


def paired(name, **kwargs):
    keras_model, model = build_pair(name, **kwargs)
    weights = lively_weights(model)
    keras_model.set_weights(weights)
    model.set_weights(weights)
    return keras_model, model


@pytest.mark.parity
def test_feature_extraction_from_inner_layers():
    keras_model, model = paired("VGG16", include_top=False, input_shape=(32, 32, 3))
    names = ("block1_conv2", "block3_pool", "block5_conv3")
    extractor = convolve.Model(model.input, [model.get_layer(n).output for n in names])
    keras_extractor = keras.Model(
        keras_model.input, [keras_model.get_layer(n).output for n in names]
    )
    assert extractor.output_shape == [(None, 32, 32, 64), (None, 4, 4, 256), (None, 2, 2, 512)]
    x = images((2, 32, 32, 3))
    got = extractor.predict(x, verbose=0)
    expected = [keras.ops.convert_to_numpy(t) for t in keras_extractor(x)]
    for g, e in zip(got, expected, strict=True):
        assert np.abs(e).max() > 1e-2
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(e).max()))
    # The extractor shares the application's layers (and so its weights).
    assert extractor.get_layer("block1_conv1") is model.get_layer("block1_conv1")


@pytest.mark.parity
def test_input_tensor_with_layers_before_it():
    def build(lib, application):
        inputs = lib.Input((32, 32, 3))
        x = lib.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
        return inputs, application(input_tensor=x, **SMALL, weights=None)

    keras.backend.clear_session()
    reset_names()
    _, keras_model = build(keras, keras.applications.MobileNetV2)
    reset_names()
    inputs, model = build(convolve, applications.MobileNetV2)
    assert model.inputs == [inputs]  # the source input, not the rescaled tensor
    assert [layer.name for layer in model.layers] == [layer.name for layer in keras_model.layers]
    weights = lively_weights(model)
    keras_model.set_weights(weights)
    model.set_weights(weights)
    x = images((2, 32, 32, 3), low=0.0, high=255.0)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), keras_outputs(keras_model, x), atol=1e-4, rtol=1e-4
    )


@pytest.mark.parametrize("name", ["VGG16", "MobileNetV2"])
def test_input_tensor_must_be_symbolic(name):
    with pytest.raises(ValueError, match="`input_tensor` must be a symbolic tensor"):
        getattr(applications, name)(
            weights=None, include_top=False, input_tensor=np.zeros((1, 32, 32, 3))
        )


@pytest.mark.parity
def test_frozen_base_runs_batch_normalization_in_inference_mode():
    keras_model, model = paired("MobileNetV2", **SMALL)
    x = torch.from_numpy(images((4, 32, 32, 3)))
    inference = keras_outputs(keras_model, x.numpy())
    model.trainable = False
    keras_model.trainable = False
    before = [w.copy() for w in model.get_weights()]
    frozen = model(x, training=True).detach().numpy()
    keras_frozen = keras.ops.convert_to_numpy(keras_model(x.numpy(), training=True))
    np.testing.assert_allclose(frozen, inference, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(keras_frozen, inference, atol=1e-4, rtol=1e-4)
    for a, b in zip(before, model.get_weights(), strict=True):  # moving statistics kept
        np.testing.assert_array_equal(a, b)
    # Trainable again, training mode normalizes with the batch's statistics instead.
    model.trainable = True
    training = model(x, training=True).detach().numpy()
    assert np.abs(training - inference).max() > 1e-2


def _two_class_images(n=16, size=32, seed=0):
    """Bright squares on the left or on the right half of dark noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 60, size=(n, size, size, 3)).astype("float32")
    y = np.arange(n) % 2
    for i in range(n):
        left = 2 + (0 if y[i] == 0 else size // 2)
        x[i, 8:24, left : left + 12] = 230.0
    return x, y


def test_transfer_learning_then_fine_tuning():
    convolve.utils.set_random_seed(0)
    base = applications.MobileNetV2(weights=None, **SMALL)
    base.set_weights(lively_weights(base, seed=2))
    base.trainable = False
    inputs = convolve.Input((32, 32, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    x = base(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    model = convolve.Model(inputs, outputs)
    assert len(model.trainable_weights) == 2  # only the new head
    images_, labels = _two_class_images()

    frozen = [w.copy() for w in base.get_weights()]
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(images_, labels, epochs=2, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for a, b in zip(frozen, base.get_weights(), strict=True):  # weights and BN statistics
        np.testing.assert_array_equal(a, b)

    # Fine-tune the top of the base with a low learning rate; normalization layers stay
    # frozen (in inference mode), as the Keras fine-tuning guide advises.
    base.trainable = True
    top = base.layers.index(base.get_layer("block_16_expand"))
    for layer in base.layers:
        if base.layers.index(layer) < top or isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
    model.compile(optimizer=optimizers.Adam(1e-5), loss="sparse_categorical_crossentropy")
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in base.layers}
    model.fit(images_, labels, epochs=1, batch_size=8, verbose=0)
    changed = {
        layer.name
        for layer in base.layers
        if any(
            not np.array_equal(a, b)
            for a, b in zip(before[layer.name], layer.get_weights(), strict=True)
        )
    }
    assert changed == {"block_16_expand", "block_16_depthwise", "block_16_project", "Conv_1"}
