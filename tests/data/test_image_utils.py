"""Image, numerical and split utilities against Keras's (keras.utils on its torch backend)."""

from __future__ import annotations

import io
import os

import keras
import numpy as np
import pytest
import torch
from PIL import Image

from convolve import preprocessing, utils
from convolve.data import BadImageError, Dataset


@pytest.fixture
def files(tmp_path, smooth):
    rgb = smooth(37, 53)
    paths = {}
    for name, img in {
        "rgb.png": Image.fromarray(rgb),
        "gray.png": Image.fromarray(rgb[:, :, 0]),
        "rgba.png": Image.fromarray(np.dstack([rgb, rgb[:, :, 1]]), "RGBA"),
        "gray16.png": Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257),
        "photo.jpg": Image.fromarray(rgb),
    }.items():
        img.save(tmp_path / name)
        paths[name] = tmp_path / name
    return paths


def test_namespaces():
    for name in ("load_img", "img_to_array", "array_to_img", "save_img", "smart_resize"):
        assert getattr(utils, name) is getattr(preprocessing.image, name)
        assert getattr(preprocessing, name) is getattr(utils, name)
    for name in ("to_categorical", "normalize", "split_dataset"):
        assert callable(getattr(utils, name))


@pytest.mark.parity
@pytest.mark.parametrize("color_mode", ["rgb", "rgba", "grayscale"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"target_size": (20, 30)},
        {"target_size": (64, 16), "interpolation": "bilinear"},
        {"target_size": (25, 25), "interpolation": "lanczos", "keep_aspect_ratio": True},
        {"target_size": (10, 40), "interpolation": "box", "keep_aspect_ratio": True},
    ],
)
def test_load_img_matches_keras(files, color_mode, kwargs):
    for name, path in files.items():
        ours = utils.load_img(path, color_mode=color_mode, **kwargs)
        theirs = keras.utils.load_img(path, color_mode=color_mode, **kwargs)
        assert ours.mode == theirs.mode and ours.size == theirs.size, name
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
        np.testing.assert_array_equal(utils.img_to_array(ours), keras.utils.img_to_array(theirs))


def test_load_img_from_bytes_and_errors(files, tmp_path):
    data = io.BytesIO(files["rgb.png"].read_bytes())
    assert utils.load_img(data).size == (53, 37)
    (tmp_path / "bad.png").write_text("nope")
    with pytest.raises(BadImageError, match="bad.png"):
        utils.load_img(tmp_path / "bad.png")
    with pytest.raises(BadImageError, match="file not found"):
        utils.load_img(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="color_mode='cmyk'"):
        utils.load_img(files["rgb.png"], color_mode="cmyk")
    with pytest.raises(ValueError, match="interpolation='cubic'"):
        utils.load_img(files["rgb.png"], target_size=(3, 3), interpolation="cubic")


def test_load_img_applies_exif_orientation(tmp_path):
    stored = np.zeros((4, 10, 3), np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "r.png", exif=exif)
    assert utils.load_img(tmp_path / "r.png").size == (4, 10)


@pytest.mark.parity
@pytest.mark.parametrize("shape", [(6, 5, 3), (6, 5, 4), (6, 5, 1), (3, 6, 5)])
@pytest.mark.parametrize("scale", [True, False])
def test_array_to_img_and_back_match_keras(shape, scale):
    data_format = "channels_first" if shape[0] == 3 else "channels_last"
    x = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    ours = utils.array_to_img(x, data_format=data_format, scale=scale)
    theirs = keras.utils.array_to_img(x, data_format=data_format, scale=scale)
    assert ours.mode == theirs.mode
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    np.testing.assert_array_equal(
        utils.img_to_array(ours, data_format=data_format),
        keras.utils.img_to_array(theirs, data_format=data_format),
    )
    big = np.full((2, 2, 1), 1000.0)
    assert utils.array_to_img(big, scale=False).mode == "I"
    assert utils.array_to_img(torch.ones(2, 2, 3)).size == (2, 2)


def test_save_img_round_trip_is_atomic(tmp_path):
    x = np.random.default_rng(1).integers(0, 256, (8, 9, 3)).astype(np.float32)
    utils.save_img(tmp_path / "x.png", x, scale=False)
    np.testing.assert_array_equal(utils.img_to_array(utils.load_img(tmp_path / "x.png")), x)
    with pytest.warns(UserWarning, match="RGBA"):
        utils.save_img(tmp_path / "y.jpg", np.ones((4, 4, 4)))
    with pytest.raises(ValueError):
        utils.save_img(tmp_path / "z.png", np.ones((4, 4, 2)))
    assert sorted(os.listdir(tmp_path)) == ["x.png", "y.jpg"]  # no temporary file left
    buf = io.BytesIO()
    utils.save_img(buf, x, file_format="png")
    assert buf.getvalue().startswith(b"\x89PNG")


