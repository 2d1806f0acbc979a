"""Callbacks in `fit`, run through real Keras and through convolve with the same weights
and data: `mode="auto"` for names that are no metric of the model, logs holding values
of shape (1,), metrics with several values as the monitored quantity, the Orbax
checkpoint callback, and the messages of the learning-rate callbacks.

Printed text is compared exactly; learning rates in the logs with a relative tolerance
of 1e-6 (float32 round trips).
"""

import re
import warnings

import keras
import numpy as np
import pytest
import torch
from keras_compare import small_classifier

import convolve

RTOL = 1e-6


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype("float32"), rng.integers(0, 3, size=(n,))


X, Y = _data()
XV, YV = _data(16, seed=5)


def _model(lib, metrics=("accuracy",), optimizer=None, loss="sparse_categorical_crossentropy"):
    return small_classifier(lib, optimizer or lib.optimizers.SGD(learning_rate=2.0), metrics, loss)


def _fit(lib, callbacks, epochs=2, y=Y, yv=YV, **kwargs):
    model = kwargs.pop("model", None) or _model(lib)
    return model.fit(
        X,
        y,
        validation_data=(XV, yv),
        epochs=epochs,
        batch_size=16,
        verbose=0,
        shuffle=False,
        callbacks=callbacks,
    )


def _make(lib, kind, monitor, tmp_path):
    if kind == "ModelCheckpoint":
        return lib.callbacks.ModelCheckpoint(
            str(tmp_path / f"{lib.__name__}.weights.h5"),
            monitor=monitor,
            save_best_only=True,
            save_weights_only=True,
        )
    return getattr(lib.callbacks, kind)(monitor=monitor)


# mode="auto" needs a metric of the model with that name


@pytest.mark.parametrize(
    "monitor, metrics",
    [("val_acc", ["accuracy"]), ("accuracy", []), ("val_accuracy", []), ("mse", ["accuracy"])],
)
@pytest.mark.parametrize("kind", ["EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint"])
def test_auto_mode_refuses_a_name_that_is_no_metric_of_the_model(monitor, metrics, kind, tmp_path):
    """`"val_acc"` reads like an accuracy, but with `metrics=["accuracy"]` Keras finds no
    metric of that name and refuses to guess the direction."""
    for lib in (keras, convolve):
        callback = _make(lib, kind, monitor, tmp_path)
        model = _model(lib, metrics=metrics)
        with pytest.raises(ValueError, match=f"monitor={monitor}, but"):
            _fit(lib, [callback], epochs=1, model=model)


@pytest.mark.parametrize("monitor, metrics", [("val_acc", ["acc"]), ("val_loss", [])])
def test_auto_mode_accepts_the_names_the_model_logs(monitor, metrics, tmp_path):
    directions = []
    for lib in (keras, convolve):
        callback = lib.callbacks.EarlyStopping(monitor=monitor, patience=5)
        _fit(lib, [callback], epochs=1, model=_model(lib, metrics=metrics))
        directions.append((bool(callback.monitor_op(1.0, 0.0)), callback.min_delta))
    assert directions[0] == directions[1]


# Logs with values of shape (1,)


