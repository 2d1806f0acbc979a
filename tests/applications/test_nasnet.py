"""NASNetMobile, NASNetLarge and the generic NASNet builder against Keras's
`keras.applications.nasnet`: layer names and order, output shapes, parameter counts and
outputs with the same weights; the weight files asked for; Keras's argument checks; and
weight files saved by Keras, loaded with `weights=<path>`.

Keras's `NASNetMobile` refuses to build on its torch backend, so the reference for it is
Keras's `NASNet` with NASNetMobile's arguments (which is all `NASNetMobile` does elsewhere).
"""

import doctest
import hashlib
import inspect

import h5py
import keras
import numpy as np
import pytest
from app_testing import ATOL, assert_same_weights, images, keras_outputs, lively_weights, write_h5
from keras.src.applications import nasnet as keras_nasnet
from test_more_architectures import _Asked
from test_parity import check_pair

import convolve
from convolve import applications
from convolve.applications import nasnet, weights
from convolve.layers.naming import reset_names

# A small NASNet-A (1 @ 96) with an 8-filter stem: every kind of cell, quick to build.
SMALL = {"penultimate_filters": 96, "num_blocks": 1, "stem_block_filters": 8}
# NASNetMobile's arguments to `NASNet`, as Keras's `NASNetMobile` passes them.
MOBILE = {
    "penultimate_filters": 1056,
    "num_blocks": 4,
    "stem_block_filters": 32,
    "skip_reduction": False,
    "filter_multiplier": 2,
    "default_size": 224,
}


def keras_mobile(input_shape=None, include_top=True, name="nasnet_mobile", **kwargs):
    """Keras's NASNetMobile, built through `NASNet` as Keras's `NASNetMobile` does."""
    if not include_top and input_shape is None:
        input_shape = (224, 224, 3)
    return keras_nasnet.NASNet(input_shape, include_top=include_top, name=name, **MOBILE,
                               **kwargs)  # fmt: skip


BUILDERS = {
    "NASNet": (keras_nasnet.NASNet, nasnet.NASNet),
    "NASNetMobile": (keras_mobile, applications.NASNetMobile),
    "NASNetLarge": (keras_nasnet.NASNetLarge, applications.NASNetLarge),
}


def build_pair(builder: str, **kwargs):
    """Keras's and convolve's `builder`, built with fresh automatic names and no weights."""
    keras_fn, fn = BUILDERS[builder]
    keras.backend.clear_session()
    reset_names()
    keras_model = keras_fn(weights=None, **kwargs)
    reset_names()
    return keras_model, fn(weights=None, **kwargs)


def assert_predicts_like_keras(keras_model, model) -> None:
    """Same outputs on the same random images in [-1, 1] (as `preprocess_input` gives),
    within `ATOL` (1e-4) times the largest output (at least 1), no relative tolerance."""
    x = images((2, *model.input_shape[1:]))
    expected = keras_outputs(keras_model, x)
    got = model.predict(x, verbose=0)
    assert got.shape == expected.shape
    assert np.abs(expected).max() > 1e-2  # not vanished: an absolute tolerance bites
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL * scale)


def case(name, kwargs, slow=False):
    marks = [pytest.mark.parity] + ([pytest.mark.slow] if slow else [])
    key = ",".join(f"{k}={v}" for k, v in kwargs.items()).replace(" ", "")
    return pytest.param(name, kwargs, marks=marks, id=f"{name}-{key}")


PARITY = [
    case("NASNet", {**SMALL, "include_top": False, "input_shape": (32, 32, 3)}),
    case("NASNet", {**SMALL, "include_top": True, "input_shape": (33, 40, 3), "classes": 7,
                    "skip_reduction": False, "classifier_activation": None}),
    case("NASNet", {"penultimate_filters": 432, "num_blocks": 1, "stem_block_filters": 6,
                    "filter_multiplier": 3, "include_top": False, "input_shape": (35, 35, 3),
                    "pooling": "avg", "name": "nasnet_x3"}, slow=True),
    case("NASNet", {"penultimate_filters": 48, "num_blocks": 2, "stem_block_filters": 4,
                    "filter_multiplier": 1, "include_top": False, "input_shape": (32, 48, 3),
                    "pooling": "max"}),
    case("NASNetMobile", {"include_top": False, "input_shape": (32, 32, 3), "pooling": "avg"},
         slow=True),
    case("NASNetMobile", {"include_top": True, "classifier_activation": None}, slow=True),
    case("NASNetLarge", {"include_top": False, "input_shape": (32, 32, 3)}, slow=True),
    case("NASNetLarge", {"include_top": True, "input_shape": (40, 40, 3), "classes": 10},
         slow=True),
]  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs"), PARITY)
def test_nasnet_matches_keras(name, kwargs):
    keras_model, model = build_pair(name, **kwargs)
    check_pair(keras_model, model)
    values = lively_weights(model)
    keras_model.set_weights(values)
    model.set_weights(values)
    assert_predicts_like_keras(keras_model, model)


