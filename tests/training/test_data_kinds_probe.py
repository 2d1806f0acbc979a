"""Keras programs that feed a small convnet different kinds of data, run in both libraries
after `set_random_seed`: NumPy arrays in several forms, Python generators, a shuffled
torch DataLoader, tf.data datasets and PyDatasets. The dropout masks and a DataLoader's
orders come from torch's global generator, so the histories agree only when every pass
begins where Keras begins one; a PyDataset's hooks and reads are compared as event logs.

Tolerance: histories and results within rtol=1e-5, atol=1e-6 (float32).
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
from keras_compare import assert_same

import convolve

pytestmark = pytest.mark.parity

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 8, 8, 1)).astype("float32")
Y = RNG.integers(0, 3, size=40)
Y_BINARY = (RNG.random(40) > 0.7).astype("float32")


def _convnet(lib, units=3, activation="softmax", loss="sparse_categorical_crossentropy"):
    lib.utils.set_random_seed(1)
    model = lib.Sequential(
        [
            lib.Input((8, 8, 1)),
            lib.layers.Conv2D(4, 3, activation="relu"),
            lib.layers.MaxPooling2D(),
            lib.layers.Flatten(),
            lib.layers.Dropout(0.2),
            lib.layers.Dense(units, activation=activation),
        ]
    )
    model.compile(optimizer=lib.optimizers.Adam(0.01), loss=loss, metrics=["accuracy"])
    return model


def _both(program):
    """`program(lib)` run with Keras, then with convolve; their results (Keras's first)
    and the messages of the warnings each raised."""
    results = []
    for lib in (keras, convolve):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outcome = program(lib)
        messages = [str(w.message) for w in caught if "__array__" not in str(w.message)]
        results.append((outcome, messages))
    return results


def _history(model, *args, **kwargs):
    return model.fit(*args, verbose=0, **kwargs).history


@pytest.mark.parametrize(
    "case",
    ["validation_split", "class_weight", "uint8", "float64", "y_column", "labels_as_float"],
)
def test_array_kinds_train_as_in_keras(case):
    def program(lib):
        x, y, kwargs = X, Y, {"batch_size": 8, "epochs": 2}
        model = _convnet(lib)
        if case == "validation_split":
            kwargs.update(validation_split=0.25, shuffle=True)
        elif case == "class_weight":
            y = np.where(np.arange(40) < 34, 0, 1)
            kwargs.update(class_weight={0: 0.2, 1: 5.0}, validation_data=(X[:10], y[:10]))
        elif case == "uint8":
            x = ((X - X.min()) / (X.max() - X.min()) * 255).astype("uint8")
        elif case == "float64":
            x = X.astype("float64")
        elif case == "y_column":
            model = _convnet(lib, 1, "sigmoid", "binary_crossentropy")
            y = Y_BINARY[:, None]
        else:
            y = Y.astype("float32")
        history = _history(model, x, y, **kwargs)
        return history, model.evaluate(x, y, verbose=0), model.predict(x, verbose=0)

    (theirs, _), (ours, _) = _both(program)
    assert_same(ours, theirs, rtol=1e-5, atol=1e-6)


def test_shuffled_dataloader_draws_keras_orders_and_dropout():
    def program(lib):
        data = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y))
        loader = torch.utils.data.DataLoader(data, batch_size=8, shuffle=True)
        model = _convnet(lib)
        history = _history(model, loader, epochs=3, validation_data=loader)
        return history, model.evaluate(loader, verbose=0)

    (theirs, keras_warnings), (ours, our_warnings) = _both(program)
    assert_same(ours, theirs, rtol=1e-5, atol=1e-6)
    assert our_warnings == keras_warnings  # shuffle=True ignored for a DataLoader


def _batches(count=None, repeat=False):
    """A Python generator of batches of 8: one pass (or `count` batches), or endless."""
    produced = 0
    while True:
        for start in range(0, 40, 8):
            if count is not None and produced == count:
                return
            yield X[start : start + 8], Y[start : start + 8]
            produced += 1
        if not repeat:
            return


@pytest.mark.parametrize("validation", ["endless", "runs_out"])
def test_generators_train_validate_and_warn_as_in_keras(validation):
    def program(lib):
        model = _convnet(lib)
        val = _batches(repeat=True) if validation == "endless" else _batches(count=3)
        history = _history(
            model, _batches(repeat=True), steps_per_epoch=4, epochs=3, validation_data=val,
            validation_steps=2 if validation == "endless" else None,
        )  # fmt: skip
        return history, model.predict(_batches(count=2), steps=5, verbose=0)

    (theirs, keras_warnings), (ours, our_warnings) = _both(program)
    assert_same(ours, theirs, rtol=1e-5, atol=1e-6)
    # The same warnings, ours telling where the data ran out after Keras's text.
    assert len(our_warnings) == len(keras_warnings)
    for mine, keras_message in zip(our_warnings, keras_warnings, strict=True):
        assert mine.startswith(keras_message)


def test_tf_data_datasets_train_evaluate_and_predict_as_in_keras():
    def program(lib):
        train = tf.data.Dataset.from_tensor_slices((X, Y)).batch(8)
        model = _convnet(lib)
        history = _history(
            model, train.repeat(), epochs=2, steps_per_epoch=3,
            validation_data=tf.data.Dataset.from_tensor_slices((X, Y)).batch(16),
        )  # fmt: skip
        images = tf.data.Dataset.from_tensor_slices(X).batch(8)
        return history, model.evaluate(train, verbose=0), model.predict(images, verbose=0)

    (theirs, keras_warnings), (ours, our_warnings) = _both(program)
    assert_same(ours, theirs, rtol=1e-5, atol=1e-6)
    assert our_warnings == keras_warnings  # shuffle=True ignored for a tf.data.Dataset


def _recorded(lib, log, tag, batches=3, **kwargs):
    """A PyDataset of `batches` batches of 8 that logs its reads and epoch hooks."""

    class Recorded(lib.utils.PyDataset):
        def __len__(self):
            return batches

        def __getitem__(self, index):
            log.append(f"{tag}{index}")
            return X[index * 8 : (index + 1) * 8], Y[index * 8 : (index + 1) * 8]

        def on_epoch_begin(self):
            log.append(f"{tag}-begin")

        def on_epoch_end(self):
            log.append(f"{tag}-end")

    return Recorded(**kwargs)


@pytest.mark.parametrize("shuffle", [False, True])
def test_py_dataset_reads_and_hooks_as_in_keras(shuffle):
    def program(lib):
        log = []
        model = _convnet(lib)
        history = _history(
            model, _recorded(lib, log, "t"), epochs=2, shuffle=shuffle,
            validation_data=_recorded(lib, log, "v", 2),
        )  # fmt: skip
        steps = _history(_convnet(lib), _recorded(lib, log, "s"), epochs=3, steps_per_epoch=2)
        result = _convnet(lib).evaluate(_recorded(lib, log, "e"), verbose=0)
        return log, history, steps, result

    (theirs, _), (ours, _) = _both(program)
    log, theirs = theirs[0], theirs[1:]
    # Freshly compiled models: Keras first reads a batch from a pass of its own to build
    # the compiled metrics, then resets (one more `on_epoch_end`) before each run.
    assert ours[0] == log
    assert_same(ours[1:], theirs, rtol=1e-5, atol=1e-6)


def test_py_dataset_without_super_init_warns_once_and_fetches_ahead():
    def program(lib):
        class NoSuper(lib.utils.PyDataset):
            def __init__(self):
                pass

            def __len__(self):
                return 2

            def __getitem__(self, index):
                return X[index * 8 : (index + 1) * 8], Y[index * 8 : (index + 1) * 8]

        model = _convnet(lib)
        history = _history(model, NoSuper(), epochs=1, shuffle=False)
        threaded = _recorded(lib, [], "w", 5, workers=2, max_queue_size=3)
        return history, _history(model, threaded, epochs=2, shuffle=False)

    (theirs, keras_warnings), (ours, our_warnings) = _both(program)
    assert_same(ours, theirs, rtol=1e-5, atol=1e-6)
    assert len(our_warnings) == len(keras_warnings) == 1
    assert "super().__init__(**kwargs)" in our_warnings[0]
