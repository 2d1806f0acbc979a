"""Sequential models: construction styles, graph views, weights, prediction."""

import keras
import numpy as np
import pytest
import torch

import convolve
from convolve import layers, models

X = np.random.default_rng(1).normal(size=(6, 12)).astype("float32")


def _mlp(**first):
    return [layers.Dense(8, activation="relu", **first), layers.Dense(3, activation="softmax")]


def test_three_ways_to_give_the_input_shape():
    a = models.Sequential([layers.Input((12,)), *_mlp()])
    b = models.Sequential(_mlp(input_shape=(12,)))
    c = models.Sequential()
    c.add(convolve.Input(shape=(12,)))
    for layer in _mlp():
        c.add(layer)
    for model in (a, b, c):
        assert model.input_shape == (None, 12)
        assert model.output_shape == (None, 3)
        assert model.count_params() == 12 * 8 + 8 + 8 * 3 + 3
        assert len(model.layers) == 2


def test_unbuilt_model_builds_on_first_data():
    model = models.Sequential(_mlp())
    assert not model.built
    with pytest.raises(ValueError, match="not built"):
        model.count_params()
    out = model.predict(X, verbose=0)
    assert out.shape == (6, 3) and model.built
    assert model.input_shape == (None, 12)


@pytest.mark.parametrize("inner_input", ["Input", "input_shape"])
def test_a_built_sequential_as_first_layer_builds_the_outer_one_as_in_keras(inner_input):
    # The tutorials' `Sequential([data_augmentation, layers.Rescaling(1/255), ...])`.
    def build(lib):
        first = (
            [lib.layers.Input((8, 8, 3)), lib.layers.RandomFlip("horizontal")]
            if inner_input == "Input"
            else [lib.layers.RandomFlip("horizontal", input_shape=(8, 8, 3))]
        )
        augment = lib.Sequential(first)
        head = [lib.layers.Rescaling(1 / 255), lib.layers.Conv2D(4, 3), lib.layers.Flatten()]
        return lib.Sequential([augment, *head, lib.layers.Dense(2)])

    ours, theirs = build(convolve), build(keras)
    assert ours.built and theirs.built
    assert ours.count_params() == theirs.count_params() == 402
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    assert ours.output_shape == theirs.output_shape == (None, 2)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (3, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_build_with_shape():
    model = models.Sequential(_mlp())
    model.build((None, 12))
    assert model.output_shape == (None, 3)


def test_pop_and_layer_access():
    model = models.Sequential([layers.Input((12,)), *_mlp()])
    assert model.get_layer(index=0) is model.layers[0]
    assert model.get_layer(model.layers[1].name) is model.layers[1]
    popped = model.pop()
    assert isinstance(popped, layers.Dense) and model.output_shape == (None, 8)
    with pytest.raises(ValueError, match="No layer named 'nope'"):
        model.get_layer("nope")


def test_layer_input_and_output_are_symbolic_tensors():
    model = models.Sequential([layers.Input((12,)), *_mlp()])
    first, second = model.layers
    assert first.output.shape == (None, 8)
    assert second.input is first.output
    assert model.layers[0].input.shape == (None, 12)
    # a feature-extraction model from an intermediate output
    extractor = convolve.Model(model.inputs, first.output)
    np.testing.assert_allclose(
        extractor.predict(X, verbose=0),
        np.maximum(X @ first.get_weights()[0] + first.get_weights()[1], 0),
        atol=1e-5,
    )


@pytest.mark.parity
def test_weights_copied_from_keras_give_keras_predictions():
    k = keras.Sequential([keras.Input((12,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(3, activation="softmax")])  # fmt: skip
    c = models.Sequential([layers.Input((12,)), *_mlp()])
    c.set_weights(k.get_weights())
    np.testing.assert_allclose(c.predict(X, verbose=0), k.predict(X, verbose=0), atol=1e-6)
    for ours, theirs in zip(c.get_weights(), k.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_set_weights_rejects_wrong_count_and_shape():
    model = models.Sequential([layers.Input((12,)), *_mlp()])
    with pytest.raises(ValueError, match="expects 4 weight arrays.*received 1"):
        model.set_weights([np.zeros((12, 8))])
    bad = [w.copy() for w in model.get_weights()]
    bad[0] = np.zeros((11, 8))
    with pytest.raises(ValueError, match=r"'kernel' has shape \(12, 8\).*\(11, 8\)"):
        model.set_weights(bad)


def test_model_is_a_plain_torch_module():
    model = models.Sequential([layers.Input((12,)), *_mlp()])
    assert isinstance(model, torch.nn.Module)
    state = model.state_dict()
    assert len(state) == 4
    out = model(torch.from_numpy(X))
    assert isinstance(out, torch.Tensor) and out.shape == (6, 3)
    scripted = torch.jit.trace(model, torch.from_numpy(X))
    np.testing.assert_allclose(scripted(torch.from_numpy(X)).detach(), out.detach(), atol=1e-6)


def test_duplicate_layer_names_are_refused():
    with pytest.raises(ValueError, match="already has a layer named 'same'"):
        models.Sequential([layers.Dense(2, name="same"), layers.Dense(2, name="same")])


def test_wrong_input_shape_is_reported_before_running():
    model = models.Sequential([layers.Input((12,)), *_mlp()])
    with pytest.raises(ValueError, match=r"expected shape=\(None, 12\), found shape=\(None, 5\)"):
        model.predict(np.zeros((2, 5), "float32"), verbose=0)


def test_call_without_training_uses_each_layers_default():
    # As in Keras: augmentation layers augment on a bare call, Dropout does not drop.
    torch.manual_seed(0)
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    augment = models.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.2)])
    assert not np.allclose(augment(x).numpy(), x)
    np.testing.assert_array_equal(augment(x, training=False).numpy(), x)
    drop = models.Sequential([layers.Input((8,)), layers.Dropout(0.5)])
    np.testing.assert_array_equal(drop(np.ones((4, 8), "float32")).numpy(), 1.0)
    assert not np.all(drop(np.ones((4, 8), "float32"), training=True).numpy() == 1.0)


@pytest.mark.parametrize("base_trainable", [True, False])
def test_training_flags_in_a_graph_follow_keras(base_trainable):
    # Keras 3: a model called with `training` (fit: True, predict: False) overrides the
    # flag given when the graph was built, so `base(x, training=False)` still updates a
    # trainable BatchNormalization in fit; a frozen one (trainable=False) stays in
    # inference mode. A layer without a flag inherits the caller's, also inside a custom
    # layer whose `call` takes no `training`.
    def build(lib):
        class Block(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.norm = lib.layers.BatchNormalization()

            def call(self, x):
                return self.norm(x)

        inputs = lib.Input((4, 4, 3))
        base = lib.Sequential([lib.layers.Input((4, 4, 3)), lib.layers.BatchNormalization()])
        base.trainable = base_trainable
        x = base(inputs, training=False)
        x = lib.layers.RandomFlip("horizontal", seed=3)(x)
        model = lib.Model(inputs, Block()(x))
        model.compile(optimizer="sgd", loss="mse")
        return model

    ours, theirs = build(convolve), build(keras)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).random((8, 4, 4, 3)).astype("float32") * 5
    x = np.concatenate([x, x[:, :, ::-1]])  # flipping changes no batch statistic
    for model in (ours, theirs):
        model.fit(x, np.zeros_like(x), batch_size=16, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    moving_mean = ours.get_weights()[2]
    assert np.any(moving_mean != 0) == base_trainable
    # predict runs every layer in inference mode, the flip included
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