# Keras's counts at the default size with the 1000-class classifier: (total, trainable).
KERAS_COUNTS = {"NASNetMobile": (224, 5_326_716, 5_289_978),
                "NASNetLarge": (331, 88_949_818, 88_753_150)}  # fmt: skip


def _counts(model) -> tuple[int, int]:
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return model.count_params(), trainable


def test_nasnet_mobile_parameter_count_at_default_size():
    model = applications.NASNetMobile(weights=None)
    size, total, trainable = KERAS_COUNTS["NASNetMobile"]
    assert _counts(model) == (total, trainable)
    assert model.input_shape == (None, size, size, 3)
    assert model.output_shape == (None, 1000)
    assert model.name == "nasnet_mobile"
    assert len(model.layers) == 771


@pytest.mark.slow
@pytest.mark.parity
@pytest.mark.parametrize("name", ["NASNetMobile", "NASNetLarge"])
def test_default_size_matches_keras(name):
    keras_model, model = build_pair(name)
    check_pair(keras_model, model)
    size, total, trainable = KERAS_COUNTS[name]
    assert _counts(model) == _counts(keras_model) == (total, trainable)
    assert model.input_shape == (None, size, size, 3)


def test_nasnet_mobile_without_classifier_defaults_to_224():
    model = applications.NASNetMobile(weights=None, include_top=False)
    assert model.input_shape == (None, 224, 224, 3)
    assert model.output_shape == (None, 7, 7, 1056)


# --------------------------------------------------------------------- weight files
@pytest.mark.parity
@pytest.mark.parametrize("default_size", [224, 331])
@pytest.mark.parametrize("include_top", [True, False])
def test_weight_file_is_the_one_keras_downloads(default_size, include_top, cache, monkeypatch):
    """Same file name (in the cache), canonical URL and pinned hash as Keras, chosen by
    `default_size` (224: NASNetMobile's, 331: NASNetLarge's) and the classifier."""
    from keras.src.utils import file_utils

    kwargs = {**SMALL, "include_top": include_top, "default_size": default_size}
    if not include_top:
        kwargs["input_shape"] = (32, 32, 3)
    keras_asked = []

    def keras_record(fname, origin, cache_subdir="datasets", file_hash=None, **_):
        keras_asked.append((fname, origin, file_hash))
        raise _Asked

    monkeypatch.setattr(file_utils, "get_file", keras_record)
    keras.backend.clear_session()
    with pytest.raises(_Asked):
        keras_nasnet.NASNet(weights="imagenet", **kwargs)
    fname, origin, file_hash = keras_asked[0]

    monkeypatch.delenv(weights.BASE_URL_ENV)
    asked = []

    def record(url, target, expected, algorithm, timeout):
        asked.append((url, target, expected))
        raise _Asked

    monkeypatch.setattr(weights, "download", record)
    with pytest.raises(_Asked):
        nasnet.NASNet(weights="imagenet", **kwargs)
    assert asked == [(origin, cache / fname, file_hash)]


@pytest.mark.parametrize(
    ("name", "kwargs", "fname"),
    [
        ("NASNetMobile", {"include_top": False, "input_shape": (32, 32, 3)},
         "nasnet_mobile_no_top.h5"),
        pytest.param("NASNetMobile", {}, "nasnet_mobile.h5", marks=pytest.mark.slow),
        pytest.param("NASNetLarge", {"include_top": False, "input_shape": (32, 32, 3)},
                     "nasnet_large_no_top.h5", marks=pytest.mark.slow),
        pytest.param("NASNetLarge", {}, "nasnet_large.h5", marks=pytest.mark.slow),
    ],
)  # fmt: skip
def test_offline_error_names_the_file(name, kwargs, fname, cache):
    """Without a network the error names the file to fetch and where to put it."""
    with pytest.raises(weights.DownloadError, match=fname.replace(".", r"\.")) as info:
        getattr(applications, name)(weights="imagenet", **kwargs)
    assert str(cache) in str(info.value)


