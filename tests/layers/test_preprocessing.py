"""Resizing, CenterCrop and Normalization against Keras (torch backend): values, dtypes,
shapes, weights, configs and argument errors."""

import itertools

import keras
import numpy as np
import pytest
import torch

from convolve import models
from convolve.layers import Input
from convolve.layers.core import Flatten
from convolve.layers.preprocessing import CenterCrop, Normalization, Resizing

RNG = np.random.default_rng(7)
PIXELS = RNG.uniform(0, 255, (3, 9, 14, 3)).astype("float32")  # odd and even sides
PIXELS_U8 = PIXELS.astype("uint8")
ATOL = 1e-4  # float32 on values in [0, 255]; both sides run the same torch kernels
STATS_RTOL = 1e-5  # adapted statistics: float64 here, float32 in Keras


def _numpy(x):
    return (
        x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else keras.ops.convert_to_numpy(x)
    )


def _assert_same(got, expected, atol=ATOL):
    got, expected = _numpy(got), _numpy(expected)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got.astype("float64"), expected.astype("float64"), atol=atol, rtol=0)


def _config_without_base(config):
    return {k: v for k, v in config.items() if k not in ("name", "dtype", "trainable")}


# --------------------------------------------------------------------- Resizing
SIZES = [(5, 7), (12, 20), (9, 14), (4, 13), (1, 1)]
MODES = [
    {},
    {"crop_to_aspect_ratio": True},
    {"pad_to_aspect_ratio": True, "fill_value": 3.0},
    {"antialias": True},
]


@pytest.mark.parity
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("kwargs", MODES, ids=["plain", "crop", "pad", "antialias"])
def test_resizing_matches_keras(interpolation, kwargs):
    for size in SIZES:
        ours = Resizing(*size, interpolation=interpolation, **kwargs)
        theirs = keras.layers.Resizing(*size, interpolation=interpolation, **kwargs)
        _assert_same(ours(PIXELS), theirs(PIXELS))


@pytest.mark.parity
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
def test_resizing_keeps_integer_images_as_keras_does(interpolation):
    ours = Resizing(5, 17, interpolation=interpolation)(PIXELS_U8)
    theirs = keras.layers.Resizing(5, 17, interpolation=interpolation)(PIXELS_U8)
    assert ours.dtype == torch.uint8
    _assert_same(ours, theirs, atol=0)


@pytest.mark.parity
def test_resizing_single_image_shape_and_config_match_keras():
    ours = Resizing(4, 6, crop_to_aspect_ratio=True)
    theirs = keras.layers.Resizing(4, 6, crop_to_aspect_ratio=True)
    _assert_same(ours(PIXELS[0]), theirs(PIXELS[0]))
    assert ours.compute_output_shape((None, 9, 14, 3)) == theirs.compute_output_shape(
        (None, 9, 14, 3)
    )
    assert _config_without_base(ours.get_config()) == _config_without_base(theirs.get_config())
    rebuilt = Resizing.from_config(ours.get_config())
    _assert_same(rebuilt(PIXELS), ours(PIXELS))


def test_resizing_reports_every_bad_argument_at_once():
    with pytest.raises(ValueError) as info:
        Resizing(
            0, 3, interpolation="lanczos3", crop_to_aspect_ratio=True, pad_to_aspect_ratio=True
        )
    message = str(info.value)
    assert message.startswith("Resizing: 3 invalid arguments")
    for fragment in ("height=0", "interpolation='lanczos3'", "pad_to_aspect_ratio=True"):
        assert fragment in message


def test_image_layers_name_the_layer_and_shape_for_bad_inputs():
    layer = Resizing(2, 2, name="resize_me")
    with pytest.raises(ValueError, match=r"resize_me.*\(None, 5\)"):
        layer(np.zeros((4, 5), "float32"))


