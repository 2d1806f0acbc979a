"""fit / evaluate / predict mechanics: data sources, callbacks, output, errors, repeatability."""

import re

import numpy as np
import pytest
import torch

import convolve
from convolve import callbacks, layers, models, utils

RNG = np.random.default_rng(7)
X = RNG.normal(size=(40, 6, 6, 1)).astype("float32")
Y = RNG.integers(0, 4, size=(40,))


def _model(seed=0):
    utils.set_random_seed(seed)
    model = models.Sequential(
        [
            layers.Input((6, 6, 1)),
            layers.Conv2D(3, 3, activation="relu"),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_history_has_loss_metrics_and_validation():
    history = _model().fit(X, Y, epochs=3, batch_size=8, validation_split=0.25, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 3 for v in history.history.values())
    assert history.epoch == [0, 1, 2]
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 4}


def test_fit_runs_one_forward_pass_per_batch_and_still_checks_labels():
    # The label check before step 1 takes the output shape from the graph, not a forward pass.
    model = _model()
    calls = []
    conv = model.layers[0]
    call = conv.call
    conv.call = lambda *a, **k: calls.append(1) or call(*a, **k)
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    assert len(calls) == 5  # 40 samples in batches of 8
    with pytest.raises(ValueError, match=r"labels in \[0, 3\].*received label [4-7]"):
        model.fit(X, Y + 4, epochs=1, batch_size=8, verbose=0)


def test_same_seed_same_run_and_different_seed_differs():
    a = _model(1).fit(X, Y, epochs=2, batch_size=8, verbose=0).history["loss"]
    b = _model(1).fit(X, Y, epochs=2, batch_size=8, verbose=0).history["loss"]
    c = _model(2).fit(X, Y, epochs=2, batch_size=8, verbose=0).history["loss"]
    assert a == b
    assert a != c


class _Batches:
    """A re-iterable source of (x, y) batches, as a user's own loader would be."""

    def __iter__(self):
        return ((X[i : i + 10], Y[i : i + 10]) for i in range(0, 40, 10))


def test_numpy_tensor_iterable_and_dataloader_inputs_train_identically():
    # shuffle=False with the same batches: every data source gives the same weights.
    results = []
    sources = [
        dict(x=X, y=Y, batch_size=10),
        dict(x=torch.from_numpy(X), y=torch.from_numpy(Y), batch_size=10),
        dict(x=_Batches()),
        dict(
            x=torch.utils.data.DataLoader(
                torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y)),
                batch_size=10,
            )
        ),
    ]
    for source in sources:
        model = _model(3)
        model.layers[2].rate = 0.0  # no dropout randomness between runs
        model.fit(epochs=2, shuffle=False, verbose=0, **source)
        results.append(model.get_weights())
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_validation_data_and_validation_freq():
    history = _model().fit(
        X, Y, epochs=4, batch_size=8, validation_data=(X[:8], Y[:8]), validation_freq=2, verbose=0
    )
    assert len(history.history["loss"]) == 4
    assert len(history.history["val_loss"]) == 2


def test_steps_per_epoch_limits_batches():
    seen = []
    cb = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    _model().fit(X, Y, epochs=2, batch_size=4, steps_per_epoch=3, callbacks=[cb], verbose=0)
    assert seen == [0, 1, 2, 0, 1, 2]


def test_early_stopping_stops_training():
    model = _model()
    stop = callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    history = model.fit(X, Y, epochs=10, batch_size=8, callbacks=[stop], verbose=0)
    # epoch 0 sets the best value; epoch 1 cannot improve on it by 10, so training stops.
    assert len(history.history["loss"]) == 2
    assert stop.stopped_epoch == 1


def test_initial_epoch_continues_numbering():
    history = _model().fit(X, Y, epochs=3, initial_epoch=1, batch_size=8, verbose=0)
    assert history.epoch == [1, 2]


def test_progress_output_one_line_per_epoch_when_not_a_terminal(capsys):
    _model().fit(X, Y, epochs=2, batch_size=8, validation_split=0.25, verbose=1)
    out = capsys.readouterr().out
    assert out.count("Epoch 1/2") == 1 and out.count("Epoch 2/2") == 1
    pattern = r"4/4 ━+ \d+s \d+(ms|us|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4} - "
    pattern += r"val_accuracy: \d\.\d{4} - val_loss: \d\.\d{4}"
    assert len(re.findall(pattern, out)) == 2