class _Recorder:
    """A callback class for `lib` that records the types of the batch and epoch logs."""

    @staticmethod
    def make(lib):
        class Recorder(lib.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seen = []

            def on_train_batch_end(self, batch, logs=None):
                self.seen.append(_describe(logs))

            def on_epoch_end(self, epoch, logs=None):
                self.seen.append(_describe(logs))

        return Recorder()


def _describe(logs):
    out = {}
    for key, value in logs.items():
        if isinstance(value, np.ndarray):
            out[key] = ("ndarray", value.shape, value.tolist())
        else:
            out[key] = (type(value).__name__, value)
    return out


def test_callback_list_keeps_a_value_of_shape_1_as_an_array_as_keras_does():
    """Keras converts a log value with `float()` after moving it to NumPy, which refuses
    arrays with a dimension: a (1,)-shaped tensor reaches callbacks as an array."""
    seen = []
    for lib in (keras, convolve):
        recorder = _Recorder.make(lib)
        callbacks = lib.callbacks.CallbackList([recorder], add_history=True, model=_model(lib))
        callbacks.on_train_begin()
        callbacks.on_epoch_begin(0)
        logs = {
            "loss": torch.tensor(1.5),
            "one": torch.tensor([3.0]),
            "vec": torch.tensor([1.0, 2.0]),
            "nested": {"inner": torch.tensor(2.0)},
            "name": "text",
        }
        callbacks.on_train_batch_end(0, dict(logs))
        callbacks.on_epoch_end(0, dict(logs))
        callbacks.on_train_end()
        seen.append(recorder.seen)
    assert seen[0] == seen[1]
    assert seen[1][0]["one"] == ("ndarray", (1,), [3.0])


# A monitored metric with several values


@pytest.mark.parametrize("kind", ["EarlyStopping", "ReduceLROnPlateau"])
def test_monitoring_a_metric_with_several_values_is_an_error(kind):
    """Keras fails (comparing the arrays) once there is a best value to compare with;
    convolve refuses at the first epoch with an error naming the monitor and shape."""
    y, yv = np.eye(3, dtype="float32")[Y], np.eye(3, dtype="float32")[YV]
    for lib in (keras, convolve):
        model = _model(
            lib,
            metrics=[lib.metrics.F1Score(average=None, name="f1")],
            loss="categorical_crossentropy",
        )
        callback = getattr(lib.callbacks, kind)(monitor="val_f1", mode="max", patience=5)
        with pytest.raises((RuntimeError, ValueError)) as info:
            _fit(lib, [callback], epochs=3, y=y, yv=yv, model=model)
    assert info.type is ValueError
    assert f"{kind} can only monitor a scalar value" in str(info.value)
    assert "monitor='val_f1' has shape (3,)" in str(info.value)


def test_model_checkpoint_falls_back_to_saving_for_a_metric_with_several_values(tmp_path):
    y, yv = np.eye(3, dtype="float32")[Y], np.eye(3, dtype="float32")[YV]
    messages = []
    for lib in (keras, convolve):
        model = _model(
            lib,
            metrics=[lib.metrics.F1Score(average=None, name="f1")],
            loss="categorical_crossentropy",
        )
        path = tmp_path / f"{lib.__name__}.weights.h5"
        callback = lib.callbacks.ModelCheckpoint(
            str(path), monitor="val_f1", mode="max", save_best_only=True, save_weights_only=True
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _fit(lib, [callback], epochs=2, y=y, yv=yv, model=model)
        messages.append([str(w.message) for w in caught if "Can save best" in str(w.message)])
        assert path.exists()
    assert len(messages[1]) == 2
    assert messages[0] == messages[1]


# OrbaxCheckpoint


def test_orbax_checkpoint_is_refused_with_a_clear_error():
    assert "OrbaxCheckpoint" in convolve.callbacks.__all__
    with pytest.raises(ImportError):  # Keras without the Orbax package
        keras.callbacks.OrbaxCheckpoint("ckpt")
    with pytest.raises(NotImplementedError, match=r"OrbaxCheckpoint .*directory='ckpt'"):
        convolve.callbacks.OrbaxCheckpoint("ckpt", save_freq=2)


# Learning-rate callbacks in a real fit: messages, logs and the optimizer's rate


def _lr_run(lib, make_callbacks, epochs, capsys, optimizer=None):
    model = _model(lib, optimizer=optimizer(lib) if optimizer else None)
    history = _fit(lib, make_callbacks(lib), epochs=epochs, model=model)
    text = capsys.readouterr().out
    rate = float(np.asarray(lib.ops.convert_to_numpy(model.optimizer.learning_rate)))
    return text, history.history, rate


LR_CASES = {
    "plateau-cooldown-min_lr": (
        lambda lib: [
            lib.callbacks.ReduceLROnPlateau(
                factor=0.5, patience=1, cooldown=1, min_lr=0.3, verbose=1
            )
        ],
        8,
        None,
    ),
    "plateau-accuracy-min_delta": (
        lambda lib: [
            lib.callbacks.ReduceLROnPlateau(
                monitor="val_accuracy", factor=0.2, patience=0, min_delta=0.05, verbose=1
            )
        ],
        5,
        None,
    ),
    "plateau-adam": (
        lambda lib: [
            lib.callbacks.ReduceLROnPlateau(
                monitor="loss", mode="max", factor=0.3, patience=0, verbose=1
            )
        ],
        3,
        lambda lib: lib.optimizers.Adam(1e-3),
    ),
    "scheduler-epoch-only": (
        lambda lib: [lib.callbacks.LearningRateScheduler(lambda e: 0.1 * (e + 1), verbose=1)],
        3,
        None,
    ),
    "scheduler-float32": (
        lambda lib: [
            lib.callbacks.LearningRateScheduler(lambda e, lr: np.float32(lr * 0.9), verbose=1)
        ],
        3,
        lambda lib: lib.optimizers.Adam(1e-3),
    ),
}


@pytest.mark.parametrize("case", sorted(LR_CASES))
def test_learning_rate_callbacks_match_keras_in_fit(case, capsys):
    make_callbacks, epochs, optimizer = LR_CASES[case]
    k_text, k_hist, k_rate = _lr_run(keras, make_callbacks, epochs, capsys, optimizer)
    c_text, c_hist, c_rate = _lr_run(convolve, make_callbacks, epochs, capsys, optimizer)
    assert c_text == k_text
    assert re.search(r"(ReduceLROnPlateau reducing|LearningRateScheduler setting)", c_text)
    np.testing.assert_allclose(c_hist["learning_rate"], k_hist["learning_rate"], rtol=RTOL)
    np.testing.assert_allclose(c_rate, k_rate, rtol=RTOL)


@pytest.mark.parametrize(
    "schedule", [lambda e: 1, lambda e: "0.1", lambda e, lr: None, lambda e: torch.tensor(0.1)]
)
def test_scheduler_refuses_what_keras_refuses(schedule):
    errors = []
    for lib in (keras, convolve):
        with pytest.raises(ValueError) as info:
            _fit(lib, [lib.callbacks.LearningRateScheduler(schedule)], epochs=1)
        errors.append(str(info.value))
    assert errors[0] == errors[1]
