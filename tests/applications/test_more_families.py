"""DenseNet169/201, EfficientNetB1-B7, MobileNetV3, InceptionResNetV2, ConvNeXt and
EfficientNetV2 against `keras.applications`: layer names, output shapes, parameter counts
and outputs with the same weights; the weight files each asks for; the layers the families
define for themselves; and weight files written by Keras, loaded with `weights=<path>`."""

import doctest
import hashlib

import h5py
import keras
import numpy as np
import pytest
import torch
from app_testing import (
    ATOL,
    assert_same_weights,
    build_pair,
    images,
    keras_outputs,
    lively_weights,
    write_h5,
)
from test_more_architectures import _Asked, keras_weight_request, param
from test_parity import check_pair

import convolve
from convolve import applications
from convolve.applications import (
    convnext,
    densenet,
    efficientnet,
    efficientnet_v2,
    inception_resnet_v2,
    mobilenet_v3,
    weights,
)
from convolve.layers.naming import reset_names

# The families whose input normalization is part of the model take pixels in [0, 255].
PIXELS = ("EfficientNet", "ConvNeXt", "MobileNetV3")

PARITY = [
    param("DenseNet169", {"include_top": True, "input_shape": (32, 32, 3), "classes": 10},
          slow=True),
    param("DenseNet201", {"include_top": False, "input_shape": (32, 32, 3), "pooling": "max"},
          slow=True),
    param("EfficientNetB1", {"include_top": True, "input_shape": (32, 32, 3), "classes": 10},
          slow=True),
    param("EfficientNetB3", {"include_top": False, "input_shape": (48, 40, 3), "pooling": "avg"},
          slow=True),
    param("EfficientNetB7", {"include_top": False, "input_shape": (32, 32, 3)}, slow=True),
    param("MobileNetV3Small", {"include_top": True, "input_shape": (32, 32, 3), "classes": 10}),
    param("MobileNetV3Small", {"include_top": False, "input_shape": (48, 40, 3), "pooling": "max",
                               "minimalistic": True, "alpha": 0.75}, slow=True),
    param("MobileNetV3Large", {"include_top": False, "input_shape": (32, 32, 3), "pooling": "avg",
                               "include_preprocessing": False}, slow=True),
    param("MobileNetV3Large", {"include_top": True, "input_shape": (64, 64, 3), "classes": 5,
                               "alpha": 1.25, "minimalistic": True, "dropout_rate": 0.0,
                               "classifier_activation": None}, slow=True),
    param("InceptionResNetV2", {"include_top": False, "input_shape": (75, 75, 3),
                                "pooling": "avg"}, slow=True),
    param("InceptionResNetV2", {"include_top": True, "input_shape": (75, 75, 3), "classes": 10},
          slow=True),
    param("ConvNeXtTiny", {"include_top": True, "input_shape": (32, 32, 3), "classes": 10,
                           "classifier_activation": None}, slow=True),
    param("ConvNeXtTiny", {"include_top": False, "input_shape": (48, 40, 3), "pooling": "max",
                           "include_preprocessing": False}, slow=True),
    param("ConvNeXtTiny", {"include_top": False, "input_shape": (32, 32, 3)}, slow=True),
    param("ConvNeXtSmall", {"include_top": False, "input_shape": (32, 32, 3), "pooling": "avg"},
          slow=True),
    param("EfficientNetV2B0", {"include_top": True, "input_shape": (32, 32, 3), "classes": 10,
                               "classifier_activation": None}, slow=True),
    param("EfficientNetV2B2", {"include_top": False, "input_shape": (32, 32, 3), "pooling": "avg",
                               "include_preprocessing": False}, slow=True),
]  # fmt: skip

