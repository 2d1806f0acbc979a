"""Xception, InceptionV3, MobileNet and the ResNet V2s against `keras.applications`: layer
names, output shapes, parameter counts and outputs with the same weights; the weight file
each asks for (name, URL, pinned hash) against the one Keras asks for; and ImageNet weights
fetched from a local server, including files whose layer names are not the model's."""

import doctest
import hashlib

import h5py
import keras
import numpy as np
import pytest
from app_testing import (
    ATOL,
    all_weights,
    assert_same_weights,
    build_pair,
    images,
    keras_outputs,
    lively_weights,
    write_h5,
)
from test_parity import check_pair

import convolve
from convolve import applications
from convolve.applications import inception_v3, mobilenet, resnet_v2, weights, xception
from convolve.layers.naming import reset_names, to_snake_case
from convolve.saving.errors import ModelFileError


def param(*values, slow: bool = False):
    """A test case; `slow` leaves it to the slow run (larger variants, deeper networks and
    cases whose code path a fast case already takes), which keeps the default run short."""
    marks = [pytest.mark.slow] if slow else []
    return pytest.param(*values, marks=marks, id="-".join(_id(v) for v in values[:2]))


def _id(value) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()).replace(" ", "")
    return str(value)


# The smallest input each accepts keeps the builds and forward passes quick.
SMALL = {
    "Xception": (71, 71, 3),
    "InceptionV3": (75, 75, 3),
    "MobileNet": (32, 32, 3),
    "ResNet50V2": (32, 32, 3),
    "ResNet101V2": (32, 32, 3),
    "ResNet152V2": (32, 32, 3),
}
# The deeper ResNet V2s share ResNet50V2's code, heads included: one variant each suffices.
PARITY = [
    param("Xception", "avg"),
    param("Xception", "top", slow=True),
    param("InceptionV3", "avg"),
    param("InceptionV3", "top", slow=True),
    param("MobileNet", "avg"),
    param("MobileNet", "top"),
    param("ResNet50V2", "avg"),
    param("ResNet50V2", "top", slow=True),
    param("ResNet101V2", "top", slow=True),
    param("ResNet152V2", "top", slow=True),
]
# Keras's default input size, and its parameter count there with the 1000-class classifier.
KERAS_PARAMS = [
    param("Xception", 299, 22_910_480),
    param("InceptionV3", 299, 23_851_784),
    param("MobileNet", 224, 4_253_864),
    param("ResNet50V2", 224, 25_613_800),
    param("ResNet101V2", 224, 44_675_560, slow=True),
    param("ResNet152V2", 224, 60_380_648, slow=True),
]
# Arguments under which each asks for ImageNet weights (with the top: at the default size).
REQUESTS = [
    param("Xception", {"include_top": False, "input_shape": SMALL["Xception"]}),
    param("Xception", {"include_top": True}, slow=True),
    param("InceptionV3", {"include_top": False, "input_shape": SMALL["InceptionV3"]}),
    param("InceptionV3", {"include_top": True}, slow=True),
    param("MobileNet", {"include_top": False, "input_shape": (128, 128, 3), "alpha": 0.25}),
    param("MobileNet", {"include_top": True, "input_shape": (160, 160, 3), "alpha": 0.5}),
    # Other sizes take the 224-pixel weights (with a warning).
    param("MobileNet", {"include_top": False, "input_shape": (96, 96, 3), "alpha": 0.75}),
    param("ResNet50V2", {"include_top": False, "input_shape": (32, 32, 3)}),
    param("ResNet50V2", {"include_top": True}, slow=True),
    param("ResNet101V2", {"include_top": False, "input_shape": (32, 32, 3)}, slow=True),
    param("ResNet152V2", {"include_top": True}, slow=True),
]
# Arguments without the top, and the name of the file that gives its weights.
NOTOP = "_weights_tf_dim_ordering_tf_kernels_notop.h5"
SERVED = [
    param("Xception", {"input_shape": SMALL["Xception"]}, "xception" + NOTOP),
    param("InceptionV3", {"input_shape": SMALL["InceptionV3"]}, "inception_v3" + NOTOP, slow=True),
    param(
        "MobileNet", {"input_shape": (128, 128, 3), "alpha": 0.25}, "mobilenet_2_5_128_tf_no_top.h5"
    ),
    param("ResNet50V2", {"input_shape": (32, 32, 3)}, "resnet50v2" + NOTOP, slow=True),
]
# The architectures whose published files are matched to the model in layer order.
IN_ORDER = ("Xception", "InceptionV3")
MODULES = [xception, inception_v3, mobilenet, resnet_v2]


def variant(name: str, head: str) -> dict:
    """The classifier with 10 classes (`top`), or the features with average pooling (`avg`)."""
    if head == "top":
        return {"include_top": True, "input_shape": SMALL[name], "classes": 10}
    return {"include_top": False, "input_shape": SMALL[name], "pooling": "avg"}


