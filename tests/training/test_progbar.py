"""Progress bar output, compared character for character with Keras's own Progbar."""

import types

import pytest
import torch
from keras.src.callbacks import progbar_logger as keras_progbar_logger
from keras.src.utils import progbar as keras_progbar

from convolve.training import progbar as progbar_module
from convolve.training.callbacks import CallbackList
from convolve.training.progbar import Progbar, ProgbarLogger


class Clock:
    """A settable clock, so that timings in the output are exact."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def _keras_output(capsys, monkeypatch, script, clock, **kwargs):
    monkeypatch.setattr(keras_progbar, "time", types.SimpleNamespace(time=clock))
    bar = keras_progbar.Progbar(**kwargs)
    bar._dynamic_display = True
    capsys.readouterr()
    for t, current, values, finalize in script:
        clock.now = t
        bar.update(current, values, finalize=finalize)
    return capsys.readouterr().out


def _our_output(capsys, script, clock, tensors=False, dynamic=True, **kwargs):
    bar = Progbar(clock=clock, dynamic_display=dynamic, **kwargs)
    capsys.readouterr()
    for t, current, values, finalize in script:
        clock.now = t
        if tensors and values:
            values = [(k, torch.tensor(v, dtype=torch.float64)) for k, v in values]
        bar.update(current, values, finalize=finalize)
    return capsys.readouterr().out


def _epoch_script(steps, step_time, start=1000.0, metrics=("accuracy", "loss"), first=0.0):
    """One update per step; the first step also takes `first` extra seconds."""
    script = []
    t = start
    for step in range(1, steps + 1):
        t += step_time + (first if step == 1 else 0.0)
        values = []
        for i, name in enumerate(metrics):
            if name == "accuracy":
                values.append((name, 1.0 - 0.5 / (step + i)))
            else:
                values.append((name, 2.0 / (step + 1)))
        script.append((t, step, values, None))
    return script


SCRIPTS = {
    "mnist-like": (_epoch_script(469, 0.01, first=0.7), {"target": 469}),
    "microseconds": (_epoch_script(120, 0.0004), {"target": 120}),
    "seconds-eta-minutes": (_epoch_script(12, 7.5), {"target": 12}),
    "eta-hours": (_epoch_script(6, 1500.0), {"target": 6}),
    "unknown-target": (_epoch_script(30, 0.02), {"target": None}),
    "one-step": (_epoch_script(1, 0.2), {"target": 1}),
    "small-and-negative": (
        [
            (1000.1, 1, [("kl", 0.0004), ("delta", -0.25)], None),
            (1000.2, 2, [("kl", 0.0002), ("delta", -0.0001)], None),
            (1000.3, 3, [("kl", 1e-7), ("delta", -3.0)], None),
        ],
        {"target": 3},
    ),
}


@pytest.mark.parity
@pytest.mark.parametrize("name", sorted(SCRIPTS))
@pytest.mark.parametrize("verbose", [1, 2])
@pytest.mark.parametrize("stateful", [False, True])
def test_progbar_matches_keras(capsys, monkeypatch, name, verbose, stateful):
    script, kwargs = SCRIPTS[name]
    kwargs = dict(kwargs, verbose=verbose)
    if stateful:
        kwargs["stateless_metrics"] = set()
    if kwargs["target"] is None:
        # Without a target only an explicit finalize ends the bar.
        last_t, last_step, last_values, _ = script[-1]
        script = script + [(last_t + 0.001, last_step, last_values, True)]
    expected = _keras_output(capsys, monkeypatch, script, Clock(), **kwargs)
    ours = _our_output(capsys, script, Clock(), **kwargs)
    assert ours == expected
    if verbose == 1 or kwargs["target"] is not None:
        assert ours  # The comparison is not between two empty strings.


@pytest.mark.parity
def test_tensor_values_print_like_floats(capsys, monkeypatch):
    script, kwargs = SCRIPTS["mnist-like"]
    expected = _keras_output(capsys, monkeypatch, script, Clock(), **kwargs)
    assert _our_output(capsys, script, Clock(), tensors=True, **kwargs) == expected


def test_final_line_exact_text(capsys):
    clock = Clock(0.0)
    bar = Progbar(469, clock=clock, dynamic_display=True, stateless_metrics=set())
    clock.now = 5.2
    bar.update(469, [("accuracy", 0.98123), ("loss", 0.06012)], finalize=True)
    out = capsys.readouterr().out
    assert out == (
        "\r\x1b[1m469/469\x1b[0m \x1b[32m" + "━" * 20 + "\x1b[0m\x1b[37m\x1b[0m"
        " \x1b[1m5s\x1b[0m 11ms/step - accuracy: 0.9812 - loss: 0.0601\n"
    )


def test_verbose_2_exact_text(capsys):
    clock = Clock(0.0)
    bar = Progbar(469, verbose=2, clock=clock, dynamic_display=False, stateless_metrics=set())
    clock.now = 4.69
    bar.update(469, [("accuracy", 0.98123), ("loss", 0.06012)], finalize=True)
    assert capsys.readouterr().out == (
        "469/469 - 5s - 10ms/step - accuracy: 0.9812 - loss: 0.0601\n"
    )


def test_redraws_in_place_at_the_interval(capsys):
    clock = Clock(0.0)
    bar = Progbar(100, clock=clock, dynamic_display=True)
    capsys.readouterr()
    for step in range(1, 100):
        clock.now = step / 64  # Exact in binary: 4 steps are the first to pass 0.05 s.
        bar.update(step, [("loss", 1.0)])
    out = capsys.readouterr().out
    # The first update draws, then every 4th step: steps 1, 5, ..., 97.
    assert out.count("\r") == 25
    assert "\n" not in out


def test_non_interactive_prints_one_plain_line_per_bar(capsys):
    clock = Clock(0.0)
    bar = Progbar(50, clock=clock, dynamic_display=False, stateless_metrics=set())
    capsys.readouterr()
    for step in range(1, 50):
        clock.now = step * 0.1
        bar.update(step, [("loss", 0.5)])
    assert capsys.readouterr().out == ""
    clock.now = 5.0
    bar.update(50, [("loss", 0.25), ("val_loss", 0.375)], finalize=True)
    assert capsys.readouterr().out == (
        "50/50 ━━━━━━━━━━━━━━━━━━━━ 5s 100ms/step - loss: 0.2500 - val_loss: 0.3750\n"
    )


def test_values_are_read_only_when_drawn(monkeypatch, capsys):
    reads = []

    def counting_to_float(value):
        reads.append(value)
        return float(value)

    monkeypatch.setattr(progbar_module, "to_float", counting_to_float)
    clock = Clock(0.0)
    bar = Progbar(1000, clock=clock, dynamic_display=True, stateless_metrics=set())
    for step in range(1, 1000):
        clock.now = step * 0.001  # 1 ms per step: one draw every 50 steps.
        bar.update(step, [("loss", torch.tensor(0.5)), ("acc", torch.tensor(0.25))])
    draws = capsys.readouterr().out.count("\r")
    assert draws < 25
    assert len(reads) == 2 * draws


def test_stateless_metrics_are_averaged_over_steps(capsys):
    clock = Clock(0.0)
    bar = Progbar(4, verbose=2, clock=clock, dynamic_display=False)
    bar.update(1, [("loss", 4.0)])
    bar.update(3, [("loss", 1.0)])  # Covers two steps.
    clock.now = 1.0
    bar.update(4, [("loss", 0.5)], finalize=False)
    bar.update(4, finalize=True)
    # (4 * 1 + 1 * 2 + 0.5 * 1) / 4 = 1.625
    assert capsys.readouterr().out.endswith("- loss: 1.6250\n")


def test_add_advances_by_n(capsys):
    clock = Clock(0.0)
    bar = Progbar(10, verbose=2, clock=clock, dynamic_display=False)
    bar.add(4)
    bar.add(6)
    assert capsys.readouterr().out.startswith("10/10 - ")


def test_both_metric_lists_is_an_error():
    with pytest.raises(ValueError, match="Only one of `stateful_metrics`"):
        Progbar(10, stateful_metrics=["a"], stateless_metrics=["b"])


def test_unencodable_bar_falls_back_to_equals(monkeypatch):
    written = []

    class AsciiStream:
        encoding = "ascii"

        def write(self, text):
            text.encode("ascii")
            written.append(text)

        def flush(self):
            pass

    monkeypatch.setattr("sys.stdout", AsciiStream())
    bar = Progbar(2, clock=Clock(0.0), dynamic_display=True)
    bar.update(2, finalize=True)
    assert "====================" in "".join(written)


# ProgbarLogger, driven by a callback list as `fit` drives it.


def _drive_fit(callback_list, clock, epochs, steps, val=True):
    callback_list.on_train_begin()
    for epoch in range(epochs):
        callback_list.on_epoch_begin(epoch)
        for step in range(steps):
            callback_list.on_train_batch_begin(step)
            clock.now += 0.02 if step else 0.5
            loss = 1.0 / (epoch * steps + step + 1)
            callback_list.on_train_batch_end(step, {"loss": loss, "accuracy": 1 - loss / 2})
        logs = {"loss": loss, "accuracy": 1 - loss / 2}
        if val:
            callback_list.on_test_begin()
            for step in range(3):
                callback_list.on_test_batch_begin(step)
                clock.now += 0.01
                callback_list.on_test_batch_end(step, {"loss": 0.7})
            callback_list.on_test_end({"loss": 0.7, "accuracy": 0.6})
            logs.update(val_loss=0.7, val_accuracy=0.6)
        callback_list.on_epoch_end(epoch, logs)
    callback_list.on_train_end(logs)


@pytest.mark.parity
@pytest.mark.parametrize("verbose", [1, 2])
@pytest.mark.parametrize("epochs", [1, 3])
def test_progbar_logger_matches_keras_in_fit(capsys, monkeypatch, verbose, epochs):
    import keras

    class Model:
        stop_training = False

    clock = Clock()
    monkeypatch.setattr(keras_progbar, "time", types.SimpleNamespace(time=clock))
    keras_list = keras.callbacks.CallbackList(
        [keras_progbar_logger.ProgbarLogger()],
        model=Model(),
        verbose=verbose,
        epochs=epochs,
        steps=40,
    )
    capsys.readouterr()
    _drive_fit(keras_list, clock, epochs, 40)
    expected = capsys.readouterr().out

    clock.now = 1000.0
    monkeypatch.setattr(progbar_module, "time", types.SimpleNamespace(monotonic=clock))
    monkeypatch.setattr(progbar_module, "_is_dynamic_display", lambda: True)
    ours = CallbackList(add_progbar=True, model=Model(), verbose=verbose, epochs=epochs, steps=40)
    _drive_fit(ours, clock, epochs, 40)
    assert capsys.readouterr().out == expected
    assert ("Epoch 1/3\n" in expected) == (epochs == 3)


def test_progbar_logger_non_interactive_one_line_per_epoch(capsys, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progbar_module, "time", types.SimpleNamespace(monotonic=clock))
    monkeypatch.setattr(progbar_module, "_is_dynamic_display", lambda: False)

    class Model:
        stop_training = False

    callbacks = CallbackList(add_progbar=True, model=Model(), verbose=1, epochs=2, steps=40)
    _drive_fit(callbacks, clock, 2, 40)
    lines = capsys.readouterr().out.splitlines()
    # 21 ms/step: the 0.03 s of validation counts in the epoch's time, as in Keras.
    assert lines == [
        "Epoch 1/2",
        "40/40 ━━━━━━━━━━━━━━━━━━━━ 1s 21ms/step - accuracy: 0.9875 - loss: 0.0250"
        " - val_accuracy: 0.6000 - val_loss: 0.7000",
        "Epoch 2/2",
        "40/40 ━━━━━━━━━━━━━━━━━━━━ 1s 21ms/step - accuracy: 0.9938 - loss: 0.0125"
        " - val_accuracy: 0.6000 - val_loss: 0.7000",
    ]


def test_progbar_logger_learns_unknown_steps(capsys, monkeypatch):
    monkeypatch.setattr(progbar_module, "_is_dynamic_display", lambda: False)

    class Model:
        stop_training = False

    logger = ProgbarLogger()
    callbacks = CallbackList([logger], model=Model(), verbose=2, epochs=2, steps=None)
    callbacks.on_train_begin()
    for epoch in range(2):
        callbacks.on_epoch_begin(epoch)
        for step in range(7):
            callbacks.on_train_batch_end(step, {"loss": 1.0})
        callbacks.on_epoch_end(epoch, {"loss": 1.0})
    callbacks.on_train_end()
    out = capsys.readouterr().out
    assert logger.target == 7
    assert out.count("7/7 - ") == 2


def test_progbar_logger_evaluate_and_predict_draw_their_own_bar(capsys, monkeypatch):
    monkeypatch.setattr(progbar_module, "_is_dynamic_display", lambda: False)

    class Model:
        stop_training = False

    evaluate = CallbackList(add_progbar=True, model=Model(), verbose=1, epochs=1, steps=4)
    evaluate.on_test_begin()
    for step in range(4):
        evaluate.on_test_batch_end(step, {"loss": torch.tensor(0.5)})
    evaluate.on_test_end({"loss": 0.5})
    out = capsys.readouterr().out
    assert out.startswith("4/4 ━━━━━━━━━━━━━━━━━━━━ ") and out.endswith(" - loss: 0.5000\n")

    predict = CallbackList(add_progbar=True, model=Model(), verbose=1, epochs=1, steps=3)
    predict.on_predict_begin()
    for step in range(3):
        predict.on_predict_batch_end(step, {"outputs": torch.zeros(2, 10)})
    predict.on_predict_end()
    out = capsys.readouterr().out
    assert out.startswith("3/3 ━━━━") and "outputs" not in out