def test_imagenet_weights_come_from_the_server_and_load(server, cache):
    """`weights="imagenet"` with `default_size=224` fetches NASNetMobile's file, checks its
    pin and loads it (here a small network's weights under that name)."""
    fname = "nasnet_mobile_no_top.h5"
    kwargs = {**SMALL, "include_top": False, "input_shape": (32, 32, 3), "default_size": 224}
    source = nasnet.NASNet(weights=None, **kwargs)
    source.set_weights(lively_weights(source, seed=3))
    write_h5(source, server.root / fname)
    weights.pin_hash(fname, hashlib.sha256((server.root / fname).read_bytes()).hexdigest())
    model = nasnet.NASNet(weights="imagenet", **kwargs)
    assert server.requests == [f"/{fname}"]
    assert_same_weights(source.get_weights(), model)


@pytest.mark.parity
def test_keras_legacy_h5_loads_in_layer_order(tmp_path):
    """A legacy `.h5` saved by Keras (the published files' format), in a session whose
    automatic layer names have moved on, loads as Keras loads it and gives Keras's outputs."""
    from keras.src.legacy.saving import legacy_h5_format

    kwargs = {**SMALL, "include_top": True, "input_shape": (32, 32, 3), "classes": 5}
    keras.backend.clear_session()
    keras_nasnet.NASNet(weights=None, **kwargs)  # shifts Keras's automatic names
    keras_model = keras_nasnet.NASNet(weights=None, **kwargs)
    keras_model.set_weights(lively_weights(keras_model, seed=13))
    path = tmp_path / "keras.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, keras_model)
    reset_names()
    model = nasnet.NASNet(weights=str(path), **kwargs)
    assert_predicts_like_keras(keras_model, model)


@pytest.mark.parity
def test_keras_weights_h5_loads_with_weights_path(tmp_path):
    """Keras 3's own `.weights.h5`, saved by Keras, loads through `weights=<path>`."""
    kwargs = {**SMALL, "include_top": False, "input_shape": (32, 32, 3), "pooling": "avg"}
    keras_model, _ = build_pair("NASNet", **kwargs)
    keras_model.set_weights(lively_weights(keras_model, seed=7))
    path = tmp_path / "keras.weights.h5"
    keras_model.save_weights(str(path))
    reset_names()
    model = nasnet.NASNet(weights=str(path), **kwargs)
    assert_predicts_like_keras(keras_model, model)


@pytest.mark.slow
@pytest.mark.parity
def test_keras_nasnet_mobile_h5_loads(tmp_path):
    """NASNetMobile's full layer list pairs with Keras's in a legacy `.h5` (as the
    published file is read)."""
    from keras.src.legacy.saving import legacy_h5_format

    kwargs = {"include_top": False, "input_shape": (32, 32, 3)}
    keras_model, _ = build_pair("NASNetMobile", **kwargs)
    keras_model.set_weights(lively_weights(keras_model, seed=21))
    path = tmp_path / "mobile.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, keras_model)
    reset_names()
    model = applications.NASNetMobile(weights=str(path), **kwargs)
    assert_predicts_like_keras(keras_model, model)


# --------------------------------------------------------------------- argument checks
@pytest.mark.parity
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"penultimate_filters": 100}, r"must be a multiple of 24 \* \(`filter_multiplier`"),
        ({"penultimate_filters": 96, "filter_multiplier": 3}, "must be a multiple of 24"),
        ({"input_shape": (None, None, 3)}, "the input_shape argument must be static"),
        ({"input_shape": (16, 16, 3)}, "at least 32x32"),
        ({"include_top": True, "input_shape": None, "classes": 10}, "`classes` should be 1000"),
        ({"weights": "no/such/file.h5"}, "The `weights` argument should be either"),
        ({"include_top": True, "input_shape": None, "classifier_activation": "relu"},
         "Only `None` and `softmax` activations are allowed"),
        ({"default_size": 96}, "ImageNet weights can only be loaded with NASNetLarge or "
                               "NASNetMobile"),
    ],
    ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else None,
)  # fmt: skip
def test_invalid_arguments_are_refused_as_in_keras(kwargs, message, cache, monkeypatch):
    from keras.src.utils import file_utils

    def no_download(*args, **kw):
        raise _Asked

    monkeypatch.setattr(file_utils, "get_file", no_download)
    kwargs = {**SMALL, "include_top": False, "input_shape": (32, 32, 3), "weights": "imagenet",
              **kwargs}  # fmt: skip
    keras.backend.clear_session()
    with pytest.raises(ValueError, match=message):
        keras_nasnet.NASNet(**kwargs)
    with pytest.raises(ValueError, match=message):
        nasnet.NASNet(**kwargs)


