"""Layers called inside `tf.data.Dataset.map`, as keras.io's image examples call them.

Keras 3 (torch backend) runs its preprocessing layers there with TensorFlow ops; convolve runs
its own layers on the values through `tf.py_function`. Compared with Keras: the datasets'
element specs (shapes and dtypes) exactly, and the values of the deterministic layers
(atol 1e-4 on 0..255 pixel values for resizing, where TensorFlow's and torch's bilinear
kernels round differently; 1e-6 elsewhere; lookups exactly).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch

import convolve

RNG = np.random.RandomState(0)
IMAGES = (RNG.rand(6, 20, 24, 3) * 255).astype("float32")
LABELS = np.arange(6) % 2


def mapped(make_layer, lib, data, batch: int | None = 3) -> tf.data.Dataset:
    layer = make_layer(lib)
    ds = tf.data.Dataset.from_tensor_slices(data)
    if batch:
        ds = ds.batch(batch)
    return ds.map(lambda x: layer(x))


def values(ds: tf.data.Dataset) -> list:
    return [tf.nest.map_structure(lambda t: t.numpy(), e) for e in ds]


def built_normalization(lib):
    layer = lib.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 9.0, 16.0])
    layer.build((None, 3))  # Keras's layer refuses a graph call before it is built
    return layer


DETERMINISTIC = {
    "rescaling": (lambda k: k.layers.Rescaling(1 / 127.5, offset=-1), 1e-6),
    "resizing": (lambda k: k.layers.Resizing(10, 12), 1e-4),
    "center_crop": (lambda k: k.layers.CenterCrop(12, 16), 1e-6),
    "normalization": (built_normalization, 1e-5),
}


@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
@pytest.mark.parametrize("batch", [3, None])
def test_deterministic_image_layers_match_keras_in_map(name, batch):
    make, atol = DETERMINISTIC[name]
    ours = mapped(make, convolve, IMAGES, batch)
    theirs = mapped(make, keras, IMAGES, batch)
    assert ours.element_spec == theirs.element_spec
    for a, b in zip(values(ours), values(theirs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=atol)


def test_unknown_image_sizes_keep_keras_spec():
    # Decoded files of different sizes: (None, None, 3) before Resizing, as in a file pipeline.
    def images():
        yield np.zeros((5, 7, 3), "float32")
        yield np.ones((9, 4, 3), "float32")

    spec = tf.TensorSpec((None, None, 3), tf.float32)
    specs = []
    for lib in (convolve, keras):
        resize = lib.layers.Resizing(6, 6)
        ds = tf.data.Dataset.from_generator(images, output_signature=spec).map(resize)
        specs.append(ds.element_spec)
        assert [e.shape for e in values(ds)] == [(6, 6, 3), (6, 6, 3)]
    assert specs[0] == specs[1]


@pytest.mark.parametrize(
    "make",
    [
        lambda k: k.layers.StringLookup(vocabulary=["cat", "dog"]),
        lambda k: k.layers.StringLookup(vocabulary=["cat", "dog"], output_mode="one_hot"),
        lambda k: k.layers.StringLookup(vocabulary=["cat", "dog"], invert=False, num_oov_indices=2),
    ],
)
def test_string_lookup_in_map_matches_keras(make):
    words = np.array(["dog", "cat", "bird", "dog"])
    ours = mapped(make, convolve, words, batch=2)
    theirs = mapped(make, keras, words, batch=2)
    assert ours.element_spec.shape.rank == theirs.element_spec.shape.rank
    assert ours.element_spec.dtype == theirs.element_spec.dtype
    for a, b in zip(values(ours), values(theirs), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "make",
    [
        lambda k: k.layers.IntegerLookup(vocabulary=[3, 5, 7]),
        lambda k: k.layers.CategoryEncoding(num_tokens=8, output_mode="multi_hot"),
        lambda k: k.layers.Hashing(num_bins=4),
        lambda k: k.layers.Discretization(bin_boundaries=[2.0, 5.0]),
    ],
)
def test_integer_layers_in_map_match_keras(make):
    ints = np.array([[3, 1], [7, 5], [5, 5]], dtype="int64")
    ours = mapped(make, convolve, ints, batch=2)
    theirs = mapped(make, keras, ints, batch=2)
    assert ours.element_spec.dtype == theirs.element_spec.dtype
    for a, b in zip(values(ours), values(theirs), strict=True):
        np.testing.assert_array_equal(a, b)


def test_keras_io_augmentation_function_in_map_then_fit():
    """keras.io's 'image classification from scratch': a Python function applying a list of
    random layers, mapped over the training batches with AUTOTUNE, then `fit`."""
    specs = []
    for lib in (convolve, keras):
        augmentation = [lib.layers.RandomFlip("horizontal"), lib.layers.RandomRotation(0.1)]

        def augment(images, augmentation=augmentation):
            for layer in augmentation:
                images = layer(images)
            return images

        ds = tf.data.Dataset.from_tensor_slices((IMAGES, LABELS)).batch(3)
        ds = ds.map(lambda x, y: (augment(x), y), num_parallel_calls=tf.data.AUTOTUNE)
        specs.append(ds.element_spec)
        if lib is convolve:
            batches = values(ds)
            changed = any(
                not np.allclose(b[0], IMAGES[3 * i : 3 * i + 3]) for i, b in enumerate(batches)
            )
            assert changed, "the random layers left every batch unchanged"
            model = lib.Sequential(
                [
                    lib.Input((20, 24, 3)),
                    lib.layers.Rescaling(1 / 255),
                    lib.layers.Flatten(),
                    lib.layers.Dense(1),
                ]
            )
            model.compile("adam", "mse")
            history = model.fit(ds.prefetch(2), epochs=2, verbose=0)
            assert len(history.history["loss"]) == 2
            assert np.isfinite(history.history["loss"]).all()
    assert specs[0] == specs[1]


def test_pipeline_of_layers_in_map_matches_keras_spec():
    specs = []
    for lib in (convolve, keras):
        pipe = lib.layers.Pipeline([lib.layers.RandomFlip(), lib.layers.Rescaling(1 / 255.0)])
        ds = tf.data.Dataset.from_tensor_slices(IMAGES).batch(2).map(pipe)
        specs.append(ds.element_spec)
        out = values(ds)
        assert len(out) == 3 and float(np.max(out[0])) <= 1.0
    assert specs[0] == specs[1]


def test_augmentation_dict_with_boxes_in_map():
    """A dict of images and boxes, as the object-detection examples map it."""
    data = {
        "images": IMAGES[:4],
        "bounding_boxes": {
            "boxes": np.tile(np.array([[[2.0, 3.0, 10.0, 12.0]]], "float32"), (4, 1, 1)),
            "labels": np.ones((4, 1), "int32"),
        },
    }
    results = []
    for lib in (convolve, keras):
        flip = lib.layers.RandomFlip("horizontal", bounding_box_format="xyxy", seed=1)
        flip_always = lib.layers.Resizing(10, 12, bounding_box_format="xyxy")
        ds = tf.data.Dataset.from_tensor_slices(data).batch(2).map(flip_always)
        results.append((ds.element_spec, values(ds)))
        ds_random = tf.data.Dataset.from_tensor_slices(data).batch(2).map(flip)
        assert values(ds_random)[0]["images"].shape == (2, 20, 24, 3)
    (ours_spec, ours), (theirs_spec, theirs) = results
    assert ours_spec["images"] == theirs_spec["images"]
    assert (
        ours_spec["bounding_boxes"]["boxes"].dtype == theirs_spec["bounding_boxes"]["boxes"].dtype
    )
    # Box labels keep their dtype, as in an eager call; Keras's TensorFlow path makes them
    # float32 there while its eager call keeps int32.
    assert ours_spec["bounding_boxes"]["labels"].dtype == tf.int32
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(
            a["bounding_boxes"]["boxes"], b["bounding_boxes"]["boxes"], atol=1e-4
        )
        np.testing.assert_array_equal(a["bounding_boxes"]["labels"], b["bounding_boxes"]["labels"])
        np.testing.assert_allclose(a["images"], b["images"], atol=1e-3)


def test_error_inside_map_names_the_layer():
    layer = convolve.layers.Dense(2)
    ds = tf.data.Dataset.from_tensor_slices(np.array(["a", "b"])).batch(2)
    with pytest.raises(ValueError, match="Layer 'dense.*' takes numeric inputs"):
        ds.map(lambda x: layer(x))


def test_eager_call_without_tensorflow_graph_is_unchanged():
    # Outside a map a TensorFlow tensor is data like any other: the output is a torch tensor.
    out = convolve.layers.Rescaling(2.0)(tf.constant(IMAGES[:1]))
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(np.asarray(out), IMAGES[:1] * 2, rtol=1e-6)