@pytest.mark.parity
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize(
    "shape, size, data_format",
    [
        ((40, 60, 3), (20, 20), "channels_last"),
        ((2, 33, 17, 3), (10, 12), "channels_last"),
        ((3, 33, 17), (16, 16), "channels_first"),
    ],
)
def test_smart_resize_matches_keras(shape, size, data_format, interpolation):
    x = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    ours = utils.smart_resize(x, size, interpolation=interpolation, data_format=data_format)
    theirs = keras.preprocessing.image.smart_resize(
        x, size, interpolation=interpolation, data_format=data_format
    )
    assert isinstance(ours, np.ndarray) and ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    u8 = x.astype(np.uint8)
    ours8 = utils.smart_resize(u8, size, interpolation=interpolation, data_format=data_format)
    theirs8 = keras.preprocessing.image.smart_resize(
        u8, size, interpolation=interpolation, data_format=data_format
    )
    assert ours8.dtype == np.asarray(theirs8).dtype
    assert np.abs(ours8.astype(int) - np.asarray(theirs8).astype(int)).max() <= 1
    tensor = utils.smart_resize(torch.from_numpy(x), size, data_format=data_format)
    assert isinstance(tensor, torch.Tensor)


@pytest.mark.parity
def test_to_categorical_and_normalize_match_keras():
    for labels, n in [
        ([0, 2, 1, 2], None),
        (np.array([[1], [0]]), 3),
        (np.arange(6).reshape(2, 3), 6),
    ]:  # noqa: E501
        ours = utils.to_categorical(labels, n)
        theirs = keras.utils.to_categorical(labels, n)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)
    t = utils.to_categorical(torch.tensor([1, 0]), 3)
    assert t.dtype == torch.float32 and t.tolist() == [[0, 1, 0], [1, 0, 0]]
    x = np.random.default_rng(0).normal(size=(4, 5))
    x[1] = 0
    np.testing.assert_allclose(np.linalg.norm(utils.normalize(x[[0, 2]], axis=0), axis=0), 1.0)
    for axis, order in [(-1, 2), (1, 2), (-1, 1)]:
        np.testing.assert_allclose(
            utils.normalize(x, axis, order), keras.utils.normalize(x, axis, order)
        )
        xt = torch.tensor(x, dtype=torch.float32)
        np.testing.assert_allclose(
            utils.normalize(xt, axis, order).numpy(),
            np.asarray(keras.utils.normalize(xt, axis, order).cpu()),
            rtol=1e-5,
            atol=1e-6,
        )


@pytest.mark.parity
def test_split_dataset_matches_keras_when_shuffled():
    x = np.arange(50, dtype=np.float32).reshape(25, 2)
    y = np.arange(25)
    left, right = utils.split_dataset((x, y), left_size=0.6, shuffle=True, seed=4)
    k_left, k_right = keras.utils.split_dataset((x, y), left_size=0.6, shuffle=True, seed=4)
    assert len(left) == len(k_left) == 15 and len(right) == len(k_right) == 10
    assert [int(b) for _, b in left] == [int(k_left[i][1]) for i in range(len(k_left))]
    assert [int(b) for _, b in right] == [int(k_right[i][1]) for i in range(len(k_right))]


def test_split_dataset_without_shuffle_and_for_datasets():
    left, right = utils.split_dataset(np.arange(10), left_size=3, right_size=2)
    assert [int(v) for v in left] == [0, 1, 2] and [int(v) for v in right] == [8, 9]
    batched = Dataset.from_tensor_slices((np.arange(10), np.arange(10))).batch(4)
    left, right = utils.split_dataset(batched, right_size=0.3)
    assert [tuple(x.shape) for x, _ in left] == [(4,), (3,)]
    assert torch.cat([x for x, _ in right]).tolist() == [7, 8, 9]
    with pytest.raises(ValueError, match="left_size"):
        utils.split_dataset(np.arange(10), left_size=1.5)
    with pytest.raises(ValueError, match="At least one"):
        utils.split_dataset(np.arange(10))
    with pytest.raises(TypeError):
        utils.split_dataset("abc", left_size=0.5)
