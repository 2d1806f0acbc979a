"""What the parity tests that run one program in both libraries share: comparing nested
results, reading tensors as NumPy, fitting both models alike, and fresh automatic names."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

import convolve


def assert_same(ours: Any, theirs: Any, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Equal structures (dict keys in the same order, sequences of the same length) whose
    leaves agree within `rtol`/`atol`."""
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs)
        for key in theirs:
            assert_same(ours[key], theirs[key], rtol, atol)
    elif isinstance(theirs, list | tuple):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            assert_same(a, b, rtol, atol)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


def to_numpy(t: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(t.detach() if hasattr(t, "detach") else t))


def fit_both(keras_model: Any, convolve_model: Any, x: Any, y: Any, **kwargs: Any) -> tuple:
    """The two histories (Keras's first) of the same fit, without shuffling."""
    theirs = keras_model.fit(x, y, shuffle=False, verbose=0, **kwargs).history
    ours = convolve_model.fit(x, y, shuffle=False, verbose=0, **kwargs).history
    return theirs, ours


def small_classifier(
    lib: Any,
    optimizer: Any,
    metrics: Any = ("accuracy",),
    loss: Any = "sparse_categorical_crossentropy",
) -> Any:
    """A compiled 4 -> 8 -> 3 softmax classifier with the same seeded weights in either
    library (`lib` is `keras` or `convolve`)."""
    model = lib.Sequential(
        [
            lib.Input((4,)),
            lib.layers.Dense(8, activation="relu"),
            lib.layers.Dense(3, activation="softmax"),
        ]
    )
    rng = np.random.default_rng(1)
    model.set_weights(
        [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in model.get_weights()]
    )
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics))
    return model


@pytest.fixture
def fresh_names() -> None:
    """Both libraries start naming layers and models afresh, so that names, summaries and
    weight paths compare whatever ran earlier in the process."""
    keras.backend.clear_session()
    convolve.backend.clear_session()
