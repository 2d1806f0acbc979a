"""Callbacks driven by a hand-written loop in Keras's order, compared with Keras's callbacks.

The same fake model (a real torch module behind `get_weights`/`set_weights`, an optimizer
with a float `learning_rate`, `save`/`save_weights` that write files) serves Keras's
callbacks and ours, so the comparisons use identical inputs.
"""

import math
import os
import types
from contextlib import nullcontext

import keras
import numpy as np
import pytest
import torch

from convolve import callbacks as public_callbacks
from convolve.training import callbacks as cb
from convolve.training.logs import flatten_logs, pythonify_logs, to_float

# Fake model


class FakeOptimizer:
    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = learning_rate


class FakeModel:
    """Just what callbacks may use on a model."""

    def __init__(self, learning_rate: float = 0.01) -> None:
        torch.manual_seed(0)
        self.module = torch.nn.Linear(3, 2)
        self.stop_training = False
        self.optimizer = FakeOptimizer(learning_rate)
        self.saved: list[tuple[str, str]] = []

    def get_weights(self) -> list[np.ndarray]:
        return [p.detach().cpu().numpy().copy() for p in self.module.parameters()]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        with torch.no_grad():
            for param, value in zip(self.module.parameters(), weights, strict=True):
                param.copy_(torch.as_tensor(value))

    def train_to(self, epoch: int) -> None:
        """Stands for an epoch of training: weights become a value tied to the epoch."""
        with torch.no_grad():
            for param in self.module.parameters():
                param.fill_(float(epoch))

    def weight_epoch(self) -> float:
        return float(self.module.weight[0, 0].detach())

    def save(self, filepath: str, overwrite: bool = True) -> None:
        self._write("model", filepath)

    def save_weights(self, filepath: str, overwrite: bool = True) -> None:
        self._write("weights", filepath)

    def _write(self, kind: str, filepath: str) -> None:
        with open(filepath, "w") as f:
            f.write(kind)
        self.saved.append((kind, os.path.basename(filepath)))


def run_fit(
    callback_list_cls,
    callbacks,
    model,
    epoch_logs,
    steps=3,
    batch_logs=None,
    **params,
):
    """Drives callbacks through `fit` in Keras's order; returns the callback list.

    `epoch_logs[i]` are the logs of epoch i; the run stops when `model.stop_training` is set.
    """
    epochs = len(epoch_logs)
    callback_list = callback_list_cls(
        callbacks,
        add_history=True,
        add_progbar=False,
        model=model,
        verbose=params.pop("verbose", 0),
        epochs=epochs,
        steps=steps,
    )
    model.stop_training = False
    callback_list.on_train_begin()
    logs = None
    for epoch in range(epochs):
        callback_list.on_epoch_begin(epoch)
        for step in range(steps):
            callback_list.on_train_batch_begin(step)
            step_logs = batch_logs(epoch, step) if batch_logs else {"loss": 1.0}
            callback_list.on_train_batch_end(step, step_logs)
            if model.stop_training:
                break
        model.train_to(epoch)
        logs = dict(epoch_logs[epoch])
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    return callback_list


def both(make, epoch_logs, capsys, model_kwargs=None, **kwargs):
    """Runs the same scenario with Keras's callbacks and ours; returns both outcomes."""
    outcomes = []
    for list_cls, module in (
        (keras.callbacks.CallbackList, keras.callbacks),
        (cb.CallbackList, cb),
    ):
        model = FakeModel(**(model_kwargs or {}))
        callbacks = make(module)
        capsys.readouterr()
        callback_list = run_fit(list_cls, callbacks, model, epoch_logs, **kwargs)
        out = capsys.readouterr().out
        history = next(c for c in callback_list.callbacks if type(c).__name__ == "History")
        outcomes.append(
            types.SimpleNamespace(
                model=model, callbacks=callbacks, out=out, history=history.history
            )
        )
    return outcomes


def losses(*values, name="val_loss"):
    return [{"loss": 1.0, name: v} for v in values]


# Log helpers


