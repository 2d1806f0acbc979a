"""`fit`, `evaluate` and `predict` with callbacks, run through real Keras and through
convolve with the same weights and data: printed text, logs, History, files written.

Progress lines are compared with their timings masked (`0s`, `12ms/step`), and with
`verbose=2` (the plain line both libraries print whatever the output stream is). Values
that go through the metrics (losses in CSV files) are compared with a relative tolerance
of 1e-6, as the float32 reductions may differ in the last bit.
"""

import csv
import re

import keras
import numpy as np
import pytest
import torch
from keras_compare import small_classifier

import convolve
from convolve.training.logs import pythonify_logs

RTOL = 1e-6

_TIMING = re.compile(r"\b\d+(?:ms|us|s)\b")


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype("float32"), rng.integers(0, 3, size=(n,))


X, Y = _data()
XV, YV = _data(16, seed=5)


def _model(lib, metrics=("accuracy",), lr=0.01):
    return small_classifier(lib, lib.optimizers.SGD(learning_rate=lr), metrics)


def _mask(text):
    return _TIMING.sub("T", text)


def _fit(lib, callbacks, epochs=3, lr=2.0, verbose=0, metrics=("accuracy",), **kwargs):
    model = _model(lib, metrics=metrics, lr=lr)
    kwargs.setdefault("validation_data", (XV, YV))
    history = model.fit(
        X,
        Y,
        epochs=epochs,
        batch_size=16,
        verbose=verbose,
        shuffle=False,
        callbacks=callbacks,
        **kwargs,
    )
    return model, history


# mode="auto" for metrics given as objects with their own names


@pytest.mark.parametrize("monitor", ["my_acc", "val_my_acc", "my_ce", "val_my_ce"])
@pytest.mark.parametrize("kind", ["EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint"])
def test_auto_mode_takes_the_direction_of_a_renamed_metric(monitor, kind, tmp_path):
    """Keras looks inside the compiled-metrics container for a metric of that name."""
    directions = []
    for lib in (keras, convolve):
        metrics = [
            lib.metrics.SparseCategoricalAccuracy(name="my_acc"),
            lib.metrics.SparseCategoricalCrossentropy(name="my_ce"),
        ]
        if kind == "ModelCheckpoint":
            callback = lib.callbacks.ModelCheckpoint(
                str(tmp_path / f"{lib.__name__}.weights.h5"),
                monitor=monitor,
                save_best_only=True,
                save_weights_only=True,
            )
        else:
            callback = getattr(lib.callbacks, kind)(monitor=monitor, patience=5)
        _fit(lib, [callback], epochs=1, lr=0.01, metrics=metrics)
        directions.append(
            (bool(callback.monitor_op(1.0, 0.0)), bool(callback.monitor_op(0.0, 1.0)))
        )
    assert directions[0] == directions[1]


def test_auto_mode_refuses_a_metric_without_direction_as_keras_does():
    def my_fn(y_true, y_pred):
        return y_pred[:, 0]

    for lib in (keras, convolve):
        callback = lib.callbacks.EarlyStopping(monitor="my_fn")
        with pytest.raises(ValueError, match="monitor=my_fn"):
            _fit(lib, [callback], epochs=1, lr=0.01, metrics=[my_fn])


# Logs handed to callbacks