# Keras's parameter counts at the default size, with the 1000-class classifier (as Keras
# 3.15 builds them; the EfficientNetV2 B models are built side by side with Keras in
# `test_default_size_matches_keras`).
KERAS_PARAMS = [
    param("DenseNet169", 224, 14_307_880, slow=True),
    param("DenseNet201", 224, 20_242_984, slow=True),
    param("EfficientNetB1", 240, 7_856_239, slow=True),
    param("EfficientNetB2", 260, 9_177_569, slow=True),
    param("EfficientNetB3", 300, 12_320_535, slow=True),
    param("EfficientNetB4", 380, 19_466_823, slow=True),
    param("EfficientNetB5", 456, 30_562_527, slow=True),
    param("EfficientNetB6", 528, 43_265_143, slow=True),
    param("EfficientNetB7", 600, 66_658_687, slow=True),
    param("MobileNetV3Small", None, 2_554_968),
    param("MobileNetV3Large", None, 5_507_432, slow=True),
    param("InceptionResNetV2", 299, 55_873_736, slow=True),
    param("ConvNeXtTiny", 224, 28_589_128),
    param("ConvNeXtSmall", 224, 50_223_688, slow=True),
    param("ConvNeXtBase", 224, 88_591_464, slow=True),
    param("ConvNeXtLarge", 224, 197_767_336, slow=True),
    param("ConvNeXtXLarge", 224, 350_196_968, slow=True),
    param("EfficientNetV2B0", 224, 7_200_312, slow=True),
    param("EfficientNetV2B1", 240, 8_212_124, slow=True),
    param("EfficientNetV2B2", 260, 10_178_374, slow=True),
    param("EfficientNetV2B3", 300, 14_467_622, slow=True),
    param("EfficientNetV2S", 384, 21_612_360, slow=True),
    param("EfficientNetV2M", 480, 54_431_388, slow=True),
    param("EfficientNetV2L", 480, 119_027_848, slow=True),
]

# Arguments under which each asks for ImageNet weights.
REQUESTS = [
    param("DenseNet169", {"include_top": False, "input_shape": (32, 32, 3)}, slow=True),
    param("DenseNet201", {"include_top": True}, slow=True),
    param("EfficientNetB2", {"include_top": False, "input_shape": (32, 32, 3)}, slow=True),
    param("MobileNetV3Small", {"include_top": False, "input_shape": (224, 224, 3)}),
    param("MobileNetV3Large", {"include_top": True, "minimalistic": True}, slow=True),
    param("MobileNetV3Small", {"include_top": True, "alpha": 0.75}, slow=True),
    param("InceptionResNetV2", {"include_top": False, "input_shape": (75, 75, 3)}, slow=True),
    param("ConvNeXtTiny", {"include_top": False, "input_shape": (32, 32, 3)}, slow=True),
    param("ConvNeXtBase", {"include_top": True}, slow=True),
    param("EfficientNetV2B0", {"include_top": False, "input_shape": (32, 32, 3)}, slow=True),
    param("EfficientNetV2S", {"include_top": True}, slow=True),
]

MODULES = [convnext, densenet, efficientnet, efficientnet_v2, inception_resnet_v2, mobilenet_v3]


def _pixels(name: str, preprocessing: bool) -> tuple[float, float]:
    return (0.0, 255.0) if name.startswith(PIXELS) and preprocessing else (-1.0, 1.0)


def assert_predicts_like_keras(name, keras_model, model, preprocessing: bool = True) -> None:
    """Same outputs on the same random images, within `ATOL` times the largest output
    (at least 1): the lively weights keep activations of order one or more. Pixels in
    [0, 255] for the models that normalize them themselves (unless `preprocessing` is
    off), else values in [-1, 1]."""
    low, high = _pixels(name, preprocessing)
    x = images((2, *model.input_shape[1:]), low=low, high=high)
    expected = keras_outputs(keras_model, x)
    got = model.predict(x, verbose=0)
    assert got.shape == expected.shape
    assert np.abs(expected).max() > 1e-2  # not vanished: an absolute tolerance bites
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL * scale)


@pytest.mark.parity
@pytest.mark.parametrize(("name", "kwargs"), PARITY)
def test_application_matches_keras(name, kwargs):
    keras_model, model = build_pair(name, **kwargs)
    check_pair(keras_model, model)
    values = lively_weights(model)
    keras_model.set_weights(values)
    model.set_weights(values)
    assert_predicts_like_keras(name, keras_model, model, kwargs.get("include_preprocessing", True))