def assert_predicts_like_keras(keras_model, model) -> None:
    """Same outputs on the same random images, within `ATOL` times the largest output
    (at least 1): the lively weights keep activations of order one or more, but residual
    additions let them grow with depth."""
    x = images((2, *model.input_shape[1:]))
    expected = keras_outputs(keras_model, x)
    got = model.predict(x, verbose=0)
    assert got.shape == expected.shape
    assert np.abs(expected).max() > 1e-2  # not vanished: an absolute tolerance bites
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL * scale)


@pytest.mark.parity
@pytest.mark.parametrize(("name", "head"), PARITY)
def test_application_matches_keras(name, head):
    keras_model, model = build_pair(name, **variant(name, head))
    check_pair(keras_model, model)
    values = lively_weights(model)
    keras_model.set_weights(values)
    model.set_weights(values)
    assert_predicts_like_keras(keras_model, model)


@pytest.mark.parametrize(("name", "size", "count"), KERAS_PARAMS)
def test_parameter_count_at_default_size(name, size, count):
    model = getattr(applications, name)(weights=None)
    assert model.count_params() == count
    assert model.input_shape == (None, size, size, 3)
    assert model.output_shape == (None, 1000)


@pytest.mark.parity
def test_mobilenet_width_depth_and_dropout_options():
    kwargs = {"alpha": 0.5, "depth_multiplier": 2, "dropout": 0.2, "input_shape": (40, 40, 3)}
    keras_model, model = build_pair("MobileNet", classes=7, classifier_activation=None, **kwargs)
    check_pair(keras_model, model)
    assert model.name == "mobilenet_0.50_40"
    assert model.get_layer("dropout").rate == 0.2
    values = lively_weights(model)
    keras_model.set_weights(values)
    model.set_weights(values)
    assert_predicts_like_keras(keras_model, model)


class _Asked(Exception):
    """Stops Keras once it has said which file it wants."""


def keras_weight_request(name: str, monkeypatch, **kwargs) -> tuple:
    """(file name, URL, hash) of the file `keras.applications.<name>` downloads."""
    from keras.src.utils import file_utils

    asked = []

    def record(fname, origin, cache_subdir="datasets", file_hash=None, **_):
        asked.append((fname, origin, file_hash))
        raise _Asked

    monkeypatch.setattr(file_utils, "get_file", record)
    keras.backend.clear_session()
    with pytest.raises(_Asked):
        getattr(keras.applications, name)(weights="imagenet", **kwargs)
    return asked[0]


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


def keras2_names(model) -> dict[str, str]:
    """The layer names Keras 2 gave automatically (`conv2d_1`, `batch_normalization_1`, ...),
    as in the published files of the architectures that leave their layers unnamed."""
    counts: dict[str, int] = {}
    names = {}
    for layer in model.layers:
        kind = to_snake_case(type(layer).__name__)
        counts[kind] = counts.get(kind, 0) + 1
        names[layer.name] = f"{kind}_{counts[kind]}"
    return names


def rename_layers(path, names: dict[str, str]) -> None:
    """Renames the layers of a `.h5` weights file (groups and `layer_names`)."""
    with h5py.File(path, "r+") as f:
        old = [n if isinstance(n, str) else n.decode("utf8") for n in f.attrs["layer_names"]]
        for i, name in enumerate(old):  # through temporary names: old and new ones overlap
            f.move(name, f"__{i}")
        for i, name in enumerate(old):
            f.move(f"__{i}", names[name])
        f.attrs["layer_names"] = [names[n].encode("utf8") for n in old]


def serve(server, model, fname: str, renamed: bool) -> None:
    """Lively weights of `model`, served as `fname` (with Keras 2's names if `renamed`);
    the pin becomes the served file's SHA-256."""
    model.set_weights(lively_weights(model, seed=3))
    path = server.root / fname
    write_h5(model, path)
    if renamed:
        rename_layers(path, keras2_names(model))
    weights.pin_hash(fname, hashlib.sha256(path.read_bytes()).hexdigest())


@pytest.mark.parametrize(("name", "kwargs", "fname"), SERVED)
def test_imagenet_weights_come_from_the_server_and_load(name, kwargs, fname, server, cache):
    """The file without the top, fetched by name and loaded; those of `IN_ORDER` are served
    with the names Keras 2 gave, which do not fit the model's, and load in order."""
    build = getattr(applications, name)
    reset_names()  # automatic names from `conv2d`: one below the file's (from `conv2d_1`)
    source = build(weights=None, include_top=False, **kwargs)
    serve(server, source, fname, renamed=name in IN_ORDER)
    if name in IN_ORDER:
        with pytest.raises(ModelFileError):  # by name, the file does not fit the model
            weights.load_weights(source, server.root / fname)
    model = build(weights="imagenet", include_top=False, **kwargs)
    assert server.requests == [f"/{fname}"]
    assert_same_weights(source.get_weights(), model)


