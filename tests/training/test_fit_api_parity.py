"""Keras programs' view of fit/evaluate/predict, against Keras: what the logs, results and
callbacks hold, beyond the numbers of the standard path (see test_fit_parity.py).

Tolerance: values agree within rtol=1e-5, atol=1e-6 (float32).
"""

import json

import keras
import numpy as np
import pytest

import convolve

RTOL, ATOL = 1e-5, 1e-6
RNG = np.random.default_rng(3)
X = RNG.normal(size=(20, 5)).astype("float32")
Y = RNG.integers(0, 2, size=(20, 1)).astype("float32")


def _pair(compile_kwargs):
    """The same one-layer classifier in both libraries, compiled with `compile_kwargs(lib)`."""

    def build(lib):
        model = lib.Sequential([lib.Input((5,)), lib.layers.Dense(1, activation="sigmoid")])
        model.compile(**compile_kwargs(lib))
        return model

    theirs, ours = build(keras), build(convolve)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def _assert_same(ours, theirs):
    assert type(ours) is type(theirs) or (isinstance(ours, float) and isinstance(theirs, float)), (
        f"{type(ours)} != {type(theirs)}"
    )
    if isinstance(ours, dict):
        assert sorted(ours) == sorted(theirs)
        for k in ours:
            _assert_same(ours[k], theirs[k])
    elif isinstance(ours, list):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            _assert_same(a, b)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


def test_use_ema_leaves_the_moving_average_in_the_weights_after_fit():
    ours, theirs = _pair(
        lambda lib: dict(
            optimizer=lib.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.9),
            loss="binary_crossentropy",
        )
    )
    for model in (ours, theirs):
        model.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def _counting_metric(lib):
    class CountAbove(lib.metrics.Metric):
        """The Keras guide's pattern: `result()` returns the state variable itself."""

        def __init__(self, name="count_above", **kwargs):
            super().__init__(name=name, **kwargs)
            self.total = self.add_variable(shape=(), initializer="zeros", name="total")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign(self.total + (y_pred > 0.5).float().sum())

        def result(self):
            return self.total

    return CountAbove()


@pytest.mark.parametrize(
    "metric",
    [
        _counting_metric,
        lambda lib: lib.metrics.Precision(thresholds=[0.3, 0.6]),
        lambda lib: lib.metrics.TruePositives(thresholds=[0.2, 0.5, 0.8]),
    ],
    ids=["result-is-its-variable", "precision-two-thresholds", "true-positives-three"],
)
def test_metric_results_that_are_variables_or_vectors_reach_history_and_evaluate(metric):
    ours, theirs = _pair(
        lambda lib: dict(optimizer="sgd", loss="binary_crossentropy", metrics=[metric(lib)])
    )
    kwargs = dict(batch_size=8, epochs=2, shuffle=False, verbose=0)
    _assert_same(ours.fit(X, Y, **kwargs).history, theirs.fit(X, Y, **kwargs).history)
    _assert_same(
        ours.evaluate(X, Y, verbose=0, return_dict=True),
        theirs.evaluate(X, Y, verbose=0, return_dict=True),
    )
    _assert_same(ours.evaluate(X, Y, verbose=0), theirs.evaluate(X, Y, verbose=0))


def _stopping_callback(lib, attribute, after_batch):
    def stop(batch, logs):
        if batch == after_batch:
            setattr(model_holder[0], attribute, True)

    model_holder = []
    hook = "on_test_batch_end" if attribute == "stop_evaluating" else "on_predict_batch_end"
    return lib.callbacks.LambdaCallback(**{hook: stop}), model_holder


@pytest.mark.parametrize("attribute", ["stop_evaluating", "stop_predicting"])
def test_a_callback_stops_evaluate_and_predict(attribute):
    ours, theirs = _pair(lambda lib: dict(optimizer="sgd", loss="binary_crossentropy"))
    results = []
    for model, lib in ((ours, convolve), (theirs, keras)):
        callback, holder = _stopping_callback(lib, attribute, after_batch=1)
        holder.append(model)
        if attribute == "stop_evaluating":
            results.append(model.evaluate(X, Y, batch_size=4, callbacks=[callback], verbose=0))
        else:
            results.append(model.predict(X, batch_size=4, callbacks=[callback], verbose=0))
    _assert_same(*results)
    if attribute == "stop_predicting":
        assert results[0].shape == (8, 1)  # two batches of 4


def _recorder(lib, record):
    """A callback that notes the params and the types of the logs it receives."""

    class Record(lib.callbacks.Callback):
        def on_train_begin(self, logs=None):
            record["params"] = dict(self.params)

        def on_train_batch_end(self, batch, logs=None):
            record["train"] = json.loads(json.dumps(logs))  # plain floats serialise

        def on_test_batch_end(self, batch, logs=None):
            record["test"] = {k: type(v).__name__ for k, v in logs.items()}

        def on_predict_batch_end(self, batch, logs=None):
            record["predict"] = type(logs["outputs"]).__name__

    return Record()


def test_batch_logs_and_params_have_keras_types():
    ours, theirs = _pair(
        lambda lib: dict(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    )
    seen = {"convolve": {}, "keras": {}}
    for model, lib in ((ours, convolve), (theirs, keras)):
        record = seen[lib.__name__]
        model.fit(X, Y, batch_size=8, epochs=1, shuffle=False, callbacks=[_recorder(lib, record)])
        model.evaluate(X, Y, callbacks=[_recorder(lib, record)], verbose=0)
        model.predict(X, callbacks=[_recorder(lib, record)], verbose=0)
    assert seen["convolve"]["params"] == seen["keras"]["params"]  # verbose stays "auto"
    _assert_same(seen["convolve"]["train"], seen["keras"]["train"])
    assert (
        seen["convolve"]["test"] == seen["keras"]["test"] == {"accuracy": "float", "loss": "float"}
    )
    assert seen["convolve"]["predict"] == seen["keras"]["predict"] == "ndarray"