def test_to_float_reads_tensors_arrays_and_numbers():
    assert to_float(torch.tensor(0.25)) == 0.25
    assert to_float(torch.tensor([1.0, 3.0])) == 2.0
    assert to_float(np.float32(0.5)) == 0.5
    assert to_float(np.array([1.0, 2.0])) == 1.5
    assert to_float(3) == 3.0
    with pytest.raises(TypeError, match="Expected a number"):
        to_float("abc")


def test_flatten_keeps_tensors_and_sorts():
    loss = torch.tensor(0.5)
    logs = flatten_logs({"loss": loss, "a": {"b": 1.0}, "accuracy": 0.1})
    # Nested entries take the place of their parent's key, as in Keras.
    assert list(logs) == ["b", "accuracy", "loss"]
    assert logs["loss"] is loss


def test_pythonify_converts_scalars_only():
    logs = pythonify_logs({"loss": torch.tensor(0.5), "name": "x", "vec": torch.ones(2)})
    assert logs["loss"] == 0.5 and isinstance(logs["loss"], float)
    assert logs["name"] == "x"
    # Keras hands a metric with several values to callbacks as a NumPy array.
    assert isinstance(logs["vec"], np.ndarray)
    np.testing.assert_array_equal(logs["vec"], np.ones(2, dtype=np.float32))


# CallbackList


class Recorder(cb.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        attr = super().__getattribute__(name)
        if name.startswith("on_") and callable(attr):

            def record(*args, **kwargs):
                self.calls.append((name, args, kwargs))
                return attr(*args, **kwargs)

            return record
        return attr


def test_callback_list_adds_history_and_progbar_last_once():
    early = cb.EarlyStopping()
    callbacks = cb.CallbackList([early], add_history=True, add_progbar=True, epochs=1)
    assert [type(c) for c in callbacks.callbacks] == [
        cb.EarlyStopping,
        cb.History,
        cb.ProgbarLogger,
    ]
    history = cb.History()
    callbacks = cb.CallbackList([[history], early], add_history=True)
    assert callbacks.callbacks == [history, early]


def test_callback_list_sets_model_params_and_history():
    model = torch.nn.Sequential()  # Empty container: falsy, still a model.
    recorder = Recorder()
    callbacks = cb.CallbackList(
        [recorder], add_history=True, model=model, verbose=2, epochs=3, steps=5
    )
    assert recorder.model is model
    assert recorder.params == {"verbose": 2, "epochs": 3, "steps": 5}
    assert model.history is callbacks.callbacks[-1]


def test_callback_list_rejects_classes_and_other_objects():
    with pytest.raises(TypeError, match=r"callbacks\[0\] is the class EarlyStopping"):
        cb.CallbackList([cb.EarlyStopping])
    with pytest.raises(TypeError, match=r"callbacks\[1\] must be a Callback instance"):
        cb.CallbackList([cb.History(), "not a callback"])


def test_batch_logs_reach_a_user_callback_as_floats_and_legacy_aliases():
    seen = []

    class Legacy(cb.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append((batch, logs))

    callbacks = cb.CallbackList([Legacy()])
    callbacks.on_train_batch_end(4, {"loss": torch.tensor(0.5), "accuracy": torch.tensor(0.9)})
    ((batch, logs),) = seen
    assert batch == 4
    assert list(logs) == ["accuracy", "loss"]
    assert type(logs["loss"]) is float and logs["loss"] == 0.5  # json.dumps, round() work


def test_batch_logs_stay_tensors_when_only_tensor_aware_callbacks_read_them():
    seen = []

    class TensorAware(cb.Callback):
        takes_tensor_logs = True

        def on_train_batch_end(self, batch, logs=None):
            seen.append(logs)

    loss = torch.tensor(0.5)
    callbacks = cb.CallbackList(
        [TensorAware(), cb.EarlyStopping(monitor="loss")], add_history=True, add_progbar=True
    )
    callbacks.on_train_batch_end(0, {"loss": loss})
    assert seen[0]["loss"] is loss  # Not read: no host synchronisation per step.


def test_a_user_override_of_a_built_in_batch_hook_receives_floats():
    seen = []

    class Checkpoint(cb.ModelCheckpoint):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(logs)

    callbacks = cb.CallbackList([Checkpoint("m.keras")])
    callbacks.on_train_batch_end(0, {"loss": torch.tensor(0.25)})
    assert type(seen[0]["loss"]) is float


def test_lambda_callback_batch_hooks_receive_floats():
    seen = []
    callbacks = cb.CallbackList(
        [cb.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(logs))]
    )
    callbacks.on_train_batch_end(0, {"loss": torch.tensor(0.25)})
    assert seen == [{"loss": 0.25}] and type(seen[0]["loss"]) is float


def test_epoch_logs_become_floats_and_are_shared_between_callbacks():
    received = []
    callbacks = cb.CallbackList(
        [
            cb.LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(extra=1.0)),
            cb.LambdaCallback(on_epoch_end=lambda epoch, logs: received.append(logs)),
        ]
    )
    original = {"loss": torch.tensor(0.25)}
    callbacks.on_epoch_end(0, original)
    assert received == [{"loss": 0.25, "extra": 1.0}]
    assert "extra" not in original