@pytest.mark.slow
@pytest.mark.parity
@pytest.mark.parametrize(
    ("name", "kwargs", "fname"), [c for c in SERVED if c.values[0] in IN_ORDER]
)
def test_file_with_other_layer_names_loads_in_order_as_in_keras(
    name, kwargs, fname, server, monkeypatch
):
    """Keras's files for these name their layers as old Keras versions did automatically;
    Keras pairs them with the model's layers in order, and convolve does the same."""
    from keras.src.utils import file_utils

    kwargs = {**kwargs, "include_top": False, "pooling": "avg"}
    source = getattr(applications, name)(weights=None, **kwargs)
    serve(server, source, fname, renamed=True)
    monkeypatch.setattr(file_utils, "get_file", lambda *a, **k: str(server.root / fname))
    keras.backend.clear_session()
    keras_model = getattr(keras.applications, name)(weights="imagenet", **kwargs)
    model = getattr(applications, name)(weights="imagenet", **kwargs)
    assert_same_weights(source.get_weights(), model)
    assert_predicts_like_keras(keras_model, model)


def tiny(width: int = 4, head: bool = False):
    """A small model with automatically named layers (and a named `head` if asked)."""
    inputs = convolve.Input((8, 8, 3))
    x = convolve.layers.Conv2D(width, 3, use_bias=False)(inputs)
    x = convolve.layers.BatchNormalization(scale=False)(x)
    x = convolve.layers.Conv2D(width, 3)(x)
    x = convolve.layers.SeparableConv2D(width, 3)(x)
    x = convolve.layers.GlobalAveragePooling2D()(x)
    if head:
        x = convolve.layers.Dense(2, name="head")(x)
    return convolve.Model(inputs, x)


def tiny_file(tmp_path, model, renamed: bool = True):
    """`model`'s lively weights in a `.h5` file, under Keras 2's names if `renamed`."""
    model.set_weights(lively_weights(model, seed=5))
    path = tmp_path / "tiny.h5"
    write_h5(model, path)
    if renamed:
        rename_layers(path, keras2_names(model))
    return path


def test_in_order_loading_pairs_layers_by_position(tmp_path):
    source = tiny()
    path = tiny_file(tmp_path, source)  # conv2d_1, conv2d_2, ... as Keras 2 numbered them
    reset_names()
    model = tiny()  # conv2d, conv2d_1, ...: by name, conv2d_1 would get the first kernel
    with pytest.raises(ModelFileError, match="conv2d_1"):
        weights.load_weights(model, path)
    weights.load_weights_in_order(model, path)
    assert_same_weights(source.get_weights(), model)


def test_in_order_loading_falls_back_to_names_when_the_layers_do_not_pair(tmp_path):
    """A file with the classifier loads into the model without it, by name."""
    source = tiny(head=True)
    path = tiny_file(tmp_path, source, renamed=False)
    model = tiny()
    for layer, named in zip(model.layers, source.layers, strict=False):
        layer.name = named.name
    weights.load_weights_in_order(model, path)
    assert_same_weights(source.get_weights()[: len(model.get_weights())], model)


def test_in_order_loading_checks_every_shape_before_changing_anything(tmp_path):
    path = tiny_file(tmp_path, tiny(width=4))
    model = tiny(width=5)
    before = all_weights(model)
    with pytest.raises(ModelFileError, match=r"has shape \(3, 3, 3, 4\).*\(3, 3, 3, 5\)"):
        weights.load_weights_in_order(model, path)
    assert_same_weights(before, model)
    (tmp_path / "text.h5").write_text("not HDF5")
    with pytest.raises(ModelFileError, match="cannot be read as an HDF5 file"):
        weights.load_weights_in_order(model, tmp_path / "text.h5")


@pytest.mark.parity
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"depth_multiplier": 2}, "depth multiplier must be 1"),
        ({"alpha": 0.35}, "alpha can be one of"),
        ({"include_top": True, "classes": 10}, "`classes` should be 1000"),
    ],
    ids=["depth_multiplier", "alpha", "classes"],
)
def test_mobilenet_imagenet_arguments_are_checked_as_in_keras(kwargs, message, cache):
    kwargs = {"include_top": False, "input_shape": (128, 128, 3), **kwargs}
    with pytest.raises(ValueError, match=message):
        keras.applications.MobileNet(weights="imagenet", **kwargs)
    with pytest.raises(ValueError, match=message):
        applications.MobileNet(weights="imagenet", **kwargs)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
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
