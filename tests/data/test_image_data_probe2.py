"""Image-tutorial programs run with Keras and with convolve: folders of images, image files,
and the label and split utilities.

Each test runs the same calls through `keras.utils` (TensorFlow's decoding and resizing
behind Keras's `image_dataset_from_directory`) and `convolve.utils`, and compares what they
print and return. Pixel tolerance: 2e-3 of 255 (float32 rounding in the resize kernels;
"nearest" and "bilinear" are exact). Known, deliberate differences are asserted as such:
"nearest" batches are float32 here (uint8 in Keras), and a file that cannot be decoded is
skipped with a warning here where Keras's pipeline stops with an error.
"""

from __future__ import annotations

import os
import random
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
from PIL import Image

import convolve
from convolve.data import BadImageError, BadImageWarning

pytestmark = pytest.mark.parity

PIXEL_ATOL = 2e-3


def _smooth(h: int, w: int, phase: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 127 + 100 * np.sin(xx / 7.0 + yy / 11.0 + phase)
    g = 127 + 100 * np.cos(yy / 5.0 - phase)
    b = 127 + 80 * np.sin((xx - yy) / 9.0 + 2 * phase)
    return np.stack([r, g, b], axis=-1).clip(0, 255).astype(np.uint8)


def _save(path: Path, pixels: np.ndarray, fmt: str = "PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format=fmt)


def _pet_image(root: Path, cls: str, c: int, i: int, kinds: tuple[int, ...]) -> None:
    """One image of class `cls`: JPEG, RGB PNG, greyscale PNG or RGBA PNG by turn, of one
    of five sizes, two of each class two folders deep."""
    h, w = [(30, 40), (50, 20), (33, 33), (64, 48), (17, 29)][(i + c) % 5]
    pixels = _smooth(h, w, c + i / 5)
    folder = root / cls if i < 5 else root / cls / "nested" / "deeper"
    kind = kinds[(i + c) % len(kinds)]
    if kind == 0:
        _save(folder / f"{cls}_{i}.jpg", pixels, "JPEG")
    elif kind == 1:
        _save(folder / f"{cls}_{i}.png", pixels)
    elif kind == 2:
        _save(folder / f"{cls}_{i}.png", pixels.mean(-1).astype(np.uint8))
    else:
        alpha = np.broadcast_to((np.arange(w) * 5 % 256).astype(np.uint8), (h, w))[..., None]
        _save(folder / f"{cls}_{i}.png", np.concatenate([pixels, alpha], -1))


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """pets/ (3 classes, mixed formats, modes, sizes, nested, a .txt file), pets_png/
    (PNG only, for RGBA), binary/, corrupt/, empty/, links/ (a class that is a link)."""
    root = tmp_path_factory.mktemp("probe2")
    for c, cls in enumerate(["cats", "dogs", "birds"]):
        for i in range(7):
            _pet_image(root / "pets", cls, c, i, (0, 1, 2, 3))
            _pet_image(root / "pets_png", cls, c, i, (1, 2, 3))
    (root / "pets" / "cats" / "notes.txt").write_text("not an image")
    for c, cls in enumerate(["neg", "pos"]):
        for i in range(6):
            _save(root / "binary" / cls / f"{i}.png", _smooth(20 + i, 24, c + i / 3))
    for c, cls in enumerate(["a", "b"]):
        for i in range(3):
            _save(root / "corrupt" / cls / f"{i}.jpg", _smooth(16, 16, c + i), "JPEG")
    (root / "corrupt" / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    (root / "empty" / "cls").mkdir(parents=True)
    _save(root / "links" / "x" / "0.png", _smooth(10, 10, 0))
    for i in (1, 2):
        _save(root / "outside" / "more" / f"{i}.png", _smooth(10, 12, i))
    os.symlink(root / "outside", root / "links" / "y")
    _save(root / "single_rgb.jpg", _smooth(37, 53, 0.3), "JPEG")
    rgba = np.concatenate([_smooth(21, 30, 1), np.full((21, 30, 1), 128, np.uint8)], -1)
    _save(root / "single_rgba.png", rgba)
    _save(root / "single_gray.png", _smooth(25, 19, 2)[..., 0])
    return root


def _np(t) -> np.ndarray:
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


def _both(capsys, directory, **kwargs):
    """Keras's dataset, its printed lines, then convolve's, from the same call."""
    theirs = keras.utils.image_dataset_from_directory(str(directory), **kwargs)
    their_out = capsys.readouterr().out
    ours = convolve.utils.image_dataset_from_directory(directory, num_workers=0, **kwargs)
    return theirs, their_out, ours, capsys.readouterr().out


def _elements(dataset) -> list[list[np.ndarray]]:
    return [[_np(p) for p in (e if isinstance(e, tuple) else (e,))] for e in dataset]


def _assert_same_elements(ours, theirs, exact_dtype: bool = True) -> None:
    a, b = _elements(ours), _elements(theirs)
    assert len(a) == len(b)
    for ea, eb in zip(a, b, strict=True):
        assert [x.shape for x in ea] == [x.shape for x in eb]
        if exact_dtype:
            assert [x.dtype for x in ea] == [x.dtype for x in eb]
        for x, y in zip(ea, eb, strict=True):
            np.testing.assert_allclose(x.astype(np.float32), y, rtol=0, atol=PIXEL_ATOL)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"label_mode": "categorical", "batch_size": 5},
        {"label_mode": None},
        {"labels": None, "batch_size": 4},
        {"labels": [i % 3 for i in range(21)], "batch_size": 7},
        {"labels": [i % 2 for i in range(21)], "label_mode": "categorical"},
        {"class_names": ["dogs", "cats", "birds"], "batch_size": 6},
        {"class_names": ["dogs", "cats"]},
        {"batch_size": None, "label_mode": "categorical"},
        {"image_size": 7, "batch_size": 3},
        {"color_mode": "grayscale", "image_size": (9, 13)},
    ],
)
def test_unshuffled_batches_labels_and_messages_match(tree, capsys, kwargs):
    kwargs = {"image_size": (16, 12), "shuffle": False, **kwargs}
    theirs, their_out, ours, our_out = _both(capsys, tree / "pets", **kwargs)
    assert our_out == their_out
    assert ours.class_names == theirs.class_names
    assert ours.file_paths == theirs.file_paths
    _assert_same_elements(ours, theirs)


