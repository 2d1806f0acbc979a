"""Layer weights answer Keras's Variable surface: `name`, `path`, `numpy()`, `assign*`.

Against Keras 3.15.1 on its torch backend: the same models give the same weight names and
paths (the layers and models they were built in), and `numpy()` / `assign` speak Keras's
axis order, as `get_weights` / `set_weights` do. Values compare exactly (copies, no math).
"""

from __future__ import annotations

import copy

import keras
import numpy as np
import pytest

import convolve


def _sequential(lib):
    return lib.Sequential(
        [
            lib.Input((8, 8, 2)),
            lib.layers.Conv2D(3, 3, name="c"),
            lib.layers.BatchNormalization(name="bn"),
        ],
        name="seq",
    )


def _functional(lib):
    inputs = lib.Input((8, 8, 2))
    x = lib.layers.Conv2D(3, 3, name="conv")(inputs)
    x = lib.layers.Flatten()(x)
    return lib.Model(inputs, lib.layers.Dense(2, name="head")(x))


def _attention(lib):
    layer = lib.layers.MultiHeadAttention(2, 4, name="mha")
    q = np.zeros((1, 3, 4), "float32")
    layer(q, q)
    return layer


def _lazy_sequential(lib):
    model = lib.Sequential([lib.layers.Dense(3, name="d")], name="lazy")
    model.build((None, 4))
    return model


@pytest.mark.parametrize("build", [_sequential, _functional, _attention, _lazy_sequential])
def test_trainable_weights_have_keras_names_and_paths(build):
    ours, theirs = build(convolve), build(keras)
    expected = [(w.name, w.path) for w in theirs.trainable_weights]
    assert [(w.name, w.path) for w in ours.trainable_weights] == expected


def test_numpy_and_assign_use_keras_axis_order():
    ours, theirs = _functional(convolve), _functional(keras)
    ours.set_weights(theirs.get_weights())
    for mine, keras_weight in zip(ours.trainable_weights, theirs.trainable_weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), keras.ops.convert_to_numpy(keras_weight))
    kernel = ours.get_layer("conv").kernel
    new = np.arange(3 * 3 * 2 * 3, dtype="float32").reshape(3, 3, 2, 3)
    kernel.assign(new)
    theirs.get_layer("conv").kernel.assign(new)
    kernel.assign_add(np.ones_like(new))
    theirs.get_layer("conv").kernel.assign_add(np.ones_like(new))
    kernel.assign_sub(new / 2)
    theirs.get_layer("conv").kernel.assign_sub(new / 2)
    np.testing.assert_array_equal(ours.get_weights()[0], theirs.get_weights()[0])
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 2)).astype("float32")
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-4, rtol=1e-6
    )
    with pytest.raises(ValueError, match=r"variable.shape=\(3, 3, 2, 3\).*value.shape=\(3, 2\)"):
        kernel.assign(np.zeros((3, 2)))


def test_copies_keep_the_keras_surface():
    layer = convolve.layers.Dense(2, name="copied")
    layer.build((None, 3))
    clone = copy.deepcopy(layer)
    assert (clone.kernel.name, clone.kernel.path) == ("kernel", "copied/kernel")
    np.testing.assert_array_equal(clone.kernel.numpy(), layer.kernel.numpy())


def _custom_encoder(lib):
    class Encoder(lib.layers.Layer):
        """Sublayers made in __init__ and built inside `call`, as keras.io's examples do."""

        def __init__(self):
            super().__init__(name="encoder")
            self.projection = lib.layers.Dense(4, name="projection")
            self.position = lib.layers.Embedding(3, 4, name="position")

        def call(self, x):
            positions = lib.ops.arange(3)
            return self.projection(x) + self.position(positions)

    inputs = lib.Input((3, 5))
    return lib.Model(inputs, Encoder()(inputs))


