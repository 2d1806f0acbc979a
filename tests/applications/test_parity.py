"""Each application against `keras.applications`: layer names, output shapes, parameter
counts and, with the same weights, outputs."""

import numpy as np
import pytest
from app_testing import ATOL, build_pair, images, keras_outputs, lively_weights

from convolve import applications

NAMES = (
    "VGG16",
    "VGG19",
    "ResNet50",
    "ResNet101",
    "ResNet152",
    "MobileNetV2",
    "EfficientNetB0",
    "DenseNet121",
)
# Keras's parameter counts at the default size (224x224, with the classifier).
KERAS_PARAMS = {
    "VGG16": 138_357_544,
    "VGG19": 143_667_240,
    "ResNet50": 25_636_712,
    "ResNet101": 44_707_176,
    "ResNet152": 60_419_944,
    "MobileNetV2": 3_538_984,
    "EfficientNetB0": 5_330_571,
    "DenseNet121": 8_062_504,
}
# Small inputs keep the builds and forward passes quick; the variants cover the head
# options: the 4D features, each pooling, and a classifier.
VARIANTS = {
    "features": {"include_top": False, "input_shape": (32, 32, 3)},
    "avg": {"include_top": False, "input_shape": (48, 40, 3), "pooling": "avg"},
    "max": {"include_top": False, "input_shape": (32, 32, 3), "pooling": "max"},
    "top": {"include_top": True, "input_shape": (32, 32, 3), "classes": 10},
}
FAST = {("VGG16", "avg"), ("VGG16", "top"), ("MobileNetV2", "features"), ("MobileNetV2", "top")}


# The deeper ResNets share ResNet50's code, heads included: one variant each suffices.
DEEP = {"ResNet101", "ResNet152"}


def _cases():
    for name in NAMES:
        for variant in ("top",) if name in DEEP else VARIANTS:
            marks = [pytest.mark.parity]
            if (name, variant) not in FAST:
                marks.append(pytest.mark.slow)
            yield pytest.param(name, variant, marks=marks, id=f"{name}-{variant}")


def check_pair(keras_model, model) -> None:
    """Same name, layers (names, order, types, output shapes), parameter counts."""
    assert model.name == keras_model.name
    assert [layer.name for layer in model.layers] == [layer.name for layer in keras_model.layers]
    assert [type(layer).__name__ for layer in model.layers] == [
        type(layer).__name__ for layer in keras_model.layers
    ]
    assert [tuple(layer.output.shape) for layer in model.layers] == [
        tuple(layer.output.shape) for layer in keras_model.layers
    ]
    assert model.output_shape == tuple(keras_model.output_shape)
    assert model.count_params() == keras_model.count_params()
    assert sum(np.prod(w.shape) for w in model.trainable_weights) == sum(
        np.prod(w.shape) for w in keras_model.trainable_weights
    )


@pytest.mark.parametrize(("name", "variant"), list(_cases()))
def test_application_matches_keras(name, variant):
    kwargs = VARIANTS[variant]
    keras_model, model = build_pair(name, **kwargs)
    check_pair(keras_model, model)
    weights = lively_weights(model)
    keras_model.set_weights(weights)
    model.set_weights(weights)
    shape = kwargs["input_shape"]
    low, high = (0.0, 255.0) if name == "EfficientNetB0" else (-1.0, 1.0)
    x = images((2, *shape), low=low, high=high)
    expected = keras_outputs(keras_model, x)
    got = model.predict(x, verbose=0)
    assert got.shape == expected.shape
    # The lively weights keep activations of order one, so an absolute tolerance bites.
    assert np.abs(expected).max() > 1e-2
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL * scale)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=() if n in ("MobileNetV2", "ResNet50") else pytest.mark.slow)
        for n in NAMES
    ],
)
def test_parameter_count_at_default_size(name):
    model = getattr(applications, name)(weights=None)
    assert model.count_params() == KERAS_PARAMS[name]
    assert model.input_shape == (None, 224, 224, 3)
    assert model.output_shape == (None, 1000)


@pytest.mark.slow
@pytest.mark.parity
@pytest.mark.parametrize("name", NAMES)
def test_default_size_matches_keras(name):
    keras_model, model = build_pair(name)
    check_pair(keras_model, model)
    assert model.count_params() == KERAS_PARAMS[name]


@pytest.mark.parity
def test_mobilenet_v2_width_and_size_naming():
    keras_model, model = build_pair("MobileNetV2", alpha=0.35, input_shape=(96, 96, 3))
    check_pair(keras_model, model)
    assert model.name == "mobilenetv2_0.35_96"