class _BatchRecorder:
    """Builds, for a library, a callback that keeps every batch-level logs dict."""

    @staticmethod
    def make(lib):
        class Recorder(lib.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.train, self.test = [], []

            def on_train_batch_end(self, batch, logs=None):
                self.train.append(dict(logs))

            def on_test_batch_end(self, batch, logs=None):
                self.test.append(dict(logs))

        return Recorder()


def test_batch_logs_hold_a_metric_with_several_values_as_a_numpy_array():
    recorded = []
    for lib in (keras, convolve):
        recorder = _BatchRecorder.make(lib)
        metrics = [lib.metrics.F1Score(average=None)]
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, activation="softmax")])
        rng = np.random.default_rng(1)
        model.set_weights(
            [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in model.get_weights()]
        )
        model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=metrics)
        one_hot = np.eye(3, dtype="float32")
        model.fit(
            X,
            one_hot[Y],
            epochs=1,
            batch_size=20,
            verbose=0,
            shuffle=False,
            validation_data=(XV, one_hot[YV]),
            callbacks=[recorder],
        )
        recorded.append(recorder)
    theirs, ours = recorded
    assert len(theirs.train) == len(ours.train) == 2
    pairs = zip(theirs.train + theirs.test, ours.train + ours.test, strict=True)
    for their_logs, our_logs in pairs:
        assert list(their_logs) == list(our_logs)
        for key, value in their_logs.items():
            assert type(our_logs[key]) is type(value), key
            np.testing.assert_allclose(our_logs[key], value, rtol=RTOL, atol=1e-7)


def test_pythonify_turns_bfloat16_vectors_into_float32_arrays():
    logs = pythonify_logs({"f1": torch.tensor([0.5, 0.25], dtype=torch.bfloat16)})
    assert isinstance(logs["f1"], np.ndarray) and logs["f1"].dtype == np.float32
    np.testing.assert_array_equal(logs["f1"], [0.5, 0.25])


def _everything(lib, events):
    """A callback of `lib` that appends what its hooks receive to `events`."""

    class Everything(lib.callbacks.Callback):
        def on_train_begin(self, logs=None):
            events.append(("train_begin", sorted(logs), self.params))

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", epoch, logs))

        def on_train_batch_end(self, batch, logs=None):
            events.append(("train_batch_end", batch, logs))

        def on_test_end(self, logs=None):
            events.append(("test_end", logs))

        def on_predict_batch_end(self, batch, logs=None):
            events.append(("predict_batch_end", batch, list(logs), logs["outputs"].shape))

        def on_train_end(self, logs=None):
            events.append(("train_end", logs, self.model.stop_training))

    return Everything()


def test_hooks_receive_the_same_logs_as_in_keras():
    recorded = []
    for lib in (keras, convolve):
        events = []
        model, history = _fit(lib, [_everything(lib, events)], epochs=2, lr=0.01)
        model.predict(XV, batch_size=10, verbose=0, callbacks=[_everything(lib, events)])
        recorded.append((events, history))
    (theirs, their_history), (ours, our_history) = recorded
    assert len(theirs) == len(ours)
    for their_event, our_event in zip(theirs, ours, strict=True):
        assert their_event[0] == our_event[0]
        for their_item, our_item in zip(their_event[1:], our_event[1:], strict=True):
            if isinstance(their_item, dict) and their_event[0] != "train_begin":
                assert list(their_item) == list(our_item)
                for key in their_item:
                    assert isinstance(our_item[key], float)
                    np.testing.assert_allclose(our_item[key], their_item[key], rtol=RTOL)
            else:
                assert their_item == our_item
    assert list(their_history.history) == list(our_history.history)
    assert their_history.epoch == our_history.epoch == [0, 1]
    assert their_history.params == our_history.params


# Printed text


def _printed(lib, capsys, run):
    capsys.readouterr()
    run(lib)
    return _mask(re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out))


def test_verbose_2_text_with_validation_and_callback_messages(capsys, tmp_path, monkeypatch):
    def run(lib):
        (tmp_path / lib.__name__).mkdir()
        monkeypatch.chdir(tmp_path / lib.__name__)
        callbacks = [
            lib.callbacks.EarlyStopping(patience=1, verbose=1, restore_best_weights=True),
            lib.callbacks.ReduceLROnPlateau(patience=0, factor=0.5, verbose=1),
            lib.callbacks.ModelCheckpoint(
                "ckpt/m-{epoch:02d}-{val_loss:.2f}.weights.h5",
                save_best_only=True,
                save_weights_only=True,
                verbose=1,
            ),
            lib.callbacks.LearningRateScheduler(lambda epoch, lr: lr, verbose=1),
        ]
        model, _ = _fit(lib, callbacks, epochs=5, verbose=2)
        print(np.round(model.evaluate(XV, YV, verbose=2), 5).tolist())
        model.predict(XV, verbose=2)

    theirs = _printed(keras, capsys, run)
    ours = _printed(convolve, capsys, run)
    assert "Epoch 3: early stopping" in theirs
    assert ours.splitlines() == theirs.splitlines()
    assert "saving model to ckpt/m-02-1.24.weights.h5" in theirs
    assert sorted(p.name for p in (tmp_path / "keras" / "ckpt").iterdir()) == sorted(
        p.name for p in (tmp_path / "convolve" / "ckpt").iterdir()
    )