def test_binary_labels_match(tree, capsys):
    theirs, their_out, ours, our_out = _both(
        capsys, tree / "binary", label_mode="binary", image_size=(8, 8), batch_size=5,
        shuffle=False,
    )  # fmt: skip
    assert our_out == their_out == "Found 12 files belonging to 2 classes.\n"
    _assert_same_elements(ours, theirs)


@pytest.mark.parametrize("color_mode", ["grayscale", "rgb", "rgba"])
@pytest.mark.parametrize(
    "interpolation",
    ["bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic"],
)
def test_pixels_match_for_each_color_mode_and_interpolation(
    tree, capsys, color_mode, interpolation
):
    # Keras cannot decode a JPEG as RGBA ("JPEG does not support 4 channels"): PNGs there.
    folder = tree / ("pets_png" if color_mode == "rgba" else "pets")
    theirs, _, ours, _ = _both(
        capsys, folder, color_mode=color_mode, interpolation=interpolation,
        image_size=(20, 24), shuffle=False, verbose=False,
    )  # fmt: skip
    # Keras keeps "nearest" results uint8; convolve yields float32 for every interpolation.
    _assert_same_elements(ours, theirs, exact_dtype=interpolation != "nearest")
    x = next(iter(ours))[0]
    assert x.dtype == torch.float32