def test_every_hook_is_dispatched_with_keras_calling_convention():
    recorder = Recorder()
    callbacks = cb.CallbackList([recorder])
    callbacks.on_train_begin()
    callbacks.on_epoch_begin(0)
    callbacks.on_train_batch_begin(0)
    callbacks.on_train_batch_end(0, {"loss": 1.0})
    callbacks.on_test_begin()
    callbacks.on_test_batch_begin(0)
    callbacks.on_test_batch_end(0, {"loss": 2.0})
    callbacks.on_test_end({"loss": 2.0})
    callbacks.on_epoch_end(0, {"loss": 1.0})
    callbacks.on_train_end({"loss": 1.0})
    callbacks.on_predict_begin()
    callbacks.on_predict_batch_begin(0)
    callbacks.on_predict_batch_end(0, {"outputs": torch.zeros(1)})
    callbacks.on_predict_end()
    callbacks.on_batch_begin(1)
    callbacks.on_batch_end(1)
    names = [name for name, _, _ in recorder.calls]
    assert names == [
        "on_train_begin",
        "on_epoch_begin",
        "on_train_batch_begin",
        "on_batch_begin",
        "on_train_batch_end",
        "on_batch_end",
        "on_test_begin",
        "on_test_batch_begin",
        "on_test_batch_end",
        "on_test_end",
        "on_epoch_end",
        "on_train_end",
        "on_predict_begin",
        "on_predict_batch_begin",
        "on_predict_batch_end",
        "on_predict_end",
        "on_batch_begin",
        "on_batch_end",
    ]
    # Batch hooks get `logs` by keyword, the others positionally (LambdaCallback relies on it).
    calls = {name: (args, kwargs) for name, args, kwargs in recorder.calls}
    assert calls["on_train_batch_end"] == ((0,), {"logs": {"loss": 1.0}})
    assert calls["on_epoch_end"] == ((0, {"loss": 1.0}), {})
    assert calls["on_train_begin"] == (({},), {})


def test_public_namespace_matches_keras_names():
    for name in public_callbacks.__all__:
        assert hasattr(keras.callbacks, name), name
    assert public_callbacks.EarlyStopping is cb.EarlyStopping


# History


def test_history_records_epochs_params_and_model():
    model = FakeModel()
    callback_list = run_fit(cb.CallbackList, [], model, [{"loss": 0.5}, {"loss": 0.25}], verbose=1)
    history = model.history
    assert history is callback_list.callbacks[-1]
    assert history.history == {"loss": [0.5, 0.25]}
    assert history.epoch == [0, 1]
    assert history.params == {"verbose": 1, "epochs": 2, "steps": 3}
    assert history.model is model


# EarlyStopping

