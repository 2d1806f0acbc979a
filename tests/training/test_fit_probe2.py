"""Keras programs run in both libraries, for corners of fit/evaluate: Python generators
over several epochs and validations, `params["steps"]` with `steps_per_epoch` beyond the
data, and the order of `get_metrics_result()` for several outputs.

Tolerance: values agree within rtol=1e-5, atol=1e-6 (float32).
"""

import warnings

import keras
import numpy as np
import pytest
from keras_compare import assert_same

import convolve

RNG = np.random.default_rng(11)
X = RNG.normal(size=(22, 4)).astype("float32")
Y = RNG.integers(0, 3, size=22)
Y_REG = RNG.normal(size=(22, 2)).astype("float32")


def _weights_for(model, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=w.shape).astype("float32") * 0.5 for w in model.get_weights()]


def _classifier(lib):
    inputs = lib.Input((4,))
    hidden = lib.layers.Dense(5, activation="relu")(inputs)
    model = lib.Model(inputs, lib.layers.Dense(3, activation="softmax")(hidden))
    model.set_weights(_weights_for(model))
    model.compile(
        optimizer=lib.optimizers.SGD(0.1),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _batches(n, size=5):
    """A Python generator: one pass, `n` batches."""
    for i in range(n):
        yield X[i * size : (i + 1) * size], Y[i * size : (i + 1) * size]


class _Record:
    """Batches per epoch and each epoch's and validation's logs."""

    def __init__(self, lib):
        record = self

        class Callback(lib.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                record.steps.append(0)

            def on_train_batch_end(self, batch, logs=None):
                record.steps[-1] += 1

            def on_epoch_end(self, epoch, logs=None):
                record.epochs.append(dict(logs))

            def on_test_end(self, logs=None):
                record.tests.append(dict(logs))

        self.steps, self.epochs, self.tests = [], [], []
        self.callback = Callback()


def _fit_both(**kwargs):
    """fit in both libraries with fresh generators; returns what each recorded."""
    found = []
    for lib in (convolve, keras):
        model = _classifier(lib)
        record = _Record(lib)
        args = {k: v() if callable(v) else v for k, v in kwargs.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "ran out of data", worded differently
            history = model.fit(verbose=0, callbacks=[record.callback], **args)
        found.append((record, history.params, model.get_weights()))
    return found


@pytest.mark.parametrize(
    "kwargs",
    [
        # Run out in epoch 1: later epochs see the two batches read ahead, as in Keras.
        dict(x=lambda: _batches(4), epochs=3),
        dict(x=lambda: _batches(4), epochs=3, steps_per_epoch=3),
        # Each validation starts again from the two batches read ahead.
        dict(x=lambda: _batches(4), epochs=2, validation_data=lambda: _batches(4)),
        dict(
            x=lambda: _batches(4),
            epochs=2,
            validation_data=lambda: _batches(4),
            validation_steps=3,
        ),  # fmt: skip
    ],
    ids=["epochs", "steps_per_epoch", "validation", "validation_steps"],
)
def test_python_generator_over_several_passes_matches_keras(kwargs):
    (ours, our_params, our_weights), (theirs, their_params, their_weights) = _fit_both(**kwargs)
    assert ours.steps == theirs.steps
    assert our_params == their_params
    assert_same(ours.epochs, theirs.epochs)
    assert_same(ours.tests, theirs.tests)
    assert_same(our_weights, their_weights)


def test_generator_evaluated_twice_continues_as_in_keras():
    results = []
    for lib in (convolve, keras):
        model = _classifier(lib)
        batches = _batches(4)
        first = model.evaluate(batches, steps=2, verbose=0)
        second = model.evaluate(batches, steps=2, verbose=0)
        results.append([first, second])
    assert_same(results[0], results[1])


def test_steps_param_is_steps_per_epoch_beyond_the_data():
    """Keras's `params["steps"]` (and the progress bar's target) is `steps_per_epoch`
    even when the arrays hold fewer batches."""
    (ours, our_params, our_weights), (theirs, their_params, their_weights) = _fit_both(
        x=X, y=Y, batch_size=5, epochs=2, shuffle=False, steps_per_epoch=7
    )
    assert our_params == their_params
    assert our_params["steps"] == 7
    assert ours.steps == theirs.steps
    assert_same(our_weights, their_weights)


def test_evaluate_steps_beyond_the_data_matches_keras():
    params = []
    for lib in (convolve, keras):
        model = _classifier(lib)
        seen = {}

        class Params(lib.callbacks.Callback):
            def on_test_begin(self, logs=None, seen=seen):
                seen.update(self.params)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = model.evaluate(X, Y, batch_size=5, steps=9, verbose=0, callbacks=[Params()])
        params.append((seen["steps"], value))
    assert params[0][0] == params[1][0]
    assert_same(params[0][1], params[1][1])


def _two_outputs(lib):
    inputs = lib.Input((4,))
    hidden = lib.layers.Dense(5, activation="relu", name="h")(inputs)
    cls = lib.layers.Dense(3, activation="softmax", name="cls")(hidden)
    reg = lib.layers.Dense(2, name="reg")(hidden)
    model = lib.Model(inputs, [cls, reg])
    model.set_weights(_weights_for(model))
    return model


@pytest.mark.parametrize("call", ["fit", "evaluate", "train_on_batch"])
def test_get_metrics_result_order_matches_keras(call):
    """The loss, the compiled metrics, then the per-output losses: `metrics` order."""
    found = []
    for lib in (convolve, keras):
        model = _two_outputs(lib)
        model.compile(
            optimizer=lib.optimizers.SGD(0.05),
            loss=["sparse_categorical_crossentropy", "mse"],
            metrics=[["accuracy"], ["mae"]],
        )
        y = [Y, Y_REG]
        if call == "fit":
            model.fit(X, y, batch_size=5, epochs=1, shuffle=False, verbose=0)
        elif call == "evaluate":
            model.evaluate(X, y, batch_size=5, verbose=0)
        else:
            model.train_on_batch(X, y)
        found.append({k: np.asarray(v) for k, v in model.get_metrics_result().items()})
    assert list(found[0]) == ["loss", "cls_accuracy", "reg_mae", "cls_loss", "reg_loss"]
    assert_same(found[0], found[1])


def test_class_weight_with_whole_float_keys_matches_keras():
    """Keras looks classes up by `int(label)`, so a key 1.0 weighs class 1."""
    class_weight = {0.0: 0.5, 1.0: 2.0, 2.0: 1.0}
    found = []
    for lib in (convolve, keras):
        model = _classifier(lib)
        history = model.fit(
            X, Y, batch_size=5, epochs=2, shuffle=False, verbose=0, class_weight=class_weight
        )
        found.append((history.history, model.get_weights()))
    assert_same(found[0], found[1])


def test_class_weight_key_that_is_not_a_class_index_is_refused():
    model = _classifier(convolve)
    with pytest.raises(ValueError, match=r"class_weight.*received key 0\.5"):
        model.fit(X, Y, verbose=0, class_weight={0.5: 1.0})
