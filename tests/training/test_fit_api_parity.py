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
        # Named: unnamed ones count instances per library ("precision_21").
        lambda lib: lib.metrics.Precision(thresholds=[0.3, 0.6], name="precision"),
        lambda lib: lib.metrics.TruePositives(thresholds=[0.2, 0.5, 0.8], name="tp"),
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


def _guide_model(lib):
    """The "customizing what happens in fit()" guide's model (torch backend version)."""
    import torch

    class CustomModel(lib.Model):
        def train_step(self, data):
            x, y = data  # (x, y): no sample weights
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            loss.backward()
            weights = list(self.trainable_weights)
            gradients = [v.value.grad for v in weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, weights)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    inputs = lib.Input(shape=(5,))
    return CustomModel, CustomModel(inputs, lib.layers.Dense(1)(inputs))


def test_the_custom_train_step_guide_runs_as_in_keras():
    (_, theirs), (cls, ours) = _guide_model(keras), _guide_model(convolve)
    assert isinstance(ours, cls) and type(ours).__name__ == "CustomModel"
    ours.set_weights(theirs.get_weights())
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    kwargs = dict(batch_size=4, epochs=3, shuffle=False, verbose=0)
    _assert_same(ours.fit(X, Y, **kwargs).history, theirs.fit(X, Y, **kwargs).history)
    _assert_same(ours.evaluate(X, Y, verbose=0), theirs.evaluate(X, Y, verbose=0))
    assert ours.metrics_names == theirs.metrics_names == ["loss", "compile_metrics"]


def test_what_a_custom_train_step_returns_is_what_history_records():
    def build(lib):
        class Custom(lib.Model):
            def train_step(self, data):
                logs = super().train_step(data)
                return {"my_loss": logs["loss"] * 2, "const": 7.0}

        inputs = lib.Input(shape=(5,))
        return Custom(inputs, lib.layers.Dense(1)(inputs))

    theirs, ours = build(keras), build(convolve)
    ours.set_weights(theirs.get_weights())
    for model in (ours, theirs):
        model.compile(optimizer="sgd", loss="mse")
    kwargs = dict(batch_size=8, epochs=2, shuffle=False, verbose=0)
    _assert_same(ours.fit(X, Y, **kwargs).history, theirs.fit(X, Y, **kwargs).history)


def _two_outputs(lib):
    inputs = lib.Input((5,), name="x")
    hidden = lib.layers.Dense(4, activation="relu")(inputs)
    reg = lib.layers.Dense(2, name="reg")(hidden)
    cls = lib.layers.Dense(3, activation="softmax", name="cls")(hidden)
    return lib.Model(inputs, [reg, cls])


Y_REG = RNG.normal(size=(20, 2)).astype("float32")
Y_CLS = RNG.integers(0, 3, size=(20,))
WEIGHTS = RNG.uniform(0.1, 2.0, size=(20,)).astype("float32")


@pytest.mark.parametrize(
    "compile_kwargs",
    [
        dict(
            loss=["mse", "sparse_categorical_crossentropy"],
            metrics=[["mae", "mse"], ["accuracy"]],
        ),
        dict(
            loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
            metrics={"reg": ["mae"], "cls": ["accuracy", "accuracy"]},
            weighted_metrics={"cls": ["accuracy"]},
        ),
    ],
    ids=["lists", "dicts-repeated-and-weighted"],
)
def test_multi_output_results_have_keras_names_order_and_values(compile_kwargs):
    theirs, ours = _two_outputs(keras), _two_outputs(convolve)
    ours.set_weights(theirs.get_weights())
    for model in (ours, theirs):
        model.compile(optimizer="sgd", **compile_kwargs)
    y = [Y_REG, Y_CLS]
    kwargs = dict(batch_size=8, epochs=2, shuffle=False, verbose=0, sample_weight=WEIGHTS)
    _assert_same(ours.fit(X, y, **kwargs).history, theirs.fit(X, y, **kwargs).history)
    _assert_same(
        ours.evaluate(X, y, sample_weight=WEIGHTS, verbose=0),
        theirs.evaluate(X, y, sample_weight=WEIGHTS, verbose=0),
    )
    ours_dict = ours.evaluate(X, y, verbose=0, return_dict=True)
    theirs_dict = theirs.evaluate(X, y, verbose=0, return_dict=True)
    assert list(ours_dict) == list(theirs_dict)
    _assert_same(ours_dict, theirs_dict)
    _assert_same(ours.test_on_batch(X, y), theirs.test_on_batch(X, y))
    assert ours.metrics_names == theirs.metrics_names