EARLY_STOPPING_CASES = {
    "patience-0": (dict(), losses(1.0, 0.9, 0.95, 0.8)),
    "patience-2": (dict(patience=2), losses(1.0, 0.9, 0.95, 0.97, 0.85, 0.86, 0.87, 0.88)),
    "patience-2-restore": (
        dict(patience=2, restore_best_weights=True),
        losses(1.0, 0.9, 0.95, 0.97, 0.85, 0.86, 0.87, 0.88),
    ),
    "min-delta": (
        dict(patience=1, min_delta=0.05, restore_best_weights=True),
        losses(1.0, 0.97, 0.96, 0.9, 0.89, 0.88, 0.87),
    ),
    "baseline-never-beaten": (
        dict(patience=3, baseline=0.5, restore_best_weights=True),
        losses(0.9, 0.8, 0.85, 0.7, 0.75, 0.72, 0.6),
    ),
    "baseline-beaten": (
        dict(patience=2, baseline=0.85, restore_best_weights=True),
        losses(0.9, 0.8, 0.7, 0.75, 0.72, 0.73, 0.74),
    ),
    "start-from-epoch": (
        dict(patience=1, start_from_epoch=3, restore_best_weights=True),
        losses(0.5, 0.6, 0.7, 0.8, 0.9, 0.85, 0.95, 0.96),
    ),
    "max-mode": (
        dict(monitor="val_accuracy", mode="max", patience=2, restore_best_weights=True),
        losses(0.5, 0.6, 0.6, 0.61, 0.55, 0.58, 0.59, 0.7, name="val_accuracy"),
    ),
    "float32-near-tie": (
        dict(patience=1, restore_best_weights=True),
        losses(0.30000000000000004, 0.3, 0.29999999999999993, 0.2),
    ),
    "missing-monitor": (dict(monitor="val_nothing", mode="min"), losses(1.0, 0.9, 0.95)),
}


@pytest.mark.parity
@pytest.mark.parametrize("case", sorted(EARLY_STOPPING_CASES))
def test_early_stopping_matches_keras(case, capsys):
    kwargs, epoch_logs = EARLY_STOPPING_CASES[case]
    with pytest.warns(UserWarning) if case == "missing-monitor" else nullcontext():
        theirs, ours = both(lambda m: [m.EarlyStopping(verbose=1, **kwargs)], epoch_logs, capsys)
    assert ours.history == theirs.history
    assert ours.out == theirs.out
    keras_es, our_es = theirs.callbacks[0], ours.callbacks[0]
    assert our_es.stopped_epoch == keras_es.stopped_epoch
    assert our_es.best_epoch == keras_es.best_epoch
    assert our_es.wait == keras_es.wait
    assert ours.model.weight_epoch() == theirs.model.weight_epoch()


def test_early_stopping_known_outcome(capsys):
    model = FakeModel()
    early = cb.EarlyStopping(monitor="val_loss", patience=2, verbose=1, restore_best_weights=True)
    run_fit(cb.CallbackList, [early], model, losses(1.0, 0.9, 0.95, 0.97, 0.5))
    # Best at epoch index 1; no improvement at 2 and 3 -> stop after epoch index 3.
    assert model.history.epoch == [0, 1, 2, 3]
    assert early.stopped_epoch == 3
    assert model.weight_epoch() == 1.0
    assert capsys.readouterr().out == (
        "Epoch 4: early stopping\nRestoring model weights from the end of the best epoch: 2.\n"
    )


def test_early_stopping_without_stop_still_restores_best(capsys):
    model = FakeModel()
    early = cb.EarlyStopping(patience=5, restore_best_weights=True)
    run_fit(cb.CallbackList, [early], model, losses(1.0, 0.5, 0.7))
    assert model.history.epoch == [0, 1, 2]
    assert model.weight_epoch() == 1.0


def test_early_stopping_is_reset_between_fits():
    model = FakeModel()
    early = cb.EarlyStopping(monitor="val_loss", patience=0)
    run_fit(cb.CallbackList, [early], model, losses(0.1, 0.2))
    assert early.stopped_epoch == 1
    run_fit(cb.CallbackList, [early], model, losses(1.0, 0.9, 0.8))
    assert early.stopped_epoch == 0 and model.history.epoch == [0, 1, 2]