@pytest.mark.slow
@pytest.mark.parity
def test_efficientnet_v2_s_matches_keras():
    """EfficientNetV2S in full (names, shapes, counts) and its outputs through stage 5.

    Its 41 blocks amplify float32 rounding under random weights (the relative difference
    grows smoothly from 1e-7 at the stem to about 1e-5 by stage 5 and beyond 1e-2 in stage
    6), so the outputs are compared where rounding alone stays far below the tolerance.
    """
    kwargs = {"include_top": False, "input_shape": (32, 32, 3), "pooling": "max"}
    keras_model, model = build_pair("EfficientNetV2S", **kwargs)
    check_pair(keras_model, model)
    values = lively_weights(model)
    keras_model.set_weights(values)
    model.set_weights(values)
    layer = "block5a_project_bn"
    keras_part = keras.Model(keras_model.inputs, keras_model.get_layer(layer).output)
    part = convolve.Model(model.inputs, model.get_layer(layer).output)
    assert_predicts_like_keras("EfficientNetV2S", keras_part, part)


@pytest.mark.parametrize(("name", "size", "count"), KERAS_PARAMS)
def test_parameter_count_at_default_size(name, size, count):
    model = getattr(applications, name)(weights=None)
    assert model.count_params() == count
    assert model.input_shape == (None, size, size, 3)
    assert model.output_shape == (None, 1000)


@pytest.mark.slow
@pytest.mark.parity
@pytest.mark.parametrize(
    ("name", "size", "count"),
    [p for p in KERAS_PARAMS if p.values[0].startswith("EfficientNetV2B")],
)
def test_default_size_matches_keras(name, size, count):
    keras_model, model = build_pair(name)
    check_pair(keras_model, model)
    assert model.count_params() == count


@pytest.mark.parity
@pytest.mark.filterwarnings("ignore:`input_shape` is undefined or non-square")
@pytest.mark.parametrize(("name", "kwargs"), REQUESTS)
def test_weight_file_is_the_one_keras_downloads(name, kwargs, cache, monkeypatch):
    """Same file name (in the cache), canonical URL and pinned hash as Keras."""
    fname, origin, file_hash = keras_weight_request(name, monkeypatch, **kwargs)
    monkeypatch.delenv(weights.BASE_URL_ENV)
    asked = []

    def record(url, target, expected, algorithm, timeout):
        asked.append((url, target, expected))
        raise _Asked

    monkeypatch.setattr(weights, "download", record)
    with pytest.raises(_Asked):
        getattr(applications, name)(weights="imagenet", **kwargs)
    assert asked == [(origin, cache / fname, file_hash)]


@pytest.mark.parity
@pytest.mark.parametrize(
    "module", [efficientnet, efficientnet_v2, mobilenet_v3, convnext], ids=lambda m: m.__name__
)
def test_pinned_hashes_are_keras_s(module):
    """Every variant's pins (with and without the classifier) are the ones Keras lists."""
    keras_module = getattr(keras.src.applications, module.__name__.rsplit(".", 1)[-1])
    assert {k: tuple(v) for k, v in module.WEIGHTS_HASHES.items()} == {
        k: tuple(v) for k, v in keras_module.WEIGHTS_HASHES.items()
    }


def _offline(name, kwargs, fname, slow=False):
    return pytest.param(name, kwargs, fname, marks=[pytest.mark.slow] if slow else [], id=name)


