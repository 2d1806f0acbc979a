"""Batch hooks that no callback acts in are skipped (as Keras skips them), and with them
the per-step results of `evaluate`: the results, the predictions and the logs that a
listening callback receives stay exactly what the full loop gives, and Keras's."""

import keras
import numpy as np
import pytest

import convolve
from convolve.training import callbacks as cb


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 5)).astype("float32")
    return x, rng.integers(0, 3, 37)


def _pair(metrics=("accuracy",)):
    """The same small classifier in convolve and in Keras (weights copied across)."""
    models = []
    for lib in (convolve, keras):
        model = lib.Sequential([lib.Input((5,)), lib.layers.Dense(3, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=list(metrics))
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    return models


class _Listens(cb.Callback):
    """Acts in every batch hook: it records the batch logs."""

    def __init__(self):
        super().__init__()
        self.test_logs, self.predict_batches = [], 0

    def on_test_batch_end(self, batch, logs=None):
        self.test_logs.append(dict(logs))

    def on_predict_batch_end(self, batch, logs=None):
        self.predict_batches += 1


def test_listens_to_batches_by_mode():
    quiet = cb.CallbackList([cb.Callback(), cb.History(), cb.EarlyStopping()])
    assert not any(quiet.listens_to_batches(m) for m in ("train", "test", "predict"))
    lam = cb.CallbackList([cb.LambdaCallback(on_test_batch_end=lambda batch, logs: None)])
    assert lam.listens_to_batches("test")
    assert not lam.listens_to_batches("train") and not lam.listens_to_batches("predict")

    class OldStyle(cb.Callback):  # Callback's train hooks call on_batch_end
        def on_batch_end(self, batch, logs=None):
            pass

    old = cb.CallbackList([OldStyle()])
    assert old.listens_to_batches("train") and not old.listens_to_batches("test")
    # The progress bar draws evaluate's batches, but not those of validation in fit.
    bar = cb.CallbackList(add_progbar=True, verbose=1, epochs=1, steps=2)
    assert bar.listens_to_batches("test") and bar.listens_to_batches("predict")
    bar.on_train_begin()
    assert not bar.listens_to_batches("test") and bar.listens_to_batches("train")
    with pytest.raises(KeyError):
        quiet.listens_to_batches("validate")


@pytest.mark.parametrize(
    "metrics", [("accuracy",), ("accuracy", "sparse_categorical_crossentropy")]
)
def test_evaluate_quiet_and_listening_loops_agree_exactly_and_with_keras(metrics):
    x, y = _data()
    ours, theirs = _pair(metrics)
    quiet = ours.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    listener = _Listens()
    heard = ours.evaluate(x, y, batch_size=8, verbose=0, return_dict=True, callbacks=[listener])
    assert quiet == heard  # bit for bit
    assert len(listener.test_logs) == 5
    assert listener.test_logs[-1].keys() == heard.keys()
    last = {k: float(v) for k, v in listener.test_logs[-1].items()}
    assert last == heard
    expected = theirs.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert expected.keys() == quiet.keys()
    for key, value in expected.items():
        np.testing.assert_allclose(quiet[key], value, rtol=1e-6, atol=1e-6)
    # The step's own logs are whole again after the loop.
    assert set(ours.test_step((x[:4], y[:4]))) == set(quiet)


def test_predict_quiet_and_listening_loops_agree_exactly():
    x, _ = _data()
    ours, theirs = _pair()
    quiet = ours.predict(x, batch_size=8, verbose=0)
    listener = _Listens()
    heard = ours.predict(x, batch_size=8, verbose=0, callbacks=[listener])
    assert listener.predict_batches == 5
    np.testing.assert_array_equal(quiet, heard)
    np.testing.assert_allclose(quiet, theirs.predict(x, batch_size=8, verbose=0), atol=1e-6)


def test_overridden_compute_metrics_still_gives_the_logs():
    """A subclass's compute_metrics returns other names: its last step's logs are the
    results, as in Keras, also with no callback listening."""

    class Extra(convolve.Sequential):
        def compute_metrics(self, x, y, y_pred, sample_weight=None):
            logs = super().compute_metrics(x, y, y_pred, sample_weight)
            return {**logs, "extra": 2.5}

    x, y = _data()
    model = Extra([convolve.Input((5,)), convolve.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    results = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert results["extra"] == 2.5 and set(results) == {"accuracy", "extra", "loss"}