def test_auto_mode_direction_from_metric_names():
    model = FakeModel()
    early = cb.EarlyStopping(monitor="val_accuracy", patience=0)
    run_fit(cb.CallbackList, [early], model, losses(0.5, 0.6, 0.55, 0.9, name="val_accuracy"))
    assert early.stopped_epoch == 2  # Higher is better for accuracy.
    with pytest.raises(ValueError, match="monitor=val_custom, but it is not possible"):
        run_fit(cb.CallbackList, [cb.EarlyStopping(monitor="val_custom")], model, losses(1.0))


def test_auto_mode_uses_a_metric_direction_when_the_model_states_it():
    model = FakeModel()
    model.metrics = [types.SimpleNamespace(name="dice", _direction="up")]
    early = cb.EarlyStopping(monitor="dice", patience=0)
    run_fit(cb.CallbackList, [early], model, losses(0.5, 0.4, name="dice"))
    assert early.stopped_epoch == 1


def test_unknown_mode_warns_and_falls_back_to_auto():
    with pytest.warns(UserWarning, match="EarlyStopping mode 'lowest' is unknown"):
        early = cb.EarlyStopping(mode="lowest")
    assert early.mode == "auto"


# ReduceLROnPlateau

REDUCE_LR_CASES = {
    "patience-1": (dict(patience=1, factor=0.5), losses(1.0, 1.0, 0.9, 0.95, 0.96, 0.97)),
    "cooldown": (
        dict(patience=1, factor=0.1, cooldown=2),
        losses(1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7),
    ),
    "min-lr": (
        dict(patience=0, factor=0.1, min_lr=1e-4),
        losses(1.0, 1.1, 1.2, 1.3, 1.4, 1.5),
    ),
    "min-delta": (
        dict(patience=1, factor=0.5, min_delta=0.1),
        losses(1.0, 0.95, 0.92, 0.8, 0.75, 0.74),
    ),
    "max-mode": (
        dict(monitor="val_accuracy", mode="max", patience=1, factor=0.2),
        losses(0.5, 0.6, 0.55, 0.54, 0.7, 0.69, name="val_accuracy"),
    ),
}


@pytest.mark.parity
@pytest.mark.parametrize("case", sorted(REDUCE_LR_CASES))
def test_reduce_lr_on_plateau_matches_keras(case, capsys):
    kwargs, epoch_logs = REDUCE_LR_CASES[case]
    theirs, ours = both(lambda m: [m.ReduceLROnPlateau(verbose=1, **kwargs)], epoch_logs, capsys)
    assert ours.history == theirs.history
    assert "learning_rate" in ours.history
    assert ours.model.optimizer.learning_rate == theirs.model.optimizer.learning_rate
    assert ours.out == theirs.out


def test_reduce_lr_known_rates():
    model = FakeModel(learning_rate=0.1)
    reduce = cb.ReduceLROnPlateau(patience=1, factor=0.5, min_lr=0.02)
    run_fit(cb.CallbackList, [reduce], model, losses(1.0, 1.0, 1.0, 1.0, 1.0))
    # History records the rate used during each epoch, before that epoch's reduction.
    assert model.history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.025, 0.02])
    assert model.optimizer.learning_rate == pytest.approx(0.02)


def test_reduce_lr_rejects_factor_and_ignores_unknown_arguments_with_a_warning():
    with pytest.raises(ValueError, match="factor >= 1.0. Received factor=1.5"):
        cb.ReduceLROnPlateau(factor=1.5)
    keras.callbacks.ReduceLROnPlateau(epsilon=0.001)  # Keras ignores it silently
    with pytest.warns(UserWarning, match="ignores the keyword arguments epsilon=0.001"):
        callback = cb.ReduceLROnPlateau(epsilon=0.001)
    assert callback.min_delta == 1e-4


# ModelCheckpoint