def test_the_same_metric_weighted_and_unweighted_keeps_both():
    ours, theirs = _pair(
        lambda lib: dict(
            optimizer="sgd",
            loss="binary_crossentropy",
            metrics=["accuracy"],
            weighted_metrics=["accuracy"],
        )
    )
    kwargs = dict(batch_size=8, epochs=2, shuffle=False, verbose=0, sample_weight=WEIGHTS)
    kwargs["validation_data"] = (X, Y, WEIGHTS)
    history = ours.fit(X, Y, **kwargs).history
    assert "weighted_accuracy" in history
    _assert_same(history, theirs.fit(X, Y, **kwargs).history)


def test_class_weights_weigh_training_but_not_the_validation_split():
    ours, theirs = _pair(
        lambda lib: dict(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    )
    kwargs = dict(batch_size=4, epochs=2, shuffle=False, verbose=0, validation_split=0.25)
    kwargs["class_weight"] = {0: 0.2, 1: 5.0}
    _assert_same(ours.fit(X, Y, **kwargs).history, theirs.fit(X, Y, **kwargs).history)


def test_callbacks_read_and_assign_the_learning_rate_and_iterations_as_variables():
    ours, theirs = _pair(
        lambda lib: dict(optimizer=lib.optimizers.SGD(0.1), loss="binary_crossentropy")
    )
    seen = {}
    for model, lib in ((ours, convolve), (theirs, keras)):
        record = seen.setdefault(lib.__name__, [])

        def halve(epoch, logs, model=model, record=record):
            optimizer = model.optimizer
            record.append(
                (float(optimizer.learning_rate.numpy()), int(optimizer.iterations.numpy()))
            )
            optimizer.learning_rate.assign(optimizer.learning_rate * 0.5)

        callback = lib.callbacks.LambdaCallback(on_epoch_end=halve)
        model.fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[callback])
    assert seen["convolve"] == seen["keras"]
    assert [(round(lr, 6), n) for lr, n in seen["keras"]] == [(0.1, 3), (0.05, 6), (0.025, 9)]
    _assert_same(ours.get_weights(), theirs.get_weights())
    ours.optimizer.iterations.assign(0)
    assert ours.optimizer.iterations == 0


def test_one_output_takes_its_compile_arguments_and_targets_in_lists():
    ours, theirs = _pair(
        lambda lib: dict(
            optimizer="sgd", loss=["binary_crossentropy"], loss_weights=[2.0], metrics=[["mae"]]
        )
    )
    kwargs = dict(batch_size=8, epochs=2, shuffle=False, verbose=0, validation_freq=[1])
    kwargs["validation_data"] = (X, [Y])
    _assert_same(ours.fit(X, [Y], **kwargs).history, theirs.fit(X, [Y], **kwargs).history)


def test_validation_after_listed_epochs_and_no_metrics_for_one_output():
    theirs, ours = _two_outputs(keras), _two_outputs(convolve)
    ours.set_weights(theirs.get_weights())
    for model in (ours, theirs):
        model.compile(
            optimizer="sgd",
            loss=["mse", "sparse_categorical_crossentropy"],
            metrics=[None, ["accuracy"]],
        )
    y = [Y_REG, Y_CLS]
    kwargs = dict(batch_size=8, epochs=3, shuffle=False, verbose=0, validation_freq=[1, 3])
    kwargs["validation_data"] = (X, y)
    ours_history = ours.fit(X, y, **kwargs).history
    _assert_same(ours_history, theirs.fit(X, y, **kwargs).history)
    assert len(ours_history["val_loss"]) == 2


@pytest.mark.parametrize("swap_on_epoch", [False, True])
def test_swap_ema_weights_validates_with_the_averages(swap_on_epoch):
    ours, theirs = _pair(
        lambda lib: dict(
            optimizer=lib.optimizers.SGD(0.2, use_ema=True, ema_momentum=0.8),
            loss="binary_crossentropy",
        )
    )
    histories = []
    for model, lib in ((ours, convolve), (theirs, keras)):
        swap = lib.callbacks.SwapEMAWeights(swap_on_epoch=swap_on_epoch)
        kwargs = dict(batch_size=4, epochs=3, shuffle=False, verbose=0, callbacks=[swap])
        histories.append(model.fit(X, Y, validation_data=(X[:8], Y[:8]), **kwargs).history)
    _assert_same(*histories)
    _assert_same(ours.get_weights(), theirs.get_weights())


def test_swap_ema_weights_needs_an_optimizer_with_averages():
    ours, _ = _pair(lambda lib: dict(optimizer="sgd", loss="binary_crossentropy"))
    with pytest.raises(ValueError, match="use_ema=True.*Received: use_ema=False"):
        ours.evaluate(X, Y, callbacks=[convolve.callbacks.SwapEMAWeights()], verbose=0)