# --------------------------------------------------------------------- CenterCrop
@pytest.mark.parity
@pytest.mark.parametrize("size", [(4, 4), (9, 14), (8, 13), (5, 20), (12, 12), (2, 30), (7, 3)])
@pytest.mark.parametrize("images", [PIXELS, PIXELS_U8], ids=["float32", "uint8"])
def test_center_crop_matches_keras(size, images):
    # Smaller targets crop; larger ones (in either side) crop to the aspect ratio and resize.
    ours, theirs = CenterCrop(*size), keras.layers.CenterCrop(*size)
    _assert_same(ours(images), theirs(images))
    assert ours.compute_output_shape((None, 9, 14, 3)) == theirs.compute_output_shape(
        (None, 9, 14, 3)
    )


@pytest.mark.parity
def test_center_crop_in_a_model_and_config():
    model = models.Sequential([Input((9, 14, 3)), CenterCrop(4, 6), Flatten()])
    assert model.output_shape == (None, 4 * 6 * 3)
    expected = keras.ops.convert_to_numpy(keras.layers.CenterCrop(4, 6)(PIXELS)).reshape(3, -1)
    np.testing.assert_allclose(model.predict(PIXELS, verbose=0), expected, atol=ATOL, rtol=0)
    assert _config_without_base(CenterCrop(4, 6).get_config()) == _config_without_base(
        keras.layers.CenterCrop(4, 6).get_config()
    )


# --------------------------------------------------------------------- Normalization
AXES = [-1, None, (1, 2), (2, 3), 2]


def _adapted_pair(axis, data, **kwargs):
    ours, theirs = Normalization(axis=axis, **kwargs), keras.layers.Normalization(axis, **kwargs)
    ours.adapt(data)
    theirs.adapt(data)
    return ours, theirs


def _assert_same_state(ours, theirs):
    got, expected = ours.get_weights(), theirs.get_weights()
    assert [w.shape for w in got] == [w.shape for w in expected]
    assert [w.dtype for w in got] == [w.dtype for w in expected]  # float32, float32, int32
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=STATS_RTOL, atol=1e-6)


@pytest.mark.parity
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("invert", [False, True])
def test_normalization_adapt_on_arrays_matches_keras(axis, invert):
    ours, theirs = _adapted_pair(axis, PIXELS, invert=invert)
    _assert_same_state(ours, theirs)
    x = RNG.normal(size=PIXELS.shape).astype("float32")
    np.testing.assert_allclose(_numpy(ours(x)), _numpy(theirs(x)), rtol=STATS_RTOL, atol=1e-4)


@pytest.mark.parity
@pytest.mark.parametrize("axis", AXES, ids=str)
def test_normalization_adapt_on_batches_matches_keras(axis):
    # Uneven batches exercise the running merge of batch statistics.
    batches = [PIXELS[:1], PIXELS[1:]]
    # Keras adapts on iterables only through tf.data; adapted on the whole array it gives
    # the statistics that merging the batches must reproduce.
    ours, theirs = Normalization(axis=axis), keras.layers.Normalization(axis)
    ours.adapt(batches)
    theirs.adapt(PIXELS)
    _assert_same_state(ours, theirs)
    # (x, y) tuples from a generator: only x counts, as in Keras.
    generated = Normalization(axis=axis)
    generated.adapt((x, np.zeros(len(x))) for x in batches)
    _assert_same_state(generated, theirs)
    tensor = Normalization(axis=axis)
    tensor.adapt(torch.as_tensor(PIXELS))
    _assert_same_state(tensor, theirs)


@pytest.mark.parity
def test_normalization_of_features_and_set_weights_from_keras():
    features = RNG.normal(3.0, 2.0, size=(50, 6)).astype("float32")
    ours, theirs = _adapted_pair(-1, features)
    _assert_same_state(ours, theirs)
    fresh = Normalization()
    fresh.build_for((None, 6))
    fresh.set_weights(theirs.get_weights())
    np.testing.assert_allclose(_numpy(fresh(features)), _numpy(theirs(features)), atol=1e-5)