def test_verbose_1_final_lines_on_a_pipe(capsys):
    """Only the final line of each bar is written to a non-interactive stream, without
    colour codes: compare it with the line Keras draws last."""

    def run(lib):
        model, _ = _fit(lib, [], epochs=2, lr=0.01, verbose=1)
        model.evaluate(XV, YV, verbose=1)

    def last_draws(text):
        lines = []
        for line in text.split("\n"):
            line = re.split(r"[\r\b]", line)[-1].rstrip()
            # Keras, seeing "posix" loaded, always redraws in place: keep the last draw.
            line = re.split(r"(?=\s*\d+/\d+ ━)", line)[-1].strip()
            if line:
                lines.append(line)
        return lines

    theirs = last_draws(_printed(keras, capsys, run))
    ours = last_draws(_printed(convolve, capsys, run))
    assert ours == theirs
    assert ours[0] == "Epoch 1/2"
    assert ours[1].endswith("val_accuracy: 0.3125 - val_loss: 1.2460")


def test_terminate_on_nan_message_and_history(capsys):
    x_nan = X.copy()
    x_nan[20] = np.nan

    def run(lib):
        model = _model(lib)
        history = model.fit(
            x_nan,
            Y,
            epochs=3,
            batch_size=8,
            verbose=2,
            shuffle=False,
            callbacks=[lib.callbacks.TerminateOnNaN()],
        )
        print(history.epoch, model.stop_training)

    theirs = _printed(keras, capsys, run)
    assert "Batch 2: Invalid loss, terminating training" in theirs
    assert _printed(convolve, capsys, run) == theirs


# Files


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=";"))


def test_csv_logger_rows_match_keras(tmp_path):
    files = {}
    for lib in (keras, convolve):
        path = tmp_path / f"{lib.__name__}.csv"
        logger = lib.callbacks.CSVLogger(str(path), separator=";")
        _fit(lib, [logger], epochs=2, validation_data=None)
        callbacks = [
            lib.callbacks.ReduceLROnPlateau(patience=1),
            lib.callbacks.CSVLogger(str(path), separator=";", append=True),
        ]
        _fit(lib, callbacks, epochs=2)
        files[lib] = (path.read_bytes(), _read_csv(path))
    (their_bytes, theirs), (our_bytes, ours) = files[keras], files[convolve]
    assert their_bytes.count(b"\r\n") == our_bytes.count(b"\r\n") == 5
    assert ours[0] == theirs[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(ours) == len(theirs)
    for their_row, our_row in zip(theirs[1:], ours[1:], strict=True):
        assert our_row[0] == their_row[0]
        for their_cell, our_cell in zip(their_row[1:], our_row[1:], strict=True):
            if their_cell == "NA":
                assert our_cell == "NA"
            else:
                np.testing.assert_allclose(float(our_cell), float(their_cell), rtol=RTOL)


@pytest.mark.parametrize("verbose", [True, False, 3, None])
def test_verbose_values_keras_accepts_reach_the_callbacks_as_given(verbose):
    seen = []
    for lib in (keras, convolve):

        class Params(lib.callbacks.Callback):
            def on_train_begin(self, logs=None):
                seen.append(self.params["verbose"])

        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1)])
        model.compile("sgd", "mse")
        model.fit(np.ones((4, 3)), np.ones((4, 1)), epochs=1, verbose=verbose, callbacks=[Params()])
    assert seen[0] == seen[1] and type(seen[0]) is type(seen[1])