def test_a_dict_output_model_lists_its_losses_in_the_loss_dict_order():
    results, weights = [], []
    for lib in (convolve, keras):
        inputs = lib.Input((5,))
        hidden = lib.layers.Dense(4)(inputs)
        outputs = {
            "price": lib.layers.Dense(1, name="price")(hidden),
            "flag": lib.layers.Dense(1, activation="sigmoid", name="flag")(hidden),
        }
        model = lib.Model(inputs, outputs)
        if weights:
            model.set_weights(weights)
        weights = model.get_weights()
        model.compile(
            optimizer="sgd",
            loss={"price": "mse", "flag": "binary_crossentropy"},
            metrics={"flag": ["accuracy"]},
            weighted_metrics={"flag": ["accuracy"]},
        )
        targets = {"price": Y_REG[:, :1], "flag": Y}
        results.append((model.evaluate(X, targets, verbose=0), model.metrics_names))
    _assert_same(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


def test_class_weights_weigh_the_batches_of_a_py_dataset_generator_and_dataloader():
    """Keras takes class_weight with arrays and PyDatasets (compared here); convolve also
    with generators and DataLoaders, which must train as the same arrays do."""
    import torch

    def batches_of(lib):
        class Batches(lib.utils.PyDataset):
            def __len__(self):
                return 3

            def __getitem__(self, i):
                return X[i * 8 : (i + 1) * 8], Y[i * 8 : (i + 1) * 8]

        return Batches()

    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y)), batch_size=8
    )
    kwargs = dict(epochs=2, verbose=0, shuffle=False, class_weight={0: 0.2, 1: 5.0})
    ours, theirs = _pair(lambda lib: dict(optimizer="sgd", loss="binary_crossentropy"))
    initial = ours.get_weights()
    history = ours.fit(batches_of(convolve), **kwargs).history
    _assert_same(history, theirs.fit(batches_of(keras), **kwargs).history)
    _assert_same(ours.get_weights(), theirs.get_weights())
    on_arrays = dict(kwargs, batch_size=8)
    for source in (
        lambda: ((X[i : i + 8], Y[i : i + 8]) for i in range(0, len(X), 8)),
        lambda: loader,
    ):
        results = []
        for data in (source, None):
            ours.set_weights(initial)
            ours.compile(optimizer="sgd", loss="binary_crossentropy")
            if data is None:
                results.append(ours.fit(X, Y, **on_arrays).history)
            else:
                # A generator is read once: a new one for each epoch's pass.
                epochs = [data() for _ in range(2)]
                chained = (batch for epoch in epochs for batch in epoch)
                results.append(ours.fit(chained, steps_per_epoch=3, **kwargs).history)
        _assert_same(*results)