def test_verbose_2_format(capsys):
    _model().fit(X, Y, epochs=1, batch_size=8, verbose=2)
    out = capsys.readouterr().out
    assert re.search(r"5/5 - \d+s - \d+(ms|us|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}", out)


def test_evaluate_returns_scalar_list_or_dict():
    model = _model()
    assert isinstance(model.evaluate(X, Y, verbose=0), list)
    result = model.evaluate(X, Y, verbose=0, return_dict=True)
    assert sorted(result) == ["accuracy", "loss"]
    plain = models.Sequential([layers.Input((6, 6, 1)), layers.Flatten(), layers.Dense(4)])
    plain.compile(optimizer="sgd", loss="mse")
    assert isinstance(plain.evaluate(X, np.zeros((40, 4)), verbose=0), float)


def test_predict_returns_numpy_in_keras_layout():
    model = models.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(2, 3, padding="same")])
    out = model.predict(X, batch_size=7, verbose=0)
    assert isinstance(out, np.ndarray) and out.shape == (40, 6, 6, 2)
    np.testing.assert_allclose(out, model(X).detach().numpy(), atol=1e-6)


def test_train_test_predict_on_batch():
    model = _model()
    loss, acc = model.train_on_batch(X[:8], Y[:8])
    assert np.isfinite(loss) and 0 <= acc <= 1
    result = model.test_on_batch(X[:8], Y[:8], return_dict=True)
    assert sorted(result) == ["accuracy", "loss"]
    assert model.predict_on_batch(X[:8]).shape == (8, 4)


def test_regularization_penalty_is_in_the_loss():
    def build(reg):
        utils.set_random_seed(0)
        m = models.Sequential(
            [layers.Input((6, 6, 1)), layers.Flatten(), layers.Dense(4, kernel_regularizer=reg)]
        )
        m.compile(optimizer="sgd", loss="mse")
        return m

    plain, regular = build(None), build("l2")
    target = np.zeros((40, 4), "float32")
    penalty = 0.01 * np.square(regular.get_weights()[0]).sum()
    assert regular.evaluate(X, target, verbose=0) == pytest.approx(
        plain.evaluate(X, target, verbose=0) + penalty, rel=1e-5
    )


# ------------------------------------------------------------------- bad input
def test_x_and_y_of_different_lengths():
    with pytest.raises(ValueError, match="x with 40 samples and y with 39"):
        _model().fit(X, Y[:39], verbose=0)


def test_labels_out_of_range_for_the_loss():
    with pytest.raises(ValueError, match=r"(?i)sparse.*categorical.*4"):
        _model().fit(X, np.full(40, 4), verbose=0)


def test_wrong_input_shape():
    expected = r"expected shape=\(None, 6, 6, 1\), found shape=\(None, 6, 6\)"
    with pytest.raises(ValueError, match=expected):
        _model().fit(X[..., 0], Y, verbose=0)


def test_fit_before_compile():
    model = models.Sequential([layers.Input((6, 6, 1)), layers.Flatten(), layers.Dense(4)])
    with pytest.raises(ValueError, match="compile") as raised:  # Keras raises ValueError
        model.fit(X, Y, verbose=0)
    assert isinstance(raised.value, RuntimeError)  # what convolve raised before


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(epochs=-1), "epochs"),
        (dict(validation_split=1.5), "validation_split"),
        (dict(batch_size=0), "batch_size"),
        (dict(verbose="loud"), "verbose"),
        (dict(class_weight={0: 1.0}, sample_weight=np.ones(40)), "class_weight"),
    ],
)
def test_bad_fit_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _model().fit(X, Y, **kwargs)


def test_nan_loss_stops_training_with_terminate_on_nan():
    model = _model()
    bad = X.copy()
    bad[5] = np.nan
    history = model.fit(
        bad, Y, epochs=3, batch_size=8, shuffle=False, callbacks=[callbacks.TerminateOnNaN()],
        verbose=0,
    )  # fmt: skip
    assert model.stop_training
    assert len(history.history.get("loss", [])) <= 1


def test_unknown_loss_or_optimizer_fails_at_compile():
    model = models.Sequential([layers.Input((2,)), layers.Dense(1)])
    with pytest.raises(ValueError, match="not_a_loss"):
        model.compile(optimizer="adam", loss="not_a_loss")
    with pytest.raises(ValueError, match="not_an_optimizer"):
        model.compile(optimizer="not_an_optimizer", loss="mse")


def test_import_convolve_as_keras():
    keras = convolve
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.MeanSquaredError())
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), verbose=0, callbacks=[keras.callbacks.History()])
