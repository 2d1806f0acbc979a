"""Weight files: download from a (local) host, hash pins, the cache, offline errors, and
loading Keras `.h5` files by layer name without changing anything when a file does not fit."""

import hashlib
import urllib.error
import urllib.request

import h5py
import keras
import numpy as np
import pytest
from app_testing import (
    all_weights,
    assert_same_weights,
    build_pair,
    images,
    keras_outputs,
    lively_weights,
    write_h5,
)

import convolve
from convolve import applications
from convolve.applications import weights
from convolve.layers.naming import reset_names
from convolve.layers.preprocessing import Normalization
from convolve.saving.errors import ModelFileError

SHAPE = (96, 96, 3)
NOTOP = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"


def small(**kwargs):
    """The smallest application: MobileNetV2 with width 0.35 (about 410k weights)."""
    kwargs = {"alpha": 0.35, "include_top": False, "input_shape": SHAPE, **kwargs}
    return applications.MobileNetV2(**kwargs)


def serve_weights(server, fname=NOTOP, **kwargs):
    """A random model's weights, served as `fname`; returns the model they came from."""
    source = small(weights=None, **kwargs)
    source.set_weights(lively_weights(source, seed=3))
    write_h5(source, server.root / fname)
    return source


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_imagenet_weights_are_downloaded_cached_and_loaded(server, cache):
    source = serve_weights(server)
    model = small(weights="imagenet")
    assert_same_weights(source.get_weights(), model)
    assert sorted(p.name for p in cache.iterdir()) == [NOTOP]  # no temporary file left
    assert server.requests == [f"/{NOTOP}"]
    again = small(weights="imagenet")  # served from the cache
    assert_same_weights(source.get_weights(), again)
    assert server.requests == [f"/{NOTOP}"]


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_pinned_hash_accepts_the_right_file(server, cache, algorithm):
    serve_weights(server)
    digest = hashlib.new(algorithm, (server.root / NOTOP).read_bytes()).hexdigest()
    weights.pin_hash(NOTOP, digest)
    small(weights="imagenet")
    assert (cache / NOTOP).is_file()


def test_hash_mismatch_saves_nothing_and_names_the_file(server, cache):
    serve_weights(server)
    weights.pin_hash(NOTOP, "0" * 64)
    with pytest.raises(weights.ChecksumError) as error:
        small(weights="imagenet")
    message = str(error.value)
    assert NOTOP in message and server.url in message and "0" * 64 in message
    assert list(cache.iterdir()) == []