@pytest.mark.parametrize(
    ("name", "kwargs", "fname"),
    [
        _offline("DenseNet169", {}, "densenet169_weights_tf_dim_ordering_tf_kernels.h5",
                 slow=True),
        _offline("DenseNet201", {"include_top": False, "input_shape": (32, 32, 3)},
                 "densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5"),
        _offline("EfficientNetB7", {"include_top": False, "input_shape": (32, 32, 3)},
                 "efficientnetb7_notop.h5", slow=True),
        _offline("EfficientNetB1", {"include_top": False, "input_shape": (32, 32, 3)},
                 "efficientnetb1_notop.h5"),
        _offline("InceptionResNetV2", {"include_top": False, "input_shape": (75, 75, 3)},
                 "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
        _offline("MobileNetV3Large", {"include_top": False},
                 "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5"),
        _offline("ConvNeXtTiny", {"include_top": False, "input_shape": (32, 32, 3)},
                 "convnext_tiny_notop.h5"),
        _offline("EfficientNetV2B0", {"include_top": False, "input_shape": (32, 32, 3)},
                 "efficientnetv2-b0_notop.h5"),
    ],
)  # fmt: skip
def test_offline_error_names_each_family_s_file(name, kwargs, fname, cache):
    """Without a network the error names the file each family asks for (no Keras build)."""
    with pytest.raises(weights.DownloadError, match=fname.replace(".", r"\.")):
        getattr(applications, name)(weights="imagenet", **kwargs)


# --------------------------------------------------------------------- argument checks
@pytest.mark.parity
@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("MobileNetV3Small", {"alpha": 0.5}, "alpha can be one of"),
        ("MobileNetV3Large", {"alpha": 0.75, "minimalistic": True}, "alpha can be one of"),
        ("MobileNetV3Small", {"input_shape": (16, 16, 3)}, "at least 32x32"),
        ("MobileNetV3Small", {"include_top": True, "classes": 10}, "`classes` should be 1000"),
        pytest.param(
            "ConvNeXtTiny",
            {"name": "my_model"},
            "does not match weights variant",
            marks=pytest.mark.slow,
        ),
        ("InceptionResNetV2", {"input_shape": (60, 60, 3)}, "at least 75x75"),
        ("EfficientNetV2B0", {"input_shape": (16, 16, 3)}, "at least 32x32"),
    ],
    ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else None,
)
def test_invalid_arguments_are_refused_as_in_keras(name, kwargs, message, cache):
    kwargs = {"include_top": False, **kwargs}
    keras.backend.clear_session()
    with pytest.raises(ValueError, match=message):
        getattr(keras.applications, name)(weights="imagenet", **kwargs)
    with pytest.raises(ValueError, match=message):
        getattr(applications, name)(weights="imagenet", **kwargs)


def test_efficientnet_v2_default_stages_follow_the_name():
    with pytest.raises(ValueError, match=r"name='my_net'"):
        applications.EfficientNetV2B0(weights=None, name="my_net")


def test_mobilenet_v3_default_input_is_any_size():
    model = applications.MobileNetV3Small(weights=None, include_top=False, pooling="avg")
    assert model.input_shape == (None, None, None, 3)
    x = np.random.default_rng(0).uniform(0, 255, (1, 40, 56, 3)).astype("float32")
    assert model.predict(x, verbose=0).shape == (1, 576)


# --------------------------------------------------------------------- own layers
def test_custom_scale_layer_matches_keras():
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer as KerasLayer

    a, b = images((2, 3, 3, 4), seed=2), images((2, 3, 3, 4), seed=3)
    expected = keras.ops.convert_to_numpy(KerasLayer(0.17)([a, b]))
    layer = inception_resnet_v2.CustomScaleLayer(0.17)
    np.testing.assert_allclose(layer([torch.tensor(a), torch.tensor(b)]).numpy(), expected,
                               rtol=1e-6, atol=1e-6)  # fmt: skip
    assert layer.get_config()["scale"] == KerasLayer(0.17).get_config()["scale"]
    with pytest.raises(ValueError, match="scale='x'"):
        inception_resnet_v2.CustomScaleLayer("x")


