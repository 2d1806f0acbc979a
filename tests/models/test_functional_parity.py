"""A residual network written in both libraries: the same summary text and outputs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import torch
from test_summary import _pair

import convolve
from convolve.layers import convolution_variants, merging

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers"))
from parity_grid import ATOL, max_abs_diff, random_weights  # noqa: E402

# Keras 3.15.1 converts its tensors with a NumPy 1 idiom that NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


class _ConvolveLayers:
    """convolve's layers by Keras name, wherever they are defined."""

    def __getattr__(self, name: str) -> Any:
        for module in (convolve.layers, convolution_variants, merging):
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(name)


def residual_net(lib: Any, layers: Any) -> Any:
    """Two residual blocks of separable convolutions (one downsampling with a projection)."""
    x = lib.Input((16, 12, 3), name="image")
    h = layers.Conv2D(8, 3, padding="same", name="stem")(x)
    h = layers.BatchNormalization(name="bn0")(h)
    h = layers.Activation("relu", name="re0")(h)
    r = layers.SeparableConv2D(8, 3, padding="same", name="sep1")(h)
    r = layers.BatchNormalization(name="bn1")(r)
    r = layers.Activation("relu", name="re1")(r)
    r = layers.SeparableConv2D(8, 3, padding="same", depth_multiplier=2, name="sep2")(r)
    r = layers.BatchNormalization(name="bn2")(r)
    h = layers.Add(name="add1")([h, r])
    h = layers.Activation("relu", name="re2")(h)
    r = layers.SeparableConv2D(16, 3, strides=2, padding="same", name="sep3")(h)
    r = layers.BatchNormalization(name="bn3")(r)
    shortcut = layers.Conv2D(16, 1, strides=2, name="proj")(h)
    h = layers.Add(name="add2")([shortcut, r])
    h = layers.GlobalAveragePooling2D(name="gap")(h)
    outputs = layers.Dense(10, activation="softmax", name="head")(h)
    return lib.Model(x, outputs, name="resnet")


def _build_ours() -> Any:
    return residual_net(convolve, _ConvolveLayers())


def _build_keras() -> Any:
    return residual_net(keras, keras.layers)


@pytest.mark.parity
@pytest.mark.parametrize("kwargs", [{}, {"show_trainable": True}, {"line_length": 120}])
def test_summary_text_matches_keras(kwargs: dict) -> None:
    ours, theirs = _pair(_build_ours, _build_keras, **kwargs)
    assert ours == theirs
    if not kwargs:  # a graph summary, not a stack (wider tables are cut by the console)
        assert "add1 (Add)" in theirs and "bn2[0][0]" in theirs


@pytest.mark.parity
def test_outputs_match_keras_with_copied_weights() -> None:
    ours, theirs = _build_ours(), _build_keras()
    for i, layer in enumerate(theirs.layers):
        if layer.weights:
            layer.set_weights(random_weights(layer, 100 + i))
    ours.set_weights(theirs.get_weights())
    assert ours.count_params() == theirs.count_params()
    x = np.random.default_rng(0).standard_normal((4, 16, 12, 3)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(theirs.predict(x, verbose=0))
    got = ours.predict(x, verbose=0)
    assert got.shape == expected.shape == (4, 10)
    assert max_abs_diff(got, expected) <= ATOL
    # Training mode (batch statistics in BatchNormalization) agrees too.
    expected = keras.ops.convert_to_numpy(theirs(x, training=True))
    got = ours(torch.from_numpy(x), training=True).detach().numpy()
    assert max_abs_diff(got, expected) <= ATOL
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        assert max_abs_diff(a, b) <= ATOL  # moving statistics updated alike


def _init_subclass(lib: Any, positional: bool) -> type:
    """A `Model` subclass whose `__init__` builds a graph and calls
    `super().__init__(inputs, outputs)`: a functional model with the subclass's methods."""

    class Head(lib.Model):
        def __init__(self, units: int = 3, **kwargs: Any) -> None:
            inputs = lib.Input((5,), name="x")
            hidden = lib.layers.Dense(4, activation="relu", name="hidden")(inputs)
            outputs = lib.layers.Dense(units, name="head")(hidden)
            if positional:
                super().__init__(inputs, outputs, **kwargs)
            else:
                super().__init__(inputs=inputs, outputs=outputs, **kwargs)
            self.units = units

        def scaled(self, x: Any, factor: float) -> Any:
            return factor * self.predict(x, verbose=0)

    return Head


@pytest.mark.parity
@pytest.mark.parametrize("positional", [False, True], ids=["keywords", "positional"])
def test_a_subclass_calling_super_init_with_inputs_and_outputs_is_functional(
    positional: bool,
) -> None:
    ours_cls, theirs_cls = _init_subclass(convolve, positional), _init_subclass(keras, positional)
    ours, theirs = ours_cls(units=2, name="head_net"), theirs_cls(units=2, name="head_net")
    assert isinstance(ours, ours_cls) and isinstance(ours, convolve.Model)
    assert type(ours).__name__ == "Head" and ours.name == "head_net" and ours.units == 2
    assert ours.count_params() == theirs.count_params() == 34
    assert [t.shape for t in ours.outputs] == [(None, 2)]
    text_ours, text_theirs = _pair(lambda: ours, lambda: theirs)
    assert text_ours == text_theirs and 'Model: "head_net"' in text_theirs
    default = ours_cls()
    assert default.name.startswith("head") and default.count_params() == 39

    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(1).standard_normal((16, 5)).astype(np.float32)
    y = np.random.default_rng(2).standard_normal((16, 2)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(theirs.predict(x, verbose=0))
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.scaled(x, 3.0), 3.0 * expected, rtol=1e-5, atol=1e-6)

    histories = []
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        kwargs = dict(batch_size=4, epochs=2, shuffle=False, verbose=0)
        histories.append(model.fit(x, y, **kwargs).history)
    assert sorted(histories[0]) == sorted(histories[1]) == ["loss", "mae"]
    for key in histories[1]:
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parity
def test_fit_uses_the_train_step_of_a_subclass_built_by_super_init() -> None:
    def build(lib: Any) -> Any:
        class Counting(lib.Model):
            def __init__(self, **kwargs: Any) -> None:
                inputs = lib.Input((5,), name="x")
                super().__init__(inputs, lib.layers.Dense(1, name="out")(inputs), **kwargs)
                self.steps_seen = 0

            def train_step(self, data: Any) -> Any:
                self.steps_seen += 1
                logs = super().train_step(data)
                return {"double_loss": logs["loss"] * 2}

        model = Counting()
        model.compile(optimizer="sgd", loss="mse")
        return model

    ours, theirs = build(convolve), build(keras)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(3).standard_normal((12, 5)).astype(np.float32)
    y = np.random.default_rng(4).standard_normal((12, 1)).astype(np.float32)
    kwargs = dict(batch_size=4, epochs=2, shuffle=False, verbose=0)
    got, expected = ours.fit(x, y, **kwargs).history, theirs.fit(x, y, **kwargs).history
    assert list(got) == list(expected) == ["double_loss"]
    np.testing.assert_allclose(got["double_loss"], expected["double_loss"], rtol=1e-5)
    assert ours.steps_seen == theirs.steps_seen == 6