@pytest.mark.parity
@pytest.mark.parametrize(
    "mean,variance,axis",
    [
        (2.0, 3.0, -1),
        ([1.0, 2.0, 3.0], [4.0, 5.0, 0.0], -1),
        (np.ones((14, 3)), np.full((14, 3), 2.0), (2, 3)),
        ([10.0] * 3, [4.0] * 3, (2, 3)),
    ],
)
@pytest.mark.parametrize("invert", [False, True])
def test_normalization_with_given_statistics_matches_keras(mean, variance, axis, invert):
    ours = Normalization(axis=axis, mean=mean, variance=variance, invert=invert)
    theirs = keras.layers.Normalization(axis=axis, mean=mean, variance=variance, invert=invert)
    _assert_same(ours(PIXELS), theirs(PIXELS), atol=1e-3)  # a zero variance divides by 1e-7
    assert ours.get_weights() == theirs.get_weights() == []
    assert _config_without_base(ours.get_config()) == _config_without_base(theirs.get_config())


@pytest.mark.parity
def test_normalization_weights_and_config_match_keras():
    ours, theirs = Normalization(axis=(1, 2)), keras.layers.Normalization(axis=(1, 2))
    ours.build_for((None, 9, 14, 3))
    theirs.build((None, 9, 14, 3))
    _assert_same_state(ours, theirs)
    assert [name for name in ours.state_dict()] == ["mean", "variance", "count"]
    assert ours.count_params() == theirs.count_params() == 9 * 14 * 2 + 1
    assert ours.trainable_weights == [] and len(ours.non_trainable_weights) == 3
    assert _config_without_base(ours.get_config()) == _config_without_base(theirs.get_config())


def test_normalization_in_a_model_after_adapt():
    norm = Normalization()
    norm.adapt(PIXELS)
    model = models.Sequential([Input((9, 14, 3)), norm])
    out = model.predict(PIXELS, verbose=0)
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1.0, atol=1e-4)


def test_normalization_argument_and_adapt_errors():
    with pytest.raises(ValueError, match="mean and variance must be given together"):
        Normalization(mean=1.0)
    with pytest.raises(ValueError, match=r"at most as many dimensions as axis has axes \(1\)"):
        Normalization(mean=np.ones((2, 3)), variance=np.ones((2, 3)))
    with pytest.raises(ValueError, match="2 invalid arguments"):
        Normalization(axis="last", invert="yes")
    with pytest.raises(ValueError, match="was given mean and variance"):
        Normalization(mean=1.0, variance=1.0).adapt(PIXELS)
    layer = Normalization()
    layer.adapt(PIXELS)
    with pytest.raises(ValueError, match=r"built for inputs of shape \(None, 9, 14, 3\)"):
        layer.adapt(np.zeros((2, 9, 14, 4), "float32"))
    with pytest.raises(ValueError, match="received no batches"):
        Normalization().adapt([])
    with pytest.raises(ValueError, match="must have known sizes"):
        Normalization(axis=0).adapt(PIXELS)
    # Given statistics align with the kept axes from the last one, as in Keras.
    with pytest.raises(ValueError, match=r"shape \(14,\) does not broadcast.*\(14, 3\)"):
        Normalization(axis=(2, 3), mean=[0.0] * 14, variance=[1.0] * 14)(PIXELS)


def test_normalization_adapt_slices_large_arrays_exactly():
    # Arrays are reduced in slices; the merged result equals one pass in float64.
    data = RNG.integers(0, 256, size=(700, 40, 40, 3)).astype("uint8")
    layer = Normalization()
    layer.adapt(data)
    as_float = data.astype("float64")
    np.testing.assert_allclose(layer.get_weights()[0], as_float.mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(layer.get_weights()[1], as_float.var(axis=(0, 1, 2)), rtol=1e-6)


@pytest.mark.parametrize("axis,ndim", list(itertools.product([-1, 1, (1, 2)], [3, 4])))
def test_normalization_axes_map_to_the_engine_layout(axis, ndim):
    # Per-index statistics must land on the right axis once the input is channels-first.
    shape = (2, 3, 4, 5)[:ndim]
    x = RNG.normal(size=shape).astype("float32")
    layer = Normalization(axis=axis)
    layer.adapt(x)
    keep = tuple(a % ndim for a in ((axis,) if isinstance(axis, int) else axis))
    reduce = tuple(d for d in range(ndim) if d not in keep)
    expected = (x - x.mean(axis=reduce, keepdims=True)) / x.std(axis=reduce, keepdims=True)
    np.testing.assert_allclose(_numpy(layer(x)), expected, atol=1e-4)