def test_keras_md5_pins_are_enforced(server, cache):
    fname = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    (server.root / fname).write_bytes(b"not the published file")
    with pytest.raises(weights.ChecksumError, match="6d6bbae143d832006294945121d1f1fc"):
        applications.VGG16(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    assert list(cache.iterdir()) == []


def test_a_file_in_keras_cache_is_used_if_it_passes(server, cache, tmp_path):
    source = serve_weights(server)
    keras_models = tmp_path / "keras" / "models"
    keras_models.mkdir(parents=True)
    (keras_models / NOTOP).write_bytes((server.root / NOTOP).read_bytes())
    weights.pin_hash(NOTOP, sha256(server.root / NOTOP))
    assert_same_weights(source.get_weights(), small(weights="imagenet"))
    assert server.requests == [] and not cache.exists()  # used in place
    (keras_models / NOTOP).write_bytes(b"truncated")  # failing the pin: downloaded instead
    assert_same_weights(source.get_weights(), small(weights="imagenet"))
    assert server.requests == [f"/{NOTOP}"] and (keras_models / NOTOP).read_bytes() == b"truncated"


def test_damaged_cached_copy_is_downloaded_again(server, cache):
    source = serve_weights(server)
    weights.pin_hash(NOTOP, sha256(server.root / NOTOP))
    cache.mkdir(parents=True)
    (cache / NOTOP).write_bytes(b"truncated")
    model = small(weights="imagenet")
    assert_same_weights(source.get_weights(), model)
    assert sha256(cache / NOTOP) == sha256(server.root / NOTOP)


def test_damaged_cached_copy_stays_when_the_new_download_is_wrong(server, cache):
    (server.root / NOTOP).write_bytes(b"also wrong")
    weights.pin_hash(NOTOP, "1" * 64)
    cache.mkdir(parents=True)
    (cache / NOTOP).write_bytes(b"truncated")
    with pytest.raises(weights.ChecksumError):
        weights.get_file(NOTOP, "https://example.invalid/" + NOTOP)
    assert sorted(p.name for p in cache.iterdir()) == [NOTOP]
    assert (cache / NOTOP).read_bytes() == b"truncated"


def test_offline_error_names_the_url_the_file_and_the_folder(cache):
    with pytest.raises(weights.DownloadError) as error:
        small(weights="imagenet")
    message = str(error.value)
    assert f"http://127.0.0.1:1/{NOTOP}" in message
    assert NOTOP in message and f"folder {cache}" in message
    assert "weights=<path" in message
    assert not cache.exists() or list(cache.iterdir()) == []


def test_canonical_url_is_used_without_an_override(cache, monkeypatch):
    monkeypatch.delenv(weights.BASE_URL_ENV)
    asked = []

    def offline(url, timeout):
        asked.append(url)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(weights.DownloadError, match="no network"):
        applications.ResNet50(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    assert asked == [
        "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    ]


def test_base_url_argument(server, cache):
    (server.root / "file.bin").write_bytes(b"data")
    path = weights.get_file("file.bin", "https://example.invalid/file.bin", base_url=server.url)
    assert path == cache / "file.bin" and path.read_bytes() == b"data"


def test_pin_must_be_a_hash():
    with pytest.raises(ValueError, match="SHA-256"):
        weights.pin_hash("x.h5", "abc")


# --------------------------------------------------------------------- loading files
def test_weights_path_loads_a_file(tmp_path):
    source = small(weights=None)
    source.set_weights(lively_weights(source, seed=5))
    path = tmp_path / "weights.h5"
    write_h5(source, path)
    model = small(weights=str(path))
    assert_same_weights(source.get_weights(), model)


def test_shape_mismatch_names_the_first_weight_and_changes_nothing(tmp_path):
    other = small(weights=None, alpha=0.5)
    path = tmp_path / "alpha_0.5.h5"
    write_h5(other, path)
    model = small(weights=None)
    before = all_weights(model)
    # The first weight, in layer order, whose shape differs between the two widths.
    first = next(
        (layer.name, i)
        for layer, theirs in zip(model.layers, other.layers, strict=True)
        for i, (a, b) in enumerate(zip(layer.get_weights(), theirs.get_weights(), strict=True))
        if a.shape != b.shape
    )
    with pytest.raises(ModelFileError) as error:
        weights.load_weights(model, path)
    message = str(error.value)
    assert str(path) in message
    assert f"weight {first[1]} of layer '{first[0]}'" in message
    assert f"{first[0]}/{first[0]}/" in message  # the file's entry for it
    assert_same_weights(before, model)
    with pytest.raises(ModelFileError, match=first[0]):
        small(weights=str(path))


def test_late_mismatch_changes_no_earlier_weight(tmp_path):
    source = small(weights=None)
    source.set_weights(lively_weights(source, seed=7))

    def shrink_last_bn(layer_name, entries):
        if layer_name != "Conv_1_bn":
            return entries
        return [(entries[0][0], entries[0][1][:-1]), *entries[1:]]

    path = tmp_path / "late.h5"
    write_h5(source, path, edit=shrink_last_bn)
    model = small(weights=None)
    before = all_weights(model)
    with pytest.raises(ModelFileError, match=r"Conv_1_bn/Conv_1_bn/gamma:0.*\(1279,\)"):
        weights.load_weights(model, path)
    assert_same_weights(before, model)


def test_weight_count_mismatch(tmp_path):
    model = small(weights=None)

    def drop_variance(layer_name, entries):
        return entries[:3] if layer_name == "bn_Conv1" else entries

    path = tmp_path / "count.h5"
    write_h5(model, path, edit=drop_variance)
    before = all_weights(model)
    with pytest.raises(ModelFileError, match=r"bn_Conv1.*3 weight\(s\).*has 4"):
        weights.load_weights(model, path)
    assert_same_weights(before, model)


def test_missing_layer_is_an_error_and_extra_layers_are_ignored(tmp_path):
    headless = small(weights=None)
    headless.set_weights(lively_weights(headless, seed=9))
    notop = tmp_path / "notop.h5"
    write_h5(headless, notop)
    with pytest.raises(ModelFileError, match="no weights for layer 'predictions'"):
        small(weights=str(notop), include_top=True, classes=10)

    full = small(weights=None, include_top=True, classes=10)
    full.set_weights(lively_weights(full, seed=11))
    top = tmp_path / "top.h5"
    write_h5(full, top)
    model = small(weights=str(top))  # the classifier in the file is ignored
    assert_same_weights(full.get_weights()[: len(model.get_weights())], model)


def test_not_an_hdf5_file(tmp_path):
    path = tmp_path / "weights.h5"
    path.write_text("hello")
    with pytest.raises(ModelFileError, match="cannot be read as an HDF5 file"):
        small(weights=str(path))
    with h5py.File(tmp_path / "empty.h5", "w"):
        pass
    with pytest.raises(ModelFileError, match="not a Keras .h5 weights file"):
        small(weights=str(tmp_path / "empty.h5"))


def test_weights_argument_must_be_none_imagenet_or_a_file(tmp_path):
    with pytest.raises(ValueError, match="weights=.*missing.h5"):
        small(weights=str(tmp_path / "missing.h5"))


def test_automatic_names_match_across_processes(tmp_path):
    """`normalization` in a file fits `normalization_1` here (EfficientNet's input layer)."""

    def tiny():
        inputs = convolve.Input((4,))
        x = Normalization()(inputs)
        return convolve.Model(inputs, convolve.layers.Dense(2, name="out")(x))

    reset_names()
    saved, model = tiny(), tiny()
    assert [layer.name for layer in model.layers][1] == "normalization_1"
    saved.layers[1].set_weights([np.arange(4.0), np.full(4, 2.0), np.array(0)])
    path = tmp_path / "tiny.h5"
    write_h5(saved, path)
    weights.load_weights(model, path)
    assert_same_weights(saved.get_weights(), model)


def _keras_pair_with_weights():
    keras_model, model = build_pair(
        "MobileNetV2", alpha=0.35, include_top=True, input_shape=(32, 32, 3), classes=7
    )
    keras_model.set_weights(lively_weights(model, seed=13))
    return keras_model, model


@pytest.mark.parity
def test_keras_written_file_loads_and_predicts_the_same(tmp_path):
    from keras.src.legacy.saving import legacy_h5_format

    keras_model, model = _keras_pair_with_weights()
    path = tmp_path / "keras.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, keras_model)
    weights.load_weights(model, path)
    x = images((2, 32, 32, 3))
    expected = keras_outputs(keras_model, x)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parity
def test_keras_reads_the_files_these_tests_write(tmp_path):
    """The files the other tests write have the layout of Keras's own."""
    keras_model, model = _keras_pair_with_weights()
    model.set_weights(keras_model.get_weights())
    path = tmp_path / "convolve.h5"
    write_h5(model, path)
    keras.backend.clear_session()
    again = keras.applications.MobileNetV2(
        alpha=0.35, include_top=True, weights=None, input_shape=(32, 32, 3), classes=7
    )
    again.load_weights(str(path))
    x = images((2, 32, 32, 3))
    np.testing.assert_allclose(keras_outputs(again, x), keras_outputs(keras_model, x), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parity
def test_efficientnet_imagenet_variant_matches_keras(server, cache, monkeypatch):
    """With ImageNet weights EfficientNet gains a Rescaling layer after its Normalization,
    whose statistics come from the file; Keras reads the same (locally made) file."""
    from keras.src.applications import efficientnet as keras_efficientnet

    fname = "efficientnetb0_notop.h5"
    kwargs = {"include_top": False, "input_shape": (32, 32, 3)}
    source = applications.EfficientNetB0(weights=None, **kwargs)
    values = lively_weights(source, seed=17)
    values[:3] = [np.array([120.0, 115.0, 100.0]), np.array([3600.0, 3500.0, 3300.0]), 0]
    source.set_weights(values)
    write_h5(source, server.root / fname)
    weights.pin_hash(fname, sha256(server.root / fname))
    monkeypatch.setattr(
        keras_efficientnet.file_utils, "get_file", lambda *a, **k: str(server.root / fname)
    )
    keras.backend.clear_session()
    reset_names()
    keras_model = keras.applications.EfficientNetB0(weights="imagenet", **kwargs)
    reset_names()
    model = applications.EfficientNetB0(weights="imagenet", **kwargs)
    assert [layer.name for layer in model.layers] == [layer.name for layer in keras_model.layers]
    assert [layer.name for layer in model.layers][1:4] == [
        "rescaling",
        "normalization",
        "rescaling_1",
    ]
    assert model.count_params() == keras_model.count_params()
    x = images((2, 32, 32, 3), low=0.0, high=255.0)
    expected = keras_outputs(keras_model, x)
    assert np.abs(expected).max() > 1e-2
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-4, rtol=1e-4)


def test_keras3_weights_files_go_to_the_model_loader(tmp_path):
    path = str(tmp_path / "model.weights.h5")

    class WithLoader:
        layers = []
        loaded = None

        def load_weights(self, filepath):
            self.loaded = filepath

    model = WithLoader()
    weights.load_weights(model, path)
    assert model.loaded == path

    class WithoutLoader:
        layers = []

    with pytest.raises(ModelFileError, match="Keras 3 '.weights.h5' file"):
        weights.load_weights(WithoutLoader(), path)
