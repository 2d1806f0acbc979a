"""A whole Keras program seeded with `set_random_seed` gives Keras's numbers in convolve.

No weights are copied: both libraries build the model from the seed, shuffle the training
arrays, drop units and split off validation data from their own random streams, which
convolve draws as Keras 3 (torch backend) does. Compared: every History entry and the
final weights (rtol 1e-4, atol 1e-6: float32 kernels summed in different orders, over a
few epochs), `evaluate` and `predict` after training (the same tolerance).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import convolve

RNG = np.random.RandomState(0)
X = RNG.rand(40, 10, 10, 1).astype("float32")
Y = RNG.randint(0, 3, 40)
XV, YV = RNG.rand(12, 10, 10, 1).astype("float32"), RNG.randint(0, 3, 12)


def _program(lib, dropout=0.0, spatial=0.0, batch_norm=False, augment=False, **fit_args):
    lib.utils.set_random_seed(7)
    layers = lib.layers
    stack = [layers.Input((10, 10, 1))]
    if augment:
        stack += [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)]
    stack.append(layers.Conv2D(4, 3, activation="relu"))
    if spatial:
        stack.append(layers.SpatialDropout2D(spatial))
    if batch_norm:
        stack.append(layers.BatchNormalization())
    stack += [layers.MaxPooling2D(), layers.Flatten()]
    if dropout:
        stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(3, activation="softmax"))
    model = lib.Sequential(stack)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(X, Y, batch_size=8, verbose=0, **{"epochs": 3, **fit_args})
    return {
        "history": history.history,
        "weights": model.get_weights(),
        "evaluate": model.evaluate(XV, YV, verbose=0),
        "predict": model.predict(XV, verbose=0),
    }


CASES = {
    "plain": {"shuffle": False},
    "shuffled": {},
    "dropout": {"dropout": 0.5},
    "dropout_shuffled_validation_split": {"dropout": 0.5, "validation_split": 0.25},
    "batch_shuffle": {"dropout": 0.3, "shuffle": "batch"},
    "validation_data": {"dropout": 0.4, "validation_data": (XV, YV)},
    "spatial_dropout_batch_norm": {"spatial": 0.3, "batch_norm": True},
    "steps_per_epoch": {"dropout": 0.5, "steps_per_epoch": 3, "epochs": 4},
    "validation_freq": {"dropout": 0.5, "validation_split": 0.2, "validation_freq": 2},
    "augmentation_in_the_model": {"augment": True, "dropout": 0.3, "validation_split": 0.2},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_seeded_program_gives_keras_numbers(case):
    theirs = _program(keras, **CASES[case])
    ours = _program(convolve, **CASES[case])
    assert list(ours["history"]) == list(theirs["history"])
    for key, values in theirs["history"].items():
        np.testing.assert_allclose(ours["history"][key], values, rtol=1e-4, atol=1e-6, err_msg=key)
    for a, b in zip(ours["weights"], theirs["weights"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours["evaluate"], theirs["evaluate"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours["predict"], theirs["predict"], rtol=1e-4, atol=1e-6)


def _seeded_dropout_model(lib, seed):
    """A compiled Flatten-Dropout-Dense classifier made after `set_random_seed(seed)`."""
    lib.utils.set_random_seed(seed)
    model = lib.Sequential(
        [lib.layers.Input((10, 10, 1)), lib.layers.Flatten(), lib.layers.Dropout(0.5),
         lib.layers.Dense(3, activation="softmax")]
    )  # fmt: skip
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


def test_second_fit_and_recompile_keep_the_stream():
    results = []
    for lib in (keras, convolve):
        model = _seeded_dropout_model(lib, 3)
        first = model.fit(X, Y, epochs=1, batch_size=8, verbose=0).history["loss"]
        second = model.fit(X, Y, epochs=1, batch_size=8, verbose=0).history["loss"]
        model.compile("adam", "sparse_categorical_crossentropy")
        third = model.fit(X, Y, epochs=2, batch_size=8, verbose=0).history["loss"]
        results.append(first + second + third + [model.evaluate(X, Y, verbose=0)])
    np.testing.assert_allclose(results[1], results[0], rtol=1e-4, atol=1e-6)


def test_on_batch_calls_take_no_loader_draws_as_in_keras():
    results = []
    for lib in (keras, convolve):
        model = _seeded_dropout_model(lib, 5)
        losses = [float(np.asarray(model.train_on_batch(X[:8], Y[:8]))) for _ in range(3)]
        losses.append(float(np.asarray(model.test_on_batch(X[:8], Y[:8]))))
        model.predict_on_batch(X[:4])
        losses.append(float(np.asarray(model.train_on_batch(X[8:16], Y[8:16]))))
        losses += model.fit(X, Y, epochs=2, batch_size=8, verbose=0).history["loss"]
        results.append(losses)
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)