def test_layer_scale_matches_keras_and_trains():
    from keras.src.applications.convnext import LayerScale as KerasLayerScale

    x = images((2, 4, 4, 6), seed=4)
    keras_layer = KerasLayerScale(0.5, 6)
    expected = keras.ops.convert_to_numpy(keras_layer(x))
    layer = convnext.LayerScale(0.5, 6)
    np.testing.assert_allclose(layer(torch.tensor(x)).detach().numpy(), expected, rtol=1e-6)
    gamma = np.linspace(-1, 1, 6).astype("float32")
    keras_layer.set_weights([gamma])
    layer.set_weights([gamma])
    np.testing.assert_allclose(
        layer(torch.tensor(x)).detach().numpy(),
        keras.ops.convert_to_numpy(keras_layer(x)),
        rtol=1e-6,
    )
    assert [w.shape for w in layer.trainable_weights] == [(6,)]
    config = layer.get_config()
    assert {k: config[k] for k in ("init_values", "projection_dim")} == {
        "init_values": 0.5,
        "projection_dim": 6,
    }
    with pytest.raises(ValueError, match="projection_dim=0"):
        convnext.LayerScale(0.5, 0)


def test_stochastic_depth_is_keras_s_in_inference_and_training():
    x = torch.ones(2000, 3)
    layer = convnext.StochasticDepth(0.25)
    assert torch.equal(layer(x), x)  # the identity outside training
    torch.manual_seed(0)
    out = layer(x, training=True)
    kept = out[:, 0] != 0
    # Kept samples are rescaled by 1 / keep_prob; a sample is dropped or kept as a whole.
    torch.testing.assert_close(out[kept], torch.full_like(out[kept], 1 / 0.75))
    assert bool(((out == 0).all(1) | (out != 0).all(1)).all())
    assert abs(kept.float().mean().item() - 0.75) < 0.04  # 5 sigma of a 2000-draw mean
    with pytest.raises(ValueError, match="drop_path_rate=1.5"):
        convnext.StochasticDepth(1.5)


def test_convnext_saves_and_loads_with_its_own_layers(tmp_path):
    """LayerScale is registered: a `.keras` file of a model using it loads back."""
    inputs = convolve.Input((4, 4, 8))
    x = convnext.LayerScale(1e-6, 8, name="scale")(inputs)
    x = convnext.StochasticDepth(0.1, name="drop")(x)
    x = inception_resnet_v2.CustomScaleLayer(0.5, name="mix")([inputs, x])
    model = convolve.Model(inputs, x)
    model.get_layer("scale").set_weights([np.arange(8, dtype="float32")])
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = convolve.saving.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == [
        "InputLayer", "LayerScale", "StochasticDepth", "CustomScaleLayer",
    ]  # fmt: skip
    x = images((2, 4, 4, 8))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parity
def test_keras_loads_a_convolve_file_with_layer_scale(tmp_path):
    """Keras reads the `.weights.h5` of a convolve model using LayerScale (same paths)."""
    from keras.src.applications.convnext import LayerScale as KerasLayerScale

    def build(layers, scale_cls, model_cls, input_fn):
        inputs = input_fn((4, 4, 8))
        x = layers.Dense(8)(inputs)
        x = scale_cls(0.5, 8)(x)
        return model_cls(inputs, x)

    model = build(convolve.layers, convnext.LayerScale, convolve.Model, convolve.Input)
    model.set_weights(lively_weights(model, seed=2))
    path = str(tmp_path / "w.weights.h5")
    model.save_weights(path)
    keras_model = build(keras.layers, KerasLayerScale, keras.Model, keras.Input)
    keras_model.load_weights(path)
    x = images((2, 4, 4, 8))
    np.testing.assert_allclose(keras_outputs(keras_model, x), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)  # fmt: skip


# --------------------------------------------------------------------- weight files
# A small variant per family, and whether its layers pair with Keras 2's by name.
LOADS = [
    param("MobileNetV3Small", {"include_top": True, "input_shape": (32, 32, 3), "classes": 7}),
    param("DenseNet169", {"include_top": False, "input_shape": (32, 32, 3)}, slow=True),
    param("EfficientNetB1", {"include_top": False, "input_shape": (32, 32, 3)}, slow=True),
    param("InceptionResNetV2", {"include_top": False, "input_shape": (75, 75, 3)}, slow=True),
    param("ConvNeXtTiny", {"include_top": True, "input_shape": (32, 32, 3), "classes": 7},
          slow=True),
    param("EfficientNetV2B0", {"include_top": False, "input_shape": (32, 32, 3)}, slow=True),
]  # fmt: skip