CHECKPOINT_CASES = {
    "every-epoch": dict(filepath="{epoch:02d}-{val_loss:.2f}.keras"),
    "best-only": dict(filepath="{epoch:02d}-{val_loss:.2f}.keras", save_best_only=True),
    "best-only-fixed-name": dict(
        filepath="best.weights.h5", save_best_only=True, save_weights_only=True
    ),
    "best-max": dict(
        filepath="acc-{epoch}.keras", save_best_only=True, monitor="val_acc", mode="max"
    ),
    "threshold": dict(filepath="t{epoch}.keras", save_best_only=True, initial_value_threshold=0.75),
    "every-4-batches": dict(filepath="e{epoch}-b{batch}.keras", save_freq=4),
    "every-4-batches-best": dict(
        filepath="e{epoch}-b{batch}.weights.h5",
        save_freq=4,
        save_weights_only=True,
        save_best_only=True,
        monitor="loss",
    ),
    "missing-monitor": dict(
        filepath="m{epoch}.keras", save_best_only=True, monitor="val_missing", mode="min"
    ),
}


def _checkpoint_logs():
    values = [0.9, 0.8, 0.85, 0.7, 0.7, 0.6]
    return [{"loss": v + 0.1, "val_loss": v, "val_acc": 1 - v} for v in values]


def _batch_logs(epoch, step):
    return {"loss": torch.tensor(1.0 / (1 + epoch * 3 + step) + (0.5 if step == 1 else 0.0))}


@pytest.mark.parity
@pytest.mark.parametrize("case", sorted(CHECKPOINT_CASES))
def test_model_checkpoint_matches_keras(case, capsys, tmp_path):
    kwargs = dict(CHECKPOINT_CASES[case])
    outcomes = []
    for name in ("keras", "ours"):
        folder = tmp_path / name
        folder.mkdir()
        filepath = str(folder / kwargs["filepath"])
        callback_kwargs = dict(kwargs, filepath=filepath, verbose=1)
        outcomes.append((folder, callback_kwargs))

    def make(module):
        folder, callback_kwargs = outcomes[0 if module is keras.callbacks else 1]
        return [module.ModelCheckpoint(**callback_kwargs)]

    with pytest.warns(UserWarning) if case == "missing-monitor" else nullcontext():
        theirs, ours = both(make, _checkpoint_logs(), capsys, batch_logs=_batch_logs)
    assert ours.model.saved == theirs.model.saved
    assert ours.model.saved  # Something was saved, so the comparison means something.
    assert sorted(os.listdir(outcomes[1][0])) == sorted(os.listdir(outcomes[0][0]))
    assert ours.out.replace("/ours/", "/keras/") == theirs.out


def test_model_checkpoint_known_file_names(tmp_path):
    model = FakeModel()
    checkpoint = cb.ModelCheckpoint(
        tmp_path / "ckpt" / "{epoch:02d}-{val_loss:.2f}.keras", save_best_only=True
    )
    run_fit(cb.CallbackList, [checkpoint], model, _checkpoint_logs())
    assert sorted(os.listdir(tmp_path / "ckpt")) == [
        "01-0.90.keras",
        "02-0.80.keras",
        "04-0.70.keras",
        "06-0.60.keras",
    ]
    assert checkpoint.best == pytest.approx(0.6)


def test_model_checkpoint_saves_every_n_batches_with_batch_in_name(tmp_path):
    model = FakeModel()
    checkpoint = cb.ModelCheckpoint(
        str(tmp_path / "{epoch}-{batch}.weights.h5"), save_weights_only=True, save_freq=2
    )
    run_fit(cb.CallbackList, [checkpoint], model, _checkpoint_logs()[:2], steps=3)
    # Batches 1..6 over two epochs of 3: saves after global batches 2, 4 and 6.
    assert [name for _, name in model.saved] == [
        "1-2.weights.h5",
        "2-1.weights.h5",
        "2-3.weights.h5",
    ]
    assert all(kind == "weights" for kind, _ in model.saved)