@pytest.mark.parity
@pytest.mark.parametrize(
    "kwargs",
    [
        {"penultimate_filters": 216, "filter_multiplier": 3},  # odd widths: 9 != 2 * (9 // 2)
        {"penultimate_filters": 48, "num_blocks": 0, "filter_multiplier": 1},
    ],
    ids=["odd-width", "no-normal-cells"],
)
def test_cells_that_cannot_line_up_are_refused_as_in_keras(kwargs):
    """Structures whose cells Keras cannot add up fail while being built, in both."""
    kwargs = {**SMALL, "include_top": False, "input_shape": (32, 48, 3), **kwargs}
    keras.backend.clear_session()
    with pytest.raises(ValueError, match="(?i)incompatible shapes"):
        keras_nasnet.NASNet(weights=None, **kwargs)
    with pytest.raises(ValueError, match="incompatible shapes"):
        nasnet.NASNet(weights=None, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "received"),
    [
        ({"filter_multiplier": 1.5}, "filter_multiplier=1.5"),
        ({"num_blocks": -1}, "num_blocks=-1"),
        ({"stem_block_filters": 0}, "stem_block_filters=0"),
        ({"penultimate_filters": "96"}, "penultimate_filters='96'"),
        ({"pooling": "sum"}, "pooling='sum'"),
    ],
)
def test_bad_structure_arguments_name_the_value(kwargs, received):
    kwargs = {**SMALL, "include_top": False, "input_shape": (32, 32, 3), **kwargs}
    with pytest.raises(ValueError, match=received):
        nasnet.NASNet(weights=None, **kwargs)


@pytest.mark.parity
def test_unknown_input_size_is_refused_where_keras_builds_a_broken_model():
    """Keras builds a NASNet of unknown height and width whose cells cannot line up (its
    first image fails); convolve refuses it at once, naming the shape."""
    kwargs = {**SMALL, "include_top": False}
    keras.backend.clear_session()
    keras_model = keras_nasnet.NASNet(weights=None, **kwargs)
    with pytest.raises(RuntimeError, match="must match"):
        keras_model(images((1, 64, 64, 3)))
    with pytest.raises(ValueError, match=r"static input height and width.*\(None, None, 3\)"):
        nasnet.NASNet(weights=None, **kwargs)
    with pytest.raises(ValueError, match=r"input_shape=\(None, None, 3\)"):
        applications.NASNetLarge(weights=None, include_top=False)
    model = nasnet.NASNet(weights=None, input_tensor=convolve.Input((40, 40, 3)), **kwargs)
    assert model.output_shape == (None, 2, 2, 96)


# --------------------------------------------------------------------- module surface
@pytest.mark.parity
@pytest.mark.parametrize("name", ["NASNet", "NASNetMobile", "NASNetLarge"])
def test_signatures_are_keras_s(name):
    ours = inspect.signature(getattr(nasnet, name))
    theirs = inspect.signature(getattr(keras_nasnet, name))
    assert [(p.name, p.default) for p in ours.parameters.values()] == [
        (p.name, p.default) for p in theirs.parameters.values()
    ]


def test_exports():
    assert {"NASNetMobile", "NASNetLarge", "nasnet"} <= set(applications.__all__)
    assert applications.NASNetMobile is nasnet.NASNetMobile
    assert applications.NASNetLarge is nasnet.NASNetLarge
    assert convolve.applications.nasnet is nasnet


@pytest.mark.parity
def test_preprocess_and_decode_are_keras_s():
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(keras.applications.nasnet.preprocess_input(x.copy()))
    np.testing.assert_allclose(nasnet.preprocess_input(x.copy()), expected, rtol=1e-6)
    assert nasnet.decode_predictions is applications.imagenet_utils.decode_predictions


def test_docstring_examples_of_the_quick_builders():
    for fn in (nasnet.NASNet, nasnet.NASNetMobile):
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        for test in doctest.DocTestFinder().find(fn, globs={}):
            runner.run(test)
        result = runner.summarize(verbose=False)
        assert result.attempted > 0 and result.failed == 0, fn.__name__


@pytest.mark.slow
def test_docstring_examples():
    result = doctest.testmod(nasnet, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 3 and result.failed == 0
