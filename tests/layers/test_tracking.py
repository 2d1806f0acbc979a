"""Layers held in list and dict attributes are tracked as in Keras: their weights are the
owner's, in Keras's order, and they train. Tolerance: rtol 1e-5, atol 1e-6 (float32)."""

import copy

import keras
import numpy as np
import pytest

import convolve

X = np.random.default_rng(0).normal(size=(8, 5)).astype("float32")
Y = np.ones((8, 1), "float32")


def _stack_model(lib):
    layers = lib.layers

    class Stack(lib.Model):
        def __init__(self):
            super().__init__()
            self.blocks = [layers.Dense(4), layers.Dense(4)]
            self.more = []  # filled later, as tutorials often do
            for i in range(2):
                self.more.append(layers.Dense(3, name=f"more_{i}"))
            self.named = {"a": layers.Dense(2), "b": layers.Dense(2)}
            self.head = layers.Dense(1)

        def call(self, x):
            for block in [*self.blocks, *self.more]:
                x = block(x)
            return self.head(layers.add([self.named["a"](x), self.named["b"](x)]))

    return Stack()


def _custom_layer_model(lib):
    layers = lib.layers

    class Convs(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.convs = [layers.Conv2D(2, 3, padding="same") for _ in range(2)]
            self.by_name = {"last": layers.Conv2D(3, 1)}

        def call(self, x):
            for conv in self.convs:
                x = conv(x)
            return self.by_name["last"](x)

    return lib.Sequential([lib.Input((6, 6, 1)), Convs(), layers.Flatten(), layers.Dense(1)])


@pytest.mark.parametrize("build", [_stack_model, _custom_layer_model])
def test_weights_in_lists_and_dicts_count_and_train_as_in_keras(build):
    theirs, ours = build(keras), build(convolve)
    x = X if build is _stack_model else np.random.default_rng(1).normal(size=(8, 6, 6, 1))
    x = x.astype("float32")
    theirs(x)
    ours(x)
    assert ours.count_params() == theirs.count_params()
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    ours.set_weights(theirs.get_weights())
    for model in (ours, theirs):
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, Y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_tracked_containers_stay_lists_and_dicts_and_follow_changes():
    model = _stack_model(convolve)
    model(X)
    assert isinstance(model.blocks, list) and isinstance(model.named, dict)
    assert list(model.state_dict())[:2] == ["blocks.0.kernel", "blocks.0.bias"]
    model.blocks.pop()
    del model.named["b"]
    assert len(model.weights) == 14 - 4
    model.blocks = "replaced"  # a plain value drops the registration
    assert "blocks" not in dict(model.named_children())
    twin = copy.deepcopy(model)
    twin.more.append(convolve.layers.Dense(3))
    assert len(dict(twin.named_children())["more"]) == 3
    assert len(dict(model.named_children())["more"]) == 2  # the original is untouched
    model.numbers = [1, 2]  # a list without layers registers nothing
    assert model.numbers == [1, 2] and "numbers" not in dict(model.named_children())