@pytest.mark.parity
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(filepath="model.ckpt"),
        dict(filepath="model.h5x"),
        dict(filepath="model.keras", save_weights_only=True),
        dict(filepath="model.h5", save_weights_only=True),
        dict(filepath="model.hdf5"),
        dict(filepath="model.keras", save_freq="batch"),
    ],
)
def test_model_checkpoint_errors_match_keras(kwargs):
    with pytest.raises(ValueError) as keras_error:
        keras.callbacks.ModelCheckpoint(**kwargs)
    with pytest.raises(ValueError) as our_error:
        cb.ModelCheckpoint(**kwargs)
    assert str(our_error.value) == str(keras_error.value)


def test_model_checkpoint_accepts_keras_extensions():
    cb.ModelCheckpoint("m.keras")
    cb.ModelCheckpoint("m.h5")  # Keras's legacy HDF5 model format
    cb.ModelCheckpoint("m.weights.h5", save_weights_only=True)


def test_model_checkpoint_into_a_directory_is_an_error(tmp_path):
    (tmp_path / "taken.keras").mkdir()
    checkpoint = cb.ModelCheckpoint(str(tmp_path / "taken.keras"))
    with pytest.raises(OSError, match="non-directory filepath"):
        run_fit(cb.CallbackList, [checkpoint], FakeModel(), _checkpoint_logs()[:1])


def test_model_checkpoint_unknown_field_names_the_path(tmp_path):
    checkpoint = cb.ModelCheckpoint(str(tmp_path / "{val_dice:.2f}.keras"))
    with pytest.raises(KeyError, match="Failed to format this callback filepath"):
        run_fit(cb.CallbackList, [checkpoint], FakeModel(), _checkpoint_logs()[:1])


# LearningRateScheduler


@pytest.mark.parity
def test_learning_rate_scheduler_matches_keras(capsys):
    def schedule(epoch, lr):
        return lr if epoch < 2 else lr * math.exp(-0.1)

    theirs, ours = both(
        lambda m: [m.LearningRateScheduler(schedule, verbose=1)],
        losses(1.0, 0.9, 0.8, 0.7, 0.6),
        capsys,
    )
    assert ours.history == theirs.history
    assert ours.history["learning_rate"][-1] == pytest.approx(0.01 * math.exp(-0.3))
    assert ours.out == theirs.out


def test_learning_rate_scheduler_one_argument_form():
    model = FakeModel()
    run_fit(
        cb.CallbackList,
        [cb.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))],
        model,
        losses(1.0, 1.0, 1.0, 1.0),
    )
    assert model.history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3, 0.025])


def test_learning_rate_scheduler_errors():
    with pytest.raises(ValueError, match="should be a float. Got: 1"):
        run_fit(
            cb.CallbackList, [cb.LearningRateScheduler(lambda e, lr: 1)], FakeModel(), losses(1.0)
        )

    def broken(epoch, lr):
        return lr + None  # A TypeError inside the schedule is reported, not masked.

    with pytest.raises(TypeError, match="unsupported operand"):
        run_fit(cb.CallbackList, [cb.LearningRateScheduler(broken)], FakeModel(), losses(1.0))


# CSVLogger


@pytest.mark.parity
@pytest.mark.parametrize(
    "epoch_logs, separator",
    [
        ([{"loss": 0.5, "accuracy": 0.75, "val_loss": 0.625, "val_accuracy": 0.5}] * 2, ","),
        ([{"loss": 0.5, "accuracy": 0.75}, {"loss": 0.25, "accuracy": 0.875}], ","),
        ([{"loss": 0.5, "val_loss": 0.6}, {"loss": 0.4, "val_loss": 0.5}], ";"),
    ],
)
def test_csv_logger_matches_keras_byte_for_byte(tmp_path, capsys, epoch_logs, separator):
    contents = []
    for module in (keras.callbacks, cb):
        path = tmp_path / f"{module.__name__}.csv"
        for append in (False, True):  # A second run appends without a header.
            logger = module.CSVLogger(str(path), separator=separator, append=append)
            run_fit(
                keras.callbacks.CallbackList if module is keras.callbacks else cb.CallbackList,
                [logger],
                FakeModel(),
                epoch_logs,
            )
        contents.append(path.read_bytes())
    assert contents[1] == contents[0]
    assert contents[1].count(b"\r\n") == 1 + 2 * len(epoch_logs)


