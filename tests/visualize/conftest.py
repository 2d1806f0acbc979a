"""A small convnet trained once per session to find bright squares in noise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from visualize_helpers import SIZE, bright_squares, one_thread

import convolve
from convolve import layers, optimizers


@pytest.fixture(autouse=True)
def close_figures():
    """Figures returned to a test are pyplot's; close them so that none pile up."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@dataclass
class Trained:
    model: Any
    history: Any
    x_test: np.ndarray
    y_test: np.ndarray
    corners_test: np.ndarray


@pytest.fixture(scope="session")
def trained() -> Trained:
    """Conv-pool-conv, global average pooling, softmax over {noise, square}: seconds to train.

    Trained to convergence (100% held-out accuracy and Grad-CAM on the squares for every
    seed tried), not just to the first perfect epoch, so that its features cover the
    squares' interiors rather than their edges.
    """
    convolve.utils.set_random_seed(0)
    x, y, _ = bright_squares(320, seed=0)
    x_test, y_test, corners_test = bright_squares(100, seed=1)
    model = convolve.Sequential(
        [
            layers.Input((SIZE, SIZE, 1)),
            layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a"),
            layers.MaxPooling2D(name="pool"),
            layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_b"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(2, activation="softmax", name="out"),
        ],
        name="square_finder",
    )
    model.compile(
        optimizer=optimizers.Adam(0.005),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    with one_thread():
        history = model.fit(x, y, epochs=15, batch_size=32, validation_split=0.25, verbose=0)
    return Trained(model, history, x_test, y_test, corners_test)


@pytest.fixture(scope="session")
def branched() -> Any:
    """A functional model with a residual merge and two parallel branches (untrained)."""
    from convolve.layers.merging import Add, Concatenate

    inputs = convolve.Input((SIZE, SIZE, 3), name="image")
    a = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inputs)
    b = layers.Conv2D(8, 3, padding="same", name="res_conv1")(a)
    b = layers.BatchNormalization(name="res_bn")(b)
    b = layers.Conv2D(8, 3, padding="same", name="res_conv2")(b)
    merged = Add(name="res_add")([a, b])
    left = layers.Conv2D(4, 1, name="left")(merged)
    right = layers.MaxPooling2D(1, name="right")(merged)
    joined = Concatenate(name="join")([left, right])
    pooled = layers.GlobalAveragePooling2D(name="gap")(joined)
    outputs = layers.Dense(3, activation="softmax", name="head")(pooled)
    return convolve.Model(inputs, outputs, name="branched")