def test_a_one_input_model_takes_a_dict_keyed_by_its_input_name():
    def build(lib):
        inputs = lib.Input((5,), name="pixels")
        model = lib.Model(inputs, lib.layers.Dense(1, activation="sigmoid")(inputs))
        model.compile(optimizer="sgd", loss="binary_crossentropy")
        return model

    ours, theirs = build(convolve), build(keras)
    ours.set_weights(theirs.get_weights())
    for model in (ours, theirs):
        model.fit({"pixels": X}, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    _assert_same(
        ours.evaluate({"pixels": X}, Y, verbose=0), theirs.evaluate({"pixels": X}, Y, verbose=0)
    )
    np.testing.assert_allclose(
        ours.predict({"pixels": X}, verbose=0),
        theirs.predict({"pixels": X}, verbose=0),
        rtol=RTOL,
        atol=ATOL,
    )
    with pytest.raises(ValueError, match=r"one input.*\['pixel'\]"):
        ours.fit({"pixel": X}, Y, verbose=0)  # a misspelt name is refused by name


_NO_TRAINABLE = "The model does not have any trainable weights"


def test_a_frozen_model_logs_its_loss_and_metrics_and_updates_nothing():
    def build(lib):
        model = lib.Sequential([lib.Input((5,)), lib.layers.Dense(1, activation="sigmoid")])
        model.trainable = False
        model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
        return model

    theirs, ours = build(keras), build(convolve)
    ours.set_weights(theirs.get_weights())
    before = theirs.get_weights()
    kwargs = dict(batch_size=8, epochs=2, shuffle=False, verbose=0)
    results = []
    for model in (ours, theirs):
        with pytest.warns(UserWarning, match=_NO_TRAINABLE):
            history = model.fit(X, Y, **kwargs).history
        with pytest.warns(UserWarning, match=_NO_TRAINABLE):
            logs = model.train_on_batch(X, Y, return_dict=True)
        results.append([history, logs, int(model.optimizer.iterations)])
        for a, b in zip(model.get_weights(), before, strict=True):
            np.testing.assert_array_equal(a, b)
    _assert_same(results[0][:2], results[1][:2])
    assert results[0][2] == results[1][2] == 0  # no update counted


def test_a_layer_unfrozen_inside_a_frozen_model_is_not_trained():
    # Keras: a frozen model has no trainable weights, whatever its layers say.
    for lib in (convolve, keras):
        model = lib.Sequential([lib.Input((5,)), lib.layers.Dense(3), lib.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.trainable = False
        model.layers[0].trainable = True
        assert model.trainable_weights == []
        before = model.get_weights()
        with pytest.warns(UserWarning, match=_NO_TRAINABLE):
            model.fit(X, Y, epochs=1, verbose=0)
        for a, b in zip(model.get_weights(), before, strict=True):
            np.testing.assert_array_equal(a, b)
        assert int(model.optimizer.iterations) == 0


def test_trainable_is_read_at_each_step_as_on_keras_torch_backend():
    """Keras's torch backend reads `trainable_weights` in every step, not at compile()."""
    ours, theirs = _pair(lambda lib: dict(optimizer="sgd", loss="binary_crossentropy"))
    seen = {}
    for name, model in (("ours", ours), ("theirs", theirs)):
        losses = [model.train_on_batch(X, Y)]
        model.trainable = False  # without compiling again
        with pytest.warns(UserWarning, match=_NO_TRAINABLE):
            losses.append(model.train_on_batch(X, Y))
        frozen_iterations = int(model.optimizer.iterations)
        model.trainable = True
        losses.append(model.train_on_batch(X, Y))
        losses.append(model.train_on_batch(X, Y))
        seen[name] = (losses, frozen_iterations, int(model.optimizer.iterations))
        assert losses[1] == losses[2]  # the frozen step changed nothing
    _assert_same(seen["ours"][0], seen["theirs"][0])
    assert seen["ours"][1:] == seen["theirs"][1:] == (1, 3)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)

    # An optimizer first built while the model was frozen knows no weights: both refuse.
    for lib in (convolve, keras):
        model = lib.Sequential([lib.Input((5,)), lib.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        model.trainable = False
        with pytest.warns(UserWarning, match=_NO_TRAINABLE):
            model.train_on_batch(X, Y)
        model.trainable = True
        with pytest.raises(ValueError, match="new set of"):
            model.train_on_batch(X, Y)


def test_the_gan_pattern_with_a_frozen_discriminator_trains_as_in_keras():
    """Compile the discriminator, freeze it, stack it after the generator and compile that:
    on Keras's torch backend the frozen flag, read at each step, also holds for
    `discriminator.train_on_batch`, so only the generator learns."""
    rng = np.random.default_rng(7)
    noise = rng.normal(size=(8, 3)).astype("float32")
    real = rng.normal(size=(8, 5)).astype("float32")
    labels = np.concatenate([np.ones((8, 1)), np.zeros((8, 1))]).astype("float32")

    def build(lib):
        generator = lib.Sequential([lib.Input((3,)), lib.layers.Dense(5, activation="tanh")])
        discriminator = lib.Sequential(
            [lib.Input((5,)), lib.layers.Dense(4, activation="relu"), lib.layers.Dense(1)]
        )
        discriminator.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        discriminator.trainable = False
        gan = lib.Sequential([generator, discriminator])
        gan.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse")
        return generator, discriminator, gan

    theirs, ours = build(keras), build(convolve)
    for a, b in zip(ours[:2], theirs[:2], strict=True):
        a.set_weights(b.get_weights())
    initial = theirs[1].get_weights()
    losses = {}
    for name, (generator, discriminator, gan) in (("ours", ours), ("theirs", theirs)):
        losses[name] = []
        for _ in range(3):
            fake = np.asarray(generator.predict(noise, verbose=0))
            with pytest.warns(UserWarning, match=_NO_TRAINABLE):
                d_loss = discriminator.train_on_batch(np.concatenate([real, fake]), labels)
            g_loss = gan.train_on_batch(noise, np.ones((8, 1), "float32"))
            losses[name] += [d_loss, g_loss]
        assert int(discriminator.optimizer.iterations) == 0
        assert int(gan.optimizer.iterations) == 3
    _assert_same(losses["ours"], losses["theirs"])
    for a, b in zip(ours[2].get_weights(), theirs[2].get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    for a, b in zip(ours[1].get_weights(), initial, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(ours[2].trainable_weights) == len(theirs[2].trainable_weights) == 2