@pytest.mark.parametrize("aspect", ["crop_to_aspect_ratio", "pad_to_aspect_ratio"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("color_mode", ["rgb", "grayscale"])
def test_crop_and_pad_to_aspect_ratio_match(tree, capsys, aspect, interpolation, color_mode):
    theirs, _, ours, _ = _both(
        capsys, tree / "pets", image_size=(16, 30), interpolation=interpolation,
        color_mode=color_mode, shuffle=False, verbose=False, **{aspect: True},
    )  # fmt: skip
    _assert_same_elements(ours, theirs, exact_dtype=interpolation != "nearest")


@pytest.mark.parametrize("verbose", [True, False])
@pytest.mark.parametrize(
    ("split", "subset", "seed"),
    [(0.2, "training", 1337), (0.2, "validation", 1337), (0.3, "both", 7), (0.5, "both", 0)],
)
def test_validation_split_files_counts_and_messages_match(
    tree, capsys, split, subset, seed, verbose
):
    theirs, their_out, ours, our_out = _both(
        capsys, tree / "pets", validation_split=split, subset=subset, seed=seed,
        image_size=(8, 8), batch_size=4, verbose=verbose,
    )  # fmt: skip
    # Keras prints the "Using K files" lines of subset="both" even with verbose=False.
    assert our_out == their_out
    if subset != "both":
        theirs, ours = [theirs], [ours]
    assert isinstance(ours, list) == isinstance(theirs, list)
    for a, b in zip(ours, theirs, strict=True):
        assert a.class_names == b.class_names
        assert a.file_paths == b.file_paths
        assert len(a) == len(b)
        labels_a = sorted(int(v) for _, y in a for v in _np(y))
        labels_b = sorted(int(v) for _, y in b for v in _np(y))
        assert labels_a == labels_b


def test_seeded_shuffle_lists_the_same_files(tree, capsys):
    theirs, _, ours, _ = _both(capsys, tree / "pets", seed=3, image_size=(8, 8), batch_size=4)
    assert ours.file_paths == theirs.file_paths
    assert sorted(ours.file_paths) == sorted(theirs.file_paths)
    per_pass = [sorted(int(v) for _, y in ours for v in _np(y)) for _ in range(2)]
    assert per_pass[0] == per_pass[1] == sorted(int(v) for _, y in theirs for v in _np(y))


@pytest.mark.parametrize("follow_links", [False, True])
def test_follow_links_and_a_linked_class_folder(tree, capsys, follow_links):
    theirs, their_out, ours, our_out = _both(
        capsys, tree / "links", follow_links=follow_links, image_size=(8, 8), shuffle=False
    )
    assert our_out == their_out
    assert (ours.class_names, ours.file_paths) == (theirs.class_names, theirs.file_paths)
    _assert_same_elements(ours, theirs)


def _shapes_and_labels(dataset) -> list:
    out = []
    for element in dataset:
        parts = element if isinstance(element, tuple) else (element,)
        out.append([(_np(p).shape, _np(p).round(3).tolist() if _np(p).ndim <= 1 else None)
                    for p in parts])  # fmt: skip
    return out


def test_tutorial_dataset_methods_match(tree, capsys):
    theirs, _, ours, _ = _both(capsys, tree / "pets", image_size=(16, 16), batch_size=5,
                               shuffle=False)  # fmt: skip
    pipelines = {
        "take": lambda d: d.take(2),
        "skip": lambda d: d.skip(3),
        "map": lambda d: d.map(lambda x, y: (x / 255.0, y)),
        "map one": lambda d: d.map(lambda x, y: x),
        "cache prefetch": lambda d: d.cache().prefetch(2),
        "unbatch": lambda d: d.unbatch(),
        "rebatch": lambda d: d.unbatch().batch(8),
        "drop remainder": lambda d: d.unbatch().batch(8, drop_remainder=True),
        "filter": lambda d: d.unbatch().filter(lambda x, y: y == 1).batch(3),
        "repeat": lambda d: d.repeat(2),
    }
    for name, make in pipelines.items():
        assert _shapes_and_labels(make(ours)) == _shapes_and_labels(make(theirs)), name
    cached = ours.cache()
    assert _shapes_and_labels(cached) == _shapes_and_labels(cached) == _shapes_and_labels(theirs)
    assert len(ours) == len(theirs) == int(theirs.cardinality())
    for images, labels in ours.take(1):  # the tutorials' plotting loop
        theirs_images, theirs_labels = next(iter(theirs))
        for i in range(3):
            assert images[i].numpy().astype("uint8").shape == (16, 16, 3)
            assert int(labels[i]) == int(theirs_labels[i])
            np.testing.assert_array_equal(
                images[i].numpy().astype("uint8"), theirs_images[i].numpy().astype("uint8")
            )
    ours_np = next(ours.as_numpy_iterator())
    assert [a.shape for a in ours_np] == [a.shape for a in next(theirs.as_numpy_iterator())]


def _raised(fn) -> BaseException:
    with pytest.raises(Exception) as info:
        fn()
    return info.value


@pytest.mark.parametrize(
    ("folder", "kwargs"),
    [
        ("nope", {}),
        ("empty", {}),
        ("pets", {"validation_split": 0.2}),
        ("pets", {"subset": "training"}),
        ("pets", {"color_mode": "bgr"}),
        ("pets", {"label_mode": "sparse"}),
        ("pets", {"labels": "auto"}),
        ("pets", {"labels": [0, 1]}),
        ("pets", {"label_mode": "binary"}),
        ("pets", {"validation_split": 0.2, "subset": "test", "seed": 1}),
        ("pets", {"validation_split": 0.2, "subset": "training"}),
        ("pets", {"validation_split": 1.5, "subset": "training", "seed": 1}),
        ("pets", {"crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True}),
        ("pets", {"interpolation": "cubic"}),
        ("pets", {"class_names": ["cats", "cows"]}),
        ("pets", {"labels": [0] * 21, "class_names": ["a"]}),
    ],
)
def test_bad_arguments_raise_what_keras_raises(tree, capsys, folder, kwargs):
    theirs = _raised(lambda: keras.utils.image_dataset_from_directory(str(tree / folder), **kwargs))
    ours = _raised(lambda: convolve.utils.image_dataset_from_directory(tree / folder, **kwargs))
    capsys.readouterr()
    assert isinstance(ours, type(theirs))
    # One clear message naming the argument (or the folder) it is about.
    named = [k for k in kwargs if k in str(ours)] or [str(tree / folder)]
    assert any(n in str(ours) for n in named), str(ours)


def test_a_corrupt_file_is_reported_never_lost_silently(tree, capsys):
    corrupt = tree / "corrupt"
    theirs = keras.utils.image_dataset_from_directory(
        str(corrupt), image_size=(8, 8), batch_size=3, shuffle=False
    )
    with pytest.raises(tf.errors.InvalidArgumentError):
        list(theirs)
    ours = convolve.utils.image_dataset_from_directory(
        corrupt, image_size=(8, 8), batch_size=3, shuffle=False, num_workers=0
    )
    assert capsys.readouterr().out == "Found 7 files belonging to 2 classes.\n" * 2
    assert ours.file_paths == list(theirs.file_paths)
    broken = str(corrupt / "a" / "broken.jpg")
    with pytest.warns(BadImageWarning, match="broken.jpg"):
        labels = [_np(y).tolist() for _, y in ours]
    assert labels == [[0, 0, 0], [1, 1], [1]]  # the broken file (label 0) left its batch
    assert list(ours.skipped_files) == [broken]
    strict = convolve.utils.image_dataset_from_directory(
        corrupt, image_size=(8, 8), shuffle=False, num_workers=0, on_error="raise", verbose=False
    )
    with pytest.raises(BadImageError, match="broken.jpg") as info:
        list(strict)
    assert isinstance(info.value, OSError)


LOAD_KWARGS = [
    {},
    {"color_mode": "grayscale"},
    {"color_mode": "rgba"},
    {"target_size": (15, 20)},
    {"target_size": (15, 20), "interpolation": "bilinear"},
    {"target_size": (15, 20), "interpolation": "bicubic"},
    {"target_size": (15, 20), "keep_aspect_ratio": True},
    {"target_size": (40, 10), "keep_aspect_ratio": True, "interpolation": "lanczos"},
    {"color_mode": "grayscale", "target_size": (9, 9), "interpolation": "box"},
    {"target_size": (9, 9), "interpolation": "hamming"},
]


@pytest.mark.parametrize("name", ["single_rgb.jpg", "single_rgba.png", "single_gray.png"])
def test_load_img_and_img_to_array_match(tree, name):
    for kwargs in LOAD_KWARGS:
        theirs = keras.utils.load_img(str(tree / name), **kwargs)
        ours = convolve.utils.load_img(tree / name, **kwargs)
        assert (ours.mode, ours.size) == (theirs.mode, theirs.size), kwargs
        for fmt in ("channels_last", "channels_first"):
            a = convolve.utils.img_to_array(ours, data_format=fmt)
            b = keras.utils.img_to_array(theirs, data_format=fmt)
            assert (a.shape, a.dtype) == (b.shape, b.dtype)
            np.testing.assert_array_equal(a, b)
    a = convolve.utils.img_to_array(convolve.utils.load_img(tree / name), dtype="uint8")
    b = keras.utils.img_to_array(keras.utils.load_img(str(tree / name)), dtype="uint8")
    assert a.dtype == b.dtype == np.uint8
    np.testing.assert_array_equal(a, b)


def test_load_img_errors_are_the_kinds_keras_raises(tree):
    for path, kwargs in [
        (tree / "nope.png", {}),
        (tree / "corrupt" / "a" / "broken.jpg", {}),
        (tree / "pets" / "cats" / "notes.txt", {}),
        (tree / "single_rgb.jpg", {"color_mode": "cmyk"}),
        (tree / "single_rgb.jpg", {"interpolation": "foo", "target_size": (3, 3)}),
    ]:
        theirs = _raised(lambda: keras.utils.load_img(str(path), **kwargs))  # noqa: B023
        ours = _raised(lambda: convolve.utils.load_img(path, **kwargs))  # noqa: B023
        # PIL's UnidentifiedImageError is an OSError; convolve's error is one too.
        expected = OSError if isinstance(theirs, OSError) else type(theirs)
        assert isinstance(ours, expected), (path, kwargs, ours)


@pytest.mark.parametrize("shape", [(5, 6, 3), (5, 6, 1), (5, 6, 4), (3, 5, 6), (4, 4), (4, 4, 2)])
@pytest.mark.parametrize(
    "kwargs", [{}, {"scale": False}, {"data_format": "channels_first"}, {"dtype": "float64"}]
)
def test_array_to_img_round_trip_matches(shape, kwargs):
    x = np.random.default_rng(0).uniform(-2, 3, size=shape).astype("float32")
    if kwargs.get("scale") is False:
        x = x * 40 + 50

    def run(lib):
        try:
            img = lib.utils.array_to_img(x, **kwargs)
        except ValueError as e:
            return type(e)
        back = {k: v for k, v in kwargs.items() if k != "scale"}
        return img.mode, img.size, lib.utils.img_to_array(img, **back)

    ours, theirs = run(convolve), run(keras)
    if isinstance(theirs, type):
        assert ours is theirs
        return
    assert ours[:2] == theirs[:2]
    np.testing.assert_array_equal(ours[2], theirs[2])


@pytest.mark.parametrize(
    ("ext", "channels", "kwargs"),
    [("png", 3, {}), ("jpg", 3, {}), ("png", 3, {"scale": False}),
     ("jpeg", 3, {"file_format": "jpeg"}), ("png", 1, {}), ("png", 4, {})],
)  # fmt: skip
def test_save_img_writes_what_keras_writes(tmp_path, ext, channels, kwargs):
    x = np.random.default_rng(1).uniform(0, 255, size=(7, 9, channels)).astype("float32")
    keras.utils.save_img(str(tmp_path / f"k.{ext}"), x, **kwargs)
    convolve.utils.save_img(tmp_path / f"c.{ext}", x, **kwargs)
    with Image.open(tmp_path / f"k.{ext}") as theirs, Image.open(tmp_path / f"c.{ext}") as ours:
        assert (ours.mode, ours.size, ours.format) == (theirs.mode, theirs.size, theirs.format)
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_to_categorical_matches_and_rejects_out_of_range_classes():
    y = np.array([0, 2, 1, 2, 0])
    for args in [(y,), (y, 5), (y.reshape(-1, 1),), (np.array([[0, 1], [2, 0]]), 3),
                 ([1, 0, 3],), (np.array([0, 1.0, 2.0]),)]:  # fmt: skip
        ours, theirs = convolve.utils.to_categorical(*args), keras.utils.to_categorical(*args)
        assert (ours.shape, ours.dtype) == (theirs.shape, theirs.dtype)
        np.testing.assert_array_equal(ours, theirs)
    # Keras raises IndexError above the range and wraps -1 round to the last class.
    assert isinstance(_raised(lambda: keras.utils.to_categorical([0, 5], 3)), IndexError)
    for bad in ([0, 5], [-1, 1]):
        error = _raised(lambda: convolve.utils.to_categorical(bad, 3))  # noqa: B023
        assert isinstance(error, IndexError) and "num_classes=3" in str(error)


def test_normalize_matches_for_arrays_lists_and_tensors():
    x = np.arange(12, dtype="float32").reshape(3, 4) - 5
    for kwargs in [{}, {"order": 1}, {"order": 3}]:
        np.testing.assert_allclose(
            convolve.utils.normalize(x, **kwargs), keras.utils.normalize(x, **kwargs), rtol=1e-6
        )
    for value in ([[3.0, 4.0]], [[3, 4]], [[0.0, 0.0]], (1.0, 2.0), 5.0, torch.tensor([[3, 4]])):
        ours, theirs = convolve.utils.normalize(value), keras.utils.normalize(value)
        assert isinstance(ours, torch.Tensor) and ours.dtype == theirs.dtype, value
        np.testing.assert_allclose(ours.numpy(), theirs.cpu().numpy(), rtol=1e-6)


def test_split_dataset_of_a_dataset_draws_keras_tf_data_permutation():
    xs, ys = np.arange(20).reshape(10, 2), np.arange(10)
    for seed, batch in [(1, None), (3, None), (3, 3), (42, 4)]:
        their_source = tf.data.Dataset.from_tensor_slices((xs, ys))
        our_source = convolve.data.Dataset.from_tensor_slices((xs, ys))
        if batch:
            their_source, our_source = their_source.batch(batch), our_source.batch(batch)
        theirs = keras.utils.split_dataset(their_source, left_size=0.6, shuffle=True, seed=seed)
        ours = convolve.utils.split_dataset(our_source, left_size=0.6, shuffle=True, seed=seed)
        for a, b in zip(ours, theirs, strict=True):
            assert _shapes_and_labels(a) == _shapes_and_labels(b), (seed, batch)
    random.seed(5)  # without a seed Keras draws one from Python's generator
    theirs = keras.utils.split_dataset(tf.data.Dataset.from_tensor_slices(ys), 0.5, shuffle=True)
    random.seed(5)
    our_source = convolve.data.Dataset.from_tensor_slices(ys)
    ours = convolve.utils.split_dataset(our_source, 0.5, shuffle=True)
    assert _shapes_and_labels(ours[0]) == _shapes_and_labels(theirs[0])


def test_split_dataset_of_an_unbatched_image_dataset_matches(tree, capsys):
    theirs, _, ours, _ = _both(capsys, tree / "pets", image_size=(8, 8), batch_size=None,
                               shuffle=False, verbose=False)  # fmt: skip
    for shuffle, seed in [(True, 1), (False, None)]:
        a = convolve.utils.split_dataset(ours, left_size=0.8, shuffle=shuffle, seed=seed)
        b = keras.utils.split_dataset(theirs, left_size=0.8, shuffle=shuffle, seed=seed)
        for part_a, part_b in zip(a, b, strict=True):
            _assert_same_elements(part_a, part_b)


def test_image_classification_from_scratch_flow(tree, capsys):
    """The keras.io tutorial's data path, as one program in both libraries."""

    def program(lib):
        train_ds, val_ds = lib.utils.image_dataset_from_directory(
            str(tree / "pets"), validation_split=0.2, subset="both", seed=1337,
            image_size=(24, 24), batch_size=4,
        )  # fmt: skip
        flip = lib.layers.RandomFlip("horizontal")
        train_ds = train_ds.map(lambda img, label: (flip(img), label)).prefetch(2)
        val_ds = val_ds.prefetch(2)
        images, labels = next(iter(train_ds.take(1)))
        model = lib.Sequential([
            lib.Input((24, 24, 3)), lib.layers.Rescaling(1 / 255),
            lib.layers.Conv2D(4, 3, activation="relu"), lib.layers.GlobalAveragePooling2D(),
            lib.layers.Dense(3),
        ])  # fmt: skip
        model.compile("adam", lib.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])  # fmt: skip
        history = model.fit(train_ds, epochs=2, validation_data=val_ds, verbose=0)
        img = lib.utils.load_img(str(tree / "single_rgb.jpg"), target_size=(24, 24))
        batch = lib.ops.expand_dims(lib.utils.img_to_array(img), 0)
        predictions = model.predict(val_ds, verbose=0), model.predict(batch, verbose=0)
        shapes = [tuple(images.shape), tuple(labels.shape)] + [tuple(p.shape) for p in predictions]
        return shapes, sorted(history.history)

    theirs = program(keras)
    their_out = capsys.readouterr().out
    with warnings.catch_warnings():
        warnings.simplefilter("error", BadImageWarning)
        ours = program(convolve)
    assert ours == theirs
    assert capsys.readouterr().out == their_out