@pytest.mark.parametrize("build", [_sequential, _custom_encoder])
def test_every_weight_non_trainable_ones_included_has_the_surface(build):
    ours, theirs = build(convolve), build(keras)
    assert [(w.name, w.path) for w in ours.weights] == [(w.name, w.path) for w in theirs.weights]
    for mine, keras_weight in zip(ours.weights, theirs.weights, strict=True):
        assert mine.numpy().shape == tuple(keras_weight.shape)
    moving_mean = ours.weights[-2] if build is _sequential else ours.weights[0]
    assert repr(moving_mean).startswith(f"<Variable path={moving_mean.path}, shape=")


def test_calling_build_yourself_builds_once_as_in_keras():
    for lib in (convolve, keras):
        layer = lib.layers.Dense(2)
        layer.build((None, 3))
        assert layer.built
        layer(np.zeros((1, 3), "float32"))
        assert len(layer.weights) == 2, lib.__name__


def test_another_layers_weight_set_as_an_attribute_is_tracked_in_keras_order():
    """Tied weights: a layer holding another layer's kernel lists it, as Keras does."""

    def tied(lib, source):
        class Tied(lib.layers.Layer):
            def __init__(self, kernel):
                super().__init__()
                self.tied_kernel = kernel

        source.build((None, 5, 5, 1) if "conv" in source.name else (None, 3))
        layer = Tied(source.kernel)
        return [(w.name, w.path) for w in layer.weights], [w.shape for w in layer.get_weights()]

    for make in (
        lambda lib: lib.layers.Dense(2, name="d"),
        lambda lib: lib.layers.Conv2D(2, 3, name="conv"),
    ):
        assert tied(convolve, make(convolve)) == tied(keras, make(keras))


def _weights_in_attributes(lib):
    @lib.saving.register_keras_serializable(package="WeightSurface")
    class Shifted(lib.layers.Layer):
        """Keras's usual pattern: `self.x = self.add_weight(...)`, named or not."""

        def build(self, input_shape):
            self.shift = self.add_weight(name="embeddings", shape=[4, input_shape[-1]])
            self.w = self.add_weight(shape=[input_shape[-1], 2], initializer="ones")
            self.b = self.add_weight(shape=[2], initializer="zeros", trainable=False)

        def call(self, x):
            return lib.ops.matmul(x + self.shift, self.w) + self.b

    inputs = lib.Input((4, 3))
    return lib.Model(inputs, Shifted()(inputs))


def test_weights_kept_in_attributes_are_one_weight_each_as_in_keras(tmp_path):
    keras.backend.clear_session()
    convolve.backend.clear_session()
    theirs, ours = _weights_in_attributes(keras), _weights_in_attributes(convolve)
    layer, their_layer = ours.layers[1], theirs.layers[1]
    assert [w.name for w in layer.weights] == [w.name for w in their_layer.weights]
    assert [w.path for w in layer.weights] == [w.path for w in their_layer.weights]
    assert len(layer.trainable_weights) == 2 and len(layer.non_trainable_weights) == 1
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5)
    assert layer.w is layer.weights[1]  # the attribute is the weight itself
    layer.b = layer.b  # assigning an alias again keeps one weight
    assert len(layer.weights) == 3
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    for path in ("ours.keras", "theirs.keras"):
        for lib, reference in ((keras, theirs), (convolve, ours)):
            reloaded = lib.saving.load_model(tmp_path / path)
            np.testing.assert_allclose(
                np.asarray(reloaded.predict(x, verbose=0)),
                reference.predict(x, verbose=0),
                atol=1e-5,
            )


def test_build_config_as_keras():
    for lib in (keras, convolve):
        dense = lib.layers.Dense(3)
        assert dense.get_build_config() is None
        dense.build((None, 4))
        assert dense.get_build_config() == {"input_shape": (None, 4)}
        copy_ = lib.layers.Dense(3)
        copy_.build_from_config(dense.get_build_config())
        assert copy_.built and [tuple(w.shape) for w in copy_.weights] == [(4, 3), (3,)]
