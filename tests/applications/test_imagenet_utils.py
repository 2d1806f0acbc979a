"""preprocess_input, decode_predictions and the argument checks, against Keras."""

import hashlib
import json

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import applications
from convolve.applications import (
    densenet,
    efficientnet,
    imagenet_utils,
    mobilenet_v2,
    resnet,
    resnet50,
    vgg16,
    vgg19,
    weights,
)

MODULES = {
    "vgg16": vgg16,
    "vgg19": vgg19,
    "resnet": resnet,
    "resnet50": resnet50,
    "mobilenet_v2": mobilenet_v2,
    "densenet": densenet,
    "efficientnet": efficientnet,
}


def pixels(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=shape).astype("float32")


@pytest.mark.parity
@pytest.mark.parametrize("module", sorted(MODULES))
@pytest.mark.parametrize(
    ("shape", "data_format"),
    [((2, 5, 4, 3), None), ((5, 4, 3), "channels_last"), ((2, 3, 5, 4), "channels_first")],
)
def test_preprocess_input_matches_keras(module, shape, data_format):
    x = pixels(shape)
    expected = getattr(keras.applications, module).preprocess_input(x.copy(), data_format)
    mine = x.copy()
    got = MODULES[module].preprocess_input(mine, data_format)
    np.testing.assert_array_equal(got, expected)
    # Like Keras, a float array is preprocessed in place (channels may come out reversed).
    kept = x.copy()
    getattr(keras.applications, module).preprocess_input(kept, data_format)
    np.testing.assert_array_equal(mine, kept)


@pytest.mark.parity
@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_integer_arrays_and_tensors(mode):
    x = np.random.default_rng(1).integers(0, 256, size=(2, 4, 4, 3)).astype("uint8")
    expected = keras.applications.imagenet_utils.preprocess_input(x.copy(), mode=mode)
    got = imagenet_utils.preprocess_input(x.copy(), mode=mode)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    tensor = torch.from_numpy(x.astype("float32"))
    out = imagenet_utils.preprocess_input(tensor, mode=mode)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(tensor.numpy(), x.astype("float32"))  # tensors untouched


def test_preprocess_input_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode=bgr"):
        imagenet_utils.preprocess_input(pixels((1, 2, 2, 3)), mode="bgr")
    with pytest.raises(ValueError, match="data_format=nhwc"):
        vgg16.preprocess_input(pixels((1, 2, 2, 3)), data_format="nhwc")
    with pytest.raises(TypeError, match="Rescaling"):
        vgg16.preprocess_input(convolve.Input((4, 4, 3)))


@pytest.fixture
def class_index(server):
    """A made-up class index served locally, its SHA-256 pinned in place of Keras's MD5."""
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    path = server.root / "imagenet_class_index.json"
    path.write_text(json.dumps(index))
    weights.pin_hash("imagenet_class_index.json", hashlib.sha256(path.read_bytes()).hexdigest())
    return index


def test_decode_predictions(class_index, server):
    preds = np.zeros((2, 1000), dtype="float32")
    preds[0, [7, 3, 999]] = [0.5, 0.3, 0.2]
    preds[1, 42] = 1.0
    decoded = resnet50.decode_predictions(preds, top=3)
    assert [(c, d) for c, d, _ in decoded[0]] == [
        ("n00000007", "class_7"),
        ("n00000003", "class_3"),
        ("n00000999", "class_999"),
    ]
    assert [float(s) for _, _, s in decoded[0]] == pytest.approx([0.5, 0.3, 0.2])
    assert decoded[1][0][:2] == ("n00000042", "class_42") and len(decoded[1]) == 3
    assert vgg16.decode_predictions(torch.from_numpy(preds), top=1)[1][0][1] == "class_42"
    assert server.requests == ["/imagenet_class_index.json"]  # fetched once, then kept


def test_decode_predictions_checks_keras_pin(server, cache):
    (server.root / "imagenet_class_index.json").write_text("{}")
    with pytest.raises(weights.ChecksumError, match="c2c37ea517e94d9795004a39431a14cb"):
        imagenet_utils.decode_predictions(np.zeros((1, 1000)))


def test_decode_predictions_shape():
    with pytest.raises(ValueError, match=r"\(samples, 1000\).*\(2, 10\)"):
        mobilenet_v2.decode_predictions(np.zeros((2, 10)))


# --------------------------------------------------------------------- argument checks
BAD_ARGUMENTS = {
    "classes with imagenet": {"weights": "imagenet", "classes": 10},
    "too small": {"weights": None, "include_top": False, "input_shape": (31, 64, 3)},
    "imagenet top shape": {"weights": "imagenet", "input_shape": (200, 200, 3)},
    "imagenet channels": {"weights": "imagenet", "include_top": False, "input_shape": (64, 64, 1)},
    "unknown weights": {"weights": "instagram"},
    "top needs a static shape": {"weights": None, "input_shape": (None, None, 3)},
    "rank": {"weights": None, "include_top": False, "input_shape": (64, 64)},
    # Any weights other than None: a file, so that Keras need not build at 224x224 first.
    "activation with weights": {
        "weights": "FILE",
        "input_shape": (32, 32, 3),
        "classifier_activation": "relu",
    },
}


def _argument_cases():
    for name in ("VGG16", "ResNet50", "MobileNetV2", "DenseNet121"):
        for case in sorted(BAD_ARGUMENTS):
            # Keras builds the whole network before it checks the activation: slow for some.
            heavy = case == "activation with weights" and name in ("ResNet50", "DenseNet121")
            marks = [pytest.mark.parity] + ([pytest.mark.slow] if heavy else [])
            yield pytest.param(name, case, marks=marks, id=f"{name}-{case}")


@pytest.mark.parametrize(("name", "case"), list(_argument_cases()))
def test_invalid_arguments_fail_like_keras(name, case, cache, tmp_path):
    kwargs = dict(BAD_ARGUMENTS[case])
    if kwargs["weights"] == "FILE":
        kwargs["weights"] = str(tmp_path / "weights.h5")
        (tmp_path / "weights.h5").write_bytes(b"")
    with pytest.raises(ValueError) as keras_error:
        getattr(keras.applications, name)(**kwargs)
    with pytest.raises(ValueError) as error:
        getattr(applications, name)(**kwargs)
    assert type(error.value) is ValueError  # not a download error: checks come first
    words = {
        "classes with imagenet": "1000",
        "too small": "at least 32x32",
        "rank": "three integers",
        "activation with weights": "Only `None` and `softmax` activations",
    }
    if case in words:
        assert words[case] in str(error.value) and words[case] in str(keras_error.value)


def test_pooling_must_be_known():
    with pytest.raises(ValueError, match="pooling='mean'"):
        applications.VGG16(weights=None, include_top=False, pooling="mean")


def test_input_shape_defaults_and_channel_warning():
    model = applications.VGG16(weights=None, include_top=False)
    assert model.input_shape == (None, None, None, 3)
    with pytest.warns(UserWarning, match="1 or 3 input channels"):
        imagenet_utils.obtain_input_shape((64, 64, 4), 224, 32, require_flatten=False)


def test_mobilenet_v2_imagenet_size_and_width(cache):
    with pytest.raises(ValueError, match="alpha=0.6"):
        applications.MobileNetV2(weights="imagenet", alpha=0.6, include_top=False)
    with (
        pytest.warns(UserWarning, match=r"\(224, 224\) will be loaded"),
        pytest.raises(weights.DownloadError, match="1.0_224_no_top.h5"),
    ):
        applications.MobileNetV2(weights="imagenet", include_top=False, input_shape=(100, 100, 3))