def test_csv_logger_known_content(tmp_path):
    path = tmp_path / "log.csv"
    run_fit(
        cb.CallbackList,
        [cb.CSVLogger(path)],
        FakeModel(),
        [{"loss": 0.5, "accuracy": 0.75}, {"loss": 0.25, "accuracy": 0.875}],
    )
    assert path.read_bytes().decode() == (
        "epoch,accuracy,loss,val_accuracy,val_loss\r\n0,0.75,0.5,NA,NA\r\n1,0.875,0.25,NA,NA\r\n"
    )


# TerminateOnNaN


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_terminate_on_nan_stops_at_the_bad_batch(capsys, bad):
    model = FakeModel()

    def batch_logs(epoch, step):
        return {"loss": torch.tensor(bad if (epoch, step) == (1, 1) else 0.5)}

    run_fit(
        cb.CallbackList, [cb.TerminateOnNaN()], model, losses(1.0, 1.0, 1.0), batch_logs=batch_logs
    )
    assert model.history.epoch == [0, 1]
    assert capsys.readouterr().out == "Batch 1: Invalid loss, terminating training\n"


def test_terminate_on_nan_can_raise():
    callbacks = cb.CallbackList([cb.TerminateOnNaN(raise_error=True)], model=FakeModel())
    callbacks.on_train_batch_end(0, {"loss": torch.tensor(0.5)})
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 3"):
        callbacks.on_train_batch_end(3, {"loss": torch.tensor(float("nan"))})


# LambdaCallback


def test_lambda_callback_calls_functions_with_hook_arguments():
    events = []
    lam = cb.LambdaCallback(
        on_train_begin=lambda logs: events.append(("train_begin", logs)),
        on_epoch_end=lambda epoch, logs: events.append(("epoch_end", epoch, logs["loss"])),
        on_train_batch_end=lambda batch, logs: events.append(("batch", batch)),
        on_test_end=lambda logs: events.append(("test_end", logs)),
    )
    callbacks = cb.CallbackList([lam], model=FakeModel())
    callbacks.on_train_begin()
    callbacks.on_train_batch_end(0, {"loss": 1.0})
    callbacks.on_test_end({"loss": 2.0})
    callbacks.on_epoch_end(0, {"loss": 1.0})
    callbacks.on_epoch_begin(0)  # Not given: the default does nothing.
    assert events == [
        ("train_begin", {}),
        ("batch", 0),
        ("test_end", {"loss": 2.0}),
        ("epoch_end", 0, 1.0),
    ]


def test_lambda_callback_rejects_unknown_hooks():
    with pytest.raises(TypeError, match="on_epoch_finish, which is not a hook"):
        cb.LambdaCallback(on_epoch_finish=print)


# A whole run with several callbacks, against Keras


@pytest.mark.parity
def test_combined_run_matches_keras(capsys, tmp_path):
    epoch_logs = losses(1.0, 0.8, 0.81, 0.82, 0.83, 0.84, 0.85, 0.86)

    def make(module):
        return [
            module.ReduceLROnPlateau(patience=1, factor=0.5, verbose=1),
            module.EarlyStopping(patience=3, restore_best_weights=True, verbose=1),
            module.CSVLogger(str(tmp_path / f"{module.__name__}.csv")),
        ]

    theirs, ours = both(make, epoch_logs, capsys)
    assert ours.history == theirs.history
    assert ours.out == theirs.out
    assert ours.model.weight_epoch() == theirs.model.weight_epoch() == 1.0
    assert (tmp_path / f"{cb.__name__}.csv").read_bytes() == (
        tmp_path / f"{keras.callbacks.__name__}.csv"
    ).read_bytes()