@pytest.mark.parity
@pytest.mark.parametrize("fmt", ["weights.h5", pytest.param("h5", marks=pytest.mark.slow)])
@pytest.mark.parametrize(("name", "kwargs"), LOADS)
def test_keras_saved_weights_load_with_weights_path(name, kwargs, fmt, tmp_path):
    """A Keras model's weights, saved by Keras (Keras 3's `.weights.h5`, or the legacy `.h5`
    with layer names that the published files have), load through `weights=<path>` and
    give Keras's outputs."""
    from keras.src.legacy.saving import legacy_h5_format

    keras_model, model = build_pair(name, **kwargs)
    keras_model.set_weights(lively_weights(model, seed=13))
    path = tmp_path / f"keras.{fmt}"
    if fmt == "h5":
        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, keras_model)
    else:
        keras_model.save_weights(str(path))
    reset_names()
    loaded = getattr(applications, name)(weights=str(path), **kwargs)
    assert_predicts_like_keras(name, keras_model, loaded)


def test_mobilenet_v3_weights_path_round_trip(tmp_path):
    """The fast path of the above: a Keras 2 layout `.h5` written here loads by name."""
    kwargs = {"include_top": False, "input_shape": (32, 32, 3)}
    source = applications.MobileNetV3Small(weights=None, **kwargs)
    source.set_weights(lively_weights(source, seed=5))
    path = tmp_path / "weights.h5"
    write_h5(source, path)
    model = applications.MobileNetV3Small(weights=str(path), **kwargs)
    assert_same_weights(source.get_weights(), model)


def test_imagenet_weights_come_from_the_server_and_load(server, cache):
    fname = "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"
    kwargs = {"include_top": False, "input_shape": (224, 224, 3)}
    source = applications.MobileNetV3Small(weights=None, **kwargs)
    source.set_weights(lively_weights(source, seed=3))
    write_h5(source, server.root / fname)
    weights.pin_hash(fname, hashlib.sha256((server.root / fname).read_bytes()).hexdigest())
    model = applications.MobileNetV3Small(weights="imagenet", **kwargs)
    assert server.requests == [f"/{fname}"]
    assert_same_weights(source.get_weights(), model)


# --------------------------------------------------------------------- modules
@pytest.mark.parametrize(
    "module",
    [
        pytest.param(
            m, marks=[pytest.mark.slow] if m in (efficientnet, inception_resnet_v2) else []
        )
        for m in MODULES
    ],
    ids=lambda m: m.__name__.rsplit(".", 1)[-1],
)
def test_docstring_examples(module, cache):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_module_exposes_keras_functions(module):
    """`preprocess_input` and `decode_predictions` as Keras's module of the same name has."""
    keras_module = getattr(keras.applications, module.__name__.rsplit(".", 1)[-1])
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(keras_module.preprocess_input(x.copy()))
    np.testing.assert_allclose(module.preprocess_input(x.copy()), expected, rtol=1e-6)
    assert module.decode_predictions is applications.imagenet_utils.decode_predictions


def test_builders_are_exported_with_keras_s_signatures():
    import inspect

    names = [
        "DenseNet169", "DenseNet201", "MobileNetV3Small", "MobileNetV3Large",
        "InceptionResNetV2",
        *(f"EfficientNetB{i}" for i in range(1, 8)),
        *(f"ConvNeXt{s}" for s in ("Tiny", "Small", "Base", "Large", "XLarge")),
        *(f"EfficientNetV2{s}" for s in ("B0", "B1", "B2", "B3", "S", "M", "L")),
    ]  # fmt: skip
    for name in names:
        ours = inspect.signature(getattr(applications, name))
        theirs = inspect.signature(getattr(keras.applications, name))
        assert [(p.name, p.default) for p in ours.parameters.values()] == [
            (p.name, p.default) for p in theirs.parameters.values()
        ], name
        assert name in applications.__all__
